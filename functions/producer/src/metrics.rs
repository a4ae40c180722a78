//! The producer's one summary per invocation, written as an Embedded Metric Format document
//! (see `lambda_kit::emf` for why and how). It is emitted for a failed run too, with
//! `Errors` = 1 and the error, so that `UsersRequested - RecordsProduced` is the shortfall of
//! every run, failed or not.
//!
//! | metric | unit | meaning |
//! |---|---|---|
//! | `UsersRequested` | Count | users the run asked the API for |
//! | `UsersFetched` | Count | users the API returned |
//! | `UsersSkipped` | Count | returned users too malformed to become records |
//! | `RecordsProduced` | Count | records the broker acknowledged |
//! | `ApiRetries` | Count | API requests retried (time-out, 429, 5xx) |
//! | `Duration` | Milliseconds | the run, from event to last acknowledgement |
//! | `Errors` | Count | 1 when the run failed, else 0 |

use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_kit::{
    Classified,
    emf::{Document, Metrics, MetricsConfig, Unit},
    settings::{ProcessEnv, SettingError},
};

use crate::{FetchError, ProducerError, RunSummary};

/// The deployed function's emitter: stdout, with `METRICS_NAMESPACE` and
/// `AWS_LAMBDA_FUNCTION_NAME` from the process environment.
pub fn from_env() -> Result<Metrics, SettingError> {
    Ok(Metrics::stdout(MetricsConfig::from_source(
        &ProcessEnv,
        "producer",
    )?))
}

/// What one run saw, filled in as it goes so that a failure still reports it.
#[derive(Debug, Default)]
pub struct Observed {
    pub requested: usize,
    pub fetched: usize,
    pub skipped: usize,
    pub produced: usize,
    pub api_retries: u32,
    pub duration: Duration,
    /// Whether the run is producing a chunk (else fetching one), for a run the deadline stops.
    pub producing: bool,
}

impl FetchError {
    /// Retries of the request that failed (the run adds its earlier pages' own).
    pub fn retries(&self) -> u32 {
        match self {
            FetchError::Request { attempts, .. } | FetchError::Status { attempts, .. } => {
                attempts.saturating_sub(1)
            }
            FetchError::Body { .. } | FetchError::TooLarge { .. } => 0,
        }
    }
}

/// The summary document of a run that ended with `result`.
pub fn summary(
    metrics: &Metrics,
    now: DateTime<Utc>,
    observed: &Observed,
    result: &Result<RunSummary, ProducerError>,
) -> Document {
    let document = metrics
        .document(now.timestamp_millis())
        .metric("UsersRequested", Unit::Count, observed.requested)
        .metric("UsersFetched", Unit::Count, observed.fetched)
        .metric("UsersSkipped", Unit::Count, observed.skipped)
        .metric("RecordsProduced", Unit::Count, observed.produced)
        .metric("ApiRetries", Unit::Count, observed.api_retries)
        .duration("Duration", observed.duration);
    match result {
        Ok(summary) => document
            .succeeded("producer run finished")
            .property("topic", summary.topic.clone()),
        Err(error) => document.failed("producer run failed", error.error_type(), error),
    }
}
