//! What Lambda writes to a Kafka event source mapping's on-failure destination when it gives a
//! batch up, and where the emulator writes it.
//!
//! The document follows the record the Lambda developer guide gives for Amazon MSK and
//! self-managed Kafka ("Capturing discarded batches for Amazon MSK and self-managed Apache Kafka
//! event sources"): why the batch failed (`requestContext`), the last invocation's error
//! (`responseContext`), the offset and timestamp range of each topic-partition
//! (`KafkaBatchInfo.recordsInfo`), and, for an S3 destination, the whole invocation event as a
//! JSON string (`payload`), so the batch outlives the topic's retention and can be replayed
//! from the bucket alone.
//!
//! The guide does not give the object keys Lambda uses in an S3 destination; the emulator uses
//! `aws/lambda/<mapping id>/<topic-partition>/<yyyy>/<mm>/<dd>/<time>-<uuid>.json`. Readers
//! (replay, operators) list the bucket rather than rely on the layout.

use std::future::Future;
use std::pin::Pin;
use std::time::Duration;

use chrono::{DateTime, SecondsFormat, TimeZone, Utc};
use lake::LakeStore;
use msk_event::{EventSource, SourceRecord};
use serde_json::{Value, json};

/// The id the emulator gives its one event source mapping, in keys and ARNs.
pub const LOCAL_MAPPING_ID: &str = "00000000-0000-4000-8000-000000000001";

/// Why a batch was given up on (`requestContext.condition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Condition {
    /// Every retry failed (`MaximumRetryAttempts`).
    RetryAttemptsExhausted,
    /// Its oldest record outlived `MaximumRecordAgeInSeconds` (the value Lambda documents for
    /// stream sources; the Kafka page names only the other two).
    RecordAgeExceeded,
    /// The event would exceed Lambda's 6 MB payload limit; the function was not invoked.
    MaximumPayloadSizeExceeded,
    /// The record names a schema its registry does not have; the function never sees it.
    SchemaNotFound,
    /// The record does not decode with its schema; the function never sees it.
    DeserializationError,
}

impl Condition {
    /// The value Lambda writes.
    pub fn as_str(self) -> &'static str {
        match self {
            Condition::RetryAttemptsExhausted => "RetryAttemptsExhausted",
            Condition::RecordAgeExceeded => "RecordAgeExceeded",
            Condition::MaximumPayloadSizeExceeded => "MaximumPayloadSizeExceeded",
            Condition::SchemaNotFound => "SCHEMA_NOT_FOUND",
            Condition::DeserializationError => "DESERIALIZATION_ERROR",
        }
    }
}

/// A batch given up on, as the failure record describes it.
pub struct Failed<'a> {
    /// The function the batch was for.
    pub function: &'a str,
    /// The cluster, as the event names it.
    pub source: &'a EventSource,
    /// The batch.
    pub records: &'a [SourceRecord],
    /// The invocation event the function was (or would have been) given.
    pub payload: &'a [u8],
    pub condition: Condition,
    /// Invocations made for the batch (0 when the payload was too large to send).
    pub invocations: u32,
    /// The last invocation's `X-Amz-Function-Error` kind, if the function ran and failed.
    pub function_error: Option<&'a str>,
}

fn timestamp(millis: i64) -> String {
    Utc.timestamp_millis_opt(millis)
        .single()
        .map(|t| t.to_rfc3339_opts(SecondsFormat::Millis, true))
        .unwrap_or_default()
}

