//! The table's metadata as the Apache Iceberg table spec (format version 2) writes it: the
//! schema with its field ids, the partition spec, snapshots and their logs. Serde models of
//! exactly the fields this project writes and reads; anything another writer adds (Spark,
//! Athena, a table optimizer) is kept as it was through `extra`, so that our commit never drops
//! what it does not know.
//!
//! Spec: <https://iceberg.apache.org/spec/#table-metadata-fields>.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use user_record::{ColumnType, columns::lake_columns};

/// The partition field's id: the spec starts partition field ids at 1000.
pub const PARTITION_FIELD_ID: i32 = 1000;
/// The partition field's name, as it appears in data file paths (`kafka_timestamp_hour=…`).
pub const PARTITION_FIELD_NAME: &str = "kafka_timestamp_hour";
/// The column the table is partitioned by (hidden partitioning: `hour(kafka_timestamp)`).
pub const PARTITION_SOURCE: &str = "kafka_timestamp";

/// One column of a schema.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SchemaField {
    pub id: i32,
    pub name: String,
    pub required: bool,
    /// A primitive type name (`string`, `int`, `long`, `timestamptz`, …).
    #[serde(rename = "type")]
    pub field_type: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc: Option<String>,
}

/// A schema of the table (`"type": "struct"`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Schema {
    #[serde(rename = "type")]
    pub kind: String,
    #[serde(rename = "schema-id")]
    pub schema_id: i32,
    pub fields: Vec<SchemaField>,
}

impl Schema {
    /// The field of this name.
    pub fn field(&self, name: &str) -> Option<&SchemaField> {
        self.fields.iter().find(|f| f.name == name)
    }

    /// This schema with every field that has no id yet (0 or less) numbered after the highest
    /// id: a writer's columns made into a new table's first schema.
    pub fn numbered(mut self) -> Schema {
        let mut id = self.last_column_id();
        for field in self.fields.iter_mut().filter(|f| f.id <= 0) {
            id += 1;
            field.id = id;
        }
        self
    }

    /// The highest field id.
    pub fn last_column_id(&self) -> i32 {
        self.fields.iter().map(|f| f.id).max().unwrap_or(0)
    }

    /// This schema with the columns of `wanted` it lacks, matched by name, added at the end as
    /// optional columns numbered from `last_column_id + 1` (Iceberg's rule for adding a column
    /// to a table that holds rows: the new column must be optional, and ids are never reused).
    /// `None` when nothing is missing; an error when a column of both has two types.
    pub fn evolved_for(
        &self,
        wanted: &Schema,
        last_column_id: i32,
    ) -> Result<Option<Schema>, TypeConflict> {
        let mut next = self.clone();
        let mut id = last_column_id;
        for field in &wanted.fields {
            match self.field(&field.name) {
                Some(held) if held.field_type != field.field_type => {
                    return Err(TypeConflict {
                        column: field.name.clone(),
                        table_type: held.field_type.clone(),
                        writer_type: field.field_type.clone(),
                    });
                }
                Some(_) => {}
                None => {
                    id += 1;
                    next.fields.push(SchemaField {
                        id,
                        required: false,
                        ..field.clone()
                    });
                }
            }
        }
        Ok((next.fields.len() > self.fields.len()).then_some(next))
    }
}

/// A column the table and a writer give different types (a type change is not an evolution
/// this project makes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TypeConflict {
    pub column: String,
    pub table_type: String,
    pub writer_type: String,
}

/// The Iceberg primitive type of a lake column type. Timestamps are `timestamptz`
/// (microseconds, UTC): the data files store them as Parquet `TIMESTAMP(MICROS, UTC)`.
pub fn iceberg_type(column_type: ColumnType) -> &'static str {
    match column_type {
        ColumnType::Text => "string",
        ColumnType::Timestamp => "timestamptz",
        ColumnType::Int32 => "int",
        ColumnType::Int64 => "long",
    }
}

/// The table's first schema: the lake's columns in order, field ids 1, 2, …, all required
/// (the sink rejects a record that cannot fill every column).
pub fn lake_table_schema() -> Schema {
    Schema {
        kind: "struct".into(),
        schema_id: 0,
        fields: lake_columns()
            .zip(1..)
            .map(|(column, id)| SchemaField {
                id,
                name: column.name.into(),
                required: true,
                field_type: iceberg_type(column.column_type).into(),
                doc: None,
            })
            .collect(),
    }
}

/// One field of a partition spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionField {
    #[serde(rename = "source-id")]
    pub source_id: i32,
    #[serde(rename = "field-id")]
    pub field_id: i32,
    pub name: String,
    pub transform: String,
}

/// A partition spec.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PartitionSpec {
    #[serde(rename = "spec-id")]
    pub spec_id: i32,
    pub fields: Vec<PartitionField>,
}

