//! The sink's whole job on the sample events in events/sink/, against an in-memory lake:
//! keys, every field read back from Parquet, poison routing, retries and determinism.

use crate::common::*;
use arrow::array::AsArray;
use arrow::datatypes::{Int64Type, TimestampMillisecondType};
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use lambda_kit::Classified;
use sink::{SinkError, handle_bytes, handle_json};
use user_record::UserRecord;

/// The records of a sample event, decoded independently of the sink, by (partition, offset).
fn expected_records(name: &str) -> Vec<(i32, i64, i64, UserRecord)> {
    let event = event_json(name);
    let mut rows = Vec::new();
    for records in event["records"].as_object().unwrap().values() {
        for r in records.as_array().unwrap() {
            let value = BASE64.decode(r["value"].as_str().unwrap()).unwrap();
            rows.push((
                r["partition"].as_i64().unwrap() as i32,
                r["offset"].as_i64().unwrap(),
                r["timestamp"].as_i64().unwrap(),
                UserRecord::from_json_owned(&value).unwrap(),
            ));
        }
    }
    rows.sort_by_key(|(p, o, _, _)| (*p, *o));
    rows
}

#[tokio::test]
async fn valid_event_lands_as_one_parquet_object_per_partition_and_hour() {
    // given the sample event: partition 0 spans 12:59 and 13:00, partition 2 is all 12:59
    let sink = sink(MemoryStore::default());

    // when
    let summary = handle_json(&event("msk-users.json"), &sink, now())
        .await
        .unwrap();

    // then
    let expected_keys = vec![
        "users/dt=2026-11-24/hour=12/users_created-0-40-41.parquet",
        "users/dt=2026-11-24/hour=12/users_created-2-7-9.parquet",
        "users/dt=2026-11-24/hour=13/users_created-0-42-42.parquet",
    ];
    assert_eq!(sink.store.keys(), expected_keys);
    assert_eq!(summary.records, 6);
    assert_eq!(summary.written, 6);
    assert_eq!(summary.rejected, 0);
    assert_eq!(summary.objects.len(), 3);
    assert!(summary.bytes > 0);
    assert_eq!(
        sink.store.content_type(expected_keys[0]),
        "application/vnd.apache.parquet"
    );
}

#[tokio::test]
async fn every_field_reads_back_from_parquet_as_it_was_produced() {
    // given
    let sink = sink(MemoryStore::default());
    let expected = expected_records("msk-users.json");

    // when
    handle_json(&event("msk-users.json"), &sink, now())
        .await
        .unwrap();

    // then: read all objects back with the parquet reader, row by row
    let mut rows = Vec::new();
    for key in sink.store.keys() {
        let batch = read_parquet(sink.store.body(&key));
        assert_eq!(batch.schema(), lake::lake_schema());
        for row in lake::rows::rows(&batch).unwrap() {
            assert_eq!(row.topic, "users_created");
            rows.push((
                row.partition,
                row.offset,
                row.timestamp.timestamp_millis(),
                row.record,
            ));
        }
    }
    rows.sort_by_key(|(p, o, _, _)| (*p, *o));
    assert_eq!(rows, expected);
    assert!(
        rows.iter()
            .any(|(.., r)| r.first_name == "Zoë" && r.last_name == "Løvås")
    );
}

