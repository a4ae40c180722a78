//! The contract of the `users_created` topic, shared by everything that writes or reads it.
//!
//! The producer serialises a [`UserRecord`] as the JSON value of each Kafka message; the sink
//! reads it back in place as a [`UserRecordRef`] (strictly: a missing field or a field of the
//! wrong type is an error) and lays it out in the lake with the columns of [`columns`]. The
//! record is defined once, with strings that borrow from the message where they can; the owned
//! form is the same type with nothing borrowed.
//!
//! What is accepted on the wire is a little wider than what is written: `post_code` may be a
//! JSON number, as the original Python producer sends it for most nationalities, and is kept as
//! the decimal text of that number; `dob` and `registered_date` may be whole milliseconds since
//! the epoch, as the Avro schema's `timestamp-millis` reaches the sink when its trigger decodes
//! registry-encoded records to JSON. Everything else must have the type the contract gives it.

#[cfg(feature = "avro")]
pub mod avro;
pub mod columns;
mod post_code;
pub mod schemas;
mod timestamp;

pub use columns::{Column, ColumnType, KAFKA_COLUMNS, RECORD_FIELDS};

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The default topic the producer writes and the sink is triggered by.
pub const DEFAULT_TOPIC: &str = "users_created";

/// One user as it travels on the topic: a flat JSON object with these twelve fields, read in
/// place (its strings borrow from the message value unless JSON escapes force a copy).
///
/// Timestamps are ISO-8601 on the wire (`2024-03-01T12:00:00Z`) and held in UTC. Unknown fields
/// are ignored, so the producer can add a field before every reader knows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecordRef<'a> {
    /// A random (version 4) UUID given by the producer; also the message key.
    pub id: Uuid,
    #[serde(borrow)]
    pub first_name: Cow<'a, str>,
    #[serde(borrow)]
    pub last_name: Cow<'a, str>,
    #[serde(borrow)]
    pub gender: Cow<'a, str>,
    /// `"<number> <street>, <city>, <state>, <country>"`.
    #[serde(borrow)]
    pub address: Cow<'a, str>,
    /// Text; a JSON number on the wire is kept as its decimal text (`78276` as `"78276"`).
    #[serde(borrow, deserialize_with = "post_code::text")]
    pub post_code: Cow<'a, str>,
    #[serde(borrow)]
    pub email: Cow<'a, str>,
    #[serde(borrow)]
    pub username: Cow<'a, str>,
    /// Date of birth.
    #[serde(deserialize_with = "timestamp::utc")]
    pub dob: DateTime<Utc>,
    #[serde(deserialize_with = "timestamp::utc")]
    pub registered_date: DateTime<Utc>,
    #[serde(borrow)]
    pub phone: Cow<'a, str>,
    /// URL of the user's medium-sized picture.
    #[serde(borrow)]
    pub picture: Cow<'a, str>,
}

/// Values with more opening brackets than this are parsed by serde_json (see
/// [`UserRecordRef::from_json`]); sonic-rs's recursion is safe far beyond it.
const MAX_SIMD_BRACKETS: usize = 64;

/// How many `[` and `{` the bytes hold. Counted in runs of 255 bytes into a byte-wide sum,
/// which the compiler turns into sixteen (or more) bytes a step; a count filtered byte by
/// byte is not vectorised, and took about a seventh of the sink's record parse.
fn opening_brackets(bytes: &[u8]) -> usize {
    bytes
        .chunks(usize::from(u8::MAX))
        .map(|run| {
            let count = run
                .iter()
                .fold(0u8, |count, &b| count + u8::from((b == b'[') | (b == b'{')));
            usize::from(count)
        })
        .sum()
}

/// Why a message value is not a user record: the parser's own words, with the line and column.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// Rejected by the SIMD parser (every ordinary value). Only the first line of its message
    /// is kept: the rest quotes the value, which an error line already carries in base64.
    #[error("{}", first_line(.0))]
    Json(#[from] sonic_rs::Error),
    /// Rejected by serde_json (values with many brackets, read with a depth limit).
    #[error(transparent)]
    DeepJson(#[from] serde_json::Error),
}

fn first_line(error: &sonic_rs::Error) -> String {
    let text = error.to_string();
    text.lines()
        .next()
        .unwrap_or_default()
        .trim_end()
        .to_string()
}

/// A record that owns its strings: what the producer builds and what tests compare.
pub type UserRecord = UserRecordRef<'static>;

impl<'a> UserRecordRef<'a> {
    /// Parses a Kafka message value, rejecting anything that breaks the contract (invalid
    /// UTF-8 included).
    ///
    /// This is the sink's hottest step, so it uses a SIMD parser (sonic-rs: NEON on aarch64,
    /// SSE2 or better on x86-64) that reads the same serde shape in half the time. sonic-rs
    /// skips an unknown field by recursion without a depth limit, so a value with enough
    /// brackets to nest deeply is read by serde_json instead, whose depth limit turns hostile
    /// nesting into an error rather than a stack overflow. A record has one.
    pub fn from_json(bytes: &'a [u8]) -> Result<Self, RecordError> {
        match opening_brackets(bytes) <= MAX_SIMD_BRACKETS {
            true => sonic_rs::from_slice(bytes).map_err(RecordError::from),
            false => serde_json::from_slice(bytes).map_err(RecordError::from),
        }
    }

    /// The message key: the record's id in its hyphenated form.
    pub fn key(&self) -> String {
        self.id.hyphenated().to_string()
    }

    /// The JSON value of the Kafka message (`post_code` always a string).
    pub fn to_json(&self) -> Vec<u8> {
        // Plain strings, a UUID and chrono timestamps always serialise.
        serde_json::to_vec(self).expect("a record always serialises")
    }

    /// The same record owning every string.
    pub fn into_owned(self) -> UserRecord {
        let own = |s: Cow<'a, str>| Cow::Owned(s.into_owned());
        UserRecordRef {
            id: self.id,
            first_name: own(self.first_name),
            last_name: own(self.last_name),
            gender: own(self.gender),
            address: own(self.address),
            post_code: own(self.post_code),
            email: own(self.email),
            username: own(self.username),
            dob: self.dob,
            registered_date: self.registered_date,
            phone: own(self.phone),
            picture: own(self.picture),
        }
    }
}

impl UserRecord {
    /// Parses a Kafka message value into a record that owns its strings.
    pub fn from_json_owned(bytes: &[u8]) -> Result<UserRecord, RecordError> {
        UserRecordRef::from_json(bytes).map(UserRecordRef::into_owned)
    }
}

#[cfg(test)]
mod tests;
