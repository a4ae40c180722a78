//! The status of the Iceberg table (an in-memory lake and catalog) filled by the table's own
//! append and compacted by its own replace commit: everything is read from the metadata and the
//! manifests, with every data file unreadable to prove that none is opened; the marks measured
//! against the topic's end offsets; and the JSON and the table for people.

use std::collections::BTreeMap;

use arrow::record_batch::RecordBatch;
use chrono::{DateTime, Duration, Utc};
use lake::{
    LakeRow, Layout, RowsBuilder,
    testing::{MemoryStore, Operation},
    writer::writer_properties,
};
use parquet::{basic::Compression, file::properties::WriterProperties};
use status::{
    ErrorsStatus, KafkaStatus, KafkaView, LakeStatus, LakeView, LookCache, PartitionStatus, Status,
    table as human_table, table_status,
};
use table::{Change, Slice, Table, TableLocation, catalog::memory::MemoryCatalog, files::hour_of};
use user_record::UserRecord;

type TestTable<'a> = Table<&'a MemoryStore, &'a MemoryCatalog>;

fn at(minutes: i64) -> DateTime<Utc> {
    "2026-11-24T12:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minutes)
}

fn row(partition: i32, offset: i64, when: DateTime<Utc>) -> LakeRow {
    let json = format!(
        r#"{{"id":"00000000-0000-4000-80{partition:02}-{offset:012}","first_name":"A","last_name":"B","gender":"x","address":"a","post_code":"1","email":"e","username":"u","dob":"2000-01-01T00:00:00Z","registered_date":"2020-01-01T00:00:00Z","phone":"p","picture":"q"}}"#
    );
    LakeRow {
        record: UserRecord::from_json_owned(json.as_bytes()).unwrap(),
        topic: "users_created".into(),
        partition,
        offset,
        timestamp: when,
    }
}

fn properties() -> WriterProperties {
    writer_properties(Compression::SNAPPY, "test")
}

fn batch(rows: &[LakeRow]) -> RecordBatch {
    let mut builder = RowsBuilder::default();
    rows.iter().for_each(|r| builder.push_row(r));
    builder.finish().unwrap()
}

/// Appends `rows` (of one topic) as the sink does, one slice per partition and hour.
async fn append(table: &TestTable<'_>, rows: &[LakeRow], now: DateTime<Utc>) {
    let mut slices: BTreeMap<(i32, i32), Vec<LakeRow>> = BTreeMap::new();
    for row in rows {
        slices
            .entry((row.partition, hour_of(row.timestamp)))
            .or_default()
            .push(row.clone());
    }
    let slices: Vec<Slice> = slices
        .into_iter()
        .map(|((partition, hour), rows)| Slice {
            topic: rows[0].topic.clone(),
            partition,
            hour,
            batch: batch(&rows),
        })
        .collect();
    let report = table.append(&slices, &properties(), now).await.unwrap();
    assert_eq!(report.written, rows.len());
}

/// Replaces every data file of `hour` with one holding `rows` (their rows), as a compaction.
async fn compact(table: &TestTable<'_>, hour: i32, rows: &[LakeRow], now: DateTime<Utc>) -> i64 {
    let state = table.load().await.unwrap().unwrap();
    let current = state.metadata.current_snapshot().unwrap();
    let removed: Vec<String> = table
        .live_files(current)
        .await
        .unwrap()
        .into_iter()
        .filter(|e| e.data_file.partition_hour == Some(hour))
        .map(|e| e.data_file.file_path)
        .collect();
    let added = table
        .write_data_file(
            &batch(rows),
            state.metadata.schema(),
            hour,
            "compacted",
            &properties(),
        )
        .await
        .unwrap();
    let change = Change::Replace {
        removed,
        added: vec![added],
    };
    let committed = table.try_commit(&state, &change, now).await.unwrap();
    committed.unwrap().metadata.current_snapshot_id.unwrap()
}