#[tokio::test]
async fn poison_records_go_to_the_error_prefix_with_reasons_and_the_rest_lands() {
    // given a partition with 2 valid records around 5 poison ones
    let sink = sink(MemoryStore::default());
    let raw = event_json("msk-mixed.json");
    let raw_records = raw["records"]["users_created-1"].as_array().unwrap();

    // when
    let summary = handle_json(&event("msk-mixed.json"), &sink, now())
        .await
        .unwrap();

    // then
    assert_eq!(
        (summary.records, summary.written, summary.rejected),
        (7, 2, 5)
    );
    assert_eq!(
        sink.store.keys(),
        vec![
            "_errors/dt=2026-11-24/users_created-1-101-105.jsonl",
            "users/dt=2026-11-24/hour=12/users_created-1-100-106.parquet",
        ]
    );
    let body = sink
        .store
        .body("_errors/dt=2026-11-24/users_created-1-101-105.jsonl");
    let lines: Vec<serde_json::Value> = body
        .split(|&b| b == b'\n')
        .filter(|l| !l.is_empty())
        .map(|l| serde_json::from_slice(l).unwrap())
        .collect();
    let reasons: Vec<(i64, &str)> = lines
        .iter()
        .map(|l| (l["offset"].as_i64().unwrap(), l["reason"].as_str().unwrap()))
        .collect();
    assert_eq!(reasons[0], (101, "record has no value"));
    assert!(
        reasons[1].1.starts_with("value is not valid base64"),
        "{}",
        reasons[1].1
    );
    assert!(
        reasons[2]
            .1
            .starts_with("value is not a valid user record: EOF while parsing"),
        "{}",
        reasons[2].1
    );
    assert!(
        reasons[3].1.contains("missing field `email`"),
        "{}",
        reasons[3].1
    );
    assert!(
        reasons[4]
            .1
            .contains("invalid type: floating point `631.04`, expected a string or a whole number"),
        "{}",
        reasons[4].1
    );
    for line in &lines {
        assert_eq!(line["topic"], "users_created");
        assert_eq!(line["partition"], 1);
        assert!(
            line["timestamp"]
                .as_str()
                .unwrap()
                .starts_with("2026-11-24T12:59:58")
        );
    }
    // the raw value is kept: as sent when it was base64, re-encoded when it was not
    assert_eq!(lines[3]["raw_base64"], raw_records[4]["value"]);
    assert_eq!(lines[0]["raw_base64"], serde_json::Value::Null);
    assert_eq!(
        BASE64
            .decode(lines[1]["raw_base64"].as_str().unwrap())
            .unwrap(),
        b"this is not base64!"
    );
    assert_eq!(lines[1]["key_base64"], raw_records[2]["key"]);

    let batch = read_parquet(
        sink.store
            .body("users/dt=2026-11-24/hour=12/users_created-1-100-106.parquet"),
    );
    let offsets = batch
        .column_by_name("kafka_offset")
        .unwrap()
        .as_primitive::<Int64Type>();
    assert_eq!(offsets.values().to_vec(), vec![100, 106]);
}

#[tokio::test]
async fn a_malformed_event_entry_is_rejected_not_fatal() {
    // given an entry whose offset is not a number and one with no timestamp
    let event = r#"{"eventSource":"aws:kafka","records":{"users_created-4":[
            {"topic":"users_created","partition":4,"offset":"x","timestamp":1,"headers":[]},
            {"topic":"users_created","partition":4,"offset":1,"value":null}]}}"#;
    let sink = sink(MemoryStore::default());

    // when
    let summary = handle_json(event, &sink, now()).await.unwrap();

    // then both are kept, dated by the invocation, named by a digest of their content
    assert_eq!(
        (summary.records, summary.written, summary.rejected),
        (2, 0, 2)
    );
    let keys = sink.store.keys();
    assert_eq!(keys.len(), 1);
    assert!(
        keys[0].starts_with("_errors/dt=2026-11-25/users_created-4-malformed-"),
        "{}",
        keys[0]
    );
    let body = String::from_utf8(sink.store.body(&keys[0]).to_vec()).unwrap();
    assert_eq!(body.lines().count(), 2);
    assert!(
        body.contains("malformed MSK record entry: invalid type: string \\\"x\\\""),
        "{body}"
    );
    assert!(body.contains("missing field `timestamp`"), "{body}");
}

#[tokio::test]
async fn redelivered_batch_overwrites_the_same_objects_with_the_same_bytes() {
    // given
    let first = sink(MemoryStore::default());
    let second = sink(MemoryStore::default());

    // when the same event is handled twice, by two cold starts
    handle_json(&event("msk-mixed.json"), &first, now())
        .await
        .unwrap();
    handle_json(&event("msk-mixed.json"), &second, now())
        .await
        .unwrap();
    handle_json(&event("msk-mixed.json"), &second, now())
        .await
        .unwrap();

    // then
    assert_eq!(first.store.keys(), second.store.keys());
    for key in first.store.keys() {
        assert_eq!(first.store.body(&key), second.store.body(&key), "{key}");
    }
}

