//! Manifests and manifest lists: the Avro files that say which data files a snapshot holds.
//! A snapshot's manifest list names its manifests; each manifest lists data files with their
//! partition, row count and column bounds. Written with the field ids the Iceberg spec gives
//! (format version 2), read back by name, so that manifests written by other engines read too.
//!
//! Spec: <https://iceberg.apache.org/spec/#manifests> and
//! <https://iceberg.apache.org/spec/#manifest-lists>.

use std::collections::BTreeMap;

use apache_avro::{Reader, Schema as AvroSchema, Writer, types::Value};

use crate::spec::{PARTITION_FIELD_ID, PARTITION_FIELD_NAME, PartitionSpec, Schema};

/// A manifest or manifest list that could not be written or read.
#[derive(Debug, thiserror::Error)]
pub enum ManifestError {
    /// The Avro library refused to write or read the file.
    #[error("Avro: {0}")]
    Avro(#[from] Box<apache_avro::Error>),
    /// The file reads as Avro but not as a manifest (a field missing or of another type).
    #[error("not a manifest: {0}")]
    Shape(String),
}

impl From<apache_avro::Error> for ManifestError {
    fn from(error: apache_avro::Error) -> Self {
        ManifestError::Avro(Box::new(error))
    }
}

/// A manifest entry's status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Status {
    /// Already in the table before the manifest's snapshot.
    Existing = 0,
    /// Added by the manifest's snapshot.
    Added = 1,
    /// Removed by the manifest's snapshot.
    Deleted = 2,
}

impl Status {
    fn from_i32(value: i32) -> Result<Self, ManifestError> {
        match value {
            0 => Ok(Status::Existing),
            1 => Ok(Status::Added),
            2 => Ok(Status::Deleted),
            other => Err(ManifestError::Shape(format!("status {other}"))),
        }
    }
}

/// A Parquet data file of the table, as a manifest lists it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DataFile {
    /// Full URI (`s3://bucket/…/data/kafka_timestamp_hour=…/….parquet`).
    pub file_path: String,
    /// The partition: hours since 1970-01-01T00:00Z of its rows' Kafka time.
    pub partition_hour: Option<i32>,
    pub record_count: i64,
    pub file_size_in_bytes: i64,
    /// Per field id, how many values the file holds (nulls included).
    pub value_counts: BTreeMap<i32, i64>,
    /// Per field id, how many of them are null.
    pub null_value_counts: BTreeMap<i32, i64>,
    /// Per field id, the smallest value, in Iceberg's single-value binary form.
    pub lower_bounds: BTreeMap<i32, Vec<u8>>,
    /// Per field id, the largest value.
    pub upper_bounds: BTreeMap<i32, Vec<u8>>,
}

/// One line of a manifest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestEntry {
    pub status: Status,
    /// The snapshot that added (or deleted) the file.
    pub snapshot_id: i64,
    /// The data sequence number of the file.
    pub sequence_number: i64,
    pub file_sequence_number: i64,
    pub data_file: DataFile,
}

/// A partition field's summary in a manifest list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FieldSummary {
    pub contains_null: bool,
    pub lower_bound: Option<Vec<u8>>,
    pub upper_bound: Option<Vec<u8>>,
}

/// One line of a manifest list: a manifest and its counts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ManifestFile {
    pub manifest_path: String,
    pub manifest_length: i64,
    pub partition_spec_id: i32,
    /// 0: data files; 1: delete files (never written here).
    pub content: i32,
    pub sequence_number: i64,
    pub min_sequence_number: i64,
    pub added_snapshot_id: i64,
    pub added_files_count: i32,
    pub existing_files_count: i32,
    pub deleted_files_count: i32,
    pub added_rows_count: i64,
    pub existing_rows_count: i64,
    pub deleted_rows_count: i64,
    pub partitions: Vec<FieldSummary>,
}

/// Field ids of the map-like arrays of the `data_file` struct (key id, value id).
const MAPS: [(&str, i32, i32, i32, &str); 6] = [
    ("column_sizes", 108, 117, 118, "long"),
    ("value_counts", 109, 119, 120, "long"),
    ("null_value_counts", 110, 121, 122, "long"),
    ("nan_value_counts", 137, 138, 139, "long"),
    ("lower_bounds", 125, 126, 127, "bytes"),
    ("upper_bounds", 128, 129, 130, "bytes"),
];

