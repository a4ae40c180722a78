//! Faults against the real local stack: the S3 store stopped in the middle of the flow, the
//! broker stopped while the producer runs, and the sink's process killed while it handles a
//! batch. Each scenario breaks the real service, lets the pipeline recover on its own, then
//! counts what happened to every message on the topic and prints one line that the Reliability
//! table of the docs quotes:
//!
//! `fault <name>: ... lost 0, duplicated 0, stuck 0, crashed 0`
//!
//! - lost: good messages on the topic that are not in the lake;
//! - duplicated: lake rows beyond the first for the same (partition, offset);
//! - stuck: records a fresh trigger still finds undelivered once the fault is over;
//! - crashed: failed invocations whose error is not the typed `<Kind>.<Retryable|Fatal>` the
//!   fault should cause (a panic, an unhandled error); a process the test kills itself is
//!   counted apart.
//!
//! Everything is read from the emulators' JSON lines and the functions' metrics lines, never
//! from human log text.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use e2e::{
    env_file::local_env,
    process,
    stack::{Background, emulator, json_lines},
};
use serde_json::Value;

use crate::{Ctx, assert_lake_matches_topic, good_messages, produced};

/// The producer's function timeout in template.yaml; a failed run must end well before it.
const PRODUCER_TIMEOUT: Duration = Duration::from_secs(60);
/// KAFKA_MESSAGE_TIMEOUT_MS given to the functions of the suite's stack (see `main`).
pub const MESSAGE_TIMEOUT_MS: u64 = 5000;

/// What became of the topic's good messages.
struct Tally {
    good: usize,
    lost: usize,
    duplicated: usize,
}

fn tally(ctx: &Ctx) -> Tally {
    let expected = good_messages(&ctx.topic_messages());
    let rows = ctx.rt.block_on(e2e::lake::rows(&ctx.s3));
    let offsets: Vec<(i32, i64)> = rows
        .iter()
        .filter(|r| r.row.topic == ctx.topic)
        .map(|r| (r.row.partition, r.row.offset))
        .collect();
    let distinct: BTreeSet<(i32, i64)> = offsets.iter().copied().collect();
    Tally {
        good: expected.len(),
        lost: expected.keys().filter(|k| !distinct.contains(k)).count(),
        duplicated: offsets.len() - distinct.len(),
    }
}

/// Records a trigger run started now still delivers: anything left uncommitted by the fault.
fn stuck(ctx: &Ctx) -> u64 {
    ctx.trigger_until_idle()["records"].as_u64().unwrap()
}

/// Whether an `errorType` is one of the functions' typed labels.
fn is_typed(error_type: &Value) -> bool {
    error_type.as_str().is_some_and(|t| {
        t.split_once('.').is_some_and(|(kind, retry)| {
            kind.chars().next().is_some_and(char::is_uppercase)
                && kind.chars().all(char::is_alphanumeric)
                && matches!(retry, "Retryable" | "Fatal")
        })
    })
}

/// The metrics line of the producer's last invocation: the JSON lines of the functions' output.
fn last_producer_metrics(ctx: &Ctx) -> Value {
    let log = std::fs::read(ctx.stack.log("functions")).unwrap();
    json_lines(&log)
        .into_iter()
        .rev()
        .find(|l| l["FunctionName"] == "producer" && l.get("_aws").is_some())
        .expect("a metrics line of the producer")
}

