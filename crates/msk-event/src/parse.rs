//! The MSK event read in place, as the sink reads it: entries borrow from the payload text.
//!
//! The event is read with sonic-rs, the SIMD JSON reader the sink already uses for the values:
//! one pass over the envelope, which keeps each entry as its raw JSON text (a `LazyValue`, found
//! by skipping over it), then each entry on its own. A malformed entry so rejects only itself,
//! with its JSON and the reason, and never fails the batch or its neighbours.
//!
//! Entries are read into [`MskRecord`] rather than `aws_lambda_events`' `KafkaRecord`, whose
//! timestamp goes through `f64` (1795525198100 ms comes back as ...099) and which panics on a
//! fractional timestamp; a lake's `kafka_timestamp` must be exact and no input may crash a
//! function.

use std::{borrow::Cow, collections::BTreeMap, fmt};

use serde::{Deserialize, Serialize, de};
use sonic_rs::LazyValue;

/// The event an MSK (or self-managed Kafka) event source mapping invokes the sink with.
/// `records` maps `"<topic>-<partition>"` to that partition's entries in offset order.
#[derive(Debug)]
pub struct MskEvent<'a> {
    pub event_source: Option<Cow<'a, str>>,
    pub event_source_arn: Option<Cow<'a, str>>,
    pub records: BTreeMap<Cow<'a, str>, Vec<Entry<'a>>>,
}

/// One entry of `records`: the record, or, when its JSON is not a record entry, that JSON and
/// why, so that it is rejected on its own.
#[derive(Debug)]
pub enum Entry<'a> {
    Record(MskRecord<'a>),
    Malformed { json: &'a str, reason: String },
}

/// The event's shape, each entry kept as its JSON text.
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Envelope<'a> {
    #[serde(default, borrow)]
    event_source: Option<Cow<'a, str>>,
    #[serde(default, borrow)]
    event_source_arn: Option<Cow<'a, str>>,
    #[serde(borrow)]
    records: BTreeMap<Cow<'a, str>, Vec<LazyValue<'a>>>,
}

impl<'a> MskEvent<'a> {
    /// Reads an event from its JSON text, borrowing from it: the envelope in one pass, then
    /// each entry on its own (a malformed one becomes [`Entry::Malformed`]). Fails only when
    /// the text is not an event at all.
    pub fn from_json(json: &'a str) -> Result<Self, sonic_rs::Error> {
        let envelope: Envelope<'a> = sonic_rs::from_str(json)?;
        let records = (envelope.records.into_iter())
            .map(|(key, entries)| (key, entries.iter().map(entry).collect()))
            .collect();
        Ok(MskEvent {
            event_source: envelope.event_source,
            event_source_arn: envelope.event_source_arn,
            records,
        })
    }
}

/// One entry, read from its JSON text.
fn entry<'a>(lazy: &LazyValue<'a>) -> Entry<'a> {
    // Read from a `&'a str`, an entry's text is always a slice of it.
    let Cow::Borrowed(json) = lazy.as_raw_cow() else {
        return Entry::Malformed {
            json: "",
            reason: "the entry's JSON is not a slice of the event".into(),
        };
    };
    match sonic_rs::from_str::<MskRecord<'a>>(json) {
        Ok(record) => Entry::Record(record),
        Err(error) => Entry::Malformed {
            json,
            reason: error.to_string(),
        },
    }
}

/// One entry of `records`, as MSK sends it. `headers` are not kept in the lake and so not read.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MskRecord<'a> {
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub topic: Option<Cow<'a, str>>,
    pub partition: i64,
    pub offset: i64,
    /// Milliseconds since the epoch: a JSON number, or a string of digits.
    pub timestamp: Millis,
    #[serde(default, borrow, deserialize_with = "borrowed")]
    pub key: Option<Cow<'a, str>>,
    #[serde(default, borrow, deserialize_with = "borrowed")]
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

