//! Turns Kafka messages into the event JSON that the MSK event source mapping sends to Lambda.
//!
//! The sink is written against that exact shape, so the emulator builds it with the same type
//! the function deserialises (`aws_lambda_events::event::kafka::KafkaEvent`): records grouped
//! under `"topic-partition"` keys, key and value base64-encoded (`null` when absent), headers as
//! single-key objects whose values are arrays of signed bytes. One difference is corrected
//! after serialisation: the crate writes `timestamp` as a string of milliseconds, while Lambda
//! sends a JSON number.
//!
//! The byte-length helpers let the batcher keep a batch under Lambda's payload limit without
//! serialising the whole event after every record.

use std::collections::HashMap;

use aws_lambda_events::encodings::MillisecondTimestamp;
use aws_lambda_events::event::kafka::{KafkaEvent, KafkaRecord};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use chrono::{DateTime, Utc};
use serde_json::Value;

/// Why an event could not be turned into JSON.
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    /// serde_json refused the event.
    #[error("cannot serialise the Kafka event")]
    Serialize {
        #[source]
        source: serde_json::Error,
    },
    /// A record's timestamp did not serialise as whole milliseconds.
    #[error("record {key} offset {offset} has a timestamp that is not whole milliseconds: {found}")]
    Timestamp {
        key: String,
        offset: i64,
        found: String,
    },
}

/// When a message was stamped, and by whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTimestamp {
    /// Set by the producer (`CREATE_TIME`), in milliseconds since the epoch.
    CreateTime(i64),
    /// Set by the broker when appending (`LOG_APPEND_TIME`), in milliseconds since the epoch.
    LogAppendTime(i64),
    /// The message carries no timestamp (`NO_TIMESTAMP_TYPE`, sent as -1 like Kafka does).
    NotAvailable,
}

impl RecordTimestamp {
    /// Milliseconds since the epoch, -1 when absent.
    pub fn millis(self) -> i64 {
        match self {
            RecordTimestamp::CreateTime(ms) | RecordTimestamp::LogAppendTime(ms) => ms,
            RecordTimestamp::NotAvailable => -1,
        }
    }

    /// The `timestampType` string of the MSK event.
    pub fn kind(self) -> &'static str {
        match self {
            RecordTimestamp::CreateTime(_) => "CREATE_TIME",
            RecordTimestamp::LogAppendTime(_) => "LOG_APPEND_TIME",
            RecordTimestamp::NotAvailable => "NO_TIMESTAMP_TYPE",
        }
    }
}

/// One consumed Kafka message, owned, as the emulator keeps it until it is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Topic the message was read from.
    pub topic: String,
    /// Partition the message was read from.
    pub partition: i32,
    /// Offset of the message in its partition.
    pub offset: i64,
    /// The message timestamp.
    pub timestamp: RecordTimestamp,
    /// The message key, if any.
    pub key: Option<Vec<u8>>,
    /// The message value; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers in order; a header may have no value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
}

impl SourceRecord {
    /// The `"topic-partition"` key this record is grouped under in the event.
    pub fn group_key(&self) -> String {
        group_key(&self.topic, self.partition)
    }
}

/// The `"topic-partition"` key of the `records` map.
pub fn group_key(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// What the event says about where the records came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource {
    /// `eventSourceArn`: the MSK cluster ARN.
    pub arn: String,
    /// `bootstrapServers`: the brokers, comma-separated.
    pub bootstrap_servers: String,
}

impl EventSource {
    /// The local cluster, named like an MSK cluster ARN in `region` of account 000000000000.
    pub fn local(region: &str, bootstrap_servers: &str) -> Self {
        EventSource {
            arn: format!(
                "arn:aws:kafka:{region}:000000000000:cluster/user-lake-local/\
                 00000000-0000-0000-0000-000000000000-1"
            ),
            bootstrap_servers: bootstrap_servers.to_owned(),
        }
    }
}

