//! The sink's summary line: the real handler with an in-memory lake, its one emitted line parsed
//! as JSON and checked as an Embedded Metric Format document.

use crate::common::*;
use serde_json::{Value, json};
use sink::handle_json;

fn only_line(lines: Vec<String>) -> Value {
    assert_eq!(lines.len(), 1, "one summary line per invocation: {lines:?}");
    serde_json::from_str(&lines[0]).expect("the summary line is a JSON object")
}

#[tokio::test]
async fn a_batch_emits_one_emf_document_with_its_counts_and_lag() {
    // given the mixed sample (2 good, 5 poison; the oldest record at 1795525198000 ms)
    let env = [
        ("METRICS_NAMESPACE", "UserLakeTest"),
        ("AWS_LAMBDA_FUNCTION_NAME", "user-lake-sink"),
    ];
    let (sink, captured) = sink_with(MemoryStore::default(), &env);

    // when
    let summary = handle_json(&event("msk-mixed.json"), &sink, now())
        .await
        .unwrap();

    // then: the metadata names the namespace, the dimension and every metric with its unit
    let line = only_line(captured.lines());
    assert_eq!(line["_aws"]["Timestamp"], now().timestamp_millis());
    let directives = line["_aws"]["CloudWatchMetrics"].as_array().unwrap();
    assert_eq!(directives.len(), 1);
    assert_eq!(directives[0]["Namespace"], "UserLakeTest");
    assert_eq!(directives[0]["Dimensions"], json!([["FunctionName"]]));
    assert_eq!(
        directives[0]["Metrics"],
        json!([
            {"Name": "RecordsIn", "Unit": "Count"},
            {"Name": "RecordsWritten", "Unit": "Count"},
            {"Name": "RecordsRejected", "Unit": "Count"},
            {"Name": "ObjectsWritten", "Unit": "Count"},
            {"Name": "BytesWritten", "Unit": "Bytes"},
            {"Name": "ParquetEncodeTime", "Unit": "Milliseconds"},
            {"Name": "RecordsDuplicate", "Unit": "Count"},
            {"Name": "RecordsRewound", "Unit": "Count"},
            {"Name": "CommitConflicts", "Unit": "Count"},
            {"Name": "CommitTime", "Unit": "Milliseconds"},
            {"Name": "Lag", "Unit": "Milliseconds"},
            {"Name": "Errors", "Unit": "Count"},
        ])
    );
    // and the values are top-level members that agree with the invocation's answer
    assert_eq!(line["FunctionName"], "user-lake-sink");
    assert_eq!(line["RecordsIn"], 7);
    assert_eq!(line["RecordsWritten"], 2);
    assert_eq!(line["RecordsRejected"], 5);
    assert_eq!(line["ObjectsWritten"], 2);
    assert_eq!(line["BytesWritten"], summary.bytes);
    assert_eq!(line["Errors"], 0);
    let lag = now().timestamp_millis() - 1_795_525_198_000;
    assert_eq!(line["Lag"], lag);
    let encode_ms = line["ParquetEncodeTime"].as_f64().unwrap();
    assert!(
        encode_ms > 0.0,
        "one Parquet object was encoded: {encode_ms}"
    );
    assert_eq!(line["level"], "INFO");
    assert_eq!(line["objects"], json!(summary.objects));
}

#[tokio::test]
async fn a_failed_batch_still_reports_with_one_error_and_nothing_written() {
    // given a lake that throttles the Parquet objects
    let store = MemoryStore::default();
    store.refuse(Operation::Put, ".parquet", "SlowDown", 503);
    let (sink, captured) = sink_with(store, &[]);

    // when
    let error = handle_json(&event("msk-mixed.json"), &sink, now())
        .await
        .unwrap_err();

    // then: the error object was stored, the data object was not, and the line says so
    let line = only_line(captured.lines());
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "UserLake"
    );
    assert_eq!(line["FunctionName"], "sink");
    assert_eq!(line["Errors"], 1);
    assert_eq!(line["RecordsIn"], 7);
    assert_eq!(line["RecordsWritten"], 0);
    assert_eq!(line["RecordsRejected"], 0);
    assert_eq!(line["ObjectsWritten"], 1);
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["errorType"], "StoreFailed.Retryable");
    assert_eq!(line["error"], error.to_string());
}

#[tokio::test]
async fn an_empty_batch_reports_zeros_and_no_lag() {
    let (sink, captured) = sink_with(MemoryStore::default(), &[]);
    let event = json!({"records": {}}).to_string();
    handle_json(&event, &sink, now()).await.unwrap();
    let line = only_line(captured.lines());
    assert_eq!(line["RecordsIn"], 0);
    assert_eq!(line["ObjectsWritten"], 0);
    assert!(line.get("Lag").is_none());
    let names: Vec<&str> = line["_aws"]["CloudWatchMetrics"][0]["Metrics"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["Name"].as_str().unwrap())
        .collect();
    assert!(!names.contains(&"Lag"));
}
