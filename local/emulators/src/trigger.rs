//! The MSK event source mapping loop: gathers records into batches, invokes the function with
//! each batch, retries a failed batch until it succeeds, and commits exactly the delivered
//! offsets afterwards.
//!
//! One batch is in flight at a time, so a failing batch holds back every record behind it, as
//! Lambda does for a partition, and a record is committed only after the function returned
//! success for it (at-least-once: a stop during retries leaves the batch uncommitted, to be
//! read again on the next run).
//!
//! A batch that keeps failing is retried until it succeeds, unless the template bounds it
//! (`MaximumRetryAttempts`, `MaximumRecordAgeInSeconds`): then, as Lambda does, the batch is
//! given up on, written whole to the on-failure destination when there is one ([`failure`]'s
//! record, the shape the Lambda developer guide gives for an S3 destination, "Capturing
//! discarded batches for Amazon MSK and self-managed Apache Kafka event sources"), its offsets
//! are committed and the partition moves on. Without a destination the emulator stops with an
//! error instead of dropping the records, so that a local run never loses them unseen.
//!
//! Every invocation is reported as one JSON value (`{"event": "delivered", ...}`,
//! `{"event": "invoke_failed", ...}`, `{"event": "sent_to_destination", ...}` or
//! `{"event": "dropped", ...}`), which the binary prints as a line on stdout.

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;
use tokio::time::Instant;

use lambda_kit::error_chain;
use msk_event::{
    BatchLimits, Batcher, CloseReason, EventSource, MAX_PAYLOAD_BYTES, Offer, SourceRecord,
    envelope_json_len, event_json, record_json_len,
};
use serde_json::json;

use crate::failure::{self, Condition, FailureSink};
use crate::invoke::{InvokeError, Invoker};
use crate::kafka::{RecordSource, commit_offsets};
use crate::shutdown::Shutdown;
use crate::validation::{Checked, SchemaFailure, Validator};

/// How long one read waits when there is neither a batch deadline nor an idle limit; it only
/// bounds how long a stop request can go unnoticed.
const IDLE_POLL: Duration = Duration::from_secs(1);
/// Pause after a failed read, so a broker outage does not spin.
const READ_ERROR_PAUSE: Duration = Duration::from_millis(500);

/// Why the trigger stopped with an error.
#[derive(Debug, thiserror::Error)]
pub enum TriggerError {
    /// The function kept failing for the same batch past the retry limit.
    #[error(
        "giving up on a batch of {records} records ({partitions}) for {function} after {retries} retries"
    )]
    RetriesExhausted {
        function: String,
        records: usize,
        partitions: String,
        retries: u32,
        #[source]
        source: Box<InvokeError>,
    },
    /// A record failed schema validation and there is no on-failure destination to send it to
    /// (Lambda would drop it).
    #[error(
        "{partition}@{offset} failed schema validation ({condition}: {failure}) and there is no on-failure destination"
    )]
    SchemaValidation {
        partition: String,
        offset: i64,
        condition: &'static str,
        failure: SchemaFailure,
    },
}

/// Retry timing for a failed batch: `initial`, doubling up to `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Pause before the first retry.
    pub initial: Duration,
    /// Longest pause between retries.
    pub max_delay: Duration,
    /// Retries before giving up (`None`: retry until success, Lambda's default for MSK).
    pub max_retries: Option<u32>,
    /// Give a batch up once its oldest record is older than this (`None`: never).
    pub max_record_age: Option<Duration>,
}

impl RetryPolicy {
    /// 1 s doubling to 30 s, without limit.
    pub const DEFAULT: RetryPolicy = RetryPolicy {
        initial: Duration::from_secs(1),
        max_delay: Duration::from_secs(30),
        max_retries: None,
        max_record_age: None,
    };

    /// The pause before retry number `retry` (0-based).
    pub fn delay(&self, retry: u32) -> Duration {
        let factor = 1u32.checked_shl(retry.min(31)).unwrap_or(u32::MAX);
        self.initial.saturating_mul(factor).min(self.max_delay)
    }
}

/// How the trigger runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TriggerConfig {
    /// Function to invoke.
    pub function: String,
    /// Batching rules.
    pub limits: BatchLimits,
    /// What the events say about the cluster.
    pub source: EventSource,
    /// Retry timing for failed batches.
    pub retry: RetryPolicy,
    /// Stop once nothing new arrived for this long and everything read was delivered.
    pub until_idle: Option<Duration>,
}

/// Why the trigger stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum StopReason {
    /// Nothing new arrived for the idle limit.
    #[default]
    Idle,
    /// A stop was requested (Ctrl-C, SIGTERM).
    Signal,
    /// The trigger failed (see the error).
    Error,
}

/// Counters printed when the trigger stops.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct Summary {
    /// Batches delivered successfully.
    pub batches: u64,
    /// Records delivered successfully.
    pub records: u64,
    /// Invocations repeated after a failure.
    pub retries: u64,
    /// Sum of the `written` field of the function's responses, if any response had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub written: Option<u64>,
    /// Sum of the `rejected` field of the function's responses, if any response had one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rejected: Option<u64>,
    /// Commits that failed after a successful invocation (those records may be read again).
    pub commit_failures: u64,
    /// Batches given up on and written to the on-failure destination.
    #[serde(default)]
    pub sent_to_destination: u64,
    /// Batches given up on that could not be written to the destination either (lost, as
    /// Lambda's `DroppedEventCount` counts them).
    #[serde(default)]
    pub dropped: u64,
    /// Records that failed schema validation (each sent to the destination on its own); absent
    /// without a registry.
    #[serde(skip_serializing_if = "is_zero")]
    pub schema_failures: u64,
    /// Why the trigger stopped.
    pub stopped: StopReason,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
}