/// The MSK event record for one message.
pub fn kafka_record(record: &SourceRecord) -> KafkaRecord {
    let mut r = KafkaRecord::default();
    r.topic = Some(record.topic.clone());
    r.partition = i64::from(record.partition);
    r.offset = record.offset;
    r.timestamp = MillisecondTimestamp(millis_to_datetime(record.timestamp.millis()));
    r.timestamp_type = Some(record.timestamp.kind().to_owned());
    r.key = record.key.as_deref().map(|k| BASE64.encode(k));
    r.value = record.value.as_deref().map(|v| BASE64.encode(v));
    r.headers = record
        .headers
        .iter()
        .map(|(key, value)| {
            // A header without a value becomes an empty array: the event has no null form for it.
            let bytes = value.as_deref().unwrap_or_default();
            HashMap::from([(key.clone(), bytes.iter().map(|b| *b as i8).collect())])
        })
        .collect();
    r
}

/// The MSK event for `records`, grouped by topic-partition in the order given.
pub fn kafka_event(source: &EventSource, records: &[SourceRecord]) -> KafkaEvent {
    let mut event = KafkaEvent::default();
    event.event_source = Some("aws:kafka".to_owned());
    event.event_source_arn = Some(source.arn.clone());
    event.bootstrap_servers = Some(source.bootstrap_servers.clone());
    for record in records {
        event
            .records
            .entry(record.group_key())
            .or_default()
            .push(kafka_record(record));
    }
    event
}

/// The event as the JSON value Lambda sends (timestamps as numbers).
pub fn event_value(event: &KafkaEvent) -> Result<Value, EventError> {
    let mut value =
        serde_json::to_value(event).map_err(|source| EventError::Serialize { source })?;
    if let Some(groups) = value.get_mut("records").and_then(Value::as_object_mut) {
        for (key, records) in groups.iter_mut() {
            for record in records.as_array_mut().into_iter().flatten() {
                numeric_timestamp(key, record)?;
            }
        }
    }
    Ok(value)
}

/// The event as the JSON bytes Lambda sends.
pub fn event_json(event: &KafkaEvent) -> Result<Vec<u8>, EventError> {
    serde_json::to_vec(&event_value(event)?).map_err(|source| EventError::Serialize { source })
}

/// The serialised length of one record inside the event.
pub fn record_json_len(record: &KafkaRecord) -> Result<usize, EventError> {
    let key = group_key(
        record.topic.as_deref().unwrap_or_default(),
        record.partition as i32,
    );
    let mut value =
        serde_json::to_value(record).map_err(|source| EventError::Serialize { source })?;
    numeric_timestamp(&key, &mut value)?;
    Ok(serde_json::to_vec(&value)
        .map_err(|source| EventError::Serialize { source })?
        .len())
}

/// The serialised length of the event with an empty `records` map.
pub fn envelope_json_len(source: &EventSource) -> Result<usize, EventError> {
    Ok(event_json(&kafka_event(source, &[]))?.len())
}

/// The serialised length of a `records` map key (with its quotes and escapes).
pub fn group_key_json_len(key: &str) -> usize {
    serde_json::to_string(key).map_or(key.len() + 2, |s| s.len())
}

fn numeric_timestamp(key: &str, record: &mut Value) -> Result<(), EventError> {
    let offset = record.get("offset").and_then(Value::as_i64).unwrap_or(-1);
    let Some(ts) = record.get_mut("timestamp") else {
        return Ok(());
    };
    if let Value::String(s) = ts {
        let millis: i64 = s.parse().map_err(|_| EventError::Timestamp {
            key: key.to_owned(),
            offset,
            found: s.clone(),
        })?;
        *ts = Value::from(millis);
    }
    Ok(())
}

