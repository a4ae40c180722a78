//! The compactor against an in-memory lake filled by the real sink: closed hours merged and
//! sorted, open hours untouched, the target size respected, a crash between any two steps
//! followed by a re-run converging with no row lost or doubled, re-delivered batches absorbed,
//! and a bad object stopping only its own partition.

use std::sync::atomic::{AtomicUsize, Ordering};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use bytes::Bytes;
use chrono::{DateTime, Duration, TimeZone, Utc};
use compactor::{
    CompactSummary, Compactor, CompactorConfig, LakeStore, MemoryStore, ObjectInfo, StoreError,
    handle, merge, plan::MERGED_PREFIX,
};
use sink::{Sink, SinkConfig};
use user_record::emf::Metrics;
use user_record::{UserRecord, lake::LakeRow};

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
        first_name: format!("Zoë {n}"),
        last_name: "Ørsted".into(),
        gender: if n % 2 == 0 { "female" } else { "male" }.into(),
        address: format!("{n} Main St, Springfield, Oregon, United States"),
        post_code: format!("{:05}", n % 100_000),
        email: format!("user{n}@example.com"),
        username: format!("user{n}"),
        dob: at(0, 0) - Duration::days(10_000 + n),
        registered_date: at(0, 0) - Duration::days(n),
        phone: "(272) 790-0888".into(),
        picture: "https://randomuser.me/api/portraits/med/women/75.jpg".into(),
    }
}

/// An MSK event of consecutive offsets on one partition, one record per minute from `time`.
fn event(partition: i32, first: i64, count: i64, time: DateTime<Utc>) -> String {
    let records: Vec<serde_json::Value> = (first..first + count)
        .map(|offset| {
            let record = user(partition, offset);
            serde_json::json!({
                "topic": "users_created",
                "partition": partition,
                "offset": offset,
                "timestamp": (time + Duration::minutes(offset - first)).timestamp_millis(),
                "timestampType": "CREATE_TIME",
                "key": BASE64.encode(record.key()),
                "value": BASE64.encode(record.to_json()),
                "headers": [],
            })
        })
        .collect();
    serde_json::json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/user-lake/x",
        "bootstrapServers": "127.0.0.1:9092",
        "records": { format!("users_created-{partition}"): records },
    })
    .to_string()
}

fn lake_config() -> SinkConfig {
    SinkConfig::from_source(&[("LAKE_BUCKET", "data-lake")]).unwrap()
}

async fn deliver(store: &MemoryStore, event: &str) {
    let config = lake_config();
    let mut sink = Sink::new(store, &config);
    // the sink's summary lines stay out of the test output
    sink.metrics = Metrics::captured(config.metrics.clone()).0;
    sink::handle_json(event, &sink, now()).await.unwrap();
}

/// Twelve sink batches: hour 12 on three partitions (four batches each of five records), two
/// batches in hour 13, and one in the still open hour 15.
async fn filled_lake() -> MemoryStore {
    let store = MemoryStore::default();
    for partition in 0..3 {
        for batch in 0..4 {
            let first = 100 + batch * 5;
            deliver(
                &store,
                &event(partition, first, 5, at(12, (batch * 10) as u32)),
            )
            .await;
        }
    }
    deliver(&store, &event(0, 200, 3, at(13, 5))).await;
    deliver(&store, &event(1, 200, 3, at(13, 5))).await;
    deliver(&store, &event(2, 300, 4, at(15, 1))).await;
    store
}

fn compactor<S>(store: S, target_bytes: Option<u64>) -> Compactor<S> {
    let mut config = CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake")]).unwrap();
    if let Some(target) = target_bytes {
        config.target_bytes = target;
    }
    Compactor::new(store, &config)
}

/// Every row of every Parquet object under `dir`, in key order then file order.
fn rows_under(lake: &MemoryStore, dir: &str) -> Vec<LakeRow> {
    lake.snapshot()
        .into_iter()
        .filter(|(key, _)| key.starts_with(dir) && key.ends_with(".parquet"))
        .flat_map(|(key, body)| merge::read(&key, body).unwrap())
        .flat_map(|batch| user_record::lake::rows(&batch).unwrap())
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
    let summary = handle(&compactor(&lake, None), now()).await.unwrap();

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
    let spans = merge::spans(&merged_12[0], lake.snapshot()[&merged_12[0]].clone()).unwrap();
    assert_eq!(spans.len(), 12);
    assert!(spans.iter().all(|s| s.last - s.first == 4), "{spans:?}");
}

