//! Faults against the real local stack: the S3 store stopped in the middle of the flow, the
//! broker stopped while the producer runs, and the sink's process killed while it handles a
//! batch. Each scenario breaks the real service, lets the pipeline recover on its own, then
//! counts what happened to every message on the topic and prints one line that the README's
//! Reliability table quotes:
//!
//! `fault <name>: ... lost 0, duplicated 0, stuck 0, crashed 0`
//!
//! - lost: good messages on the topic that are not in the lake;
//! - duplicated: lake rows beyond the first for the same (partition, offset);
//! - stuck: records a fresh trigger still finds undelivered once the fault is over;
//! - crashed: function failures other than the handled, typed error the fault should cause
//!   (and panics in the functions' log); a process the test kills itself is counted apart.

use std::{
    collections::BTreeSet,
    time::{Duration, Instant},
};

use e2e::{
    process,
    stack::{Background, emulator, summary},
};

use crate::{Ctx, assert_lake_matches_topic, good_messages};

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

/// Panics reported in the functions' log so far.
fn panics(ctx: &Ctx) -> usize {
    std::fs::read_to_string(ctx.stack.log("functions"))
        .unwrap_or_default()
        .matches("panicked at")
        .count()
}

/// Records the trigger has had accepted so far, from its `invoked sink ... records=N` lines.
fn delivered(trigger: &Background) -> u64 {
    trigger
        .lines_with("invoked sink")
        .iter()
        .filter_map(|line| {
            let at = line.find(" records=")? + " records=".len();
            let digits: String = line[at..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse::<u64>().ok()
        })
        .sum()
}

/// The trigger's warnings for invocations that failed and will be retried.
fn failures(trigger: &Background) -> Vec<String> {
    trigger.lines_with("retrying the same batch")
}

/// The users a scheduled run reported as produced (`#1 ok ... {"produced": N, ...}`).
fn reported_produced(stdout: &[u8]) -> u64 {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter(|l| l.contains(" ok "))
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(&l[l.find('{')?..]).ok())
        .map(|v| v["produced"].as_u64().unwrap())
        .sum()
}

