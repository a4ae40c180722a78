//! The compactor's work when the lake is the Iceberg table (`LAKE_FORMAT=iceberg`, the
//! default): merge each closed hour's data files, then expire old snapshots and delete the files
//! nothing references any more.
//!
//! Why it differs from the plain-files path: a reader of the table sees snapshots, not a
//! listing. A merge is one `Replace` commit per hour that swaps the hour's small files for the
//! merged ones atomically: a query planned before it reads the small files, one planned after
//! reads the merged ones, none sees both or neither. So there is no window of duplicates and
//! no delete delay; the small files simply stay in the bucket, named by the earlier snapshots,
//! until those expire (`SNAPSHOT_RETENTION_HOURS` after a later commit replaced them) and the
//! files are older than `ORPHAN_MIN_AGE_HOURS`. Then the removal deletes them, with the files
//! of any writer that died before its commit ([`table::maintenance`]).
//!
//! The sink keeps appending meanwhile. A rewrite that loses the swap to an append is committed
//! again on the new state with the same merged files (an append removes nothing, so they still
//! replace the same rows); one that finds a file it replaces gone (`Stale`: another engine
//! rewrote the hour) plans the hour again, a bounded number of times. The offset marks pass
//! through every rewrite and expiry unchanged. Work stops a reserve before the invocation's
//! deadline, and what is left is counted as deferred for the next run.

use std::{collections::BTreeMap, time::Instant};

use arrow::{
    array::RecordBatch,
    compute::{SortColumn, concat_batches, lexsort_to_indices, take_record_batch},
    error::ArrowError,
};
use chrono::{DateTime, Duration, Utc};
use lake::{LakeStore, lake_schema};
use table::{
    Catalog, Change, OpenedTable, State, Table, TableError, files,
    maintenance::Retention,
    manifest::{DataFile, ManifestEntry},
    spec::Schema,
};

use crate::{CompactError, CompactSummary, Compactor, Run};

/// Time kept back before the invocation's deadline: no hour is started and no clean-up begun
/// with less than this left.
pub const RESERVE: Duration = Duration::minutes(2);
/// How many times an hour is planned again after finding a file it replaces already gone.
pub const MAX_PLANS: u32 = 3;
/// The name merged data files start with (`compacted-<uuid>.parquet`).
pub const MERGED_NAME: &str = "compacted";

/// The Iceberg table the compactor maintains (in the lake bucket: a table whose catalog
/// maintains it, in S3 Tables, is left alone).
pub struct TableTarget {
    /// Its catalog and location, opened at start-up by `main.rs` (or a test) with
    /// [`Compactor::with_table`].
    pub opened: Option<OpenedTable>,
    /// Which snapshots stay when the others expire.
    pub retention: Retention,
    /// Age an unreferenced file must reach before it is deleted.
    pub orphan_min_age: Duration,
}

/// The run's clock and budget: the wall time it judges ages by (its start by the clock, moved
/// on by a monotonic clock) and when it stops starting work.
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    started_at: DateTime<Utc>,
    started: Instant,
    stop: Instant,
}

impl Clock {
    /// The clock of `run`, which began at `started`.
    pub fn of(run: &Run, started: Instant) -> Self {
        let span = (run.deadline - run.started - RESERVE)
            .to_std()
            .unwrap_or_default();
        Self {
            started_at: run.started,
            started,
            stop: started + span,
        }
    }

    /// The time now, for snapshot timestamps and ages.
    pub fn now(&self) -> DateTime<Utc> {
        self.started_at + Duration::from_std(self.started.elapsed()).unwrap_or_default()
    }

    /// Whether too little time is left to start more work.
    pub fn spent(&self) -> bool {
        Instant::now() >= self.stop
    }
}

/// One hour's data files, packed into groups that each become one merged file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourPlan {
    /// Hours since the epoch (the partition value).
    pub hour: i32,
    pub groups: Vec<Vec<DataFile>>,
}

/// Whether the partition of `hour` is closed as of `now`: its hour and the grace after it are
/// over, as the plain-files layout's partitions close.
pub fn is_closed(hour: i32, now: DateTime<Utc>, grace: Duration) -> bool {
    let start = DateTime::from_timestamp(i64::from(hour) * 3600, 0).unwrap_or_default();
    start + Duration::hours(1) + grace <= now
}