fn millis_to_datetime(millis: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(millis).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn record(partition: i32, offset: i64) -> SourceRecord {
        SourceRecord {
            topic: "users_created".to_owned(),
            partition,
            offset,
            timestamp: RecordTimestamp::CreateTime(1_545_084_650_987),
            key: Some(b"user-1".to_vec()),
            value: Some(br#"{"id":1}"#.to_vec()),
            headers: vec![("headerKey".to_owned(), Some(b"headerValue".to_vec()))],
        }
    }

    fn local_source() -> EventSource {
        EventSource::local("us-east-1", "127.0.0.1:9092")
    }

    #[test]
    fn event_serialises_to_the_msk_event_shape() {
        let event = kafka_event(&local_source(), &[record(0, 15)]);
        let json: Value = serde_json::from_slice(&event_json(&event).unwrap()).unwrap();
        let expected = json!({
            "eventSource": "aws:kafka",
            "eventSourceArn": "arn:aws:kafka:us-east-1:000000000000:cluster/user-lake-local/00000000-0000-0000-0000-000000000000-1",
            "bootstrapServers": "127.0.0.1:9092",
            "records": {
                "users_created-0": [{
                    "topic": "users_created",
                    "partition": 0,
                    "offset": 15,
                    "timestamp": 1545084650987_i64,
                    "timestampType": "CREATE_TIME",
                    "key": "dXNlci0x",
                    "value": "eyJpZCI6MX0=",
                    "headers": [{"headerKey": [104, 101, 97, 100, 101, 114, 86, 97, 108, 117, 101]}]
                }]
            }
        });
        assert_eq!(json, expected);
    }

    #[test]
    fn missing_key_and_tombstone_value_are_null_and_log_append_time_is_kept() {
        let mut r = record(2, 7);
        r.key = None;
        r.value = None;
        r.timestamp = RecordTimestamp::LogAppendTime(1_700_000_000_000);
        let json = event_value(&kafka_event(&local_source(), &[r])).unwrap();
        let rec = &json["records"]["users_created-2"][0];
        assert_eq!(rec["key"], Value::Null);
        assert_eq!(rec["value"], Value::Null);
        assert_eq!(rec["timestampType"], "LOG_APPEND_TIME");
        assert_eq!(rec["timestamp"], json!(1_700_000_000_000_i64));
    }

    #[test]
    fn header_bytes_are_signed_and_a_valueless_header_is_an_empty_array() {
        let mut r = record(0, 1);
        r.headers = vec![
            ("bin".to_owned(), Some(vec![0x00, 0x7f, 0x80, 0xff])),
            ("empty".to_owned(), None),
        ];
        let json = event_value(&kafka_event(&local_source(), &[r])).unwrap();
        assert_eq!(
            json["records"]["users_created-0"][0]["headers"],
            json!([{"bin": [0, 127, -128, -1]}, {"empty": []}])
        );
    }

    #[test]
    fn records_are_grouped_by_topic_partition_in_offset_order() {
        let records = [record(0, 1), record(1, 5), record(0, 2)];
        let json = event_value(&kafka_event(&local_source(), &records)).unwrap();
        let groups = json["records"].as_object().unwrap();
        assert_eq!(groups.len(), 2);
        let offsets: Vec<i64> = groups["users_created-0"]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| r["offset"].as_i64().unwrap())
            .collect();
        assert_eq!(offsets, vec![1, 2]);
        assert_eq!(groups["users_created-1"][0]["partition"], 1);
    }

    #[test]
    fn the_sink_side_type_reads_the_event_back() {
        let records = [record(0, 1), record(1, 5)];
        let event = kafka_event(&local_source(), &records);
        let mut parsed: KafkaEvent = serde_json::from_slice(&event_json(&event).unwrap()).unwrap();
        // aws_lambda_events 1.2 turns milliseconds into a date through f64 seconds, which can
        // drop a millisecond (…987 reads back as …986); everything else must match exactly.
        for (key, group) in parsed.records.iter_mut() {
            for (got, sent) in group.iter_mut().zip(&event.records[key]) {
                let drift = sent.timestamp.timestamp_millis() - got.timestamp.timestamp_millis();
                assert!((0..=1).contains(&drift), "timestamp drifted by {drift} ms");
                got.timestamp = sent.timestamp.clone();
            }
        }
        assert_eq!(parsed, event);
    }
}
