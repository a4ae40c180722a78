//! The whole flow, end to end, on the local stack: the users API stand-in, the functions under
//! `cargo lambda watch`, a real Kafka-protocol broker (tansu), the local S3-protocol store and
//! the two emulators. One stack serves every scenario (it takes a while to start), so this suite
//! has its own harness (`e2e::scenarios`, libtest's command line): the scenarios run in order,
//! one at a time; arguments pick them by any part of their names
//! (`cargo test -p e2e --features e2e --test flow -- replay`), `--list` lists them.
//!
//! Each scenario establishes its own "given" on whatever the stack holds, so that it passes
//! alone or after any other: it first delivers whatever is waiting on the topic, produces the
//! users it needs, and asserts on what it produced, or on invariants that hold for the whole
//! lake (every good message of the topic is in the lake exactly once). The fault scenarios
//! (`flow/faults.rs`) stop and start services of the same stack, so they run last.
//!
//! Everything read from the emulators and the replay is their JSON output: one line per
//! invocation, then a summary.

#[path = "flow/drop_in.rs"]
mod drop_in;
#[path = "flow/faults.rs"]
mod faults;
#[path = "flow/invocation.rs"]
mod invocation;
#[path = "flow/registry.rs"]
mod registry;

use std::{
    collections::{BTreeMap, BTreeSet},
    process::ExitCode,
};

use ::lake::LakeStore;
use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use e2e::{
    env_file::{local_env, repo_root},
    lake,
    stack::{Stack, emulator, json_lines, summary},
    topic::{self, TopicMessage, good_messages},
};
use user_record::UserRecord;

/// A named step of the suite.
type Scenario = e2e::scenarios::Scenario<Ctx>;

pub struct Ctx {
    stack: Stack,
    rt: tokio::runtime::Runtime,
    lake_root: std::path::PathBuf,
    s3: ::lake::S3Store,
    brokers: String,
    topic: String,
}

impl Ctx {
    fn topic_messages(&self) -> Vec<TopicMessage> {
        topic::read_all(&self.brokers, &self.topic)
    }

    /// Runs the MSK trigger until nothing is left to deliver; its summary.
    fn trigger_until_idle(&self) -> serde_json::Value {
        self.trigger_with(&[])
    }

    fn trigger_with(&self, extra: &[&str]) -> serde_json::Value {
        let mut args = vec!["--until-idle", "3s", "--max-retries", "5"];
        args.extend_from_slice(extra);
        let output = emulator("msk-trigger", &args);
        assert!(
            output.status.success(),
            "msk-trigger failed: {}",
            output.status
        );
        summary(&output)
    }

    /// The given of most scenarios: whatever an earlier scenario left on the topic is
    /// delivered, so that what follows counts only this scenario's records.
    fn drain(&self) {
        self.trigger_until_idle();
    }

    /// Fires the producer's schedule `times` times with `count` users each; the users each
    /// run reported as produced.
    fn schedule(&self, times: u32, count: u32) -> u64 {
        let (times, count) = (times.to_string(), count.to_string());
        let args = [
            "--times",
            &times,
            "--every",
            "1s",
            "--count",
            &count,
            "--fail-fast",
        ];
        let output = emulator("schedule", &args);
        assert!(
            output.status.success(),
            "schedule failed: {}\n{}",
            output.status,
            String::from_utf8_lossy(&output.stdout)
        );
        produced(&output.stdout)
    }
}

/// The users the schedule's runs reported as produced, from its JSON lines.
fn produced(stdout: &[u8]) -> u64 {
    json_lines(stdout)
        .iter()
        .filter(|l| l["event"] == "invoked" && l["ok"] == true)
        .map(|l| l["response"]["produced"].as_u64().unwrap())
        .sum()
}

