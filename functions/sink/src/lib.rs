//! The sink function: decode an MSK batch, lay the good records out as Arrow batches per
//! topic-partition and hour, and add them to the lake: by default to the Iceberg table, in one
//! exactly-once commit per invocation (`table::Table::append`: records at or below their
//! partition's offset mark are not added again); with `LAKE_FORMAT=files`, as Parquet objects
//! (and, when `OUTPUT_FORMATS` asks, JSON Lines and CSV) named by their offsets. Rejected records
//! go to `_errors/` with their reasons. Nothing is dropped and nothing is overwritten: a record is
//! either in the lake or in an error object, an object key that holds other bytes is kept and
//! the new bytes land beside it, and a failed write or commit fails the invocation so that the
//! event source mapping retries the batch.
//! Every invocation, failed or not, ends with one summary line that is also its CloudWatch
//! metrics ([`metrics`]).
//!
//! `main.rs` builds the S3 client once per cold start and calls [`handle_bytes`] with every
//! event's raw body; the replay calls [`handle`] with records read from the topic; tests call
//! any of them with an in-memory lake and a captured metrics writer.

pub mod batch;
pub mod config;
pub mod decode;
pub mod encode;
pub mod metrics;

use std::{collections::BTreeMap, time::Instant};

use chrono::{DateTime, NaiveDate, Utc};
use futures::future::join_all;
use lake::{
    ErrorKey, ErrorRange, LakeStore, Layout, OutputFormat, StoreError,
    store::{fnv1a, put_once},
};
use lambda_kit::{Classified, Retry, emf::Metrics};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use table::{OpenedTable, Table, TableError};

pub use config::SinkConfig;
pub use decode::{Batch, RecordFormat, Rejected, as_source_format};
pub use msk_event::MskEvent;
pub use schema_registry as registry;
pub use schema_registry::{ConfluentRegistry, GlueRegistry, SchemaRegistry, WriterSchemas};

use metrics::Observed;

/// The invocation's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SinkSummary {
    /// Records in the event.
    pub records: usize,
    /// Records written to the lake (in every configured format).
    pub written: usize,
    /// Records written to `_errors/`.
    pub rejected: usize,
    /// Keys of every object written, data and errors.
    pub objects: Vec<String>,
    /// Bytes written, all objects together.
    pub bytes: usize,
    /// Records at or below their partition's offset mark that the table already held (a
    /// redelivery, a replay): not added again.
    #[serde(default)]
    pub duplicates: usize,
    /// Records at or below their partition's mark that the table did not hold: the topic's
    /// offsets went backwards (it was deleted and created again). Added, and reported.
    #[serde(default)]
    pub rewound: usize,
    /// The table snapshot the invocation committed, if it added rows.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<i64>,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    /// The payload is not an MSK event (a mis-wired trigger or a hand-made invoke); the same
    /// payload would fail again, so it is not retried usefully.
    #[error("the payload is not an MSK event: {source}")]
    NotAnMskEvent {
        #[source]
        source: serde_json::Error,
    },
    /// The payload is not UTF-8 text, so not JSON; not retried usefully either.
    #[error("the payload is not UTF-8 text, so not an MSK event: {source}")]
    NotUtf8 {
        #[source]
        source: std::str::Utf8Error,
    },
    /// The accepted records could not be laid out in the lake schema (a defect: not retried
    /// usefully, look at the logs).
    #[error("cannot build the Arrow batch for {topic}-{partition}: {source}")]
    Arrow {
        topic: String,
        partition: i32,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// A batch could not be encoded as Parquet (a defect).
    #[error("cannot encode {key} as Parquet: {source}")]
    Encode {
        key: String,
        #[source]
        source: parquet::errors::ParquetError,
    },
    /// A batch could not be written as JSON Lines or CSV (a defect).
    #[error("cannot encode {key} as {format}: {source}")]
    Format {
        key: String,
        format: OutputFormat,
        #[source]
        source: arrow::error::ArrowError,
    },
    /// The sink is set up for the Iceberg table but was given no catalog (a wiring defect).
    #[error("LAKE_FORMAT=iceberg but the sink was built without a catalog")]
    NoCatalog,
    /// The table commit failed; a retryable failure (the catalog or S3 unavailable, commits
    /// contended) is retried with the batch, which adds nothing twice.
    #[error("cannot add the batch to the table: {source}")]
    Table {
        #[source]
        source: TableError,
    },
    /// Objects could not be stored; the event source mapping retries the batch. `first` is the
    /// first failure that needs someone to act (a denied or missing bucket), else the first.
    #[error("{failed} of {attempted} object(s) were not stored, first: {first}")]
    Store {
        attempted: usize,
        failed: usize,
        #[source]
        first: StoreError,
    },
    /// A writer schema of the batch's Avro values could not be fetched from the schema
    /// registry; retried with the batch, nothing of which was stored.
    #[error("cannot fetch the batch's writer schemas: {source}")]
    SchemaRegistry {
        #[source]
        source: registry::RegistryError,
    },
}