/// Where a data file starts on the topic: its lowest topic, partition and offset (from the
/// manifest's bounds), then its path.
fn position(file: &DataFile, schema: &Schema) -> (Vec<u8>, i64, i64, String) {
    let lower = |name: &str| {
        schema
            .field(name)
            .and_then(|f| file.lower_bounds.get(&f.id))
    };
    let int = |name: &str| lower(name).and_then(|b| files::bound_value(b));
    (
        lower("kafka_topic").cloned().unwrap_or_default(),
        int("kafka_partition").unwrap_or(i64::MIN),
        int("kafka_offset").unwrap_or(i64::MIN),
        file.file_path.clone(),
    )
}

/// Packs one hour's files, in topic order, into groups whose sizes add up to at most `target`
/// bytes; a group of one file is left as it is (a file larger than the target included).
pub fn pack(mut hour_files: Vec<DataFile>, schema: &Schema, target: u64) -> Vec<Vec<DataFile>> {
    hour_files.sort_by_cached_key(|f| position(f, schema));
    let mut groups: Vec<Vec<DataFile>> = Vec::new();
    let mut size = 0;
    for file in hour_files {
        let bytes = file.file_size_in_bytes.max(0) as u64;
        match groups.last_mut() {
            Some(group) if size + bytes <= target => {
                size += bytes;
                group.push(file);
            }
            _ => {
                size = bytes;
                groups.push(vec![file]);
            }
        }
    }
    groups.retain(|g| g.len() > 1);
    groups
}

/// The hours of `live` with something to merge: closed ones as plans, oldest first, and how
/// many open ones were left for later.
pub fn plan(
    live: &[ManifestEntry],
    schema: &Schema,
    now: DateTime<Utc>,
    grace: Duration,
    target: u64,
) -> (Vec<HourPlan>, usize) {
    let mut by_hour: BTreeMap<i32, Vec<DataFile>> = BTreeMap::new();
    for entry in live {
        if let Some(hour) = entry.data_file.partition_hour {
            by_hour
                .entry(hour)
                .or_default()
                .push(entry.data_file.clone());
        }
    }
    let mut plans = Vec::new();
    let mut open = 0;
    for (hour, hour_files) in by_hour {
        if hour_files.len() < 2 {
            continue;
        }
        if !is_closed(hour, now, grace) {
            open += 1;
            continue;
        }
        let groups = pack(hour_files, schema, target);
        if !groups.is_empty() {
            plans.push(HourPlan { hour, groups });
        }
    }
    (plans, open)
}

/// The rows of `batches` (all of one schema: the table's form of its current schema, or the
/// lake's) sorted by topic, partition and offset (then Kafka time, which tells apart two
/// generations of a topic whose offsets started again).
pub fn sort_rows(batches: &[RecordBatch]) -> Result<RecordBatch, ArrowError> {
    let schema = batches
        .first()
        .map_or_else(lake_schema, RecordBatch::schema);
    let all = concat_batches(&schema, batches)?;
    let columns = [
        "kafka_topic",
        "kafka_partition",
        "kafka_offset",
        "kafka_timestamp",
    ]
    .iter()
    .map(|name| {
        all.column_by_name(name)
            .cloned()
            .map(|values| SortColumn {
                values,
                options: None,
            })
            .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))
    })
    .collect::<Result<Vec<_>, _>>()?;
    let order = lexsort_to_indices(&columns, None)?;
    take_record_batch(&all, &order)
}

fn failed(what: String) -> impl FnOnce(TableError) -> CompactError {
    move |source| CompactError::Table { what, source }
}

