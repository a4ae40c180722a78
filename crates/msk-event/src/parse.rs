//! The MSK event read in place, as the sink reads it: entries borrow from the payload text.
//!
//! The event is read leniently on purpose: a well-formed event is read in one pass, and when
//! any entry is malformed the event is read again with every entry kept as raw JSON, so that the
//! malformed one can be rejected on its own, with its JSON, and never fail the batch.
//!
//! Entries are read into [`MskRecord`] rather than `aws_lambda_events`' `KafkaRecord`, whose
//! timestamp goes through `f64` (1795525198100 ms comes back as ...099) and which panics on a
//! fractional timestamp; a lake's `kafka_timestamp` must be exact and no input may crash a
//! function.

use std::{borrow::Cow, collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize, de};
use serde_json::value::RawValue;

/// The event an MSK (or self-managed Kafka) event source mapping invokes the sink with.
/// `records` maps `"<topic>-<partition>"` to that partition's entries in offset order.
#[derive(Debug)]
pub struct MskEvent<'a> {
    pub event_source: Option<Cow<'a, str>>,
    pub event_source_arn: Option<Cow<'a, str>>,
    pub records: BTreeMap<Cow<'a, str>, Vec<Entry<'a>>>,
}

/// One entry of `records`: read in the same pass as the event when every entry of the event is
/// well formed (the usual case), else kept as raw JSON so that it is read, and perhaps rejected,
/// on its own.
#[derive(Debug)]
pub enum Entry<'a> {
    Record(MskRecord<'a>),
    Raw(&'a RawValue),
}

/// The event's shape, for entries read as `E`.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a, E> {
    #[serde(default, borrow)]
    event_source: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event_source_arn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    records: BTreeMap<Cow<'a, str>, Vec<E>>,
}

impl<'a, E> Envelope<'a, E> {
    fn into_event(self, entry: fn(E) -> Entry<'a>) -> MskEvent<'a> {
        MskEvent {
            event_source: self.event_source,
            event_source_arn: self.event_source_arn,
            records: (self.records.into_iter())
                .map(|(key, entries)| (key, entries.into_iter().map(entry).collect()))
                .collect(),
        }
    }
}

impl<'a> MskEvent<'a> {
    /// Reads an event from its JSON text, borrowing from it. Well-formed events are read in one
    /// pass; when any entry is malformed, the event is read again with every entry kept raw, so
    /// that the malformed one rejects only itself, with its JSON.
    ///
    /// The plain shape every event source mapping sends is read first by a SIMD scanner
    /// ([`crate::scan`]), which leaves anything else to these two readings.
    pub fn from_json(json: &'a str) -> Result<Self, serde_json::Error> {
        if let Some(event) = crate::scan::event(json) {
            return Ok(event);
        }
        match serde_reading(json) {
            Some(event) => Ok(event),
            None => serde_json::from_str::<Envelope<'a, &'a RawValue>>(json)
                .map(|event| event.into_event(Entry::Raw)),
        }
    }
}

/// The one-pass serde reading, for an event whose every entry is well formed.
pub(crate) fn serde_reading(json: &str) -> Option<MskEvent<'_>> {
    serde_json::from_str::<Envelope<'_, MskRecord<'_>>>(json)
        .ok()
        .map(|event| event.into_event(Entry::Record))
}

/// One entry of `records`, as MSK sends it. `headers` are not kept in the lake and so not read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MskRecord<'a> {
    #[serde(default, borrow)]
    pub topic: Option<Cow<'a, str>>,
    pub partition: i64,
    pub offset: i64,
    /// Milliseconds since the epoch: a JSON number, or a string of digits.
    pub timestamp: Millis,
    #[serde(default, borrow)]
    pub key: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    pub value: Option<Cow<'a, str>>,
    /// What the key was validated against, when the mapping has a schema registry and
    /// validates keys.
    #[serde(default, borrow)]
    pub key_schema_metadata: Option<SchemaMetadata<'a>>,
    /// What the value was validated against, when the mapping has a schema registry and
    /// validates values: with `EventRecordFormat` `SOURCE` the value is then the record in
    /// this format without the registry's prefix, with `JSON` the record as JSON.
    #[serde(default, borrow)]
    pub value_schema_metadata: Option<SchemaMetadata<'a>>,
}

/// `keySchemaMetadata` / `valueSchemaMetadata` of an entry: the schema a registry-validated key
/// or value was checked against (Lambda developer guide, "Using schema registries with Kafka
/// event sources in Lambda").
#[derive(Debug, Clone, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SchemaMetadata<'a> {
    /// `AVRO`, `JSON` (JSON Schema) or `PROTOBUF`.
    #[serde(borrow)]
    pub data_format: Cow<'a, str>,
    /// The schema's id in the registry: a Confluent registry's number, or a Glue schema
    /// version's UUID.
    #[serde(default, borrow, skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<Cow<'a, str>>,
}

/// A Kafka timestamp in milliseconds, read exactly.
#[derive(Debug, Clone, Copy)]
pub struct Millis(pub i64);

