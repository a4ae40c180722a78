//! The Arrow schema of the lake's `users` table: the record's twelve fields with real types,
//! followed by the Kafka coordinates of each row so that readers can de-duplicate.

use std::sync::Arc;

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};

/// Columns that come from the record itself, in schema order.
pub const RECORD_COLUMNS: [&str; 12] = [
    "id",
    "first_name",
    "last_name",
    "gender",
    "address",
    "post_code",
    "email",
    "username",
    "dob",
    "registered_date",
    "phone",
    "picture",
];

/// Columns that say where a row came from on the topic, in schema order.
pub const KAFKA_COLUMNS: [&str; 4] = [
    "kafka_topic",
    "kafka_partition",
    "kafka_offset",
    "kafka_timestamp",
];

fn utc_millis() -> DataType {
    DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()))
}

/// The one schema every Parquet object in the lake is written with. No column is nullable:
/// a record that cannot fill every column is rejected before it reaches a batch.
pub fn lake_schema() -> SchemaRef {
    let mut fields: Vec<Field> = RECORD_COLUMNS
        .iter()
        .map(|&name| match name {
            "dob" | "registered_date" => Field::new(name, utc_millis(), false),
            _ => Field::new(name, DataType::Utf8, false),
        })
        .collect();
    fields.extend([
        Field::new("kafka_topic", DataType::Utf8, false),
        Field::new("kafka_partition", DataType::Int32, false),
        Field::new("kafka_offset", DataType::Int64, false),
        Field::new("kafka_timestamp", utc_millis(), false),
    ]);
    Arc::new(Schema::new(fields))
}
