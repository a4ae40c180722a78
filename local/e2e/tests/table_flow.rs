//! The Iceberg table end to end, on the local stack with its default settings: the producer
//! under its schedule, the real broker, the MSK trigger, the sink committing to the table in the
//! local store through the SQLite catalog, and four readers that share none of our code
//! (pyiceberg through the catalog, pyiceberg's StaticTable, DuckDB's iceberg extension, polars;
//! `local/e2e/python/read_table.py`) reading it back.
//!
//! Like `flow`, one stack serves every scenario, run in order, each establishing its own given;
//! arguments pick scenarios by any part of their names. Prints `N passed, M failed`.

use std::{collections::BTreeMap, path::PathBuf, process::ExitCode};

use e2e::{
    env_file::{local_env, repo_root},
    stack::{Stack, emulator, json_lines, summary},
    topic::{self, TopicMessage, good_messages},
};
use serde_json::Value;

type Scenario = e2e::scenarios::Scenario<Ctx>;

struct Ctx {
    /// The suite's stack: it stops when dropped.
    stack: Stack,
    env: BTreeMap<String, String>,
    lake_root: PathBuf,
}

impl Ctx {
    fn brokers(&self) -> &str {
        &self.env["KAFKA_BROKERS"]
    }

    fn topic(&self) -> &str {
        &self.env["KAFKA_TOPIC"]
    }

    /// The MSK trigger's invocation lines and summary, run until nothing is left.
    fn trigger(&self, extra: &[&str]) -> (Vec<Value>, Value) {
        let mut args = vec!["--until-idle", "3s", "--max-retries", "5"];
        args.extend_from_slice(extra);
        let output = emulator("msk-trigger", &args);
        assert!(
            output.status.success(),
            "msk-trigger failed: {}",
            output.status
        );
        let lines = json_lines(&output.stdout);
        (lines, summary(&output))
    }

    /// Fires the producer's schedule; the users it reported as produced.
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
            "schedule failed: {}",
            output.status
        );
        json_lines(&output.stdout)
            .iter()
            .filter(|l| l["event"] == "invoked" && l["ok"] == true)
            .map(|l| l["response"]["produced"].as_u64().unwrap_or(0))
            .sum()
    }

    fn catalog_path(&self) -> PathBuf {
        self.lake_root.join("iceberg-catalog.db")
    }

    /// `read_table.py`'s answer for the current snapshot, or `snapshot`.
    fn read(&self, readers: &str, snapshot: Option<i64>, rows: Option<&PathBuf>) -> Value {
        let venv = std::env::var("USER_LAKE_VENV").expect(
            "USER_LAKE_VENV is not set: run the suite through `make test`, which installs the readers",
        );
        let mut command = std::process::Command::new(format!("{venv}/bin/python"));
        command
            .arg(repo_root().join("local/e2e/python/read_table.py"))
            .arg("--catalog-uri")
            .arg(format!("sqlite:///{}", self.catalog_path().display()))
            .args(["--catalog-name", "user_lake"])
            .arg("--table")
            .arg(format!(
                "{}.{}",
                self.env["ICEBERG_DATABASE"], self.env["ICEBERG_TABLE"]
            ))
            .args(["--s3-endpoint", &self.env["AWS_ENDPOINT_URL_S3"]])
            .args(["--access-key", &self.env["AWS_ACCESS_KEY_ID"]])
            .args(["--secret-key", &self.env["AWS_SECRET_ACCESS_KEY"]])
            .args(["--region", &self.env["AWS_REGION"]])
            .args(["--readers", readers]);
        if let Some(id) = snapshot {
            command.args(["--snapshot-id", &id.to_string()]);
        }
        if let Some(path) = rows {
            command.arg("--rows").arg(path);
        }
        let output = command.output().unwrap();
        assert!(
            output.status.success(),
            "read_table.py failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap()
    }

    /// Rows the pyiceberg reader finds in the current snapshot.
    fn count(&self) -> u64 {
        self.read("pyiceberg", None, None)["readers"]["pyiceberg"]["rows"]
            .as_u64()
            .unwrap()
    }

    fn topic_messages(&self) -> Vec<TopicMessage> {
        topic::read_all(self.brokers(), self.topic())
    }
}

