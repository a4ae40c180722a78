//! The table as its writers and readers see it: where it lives, how its state is loaded, and
//! the one commit that every writer (the sink, replay, the compactor) goes through.
//!
//! A commit writes new files only (data files, a manifest, a manifest list, a metadata file,
//! each under a fresh name, never over an existing object) and then moves the catalog's pointer
//! with a compare-and-swap. Until the swap nothing a reader can see has changed; after it,
//! everything has. A writer that loses the swap starts again from the new state; a writer that
//! cannot tell whether its swap happened loads the pointer and looks.

use std::{
    collections::{BTreeMap, HashSet},
    time::Duration,
};

use arrow::{
    array::{AsArray, BooleanArray, RecordBatch},
    compute::filter_record_batch,
    datatypes::{Int64Type, TimestampMillisecondType},
    error::ArrowError,
};
use chrono::{DateTime, Utc};
use lake::{Condition, LakeStore, StoreError};
use lambda_kit::Retry;
use parquet::{errors::ParquetError, file::properties::WriterProperties};

use crate::{
    catalog::{Catalog, CatalogError, Pointer, Swap},
    files,
    manifest::{self, DataFile, ManifestEntry, ManifestError, ManifestFile, Status},
    marks::{MARKS_PROPERTY, Marks},
    spec::{Schema, Snapshot, TableMetadata, lake_table_schema},
};

/// Where the table lives: in the lake bucket, `s3://<bucket>/<lake prefix>iceberg/<table>/`
/// (Glue, SQLite), or where the catalog says (an S3 Tables table's warehouse bucket, at its
/// root), with `data/` and `metadata/` under it as every Iceberg writer lays them out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TableLocation {
    pub bucket: String,
    /// Key prefix of the table, ending in `/` (`iceberg/users/`), or empty at a bucket's root.
    pub prefix: String,
}

impl TableLocation {
    /// The table `table` in the lake bucket, under the lake's prefix.
    pub fn new(bucket: &str, lake_prefix: &str, table: &str) -> Self {
        Self {
            bucket: bucket.into(),
            prefix: format!("{lake_prefix}iceberg/{table}/"),
        }
    }

    /// The location a URI names (`s3://bucket` or `s3://bucket/some/path`), or `None` when it
    /// is not an `s3://` URI with a bucket.
    pub fn from_uri(uri: &str) -> Option<Self> {
        let rest = uri.strip_prefix("s3://")?;
        let (bucket, path) = rest.split_once('/').unwrap_or((rest, ""));
        let path = path.trim_matches('/');
        (!bucket.is_empty()).then(|| Self {
            bucket: bucket.into(),
            prefix: if path.is_empty() {
                String::new()
            } else {
                format!("{path}/")
            },
        })
    }

    /// The table's location URI, as its metadata states it (`s3://bucket/iceberg/users`, or
    /// `s3://bucket` at a bucket's root).
    pub fn uri(&self) -> String {
        match self.prefix.trim_end_matches('/') {
            "" => format!("s3://{}", self.bucket),
            prefix => format!("s3://{}/{prefix}", self.bucket),
        }
    }

    /// The URI of an object of the bucket.
    pub fn uri_of(&self, key: &str) -> String {
        format!("s3://{}/{key}", self.bucket)
    }

    /// The object key of a URI in this table's bucket (`s3://`, `s3a://` or `s3n://`).
    pub fn key_of(&self, uri: &str) -> Option<String> {
        let rest = ["s3://", "s3a://", "s3n://"]
            .iter()
            .find_map(|scheme| uri.strip_prefix(scheme))?;
        let (bucket, key) = rest.split_once('/')?;
        (bucket == self.bucket).then(|| key.to_string())
    }

    fn metadata_key(&self, name: &str) -> String {
        format!("{}metadata/{name}", self.prefix)
    }
}

