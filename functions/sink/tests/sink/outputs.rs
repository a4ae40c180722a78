//! `OUTPUT_FORMATS`: the same rows as Parquet, JSON Lines and CSV, under the same partitions and
//! file names. Each format is read back and compared with the Parquet rows.

use crate::common::*;
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use sink::handle_json;
use user_record::{KAFKA_COLUMNS, RECORD_FIELDS, UserRecord};

const ALL: [(&str, &str); 1] = [("OUTPUT_FORMATS", "parquet,jsonl,csv")];

/// An event of one partition whose records are these users, at offsets from 7.
fn event_of(users: &[UserRecord]) -> String {
    let records: Vec<serde_json::Value> = users
        .iter()
        .enumerate()
        .map(|(i, user)| {
            serde_json::json!({
                "topic": "users_created",
                "partition": 1,
                "offset": 7 + i,
                "timestamp": 1_795_525_198_100i64 + i as i64,
                "key": BASE64.encode(user.key()),
                "value": BASE64.encode(user.to_json()),
            })
        })
        .collect();
    serde_json::json!({
        "eventSource": "aws:kafka",
        "records": {"users_created-1": records},
    })
    .to_string()
}

fn awkward_user() -> UserRecord {
    UserRecord {
        id: "0b7e2c1a-8f3d-4e6b-9a2c-5d4e3f2a1b0c".parse().unwrap(),
        first_name: "Zoë \"Zo\"".into(),
        last_name: "O'Brien, Jr.".into(),
        gender: "female".into(),
        address: "12 Rue de l'Église,\nLyon, Rhône, France".into(),
        post_code: "069001".into(),
        email: "zoe@example.com".into(),
        username: "zo\r\në".into(),
        dob: "1987-05-04T10:11:12.345Z".parse().unwrap(),
        registered_date: "2015-02-03T04:05:06Z".parse().unwrap(),
        phone: "".into(),
        picture: "https://randomuser.me/api/portraits/med/women/12.jpg".into(),
    }
}

#[tokio::test]
async fn every_format_lands_under_the_same_partitions_and_names() {
    // given
    let (sink, _) = sink_with(MemoryStore::default(), &ALL);

    // when
    let summary = handle_json(&event("msk-users.json"), &sink, now())
        .await
        .unwrap();

    // then: three objects per slot, named alike but for their root and extension
    let names = [
        "dt=2026-11-24/hour=12/users_created-0-40-41",
        "dt=2026-11-24/hour=12/users_created-2-7-9",
        "dt=2026-11-24/hour=13/users_created-0-42-42",
    ];
    let mut expected: Vec<String> = names
        .iter()
        .flat_map(|name| {
            [
                format!("users/{name}.parquet"),
                format!("users_csv/{name}.csv"),
                format!("users_jsonl/{name}.jsonl"),
            ]
        })
        .collect();
    expected.sort();
    assert_eq!(sink.store.keys(), expected);
    assert_eq!((summary.written, summary.objects.len()), (6, 9));
    assert_eq!(
        sink.store
            .content_type(&format!("users_jsonl/{}.jsonl", names[0])),
        "application/x-ndjson"
    );
    assert!(
        sink.store
            .content_type(&format!("users_csv/{}.csv", names[0]))
            .starts_with("text/csv")
    );
}

#[tokio::test]
async fn json_lines_and_csv_read_back_as_the_parquet_rows() {
    // given
    let (sink, _) = sink_with(MemoryStore::default(), &ALL);

    // when
    handle_json(&event("msk-users.json"), &sink, now())
        .await
        .unwrap();

    // then: for every slot, each format holds the Parquet object's rows, in the same order
    let parquet_keys: Vec<String> = sink
        .store
        .keys()
        .into_iter()
        .filter(|k| k.ends_with(".parquet"))
        .collect();
    assert_eq!(parquet_keys.len(), 3);
    for key in parquet_keys {
        let stem = key
            .strip_prefix("users/")
            .unwrap()
            .strip_suffix(".parquet")
            .unwrap();
        let parquet = lake_rows([read_parquet(sink.store.body(&key))]);
        assert!(!parquet.is_empty());
        let jsonl = read_jsonl(sink.store.body(&format!("users_jsonl/{stem}.jsonl")));
        let csv = read_csv(sink.store.body(&format!("users_csv/{stem}.csv")));
        assert_eq!(jsonl, parquet, "{stem}.jsonl");
        assert_eq!(csv, parquet, "{stem}.csv");
    }
}

#[tokio::test]
async fn quotes_commas_and_line_breaks_survive_both_text_formats() {
    // given a user whose text needs quoting in CSV and escaping in JSON
    let (sink, _) = sink_with(MemoryStore::default(), &ALL);
    let user = awkward_user();

    // when
    handle_json(&event_of(std::slice::from_ref(&user)), &sink, now())
        .await
        .unwrap();

    // then: each format reads back as the same row as Parquet
    let stem = "dt=2026-11-24/hour=12/users_created-1-7-7";
    let parquet = lake_rows([read_parquet(
        sink.store.body(&format!("users/{stem}.parquet")),
    )]);
    assert_eq!(parquet[0].record, user);
    let csv_body = sink.store.body(&format!("users_csv/{stem}.csv"));
    let jsonl_body = sink.store.body(&format!("users_jsonl/{stem}.jsonl"));
    assert_eq!(read_csv(csv_body.clone()), parquet);
    assert_eq!(read_jsonl(jsonl_body.clone()), parquet);

    // and the CSV is RFC 4180: header row, CRLF, fields with quotes doubled inside quotes
    let csv = String::from_utf8(csv_body.to_vec()).unwrap();
    let header: Vec<&str> = RECORD_FIELDS
        .iter()
        .chain(&KAFKA_COLUMNS)
        .map(|c| c.name)
        .collect();
    assert!(
        csv.starts_with(&format!("{}\r\n", header.join(","))),
        "{csv}"
    );
    assert!(
        csv.contains(",\"Zoë \"\"Zo\"\"\",\"O'Brien, Jr.\","),
        "{csv}"
    );
    assert!(
        csv.contains("\"12 Rue de l'Église,\nLyon, Rhône, France\""),
        "{csv}"
    );
    assert!(
        csv.contains(",1987-05-04T10:11:12.345Z,2015-02-03T04:05:06.000Z,"),
        "{csv}"
    );
    assert!(
        csv.ends_with(",users_created,1,7,2026-11-24T12:59:58.100Z\r\n"),
        "{csv}"
    );

    // and the JSON line is one object that the record contract itself reads back
    let jsonl = String::from_utf8(jsonl_body.to_vec()).unwrap();
    assert_eq!(jsonl.lines().count(), 1);
    assert_eq!(
        UserRecord::from_json_owned(jsonl.trim_end().as_bytes()).unwrap(),
        user
    );
    let object: serde_json::Value = serde_json::from_str(jsonl.trim_end()).unwrap();
    assert_eq!(object["kafka_topic"], "users_created");
    assert_eq!(object["kafka_partition"], 1);
    assert_eq!(object["kafka_offset"], 7);
    assert_eq!(object["kafka_timestamp"], "2026-11-24T12:59:58.100Z");
    assert_eq!(object.as_object().unwrap().len(), header.len());
}

#[tokio::test]
async fn by_default_only_parquet_is_written() {
    let sink = sink(MemoryStore::default());
    handle_json(&event("msk-users.json"), &sink, now())
        .await
        .unwrap();
    assert!(
        sink.store
            .keys()
            .iter()
            .all(|k| k.starts_with("users/") && k.ends_with(".parquet"))
    );
}