#[tokio::test]
async fn a_failed_write_fails_the_invocation_as_retryable() {
    // given a lake that throttles the hour-13 object
    let store = MemoryStore::default();
    store.refuse(Operation::Put, "hour=13", "SlowDown", 503);
    let sink = sink(store);

    // when
    let error = handle_json(&event("msk-users.json"), &sink, now())
        .await
        .unwrap_err();

    // then
    assert!(error.is_retryable());
    assert!(matches!(
        error,
        SinkError::Store {
            attempted: 3,
            failed: 1,
            ..
        }
    ));
    assert_eq!(
        error.to_string(),
        "1 of 3 object(s) were not stored, first: cannot put \
         s3://memory/users/dt=2026-11-24/hour=13/users_created-0-42-42.parquet: \
         service error: SlowDown (injected)"
    );
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "StoreFailed.Retryable");
}

#[tokio::test]
async fn a_denied_write_fails_the_invocation_as_fatal_naming_the_denied_key() {
    // given a lake whose role may not write the error prefix, and that throttles data objects
    let store = MemoryStore::default();
    store.refuse(Operation::Put, "users/", "SlowDown", 503);
    store.refuse(Operation::Put, "_errors/", "AccessDenied", 403);
    let sink = sink(store);

    // when a batch with good and poison records arrives
    let error = handle_json(&event("msk-mixed.json"), &sink, now())
        .await
        .unwrap_err();

    // then the failure that needs someone to act is the one reported
    assert!(!error.is_retryable());
    assert!(
        error
            .to_string()
            .contains("cannot put s3://memory/_errors/"),
        "{error}"
    );
    let diagnostic = lambda_runtime::Diagnostic::from(error);
    assert_eq!(diagnostic.error_type, "StoreFailed.Fatal");
}

/// An event of one record whose value is `value`, without a key, as a producer that sends no
/// key (the original Python pipeline's) leaves it.
fn keyless_event(value: &[u8]) -> String {
    serde_json::json!({
        "eventSource": "aws:kafka",
        "records": {"users_created-0": [{
            "topic": "users_created", "partition": 0, "offset": 7,
            "timestamp": 1_795_525_198_000_i64, "timestampType": "CREATE_TIME",
            "key": null, "value": BASE64.encode(value), "headers": [],
        }]},
    })
    .to_string()
}

#[tokio::test]
async fn a_record_as_the_original_producer_sends_it_lands_with_its_post_code_as_text() {
    // given json.dumps' default separators, \u escapes for non-ASCII text, a numeric post code
    // and no message key
    let value = br#"{"id": "6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f", "first_name": "Zo\u00eb", "last_name": "L\u00f8v\u00e5s", "gender": "female", "address": "4821 Kirkeveien, Oslo, \u00d8stfold, Norway", "post_code": 78276, "email": "zoe@example.com", "username": "bluefish392", "dob": "1987-05-04T10:11:12.345Z", "registered_date": "2015-02-03T04:05:06.789Z", "phone": "22 33 44 55", "picture": "https://randomuser.me/api/portraits/med/women/12.jpg"}"#;
    let sink = sink(MemoryStore::default());

    // when
    let summary = handle_json(&keyless_event(value), &sink, now())
        .await
        .unwrap();

    // then it lands, nothing is rejected, and the post code is the number's decimal text
    assert_eq!((summary.written, summary.rejected), (1, 0));
    let key = &summary.objects[0];
    let rows = lake_rows([read_parquet(sink.store.body(key))]);
    assert_eq!(rows[0].record.post_code, "78276");
    assert_eq!(rows[0].record.first_name, "Zoë");
    assert_eq!(
        rows[0].record.address,
        "4821 Kirkeveien, Oslo, Østfold, Norway"
    );
}

#[tokio::test]
async fn lake_prefix_and_codec_come_from_config() {
    // given
    let env = [("LAKE_PREFIX", "raw/"), ("PARQUET_COMPRESSION", "snappy")];
    let (sink, _) = sink_with(MemoryStore::default(), &env);

    // when
    handle_json(&event("msk-users.json"), &sink, now())
        .await
        .unwrap();

    // then
    let keys = sink.store.keys();
    assert!(
        keys.iter().all(|k| k.starts_with("raw/users/dt=")),
        "{keys:?}"
    );
    let reader =
        parquet::file::reader::SerializedFileReader::new(sink.store.body(&keys[0])).unwrap();
    let column = parquet::file::reader::FileReader::metadata(&reader)
        .row_group(0)
        .column(0)
        .compression();
    assert_eq!(column, parquet::basic::Compression::SNAPPY);
}

