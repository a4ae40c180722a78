//! Arbitrary input at the sink's edge, generated and shrunk by proptest. Whatever the payload,
//! the handler returns instead of panicking; whatever the entries of an MSK event, each one ends
//! as exactly one row in the lake or one line under `_errors/` with its reason, and every valid
//! record reads back field for field.
//!
//! Bounded so that it runs in CI: 256 cases per property by default, more with
//! `PROPTEST_CASES=100000 cargo test -p sink --test decode_properties`.

use std::collections::BTreeSet;

use crate::common::*;
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use chrono::{DateTime, Utc};
use proptest::prelude::*;
use serde_json::{Value, json};
use sink::{SinkError, SinkSummary, handle_json};
use user_record::UserRecord;

/// One entry of an event, as MSK could (or could not) send it.
#[derive(Debug, Clone)]
enum Entry {
    Valid(Box<UserRecord>),
    /// A value of arbitrary bytes (invalid UTF-8 included).
    Bytes(Vec<u8>),
    /// A value that is JSON, but not a user record.
    Json(Value),
    NotBase64(String),
    NoValue,
    /// A timestamp that is not whole milliseconds in range.
    BadTimestamp(Value),
    /// A partition that does not fit Kafka's 32 bits.
    BadPartition(i64),
    /// An entry that is not a record object at all.
    NotAnObject(Value),
}

impl Entry {
    fn is_valid(&self) -> bool {
        matches!(self, Entry::Valid(_))
    }
}

fn text() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z .'-]{0,12}",
        any::<String>(),
        "[\"\\\\\n\t\u{0}\u{7f}é漢🙂]{0,6}"
    ]
}

fn instant() -> impl Strategy<Value = DateTime<Utc>> {
    // from 1900 to 2100, to the millisecond
    (-2_208_988_800_000i64..4_102_444_800_000)
        .prop_map(|ms| DateTime::from_timestamp_millis(ms).expect("in chrono's range"))
}

fn user() -> impl Strategy<Value = UserRecord> {
    let names = (text(), text(), text(), text(), text(), text());
    let rest = (
        text(),
        text(),
        text(),
        instant(),
        instant(),
        any::<[u8; 16]>(),
    );
    (names, rest).prop_map(
        |(
            (first, last, gender, address, post_code, email),
            (username, phone, picture, dob, registered, id),
        )| UserRecord {
            id: uuid::Builder::from_random_bytes(id).into_uuid(),
            first_name: first.into(),
            last_name: last.into(),
            gender: gender.into(),
            address: address.into(),
            post_code: post_code.into(),
            email: email.into(),
            username: username.into(),
            dob,
            registered_date: registered,
            phone: phone.into(),
            picture: picture.into(),
        },
    )
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>().prop_map(Value::from),
        any::<String>().prop_map(Value::from),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-z_]{1,12}", inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn entry() -> impl Strategy<Value = Entry> {
    prop_oneof![
        4 => user().prop_map(|u| Entry::Valid(Box::new(u))),
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Entry::Bytes),
        1 => json_value().prop_map(Entry::Json),
        1 => "[^A-Za-z0-9+/=]{1,8}".prop_map(Entry::NotBase64),
        1 => Just(Entry::NoValue),
        1 => prop_oneof![
            Just(json!(1.5)),
            Just(json!("soon")),
            Just(json!(u64::MAX)),
            Just(json!(i64::MAX)),
            Just(Value::Null),
        ]
        .prop_map(Entry::BadTimestamp),
        1 => prop_oneof![i64::MIN..-(1i64 << 31), (1i64 << 31)..i64::MAX].prop_map(Entry::BadPartition),
        1 => json_value()
            .prop_filter("not an object", |v| !v.is_object())
            .prop_map(Entry::NotAnObject),
    ]
}

/// The JSON of one entry on `partition` at `offset`.
fn entry_json(entry: &Entry, partition: i64, offset: i64) -> Value {
    let mut object = json!({
        "topic": "users_created",
        "partition": partition,
        "offset": offset,
        "timestamp": 1_795_525_198_100i64 + offset * 60_000,
        "timestampType": "CREATE_TIME",
        "headers": [],
    });
    let value = match entry {
        Entry::Valid(user) => {
            object["key"] = json!(BASE64.encode(user.key()));
            BASE64.encode(user.to_json())
        }
        Entry::Bytes(bytes) => BASE64.encode(bytes),
        Entry::Json(value) => BASE64.encode(value.to_string()),
        Entry::NotBase64(text) => text.clone(),
        Entry::NoValue => return object,
        Entry::BadTimestamp(ts) => {
            object["timestamp"] = ts.clone();
            BASE64.encode("{}")
        }
        Entry::BadPartition(p) => {
            object["partition"] = json!(p);
            BASE64.encode("{}")
        }
        Entry::NotAnObject(value) => return value.clone(),
    };
    object["value"] = json!(value);
    object
}

/// An event of these partitions, offsets counting up from 100 in each.
fn event_json(partitions: &[Vec<Entry>]) -> String {
    let records: serde_json::Map<String, Value> = partitions
        .iter()
        .enumerate()
        .map(|(p, entries)| {
            let entries = entries
                .iter()
                .enumerate()
                .map(|(i, e)| entry_json(e, p as i64, 100 + i as i64))
                .collect();
            (format!("users_created-{p}"), Value::Array(entries))
        })
        .collect();
    json!({"eventSource": "aws:kafka", "records": records}).to_string()
}

