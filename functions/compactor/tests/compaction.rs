//! The compactor on the plain-files layout (`LAKE_FORMAT=files`) against an in-memory lake
//! filled with objects as the sink writes them (the lake crate's keys, rows and writer
//! settings): closed hours merged and sorted, open hours untouched, the target size respected,
//! a crash between any two steps followed by a re-run converging with no row lost or doubled,
//! re-delivered batches absorbed, and a bad object stopping only its own partition.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, TimeZone, Utc};
use compactor::{CompactSummary, Compactor, CompactorConfig, Run, handle, merge};
use lake::{
    Hour, LakeRow, LakeStore, Layout, OutputFormat, RowsBuilder, Span, StoreError,
    keys::MERGED_PREFIX, testing::MemoryStore,
};
use user_record::UserRecord;

const HOUR_12: &str = "users/dt=2026-11-24/hour=12/";
const HOUR_13: &str = "users/dt=2026-11-24/hour=13/";
const HOUR_15: &str = "users/dt=2026-11-24/hour=15/";

fn at(hour: u32, minute: u32) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, hour, minute, 0).unwrap()
}

/// 16:00: with the default two hours of grace, hours 12 and 13 are closed, 15 is open.
fn now() -> DateTime<Utc> {
    at(16, 0)
}

fn user(partition: i32, offset: i64) -> UserRecord {
    let n = partition as i64 * 1_000_000 + offset;
    UserRecord {
        id: format!("00000000-0000-4000-8000-{n:012}").parse().unwrap(),
        first_name: format!("Zoë {n}").into(),
        last_name: "Ørsted".into(),
        gender: if n % 2 == 0 { "female" } else { "male" }.into(),
        address: format!("{n} Main St, Springfield, Oregon, United States").into(),
        post_code: format!("{:05}", n % 100_000).into(),
        email: format!("user{n}@example.com").into(),
        username: format!("user{n}").into(),
        dob: at(0, 0) - Duration::days(10_000 + n),
        registered_date: at(0, 0) - Duration::days(n),
        phone: "(272) 790-0888".into(),
        picture: "https://randomuser.me/api/portraits/med/women/75.jpg".into(),
    }
}

/// Writes what the sink writes for a batch of consecutive offsets on one partition, one record
/// per minute from `time`: one Parquet object per hour the batch touches, named by the span of
/// its offsets, encoded with the lake's writer settings.
async fn deliver(store: &MemoryStore, partition: i32, first: i64, count: i64, time: DateTime<Utc>) {
    let layout = Layout::new("");
    let mut hours: BTreeMap<Hour, (RowsBuilder, i64, i64)> = BTreeMap::new();
    for offset in first..first + count {
        let timestamp = time + Duration::minutes(offset - first);
        let row = LakeRow {
            record: user(partition, offset),
            topic: "users_created".into(),
            partition,
            offset,
            timestamp,
        };
        let (rows, low, high) = hours
            .entry(Hour::of(timestamp))
            .or_insert_with(|| (RowsBuilder::default(), offset, offset));
        rows.push_row(&row);
        (*low, *high) = ((*low).min(offset), (*high).max(offset));
    }
    let properties = lake::writer::writer_properties(config().lake.compression, "test");
    for (hour, (rows, first, last)) in hours {
        let batch = rows.finish().unwrap();
        let mut writer = parquet::arrow::ArrowWriter::try_new(
            Vec::new(),
            batch.schema(),
            Some(properties.clone()),
        )
        .unwrap();
        writer.write(&batch).unwrap();
        let span = Span {
            topic: "users_created".into(),
            partition,
            first,
            last,
        };
        let key = layout.original_key(OutputFormat::Parquet, hour, span);
        let body = writer.into_inner().unwrap();
        store
            .put(&key, body, "application/vnd.apache.parquet")
            .await
            .unwrap();
    }
}

/// The plain-files layout's settings (the table's compaction is tested in `table.rs`).
fn config() -> CompactorConfig {
    CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake"), ("LAKE_FORMAT", "files")]).unwrap()
}

