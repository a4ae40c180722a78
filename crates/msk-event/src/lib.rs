//! The event an Amazon MSK (or self-managed Kafka) event source mapping invokes a function
//! with, in one place for everything that builds or reads it:
//!
//! - [`record`]: a consumed Kafka message, owned, as the trigger emulator and the replay hold it;
//! - [`build`]: the event's JSON as Lambda sends it (records grouped under `"topic-partition"`,
//!   key and value base64, timestamps as numbers, headers as arrays of signed bytes), and the
//!   exact serialised size of each record, so that batches are cut without serialising them;
//! - [`parse`]: the event read in place by the sink, entries borrowing from the payload;
//! - [`batcher`]: the mapping's rules for closing a batch (`BatchSize`, the batching window and
//!   the 6 MB payload limit), free of I/O and clocks.
//!
//! The shape follows the MSK event of the Lambda developer guide ("Using Lambda with Amazon
//! MSK", the example event); the round trip build → parse is tested here.

pub mod batcher;
pub mod build;
pub mod parse;
mod plain_run;
pub mod record;
mod scan;

pub use batcher::{BatchLimits, Batcher, CloseReason, MAX_PAYLOAD_BYTES, Offer};
pub use build::{envelope_json_len, event_json, record_json_len};
pub use parse::{Entry, Millis, MskEvent, MskRecord, SchemaMetadata};
pub use record::{EventSource, RecordSchemas, RecordTimestamp, SourceRecord, group_key};
