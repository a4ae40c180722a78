//! The compactor on the Iceberg table (`LAKE_FORMAT=iceberg`) against an in-memory lake and
//! catalog, filled by the table's own exactly-once append as the sink fills it: closed hours
//! rewritten atomically (a query counts every row once before, during and after, and the
//! previous snapshot still reads), the offset marks carried through rewrites and expiry,
//! snapshots expired past the retention, unreferenced files deleted once old enough and
//! reachable ones never, a rewrite planned again when another engine replaced its files, and
//! writers appending throughout with no record lost or doubled.

use std::{
    collections::{BTreeMap, BTreeSet},
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
};

use arrow::{
    array::{Array, AsArray, RecordBatch},
    datatypes::{Int32Type, Int64Type},
};
use chrono::{DateTime, Duration, TimeZone, Utc};
use compactor::{CompactSummary, Compactor, CompactorConfig, Run, handle, iceberg};
use lake::{LakeRow, LakeStore, RowsBuilder, StoreError, testing::MemoryStore};
use parquet::file::properties::WriterProperties;
use table::{
    AnyCatalog, Change, Marks, OpenedTable, Slice, Table, TableLocation,
    catalog::memory::{Fault, MemoryCatalog},
    files::{hour_of, partition_path},
    maintenance::Retention,
    marks::MARKS_PROPERTY,
};
use user_record::UserRecord;

const TOPIC: &str = "users_created";

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, hour, minute, 0).unwrap()
}

/// 16:00: with the default two hours of grace, hours 12 and 13 are closed, 15 is open.
fn now() -> DateTime<Utc> {
    at(16, 0)
}

fn user(partition: i32, offset: i64) -> UserRecord {
    let n = i64::from(partition) * 1_000_000 + offset;
    let json = format!(
        r#"{{"id":"00000000-0000-4000-8000-{n:012}","first_name":"Zoë {n}","last_name":"Ørsted",
        "gender":"female","address":"{n} Main St","post_code":"0567","email":"u{n}@example.com",
        "username":"u{n}","dob":"1987-05-04T10:11:12.345Z",
        "registered_date":"2015-02-03T04:05:06Z","phone":"22","picture":"https://x/p.jpg"}}"#
    );
    UserRecord::from_json_owned(json.as_bytes()).unwrap()
}

/// A sink batch of `count` consecutive offsets of one partition, one record a minute from
/// `time`, cut into one slice per hour as the sink cuts them.
fn batch(partition: i32, first: i64, count: i64, time: DateTime<Utc>) -> Vec<Slice> {
    let mut by_hour: BTreeMap<i32, RowsBuilder> = BTreeMap::new();
    for offset in first..first + count {
        let row = LakeRow {
            record: user(partition, offset),
            topic: TOPIC.into(),
            partition,
            offset,
            timestamp: time + Duration::minutes(offset - first),
        };
        by_hour
            .entry(hour_of(row.timestamp))
            .or_default()
            .push_row(&row);
    }
    by_hour
        .into_iter()
        .map(|(hour, rows)| Slice {
            topic: TOPIC.into(),
            partition,
            hour,
            batch: rows.finish().unwrap(),
        })
        .collect()
}

fn properties() -> WriterProperties {
    lake::writer::writer_properties(parquet::basic::Compression::SNAPPY, "tests")
}

/// The lake, catalog and table of one test (the lake leaked: it lives as long as the process).
struct Lake {
    store: &'static MemoryStore,
    catalog: Arc<MemoryCatalog>,
    location: TableLocation,
}

impl Lake {
    fn new() -> Self {
        let store: &'static MemoryStore = Box::leak(Box::default());
        store.set_time(now());
        Self {
            store,
            catalog: Arc::new(MemoryCatalog::new()),
            location: TableLocation::new("data-lake", "", "users"),
        }
    }

    fn table(&self) -> Table<&'static MemoryStore, &MemoryCatalog> {
        Table::new(self.store, &*self.catalog, self.location.clone())
    }

    /// Appends a sink batch, committed at the batch's last record's time.
    async fn deliver(&self, partition: i32, first: i64, count: i64, time: DateTime<Utc>) {
        let slices = batch(partition, first, count, time);
        let committed = time + Duration::minutes(count);
        self.table()
            .append(&slices, &properties(), committed)
            .await
            .unwrap();
    }

    /// A compactor on this lake, its summary lines kept off the test's output.
    fn compactor(&self) -> Compactor<&'static MemoryStore> {
        self.compactor_on(self.store)
    }

    fn compactor_on<S>(&self, store: S) -> Compactor<S> {
        let config = CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake")]).unwrap();
        let mut compactor = Compactor::new(store, &config).with_table(OpenedTable {
            catalog: AnyCatalog::Memory(self.catalog.clone()),
            location: self.location.clone(),
        });
        compactor.metrics = lambda_kit::emf::Metrics::captured(config.metrics.clone()).0;
        compactor
    }

    async fn state(&self) -> table::State {
        self.table().load().await.unwrap().unwrap()
    }

    async fn marks(&self) -> Marks {
        Marks::of(&self.state().await.metadata).unwrap()
    }

    /// The current snapshot's data files, by hour.
    async fn files_by_hour(&self) -> BTreeMap<i32, Vec<String>> {
        let state = self.state().await;
        let snapshot = state.metadata.current_snapshot().unwrap();
        let mut by_hour: BTreeMap<i32, Vec<String>> = BTreeMap::new();
        for entry in self.table().live_files(snapshot).await.unwrap() {
            by_hour
                .entry(entry.data_file.partition_hour.unwrap())
                .or_default()
                .push(entry.data_file.file_path);
        }
        by_hour
    }
}

