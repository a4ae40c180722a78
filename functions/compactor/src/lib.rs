//! The compactor function: once an hour partition of the lake is closed, merge the sink's many
//! small Parquet files into as few as the target size allows, and clean up after itself.
//!
//! On the Iceberg table (`LAKE_FORMAT=iceberg`, the default) that is [`iceberg`]: one atomic
//! rewrite commit per closed hour, rows sorted by `kafka_topic, kafka_partition, kafka_offset`,
//! then the snapshots that stopped being current more than `SNAPSHOT_RETENTION_HOURS` ago
//! expired, and the files nothing references any more (and older than `ORPHAN_MIN_AGE_HOURS`)
//! deleted. A table in Amazon S3 Tables (`ICEBERG_CATALOG=s3tables:…`) is left alone: S3
//! Tables compacts it, expires its snapshots and removes its unreferenced files itself, and its
//! table buckets refuse the listing and deletes the removal would need (docs/table.md).
//!
//! On the plain-files layout (`LAKE_FORMAT=files`) it merges the objects under `users/`, rows
//! sorted by `kafka_partition, kafka_offset`, and removes the originals. The order of steps is
//! what makes that safe. For each group of originals: read them, write the merged object (its
//! footer lists the spans of the originals it replaces), and only later delete the originals:
//! once the merged object is `COMPACTION_DELETE_DELAY_MINUTES` old, so that a query that listed
//! an original before the merge can still read it (a reader of the partition meanwhile sees
//! those rows twice, and de-duplicates on the Kafka coordinates). A run that stops at any point
//! leaves at worst an original beside the merged object that holds its rows, and a later run,
//! reading the merged objects' footers, deletes that original instead of merging it again.
//! Rows an earlier merged object holds are never written twice, so a batch re-delivered into a
//! compacted hour (by a replay, say) is absorbed too.
//!
//! Only one run works at a time, in either layout ([`lease`]); a run that finds another at work
//! does nothing. Every run ends with one summary line that is also its CloudWatch metrics
//! ([`metrics`]).
//!
//! `main.rs` builds the S3 client (and the table's catalog) once per cold start and calls
//! [`handle`] for every event; tests call it with the lake crate's in-memory store and the
//! table crate's in-memory catalog.

pub mod config;
pub mod iceberg;
pub mod lease;
pub mod merge;
pub mod metrics;
pub mod plan;

use chrono::{DateTime, Duration, Utc};
use lake::{LakeStore, Layout, OutputFormat, StoreError};
use lambda_kit::{Classified, Retry, emf::Metrics};
use parquet::file::properties::WriterProperties;
use serde::{Deserialize, Serialize};
use table::{OpenedTable, TableConfig, TableError};

pub use config::CompactorConfig;
pub use iceberg::TableTarget;

use merge::MergeError;
use plan::{Coverage, HourPartition};

