//! The record's schemas, for schema registries and for clients that are not written in Rust: the
//! Avro schema producers register and write with, and the JSON Schema of the JSON value. Both are
//! files beside this crate (`crates/record/schemas/`), compiled in here so that the tests hold
//! them to the Rust record: a field added to [`crate::UserRecordRef`] and not to both schemas
//! fails them.

/// The Avro schema of a user (`crates/record/schemas/users.avsc`): timestamps as
/// `timestamp-millis`, the id as a `uuid` string, every field required.
pub const AVRO: &str = include_str!("../schemas/users.avsc");

/// The JSON Schema (2020-12) of a user's JSON value (`crates/record/schemas/users.schema.json`).
pub const JSON_SCHEMA: &str = include_str!("../schemas/users.schema.json");