/// The failure record of `failed`, stamped `now`.
pub fn record(failed: &Failed<'_>, now: DateTime<Utc>) -> Value {
    let mut ranges = serde_json::Map::new();
    for r in failed.records {
        let entry = ranges.entry(r.group_key()).or_insert_with(|| {
            json!({
                "firstRecordOffset": r.offset.to_string(),
                "lastRecordOffset": r.offset.to_string(),
                "firstRecordTimestamp": timestamp(r.timestamp.millis()),
                "lastRecordTimestamp": timestamp(r.timestamp.millis()),
            })
        });
        // Records of a partition arrive in offset order: the last one seen is the last one.
        entry["lastRecordOffset"] = json!(r.offset.to_string());
        entry["lastRecordTimestamp"] = json!(timestamp(r.timestamp.millis()));
    }
    let response = match failed.condition {
        Condition::MaximumPayloadSizeExceeded
        | Condition::SchemaNotFound
        | Condition::DeserializationError => Value::Null,
        _ => json!({
            "statusCode": 200,
            "executedVersion": "$LATEST",
            "functionError": failed.function_error.unwrap_or("Unhandled"),
        }),
    };
    let region = failed.source.arn.split(':').nth(3).unwrap_or("us-east-1");
    json!({
        "requestContext": {
            "requestId": uuid::Uuid::new_v4().to_string(),
            "functionArn": format!("arn:aws:lambda:{region}:000000000000:function:{}", failed.function),
            "condition": failed.condition.as_str(),
            "approximateInvokeCount": failed.invocations,
        },
        "responseContext": response,
        "version": "1.0",
        "timestamp": now.to_rfc3339_opts(SecondsFormat::Millis, true),
        "KafkaBatchInfo": {
            "batchSize": failed.records.len(),
            "eventSourceArn": failed.source.arn,
            "bootstrapServers": failed.source.bootstrap_servers,
            "payloadSize": failed.payload.len(),
            "recordsInfo": ranges,
        },
        "payload": String::from_utf8_lossy(failed.payload),
    })
}

/// The key the emulator writes a failure record under.
pub fn key(records: &[SourceRecord], now: DateTime<Utc>) -> String {
    let partition = records
        .first()
        .map(SourceRecord::group_key)
        .unwrap_or_default();
    format!(
        "aws/lambda/{LOCAL_MAPPING_ID}/{partition}/{}/{}-{}.json",
        now.format("%Y/%m/%d"),
        now.format("%Y-%m-%dT%H.%M.%S%.3fZ"),
        uuid::Uuid::new_v4()
    )
}

/// How long ago the batch's oldest record was written, as of `now` (`None` when no record has a
/// timestamp).
pub fn oldest_age(records: &[SourceRecord], now: DateTime<Utc>) -> Option<Duration> {
    let oldest = records
        .iter()
        .map(|r| r.timestamp.millis())
        .filter(|ms| *ms >= 0)
        .min()?;
    let age = now.timestamp_millis().saturating_sub(oldest);
    Some(Duration::from_millis(age.max(0) as u64))
}

/// A future that stores one failure record.
pub type Store<'a> = Pin<Box<dyn Future<Output = Result<(), String>> + Send + 'a>>;

/// The on-failure destination: stores failure records by key.
pub trait FailureSink: Send + Sync {
    /// Stores `body` at `key`; the error says why it could not.
    fn store<'a>(&'a self, key: &'a str, body: Vec<u8>) -> Store<'a>;
}

/// An S3 bucket as the destination (any store of the lake crate).
pub struct BucketDestination<S>(pub S);

impl<S: LakeStore> FailureSink for BucketDestination<S> {
    fn store<'a>(&'a self, key: &'a str, body: Vec<u8>) -> Store<'a> {
        Box::pin(async move {
            self.0
                .put(key, body, "application/json")
                .await
                .map_err(|e| lambda_kit::error_chain(&e))
        })
    }
}

#[cfg(test)]
mod tests {
    use msk_event::{RecordTimestamp, event_json};

    use super::*;

    fn record_at(partition: i32, offset: i64, millis: i64) -> SourceRecord {
        SourceRecord {
            topic: "users_created".into(),
            partition,
            offset,
            timestamp: RecordTimestamp::CreateTime(millis),
            key: None,
            value: Some(b"{}".to_vec()),
            headers: Vec::new(),
            schemas: Default::default(),
        }
    }