#[tokio::test]
async fn a_second_run_finds_nothing_to_do() {
    // given a compacted lake
    let lake = filled_lake().await;
    handle(&compactor(&lake, None), now()).await.unwrap();
    let compacted = lake.snapshot();

    // when the compactor runs again
    let summary = handle(&compactor(&lake, None), now()).await.unwrap();

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
    handle(&compactor(&lake, Some(target)), now())
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

/// A lake that dies at its `crash_at`-th write or delete: that call and every call after it
/// fail, as if the function had stopped there.
struct CrashingStore<'a> {
    inner: &'a MemoryStore,
    crash_at: usize,
    mutations: AtomicUsize,
}

impl CrashingStore<'_> {
    fn dead(&self) -> bool {
        self.mutations.load(Ordering::SeqCst) >= self.crash_at
    }

    fn crash(&self, key: &str) -> StoreError {
        StoreError::Put {
            bucket: "memory".into(),
            key: key.into(),
            message: "simulated crash".into(),
        }
    }

    fn mutate(&self, key: &str) -> Result<(), StoreError> {
        if self.mutations.fetch_add(1, Ordering::SeqCst) >= self.crash_at {
            return Err(self.crash(key));
        }
        Ok(())
    }
}

impl LakeStore for CrashingStore<'_> {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        if self.dead() {
            return Err(self.crash(prefix));
        }
        self.inner.list(prefix).await
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        if self.dead() {
            return Err(self.crash(key));
        }
        self.inner.get(key).await
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.mutate(key)?;
        self.inner.put(key, body).await
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.mutate(key)?;
        self.inner.delete(key).await
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
    handle(&compactor(&clean, Some(target)), now())
        .await
        .unwrap();
    let expected = clean.snapshot();
    let steps = {
        let lake = filled_lake().await;
        let counting = CrashingStore {
            inner: &lake,
            crash_at: usize::MAX,
            mutations: AtomicUsize::new(0),
        };
        handle(&compactor(&counting, Some(target)), now())
            .await
            .unwrap();
        counting.mutations.into_inner()
    };
    assert!(steps >= 15, "puts and deletes of a run: {steps}");

    for crash_at in 0..steps {
        // when a run stops before its crash_at-th write or delete
        let lake = filled_lake().await;
        let crashing = CrashingStore {
            inner: &lake,
            crash_at,
            mutations: AtomicUsize::new(0),
        };
        assert!(
            handle(&compactor(&crashing, Some(target)), now())
                .await
                .is_err()
        );

        // then every row is still there (perhaps twice, until the next run)
        let mut after_crash = sorted(rows_under(&lake, "users/"));
        after_crash.dedup();
        assert_eq!(
            after_crash, expected_rows,
            "rows lost after a crash at step {crash_at}"
        );

        // and a re-run leaves exactly what an uninterrupted run leaves
        handle(&compactor(&lake, Some(target)), now())
            .await
            .unwrap();
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
    handle(&compactor(&lake, None), now()).await.unwrap();
    let compacted = lake.snapshot();

    // when the same batch is delivered again, the next run removes it and writes nothing
    deliver(&lake, &event(1, 105, 5, at(12, 10))).await;
    assert_eq!(keys_under(&lake, HOUR_12).len(), 2);
    let again = handle(&compactor(&lake, None), now()).await.unwrap();
    assert_eq!((again.originals_removed, again.merged_written), (1, 0));
    assert_eq!(lake.snapshot(), compacted);

    // when a batch cut differently overlaps merged rows and brings new ones (offsets 112-124
    // of partition 0: 112-119 were merged already, 120-124 are new)
    deliver(&lake, &event(0, 112, 13, at(12, 30))).await;
    let summary = handle(&compactor(&lake, None), now()).await.unwrap();

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
    let error = handle(&compactor(&lake, None), now()).await.unwrap_err();

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
