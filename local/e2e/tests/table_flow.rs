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
    registry,
    stack::{Stack, emulator, json_lines, summary},
    table_readers::read_table,
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
        e2e::table_readers::catalog_path(&self.lake_root)
    }

    /// `read_table.py`'s answer for the current snapshot, or `snapshot`.
    fn read(&self, readers: &str, snapshot: Option<i64>, rows: Option<&PathBuf>) -> Value {
        read_table(&self.env, &self.catalog_path(), readers, snapshot, rows)
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

const ALL_READERS: &str = "pyiceberg,static,duckdb,polars";

/// What a reader's answer says of the rows, without the snapshot it read.
fn rows_of(read: &Value) -> BTreeMap<String, (Value, Value, Value)> {
    read["readers"]
        .as_object()
        .unwrap()
        .iter()
        .map(|(name, r)| {
            (
                name.clone(),
                (
                    r["rows"].clone(),
                    r["distinct_ids"].clone(),
                    r["digest"].clone(),
                ),
            )
        })
        .collect()
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

/// A later build of the writer with one more column adds it to the table's schema; the sink
/// built before it keeps committing; every reader reads the column, null where rows predate
/// it or come from the earlier build.
fn a_column_added_by_a_later_writer_is_read_by_every_reader(ctx: &Ctx) {
    // given the table as the sink left it
    ctx.trigger(&[]);
    let before = ctx.count();

    // when a later writer, whose rows carry `nationality`, appends five users of its own topic
    let later = write_with_nationality(ctx, 5);
    // and the sink, built without the column, delivers more users
    let produced = ctx.schedule(1, 20);
    ctx.trigger(&[]);

    // then every reader agrees, every row is there once, and the column reads as written
    let rows_file = ctx.stack_dir().join("table-rows-evolved.jsonl");
    let read = ctx.read(ALL_READERS, None, Some(&rows_file));
    assert_eq!(read["agree"], true, "{read}");
    let total = before + later + produced;
    assert_eq!(read["readers"]["pyiceberg"]["rows"], total, "{read}");
    assert_eq!(
        read["readers"]["pyiceberg"]["distinct_ids"], total,
        "{read}"
    );
    let rows: Vec<Value> = std::fs::read_to_string(&rows_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let with_value: Vec<&Value> = rows
        .iter()
        .filter(|r| !r["nationality"].is_null())
        .collect();
    assert_eq!(with_value.len() as u64, later);
    assert!(
        with_value
            .iter()
            .all(|r| r["nationality"] == "NL" && r["kafka_topic"] == LATER_TOPIC),
        "{with_value:?}"
    );
    assert!(
        rows.iter().all(|r| r.get("nationality").is_some()),
        "every row has the column"
    );
}

/// Users written through the registry with two versions of the users' schema, the second
/// adding the optional `nationality`: in either record format the field becomes a column of
/// the table, which every reader reads as it was sent (null for the first version's users).
fn a_field_a_second_schema_version_adds_is_a_column_every_reader_reads(ctx: &Ctx) {
    for format in ["JSON", "SOURCE"] {
        // given a topic of its own with users of both versions, written by confluent-kafka
        let name = format!("evolve_{}", format.to_lowercase());
        let (topic, group) = registry::fresh_topic(ctx.brokers(), &name);
        let (mut sent, _) = registry::produce_with_confluent_kafka(ctx.brokers(), &topic, 30, &[]);
        let (second, _) =
            registry::produce_with_confluent_kafka(ctx.brokers(), &topic, 20, &["--v2"]);
        sent.extend(second);
        // and the sink told where the writer schemas are and how records reach it
        let url = registry::registry_url();
        let _sink = ctx.stack.functions_with(&[
            ("SCHEMA_REGISTRY_URI", &url),
            ("SCHEMA_RECORD_FORMAT", format),
        ]);

        // when the trigger validates them and hands them over in that format
        let (run, _) = registry::trigger_through_registry(&topic, &group, format);

        // then every reader agrees, and each user's nationality is in the table as sent
        assert_eq!(
            (run["records"].as_u64(), run["rejected"].as_u64()),
            (Some(50), Some(0)),
            "{format}: {run}"
        );
        let rows_file = ctx.stack_dir().join(format!("table-rows-{name}.jsonl"));
        let read = ctx.read(ALL_READERS, None, Some(&rows_file));
        assert_eq!(read["agree"], true, "{format}: {read}");
        let in_table: BTreeMap<String, Value> = std::fs::read_to_string(&rows_file)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str::<Value>(l).unwrap())
            .filter(|row| row["kafka_topic"] == topic.as_str())
            .map(|row| {
                (
                    row["id"].as_str().unwrap().to_string(),
                    row["nationality"].clone(),
                )
            })
            .collect();
        let expected: BTreeMap<String, Value> = (sent.iter())
            .map(|(user, json)| {
                let nationality = json.get("nationality").cloned().unwrap_or(Value::Null);
                (user.id.to_string(), nationality)
            })
            .collect();
        assert_eq!(
            expected.values().filter(|v| v.is_string()).count(),
            20,
            "{format}: the second version's users were sent with a nationality"
        );
        assert_eq!(in_table, expected, "{format}");
    }
}

/// The topic a later writer's rows claim, apart from the sink's, so that its offset marks are
/// its own.
const LATER_TOPIC: &str = "users_created_later_build";

/// Appends `count` users carrying the column `nationality` (`NL`) through the table library,
/// as a later build of the writer with that column would; how many it wrote.
fn write_with_nationality(ctx: &Ctx, count: i64) -> u64 {
    use std::sync::Arc;

    use arrow::{array::StringArray, datatypes::Field};
    use table::{Slice, Table, spec::SchemaField};

    let now = chrono::Utc::now();
    let mut rows = lake::RowsBuilder::default();
    for offset in 0..count {
        let json = format!(
            r#"{{"id":"{}","first_name":"Later","last_name":"Build","gender":"female",
            "address":"1 Main St","post_code":"1012","email":"later{offset}@example.com",
            "username":"later{offset}","dob":"1990-01-02T03:04:05Z",
            "registered_date":"2020-01-02T03:04:05Z","phone":"0612345678",
            "picture":"https://randomuser.me/api/portraits/women/1.jpg"}}"#,
            uuid_for(offset)
        );
        rows.push_row(&lake::LakeRow {
            record: user_record::UserRecord::from_json_owned(json.as_bytes()).unwrap(),
            topic: LATER_TOPIC.into(),
            partition: 0,
            offset,
            timestamp: now,
        });
    }
    let batch = rows.finish().unwrap();
    let (schema, mut columns, _) = batch.clone().into_parts();
    let mut fields = schema.fields().to_vec();
    fields.push(Arc::new(Field::new(
        "nationality",
        arrow::datatypes::DataType::Utf8,
        false,
    )));
    columns.push(Arc::new(StringArray::from(vec!["NL"; count as usize])));
    let batch = arrow::array::RecordBatch::try_new(
        Arc::new(arrow::datatypes::Schema::new(fields)),
        columns,
    )
    .unwrap();
    let mut later_columns = table::spec::lake_table_schema();
    later_columns.fields.push(SchemaField {
        id: 0,
        name: "nationality".into(),
        required: false,
        field_type: "string".into(),
        doc: None,
    });

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let settings = e2e::lake::config();
        let catalog = table::catalog::sqlite::SqliteCatalog::open(
            &ctx.catalog_path(),
            table::config::SQL_CATALOG_NAME,
            &ctx.env["ICEBERG_DATABASE"],
            &ctx.env["ICEBERG_TABLE"],
        )
        .unwrap();
        let location = table::TableLocation::new(
            &settings.bucket,
            settings.layout.prefix(),
            &ctx.env["ICEBERG_TABLE"],
        );
        let writer =
            Table::new(e2e::lake::client().await, catalog, location).with_columns(later_columns);
        let slice = Slice {
            topic: LATER_TOPIC.into(),
            partition: 0,
            hour: table::files::hour_of(now),
            batch,
        };
        let properties = lake::writer::writer_properties(settings.compression, "e2e later build");
        let report = writer.append(&[slice], &properties, now).await.unwrap();
        report.written as u64
    })
}