fn kafka(ends: &[(i32, i64)]) -> KafkaStatus {
    KafkaStatus {
        topic: "users_created".into(),
        group: "user-lake-sink".into(),
        partitions: ends
            .iter()
            .map(|&(partition, end)| PartitionStatus {
                partition,
                end,
                committed: Some(end),
                lag: 0,
            })
            .collect(),
        lag: 0,
    }
}

#[tokio::test]
async fn the_table_is_described_from_its_metadata_without_reading_a_data_file() {
    // given hour 12 appended in two partitions, hour 13 appended later, hour 12 then compacted
    // into one file, and two poison records under _errors/
    let (store, catalog, layout) = (
        MemoryStore::default(),
        MemoryCatalog::new(),
        Layout::new(""),
    );
    let table = Table::new(&store, &catalog, TableLocation::new("lake", "", "users"));
    let twelve: Vec<LakeRow> = [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]
        .into_iter()
        .map(|(p, o)| row(p, o, at(o)))
        .collect();
    let thirteen: Vec<LakeRow> = (3..5).map(|o| row(0, o, at(60 + o))).collect();
    append(&table, &twelve, at(10)).await;
    append(&table, &thirteen, at(70)).await;
    let compaction = compact(&table, hour_of(at(0)), &twelve, at(80)).await;
    store.insert(
        "_errors/dt=2026-11-24/users_created-0-9-10.jsonl",
        b"{}\n{}\n".to_vec(),
    );
    store.refuse(Operation::Get, "/data/", "AccessDenied", 403);

    // when
    let mut status = table_status(&table, &layout, "users_created", &LookCache::default())
        .await
        .unwrap();

    // then the current snapshot is the compaction's, and the table holds 7 records in 2 files
    assert_eq!(status.snapshot_id, Some(compaction));
    assert_eq!(status.snapshot_at, Some(at(80)));
    assert_eq!(status.operation.as_deref(), Some("replace"));
    assert_eq!(
        (status.records, status.data_files, status.snapshots),
        (7, 2, 3)
    );
    let hours: Vec<(&str, usize, u64)> = status
        .hours
        .iter()
        .map(|h| (h.hour.as_str(), h.files, h.rows))
        .collect();
    assert_eq!(
        hours,
        [
            ("dt=2026-11-24/hour=12", 1, 5),
            ("dt=2026-11-24/hour=13", 1, 2)
        ]
    );
    let marks: Vec<(i32, Option<i64>)> =
        status.marks.iter().map(|m| (m.partition, m.mark)).collect();
    assert_eq!(marks, [(0, Some(4)), (1, Some(1))]);
    let last = status.last_compaction.clone().unwrap();
    assert_eq!(
        (
            last.snapshot_id,
            last.at,
            last.files_removed,
            last.files_added
        ),
        (compaction, Some(at(80)), Some(2), Some(1))
    );
    assert_eq!(
        (status.errors.error_objects, status.errors.error_records),
        (1, 2)
    );
    assert_eq!(status.location, "s3://lake/iceberg/users");

    // when the marks are measured against the topic's end offsets (partition 2 not in the table)
    status.measure_lag(&kafka(&[(0, 10), (1, 2), (2, 4)]));

    // then each partition's lag is what lies past its mark
    let lags: Vec<(i32, Option<i64>, Option<i64>)> = status
        .marks
        .iter()
        .map(|m| (m.partition, m.end, m.lag))
        .collect();
    assert_eq!(
        lags,
        [
            (0, Some(10), Some(5)),
            (1, Some(2), Some(0)),
            (2, Some(4), Some(4))
        ]
    );
    assert_eq!(status.lag, Some(9));

    // and the JSON puts it under `table`, the view for people names the snapshot
    let status = Status {
        at: at(90),
        kafka: KafkaView::Reached(kafka(&[(0, 10), (1, 2), (2, 4)])),
        lake: LakeView::Table(status),
        invocations: None,
    };
    let json = serde_json::to_value(&status).unwrap();
    assert!(json.get("lake").is_none(), "{json}");
    assert_eq!(
        json["table"]["snapshot_id"].as_i64(),
        Some(compaction),
        "{json}"
    );
    assert_eq!(json["table"]["records"].as_u64(), Some(7), "{json}");
    assert_eq!(json["table"]["marks"][0]["lag"].as_i64(), Some(5), "{json}");
    let people = human_table(&status);
    assert!(
        people.contains(&format!("snapshot {compaction} (replace) at 2026-11-24 13:20:00 UTC: 7 records in 2 data files; 3 snapshots kept")),
        "{people}"
    );
    assert!(
        people.contains(&format!("last compaction: snapshot {compaction} at 2026-11-24 13:20:00 UTC, 2 data files replaced by 1")),
        "{people}"
    );
    println!("{people}");
}