/// Why a table operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TableError {
    /// The lake bucket refused a read or write.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The catalog refused or failed a call.
    #[error(transparent)]
    Catalog(#[from] CatalogError),
    /// A metadata file does not read as format-version-2 table metadata.
    #[error("metadata file {location} is not usable: {reason}")]
    Metadata { location: String, reason: String },
    /// A manifest or manifest list could not be written or read.
    #[error("manifest {location}: {source}")]
    Manifest {
        location: String,
        #[source]
        source: ManifestError,
    },
    /// A data file could not be encoded or read.
    #[error("data file {location}: {source}")]
    DataFile {
        location: String,
        #[source]
        source: ParquetError,
    },
    /// Rows could not be laid out in the table's schema.
    #[error("rows do not fit the table schema: {0}")]
    Arrow(#[from] ArrowError),
    /// A file the table names is outside the lake bucket, so this writer cannot read it.
    #[error("{uri} is not in bucket {bucket}")]
    Foreign { uri: String, bucket: String },
    /// The offset marks are unreadable; writing on would risk adding records twice.
    #[error("the table's offset marks are unreadable: {reason}")]
    Marks { reason: String },
    /// A new file's name was already taken (names are random: a defect or a foreign writer).
    #[error("{key} already exists; a new table file is never written over another")]
    Exists { key: String },
    /// Other commits kept winning the compare-and-swap.
    #[error("the commit lost the catalog's compare-and-swap {attempts} times in a row")]
    Contended { attempts: u32 },
    /// The writer gives a column another type than the table does; a type change is not an
    /// evolution this project makes.
    #[error(
        "column {column} is {table_type} in the table but {writer_type} in this writer's schema"
    )]
    ColumnType {
        column: String,
        table_type: String,
        writer_type: String,
    },
    /// A compaction planned on a state that changed under it (a file it replaces is gone).
    #[error("{path} is no longer in the table; the rewrite must be planned again")]
    Stale { path: String },
}

impl TableError {
    /// Whether the same work may succeed later.
    pub fn retry(&self) -> Retry {
        match self {
            TableError::Store(e) => e.retry(),
            TableError::Catalog(e) => e.retry(),
            TableError::Contended { .. } | TableError::Stale { .. } => Retry::Retryable,
            _ => Retry::Fatal,
        }
    }
}

/// The table's state as one commit saw it: the catalog pointer and the metadata it names.
#[derive(Debug, Clone)]
pub struct State {
    pub pointer: Pointer,
    pub metadata: TableMetadata,
}

/// What a commit changes.
#[derive(Debug, Clone)]
pub enum Change {
    /// New data files; the marks after them.
    Append { files: Vec<DataFile>, marks: Marks },
    /// Data files replaced by others holding the same rows (compaction): the marks are carried.
    Replace {
        removed: Vec<String>,
        added: Vec<DataFile>,
    },
}

/// The table: a bucket, a catalog and a location.
pub struct Table<S, C> {
    pub store: S,
    pub catalog: C,
    pub location: TableLocation,
    /// How many times a commit is tried against others' before it gives up (retryably).
    pub max_attempts: u32,
    /// The columns this writer writes ([`lake_table_schema`] unless set): a table that lacks
    /// some of them gains them, as optional columns, before this writer's first append.
    pub columns: Schema,
}

/// A random positive id for a snapshot.
fn new_snapshot_id() -> i64 {
    let bits = u64::from_le_bytes(uuid::Uuid::new_v4().as_bytes()[..8].try_into().unwrap());
    (bits >> 1) as i64
}