impl Summary {
    fn add_response(&mut self, response: &Value) {
        if let Some(n) = response.get("written").and_then(Value::as_u64) {
            self.written = Some(self.written.unwrap_or(0) + n);
        }
        if let Some(n) = response.get("rejected").and_then(Value::as_u64) {
            self.rejected = Some(self.rejected.unwrap_or(0) + n);
        }
    }
}

/// The end of a trigger run: its counters, and the error that ended it, if any.
#[derive(Debug)]
pub struct Finished {
    /// Counters of the run.
    pub summary: Summary,
    /// The error that stopped the run.
    pub error: Option<TriggerError>,
}

/// Runs the trigger until idle (with `until_idle`), a stop request, or a batch that exhausts its
/// retries with no on-failure destination.
pub async fn run<S: RecordSource, I: Invoker>(
    source: &mut S,
    invoker: &I,
    config: &TriggerConfig,
    shutdown: &mut Shutdown,
) -> Finished {
    run_reporting(source, invoker, config, None, shutdown, &mut |_| {}).await
}

/// [`run`] with an on-failure destination, passing each invocation's outcome to `report` as it
/// happens.
pub async fn run_reporting<S: RecordSource, I: Invoker>(
    source: &mut S,
    invoker: &I,
    config: &TriggerConfig,
    destination: Option<&dyn FailureSink>,
    shutdown: &mut Shutdown,
    report: &mut dyn FnMut(Value),
) -> Finished {
    run_validating(source, invoker, config, None, destination, shutdown, report).await
}

/// [`run_reporting`] behind a schema registry: each record is validated before it is batched
/// ([`crate::validation`]), and one that fails goes to the destination on its own.
pub async fn run_validating<S: RecordSource, I: Invoker>(
    source: &mut S,
    invoker: &I,
    config: &TriggerConfig,
    validator: Option<&Validator>,
    destination: Option<&dyn FailureSink>,
    shutdown: &mut Shutdown,
    report: &mut dyn FnMut(Value),
) -> Finished {
    let mut trigger = Trigger {
        config,
        validator,
        destination,
        summary: Summary::default(),
        report,
    };
    let error = match trigger.run(source, invoker, shutdown).await {
        Ok(stopped) => {
            trigger.summary.stopped = stopped;
            None
        }
        Err(error) => {
            trigger.summary.stopped = StopReason::Error;
            Some(error)
        }
    };
    Finished {
        summary: trigger.summary,
        error,
    }
}

/// Whether a delivery ended with the batch accepted.
enum Delivery {
    Accepted,
    /// A stop was requested while the batch was failing; it stays uncommitted.
    Abandoned,
}

struct Trigger<'a> {
    config: &'a TriggerConfig,
    validator: Option<&'a Validator>,
    destination: Option<&'a dyn FailureSink>,
    summary: Summary,
    report: &'a mut dyn FnMut(Value),
}

