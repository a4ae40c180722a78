//! The Iceberg table (`LAKE_FORMAT=iceberg`, the default) described from its metadata alone:
//! the metadata file, the current snapshot's manifest list and its manifests, never a data
//! file, so a look costs a few small reads however large the table grows, and none at all
//! while the metadata file is the one the last look read ([`LookCache`]). Its offset marks (per
//! topic-partition, the highest offset the table holds) measure how far the table is behind
//! the topic, beside the consumer group's lag.
//!
//! `--topic` applies: a data file's column bounds on `kafka_topic` say whether it holds the
//! topic's rows alone, none of them, or several topics' (counted whole, and `topic_note` says
//! so).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lake::{LakeStore, Layout};
use serde::Serialize;
use table::{Catalog, Marks, Table, TableError, spec::TableMetadata};

use crate::{
    StatusError,
    cache::LookCache,
    errors::{ErrorsStatus, errors_status},
    kafka::KafkaStatus,
};

/// One hour partition of the table (`hour(kafka_timestamp)`), from the manifests' entries.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableHourStatus {
    /// `dt=YYYY-MM-DD/hour=HH`, as the plain layout names its hours; `unpartitioned` for data
    /// files without a partition value.
    pub hour: String,
    /// The partition value: hours since 1970-01-01T00:00Z.
    pub partition_hour: Option<i32>,
    /// Data files of the hour in the current snapshot.
    pub files: usize,
    /// Rows in them (each record once).
    pub rows: u64,
}

/// One topic-partition's offset mark, and how far the table is behind the topic there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MarkStatus {
    pub topic: String,
    pub partition: i32,
    /// The highest offset the table holds; `None` for a partition of the topic the table has
    /// not seen.
    pub mark: Option<i64>,
    /// The partition's high watermark, when the topic was asked.
    pub end: Option<i64>,
    /// Records on the topic past the mark (`end - mark - 1`): not in the table yet, or
    /// rejected to `_errors/` at the partition's tail (a rejected record raises no mark).
    pub lag: Option<i64>,
}

/// The last compaction: the newest snapshot kept whose operation is `replace`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableCompaction {
    pub snapshot_id: i64,
    pub at: Option<DateTime<Utc>>,
    /// Data files it replaced (summary `deleted-data-files`).
    pub files_removed: Option<u64>,
    /// Data files it wrote in their place (summary `added-data-files`).
    pub files_added: Option<u64>,
}

/// What the Iceberg table holds of the topic, from its metadata and manifests (no data file
/// is read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableStatus {
    /// The topic the counts are of.
    pub topic: String,
    /// The table's location (`s3://bucket/…/iceberg/users`).
    pub location: String,
    /// The catalog holding its pointer (`glue`, `sqlite:/path`).
    pub catalog: String,
    /// The current metadata file; `None` when the catalog has no such table yet.
    pub metadata_location: Option<String>,
    /// The current snapshot; `None` before the first commit.
    pub snapshot_id: Option<i64>,
    /// When it was committed.
    pub snapshot_at: Option<DateTime<Utc>>,
    /// Its operation (`append`, `replace`, …).
    pub operation: Option<String>,
    /// Records of the topic in the table (each once), from the data files' record counts.
    pub records: u64,
    /// Records in the whole table, every topic (summary `total-records`; summed from the
    /// manifests when a writer left it out).
    pub table_records: u64,
    /// Data files of the topic in the current snapshot.
    pub data_files: usize,
    /// Snapshots the metadata keeps (each one readable, e.g. by `export --snapshot-id`).
    pub snapshots: usize,
    pub hours: Vec<TableHourStatus>,
    /// Per partition of the topic, the offset mark and the table's lag behind the topic.
    pub marks: Vec<MarkStatus>,
    /// The table's lag behind the topic, added up over its partitions (once the topic was
    /// asked).
    pub lag: Option<i64>,
    /// Set when the counts could not be kept to the topic alone, and why.
    pub topic_note: Option<String>,
    pub last_compaction: Option<TableCompaction>,
    #[serde(flatten)]
    pub errors: ErrorsStatus,
}

/// Whose rows a data file holds, from its `kafka_topic` bounds.
enum Holds {
    Topic,
    Other,
    /// Several topics, or no bounds to tell.
    Unknown,
}

fn holds(file: &table::manifest::DataFile, field: Option<i32>, topic: &str) -> Holds {
    let bounds =
        field.and_then(|id| Some((file.lower_bounds.get(&id)?, file.upper_bounds.get(&id)?)));
    let Some((lower, upper)) = bounds else {
        return Holds::Unknown;
    };
    let topic = topic.as_bytes();
    if lower.as_slice() == topic && upper.as_slice() == topic {
        Holds::Topic
    } else if topic < lower.as_slice() || topic > upper.as_slice() {
        Holds::Other
    } else {
        Holds::Unknown
    }
}