/// The metrics line of the producer's last invocation, from the functions' log.
fn last_producer_metrics(ctx: &Ctx) -> serde_json::Value {
    let log = std::fs::read_to_string(ctx.stack.log("functions")).unwrap();
    log.lines()
        .rev()
        .filter(|l| l.starts_with('{') && l.contains(r#""FunctionName":"producer""#))
        .find_map(|l| serde_json::from_str(l).ok())
        .expect("a metrics line of the producer")
}

pub fn a_store_outage_fails_batches_as_retryable_and_they_land_once_it_is_back(ctx: &Ctx) {
    // given a running trigger that delivered a first run while the store was up
    let (panics_before, good_before) = (panics(ctx), tally(ctx).good as u64);
    let trigger = Background::start("msk-trigger", &["--until-idle", "60s"]);
    ctx.schedule(1, 300);
    assert!(
        trigger.wait_for(Duration::from_secs(60), |t| delivered(t) >= 300),
        "the first run was not delivered"
    );

    // when the store stops and a second run is produced
    ctx.stack.stop("s3").unwrap();
    ctx.schedule(1, 300);
    let failed = trigger.wait_for(Duration::from_secs(60), |t| failures(t).len() >= 2);
    // and the store comes back (same port, same files)
    ctx.stack.start_stopped().unwrap();
    let landed = trigger.wait_for(Duration::from_secs(120), |t| delivered(t) >= 600);
    let output = trigger.stop();
    let log = String::from_utf8_lossy(&output.stderr).to_string();

    // then the sink failed with the retryable store error, the trigger retried the same batch
    // until it landed, and the lake holds every message exactly once
    assert!(
        failed,
        "no failed invocation while the store was down:\n{log}"
    );
    assert!(
        landed,
        "the batches did not land after the store came back:\n{log}"
    );
    let failed_lines = log
        .lines()
        .filter(|l| l.contains("retrying the same batch"))
        .collect::<Vec<_>>();
    let retryable = failed_lines
        .iter()
        .filter(|l| l.contains("StoreFailed.Retryable"))
        .count();
    let run = summary(&output);
    assert_eq!(run["records"], 600, "{run}");
    assert_eq!(run["written"], 600, "{run}");
    assert!(run["retries"].as_u64().unwrap() >= 2, "{run}");
    let tally = tally(ctx);
    let stuck = stuck(ctx);
    let crashed = failed_lines.len() - retryable + (panics(ctx) - panics_before);
    println!(
        "fault store_down: sink invocations failed {} (StoreFailed.Retryable {retryable}), retries {}, \
         delivered {}/{} new, lost {}, duplicated {}, stuck {stuck}, crashed {crashed}",
        failed_lines.len(),
        run["retries"],
        run["records"],
        tally.good as u64 - good_before,
        tally.lost,
        tally.duplicated,
    );
    assert_eq!(retryable, failed_lines.len(), "{failed_lines:#?}");
    assert_eq!((tally.lost, tally.duplicated, stuck, crashed), (0, 0, 0, 0));
    assert_lake_matches_topic(ctx);
}

pub fn a_broker_outage_fails_the_producer_run_in_time_and_the_next_run_succeeds(ctx: &Ctx) {
    // given everything so far delivered, and the broker stopped
    let before = ctx.topic_messages().len();
    let panics_before = panics(ctx);
    ctx.stack.stop("kafka").unwrap();

    // when the schedule runs the producer
    let started = Instant::now();
    let failed_run = emulator("schedule", &["--times", "1", "--count", "200"]);
    let took = started.elapsed();

    // then the run fails with a clear, retryable error that names what was not delivered,
    // well within the function's timeout, and reports nothing as produced
    let stdout = String::from_utf8_lossy(&failed_run.stdout).to_string();
    assert!(!failed_run.status.success(), "{stdout}");
    assert!(stdout.contains("#1 failed"), "{stdout}");
    assert!(stdout.contains("PublishFailed.Retryable"), "{stdout}");
    assert!(
        stdout.contains("200 of 200 record(s) were not delivered")
            && stdout.contains("0 were delivered"),
        "{stdout}"
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
    let next_stdout = String::from_utf8_lossy(&next_run.stdout).to_string();
    assert!(next_run.status.success(), "{next_stdout}");
    let produced = reported_produced(&next_run.stdout);
    let after = ctx.topic_messages().len();
    let delivered = ctx.trigger_until_idle();
    let tally = tally(ctx);
    let stuck = stuck(ctx);
    let crashed = panics(ctx) - panics_before;
    println!(
        "fault broker_down: failed run in {} ms (message timeout {MESSAGE_TIMEOUT_MS} ms), \
         reported produced 0, new on topic {} after the next run reported {produced}, \
         delivered {}, lost {}, duplicated {}, stuck {stuck}, crashed {crashed}",
        took.as_millis(),
        after - before,
        delivered["records"],
        tally.lost,
        tally.duplicated,
    );
    assert_eq!(produced, 100, "{next_stdout}");
    assert_eq!(
        after - before,
        100,
        "only the second run's users are on the topic"
    );
    assert_eq!(delivered["records"], 100, "{delivered}");
    assert_eq!((tally.lost, tally.duplicated, stuck, crashed), (0, 0, 0, 0));
    assert_lake_matches_topic(ctx);
}

pub fn a_sink_killed_mid_batch_is_replaced_and_its_batch_lands_once(ctx: &Ctx) {
    // given 8,000 users waiting on the topic and the sink's process, warm and idle
    let (panics_before, good_before) = (panics(ctx), tally(ctx).good as u64);
    ctx.schedule(1, 8000);
    let watch = ctx.stack.pid("functions").expect("cargo lambda watch runs");
    let sinks = process::descendants_named(watch, "sink");
    assert_eq!(sinks.len(), 1, "one sink process: {sinks:?}");
    let sink = sinks[0];
    let idle_ticks = process::cpu_ticks(sink).unwrap();

    // when the trigger delivers them in batches as large as Lambda's payload limit allows, and
    // the sink's process is killed (SIGKILL) once it is busy with the first one
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
    let busy = Instant::now();
    let mut killed = false;
    while busy.elapsed() < Duration::from_secs(60) {
        if process::cpu_ticks(sink).is_some_and(|t| t >= idle_ticks + 5) {
            assert_eq!(
                delivered(&trigger),
                0,
                "the first batch finished before the kill"
            );
            process::kill_9(sink);
            killed = true;
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    assert!(killed, "the sink never got busy");
    // cargo lambda watch (1.9) neither answers the pending invocation nor starts the function
    // again once its process died; Lambda would give the next invocation a new execution
    // environment, so the functions' server is restarted to play that part
    std::thread::sleep(Duration::from_secs(1));
    ctx.stack.stop("functions").unwrap();
    ctx.stack.start_stopped().unwrap();

    // then the invocation fails, the trigger redelivers the batch to a new sink process, and
    // every record lands once
    let landed = trigger.wait_for(Duration::from_secs(240), |t| delivered(t) >= 8000);
    let output = trigger.stop();
    let log = String::from_utf8_lossy(&output.stderr).to_string();
    assert!(landed, "the batches did not land after the kill:\n{log}");
    let run = summary(&output);
    let watch = ctx.stack.pid("functions").expect("cargo lambda watch runs");
    let replaced = process::descendants_named(watch, "sink");
    let failed = log
        .lines()
        .filter(|l| l.contains("retrying the same batch"))
        .count();
    let tally = tally(ctx);
    let stuck = stuck(ctx);
    let crashed = panics(ctx) - panics_before;
    println!(
        "fault sink_killed: sink process {sink} killed mid-batch (induced crash 1), invocations failed {failed}, \
         retries {}, new sink process {replaced:?}, delivered {}/{} new, lost {}, duplicated {}, \
         stuck {stuck}, crashed {crashed}",
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
