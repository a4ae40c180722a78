//! Exporting the lake as the files the original pipeline left after each run, in its names and
//! forms: `users_data.json` (a JSON array, as `json.dump(rows, f, indent=2,
//! ensure_ascii=False)` wrote it; JSON Lines on request), `users_data.csv` (as pandas'
//! `to_csv(index=False)` wrote it) and the Parquet file under both the original's Spark name,
//! `users_spark_data.parquet`, and `users_data.parquet`. Each holds every user of the topic in
//! the lake once, with the record's twelve fields.
//!
//! The lake is read through the store (S3, or the local S3-protocol endpoint), never from files
//! on disk, so the same command exports a real bucket. An optional time range (on the Kafka
//! timestamp) limits which hours are read and which rows are kept.
//!
//! The Iceberg table (`LAKE_FORMAT=iceberg`, the default) is read at one snapshot, the current
//! one or an earlier one still kept ([`table_rows`]): the data files its manifests list, whose
//! rows are already there exactly once (the sink's commit adds no record twice, a compaction
//! swaps files for others holding the same rows in one commit). Nothing is de-duplicated: two
//! rows at the same offset are two records (a topic deleted and created again starts its
//! offsets anew), and both are exported. The summary names the snapshot read, so the same
//! export can be made again later with `--snapshot-id`.
//!
//! The plain-files layout (`LAKE_FORMAT=files`) is read by listing its objects
//! ([`selected_rows`]); rows are de-duplicated on their Kafka coordinates there, because during
//! a compaction, or after a batch was cut two ways, a row may sit in two objects for a while.

use std::{collections::BTreeMap, path::Path, sync::Arc};

use arrow::{datatypes::Schema, record_batch::RecordBatch};
use chrono::{DateTime, Utc};
use lake::{
    LakeRow, LakeStore, Layout, OutputFormat, RowsBuilder,
    read::{ReadError, object_rows},
};
use lambda_kit::{Classified, Retry};
use parquet::file::properties::WriterProperties;
use serde::Serialize;
use table::{Catalog, Table, TableError, spec::TableMetadata};
use user_record::RECORD_FIELDS;

/// The files written, in the original pipeline's names (the Parquet file twice: the
/// original's Spark path named it `users_spark_data.parquet`).
pub const FILES: [&str; 4] = [
    "users_data.json",
    "users_data.csv",
    "users_spark_data.parquet",
    "users_data.parquet",
];

/// The form of `users_data.json`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum JsonForm {
    /// One JSON array of users, indented: the original pipeline's file (`json.load`,
    /// `pd.read_json(path)`).
    #[default]
    Array,
    /// One user per line (`pd.read_json(path, lines=True)`): streams, and appends cleanly.
    Lines,
}

/// Which rows to export.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Selection {
    /// Only rows of this topic.
    pub topic: String,
    /// Only rows whose Kafka timestamp is at or after this.
    pub from: Option<DateTime<Utc>>,
    /// Only rows whose Kafka timestamp is before this.
    pub to: Option<DateTime<Utc>>,
}

impl Selection {
    /// The selection in words: `users_created from 2026-11-24T12:00:00Z to ...`.
    fn describe(&self) -> String {
        let at = |t: Option<DateTime<Utc>>, word| t.map(|t| format!(" {word} {}", t.to_rfc3339()));
        format!(
            "the topic {}{}{}",
            self.topic,
            at(self.from, "from").unwrap_or_default(),
            at(self.to, "to").unwrap_or_default()
        )
    }

    fn keeps(&self, row: &LakeRow) -> bool {
        row.topic == self.topic
            && self.from.is_none_or(|from| row.timestamp >= from)
            && self.to.is_none_or(|to| row.timestamp < to)
    }

    /// Whether an hour partition may hold rows of the range.
    fn may_hold(&self, start: DateTime<Utc>) -> bool {
        let end = start + chrono::Duration::hours(1);
        self.from.is_none_or(|from| end > from) && self.to.is_none_or(|to| start < to)
    }
}

/// What an export did; printed as the command's JSON summary.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ExportSummary {
    /// Parquet objects (the table's data files) read.
    pub objects: usize,
    /// Rows written to each file.
    pub rows: usize,
    /// Rows found more than once (in an original and a merged object) and written once; always
    /// 0 for the table, which holds each record once.
    pub duplicates: usize,
    /// The files written.
    pub files: Vec<String>,
    /// The table snapshot read (absent for the plain-files layout, and for a table that has
    /// no snapshot yet).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<i64>,
    /// When that snapshot was committed.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_at: Option<DateTime<Utc>>,
}

