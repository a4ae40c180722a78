//! The export against an in-memory lake holding what a real one holds: originals, a merged
//! object with the same rows (as during a compaction), another topic and rows outside the time
//! asked for. Each file is read back and compared with the lake's rows.

use chrono::{DateTime, Duration, Utc};
use export::{FileOptions, JsonForm, Selection, export};
use lake::{
    DataKey, DataName, Hour, LakeRow, LakeStore, Layout, OutputFormat, Span, testing::MemoryStore,
    writer::writer_properties,
};
use parquet::basic::Compression;
use serde_json::value::RawValue;
use user_record::UserRecord;

fn at(minutes: i64) -> DateTime<Utc> {
    "2026-11-24T12:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minutes)
}

fn row(topic: &str, offset: i64, when: DateTime<Utc>) -> LakeRow {
    let json = format!(
        r#"{{"id":"00000000-0000-4000-8000-{offset:012}","first_name":"Zoë","last_name":"Ørsted, \"Jr\"","gender":"female","address":"1 Main St, Oslo, Oslo, Norway","post_code":"0567","email":"z{offset}@example.com","username":"z{offset}","dob":"1987-05-04T10:11:12.345Z","registered_date":"2015-02-03T04:05:06Z","phone":"22","picture":"https://x/p.jpg"}}"#
    );
    LakeRow {
        record: UserRecord::from_json_owned(json.as_bytes()).unwrap(),
        topic: topic.into(),
        partition: 0,
        offset,
        timestamp: when,
    }
}

async fn put(store: &MemoryStore, key: &str, rows: &[LakeRow]) {
    store
        .put(key, lake::testing::parquet(rows), "x")
        .await
        .unwrap();
}

fn original(layout: &Layout, topic: &str, first: i64, last: i64, hour: Hour) -> String {
    let span = Span {
        topic: topic.into(),
        partition: 0,
        first,
        last,
    };
    layout.original_key(OutputFormat::Parquet, hour, span)
}