/// The version number a metadata file name starts with (`00012-<uuid>.metadata.json`).
fn metadata_version(location: &str) -> u64 {
    let name = location.rsplit('/').next().unwrap_or_default();
    name.split('-')
        .next()
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// The wait before attempt `n` after a conflict: 20 ms doubling to 1 s, with jitter so that
/// writers that collided once do not collide again.
fn backoff(attempt: u32) -> Duration {
    let base = 20u64 << attempt.min(6);
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * base / 255;
    Duration::from_millis((base + jitter).min(1_000))
}

impl<S: LakeStore, C: Catalog> Table<S, C> {
    pub fn new(store: S, catalog: C, location: TableLocation) -> Self {
        Self {
            store,
            catalog,
            location,
            max_attempts: 30,
            columns: lake_table_schema(),
        }
    }

    /// The table as written by a writer of `columns` (which must hold the lake's partition
    /// source, `kafka_timestamp`): a writer built with a column the table lacks adds it.
    pub fn with_columns(mut self, columns: Schema) -> Self {
        self.columns = columns;
        self
    }

    fn key(&self, uri: &str) -> Result<String, TableError> {
        self.location
            .key_of(uri)
            .ok_or_else(|| TableError::Foreign {
                uri: uri.into(),
                bucket: self.location.bucket.clone(),
            })
    }

    /// Writes a new table file; its name is fresh, so an existing object is an error.
    async fn put_new(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(), TableError> {
        if self
            .store
            .put_if(key, body, content_type, Condition::Absent)
            .await?
        {
            Ok(())
        } else {
            Err(TableError::Exists { key: key.into() })
        }
    }

    async fn read_metadata(&self, location: &str) -> Result<TableMetadata, TableError> {
        let body = self.store.get(&self.key(location)?).await?;
        TableMetadata::from_json(&body).map_err(|reason| TableError::Metadata {
            location: location.into(),
            reason,
        })
    }

    /// The table's current state, or `None` when the catalog has no such table yet.
    pub async fn load(&self) -> Result<Option<State>, TableError> {
        let Some(pointer) = self.catalog.load().await? else {
            return Ok(None);
        };
        let metadata = self.read_metadata(&pointer.metadata_location).await?;
        Ok(Some(State { pointer, metadata }))
    }

    /// The table's current state; a table that does not exist yet is created empty (the lake's
    /// schema and partition spec, no snapshot). Two writers creating it at once both end with
    /// the one the catalog took.
    pub async fn load_or_create(&self, now: DateTime<Utc>) -> Result<State, TableError> {
        if let Some(state) = self.load().await? {
            return Ok(state);
        }
        let uuid = uuid::Uuid::new_v4();
        let metadata = TableMetadata::with_schema(
            &self.location.uri(),
            &uuid.to_string(),
            now.timestamp_millis(),
            self.columns.clone().numbered(),
        );
        let key = self
            .location
            .metadata_key(&format!("00000-{uuid}.metadata.json"));
        self.put_new(&key, metadata.to_json(), "application/json")
            .await?;
        let location = self.location.uri_of(&key);
        match self.catalog.create(&location).await {
            Ok(_) => {}
            // Whether it was created or not, the catalog now says which table there is.
            Err(error) if error.retry().is_retryable() => {}
            Err(error) => return Err(error.into()),
        }
        self.load().await?.ok_or_else(|| {
            TableError::Catalog(CatalogError::Call {
                catalog: self.catalog.describe(),
                operation: "create",
                table: self.location.prefix.clone(),
                code: None,
                retry: Retry::Retryable,
                message: "the table was created but cannot be loaded yet".into(),
            })
        })
    }

    /// `state`, or when the table lacks some of this writer's columns, the state after a
    /// commit that adds them (a schema update: a new current schema with the old columns and
    /// ids as they were and the new ones optional, numbered from the table's
    /// `last-column-id`). Data files written before it read the new columns as nulls.
    /// `Ok(None)` when another commit came first: the caller loads the table again, where
    /// the columns may already be (another writer of the same build added them).
    pub async fn with_writer_columns(
        &self,
        state: State,
        now: DateTime<Utc>,
    ) -> Result<Option<State>, TableError> {
        let metadata = &state.metadata;
        let evolved = metadata
            .schema()
            .evolved_for(&self.columns, metadata.last_column_id)
            .map_err(|c| TableError::ColumnType {
                column: c.column,
                table_type: c.table_type,
                writer_type: c.writer_type,
            })?;
        let Some(schema) = evolved else {
            return Ok(Some(state));
        };
        let mut next = metadata.clone();
        next.log_previous(Some(&state.pointer.metadata_location));
        next.last_updated_ms = now.timestamp_millis().max(metadata.last_updated_ms);
        next.add_schema(schema);
        tracing::info!(
            table = %self.location.uri(),
            columns = ?next.schema().fields.iter().skip(metadata.schema().fields.len()).map(|f| &f.name).collect::<Vec<_>>(),
            "adding columns to the table's schema"
        );
        self.swap_in(&state, next).await
    }

    /// The manifest list of a snapshot.
    pub async fn manifests(&self, snapshot: &Snapshot) -> Result<Vec<ManifestFile>, TableError> {
        let body = self.store.get(&self.key(&snapshot.manifest_list)?).await?;
        manifest::read_manifest_list(&body).map_err(|source| TableError::Manifest {
            location: snapshot.manifest_list.clone(),
            source,
        })
    }

    async fn entries(&self, file: &ManifestFile) -> Result<Vec<ManifestEntry>, TableError> {
        let body = self.store.get(&self.key(&file.manifest_path)?).await?;
        manifest::read_manifest(&body, file).map_err(|source| TableError::Manifest {
            location: file.manifest_path.clone(),
            source,
        })
    }

    /// The data files a snapshot holds (its manifests' entries that are not deletions).
    pub async fn live_files(&self, snapshot: &Snapshot) -> Result<Vec<ManifestEntry>, TableError> {
        let mut live = Vec::new();
        for file in self.manifests(snapshot).await? {
            live.extend(
                self.entries(&file)
                    .await?
                    .into_iter()
                    .filter(|e| e.status != Status::Deleted),
            );
        }
        Ok(live)
    }

    /// Every row of a snapshot (the current one when `snapshot_id` is `None`), one batch per
    /// data file, in the lake's Arrow schema.
    pub async fn scan(&self, snapshot_id: Option<i64>) -> Result<Vec<RecordBatch>, TableError> {
        let Some(state) = self.load().await? else {
            return Ok(Vec::new());
        };
        let snapshot = match snapshot_id {
            Some(id) => state.metadata.snapshot(id),
            None => state.metadata.current_snapshot(),
        };
        let Some(snapshot) = snapshot else {
            return Ok(Vec::new());
        };
        let mut batches = Vec::new();
        for entry in self.live_files(snapshot).await? {
            batches.push(self.read_data_file(&entry.data_file.file_path).await?);
        }
        Ok(batches)
    }

    /// Every row of one data file, in the lake's Arrow schema.
    pub async fn read_data_file(&self, uri: &str) -> Result<RecordBatch, TableError> {
        let body = self.store.get(&self.key(uri)?).await?;
        files::decode(body).map_err(|source| TableError::DataFile {
            location: uri.into(),
            source,
        })
    }

    /// Every row of one data file in the table's form for `schema` (every column of the
    /// table, those the file predates as nulls): what a rewrite reads.
    pub async fn read_table_file(
        &self,
        uri: &str,
        schema: &Schema,
    ) -> Result<RecordBatch, TableError> {
        let body = self.store.get(&self.key(uri)?).await?;
        files::decode_table(body, schema).map_err(|source| TableError::DataFile {
            location: uri.into(),
            source,
        })
    }

    /// Writes a data file for rows of one hour under `data/<partition>/`, named by what it
    /// holds and a random part (`<topic>-<partition>-<first>-<last>-<uuid>.parquet`).
    pub async fn write_data_file(
        &self,
        batch: &RecordBatch,
        schema: &crate::spec::Schema,
        hour: i32,
        name: &str,
        properties: &WriterProperties,
    ) -> Result<DataFile, TableError> {
        let key = format!(
            "{}data/{}/{name}-{}.parquet",
            self.location.prefix,
            files::partition_path(hour),
            uuid::Uuid::new_v4()
        );
        let uri = self.location.uri_of(&key);
        let table_batch = files::to_table_batch(batch, schema)?;
        let encoded = files::encode(&table_batch, schema, hour, uri.clone(), properties).map_err(
            |source| TableError::DataFile {
                location: uri,
                source,
            },
        )?;
        self.put_new(&key, encoded.body, "application/vnd.apache.parquet")
            .await?;
        Ok(encoded.data_file)
    }

    /// One attempt at a commit on `state`: writes the manifest(s), the manifest list and the
    /// metadata file, then swaps. `Ok(Some(state))` when the swap happened (or, after a failed
    /// answer, the pointer shows that it did), `Ok(None)` when another commit came first.
    pub async fn try_commit(
        &self,
        state: &State,
        change: &Change,
        now: DateTime<Utc>,
    ) -> Result<Option<State>, TableError> {
        let metadata = &state.metadata;
        let snapshot_id = new_snapshot_id();
        let sequence_number = metadata.last_sequence_number + 1;
        let parent = metadata.current_snapshot();
        let mut list = match parent {
            Some(parent) => self.manifests(parent).await?,
            None => Vec::new(),
        };
        let previous_total = match parent {
            Some(parent) => parent
                .summary
                .get("total-records")
                .and_then(|v| v.parse::<i64>().ok()),
            None => Some(0),
        };
        let added_entry = |file: &DataFile| ManifestEntry {
            status: Status::Added,
            snapshot_id,
            sequence_number,
            file_sequence_number: sequence_number,
            data_file: file.clone(),
        };
        let (added, removed_files, marks) = match change {
            Change::Append { files, marks } => (files.clone(), Vec::new(), marks.clone()),
            Change::Replace { removed, added } => {
                let marks = Marks::of(metadata).map_err(|reason| TableError::Marks { reason })?;
                let mut removed_entries = Vec::new();
                let mut remaining: HashSet<&str> = removed.iter().map(String::as_str).collect();
                // Every manifest is merged into one: the files that stay, as existing, and
                // those removed, as deleted by this snapshot. Each append adds a manifest, so
                // without this the list grows by one a commit for good, and so does every
                // reader's and the compactor's work. Deletions an earlier snapshot made are
                // dropped (only the snapshot that made them needs them), and with them every
                // manifest that held nothing else. Manifests this writer does not write (of
                // delete files, or of another partition spec, from another engine) stay as
                // they are.
                let spec_id = metadata.spec().spec_id;
                let mut merged = Vec::new();
                for file in std::mem::take(&mut list) {
                    if file.content != 0 || file.partition_spec_id != spec_id {
                        list.push(file);
                        continue;
                    }
                    if file.added_files_count + file.existing_files_count == 0 {
                        continue;
                    }
                    for mut entry in self.entries(&file).await? {
                        if entry.status == Status::Deleted {
                            continue;
                        }
                        if remaining.remove(entry.data_file.file_path.as_str()) {
                            entry.status = Status::Deleted;
                            entry.snapshot_id = snapshot_id;
                            removed_entries.push(entry.data_file.clone());
                        } else {
                            entry.status = Status::Existing;
                        }
                        merged.push(entry);
                    }
                }
                if let Some(path) = remaining.into_iter().next() {
                    return Err(TableError::Stale { path: path.into() });
                }
                if !merged.is_empty() {
                    list.push(
                        self.put_manifest(&merged, metadata, snapshot_id, sequence_number, "m0")
                            .await?,
                    );
                }
                (added.clone(), removed_entries, marks)
            }
        };
        if !added.is_empty() {
            let entries: Vec<ManifestEntry> = added.iter().map(added_entry).collect();
            list.push(
                self.put_manifest(&entries, metadata, snapshot_id, sequence_number, "m1")
                    .await?,
            );
        }
        let list_key = self.location.metadata_key(&format!(
            "snap-{snapshot_id}-1-{}.avro",
            uuid::Uuid::new_v4()
        ));
        let list_body = manifest::write_manifest_list(
            &list,
            snapshot_id,
            parent.map(|p| p.snapshot_id),
            sequence_number,
        )
        .map_err(|source| TableError::Manifest {
            location: list_key.clone(),
            source,
        })?;
        self.put_new(&list_key, list_body, "application/avro")
            .await?;

        let added_records: i64 = added.iter().map(|f| f.record_count).sum();
        let removed_records: i64 = removed_files.iter().map(|f| f.record_count).sum();
        let total_files: i64 = list
            .iter()
            .map(|m| i64::from(m.added_files_count + m.existing_files_count))
            .sum();
        let mut summary = BTreeMap::from([
            (
                "operation".to_string(),
                match change {
                    Change::Append { .. } => "append",
                    Change::Replace { .. } => "replace",
                }
                .to_string(),
            ),
            ("added-data-files".into(), added.len().to_string()),
            ("added-records".into(), added_records.to_string()),
            ("total-data-files".into(), total_files.to_string()),
            ("total-delete-files".into(), "0".into()),
            ("total-position-deletes".into(), "0".into()),
            ("total-equality-deletes".into(), "0".into()),
            (MARKS_PROPERTY.into(), marks.to_json()),
        ]);
        if !removed_files.is_empty() {
            summary.insert("deleted-data-files".into(), removed_files.len().to_string());
            summary.insert("deleted-records".into(), removed_records.to_string());
        }
        if let Some(total) = previous_total {
            summary.insert(
                "total-records".into(),
                (total + added_records - removed_records).to_string(),
            );
        }
        let mut next = metadata.clone();
        next.properties
            .insert(MARKS_PROPERTY.into(), marks.to_json());
        next.add_snapshot(
            Snapshot {
                snapshot_id,
                parent_snapshot_id: parent.map(|p| p.snapshot_id),
                sequence_number,
                timestamp_ms: now.timestamp_millis().max(metadata.last_updated_ms),
                manifest_list: self.location.uri_of(&list_key),
                summary,
                schema_id: Some(metadata.current_schema_id),
            },
            Some(&state.pointer.metadata_location),
        );
        self.swap_in(state, next).await
    }

    /// Writes a manifest of `entries` under a new name and returns its manifest list line.
    async fn put_manifest(
        &self,
        entries: &[ManifestEntry],
        metadata: &TableMetadata,
        snapshot_id: i64,
        sequence_number: i64,
        suffix: &str,
    ) -> Result<ManifestFile, TableError> {
        let spec = metadata.spec();
        let key = self
            .location
            .metadata_key(&format!("{}-{suffix}.avro", uuid::Uuid::new_v4()));
        let body =
            manifest::write_manifest(entries, metadata.schema(), spec).map_err(|source| {
                TableError::Manifest {
                    location: key.clone(),
                    source,
                }
            })?;
        let length = body.len() as i64;
        self.put_new(&key, body, "application/avro").await?;
        Ok(manifest::summarise(
            self.location.uri_of(&key),
            length,
            spec.spec_id,
            snapshot_id,
            sequence_number,
            entries,
        ))
    }

    /// Writes `next` as the table's next metadata file and swaps the catalog's pointer to it.
    pub async fn swap_in(
        &self,
        state: &State,
        next: TableMetadata,
    ) -> Result<Option<State>, TableError> {
        let version = metadata_version(&state.pointer.metadata_location) + 1;
        let key = self.location.metadata_key(&format!(
            "{version:05}-{}.metadata.json",
            uuid::Uuid::new_v4()
        ));
        self.put_new(&key, next.to_json(), "application/json")
            .await?;
        let location = self.location.uri_of(&key);
        let swapped = match self.catalog.swap(&state.pointer, &location).await {
            Ok(Swap::Swapped) => true,
            Ok(Swap::Conflict) => false,
            // The outcome is unknown: the pointer says whether the swap happened.
            Err(error) => match self.catalog.load().await {
                Ok(Some(pointer)) if pointer.metadata_location == location => true,
                Ok(_) if error.retry().is_retryable() => false,
                Ok(_) => return Err(error.into()),
                Err(_) => return Err(error.into()),
            },
        };
        if !swapped {
            return Ok(None);
        }
        let pointer = match self.catalog.load().await {
            Ok(Some(pointer)) if pointer.metadata_location == location => pointer,
            // Already moved on by another writer: ours is in the history all the same.
            _ => Pointer {
                metadata_location: location,
                version: None,
            },
        };
        Ok(Some(State {
            pointer,
            metadata: next,
        }))
    }
}

/// One topic-partition's rows within one hour of Kafka time, in the lake's Arrow schema.
#[derive(Debug, Clone)]
pub struct Slice {
    pub topic: String,
    pub partition: i32,
    /// Hours since the epoch of the rows' Kafka time ([`files::hour_of`]).
    pub hour: i32,
    pub batch: RecordBatch,
}

impl Slice {
    fn offsets(&self) -> &arrow::array::Int64Array {
        self.batch
            .column_by_name("kafka_offset")
            .expect("lake batches have kafka_offset")
            .as_primitive::<Int64Type>()
    }
}

/// What an append did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct AppendReport {
    /// Rows handed in.
    pub rows: usize,
    /// Rows the commit added.
    pub written: usize,
    /// Rows at or below their partition's mark that the table already holds: not added again.
    pub duplicates: usize,
    /// Rows at or below their partition's mark that the table does not hold (offsets went
    /// backwards: the topic was deleted and created again): added, and reported.
    pub rewound: usize,
    /// The topic-partitions whose offsets went backwards.
    pub rewound_partitions: Vec<(String, i32)>,
    /// URIs of the data files the commit added.
    pub files: Vec<String>,
    /// The snapshot the commit made (`None` when there was nothing to add).
    pub snapshot_id: Option<i64>,
    /// Swaps lost to other writers before this one won.
    pub conflicts: u32,
}

/// A row's identity on the topic, as the offset check compares them.
type RowKey = (i64, i64, String);

fn row_keys(batch: &RecordBatch) -> impl Iterator<Item = RowKey> + '_ {
    let offsets = batch
        .column_by_name("kafka_offset")
        .expect("lake batches have kafka_offset")
        .as_primitive::<Int64Type>();
    let times = batch
        .column_by_name("kafka_timestamp")
        .expect("lake batches have kafka_timestamp")
        .as_primitive::<TimestampMillisecondType>();
    let ids = batch
        .column_by_name("id")
        .expect("lake batches have id")
        .as_string::<i32>();
    (0..batch.num_rows()).map(move |i| (offsets.value(i), times.value(i), ids.value(i).to_string()))
}

