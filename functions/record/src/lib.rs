//! The contract of the `users_created` topic, shared by everything that writes or reads it.
//!
//! The producer serialises [`UserRecord`] as the JSON value of each Kafka message; the sink
//! deserialises it back (strictly: a missing field or a field of the wrong type is an error)
//! and lays it out in the lake with [`lake_schema`]. Keeping the three forms in one crate
//! means a change to the contract is one change, checked by one set of tests.
//!
//! It also holds [`settings`], the small piece of plumbing every function uses to read its
//! configuration, so that all of them fail at start-up in the same way, and [`emf`], which
//! every function uses to publish its metrics.

pub mod emf;
pub mod lake;
mod schema;
pub mod settings;

pub use schema::{KAFKA_COLUMNS, RECORD_COLUMNS, lake_schema};

use std::borrow::Cow;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The default topic the producer writes and the sink is triggered by.
pub const DEFAULT_TOPIC: &str = "users_created";

/// One user as it travels on the topic: a flat JSON object with exactly these twelve fields.
///
/// Timestamps are ISO-8601 in UTC on the wire (`2024-03-01T12:00:00Z`); `post_code` is always
/// a string even though the upstream API sometimes sends a number.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UserRecord {
    /// A random (version 4) UUID given by the producer; also the message key.
    pub id: Uuid,
    pub first_name: String,
    pub last_name: String,
    pub gender: String,
    /// `"<number> <street>, <city>, <state>, <country>"`.
    pub address: String,
    pub post_code: String,
    pub email: String,
    pub username: String,
    /// Date of birth.
    pub dob: DateTime<Utc>,
    pub registered_date: DateTime<Utc>,
    pub phone: String,
    /// URL of the user's medium-sized picture.
    pub picture: String,
}

impl UserRecord {
    /// The message key: the record's id in its hyphenated form.
    pub fn key(&self) -> String {
        self.id.hyphenated().to_string()
    }

    /// The JSON value of the Kafka message.
    pub fn to_json(&self) -> Vec<u8> {
        // Serialising plain strings, a UUID and chrono timestamps cannot fail.
        serde_json::to_vec(self).expect("a UserRecord always serialises")
    }

    /// Parses a Kafka message value, rejecting anything that breaks the contract. Unknown
    /// fields are ignored, so the producer can add a field before every reader knows it.
    pub fn from_json(bytes: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }
}

/// A [`UserRecord`] read in place: its strings borrow from the message value unless JSON
/// escapes force a copy.
///
/// This is the sink's hot path: a 6 MB batch holds thousands of records, and parsing them into
/// owned strings only to copy each string again into an Arrow column costs a dozen allocations
/// per record. The fields, their order, their types and therefore every rule of the contract
/// are those of [`UserRecord`]; the tests hold the two to the same verdicts.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct UserRecordRef<'a> {
    pub id: Uuid,
    #[serde(borrow)]
    pub first_name: Cow<'a, str>,
    #[serde(borrow)]
    pub last_name: Cow<'a, str>,
    #[serde(borrow)]
    pub gender: Cow<'a, str>,
    #[serde(borrow)]
    pub address: Cow<'a, str>,
    #[serde(borrow)]
    pub post_code: Cow<'a, str>,
    #[serde(borrow)]
    pub email: Cow<'a, str>,
    #[serde(borrow)]
    pub username: Cow<'a, str>,
    pub dob: DateTime<Utc>,
    pub registered_date: DateTime<Utc>,
    #[serde(borrow)]
    pub phone: Cow<'a, str>,
    #[serde(borrow)]
    pub picture: Cow<'a, str>,
}

impl<'a> UserRecordRef<'a> {
    /// Parses a Kafka message value by the same rules as [`UserRecord::from_json`].
    pub fn from_json(bytes: &'a [u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(bytes)
    }

    /// The owned record.
    pub fn into_owned(self) -> UserRecord {
        UserRecord {
            id: self.id,
            first_name: self.first_name.into_owned(),
            last_name: self.last_name.into_owned(),
            gender: self.gender.into_owned(),
            address: self.address.into_owned(),
            post_code: self.post_code.into_owned(),
            email: self.email.into_owned(),
            username: self.username.into_owned(),
            dob: self.dob,
            registered_date: self.registered_date,
            phone: self.phone.into_owned(),
            picture: self.picture.into_owned(),
        }
    }
}

#[cfg(test)]
mod tests;
