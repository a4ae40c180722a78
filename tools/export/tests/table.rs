//! The export of the Iceberg table (an in-memory lake and catalog), filled by the table's own
//! exactly-once append: the current snapshot, an earlier one by id, the hours of a time range
//! only, and a topic whose offsets started again (both generations are records, both exported).

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use export::{ExportError, FileOptions, JsonForm, Selection, export_table, table_rows};
use lake::{
    LakeRow, RowsBuilder,
    testing::{MemoryStore, Operation},
    writer::writer_properties,
};
use parquet::basic::Compression;
use serde_json::value::RawValue;
use table::{Slice, Table, TableLocation, catalog::memory::MemoryCatalog, files::hour_of};
use user_record::UserRecord;

type TestTable<'a> = Table<&'a MemoryStore, &'a MemoryCatalog>;

fn at(minutes: i64) -> DateTime<Utc> {
    "2026-11-24T12:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minutes)
}

/// A user at `offset` of partition 0; `generation` changes the user, as a topic deleted and
/// created again carries other users at the same offsets.
fn row(topic: &str, offset: i64, when: DateTime<Utc>, generation: u8) -> LakeRow {
    let json = format!(
        r#"{{"id":"00000000-0000-4000-80{generation:02x}-{offset:012}","first_name":"Zoë","last_name":"Ørsted, \"Jr\"","gender":"female","address":"1 Main St, Oslo, Oslo, Norway","post_code":"0567","email":"z{offset}@example.com","username":"z{offset}","dob":"1987-05-04T10:11:12.345Z","registered_date":"2015-02-03T04:05:06Z","phone":"22","picture":"https://x/p.jpg"}}"#
    );
    LakeRow {
        record: UserRecord::from_json_owned(json.as_bytes()).unwrap(),
        topic: topic.into(),
        partition: 0,
        offset,
        timestamp: when,
    }
}

/// Appends `rows` as the sink does (one slice per topic-partition and hour); the snapshot made.
async fn append(table: &TestTable<'_>, rows: &[LakeRow]) -> i64 {
    let mut slices: BTreeMap<(String, i32, i32), RowsBuilder> = BTreeMap::new();
    for row in rows {
        slices
            .entry((row.topic.clone(), row.partition, hour_of(row.timestamp)))
            .or_default()
            .push_row(row);
    }
    let slices: Vec<Slice> = slices
        .into_iter()
        .map(|((topic, partition, hour), builder)| Slice {
            topic,
            partition,
            hour,
            batch: builder.finish().unwrap(),
        })
        .collect();
    let report = table
        .append(&slices, &options().properties, at(180))
        .await
        .unwrap();
    assert_eq!(report.written, rows.len());
    report.snapshot_id.unwrap()
}

fn options() -> FileOptions {
    FileOptions {
        json: JsonForm::Array,
        properties: writer_properties(Compression::SNAPPY, "test"),
    }
}

fn everything() -> Selection {
    Selection {
        topic: "users_created".into(),
        from: None,
        to: None,
    }
}

fn ids(rows: &[LakeRow]) -> Vec<String> {
    rows.iter().map(|r| r.record.id.to_string()).collect()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    std::env::temp_dir().join(format!("export-table-{name}-{}", std::process::id()))
}

#[tokio::test]
async fn the_current_snapshot_is_exported_and_an_earlier_snapshot_gives_its_earlier_rows() {
    // given a first commit of 3 users, then a second of 2 more and another topic's user
    let (store, catalog) = (MemoryStore::default(), MemoryCatalog::new());
    let table = Table::new(&store, &catalog, TableLocation::new("lake", "", "users"));
    let first: Vec<LakeRow> = (0..3).map(|o| row("users_created", o, at(o), 0)).collect();
    let second: Vec<LakeRow> = (3..5).map(|o| row("users_created", o, at(o), 0)).collect();
    let first_id = append(&table, &first).await;
    let mut later = second.clone();
    later.push(row("users_redelivered", 9, at(5), 0));
    let second_id = append(&table, &later).await;

    // when the current snapshot is exported
    let dir = temp_dir("current");
    let summary = export_table(&table, None, &everything(), &dir, &options())
        .await
        .unwrap();

    // then the five users of the topic, once each, in every file, and the snapshot is named
    assert_eq!((summary.rows, summary.duplicates), (5, 0));
    assert_eq!(summary.snapshot_id, Some(second_id));
    assert!(summary.snapshot_at.is_some());
    let expected: Vec<UserRecord> = first
        .iter()
        .chain(&second)
        .map(|r| r.record.clone())
        .collect();
    let json = std::fs::read_to_string(dir.join("users_data.json")).unwrap();
    let from_json: Vec<UserRecord> = serde_json::from_str::<Vec<Box<RawValue>>>(&json)
        .unwrap()
        .iter()
        .map(|user| UserRecord::from_json_owned(user.get().as_bytes()).unwrap())
        .collect();
    assert_eq!(from_json, expected);
    let csv = std::fs::read_to_string(dir.join("users_data.csv")).unwrap();
    assert_eq!(csv.trim_end().split('\n').count(), 1 + 5);
    let parquet = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(dir.join("users_data.parquet")).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let rows: usize = parquet.map(|b| b.unwrap().num_rows()).sum();
    assert_eq!(rows, 5);
    let printed = serde_json::to_value(&summary).unwrap();
    assert_eq!(
        printed["snapshot_id"].as_i64(),
        Some(second_id),
        "{printed}"
    );
    std::fs::remove_dir_all(&dir).unwrap();

    // when the first snapshot is exported, then only its three users
    let (rows, summary) = table_rows(&table, Some(first_id), &everything())
        .await
        .unwrap();
    assert_eq!(ids(&rows), ids(&first));
    assert_eq!((summary.rows, summary.snapshot_id), (3, Some(first_id)));

    // and a snapshot the table does not keep is refused, naming those it keeps
    let error = table_rows(&table, Some(42), &everything())
        .await
        .unwrap_err();
    assert!(matches!(error, ExportError::NoSnapshot { .. }), "{error}");
    assert!(error.to_string().contains(&first_id.to_string()), "{error}");
}