/// The lake holds every good message of the topic exactly once, field for field, in the
/// object its partition, hour and offsets name.
fn assert_lake_matches_topic(ctx: &Ctx) {
    let expected = good_messages(&ctx.topic_messages());
    let rows: Vec<lake::LakeRow> = ctx
        .rt
        .block_on(lake::rows(&ctx.s3))
        .into_iter()
        .filter(|r| r.row.topic == ctx.topic)
        .collect();
    let layout = lake::layout();
    let mut seen = BTreeSet::new();
    for lake::LakeRow { key, row } in &rows {
        assert!(
            seen.insert((row.partition, row.offset)),
            "duplicate row for {}-{}",
            row.partition,
            row.offset
        );
        let (record, ts) = expected
            .get(&(row.partition, row.offset))
            .unwrap_or_else(|| panic!("row {}-{} is not on the topic", row.partition, row.offset));
        assert_eq!(
            &row.record, record,
            "fields of {}-{}",
            row.partition, row.offset
        );
        assert_eq!(row.timestamp.timestamp_millis(), *ts);
        // The key, read by the lake's own parser: the row's hour, and for an original the
        // span of offsets that holds it (a merged object names no offsets).
        let Some(::lake::LakeKey::Data(data)) = layout.parse(key) else {
            panic!("{key} is not a key the lake writes");
        };
        assert_eq!(data.hour, ::lake::Hour::of(row.timestamp), "{key}");
        if let ::lake::DataName::Original(span) = data.name {
            assert!(
                span.holds(&row.topic, row.partition, row.offset),
                "{key} holds {}-{}",
                row.partition,
                row.offset
            );
        }
    }
    let missing: Vec<_> = expected.keys().filter(|k| !seen.contains(k)).collect();
    assert!(
        missing.is_empty(),
        "{} good message(s) not in the lake, e.g. {:?}",
        missing.len(),
        missing.first()
    );
}

fn every_produced_user_lands_exactly_once(ctx: &Ctx) {
    // given nothing waiting, and three scheduled runs of 300 users
    ctx.drain();
    let before: BTreeSet<(i32, i64)> = ctx
        .topic_messages()
        .iter()
        .map(|m| (m.partition, m.offset))
        .collect();
    let produced = ctx.schedule(3, 300);

    // when the MSK trigger delivers everything
    let summary = ctx.trigger_until_idle();

    // then it delivered exactly the new users, spread over the topic's partitions, and the
    // lake holds every message once, as an independent reader (pyarrow) sees it too
    assert_eq!(produced, 900);
    assert_eq!(summary["records"], 900, "{summary}");
    assert_eq!(summary["written"], 900, "{summary}");
    let new: Vec<TopicMessage> = ctx
        .topic_messages()
        .into_iter()
        .filter(|m| !before.contains(&(m.partition, m.offset)))
        .collect();
    assert_eq!(new.len(), 900);
    let partitions: BTreeSet<i32> = new.iter().map(|m| m.partition).collect();
    assert_eq!(
        partitions.len(),
        3,
        "keyed records spread over the 3 partitions"
    );
    assert_lake_matches_topic(ctx);
    assert_pyarrow_reads_the_lake(ctx);
}

/// The lake's `users/` directory on disk.
fn users_dir(ctx: &Ctx) -> std::path::PathBuf {
    ctx.lake_root
        .join(&local_env()["LAKE_BUCKET"])
        .join("users")
}

pub use e2e::tools::venv_python;

/// An independent reader, pyarrow, sees the lake's files on disk as a Hive-partitioned dataset
/// with the rows our own reader finds, each id once, and the lake's column types.
fn assert_pyarrow_reads_the_lake(ctx: &Ctx) {
    let rows = ctx.rt.block_on(lake::rows(&ctx.s3)).len();
    let script = "import sys, pyarrow.dataset as ds, pyarrow.compute as pc\n\
        t = ds.dataset(sys.argv[1], format='parquet', partitioning='hive').to_table()\n\
        print(t.num_rows, len(pc.unique(t['id'])), t.schema.field('dob').type, t.schema.field('hour').type)";
    let users = users_dir(ctx);
    let seen = venv_python(&["-c".as_ref(), script.as_ref(), users.as_os_str()]);
    assert_eq!(
        seen.trim(),
        format!("{rows} {rows} timestamp[ms, tz=UTC] int32")
    );
}

fn a_restarted_trigger_resumes_from_committed_offsets(ctx: &Ctx) {
    // given everything so far delivered and committed, and 120 more users produced
    ctx.drain();
    let before = ctx.rt.block_on(lake::rows(&ctx.s3)).len();
    ctx.schedule(1, 120);

    // when a new trigger process starts
    let summary = ctx.trigger_until_idle();

    // then it delivers only the new records
    assert_eq!(summary["records"], 120, "{summary}");
    assert_eq!(ctx.rt.block_on(lake::rows(&ctx.s3)).len(), before + 120);
    assert_lake_matches_topic(ctx);
}

