//! A consumed Kafka message, owned, and what an event says about where it came from.

use crate::SchemaMetadata;

/// When a message was stamped, and by whom.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RecordTimestamp {
    /// Set by the producer (`CREATE_TIME`), in milliseconds since the epoch.
    CreateTime(i64),
    /// Set by the broker when appending (`LOG_APPEND_TIME`), in milliseconds since the epoch.
    LogAppendTime(i64),
    /// The message carries no timestamp (`NO_TIMESTAMP_TYPE`, sent as -1 like Kafka does).
    NotAvailable,
}

impl RecordTimestamp {
    /// Milliseconds since the epoch, -1 when absent.
    pub fn millis(self) -> i64 {
        match self {
            RecordTimestamp::CreateTime(ms) | RecordTimestamp::LogAppendTime(ms) => ms,
            RecordTimestamp::NotAvailable => -1,
        }
    }

    /// The `timestampType` string of the MSK event.
    pub fn kind(self) -> &'static str {
        match self {
            RecordTimestamp::CreateTime(_) => "CREATE_TIME",
            RecordTimestamp::LogAppendTime(_) => "LOG_APPEND_TIME",
            RecordTimestamp::NotAvailable => "NO_TIMESTAMP_TYPE",
        }
    }
}

/// One consumed Kafka message, owned, as it is kept until it is delivered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SourceRecord {
    /// Topic the message was read from.
    pub topic: String,
    /// Partition the message was read from.
    pub partition: i32,
    /// Offset of the message in its partition.
    pub offset: i64,
    /// The message timestamp.
    pub timestamp: RecordTimestamp,
    /// The message key, if any.
    pub key: Option<Vec<u8>>,
    /// The message value; `None` for a tombstone.
    pub value: Option<Vec<u8>>,
    /// Headers in order; a header may have no value.
    pub headers: Vec<(String, Option<Vec<u8>>)>,
    /// What a schema registry validated the key and the value against, when the trigger has
    /// one; empty for a record read straight from the topic.
    pub schemas: RecordSchemas,
}

/// The `keySchemaMetadata` and `valueSchemaMetadata` a trigger with a schema registry adds to
/// a record of the event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordSchemas {
    /// The key's schema, when keys are validated.
    pub key: Option<SchemaMetadata<'static>>,
    /// The value's schema, when values are validated.
    pub value: Option<SchemaMetadata<'static>>,
}

impl SourceRecord {
    /// The `"topic-partition"` key this record is grouped under in the event.
    pub fn group_key(&self) -> String {
        group_key(&self.topic, self.partition)
    }
}

/// The `"topic-partition"` key of the `records` map.
pub fn group_key(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// What the event says about where the records came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EventSource {
    /// `eventSourceArn`: the MSK cluster ARN.
    pub arn: String,
    /// `bootstrapServers`: the brokers, comma-separated.
    pub bootstrap_servers: String,
}

impl EventSource {
    /// The local cluster, named like an MSK cluster ARN in `region` of account 000000000000.
    pub fn local(region: &str, bootstrap_servers: &str) -> Self {
        EventSource {
            arn: format!(
                "arn:aws:kafka:{region}:000000000000:cluster/user-lake-local/\
                 00000000-0000-0000-0000-000000000000-1"
            ),
            bootstrap_servers: bootstrap_servers.to_owned(),
        }
    }
}