#[tokio::test]
async fn a_table_not_created_yet_has_no_snapshot_and_the_whole_topic_as_lag() {
    let (store, catalog, layout) = (
        MemoryStore::default(),
        MemoryCatalog::new(),
        Layout::new(""),
    );
    let table = Table::new(&store, &catalog, TableLocation::new("lake", "", "users"));

    let mut status = table_status(&table, &layout, "users_created", &LookCache::default())
        .await
        .unwrap();
    status.measure_lag(&kafka(&[(0, 3), (1, 0)]));

    assert_eq!(
        (status.metadata_location.as_deref(), status.snapshot_id),
        (None, None)
    );
    assert_eq!(
        (status.records, status.data_files, status.snapshots),
        (0, 0, 0)
    );
    assert!(status.hours.is_empty() && status.last_compaction.is_none());
    let marks: Vec<(i32, Option<i64>, Option<i64>)> = status
        .marks
        .iter()
        .map(|m| (m.partition, m.mark, m.lag))
        .collect();
    assert_eq!(marks, [(0, None, Some(3)), (1, None, Some(0))]);
    assert_eq!(status.lag, Some(3));
}

#[test]
fn the_plain_files_layout_is_still_printed_under_lake() {
    let status = Status {
        at: at(0),
        kafka: KafkaView::Reached(kafka(&[])),
        lake: LakeView::Files(LakeStatus {
            topic: "users_created".into(),
            hours: Vec::new(),
            objects: 0,
            rows: 0,
            rows_counted_twice: 0,
            records: 0,
            topic_note: None,
            errors: ErrorsStatus::default(),
            last_compaction: None,
        }),
        invocations: None,
    };
    let json = serde_json::to_value(&status).unwrap();
    assert_eq!(json["lake"]["objects"].as_u64(), Some(0), "{json}");
    assert!(json.get("table").is_none(), "{json}");
}

#[tokio::test]
async fn the_topic_applies_to_the_table_and_a_second_look_reads_no_manifest() {
    // given a table holding the topic's rows and, in a file of its own, another topic's
    let (store, catalog, layout) = (
        MemoryStore::default(),
        MemoryCatalog::new(),
        Layout::new(""),
    );
    let table = Table::new(&store, &catalog, TableLocation::new("lake", "", "users"));
    append(&table, &[row(0, 0, at(0)), row(0, 1, at(1))], at(10)).await;
    let mut other = row(0, 7, at(2));
    other.topic = "orders".into();
    append(&table, &[other], at(20)).await;
    let cache = LookCache::default();

    // when
    let status = table_status(&table, &layout, "users_created", &cache)
        .await
        .unwrap();

    // then the counts and marks are the topic's, the whole table's records beside them
    assert_eq!(
        (status.records, status.table_records, status.data_files),
        (2, 3, 1)
    );
    assert_eq!(status.topic_note, None);
    let marks: Vec<(&str, Option<i64>)> = status
        .marks
        .iter()
        .map(|m| (m.topic.as_str(), m.mark))
        .collect();
    assert_eq!(marks, [("users_created", Some(1))]);

    // when the manifests can no longer be read, the same process looks again
    store.refuse(Operation::Get, ".avro", "AccessDenied", 403);
    let again = table_status(&table, &layout, "users_created", &cache)
        .await
        .unwrap();

    // then it did not need them (the metadata file is the same), while a new process does
    assert_eq!(again, status);
    assert!(
        table_status(&table, &layout, "users_created", &LookCache::default())
            .await
            .is_err()
    );
}