/// Twelve sink batches as `compaction.rs` has them: hour 12 on three partitions (four batches
/// each of five records), two batches in hour 13, and two in the still open hour 15.
async fn filled() -> Lake {
    let lake = Lake::new();
    for partition in 0..3 {
        for batch in 0..4 {
            let first = 100 + batch * 5;
            lake.deliver(partition, first, 5, at(12, (batch * 10) as u32))
                .await;
        }
    }
    lake.deliver(0, 200, 3, at(13, 5)).await;
    lake.deliver(1, 200, 3, at(13, 5)).await;
    lake.deliver(2, 300, 2, at(15, 1)).await;
    lake.deliver(2, 302, 2, at(15, 3)).await;
    lake
}

/// A run judging by `now`, started by the clock at `started`, with 15 minutes to go.
fn run_at(now: DateTime<Utc>, started: DateTime<Utc>) -> Run {
    static RUNS: AtomicUsize = AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, Ordering::Relaxed);
    Run {
        id: format!("table-run-{n}"),
        now,
        started,
        deadline: started + Duration::minutes(15),
    }
}

fn run() -> Run {
    run_at(now(), now())
}

/// (topic, partition, offset, id) of every row of `batches`, in their order.
fn keys(batches: &[RecordBatch]) -> Vec<(String, i32, i64, String)> {
    let mut all = Vec::new();
    for batch in batches {
        let column = |name: &str| batch.column_by_name(name).unwrap().clone();
        let (topics, partitions, offsets, ids) = (
            column("kafka_topic"),
            column("kafka_partition"),
            column("kafka_offset"),
            column("id"),
        );
        for i in 0..batch.num_rows() {
            all.push((
                topics.as_string::<i32>().value(i).to_string(),
                partitions.as_primitive::<Int32Type>().value(i),
                offsets.as_primitive::<Int64Type>().value(i),
                ids.as_string::<i32>().value(i).to_string(),
            ));
        }
    }
    all
}

/// Every row a snapshot (the current one for `None`) holds, sorted, with repeats.
async fn rows(lake: &Lake, snapshot: Option<i64>) -> Vec<(String, i32, i64, String)> {
    let mut all = keys(&lake.table().scan(snapshot).await.unwrap());
    all.sort();
    all
}

/// The rows of `partition` with offsets in `offsets`, as the table should hold them.
fn expected(partition: i32, offsets: std::ops::Range<i64>) -> Vec<(String, i32, i64, String)> {
    offsets
        .map(|o| {
            (
                TOPIC.to_string(),
                partition,
                o,
                user(partition, o).id.to_string(),
            )
        })
        .collect()
}

fn hour(time: DateTime<Utc>) -> i32 {
    hour_of(time)
}

#[tokio::test]
async fn closed_hours_become_one_sorted_file_each_by_one_rewrite_and_open_hours_wait() {
    // given a table of small files in hours 12, 13 and 15
    let lake = filled().await;
    let before = rows(&lake, None).await;
    let files_before = lake.files_by_hour().await;
    assert_eq!(files_before[&hour(at(12, 0))].len(), 12);

    // when the compactor runs at 16:00
    let summary = handle(&lake.compactor(), &run()).await.unwrap();

    // then hours 12 and 13 are one file each, the open hour 15 is untouched, and the table
    // holds the same rows
    let files = lake.files_by_hour().await;
    assert_eq!(files[&hour(at(12, 0))].len(), 1);
    assert_eq!(files[&hour(at(13, 0))].len(), 1);
    assert_eq!(files[&hour(at(15, 0))], files_before[&hour(at(15, 0))]);
    assert!(
        files[&hour(at(12, 0))][0]
            .contains(&format!("/{}/compacted-", partition_path(hour(at(12, 0)))))
    );
    assert_eq!(rows(&lake, None).await, before);
    // and a merged file's rows are in topic, partition, offset order
    let merged = lake
        .table()
        .read_data_file(&files[&hour(at(12, 0))][0])
        .await
        .unwrap();
    let order: Vec<_> = keys(&[merged])
        .into_iter()
        .map(|(t, p, o, _)| (t, p, o))
        .collect();
    assert_eq!(order.len(), 60);
    assert!(order.is_sorted(), "{order:?}");
    // and each hour was one commit, a replace
    let state = lake.state().await;
    let replaces: Vec<_> = (state.metadata.snapshots.iter())
        .filter(|s| s.summary["operation"] == "replace")
        .collect();
    assert_eq!(replaces.len(), 2);
    assert_eq!(
        summary,
        CompactSummary {
            partitions: 2,
            open: 1,
            failed: 0,
            files_merged: 14,
            files_written: 2,
            rows: 66,
            hours_deferred: 0,
            snapshots_expired: 0,
            files_deleted: 0,
            ..summary.clone()
        }
    );
    assert!(summary.bytes_read > 0 && summary.bytes_written > 0);

    // and a second run finds nothing to merge and commits nothing
    let snapshots = state.metadata.snapshots.len();
    let again = handle(&lake.compactor(), &run()).await.unwrap();
    assert_eq!((again.partitions, again.files_merged), (0, 0));
    assert_eq!(lake.state().await.metadata.snapshots.len(), snapshots);
}