/// Why an export failed.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Setting(#[from] lambda_kit::settings::SettingError),
    /// The lake could not be listed.
    #[error(transparent)]
    Store(#[from] lake::StoreError),
    /// An object could not be read back.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The table's metadata, manifests or data files could not be read, or its catalog not
    /// opened.
    #[error(transparent)]
    Table(#[from] TableError),
    /// The snapshot asked for is not among those the table's metadata keeps (expired, or
    /// never this table's).
    #[error("the table has no snapshot {snapshot_id} (snapshots kept: {kept})")]
    NoSnapshot { snapshot_id: i64, kept: String },
    /// The rows could not be laid out as the record's columns, or written as JSON or CSV (a
    /// defect).
    #[error("cannot encode the export: {0}")]
    Encode(#[from] arrow::error::ArrowError),
    /// The rows could not be written as Parquet (a defect).
    #[error("cannot encode the export as Parquet: {0}")]
    Parquet(#[from] parquet::errors::ParquetError),
    /// The selection holds no user: nothing is written, and files an earlier export left in
    /// the directory stay as they were.
    #[error(
        "nothing to export: {selection} holds no user; the files in {dir} were left as they were"
    )]
    NothingSelected { selection: String, dir: String },
    /// A file could not be written.
    #[error("cannot write {path}: {source}")]
    Write {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl Classified for ExportError {
    fn kind(&self) -> &'static str {
        match self {
            ExportError::Setting(_) => "InvalidSetting",
            ExportError::Store(_) => "StoreFailed",
            ExportError::Read(_) => "ReadFailed",
            ExportError::Table(_) => "TableReadFailed",
            ExportError::NoSnapshot { .. } => "NoSuchSnapshot",
            ExportError::Encode(_) | ExportError::Parquet(_) => "EncodeFailed",
            ExportError::Write { .. } => "WriteFailed",
            ExportError::NothingSelected { .. } => "NothingSelected",
        }
    }

    fn retry(&self) -> Retry {
        match self {
            ExportError::Store(error) => error.retry(),
            ExportError::Read(ReadError::Store(error)) => error.retry(),
            ExportError::Table(error) => error.retry(),
            _ => Retry::Fatal,
        }
    }
}

/// Every selected row of the plain-files lake, once, in (partition, offset) order.
pub async fn selected_rows<S: LakeStore>(
    store: &S,
    layout: &Layout,
    selection: &Selection,
) -> Result<(Vec<LakeRow>, ExportSummary), ExportError> {
    let listed = store.list(&layout.root(OutputFormat::Parquet)).await?;
    let mut summary = ExportSummary::default();
    let mut rows: BTreeMap<(i32, i64), LakeRow> = BTreeMap::new();
    for object in listed {
        let Some((hour, _)) = layout.parquet_data(&object.key) else {
            continue;
        };
        if !selection.may_hold(hour.start()) {
            continue;
        }
        summary.objects += 1;
        for row in object_rows(store, &object.key).await? {
            if !selection.keeps(&row) {
                continue;
            }
            if rows.insert((row.partition, row.offset), row).is_some() {
                summary.duplicates += 1;
            }
        }
    }
    summary.rows = rows.len();
    Ok((rows.into_values().collect(), summary))
}

/// Every selected row of the table at `snapshot_id` (the current snapshot when `None`), in
/// (partition, offset, Kafka time) order. Only the data files of the hours the selection may
/// hold are read; a table with no snapshot yet exports nothing.
pub async fn table_rows<S: LakeStore, C: Catalog>(
    table: &Table<S, C>,
    snapshot_id: Option<i64>,
    selection: &Selection,
) -> Result<(Vec<LakeRow>, ExportSummary), ExportError> {
    let mut summary = ExportSummary::default();
    let state = table.load().await?;
    let metadata = state.as_ref().map(|s| &s.metadata);
    let snapshot = match snapshot_id {
        None => metadata.and_then(|m| m.current_snapshot()),
        Some(id) => Some(
            metadata
                .and_then(|m| m.snapshot(id))
                .ok_or_else(|| no_snapshot(id, metadata))?,
        ),
    };
    let Some(snapshot) = snapshot else {
        return Ok((Vec::new(), summary));
    };
    summary.snapshot_id = Some(snapshot.snapshot_id);
    summary.snapshot_at = DateTime::from_timestamp_millis(snapshot.timestamp_ms);
    let mut rows = Vec::new();
    for entry in table.live_files(snapshot).await? {
        let file = &entry.data_file;
        let hour_start = file
            .partition_hour
            .and_then(|h| DateTime::from_timestamp(i64::from(h) * 3600, 0));
        if hour_start.is_some_and(|start| !selection.may_hold(start)) {
            continue;
        }
        summary.objects += 1;
        let batch = table.read_data_file(&file.file_path).await?;
        let read = lake::rows::rows(&batch).map_err(|source| ReadError::Rows {
            key: file.file_path.clone(),
            source,
        })?;
        rows.extend(read.into_iter().filter(|row| selection.keeps(row)));
    }
    rows.sort_by_key(|r| (r.partition, r.offset, r.timestamp));
    summary.rows = rows.len();
    Ok((rows, summary))
}

/// The error for a snapshot id the metadata does not keep, naming those it keeps.
fn no_snapshot(snapshot_id: i64, metadata: Option<&TableMetadata>) -> ExportError {
    let kept: Vec<String> = metadata
        .iter()
        .flat_map(|m| &m.snapshots)
        .map(|s| s.snapshot_id.to_string())
        .collect();
    ExportError::NoSnapshot {
        snapshot_id,
        kept: if kept.is_empty() {
            "none".into()
        } else {
            kept.join(", ")
        },
    }
}

/// The rows as one batch of the record's twelve columns.
pub fn record_batch(rows: &[LakeRow]) -> Result<RecordBatch, ExportError> {
    let mut builder = RowsBuilder::default();
    rows.iter().for_each(|r| builder.push_row(r));
    let lake = builder.finish()?;
    let names: Vec<&str> = RECORD_FIELDS.iter().map(|c| c.name).collect();
    let indices: Vec<usize> = names
        .iter()
        .map(|n| lake.schema().index_of(n))
        .collect::<Result<_, _>>()?;
    let projected = lake.project(&indices)?;
    let schema = Arc::new(Schema::new(projected.schema().fields().clone()));
    Ok(RecordBatch::try_new(schema, projected.columns().to_vec())?)
}

/// How the files are written.
#[derive(Debug, Clone)]
pub struct FileOptions {
    /// The form of `users_data.json`.
    pub json: JsonForm,
    /// The Parquet writer's settings.
    pub properties: WriterProperties,
}

/// Writes the files into `dir`; their paths.
pub fn write_files(
    batch: &RecordBatch,
    dir: &Path,
    options: &FileOptions,
) -> Result<Vec<String>, ExportError> {
    let json = match options.json {
        JsonForm::Array => lake::text::json_array(batch),
        JsonForm::Lines => lake::text::jsonl(batch),
    }?;
    let csv = lake::text::csv(batch, lake::text::LineEnd::Lf)?;
    let parquet = lake::writer::encode(batch, &options.properties, &[])?;
    let mut written = Vec::new();
    std::fs::create_dir_all(dir).map_err(|source| ExportError::Write {
        path: dir.display().to_string(),
        source,
    })?;
    for (name, body) in FILES.iter().zip([&json, &csv, &parquet, &parquet]) {
        let path = dir.join(name);
        // Written beside, then renamed: a reader never sees half a file.
        let partial = dir.join(format!(".{name}.partial"));
        std::fs::write(&partial, body)
            .and_then(|()| std::fs::rename(&partial, &path))
            .map_err(|source| ExportError::Write {
                path: path.display().to_string(),
                source,
            })?;
        written.push(path.display().to_string());
    }
    Ok(written)
}

/// An empty selection is an error, so that no earlier export is replaced by empty files.
fn some_rows(rows: &[LakeRow], selection: &Selection, dir: &Path) -> Result<(), ExportError> {
    match rows.is_empty() {
        true => Err(ExportError::NothingSelected {
            selection: selection.describe(),
            dir: dir.display().to_string(),
        }),
        false => Ok(()),
    }
}

/// The whole export from plain files: the selected rows of the lake, once, into the
/// [`FILES`] in `dir`.
pub async fn export<S: LakeStore>(
    store: &S,
    layout: &Layout,
    selection: &Selection,
    dir: &Path,
    options: &FileOptions,
) -> Result<ExportSummary, ExportError> {
    let (rows, mut summary) = selected_rows(store, layout, selection).await?;
    some_rows(&rows, selection, dir)?;
    let batch = record_batch(&rows)?;
    summary.files = write_files(&batch, dir, options)?;
    Ok(summary)
}

/// The whole export from the table: the selected rows of one snapshot (the current one when
/// `snapshot_id` is `None`) into the [`FILES`] in `dir`.
pub async fn export_table<S: LakeStore, C: Catalog>(
    table: &Table<S, C>,
    snapshot_id: Option<i64>,
    selection: &Selection,
    dir: &Path,
    options: &FileOptions,
) -> Result<ExportSummary, ExportError> {
    let (rows, mut summary) = table_rows(table, snapshot_id, selection).await?;
    some_rows(&rows, selection, dir)?;
    let batch = record_batch(&rows)?;
    summary.files = write_files(&batch, dir, options)?;
    Ok(summary)
}