/// An optional string, borrowed from the event's text when it has no escapes. serde borrows a
/// `Cow<str>` only as a field of its own; inside an `Option` it would copy every value.
fn borrowed<'de: 'a, 'a, D: serde::Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Cow<'a, str>>, D::Error> {
    #[derive(Deserialize)]
    struct Text<'a>(#[serde(borrow)] Cow<'a, str>);
    Ok(Option::<Text<'a>>::deserialize(deserializer)?.map(|text| text.0))
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
            Entry::Malformed { .. } => "malformed",
        });
        kinds.collect()
    }

    #[test]
    fn a_malformed_entry_is_kept_alone_with_its_json_and_reason() {
        let good = format!(r#"{{"records":{{"t-0":[{GOOD},{GOOD}]}}}}"#);
        assert_eq!(entries(&good), ["record", "record"]);

        let mixed = format!(r#"{{"records":{{"t-0":[{GOOD},{{"offset":"x"}}],"t-1":[{GOOD}]}}}}"#);
        assert_eq!(entries(&mixed), ["record", "malformed", "record"]);
        let event = MskEvent::from_json(&mixed).unwrap();
        let Entry::Malformed { json, reason } = &event.records["t-0"][1] else {
            panic!("the second entry is malformed");
        };
        assert_eq!(*json, r#"{"offset":"x"}"#);
        assert!(!reason.is_empty());
    }

    #[test]
    fn a_text_that_is_not_an_event_fails() {
        for bad in ["", "[]", r#"{"records":[]}"#, r#"{"records":{"t-0":[1,2"#] {
            assert!(MskEvent::from_json(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_timestamp_is_exact_as_a_number_or_a_string_of_digits_and_refused_otherwise() {
        for (text, expected) in [("1795525198100", 1_795_525_198_100), ("\"17\"", 17)] {
            let entry = format!(r#"{{"partition":0,"offset":1,"timestamp":{text}}}"#);
            let record: MskRecord = sonic_rs::from_str(&entry).unwrap();
            assert_eq!(record.timestamp.0, expected);
        }
        for bad in ["1.5", "\"soon\"", "18446744073709551615"] {
            let entry = format!(r#"{{"partition":0,"offset":1,"timestamp":{bad}}}"#);
            assert!(sonic_rs::from_str::<MskRecord>(&entry).is_err(), "{bad}");
        }
    }

    #[test]
    fn schema_metadata_is_read_in_any_order() {
        // given an entry as a mapping with a schema registry sends it
        let entry = r#"{"topic":"t","partition":0,"offset":1,"timestamp":1,"value":"e30=","valueSchemaMetadata":{"dataFormat":"AVRO","schemaId":"7"},"keySchemaMetadata":{"schemaId":"k-1","dataFormat":"JSON"}}"#;
        let json = format!(r#"{{"records":{{"t-0":[{entry}]}}}}"#);

        // when it is read
        let event = MskEvent::from_json(&json).unwrap();

        // then both metadata are kept, borrowed from the text
        let Entry::Record(record) = &event.records["t-0"][0] else {
            panic!("a well-formed entry");
        };
        let metadata = |format: &str, id: &str| SchemaMetadata {
            data_format: format.to_owned().into(),
            schema_id: Some(id.to_owned().into()),
        };
        assert_eq!(record.value_schema_metadata, Some(metadata("AVRO", "7")));
        assert_eq!(record.key_schema_metadata, Some(metadata("JSON", "k-1")));
        assert!(matches!(record.value, Some(Cow::Borrowed("e30="))));
    }

    proptest::proptest! {
        /// Any text, an event damaged anywhere included, is read without a panic: an event, or
        /// an error; and what is read of a well-formed built event is what was built.
        #[test]
        fn a_damaged_event_is_an_error_or_an_event_never_a_panic(
            at in 0usize..300,
            byte in proptest::prelude::any::<u8>(),
            cut in 0usize..300,
        ) {
            let built = event_json(
                &EventSource::local("us-east-1", "b:9092"),
                &[SourceRecord {
                    topic: "t".into(),
                    partition: 0,
                    offset: 7,
                    timestamp: RecordTimestamp::CreateTime(1_795_525_198_100),
                    key: Some(b"k".to_vec()),
                    value: Some(b"{}".to_vec()),
                    headers: vec![],
                    schemas: Default::default(),
                }],
            );
            let mut damaged = built.clone();
            if at < damaged.len() {
                damaged[at] = byte;
            }
            damaged.truncate(damaged.len() - cut.min(damaged.len()));
            if let Ok(text) = String::from_utf8(damaged) {
                if let Ok(event) = MskEvent::from_json(&text) {
                    for entry in event.records.values().flatten() {
                        if let Entry::Malformed { reason, .. } = entry {
                            proptest::prop_assert!(!reason.is_empty());
                        }
                    }
                }
            }
            let text = String::from_utf8(built).unwrap();
            let event = MskEvent::from_json(&text).unwrap();
            let Entry::Record(record) = &event.records["t-0"][0] else {
                return Err(proptest::test_runner::TestCaseError::fail("a built entry reads"));
            };
            proptest::prop_assert_eq!((record.offset, record.timestamp.0), (7, 1_795_525_198_100));
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
                Entry::Malformed { .. } => panic!("a built entry is well formed"),
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
