//! The pipeline at a glance, as Control Center and the Spark UI showed the original one: the
//! topic's partitions and how far the sink's consumer group is behind them, what the lake holds
//! per hour, the poison records waiting under `_errors/`, and the last compaction.
//!
//! The halves are gathered separately ([`kafka_status`], and [`table_status`] or
//! [`lake_status`]) so that each can be tested against its own real or in-memory counterpart;
//! [`Status`] is printed as JSON, or as a table for people (`--table`).
//!
//! The Iceberg table (`LAKE_FORMAT=iceberg`, the default) is described from its metadata alone:
//! the metadata file, the current snapshot's manifest list and its manifests, never a data
//! file, so a look costs a few small reads however large the table grows. Its offset marks
//! (per topic-partition, the highest offset the table holds) measure how far the table is
//! behind the topic, beside the consumer group's lag. The plain-files layout
//! (`LAKE_FORMAT=files`) is described by listing its objects and reading their Parquet footers.

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use kafka_client::{KafkaClient, KafkaClientContext};
use lake::{
    DataKey, DataName, LakeKey, Layout, ObjectStore, OutputFormat,
    read::{ReadError, row_count},
};
use lambda_kit::{Classified, Retry};
use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
};
use serde::Serialize;
use table::{Catalog, CatalogError, Marks, Table, TableError, spec::TableMetadata};

/// One partition of the topic and the sink's position in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionStatus {
    pub partition: i32,
    /// The high watermark: the offset the next record will get.
    pub end: i64,
    /// The sink's consumer group's committed offset (the next record it will read), if any.
    pub committed: Option<i64>,
    /// Records written to the partition that the group has not committed.
    pub lag: i64,
}

/// The topic and the consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KafkaStatus {
    pub topic: String,
    pub group: String,
    pub partitions: Vec<PartitionStatus>,
    /// The partitions' lag, added up.
    pub lag: i64,
}

/// One hour partition of the lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourStatus {
    /// `dt=YYYY-MM-DD/hour=HH`.
    pub hour: String,
    /// The sink's objects not yet merged.
    pub originals: usize,
    /// The compactor's merged objects.
    pub merged: usize,
    /// Rows in all of them (a row in an original and a merged object counts twice).
    pub rows: u64,
}

/// The last merged object written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compaction {
    pub key: String,
    pub at: Option<DateTime<Utc>>,
}

/// What the lake holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LakeStatus {
    pub hours: Vec<HourStatus>,
    pub objects: usize,
    pub rows: u64,
    /// Objects under `_errors/`.
    pub error_objects: usize,
    /// Poison records in them (one JSON line each).
    pub error_records: usize,
    pub last_compaction: Option<Compaction>,
}

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

/// What the Iceberg table holds, from its metadata and manifests (no data file is read).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TableStatus {
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
    /// Records in the table (summary `total-records`; summed from the manifests when a writer
    /// left it out).
    pub records: u64,
    /// Data files in the current snapshot.
    pub data_files: usize,
    /// Snapshots the metadata keeps (each one readable, e.g. by `export --snapshot-id`).
    pub snapshots: usize,
    pub hours: Vec<TableHourStatus>,
    /// Per topic-partition, the offset mark and the table's lag behind the topic.
    pub marks: Vec<MarkStatus>,
    /// The table's lag behind the topic, added up over its partitions (once the topic was
    /// asked).
    pub lag: Option<i64>,
    pub last_compaction: Option<TableCompaction>,
    /// Objects under `_errors/` (the sink's rejected records stay objects beside the table).
    pub error_objects: usize,
    /// Poison records in them (one JSON line each).
    pub error_records: usize,
}

/// What the lake holds, in the layout it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LakeView {
    /// Plain Parquet objects (`LAKE_FORMAT=files`): printed under `lake`.
    #[serde(rename = "lake")]
    Files(LakeStatus),
    /// The Iceberg table: printed under `table`.
    #[serde(rename = "table")]
    Table(TableStatus),
}