impl Classified for SinkError {
    fn kind(&self) -> &'static str {
        match self {
            SinkError::NotAnMskEvent { .. } | SinkError::NotUtf8 { .. } => "NotAnMskEvent",
            SinkError::Arrow { .. } => "ArrowBuildFailed",
            SinkError::Encode { .. } => "ParquetEncodeFailed",
            SinkError::Format { .. } => "OutputEncodeFailed",
            SinkError::Store { .. } => "StoreFailed",
            SinkError::NoCatalog => "NoCatalog",
            SinkError::Table { .. } => "TableCommitFailed",
            SinkError::SchemaRegistry { .. } => "SchemaRegistryFailed",
        }
    }

    /// Only a store, table or registry failure can pass: the others are the same for the same
    /// batch.
    fn retry(&self) -> Retry {
        match self {
            SinkError::Store { first, .. } => first.retry(),
            SinkError::Table { source } => source.retry(),
            SinkError::SchemaRegistry { .. } => Retry::Retryable,
            _ => Retry::Fatal,
        }
    }
}

impl From<SinkError> for lambda_runtime::Diagnostic {
    fn from(error: SinkError) -> Self {
        lambda_kit::diagnostic(&error)
    }
}

/// The Iceberg table the sink commits to, opened at start-up by `main.rs` (or a test) with
/// [`Sink::with_table`].
pub struct TableTarget<S> {
    /// The table's catalog and where its files are.
    pub opened: Option<OpenedTable>,
    /// The store over the table's bucket when that is not the lake bucket (an S3 Tables
    /// table's warehouse bucket); `None`: the lake's store.
    pub store: Option<S>,
}

/// The long-lived parts of the sink, built once per cold start.
pub struct Sink<S> {
    pub store: S,
    /// The table, unless the lake is plain files (`LAKE_FORMAT=files`).
    pub table: Option<TableTarget<S>>,
    pub layout: Layout,
    pub properties: WriterProperties,
    /// Formats each slot is written in, Parquet first.
    pub formats: Vec<OutputFormat>,
    /// Where the invocation's summary and metrics go (stdout in Lambda).
    pub metrics: Metrics,
    /// The writer schemas of Avro values, when the trigger hands over the records' own bytes
    /// (`SCHEMA_REGISTRY_URI`); `None`: every value is read as JSON.
    pub schemas: Option<WriterSchemas>,
    /// How the trigger hands over the values the registry validated.
    pub record_format: RecordFormat,
}

impl<S> Sink<S> {
    pub fn new(store: S, config: &SinkConfig) -> Self {
        Self {
            store,
            table: config.table.as_ref().map(|_| TableTarget {
                opened: None,
                store: None,
            }),
            layout: config.lake.layout.clone(),
            properties: lake::writer::writer_properties(
                config.lake.compression,
                concat!("user-lake sink ", env!("CARGO_PKG_VERSION")),
            ),
            formats: config.output_formats.clone(),
            metrics: Metrics::stdout(config.metrics.clone()),
            schemas: None,
            record_format: config.schema_record_format,
        }
    }