impl<S: LakeStore, C: Catalog> Table<S, C> {
    /// The rows the table already holds for `topic`-`partition` with offsets in
    /// `first..=last`: read from the data files whose bounds may hold them.
    async fn rows_held(
        &self,
        state: &State,
        topic: &str,
        partition: i32,
        first: i64,
        last: i64,
    ) -> Result<HashSet<RowKey>, TableError> {
        let mut held = HashSet::new();
        let Some(snapshot) = state.metadata.current_snapshot() else {
            return Ok(held);
        };
        let schema = state.metadata.schema();
        let id = |name: &str| schema.field(name).map(|f| f.id);
        let (topic_id, partition_id, offset_id) =
            (id("kafka_topic"), id("kafka_partition"), id("kafka_offset"));
        for entry in self.live_files(snapshot).await? {
            let file = &entry.data_file;
            fn bound(id: Option<i32>, map: &BTreeMap<i32, Vec<u8>>) -> Option<&[u8]> {
                id.and_then(|id| map.get(&id)).map(Vec::as_slice)
            }
            let int = |id, map| bound(id, map).and_then(files::bound_value);
            let outside = bound(topic_id, &file.lower_bounds).is_some_and(|b| b > topic.as_bytes())
                || bound(topic_id, &file.upper_bounds).is_some_and(|b| b < topic.as_bytes())
                || int(partition_id, &file.lower_bounds).is_some_and(|b| b > partition.into())
                || int(partition_id, &file.upper_bounds).is_some_and(|b| b < partition.into())
                || int(offset_id, &file.lower_bounds).is_some_and(|b| b > last)
                || int(offset_id, &file.upper_bounds).is_some_and(|b| b < first);
            if outside {
                continue;
            }
            let batch = self.read_data_file(&file.file_path).await?;
            let topics = batch
                .column_by_name("kafka_topic")
                .expect("lake batches have kafka_topic")
                .as_string::<i32>();
            let partitions = batch
                .column_by_name("kafka_partition")
                .expect("lake batches have kafka_partition")
                .as_primitive::<arrow::datatypes::Int32Type>();
            for (i, key) in row_keys(&batch).enumerate() {
                if partitions.value(i) == partition
                    && topics.value(i) == topic
                    && (first..=last).contains(&key.0)
                {
                    held.insert(key);
                }
            }
        }
        Ok(held)
    }