/// Everything `status` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub at: DateTime<Utc>,
    pub kafka: KafkaStatus,
    #[serde(flatten)]
    pub lake: LakeView,
}

/// Why the status could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Setting(#[from] lambda_kit::settings::SettingError),
    /// The Kafka credentials could not be resolved.
    #[error(transparent)]
    Auth(#[from] kafka_client::AuthError),
    /// The broker could not be asked.
    #[error("cannot ask {brokers} about {topic}: {source}")]
    Kafka {
        brokers: String,
        topic: String,
        #[source]
        source: Box<KafkaError>,
    },
    /// The lake could not be listed.
    #[error(transparent)]
    Store(#[from] lake::StoreError),
    /// An object could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The table's metadata or manifests could not be read.
    #[error(transparent)]
    Table(Box<TableError>),
    /// The table's catalog could not be opened or asked.
    #[error(transparent)]
    Catalog(Box<CatalogError>),
}

impl From<TableError> for StatusError {
    fn from(error: TableError) -> Self {
        StatusError::Table(Box::new(error))
    }
}

impl From<CatalogError> for StatusError {
    fn from(error: CatalogError) -> Self {
        StatusError::Catalog(Box::new(error))
    }
}

impl Classified for StatusError {
    fn kind(&self) -> &'static str {
        match self {
            StatusError::Setting(_) => "InvalidSetting",
            StatusError::Auth(e) => e.kind(),
            StatusError::Kafka { .. } => "KafkaFailed",
            StatusError::Store(_) => "StoreFailed",
            StatusError::Read(_) => "ReadFailed",
            StatusError::Table(_) => "TableReadFailed",
            StatusError::Catalog(_) => "CatalogFailed",
        }
    }

    fn retry(&self) -> Retry {
        match self {
            StatusError::Setting(_) => Retry::Fatal,
            StatusError::Auth(e) => e.retry(),
            StatusError::Kafka { .. } => Retry::Retryable,
            StatusError::Store(e) => e.retry(),
            StatusError::Read(ReadError::Store(e)) => e.retry(),
            StatusError::Read(_) => Retry::Fatal,
            StatusError::Table(e) => e.retry(),
            StatusError::Catalog(e) => e.retry(),
        }
    }
}

const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

/// Each partition's end offset and the group's committed offset and lag.
pub fn kafka_status(
    client: &KafkaClient,
    topic: &str,
    group: &str,
) -> Result<KafkaStatus, StatusError> {
    let failed = |source| StatusError::Kafka {
        brokers: client.brokers().to_string(),
        topic: topic.to_string(),
        source: Box::new(source),
    };
    // The group is only asked for its committed offsets: this consumer never joins it.
    let consumer: BaseConsumer<KafkaClientContext> = client
        .client_config("user-lake-status")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create_with_context(client.context())
        .map_err(failed)?;
    consumer.context().serve_first_token(|| {
        let _ = consumer.poll(Duration::ZERO);
    })?;
    let metadata = consumer
        .fetch_metadata(Some(topic), KAFKA_TIMEOUT)
        .map_err(failed)?;
    let ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut wanted = TopicPartitionList::new();
    for &id in &ids {
        wanted.add_partition(topic, id);
    }
    let committed = consumer
        .committed_offsets(wanted, KAFKA_TIMEOUT)
        .map_err(failed)?;
    let mut partitions = Vec::new();
    for id in ids {
        let (_, end) = consumer
            .fetch_watermarks(topic, id, KAFKA_TIMEOUT)
            .map_err(failed)?;
        let committed = committed
            .find_partition(topic, id)
            .and_then(|p| match p.offset() {
                Offset::Offset(n) => Some(n),
                _ => None,
            });
        partitions.push(PartitionStatus {
            partition: id,
            end,
            committed,
            lag: (end - committed.unwrap_or(0)).max(0),
        });
    }
    partitions.sort_by_key(|p| p.partition);
    Ok(KafkaStatus {
        topic: topic.to_string(),
        group: group.to_string(),
        lag: partitions.iter().map(|p| p.lag).sum(),
        partitions,
    })
}

