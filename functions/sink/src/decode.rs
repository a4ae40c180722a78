//! Decoding a batch into records the lake accepts and records it rejects.
//!
//! A batch is either the MSK event Lambda sends (values in base64, entries read in place from
//! the payload) or, for the replay, records read straight from the topic. Both go through the
//! same checks in the same order and produce the same rows and the same rejections, so a
//! replayed batch writes the objects the trigger would have written, byte for byte.
//!
//! Each record is decoded on its own: a malformed entry, a missing value, bad base64 or a value
//! that breaks the record contract rejects that one record (with its reason) and never the
//! batch. This is the sink's hot path, so nothing is copied that need not be: each value is
//! base64-decoded (SIMD) into one reused buffer, and the record is read in place
//! ([`UserRecordRef`]) and handed to the caller, which copies its fields once, into Arrow
//! columns.
//!
//! Behind a schema registry the trigger marks each validated value with `valueSchemaMetadata`.
//! With `EventRecordFormat` `JSON` the value is the record as JSON and is read as above. With
//! `SOURCE` an `AVRO` value is the Avro datum without the registry's prefix, read with its
//! writer's schema ([`crate::registry`]), which the caller fetched for the batch beforehand:
//! [`decode_with_schemas`]. Any other format there (Protobuf) is rejected with its reason.
//! In either format, the fields a writer's schema adds to the users' schema are read too
//! ([`Writers`]), typed by that schema, for the table's columns.

use std::collections::HashMap;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use msk_event::{Entry, MskEvent, MskRecord, SchemaMetadata, SourceRecord};
use serde_json::value::RawValue;
use user_record::{
    UserRecord, UserRecordRef,
    avro::added::{AddedField, AddedKind, AddedValue, added_fields, added_from_json, read_added},
};

use crate::registry::WriterSchemaSet;

/// How a trigger behind a registry hands over a value it validated: the mapping's
/// `EventRecordFormat` (`SCHEMA_RECORD_FORMAT`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RecordFormat {
    /// The record as JSON.
    Json,
    /// The value's own bytes without the registry's prefix: an Avro datum.
    #[default]
    Source,
}

/// The writer schemas of a batch's values, what each adds to the users' schema, and how the
/// trigger handed the values over.
pub struct Writers<'s> {
    format: RecordFormat,
    schemas: &'s WriterSchemaSet,
    /// By schema id, the fields it adds that the lake keeps; or why its records are refused (a
    /// field another schema of the batch gives another type).
    added: HashMap<&'s str, Result<Vec<AddedField>, String>>,
    /// Fields of the batch's schemas that have no column in the lake, with why.
    pub not_kept: Vec<AddedField>,
}

impl<'s> Writers<'s> {
    /// The batch's writer schemas as a trigger in `format` hands their values over.
    pub fn new(format: RecordFormat, schemas: &'s WriterSchemaSet) -> Self {
        // Confluent's ids are numbers: "9" comes before "10".
        let mut ids: Vec<&str> = schemas.keys().map(String::as_str).collect();
        ids.sort_unstable_by_key(|id| (id.len(), *id));
        let mut kinds: HashMap<String, (AddedKind, &str)> = HashMap::new();
        let mut added = HashMap::new();
        let mut not_kept = Vec::new();
        for id in ids {
            let Some(Ok(schema)) = schemas.get(id) else {
                continue;
            };
            let (kept, other): (Vec<AddedField>, Vec<AddedField>) = added_fields(schema)
                .into_iter()
                .partition(|f| f.kind.is_ok());
            not_kept.extend(other);
            let mut verdict = Ok(());
            for field in &kept {
                let kind = *field.kind.as_ref().expect("kept fields have a kind");
                let (first, first_id) = *kinds.entry(field.name.clone()).or_insert((kind, id));
                if first != kind {
                    verdict = Err(format!(
                        "field {} is {} in schema {id} and {} in schema {first_id} of the same batch",
                        field.name,
                        kind.name(),
                        first.name()
                    ));
                }
            }
            added.insert(id, verdict.map(|()| kept));
        }
        Self {
            format,
            schemas,
            added,
            not_kept,
        }
    }

