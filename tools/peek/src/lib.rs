//! A look at the topic itself, before the lake: its first or last messages as JSON, as the
//! original pipeline's troubleshooting took one with `kafka-console-consumer --from-beginning
//! --max-messages 1`. It reads through the functions' own Kafka settings, so the same command
//! looks at the local broker and at MSK (SCRAM or IAM), and it joins no consumer group: the
//! sink's offsets are never touched.

use std::time::Duration;

use chrono::{DateTime, Utc};
use kafka_client::{KafkaClient, ReadError, Start, TopicReader};
use lambda_kit::{Classified, Retry};
use msk_event::{RecordTimestamp, SourceRecord};
use serde_json::{Map, Value, json};

/// Which messages to show.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Which {
    /// The oldest messages the broker holds.
    First(usize),
    /// The newest messages.
    Last(usize),
}

/// Why the topic could not be looked at.
#[derive(Debug, thiserror::Error)]
pub enum PeekError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Setting(#[from] lambda_kit::settings::SettingError),
    /// No credentials for the cluster (SCRAM secret, MSK IAM token).
    #[error(transparent)]
    Auth(#[from] kafka_client::AuthError),
    /// The topic could not be read: the broker is out of reach, or the topic (or partition)
    /// does not exist.
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl Classified for PeekError {
    fn kind(&self) -> &'static str {
        match self {
            PeekError::Setting(_) => "InvalidSetting",
            PeekError::Auth(error) => error.kind(),
            PeekError::Read(error) => error.kind(),
        }
    }

    fn retry(&self) -> Retry {
        match self {
            PeekError::Setting(_) => Retry::Fatal,
            PeekError::Auth(error) => error.retry(),
            PeekError::Read(error) => error.retry(),
        }
    }
}

/// The messages asked for, oldest first: the first or last `n` of the whole topic (every
/// partition read) by timestamp, then partition and offset.
pub fn pick(mut records: Vec<SourceRecord>, which: Which) -> Vec<SourceRecord> {
    records.sort_by_key(|r| (r.timestamp.millis(), r.partition, r.offset));
    match which {
        Which::First(n) => records.truncate(n),
        Which::Last(n) => {
            let skip = records.len().saturating_sub(n);
            records.drain(..skip);
        }
    }
    records
}

/// Bytes as JSON when they are JSON, else as text (invalid UTF-8 replaced), else nothing.
fn content(bytes: Option<&[u8]>) -> (Value, &'static str) {
    match bytes {
        None => (Value::Null, "null"),
        Some(bytes) => match serde_json::from_slice::<Value>(bytes) {
            Ok(value) => (value, "json"),
            Err(_) => (
                Value::String(String::from_utf8_lossy(bytes).into_owned()),
                "text",
            ),
        },
    }
}

/// One message as JSON: its coordinates, timestamp, key, headers, and its value parsed when it
/// is JSON (`value_form` says `json`, `text` for anything else, `null` for a tombstone).
pub fn message_json(record: &SourceRecord) -> Value {
    let timestamp = match record.timestamp {
        RecordTimestamp::NotAvailable => Value::Null,
        stamp => DateTime::<Utc>::from_timestamp_millis(stamp.millis())
            .map_or(Value::Null, |t| Value::String(t.to_rfc3339())),
    };
    let (key, _) = content(record.key.as_deref());
    let (value, value_form) = content(record.value.as_deref());
    let headers: Map<String, Value> = (record.headers.iter())
        .map(|(name, v)| (name.clone(), content(v.as_deref()).0))
        .collect();
    json!({
        "partition": record.partition,
        "offset": record.offset,
        "timestamp": timestamp,
        "timestamp_type": record.timestamp.kind(),
        "key": key,
        "headers": headers,
        "value_form": value_form,
        "value": value,
    })
}

/// Reads the messages asked for from `partitions` of `topic` (every partition when empty). The
/// read ends at each partition's end as it was when the command started, once nothing arrived
/// for `idle`.
pub async fn peek(
    client: &KafkaClient,
    topic: &str,
    which: Which,
    partitions: &[i32],
    idle: Duration,
) -> Result<Vec<SourceRecord>, PeekError> {
    let (start, per_partition) = match which {
        Which::First(n) => (Start::Beginning, n),
        Which::Last(n) => (Start::BeforeEnd(n as i64), n),
    };
    let mut reader =
        TopicReader::connect(client, "user-lake-peek", topic, start, partitions, idle)?;
    let wanted = reader.ends().len() * per_partition;
    let mut records = Vec::new();
    let mut taken: std::collections::BTreeMap<i32, usize> = Default::default();
    // Each partition gives at most `n`, so the first n of the topic are among them; the read
    // stops as soon as every partition gave its n, not at the end of a long topic.
    while records.len() < wanted {
        let Some(record) = reader.next().await? else {
            break;
        };
        let count = taken.entry(record.partition).or_default();
        if *count < per_partition {
            *count += 1;
            records.push(record);
        }
    }
    Ok(pick(records, which))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(partition: i32, offset: i64, millis: i64, value: &[u8]) -> SourceRecord {
        SourceRecord {
            topic: "users_created".into(),
            partition,
            offset,
            timestamp: RecordTimestamp::CreateTime(millis),
            key: None,
            value: Some(value.to_vec()),
            headers: vec![("source".into(), Some(b"producer".to_vec()))],
            schemas: Default::default(),
        }
    }

    #[test]
    fn the_last_messages_are_the_newest_of_every_partition_oldest_first() {
        // given messages of two partitions, interleaved in time
        let records = vec![
            record(0, 0, 100, b"{}"),
            record(1, 0, 150, b"{}"),
            record(0, 1, 200, b"{}"),
            record(1, 1, 250, b"{}"),
        ];

        // when the last two and the first one are picked
        let last = pick(records.clone(), Which::Last(2));
        let first = pick(records, Which::First(1));

        // then the last are the two newest, in time order, and the first is the oldest
        let at = |rs: &[SourceRecord]| {
            rs.iter()
                .map(|r| (r.partition, r.offset))
                .collect::<Vec<_>>()
        };
        assert_eq!(at(&last), vec![(0, 1), (1, 1)]);
        assert_eq!(at(&first), vec![(0, 0)]);
    }

    #[test]
    fn a_json_value_is_shown_parsed_and_anything_else_as_text() {
        // given a JSON message and a poison one
        let user = record(2, 7, 1_764_000_000_000, br#"{"id":"u1","post_code":12345}"#);
        let poison = record(2, 8, 1_764_000_000_000, b"not json \xff");

        // when each is shown
        let user = message_json(&user);
        let poison = message_json(&poison);

        // then the user is its JSON, the poison its text, with the coordinates and headers
        assert_eq!(user["value"]["post_code"], 12345);
        assert_eq!(user["value_form"], "json");
        assert_eq!(user["partition"], 2);
        assert_eq!(user["offset"], 7);
        assert_eq!(user["timestamp"], "2025-11-24T16:00:00+00:00");
        assert_eq!(user["headers"]["source"], "producer");
        assert_eq!(poison["value_form"], "text");
        assert_eq!(poison["value"], "not json \u{fffd}");
    }

    #[test]
    fn an_unknown_topic_is_fatal_and_an_unreachable_broker_retryable() {
        let unknown = PeekError::Read(ReadError::Start {
            topic: "nope".into(),
            problem: "the broker lists no (matching) partition for it".into(),
        });
        let unreachable = PeekError::Read(ReadError::Kafka {
            target: "users_created from 127.0.0.1:1".into(),
            source: rdkafka::error::KafkaError::MetadataFetch(
                rdkafka::types::RDKafkaErrorCode::BrokerTransportFailure,
            ),
        });
        assert_eq!(unknown.error_type(), "ReadFailed.Fatal");
        assert_eq!(unreachable.error_type(), "ReadFailed.Retryable");
    }
}