#[tokio::test]
async fn a_time_range_reads_only_the_data_files_of_its_hours() {
    // given users in hour 12 and in hour 14, whose data files cannot be read
    let (store, catalog) = (MemoryStore::default(), MemoryCatalog::new());
    let table = Table::new(&store, &catalog, TableLocation::new("lake", "", "users"));
    let twelve: Vec<LakeRow> = (0..3).map(|o| row("users_created", o, at(o), 0)).collect();
    let fourteen = vec![row("users_created", 3, at(130), 0)];
    append(&table, &[twelve.clone(), fourteen].concat()).await;
    store.refuse(
        Operation::Get,
        "kafka_timestamp_hour=2026-11-24-14",
        "AccessDenied",
        403,
    );

    // when the hour from 12:00 is exported
    let selection = Selection {
        from: Some(at(0)),
        to: Some(at(60)),
        ..everything()
    };
    let (rows, summary) = table_rows(&table, None, &selection).await.unwrap();

    // then hour 12's users, from its one data file
    assert_eq!(ids(&rows), ids(&twelve));
    assert_eq!(summary.objects, 1);
}

#[tokio::test]
async fn users_at_the_offsets_of_a_recreated_topic_are_exported_beside_the_earlier_ones() {
    // given offsets 0-2, then the topic deleted and created again: offsets 0-1, other users
    let (store, catalog) = (MemoryStore::default(), MemoryCatalog::new());
    let table = Table::new(&store, &catalog, TableLocation::new("lake", "", "users"));
    let before: Vec<LakeRow> = (0..3).map(|o| row("users_created", o, at(o), 0)).collect();
    let after: Vec<LakeRow> = (0..2)
        .map(|o| row("users_created", o, at(60 + o), 1))
        .collect();
    append(&table, &before).await;
    append(&table, &after).await;

    // when the table is exported
    let (rows, summary) = table_rows(&table, None, &everything()).await.unwrap();

    // then all five users, none taken for a duplicate of another at its offset
    assert_eq!((summary.rows, summary.duplicates), (5, 0));
    let mut want = ids(&before);
    want.extend(ids(&after));
    want.sort();
    let mut got = ids(&rows);
    got.sort();
    assert_eq!(got, want);
}

#[tokio::test]
async fn a_table_not_created_yet_exports_no_users_and_names_no_snapshot() {
    let (store, catalog) = (MemoryStore::default(), MemoryCatalog::new());
    let table = Table::new(&store, &catalog, TableLocation::new("lake", "", "users"));

    let (rows, summary) = table_rows(&table, None, &everything()).await.unwrap();

    assert!(rows.is_empty());
    assert_eq!((summary.rows, summary.snapshot_id), (0, None));
}

#[tokio::test]
async fn an_export_that_selects_nothing_says_so_and_leaves_earlier_files_as_they_were() {
    // given an empty table and a directory holding an earlier export
    let (store, catalog) = (MemoryStore::default(), MemoryCatalog::new());
    let table = Table::new(&store, &catalog, TableLocation::new("lake", "", "users"));
    let dir = std::env::temp_dir().join(format!("user-lake-export-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(dir.join("users_data.csv"), "earlier export\n").unwrap();

    // when everything is exported
    let result = export_table(&table, None, &everything(), &dir, &options()).await;

    // then it is an error that names the selection, and the earlier file is untouched
    let earlier = std::fs::read_to_string(dir.join("users_data.csv")).unwrap();
    let written = std::fs::read_dir(&dir).unwrap().count();
    std::fs::remove_dir_all(&dir).unwrap();
    let error = result.unwrap_err();
    assert!(
        matches!(error, ExportError::NothingSelected { .. }),
        "{error}"
    );
    assert!(error.to_string().contains("users_created"), "{error}");
    assert_eq!((earlier.as_str(), written), ("earlier export\n", 1));
}