/// Twelve sink batches: hour 12 on three partitions (four batches each of five records), two
/// batches in hour 13, and one in the still open hour 15; every write is stamped with the time
/// the runs start.
async fn filled_lake() -> MemoryStore {
    let store = MemoryStore::default();
    store.set_time(now());
    for partition in 0..3 {
        for batch in 0..4 {
            let first = 100 + batch * 5;
            deliver(&store, partition, first, 5, at(12, (batch * 10) as u32)).await;
        }
    }
    deliver(&store, 0, 200, 3, at(13, 5)).await;
    deliver(&store, 1, 200, 3, at(13, 5)).await;
    deliver(&store, 2, 300, 4, at(15, 1)).await;
    store
}

/// A compactor over `store` that deletes originals in the run that merges them, with its
/// summary lines kept off the test's output.
fn compactor<S>(store: S, target_bytes: Option<u64>) -> Compactor<S> {
    let mut config = config();
    if let Some(target) = target_bytes {
        config.target_bytes = target;
    }
    config.delete_delay = Duration::zero();
    let mut compactor = Compactor::new(store, &config);
    compactor.metrics = lambda_kit::emf::Metrics::captured(config.metrics.clone()).0;
    compactor
}

/// A run judging by `now`, started by the clock at `started` with 15 minutes to go.
fn run_at(now: DateTime<Utc>, started: DateTime<Utc>) -> Run {
    static RUNS: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
    let n = RUNS.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    Run {
        id: format!("run-{n}"),
        now,
        started,
        deadline: started + Duration::minutes(15),
    }
}

/// A run at 16:00, started then.
fn run() -> Run {
    run_at(now(), now())
}

/// A store that lets other tasks run before each of its calls, as a network round trip
/// would, so that two runs joined on one task really interleave.
struct Interleaved<'a>(&'a MemoryStore);