fn millis(instant: chrono::DateTime<chrono::Utc>) -> String {
    instant.to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Sums a numeric field of the sink's answers in the trigger's invocation lines.
fn answered(lines: &[Value], field: &str) -> u64 {
    lines
        .iter()
        .filter(|l| l["event"] == "delivered")
        .map(|l| l["response"][field].as_u64().unwrap_or(0))
        .sum()
}

/// Every produced user is in the table once, field for field, and the four readers agree.
fn every_produced_user_is_in_the_table_once_for_every_reader(ctx: &Ctx) {
    // given users produced by the producer's schedule and delivered by the trigger
    ctx.trigger(&[]);
    let produced = ctx.schedule(2, 100);
    assert_eq!(produced, 200);
    ctx.trigger(&[]);

    // when the table is read by every reader
    let rows_file = ctx.stack_dir().join("table-rows.jsonl");
    let read = ctx.read("pyiceberg,static,duckdb,polars", None, Some(&rows_file));

    // then they agree, and hold each good message of the topic once, as it was produced
    assert_eq!(read["agree"], true, "{read}");
    let expected = good_messages(&ctx.topic_messages());
    for (name, reader) in read["readers"].as_object().unwrap() {
        assert_eq!(reader["rows"], expected.len() as u64, "{name}: {read}");
        assert_eq!(
            reader["distinct_ids"],
            expected.len() as u64,
            "{name}: {read}"
        );
    }
    let text = std::fs::read_to_string(&rows_file).unwrap();
    let rows: Vec<Value> = text
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(rows.len(), expected.len());
    for row in rows {
        let key = (
            row["kafka_partition"].as_i64().unwrap() as i32,
            row["kafka_offset"].as_i64().unwrap(),
        );
        let (record, timestamp_ms) = &expected[&key];
        let text_fields = [
            ("id", record.id.to_string()),
            ("first_name", record.first_name.to_string()),
            ("last_name", record.last_name.to_string()),
            ("gender", record.gender.to_string()),
            ("address", record.address.to_string()),
            ("post_code", record.post_code.to_string()),
            ("email", record.email.to_string()),
            ("username", record.username.to_string()),
            ("phone", record.phone.to_string()),
            ("picture", record.picture.to_string()),
            ("dob", millis(record.dob)),
            ("registered_date", millis(record.registered_date)),
            (
                "kafka_timestamp",
                millis(chrono::DateTime::from_timestamp_millis(*timestamp_ms).unwrap()),
            ),
        ];
        for (field, want) in text_fields {
            assert_eq!(
                row[field].as_str(),
                Some(want.as_str()),
                "{field} of {key:?}"
            );
        }
        assert_eq!(row["kafka_topic"], ctx.topic());
    }
}

/// A new consumer group reading the topic from its start (a reset, a redelivery) adds nothing.
fn a_redelivery_of_the_whole_topic_adds_nothing(ctx: &Ctx) {
    // given a table holding the whole topic
    ctx.trigger(&[]);
    ctx.schedule(1, 50);
    ctx.trigger(&[]);
    let before = ctx.read("pyiceberg,duckdb", None, None);
    let good = good_messages(&ctx.topic_messages()).len() as u64;

    // when every record is delivered again
    let group = format!("e2e-redelivery-{}", std::process::id());
    let (lines, _) = ctx.trigger(&["--group", &group, "--starting-position", "TRIM_HORIZON"]);

    // then the sink reported each as a duplicate, and the table is as it was
    assert_eq!(answered(&lines, "written"), 0);
    assert_eq!(answered(&lines, "duplicates"), good);
    let after = ctx.read("pyiceberg,duckdb", None, None);
    assert_eq!(after["readers"], before["readers"]);
}

/// The previous snapshot still reads the previous rows.
fn the_previous_snapshot_reads_the_previous_count(ctx: &Ctx) {
    // given a table, and then one more batch of users
    ctx.trigger(&[]);
    let before = ctx.read("pyiceberg", None, None);
    let earlier = before["snapshot_id"]
        .as_i64()
        .expect("the table has a snapshot");
    let rows_before = before["readers"]["pyiceberg"]["rows"].as_u64().unwrap();
    ctx.schedule(1, 30);
    ctx.trigger(&[]);
    assert_eq!(ctx.count(), rows_before + 30);

    // when every reader reads the earlier snapshot
    let then = ctx.read("pyiceberg,static,duckdb,polars", Some(earlier), None);

    // then each finds the earlier count
    assert_eq!(then["agree"], true, "{then}");
    for (name, reader) in then["readers"].as_object().unwrap() {
        assert_eq!(reader["rows"], rows_before, "{name}: {then}");
    }
}

/// A replay of the topic from its beginning over a table that holds it adds nothing.
fn a_replay_from_the_beginning_adds_nothing(ctx: &Ctx) {
    ctx.trigger(&[]);
    let before = ctx.read("pyiceberg", None, None);

    let output = std::process::Command::new(bin_dir().join("replay"))
        .args(["--from", "beginning"])
        .envs(&ctx.env)
        .env(
            "ICEBERG_CATALOG",
            format!("sqlite:{}", ctx.catalog_path().display()),
        )
        .output()
        .unwrap();

    assert!(
        output.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let replayed: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(replayed["written"], 0, "{replayed}");
    let after = ctx.read("pyiceberg", None, None);
    assert_eq!(after["readers"], before["readers"]);
    assert_eq!(
        after["snapshot_id"], before["snapshot_id"],
        "no new snapshot"
    );
}

/// A topic deleted and created again starts its offsets at 0: no earlier row is lost, the new
/// users land beside them, and the sink says so.
fn a_recreated_topic_loses_no_row_and_is_reported(ctx: &Ctx) {
    // given a table holding users
    ctx.trigger(&[]);
    ctx.schedule(1, 20);
    ctx.trigger(&[]);
    let before = ctx.count();
    assert!(before >= 20);
    // each partition's highest offset so far: the marks the table holds
    let mut marks: BTreeMap<i32, i64> = BTreeMap::new();
    for message in ctx.topic_messages() {
        let mark = marks.entry(message.partition).or_insert(message.offset);
        *mark = (*mark).max(message.offset);
    }

    // when the topic is deleted and created again, and new users are produced and delivered
    let tansu = e2e::tools::pinned("tansu").expect("the broker's command");
    let broker = format!("tcp://{}", ctx.brokers());
    let run = |args: &[&str]| {
        let status = std::process::Command::new(&tansu)
            .args(args)
            .args(["--broker", &broker])
            .env("RUST_LOG", "warn")
            .status()
            .unwrap();
        assert!(status.success(), "tansu {args:?}: {status}");
    };
    run(&["topic", "delete", ctx.topic()]);
    run(&[
        "topic",
        "create",
        ctx.topic(),
        "--partitions",
        &ctx.env["KAFKA_PARTITIONS"],
    ]);
    // A warm producer's idempotent session does not survive its topic (the new topic refuses
    // its sequence numbers): new producer instances, as after a new cluster or a restore.
    ctx.stack.restart_functions_with(&[]).unwrap();
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(e2e::stack::warm_functions());
    let produced = ctx.schedule(1, 40);
    let group = format!("e2e-recreated-{}", std::process::id());
    let (lines, _) = ctx.trigger(&["--group", &group, "--starting-position", "TRIM_HORIZON"]);

    // then every new user is in, beside every earlier one, each once, and those whose offsets
    // were already taken by the earlier topic are reported as rewound
    let taken = good_messages(&ctx.topic_messages())
        .keys()
        .filter(|(partition, offset)| marks.get(partition).is_some_and(|mark| offset <= mark))
        .count() as u64;
    assert!(
        taken > 0,
        "the new topic's offsets overlap the earlier ones"
    );
    assert_eq!(answered(&lines, "written"), produced);
    assert_eq!(
        answered(&lines, "rewound"),
        taken,
        "the sink reports the rewound offsets"
    );
    let read = ctx.read("pyiceberg,duckdb,polars", None, None);
    assert_eq!(read["agree"], true, "{read}");
    let rows = read["readers"]["pyiceberg"]["rows"].as_u64().unwrap();
    assert_eq!(rows, before + produced);
    assert_eq!(read["readers"]["pyiceberg"]["distinct_ids"], rows);
}

impl Ctx {
    fn stack_dir(&self) -> PathBuf {
        self.lake_root.parent().unwrap().to_path_buf()
    }
}

fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().unwrap().parent().unwrap().to_path_buf()
}

const SCENARIOS: [Scenario; 5] = [
    (
        "every_produced_user_is_in_the_table_once_for_every_reader",
        every_produced_user_is_in_the_table_once_for_every_reader,
    ),
    (
        "a_redelivery_of_the_whole_topic_adds_nothing",
        a_redelivery_of_the_whole_topic_adds_nothing,
    ),
    (
        "the_previous_snapshot_reads_the_previous_count",
        the_previous_snapshot_reads_the_previous_count,
    ),
    (
        "a_replay_from_the_beginning_adds_nothing",
        a_replay_from_the_beginning_adds_nothing,
    ),
    (
        "a_recreated_topic_loses_no_row_and_is_reported",
        a_recreated_topic_loses_no_row_and_is_reported,
    ),
];

fn main() -> ExitCode {
    let chosen = e2e::scenarios::chosen(&SCENARIOS);
    if chosen.is_empty() {
        println!("0 passed, 0 failed (no scenario matches the arguments)");
        return ExitCode::SUCCESS;
    }
    let dir = std::env::temp_dir().join("user-lake-e2e-table");
    let stack = match Stack::up(&dir) {
        Ok(stack) => stack,
        Err(error) => {
            eprintln!("e2e: cannot start the local stack: {error:#}");
            println!("0 passed, 1 failed");
            return ExitCode::FAILURE;
        }
    };
    tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(e2e::stack::warm_functions());
    let mut env = local_env();
    // The stack puts the catalog beside its lake; the commands run here must find it there.
    env.insert(
        "ICEBERG_CATALOG".into(),
        format!(
            "sqlite:{}",
            stack.lake_root.join("iceberg-catalog.db").display()
        ),
    );
    let ctx = Ctx {
        lake_root: stack.lake_root.clone(),
        stack,
        env,
    };
    e2e::scenarios::run(&chosen, &ctx)
}