/// The table's partition spec: `hour(kafka_timestamp)`, the hour of Kafka time a row was
/// written in, as the plain-files layout's `dt=…/hour=…` folders are. Queries that filter on
/// `kafka_timestamp` read only the matching hours; a day is 24 of them.
pub fn lake_partition_spec(schema: &Schema) -> PartitionSpec {
    let source = schema
        .field(PARTITION_SOURCE)
        .expect("the lake schema has kafka_timestamp");
    PartitionSpec {
        spec_id: 0,
        fields: vec![PartitionField {
            source_id: source.id,
            field_id: PARTITION_FIELD_ID,
            name: PARTITION_FIELD_NAME.into(),
            transform: "hour".into(),
        }],
    }
}

/// One snapshot: the table's state after one commit.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Snapshot {
    #[serde(rename = "snapshot-id")]
    pub snapshot_id: i64,
    #[serde(
        rename = "parent-snapshot-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub parent_snapshot_id: Option<i64>,
    #[serde(rename = "sequence-number")]
    pub sequence_number: i64,
    #[serde(rename = "timestamp-ms")]
    pub timestamp_ms: i64,
    /// Full URI of the snapshot's manifest list.
    #[serde(rename = "manifest-list")]
    pub manifest_list: String,
    /// `operation` (`append`, `replace`, …) and free-form properties, among them the Kafka
    /// offset marks ([`crate::marks`]).
    pub summary: BTreeMap<String, String>,
    #[serde(rename = "schema-id", default, skip_serializing_if = "Option::is_none")]
    pub schema_id: Option<i32>,
}

/// An entry of the snapshot log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotLogEntry {
    #[serde(rename = "snapshot-id")]
    pub snapshot_id: i64,
    #[serde(rename = "timestamp-ms")]
    pub timestamp_ms: i64,
}

/// An entry of the metadata log: an earlier metadata file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MetadataLogEntry {
    #[serde(rename = "metadata-file")]
    pub metadata_file: String,
    #[serde(rename = "timestamp-ms")]
    pub timestamp_ms: i64,
}

/// A named reference to a snapshot (`main`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SnapshotRef {
    #[serde(rename = "snapshot-id")]
    pub snapshot_id: i64,
    #[serde(rename = "type")]
    pub kind: String,
    /// Retention settings and anything else a reference carries.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// The table metadata file (`<n>-<uuid>.metadata.json`), format version 2.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TableMetadata {
    #[serde(rename = "format-version")]
    pub format_version: i32,
    #[serde(rename = "table-uuid")]
    pub table_uuid: String,
    pub location: String,
    #[serde(rename = "last-sequence-number")]
    pub last_sequence_number: i64,
    #[serde(rename = "last-updated-ms")]
    pub last_updated_ms: i64,
    #[serde(rename = "last-column-id")]
    pub last_column_id: i32,
    pub schemas: Vec<Schema>,
    #[serde(rename = "current-schema-id")]
    pub current_schema_id: i32,
    #[serde(rename = "partition-specs")]
    pub partition_specs: Vec<PartitionSpec>,
    #[serde(rename = "default-spec-id")]
    pub default_spec_id: i32,
    #[serde(rename = "last-partition-id")]
    pub last_partition_id: i32,
    #[serde(default)]
    pub properties: BTreeMap<String, String>,
    #[serde(
        rename = "current-snapshot-id",
        default,
        skip_serializing_if = "Option::is_none"
    )]
    pub current_snapshot_id: Option<i64>,
    #[serde(default)]
    pub snapshots: Vec<Snapshot>,
    #[serde(rename = "snapshot-log", default)]
    pub snapshot_log: Vec<SnapshotLogEntry>,
    #[serde(rename = "metadata-log", default)]
    pub metadata_log: Vec<MetadataLogEntry>,
    #[serde(rename = "sort-orders")]
    pub sort_orders: Vec<Value>,
    #[serde(rename = "default-sort-order-id")]
    pub default_sort_order_id: i32,
    #[serde(default)]
    pub refs: BTreeMap<String, SnapshotRef>,
    /// Fields this project does not use (statistics, partition statistics, …), kept as read.
    #[serde(flatten)]
    pub extra: BTreeMap<String, Value>,
}

/// How many earlier metadata files the metadata log keeps (the spec's
/// `write.metadata.previous-versions-max`, default 100).
pub const PREVIOUS_VERSIONS_MAX: usize = 100;

impl TableMetadata {
    /// A new table at `location` with the lake's schema and partition spec and no snapshot.
    pub fn new(location: &str, table_uuid: &str, now_ms: i64) -> Self {
        Self::with_schema(location, table_uuid, now_ms, lake_table_schema())
    }

