//! The producer's summary line: the real handler with the API and Kafka doubles, its one
//! emitted line parsed as JSON and checked as an Embedded Metric Format document.

use crate::common::*;
use producer::{Producer, PublishError, Publisher, handle};
use serde_json::{Value, json};
use user_record::UserRecord;

fn only_line(lines: Vec<String>) -> Value {
    assert_eq!(lines.len(), 1, "one summary line per invocation: {lines:?}");
    serde_json::from_str(&lines[0]).expect("the summary line is a JSON object")
}

/// Acknowledges only the first `delivered` records of a run.
struct ShortPublisher {
    delivered: usize,
}

impl Publisher for ShortPublisher {
    async fn publish(
        &self,
        records: &[UserRecord],
        _acknowledged: &std::sync::atomic::AtomicUsize,
    ) -> Result<usize, PublishError> {
        Err(timed_out_delivery(records, self.delivered))
    }

    fn topic(&self) -> &str {
        "users_created"
    }
}

#[tokio::test]
async fn a_run_emits_one_emf_document_with_its_counts() {
    // given 3 users of which 2 are malformed, as function "user-lake-producer"
    let env = [("AWS_LAMBDA_FUNCTION_NAME", "user-lake-producer")];
    let (metrics, captured) = captured_metrics(&env);
    let producer = Producer {
        source: FixtureUsers::new("randomuser-malformed-user.json"),
        publisher: MemoryPublisher::default(),
        users_per_run: 3,
        metrics,
    };
    let before = chrono::Utc::now().timestamp_millis();

    // when
    let summary = handle(&event("scheduled.json"), &producer).await.unwrap();

    // then: the metadata
    let after = chrono::Utc::now().timestamp_millis();
    let line = only_line(captured.lines());
    let timestamp = line["_aws"]["Timestamp"].as_i64().unwrap();
    assert!((before..=after).contains(&timestamp), "{timestamp}");
    let directive = &line["_aws"]["CloudWatchMetrics"][0];
    assert_eq!(directive["Namespace"], "UserLake");
    assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
    assert_eq!(
        directive["Metrics"],
        json!([
            {"Name": "UsersRequested", "Unit": "Count"},
            {"Name": "UsersFetched", "Unit": "Count"},
            {"Name": "UsersSkipped", "Unit": "Count"},
            {"Name": "RecordsProduced", "Unit": "Count"},
            {"Name": "ApiRetries", "Unit": "Count"},
            {"Name": "Duration", "Unit": "Milliseconds"},
            {"Name": "Errors", "Unit": "Count"},
        ])
    );
    // and the values agree with the answer
    assert_eq!(line["FunctionName"], "user-lake-producer");
    assert_eq!(line["UsersRequested"], 3);
    assert_eq!(line["UsersFetched"], 3);
    assert_eq!(line["UsersSkipped"], 2);
    assert_eq!(line["RecordsProduced"], 1);
    assert_eq!(line["ApiRetries"], 0);
    assert_eq!(line["Errors"], 0);
    let duration = line["Duration"].as_f64().unwrap();
    assert!(
        duration > 0.0 && duration <= (after - before + 1) as f64,
        "{duration}"
    );
    assert!(duration >= summary.duration_ms as f64);
    assert_eq!(line["topic"], "users_created");
    assert_eq!(line["level"], "INFO");
}

#[tokio::test]
async fn a_run_the_broker_cuts_short_reports_what_was_delivered_and_one_error() {
    // given a broker that acknowledges 40 of 100 records
    let (metrics, captured) = captured_metrics(&[("METRICS_NAMESPACE", "Lake/Test")]);
    let producer = Producer {
        source: FixtureUsers::new("randomuser-mixed-nat.json"),
        publisher: ShortPublisher { delivered: 40 },
        users_per_run: 100,
        metrics,
    };

    // when
    let error = handle(&event("scheduled.json"), &producer)
        .await
        .unwrap_err();

    // then
    let line = only_line(captured.lines());
    assert_eq!(
        line["_aws"]["CloudWatchMetrics"][0]["Namespace"],
        "Lake/Test"
    );
    assert_eq!(line["FunctionName"], "producer");
    assert_eq!(line["UsersRequested"], 100);
    assert_eq!(line["UsersFetched"], 100);
    assert_eq!(line["RecordsProduced"], 40);
    assert_eq!(line["Errors"], 1);
    assert_eq!(line["level"], "ERROR");
    assert_eq!(line["errorType"], "PublishFailed.Retryable");
    assert_eq!(line["error"], error.to_string());
}

#[tokio::test]
async fn a_refused_count_still_emits_its_line() {
    let (metrics, captured) = captured_metrics(&[]);
    let producer = Producer {
        source: FixtureUsers::new("randomuser-mixed-nat.json"),
        publisher: MemoryPublisher::default(),
        users_per_run: 100,
        metrics,
    };
    let mut event = event("scheduled.json");
    event.detail.count = Some(20_001);
    handle(&event, &producer).await.unwrap_err();
    let line = only_line(captured.lines());
    assert_eq!(
        (
            &line["UsersRequested"],
            &line["RecordsProduced"],
            &line["Errors"]
        ),
        (&json!(20_001), &json!(0), &json!(1))
    );
    assert_eq!(line["errorType"], "InvalidCount.Fatal");
}