/// The current snapshot's manifest list: (manifests, files deleted by earlier snapshots).
async fn manifests(lake: &Lake) -> (usize, i32) {
    let state = lake.state().await;
    let snapshot = state.metadata.current_snapshot().unwrap();
    let list = lake.table().manifests(snapshot).await.unwrap();
    let earlier_deletions = (list.iter())
        .filter(|m| m.added_snapshot_id != snapshot.snapshot_id)
        .map(|m| m.deleted_files_count)
        .sum();
    (list.len(), earlier_deletions)
}

#[tokio::test]
async fn a_rewrite_merges_the_manifests_so_they_do_not_pile_up_one_a_commit() {
    // given sixteen appends, one manifest each
    let lake = filled().await;
    assert_eq!(manifests(&lake).await, (16, 0));

    // when the compactor merges hours 12 and 13 at 16:00
    handle(&lake.compactor(), &run()).await.unwrap();

    // then the snapshot has one manifest of the files kept (and those its rewrite removed)
    // beside the one of its merged file: the first rewrite's deletions are gone
    assert_eq!(manifests(&lake).await, (2, 0));
    let rows_now = rows(&lake, None).await;

    // and when more appends come (the last rewrite's deletions of hour 13 stay in its
    // manifest meanwhile) and a later run merges hour 15, the count comes back down
    lake.deliver(2, 304, 2, at(15, 20)).await;
    lake.deliver(0, 400, 2, at(17, 1)).await;
    assert_eq!(manifests(&lake).await, (4, 2));
    handle(&lake.compactor(), &run_at(at(18, 30), at(18, 30)))
        .await
        .unwrap();
    assert_eq!(manifests(&lake).await, (2, 0));
    // and every row is still there once, the new ones too
    let after = rows(&lake, None).await;
    assert_eq!(after.len(), rows_now.len() + 4);
}

#[tokio::test]
async fn a_rewrite_keeps_a_column_added_by_a_later_writer_that_the_compactor_does_not_know() {
    // given hour 12 of small files, and five more rows there from a later build of the writer
    // that added the column `nationality` to the table
    let lake = filled().await;
    let mut columns = table::spec::lake_table_schema();
    columns.fields.push(table::spec::SchemaField {
        id: 0,
        name: "nationality".into(),
        required: false,
        field_type: "string".into(),
        doc: None,
    });
    let later = lake.table().with_columns(columns);
    let mut slices = batch(7, 0, 5, at(12, 50));
    for slice in &mut slices {
        let (schema, mut values, _) = slice.batch.clone().into_parts();
        let mut fields = schema.fields().to_vec();
        fields.push(Arc::new(arrow::datatypes::Field::new(
            "nationality",
            arrow::datatypes::DataType::Utf8,
            false,
        )));
        values.push(Arc::new(arrow::array::StringArray::from(vec![
            "NL";
            slice
                .batch
                .num_rows(
                )
        ])));
        slice.batch =
            RecordBatch::try_new(Arc::new(arrow::datatypes::Schema::new(fields)), values).unwrap();
    }
    later
        .append(&slices, &properties(), at(13, 0))
        .await
        .unwrap();

    // when the compactor, built with the lake's columns only, merges the hour
    handle(&lake.compactor(), &run()).await.unwrap();

    // then the merged file holds the column: the later rows' values, nulls for the others
    let files = lake.files_by_hour().await;
    assert_eq!(files[&hour(at(12, 0))].len(), 1);
    let state = lake.state().await;
    let merged = lake
        .table()
        .read_table_file(&files[&hour(at(12, 0))][0], state.metadata.schema())
        .await
        .unwrap();
    let nationality = merged
        .column_by_name("nationality")
        .unwrap()
        .as_string::<i32>();
    let partitions = merged
        .column_by_name("kafka_partition")
        .unwrap()
        .as_primitive::<Int32Type>();
    let kept: Vec<(i32, Option<&str>)> = (0..merged.num_rows())
        .filter(|&i| partitions.value(i) == 7 || !nationality.is_null(i))
        .map(|i| {
            (
                partitions.value(i),
                nationality.is_valid(i).then(|| nationality.value(i)),
            )
        })
        .collect();
    assert_eq!(kept, vec![(7, Some("NL")); 5]);
    assert_eq!(merged.num_rows(), 65);
}

#[tokio::test]
async fn a_rewrite_carries_every_offset_mark_so_a_redelivery_after_it_adds_nothing() {
    // given a table whose marks are 119 on each partition (hour 12) and 202/202/303
    let lake = filled().await;
    let marks = lake.marks().await;
    assert_eq!(marks.get(TOPIC, 0), Some(202));
    assert_eq!(marks.get(TOPIC, 2), Some(303));

    // when the closed hours are rewritten
    handle(&lake.compactor(), &run()).await.unwrap();

    // then every commit's marks are the marks before: in the rewrite's own summary, in the
    // table's properties, and as the table reads them
    let state = lake.state().await;
    let current = state.metadata.current_snapshot().unwrap();
    assert_eq!(current.summary["operation"], "replace");
    assert_eq!(
        Marks::from_json(&current.summary[MARKS_PROPERTY]).unwrap(),
        marks
    );
    assert_eq!(
        Marks::from_json(&state.metadata.properties[MARKS_PROPERTY]).unwrap(),
        marks
    );
    assert_eq!(lake.marks().await, marks);
    // and a batch delivered again after the rewrite is recognised as held, not added twice
    let again = lake
        .table()
        .append(&batch(1, 105, 5, at(12, 10)), &properties(), at(16, 5))
        .await
        .unwrap();
    assert_eq!((again.written, again.duplicates), (0, 5));
}

