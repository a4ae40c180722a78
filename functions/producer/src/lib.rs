//! The producer function: on each scheduled event, fetch users from the API, flatten them
//! into records and produce them to Kafka, a chunk of [`config::USERS_PER_CHUNK`] at a time,
//! then report what happened: in its answer and, for every invocation (failed or not), in one
//! summary line that is also its CloudWatch metrics ([`metrics`]).
//!
//! `main.rs` builds the real [`RandomUserApi`] and [`KafkaPublisher`] once per cold start and
//! calls [`handle`] for every event; tests call [`handle`] with their own implementations and a
//! captured metrics writer.

pub mod config;
pub mod mapping;
pub mod metrics;
pub mod publish;
pub mod randomuser;

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Instant,
};

use aws_lambda_events::eventbridge::EventBridgeEvent;
use lambda_kit::{Classified, Retry, emf::Metrics};
use serde::{Deserialize, Serialize};

pub use config::ProducerConfig;
pub use publish::{KafkaPublisher, PublishError, Publisher, ValueEncoding};
pub use randomuser::{FetchError, MAX_PAGE_BYTES, RandomUserApi, UserSource};

use config::{MAX_USERS_PER_RUN, USERS_PER_CHUNK};

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
    /// The invocation's time ran out while `phase` was under way; what was acknowledged by
    /// then is reported, and records still queued may yet be delivered.
    #[error(
        "the invocation's deadline came while {phase}: {produced} of {fetched} record(s) were acknowledged by then"
    )]
    DeadlineExceeded {
        phase: &'static str,
        fetched: usize,
        produced: usize,
    },
}

impl Classified for ProducerError {
    fn kind(&self) -> &'static str {
        match self {
            ProducerError::InvalidCount { .. } => "InvalidCount",
            ProducerError::Fetch(_) => "FetchFailed",
            ProducerError::Publish(_) => "PublishFailed",
            ProducerError::DeadlineExceeded { .. } => "DeadlineExceeded",
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
            ProducerError::DeadlineExceeded { .. } => Retry::Retryable,
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

/// Time kept back from the invocation's deadline to print the summary and answer.
pub const DEADLINE_MARGIN: std::time::Duration = std::time::Duration::from_secs(2);

/// Handles one scheduled event with no deadline of its own, and emits its summary.
pub async fn handle<U: UserSource, P: Publisher>(
    event: &ScheduledEvent,
    producer: &Producer<U, P>,
) -> Result<RunSummary, ProducerError> {
    handle_until(event, producer, None).await
}

/// Handles one scheduled event, stopping its work [`DEADLINE_MARGIN`] before `deadline` (the
/// invocation's), and emits its summary in every case: a run cut short by the deadline fails
/// with [`ProducerError::DeadlineExceeded`], counting what was acknowledged by then.
pub async fn handle_until<U: UserSource, P: Publisher>(
    event: &ScheduledEvent,
    producer: &Producer<U, P>,
    deadline: Option<tokio::time::Instant>,
) -> Result<RunSummary, ProducerError> {
    let started = Instant::now();
    let requested = event.detail.count.unwrap_or(producer.users_per_run);
    let mut observed = metrics::Observed {
        requested,
        ..Default::default()
    };
    let acknowledged = AtomicUsize::new(0);
    let work = run(producer, started, &mut observed, &acknowledged);
    let result = match deadline {
        None => work.await,
        Some(deadline) => {
            let stop = deadline.checked_sub(DEADLINE_MARGIN).unwrap_or(deadline);
            match tokio::time::timeout_at(stop, work).await {
                Ok(result) => result,
                Err(_) => Err(cut_short(&mut observed, &acknowledged)),
            }
        }
    };
    observed.duration = started.elapsed();
    let document = metrics::summary(&producer.metrics, chrono::Utc::now(), &observed, &result);
    producer.metrics.emit(&document);
    result
}

/// The error of a run the deadline stopped, from what it had seen.
fn cut_short(observed: &mut metrics::Observed, acknowledged: &AtomicUsize) -> ProducerError {
    observed.produced = acknowledged.load(Ordering::Relaxed);
    let phase = if observed.producing {
        "producing records"
    } else {
        "fetching users"
    };
    tracing::warn!(
        phase,
        produced = observed.produced,
        "the invocation's deadline came; the run stops here"
    );
    ProducerError::DeadlineExceeded {
        phase,
        fetched: observed.fetched,
        produced: observed.produced,
    }
}

async fn run<U: UserSource, P: Publisher>(
    producer: &Producer<U, P>,
    started: Instant,
    observed: &mut metrics::Observed,
    acknowledged: &AtomicUsize,
) -> Result<RunSummary, ProducerError> {
    let requested = observed.requested;
    if !(1..=MAX_USERS_PER_RUN).contains(&requested) {
        return Err(ProducerError::InvalidCount { count: requested });
    }

    // Every page has the same size so that, with a seed, pages line up and never overlap.
    let page_size = requested.min(USERS_PER_CHUNK);
    for page in 1..=requested.div_ceil(page_size) {
        let wanted = (requested - observed.fetched).min(page_size);
        observed.producing = false;
        let fetched = producer
            .source
            .fetch_page(page, page_size)
            .await
            .inspect_err(|error| observed.api_retries += error.retries())?;
        observed.api_retries += fetched.retries;
        let short = fetched.users.len() < wanted;
        let users = &fetched.users[..fetched.users.len().min(wanted)];
        let mut records = Vec::with_capacity(users.len());
        for (offset, user) in users.iter().enumerate() {
            let index = observed.fetched + offset;
            match mapping::to_record(index, user) {
                Ok(record) => records.push(record),
                Err(error) => {
                    observed.skipped += 1;
                    tracing::warn!(index, reason = %error.reason, "skipping a user the API sent malformed");
                }
            }
        }
        observed.fetched += users.len();
        drop(fetched);

        observed.producing = true;
        let before = observed.produced;
        match producer.publisher.publish(&records, acknowledged).await {
            Ok(produced) => observed.produced += produced,
            // The run's counts, not the chunk's: every earlier chunk was delivered.
            Err(PublishError::Delivery {
                topic,
                attempted,
                delivered,
                failed,
                first_key,
                source,
            }) => {
                observed.produced = before + delivered;
                return Err(PublishError::Delivery {
                    topic,
                    attempted: before + attempted,
                    delivered: before + delivered,
                    failed,
                    first_key,
                    source,
                }
                .into());
            }
            Err(error) => return Err(error.into()),
        }
        if short {
            // The API gave fewer than asked; later pages would not fill the gap.
            break;
        }
    }
    Ok(RunSummary {
        requested,
        fetched: observed.fetched,
        skipped: observed.skipped,
        produced: observed.produced,
        api_retries: observed.api_retries,
        topic: producer.publisher.topic().to_string(),
        duration_ms: started.elapsed().as_millis() as u64,
    })
}
