//! Reading a topic from a chosen start to its current end, for everything that must know when
//! it has read "everything so far": the replay, and the tests and commands that check the lake
//! against the topic.
//!
//! The end is taken as: every partition has been read up to the high watermark it had when the
//! reader started, and then nothing more arrived for the idle time. Waiting for idleness as well
//! matters because a broker may under-report its watermarks (tansu 0.6 was seen to); a ceiling
//! on idleness ends the read should a watermark never be reached, and [`TopicReader::shortfall`]
//! then says which partitions stopped short. Progress is the consumer's position, not the last
//! record's offset: a partition whose last offsets are transaction markers (control records,
//! never delivered) is read to its end once the consumer has moved past them.

use std::{
    collections::BTreeMap,
    str::FromStr,
    time::{Duration, Instant},
};

use chrono::{DateTime, Utc};
use futures::FutureExt;
use msk_event::{RecordTimestamp, SourceRecord};
use rdkafka::{
    Message, Offset, TopicPartitionList,
    consumer::{Consumer, StreamConsumer},
    error::KafkaError,
    message::{Headers, Timestamp},
};

use crate::{KafkaClient, KafkaClientContext};

/// Why a topic could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    /// The broker could not be reached or refused a request.
    #[error("cannot read {target}: {source}")]
    Kafka {
        /// `<topic> from <brokers>`.
        target: String,
        #[source]
        source: KafkaError,
    },
    /// A start time has no offset on the broker, or the topic has no partitions.
    #[error("cannot start reading {topic}: {problem}")]
    Start { topic: String, problem: String },
    /// No MSK IAM token could be made for the consumer.
    #[error(transparent)]
    Auth(#[from] crate::AuthError),
}

impl lambda_kit::Classified for ReadError {
    fn kind(&self) -> &'static str {
        match self {
            ReadError::Kafka { .. } | ReadError::Start { .. } => "ReadFailed",
            ReadError::Auth(error) => error.kind(),
        }
    }

    fn retry(&self) -> lambda_kit::Retry {
        match self {
            // The broker was out of reach, or a request failed on the way.
            ReadError::Kafka { .. } => lambda_kit::Retry::Retryable,
            // No such topic or partition, or no offset at the time asked for.
            ReadError::Start { .. } => lambda_kit::Retry::Fatal,
            ReadError::Auth(error) => error.retry(),
        }
    }
}

/// Where a read starts, in every partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// The oldest record the broker still holds.
    Beginning,
    /// This many offsets before the partition's end (or its oldest record held, if later): the
    /// last records, for a look at what arrived lately.
    BeforeEnd(i64),
    /// This offset (or the oldest one held, if later).
    Offset(i64),
    /// The first record stamped at or after this time.
    Time(DateTime<Utc>),
}

impl FromStr for Start {
    type Err = String;

    /// `beginning`, an offset (`1200`) or an RFC 3339 time (`2026-11-24T12:00:00Z`).
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let text = text.trim();
        if text.eq_ignore_ascii_case("beginning") || text.eq_ignore_ascii_case("earliest") {
            return Ok(Start::Beginning);
        }
        if let Ok(offset) = text.parse::<i64>() {
            return if offset >= 0 {
                Ok(Start::Offset(offset))
            } else {
                Err("an offset must be 0 or more".into())
            };
        }
        DateTime::parse_from_rfc3339(text)
            .map(|t| Start::Time(t.with_timezone(&Utc)))
            .map_err(|_| format!("{text:?} is not `beginning`, an offset or an RFC 3339 time"))
    }
}

/// A consumer assigned to every partition of the topic at the start position (no consumer
/// group offsets are read or committed).
pub struct TopicReader {
    consumer: StreamConsumer<KafkaClientContext>,
    topic: String,
    brokers: String,
    /// High watermark of each partition when the replay started.
    targets: BTreeMap<i32, i64>,
    /// Next offset to read in each partition.
    next: BTreeMap<i32, i64>,
    idle: Duration,
    max_idle: Duration,
    last_seen: Instant,
}

const METADATA_TIMEOUT: Duration = Duration::from_secs(15);