/// What the lake holds per hour (row counts from the Parquet footers), its poison records and
/// its last merged object.
pub async fn lake_status<S: ObjectStore>(
    store: &S,
    layout: &Layout,
) -> Result<LakeStatus, StatusError> {
    let mut hours: BTreeMap<String, HourStatus> = BTreeMap::new();
    let mut last_compaction: Option<Compaction> = None;
    let (mut objects, mut rows) = (0, 0);
    for object in store.list(&layout.root(OutputFormat::Parquet)).await? {
        let Some(LakeKey::Data(DataKey {
            format: OutputFormat::Parquet,
            hour,
            name,
        })) = layout.parse(&object.key)
        else {
            continue;
        };
        let count = row_count(store, &object).await?;
        let entry = hours.entry(hour.to_string()).or_insert_with(|| HourStatus {
            hour: hour.to_string(),
            originals: 0,
            merged: 0,
            rows: 0,
        });
        entry.rows += count;
        match name {
            DataName::Original(_) => entry.originals += 1,
            DataName::Merged(_) => {
                entry.merged += 1;
                let newer = last_compaction
                    .as_ref()
                    .is_none_or(|last| object.modified > last.at);
                if newer {
                    last_compaction = Some(Compaction {
                        key: object.key.clone(),
                        at: object.modified,
                    });
                }
            }
        }
        objects += 1;
        rows += count;
    }
    let (error_objects, error_records) = error_counts(store, layout).await?;
    Ok(LakeStatus {
        hours: hours.into_values().collect(),
        objects,
        rows,
        error_objects,
        error_records,
        last_compaction,
    })
}

/// The objects under `_errors/` and the poison records in them (one JSON line each).
async fn error_counts<S: ObjectStore>(
    store: &S,
    layout: &Layout,
) -> Result<(usize, usize), StatusError> {
    let errors = store.list(&layout.errors_root()).await?;
    let mut records = 0;
    for object in &errors {
        let body = store.get(&object.key).await?;
        records += body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
    }
    Ok((errors.len(), records))
}

/// What the table holds, from its metadata and the current snapshot's manifests (no data file
/// is read), and the poison records under the lake's `_errors/`. The marks carry no lag until
/// [`TableStatus::measure_lag`] is given the topic's end offsets.
pub async fn table_status<S: ObjectStore, C: Catalog>(
    table: &Table<S, C>,
    layout: &Layout,
) -> Result<TableStatus, StatusError> {
    let (error_objects, error_records) = error_counts(&table.store, layout).await?;
    let mut status = TableStatus {
        location: table.location.uri(),
        catalog: table.catalog.describe(),
        metadata_location: None,
        snapshot_id: None,
        snapshot_at: None,
        operation: None,
        records: 0,
        data_files: 0,
        snapshots: 0,
        hours: Vec::new(),
        marks: Vec::new(),
        lag: None,
        last_compaction: None,
        error_objects,
        error_records,
    };
    let Some(state) = table.load().await? else {
        return Ok(status);
    };
    let metadata = &state.metadata;
    status.metadata_location = Some(state.pointer.metadata_location.clone());
    status.snapshots = metadata.snapshots.len();
    status.last_compaction = last_compaction(metadata);
    let marks = Marks::of(metadata).map_err(|reason| TableError::Marks { reason })?;
    status.marks = marks
        .iter()
        .map(|(topic, partition, mark)| MarkStatus {
            topic: topic.to_string(),
            partition,
            mark: Some(mark),
            end: None,
            lag: None,
        })
        .collect();
    let Some(snapshot) = metadata.current_snapshot() else {
        return Ok(status);
    };
    status.snapshot_id = Some(snapshot.snapshot_id);
    status.snapshot_at = DateTime::from_timestamp_millis(snapshot.timestamp_ms);
    status.operation = snapshot.summary.get("operation").cloned();
    let mut hours: BTreeMap<Option<i32>, TableHourStatus> = BTreeMap::new();
    for entry in table.live_files(snapshot).await? {
        let file = &entry.data_file;
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
        hour.rows += u64::try_from(file.record_count).unwrap_or(0);
        status.data_files += 1;
    }
    status.hours = hours.into_values().collect();
    status.records = snapshot
        .summary
        .get("total-records")
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| status.hours.iter().map(|h| h.rows).sum());
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