    /// The sink reading Avro values with writer schemas from `registry`.
    pub fn with_schemas(mut self, registry: Box<dyn SchemaRegistry>) -> Self {
        self.schemas = Some(WriterSchemas::new(registry));
        self
    }
}

impl<S> Sink<S> {
    /// The sink with the table opened, and the store over the table's bucket when it is not
    /// the lake's (a sink for the plain-files layout ignores both).
    pub fn with_table(mut self, opened: OpenedTable, store: Option<S>) -> Self {
        if let Some(table) = &mut self.table {
            table.opened = Some(opened);
            table.store = store;
        }
        self
    }
}

/// An object to put.
struct Object {
    key: String,
    body: Vec<u8>,
    content_type: &'static str,
}

/// Handles one invocation body as the Runtime API sent it: checked as UTF-8, then as
/// [`handle_json`]. A body that is not UTF-8 fails with [`SinkError::NotUtf8`] and a summary.
pub async fn handle_bytes<S: LakeStore>(
    body: &[u8],
    sink: &Sink<S>,
    now: DateTime<Utc>,
) -> Result<SinkSummary, SinkError> {
    match std::str::from_utf8(body) {
        Ok(json) => handle_json(json, sink, now).await,
        Err(source) => failed(SinkError::NotUtf8 { source }, sink, now),
    }
}

/// Reports a payload that could not be read at all with the same summary as any failure.
fn failed<S>(
    error: SinkError,
    sink: &Sink<S>,
    now: DateTime<Utc>,
) -> Result<SinkSummary, SinkError> {
    let result = Err(error);
    let observed = Observed::default();
    sink.metrics
        .emit(&metrics::summary(&sink.metrics, now, &observed, &result));
    result
}

/// Handles one invocation payload as JSON text; the event's entries are read in place from it. A payload that is not an MSK event fails the invocation
/// with [`SinkError::NotAnMskEvent`] and a summary like any other failure.
pub async fn handle_json<S: LakeStore>(
    json: &str,
    sink: &Sink<S>,
    now: DateTime<Utc>,
) -> Result<SinkSummary, SinkError> {
    match MskEvent::from_json(json) {
        Ok(event) => handle(Batch::Event(&event), sink, now).await,
        Err(source) => failed(SinkError::NotAnMskEvent { source }, sink, now),
    }
}

/// Handles one batch and emits its summary. `now` dates the rejected entries that carry no
/// Kafka timestamp and is the reference of the lag metric.
pub async fn handle<S: LakeStore>(
    batch: Batch<'_>,
    sink: &Sink<S>,
    now: DateTime<Utc>,
) -> Result<SinkSummary, SinkError> {
    let mut observed = Observed::default();
    let result = store_batch(batch, sink, now, &mut observed).await;
    sink.metrics
        .emit(&metrics::summary(&sink.metrics, now, &observed, &result));
    result
}