impl TopicReader {
    /// Connects, finds the partitions (all, or `only`) and their current ends, and assigns the
    /// consumer to `start`.
    pub fn connect(
        client: &KafkaClient,
        client_id: &str,
        topic: &str,
        start: Start,
        only: &[i32],
        idle: Duration,
    ) -> Result<Self, ReadError> {
        let brokers = client.brokers();
        let kafka = |source| ReadError::Kafka {
            target: format!("{topic} from {brokers}"),
            source,
        };
        // A group id is required by librdkafka, but offsets are assigned, never committed.
        let consumer: StreamConsumer<KafkaClientContext> = client
            .client_config(client_id)
            .set("group.id", client_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set("auto.offset.reset", "earliest")
            .create_with_context(client.context())
            .map_err(kafka)?;
        consumer.context().serve_first_token(|| {
            let _ = consumer.recv().now_or_never();
        })?;
        let metadata = consumer
            .fetch_metadata(Some(topic), METADATA_TIMEOUT)
            .map_err(kafka)?;
        let partitions: Vec<i32> = metadata
            .topics()
            .iter()
            .filter(|t| t.name() == topic)
            .flat_map(|t| t.partitions().iter().map(|p| p.id()))
            .filter(|p| only.is_empty() || only.contains(p))
            .collect();
        if partitions.is_empty() {
            return Err(ReadError::Start {
                topic: topic.to_string(),
                problem: "the broker lists no (matching) partition for it".into(),
            });
        }
        let mut targets = BTreeMap::new();
        let mut next = BTreeMap::new();
        let mut assignment = TopicPartitionList::new();
        for &partition in &partitions {
            let (low, high) = consumer
                .fetch_watermarks(topic, partition, METADATA_TIMEOUT)
                .map_err(kafka)?;
            targets.insert(partition, high);
            let offset = match start {
                Start::Beginning => Offset::Beginning,
                Start::Offset(n) => Offset::Offset(n.max(low)),
                Start::BeforeEnd(n) => Offset::Offset((high - n).max(low)),
                Start::Time(t) => Offset::Offset(t.timestamp_millis()),
            };
            next.insert(
                partition,
                if let Offset::Offset(n) = offset {
                    n
                } else {
                    low
                },
            );
            assignment
                .add_partition_offset(topic, partition, offset)
                .map_err(kafka)?;
        }
        if matches!(start, Start::Time(_)) {
            assignment = consumer
                .offsets_for_times(assignment, METADATA_TIMEOUT)
                .map_err(kafka)?;
            for element in assignment.elements() {
                let at = match element.offset() {
                    Offset::Offset(n) => n,
                    // No record at or after the time: nothing to read in this partition.
                    _ => targets[&element.partition()],
                };
                next.insert(element.partition(), at);
            }
            let mut resolved = TopicPartitionList::new();
            for (&partition, &at) in &next {
                resolved
                    .add_partition_offset(topic, partition, Offset::Offset(at))
                    .map_err(kafka)?;
            }
            assignment = resolved;
        }
        consumer.assign(&assignment).map_err(kafka)?;
        tracing::debug!(topic, ?start, start_offsets = ?next, ends = ?targets, "reader assigned");
        Ok(Self {
            consumer,
            topic: topic.to_string(),
            brokers: brokers.to_string(),
            targets,
            next,
            idle,
            max_idle: (idle * 10).max(Duration::from_secs(30)),
            last_seen: Instant::now(),
        })
    }

    /// The next record, or `None` at the end.
    pub async fn next(&mut self) -> Result<Option<SourceRecord>, ReadError> {
        loop {
            let quiet = self.last_seen.elapsed();
            if quiet >= self.max_idle {
                tracing::warn!(ends = ?self.targets, reached = ?self.next, "no record for a long time below a reported end; stopping");
                return Ok(None);
            }
            if quiet >= self.idle && self.reached_ends() {
                return Ok(None);
            }
            match tokio::time::timeout(Duration::from_millis(200), self.consumer.recv()).await {
                Err(_) => continue,
                Ok(Err(source)) => {
                    return Err(ReadError::Kafka {
                        target: format!("{} from {}", self.topic, self.brokers),
                        source,
                    });
                }
                Ok(Ok(message)) => {
                    self.last_seen = Instant::now();
                    self.next.insert(message.partition(), message.offset() + 1);
                    return Ok(Some(owned_record(&message)));
                }
            }
        }
    }

    /// Every record to the end.
    pub async fn read_to_end(&mut self) -> Result<Vec<SourceRecord>, ReadError> {
        let mut records = Vec::new();
        while let Some(record) = self.next().await? {
            records.push(record);
        }
        Ok(records)
    }

    /// The high watermark each partition had when the reader started.
    pub fn ends(&self) -> &BTreeMap<i32, i64> {
        &self.targets
    }

    fn reached_ends(&self) -> bool {
        self.shortfall().is_empty()
    }

    /// The partitions read short of the end they had when the reader started: partition →
    /// (the offset reached, that end). Empty when the read is complete.
    pub fn shortfall(&self) -> BTreeMap<i32, (i64, i64)> {
        let positions = self.consumer.position().map(|list| {
            (list.elements().iter())
                .filter_map(|e| match e.offset() {
                    Offset::Offset(n) => Some((e.partition(), n)),
                    _ => None,
                })
                .collect()
        });
        shortfall(&self.targets, &self.next, &positions.unwrap_or_default())
    }
}

/// Partitions of `ends` that neither the next offset to read (after the last record
/// delivered) nor the consumer's `positions` have reached: partition → (reached, end).
fn shortfall(
    ends: &BTreeMap<i32, i64>,
    next: &BTreeMap<i32, i64>,
    positions: &BTreeMap<i32, i64>,
) -> BTreeMap<i32, (i64, i64)> {
    ends.iter()
        .filter_map(|(&partition, &end)| {
            let reached = (next.get(&partition).copied())
                .max(positions.get(&partition).copied())
                .unwrap_or(0);
            (reached < end).then_some((partition, (reached, end)))
        })
        .collect()
}

/// Copies what the MSK event needs out of a borrowed rdkafka message.
pub fn owned_record<M: Message>(message: &M) -> SourceRecord {
    let timestamp = match message.timestamp() {
        Timestamp::CreateTime(ms) => RecordTimestamp::CreateTime(ms),
        Timestamp::LogAppendTime(ms) => RecordTimestamp::LogAppendTime(ms),
        Timestamp::NotAvailable => RecordTimestamp::NotAvailable,
    };
    let headers = message
        .headers()
        .map(|headers| {
            headers
                .iter()
                .map(|h| (h.key.to_owned(), h.value.map(<[u8]>::to_vec)))
                .collect()
        })
        .unwrap_or_default();
    SourceRecord {
        topic: message.topic().to_owned(),
        partition: message.partition(),
        offset: message.offset(),
        timestamp,
        key: message.key().map(<[u8]>::to_vec),
        value: message.payload().map(<[u8]>::to_vec),
        headers,
        schemas: Default::default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owned_record_copies_an_rdkafka_message() {
        use rdkafka::message::{Header, OwnedHeaders, OwnedMessage};
        let headers = OwnedHeaders::new()
            .insert(Header {
                key: "trace",
                value: Some(&[1u8, 255][..]),
            })
            .insert(Header::<&[u8]> {
                key: "none",
                value: None,
            });
        let message = OwnedMessage::new(
            Some(b"v".to_vec()),
            Some(b"k".to_vec()),
            "users_created".to_owned(),
            Timestamp::LogAppendTime(42),
            2,
            17,
            Some(headers),
        );
        let r = owned_record(&message);
        assert_eq!(r.partition, 2);
        assert_eq!(r.offset, 17);
        assert_eq!(r.timestamp, RecordTimestamp::LogAppendTime(42));
        assert_eq!(r.key.as_deref(), Some(&b"k"[..]));
        assert_eq!(r.value.as_deref(), Some(&b"v"[..]));
        assert_eq!(
            r.headers,
            vec![
                ("trace".to_owned(), Some(vec![1, 255])),
                ("none".to_owned(), None)
            ]
        );
    }

    #[test]
    fn a_partition_ending_in_control_records_is_complete_by_the_consumers_position() {
        // given a partition whose last record is offset 7 and whose end is 10 (two markers
        // follow it), the consumer having moved past them
        let ends = BTreeMap::from([(0, 10)]);
        let next = BTreeMap::from([(0, 8)]);
        let positions = BTreeMap::from([(0, 10)]);

        // then nothing is short
        assert_eq!(shortfall(&ends, &next, &positions), BTreeMap::new());
    }

    #[test]
    fn a_reader_stalled_below_the_watermark_is_short_of_the_end() {
        // given partition 0 stalled at 7 of 10, and partition 1 never read past its start, 2
        let ends = BTreeMap::from([(0, 10), (1, 5), (2, 3)]);
        let next = BTreeMap::from([(0, 7), (1, 2), (2, 3)]);
        let positions = BTreeMap::from([(0, 7)]);

        // then both are named with how far they got
        assert_eq!(
            shortfall(&ends, &next, &positions),
            BTreeMap::from([(0, (7, 10)), (1, (2, 5))])
        );
    }

    #[test]
    fn starts_parse_from_words_offsets_and_times() {
        assert_eq!("beginning".parse(), Ok(Start::Beginning));
        assert_eq!("1200".parse(), Ok(Start::Offset(1200)));
        assert_eq!(
            "2026-11-24T12:00:00Z".parse::<Start>().unwrap(),
            Start::Time("2026-11-24T12:00:00Z".parse().unwrap())
        );
        assert!("-1".parse::<Start>().is_err());
        assert!(
            "yesterday"
                .parse::<Start>()
                .unwrap_err()
                .contains("yesterday")
        );
    }
}