#[tokio::test]
async fn every_user_of_the_topic_in_the_range_is_written_once_to_each_file() {
    // given hour 12 as two originals and a merged object holding the first one's rows again,
    // hour 14 outside the range, and another topic's rows
    let (store, layout) = (MemoryStore::default(), Layout::new("lake"));
    let twelve = Hour::of(at(0));
    let early: Vec<LakeRow> = (0..3).map(|o| row("users_created", o, at(o))).collect();
    let late: Vec<LakeRow> = (3..5).map(|o| row("users_created", o, at(o))).collect();
    put(
        &store,
        &original(&layout, "users_created", 0, 2, twelve),
        &early,
    )
    .await;
    put(
        &store,
        &original(&layout, "users_created", 3, 4, twelve),
        &late,
    )
    .await;
    let merged = layout.data_key(&DataKey {
        format: OutputFormat::Parquet,
        hour: twelve,
        name: DataName::Merged("00ff00ff00ff00ff".into()),
    });
    put(&store, &merged, &early).await;
    let other = vec![row("users_redelivered", 9, at(5))];
    put(
        &store,
        &original(&layout, "users_redelivered", 9, 9, twelve),
        &other,
    )
    .await;
    let outside = vec![row("users_created", 7, at(130))];
    put(
        &store,
        &original(&layout, "users_created", 7, 7, Hour::of(at(130))),
        &outside,
    )
    .await;

    // when the hour from 12:00 is exported
    let dir = std::env::temp_dir().join(format!("export-test-{}", std::process::id()));
    let selection = Selection {
        topic: "users_created".into(),
        from: Some(at(0)),
        to: Some(at(60)),
    };
    let options = FileOptions {
        json: JsonForm::Array,
        properties: writer_properties(Compression::SNAPPY, "test"),
    };
    let summary = export(&store, &layout, &selection, &dir, &options)
        .await
        .unwrap();

    // then five users, each once, in every file, field for field
    assert_eq!(
        (summary.rows, summary.duplicates, summary.objects),
        (5, 3, 4)
    );
    let expected: Vec<UserRecord> = early
        .iter()
        .chain(&late)
        .map(|r| r.record.clone())
        .collect();
    let json = std::fs::read_to_string(dir.join("users_data.json")).unwrap();
    let from_json: Vec<UserRecord> = serde_json::from_str::<Vec<Box<RawValue>>>(&json)
        .unwrap()
        .iter()
        .map(|user| UserRecord::from_json_owned(user.get().as_bytes()).unwrap())
        .collect();
    assert_eq!(from_json, expected);
    assert!(json.starts_with("[\n  {\n    \"id\": "), "{json}");
    assert!(
        json.contains("Ørsted"),
        "non-ASCII is kept as it is: {json}"
    );
    let csv = std::fs::read_to_string(dir.join("users_data.csv")).unwrap();
    let mut lines = csv.split('\n');
    assert_eq!(
        lines.next().unwrap(),
        "id,first_name,last_name,gender,address,post_code,email,username,dob,registered_date,phone,picture"
    );
    assert!(csv.contains(r#""Ørsted, ""Jr""""#), "{csv}");
    assert_eq!(csv.trim_end().split('\n').count(), 1 + 5);
    let reader = parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(
        std::fs::File::open(dir.join("users_data.parquet")).unwrap(),
    )
    .unwrap()
    .build()
    .unwrap();
    let batches: Vec<_> = reader.map(Result::unwrap).collect();
    let names: Vec<String> = batches[0]
        .schema()
        .fields()
        .iter()
        .map(|f| f.name().clone())
        .collect();
    assert_eq!(names.len(), 12);
    assert_eq!(batches.iter().map(|b| b.num_rows()).sum::<usize>(), 5);
    assert_eq!(
        std::fs::read(dir.join("users_spark_data.parquet")).unwrap(),
        std::fs::read(dir.join("users_data.parquet")).unwrap(),
        "the original's Spark name holds the same file"
    );
    std::fs::remove_dir_all(&dir).unwrap();
}

#[tokio::test]
async fn json_lines_on_request_give_one_user_a_line() {
    // given one hour of three users
    let (store, layout) = (MemoryStore::default(), Layout::new("lake"));
    let rows: Vec<LakeRow> = (0..3).map(|o| row("users_created", o, at(o))).collect();
    put(
        &store,
        &original(&layout, "users_created", 0, 2, Hour::of(at(0))),
        &rows,
    )
    .await;

    // when the export is asked for JSON Lines
    let dir = std::env::temp_dir().join(format!("export-lines-{}", std::process::id()));
    let selection = Selection {
        topic: "users_created".into(),
        from: None,
        to: None,
    };
    let options = FileOptions {
        json: JsonForm::Lines,
        properties: writer_properties(Compression::SNAPPY, "test"),
    };
    export(&store, &layout, &selection, &dir, &options)
        .await
        .unwrap();

    // then each line of users_data.json is one user, in offset order
    let json = std::fs::read_to_string(dir.join("users_data.json")).unwrap();
    let from_lines: Vec<UserRecord> = json
        .lines()
        .map(|l| UserRecord::from_json_owned(l.as_bytes()).unwrap())
        .collect();
    let expected: Vec<UserRecord> = rows.iter().map(|r| r.record.clone()).collect();
    assert_eq!(from_lines, expected);
    std::fs::remove_dir_all(&dir).unwrap();
}

/// The `export` binary's `--help` names the environment it reads and its exit statuses.
#[test]
fn help_names_the_environment_it_reads_and_the_exit_statuses() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_export"))
        .env_clear()
        .arg("--help")
        .output()
        .unwrap();
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    for name in [
        "LAKE_BUCKET",
        "LAKE_FORMAT",
        "ICEBERG_CATALOG",
        "KAFKA_TOPIC",
        "75",
    ] {
        assert!(help.contains(name), "{name} in:\n{help}");
    }
}