impl LakeStore for Interleaved<'_> {
    async fn list(&self, prefix: &str) -> Result<Vec<lake::ObjectInfo>, StoreError> {
        tokio::task::yield_now().await;
        self.0.list(prefix).await
    }
    async fn get(&self, key: &str) -> Result<bytes::Bytes, StoreError> {
        tokio::task::yield_now().await;
        self.0.get(key).await
    }
    async fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> Result<bytes::Bytes, StoreError> {
        tokio::task::yield_now().await;
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

/// Every row of every Parquet object under `dir`, in key order then file order.
fn rows_under(lake: &MemoryStore, dir: &str) -> Vec<LakeRow> {
    lake.snapshot()
        .into_iter()
        .filter(|(key, _)| key.starts_with(dir) && key.ends_with(".parquet"))
        .flat_map(|(key, body)| merge::read(&key, body).unwrap())
        .flat_map(|batch| lake::rows::rows(&batch).unwrap())
        .collect()
}

fn sorted(mut rows: Vec<LakeRow>) -> Vec<LakeRow> {
    rows.sort_by_key(|r| (r.partition, r.offset));
    rows
}

fn keys_under(lake: &MemoryStore, dir: &str) -> Vec<String> {
    lake.keys()
        .into_iter()
        .filter(|k| k.starts_with(dir))
        .collect()
}

#[tokio::test]
async fn closed_hours_become_one_sorted_object_and_open_hours_are_left_alone() {
    // given a lake of small sink objects
    let lake = filled_lake().await;
    let before_12 = sorted(rows_under(&lake, HOUR_12));
    let before_15 = keys_under(&lake, HOUR_15);
    assert_eq!(keys_under(&lake, HOUR_12).len(), 12);

    // when the compactor runs at 16:00
    let summary = handle(&compactor(&lake, None), &run()).await.unwrap();

    // then hours 12 and 13 are one merged object each, holding the same rows, sorted
    let merged_12 = keys_under(&lake, HOUR_12);
    assert_eq!(merged_12.len(), 1, "{merged_12:?}");
    assert!(merged_12[0].starts_with(&format!("{HOUR_12}{MERGED_PREFIX}")));
    let after_12 = rows_under(&lake, HOUR_12);
    assert_eq!(
        after_12, before_12,
        "same rows, in kafka_partition, kafka_offset order"
    );
    assert_eq!(keys_under(&lake, HOUR_13).len(), 1);
    assert_eq!(rows_under(&lake, HOUR_13).len(), 6);
    // and the open hour is untouched
    assert_eq!(keys_under(&lake, HOUR_15), before_15);
    assert_eq!(
        summary,
        CompactSummary {
            partitions: 2,
            open: 1,
            failed: 0,
            originals_removed: 14,
            merged_written: 2,
            rows: 66,
            ..summary.clone()
        }
    );
    assert!(summary.bytes_read > 0 && summary.bytes_written > 0);
    // and the merged object's footer names the spans it replaced
    let spans = merge::spans(&merged_12[0], lake.body(&merged_12[0])).unwrap();
    assert_eq!(spans.len(), 12);
    assert!(spans.iter().all(|s| s.last - s.first == 4), "{spans:?}");
}

#[tokio::test]
async fn hours_left_when_the_deadline_is_near_are_deferred_to_the_next_run() {
    // given a lake with two closed hours of originals
    let lake = filled_lake().await;
    let before = lake.keys();

    // when a run starts with less time left than the reserve
    let mut short = run();
    short.deadline = short.started + compactor::iceberg::RESERVE - Duration::seconds(1);
    let summary = handle(&compactor(&lake, None), &short).await.unwrap();

    // then it merges nothing, says the two closed hours are deferred, and changes nothing
    assert_eq!((summary.partitions, summary.hours_deferred), (0, 2));
    assert_eq!(summary.merged_written, 0);
    let after: Vec<String> = (lake.keys().into_iter())
        .filter(|k| !k.contains("_compactor/"))
        .collect();
    let before: Vec<String> = before
        .into_iter()
        .filter(|k| !k.contains("_compactor/"))
        .collect();
    assert_eq!(after, before);
    // and the next run does them
    let next = handle(&compactor(&lake, None), &run()).await.unwrap();
    assert_eq!((next.partitions, next.hours_deferred), (2, 0));
}

#[tokio::test]
async fn a_second_run_finds_nothing_to_do() {
    // given a compacted lake
    let lake = filled_lake().await;
    handle(&compactor(&lake, None), &run()).await.unwrap();
    let compacted = lake.snapshot();

    // when the compactor runs again
    let summary = handle(&compactor(&lake, None), &run()).await.unwrap();

    // then nothing changed
    assert_eq!(lake.snapshot(), compacted);
    assert_eq!(
        (
            summary.partitions,
            summary.originals_removed,
            summary.merged_written
        ),
        (0, 0, 0)
    );
}

#[tokio::test]
async fn the_target_size_splits_a_partition_into_several_sorted_objects() {
    // given a target of about four sink objects
    let lake = filled_lake().await;
    let before = sorted(rows_under(&lake, HOUR_12));
    let sizes: Vec<u64> = lake
        .list(HOUR_12)
        .await
        .unwrap()
        .iter()
        .map(|o| o.size)
        .collect();
    let target = sizes.iter().max().unwrap() * 4;

    // when
    handle(&compactor(&lake, Some(target)), &run())
        .await
        .unwrap();

    // then hour 12 is three objects (one per partition's four batches), together the same rows
    let keys = keys_under(&lake, HOUR_12);
    assert_eq!(keys.len(), 3, "{keys:?}");
    assert_eq!(sorted(rows_under(&lake, HOUR_12)), before);
    for key in keys {
        let rows = rows_under(&lake, &key);
        let order: Vec<_> = rows.iter().map(|r| (r.partition, r.offset)).collect();
        assert!(order.is_sorted(), "{key}: {order:?}");
    }
}

#[tokio::test]
async fn a_crash_between_any_two_steps_then_a_rerun_converges_without_loss_or_duplicates() {
    // given the outcome of an uninterrupted run, and a target that makes several objects
    let target = {
        let lake = filled_lake().await;
        let sizes = lake.list(HOUR_12).await.unwrap();
        sizes.iter().map(|o| o.size).max().unwrap() * 5
    };
    let clean = filled_lake().await;
    let expected_rows = sorted(rows_under(&clean, "users/"));
    handle(&compactor(&clean, Some(target)), &run())
        .await
        .unwrap();
    let expected = clean.snapshot();
    let steps = {
        let lake = filled_lake().await;
        let filled = lake.mutations();
        handle(&compactor(&lake, Some(target)), &run())
            .await
            .unwrap();
        lake.mutations() - filled
    };
    assert!(steps >= 15, "puts and deletes of a run: {steps}");

    for crash_at in 0..steps {
        // when a run stops before its crash_at-th write or delete (its last one gives the
        // lease back: a run that fails only there has done its work, and the lease expires)
        let lake = filled_lake().await;
        lake.crash_after_mutations(crash_at);
        let crashed = handle(&compactor(&lake, Some(target)), &run()).await;
        assert_eq!(crashed.is_err(), crash_at + 1 < steps, "step {crash_at}");
        lake.heal();

        // then every row is still there (perhaps twice, until the next run)
        let mut after_crash = sorted(rows_under(&lake, "users/"));
        after_crash.dedup();
        assert_eq!(
            after_crash, expected_rows,
            "rows lost after a crash at step {crash_at}"
        );

        // and a re-run, once the crashed run's lease has expired, leaves exactly what an
        // uninterrupted run leaves
        let later = run_at(now(), now() + Duration::minutes(20));
        let rerun = handle(&compactor(&lake, Some(target)), &later)
            .await
            .unwrap();
        assert_eq!(rerun.skipped_for, None, "step {crash_at}");
        assert_eq!(
            sorted(rows_under(&lake, "users/")),
            expected_rows,
            "rows after a crash at step {crash_at} and a re-run"
        );
        assert_eq!(
            lake.keys(),
            expected.keys().cloned().collect::<Vec<_>>(),
            "objects after a crash at step {crash_at} and a re-run"
        );
    }
}

#[tokio::test]
async fn batches_delivered_again_into_a_compacted_hour_are_absorbed_without_duplicates() {
    // given a compacted lake
    let lake = filled_lake().await;
    handle(&compactor(&lake, None), &run()).await.unwrap();
    let compacted = lake.snapshot();

    // when the same batch is delivered again, the next run removes it and writes nothing
    deliver(&lake, 1, 105, 5, at(12, 10)).await;
    assert_eq!(keys_under(&lake, HOUR_12).len(), 2);
    let again = handle(&compactor(&lake, None), &run()).await.unwrap();
    assert_eq!((again.originals_removed, again.merged_written), (1, 0));
    assert_eq!(lake.snapshot(), compacted);

    // when a batch cut differently overlaps merged rows and brings new ones (offsets 112-124
    // of partition 0: 112-119 were merged already, 120-124 are new)
    deliver(&lake, 0, 112, 13, at(12, 30)).await;
    let summary = handle(&compactor(&lake, None), &run()).await.unwrap();

    // then only the new rows are added, in a second merged object
    assert_eq!((summary.merged_written, summary.rows), (1, 5));
    let rows = sorted(rows_under(&lake, HOUR_12));
    let mut coordinates: Vec<_> = rows.iter().map(|r| (r.partition, r.offset)).collect();
    let total = coordinates.len();
    coordinates.dedup();
    assert_eq!(coordinates.len(), total, "no row twice");
    assert_eq!(total, 60 + 5);
}

#[tokio::test]
async fn an_object_that_is_not_lake_parquet_stops_only_its_own_partition() {
    // given a corrupt object among hour 12's originals
    let lake = filled_lake().await;
    lake.insert(
        &format!("{HOUR_12}users_created-0-900-901.parquet"),
        b"PAR1 not really".to_vec(),
    );
    let before_12 = lake
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(HOUR_12))
        .count();

    // when
    let error = handle(&compactor(&lake, None), &run()).await.unwrap_err();

    // then the run fails naming it, hour 12 loses nothing and hour 13 is compacted anyway
    assert!(
        error
            .to_string()
            .contains("users_created-0-900-901.parquet"),
        "{error}"
    );
    assert!(
        error.to_string().contains("1 partition(s) failed"),
        "{error}"
    );
    assert_eq!(keys_under(&lake, HOUR_12).len(), before_12);
    assert_eq!(keys_under(&lake, HOUR_13).len(), 1);
}