    /// The record a value marked with `metadata` holds, and the fields its schema adds.
    fn read<'w, 'b>(
        &'w self,
        metadata: &SchemaMetadata<'_>,
        bytes: &'b [u8],
    ) -> Result<(UserRecordRef<'b>, Vec<Added<'w>>), String> {
        let id = match (metadata.data_format.as_ref(), metadata.schema_id.as_deref()) {
            (AVRO, Some(id)) => id,
            (AVRO, None) => return Err("an Avro value without a schema id".to_string()),
            ("JSON", _) => return read_json(bytes).map(|user| (user, Vec::new())),
            (other, _) => return Err(format!("values in {other} are not read by the sink")),
        };
        let writer = match self.schemas.get(id) {
            Some(Ok(writer)) => writer,
            Some(Err(reason)) => return Err(reason.clone()),
            None => return Err(format!("no writer schema {id} was fetched for the batch")),
        };
        let fields = match self.added.get(id) {
            Some(Ok(fields)) => fields.as_slice(),
            Some(Err(reason)) => return Err(reason.clone()),
            None => &[],
        };
        let (user, values) = match self.format {
            RecordFormat::Source => {
                let invalid =
                    |error| format!("value is not a valid Avro user record (schema {id}): {error}");
                let user = UserRecord::from_avro(writer, bytes).map_err(invalid)?;
                let values = match fields {
                    [] => Vec::new(),
                    fields => read_added(writer, bytes, fields).map_err(invalid)?,
                };
                (user, values)
            }
            RecordFormat::Json => {
                let user = read_json(bytes)?;
                let values = match fields {
                    [] => Vec::new(),
                    fields => json_added(bytes, fields)?,
                };
                (user, values)
            }
        };
        let added = (fields.iter())
            .zip(values)
            .map(|(field, value)| Added {
                name: field.name.as_str(),
                kind: *field.kind.as_ref().expect("kept fields have a kind"),
                value,
            })
            .collect();
        Ok((user, added))
    }
}

/// The values of `fields` in a record the trigger handed over as JSON: each member read as its
/// field's type (an absent member is null).
fn json_added(bytes: &[u8], fields: &[AddedField]) -> Result<Vec<AddedValue>, String> {
    let members: serde_json::Map<String, serde_json::Value> = serde_json::from_slice(bytes)
        .map_err(|error| format!("value is not a JSON object: {error}"))?;
    fields
        .iter()
        .map(|field| {
            let kind = *field.kind.as_ref().expect("kept fields have a kind");
            let value = members.get(&field.name).unwrap_or(&serde_json::Value::Null);
            added_from_json(kind, value)
                .map_err(|problem| format!("added field {}: {problem}", field.name))
        })
        .collect()
}

fn read_json(bytes: &[u8]) -> Result<UserRecordRef<'_>, String> {
    UserRecordRef::from_json(bytes)
        .map_err(|error| format!("value is not a valid user record: {error}"))
}

/// A value of a field the writer's schema adds, with the column it goes to.
#[derive(Debug, Clone, PartialEq)]
pub struct Added<'w> {
    pub name: &'w str,
    pub kind: AddedKind,
    pub value: AddedValue,
}

/// What the sink is handed to store.
#[derive(Debug, Clone, Copy)]
pub enum Batch<'a> {
    /// An MSK event, as the event source mapping invokes the function with it.
    Event(&'a MskEvent<'a>),
    /// Records read from the topic (the replay), as the event would carry them.
    Records(&'a [SourceRecord]),
}

/// A record that satisfies the contract, with its place on the topic. It borrows from the
/// batch and from the decoding buffer, so it lives only as long as the call it is handed to.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: DateTime<Utc>,
    pub record: UserRecordRef<'a>,
    /// The values of the fields its writer's schema adds that the lake keeps (none for a
    /// record of the users' schema, or read as plain JSON).
    pub added: Vec<Added<'a>>,
}

/// A record the lake cannot take, kept with everything needed to look at it again.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Rejected {
    pub topic: String,
    pub partition: i32,
    /// Absent only when the event entry itself was malformed.
    pub offset: Option<i64>,
    pub timestamp: Option<DateTime<Utc>>,
    pub reason: String,
    /// The message key as the event carried it (base64), if any.
    pub key_base64: Option<String>,
    /// The raw message value in base64; for a malformed entry, the entry's JSON in base64.
    pub raw_base64: Option<String>,
}

/// What decoding a batch left to store: how many records were handed on as accepted, and
/// every rejected record in full.
#[derive(Debug, Default)]
pub struct Decoded {
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
}