pub fn a_store_outage_fails_batches_as_retryable_and_they_land_once_it_is_back(ctx: &Ctx) {
    // given nothing waiting, and a running trigger that delivered a first run while the store
    // was up
    ctx.drain();
    let good_before = tally(ctx).good as u64;
    let trigger = Background::start("msk-trigger", &["--until-idle", "60s"]);
    ctx.schedule(1, 300);
    assert!(
        trigger.wait_for(Duration::from_secs(60), |t| t.delivered() >= 300),
        "the first run was not delivered"
    );

    // when the store stops and a second run is produced
    ctx.stack.stop("s3").unwrap();
    ctx.schedule(1, 300);
    let failed = trigger.wait_for(Duration::from_secs(60), |t| {
        t.events("invoke_failed").len() >= 2
    });
    // and the store comes back (same port, same files)
    ctx.stack.start_stopped().unwrap();
    let landed = trigger.wait_for(Duration::from_secs(120), |t| t.delivered() >= 600);
    let lines = trigger.stop();

    // then the sink failed with the retryable store error, the trigger retried the same batch
    // until it landed, and the lake holds every message exactly once
    assert!(
        failed,
        "no failed invocation while the store was down: {lines:?}"
    );
    assert!(
        landed,
        "the batches did not land after the store came back: {lines:?}"
    );
    let failures: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "invoke_failed")
        .collect();
    let retryable = failures
        .iter()
        .filter(|l| l["errorType"] == "StoreFailed.Retryable")
        .count();
    let run = lines.last().unwrap();
    assert_eq!(run["records"], 600, "{run}");
    assert_eq!(run["written"], 600, "{run}");
    assert!(run["retries"].as_u64().unwrap() >= 2, "{run}");
    let tally = tally(ctx);
    let stuck = stuck(ctx);
    let crashed = failures
        .iter()
        .filter(|l| !is_typed(&l["errorType"]))
        .count();
    println!(
        "fault store_down: sink invocations failed {} (StoreFailed.Retryable {retryable}), retries {}, \
         delivered {}/{} new, lost {}, duplicated {}, stuck {stuck}, crashed {crashed}",
        failures.len(),
        run["retries"],
        run["records"],
        tally.good as u64 - good_before,
        tally.lost,
        tally.duplicated,
    );
    assert_eq!(retryable, failures.len(), "{failures:#?}");
    assert_eq!((tally.lost, tally.duplicated, stuck, crashed), (0, 0, 0, 0));
    assert_lake_matches_topic(ctx);
}

pub fn a_broker_outage_fails_the_producer_run_in_time_and_the_next_run_succeeds(ctx: &Ctx) {
    // given nothing waiting, and the broker stopped
    ctx.drain();
    let before = ctx.topic_messages().len();
    ctx.stack.stop("kafka").unwrap();

    // when the schedule runs the producer
    let started = Instant::now();
    let failed_run = emulator("schedule", &["--times", "1", "--count", "200"]);
    let took = started.elapsed();

    // then the run fails with a clear, retryable error that names what was not delivered,
    // well within the function's timeout, and reports nothing as produced
    let lines = json_lines(&failed_run.stdout);
    assert!(!failed_run.status.success(), "{lines:?}");
    let run = &lines[0];
    assert_eq!(
        (run["run"].as_u64(), run["ok"].as_bool()),
        (Some(1), Some(false)),
        "{run}"
    );
    assert_eq!(run["errorType"], "PublishFailed.Retryable", "{run}");
    let error = run["error"].as_str().unwrap();
    assert!(
        error.contains("200 of 200 record(s) were not delivered")
            && error.contains("0 were delivered"),
        "{run}"
    );
    assert!(
        took < Duration::from_millis(MESSAGE_TIMEOUT_MS) + Duration::from_secs(15)
            && took < PRODUCER_TIMEOUT,
        "the failed run took {took:?}"
    );
    let metrics = last_producer_metrics(ctx);
    assert_eq!(
        (
            metrics["RecordsProduced"].as_u64(),
            metrics["Errors"].as_u64()
        ),
        (Some(0), Some(1)),
        "{metrics}"
    );

    // when the broker is back (its log kept in SQLite: the topic and offsets survive) and the
    // schedule fires again
    ctx.stack.start_stopped().unwrap();
    let next_run = emulator(
        "schedule",
        &["--times", "1", "--count", "100", "--fail-fast"],
    );

    // then that run succeeds, the topic holds its 100 users and nothing of the failed run,
    // and they all land once
    assert!(
        next_run.status.success(),
        "{:?}",
        json_lines(&next_run.stdout)
    );
    let reported = produced(&next_run.stdout);
    let after = ctx.topic_messages().len();
    let delivered = ctx.trigger_until_idle();
    let tally = tally(ctx);
    let stuck = stuck(ctx);
    let crashed = usize::from(!is_typed(&run["errorType"]));
    println!(
        "fault broker_down: failed run in {} ms (message timeout {MESSAGE_TIMEOUT_MS} ms), \
         reported produced 0, new on topic {} after the next run reported {reported}, \
         delivered {}, lost {}, duplicated {}, stuck {stuck}, crashed {crashed}",
        took.as_millis(),
        after - before,
        delivered["records"],
        tally.lost,
        tally.duplicated,
    );
    assert_eq!(reported, 100);
    assert_eq!(
        after - before,
        100,
        "only the second run's users are on the topic"
    );
    assert_eq!(delivered["records"], 100, "{delivered}");
    assert_eq!((tally.lost, tally.duplicated, stuck, crashed), (0, 0, 0, 0));
    assert_lake_matches_topic(ctx);
}