/// Merges one group: reads its files, checks their rows against the manifest's counts, and
/// writes them sorted as one new data file (not yet in the table).
async fn merge_group<S, T: LakeStore, C: Catalog>(
    table: &Table<T, C>,
    compactor: &Compactor<S>,
    schema: &Schema,
    hour: i32,
    group: &[DataFile],
) -> Result<DataFile, CompactError> {
    let mut batches = Vec::with_capacity(group.len());
    for file in group {
        let batch = table
            .read_table_file(&file.file_path, schema)
            .await
            .map_err(failed(format!("reading {}", file.file_path)))?;
        if batch.num_rows() as i64 != file.record_count {
            return Err(CompactError::Rewrite {
                partition: files::partition_path(hour),
                reason: format!(
                    "{} holds {} rows, its manifest says {}",
                    file.file_path,
                    batch.num_rows(),
                    file.record_count
                ),
            });
        }
        batches.push(batch);
    }
    let sorted = sort_rows(&batches).map_err(|e| CompactError::Rewrite {
        partition: files::partition_path(hour),
        reason: e.to_string(),
    })?;
    table
        .write_data_file(&sorted, schema, hour, MERGED_NAME, &compactor.properties)
        .await
        .map_err(failed(format!("writing {}", files::partition_path(hour))))
}

/// The wait before attempt `n` after a lost swap: 20 ms doubling to 1 s, with jitter.
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 20u64 << attempt.min(6);
    let random = std::hash::BuildHasher::hash_one(&std::hash::RandomState::new(), attempt);
    let jitter = (random % 256) * base / 255;
    std::time::Duration::from_millis((base + jitter).min(1_000))
}

/// Commits `change`, starting on `state` and on each newer state after a lost swap.
/// `Ok(None)` when a file it replaces is gone (the hour must be planned again).
async fn commit<S: LakeStore, C: Catalog>(
    table: &Table<S, C>,
    state: &State,
    change: &Change,
    clock: &Clock,
    summary: &mut CompactSummary,
) -> Result<Option<State>, TableError> {
    let mut current = state.clone();
    for attempt in 0..table.max_attempts {
        if attempt > 0 {
            tokio::time::sleep(backoff(attempt)).await;
            match table.load().await? {
                Some(state) => current = state,
                None => return Ok(None),
            }
        }
        match table.try_commit(&current, change, clock.now()).await {
            Ok(Some(next)) => return Ok(Some(next)),
            Ok(None) => summary.commit_conflicts += 1,
            Err(TableError::Stale { path }) => {
                tracing::info!(%path, "a file to replace is gone; the hour is planned again");
                return Ok(None);
            }
            Err(error) => return Err(error),
        }
    }
    Err(TableError::Contended {
        attempts: table.max_attempts,
    })
}

/// How an hour's compaction ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    /// Every group merged and committed, or nothing was left to merge.
    Done,
    /// The deadline came near after some groups: those were committed, the rest waits.
    Partial,
    /// Every plan found a file it replaces already gone.
    Unsettled,
}

/// Compacts one hour: merges its groups and commits them as one rewrite, planning again on the
/// newest state when a file it replaces is gone. Once a group is merged, no further one is
/// started when the deadline is near; the groups merged are committed.
async fn compact_hour<S, T: LakeStore, C: Catalog>(
    table: &Table<T, C>,
    compactor: &Compactor<S>,
    state: &mut State,
    first: &HourPlan,
    clock: &Clock,
    summary: &mut CompactSummary,
) -> Result<Outcome, CompactError> {
    let hour = first.hour;
    let partition = files::partition_path(hour);
    let what = || format!("compacting {partition}");
    let mut groups = first.groups.clone();
    for attempt in 0..MAX_PLANS {
        if attempt > 0 {
            let Some(latest) = table.load().await.map_err(failed(what()))? else {
                return Ok(Outcome::Done);
            };
            *state = latest;
            let Some(snapshot) = state.metadata.current_snapshot() else {
                return Ok(Outcome::Done);
            };
            let live = table.live_files(snapshot).await.map_err(failed(what()))?;
            let hour_files = live
                .into_iter()
                .map(|e| e.data_file)
                .filter(|f| f.partition_hour == Some(hour))
                .collect();
            groups = pack(hour_files, state.metadata.schema(), compactor.target_bytes);
        }
        if groups.is_empty() {
            return Ok(Outcome::Done);
        }
        let schema = state.metadata.schema().clone();
        let mut added = Vec::with_capacity(groups.len());
        for group in &groups {
            if !added.is_empty() && clock.spent() {
                break;
            }
            added.push(merge_group(table, compactor, &schema, hour, group).await?);
        }
        let merged = &groups[..added.len()];
        let removed: Vec<&DataFile> = merged.iter().flatten().collect();
        let rows_in: i64 = removed.iter().map(|f| f.record_count).sum();
        let rows_out: i64 = added.iter().map(|f| f.record_count).sum();
        if rows_in != rows_out {
            return Err(CompactError::Rewrite {
                partition,
                reason: format!("{rows_in} rows replaced by {rows_out}"),
            });
        }
        let change = Change::Replace {
            removed: removed.iter().map(|f| f.file_path.clone()).collect(),
            added: added.clone(),
        };
        let committed = commit(table, state, &change, clock, summary)
            .await
            .map_err(failed(what()))?;
        if let Some(next) = committed {
            *state = next;
            summary.files_merged += removed.len();
            summary.files_written += added.len();
            summary.rows += rows_out as usize;
            summary.bytes_read += removed
                .iter()
                .map(|f| f.file_size_in_bytes.max(0) as u64)
                .sum::<u64>();
            summary.bytes_written += added
                .iter()
                .map(|f| f.file_size_in_bytes.max(0) as u64)
                .sum::<u64>();
            tracing::info!(
                %partition,
                merged = removed.len(),
                written = added.len(),
                rows = rows_out,
                snapshot = state.metadata.current_snapshot_id,
                "hour rewritten"
            );
            return Ok(if added.len() < groups.len() {
                Outcome::Partial
            } else {
                Outcome::Done
            });
        }
    }
    Ok(Outcome::Unsettled)
}