async fn store_batch<S: LakeStore>(
    batch: Batch<'_>,
    sink: &Sink<S>,
    now: DateTime<Utc>,
    observed: &mut Observed,
) -> Result<SinkSummary, SinkError> {
    let writers = match &sink.schemas {
        Some(schemas) => {
            // A trigger validated an event's values; records read straight from the topic
            // (the replay) may name a schema the registry lacks: those are rejected.
            let resolved = match batch {
                Batch::Event(event) => schemas.resolve(decode::avro_schema_ids(event)).await,
                Batch::Records(records) => {
                    let ids = decode::record_schema_ids(records);
                    schemas.resolve_rejecting_unknown(ids).await
                }
            };
            Some(resolved.map_err(|source| SinkError::SchemaRegistry { source })?)
        }
        None => None,
    };
    // Records read from the topic are handed over as a trigger in SOURCE format would.
    let format = match batch {
        Batch::Event(_) => sink.record_format,
        Batch::Records(_) => RecordFormat::Source,
    };
    let writers = writers
        .as_ref()
        .map(|set| decode::Writers::new(format, set));
    if let Some(writers) = &writers
        && !writers.not_kept.is_empty()
    {
        let fields: Vec<String> = (writers.not_kept.iter())
            .map(|f| {
                format!(
                    "{}: {}",
                    f.name,
                    f.kind.as_ref().err().map_or("", String::as_str)
                )
            })
            .collect();
        tracing::warn!(
            ?fields,
            "fields of the writers' schemas that the lake has no column for are not stored"
        );
    }
    // Only the table grows columns for the fields a writer's schema adds; plain files keep
    // the lake's own.
    let mut batcher = match sink.table {
        Some(_) => batch::Batcher::keeping_added_fields(),
        None => batch::Batcher::default(),
    };
    let mut oldest: Option<DateTime<Utc>> = None;
    let decoded = decode::decode_with_schemas(batch, writers.as_ref(), |row| {
        oldest = Some(oldest.map_or(row.timestamp, |t| t.min(row.timestamp)));
        batcher.push(&row);
    });
    observed.records = decoded.len();
    observed.oldest = decoded
        .rejected
        .iter()
        .filter_map(|r| r.timestamp)
        .chain(oldest)
        .min();
    let slots = batcher.finish().map_err(|error| SinkError::Arrow {
        topic: error.slot.topic,
        partition: error.slot.partition,
        source: error.source,
    })?;
    let mut objects = match &sink.table {
        Some(_) => Vec::new(),
        None => data_objects(&slots, sink, observed)?,
    };
    objects.extend(error_objects(&decoded.rejected, &sink.layout, now));

    let attempted = objects.len();
    let puts = objects.into_iter().map(|o| async move {
        let size = o.body.len();
        put_once(&sink.store, &o.key, o.body, o.content_type)
            .await
            .map(|key| (key, size))
    });
    let mut failures = Vec::new();
    let mut keys = Vec::with_capacity(attempted);
    for put in join_all(puts).await {
        match put {
            Ok((key, size)) => {
                observed.objects += 1;
                observed.bytes += size;
                keys.push(key);
            }
            Err(error) => failures.push(error),
        }
    }
    let failed = failures.len();
    // The failure to report is one that needs someone to act, if there is one.
    let needs_action = failures.iter().position(|e| !e.retry().is_retryable());
    if let Some(first) = needs_action.or((!failures.is_empty()).then_some(0)) {
        let first = failures.swap_remove(first);
        if first.retry().is_retryable() {
            tracing::warn!(failed, attempted, error = %first, "lake write failed; the batch will be retried");
        } else {
            tracing::error!(failed, attempted, error = %first, code = first.code(), "lake write refused; the batch fails until the bucket or the role is fixed");
        }
        return Err(SinkError::Store {
            attempted,
            failed,
            first,
        });
    }

    // The table's commit comes after the error objects: a batch whose rejected records could
    // not be kept is retried before any of its rows become visible.
    let mut summary = SinkSummary {
        records: decoded.len(),
        written: decoded.accepted,
        rejected: decoded.rejected.len(),
        objects: keys,
        bytes: observed.bytes,
        duplicates: 0,
        rewound: 0,
        snapshot_id: None,
    };
    if let Some(target) = &sink.table {
        commit(target, slots, sink, now, observed, &mut summary).await?;
    }
    if let Some(first) = decoded.rejected.first() {
        tracing::warn!(
            rejected = summary.rejected,
            first_topic = %first.topic,
            first_partition = first.partition,
            first_offset = first.offset,
            first_reason = %first.reason,
            "records rejected to the error prefix"
        );
    }
    Ok(summary)
}