/// One invocation: who runs it, the time it judges by, when it started and when Lambda will
/// stop it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    /// The invocation's request id (the lease's holder).
    pub id: String,
    /// Partitions are closed or open, and originals old enough to delete, as of this time (the
    /// clock, unless the event says otherwise).
    pub now: DateTime<Utc>,
    /// When the invocation started, by the clock (the lease and the metrics are stamped so).
    pub started: DateTime<Utc>,
    /// When the invocation's time is up.
    pub deadline: DateTime<Utc>,
}

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
    /// Another run held the lease, so this one did nothing; it names the holder.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub skipped_for: Option<String>,
    /// Closed partitions that held originals, i.e. had work to do.
    pub partitions: usize,
    /// Partitions left alone because their hour (plus grace) is not over.
    pub open: usize,
    /// Partitions that failed; they are retried by the next run.
    pub failed: usize,
    /// Originals removed (their rows in a merged object at least the delete delay old).
    pub originals_removed: usize,
    /// Originals whose rows a merged object holds, kept until it is old enough.
    #[serde(default)]
    pub originals_waiting: usize,
    /// Merged objects written.
    pub merged_written: usize,
    /// Rows written into merged objects.
    pub rows: usize,
    /// Bytes of the originals read.
    pub bytes_read: u64,
    /// Bytes of the merged objects written.
    pub bytes_written: u64,
    /// Table data files replaced by merged ones (committed rewrites only).
    #[serde(default)]
    pub files_merged: usize,
    /// Merged table data files committed.
    #[serde(default)]
    pub files_written: usize,
    /// Closed hours with files to merge left for the next run: the deadline was near, or the
    /// hour kept changing under its rewrite.
    #[serde(default)]
    pub hours_deferred: usize,
    /// Table commits lost to another writer and tried again.
    #[serde(default)]
    pub commit_conflicts: usize,
    /// Table snapshots expired.
    #[serde(default)]
    pub snapshots_expired: usize,
    /// Table files deleted because nothing references them any more.
    #[serde(default)]
    pub files_deleted: usize,
    /// Table files nothing references that are too young to delete yet.
    #[serde(default)]
    pub files_waiting: usize,
    /// The deadline was near before the snapshot expiry or the file removal ran.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub cleanup_deferred: bool,
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
    /// The compactor is set up for the Iceberg table but was given no catalog (a wiring defect).
    #[error("LAKE_FORMAT=iceberg but the compactor was built without a catalog")]
    NoCatalog,
    /// A step on the table failed.
    #[error("{what}: {source}")]
    Table {
        what: String,
        #[source]
        source: TableError,
    },
    /// A rewrite would not hold exactly the rows it replaces; nothing was committed.
    #[error("the rewrite of {partition} is refused: {reason}")]
    Rewrite { partition: String, reason: String },
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
            CompactError::NoCatalog => "NoCatalog",
            CompactError::Table { .. } => "TableFailed",
            CompactError::Rewrite { .. } => "RewriteFailed",
            CompactError::Partitions { .. } => "PartitionsFailed",
        }
    }

    /// A store failure is as retryable as S3 said; an object that cannot be merged stays so
    /// until someone removes or repairs it.
    fn retry(&self) -> Retry {
        match self {
            CompactError::Store(error) => error.retry(),
            CompactError::Merge(_) | CompactError::NoCatalog | CompactError::Rewrite { .. } => {
                Retry::Fatal
            }
            CompactError::Table { source, .. } => source.retry(),
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
    /// How old a merged object must be before the originals it holds are deleted.
    pub delete_delay: Duration,
    /// Where the run's summary and metrics go (stdout in Lambda).
    pub metrics: Metrics,
    /// The table, unless the lake is plain files (`LAKE_FORMAT=files`) or its catalog
    /// maintains it.
    pub table: Option<TableTarget>,
    /// The table's catalog maintains it (S3 Tables): a run does nothing.
    pub maintained_by_catalog: bool,
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
            delete_delay: config.delete_delay,
            metrics: Metrics::stdout(config.metrics.clone()),
            table: config
                .table
                .as_ref()
                .filter(|table| !table.maintained_by_catalog())
                .map(|_| TableTarget {
                    opened: None,
                    retention: config.retention,
                    orphan_min_age: config.orphan_min_age,
                }),
            maintained_by_catalog: config
                .table
                .as_ref()
                .is_some_and(TableConfig::maintained_by_catalog),
        }
    }

    /// The compactor with the table opened (one for the plain-files layout, or for a table its
    /// catalog maintains, ignores it).
    pub fn with_table(mut self, opened: OpenedTable) -> Self {
        if let Some(table) = &mut self.table {
            table.opened = Some(opened);
        }
        self
    }
}

/// Takes the lease, compacts every closed hour partition (and, on the table, expires snapshots
/// and removes unreferenced files), gives the lease back, and emits the run's summary.
pub async fn handle<S: LakeStore>(
    compactor: &Compactor<S>,
    run: &Run,
) -> Result<CompactSummary, CompactError> {
    let started = std::time::Instant::now();
    let result = lease_and_compact(compactor, run, started).await;
    compactor.metrics.emit(&metrics::summary(
        &compactor.metrics,
        run.started,
        started.elapsed(),
        &result,
    ));
    result
}

async fn lease_and_compact<S: LakeStore>(
    compactor: &Compactor<S>,
    run: &Run,
    started: std::time::Instant,
) -> Result<CompactSummary, CompactError> {
    if compactor.maintained_by_catalog {
        tracing::info!(
            "the table's catalog (S3 Tables) compacts it, expires its snapshots and removes its unreferenced files: nothing to do"
        );
        return Ok(CompactSummary::default());
    }
    let (store, layout) = (&compactor.store, &compactor.layout);
    let lease = match lease::take(store, layout, &run.id, run.started, run.deadline).await? {
        lease::Taken::Held(lease) => lease,
        lease::Taken::Busy(other) => {
            return Ok(CompactSummary {
                skipped_for: Some(other.holder),
                ..CompactSummary::default()
            });
        }
    };
    let clock = iceberg::Clock::of(run, started);
    let result = match &compactor.table {
        Some(target) => Box::pin(iceberg::maintain(compactor, target, &clock, run.now)).await,
        None => compact(compactor, run, &clock).await,
    };
    if let Err(error) = lease::give_back(store, layout, &lease).await {
        // The lease expires on its own; the next run takes it over then.
        tracing::warn!(%error, "cannot give the compaction lease back");
    }
    result
}