    /// A new table at `location` with `schema` (which must hold `kafka_timestamp`), the lake's
    /// partition spec and no snapshot.
    pub fn with_schema(location: &str, table_uuid: &str, now_ms: i64, schema: Schema) -> Self {
        let spec = lake_partition_spec(&schema);
        Self {
            format_version: 2,
            table_uuid: table_uuid.into(),
            location: location.trim_end_matches('/').into(),
            last_sequence_number: 0,
            last_updated_ms: now_ms,
            last_column_id: schema.last_column_id(),
            current_schema_id: schema.schema_id,
            schemas: vec![schema],
            default_spec_id: spec.spec_id,
            last_partition_id: PARTITION_FIELD_ID,
            partition_specs: vec![spec],
            properties: BTreeMap::from([
                ("write.format.default".into(), "parquet".into()),
                ("write.parquet.compression-codec".into(), "zstd".into()),
            ]),
            current_snapshot_id: None,
            snapshots: Vec::new(),
            snapshot_log: Vec::new(),
            metadata_log: Vec::new(),
            sort_orders: vec![serde_json::json!({"order-id": 0, "fields": []})],
            default_sort_order_id: 0,
            refs: BTreeMap::new(),
            extra: BTreeMap::new(),
        }
    }

    /// Reads a metadata file; a format version other than 2 is refused.
    pub fn from_json(bytes: &[u8]) -> Result<Self, String> {
        let metadata: Self = serde_json::from_slice(bytes).map_err(|e| e.to_string())?;
        if metadata.format_version != 2 {
            return Err(format!(
                "format version {} (this writer writes version 2 only)",
                metadata.format_version
            ));
        }
        Ok(metadata)
    }

    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec_pretty(self).expect("metadata serialises")
    }

    /// The current schema.
    pub fn schema(&self) -> &Schema {
        self.schemas
            .iter()
            .find(|s| s.schema_id == self.current_schema_id)
            .expect("the current schema is among the schemas")
    }

    /// The default partition spec.
    pub fn spec(&self) -> &PartitionSpec {
        self.partition_specs
            .iter()
            .find(|s| s.spec_id == self.default_spec_id)
            .expect("the default spec is among the specs")
    }

    /// The snapshot `main` points at, if any.
    pub fn current_snapshot(&self) -> Option<&Snapshot> {
        let id = self.current_snapshot_id.filter(|&id| id >= 0)?;
        self.snapshot(id)
    }

    pub fn snapshot(&self, id: i64) -> Option<&Snapshot> {
        self.snapshots.iter().find(|s| s.snapshot_id == id)
    }

    /// The current snapshot and its ancestors that the metadata still holds, newest first.
    pub fn ancestry(&self) -> impl Iterator<Item = &Snapshot> {
        std::iter::successors(self.current_snapshot(), |s| {
            s.parent_snapshot_id.and_then(|id| self.snapshot(id))
        })
    }

    /// Adds `snapshot` as the new current one on `main`, recording the metadata file this
    /// version replaces in the metadata log.
    pub fn add_snapshot(&mut self, snapshot: Snapshot, previous_file: Option<&str>) {
        self.last_sequence_number = snapshot.sequence_number;
        self.last_updated_ms = snapshot.timestamp_ms;
        self.current_snapshot_id = Some(snapshot.snapshot_id);
        self.snapshot_log.push(SnapshotLogEntry {
            snapshot_id: snapshot.snapshot_id,
            timestamp_ms: snapshot.timestamp_ms,
        });
        self.refs.insert(
            "main".into(),
            SnapshotRef {
                snapshot_id: snapshot.snapshot_id,
                kind: "branch".into(),
                extra: BTreeMap::new(),
            },
        );
        self.snapshots.push(snapshot);
        self.log_previous(previous_file);
    }

    /// Records the metadata file this version replaces, keeping the newest
    /// [`PREVIOUS_VERSIONS_MAX`].
    pub fn log_previous(&mut self, previous_file: Option<&str>) {
        if let Some(file) = previous_file {
            self.metadata_log.push(MetadataLogEntry {
                metadata_file: file.into(),
                timestamp_ms: self.last_updated_ms,
            });
            let excess = self
                .metadata_log
                .len()
                .saturating_sub(PREVIOUS_VERSIONS_MAX);
            self.metadata_log.drain(..excess);
        }
    }

    /// Adds a schema (an evolution: new optional columns get the next field ids) and makes it
    /// current.
    pub fn add_schema(&mut self, mut schema: Schema) {
        schema.schema_id = self.schemas.iter().map(|s| s.schema_id).max().unwrap_or(-1) + 1;
        self.last_column_id = self.last_column_id.max(schema.last_column_id());
        self.current_schema_id = schema.schema_id;
        self.schemas.push(schema);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table_schema_numbers_the_lake_columns_from_one_in_order() {
        let schema = lake_table_schema();
        let names: Vec<&str> = schema.fields.iter().map(|f| f.name.as_str()).collect();
        let lake: Vec<&str> = lake_columns().map(|c| c.name).collect();
        assert_eq!(names, lake);
        assert_eq!(schema.field("id").unwrap().id, 1);
        assert_eq!(schema.field("kafka_timestamp").unwrap().id, 16);
        assert_eq!(schema.field("dob").unwrap().field_type, "timestamptz");
        assert_eq!(schema.field("kafka_offset").unwrap().field_type, "long");
        assert!(schema.fields.iter().all(|f| f.required));
    }

    #[test]
    fn an_evolved_schema_adds_the_missing_columns_as_optional_after_the_last_id() {
        // given the table's schema, with id 20 used once by a column since dropped
        let held = lake_table_schema();
        let mut wanted = lake_table_schema();
        wanted.fields.retain(|f| f.name != "phone");
        for name in ["nationality", "cell"] {
            wanted.fields.push(SchemaField {
                id: 1,
                name: name.into(),
                required: true,
                field_type: "string".into(),
                doc: None,
            });
        }

        // when a writer of other columns evolves it
        let evolved = held.evolved_for(&wanted, 20).unwrap().unwrap();

        // then the held columns are as they were (phone too), and the new ones follow,
        // optional, numbered after the last id ever used
        assert_eq!(evolved.fields[..16], held.fields[..]);
        let added: Vec<(i32, &str, bool)> = evolved.fields[16..]
            .iter()
            .map(|f| (f.id, f.name.as_str(), f.required))
            .collect();
        assert_eq!(added, [(21, "nationality", false), (22, "cell", false)]);
        // and a writer of the same or fewer columns changes nothing
        assert_eq!(held.evolved_for(&lake_table_schema(), 16), Ok(None));
        assert_eq!(evolved.evolved_for(&lake_table_schema(), 22), Ok(None));
    }

    #[test]
    fn a_column_typed_otherwise_is_a_conflict_not_an_evolution() {
        let mut wanted = lake_table_schema();
        wanted.fields[14].field_type = "string".into();
        assert_eq!(
            lake_table_schema().evolved_for(&wanted, 16),
            Err(TypeConflict {
                column: "kafka_offset".into(),
                table_type: "long".into(),
                writer_type: "string".into(),
            })
        );
    }

    #[test]
    fn metadata_survives_a_round_trip_with_fields_it_does_not_know() {
        let mut metadata = TableMetadata::new("s3://lake/iceberg/users/", "uuid-1", 1_000);
        metadata
            .extra
            .insert("statistics".into(), serde_json::json!([{"snapshot-id": 1}]));
        let read = TableMetadata::from_json(&metadata.to_json()).unwrap();
        assert_eq!(read, metadata);
        assert_eq!(read.location, "s3://lake/iceberg/users");
        let text = String::from_utf8(metadata.to_json()).unwrap();
        assert!(text.contains("\"statistics\""), "{text}");
        assert!(!text.contains("current-snapshot-id"), "{text}");
    }

    #[test]
    fn a_format_version_other_than_two_is_refused() {
        let mut value: Value =
            serde_json::from_slice(&TableMetadata::new("s3://b/t", "u", 0).to_json()).unwrap();
        value["format-version"] = 1.into();
        let err = TableMetadata::from_json(&serde_json::to_vec(&value).unwrap()).unwrap_err();
        assert!(err.contains("format version 1"), "{err}");
    }

    #[test]
    fn ancestry_walks_parents_newest_first_and_stops_at_an_expired_one() {
        let mut metadata = TableMetadata::new("s3://b/t", "u", 0);
        for (id, parent) in [(1, None), (2, Some(1)), (3, Some(2))] {
            metadata.add_snapshot(
                Snapshot {
                    snapshot_id: id,
                    parent_snapshot_id: parent,
                    sequence_number: id,
                    timestamp_ms: id,
                    manifest_list: format!("s3://b/t/metadata/snap-{id}.avro"),
                    summary: BTreeMap::from([("operation".into(), "append".into())]),
                    schema_id: Some(0),
                },
                None,
            );
        }
        let ids: Vec<i64> = metadata.ancestry().map(|s| s.snapshot_id).collect();
        assert_eq!(ids, [3, 2, 1]);
        metadata.snapshots.retain(|s| s.snapshot_id != 1);
        let ids: Vec<i64> = metadata.ancestry().map(|s| s.snapshot_id).collect();
        assert_eq!(ids, [3, 2]);
        assert_eq!(metadata.refs["main"].snapshot_id, 3);
    }
}