#[tokio::test]
async fn the_target_size_splits_an_hour_into_several_merged_files() {
    // given a target of about four of the sink's files
    let lake = filled().await;
    let before = rows(&lake, None).await;
    let mut compactor = lake.compactor();
    compactor.target_bytes = largest_file(&lake).await * 4;

    // when
    handle(&compactor, &run()).await.unwrap();

    // then hour 12 is three files (each partition's four batches), together the same rows
    let files = lake.files_by_hour().await;
    assert_eq!(files[&hour(at(12, 0))].len(), 3, "{files:?}");
    assert_eq!(rows(&lake, None).await, before);
}

/// A store that lets other tasks run before each of its calls, as a network round trip would,
/// and takes the given time to read a data file.
struct Paced(&'static MemoryStore, std::time::Duration);

impl Paced {
    async fn pause(&self, key: &str) {
        tokio::task::yield_now().await;
        if key.contains("/data/") && !self.1.is_zero() {
            tokio::time::sleep(self.1).await;
        }
    }
}

impl LakeStore for Paced {
    async fn list(&self, prefix: &str) -> Result<Vec<lake::ObjectInfo>, StoreError> {
        tokio::task::yield_now().await;
        self.0.list(prefix).await
    }
    async fn get(&self, key: &str) -> Result<bytes::Bytes, StoreError> {
        self.pause(key).await;
        self.0.get(key).await
    }
    async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<bytes::Bytes, StoreError> {
        self.pause(key).await;
        self.0.get_range(key, range).await
    }
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.put(key, body, content_type).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        tokio::task::yield_now().await;
        self.0.delete(key).await
    }
    async fn get_tagged(&self, key: &str) -> Result<Option<lake::Tagged>, StoreError> {
        tokio::task::yield_now().await;
        self.0.get_tagged(key).await
    }
    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        condition: lake::Condition,
    ) -> Result<bool, StoreError> {
        tokio::task::yield_now().await;
        self.0.put_if(key, body, content_type, condition).await
    }
}

