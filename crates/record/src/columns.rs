//! The lake's columns, defined once: the record's twelve fields in wire order, then the Kafka
//! coordinates the sink adds to every row so that readers can de-duplicate. The Arrow schema
//! (`lake::schema`), the sink's column builders, the Glue table in `template.yaml` and the
//! readers are built from, or tested against, this list.

/// How a column is typed in the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ColumnType {
    /// UTF-8 text.
    Text,
    /// An instant in milliseconds, UTC.
    Timestamp,
    /// A 32-bit integer.
    Int32,
    /// A 64-bit integer.
    Int64,
}

/// One column of the lake.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Column {
    pub name: &'static str,
    pub column_type: ColumnType,
}

const fn column(name: &'static str, column_type: ColumnType) -> Column {
    Column { name, column_type }
}

/// The record's fields, in the order the record serialises them.
pub const RECORD_FIELDS: [Column; 12] = [
    column("id", ColumnType::Text),
    column("first_name", ColumnType::Text),
    column("last_name", ColumnType::Text),
    column("gender", ColumnType::Text),
    column("address", ColumnType::Text),
    column("post_code", ColumnType::Text),
    column("email", ColumnType::Text),
    column("username", ColumnType::Text),
    column("dob", ColumnType::Timestamp),
    column("registered_date", ColumnType::Timestamp),
    column("phone", ColumnType::Text),
    column("picture", ColumnType::Text),
];

/// Where a row came from on the topic.
pub const KAFKA_COLUMNS: [Column; 4] = [
    column("kafka_topic", ColumnType::Text),
    column("kafka_partition", ColumnType::Int32),
    column("kafka_offset", ColumnType::Int64),
    column("kafka_timestamp", ColumnType::Timestamp),
];

/// Every lake column, in schema order: the record's fields, then the Kafka columns.
pub fn lake_columns() -> impl Iterator<Item = &'static Column> {
    RECORD_FIELDS.iter().chain(KAFKA_COLUMNS.iter())
}