#[tokio::test]
async fn timestamps_are_exact_and_may_come_as_digit_strings() {
    // given 1795525198099 ms (a value an f64 round trip turns into ...098) sent as a string
    let mut event = event_json("msk-users.json");
    let entry = &mut event["records"]["users_created-2"][0];
    entry["timestamp"] = serde_json::json!("1795525198099");
    let sink = sink(MemoryStore::default());

    // when
    handle_json(&event.to_string(), &sink, now()).await.unwrap();

    // then
    let batch = read_parquet(
        sink.store
            .body("users/dt=2026-11-24/hour=12/users_created-2-7-9.parquet"),
    );
    let ts = batch
        .column_by_name("kafka_timestamp")
        .unwrap()
        .as_primitive::<TimestampMillisecondType>();
    assert_eq!(
        ts.values().to_vec(),
        vec![1795525198099, 1795525198200, 1795525198300]
    );
}

#[tokio::test]
async fn a_payload_that_is_not_an_msk_event_fails_clearly_and_is_not_retried() {
    // given the scheduled event meant for the producer, and payloads that are not events at all
    let scheduled = std::fs::read_to_string(format!(
        "{}/../../events/producer/scheduled.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let cases = [
        (scheduled.as_str(), "missing field `records`"),
        (r#""users_created""#, "invalid type: string"),
        (
            r#"{"records": {"users_created-0": {"offset": 1}}}"#,
            "invalid type: map",
        ),
        ("null", "invalid type: null"),
    ];
    for (payload, expected) in cases {
        let (sink, captured) = sink_with(MemoryStore::default(), &[]);

        // when
        let error = handle_json(payload, &sink, now()).await.unwrap_err();

        // then the error names the problem, is fatal, writes nothing and is counted
        assert!(
            matches!(error, SinkError::NotAnMskEvent { .. }),
            "{payload}: {error:?}"
        );
        assert!(error.to_string().contains(expected), "{payload}: {error}");
        assert_eq!(error.error_type(), "NotAnMskEvent.Fatal");
        assert!(sink.store.keys().is_empty());
        let line: serde_json::Value =
            serde_json::from_str(&captured.lines().pop().expect("a summary line")).unwrap();
        assert_eq!(
            (line["Errors"].as_i64(), line["RecordsIn"].as_i64()),
            (Some(1), Some(0))
        );
        assert_eq!(line["errorType"], "NotAnMskEvent.Fatal");
    }
}

#[tokio::test]
async fn a_raw_body_is_handled_as_its_text_and_one_that_is_not_utf8_fails_clearly() {
    // given the sample event as raw bytes, and the same bytes with one made invalid UTF-8
    let text = event("msk-users.json");
    let mut broken = text.clone().into_bytes();
    broken[1] = 0xff;

    // when each is handled as the Lambda runtime hands the body over
    let (sink, _) = sink_with(MemoryStore::default(), &[]);
    let from_bytes = handle_bytes(text.as_bytes(), &sink, now()).await.unwrap();
    let (reference, _) = sink_with(MemoryStore::default(), &[]);
    let from_text = handle_json(&text, &reference, now()).await.unwrap();
    let (bad, captured) = sink_with(MemoryStore::default(), &[]);
    let error = handle_bytes(&broken, &bad, now()).await.unwrap_err();

    // then the bytes write what the text writes, and the broken body is a fatal, counted error
    assert_eq!(from_bytes, from_text);
    assert_eq!(sink.store.keys(), reference.store.keys());
    assert!(matches!(error, SinkError::NotUtf8 { .. }), "{error:?}");
    assert_eq!(error.error_type(), "NotAnMskEvent.Fatal");
    assert!(bad.store.keys().is_empty());
    let line: serde_json::Value =
        serde_json::from_str(&captured.lines().pop().expect("a summary line")).unwrap();
    assert_eq!(line["errorType"], "NotAnMskEvent.Fatal");
}

#[tokio::test]
async fn an_empty_batch_writes_nothing() {
    let event = r#"{"eventSource":"aws:kafka","records":{}}"#;
    let sink = sink(MemoryStore::default());
    let summary = handle_json(event, &sink, now()).await.unwrap();
    assert_eq!((summary.records, summary.objects.len()), (0, 0));
    assert!(sink.store.keys().is_empty());
}