/// Hands `payload` to the sink with an empty in-memory lake; the outcome and the lake after.
fn run(payload: &str) -> (Result<SinkSummary, SinkError>, MemoryStore) {
    let sink = sink(MemoryStore::default());
    let result = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(handle_json(payload, &sink, now()));
    (result, sink.store)
}

proptest! {
    #[test]
    fn every_entry_is_either_a_lake_row_or_an_error_line_with_its_reason(
        partitions in prop::collection::vec(prop::collection::vec(entry(), 0..24), 1..4)
    ) {
        // given an event of valid and invalid entries
        let payload = event_json(&partitions);

        // when
        let (result, store) = run(&payload);
        let summary = result.expect("an MSK event is always handled");

        // then every entry is counted once, as written or as rejected
        let total: usize = partitions.iter().map(Vec::len).sum();
        let valid: Vec<((i32, i64), &UserRecord)> = partitions
            .iter()
            .enumerate()
            .flat_map(|(p, entries)| entries.iter().enumerate().filter_map(move |(i, e)| match e {
                Entry::Valid(user) => Some(((p as i32, 100 + i as i64), user.as_ref())),
                _ => None,
            }))
            .collect();
        prop_assert_eq!(summary.records, total);
        prop_assert_eq!(summary.written, valid.len());
        prop_assert_eq!(summary.rejected, total - valid.len());

        // and every valid record reads back from the lake exactly as it was sent
        let batches = store.keys().into_iter()
            .filter(|k| k.starts_with("users/"))
            .map(|k| read_parquet(store.body(&k)));
        let rows = lake_rows(batches);
        let landed: Vec<((i32, i64), &UserRecord)> = rows.iter()
            .map(|r| ((r.partition, r.offset), &r.record))
            .collect();
        let mut expected = valid.clone();
        expected.sort_by_key(|(at, _)| *at);
        let mut landed_sorted = landed.clone();
        landed_sorted.sort_by_key(|(at, _)| *at);
        prop_assert_eq!(landed_sorted, expected);

        // and every other entry is one error line with a reason, at its offset when it has one
        let lines = error_lines(&store);
        prop_assert_eq!(lines.len(), total - valid.len());
        prop_assert!(lines.iter().all(|l| l["reason"].as_str().is_some_and(|r| !r.is_empty())));
        let rejected_at: BTreeSet<(i64, i64)> = lines.iter()
            .filter_map(|l| Some((l["partition"].as_i64()?, l["offset"].as_i64()?)))
            .collect();
        let invalid_at = |entry_has_offset: fn(&Entry) -> bool| -> BTreeSet<(i64, i64)> {
            partitions.iter().enumerate()
                .flat_map(|(p, entries)| entries.iter().enumerate().filter_map(move |(i, e)| {
                    let partition = match e { Entry::BadPartition(_) => -1, _ => p as i64 };
                    (!e.is_valid() && entry_has_offset(e)).then_some((partition, 100 + i as i64))
                }))
                .collect()
        };
        // An entry that cannot be read as a record entry at all is kept without an offset.
        let readable = invalid_at(|e| !matches!(e, Entry::NotAnObject(_) | Entry::BadTimestamp(_)));
        let any = invalid_at(|_| true);
        prop_assert!(readable.is_subset(&rejected_at), "{readable:?} not in {rejected_at:?}");
        prop_assert!(rejected_at.is_subset(&any), "{rejected_at:?} not in {any:?}");
    }

    #[test]
    fn arbitrary_bytes_are_refused_as_not_an_msk_event_without_a_panic(
        bytes in prop::collection::vec(any::<u8>(), 0..512)
    ) {
        let payload = String::from_utf8_lossy(&bytes);
        let (result, store) = run(&payload);
        match result {
            Err(SinkError::NotAnMskEvent { .. }) => prop_assert!(store.keys().is_empty()),
            Ok(summary) => prop_assert_eq!(summary.written + summary.rejected, summary.records),
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }

    #[test]
    fn a_damaged_event_is_handled_or_refused_whole_never_half_written(
        cut in 0usize..4_000,
        flips in prop::collection::vec((0usize..4_000, any::<u8>()), 0..8),
    ) {
        // given a valid sample event, truncated and with some bytes overwritten
        let mut bytes = event("msk-mixed.json").into_bytes();
        for (at, byte) in flips {
            let len = bytes.len();
            bytes[at % len] = byte;
        }
        bytes.truncate(bytes.len().saturating_sub(cut % bytes.len().max(1)));
        let payload = String::from_utf8_lossy(&bytes).into_owned();

        // when / then: either it is no MSK event and nothing is written, or every entry counts
        let (result, store) = run(&payload);
        match result {
            Err(SinkError::NotAnMskEvent { .. }) => prop_assert!(store.keys().is_empty()),
            Ok(summary) => {
                prop_assert_eq!(summary.written + summary.rejected, summary.records);
                prop_assert_eq!(error_lines(&store).len(), summary.rejected);
            }
            Err(other) => prop_assert!(false, "unexpected error {other}"),
        }
    }
}
