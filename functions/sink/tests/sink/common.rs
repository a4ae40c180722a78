//! Test doubles and helpers shared by the sink's integration tests.
#![allow(dead_code)]

use std::io::Cursor;

use arrow::record_batch::RecordBatch;
pub use lake::testing::{MemoryStore, Operation};
use lake::text::text_schema;
use lake::{LakeRow, lake_schema};
use lambda_kit::emf::{Captured, Metrics};
use parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder;
use sink::{Sink, SinkConfig};

/// Settings for the plain-files layout (the object-level tests' subject) unless `env` names
/// `LAKE_FORMAT`, with `LAKE_BUCKET` set.
pub fn config(env: &[(&'static str, &'static str)]) -> SinkConfig {
    let mut all = vec![("LAKE_BUCKET", "data-lake")];
    if !env.iter().any(|(k, _)| *k == "LAKE_FORMAT") {
        all.push(("LAKE_FORMAT", "files"));
    }
    all.extend_from_slice(env);
    SinkConfig::from_source(&all).unwrap()
}

/// A sink with the default settings whose summary lines are kept in memory.
pub fn sink<S>(store: S) -> Sink<S> {
    sink_with(store, &[]).0
}

/// A sink with these settings (besides `LAKE_BUCKET`), and the lines it emits.
pub fn sink_with<S>(store: S, env: &[(&'static str, &'static str)]) -> (Sink<S>, Captured) {
    let mut sink = Sink::new(store, &config(env));
    let (metrics, captured) = Metrics::captured(sink.metrics.config().clone());
    sink.metrics = metrics;
    (sink, captured)
}

/// A sample event from events/sink/, as the JSON text the runtime hands the function.
pub fn event(name: &str) -> String {
    let path = format!("{}/../../events/sink/{name}", env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(&path).unwrap()
}

/// The same sample as loose JSON, to build expectations from.
pub fn event_json(name: &str) -> serde_json::Value {
    let path = format!("{}/../../events/sink/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap()
}

/// Every line of every object under `_errors/`, parsed.
pub fn error_lines(store: &MemoryStore) -> Vec<serde_json::Value> {
    let keys = store.keys();
    let errors = keys.iter().filter(|k| k.starts_with("_errors/"));
    errors
        .flat_map(|k| {
            let body = String::from_utf8(store.body(k).to_vec()).unwrap();
            body.lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect::<Vec<_>>()
        })
        .collect()
}

pub fn read_parquet(body: impl Into<bytes::Bytes>) -> RecordBatch {
    let reader = ParquetRecordBatchReaderBuilder::try_new(body.into())
        .unwrap()
        .build()
        .unwrap();
    let batches: Vec<RecordBatch> = reader.map(Result::unwrap).collect();
    arrow::compute::concat_batches(&batches[0].schema(), &batches).unwrap()
}

pub fn now() -> chrono::DateTime<chrono::Utc> {
    "2026-11-25T08:00:00Z".parse().unwrap()
}

/// The lake rows of these batches, in order.
pub fn lake_rows(batches: impl IntoIterator<Item = RecordBatch>) -> Vec<LakeRow> {
    batches
        .into_iter()
        .flat_map(|batch| lake::rows::rows(&batch).unwrap())
        .collect()
}

/// The rows of a JSON Lines object, read with Arrow's JSON reader.
pub fn read_jsonl(body: impl AsRef<[u8]>) -> Vec<LakeRow> {
    let reader = arrow::json::ReaderBuilder::new(text_schema(&lake_schema()))
        .build(Cursor::new(body.as_ref().to_vec()))
        .unwrap();
    lake_rows(reader.map(Result::unwrap))
}

/// The rows of a CSV object, read with Arrow's CSV reader.
pub fn read_csv(body: impl AsRef<[u8]>) -> Vec<LakeRow> {
    let reader = arrow::csv::ReaderBuilder::new(text_schema(&lake_schema()))
        .with_header(true)
        // No lake column is nullable: an empty field is an empty string, never a null.
        .with_null_regex(regex::Regex::new("^\\z.").unwrap())
        .build(Cursor::new(body.as_ref().to_vec()))
        .unwrap();
    lake_rows(reader.map(Result::unwrap))
}

/// The users in the Parquet objects under `users/` (the plain-files layout), in key order.
pub fn lake_users(store: &MemoryStore) -> Vec<user_record::UserRecord> {
    let keys = store.keys();
    let data = keys.iter().filter(|k| k.starts_with("users/"));
    lake_rows(data.map(|k| read_parquet(store.body(k))))
        .into_iter()
        .map(|row| row.record)
        .collect()
}