impl Decoded {
    /// All records in the batch.
    pub fn len(&self) -> usize {
        self.accepted + self.rejected.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Splits a `"<topic>-<partition>"` key; topics may themselves contain `-`.
fn split_partition_key(key: &str) -> (&str, i32) {
    match key.rsplit_once('-') {
        Some((topic, partition)) => (topic, partition.parse().unwrap_or(-1)),
        None => (key, -1),
    }
}

/// A message key or value as a batch carries it.
#[derive(Clone, Copy)]
enum Value<'a> {
    /// Base64 text, as in the MSK event.
    Base64(&'a str),
    /// The bytes themselves, as read from the topic.
    Bytes(&'a [u8]),
}

/// One record of a batch, before its value is checked.
struct Candidate<'a> {
    topic: &'a str,
    partition: i64,
    offset: i64,
    timestamp_ms: i64,
    key: Option<Value<'a>>,
    value: Option<Value<'a>>,
    /// The value's `valueSchemaMetadata`, when a registry validated it.
    value_schema: Option<&'a SchemaMetadata<'a>>,
}

impl<'a> Candidate<'a> {
    fn of_entry(record: &'a MskRecord<'a>, key_topic: &'a str) -> Self {
        Self {
            topic: record.topic.as_deref().unwrap_or(key_topic),
            partition: record.partition,
            offset: record.offset,
            timestamp_ms: record.timestamp.0,
            key: record.key.as_deref().map(Value::Base64),
            value: record.value.as_deref().map(Value::Base64),
            value_schema: record.value_schema_metadata.as_ref(),
        }
    }

    fn of_source(record: &'a SourceRecord) -> Self {
        Self {
            topic: &record.topic,
            partition: i64::from(record.partition),
            offset: record.offset,
            timestamp_ms: record.timestamp.millis(),
            key: record.key.as_deref().map(Value::Bytes),
            value: record.value.as_deref().map(Value::Bytes),
            value_schema: record.schemas.value.as_ref(),
        }
    }
}

/// Decodes every record of the batch, handing each accepted record to `accept`. Records are
/// taken partition key by partition key in the order of their `"topic-partition"` keys, and in
/// batch order within one, as the event groups them. Never fails: each problem is one rejected
/// record. Every value is read as JSON.
pub fn decode(batch: Batch<'_>, accept: impl FnMut(Accepted<'_>)) -> Decoded {
    decode_with_schemas(batch, None, accept)
}

/// The Avro schema ids of the batch's values a trigger in `SOURCE` format marked `AVRO`: the
/// writer schemas [`decode_with_schemas`] needs.
pub fn avro_schema_ids<'a>(event: &'a MskEvent<'a>) -> std::collections::BTreeSet<&'a str> {
    let records = event
        .records
        .values()
        .flatten()
        .filter_map(|entry| match entry {
            Entry::Record(record) => record.value_schema_metadata.as_ref(),
            Entry::Raw(_) => None,
        });
    let mut ids: std::collections::BTreeSet<&str> = records
        .filter(|metadata| metadata.data_format == AVRO)
        .filter_map(|metadata| metadata.schema_id.as_deref())
        .collect();
    // Entries kept raw (the event had a malformed one) are read on their own when decoded; their
    // ids are read here the same way, borrowing from the payload where they can.
    for entry in event.records.values().flatten() {
        if let Entry::Raw(raw) = entry
            && let Ok(record) = serde_json::from_str::<RawMetadata>(raw.get())
            && let Some(SchemaMetadata {
                data_format,
                schema_id: Some(id),
            }) = record.value_schema_metadata
            && data_format == AVRO
            && let std::borrow::Cow::Borrowed(id) = id
        {
            ids.insert(id);
        }
    }
    ids
}

/// The Avro schema ids of records read from the topic that carry them ([`as_source_format`]).
pub fn record_schema_ids(records: &[SourceRecord]) -> std::collections::BTreeSet<&str> {
    records
        .iter()
        .filter_map(|record| record.schemas.value.as_ref())
        .filter(|metadata| metadata.data_format == AVRO)
        .filter_map(|metadata| metadata.schema_id.as_deref())
        .collect()
}

/// A record read straight from the topic, as a trigger in `SOURCE` format would hand it over:
/// a value in the Confluent wire format becomes its Avro datum, marked `AVRO` with its schema
/// id; any other value is left as it is (read as JSON). For a replay of a topic that producers
/// write through a Confluent registry.
pub fn as_source_format(mut record: SourceRecord) -> SourceRecord {
    let framed = (record.value.as_deref()).and_then(user_record::avro::confluent_unframe);
    if let Some((schema_id, datum)) = framed {
        let datum = datum.to_vec();
        record.value = Some(datum);
        record.schemas.value = Some(SchemaMetadata {
            data_format: AVRO.into(),
            schema_id: Some(schema_id.to_string().into()),
        });
    }
    record
}

/// Only the value's schema metadata of an entry kept raw.
#[derive(serde::Deserialize)]
#[serde(rename_all = "camelCase")]
struct RawMetadata<'a> {
    #[serde(default, borrow)]
    value_schema_metadata: Option<SchemaMetadata<'a>>,
}

