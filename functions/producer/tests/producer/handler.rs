//! The producer's whole job with test doubles for the API and Kafka: counts, summaries and
//! what is handed to the publisher.

use crate::common::*;
use lambda_kit::Classified;
use std::time::Duration;

use producer::{
    DEADLINE_MARGIN, Producer, ProducerError, PublishError, Publisher, handle, handle_until,
};
use user_record::UserRecord;

fn producer(fixture: &str, users_per_run: usize) -> Producer<FixtureUsers, MemoryPublisher> {
    Producer {
        source: FixtureUsers::new(fixture),
        publisher: MemoryPublisher::default(),
        users_per_run,
        metrics: quiet_metrics(),
    }
}

#[tokio::test]
async fn a_scheduled_event_produces_the_configured_count() {
    // given the sample scheduled event (empty detail) and 100 users per run
    let producer = producer("randomuser-mixed-nat.json", 100);

    // when
    let summary = handle(&event("scheduled.json"), &producer).await.unwrap();

    // then
    assert_eq!(*producer.source.asked.lock().unwrap(), vec![100]);
    assert_eq!(
        (
            summary.requested,
            summary.fetched,
            summary.skipped,
            summary.produced
        ),
        (100, 100, 0, 100)
    );
    assert_eq!(summary.topic, "users_created");
    let published = producer.publisher.published.lock().unwrap();
    assert_eq!(published.len(), 100);
    let mut ids: Vec<_> = published.iter().map(|r| r.id).collect();
    ids.sort();
    ids.dedup();
    assert_eq!(ids.len(), 100, "every record has a distinct id");
}

#[tokio::test]
async fn the_event_detail_overrides_the_count() {
    let producer = producer("randomuser-mixed-nat.json", 100);
    let summary = handle(&event("scheduled-500.json"), &producer)
        .await
        .unwrap();
    assert_eq!(*producer.source.asked.lock().unwrap(), vec![500]);
    assert_eq!(summary.produced, 500);
}

#[tokio::test]
async fn malformed_users_are_skipped_and_counted_not_produced() {
    let producer = producer("randomuser-malformed-user.json", 3);
    let summary = handle(&event("scheduled.json"), &producer).await.unwrap();
    assert_eq!(
        (summary.fetched, summary.skipped, summary.produced),
        (3, 2, 1)
    );
    assert_eq!(
        producer.publisher.published.lock().unwrap()[0].first_name,
        "Jennie"
    );
}

#[tokio::test]
async fn a_count_out_of_range_is_refused_before_fetching() {
    let producer = producer("randomuser-mixed-nat.json", 100);
    let mut event = event("scheduled.json");
    event.detail.count = Some(0);
    let error = handle(&event, &producer).await.unwrap_err();
    assert!(matches!(error, ProducerError::InvalidCount { count: 0 }));
    assert!(!error.is_retryable());
    assert!(producer.source.asked.lock().unwrap().is_empty());
    assert_eq!(
        lambda_runtime::Diagnostic::from(error).error_type,
        "InvalidCount.Fatal"
    );
    event.detail.count = Some(20_001);
    let error = handle(&event, &producer).await.unwrap_err();
    assert_eq!(
        error.to_string(),
        "the event asks for 20001 users; a run may produce between 1 and 20000"
    );
}

#[tokio::test]
async fn the_summary_serialises_with_the_documented_fields() {
    let producer = producer("randomuser-mixed-nat.json", 2);
    let summary = handle(&event("scheduled.json"), &producer).await.unwrap();
    let json = serde_json::to_value(&summary).unwrap();
    let mut keys: Vec<_> = json.as_object().unwrap().keys().cloned().collect();
    keys.sort();
    assert_eq!(
        keys,
        [
            "api_retries",
            "duration_ms",
            "fetched",
            "produced",
            "requested",
            "skipped",
            "topic"
        ]
    );
}

#[test]
fn a_payload_that_is_not_a_scheduled_event_is_refused_before_any_work() {
    // given the sink's MSK sample, a bare count and a count of the wrong type, as the runtime
    // would receive them (it deserialises the payload into ScheduledEvent before the handler)
    let msk = std::fs::read_to_string(format!(
        "{}/../../events/sink/msk-users.json",
        env!("CARGO_MANIFEST_DIR")
    ))
    .unwrap();
    let mut wrong_count: serde_json::Value = serde_json::from_slice(
        &std::fs::read(format!(
            "{}/../../events/producer/scheduled.json",
            env!("CARGO_MANIFEST_DIR")
        ))
        .unwrap(),
    )
    .unwrap();
    wrong_count["detail"]["count"] = serde_json::json!("many");
    let cases = [
        (msk, "missing field `detail-type`"),
        (r#"{"count": 5}"#.to_string(), "missing field `detail-type`"),
        (wrong_count.to_string(), "invalid type: string \"many\""),
    ];
    for (payload, expected) in cases {
        // when
        let error = serde_json::from_str::<producer::ScheduledEvent>(&payload).unwrap_err();

        // then
        assert!(error.to_string().contains(expected), "{error}");
    }
}

/// A publisher that acknowledges some records at once and then never the rest, as a broker
/// that stops answering does.
struct StalledPublisher {
    acknowledges: usize,
}

impl Publisher for StalledPublisher {
    async fn publish(
        &self,
        _records: &[UserRecord],
        acknowledged: &std::sync::atomic::AtomicUsize,
    ) -> Result<usize, PublishError> {
        acknowledged.fetch_add(self.acknowledges, std::sync::atomic::Ordering::Relaxed);
        std::future::pending().await
    }

    fn topic(&self) -> &str {
        "users_created"
    }
}

#[tokio::test(start_paused = true)]
async fn a_run_stops_before_the_deadline_and_still_reports_what_was_acknowledged() {
    // given a broker that acknowledges 40 records and then nothing, and 60 s to go
    let (metrics, captured) = captured_metrics(&[]);
    let producer = Producer {
        source: FixtureUsers::new("randomuser-mixed-nat.json"),
        publisher: StalledPublisher { acknowledges: 40 },
        users_per_run: 100,
        metrics,
    };
    let started = tokio::time::Instant::now();
    let deadline = started + Duration::from_secs(60);

    // when the scheduled event is handled
    let error = handle_until(&event("scheduled.json"), &producer, Some(deadline))
        .await
        .unwrap_err();

    // then the run ends short of the deadline, as retryable, with its summary line
    assert!(started.elapsed() <= Duration::from_secs(60) - DEADLINE_MARGIN);
    assert!(matches!(
        error,
        ProducerError::DeadlineExceeded {
            produced: 40,
            fetched: 100,
            ..
        }
    ));
    assert_eq!(
        lambda_runtime::Diagnostic::from(error).error_type,
        "DeadlineExceeded.Retryable"
    );
    let lines = captured.lines();
    assert_eq!(lines.len(), 1);
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        (line["RecordsProduced"].as_u64(), line["Errors"].as_u64()),
        (Some(40), Some(1))
    );
}
