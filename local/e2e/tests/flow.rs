//! The whole flow, end to end, on the local stack: the users API stand-in, the producer and
//! the sink under `cargo lambda watch`, a real Kafka-protocol broker (tansu), a real
//! S3-protocol store (s3s-fs) and the two emulators. One stack serves every scenario (it
//! takes a while to start), so this is a plain program that runs them in order and prints
//! `N passed, M failed`.

use std::{
    collections::{BTreeMap, BTreeSet},
    panic::{AssertUnwindSafe, catch_unwind},
    process::ExitCode,
};

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use e2e::{
    env_file::{local_env, repo_root},
    lake,
    stack::{Stack, emulator, summary},
    topic::{self, TopicMessage},
};
use user_record::UserRecord;

/// A named step of the suite.
type Scenario = (&'static str, fn(&Ctx));

struct Ctx {
    rt: tokio::runtime::Runtime,
    lake_root: std::path::PathBuf,
    s3: aws_sdk_s3::Client,
    brokers: String,
    topic: String,
    partitions: i32,
}

impl Ctx {
    fn topic_messages(&self) -> Vec<TopicMessage> {
        topic::read_all(&self.brokers, &self.topic, self.partitions)
    }

    fn trigger_until_idle(&self) -> serde_json::Value {
        let output = emulator("msk-trigger", &["--until-idle", "3s", "--max-retries", "5"]);
        assert!(
            output.status.success(),
            "msk-trigger failed: {}",
            output.status
        );
        summary(&output)
    }

    fn schedule(&self, times: u32, count: u32) {
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
    }
}

/// Topic messages that satisfy the contract, by (partition, offset).
fn good_messages(messages: &[TopicMessage]) -> BTreeMap<(i32, i64), (UserRecord, i64)> {
    messages
        .iter()
        .filter_map(|m| {
            let record = UserRecord::from_json(m.value.as_deref()?).ok()?;
            Some(((m.partition, m.offset), (record, m.timestamp_ms)))
        })
        .collect()
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
        // key: users/dt=YYYY-MM-DD/hour=HH/<topic>-<partition>-<first>-<last>.parquet
        let when = chrono::DateTime::from_timestamp_millis(*ts).unwrap();
        let prefix = format!(
            "users/{}/{}-{}-",
            when.format("dt=%Y-%m-%d/hour=%H"),
            ctx.topic,
            row.partition
        );
        assert!(key.starts_with(&prefix), "{key} should start with {prefix}");
        let range = key[prefix.len()..].trim_end_matches(".parquet");
        let (first, last) = range.split_once('-').unwrap();
        let (first, last): (i64, i64) = (first.parse().unwrap(), last.parse().unwrap());
        assert!(
            (first..=last).contains(&row.offset),
            "{key} holds offset {}",
            row.offset
        );
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
    // given three scheduled runs of 300 users
    ctx.schedule(3, 300);

    // when the MSK trigger delivers everything
    let summary = ctx.trigger_until_idle();

    // then
    assert_eq!(summary["records"], 900, "{summary}");
    assert_eq!(summary["written"], 900, "{summary}");
    let messages = ctx.topic_messages();
    assert_eq!(messages.len(), 900);
    let partitions: BTreeSet<i32> = messages.iter().map(|m| m.partition).collect();
    assert_eq!(
        partitions.len(),
        3,
        "keyed records spread over the 3 partitions"
    );
    assert_lake_matches_topic(ctx);
    assert_pyarrow_reads(ctx, 900);
}

/// An independent reader, pyarrow, sees the lake's files on disk as a Hive-partitioned dataset
/// with the expected rows, distinct ids and column types.
fn assert_pyarrow_reads(ctx: &Ctx, rows: usize) {
    let Ok(venv) = std::env::var("USER_LAKE_VENV") else {
        panic!(
            "USER_LAKE_VENV is not set: run the suite through `make test`, which installs pyarrow"
        );
    };
    let users = ctx
        .lake_root
        .join(&local_env()["LAKE_BUCKET"])
        .join("users");
    let script = "import sys, pyarrow.dataset as ds, pyarrow.compute as pc\n\
        t = ds.dataset(sys.argv[1], format='parquet', partitioning='hive').to_table()\n\
        print(t.num_rows, len(pc.unique(t['id'])), t.schema.field('dob').type, t.schema.field('hour').type)";
    let output = std::process::Command::new(format!("{venv}/bin/python"))
        .args(["-c", script])
        .arg(&users)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let seen = String::from_utf8(output.stdout).unwrap();
    assert_eq!(
        seen.trim(),
        format!("{rows} {rows} timestamp[ms, tz=UTC] int32")
    );
}

fn a_restarted_trigger_resumes_from_committed_offsets(ctx: &Ctx) {
    // given everything so far was delivered and committed, and 120 more users are produced
    let before = ctx.rt.block_on(lake::rows(&ctx.s3)).len();
    ctx.schedule(1, 120);

    // when a new trigger process starts
    let summary = ctx.trigger_until_idle();

    // then it delivers only the new records
    assert_eq!(summary["records"], 120, "{summary}");
    assert_eq!(ctx.rt.block_on(lake::rows(&ctx.s3)).len(), before + 120);
    assert_lake_matches_topic(ctx);
}

fn poison_records_go_to_errors_and_their_batch_lands(ctx: &Ctx) {
    // given poison written straight to partition 1 between two good records
    let good = |n: u32| {
        let path = repo_root().join("events/sink/msk-users.json");
        let event: serde_json::Value =
            serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
        let value = event["records"]["users_created-0"][n as usize]["value"]
            .as_str()
            .unwrap()
            .to_string();
        let mut record = UserRecord::from_json(&BASE64.decode(value).unwrap()).unwrap();
        record.id = format!("00000000-0000-4000-8000-00000000000{n}")
            .parse()
            .unwrap();
        record.to_json()
    };
    let (first, last) = (good(0), good(1));
    let mut missing_field: serde_json::Value = serde_json::from_slice(&good(2)).unwrap();
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
    let errors = ctx.rt.block_on(lake::errors(&ctx.s3));
    let reasons: BTreeMap<i64, String> = errors
        .iter()
        .filter(|(_, e)| e["partition"] == 1)
        .map(|(_, e)| {
            (
                e["offset"].as_i64().unwrap(),
                e["reason"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let offset = |i: i64| before_end + i;
    assert_eq!(reasons.len(), 4, "{reasons:?}");
    assert_eq!(reasons[&offset(1)], "record has no value");
    assert!(
        reasons[&offset(2)].starts_with("value is not a valid user record: expected value"),
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
        .find(|(_, e)| e["offset"] == offset(2))
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

fn main() -> ExitCode {
    let env = local_env();
    let dir = std::env::temp_dir().join("user-lake-e2e");
    let stack = match Stack::up(&dir) {
        Ok(stack) => stack,
        Err(error) => {
            eprintln!("e2e: cannot start the local stack: {error:#}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let s3 = rt.block_on(lake::client());
    let ctx = Ctx {
        lake_root: stack.lake_root.clone(),
        rt,
        s3,
        brokers: env["KAFKA_BROKERS"].clone(),
        topic: env["KAFKA_TOPIC"].clone(),
        partitions: env["KAFKA_PARTITIONS"].parse().unwrap(),
    };
    let scenarios: [Scenario; 4] = [
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
    ];
    let (mut passed, mut failed) = (0, 0);
    for (name, scenario) in scenarios {
        eprintln!("e2e: {name} ...");
        match catch_unwind(AssertUnwindSafe(|| scenario(&ctx))) {
            Ok(()) => {
                passed += 1;
                println!("test {name} ... ok");
            }
            Err(_) => {
                failed += 1;
                println!("test {name} ... FAILED");
            }
        }
    }
    drop(ctx);
    drop(stack);
    println!("{passed} passed, {failed} failed");
    if failed == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