impl Trigger<'_> {
    async fn run<S: RecordSource, I: Invoker>(
        &mut self,
        source: &mut S,
        invoker: &I,
        shutdown: &mut Shutdown,
    ) -> Result<StopReason, TriggerError> {
        let envelope = envelope_json_len(&self.config.source);
        let mut batcher: Batcher<SourceRecord> = Batcher::new(self.config.limits, envelope);
        let mut carried: Option<SourceRecord> = None;
        let mut last_activity = Instant::now();

        loop {
            let mut closed: Option<CloseReason> = None;
            let mut stop: Option<StopReason> = None;
            let mut failed: Option<(SourceRecord, SchemaFailure)> = None;
            if let Some(record) = carried.take() {
                // The record that did not fit into the previous batch opens this one.
                closed = offer(&mut batcher, record, &mut carried);
            }
            while closed.is_none() && stop.is_none() {
                let now = Instant::now();
                if batcher.is_due(now.into_std()) {
                    closed = Some(CloseReason::Window);
                    break;
                }
                let wait = match (batcher.deadline(), self.config.until_idle) {
                    (Some(deadline), _) => deadline.saturating_duration_since(now.into_std()),
                    (None, Some(idle)) => {
                        let left = (last_activity + idle).saturating_duration_since(now);
                        if left.is_zero() {
                            stop = Some(StopReason::Idle);
                            break;
                        }
                        left
                    }
                    (None, None) => IDLE_POLL,
                };
                let next = tokio::select! {
                    biased;
                    _ = shutdown.wait() => {
                        stop = Some(StopReason::Signal);
                        break;
                    }
                    next = source.next_record(wait) => next,
                };
                match next {
                    Ok(Some(record)) => {
                        last_activity = Instant::now();
                        match self.validate(record, shutdown).await {
                            Some(Checked::Passed(record)) => {
                                closed = offer(&mut batcher, record, &mut carried);
                            }
                            Some(Checked::Failed(record, failure)) => {
                                // The batch so far is delivered first, so that committing
                                // past this record commits nothing undelivered.
                                failed = Some((record, failure));
                                closed = Some(CloseReason::SchemaFailure);
                            }
                            Some(Checked::Undecided(..)) | None => {
                                stop = Some(StopReason::Signal);
                                break;
                            }
                        }
                    }
                    // Timed out: a non-empty batch has reached its deadline (or, with a zero
                    // window, has taken everything that was available).
                    Ok(None) if !batcher.is_empty() => closed = Some(CloseReason::Window),
                    Ok(None) => {}
                    Err(error) => {
                        tracing::warn!(error = %error_chain(&error), "reading from Kafka failed; retrying");
                        tokio::time::sleep(READ_ERROR_PAUSE).await;
                    }
                }
            }

            if !batcher.is_empty() {
                let reason = closed.unwrap_or(CloseReason::Shutdown);
                let records = batcher.take();
                match self
                    .deliver(source, invoker, shutdown, records, reason)
                    .await?
                {
                    Delivery::Accepted => last_activity = Instant::now(),
                    Delivery::Abandoned => return Ok(StopReason::Signal),
                }
            }
            if let Some((record, failure)) = failed {
                self.reject(source, record, failure).await?;
            }
            if let Some(stop) = stop {
                return Ok(stop);
            }
        }
    }

    /// Invokes the function with `records` until it succeeds, then commits their offsets.
    async fn deliver<S: RecordSource, I: Invoker>(
        &mut self,
        source: &mut S,
        invoker: &I,
        shutdown: &mut Shutdown,
        records: Vec<SourceRecord>,
        reason: CloseReason,
    ) -> Result<Delivery, TriggerError> {
        let partitions = offset_ranges(&records);
        let payload = event_json(&self.config.source, &records);
        if payload.len() > MAX_PAYLOAD_BYTES && self.destination.is_some() {
            // Lambda cannot invoke with it: the batch goes to the destination as it is.
            let gave_up = GaveUp {
                condition: Condition::MaximumPayloadSizeExceeded,
                invocations: 0,
                last_error: None,
                reason: None,
            };
            return self.give_up(source, &records, &payload, gave_up).await;
        }
        if payload.len() > MAX_PAYLOAD_BYTES {
            // Lambda would reject this invocation (payload over 6 MB); it is sent anyway so the
            // record is not silently lost, and the function decides.
            tracing::error!(
                bytes = payload.len(),
                limit = MAX_PAYLOAD_BYTES,
                %partitions,
                "a single record exceeds Lambda's payload limit; sending it alone"
            );
        }

        let mut retries: u32 = 0;
        loop {
            let started = Instant::now();
            let result = invoker.invoke(&self.config.function, &payload).await;
            let millis = started.elapsed().as_millis();
            match result {
                Ok(response) => {
                    self.summary.batches += 1;
                    self.summary.records += records.len() as u64;
                    self.summary.add_response(&response);
                    (self.report)(json!({
                        "event": "delivered",
                        "batch": self.summary.batches,
                        "records": records.len(),
                        "partitions": partitions,
                        "bytes": payload.len(),
                        "closed_by": reason.label(),
                        "retries": retries,
                        "duration_ms": millis as u64,
                        "response": response,
                    }));
                    tracing::debug!(
                        batch = self.summary.batches,
                        records = records.len(),
                        %partitions,
                        bytes = payload.len(),
                        closed_by = reason.label(),
                        retries,
                        duration_ms = millis as u64,
                        %response,
                        "invoked {}",
                        self.config.function
                    );
                    let offsets = commit_offsets(&records);
                    if let Err(error) = source.commit(&offsets) {
                        self.summary.commit_failures += 1;
                        tracing::error!(
                            error = %error_chain(&error),
                            "commit failed; these records may be delivered again"
                        );
                    }
                    return Ok(Delivery::Accepted);
                }
                Err(error) => {
                    let too_old = self.config.retry.max_record_age.is_some_and(|age| {
                        failure::oldest_age(&records, chrono::Utc::now()).is_some_and(|a| a > age)
                    });
                    let exhausted = too_old
                        || self
                            .config
                            .retry
                            .max_retries
                            .is_some_and(|max| retries >= max);
                    let delay = self.config.retry.delay(retries);
                    (self.report)(json!({
                        "event": "invoke_failed",
                        "records": records.len(),
                        "partitions": partitions,
                        "retries": retries,
                        "duration_ms": millis as u64,
                        "errorType": error.error_type(),
                        "error": error_chain(&error),
                        "retry_in_ms": (!exhausted).then_some(delay.as_millis() as u64),
                    }));
                    if exhausted && self.destination.is_some() {
                        let gave_up = GaveUp {
                            condition: if too_old {
                                Condition::RecordAgeExceeded
                            } else {
                                Condition::RetryAttemptsExhausted
                            },
                            invocations: retries + 1,
                            last_error: Some(error),
                            reason: None,
                        };
                        return self.give_up(source, &records, &payload, gave_up).await;
                    }
                    if exhausted {
                        return Err(TriggerError::RetriesExhausted {
                            function: self.config.function.clone(),
                            records: records.len(),
                            partitions,
                            retries,
                            source: Box::new(error),
                        });
                    }
                    tracing::warn!(
                        records = records.len(),
                        %partitions,
                        duration_ms = millis as u64,
                        retry_in_ms = delay.as_millis() as u64,
                        error = %error_chain(&error),
                        "invoking {} failed; retrying the same batch",
                        self.config.function
                    );
                    retries += 1;
                    self.summary.retries += 1;
                    tokio::select! {
                        biased;
                        _ = shutdown.wait() => {
                            tracing::warn!(
                                %partitions,
                                "stop requested while the batch was failing; it is not committed and will be read again"
                            );
                            return Ok(Delivery::Abandoned);
                        }
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }
}

/// Why a batch was given up on, and how its last invocation failed.
struct GaveUp {
    condition: Condition,
    invocations: u32,
    last_error: Option<InvokeError>,
    /// Why, in words, when the condition alone does not say (a schema failure).
    reason: Option<String>,
}

impl Trigger<'_> {
    /// The record after schema validation (itself when there is no registry). A registry that
    /// cannot be asked is asked again, with the retry policy's pauses, until it answers;
    /// `None` when a stop is requested meanwhile (the record is not committed).
    async fn validate(&mut self, record: SourceRecord, shutdown: &mut Shutdown) -> Option<Checked> {
        let Some(validator) = self.validator else {
            return Some(Checked::Passed(record));
        };
        let mut record = record;
        let mut attempt: u32 = 0;
        loop {
            match validator.check(record).await {
                Checked::Undecided(again, error) => {
                    let delay = self.config.retry.delay(attempt);
                    (self.report)(json!({
                        "event": "registry_unreachable",
                        "partition": again.group_key(),
                        "offset": again.offset,
                        "error": error_chain(&error),
                        "retry_in_ms": delay.as_millis() as u64,
                    }));
                    tracing::warn!(error = %error_chain(&error), "the schema registry could not be asked; asking again");
                    record = again;
                    attempt = attempt.saturating_add(1);
                    tokio::select! {
                        biased;
                        _ = shutdown.wait() => return None,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
                checked => return Some(checked),
            }
        }
    }

    /// Sends a record that failed validation to the destination on its own, and commits it.
    async fn reject<S: RecordSource>(
        &mut self,
        source: &mut S,
        record: SourceRecord,
        failure: SchemaFailure,
    ) -> Result<(), TriggerError> {
        self.summary.schema_failures += 1;
        if self.destination.is_none() {
            return Err(TriggerError::SchemaValidation {
                partition: record.group_key(),
                offset: record.offset,
                condition: failure.condition().as_str(),
                failure,
            });
        }
        let records = [record];
        let payload = event_json(&self.config.source, &records);
        let gave_up = GaveUp {
            condition: failure.condition(),
            invocations: 0,
            last_error: None,
            reason: Some(failure.to_string()),
        };
        self.give_up(source, &records, &payload, gave_up).await?;
        Ok(())
    }
}

impl Trigger<'_> {
    /// Writes a batch that was given up on to the destination, then commits it: the partition
    /// moves on, as it does in Lambda. A batch the destination refuses too is dropped.
    async fn give_up<S: RecordSource>(
        &mut self,
        source: &mut S,
        records: &[SourceRecord],
        payload: &[u8],
        gave_up: GaveUp,
    ) -> Result<Delivery, TriggerError> {
        let partitions = offset_ranges(records);
        let now = chrono::Utc::now();
        let document = failure::record(
            &failure::Failed {
                function: &self.config.function,
                source: &self.config.source,
                records,
                payload,
                condition: gave_up.condition,
                invocations: gave_up.invocations,
                function_error: gave_up
                    .last_error
                    .as_ref()
                    .and_then(InvokeError::function_error),
            },
            now,
        );
        let key = failure::key(records, now);
        let body = serde_json::to_vec(&document).unwrap_or_default();
        let written = match self.destination {
            Some(destination) => destination.store(&key, body).await,
            None => Err("no on-failure destination".to_owned()),
        };
        match written {
            Ok(()) => {
                self.summary.sent_to_destination += 1;
                (self.report)(json!({
                    "event": "sent_to_destination",
                    "records": records.len(),
                    "partitions": partitions,
                    "condition": gave_up.condition.as_str(),
                    "reason": gave_up.reason,
                    "key": key,
                }));
                tracing::warn!(
                    records = records.len(),
                    %partitions,
                    condition = gave_up.condition.as_str(),
                    %key,
                    "gave up on a batch; it is in the on-failure destination"
                );
            }
            Err(problem) => {
                self.summary.dropped += 1;
                (self.report)(json!({
                    "event": "dropped",
                    "records": records.len(),
                    "partitions": partitions,
                    "condition": gave_up.condition.as_str(),
                    "error": problem,
                }));
                tracing::error!(
                    records = records.len(),
                    %partitions,
                    error = %problem,
                    "gave up on a batch and could not write it to the on-failure destination; its records are dropped"
                );
            }
        }
        if let Err(error) = source.commit(&commit_offsets(records)) {
            self.summary.commit_failures += 1;
            tracing::error!(error = %error_chain(&error), "commit failed; these records may be delivered again");
        }
        Ok(Delivery::Accepted)
    }
}

/// Offers `record` to the batch; a record that does not fit is parked in `carried` for the next
/// batch. Returns why the batch closed, if it did.
fn offer(
    batcher: &mut Batcher<SourceRecord>,
    record: SourceRecord,
    carried: &mut Option<SourceRecord>,
) -> Option<CloseReason> {
    let bytes = record_json_len(&record);
    let key = record.group_key();
    match batcher.offer(record, &key, bytes, Instant::now().into_std()) {
        Offer::Added => None,
        Offer::Closed(reason) => Some(reason),
        Offer::Rejected(record) => {
            *carried = Some(record);
            Some(CloseReason::PayloadSize)
        }
    }
}

/// `topic-partition[first..=last]` for each partition in the batch, for logs.
pub fn offset_ranges(records: &[SourceRecord]) -> String {
    let mut ranges: std::collections::BTreeMap<String, (i64, i64)> = Default::default();
    for r in records {
        let range = ranges.entry(r.group_key()).or_insert((r.offset, r.offset));
        range.0 = range.0.min(r.offset);
        range.1 = range.1.max(r.offset);
    }
    ranges
        .iter()
        .map(|(key, (first, last))| format!("{key}[{first}..={last}]"))
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoke::testing::{ScriptedInvoker, function_error};
    use crate::kafka::{PartitionOffset, SourceError};
    use crate::shutdown;
    use msk_event::RecordTimestamp;
    use serde_json::json;
    use std::collections::VecDeque;
    use std::sync::{Arc, Mutex};

    /// A shared, ordered log of what the invoker and the source saw.
    type Log = Arc<Mutex<Vec<String>>>;

    /// Records that become available at given times after the start.
    struct TimedSource {
        start: Instant,
        queue: VecDeque<(Duration, SourceRecord)>,
        log: Log,
    }

    impl TimedSource {
        fn new(records: Vec<(u64, SourceRecord)>, log: Log) -> Self {
            TimedSource {
                start: Instant::now(),
                queue: records
                    .into_iter()
                    .map(|(ms, r)| (Duration::from_millis(ms), r))
                    .collect(),
                log,
            }
        }
    }

    impl RecordSource for TimedSource {
        async fn next_record(
            &mut self,
            wait: Duration,
        ) -> Result<Option<SourceRecord>, SourceError> {
            let until = Instant::now() + wait;
            let Some((at, _)) = self.queue.front() else {
                tokio::time::sleep_until(until).await;
                return Ok(None);
            };
            let ready = self.start + *at;
            if ready > until {
                tokio::time::sleep_until(until).await;
                return Ok(None);
            }
            tokio::time::sleep_until(ready).await;
            Ok(self.queue.pop_front().map(|(_, r)| r))
        }

        fn commit(&mut self, offsets: &[PartitionOffset]) -> Result<(), SourceError> {
            let listed: Vec<String> = offsets.iter().map(ToString::to_string).collect();
            self.log
                .lock()
                .unwrap()
                .push(format!("commit {}", listed.join(",")));
            Ok(())
        }
    }

    /// Wraps a scripted invoker and logs each call's outcome into the shared log.
    struct LoggedInvoker {
        inner: ScriptedInvoker,
        log: Log,
    }

    impl Invoker for LoggedInvoker {
        async fn invoke(&self, function: &str, payload: &[u8]) -> Result<Value, InvokeError> {
            let result = self.inner.invoke(function, payload).await;
            let event: Value = serde_json::from_slice(payload).unwrap();
            let offsets = offsets_in(&event);
            let outcome = if result.is_ok() { "ok" } else { "failed" };
            self.log
                .lock()
                .unwrap()
                .push(format!("invoke {offsets} {outcome}"));
            result
        }
    }

    /// `key:offset,offset` for each group of an event, sorted.
    fn offsets_in(event: &Value) -> String {
        let mut groups: Vec<String> = event["records"]
            .as_object()
            .unwrap()
            .iter()
            .map(|(key, records)| {
                let offsets: Vec<String> = records
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|r| r["offset"].to_string())
                    .collect();
                format!("{key}:{}", offsets.join(","))
            })
            .collect();
        groups.sort();
        groups.join(" ")
    }

    fn record(partition: i32, offset: i64) -> SourceRecord {
        SourceRecord {
            topic: "users_created".to_owned(),
            partition,
            offset,
            timestamp: RecordTimestamp::CreateTime(1_700_000_000_000),
            key: None,
            value: Some(format!(r#"{{"n":{offset}}}"#).into_bytes()),
            headers: Vec::new(),
            schemas: Default::default(),
        }
    }

    fn config(max_records: usize, window_ms: u64, max_retries: Option<u32>) -> TriggerConfig {
        TriggerConfig {
            function: "sink".to_owned(),
            limits: BatchLimits {
                max_records,
                window: Duration::from_millis(window_ms),
                max_payload_bytes: MAX_PAYLOAD_BYTES,
            },
            source: EventSource::local("us-east-1", "127.0.0.1:9092"),
            retry: RetryPolicy {
                max_retries,
                ..RetryPolicy::DEFAULT
            },
            until_idle: Some(Duration::from_secs(5)),
        }
    }

    fn harness(
        records: Vec<(u64, SourceRecord)>,
        answers: Vec<Result<Value, InvokeError>>,
    ) -> (TimedSource, LoggedInvoker, Log) {
        let log: Log = Arc::default();
        let source = TimedSource::new(records, log.clone());
        let invoker = LoggedInvoker {
            inner: ScriptedInvoker::new(answers, json!({"written": 1, "rejected": 0})),
            log: log.clone(),
        };
        (source, invoker, log)
    }

    fn entries(log: &Log) -> Vec<String> {
        log.lock().unwrap().clone()
    }

    #[tokio::test(start_paused = true)]
    async fn a_failing_batch_is_retried_with_backoff_and_committed_only_after_success() {
        let (mut source, invoker, log) = harness(
            vec![(0, record(0, 0)), (0, record(0, 1)), (0, record(1, 4))],
            vec![Err(function_error("sink")), Err(function_error("sink"))],
        );
        let started = Instant::now();
        let finished = run(
            &mut source,
            &invoker,
            &config(500, 1000, None),
            &mut Shutdown::never(),
        )
        .await;
        assert!(finished.error.is_none(), "{:?}", finished.error);
        assert_eq!(
            entries(&log),
            [
                "invoke users_created-0:0,1 users_created-1:4 failed",
                "invoke users_created-0:0,1 users_created-1:4 failed",
                "invoke users_created-0:0,1 users_created-1:4 ok",
                "commit users_created-0@2,users_created-1@5",
            ]
        );
        // Window 1 s, then backoff 1 s + 2 s, then 5 s idle.
        assert_eq!(started.elapsed(), Duration::from_secs(9));
        let calls = invoker.inner.calls();
        assert!(
            calls.windows(2).all(|w| w[0].1 == w[1].1),
            "every retry sends the same event"
        );
        assert_eq!(
            finished.summary,
            Summary {
                batches: 1,
                records: 3,
                retries: 2,
                written: Some(1),
                rejected: Some(0),
                commit_failures: 0,
                sent_to_destination: 0,
                dropped: 0,
                schema_failures: 0,
                stopped: StopReason::Idle,
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn every_invocation_is_reported_as_one_json_event_with_the_functions_error_type() {
        let (mut source, invoker, _) = harness(
            vec![(0, record(0, 0)), (0, record(0, 1))],
            vec![Err(function_error("sink"))],
        );
        let mut events = Vec::new();
        let finished = run_reporting(
            &mut source,
            &invoker,
            &config(500, 1000, None),
            None,
            &mut Shutdown::never(),
            &mut |event| events.push(event),
        )
        .await;
        assert!(finished.error.is_none());
        let kinds: Vec<&str> = events
            .iter()
            .map(|e| e["event"].as_str().unwrap())
            .collect();
        assert_eq!(kinds, ["invoke_failed", "delivered"]);
        assert_eq!(events[0]["errorType"], "StoreFailed.Retryable");
        assert_eq!(events[0]["retry_in_ms"], 1000);
        assert_eq!(events[1]["records"], 2);
        assert_eq!(events[1]["retries"], 1);
        assert_eq!(events[1]["response"]["written"], 1);
    }

    #[tokio::test(start_paused = true)]
    async fn records_behind_a_failing_batch_wait_until_it_succeeds() {
        let (mut source, invoker, log) = harness(
            (0..4).map(|o| (0, record(0, o))).collect(),
            vec![Err(function_error("sink"))],
        );
        let finished = run(
            &mut source,
            &invoker,
            &config(2, 1000, None),
            &mut Shutdown::never(),
        )
        .await;
        assert!(finished.error.is_none());
        assert_eq!(
            entries(&log),
            [
                "invoke users_created-0:0,1 failed",
                "invoke users_created-0:0,1 ok",
                "commit users_created-0@2",
                "invoke users_created-0:2,3 ok",
                "commit users_created-0@4",
            ]
        );
        assert_eq!(finished.summary.batches, 2);
    }

    #[tokio::test(start_paused = true)]
    async fn the_batching_window_closes_a_batch_one_second_after_its_first_record() {
        let (mut source, invoker, log) = harness(
            vec![
                (0, record(0, 0)),
                (500, record(0, 1)),
                (1500, record(0, 2)),
                (2000, record(0, 3)),
            ],
            vec![],
        );
        let finished = run(
            &mut source,
            &invoker,
            &config(500, 1000, None),
            &mut Shutdown::never(),
        )
        .await;
        assert!(finished.error.is_none());
        assert_eq!(
            entries(&log),
            [
                "invoke users_created-0:0,1 ok",
                "commit users_created-0@2",
                "invoke users_created-0:2,3 ok",
                "commit users_created-0@4",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_zero_window_delivers_what_is_available_at_once() {
        let (mut source, invoker, log) = harness(
            vec![(0, record(0, 0)), (0, record(0, 1)), (300, record(0, 2))],
            vec![],
        );
        run(
            &mut source,
            &invoker,
            &config(500, 0, None),
            &mut Shutdown::never(),
        )
        .await;
        assert_eq!(
            entries(&log),
            [
                "invoke users_created-0:0,1 ok",
                "commit users_created-0@2",
                "invoke users_created-0:2 ok",
                "commit users_created-0@3",
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn exhausting_max_retries_stops_with_an_error_and_commits_nothing() {
        let (mut source, invoker, log) = harness(
            vec![(0, record(0, 0))],
            (0..3).map(|_| Err(function_error("sink"))).collect(),
        );
        let finished = run(
            &mut source,
            &invoker,
            &config(500, 1000, Some(2)),
            &mut Shutdown::never(),
        )
        .await;
        assert!(matches!(
            finished.error,
            Some(TriggerError::RetriesExhausted {
                retries: 2,
                records: 1,
                ..
            })
        ));
        assert_eq!(finished.summary.stopped, StopReason::Error);
        assert_eq!(finished.summary.retries, 2);
        assert!(entries(&log).iter().all(|e| !e.starts_with("commit")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_past_its_retries_goes_whole_to_the_destination_and_the_partition_moves_on() {
        // given a destination, two retries, and a first batch that keeps failing
        let (mut source, invoker, log) = harness(
            vec![(0, record(0, 0)), (0, record(0, 1)), (3000, record(0, 2))],
            (0..3).map(|_| Err(function_error("sink"))).collect(),
        );
        let bucket = lake::testing::MemoryStore::default();
        let destination = crate::failure::BucketDestination(&bucket);
        let mut events = Vec::new();

        // when the trigger runs
        let finished = run_reporting(
            &mut source,
            &invoker,
            &config(500, 1000, Some(2)),
            Some(&destination),
            &mut Shutdown::never(),
            &mut |event| events.push(event),
        )
        .await;

        // then the batch is in the bucket with its records, it is committed, and the next
        // record is delivered
        assert!(finished.error.is_none(), "{:?}", finished.error);
        assert_eq!(finished.summary.sent_to_destination, 1);
        assert_eq!((finished.summary.batches, finished.summary.records), (1, 1));
        let keys = bucket.keys();
        assert_eq!(keys.len(), 1, "{keys:?}");
        let document: Value = serde_json::from_slice(&bucket.body(&keys[0])).unwrap();
        assert_eq!(
            document["requestContext"]["condition"],
            "RetryAttemptsExhausted"
        );
        assert_eq!(document["requestContext"]["approximateInvokeCount"], 3);
        let event: Value = serde_json::from_str(document["payload"].as_str().unwrap()).unwrap();
        assert_eq!(
            event["records"]["users_created-0"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let sent = events.iter().find(|e| e["event"] == "sent_to_destination");
        assert_eq!(sent.unwrap()["key"], keys[0].as_str());
        assert_eq!(
            entries(&log)
                .iter()
                .filter(|e| e.starts_with("commit"))
                .collect::<Vec<_>>(),
            ["commit users_created-0@2", "commit users_created-0@3"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_failing_schema_validation_goes_alone_to_the_destination_between_batches() {
        // given a registry with schema 3, and three values: framed with 3, with an unknown
        // id 99, and with 3 again
        use crate::validation::{RecordFormat, Validator};
        use user_record::avro::confluent_frame;
        let datum = b"\x02a".to_vec(); // the Avro string "a"
        let framed = |id: u32, offset: i64| SourceRecord {
            value: Some(confluent_frame(id, &datum)),
            ..record(0, offset)
        };
        let (mut source, invoker, log) = harness(
            vec![(0, framed(3, 0)), (0, framed(99, 1)), (0, framed(3, 2))],
            vec![],
        );
        let registry = schema_registry::FixedRegistry::new([("3", r#""string""#)]);
        let validator = Validator::new(
            schema_registry::WriterSchemas::new(Box::new(registry)),
            RecordFormat::Json,
            "VALUE".parse().unwrap(),
        );
        let bucket = lake::testing::MemoryStore::default();
        let destination = crate::failure::BucketDestination(&bucket);
        let mut events = Vec::new();

        // when the trigger runs
        let finished = run_validating(
            &mut source,
            &invoker,
            &config(500, 1000, None),
            Some(&validator),
            Some(&destination),
            &mut Shutdown::never(),
            &mut |event| events.push(event),
        )
        .await;

        // then the records around it are delivered, it is in the bucket alone with its reason,
        // and every commit follows what was delivered or sent
        assert!(finished.error.is_none(), "{:?}", finished.error);
        assert_eq!(finished.summary.schema_failures, 1);
        assert_eq!((finished.summary.batches, finished.summary.records), (2, 2));
        let keys = bucket.keys();
        assert_eq!(keys.len(), 1, "{keys:?}");
        let document: Value = serde_json::from_slice(&bucket.body(&keys[0])).unwrap();
        assert_eq!(document["requestContext"]["condition"], "SCHEMA_NOT_FOUND");
        assert_eq!(document["requestContext"]["approximateInvokeCount"], 0);
        let event: Value = serde_json::from_str(document["payload"].as_str().unwrap()).unwrap();
        let sent = &event["records"]["users_created-0"];
        assert_eq!(sent.as_array().unwrap().len(), 1);
        assert_eq!(sent[0]["offset"], 1);
        let reported = events.iter().find(|e| e["event"] == "sent_to_destination");
        assert_eq!(
            reported.unwrap()["reason"],
            "VALUE: the registry has no schema 99"
        );
        assert_eq!(
            entries(&log)
                .iter()
                .filter(|e| e.starts_with("commit"))
                .collect::<Vec<_>>(),
            [
                "commit users_created-0@1",
                "commit users_created-0@2",
                "commit users_created-0@3"
            ]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn without_a_destination_a_schema_failure_stops_the_trigger_uncommitted() {
        use crate::validation::{RecordFormat, Validator};
        let (mut source, invoker, log) = harness(vec![(0, record(0, 0))], vec![]);
        let registry = schema_registry::FixedRegistry::new([("3", r#""string""#)]);
        let validator = Validator::new(
            schema_registry::WriterSchemas::new(Box::new(registry)),
            RecordFormat::Source,
            "VALUE".parse().unwrap(),
        );
        let finished = run_validating(
            &mut source,
            &invoker,
            &config(500, 1000, None),
            Some(&validator),
            None,
            &mut Shutdown::never(),
            &mut |_| {},
        )
        .await;
        assert!(
            matches!(
                finished.error,
                Some(TriggerError::SchemaValidation {
                    condition: "DESERIALIZATION_ERROR",
                    ..
                })
            ),
            "{:?}",
            finished.error
        );
        assert!(entries(&log).is_empty(), "{:?}", entries(&log));
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_older_than_the_record_age_is_given_up_at_its_next_failure() {
        // given records written an hour ago and a record age of a minute
        let mut old = record(0, 0);
        old.timestamp =
            RecordTimestamp::CreateTime(chrono::Utc::now().timestamp_millis() - 3_600_000);
        let (mut source, invoker, _) = harness(
            vec![(0, old)],
            (0..100).map(|_| Err(function_error("sink"))).collect(),
        );
        let bucket = lake::testing::MemoryStore::default();
        let destination = crate::failure::BucketDestination(&bucket);
        let mut config = config(500, 1000, None);
        config.retry.max_record_age = Some(Duration::from_secs(60));

        // when its first invocation fails
        let finished = run_reporting(
            &mut source,
            &invoker,
            &config,
            Some(&destination),
            &mut Shutdown::never(),
            &mut |_| {},
        )
        .await;

        // then it is not retried but sent to the destination as too old
        assert_eq!(finished.summary.retries, 0);
        assert_eq!(finished.summary.sent_to_destination, 1);
        let document: Value = serde_json::from_slice(&bucket.body(&bucket.keys()[0])).unwrap();
        assert_eq!(document["requestContext"]["condition"], "RecordAgeExceeded");
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_the_destination_refuses_is_counted_as_dropped() {
        // given a destination that refuses every write
        let (mut source, invoker, _) = harness(
            vec![(0, record(0, 0))],
            (0..2).map(|_| Err(function_error("sink"))).collect(),
        );
        let bucket = lake::testing::MemoryStore::default();
        bucket.refuse(lake::testing::Operation::Put, "", "AccessDenied", 403);
        let destination = crate::failure::BucketDestination(&bucket);

        // when the batch runs out of retries
        let mut events = Vec::new();
        let finished = run_reporting(
            &mut source,
            &invoker,
            &config(500, 1000, Some(1)),
            Some(&destination),
            &mut Shutdown::never(),
            &mut |event| events.push(event),
        )
        .await;

        // then it is dropped, as Lambda drops it, and says so
        assert_eq!(finished.summary.dropped, 1);
        assert_eq!(finished.summary.sent_to_destination, 0);
        let dropped = events.iter().find(|e| e["event"] == "dropped").unwrap();
        assert!(
            dropped["error"].as_str().unwrap().contains("AccessDenied"),
            "{dropped}"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_request_during_retries_leaves_the_batch_uncommitted() {
        let (mut source, invoker, log) = harness(
            vec![(0, record(0, 0))],
            (0..100).map(|_| Err(function_error("sink"))).collect(),
        );
        let (trigger, mut stop) = shutdown::channel();
        let mut config = config(500, 1000, None);
        config.until_idle = None;
        let run = run(&mut source, &invoker, &config, &mut stop);
        let stopper = async {
            tokio::time::sleep(Duration::from_secs(10)).await;
            trigger.trigger();
        };
        let (finished, ()) = tokio::join!(run, stopper);
        assert_eq!(finished.summary.stopped, StopReason::Signal);
        assert_eq!(finished.summary.batches, 0);
        assert!(entries(&log).iter().all(|e| !e.starts_with("commit")));
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_request_while_gathering_delivers_the_gathered_records_first() {
        let (mut source, invoker, log) = harness(vec![(0, record(0, 0))], vec![]);
        let (trigger, mut stop) = shutdown::channel();
        let mut config = config(500, 10_000, None);
        config.until_idle = None;
        let run = run(&mut source, &invoker, &config, &mut stop);
        let stopper = async {
            tokio::time::sleep(Duration::from_secs(2)).await;
            trigger.trigger();
        };
        let (finished, ()) = tokio::join!(run, stopper);
        assert_eq!(finished.summary.stopped, StopReason::Signal);
        assert_eq!(
            entries(&log),
            ["invoke users_created-0:0 ok", "commit users_created-0@1"]
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_record_that_does_not_fit_opens_the_next_batch() {
        let big = |offset| {
            let mut r = record(0, offset);
            r.value = Some(vec![b'x'; 3 << 20]); // 4 MiB once base64-encoded
            (0, r)
        };
        let (mut source, invoker, log) = harness(vec![big(0), big(1)], vec![]);
        let finished = run(
            &mut source,
            &invoker,
            &config(500, 1000, None),
            &mut Shutdown::never(),
        )
        .await;
        assert!(finished.error.is_none());
        assert_eq!(
            entries(&log),
            [
                "invoke users_created-0:0 ok",
                "commit users_created-0@1",
                "invoke users_created-0:1 ok",
                "commit users_created-0@2",
            ]
        );
    }

    #[test]
    fn retry_delay_doubles_from_one_second_up_to_thirty() {
        let p = RetryPolicy::DEFAULT;
        let delays: Vec<u64> = (0..7).map(|r| p.delay(r).as_secs()).collect();
        assert_eq!(delays, [1, 2, 4, 8, 16, 30, 30]);
        assert_eq!(p.delay(u32::MAX), Duration::from_secs(30));
    }

    #[test]
    fn summary_serialises_to_one_json_line_without_absent_sums() {
        let summary = Summary {
            batches: 2,
            records: 10,
            retries: 1,
            ..Summary::default()
        };
        assert_eq!(
            serde_json::to_string(&summary).unwrap(),
            r#"{"batches":2,"records":10,"retries":1,"commit_failures":0,"sent_to_destination":0,"dropped":0,"stopped":"idle"}"#
        );
    }

    #[test]
    fn offset_ranges_name_each_partition_span() {
        let records = [record(0, 3), record(1, 9), record(0, 5)];
        assert_eq!(
            offset_ranges(&records),
            "users_created-0[3..=5] users_created-1[9..=9]"
        );
    }
}