/// A fixed uuid4 per offset, apart from any the producer makes.
fn uuid_for(offset: i64) -> String {
    format!("00000000-0000-4000-8000-{:012}", 900_000_000 + offset)
}

/// Merging small files is one atomic rewrite: a count taken again and again while the
/// compactor runs never differs from the count before, and after it every reader reads
/// exactly the rows it read before (the same digest of every field).
fn a_compaction_changes_no_readers_answer_before_during_or_after(ctx: &Ctx) {
    // given a table of many small files
    ctx.trigger(&[]);
    ctx.schedule(1, 60);
    ctx.trigger(&["--batch-size", "10"]);
    let before = ctx.read(ALL_READERS, None, None);
    assert_eq!(before["agree"], true, "{before}");
    let count = before["readers"]["pyiceberg"]["rows"].clone();

    // when the compactor runs as of three hours later (every hour so far closed) while a
    // reader counts again and again
    let done = std::sync::atomic::AtomicBool::new(false);
    let (answer, counts) = std::thread::scope(|scope| {
        let (env, catalog, done) = (&ctx.env, ctx.catalog_path(), &done);
        let counter = scope.spawn(move || {
            let mut counts = Vec::new();
            loop {
                let finished = done.load(std::sync::atomic::Ordering::SeqCst);
                let read = read_table(env, &catalog, "duckdb", None, None);
                counts.push(read["readers"]["duckdb"]["rows"].clone());
                if finished {
                    return counts;
                }
            }
        });
        let answer = e2e::stack::compact_as_of(chrono::Utc::now() + chrono::Duration::hours(3));
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        (answer, counter.join().unwrap())
    });

    // then it merged files, every count was the count before, and every reader reads the
    // same rows after it
    assert!(answer["files_merged"].as_u64().unwrap_or(0) > 1, "{answer}");
    assert!(counts.iter().all(|c| *c == count), "{counts:?} != {count}");
    let after = ctx.read(ALL_READERS, None, None);
    assert_ne!(
        after["snapshot_id"], before["snapshot_id"],
        "a new snapshot"
    );
    assert_eq!(rows_of(&after), rows_of(&before));
}