#[tokio::test]
async fn originals_stay_until_their_merged_object_is_old_enough_and_are_read_twice_meanwhile() {
    // given a lake of small objects and a compactor that waits an hour before deleting
    let lake = filled_lake().await;
    let before = sorted(rows_under(&lake, HOUR_12));
    let mut waiting = compactor(&lake, None);
    waiting.delete_delay = Duration::minutes(60);
    lake.set_time(at(16, 0));

    // when it runs at 16:00, again at 16:30, and at 17:01
    let first = handle(&waiting, &run_at(at(16, 0), at(16, 0)))
        .await
        .unwrap();
    let during = sorted(rows_under(&lake, HOUR_12));
    let second = handle(&waiting, &run_at(at(16, 30), at(16, 30)))
        .await
        .unwrap();
    let third = handle(&waiting, &run_at(at(17, 1), at(17, 1)))
        .await
        .unwrap();

    // then the first merges and keeps the originals, so that a reader meanwhile finds each row
    // twice (merged and original) and none missing; the second, too early, deletes nothing;
    // the third deletes them and every row is there once
    assert_eq!((first.merged_written, first.originals_removed), (2, 0));
    assert_eq!(first.originals_waiting, 14);
    let mut twice: Vec<LakeRow> = before.iter().flat_map(|r| [r.clone(), r.clone()]).collect();
    twice.sort_by_key(|r| (r.partition, r.offset));
    assert_eq!(during, twice);
    assert_eq!((second.merged_written, second.originals_removed), (0, 0));
    assert_eq!(second.originals_waiting, 14);
    assert_eq!((third.merged_written, third.originals_removed), (0, 14));
    assert_eq!(sorted(rows_under(&lake, HOUR_12)), before);
    assert_eq!(keys_under(&lake, HOUR_12).len(), 1);
}