/// The local store's port.
fn store_port() -> u16 {
    let endpoint = &local_env()["AWS_ENDPOINT_URL_S3"];
    endpoint
        .rsplit(':')
        .next()
        .unwrap()
        .trim_end_matches('/')
        .parse()
        .unwrap()
}

pub fn a_sink_killed_mid_batch_is_replaced_and_its_batch_lands_once(ctx: &Ctx) {
    // given nothing waiting, 8,000 users on the topic, the sink's process warm and idle, and
    // the store frozen, so that the sink stalls on its first write of the next batch
    ctx.drain();
    let good_before = tally(ctx).good as u64;
    ctx.schedule(1, 8000);
    let watch = ctx.stack.pid("functions").expect("cargo lambda watch runs");
    let sinks = process::descendants_named(watch, "sink");
    assert_eq!(sinks.len(), 1, "one sink process: {sinks:?}");
    let sink = sinks[0];
    let store = ctx.stack.pid("s3").expect("the store runs");
    process::pause(store);

    // when the trigger delivers them in batches as large as Lambda's payload limit allows, and
    // the sink's process is killed (SIGKILL) once its first write waits, unread, at the store
    let trigger = Background::start(
        "msk-trigger",
        &[
            "--batch-size",
            "10000",
            "--until-idle",
            "60s",
            "--timeout",
            "60s",
        ],
    );
    let stalled = trigger.wait_for(Duration::from_secs(120), |_| {
        process::unread_request_on(store_port())
    });
    assert!(stalled, "the sink never wrote to the store");
    assert_eq!(
        trigger.delivered(),
        0,
        "the first batch finished before the kill"
    );
    process::kill_9(sink);
    process::resume(store);
    // cargo lambda watch (1.9) neither answers the pending invocation nor starts the function
    // again once its process died; Lambda would give the next invocation a new execution
    // environment, so the functions' server is restarted to play that part, once the killed
    // process is gone
    assert!(trigger.wait_for(Duration::from_secs(10), |_| !process::alive(sink)));
    ctx.stack.stop("functions").unwrap();
    ctx.stack.start_stopped().unwrap();

    // then the invocation fails, the trigger redelivers the batch to a new sink process, and
    // every record lands once
    let landed = trigger.wait_for(Duration::from_secs(240), |t| t.delivered() >= 8000);
    let lines = trigger.stop();
    assert!(landed, "the batches did not land after the kill: {lines:?}");
    let run = lines.last().unwrap();
    let watch = ctx.stack.pid("functions").expect("cargo lambda watch runs");
    let replaced = process::descendants_named(watch, "sink");
    let failures: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "invoke_failed")
        .collect();
    // The killed invocation, and any retry while the functions' server restarted, fail without
    // an error document; a typed error or anything else would be a crash.
    let crashed = failures
        .iter()
        .filter(|l| !l["errorType"].is_null())
        .count();
    let tally = tally(ctx);
    let stuck = stuck(ctx);
    println!(
        "fault sink_killed: sink process {sink} killed mid-batch (induced crash 1), invocations failed {}, \
         retries {}, new sink process {replaced:?}, delivered {}/{} new, lost {}, duplicated {}, \
         stuck {stuck}, crashed {crashed}",
        failures.len(),
        run["retries"],
        run["records"],
        tally.good as u64 - good_before,
        tally.lost,
        tally.duplicated,
    );
    assert!(!process::alive(sink));
    assert!(run["retries"].as_u64().unwrap() >= 1, "{run}");
    assert_eq!(run["records"], 8000, "{run}");
    assert_eq!(replaced.len(), 1, "{replaced:?}");
    assert_eq!((tally.lost, tally.duplicated, stuck, crashed), (0, 0, 0, 0));
    assert_lake_matches_topic(ctx);
}