/// Runs `status` with the suite's settings to its end.
/// A command's failure: the JSON object that is the last line of its stderr (log lines the
/// command printed before it, such as the Kafka client's, are text for people).
fn failure(output: &std::process::Output) -> Value {
    let stderr = String::from_utf8_lossy(&output.stderr);
    let last = stderr.lines().rev().find(|line| !line.trim().is_empty());
    last.and_then(|line| serde_json::from_str(line).ok())
        .unwrap_or_else(|| panic!("the last line of stderr is not a JSON failure:\n{stderr}"))
}

fn status(ctx: &Ctx, args: &[&str]) -> std::process::Output {
    std::process::Command::new(bin_dir().join("status"))
        .args(args)
        .envs(&ctx.env)
        .env("RUST_LOG", "error")
        .output()
        .unwrap()
}

/// `status` answers for the topic and its table, and fails on a topic the cluster lacks
/// without creating it.
fn status_answers_for_the_topic_and_refuses_one_the_cluster_lacks(ctx: &Ctx) {
    // given the topic's users in the table
    ctx.trigger(&[]);
    ctx.schedule(1, 20);
    ctx.trigger(&[]);

    // when status looks at the topic
    let output = status(ctx, &[]);

    // then it succeeds, nothing lags, and the table's records are what a reader counts
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["kafka"]["reachable"], true, "{json}");
    assert_eq!(json["kafka"]["lag"], 0, "{json}");
    assert_eq!(json["table"]["topic"], ctx.topic(), "{json}");
    assert_eq!(
        json["table"]["records"].as_u64(),
        Some(ctx.count()),
        "{json}"
    );

    // when it is asked about a topic the cluster does not have
    let output = status(ctx, &["--topic", "users_craeted"]);

    // then it fails as fatal (exit 1), with a JSON error on stderr, prints nothing on stdout,
    // and the cluster still has no such topic
    assert_eq!(output.status.code(), Some(1), "{output:?}");
    assert!(output.stdout.is_empty(), "{output:?}");
    let error = failure(&output);
    assert_eq!(error["errorType"], "UnknownTopic.Fatal", "{error}");
    assert!(
        error["error"].as_str().unwrap().contains("users_craeted"),
        "{error}"
    );
    // (asked again, it is still unknown: the first look created nothing)
    let again = status(ctx, &["--topic", "users_craeted"]);
    assert_eq!(again.status.code(), Some(1), "{again:?}");
}