/// Compacts every closed hour partition under `users/` that still holds originals: closed as
/// of the run's `now`, merged objects old enough by its clock (`started`). No hour and no group
/// is started with less than [`iceberg::RESERVE`] left before the deadline: what is left is
/// counted in `hours_deferred` for the next run.
async fn compact<S: LakeStore>(
    compactor: &Compactor<S>,
    run: &Run,
    clock: &iceberg::Clock,
) -> Result<CompactSummary, CompactError> {
    let root = compactor.layout.root(OutputFormat::Parquet);
    let listed = compactor.store.list(&root).await?;
    let mut summary = CompactSummary::default();
    let mut first_failure = None;
    for partition in plan::partitions(&compactor.layout, listed) {
        if partition.originals.is_empty() {
            continue;
        }
        if !partition.is_closed(run.now, compactor.grace) {
            summary.open += 1;
            continue;
        }
        if clock.spent() {
            summary.hours_deferred += 1;
            continue;
        }
        summary.partitions += 1;
        match compact_partition(compactor, &partition, run.started, clock, &mut summary).await {
            Ok(true) => {}
            Ok(false) => summary.hours_deferred += 1,
            Err(error) => {
                summary.failed += 1;
                tracing::warn!(dir = %partition.dir, error = %error, "partition not compacted; the next run retries it");
                first_failure.get_or_insert((partition.dir.clone(), error));
            }
        }
    }
    if summary.hours_deferred > 0 {
        tracing::warn!(
            deferred = summary.hours_deferred,
            "the deadline is near; the next run compacts the hours left"
        );
    }
    match first_failure {
        None => Ok(summary),
        Some((dir, first)) => Err(CompactError::Partitions {
            failed: summary.failed,
            dir,
            first: Box::new(first),
        }),
    }
}

/// One partition: delete the originals whose rows a merged object old enough (as of `clock`)
/// holds, then merge the ones no merged object holds yet, group by group. A group's originals
/// are deleted at once when there is no delete delay, else by a later run. `false` when the
/// deadline came near before every group was merged: the next run merges the rest.
async fn compact_partition<S: LakeStore>(
    compactor: &Compactor<S>,
    partition: &HourPartition,
    clock: DateTime<Utc>,
    budget: &iceberg::Clock,
    summary: &mut CompactSummary,
) -> Result<bool, CompactError> {
    let store = &compactor.store;
    let mut coverage = Coverage::default();
    // The spans merged objects hold, and whether each is old enough for its originals to go.
    let mut settled = Coverage::default();
    for merged in &partition.merged {
        let body = store.get(&merged.key).await?;
        let spans = merge::spans(&merged.key, body)?;
        let old_enough = merged
            .modified
            .is_none_or(|written| written + compactor.delete_delay <= clock);
        if old_enough {
            settled.0.extend(spans.iter().cloned());
        }
        coverage.0.extend(spans);
    }
    let mut todo = Vec::new();
    for original in &partition.originals {
        if settled.covers(&original.span) {
            store.delete(&original.object.key).await?;
            summary.originals_removed += 1;
        } else if coverage.covers(&original.span) {
            summary.originals_waiting += 1;
        } else {
            todo.push(original.clone());
        }
    }
    for group in plan::groups(todo, compactor.target_bytes) {
        if budget.spent() {
            return Ok(false);
        }
        let mut batches = Vec::new();
        for original in &group {
            let body = store.get(&original.object.key).await?;
            summary.bytes_read += body.len() as u64;
            batches.extend(merge::read(&original.object.key, body)?);
        }
        let merged = merge::merge(&batches, &coverage)?;
        let spans: Vec<lake::Span> = group.iter().map(|o| o.span.clone()).collect();
        if merged.num_rows() == 0 {
            // Every row is in earlier merged objects already (a batch cut another way landed
            // again): the originals go once those objects are old enough.
            let held = merge::merge(&batches, &settled)?.num_rows() == 0;
            for original in &group {
                if held {
                    store.delete(&original.object.key).await?;
                    summary.originals_removed += 1;
                } else {
                    summary.originals_waiting += 1;
                }
            }
            continue;
        }
        let body = merge::encode(&merged, &spans, &compactor.properties)?;
        let key = plan::merged_key(&compactor.layout, partition.hour, &group);
        summary.bytes_written += body.len() as u64;
        store
            .put(&key, body, OutputFormat::Parquet.content_type())
            .await?;
        summary.merged_written += 1;
        summary.rows += merged.num_rows();
        coverage.0.extend(spans);
        if compactor.delete_delay > Duration::zero() {
            summary.originals_waiting += group.len();
            continue;
        }
        for original in &group {
            store.delete(&original.object.key).await?;
            summary.originals_removed += 1;
        }
    }
    Ok(true)
}
