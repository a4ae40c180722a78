//! The Arrow schema of the lake's `users` table, built from the record crate's column list: the
//! record's twelve fields with real types, then the Kafka coordinates of each row.

use std::sync::{Arc, LazyLock};

use arrow::datatypes::{DataType, Field, Schema, SchemaRef, TimeUnit};
use user_record::{ColumnType, columns::lake_columns};

/// The Arrow type of a lake column type.
pub fn data_type(column_type: ColumnType) -> DataType {
    match column_type {
        ColumnType::Text => DataType::Utf8,
        ColumnType::Timestamp => DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into())),
        ColumnType::Int32 => DataType::Int32,
        ColumnType::Int64 => DataType::Int64,
    }
}

static SCHEMA: LazyLock<SchemaRef> = LazyLock::new(|| {
    let fields: Vec<Field> = lake_columns()
        .map(|c| Field::new(c.name, data_type(c.column_type), false))
        .collect();
    Arc::new(Schema::new(fields))
});

/// The one schema every Parquet object in the lake is written with. No column is nullable: a
/// record that cannot fill every column is rejected before it reaches a batch.
pub fn lake_schema() -> SchemaRef {
    SCHEMA.clone()
}

#[cfg(test)]
mod tests {
    use super::*;
    use user_record::{KAFKA_COLUMNS, RECORD_FIELDS};

    #[test]
    fn the_schema_is_the_record_fields_then_the_kafka_columns_none_nullable() {
        let schema = lake_schema();
        let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
        let expected: Vec<&str> = RECORD_FIELDS
            .iter()
            .chain(&KAFKA_COLUMNS)
            .map(|c| c.name)
            .collect();
        assert_eq!(names, expected);
        let utc_ms = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
        let type_of = |name: &str| schema.field_with_name(name).unwrap().data_type().clone();
        assert_eq!(type_of("dob"), utc_ms);
        assert_eq!(type_of("kafka_timestamp"), utc_ms);
        assert_eq!(type_of("kafka_partition"), DataType::Int32);
        assert_eq!(type_of("kafka_offset"), DataType::Int64);
        assert_eq!(type_of("post_code"), DataType::Utf8);
        assert!(schema.fields().iter().all(|f| !f.is_nullable()));
    }

    /// The Glue table of `template.yaml`, which Athena reads the lake with, has the lake's
    /// columns in the lake's order with matching Hive types.
    #[test]
    fn the_glue_table_in_the_template_has_the_lake_columns() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        // CloudFormation's short forms (!Ref, !Sub, ...) read as tagged values.
        let template: serde_norway::Value = serde_norway::from_str(&text).unwrap();
        let columns = &template["Resources"]["UsersTable"]["Properties"]["TableInput"]["StorageDescriptor"]
            ["Columns"];
        let glue: Vec<(String, String)> = columns
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| {
                let field = |k: &str| c[k].as_str().unwrap().to_string();
                (field("Name"), field("Type"))
            })
            .collect();
        let expected: Vec<(String, String)> = lake_columns()
            .map(|c| {
                let hive = match c.column_type {
                    ColumnType::Text => "string",
                    ColumnType::Timestamp => "timestamp",
                    ColumnType::Int32 => "int",
                    ColumnType::Int64 => "bigint",
                };
                (c.name.to_string(), hive.to_string())
            })
            .collect();
        assert_eq!(glue, expected);
    }
}
