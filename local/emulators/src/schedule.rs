//! The EventBridge schedule of a function (the producer, or the hourly compactor): reads the
//! rate of a `rate()` expression, builds the Scheduled Event that EventBridge sends, and invokes
//! the function at that rate.
//!
//! `cargo lambda watch` serves functions only on request, so without this loop nothing would
//! run the producer locally the way the deployed schedule does.
//!
//! EventBridge Scheduler invokes asynchronously, and Lambda retries a failed asynchronous
//! invocation as the function's `EventInvokeConfig` says (twice by default), and may deliver an
//! event more than once even when it succeeds (Lambda developer guide, "How Lambda handles
//! errors and retries with asynchronous invocation"). The loop does both: it retries a failed
//! event as many times as the template allows, and with `deliver_twice` sends every event a
//! second time, same id and all, so that tests can see what a duplicate delivery does.

use std::time::{Duration, Instant};

use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Value, json};
use tokio::time::MissedTickBehavior;
use uuid::Uuid;

use crate::invoke::Invoker;
use crate::shutdown::Shutdown;

/// Account id used in the ARNs of local events.
pub const LOCAL_ACCOUNT: &str = "000000000000";
/// Name of the local schedule rule.
pub const LOCAL_RULE: &str = "user-lake-local-schedule";

/// Why a schedule expression cannot drive the local schedule.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ScheduleError {
    /// A `cron()` or `at()` expression: the emulator only evaluates `rate()`.
    #[error(
        "schedule expression `{expression}` is not a rate(); pass --every (e.g. --every 1m) to run it locally"
    )]
    Unsupported { expression: String },
    /// A `rate()` expression that EventBridge would not accept.
    #[error("invalid rate expression `{expression}`: {problem}")]
    InvalidRate { expression: String, problem: String },
}

/// The interval of an EventBridge `rate(value unit)` expression. As in EventBridge, the value is
/// a positive whole number and the unit is singular for 1 and plural otherwise.
pub fn parse_rate(expression: &str) -> Result<Duration, ScheduleError> {
    let trimmed = expression.trim();
    let invalid = |problem: &str| ScheduleError::InvalidRate {
        expression: expression.to_owned(),
        problem: problem.to_owned(),
    };
    if trimmed.starts_with("cron(") || trimmed.starts_with("at(") {
        return Err(ScheduleError::Unsupported {
            expression: expression.to_owned(),
        });
    }
    let inner = trimmed
        .strip_prefix("rate(")
        .and_then(|rest| rest.strip_suffix(')'))
        .ok_or_else(|| invalid("expected rate(<value> <unit>), cron(...) or at(...)"))?;
    let mut parts = inner.split_whitespace();
    let (Some(value), Some(unit), None) = (parts.next(), parts.next(), parts.next()) else {
        return Err(invalid("expected a value and a unit, e.g. rate(5 minutes)"));
    };
    let value: u64 = value
        .parse()
        .ok()
        .filter(|v| *v > 0)
        .ok_or_else(|| invalid("the value must be a positive whole number"))?;
    let (singular, seconds) = match unit {
        "minute" | "minutes" => ("minute", 60),
        "hour" | "hours" => ("hour", 3600),
        "day" | "days" => ("day", 86_400),
        _ => return Err(invalid("the unit must be minute(s), hour(s) or day(s)")),
    };
    let plural = unit.len() > singular.len();
    if (value == 1) == plural {
        let want = if value == 1 {
            singular.to_owned()
        } else {
            format!("{singular}s")
        };
        return Err(invalid(&format!("use `{value} {want}`")));
    }
    Ok(Duration::from_secs(value * seconds))
}

/// The EventBridge Scheduled Event that runs the producer.
pub fn scheduled_event(id: Uuid, time: DateTime<Utc>, region: &str, count: Option<u32>) -> Value {
    let detail = match count {
        Some(count) => json!({ "count": count }),
        None => json!({}),
    };
    json!({
        "version": "0",
        "id": id.to_string(),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": LOCAL_ACCOUNT,
        "time": time.to_rfc3339_opts(SecondsFormat::Secs, true),
        "region": region,
        "resources": [format!("arn:aws:events:{region}:{LOCAL_ACCOUNT}:rule/{LOCAL_RULE}")],
        "detail": detail,
    })
}