/// A good record of the sample event, with a fixed id.
fn sample_user(n: u32) -> Vec<u8> {
    let path = repo_root().join("events/sink/msk-users.json");
    let event: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let value = event["records"]["users_created-0"][n as usize]["value"]
        .as_str()
        .unwrap()
        .to_string();
    let mut record = UserRecord::from_json_owned(&BASE64.decode(value).unwrap()).unwrap();
    record.id = format!("00000000-0000-4000-8000-00000000000{n}")
        .parse()
        .unwrap();
    record.to_json()
}

fn poison_records_go_to_errors_and_their_batch_lands(ctx: &Ctx) {
    // given nothing waiting, and poison written straight to partition 1 between two good records
    ctx.drain();
    let (first, last) = (sample_user(0), sample_user(1));
    let mut missing_field: serde_json::Value = serde_json::from_slice(&sample_user(2)).unwrap();
    missing_field.as_object_mut().unwrap().remove("dob");
    let missing_field = missing_field.to_string().into_bytes();
    let before_end = ctx
        .topic_messages()
        .iter()
        .filter(|m| m.partition == 1)
        .count() as i64;
    topic::write_raw(
        &ctx.brokers,
        &ctx.topic,
        1,
        &[
            (Some("good-1"), Some(&first)),
            (Some("no-value"), None),
            (Some("not-json"), Some(b"<xml>nope</xml>")),
            (Some("missing-dob"), Some(&missing_field)),
            (None, Some(&[0xff, 0xfe, 0x00])),
            (Some("good-2"), Some(&last)),
        ],
    );

    // when
    let summary = ctx.trigger_until_idle();

    // then
    assert_eq!(
        (summary["records"].as_u64(), summary["rejected"].as_u64()),
        (Some(6), Some(4)),
        "{summary}"
    );
    let offset = |i: i64| before_end + i;
    let errors = ctx.rt.block_on(lake::errors(&ctx.s3));
    let reasons: BTreeMap<i64, String> = errors
        .iter()
        .filter(|(_, e)| e["partition"] == 1)
        .filter(|(_, e)| (offset(0)..=offset(5)).contains(&e["offset"].as_i64().unwrap()))
        .map(|(_, e)| {
            (
                e["offset"].as_i64().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert_eq!(reasons[&offset(1)], "record has no value");
    assert!(
        reasons[&offset(2)].starts_with("value is not a valid user record: Invalid JSON value"),
        "{reasons:?}"
    );
    assert!(
        reasons[&offset(3)].contains("missing field `dob`"),
        "{reasons:?}"
    );
    assert!(
        reasons[&offset(4)].starts_with("value is not a valid user record"),
        "{reasons:?}"
    );
    let raw = errors
        .iter()
        .find(|(_, e)| e["partition"] == 1 && e["offset"] == offset(2))
        .unwrap();
    assert_eq!(
        BASE64
            .decode(raw.1["raw_base64"].as_str().unwrap())
            .unwrap(),
        b"<xml>nope</xml>"
    );
    assert!(raw.0.starts_with("_errors/dt="), "{}", raw.0);
    assert_lake_matches_topic(ctx);
}

fn a_batch_delivered_twice_leaves_no_duplicate(ctx: &Ctx) {
    // given the sample event, on a topic of its own so that it cannot mix with the flow's rows
    let path = repo_root().join("events/sink/msk-users.json");
    let text = std::fs::read_to_string(path)
        .unwrap()
        .replace("users_created", "users_redelivered");
    let endpoint = format!(
        "{}/2015-03-31/functions/sink/invocations",
        local_env()["LAMBDA_ENDPOINT"]
    );
    let invoke = || -> serde_json::Value {
        ctx.rt.block_on(async {
            let response = invoke_function(&endpoint, text.clone()).await;
            serde_json::from_str(&response).unwrap()
        })
    };

    // when the same batch is delivered twice
    let first = invoke();
    let second = invoke();

    // then both deliveries wrote the same objects, and the lake holds each record once
    assert_eq!(first["written"], 6, "{first}");
    assert_eq!(first["objects"], second["objects"]);
    let rows: Vec<_> = ctx
        .rt
        .block_on(lake::rows(&ctx.s3))
        .into_iter()
        .filter(|r| r.row.topic == "users_redelivered")
        .collect();
    assert_eq!(rows.len(), 6);
    let ids: BTreeSet<_> = rows.iter().map(|r| r.row.record.id).collect();
    assert_eq!(ids.len(), 6);
}

/// Every object under `users/` with its bytes.
fn lake_objects(ctx: &Ctx) -> BTreeMap<String, Vec<u8>> {
    ctx.rt.block_on(async {
        let mut objects = BTreeMap::new();
        for key in lake::keys(&ctx.s3, "users/").await {
            let body = lake::get(&ctx.s3, &key).await;
            objects.insert(key, body);
        }
        objects
    })
}

fn a_replay_from_the_beginning_leaves_the_lake_unchanged(ctx: &Ctx) {
    // given a run of users produced and delivered by the trigger, so that the lake holds them
    ctx.drain();
    ctx.schedule(1, 250);
    assert_eq!(ctx.trigger_until_idle()["records"], 250);
    let before = lake_objects(ctx);
    let good = good_messages(&ctx.topic_messages()).len();
    assert!(good >= 250 && !before.is_empty());

    // when the whole topic is replayed through the sink's code
    let output = emulator("replay", &["--from", "beginning", "--idle", "3s"]);
    assert!(
        output.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let summary = summary(&output);
    assert_eq!(summary["complete"], true, "{summary}");

    // then every good record went through the sink again and the lake's objects are the same
    assert_eq!(summary["written"].as_u64(), Some(good as u64), "{summary}");
    let after = lake_objects(ctx);
    assert_eq!(
        after.keys().collect::<Vec<_>>(),
        before.keys().collect::<Vec<_>>()
    );
    assert!(after == before, "an object's bytes changed");
    assert_lake_matches_topic(ctx);
}

fn compaction_merges_each_closed_hour_once_whatever_delivers_its_event(ctx: &Ctx) {
    // given two runs delivered in small batches, so that their hour holds many small objects,
    // and a clock three hours ahead, so that every hour so far is closed
    ctx.drain();
    ctx.schedule(2, 200);
    ctx.trigger_with(&["--batch-size", "50"]);
    let before = ctx.rt.block_on(lake::keys(&ctx.s3, "users/"));
    let hours: BTreeSet<String> = before
        .iter()
        .map(|k| k.rsplit_once('/').unwrap().0.to_string())
        .collect();
    assert!(
        before.len() > hours.len(),
        "some hour holds several objects"
    );
    let later = chrono::Utc::now() + chrono::Duration::hours(3);

    // when the compactor runs while another run holds the lease
    let lease_key = "_compactor/lease.json";
    let now = chrono::Utc::now();
    let lease = serde_json::json!({
        "holder": "another-run",
        "acquired": now,
        "expires": now + chrono::Duration::minutes(10),
    });
    ctx.rt
        .block_on(ctx.s3.put(
            lease_key,
            lease.to_string().into_bytes(),
            "application/json",
        ))
        .unwrap();
    let stood_aside = e2e::stack::compact_as_of(later);

    // then it does nothing and names the holder
    assert_eq!(stood_aside["skipped_for"], "another-run", "{stood_aside}");
    assert_eq!(ctx.rt.block_on(lake::keys(&ctx.s3, "users/")), before);

    // when the lease is free and the compactor runs
    ctx.rt.block_on(ctx.s3.delete(lease_key)).unwrap();
    let summary = e2e::stack::compact_as_of(later);

    // then each hour's rows are in a merged object, and the originals stay beside it until it
    // is COMPACTION_DELETE_DELAY_MINUTES old, so that a reader that listed them can still
    // read them: meanwhile every row is there, some twice
    assert!(summary["partitions"].as_u64().unwrap() >= 1, "{summary}");
    assert_eq!(summary["failed"], 0, "{summary}");
    assert_eq!(summary["originals_removed"], 0, "{summary}");
    assert_eq!(
        summary["originals_waiting"].as_u64(),
        Some(before.len() as u64),
        "{summary}"
    );
    let during = ctx.rt.block_on(lake::rows(&ctx.s3));
    let distinct: BTreeSet<(String, i32, i64)> = during
        .iter()
        .map(|r| (r.row.topic.clone(), r.row.partition, r.row.offset))
        .collect();
    assert!(
        during.len() > distinct.len(),
        "rows are read twice meanwhile"
    );

    // when it runs again with no delete delay (the merged objects count as old enough; the
    // stack's default delay is restored afterwards), its event delivered twice as Lambda may
    ctx.stack
        .restart_functions_with(&[("COMPACTION_DELETE_DELAY_MINUTES", "0")])
        .unwrap();
    let runs = e2e::stack::compact_as_of_with(later, &["--deliver-twice"]);
    ctx.stack.restart_functions_with(&[]).unwrap();
    let (cleanup, again) = (&runs[0], &runs[1]);

    // then the second delivery finds nothing left to do
    assert_eq!(
        (
            again["merged_written"].as_u64(),
            again["originals_removed"].as_u64()
        ),
        (Some(0), Some(0)),
        "{again}"
    );

    // and the originals are gone, the lease is given back, and the lake holds every row
    // exactly once, sorted within each object
    assert_eq!(
        cleanup["originals_removed"].as_u64(),
        Some(before.len() as u64),
        "{cleanup}"
    );
    let after = ctx.rt.block_on(lake::keys(&ctx.s3, "users/"));
    assert!(after.iter().all(|k| k.contains("/compacted-")), "{after:?}");
    assert!(
        ctx.rt
            .block_on(lake::keys(&ctx.s3, "_compactor/"))
            .is_empty(),
        "the lease is given back"
    );
    let after_hours: BTreeSet<String> = after
        .iter()
        .map(|k| k.rsplit_once('/').unwrap().0.to_string())
        .collect();
    assert_eq!(after_hours, hours);
    assert_eq!(
        after.len(),
        hours.len(),
        "one merged object per hour: {after:?}"
    );
    assert_lake_matches_topic(ctx);
    let rows = ctx.rt.block_on(lake::rows(&ctx.s3));
    for key in &after {
        let order: Vec<(i32, i64)> = rows
            .iter()
            .filter(|r| &r.key == key)
            .map(|r| (r.row.partition, r.row.offset))
            .collect();
        assert!(
            order.is_sorted(),
            "{key} is not sorted by partition, offset"
        );
    }

    // and a third run finds nothing to do
    let again = e2e::stack::compact_as_of(later);
    assert_eq!(again["partitions"], 0, "{again}");
    assert_eq!(ctx.rt.block_on(lake::keys(&ctx.s3, "users/")), after);
}

fn duckdb_counts_every_produced_user(ctx: &Ctx) {
    // given a run of users produced and everything delivered
    ctx.drain();
    ctx.schedule(1, 150);
    ctx.trigger_until_idle();
    let good = good_messages(&ctx.topic_messages()).len();

    // when DuckDB reads the lake's files as one Hive-partitioned table (the README's query)
    let (script, users) = (repo_root().join("infra/local/query.py"), users_dir(ctx));
    let printed = venv_python(&[script.as_os_str(), users.as_os_str(), ctx.topic.as_ref()]);
    let answer: serde_json::Value = serde_json::from_str(&printed).unwrap();

    // then it counts exactly the good messages of the topic, each user once
    assert_eq!(answer["rows"].as_u64(), Some(good as u64), "{answer}");
    assert_eq!(
        answer["distinct_ids"].as_u64(),
        Some(good as u64),
        "{answer}"
    );
}

/// Invokes a function through the Lambda Invoke API of `cargo lambda watch`.
async fn invoke_function(url: &str, body: String) -> String {
    let response = reqwest::Client::new()
        .post(url)
        .body(body)
        .send()
        .await
        .unwrap();
    let function_error = response.headers().get("x-amz-function-error").cloned();
    let status = response.status();
    let text = response.text().await.unwrap();
    assert!(
        status.is_success() && function_error.is_none(),
        "{status} {function_error:?}: {text}"
    );
    text
}

const SCENARIOS: [Scenario; 21] = [
    (
        "every_produced_user_lands_exactly_once",
        every_produced_user_lands_exactly_once,
    ),
    (
        "a_restarted_trigger_resumes_from_committed_offsets",
        a_restarted_trigger_resumes_from_committed_offsets,
    ),
    (
        "poison_records_go_to_errors_and_their_batch_lands",
        poison_records_go_to_errors_and_their_batch_lands,
    ),
    (
        "a_batch_delivered_twice_leaves_no_duplicate",
        a_batch_delivered_twice_leaves_no_duplicate,
    ),
    (
        "a_replay_from_the_beginning_leaves_the_lake_unchanged",
        a_replay_from_the_beginning_leaves_the_lake_unchanged,
    ),
    (
        "compaction_merges_each_closed_hour_once_whatever_delivers_its_event",
        compaction_merges_each_closed_hour_once_whatever_delivers_its_event,
    ),
    (
        "duckdb_counts_every_produced_user",
        duckdb_counts_every_produced_user,
    ),
    (
        "a_scheduled_producer_event_delivered_twice_produces_twice_and_both_land",
        invocation::a_scheduled_producer_event_delivered_twice_produces_twice_and_both_land,
    ),
    (
        "a_batch_failing_past_its_retries_goes_whole_to_the_failure_bucket_and_replay_brings_it_back",
        invocation::a_batch_failing_past_its_retries_goes_whole_to_the_failure_bucket_and_replay_brings_it_back,
    ),
    (
        "records_as_the_original_producer_sends_them_land_once_field_for_field",
        drop_in::records_as_the_original_producer_sends_them_land_once_field_for_field,
    ),
    (
        "dataset_readers_read_the_lake_through_the_s3_endpoint",
        drop_in::dataset_readers_read_the_lake_through_the_s3_endpoint,
    ),
    (
        "export_writes_every_user_once_to_the_original_files",
        drop_in::export_writes_every_user_once_to_the_original_files,
    ),
    (
        "status_shows_each_partitions_lag_and_the_lakes_hours",
        drop_in::status_shows_each_partitions_lag_and_the_lakes_hours,
    ),
    (
        "peek_shows_the_topics_newest_and_oldest_messages_and_refuses_an_unknown_topic",
        drop_in::peek_shows_the_topics_newest_and_oldest_messages_and_refuses_an_unknown_topic,
    ),
    (
        "a_users_api_of_their_own_replaces_the_stand_in",
        drop_in::a_users_api_of_their_own_replaces_the_stand_in,
    ),
    (
        "avro_from_a_confluent_client_lands_once_as_json_and_an_unknown_schema_reaches_the_failure_bucket",
        registry::avro_from_a_confluent_client_lands_once_as_json_and_an_unknown_schema_reaches_the_failure_bucket,
    ),
    (
        "avro_from_a_confluent_client_lands_once_as_its_own_bytes_read_with_the_writers_schema",
        registry::avro_from_a_confluent_client_lands_once_as_its_own_bytes_read_with_the_writers_schema,
    ),
    (
        "the_producer_writes_avro_through_the_registry_and_it_lands_once",
        registry::the_producer_writes_avro_through_the_registry_and_it_lands_once,
    ),
    (
        "a_store_outage_fails_batches_as_retryable_and_they_land_once_it_is_back",
        faults::a_store_outage_fails_batches_as_retryable_and_they_land_once_it_is_back,
    ),
    (
        "a_broker_outage_fails_the_producer_run_in_time_and_the_next_run_succeeds",
        faults::a_broker_outage_fails_the_producer_run_in_time_and_the_next_run_succeeds,
    ),
    (
        "a_sink_killed_mid_batch_is_replaced_and_its_batch_lands_once",
        faults::a_sink_killed_mid_batch_is_replaced_and_its_batch_lands_once,
    ),
];

fn main() -> ExitCode {
    // Arguments are libtest's: name filters, `--exact`, `--list` (`cargo test -p e2e --features
    // e2e --test flow -- replay`).
    e2e::scenarios::run(&SCENARIOS, || {
        // This suite is the plain-files layout's (every output format); the table's is
        // table_flow.
        let layout = [
            ("LAKE_FORMAT", "files"),
            ("OUTPUT_FORMATS", "parquet,jsonl,csv"),
        ];
        e2e::env_file::override_local_env(&layout);
        let env = local_env();
        let dir = std::env::temp_dir().join("user-lake-e2e");
        // A short delivery deadline, so that the broker-outage scenario fails its run in
        // seconds.
        let message_timeout = faults::MESSAGE_TIMEOUT_MS.to_string();
        let mut stack_env = vec![("KAFKA_MESSAGE_TIMEOUT_MS", message_timeout.as_str())];
        stack_env.extend(layout);
        let stack = Stack::up_with(&dir, &stack_env)?;
        let rt = tokio::runtime::Runtime::new()?;
        let s3 = rt.block_on(lake::client());
        let ctx = Ctx {
            lake_root: stack.lake_root.clone(),
            stack,
            rt,
            s3,
            brokers: env["KAFKA_BROKERS"].clone(),
            topic: env["KAFKA_TOPIC"].clone(),
        };
        ctx.rt.block_on(e2e::stack::warm_functions());
        Ok(ctx)
    })
}