    #[test]
    fn the_record_names_each_partitions_range_and_carries_the_whole_event() {
        let source = EventSource::local("eu-west-1", "127.0.0.1:9092");
        let records = [
            record_at(2, 4711, 1_764_590_404_835),
            record_at(2, 4712, 1_764_590_405_580),
            record_at(0, 9, 1_764_590_405_000),
        ];
        let payload = event_json(&source, &records);
        let now = "2026-12-01T12:00:06.021Z".parse().unwrap();
        let document = record(
            &Failed {
                function: "sink",
                source: &source,
                records: &records,
                payload: &payload,
                condition: Condition::RetryAttemptsExhausted,
                invocations: 11,
                function_error: Some("Unhandled"),
            },
            now,
        );
        assert_eq!(
            document["requestContext"]["condition"],
            "RetryAttemptsExhausted"
        );
        assert_eq!(document["requestContext"]["approximateInvokeCount"], 11);
        assert_eq!(
            document["requestContext"]["functionArn"],
            "arn:aws:lambda:eu-west-1:000000000000:function:sink"
        );
        assert_eq!(document["responseContext"]["functionError"], "Unhandled");
        assert_eq!(document["timestamp"], "2026-12-01T12:00:06.021Z");
        let info = &document["KafkaBatchInfo"];
        assert_eq!(info["batchSize"], 3);
        assert_eq!(info["payloadSize"], payload.len());
        let p2 = &info["recordsInfo"]["users_created-2"];
        assert_eq!(p2["firstRecordOffset"], "4711");
        assert_eq!(p2["lastRecordOffset"], "4712");
        assert_eq!(p2["firstRecordTimestamp"], "2025-12-01T12:00:04.835Z");
        assert_eq!(p2["lastRecordTimestamp"], "2025-12-01T12:00:05.580Z");
        assert_eq!(
            info["recordsInfo"]["users_created-0"]["lastRecordOffset"],
            "9"
        );
        // the payload is the event itself, as a string
        let event: Value = serde_json::from_str(document["payload"].as_str().unwrap()).unwrap();
        assert_eq!(event, serde_json::from_slice::<Value>(&payload).unwrap());
    }

    #[test]
    fn a_batch_too_large_to_send_has_no_response_context() {
        let source = EventSource::local("us-east-1", "b:9092");
        let records = [record_at(0, 1, 0)];
        let document = record(
            &Failed {
                function: "sink",
                source: &source,
                records: &records,
                payload: b"{}",
                condition: Condition::MaximumPayloadSizeExceeded,
                invocations: 0,
                function_error: None,
            },
            Utc::now(),
        );
        assert!(document["responseContext"].is_null());
        assert_eq!(document["requestContext"]["approximateInvokeCount"], 0);
    }

    #[test]
    fn keys_sit_under_the_mapping_and_first_partition_by_day() {
        let now: DateTime<Utc> = "2026-12-01T12:00:06.021Z".parse().unwrap();
        let key = key(&[record_at(1, 5, 0)], now);
        assert!(
            key.starts_with(&format!(
                "aws/lambda/{LOCAL_MAPPING_ID}/users_created-1/2026/12/01/2026-12-01T12.00.06.021Z-"
            )),
            "{key}"
        );
        assert!(key.ends_with(".json"));
    }

    #[test]
    fn the_oldest_timestamped_record_sets_the_age() {
        let now: DateTime<Utc> = "2026-12-01T12:00:00Z".parse().unwrap();
        let minute_ago = now.timestamp_millis() - 60_000;
        let records = [
            record_at(0, 1, now.timestamp_millis()),
            record_at(0, 2, minute_ago),
        ];
        assert_eq!(oldest_age(&records, now), Some(Duration::from_secs(60)));
        let mut untimed = record_at(0, 3, 0);
        untimed.timestamp = RecordTimestamp::NotAvailable;
        assert_eq!(oldest_age(&[untimed], now), None);
    }
}