/// The largest data file of the current snapshot, in bytes.
async fn largest_file(lake: &Lake) -> u64 {
    let state = lake.state().await;
    let live = lake
        .table()
        .live_files(state.metadata.current_snapshot().unwrap())
        .await
        .unwrap();
    live.iter()
        .map(|e| e.data_file.file_size_in_bytes as u64)
        .max()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_query_during_compaction_counts_every_row_once_and_the_previous_snapshot_still_reads() {
    // given a table of many small files over eight closed hours
    let lake = Arc::new(Lake::new());
    for hour_index in 0..8u32 {
        for partition in 0..3 {
            for part in 0..3 {
                let first = i64::from(hour_index) * 100 + part * 4;
                lake.deliver(partition, first, 4, at(hour_index, (part * 15) as u32))
                    .await;
            }
        }
    }
    let truth = rows(&lake, None).await;
    assert_eq!(truth.len(), 8 * 3 * 3 * 4);
    let previous = lake.state().await.metadata.current_snapshot_id.unwrap();

    // when the compactor runs while a reader scans the table over and over
    let done = Arc::new(AtomicBool::new(false));
    let reader = {
        let (lake, done) = (lake.clone(), done.clone());
        tokio::spawn(async move {
            let table = Table::new(
                Paced(lake.store, std::time::Duration::ZERO),
                &*lake.catalog,
                lake.location.clone(),
            );
            let (mut scans, mut seen) = (0, BTreeSet::new());
            loop {
                let finished = done.load(Ordering::SeqCst);
                let snapshot = table
                    .load()
                    .await
                    .unwrap()
                    .unwrap()
                    .metadata
                    .current_snapshot_id;
                seen.insert(snapshot);
                let batches = table.scan(None).await.unwrap();
                let count: usize = batches.iter().map(|b| b.num_rows()).sum();
                let mut held = keys(&batches);
                held.sort();
                assert_eq!(count, 8 * 3 * 3 * 4, "scan {scans} counted {count} rows");
                assert_eq!(held.len(), count);
                held.dedup();
                assert_eq!(held.len(), count, "scan {scans} saw a row twice");
                scans += 1;
                if finished {
                    return (scans, seen);
                }
            }
        })
    };
    let compactor = lake.compactor_on(Paced(lake.store, std::time::Duration::ZERO));
    let summary = handle(&compactor, &run_at(at(23, 0), at(23, 0)))
        .await
        .unwrap();
    done.store(true, Ordering::SeqCst);
    let (scans, seen) = reader.await.unwrap();

    // then every scan, before, during and after, counted every row once
    assert_eq!((summary.files_written, summary.files_merged), (8, 72));
    assert!(scans >= 3, "{scans} scans");
    assert!(
        seen.len() >= 2,
        "the reader saw the table before and after: {seen:?}"
    );
    println!("{scans} scans over {} snapshots", seen.len());
    assert_eq!(rows(&lake, None).await, truth);
    // and the snapshot before the compaction still reads, its small files still there
    assert_eq!(rows(&lake, Some(previous)).await, truth);
}

#[tokio::test]
async fn snapshots_past_the_retention_expire_and_the_marks_and_rows_stay() {
    // given thirty commits, one an hour from 00:00 (the table's timestamps are commit times)
    let lake = Lake::new();
    for n in 0..30i64 {
        let time = at(0, 0) + Duration::hours(n);
        lake.deliver((n % 3) as i32, 1_000 + n, 1, time).await;
    }
    let before = lake.state().await;
    assert_eq!(before.metadata.snapshots.len(), 30);
    let marks = lake.marks().await;
    let all_rows = rows(&lake, None).await;

    // when the compactor runs a day after the last commit's hour began, keeping 24 hours
    // (and at least 5 snapshots)
    let started = at(0, 0) + Duration::hours(29) + Duration::hours(24) + Duration::minutes(30);
    let summary = handle(&lake.compactor(), &run_at(started, started))
        .await
        .unwrap();

    // then only the newest five stay (none is younger than a day), main still names the
    // current one, and the marks and the current rows are as before
    let after = lake.state().await;
    let kept: Vec<i64> = after
        .metadata
        .snapshots
        .iter()
        .map(|s| s.snapshot_id)
        .collect();
    let newest: Vec<i64> = before.metadata.snapshots[25..]
        .iter()
        .map(|s| s.snapshot_id)
        .collect();
    assert_eq!(kept, newest);
    assert_eq!(summary.snapshots_expired, 25);
    assert_eq!(
        after.metadata.current_snapshot_id,
        before.metadata.current_snapshot_id
    );
    assert_eq!(
        after.metadata.refs["main"].snapshot_id,
        before.metadata.current_snapshot_id.unwrap()
    );
    let logged: Vec<i64> = after
        .metadata
        .snapshot_log
        .iter()
        .map(|e| e.snapshot_id)
        .collect();
    assert_eq!(logged, newest);
    assert_eq!(lake.marks().await, marks, "expiry loses no mark");
    assert_eq!(rows(&lake, None).await, all_rows);
    // and the metadata file expiry replaced is in the metadata log
    assert_eq!(
        after.metadata.metadata_log.last().unwrap().metadata_file,
        before.pointer.metadata_location
    );
    // and every retained snapshot still reads
    for id in &kept {
        assert!(!rows(&lake, Some(*id)).await.is_empty());
    }
    // and a later run with nothing older expires nothing
    let again = handle(&lake.compactor(), &run_at(started, started))
        .await
        .unwrap();
    assert_eq!(again.snapshots_expired, 0);
}

#[tokio::test]
async fn unreferenced_files_go_once_old_enough_and_reachable_files_never() {
    // given a compacted table (written at 16:00), whose small files only the snapshots before
    // the rewrite reference, a data file a crashed writer left, and the files of a commit
    // that lost its swap
    let lake = filled().await;
    handle(&lake.compactor(), &run()).await.unwrap();
    let state = lake.state().await;
    let orphan = lake
        .table()
        .write_data_file(
            &batch(0, 900, 3, at(12, 0))[0].batch,
            state.metadata.schema(),
            hour(at(12, 0)),
            "crashed",
            &properties(),
        )
        .await
        .unwrap();
    let orphan_key = lake.location.key_of(&orphan.file_path).unwrap();
    lake.catalog.inject(Fault::BeforeSwap);
    lake.deliver(0, 400, 2, at(15, 20)).await;
    let compacted_away: Vec<String> = {
        let table = lake.table();
        let mut small = BTreeSet::new();
        for snapshot in &state.metadata.snapshots {
            for entry in table.live_files(snapshot).await.unwrap() {
                small.insert(entry.data_file.file_path);
            }
        }
        let current = lake.files_by_hour().await;
        let live: BTreeSet<String> = current.into_values().flatten().collect();
        small
            .difference(&live)
            .map(|uri| lake.location.key_of(uri).unwrap())
            .collect()
    };
    assert_eq!(compacted_away.len(), 14);
    let before_keys = lake.store.keys();
    let mut compactor = lake.compactor();
    compactor.table.as_mut().unwrap().retention = Retention {
        max_age: Duration::hours(24),
        min_snapshots: 1,
    };

    // when the compactor runs an hour later: nothing is a day old yet
    let early = handle(&compactor, &run_at(at(17, 0), at(17, 0)))
        .await
        .unwrap();

    // then nothing is deleted, though the crashed writer's file is unreferenced
    assert_eq!(early.files_deleted, 0);
    assert_eq!(early.files_waiting, 1 + 3, "{early:?}");
    assert_eq!(lake.store.keys(), before_keys);

    // when a file is left just before the next run, and that run comes two days later
    lake.store
        .set_time(at(16, 0) + Duration::days(2) - Duration::hours(1));
    let young = lake
        .table()
        .write_data_file(
            &batch(1, 900, 3, at(12, 0))[0].batch,
            state.metadata.schema(),
            hour(at(12, 0)),
            "crashed",
            &properties(),
        )
        .await
        .unwrap();
    let young_key = lake.location.key_of(&young.file_path).unwrap();
    let later = at(16, 0) + Duration::days(2);
    let summary = handle(&compactor, &run_at(later, later)).await.unwrap();

    // then the old snapshots expired, and the files only they reached are gone with the
    // crashed writer's and the lost commit's, but the young orphan stays
    let after = lake.state().await;
    assert!(summary.snapshots_expired > 0);
    assert!(after.metadata.snapshots.len() < state.metadata.snapshots.len());
    let keys: BTreeSet<String> = lake.store.keys().into_iter().collect();
    assert!(
        !keys.contains(&orphan_key),
        "the crashed writer's file is deleted"
    );
    for key in &compacted_away {
        assert!(
            !keys.contains(key),
            "{key} is referenced by no snapshot left"
        );
    }
    assert!(
        keys.contains(&young_key),
        "a file younger than the safety age stays"
    );
    assert!(
        summary.files_deleted > compacted_away.len() + 1,
        "{summary:?}"
    );
    assert_eq!(summary.files_waiting, 1);
    // and everything the table reaches is still there: the current metadata file, those of
    // its metadata log, every retained snapshot's files, each snapshot still reads
    let references = lake.table().references(&after).await.unwrap();
    let reachable: Vec<&String> = before_keys
        .iter()
        .filter(|k| references.contains(k))
        .collect();
    assert!(!reachable.is_empty());
    for key in reachable {
        assert!(keys.contains(key), "{key} is reachable and was deleted");
    }
    let current_key = lake
        .location
        .key_of(&after.pointer.metadata_location)
        .unwrap();
    assert!(keys.contains(&current_key));
    for entry in &after.metadata.metadata_log {
        let key = lake.location.key_of(&entry.metadata_file).unwrap();
        assert!(keys.contains(&key), "{key} is in the metadata log");
    }
    for snapshot in &after.metadata.snapshots {
        lake.table().scan(Some(snapshot.snapshot_id)).await.unwrap();
    }
    let mut want = expected(0, 100..120);
    want.extend(expected(0, 200..203));
    want.extend(expected(0, 400..402));
    want.extend(expected(1, 100..120));
    want.extend(expected(1, 200..203));
    want.extend(expected(2, 100..120));
    want.extend(expected(2, 300..304));
    want.sort();
    assert_eq!(rows(&lake, None).await, want);
    // and the lease is the only object outside the table
    assert!(
        keys.iter()
            .all(|k| k.starts_with("iceberg/users/data/")
                || k.starts_with("iceberg/users/metadata/")),
        "{keys:?}"
    );
}

/// A store on which, when the compactor first writes a merged file, another engine rewrites
/// two of the hour's files first (and commits), so that the compactor's plan is stale.
struct Meddling {
    lake: &'static Lake,
    done: AtomicBool,
}

impl LakeStore for Meddling {
    async fn list(&self, prefix: &str) -> Result<Vec<lake::ObjectInfo>, StoreError> {
        self.lake.store.list(prefix).await
    }
    async fn get(&self, key: &str) -> Result<bytes::Bytes, StoreError> {
        self.lake.store.get(key).await
    }
    async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<bytes::Bytes, StoreError> {
        self.lake.store.get_range(key, range).await
    }
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(), StoreError> {
        self.lake.store.put(key, body, content_type).await
    }
    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lake.store.delete(key).await
    }
    async fn get_tagged(&self, key: &str) -> Result<Option<lake::Tagged>, StoreError> {
        self.lake.store.get_tagged(key).await
    }
    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        condition: lake::Condition,
    ) -> Result<bool, StoreError> {
        if key.contains("/compacted-") && !self.done.swap(true, Ordering::SeqCst) {
            let table = self.lake.table();
            let state = table.load().await.unwrap().unwrap();
            let live = table
                .live_files(state.metadata.current_snapshot().unwrap())
                .await
                .unwrap();
            let two: Vec<_> = live
                .iter()
                .filter(|e| e.data_file.partition_hour == Some(hour(at(12, 0))))
                .take(2)
                .map(|e| e.data_file.clone())
                .collect();
            let mut batches = Vec::new();
            for file in &two {
                batches.push(table.read_data_file(&file.file_path).await.unwrap());
            }
            let merged = iceberg::sort_rows(&batches).unwrap();
            let file = table
                .write_data_file(
                    &merged,
                    state.metadata.schema(),
                    hour(at(12, 0)),
                    "other-engine",
                    &properties(),
                )
                .await
                .unwrap();
            let change = Change::Replace {
                removed: two.iter().map(|f| f.file_path.clone()).collect(),
                added: vec![file],
            };
            table
                .try_commit(&state, &change, now())
                .await
                .unwrap()
                .unwrap();
        }
        self.lake
            .store
            .put_if(key, body, content_type, condition)
            .await
    }
}

