//! Where the MSK trigger gets its records: a Kafka consumer group that commits only what the
//! function has accepted.
//!
//! [`RecordSource`] is the seam between the trigger loop and Kafka, so the loop's retry and
//! commit rules can be tested without a broker; [`KafkaSource`] is the real one, an rdkafka
//! consumer with auto-commit off.

use std::collections::BTreeMap;
use std::future::Future;
use std::time::Duration;

use kafka_client::{KafkaClient, KafkaClientContext, owned_record};
use msk_event::SourceRecord;
use rdkafka::consumer::{CommitMode, Consumer, StreamConsumer};
use rdkafka::error::KafkaError;
use rdkafka::{Offset, TopicPartitionList};

use crate::template::StartingPosition;

/// How long the group may go without reading while a batch is being retried before the broker
/// would consider the consumer dead (an hour; Lambda retries a failing batch far longer, and a
/// consumer that left the group would re-read the batch after rejoining anyway).
const MAX_POLL_INTERVAL_MS: &str = "3600000";

/// Why reading from or committing to Kafka failed.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    /// The consumer could not be created or could not subscribe.
    #[error("cannot consume {target}")]
    Connect {
        /// Topic, brokers and group, as `topic from brokers as group`.
        target: String,
        #[source]
        source: KafkaError,
    },
    /// Reading the next message failed (the consumer keeps trying).
    #[error("cannot read from Kafka")]
    Receive {
        #[source]
        source: KafkaError,
    },
    /// Committing offsets failed.
    #[error("cannot commit offsets {offsets}")]
    Commit {
        offsets: String,
        #[source]
        source: KafkaError,
    },
}

/// The offset to commit for one partition: the offset of the next record to read.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct PartitionOffset {
    /// Topic of the partition.
    pub topic: String,
    /// The partition.
    pub partition: i32,
    /// Last delivered offset + 1.
    pub next_offset: i64,
}

impl std::fmt::Display for PartitionOffset {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}-{}@{}", self.topic, self.partition, self.next_offset)
    }
}

/// The offsets that commit exactly `records`: per partition, the highest offset + 1.
pub fn commit_offsets(records: &[SourceRecord]) -> Vec<PartitionOffset> {
    let mut highest: BTreeMap<(&str, i32), i64> = BTreeMap::new();
    for r in records {
        let entry = highest
            .entry((r.topic.as_str(), r.partition))
            .or_insert(r.offset);
        *entry = (*entry).max(r.offset);
    }
    highest
        .into_iter()
        .map(|((topic, partition), offset)| PartitionOffset {
            topic: topic.to_owned(),
            partition,
            next_offset: offset + 1,
        })
        .collect()
}

/// A consumer the trigger loop reads records from and commits delivered offsets to.
pub trait RecordSource {
    /// The next record, or `None` if none arrived within `wait`. A zero `wait` still returns a
    /// record that is already available. Must be cancel-safe.
    fn next_record(
        &mut self,
        wait: Duration,
    ) -> impl Future<Output = Result<Option<SourceRecord>, SourceError>>;

    /// Commits `offsets` synchronously.
    fn commit(&mut self, offsets: &[PartitionOffset]) -> Result<(), SourceError>;
}

/// Settings of the Kafka consumer group.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSourceConfig {
    /// Topic to consume.
    pub topic: String,
    /// Consumer group id.
    pub group_id: String,
    /// Where a new group starts.
    pub starting_position: StartingPosition,
}

/// An rdkafka consumer group member with auto-commit off.
pub struct KafkaSource {
    consumer: StreamConsumer<KafkaClientContext>,
}

impl KafkaSource {
    /// Creates the consumer and subscribes to the topic; the group is joined on the first read.
    pub fn connect(client: &KafkaClient, config: &KafkaSourceConfig) -> Result<Self, SourceError> {
        let connect_error = |source| SourceError::Connect {
            target: format!(
                "{} from {} as group {}",
                config.topic,
                client.brokers(),
                config.group_id
            ),
            source,
        };
        let consumer: StreamConsumer<KafkaClientContext> = client
            .client_config("user-lake-msk-trigger")
            .set("group.id", &config.group_id)
            .set("enable.auto.commit", "false")
            .set("enable.auto.offset.store", "false")
            .set(
                "auto.offset.reset",
                config.starting_position.auto_offset_reset(),
            )
            .set("enable.partition.eof", "false")
            .set("max.poll.interval.ms", MAX_POLL_INTERVAL_MS)
            // Notice a topic created after start-up within seconds rather than minutes.
            .set("topic.metadata.refresh.interval.ms", "5000")
            .create_with_context(client.context())
            .map_err(connect_error)?;
        consumer
            .subscribe(&[&config.topic])
            .map_err(connect_error)?;
        Ok(KafkaSource { consumer })
    }
}

impl RecordSource for KafkaSource {
    async fn next_record(&mut self, wait: Duration) -> Result<Option<SourceRecord>, SourceError> {
        match tokio::time::timeout(wait, self.consumer.recv()).await {
            Err(_elapsed) => Ok(None),
            Ok(Ok(message)) => Ok(Some(owned_record(&message))),
            Ok(Err(source)) => Err(SourceError::Receive { source }),
        }
    }

    fn commit(&mut self, offsets: &[PartitionOffset]) -> Result<(), SourceError> {
        let listed = offsets
            .iter()
            .map(ToString::to_string)
            .collect::<Vec<_>>()
            .join(", ");
        let commit_error = |source| SourceError::Commit {
            offsets: listed.clone(),
            source,
        };
        let mut list = TopicPartitionList::new();
        for o in offsets {
            list.add_partition_offset(&o.topic, o.partition, Offset::Offset(o.next_offset))
                .map_err(commit_error)?;
        }
        self.consumer
            .commit(&list, CommitMode::Sync)
            .map_err(commit_error)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use msk_event::RecordTimestamp;

    fn record(partition: i32, offset: i64) -> SourceRecord {
        SourceRecord {
            topic: "users_created".to_owned(),
            partition,
            offset,
            timestamp: RecordTimestamp::NotAvailable,
            key: None,
            value: None,
            headers: Vec::new(),
            schemas: Default::default(),
        }
    }

    #[test]
    fn commit_offsets_are_the_last_offset_plus_one_per_partition() {
        let records = [
            record(1, 7),
            record(0, 3),
            record(1, 8),
            record(0, 4),
            record(2, 0),
        ];
        let offsets: Vec<String> = commit_offsets(&records)
            .iter()
            .map(ToString::to_string)
            .collect();
        assert_eq!(
            offsets,
            [
                "users_created-0@5",
                "users_created-1@9",
                "users_created-2@1"
            ]
        );
    }
}