/// One run on the table: the closed hours merged, then snapshots expired and unreferenced
/// files deleted, each step as far as the budget allows. A failed hour does not stop the
/// others or the clean-up; the run then fails naming the first.
pub async fn maintain<S: LakeStore>(
    compactor: &Compactor<S>,
    target: &TableTarget,
    clock: &Clock,
    now: DateTime<Utc>,
) -> Result<CompactSummary, CompactError> {
    let opened = target.opened.as_ref().ok_or(CompactError::NoCatalog)?;
    let table = Table::new(&compactor.store, &opened.catalog, opened.location.clone());
    let mut summary = CompactSummary::default();
    let Some(mut state) = table
        .load()
        .await
        .map_err(failed("loading the table".into()))?
    else {
        // No commit yet, so nothing to merge and nothing to clean.
        return Ok(summary);
    };
    let mut first_failure: Option<(String, CompactError)> = None;
    if let Some(snapshot) = state.metadata.current_snapshot() {
        let live = table
            .live_files(snapshot)
            .await
            .map_err(failed("reading the current snapshot".into()))?;
        let (plans, open) = plan(
            &live,
            state.metadata.schema(),
            now,
            compactor.grace,
            compactor.target_bytes,
        );
        summary.open = open;
        for (done, hour_plan) in plans.iter().enumerate() {
            if clock.spent() {
                summary.hours_deferred += plans.len() - done;
                tracing::warn!(
                    deferred = plans.len() - done,
                    "the deadline is near; the next run compacts the hours left"
                );
                break;
            }
            summary.partitions += 1;
            let outcome = compact_hour(
                &table,
                compactor,
                &mut state,
                hour_plan,
                clock,
                &mut summary,
            )
            .await;
            let partition = files::partition_path(hour_plan.hour);
            match outcome {
                Ok(Outcome::Done) => {}
                Ok(Outcome::Partial) => {
                    summary.hours_deferred += 1;
                    tracing::warn!(%partition, "the deadline is near; the next run merges the rest of the hour");
                }
                Ok(Outcome::Unsettled) => {
                    summary.hours_deferred += 1;
                    tracing::warn!(%partition, "the hour kept changing under its rewrite; the next run compacts it");
                }
                Err(CompactError::Table {
                    source: TableError::Contended { attempts },
                    ..
                }) => {
                    summary.hours_deferred += 1;
                    tracing::warn!(%partition, attempts, "the rewrite kept losing the swap; the next run compacts the hour");
                }
                Err(error) => {
                    summary.failed += 1;
                    tracing::warn!(%partition, %error, "hour not compacted; the next run retries it");
                    first_failure.get_or_insert((partition, error));
                }
            }
        }
    }
    let mut cleanup_failure = None;
    if clock.spent() {
        summary.cleanup_deferred = true;
    } else {
        match table.expire_snapshots(&target.retention, clock.now()).await {
            Ok(expired) => {
                summary.snapshots_expired = expired.snapshots.len();
                summary.commit_conflicts += expired.conflicts as usize;
            }
            Err(source) => {
                tracing::warn!(error = %source, "snapshots not expired; the next run retries");
                cleanup_failure.get_or_insert(CompactError::Table {
                    what: "expiring snapshots".into(),
                    source,
                });
            }
        }
    }
    if clock.spent() {
        summary.cleanup_deferred = true;
    } else {
        match table
            .remove_unreferenced(target.orphan_min_age, clock.now())
            .await
        {
            Ok(removal) => {
                summary.files_deleted = removal.deleted.len();
                summary.files_waiting = removal.waiting;
            }
            Err(source) => {
                tracing::warn!(error = %source, "unreferenced files not removed; the next run retries");
                cleanup_failure.get_or_insert(CompactError::Table {
                    what: "removing unreferenced files".into(),
                    source,
                });
            }
        }
    }
    if summary.cleanup_deferred {
        tracing::warn!("the deadline is near; the next run expires snapshots and removes files");
    }
    match (first_failure, cleanup_failure) {
        (Some((dir, first)), _) => Err(CompactError::Partitions {
            failed: summary.failed,
            dir,
            first: Box::new(first),
        }),
        (None, Some(error)) => Err(error),
        (None, None) => Ok(summary),
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use table::{manifest::Status, spec::lake_table_schema};

    fn file(path: &str, hour: i32, partition: i32, first: i64, size: i64) -> DataFile {
        let schema = lake_table_schema();
        let id = |name: &str| schema.field(name).unwrap().id;
        DataFile {
            file_path: path.into(),
            partition_hour: Some(hour),
            record_count: 1,
            file_size_in_bytes: size,
            value_counts: BTreeMap::new(),
            null_value_counts: BTreeMap::new(),
            lower_bounds: BTreeMap::from([
                (id("kafka_topic"), b"users_created".to_vec()),
                (id("kafka_partition"), partition.to_le_bytes().to_vec()),
                (id("kafka_offset"), first.to_le_bytes().to_vec()),
            ]),
            upper_bounds: BTreeMap::new(),
        }
    }

    fn entry(data_file: DataFile) -> ManifestEntry {
        ManifestEntry {
            status: Status::Added,
            snapshot_id: 1,
            sequence_number: 1,
            file_sequence_number: 1,
            data_file,
        }
    }

    fn at(hour: i32, minute: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(i64::from(hour) * 3600, 0).unwrap() + Duration::minutes(minute)
    }

    #[test]
    fn an_hour_closes_when_it_and_the_grace_after_it_are_over() {
        let grace = Duration::minutes(30);
        assert!(!is_closed(100, at(101, 29), grace));
        assert!(is_closed(100, at(101, 30), grace));
    }

    #[test]
    fn files_are_packed_in_topic_order_up_to_the_target_and_lone_files_stay() {
        let schema = lake_table_schema();
        let groups = pack(
            vec![
                file("e", 7, 1, 0, 40),
                file("b", 7, 0, 10, 40),
                file("a", 7, 0, 2, 40),
                file("big", 7, 2, 0, 500),
                file("c", 7, 0, 100, 40),
                file("d", 7, 2, 9, 10),
            ],
            &schema,
            100,
        );
        let paths: Vec<Vec<&str>> = groups
            .iter()
            .map(|g| g.iter().map(|f| f.file_path.as_str()).collect())
            .collect();
        // offsets compare as numbers (100 after 10), and "big" and "d" stay as they are
        assert_eq!(paths, vec![vec!["a", "b"], vec!["c", "e"]]);
    }

    #[test]
    fn only_closed_hours_with_several_files_are_planned() {
        let schema = lake_table_schema();
        let live = [
            entry(file("a", 10, 0, 0, 1)),
            entry(file("b", 10, 0, 5, 1)),
            entry(file("c", 11, 0, 9, 1)),
            entry(file("d", 12, 0, 20, 1)),
            entry(file("e", 12, 0, 30, 1)),
        ];
        let (plans, open) = plan(&live, &schema, at(12, 59), Duration::zero(), 100);
        assert_eq!(plans.len(), 1);
        assert_eq!(plans[0].hour, 10);
        assert_eq!(open, 1, "hour 12 is still open; hour 11 has one file");
    }
}
