//! The producer function: on each scheduled event, fetch users from the API, flatten them
//! into records and produce them to Kafka, then report what happened: in its answer and, for
//! every invocation (failed or not), in one summary line that is also its CloudWatch metrics
//! ([`metrics`]).
//!
//! `main.rs` builds the real [`RandomUserApi`] and [`KafkaPublisher`] once per cold start and
//! calls [`handle`] for every event; tests call [`handle`] with their own implementations and a
//! captured metrics writer.

pub mod config;
pub mod mapping;
pub mod metrics;
pub mod publish;
pub mod randomuser;

use std::time::Instant;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_kit::{Classified, Retry, emf::Metrics};
use serde::{Deserialize, Serialize};

pub use config::ProducerConfig;
pub use publish::{KafkaPublisher, PublishError, Publisher};
pub use randomuser::{FetchError, MAX_PAGE_BYTES, RandomUserApi, UserSource};

use config::MAX_USERS_PER_RUN;

/// What the scheduled event may ask for in its `detail`; an empty detail (`{}`, as
/// EventBridge schedules send) means "use the configured count".
#[derive(Debug, Default, Clone, Serialize, Deserialize)]
pub struct RunRequest {
    /// Users to fetch and produce in this run, instead of `USERS_PER_RUN`.
    #[serde(default)]
    pub count: Option<usize>,
}

/// The event the producer is invoked with.
pub type ScheduledEvent = EventBridgeEvent<RunRequest>;

/// The invocation's answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunSummary {
    /// Users asked of the API.
    pub requested: usize,
    /// Users the API returned.
    pub fetched: usize,
    /// Users the API returned that could not be flattened into a record (logged with reasons).
    pub skipped: usize,
    /// Records acknowledged by the broker.
    pub produced: usize,
    /// API requests retried after a time-out, a 429 or a 5xx.
    pub api_retries: u32,
    pub topic: String,
    pub duration_ms: u64,
}

/// Why an invocation failed.
#[derive(Debug, thiserror::Error)]
pub enum ProducerError {
    /// The event asked for a count out of range.
    #[error(
        "the event asks for {count} users; a run may produce between 1 and {MAX_USERS_PER_RUN}"
    )]
    InvalidCount { count: usize },
    /// The users could not be fetched.
    #[error(transparent)]
    Fetch(#[from] FetchError),
    /// The records were not all delivered; nothing undelivered is reported as produced.
    #[error(transparent)]
    Publish(#[from] PublishError),
}

impl Classified for ProducerError {
    fn kind(&self) -> &'static str {
        match self {
            ProducerError::InvalidCount { .. } => "InvalidCount",
            ProducerError::Fetch(_) => "FetchFailed",
            ProducerError::Publish(_) => "PublishFailed",
        }
    }

    /// Whether running again later may succeed (the schedule will, in any case).
    fn retry(&self) -> Retry {
        match self {
            ProducerError::InvalidCount { .. } => Retry::Fatal,
            ProducerError::Fetch(e) if e.is_retryable() => Retry::Retryable,
            ProducerError::Fetch(_) => Retry::Fatal,
            ProducerError::Publish(PublishError::Client { .. }) => Retry::Fatal,
            ProducerError::Publish(PublishError::Delivery { .. }) => Retry::Retryable,
        }
    }
}

impl From<ProducerError> for lambda_runtime::Diagnostic {
    fn from(error: ProducerError) -> Self {
        lambda_kit::diagnostic(&error)
    }
}

/// The long-lived parts of the producer, built once per cold start.
pub struct Producer<U, P> {
    pub source: U,
    pub publisher: P,
    pub users_per_run: usize,
    /// Where the invocation's summary and metrics go (stdout in Lambda).
    pub metrics: Metrics,
}

/// Handles one scheduled event and emits its summary.
pub async fn handle<U: UserSource, P: Publisher>(
    event: &ScheduledEvent,
    producer: &Producer<U, P>,
) -> Result<RunSummary, ProducerError> {
    let started = Instant::now();
    let requested = event.detail.count.unwrap_or(producer.users_per_run);
    let mut observed = metrics::Observed {
        requested,
        ..Default::default()
    };
    let result = run(producer, started, &mut observed).await;
    observed.duration = started.elapsed();
    let document = metrics::summary(&producer.metrics, chrono::Utc::now(), &observed, &result);
    producer.metrics.emit(&document);
    result
}

async fn run<U: UserSource, P: Publisher>(
    producer: &Producer<U, P>,
    started: Instant,
    observed: &mut metrics::Observed,
) -> Result<RunSummary, ProducerError> {
    let requested = observed.requested;
    if !(1..=MAX_USERS_PER_RUN).contains(&requested) {
        return Err(ProducerError::InvalidCount { count: requested });
    }

    let fetched = producer
        .source
        .fetch(requested)
        .await
        .inspect_err(|error| observed.api_retries = error.retries())?;
    observed.fetched = fetched.users.len();
    observed.api_retries = fetched.retries;
    let mut records = Vec::with_capacity(fetched.users.len());
    let mut skipped = 0;
    for (index, user) in fetched.users.iter().enumerate() {
        match mapping::to_record(index, user) {
            Ok(record) => records.push(record),
            Err(error) => {
                skipped += 1;
                tracing::warn!(index, reason = %error.reason, "skipping a user the API sent malformed");
            }
        }
    }

    observed.skipped = skipped;
    let produced = producer
        .publisher
        .publish(&records)
        .await
        .inspect_err(|error| {
            if let PublishError::Delivery { delivered, .. } = error {
                observed.produced = *delivered;
            }
        })?;
    observed.produced = produced;
    Ok(RunSummary {
        requested,
        fetched: fetched.users.len(),
        skipped,
        produced,
        api_retries: fetched.retries,
        topic: producer.publisher.topic().to_string(),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}