fn optional(name: &str, id: i32, avro_type: serde_json::Value) -> serde_json::Value {
    serde_json::json!({"name": name, "type": ["null", avro_type], "default": null, "field-id": id})
}

/// The manifest entry's Avro schema for this table's partition spec.
fn manifest_schema() -> serde_json::Value {
    use serde_json::json;
    let mut data_file = vec![
        json!({"name": "content", "type": "int", "field-id": 134}),
        json!({"name": "file_path", "type": "string", "field-id": 100}),
        json!({"name": "file_format", "type": "string", "field-id": 101}),
        json!({"name": "partition", "type": {"type": "record", "name": "r102", "fields": [
            optional(PARTITION_FIELD_NAME, PARTITION_FIELD_ID, json!("int"))
        ]}, "field-id": 102}),
        json!({"name": "record_count", "type": "long", "field-id": 103}),
        json!({"name": "file_size_in_bytes", "type": "long", "field-id": 104}),
    ];
    for (name, id, key, value, value_type) in MAPS {
        data_file.push(optional(
            name,
            id,
            json!({"type": "array", "logicalType": "map", "items": {
            "type": "record", "name": format!("k{key}_v{value}"), "fields": [
                {"name": "key", "type": "int", "field-id": key},
                {"name": "value", "type": value_type, "field-id": value}
            ]}}),
        ));
    }
    data_file.extend([
        optional("key_metadata", 131, json!("bytes")),
        optional(
            "split_offsets",
            132,
            json!({"type": "array", "items": "long", "element-id": 133}),
        ),
        optional(
            "equality_ids",
            135,
            json!({"type": "array", "items": "int", "element-id": 136}),
        ),
        optional("sort_order_id", 140, json!("int")),
    ]);
    let schema = json!({"type": "record", "name": "manifest_entry", "fields": [
        {"name": "status", "type": "int", "field-id": 0},
        optional("snapshot_id", 1, json!("long")),
        optional("sequence_number", 3, json!("long")),
        optional("file_sequence_number", 4, json!("long")),
        {"name": "data_file", "type": {"type": "record", "name": "r2", "fields": data_file},
         "field-id": 2}
    ]});
    schema
}

/// The manifest list's Avro schema.
fn manifest_list_schema() -> serde_json::Value {
    use serde_json::json;
    let schema = json!({"type": "record", "name": "manifest_file", "fields": [
        {"name": "manifest_path", "type": "string", "field-id": 500},
        {"name": "manifest_length", "type": "long", "field-id": 501},
        {"name": "partition_spec_id", "type": "int", "field-id": 502},
        {"name": "content", "type": "int", "field-id": 517},
        {"name": "sequence_number", "type": "long", "field-id": 515},
        {"name": "min_sequence_number", "type": "long", "field-id": 516},
        {"name": "added_snapshot_id", "type": "long", "field-id": 503},
        {"name": "added_files_count", "type": "int", "field-id": 504},
        {"name": "existing_files_count", "type": "int", "field-id": 505},
        {"name": "deleted_files_count", "type": "int", "field-id": 506},
        {"name": "added_rows_count", "type": "long", "field-id": 512},
        {"name": "existing_rows_count", "type": "long", "field-id": 513},
        {"name": "deleted_rows_count", "type": "long", "field-id": 514},
        optional("partitions", 507, json!({"type": "array", "element-id": 508, "items": {
            "type": "record", "name": "r508", "fields": [
                {"name": "contains_null", "type": "boolean", "field-id": 509},
                optional("contains_nan", 518, json!("boolean")),
                optional("lower_bound", 510, json!("bytes")),
                optional("upper_bound", 511, json!("bytes"))
            ]}})),
        optional("key_metadata", 519, json!("bytes"))
    ]});
    schema
}