/// Adds the batch's rows to the table, exactly once.
async fn commit<S: LakeStore>(
    target: &TableTarget<S>,
    slots: Vec<batch::SlotBatch>,
    sink: &Sink<S>,
    now: DateTime<Utc>,
    observed: &mut Observed,
    summary: &mut SinkSummary,
) -> Result<(), SinkError> {
    let opened = target.opened.as_ref().ok_or(SinkError::NoCatalog)?;
    let store = target.store.as_ref().unwrap_or(&sink.store);
    let columns = table::files::writer_columns(slots.iter().map(|s| s.batch.schema_ref().as_ref()))
        .map_err(|source| SinkError::Arrow {
            topic: slots[0].slot.topic.clone(),
            partition: slots[0].slot.partition,
            source,
        })?;
    let table = Table::new(store, &opened.catalog, opened.location.clone()).with_columns(columns);
    let slices: Vec<table::Slice> = slots
        .into_iter()
        .map(|slot| table::Slice {
            hour: table::files::hour_of(slot.slot.hour.start()),
            topic: slot.slot.topic,
            partition: slot.slot.partition,
            batch: slot.batch,
        })
        .collect();
    let started = Instant::now();
    // Boxed: the commit's future is deep, and the runtime's future holds the handler's.
    let report = Box::pin(table.append(&slices, &sink.properties, now))
        .await
        .map_err(|source| {
            if source.retry().is_retryable() {
                tracing::warn!(error = %source, "table commit failed; the batch will be retried");
            } else {
                tracing::error!(error = %source, "table commit refused; the batch fails until the table, catalog or role is fixed");
            }
            SinkError::Table { source }
        })?;
    observed.commit = started.elapsed();
    observed.conflicts = report.conflicts as usize;
    observed.duplicates = report.duplicates;
    observed.rewound = report.rewound;
    if !report.rewound_partitions.is_empty() {
        tracing::error!(
            rewound = report.rewound,
            partitions = ?report.rewound_partitions,
            "offsets went backwards below the table's marks (was the topic deleted and created again?); the new records were added beside the earlier ones, none was overwritten"
        );
    }
    summary.written = report.written;
    summary.duplicates = report.duplicates;
    summary.rewound = report.rewound;
    summary.snapshot_id = report.snapshot_id;
    for file in &report.files {
        if let Some(key) = opened.location.key_of(file) {
            summary.objects.push(key);
        }
    }
    Ok(())
}

fn data_objects<S>(
    slots: &[batch::SlotBatch],
    sink: &Sink<S>,
    observed: &mut Observed,
) -> Result<Vec<Object>, SinkError> {
    let mut objects = Vec::with_capacity(slots.len() * sink.formats.len());
    for slot in slots {
        for &format in &sink.formats {
            let key = sink
                .layout
                .original_key(format, slot.slot.hour, slot.span());
            let text = |body: Result<Vec<u8>, arrow::error::ArrowError>| {
                body.map_err(|source| SinkError::Format {
                    key: key.clone(),
                    format,
                    source,
                })
            };
            let body = match format {
                OutputFormat::Parquet => {
                    let started = Instant::now();
                    let body = encode::parquet(&slot.batch, &sink.properties);
                    observed.parquet_encode += started.elapsed();
                    body.map_err(|source| SinkError::Encode {
                        key: key.clone(),
                        source,
                    })
                }
                OutputFormat::Jsonl => text(lake::text::jsonl(&slot.batch)),
                OutputFormat::Csv => text(lake::text::csv(&slot.batch, lake::text::LineEnd::Crlf)),
            }?;
            objects.push(Object {
                key,
                body,
                content_type: format.content_type(),
            });
        }
    }
    Ok(objects)
}

fn error_objects(rejected: &[Rejected], layout: &Layout, now: DateTime<Utc>) -> Vec<Object> {
    let mut groups: BTreeMap<(String, i32, NaiveDate), Vec<&Rejected>> = BTreeMap::new();
    for record in rejected {
        let date = record.timestamp.unwrap_or(now).date_naive();
        groups
            .entry((record.topic.clone(), record.partition, date))
            .or_default()
            .push(record);
    }
    groups
        .into_iter()
        .map(|((topic, partition, date), records)| {
            let body = encode::jsonl(&records);
            let offsets = records.iter().filter_map(|r| r.offset);
            let range = match (offsets.clone().min(), offsets.max()) {
                (Some(first), Some(last)) => ErrorRange::Offsets { first, last },
                _ => ErrorRange::Malformed(fnv1a(&body)),
            };
            let key = ErrorKey {
                date,
                topic,
                partition,
                range,
            };
            Object {
                key: layout.error_key(&key),
                body,
                content_type: "application/x-ndjson",
            }
        })
        .collect()
}
