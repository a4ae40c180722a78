//! The MSK event's JSON as Lambda sends it, and the exact number of bytes each record adds to
//! it.
//!
//! ```json
//! {"eventSource":"aws:kafka","eventSourceArn":"arn:aws:kafka:…","bootstrapServers":"b-1…:9098",
//!  "records":{"users_created-0":[{"topic":"users_created","partition":0,"offset":15,
//!   "timestamp":1545084650987,"timestampType":"CREATE_TIME","key":"a2V5","value":"eyJ9",
//!   "headers":[{"headerKey":[104,101,97,100,101,114]}]}]}}
//! ```
//!
//! Key and value are base64 (`null` when absent), the timestamp is a JSON number of
//! milliseconds, and each header is a single-key object whose value is an array of signed
//! bytes (a header without a value becomes an empty array: the event has no null form for it).
//!
//! The sizes are computed, not serialised, so that a batcher can keep an event under Lambda's
//! payload limit without base64-encoding every value twice; a property test holds them to the
//! serialised bytes.

use std::collections::BTreeMap;

use base64::{Engine as _, engine::general_purpose::STANDARD as BASE64};
use serde::{Serialize, Serializer, ser::SerializeMap};

use crate::SchemaMetadata;
use crate::record::{EventSource, SourceRecord};

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct EventJson<'a> {
    event_source: &'static str,
    event_source_arn: &'a str,
    bootstrap_servers: &'a str,
    records: BTreeMap<String, Vec<RecordJson<'a>>>,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct RecordJson<'a> {
    topic: &'a str,
    partition: i32,
    offset: i64,
    timestamp: i64,
    timestamp_type: &'static str,
    key: Option<Base64<'a>>,
    value: Option<Base64<'a>>,
    headers: Vec<HeaderJson<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    key_schema_metadata: Option<&'a SchemaMetadata<'static>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    value_schema_metadata: Option<&'a SchemaMetadata<'static>>,
}

struct Base64<'a>(&'a [u8]);

impl Serialize for Base64<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&BASE64.encode(self.0))
    }
}

struct HeaderJson<'a>(&'a str, &'a [u8]);

impl Serialize for HeaderJson<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let signed: Vec<i8> = self.1.iter().map(|b| *b as i8).collect();
        let mut map = serializer.serialize_map(Some(1))?;
        map.serialize_entry(self.0, &signed)?;
        map.end()
    }
}

impl<'a> RecordJson<'a> {
    fn of(record: &'a SourceRecord) -> Self {
        RecordJson {
            topic: &record.topic,
            partition: record.partition,
            offset: record.offset,
            timestamp: record.timestamp.millis(),
            timestamp_type: record.timestamp.kind(),
            key: record.key.as_deref().map(Base64),
            value: record.value.as_deref().map(Base64),
            headers: (record.headers.iter())
                .map(|(k, v)| HeaderJson(k, v.as_deref().unwrap_or_default()))
                .collect(),
            key_schema_metadata: record.schemas.key.as_ref(),
            value_schema_metadata: record.schemas.value.as_ref(),
        }
    }
}

/// The event for `records`, grouped under `"topic-partition"` keys in key order, each group in
/// the order given, as the JSON bytes Lambda sends.
pub fn event_json(source: &EventSource, records: &[SourceRecord]) -> Vec<u8> {
    let mut groups: BTreeMap<String, Vec<RecordJson<'_>>> = BTreeMap::new();
    for record in records {
        groups
            .entry(record.group_key())
            .or_default()
            .push(RecordJson::of(record));
    }
    let event = EventJson {
        event_source: "aws:kafka",
        event_source_arn: &source.arn,
        bootstrap_servers: &source.bootstrap_servers,
        records: groups,
    };
    // Strings, integers and maps with string keys always serialise.
    serde_json::to_vec(&event).expect("an MSK event always serialises")
}

/// The serialised length of the event with an empty `records` map.
pub fn envelope_json_len(source: &EventSource) -> usize {
    event_json(source, &[]).len()
}

/// The serialised length of a JSON string: its quotes, and each character as serde_json writes
/// it (`\"`, `\\` and the short escapes take two bytes, other control characters six).
pub fn string_json_len(text: &str) -> usize {
    2 + text
        .bytes()
        .map(|b| match b {
            b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
            0x00..=0x1f => 6,
            _ => 1,
        })
        .sum::<usize>()
}

/// Digits (and sign) of an integer.
fn int_len(n: i64) -> usize {
    let sign = usize::from(n < 0);
    sign + n
        .unsigned_abs()
        .checked_ilog10()
        .map_or(1, |d| d as usize + 1)
}

/// `"<base64>"`, or `null`.
fn base64_json_len(bytes: Option<&[u8]>) -> usize {
    bytes.map_or(4, |b| 2 + b.len().div_ceil(3) * 4)
}