#[tokio::test]
async fn two_overlapping_runs_compact_each_hour_once() {
    // given a lake of small objects
    let lake = filled_lake().await;
    let before = sorted(rows_under(&lake, "users/"));

    // when two runs start together (an event delivered twice, or a slow run meeting the next)
    let (a, b) = (
        compactor(Interleaved(&lake), None),
        compactor(Interleaved(&lake), None),
    );
    let (run_a, run_b) = (run(), run());
    let (one, other) = tokio::join!(handle(&a, &run_a), handle(&b, &run_b));
    let (one, other) = (one.unwrap(), other.unwrap());

    // then one compacts and the other stands aside, and every row is there once
    let skipped = [&one, &other]
        .iter()
        .filter(|s| s.skipped_for.is_some())
        .count();
    assert_eq!(skipped, 1, "{one:?} {other:?}");
    assert_eq!(one.merged_written + other.merged_written, 2);
    assert_eq!(sorted(rows_under(&lake, "users/")), before);
    assert_eq!(keys_under(&lake, HOUR_12).len(), 1);
    assert!(
        lake.keys().iter().all(|k| !k.contains("_compactor/")),
        "the lease is given back"
    );
}

#[tokio::test]
async fn a_run_emits_one_summary_line_with_its_counts() {
    // given
    let lake = filled_lake().await;
    let mut counted = compactor(&lake, None);
    let (metrics, captured) = lambda_kit::emf::Metrics::captured(config().metrics);
    counted.metrics = metrics;

    // when
    handle(&counted, &run()).await.unwrap();

    // then
    let lines = captured.lines();
    assert_eq!(lines.len(), 1);
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(line["FunctionName"], "compactor");
    assert_eq!(line["MergedWritten"], 2);
    assert_eq!(line["OriginalsRemoved"], 14);
    assert_eq!(line["Skipped"], 0);
    assert_eq!(line["Errors"], 0);
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "UserLake"
    );
}