    /// Which rows of each slice to add on `state`: those above their partition's mark, and
    /// those at or below it that the table does not hold (offsets that went backwards).
    async fn plan_append(
        &self,
        state: &State,
        marks: &Marks,
        slices: &[Slice],
        report: &mut AppendReport,
    ) -> Result<Vec<BooleanArray>, TableError> {
        // Per topic-partition, the range of offsets at or below the mark, looked up once.
        let mut below: BTreeMap<(&str, i32), (i64, i64)> = BTreeMap::new();
        for slice in slices {
            let Some(mark) = marks.get(&slice.topic, slice.partition) else {
                continue;
            };
            for offset in slice
                .offsets()
                .values()
                .iter()
                .copied()
                .filter(|&o| o <= mark)
            {
                let range = below
                    .entry((slice.topic.as_str(), slice.partition))
                    .or_insert((offset, offset));
                *range = (range.0.min(offset), range.1.max(offset));
            }
        }
        let mut held = BTreeMap::new();
        for (&(topic, partition), &(first, last)) in &below {
            held.insert(
                (topic, partition),
                self.rows_held(state, topic, partition, first, last).await?,
            );
        }
        report.duplicates = 0;
        report.rewound = 0;
        report.rewound_partitions.clear();
        let mut masks = Vec::with_capacity(slices.len());
        for slice in slices {
            let mark = marks.get(&slice.topic, slice.partition);
            let held = held.get(&(slice.topic.as_str(), slice.partition));
            let mut rewound_here = false;
            let mask: BooleanArray = row_keys(&slice.batch)
                .map(|key| {
                    if mark.is_none_or(|mark| key.0 > mark) {
                        return Some(true);
                    }
                    if held.is_some_and(|h| h.contains(&key)) {
                        report.duplicates += 1;
                        Some(false)
                    } else {
                        report.rewound += 1;
                        rewound_here = true;
                        Some(true)
                    }
                })
                .collect();
            let partition = (slice.topic.clone(), slice.partition);
            if rewound_here && !report.rewound_partitions.contains(&partition) {
                report.rewound_partitions.push(partition);
            }
            masks.push(mask);
        }
        Ok(masks)
    }