/// How the schedule runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleConfig {
    /// Function to invoke.
    pub function: String,
    /// Time between invocations; the first one fires at once.
    pub every: Duration,
    /// Stop after this many invocations (`None`: until stopped).
    pub times: Option<u64>,
    /// Stop at the first failed invocation.
    pub fail_fast: bool,
    /// Region written into the event.
    pub region: String,
    /// Users per run, sent as `detail.count`.
    pub count: Option<u32>,
    /// Further fields of `detail`, e.g. `{"now": "…"}` for the compactor.
    pub detail: serde_json::Map<String, Value>,
    /// Retries of a failed event (the function's `EventInvokeConfig.MaximumRetryAttempts`).
    pub retries: u32,
    /// Pause before the first retry, doubled before the next (Lambda waits about a minute, then
    /// two; locally it is shorter).
    pub retry_delay: Duration,
    /// Deliver every event twice, as Lambda's asynchronous queue may.
    pub deliver_twice: bool,
}

/// How a schedule run went; printed as the last JSON line.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct ScheduleReport {
    /// Invocations made (retries and second deliveries included).
    pub invocations: u64,
    /// Invocations that failed.
    pub failures: u64,
    /// Scheduled events.
    pub events: u64,
    /// Deliveries of an event whose every invocation failed (its retries too).
    pub events_failed: u64,
    /// Invocations that retried a failed one.
    pub retries: u64,
    /// Second deliveries of an event.
    pub duplicates: u64,
}

/// Invokes the function at the configured rate until `times` events were scheduled, the first
/// event that failed for good with `fail_fast`, or a stop request. Each invocation's outcome is
/// passed to `report` as one JSON value: `{"event": "invoked", "run": 1, "event_id": "…",
/// "attempt": 0, "duplicate": false, "ok": true, "duration_ms": 120, "response": {...}}`, or with
/// `"ok": false` the `errorType` and `error`.
pub async fn run<I: Invoker>(
    invoker: &I,
    config: &ScheduleConfig,
    shutdown: &mut Shutdown,
    mut report: impl FnMut(Value),
) -> ScheduleReport {
    let mut ticker = tokio::time::interval(config.every);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
    let mut outcome = ScheduleReport::default();
    loop {
        if config.times.is_some_and(|times| outcome.events >= times) {
            break;
        }
        tokio::select! {
            biased;
            _ = shutdown.wait() => break,
            _ = ticker.tick() => {}
        }
        outcome.events += 1;
        let id = Uuid::new_v4();
        let mut event = scheduled_event(id, Utc::now(), &config.region, config.count);
        if let Some(detail) = event["detail"].as_object_mut() {
            detail.extend(config.detail.clone());
        }
        let payload = serde_json::to_vec(&event).unwrap_or_default();
        let deliveries = if config.deliver_twice { 2 } else { 1 };
        let mut failed_for_good = false;
        for delivery in 0..deliveries {
            let duplicate = delivery > 0;
            if duplicate {
                outcome.duplicates += 1;
            }
            let delivered = Delivery {
                run: outcome.events,
                id,
                duplicate,
                payload: &payload,
            };
            if !deliver(
                invoker,
                config,
                shutdown,
                &delivered,
                &mut outcome,
                &mut report,
            )
            .await
            {
                outcome.events_failed += 1;
                failed_for_good = true;
            }
        }
        if failed_for_good && config.fail_fast {
            break;
        }
    }
    outcome
}

/// One delivery of a scheduled event.
struct Delivery<'a> {
    run: u64,
    id: Uuid,
    duplicate: bool,
    payload: &'a [u8],
}