#[tokio::test]
async fn a_rewrite_whose_files_another_engine_replaced_first_is_planned_again() {
    // given a table whose hour 12 another engine partly rewrites while the compactor merges it
    let lake: &'static Lake = Box::leak(Box::new(filled().await));
    let before = rows(lake, None).await;
    let meddling = Meddling {
        lake,
        done: AtomicBool::new(false),
    };
    let compactor = lake.compactor_on(meddling);

    // when
    let summary = handle(&compactor, &run()).await.unwrap();

    // then the stale rewrite is not committed, the hour is planned again on the other
    // engine's result, and every row is there once
    assert!(compactor.store.done.load(Ordering::SeqCst));
    assert_eq!(summary.hours_deferred, 0, "{summary:?}");
    let files = lake.files_by_hour().await;
    assert_eq!(files[&hour(at(12, 0))].len(), 1);
    assert_eq!(files[&hour(at(13, 0))].len(), 1);
    assert_eq!(rows(lake, None).await, before);
    assert_eq!(summary.files_written, 2);
}

/// Counts a writer out when it ends, by returning or by panicking.
struct Finished(Arc<AtomicUsize>);

impl Drop for Finished {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::SeqCst);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn four_writers_compaction_and_expiry_at_once_lose_no_commit_and_double_nothing() {
    // given a table with a first batch on each of four partitions
    let lake = Arc::new(Lake::new());
    for partition in 0..4 {
        lake.deliver(partition, 0, 4, at(10, 0)).await;
    }