    /// Adds the rows of `slices` that the table does not hold yet, exactly once, and raises
    /// each partition's mark to the highest offset handed in. Safe to call again with the same
    /// or overlapping rows (a redelivered batch, a replay, a retry after a commit whose answer
    /// was lost), and from several writers at once.
    pub async fn append(
        &self,
        slices: &[Slice],
        properties: &WriterProperties,
        now: DateTime<Utc>,
    ) -> Result<AppendReport, TableError> {
        let mut report = AppendReport {
            rows: slices.iter().map(|s| s.batch.num_rows()).sum(),
            ..AppendReport::default()
        };
        if report.rows == 0 {
            // Nothing to add: the catalog is not even asked.
            return Ok(report);
        }
        // Data files already written by an earlier attempt, by slice, with the rows they hold.
        let mut written: Vec<Option<(BooleanArray, DataFile)>> = vec![None; slices.len()];
        for attempt in 0..self.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let state = self.load_or_create(now).await?;
            let Some(state) = self.with_writer_columns(state, now).await? else {
                report.conflicts += 1;
                continue;
            };
            let mut marks =
                Marks::of(&state.metadata).map_err(|reason| TableError::Marks { reason })?;
            let masks = self
                .plan_append(&state, &marks, slices, &mut report)
                .await?;
            let mut data_files = Vec::new();
            let mut rows_added = 0;
            for ((slice, mask), done) in slices.iter().zip(&masks).zip(written.iter_mut()) {
                let rows = mask.true_count();
                if let Some(offset) = arrow::compute::max(slice.offsets()) {
                    marks.raise(&slice.topic, slice.partition, offset);
                }
                if rows == 0 {
                    continue;
                }
                rows_added += rows;
                if let Some((_, file)) = done.as_ref().filter(|(m, _)| m == mask) {
                    data_files.push(file.clone());
                    continue;
                }
                let batch = filter_record_batch(&slice.batch, mask)?;
                let offsets = batch
                    .column_by_name("kafka_offset")
                    .expect("lake batches have kafka_offset")
                    .as_primitive::<Int64Type>();
                let name = format!(
                    "{}-{}-{}-{}",
                    slice.topic,
                    slice.partition,
                    arrow::compute::min(offsets).unwrap_or_default(),
                    arrow::compute::max(offsets).unwrap_or_default()
                );
                let file = self
                    .write_data_file(
                        &batch,
                        state.metadata.schema(),
                        slice.hour,
                        &name,
                        properties,
                    )
                    .await?;
                *done = Some((mask.clone(), file.clone()));
                data_files.push(file);
            }
            if data_files.is_empty() {
                return Ok(report);
            }
            let change = Change::Append {
                files: data_files.clone(),
                marks,
            };
            if let Some(committed) = self.try_commit(&state, &change, now).await? {
                report.written = rows_added;
                report.files = data_files.into_iter().map(|f| f.file_path).collect();
                report.snapshot_id = committed.metadata.current_snapshot_id;
                return Ok(report);
            }
            report.conflicts += 1;
        }
        Err(TableError::Contended {
            attempts: self.max_attempts,
        })
    }
}