/// The status as a table for people.
pub fn table(status: &Status) -> String {
    let mut out = String::new();
    let kafka = &status.kafka;
    out.push_str(&format!(
        "{}  topic {} (group {}): lag {}\n",
        status.at.format("%Y-%m-%d %H:%M:%S UTC"),
        kafka.topic,
        kafka.group,
        kafka.lag
    ));
    out.push_str("  partition        end  committed        lag\n");
    for p in &kafka.partitions {
        let committed = p.committed.map_or("-".to_string(), |c| c.to_string());
        out.push_str(&format!(
            "  {:>9} {:>10} {:>10} {:>10}\n",
            p.partition, p.end, committed, p.lag
        ));
    }
    match &status.lake {
        LakeView::Files(lake) => files_table(lake, &mut out),
        LakeView::Table(table) => table_table(table, &mut out),
    }
    out
}

fn files_table(lake: &LakeStatus, out: &mut String) {
    out.push_str(&format!(
        "lake: {} objects, {} rows; _errors/: {} objects, {} records\n",
        lake.objects, lake.rows, lake.error_objects, lake.error_records
    ));
    out.push_str("  hour                      originals  merged       rows\n");
    for h in &lake.hours {
        out.push_str(&format!(
            "  {:<25} {:>9} {:>7} {:>10}\n",
            h.hour, h.originals, h.merged, h.rows
        ));
    }
    match &lake.last_compaction {
        Some(c) => out.push_str(&format!(
            "last compaction: {} at {}\n",
            c.key,
            c.at.map_or("an unknown time".to_string(), |t| t.to_rfc3339())
        )),
        None => out.push_str("last compaction: none\n"),
    }
}

fn table_table(table: &TableStatus, out: &mut String) {
    let time = |t: Option<DateTime<Utc>>| {
        t.map_or("an unknown time".to_string(), |t| {
            t.format("%Y-%m-%d %H:%M:%S UTC").to_string()
        })
    };
    out.push_str(&format!("table {} ({})\n", table.location, table.catalog));
    match (&table.metadata_location, table.snapshot_id) {
        (None, _) => out.push_str("  not created yet\n"),
        (Some(_), None) => out.push_str(&format!("  no snapshot yet ({} kept)\n", table.snapshots)),
        (Some(_), Some(id)) => out.push_str(&format!(
            "  snapshot {id} ({}) at {}: {} records in {} data files; {} snapshots kept\n",
            table.operation.as_deref().unwrap_or("?"),
            time(table.snapshot_at),
            table.records,
            table.data_files,
            table.snapshots
        )),
    }
    out.push_str(&format!(
        "  _errors/: {} objects, {} records\n",
        table.error_objects, table.error_records
    ));
    if !table.hours.is_empty() {
        out.push_str("  hour                          files       rows\n");
        for h in &table.hours {
            out.push_str(&format!("  {:<25} {:>9} {:>10}\n", h.hour, h.files, h.rows));
        }
    }
    if !table.marks.is_empty() {
        let lag = table.lag.map_or(String::new(), |l| format!(": lag {l}"));
        out.push_str(&format!("  offset marks{lag}\n"));
        out.push_str("  topic                  partition       mark        end        lag\n");
        let or_dash = |v: Option<i64>| v.map_or("-".to_string(), |v| v.to_string());
        for m in &table.marks {
            out.push_str(&format!(
                "  {:<22} {:>9} {:>10} {:>10} {:>10}\n",
                m.topic,
                m.partition,
                or_dash(m.mark),
                or_dash(m.end),
                or_dash(m.lag)
            ));
        }
    }
    match &table.last_compaction {
        Some(c) => {
            let count = |n: Option<u64>| n.map_or("?".to_string(), |n| n.to_string());
            out.push_str(&format!(
                "last compaction: snapshot {} at {}, {} data files replaced by {}\n",
                c.snapshot_id,
                time(c.at),
                count(c.files_removed),
                count(c.files_added)
            ));
        }
        None => out.push_str("last compaction: none\n"),
    }
}