/// Appends Avro's variable-length zig-zag encoding of `n`.
fn put_long(out: &mut Vec<u8>, n: i64) {
    let mut z = ((n << 1) ^ (n >> 63)) as u64;
    while z >= 0x80 {
        out.push((z as u8) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn put_bytes(out: &mut Vec<u8>, bytes: &[u8]) {
    put_long(out, bytes.len() as i64);
    out.extend_from_slice(bytes);
}

/// An Avro object container file of `values` with `schema`.
///
/// The header is written here, not by the Avro library, for two things readers need that the
/// library leaves out: the schema exactly as given (the library re-serialises it and drops
/// the `logicalType: map` of Iceberg's map arrays, without which DuckDB reads them as lists),
/// and an explicit `avro.codec` of `null` (pyiceberg takes a file without one to be gzip).
fn container(
    schema: &serde_json::Value,
    metadata: &[(&str, String)],
    values: impl IntoIterator<Item = Value>,
) -> Result<Vec<u8>, ManifestError> {
    let parsed = AvroSchema::parse(schema)?;
    let marker: [u8; 16] = *uuid::Uuid::new_v4().as_bytes();
    let mut out = b"Obj\x01".to_vec();
    let schema_text = serde_json::to_string(schema).expect("a schema serialises");
    let entries: Vec<(&str, &[u8])> = [
        ("avro.schema", schema_text.as_bytes()),
        ("avro.codec", b"null".as_slice()),
    ]
    .into_iter()
    .chain(metadata.iter().map(|(k, v)| (*k, v.as_bytes())))
    .collect();
    put_long(&mut out, entries.len() as i64);
    for (key, value) in entries {
        put_bytes(&mut out, key.as_bytes());
        put_bytes(&mut out, value);
    }
    put_long(&mut out, 0);
    out.extend_from_slice(&marker);
    let mut writer = Writer::builder()
        .schema(&parsed)
        .writer(out)
        .marker(marker)
        .has_header(true)
        .build()?;
    for value in values {
        writer.append_value(value)?;
    }
    Ok(writer.into_inner()?)
}

fn some(value: Value) -> Value {
    Value::Union(1, Box::new(value))
}

fn none() -> Value {
    Value::Union(0, Box::new(Value::Null))
}

fn map_value<V>(map: &BTreeMap<i32, V>, value: impl Fn(&V) -> Value) -> Value {
    if map.is_empty() {
        return none();
    }
    some(Value::Array(
        map.iter()
            .map(|(key, v)| {
                Value::Record(vec![
                    ("key".into(), Value::Int(*key)),
                    ("value".into(), value(v)),
                ])
            })
            .collect(),
    ))
}

fn entry_value(entry: &ManifestEntry) -> Value {
    let file = &entry.data_file;
    let mut data_file = vec![
        ("content".to_string(), Value::Int(0)),
        ("file_path".into(), Value::String(file.file_path.clone())),
        ("file_format".into(), Value::String("PARQUET".into())),
        (
            "partition".into(),
            Value::Record(vec![(
                PARTITION_FIELD_NAME.into(),
                file.partition_hour
                    .map_or_else(none, |h| some(Value::Int(h))),
            )]),
        ),
        ("record_count".into(), Value::Long(file.record_count)),
        (
            "file_size_in_bytes".into(),
            Value::Long(file.file_size_in_bytes),
        ),
    ];
    for (name, ..) in MAPS {
        let value = match name {
            "value_counts" => map_value(&file.value_counts, |v| Value::Long(*v)),
            "null_value_counts" => map_value(&file.null_value_counts, |v| Value::Long(*v)),
            "lower_bounds" => map_value(&file.lower_bounds, |v| Value::Bytes(v.clone())),
            "upper_bounds" => map_value(&file.upper_bounds, |v| Value::Bytes(v.clone())),
            _ => none(),
        };
        data_file.push((name.into(), value));
    }
    for name in [
        "key_metadata",
        "split_offsets",
        "equality_ids",
        "sort_order_id",
    ] {
        data_file.push((name.into(), none()));
    }
    Value::Record(vec![
        ("status".into(), Value::Int(entry.status as i32)),
        ("snapshot_id".into(), some(Value::Long(entry.snapshot_id))),
        (
            "sequence_number".into(),
            some(Value::Long(entry.sequence_number)),
        ),
        (
            "file_sequence_number".into(),
            some(Value::Long(entry.file_sequence_number)),
        ),
        ("data_file".into(), Value::Record(data_file)),
    ])
}

/// Writes a manifest of `entries` for a table with `schema` and `spec`.
pub fn write_manifest(
    entries: &[ManifestEntry],
    schema: &Schema,
    spec: &PartitionSpec,
) -> Result<Vec<u8>, ManifestError> {
    let schema_json = serde_json::to_string(schema).expect("schema serialises");
    let spec_json = serde_json::to_string(&spec.fields).expect("spec serialises");
    let metadata = [
        ("schema", schema_json),
        ("schema-id", schema.schema_id.to_string()),
        ("partition-spec", spec_json),
        ("partition-spec-id", spec.spec_id.to_string()),
        ("format-version", "2".into()),
        ("content", "data".into()),
    ];
    container(
        &manifest_schema(),
        &metadata,
        entries.iter().map(entry_value),
    )
}

fn manifest_file_value(file: &ManifestFile) -> Value {
    let partitions = Value::Array(
        file.partitions
            .iter()
            .map(|p| {
                let bound = |b: &Option<Vec<u8>>| {
                    b.as_ref()
                        .map_or_else(none, |b| some(Value::Bytes(b.clone())))
                };
                Value::Record(vec![
                    ("contains_null".into(), Value::Boolean(p.contains_null)),
                    ("contains_nan".into(), none()),
                    ("lower_bound".into(), bound(&p.lower_bound)),
                    ("upper_bound".into(), bound(&p.upper_bound)),
                ])
            })
            .collect(),
    );
    Value::Record(vec![
        (
            "manifest_path".into(),
            Value::String(file.manifest_path.clone()),
        ),
        ("manifest_length".into(), Value::Long(file.manifest_length)),
        (
            "partition_spec_id".into(),
            Value::Int(file.partition_spec_id),
        ),
        ("content".into(), Value::Int(file.content)),
        ("sequence_number".into(), Value::Long(file.sequence_number)),
        (
            "min_sequence_number".into(),
            Value::Long(file.min_sequence_number),
        ),
        (
            "added_snapshot_id".into(),
            Value::Long(file.added_snapshot_id),
        ),
        (
            "added_files_count".into(),
            Value::Int(file.added_files_count),
        ),
        (
            "existing_files_count".into(),
            Value::Int(file.existing_files_count),
        ),
        (
            "deleted_files_count".into(),
            Value::Int(file.deleted_files_count),
        ),
        (
            "added_rows_count".into(),
            Value::Long(file.added_rows_count),
        ),
        (
            "existing_rows_count".into(),
            Value::Long(file.existing_rows_count),
        ),
        (
            "deleted_rows_count".into(),
            Value::Long(file.deleted_rows_count),
        ),
        ("partitions".into(), some(partitions)),
        ("key_metadata".into(), none()),
    ])
}

/// Writes the manifest list of snapshot `snapshot_id`.
pub fn write_manifest_list(
    files: &[ManifestFile],
    snapshot_id: i64,
    parent_snapshot_id: Option<i64>,
    sequence_number: i64,
) -> Result<Vec<u8>, ManifestError> {
    let metadata = [
        ("snapshot-id", snapshot_id.to_string()),
        (
            "parent-snapshot-id",
            parent_snapshot_id.map_or("null".into(), |id| id.to_string()),
        ),
        ("sequence-number", sequence_number.to_string()),
        ("format-version", "2".into()),
    ];
    container(
        &manifest_list_schema(),
        &metadata,
        files.iter().map(manifest_file_value),
    )
}

/// A record's fields by name, unions unwrapped, nulls as `None`.
struct Fields(BTreeMap<String, Value>);

impl Fields {
    fn of(value: Value) -> Result<Self, ManifestError> {
        match value {
            Value::Record(fields) => Ok(Self(
                fields
                    .into_iter()
                    .map(|(name, value)| (name, unwrap(value)))
                    .collect(),
            )),
            other => Err(ManifestError::Shape(format!(
                "expected a record, got {other:?}"
            ))),
        }
    }

    fn take(&mut self, name: &str) -> Option<Value> {
        self.0.remove(name).filter(|v| *v != Value::Null)
    }

    fn long(&mut self, name: &str) -> Result<i64, ManifestError> {
        match self.take(name) {
            Some(Value::Long(v)) => Ok(v),
            Some(Value::Int(v)) => Ok(v.into()),
            other => Err(ManifestError::Shape(format!("{name}: {other:?}"))),
        }
    }

    fn optional_long(&mut self, name: &str) -> Result<Option<i64>, ManifestError> {
        match self.take(name) {
            None => Ok(None),
            Some(Value::Long(v)) => Ok(Some(v)),
            Some(Value::Int(v)) => Ok(Some(v.into())),
            other => Err(ManifestError::Shape(format!("{name}: {other:?}"))),
        }
    }

    fn int(&mut self, name: &str) -> Result<i32, ManifestError> {
        match self.take(name) {
            Some(Value::Int(v)) => Ok(v),
            other => Err(ManifestError::Shape(format!("{name}: {other:?}"))),
        }
    }

    fn string(&mut self, name: &str) -> Result<String, ManifestError> {
        match self.take(name) {
            Some(Value::String(v)) => Ok(v),
            other => Err(ManifestError::Shape(format!("{name}: {other:?}"))),
        }
    }

    fn bytes(&mut self, name: &str) -> Option<Vec<u8>> {
        match self.take(name) {
            Some(Value::Bytes(v)) => Some(v),
            Some(Value::Fixed(_, v)) => Some(v),
            _ => None,
        }
    }

    fn bounds(&mut self, name: &str) -> Result<BTreeMap<i32, Vec<u8>>, ManifestError> {
        let mut map = BTreeMap::new();
        if let Some(Value::Array(items)) = self.take(name) {
            for item in items {
                let mut pair = Fields::of(item)?;
                let key = pair.int("key")?;
                if let Some(value) = pair.bytes("value") {
                    map.insert(key, value);
                }
            }
        }
        Ok(map)
    }

    fn counts(&mut self, name: &str) -> Result<BTreeMap<i32, i64>, ManifestError> {
        let mut map = BTreeMap::new();
        if let Some(Value::Array(items)) = self.take(name) {
            for item in items {
                let mut pair = Fields::of(item)?;
                let key = pair.int("key")?;
                map.insert(key, pair.long("value")?);
            }
        }
        Ok(map)
    }
}

fn unwrap(value: Value) -> Value {
    match value {
        Value::Union(_, inner) => *inner,
        other => other,
    }
}

/// Reads a manifest's entries; sequence numbers left null by the writer (added entries) are
/// inherited from `manifest`, as the spec says.
pub fn read_manifest(
    bytes: &[u8],
    manifest: &ManifestFile,
) -> Result<Vec<ManifestEntry>, ManifestError> {
    let reader = Reader::new(bytes)?;
    let mut entries = Vec::new();
    for value in reader {
        let mut entry = Fields::of(value?)?;
        let status = Status::from_i32(entry.int("status")?)?;
        let inherit = |v: Option<i64>| v.unwrap_or(manifest.sequence_number);
        let snapshot_id = entry
            .optional_long("snapshot_id")?
            .unwrap_or(manifest.added_snapshot_id);
        let sequence_number = inherit(entry.optional_long("sequence_number")?);
        let file_sequence_number = inherit(entry.optional_long("file_sequence_number")?);
        let mut file = Fields::of(
            entry
                .take("data_file")
                .ok_or_else(|| ManifestError::Shape("data_file missing".into()))?,
        )?;
        let content = file.take("content").map_or(Ok(0), |v| match v {
            Value::Int(v) => Ok(v),
            other => Err(ManifestError::Shape(format!("content: {other:?}"))),
        })?;
        if content != 0 {
            return Err(ManifestError::Shape(format!(
                "a delete file (content {content}) in a data manifest"
            )));
        }
        let partition_hour = match file.take("partition") {
            Some(partition) => match Fields::of(partition)?.take(PARTITION_FIELD_NAME) {
                Some(Value::Int(hour)) => Some(hour),
                _ => None,
            },
            None => None,
        };
        entries.push(ManifestEntry {
            status,
            snapshot_id,
            sequence_number,
            file_sequence_number,
            data_file: DataFile {
                file_path: file.string("file_path")?,
                partition_hour,
                record_count: file.long("record_count")?,
                file_size_in_bytes: file.long("file_size_in_bytes")?,
                value_counts: file.counts("value_counts")?,
                null_value_counts: file.counts("null_value_counts")?,
                lower_bounds: file.bounds("lower_bounds")?,
                upper_bounds: file.bounds("upper_bounds")?,
            },
        });
    }
    Ok(entries)
}

/// Reads a manifest list.
pub fn read_manifest_list(bytes: &[u8]) -> Result<Vec<ManifestFile>, ManifestError> {
    let reader = Reader::new(bytes)?;
    let mut files = Vec::new();
    for value in reader {
        let mut file = Fields::of(value?)?;
        let mut partitions = Vec::new();
        if let Some(Value::Array(items)) = file.take("partitions") {
            for item in items {
                let mut summary = Fields::of(item)?;
                partitions.push(FieldSummary {
                    contains_null: matches!(
                        summary.take("contains_null"),
                        Some(Value::Boolean(true))
                    ),
                    lower_bound: summary.bytes("lower_bound"),
                    upper_bound: summary.bytes("upper_bound"),
                });
            }
        }
        files.push(ManifestFile {
            manifest_path: file.string("manifest_path")?,
            manifest_length: file.long("manifest_length")?,
            partition_spec_id: file.int("partition_spec_id")?,
            content: file.take("content").map_or(0, |v| match v {
                Value::Int(v) => v,
                _ => 0,
            }),
            sequence_number: file.long("sequence_number")?,
            min_sequence_number: file.long("min_sequence_number")?,
            added_snapshot_id: file.long("added_snapshot_id")?,
            added_files_count: file.int("added_files_count")?,
            existing_files_count: file.int("existing_files_count")?,
            deleted_files_count: file.int("deleted_files_count")?,
            added_rows_count: file.long("added_rows_count")?,
            existing_rows_count: file.long("existing_rows_count")?,
            deleted_rows_count: file.long("deleted_rows_count")?,
            partitions,
        });
    }
    Ok(files)
}

/// The manifest list line of a manifest holding `entries`, written by `snapshot_id` at
/// `sequence_number`.
pub fn summarise(
    manifest_path: String,
    manifest_length: i64,
    spec_id: i32,
    snapshot_id: i64,
    sequence_number: i64,
    entries: &[ManifestEntry],
) -> ManifestFile {
    let count = |status: Status| {
        let of = entries.iter().filter(|e| e.status == status);
        (
            of.clone().count() as i32,
            of.map(|e| e.data_file.record_count).sum::<i64>(),
        )
    };
    let (added_files_count, added_rows_count) = count(Status::Added);
    let (existing_files_count, existing_rows_count) = count(Status::Existing);
    let (deleted_files_count, deleted_rows_count) = count(Status::Deleted);
    let hours = entries.iter().filter_map(|e| e.data_file.partition_hour);
    let summary = FieldSummary {
        contains_null: entries.iter().any(|e| e.data_file.partition_hour.is_none()),
        lower_bound: hours.clone().min().map(|h| h.to_le_bytes().to_vec()),
        upper_bound: hours.max().map(|h| h.to_le_bytes().to_vec()),
    };
    ManifestFile {
        manifest_path,
        manifest_length,
        partition_spec_id: spec_id,
        content: 0,
        sequence_number,
        min_sequence_number: entries
            .iter()
            .map(|e| e.sequence_number)
            .min()
            .unwrap_or(sequence_number),
        added_snapshot_id: snapshot_id,
        added_files_count,
        existing_files_count,
        deleted_files_count,
        added_rows_count,
        existing_rows_count,
        deleted_rows_count,
        partitions: vec![summary],
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::{lake_partition_spec, lake_table_schema};

    fn entry(path: &str, status: Status, rows: i64, hour: i32) -> ManifestEntry {
        ManifestEntry {
            status,
            snapshot_id: 7,
            sequence_number: 3,
            file_sequence_number: 3,
            data_file: DataFile {
                file_path: path.into(),
                partition_hour: Some(hour),
                record_count: rows,
                file_size_in_bytes: 1234,
                value_counts: BTreeMap::from([(1, rows), (15, rows)]),
                null_value_counts: BTreeMap::from([(1, 0), (15, 0)]),
                lower_bounds: BTreeMap::from([(15, 10i64.to_le_bytes().to_vec())]),
                upper_bounds: BTreeMap::from([(15, 99i64.to_le_bytes().to_vec())]),
            },
        }
    }

    #[test]
    fn a_manifest_reads_back_as_written_with_the_specs_field_ids_in_its_schema() {
        let schema = lake_table_schema();
        let spec = lake_partition_spec(&schema);
        let entries = vec![
            entry("s3://b/t/data/a.parquet", Status::Added, 10, 495_000),
            entry("s3://b/t/data/b.parquet", Status::Deleted, 5, 495_001),
        ];
        let bytes = write_manifest(&entries, &schema, &spec).unwrap();
        let list_line = summarise("m".into(), bytes.len() as i64, 0, 7, 3, &entries);
        assert_eq!(read_manifest(&bytes, &list_line).unwrap(), entries);

        let reader = Reader::new(&bytes[..]).unwrap();
        let metadata = reader.user_metadata();
        assert_eq!(metadata["format-version"], b"2");
        assert_eq!(metadata["content"], b"data");
        let schema_text = String::from_utf8(reader_schema_json(&bytes).into_bytes()).unwrap();
        for id in [
            "\"field-id\":102",
            "\"field-id\":1000",
            "\"field-id\":126",
            "\"logicalType\":\"map\"",
        ] {
            assert!(schema_text.contains(id), "{id} missing from {schema_text}");
        }
        // avro.codec, then "null" as Avro bytes (length 4, zig-zag encoded as 8)
        assert!(
            bytes.windows(15).any(|w| w == b"avro.codec\x08null"),
            "no explicit null codec in the header"
        );
    }

    /// The Avro schema a reader finds in the file's header.
    fn reader_schema_json(bytes: &[u8]) -> String {
        let start = bytes
            .windows(11)
            .position(|w| w == b"avro.schema")
            .expect("the header names the schema");
        let tail = &bytes[start..];
        let open = tail.iter().position(|&b| b == b'{').unwrap();
        String::from_utf8_lossy(&tail[open..]).into_owned()
    }

    #[test]
    fn a_manifest_list_counts_added_existing_and_deleted_files_and_rows() {
        let entries = vec![
            entry("a", Status::Added, 10, 5),
            entry("b", Status::Existing, 20, 7),
            entry("c", Status::Deleted, 5, 6),
        ];
        let line = summarise("s3://b/t/metadata/m.avro".into(), 100, 0, 9, 4, &entries);
        assert_eq!(
            (
                line.added_files_count,
                line.existing_files_count,
                line.deleted_files_count
            ),
            (1, 1, 1)
        );
        assert_eq!(
            (
                line.added_rows_count,
                line.existing_rows_count,
                line.deleted_rows_count
            ),
            (10, 20, 5)
        );
        assert_eq!(
            line.partitions[0].lower_bound,
            Some(5i32.to_le_bytes().to_vec())
        );
        assert_eq!(
            line.partitions[0].upper_bound,
            Some(7i32.to_le_bytes().to_vec())
        );
        let bytes = write_manifest_list(std::slice::from_ref(&line), 9, Some(8), 4).unwrap();
        assert_eq!(read_manifest_list(&bytes).unwrap(), vec![line]);
    }

    #[test]
    fn a_file_that_is_not_a_manifest_is_an_error_not_a_panic() {
        assert!(read_manifest_list(b"not avro").is_err());
        let list = write_manifest_list(&[], 1, None, 1).unwrap();
        assert!(read_manifest_list(&list).unwrap().is_empty());
    }
}
