//! Decoding an MSK event into records the lake accepts and records it rejects.
//!
//! The event is read leniently on purpose: each entry of `records` is parsed on its own, so a
//! malformed entry, a missing value, bad base64 or a value that breaks the record contract
//! rejects that one record (with its reason) and never the batch.
//!
//! Entries are parsed into [`MskRecord`] rather than `aws_lambda_events`' `KafkaRecord`, whose
//! timestamp goes through `f64` (1795525198100 ms comes back as ...099) and which panics on a
//! fractional timestamp; the lake's `kafka_timestamp` must be exact and no input may crash the
//! function. Strings are borrowed from the event, so a record's value is not copied before it
//! is decoded.

use std::{borrow::Cow, collections::HashMap};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::value::RawValue;
use user_record::UserRecord;

/// The event an MSK (or self-managed Kafka) event source mapping invokes the sink with.
/// `records` maps `"<topic>-<partition>"` to that partition's records in offset order.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct MskEvent {
    #[serde(default)]
    pub event_source: Option<String>,
    #[serde(default)]
    pub event_source_arn: Option<String>,
    pub records: HashMap<String, Vec<Box<RawValue>>>,
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
        #[derive(Deserialize)]
        #[serde(untagged)]
        enum Raw<'a> {
            Number(i64),
            Text(&'a str),
        }
        match Raw::deserialize(deserializer)? {
            Raw::Number(ms) => Ok(Millis(ms)),
            Raw::Text(text) => text.parse().map(Millis).map_err(|_| {
                serde::de::Error::custom(format!("timestamp {text:?} is not whole milliseconds"))
            }),
        }
    }
}

/// A record that satisfies the contract, with its place on the topic.
#[derive(Debug, Clone, PartialEq)]
pub struct Accepted {
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: DateTime<Utc>,
    pub record: UserRecord,
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

/// Every record of one event, sorted into the two outcomes.
#[derive(Debug, Default)]
pub struct Decoded {
    pub accepted: Vec<Accepted>,
    pub rejected: Vec<Rejected>,
}

impl Decoded {
    /// All records in the event.
    pub fn len(&self) -> usize {
        self.accepted.len() + self.rejected.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Splits a `"<topic>-<partition>"` key; topics may themselves contain `-`.
fn split_partition_key(key: &str) -> (String, i32) {
    match key.rsplit_once('-') {
        Some((topic, partition)) => (topic.to_string(), partition.parse().unwrap_or(-1)),
        None => (key.to_string(), -1),
    }
}

/// Decodes every record of the event. Never fails: each problem is one rejected record.
pub fn decode(event: &MskEvent) -> Decoded {
    let mut decoded = Decoded::default();
    let mut keys: Vec<&String> = event.records.keys().collect();
    keys.sort_unstable();
    for key in keys {
        let (key_topic, key_partition) = split_partition_key(key);
        for entry in &event.records[key] {
            match serde_json::from_str::<MskRecord>(entry.get()) {
                Ok(record) => decoded.push(decode_record(record, &key_topic)),
                Err(error) => decoded.rejected.push(Rejected {
                    topic: key_topic.clone(),
                    partition: key_partition,
                    offset: None,
                    timestamp: None,
                    reason: format!("malformed MSK record entry: {error}"),
                    key_base64: None,
                    raw_base64: Some(BASE64.encode(entry.get())),
                }),
            }
        }
    }
    decoded
}

/// What became of one record.
enum Outcome {
    Accepted(Accepted),
    Rejected(Rejected),
}

impl Decoded {
    fn push(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Accepted(accepted) => self.accepted.push(accepted),
            Outcome::Rejected(rejected) => self.rejected.push(rejected),
        }
    }
}

fn decode_record(record: MskRecord<'_>, key_topic: &str) -> Outcome {
    let topic = record.topic.as_deref().unwrap_or(key_topic).to_string();
    let timestamp = DateTime::from_timestamp_millis(record.timestamp.0);
    let reject = |partition: i32, reason: String, raw_base64: Option<String>| Rejected {
        topic: topic.clone(),
        partition,
        offset: Some(record.offset),
        timestamp,
        reason,
        key_base64: record.key.as_deref().map(str::to_string),
        raw_base64,
    };
    let value = record.value.as_deref();
    let Ok(partition) = i32::try_from(record.partition) else {
        let reason = format!("partition {} is out of range", record.partition);
        return Outcome::Rejected(reject(-1, reason, value.map(str::to_string)));
    };
    let Some(timestamp) = timestamp else {
        let reason = format!("timestamp {} ms is out of range", record.timestamp.0);
        return Outcome::Rejected(reject(partition, reason, value.map(str::to_string)));
    };
    let Some(value) = value else {
        return Outcome::Rejected(reject(partition, "record has no value".into(), None));
    };
    let bytes = match BASE64.decode(value) {
        Ok(bytes) => bytes,
        Err(error) => {
            let raw = Some(BASE64.encode(value));
            return Outcome::Rejected(reject(
                partition,
                format!("value is not valid base64: {error}"),
                raw,
            ));
        }
    };
    match UserRecord::from_json(&bytes) {
        Ok(user) => Outcome::Accepted(Accepted {
            topic: topic.clone(),
            partition,
            offset: record.offset,
            timestamp,
            record: user,
        }),
        Err(error) => Outcome::Rejected(reject(
            partition,
            format!("value is not a valid user record: {error}"),
            Some(value.to_string()),
        )),
    }
}
