//! Decoding an MSK event into records the lake accepts and records it rejects.
//!
//! The event is read leniently on purpose: each entry of `records` is parsed on its own, so a
//! malformed entry, a missing value, bad base64 or a value that breaks the record contract
//! rejects that one record (with its reason) and never the batch.
//!
//! Entries are parsed into [`MskRecord`] rather than `aws_lambda_events`' `KafkaRecord`, whose
//! timestamp goes through `f64` (1795525198100 ms comes back as ...099) and which panics on a
//! fractional timestamp; the lake's `kafka_timestamp` must be exact and no input may crash the
//! function.
//!
//! This is the sink's hot path, so nothing is read twice or copied that need not be: a
//! well-formed event is read in one pass (only an event with a malformed entry is read again,
//! entry by entry), the entries' strings borrow from the event's text, each value is
//! base64-decoded into one reused buffer, and the record is read in place ([`UserRecordRef`])
//! and handed to the caller, which copies its fields once, into Arrow columns.

use std::{borrow::Cow, collections::BTreeMap, fmt};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use serde::{Deserialize, de};
use serde_json::value::RawValue;
use user_record::UserRecordRef;

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
    pub fn from_json(json: &'a str) -> Result<Self, serde_json::Error> {
        match serde_json::from_str::<Envelope<'a, MskRecord<'a>>>(json) {
            Ok(event) => Ok(event.into_event(Entry::Record)),
            Err(_) => serde_json::from_str::<Envelope<'a, &'a RawValue>>(json)
                .map(|event| event.into_event(Entry::Raw)),
        }
    }
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

/// A record that satisfies the contract, with its place on the topic. It borrows from the
/// event and from the decoding buffer, so it lives only as long as the call it is handed to.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted<'a> {
    pub topic: &'a str,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: DateTime<Utc>,
    pub record: UserRecordRef<'a>,
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

/// What decoding an event left to store: how many records were handed on as accepted, and
/// every rejected record in full.
#[derive(Debug, Default)]
pub struct Decoded {
    pub accepted: usize,
    pub rejected: Vec<Rejected>,
}

impl Decoded {
    /// All records in the event.
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

/// Decodes every record of the event, partition key by partition key in sorted order and
/// entries in event order, handing each accepted record to `accept`. Never fails: each problem
/// is one rejected record.
pub fn decode(event: &MskEvent<'_>, mut accept: impl FnMut(Accepted<'_>)) -> Decoded {
    let mut decoded = Decoded::default();
    let mut value = Vec::new();
    for (key, entries) in &event.records {
        let (key_topic, key_partition) = split_partition_key(key);
        for entry in entries {
            let outcome = match entry {
                Entry::Record(record) => decode_record(record, key_topic, &mut value, &mut accept),
                Entry::Raw(raw) => match serde_json::from_str::<MskRecord>(raw.get()) {
                    Ok(record) => decode_record(&record, key_topic, &mut value, &mut accept),
                    Err(error) => Err(malformed(key_topic, key_partition, raw, error)),
                },
            };
            match outcome {
                Ok(()) => decoded.accepted += 1,
                Err(rejected) => decoded.rejected.push(*rejected),
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

/// Checks one entry and either hands its record to `accept` or says why it is rejected.
/// `value` is the reused buffer the message value is base64-decoded into.
fn decode_record(
    record: &MskRecord<'_>,
    key_topic: &str,
    value: &mut Vec<u8>,
    accept: &mut impl FnMut(Accepted<'_>),
) -> Result<(), Box<Rejected>> {
    let topic = record.topic.as_deref().unwrap_or(key_topic);
    let timestamp = DateTime::from_timestamp_millis(record.timestamp.0);
    let encoded = record.value.as_deref();
    let reject = |partition: i32, reason: String, raw_base64: Option<String>| {
        Box::new(Rejected {
            topic: topic.to_string(),
            partition,
            offset: Some(record.offset),
            timestamp,
            reason,
            key_base64: record.key.as_deref().map(str::to_string),
            raw_base64,
        })
    };
    let Ok(partition) = i32::try_from(record.partition) else {
        let reason = format!("partition {} is out of range", record.partition);
        return Err(reject(-1, reason, encoded.map(str::to_string)));
    };
    let Some(timestamp) = timestamp else {
        let reason = format!("timestamp {} ms is out of range", record.timestamp.0);
        return Err(reject(partition, reason, encoded.map(str::to_string)));
    };
    let Some(encoded) = encoded else {
        return Err(reject(partition, "record has no value".into(), None));
    };
    value.clear();
    if let Err(error) = BASE64.decode_vec(encoded, value) {
        let reason = format!("value is not valid base64: {error}");
        return Err(reject(partition, reason, Some(BASE64.encode(encoded))));
    }
    match UserRecordRef::from_json(value) {
        Ok(user) => {
            accept(Accepted {
                topic,
                partition,
                offset: record.offset,
                timestamp,
                record: user,
            });
            Ok(())
        }
        Err(error) => Err(reject(
            partition,
            format!("value is not a valid user record: {error}"),
            Some(encoded.to_string()),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn both_readings_decode_a_good_entry_alike() {
        // given the same good entry, alone (read with the event) and beside a bad one (raw)
        let alone = format!(r#"{{"records":{{"t-0":[{GOOD}]}}}}"#);
        let beside = format!(r#"{{"records":{{"t-0":[{GOOD},7]}}}}"#);
        let rejections = |json: &str| {
            let mut seen = Vec::new();
            let decoded = decode(&MskEvent::from_json(json).unwrap(), |_| {});
            seen.extend(
                decoded
                    .rejected
                    .iter()
                    .map(|r| (r.offset, r.reason.clone())),
            );
            seen
        };

        // then the good entry (an empty object: missing fields) is rejected the same way
        let first = rejections(&alone);
        let second = rejections(&beside);
        assert_eq!(first.len(), 1);
        assert_eq!(second[0], first[0]);
        assert!(second[1].1.starts_with("malformed MSK record entry"));
    }
}
