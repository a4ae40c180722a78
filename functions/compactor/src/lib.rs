//! The compactor function: once an hour partition of the lake is closed, merge the sink's many
//! small Parquet objects into as few as the target size allows, rows sorted by
//! `kafka_partition, kafka_offset`, and remove the originals.
//!
//! The order of steps is what makes it safe. For each group of originals: read them, write the
//! merged object (its footer lists the spans of the originals it replaces), and only then
//! delete the originals. A reader listing the partition after a run sees every row once; a run
//! that stops at any point leaves at worst an original beside the merged object that holds its
//! rows, and the next run, reading the merged objects' footers, deletes that original instead
//! of merging it again. Rows an earlier merged object holds are never written twice, so a
//! batch re-delivered into a compacted hour (by a replay, say) is absorbed too.
//!
//! `main.rs` builds the S3 client once per cold start and calls [`handle`] for every event;
//! tests call it with the lake crate's in-memory store.

pub mod config;
pub mod merge;
pub mod plan;

use chrono::{DateTime, Duration, Utc};
use lake::{Layout, ObjectStore, OutputFormat, StoreError};
use lambda_kit::{Classified, Retry};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};

pub use config::CompactorConfig;

use merge::MergeError;
use plan::{Coverage, HourPartition, Original};

/// The scheduled event: an EventBridge Scheduler envelope whose `detail` may carry `now`, the
/// time to judge closed partitions by (for backfills and the local demo); otherwise the clock.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CompactRequest {
    #[serde(default)]
    pub detail: CompactDetail,
}

/// The optional settings of one run.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
pub struct CompactDetail {
    /// Judge partitions as closed or open as of this time.
    #[serde(default)]
    pub now: Option<DateTime<Utc>>,
}

/// The invocation's answer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CompactSummary {
    /// Closed partitions that held originals, i.e. had work to do.
    pub partitions: usize,
    /// Partitions left alone because their hour (plus grace) is not over.
    pub open: usize,
    /// Partitions that failed; they are retried by the next run.
    pub failed: usize,
    /// Originals removed (merged now, or found already merged by an earlier run).
    pub originals_removed: usize,
    /// Merged objects written.
    pub merged_written: usize,
    /// Rows written into merged objects.
    pub rows: usize,
    /// Bytes of the originals read.
    pub bytes_read: u64,
    /// Bytes of the merged objects written.
    pub bytes_written: u64,
}

/// Why a partition could not be compacted.
#[derive(Debug, thiserror::Error)]
pub enum CompactError {
    /// The lake could not be listed, read, written or cleaned.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// An object could not be merged.
    #[error(transparent)]
    Merge(#[from] MergeError),
    /// Some partitions failed; the others were compacted.
    #[error("{failed} partition(s) failed to compact, first {dir}: {first}")]
    Partitions {
        failed: usize,
        dir: String,
        #[source]
        first: Box<CompactError>,
    },
}

impl Classified for CompactError {
    fn kind(&self) -> &'static str {
        match self {
            CompactError::Store(_) => "StoreFailed",
            CompactError::Merge(_) => "MergeFailed",
            CompactError::Partitions { .. } => "PartitionsFailed",
        }
    }

    /// A store failure is as retryable as S3 said; an object that cannot be merged stays so
    /// until someone removes or repairs it.
    fn retry(&self) -> Retry {
        match self {
            CompactError::Store(error) => error.retry(),
            CompactError::Merge(_) => Retry::Fatal,
            CompactError::Partitions { first, .. } => first.retry(),
        }
    }
}

impl From<CompactError> for lambda_runtime::Diagnostic {
    fn from(error: CompactError) -> Self {
        lambda_kit::diagnostic(&error)
    }
}

/// The long-lived parts of the compactor.
pub struct Compactor<S> {
    pub store: S,
    pub layout: Layout,
    pub properties: WriterProperties,
    pub grace: Duration,
    pub target_bytes: u64,
}

impl<S> Compactor<S> {
    pub fn new(store: S, config: &CompactorConfig) -> Self {
        Self {
            store,
            layout: config.lake.layout.clone(),
            properties: lake::writer::writer_properties(
                config.lake.compression,
                concat!("user-lake compactor ", env!("CARGO_PKG_VERSION")),
            ),
            grace: config.grace,
            target_bytes: config.target_bytes,
        }
    }
}

/// Compacts every closed hour partition under `users/` that still holds originals.
pub async fn handle<S: ObjectStore>(
    compactor: &Compactor<S>,
    now: DateTime<Utc>,
) -> Result<CompactSummary, CompactError> {
    let root = compactor.layout.root(OutputFormat::Parquet);
    let listed = compactor.store.list(&root).await?;
    let mut summary = CompactSummary::default();
    let mut first_failure = None;
    for partition in plan::partitions(&compactor.layout, listed) {
        if partition.originals.is_empty() {
            continue;
        }
        if !partition.is_closed(now, compactor.grace) {
            summary.open += 1;
            continue;
        }
        summary.partitions += 1;
        if let Err(error) = compact_partition(compactor, &partition, &mut summary).await {
            summary.failed += 1;
            tracing::warn!(dir = %partition.dir, error = %error, "partition not compacted; the next run retries it");
            first_failure.get_or_insert((partition.dir.clone(), error));
        }
    }
    tracing::info!(
        partitions = summary.partitions,
        open = summary.open,
        failed = summary.failed,
        originals_removed = summary.originals_removed,
        merged_written = summary.merged_written,
        rows = summary.rows,
        bytes_read = summary.bytes_read,
        bytes_written = summary.bytes_written,
        "compaction run finished"
    );
    match first_failure {
        None => Ok(summary),
        Some((dir, first)) => Err(CompactError::Partitions {
            failed: summary.failed,
            dir,
            first: Box::new(first),
        }),
    }
}

/// One partition: finish what an earlier run left (originals whose rows a merged object holds
/// are deleted), then merge the rest group by group, each written before its inputs go.
async fn compact_partition<S: ObjectStore>(
    compactor: &Compactor<S>,
    partition: &HourPartition,
    summary: &mut CompactSummary,
) -> Result<(), CompactError> {
    let store = &compactor.store;
    let mut coverage = Coverage::default();
    for merged in &partition.merged {
        let body = store.get(&merged.key).await?;
        coverage.0.extend(merge::spans(&merged.key, body)?);
    }
    let (done, todo): (Vec<&Original>, Vec<&Original>) = partition
        .originals
        .iter()
        .partition(|o| coverage.covers(&o.span));
    for original in done {
        store.delete(&original.object.key).await?;
        summary.originals_removed += 1;
    }
    for group in plan::groups(todo.into_iter().cloned().collect(), compactor.target_bytes) {
        let mut batches = Vec::new();
        for original in &group {
            let body = store.get(&original.object.key).await?;
            summary.bytes_read += body.len() as u64;
            batches.extend(merge::read(&original.object.key, body)?);
        }
        let merged = merge::merge(&batches, &coverage)?;
        let spans: Vec<lake::Span> = group.iter().map(|o| o.span.clone()).collect();
        if merged.num_rows() > 0 {
            let body = merge::encode(&merged, &spans, &compactor.properties)?;
            let key = plan::merged_key(&compactor.layout, partition.hour, &group);
            summary.bytes_written += body.len() as u64;
            store
                .put(&key, body, OutputFormat::Parquet.content_type())
                .await?;
            summary.merged_written += 1;
            summary.rows += merged.num_rows();
        }
        coverage.0.extend(spans);
        for original in &group {
            store.delete(&original.object.key).await?;
            summary.originals_removed += 1;
        }
    }
    Ok(())
}