    // when four writers append overlapping batches (each one redelivered in part) into hours
    // the compactor sees as closed, while it compacts them and expires every snapshot but the
    // current one, run after run
    let writing = Arc::new(AtomicUsize::new(4));
    let mut writers = Vec::new();
    for partition in 0..4i32 {
        let (lake, writing) = (lake.clone(), writing.clone());
        writers.push(tokio::spawn(async move {
            let _done = Finished(writing);
            let mut written = 0;
            for round in 0..12i64 {
                // a record's Kafka time is its offset's minute after 10:00, whichever batch
                // carries it
                let first = round * 5;
                let time = at(10, 0) + Duration::minutes(first);
                let report = lake
                    .table()
                    .append(&batch(partition, first, 8, time), &properties(), time)
                    .await
                    .unwrap();
                assert_eq!(report.rewound, 0, "{report:?}");
                written += report.written;
            }
            written
        }));
    }
    let maintainer = {
        let (lake, writing) = (lake.clone(), writing.clone());
        tokio::spawn(async move {
            let mut compactor = lake.compactor();
            compactor.grace = Duration::zero();
            let target = compactor.table.as_mut().unwrap();
            target.retention = Retention {
                max_age: Duration::zero(),
                min_snapshots: 1,
            };
            let mut totals = CompactSummary::default();
            let mut runs = 0;
            loop {
                let last = writing.load(Ordering::SeqCst) == 0;
                let summary = handle(&compactor, &run_at(at(23, 0), at(23, 0)))
                    .await
                    .unwrap();
                runs += 1;
                totals.files_merged += summary.files_merged;
                totals.snapshots_expired += summary.snapshots_expired;
                totals.commit_conflicts += summary.commit_conflicts;
                totals.hours_deferred += summary.hours_deferred;
                if last {
                    return (runs, totals);
                }
                // a breath between runs, so that the writers are contended, not starved
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
    };
    let mut written = 4 * 4;
    for writer in writers {
        written += writer.await.unwrap();
    }
    let (runs, totals) = maintainer.await.unwrap();

    // then every record is in the table exactly once, and the marks are each partition's last
    let mut want = Vec::new();
    for partition in 0..4 {
        want.extend(expected(partition, 0..63));
    }
    want.sort();
    assert_eq!(rows(&lake, None).await, want);
    assert_eq!(
        written,
        want.len(),
        "the writers' reports add up to the table"
    );
    let marks = lake.marks().await;
    for partition in 0..4 {
        assert_eq!(marks.get(TOPIC, partition), Some(62));
    }
    assert!(
        totals.files_merged > 0 && totals.snapshots_expired > 0,
        "{totals:?}"
    );
    let (swaps, conflicts) = lake.catalog.counts();
    println!(
        "{runs} maintenance runs, {swaps} swaps, {conflicts} conflicts retried, {} by the compactor; {totals:?}",
        totals.commit_conflicts
    );
    // and once the writers are done, a final run leaves every hour one file, and removing
    // every unreferenced file (no commit is in flight now) keeps every row readable
    let mut compactor = lake.compactor();
    compactor.grace = Duration::zero();
    let target = compactor.table.as_mut().unwrap();
    target.retention = Retention {
        max_age: Duration::zero(),
        min_snapshots: 1,
    };
    target.orphan_min_age = Duration::zero();
    let last = handle(
        &compactor,
        &run_at(at(23, 0), at(23, 0) + Duration::days(1)),
    )
    .await
    .unwrap();
    assert!(last.files_deleted > 0, "{last:?}");
    assert!(lake.files_by_hour().await.values().all(|f| f.len() == 1));
    assert_eq!(rows(&lake, None).await, want);
    assert_eq!(lake.state().await.metadata.snapshots.len(), 1);
}

#[tokio::test]
async fn hours_left_when_the_deadline_is_near_are_deferred_to_the_next_run() {
    // given
    let lake = filled().await;
    let snapshots = lake.state().await.metadata.snapshots.len();

    // when a run starts with less time left than the reserve
    let mut short = run();
    short.deadline = short.started + iceberg::RESERVE - Duration::seconds(1);
    let summary = handle(&lake.compactor(), &short).await.unwrap();

    // then it merges nothing, says the two closed hours are deferred, and commits nothing
    assert_eq!((summary.partitions, summary.hours_deferred), (0, 2));
    assert!(summary.cleanup_deferred);
    assert_eq!(lake.state().await.metadata.snapshots.len(), snapshots);
    // and the next run does them
    let next = handle(&lake.compactor(), &run()).await.unwrap();
    assert_eq!((next.partitions, next.hours_deferred), (2, 0));
}

#[tokio::test]
async fn an_hour_cut_short_by_the_deadline_commits_the_groups_merged_and_defers_the_rest() {
    // given hour 12 in three groups of four files, and data files that take 400 ms to read
    let lake = filled().await;
    let before = rows(&lake, None).await;
    let target = largest_file(&lake).await * 4;
    let mut compactor = lake.compactor_on(Paced(lake.store, std::time::Duration::from_millis(400)));
    compactor.target_bytes = target;

    // when a run has a second of work before its reserve
    let mut short = run();
    short.deadline = short.started + iceberg::RESERVE + Duration::seconds(1);
    let summary = handle(&compactor, &short).await.unwrap();

    // then the first group (1.6 s of reading) is committed, and the rest of hour 12, hour 13
    // and the clean-up wait for the next run
    assert_eq!((summary.files_merged, summary.files_written), (4, 1));
    assert_eq!(summary.hours_deferred, 2, "{summary:?}");
    assert!(summary.cleanup_deferred);
    assert_eq!(lake.files_by_hour().await[&hour(at(12, 0))].len(), 1 + 8);
    assert_eq!(rows(&lake, None).await, before);
    // and the next run finishes the hours (the merged file may be packed with others again)
    let mut next = lake.compactor();
    next.target_bytes = target;
    let summary = handle(&next, &run()).await.unwrap();
    assert_eq!(summary.hours_deferred, 0);
    assert!(summary.files_merged >= 8 + 2, "{summary:?}");
    let files = lake.files_by_hour().await;
    assert!(files[&hour(at(12, 0))].len() <= 3, "{files:?}");
    assert_eq!(files[&hour(at(13, 0))].len(), 1);
    assert_eq!(rows(&lake, None).await, before);
}

#[tokio::test]
async fn a_run_that_finds_another_at_work_leaves_the_table_alone() {
    // given a lease another run holds
    let lake = filled().await;
    let layout = lake::Layout::new("");
    compactor::lease::take(
        lake.store,
        &layout,
        "other",
        now(),
        now() + Duration::minutes(15),
    )
    .await
    .unwrap();
    let pointer = lake.state().await.pointer;

    // when
    let summary = handle(&lake.compactor(), &run()).await.unwrap();

    // then
    assert_eq!(summary.skipped_for.as_deref(), Some("other"));
    assert_eq!(lake.state().await.pointer, pointer);
}

#[tokio::test]
async fn a_table_run_reports_what_it_did_in_one_summary_line() {
    // given a compacted table whose pre-rewrite snapshots are all past a day old two days on
    let lake = filled().await;
    handle(&lake.compactor(), &run()).await.unwrap();
    let mut compactor = lake.compactor();
    let (metrics, captured) = lambda_kit::emf::Metrics::captured(
        CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake")])
            .unwrap()
            .metrics,
    );
    compactor.metrics = metrics;
    lake.deliver(0, 500, 2, at(15, 40)).await;
    lake.deliver(0, 502, 2, at(15, 42)).await;

    // when it runs two days later, and the hour the two new batches landed in is closed
    let later = now() + Duration::days(2);
    let summary = handle(&compactor, &run_at(later, later)).await.unwrap();

    // then its one line carries the counts of every step
    let lines = captured.lines();
    assert_eq!(lines.len(), 1);
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["FilesMerged"], 4, "{line}");
    assert_eq!(line["FilesWritten"], 1);
    assert_eq!(line["SnapshotsExpired"], summary.snapshots_expired);
    assert!(summary.snapshots_expired > 0);
    assert_eq!(line["FilesDeleted"], summary.files_deleted);
    assert!(summary.files_deleted > 0);
    assert_eq!(line["HoursDeferred"], 0);
    assert_eq!(line["CommitConflicts"], 0);
    assert_eq!(line["Errors"], 0);
    assert!(line.get("cleanupDeferred").is_none());
    let metrics: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    for name in [
        "FilesMerged",
        "FilesWritten",
        "SnapshotsExpired",
        "FilesDeleted",
        "HoursDeferred",
    ] {
        assert!(metrics.contains(&name), "{name} in {metrics:?}");
    }
}

#[tokio::test]
async fn the_table_layout_without_a_catalog_is_a_wiring_error() {
    let lake = filled().await;
    let config = CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake")]).unwrap();
    let mut compactor = Compactor::new(lake.store, &config);
    compactor.metrics = lambda_kit::emf::Metrics::captured(config.metrics.clone()).0;
    let error = handle(&compactor, &run()).await.unwrap_err();
    assert!(
        matches!(error, compactor::CompactError::NoCatalog),
        "{error}"
    );
}

#[tokio::test]
async fn a_table_in_s3_tables_is_left_to_s3_tables_maintenance() {
    // given a filled lake whose table the settings place in S3 Tables
    let lake = filled().await;
    let config = CompactorConfig::from_source(&[
        ("LAKE_BUCKET", "data-lake"),
        (
            "ICEBERG_CATALOG",
            "s3tables:arn:aws:s3tables:us-east-1:123456789012:bucket/user-lake-tables",
        ),
    ])
    .unwrap();
    let mut compactor = Compactor::new(lake.store, &config);
    let (metrics, captured) = lambda_kit::emf::Metrics::captured(config.metrics.clone());
    compactor.metrics = metrics;
    assert!(compactor.maintained_by_catalog);
    assert!(compactor.table.is_none(), "no table to open");
    let (before, mutations) = (lake.store.keys(), lake.store.mutations());

    // when a run comes long after every hour closed
    let later = now() + Duration::days(2);
    let summary = handle(&compactor, &run_at(later, later)).await.unwrap();

    // then it touched nothing (not even its lease), and says so in its summary line
    assert_eq!(summary, CompactSummary::default());
    assert_eq!(lake.store.keys(), before);
    assert_eq!(
        lake.store.mutations(),
        mutations,
        "no lease taken and given back"
    );
    assert_eq!(captured.lines().len(), 1);
}