/// The serialised length of one record inside the event, computed without serialising it.
pub fn record_json_len(record: &SourceRecord) -> usize {
    const FIXED: usize = r#"{"topic":,"partition":,"offset":,"timestamp":,"timestampType":,"key":,"value":,"headers":[]}"#.len();
    let headers: usize = record
        .headers
        .iter()
        .map(|(key, value)| {
            let bytes = value.as_deref().unwrap_or_default();
            let values: usize = bytes.iter().map(|b| int_len(i64::from(*b as i8))).sum();
            // {"key":[v,v,v]}
            2 + string_json_len(key) + 1 + 2 + values + bytes.len().saturating_sub(1)
        })
        .sum::<usize>()
        + record.headers.len().saturating_sub(1);
    FIXED
        + string_json_len(&record.topic)
        + int_len(i64::from(record.partition))
        + int_len(record.offset)
        + int_len(record.timestamp.millis())
        + string_json_len(record.timestamp.kind())
        + base64_json_len(record.key.as_deref())
        + base64_json_len(record.value.as_deref())
        + headers
        + schema_json_len("keySchemaMetadata", record.schemas.key.as_ref())
        + schema_json_len("valueSchemaMetadata", record.schemas.value.as_ref())
}

/// `,"<name>":{"dataFormat":"…","schemaId":"…"}`, or nothing when absent.
fn schema_json_len(name: &str, metadata: Option<&SchemaMetadata<'_>>) -> usize {
    metadata.map_or(0, |m| {
        let id = m
            .schema_id
            .as_deref()
            .map_or(0, |id| r#","schemaId":"#.len() + string_json_len(id));
        // ,"name":{"dataFormat":…}
        1 + string_json_len(name)
            + 1
            + r#"{"dataFormat":}"#.len()
            + string_json_len(&m.data_format)
            + id
    })
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;
    use serde_json::{Value, json};

    use super::*;
    use crate::{RecordSchemas, RecordTimestamp};

    fn record(partition: i32, offset: i64) -> SourceRecord {
        SourceRecord {
            topic: "users_created".to_owned(),
            partition,
            offset,
            timestamp: RecordTimestamp::CreateTime(1_545_084_650_987),
            key: Some(b"user-1".to_vec()),
            value: Some(br#"{"id":1}"#.to_vec()),
            headers: vec![("headerKey".to_owned(), Some(b"headerValue".to_vec()))],
            schemas: Default::default(),
        }
    }

    fn local_source() -> EventSource {
        EventSource::local("us-east-1", "127.0.0.1:9092")
    }

    fn value(source: &EventSource, records: &[SourceRecord]) -> Value {
        serde_json::from_slice(&event_json(source, records)).unwrap()
    }

    #[test]
    fn the_event_has_the_shape_of_the_developer_guide_example() {
        let json = value(&local_source(), &[record(0, 15)]);
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
    fn a_missing_key_and_a_tombstone_are_null_and_log_append_time_is_kept() {
        let mut r = record(2, 7);
        r.key = None;
        r.value = None;
        r.timestamp = RecordTimestamp::LogAppendTime(1_700_000_000_000);
        let json = value(&local_source(), &[r]);
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
        let json = value(&local_source(), &[r]);
        assert_eq!(
            json["records"]["users_created-0"][0]["headers"],
            json!([{"bin": [0, 127, -128, -1]}, {"empty": []}])
        );
    }

    #[test]
    fn schema_metadata_appears_only_on_records_a_registry_validated() {
        let mut validated = record(0, 1);
        validated.schemas.value = Some(SchemaMetadata {
            data_format: "AVRO".into(),
            schema_id: Some("7".into()),
        });
        let json = value(&local_source(), &[validated, record(0, 2)]);
        let group = &json["records"]["users_created-0"];
        assert_eq!(
            group[0]["valueSchemaMetadata"],
            json!({"dataFormat": "AVRO", "schemaId": "7"})
        );
        assert!(group[0].get("keySchemaMetadata").is_none());
        assert!(group[1].get("valueSchemaMetadata").is_none());
    }

    #[test]
    fn records_are_grouped_by_topic_partition_in_the_order_given() {
        let records = [record(0, 1), record(1, 5), record(0, 2)];
        let json = value(&local_source(), &records);
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

    fn any_record() -> impl Strategy<Value = SourceRecord> {
        let timestamp = prop_oneof![
            any::<i64>().prop_map(RecordTimestamp::CreateTime),
            any::<i64>().prop_map(RecordTimestamp::LogAppendTime),
            Just(RecordTimestamp::NotAvailable),
        ];
        let bytes = || prop::option::of(prop::collection::vec(any::<u8>(), 0..40));
        let header = (any::<String>(), bytes());
        let schema = || {
            prop::option::of(
                (any::<String>(), prop::option::of(any::<String>())).prop_map(|(format, id)| {
                    SchemaMetadata {
                        data_format: format.into(),
                        schema_id: id.map(Into::into),
                    }
                }),
            )
        };
        let schemas = (schema(), schema()).prop_map(|(key, value)| RecordSchemas { key, value });
        (
            any::<String>(),
            any::<i32>(),
            any::<i64>(),
            timestamp,
            bytes(),
            bytes(),
            prop::collection::vec(header, 0..4),
            schemas,
        )
            .prop_map(
                |(topic, partition, offset, timestamp, key, value, headers, schemas)| {
                    SourceRecord {
                        topic,
                        partition,
                        offset,
                        timestamp,
                        key,
                        value,
                        headers,
                        schemas,
                    }
                },
            )
    }

    proptest! {
        #[test]
        fn a_records_computed_size_is_its_serialised_size(record in any_record()) {
            let serialised = serde_json::to_vec(&RecordJson::of(&record)).unwrap();
            prop_assert_eq!(record_json_len(&record), serialised.len());
        }

        #[test]
        fn any_string_is_measured_as_serde_json_writes_it(text in any::<String>()) {
            prop_assert_eq!(string_json_len(&text), serde_json::to_string(&text).unwrap().len());
        }
    }
}
