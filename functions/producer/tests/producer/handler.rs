//! The producer's whole job with test doubles for the API and Kafka: counts, summaries and
//! what is handed to the publisher.

use crate::common::*;
use lambda_kit::Classified;
use std::{
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::Duration,
};

use producer::{
    DEADLINE_MARGIN, FetchError, Producer, ProducerError, PublishError, Publisher, UserSource,
    config::{MAX_USERS_PER_RUN, USERS_PER_CHUNK},
    handle, handle_until,
    randomuser::FetchedUsers,
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
    assert_eq!(*producer.source.asked.lock().unwrap(), [(1, 100)]);
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
    assert_eq!(*producer.source.asked.lock().unwrap(), [(1, 500)]);
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

/// Users fetched and not yet acknowledged by the broker, and the most there were at once.
#[derive(Default)]
struct Held {
    now: AtomicUsize,
    peak: AtomicUsize,
}

impl Held {
    fn add(&self, n: usize) {
        let now = self.now.fetch_add(n, Ordering::SeqCst) + n;
        self.peak.fetch_max(now, Ordering::SeqCst);
    }
}

/// The fixture's users, each fetched one counted as held.
struct CountedUsers {
    users: FixtureUsers,
    held: Arc<Held>,
}

impl UserSource for CountedUsers {
    async fn fetch_page(&self, page: usize, size: usize) -> Result<FetchedUsers, FetchError> {
        let fetched = self.users.fetch_page(page, size).await?;
        self.held.add(fetched.users.len());
        Ok(fetched)
    }
}

/// Acknowledges every record, each one then no longer held.
struct CountedPublisher {
    held: Arc<Held>,
}

impl Publisher for CountedPublisher {
    async fn publish(
        &self,
        records: &[UserRecord],
        acknowledged: &AtomicUsize,
    ) -> Result<usize, PublishError> {
        self.held.now.fetch_sub(records.len(), Ordering::SeqCst);
        acknowledged.fetch_add(records.len(), Ordering::Relaxed);
        Ok(records.len())
    }

    fn topic(&self) -> &str {
        "users_created"
    }
}

#[tokio::test]
async fn a_run_of_the_most_users_holds_at_most_one_chunk_at_a_time() {
    // given a run of the most users a run may ask for
    let held = Arc::new(Held::default());
    let producer = Producer {
        source: CountedUsers {
            users: FixtureUsers::new("randomuser-mixed-nat.json"),
            held: held.clone(),
        },
        publisher: CountedPublisher { held: held.clone() },
        users_per_run: MAX_USERS_PER_RUN,
        metrics: quiet_metrics(),
    };

    // when
    let summary = handle(&event("scheduled.json"), &producer).await.unwrap();

    // then every user is produced, and no more than a chunk was ever fetched and unacknowledged
    assert_eq!(summary.produced, MAX_USERS_PER_RUN);
    let peak = held.peak.load(Ordering::SeqCst);
    assert!(
        peak <= USERS_PER_CHUNK,
        "{peak} users were held at once; a chunk is {USERS_PER_CHUNK}"
    );
}

#[tokio::test]
async fn a_run_larger_than_a_chunk_asks_for_equal_pages_and_keeps_only_its_count() {
    // given a run of two and a half chunks
    let count = 2 * USERS_PER_CHUNK + USERS_PER_CHUNK / 2;
    let producer = producer("randomuser-mixed-nat.json", count);

    // when
    let summary = handle(&event("scheduled.json"), &producer).await.unwrap();

    // then three pages of a chunk each were asked for, and only the count produced
    assert_eq!(
        *producer.source.asked.lock().unwrap(),
        [
            (1, USERS_PER_CHUNK),
            (2, USERS_PER_CHUNK),
            (3, USERS_PER_CHUNK)
        ]
    );
    assert_eq!((summary.fetched, summary.produced), (count, count));
    assert_eq!(producer.publisher.published.lock().unwrap().len(), count);
}

#[tokio::test]
async fn a_short_page_ends_the_run_with_what_the_api_had() {
    // given an API with one and a half chunks of users, and a run of three chunks
    let available = USERS_PER_CHUNK + USERS_PER_CHUNK / 2;
    let mut producer = producer("randomuser-mixed-nat.json", 3 * USERS_PER_CHUNK);
    producer.source.total = Some(available);

    // when
    let summary = handle(&event("scheduled.json"), &producer).await.unwrap();

    // then the short second page is the last asked for
    assert_eq!(
        *producer.source.asked.lock().unwrap(),
        [(1, USERS_PER_CHUNK), (2, USERS_PER_CHUNK)]
    );
    assert_eq!(
        (summary.requested, summary.fetched, summary.produced),
        (3 * USERS_PER_CHUNK, available, available)
    );
}

/// Acknowledges whole chunks until the `failing`th (from 1), of which it acknowledges only
/// `delivered` records.
struct FailingChunkPublisher {
    failing: usize,
    delivered: usize,
    calls: AtomicUsize,
}

impl Publisher for FailingChunkPublisher {
    async fn publish(
        &self,
        records: &[UserRecord],
        acknowledged: &AtomicUsize,
    ) -> Result<usize, PublishError> {
        let call = self.calls.fetch_add(1, Ordering::SeqCst) + 1;
        if call < self.failing {
            acknowledged.fetch_add(records.len(), Ordering::Relaxed);
            return Ok(records.len());
        }
        acknowledged.fetch_add(self.delivered, Ordering::Relaxed);
        Err(timed_out_delivery(records, self.delivered))
    }

    fn topic(&self) -> &str {
        "users_created"
    }
}

#[tokio::test]
async fn a_chunk_not_delivered_ends_the_run_counting_the_earlier_chunks() {
    // given a run of three chunks whose second chunk has 40 records delivered
    let (metrics, captured) = captured_metrics(&[]);
    let producer = Producer {
        source: FixtureUsers::new("randomuser-mixed-nat.json"),
        publisher: FailingChunkPublisher {
            failing: 2,
            delivered: 40,
            calls: AtomicUsize::new(0),
        },
        users_per_run: 3 * USERS_PER_CHUNK,
        metrics,
    };

    // when
    let error = handle(&event("scheduled.json"), &producer)
        .await
        .unwrap_err();

    // then no third page is fetched, and the error and the summary count the whole run
    assert_eq!(producer.source.asked.lock().unwrap().len(), 2);
    match &error {
        ProducerError::Publish(PublishError::Delivery {
            attempted,
            delivered,
            failed,
            ..
        }) => assert_eq!(
            (*attempted, *delivered, *failed),
            (
                2 * USERS_PER_CHUNK,
                USERS_PER_CHUNK + 40,
                USERS_PER_CHUNK - 40
            )
        ),
        other => panic!("expected a delivery error, got {other}"),
    }
    let lines = captured.lines();
    let line: serde_json::Value = serde_json::from_str(&lines[0]).unwrap();
    assert_eq!(
        (
            line["UsersFetched"].as_u64(),
            line["RecordsProduced"].as_u64()
        ),
        (
            Some(2 * USERS_PER_CHUNK as u64),
            Some(USERS_PER_CHUNK as u64 + 40)
        )
    );
}