/// What the table holds of `topic`, from its metadata and the current snapshot's manifests (no
/// data file is read), and the topic's poison records under the lake's `_errors/`. The marks
/// carry no lag until [`TableStatus::measure_lag`] is given the topic's end offsets.
pub async fn table_status<S: LakeStore, C: Catalog>(
    table: &Table<S, C>,
    layout: &Layout,
    topic: &str,
    cache: &LookCache,
) -> Result<TableStatus, StatusError> {
    let errors = errors_status(&table.store, layout, topic, cache).await?;
    let mut status = TableStatus {
        topic: topic.to_string(),
        location: table.location.uri(),
        catalog: table.catalog.describe(),
        metadata_location: None,
        snapshot_id: None,
        snapshot_at: None,
        operation: None,
        records: 0,
        table_records: 0,
        data_files: 0,
        snapshots: 0,
        hours: Vec::new(),
        marks: Vec::new(),
        lag: None,
        topic_note: None,
        last_compaction: None,
        errors,
    };
    let Some(state) = table.load().await? else {
        return Ok(status);
    };
    let location = state.pointer.metadata_location.clone();
    if let Some(mut kept) = cache.table(&location, topic) {
        kept.errors = status.errors;
        return Ok(kept);
    }
    let metadata = &state.metadata;
    status.metadata_location = Some(location.clone());
    status.snapshots = metadata.snapshots.len();
    status.last_compaction = last_compaction(metadata);
    let marks = Marks::of(metadata).map_err(|reason| TableError::Marks { reason })?;
    status.marks = marks
        .iter()
        .filter(|(of, _, _)| *of == topic)
        .map(|(topic, partition, mark)| MarkStatus {
            topic: topic.to_string(),
            partition,
            mark: Some(mark),
            end: None,
            lag: None,
        })
        .collect();
    if let Some(snapshot) = metadata.current_snapshot() {
        status.snapshot_id = Some(snapshot.snapshot_id);
        status.snapshot_at = DateTime::from_timestamp_millis(snapshot.timestamp_ms);
        status.operation = snapshot.summary.get("operation").cloned();
        let field = metadata
            .schema()
            .fields
            .iter()
            .find(|f| f.name == "kafka_topic")
            .map(|f| f.id);
        let mut hours: BTreeMap<Option<i32>, TableHourStatus> = BTreeMap::new();
        let (mut all_rows, mut unknown) = (0, 0);
        for entry in table.live_files(snapshot).await? {
            let file = &entry.data_file;
            let rows = u64::try_from(file.record_count).unwrap_or(0);
            all_rows += rows;
            match holds(file, field, topic) {
                Holds::Other => continue,
                Holds::Unknown => unknown += 1,
                Holds::Topic => {}
            }
            let hour = hours
                .entry(file.partition_hour)
                .or_insert_with(|| TableHourStatus {
                    hour: file
                        .partition_hour
                        .and_then(|h| DateTime::from_timestamp(i64::from(h) * 3600, 0))
                        .map_or("unpartitioned".to_string(), |t| {
                            lake::Hour::of(t).to_string()
                        }),
                    partition_hour: file.partition_hour,
                    files: 0,
                    rows: 0,
                });
            hour.files += 1;
            hour.rows += rows;
            status.data_files += 1;
        }
        status.hours = hours.into_values().collect();
        status.records = status.hours.iter().map(|h| h.rows).sum();
        status.table_records = snapshot
            .summary
            .get("total-records")
            .and_then(|v| v.parse().ok())
            .unwrap_or(all_rows);
        status.topic_note = (unknown > 0).then(|| {
            format!(
                "{unknown} data file(s) also hold other topics' rows or carry no kafka_topic bounds; they are counted whole"
            )
        });
    }
    cache.keep_table(&location, topic, &status);
    Ok(status)
}

/// The newest snapshot kept whose operation is `replace` (a compaction: files swapped for
/// others holding the same rows).
fn last_compaction(metadata: &TableMetadata) -> Option<TableCompaction> {
    let count = |s: &table::spec::Snapshot, key: &str| s.summary.get(key)?.parse().ok();
    metadata
        .snapshots
        .iter()
        .filter(|s| s.summary.get("operation").map(String::as_str) == Some("replace"))
        .max_by_key(|s| (s.sequence_number, s.timestamp_ms))
        .map(|s| TableCompaction {
            snapshot_id: s.snapshot_id,
            at: DateTime::from_timestamp_millis(s.timestamp_ms),
            files_removed: count(s, "deleted-data-files"),
            files_added: count(s, "added-data-files"),
        })
}

impl TableStatus {
    /// Measures each mark against the end offsets of `kafka`'s topic: every partition of the
    /// topic gets an entry (one the table has not seen has no mark, and all its records are
    /// lag), and the lags are added up.
    pub fn measure_lag(&mut self, kafka: &KafkaStatus) {
        for partition in &kafka.partitions {
            let found = self
                .marks
                .iter_mut()
                .find(|m| m.topic == kafka.topic && m.partition == partition.partition);
            let entry = match found {
                Some(entry) => entry,
                None => {
                    self.marks.push(MarkStatus {
                        topic: kafka.topic.clone(),
                        partition: partition.partition,
                        mark: None,
                        end: None,
                        lag: None,
                    });
                    self.marks.last_mut().expect("just pushed")
                }
            };
            entry.end = Some(partition.end);
            entry.lag = Some((partition.end - entry.mark.map_or(0, |m| m + 1)).max(0));
        }
        self.marks
            .sort_by(|a, b| (&a.topic, a.partition).cmp(&(&b.topic, b.partition)));
        self.lag = Some(
            self.marks
                .iter()
                .filter(|m| m.topic == kafka.topic)
                .filter_map(|m| m.lag)
                .sum(),
        );
    }
}