/// With the broker down, `status` still shows the table, says why Kafka is missing, and exits
/// 75 (try again later).
fn status_shows_the_table_alone_while_the_broker_is_down(ctx: &Ctx) {
    // given the table with users in it, and the broker stopped
    ctx.trigger(&[]);
    ctx.schedule(1, 20);
    ctx.trigger(&[]);
    let records = ctx.count();
    ctx.stack.stop("kafka").unwrap();

    // when
    let output = status(ctx, &["--kafka-timeout", "3s"]);
    ctx.stack.start_stopped().unwrap();

    // then
    assert_eq!(output.status.code(), Some(75), "{output:?}");
    let json: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(json["kafka"]["reachable"], false, "{json}");
    assert_eq!(
        json["kafka"]["errorType"], "KafkaFailed.Retryable",
        "{json}"
    );
    assert!(json["kafka"].get("lag").is_none(), "{json}");
    assert_eq!(json["table"]["records"].as_u64(), Some(records), "{json}");
    let error = failure(&output);
    assert_eq!(error["errorType"], "KafkaFailed.Retryable", "{error}");
}

/// `status --serve` running with its JSON endpoint; stopped when dropped.
struct Dashboard {
    child: std::process::Child,
    url: String,
}

impl Dashboard {
    fn start(ctx: &Ctx) -> Self {
        use std::io::BufRead;
        let log = ctx.stack.log("functions");
        let mut child = std::process::Command::new(bin_dir().join("status"))
            .args(["--serve", "127.0.0.1:0", "--watch", "1s", "--functions-log"])
            .arg(&log)
            .envs(&ctx.env)
            .env("RUST_LOG", "error")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufReader::new(child.stdout.take().unwrap())
            .read_line(&mut line)
            .unwrap();
        let serving: Value = serde_json::from_str(&line).expect("status --serve says where");
        Dashboard {
            child,
            url: serving["serving"].as_str().unwrap().to_string(),
        }
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The dashboard, watched in headless chromium while users flow, shows figures that move and
/// that equal its JSON endpoint's at every look; a screenshot is kept under target/e2e/.
fn the_dashboard_shows_the_flow_live_with_the_numbers_of_its_json(ctx: &Ctx) {
    let chromium =
        std::env::var("USER_LAKE_CHROMIUM").unwrap_or_else(|_| "/usr/bin/chromium".into());
    if !std::path::Path::new(&chromium).exists() {
        let message = format!("{chromium} is not installed; infra/local/chromium.sh installs it");
        assert!(
            !e2e::tools::is_ci(),
            "{message}, and under CI=true it must be"
        );
        eprintln!("SKIPPED: {message}");
        return;
    }
    // given the dashboard served, and users flowing: the producer's schedule and the trigger
    // running in the background
    ctx.trigger(&[]);
    let dashboard = Dashboard::start(ctx);
    let trigger = e2e::stack::Background::start("msk-trigger", &["--max-retries", "5"]);
    let schedule = e2e::stack::Background::start(
        "schedule",
        &["--times", "20", "--every", "2s", "--count", "40"],
    );

    // when a browser watches the page for 30 s
    let shot_dir = repo_root().join("target/e2e");
    std::fs::create_dir_all(&shot_dir).unwrap();
    let screenshot = shot_dir.join("dashboard.png");
    let venv = std::env::var("USER_LAKE_VENV").expect("USER_LAKE_VENV: run through `make test`");
    let output = std::process::Command::new(format!("{venv}/bin/python"))
        .arg(repo_root().join("local/e2e/python/dashboard_check.py"))
        .args([
            "--url",
            &dashboard.url,
            "--seconds",
            "30",
            "--chromium",
            &chromium,
        ])
        .arg("--screenshot")
        .arg(&screenshot)
        .output()
        .unwrap();
    schedule.wait();
    trigger.stop();
    drop(dashboard);

    // then every look the page and the JSON shared showed the same figures, they moved, the
    // rates were drawn, the invocations listed, and the screenshot was taken
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let check: Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(check["mismatches"], serde_json::json!([]), "{check}");
    assert!(check["matched"].as_u64().unwrap() >= 5, "{check}");
    let figure = |at: &str, name: &str| check[at][name].as_str().unwrap().parse::<u64>().unwrap();
    assert!(
        figure("last", "end_total") > figure("first", "end_total"),
        "{check}"
    );
    assert!(
        figure("last", "records") > figure("first", "records"),
        "{check}"
    );
    assert!(
        check["rates"]["produced"].as_f64().unwrap() > 0.0,
        "{check}"
    );
    assert!(check["rates"]["written"].as_f64().unwrap() > 0.0, "{check}");
    assert!(check["invocation_rows"].as_u64().unwrap() > 0, "{check}");
    assert!(std::fs::metadata(&screenshot).unwrap().len() > 10_000);
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

const SCENARIOS: [Scenario; 11] = [
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
        "status_answers_for_the_topic_and_refuses_one_the_cluster_lacks",
        status_answers_for_the_topic_and_refuses_one_the_cluster_lacks,
    ),
    (
        "the_dashboard_shows_the_flow_live_with_the_numbers_of_its_json",
        the_dashboard_shows_the_flow_live_with_the_numbers_of_its_json,
    ),
    (
        "a_replay_from_the_beginning_adds_nothing",
        a_replay_from_the_beginning_adds_nothing,
    ),
    (
        "a_recreated_topic_loses_no_row_and_is_reported",
        a_recreated_topic_loses_no_row_and_is_reported,
    ),
    // After the others: its rows are not on the topic the others compare the table with.
    (
        "a_column_added_by_a_later_writer_is_read_by_every_reader",
        a_column_added_by_a_later_writer_is_read_by_every_reader,
    ),
    (
        "a_field_a_second_schema_version_adds_is_a_column_every_reader_reads",
        a_field_a_second_schema_version_adds_is_a_column_every_reader_reads,
    ),
    (
        "a_compaction_changes_no_readers_answer_before_during_or_after",
        a_compaction_changes_no_readers_answer_before_during_or_after,
    ),
    // Last: it stops the broker.
    (
        "status_shows_the_table_alone_while_the_broker_is_down",
        status_shows_the_table_alone_while_the_broker_is_down,
    ),
];

fn main() -> ExitCode {
    e2e::scenarios::run(&SCENARIOS, || {
        let dir = std::env::temp_dir().join("user-lake-e2e-table");
        let stack = Stack::up(&dir)?;
        tokio::runtime::Runtime::new()?.block_on(e2e::stack::warm_functions());
        let mut env = local_env();
        // The stack puts the catalog beside its lake; the commands run here must find it
        // there.
        env.insert(
            "ICEBERG_CATALOG".into(),
            format!(
                "sqlite:{}",
                stack.lake_root.join("iceberg-catalog.db").display()
            ),
        );
        Ok(Ctx {
            lake_root: stack.lake_root.clone(),
            stack,
            env,
        })
    })
}
