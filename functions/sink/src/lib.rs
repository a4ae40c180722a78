//! The sink function: decode an MSK batch, lay the good records out as Arrow batches per
//! topic-partition and hour, encode them as Parquet (and, when `OUTPUT_FORMATS` asks, as JSON
//! Lines and CSV) and store them in the lake; rejected records go to `_errors/` with their
//! reasons. Nothing is dropped: a record is either in the lake's objects or in an error object,
//! and a failed write fails the invocation so that the event source mapping retries the batch.
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
use lake::{ErrorKey, ErrorRange, Layout, ObjectStore, OutputFormat, StoreError};
use lambda_kit::{Classified, Retry, emf::Metrics};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

pub use config::SinkConfig;
pub use decode::{Batch, Rejected};
pub use msk_event::MskEvent;

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
    /// Objects could not be stored; the event source mapping retries the batch. `first` is the
    /// first failure that needs someone to act (a denied or missing bucket), else the first.
    #[error("{failed} of {attempted} object(s) were not stored, first: {first}")]
    Store {
        attempted: usize,
        failed: usize,
        #[source]
        first: StoreError,
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
        }
    }

    /// Only a store failure can pass: the others are the same for the same batch.
    fn retry(&self) -> Retry {
        match self {
            SinkError::Store { first, .. } => first.retry(),
            _ => Retry::Fatal,
        }
    }
}

impl From<SinkError> for lambda_runtime::Diagnostic {
    fn from(error: SinkError) -> Self {
        lambda_kit::diagnostic(&error)
    }
}

/// The long-lived parts of the sink, built once per cold start.
pub struct Sink<S> {
    pub store: S,
    pub layout: Layout,
    pub properties: WriterProperties,
    /// Formats each slot is written in, Parquet first.
    pub formats: Vec<OutputFormat>,
    /// Where the invocation's summary and metrics go (stdout in Lambda).
    pub metrics: Metrics,
}

impl<S> Sink<S> {
    pub fn new(store: S, config: &SinkConfig) -> Self {
        Self {
            store,
            layout: config.lake.layout.clone(),
            properties: lake::writer::writer_properties(
                config.lake.compression,
                concat!("user-lake sink ", env!("CARGO_PKG_VERSION")),
            ),
            formats: config.output_formats.clone(),
            metrics: Metrics::stdout(config.metrics.clone()),
        }
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
pub async fn handle_bytes<S: ObjectStore>(
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
pub async fn handle_json<S: ObjectStore>(
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
pub async fn handle<S: ObjectStore>(
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

async fn store_batch<S: ObjectStore>(
    batch: Batch<'_>,
    sink: &Sink<S>,
    now: DateTime<Utc>,
    observed: &mut Observed,
) -> Result<SinkSummary, SinkError> {
    let mut batcher = batch::Batcher::default();
    let mut oldest: Option<DateTime<Utc>> = None;
    let decoded = decode::decode(batch, |row| {
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
    let mut objects = data_objects(&slots, sink, observed)?;
    objects.extend(error_objects(&decoded.rejected, &sink.layout, now));

    let keys: Vec<String> = objects.iter().map(|o| o.key.clone()).collect();
    let puts = objects.into_iter().map(|o| async move {
        let size = o.body.len();
        sink.store
            .put(&o.key, o.body, o.content_type)
            .await
            .map(|()| size)
    });
    let mut failures = Vec::new();
    for put in join_all(puts).await {
        match put {
            Ok(size) => {
                observed.objects += 1;
                observed.bytes += size;
            }
            Err(error) => failures.push(error),
        }
    }
    let failed = failures.len();
    // The failure to report is one that needs someone to act, if there is one.
    let needs_action = failures.iter().position(|e| !e.retry().is_retryable());
    if let Some(first) = needs_action.or((!failures.is_empty()).then_some(0)) {
        let first = failures.swap_remove(first);
        let attempted = keys.len();
        if first.retry().is_retryable() {
            tracing::warn!(failed, attempted, error = %first, "lake write failed; the batch will be retried");
        } else {
            tracing::error!(failed, attempted, error = %first, code = first.code(), "lake write refused; the batch fails until the bucket or the role is fixed");
        }
        return Err(SinkError::Store {
            attempted: keys.len(),
            failed,
            first,
        });
    }

    let summary = SinkSummary {
        records: decoded.len(),
        written: decoded.accepted,
        rejected: decoded.rejected.len(),
        objects: keys,
        bytes: observed.bytes,
    };
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
                OutputFormat::Csv => text(lake::text::csv(&slot.batch)),
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

/// A stable 64-bit digest (FNV-1a), to name error objects whose entries carry no offset.
fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}