/// `dataFormat` of an Avro value.
const AVRO: &str = "AVRO";

/// As [`decode`]; with `writers`, a value marked `AVRO` is read with its writer's schema (in
/// `SOURCE` format) and the fields that schema adds are read too.
pub fn decode_with_schemas(
    batch: Batch<'_>,
    writers: Option<&Writers<'_>>,
    mut accept: impl FnMut(Accepted<'_>),
) -> Decoded {
    let mut decoded = Decoded::default();
    let mut buffer = Vec::new();
    let mut tally = |outcome: Result<(), Box<Rejected>>| match outcome {
        Ok(()) => decoded.accepted += 1,
        Err(rejected) => decoded.rejected.push(*rejected),
    };
    match batch {
        Batch::Event(event) => {
            for (key, entries) in &event.records {
                let (key_topic, key_partition) = split_partition_key(key);
                for entry in entries {
                    tally(match entry {
                        Entry::Record(record) => {
                            let candidate = Candidate::of_entry(record, key_topic);
                            decode_record(&candidate, writers, &mut buffer, &mut accept)
                        }
                        Entry::Raw(raw) => match serde_json::from_str::<MskRecord>(raw.get()) {
                            Ok(record) => {
                                let candidate = Candidate::of_entry(&record, key_topic);
                                decode_record(&candidate, writers, &mut buffer, &mut accept)
                            }
                            Err(error) => Err(malformed(key_topic, key_partition, raw, error)),
                        },
                    });
                }
            }
        }
        Batch::Records(records) => {
            let mut order: Vec<(String, usize)> = (records.iter().enumerate())
                .map(|(i, r)| (r.group_key(), i))
                .collect();
            order.sort();
            for (_, i) in order {
                let candidate = Candidate::of_source(&records[i]);
                tally(decode_record(&candidate, writers, &mut buffer, &mut accept));
            }
        }
    }
    decoded
}

/// An entry that is not a record entry at all, kept whole.
fn malformed(
    topic: &str,
    partition: i32,
    raw: &RawValue,
    error: serde_json::Error,
) -> Box<Rejected> {
    Box::new(Rejected {
        topic: topic.to_string(),
        partition,
        offset: None,
        timestamp: None,
        reason: format!("malformed MSK record entry: {error}"),
        key_base64: None,
        raw_base64: Some(BASE64.encode(raw.get())),
    })
}

/// Checks one record and either hands it to `accept` or says why it is rejected. `buffer` is
/// the reused buffer a base64 value is decoded into.
fn decode_record(
    candidate: &Candidate<'_>,
    writers: Option<&Writers<'_>>,
    buffer: &mut Vec<u8>,
    accept: &mut impl FnMut(Accepted<'_>),
) -> Result<(), Box<Rejected>> {
    let timestamp = DateTime::from_timestamp_millis(candidate.timestamp_ms);
    let reject = |partition: i32, reason: String, raw: Option<String>| {
        Box::new(Rejected {
            topic: candidate.topic.to_string(),
            partition,
            offset: Some(candidate.offset),
            timestamp,
            reason,
            key_base64: candidate.key.map(raw_base64),
            raw_base64: raw,
        })
    };
    let Ok(partition) = i32::try_from(candidate.partition) else {
        let reason = format!("partition {} is out of range", candidate.partition);
        return Err(reject(-1, reason, candidate.value.map(raw_base64)));
    };
    let Some(timestamp) = timestamp else {
        let reason = format!("timestamp {} ms is out of range", candidate.timestamp_ms);
        return Err(reject(partition, reason, candidate.value.map(raw_base64)));
    };
    let Some(value) = candidate.value else {
        return Err(reject(partition, "record has no value".into(), None));
    };
    let bytes: &[u8] = match value {
        Value::Bytes(bytes) => bytes,
        Value::Base64(encoded) => {
            buffer.clear();
            // SIMD decoding for every value; a value it refuses is decoded again by the
            // `base64` crate, which decides, and words the reason when it refuses too.
            if base64_simd::STANDARD
                .decode_append(encoded, buffer)
                .is_err()
            {
                buffer.clear();
                if let Err(error) = BASE64.decode_vec(encoded, buffer) {
                    let reason = format!("value is not valid base64: {error}");
                    return Err(reject(partition, reason, Some(BASE64.encode(encoded))));
                }
            }
            buffer
        }
    };
    let read = match (writers, candidate.value_schema) {
        (Some(writers), Some(metadata)) => writers.read(metadata, bytes),
        _ => read_json(bytes).map(|user| (user, Vec::new())),
    };
    match read {
        Ok((user, added)) => {
            accept(Accepted {
                topic: candidate.topic,
                partition,
                offset: candidate.offset,
                timestamp,
                record: user,
                added,
            });
            Ok(())
        }
        Err(reason) => Err(reject(partition, reason, Some(raw_base64(value)))),
    }
}

/// A key or value in base64, as the event carries it. Only a rejected record's are put in
/// base64: accepted records never pay for it.
fn raw_base64(value: Value<'_>) -> String {
    match value {
        Value::Base64(text) => text.to_string(),
        Value::Bytes(bytes) => BASE64.encode(bytes),
    }
}

#[cfg(test)]
mod tests {
    use msk_event::{EventSource, RecordTimestamp, event_json};

    use super::*;

    const GOOD: &str = r#"{"topic":"t","partition":0,"offset":1,"timestamp":1,"value":"e30="}"#;

    #[test]
    fn both_readings_of_an_event_decode_a_good_entry_alike() {
        // given the same good entry, alone (read with the event) and beside a bad one (raw)
        let alone = format!(r#"{{"records":{{"t-0":[{GOOD}]}}}}"#);
        let beside = format!(r#"{{"records":{{"t-0":[{GOOD},7]}}}}"#);
        let rejections = |json: &str| {
            let event = MskEvent::from_json(json).unwrap();
            let decoded = decode(Batch::Event(&event), |_| {});
            let seen: Vec<(Option<i64>, String)> = (decoded.rejected.iter())
                .map(|r| (r.offset, r.reason.clone()))
                .collect();
            seen
        };

        // then the good entry (an empty object: missing fields) is rejected the same way
        let first = rejections(&alone);
        let second = rejections(&beside);
        assert_eq!(first.len(), 1);
        assert_eq!(second[0], first[0]);
        assert!(second[1].1.starts_with("malformed MSK record entry"));
    }

    fn source(partition: i32, offset: i64, value: Option<&[u8]>) -> SourceRecord {
        SourceRecord {
            topic: "users_created".into(),
            partition,
            offset,
            timestamp: RecordTimestamp::CreateTime(1_795_525_198_100 + offset),
            key: Some(format!("key-{offset}").into_bytes()),
            value: value.map(<[u8]>::to_vec),
            headers: vec![],
            schemas: Default::default(),
        }
    }

    #[test]
    fn records_and_the_event_built_from_them_decode_to_the_same_rejections_in_the_same_order() {
        // given records of two partitions, out of partition order, with every kind of poison
        let records = vec![
            source(1, 7, Some(b"not json")),
            source(0, 3, None),
            source(1, 8, Some(br#"{"id":"x"}"#)),
            source(0, 4, Some(b"[]")),
        ];
        let json = String::from_utf8(event_json(
            &EventSource::local("us-east-1", "127.0.0.1:9092"),
            &records,
        ))
        .unwrap();
        let event = MskEvent::from_json(&json).unwrap();

        // when both are decoded
        let from_records = decode(Batch::Records(&records), |_| {});
        let from_event = decode(Batch::Event(&event), |_| {});

        // then they reject the same records, with the same reasons and raw values, in order
        assert_eq!(from_records.rejected, from_event.rejected);
        let offsets: Vec<Option<i64>> = from_records.rejected.iter().map(|r| r.offset).collect();
        assert_eq!(offsets, [Some(3), Some(4), Some(7), Some(8)]);
        assert_eq!(
            from_records.rejected[2].key_base64.as_deref(),
            Some("a2V5LTc=")
        );
    }
}