#[cfg(test)]
mod tests {
    use lake::{Hour, Span, testing::MemoryStore};

    use super::*;

    fn hour(h: u32) -> Hour {
        Hour {
            date: chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            hour: h,
        }
    }

    #[tokio::test]
    async fn an_unreadable_object_under_users_is_named() {
        let store = MemoryStore::default();
        let layout = Layout::new("");
        let span = Span {
            topic: "users_created".into(),
            partition: 0,
            first: 1,
            last: 2,
        };
        let key = layout.original_key(OutputFormat::Parquet, hour(12), span);
        store.insert(&key, b"not parquet".to_vec());
        let error = lake_status(&store, &layout).await.unwrap_err();
        assert!(error.to_string().contains(&key), "{error}");
    }

    fn row(offset: i64) -> lake::LakeRow {
        let json = format!(
            r#"{{"id":"00000000-0000-4000-8000-{offset:012}","first_name":"A","last_name":"B","gender":"x","address":"a","post_code":"1","email":"e","username":"u","dob":"2000-01-01T00:00:00Z","registered_date":"2020-01-01T00:00:00Z","phone":"p","picture":"q"}}"#
        );
        lake::LakeRow {
            record: user_record::UserRecord::from_json_owned(json.as_bytes()).unwrap(),
            topic: "users_created".into(),
            partition: 0,
            offset,
            timestamp: hour(12).start(),
        }
    }

    #[tokio::test]
    async fn hours_count_their_objects_and_rows_errors_count_their_lines() {
        // given hour 12 as an original of 3 rows and a merged object of 5, hour 13 as one
        // original of 2, an error object of two records, and a CSV copy that is not counted
        let (store, layout) = (MemoryStore::default(), Layout::new(""));
        let span = |first, last| Span {
            topic: "users_created".into(),
            partition: 0,
            first,
            last,
        };
        let rows: Vec<lake::LakeRow> = (0..5).map(row).collect();
        let original = layout.original_key(OutputFormat::Parquet, hour(12), span(5, 7));
        store.insert(&original, lake::testing::parquet(&rows[..3]));
        let merged = layout.data_key(&DataKey {
            format: OutputFormat::Parquet,
            hour: hour(12),
            name: DataName::Merged("0123456789abcdef".into()),
        });
        store.insert(&merged, lake::testing::parquet(&rows));
        let thirteen = layout.original_key(OutputFormat::Parquet, hour(13), span(8, 9));
        store.insert(&thirteen, lake::testing::parquet(&rows[..2]));
        store.insert(
            &layout.original_key(OutputFormat::Csv, hour(13), span(8, 9)),
            b"id\r\n".to_vec(),
        );
        store.insert(
            "_errors/dt=2026-11-24/users_created-0-3-4.jsonl",
            b"{}\n{}\n".to_vec(),
        );

        // when
        let status = lake_status(&store, &layout).await.unwrap();

        // then
        let hours: Vec<(&str, usize, usize, u64)> = status
            .hours
            .iter()
            .map(|h| (h.hour.as_str(), h.originals, h.merged, h.rows))
            .collect();
        assert_eq!(
            hours,
            [
                ("dt=2026-11-24/hour=12", 1, 1, 8),
                ("dt=2026-11-24/hour=13", 1, 0, 2)
            ]
        );
        assert_eq!((status.objects, status.rows), (3, 10));
        assert_eq!((status.error_objects, status.error_records), (1, 2));
        assert_eq!(status.last_compaction.unwrap().key, merged);
    }

    #[tokio::test]
    async fn an_empty_lake_has_no_hours_and_no_compaction() {
        let status = lake_status(&MemoryStore::default(), &Layout::new("lake"))
            .await
            .unwrap();
        assert_eq!(
            (status.objects, status.rows, status.error_records),
            (0, 0, 0)
        );
        assert!(status.hours.is_empty() && status.last_compaction.is_none());
    }
}
