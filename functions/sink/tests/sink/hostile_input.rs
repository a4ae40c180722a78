//! Input sized or shaped to hurt: the largest record an event can carry, thousands of tiny ones,
//! nesting deep enough to overflow a recursive parser, and bytes that are not UTF-8. Each has
//! one clear outcome, and none loses a record or panics.

use crate::common::*;
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use serde_json::{Value, json};
use sink::handle_json;
use user_record::UserRecord;

fn user(i: usize, first_name: String) -> UserRecord {
    UserRecord {
        id: uuid::Builder::from_random_bytes((i as u128 + 1).to_le_bytes()).into_uuid(),
        first_name: first_name.into(),
        last_name: "".into(),
        gender: "".into(),
        address: "".into(),
        post_code: "".into(),
        email: "".into(),
        username: "".into(),
        dob: "2000-01-01T00:00:00Z".parse().unwrap(),
        registered_date: "2020-01-01T00:00:00Z".parse().unwrap(),
        phone: "".into(),
        picture: "".into(),
    }
}

/// An event of one partition holding these message values at offsets from 0.
fn event_of_values(values: &[Vec<u8>]) -> String {
    let entries: Vec<Value> = values
        .iter()
        .enumerate()
        .map(|(offset, value)| {
            json!({
                "topic": "users_created", "partition": 0, "offset": offset,
                "timestamp": 1_795_525_198_100i64, "value": BASE64.encode(value),
            })
        })
        .collect();
    json!({"eventSource": "aws:kafka", "records": {"users_created-0": entries}}).to_string()
}

async fn handled(payload: &str) -> (sink::SinkSummary, MemoryStore) {
    let sink = sink(MemoryStore::default());
    let summary = handle_json(payload, &sink, now()).await.unwrap();
    (summary, sink.store)
}

#[tokio::test]
async fn one_record_filling_a_six_megabyte_event_lands_whole() {
    // given one record whose name alone is 4.4 MB (5.9 MB of base64 in the event)
    let name = "é".repeat(2_200_000);
    let big = user(0, name);
    let payload = event_of_values(&[big.to_json()]);
    assert!(payload.len() > 5_800_000 && payload.len() < 6_291_456);

    // when
    let (summary, store) = handled(&payload).await;

    // then
    assert_eq!((summary.written, summary.rejected), (1, 0));
    assert_eq!(lake_users(&store), vec![big]);
}

#[tokio::test]
async fn ten_thousand_tiny_records_each_land_or_are_rejected() {
    // given 10,000 records, alternately a minimal valid user and an empty object
    let values: Vec<Vec<u8>> = (0..10_000)
        .map(|i| match i % 2 {
            0 => user(i, String::new()).to_json(),
            _ => b"{}".to_vec(),
        })
        .collect();

    // when
    let (summary, store) = handled(&event_of_values(&values)).await;

    // then
    assert_eq!(
        (summary.records, summary.written, summary.rejected),
        (10_000, 5_000, 5_000)
    );
    let users = lake_users(&store);
    assert_eq!(users.len(), 5_000);
    assert_eq!(users[4_999], user(9_998, String::new()));
    let lines = error_lines(&store);
    assert_eq!(lines.len(), 5_000);
    assert!(lines.iter().all(|l| {
        l["reason"]
            .as_str()
            .is_some_and(|r| r.contains("missing field `id`"))
    }));
}

/// 100,000 nested arrays: deeper than any recursive parser's stack allows.
fn deeply_nested() -> String {
    format!("{}{}", "[".repeat(100_000), "]".repeat(100_000))
}

#[tokio::test]
async fn deep_nesting_in_a_value_rejects_that_record_and_an_unknown_deep_field_is_skipped() {
    // given a value that is nested arrays, and a valid record with a nested unknown field
    let deep = deeply_nested().into_bytes();
    let good = user(1, "Ada".into());
    let mut padded: Value = serde_json::from_slice(&good.to_json()).unwrap();
    padded["extra"] = Value::String(String::new());
    let padded = padded
        .to_string()
        .replace(r#""extra":"""#, &format!(r#""extra":{}"#, deeply_nested()));
    let payload = event_of_values(&[deep.clone(), padded.into_bytes()]);

    // when
    let (summary, store) = handled(&payload).await;

    // then the nested value is one rejected record with its reason and raw bytes
    assert_eq!((summary.written, summary.rejected), (1, 1));
    let lines = error_lines(&store);
    let reason = lines[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("value is not a valid user record: invalid type: sequence"),
        "{reason}"
    );
    assert_eq!(lines[0]["raw_base64"], BASE64.encode(&deep));
    // and the unknown field, however deep, is skipped as the contract allows
    assert_eq!(lake_users(&store), vec![good]);
}

#[tokio::test]
async fn deep_nesting_in_an_event_entry_rejects_that_entry_only() {
    // given an event whose first entry is nested 100,000 levels deep
    let good = user(2, "Bo".into());
    let entry = json!({
        "topic": "users_created", "partition": 0, "offset": 1,
        "timestamp": 1_795_525_198_100i64, "value": BASE64.encode(good.to_json()),
    });
    let payload = format!(
        r#"{{"records":{{"users_created-0":[{},{entry}]}}}}"#,
        deeply_nested()
    );

    // when
    let (summary, store) = handled(&payload).await;

    // then
    assert_eq!((summary.written, summary.rejected), (1, 1));
    let lines = error_lines(&store);
    let reason = lines[0]["reason"].as_str().unwrap();
    assert!(reason.starts_with("malformed MSK record entry"), "{reason}");
    assert_eq!(lines[0]["raw_base64"], BASE64.encode(deeply_nested()));
    assert_eq!(lake_users(&store), vec![good]);
}

#[tokio::test]
async fn a_value_that_is_not_utf8_is_rejected_with_its_exact_bytes() {
    // given a record whose name holds a byte that cannot start a UTF-8 sequence
    let mut bytes = user(3, "Zoë".into()).to_json();
    let at = bytes.windows(2).position(|w| w == "ë".as_bytes()).unwrap();
    bytes[at] = 0xff;
    let good = user(4, "Ann".into());
    let payload = event_of_values(&[bytes.clone(), good.to_json()]);

    // when
    let (summary, store) = handled(&payload).await;

    // then
    assert_eq!((summary.written, summary.rejected), (1, 1));
    let lines = error_lines(&store);
    let reason = lines[0]["reason"].as_str().unwrap();
    assert!(reason.contains("Invalid UTF-8"), "{reason}");
    assert_eq!(lines[0]["raw_base64"], BASE64.encode(&bytes));
    assert_eq!(lake_users(&store), vec![good]);
}