impl<'de> Deserialize<'de> for Millis {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct Visitor;
        impl de::Visitor<'_> for Visitor {
            type Value = Millis;

            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("whole milliseconds, as a number or a string of digits")
            }

            fn visit_i64<E: de::Error>(self, ms: i64) -> Result<Millis, E> {
                Ok(Millis(ms))
            }

            fn visit_u64<E: de::Error>(self, ms: u64) -> Result<Millis, E> {
                i64::try_from(ms)
                    .map(Millis)
                    .map_err(|_| E::custom(format!("timestamp {ms} is out of range")))
            }

            fn visit_str<E: de::Error>(self, text: &str) -> Result<Millis, E> {
                text.parse()
                    .map(Millis)
                    .map_err(|_| E::custom(format!("timestamp {text:?} is not whole milliseconds")))
            }
        }
        deserializer.deserialize_any(Visitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{EventSource, RecordTimestamp, SourceRecord, event_json};

    const GOOD: &str = r#"{"topic":"t","partition":0,"offset":1,"timestamp":1,"value":"e30="}"#;

    fn entries(json: &str) -> Vec<&'static str> {
        let event = MskEvent::from_json(json).unwrap();
        let kinds = event.records.values().flatten().map(|entry| match entry {
            Entry::Record(_) => "record",
            Entry::Raw(_) => "raw",
        });
        kinds.collect()
    }

    #[test]
    fn a_well_formed_event_is_read_in_one_pass_and_one_bad_entry_keeps_all_raw() {
        let good = format!(r#"{{"records":{{"t-0":[{GOOD},{GOOD}]}}}}"#);
        assert_eq!(entries(&good), ["record", "record"]);

        let mixed = format!(r#"{{"records":{{"t-0":[{GOOD},{{"offset":"x"}}]}}}}"#);
        assert_eq!(entries(&mixed), ["raw", "raw"]);
    }

    #[test]
    fn a_timestamp_is_exact_as_a_number_or_a_string_of_digits_and_refused_otherwise() {
        for (text, expected) in [("1795525198100", 1_795_525_198_100), ("\"17\"", 17)] {
            let entry = format!(r#"{{"partition":0,"offset":1,"timestamp":{text}}}"#);
            let record: MskRecord = serde_json::from_str(&entry).unwrap();
            assert_eq!(record.timestamp.0, expected);
        }
        for bad in ["1.5", "\"soon\"", "18446744073709551615"] {
            let entry = format!(r#"{{"partition":0,"offset":1,"timestamp":{bad}}}"#);
            assert!(serde_json::from_str::<MskRecord>(&entry).is_err(), "{bad}");
        }
    }

    #[test]
    fn schema_metadata_is_read_alike_by_the_scanner_and_by_serde() {
        // given an entry as a mapping with a schema registry sends it
        let entry = r#"{"topic":"t","partition":0,"offset":1,"timestamp":1,"value":"e30=","valueSchemaMetadata":{"dataFormat":"AVRO","schemaId":"7"},"keySchemaMetadata":{"schemaId":"k-1","dataFormat":"JSON"}}"#;
        let json = format!(r#"{{"records":{{"t-0":[{entry}]}}}}"#);

        // when it is read by either reading
        let scanned = crate::scan::event(&json).expect("the scanner reads it");
        let by_serde = serde_reading(&json).expect("serde reads it");

        // then both keep both metadata
        for event in [scanned, by_serde] {
            let Entry::Record(record) = &event.records["t-0"][0] else {
                panic!("a well-formed entry");
            };
            let metadata = |format: &str, id: &str| SchemaMetadata {
                data_format: format.to_owned().into(),
                schema_id: Some(id.to_owned().into()),
            };
            assert_eq!(record.value_schema_metadata, Some(metadata("AVRO", "7")));
            assert_eq!(record.key_schema_metadata, Some(metadata("JSON", "k-1")));
            assert_eq!(record.value.as_deref(), Some("e30="));
        }
    }

    #[test]
    fn a_built_event_reads_back_as_it_was_built() {
        let source = EventSource::local("eu-west-1", "127.0.0.1:9092");
        let records = [
            SourceRecord {
                topic: "users-created".into(),
                partition: 2,
                offset: 40,
                timestamp: RecordTimestamp::LogAppendTime(1_795_525_198_100),
                key: Some(b"k".to_vec()),
                value: Some(b"{}".to_vec()),
                headers: vec![("h".into(), Some(vec![0xff]))],
                schemas: Default::default(),
            },
            SourceRecord {
                topic: "users-created".into(),
                partition: 2,
                offset: 41,
                timestamp: RecordTimestamp::NotAvailable,
                key: None,
                value: None,
                headers: vec![],
                schemas: Default::default(),
            },
        ];
        let json = String::from_utf8(event_json(&source, &records)).unwrap();
        let event = MskEvent::from_json(&json).unwrap();
        assert_eq!(event.event_source.as_deref(), Some("aws:kafka"));
        assert_eq!(event.event_source_arn.as_deref(), Some(source.arn.as_str()));
        let read: Vec<(i64, i64, Option<&str>, Option<&str>)> = event.records["users-created-2"]
            .iter()
            .map(|entry| match entry {
                Entry::Record(r) => (
                    r.offset,
                    r.timestamp.0,
                    r.key.as_deref(),
                    r.value.as_deref(),
                ),
                Entry::Raw(_) => panic!("a built entry is well formed"),
            })
            .collect();
        assert_eq!(
            read,
            [
                (40, 1_795_525_198_100, Some("aw=="), Some("e30=")),
                (41, -1, None, None)
            ]
        );
    }
}