/// Invokes the function with one delivery of an event, retrying as configured; whether an
/// invocation succeeded.
async fn deliver<I: Invoker>(
    invoker: &I,
    config: &ScheduleConfig,
    shutdown: &mut Shutdown,
    delivery: &Delivery<'_>,
    outcome: &mut ScheduleReport,
    report: &mut impl FnMut(Value),
) -> bool {
    for attempt in 0..=config.retries {
        if attempt > 0 {
            outcome.retries += 1;
            let pause = config
                .retry_delay
                .saturating_mul(1 << (attempt - 1).min(16));
            tokio::select! {
                biased;
                _ = shutdown.wait() => return false,
                _ = tokio::time::sleep(pause) => {}
            }
        }
        outcome.invocations += 1;
        let started = Instant::now();
        let result = invoker.invoke(&config.function, delivery.payload).await;
        let millis = started.elapsed().as_millis() as u64;
        let mut line = json!({
            "event": "invoked",
            "function": config.function,
            "run": delivery.run,
            "event_id": delivery.id.to_string(),
            "attempt": attempt,
            "duplicate": delivery.duplicate,
            "duration_ms": millis,
        });
        match result {
            Ok(response) => {
                line["ok"] = json!(true);
                line["response"] = response;
                report(line);
                return true;
            }
            Err(error) => {
                outcome.failures += 1;
                line["ok"] = json!(false);
                line["errorType"] = json!(error.error_type());
                line["error"] = json!(lambda_kit::error_chain(&error));
                report(line);
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::invoke::testing::{ScriptedInvoker, function_error};
    use crate::shutdown;
    use chrono::TimeZone;

    #[test]
    fn rate_expressions_become_intervals() {
        assert_eq!(parse_rate("rate(1 minute)"), Ok(Duration::from_secs(60)));
        assert_eq!(parse_rate("rate(5 minutes)"), Ok(Duration::from_secs(300)));
        assert_eq!(parse_rate("rate(1 hour)"), Ok(Duration::from_secs(3600)));
        assert_eq!(
            parse_rate(" rate(2 days) "),
            Ok(Duration::from_secs(172_800))
        );
    }

    #[test]
    fn cron_expressions_ask_for_every() {
        let err = parse_rate("cron(0 12 * * ? *)").unwrap_err();
        assert!(matches!(err, ScheduleError::Unsupported { .. }));
        assert!(err.to_string().contains("--every"), "{err}");
    }

    #[test]
    fn malformed_rates_are_rejected_like_eventbridge_does() {
        for bad in [
            "rate(1 minutes)",
            "rate(5 minute)",
            "rate(0 minutes)",
            "rate(5 weeks)",
            "rate(5)",
            "every 5m",
        ] {
            assert!(
                matches!(parse_rate(bad), Err(ScheduleError::InvalidRate { .. })),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn scheduled_event_has_the_eventbridge_shape() {
        let id = Uuid::parse_str("c5b5f0f8-3f5a-4d4a-9a0e-0a3c2c2f8f11").unwrap();
        let time = Utc.with_ymd_and_hms(2024, 5, 6, 7, 8, 9).unwrap()
            + chrono::Duration::milliseconds(250);
        let event = scheduled_event(id, time, "eu-west-1", Some(25));
        assert_eq!(
            event,
            json!({
                "version": "0",
                "id": "c5b5f0f8-3f5a-4d4a-9a0e-0a3c2c2f8f11",
                "detail-type": "Scheduled Event",
                "source": "aws.events",
                "account": "000000000000",
                "time": "2024-05-06T07:08:09Z",
                "region": "eu-west-1",
                "resources": ["arn:aws:events:eu-west-1:000000000000:rule/user-lake-local-schedule"],
                "detail": {"count": 25}
            })
        );
        assert_eq!(
            scheduled_event(id, time, "us-east-1", None)["detail"],
            json!({})
        );
    }

    fn config(times: Option<u64>, fail_fast: bool) -> ScheduleConfig {
        ScheduleConfig {
            function: "producer".to_owned(),
            every: Duration::from_secs(60),
            times,
            fail_fast,
            region: "us-east-1".to_owned(),
            count: Some(3),
            detail: serde_json::Map::new(),
            retries: 0,
            retry_delay: Duration::from_secs(1),
            deliver_twice: false,
        }
    }

    #[tokio::test(start_paused = true)]
    async fn fires_at_once_then_at_the_rate_and_keeps_going_after_a_failure() {
        let invoker = ScriptedInvoker::new(
            vec![Ok(json!({"produced": 3})), Err(function_error("producer"))],
            json!({"produced": 3}),
        );
        let mut lines = Vec::new();
        let started = tokio::time::Instant::now();
        let report = run(
            &invoker,
            &config(Some(3), false),
            &mut Shutdown::never(),
            |line| lines.push(line),
        )
        .await;
        assert_eq!(
            report,
            ScheduleReport {
                invocations: 3,
                failures: 1,
                events: 3,
                events_failed: 1,
                ..ScheduleReport::default()
            }
        );
        // First at once, then two intervals.
        assert_eq!(started.elapsed(), Duration::from_secs(120));
        let outcome = |l: &Value| (l["run"].as_u64(), l["ok"].as_bool());
        let outcomes: Vec<_> = lines.iter().map(outcome).collect();
        assert_eq!(
            outcomes,
            [
                (Some(1), Some(true)),
                (Some(2), Some(false)),
                (Some(3), Some(true))
            ]
        );
        assert_eq!(lines[0]["response"], json!({"produced": 3}));
        assert_eq!(lines[1]["errorType"], "StoreFailed.Retryable");
        assert!(
            lines[1]["error"].as_str().unwrap().contains("Unhandled"),
            "{lines:?}"
        );
        let calls = invoker.calls();
        assert!(
            calls
                .iter()
                .all(|(f, e)| f == "producer" && e["detail"]["count"] == 3)
        );
        assert_ne!(
            calls[0].1["id"], calls[1].1["id"],
            "each event has its own id"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn extra_detail_fields_are_sent_beside_the_count() {
        let invoker = ScriptedInvoker::new(vec![], json!({}));
        let mut config = config(Some(1), false);
        config.function = "compactor".to_owned();
        config.detail = json!({"now": "2026-11-25T03:00:00Z"})
            .as_object()
            .cloned()
            .unwrap();
        run(&invoker, &config, &mut Shutdown::never(), |_| {}).await;
        let calls = invoker.calls();
        assert_eq!(calls[0].0, "compactor");
        assert_eq!(
            calls[0].1["detail"],
            json!({"count": 3, "now": "2026-11-25T03:00:00Z"})
        );
    }

    #[tokio::test(start_paused = true)]
    async fn fail_fast_stops_at_the_first_failure() {
        let invoker = ScriptedInvoker::new(vec![Err(function_error("producer"))], json!({}));
        let report = run(
            &invoker,
            &config(Some(5), true),
            &mut Shutdown::never(),
            |_| {},
        )
        .await;
        assert_eq!(
            report,
            ScheduleReport {
                invocations: 1,
                failures: 1,
                events: 1,
                events_failed: 1,
                ..ScheduleReport::default()
            }
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_failed_event_is_retried_as_event_invoke_config_allows_with_its_own_id() {
        // given two retries, and a function that fails twice then succeeds
        let invoker = ScriptedInvoker::new(
            vec![
                Err(function_error("producer")),
                Err(function_error("producer")),
            ],
            json!({"produced": 3}),
        );
        let mut config = config(Some(1), true);
        config.retries = 2;
        let started = tokio::time::Instant::now();

        // when the event fires
        let mut lines = Vec::new();
        let report = run(&invoker, &config, &mut Shutdown::never(), |l| lines.push(l)).await;

        // then it ran three times, 1 s then 2 s apart, always the same event, and succeeded
        assert_eq!(
            (report.invocations, report.retries, report.events_failed),
            (3, 2, 0)
        );
        assert_eq!(started.elapsed(), Duration::from_secs(3));
        let calls = invoker.calls();
        assert!(calls.iter().all(|(_, e)| e["id"] == calls[0].1["id"]));
        let attempts: Vec<_> = lines
            .iter()
            .map(|l| l["attempt"].as_u64().unwrap())
            .collect();
        assert_eq!(attempts, [0, 1, 2]);
    }

    #[tokio::test(start_paused = true)]
    async fn with_no_retries_a_failed_event_fails_once() {
        let invoker = ScriptedInvoker::new(vec![Err(function_error("producer"))], json!({}));
        let report = run(
            &invoker,
            &config(Some(1), false),
            &mut Shutdown::never(),
            |_| {},
        )
        .await;
        assert_eq!((report.invocations, report.events_failed), (1, 1));
    }

    #[tokio::test(start_paused = true)]
    async fn deliver_twice_sends_each_event_again_with_the_same_id() {
        // given a schedule that delivers twice
        let invoker = ScriptedInvoker::new(vec![], json!({"produced": 3}));
        let mut config = config(Some(2), false);
        config.deliver_twice = true;

        // when two events fire
        let mut lines = Vec::new();
        let report = run(&invoker, &config, &mut Shutdown::never(), |l| lines.push(l)).await;

        // then each was delivered twice, the second time marked as a duplicate
        assert_eq!(
            (report.events, report.invocations, report.duplicates),
            (2, 4, 2)
        );
        let calls = invoker.calls();
        assert_eq!(calls[0].1["id"], calls[1].1["id"]);
        assert_ne!(calls[1].1["id"], calls[2].1["id"]);
        let duplicates: Vec<_> = lines
            .iter()
            .map(|l| l["duplicate"].as_bool().unwrap())
            .collect();
        assert_eq!(duplicates, [false, true, false, true]);
    }

    #[tokio::test(start_paused = true)]
    async fn a_stop_request_ends_the_schedule_between_invocations() {
        let invoker = ScriptedInvoker::new(vec![], json!({}));
        let (trigger, mut stop) = shutdown::channel();
        let mut count = 0;
        let config = config(None, false);
        let run = run(&invoker, &config, &mut stop, |_| count += 1);
        let stopper = async {
            tokio::time::sleep(Duration::from_secs(150)).await;
            trigger.trigger();
        };
        let (report, ()) = tokio::join!(run, stopper);
        assert_eq!(report.invocations, 3, "at 0 s, 60 s and 120 s");
        assert_eq!(count, 3);
    }
}
