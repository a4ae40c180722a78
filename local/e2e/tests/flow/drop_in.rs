//! The original Python pipeline's users, on this one: its producer's records land, their
//! readers (pyarrow datasets, polars) read the lake through the S3 endpoint, the files they
//! knew are exported from the lake, the pipeline can be watched with `status`, and their own
//! users API replaces the stand-in.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
};

use e2e::{
    env_file::{local_env, repo_root},
    lake,
    stack::{emulator, summary},
};
use serde_json::Value;
use user_record::UserRecord;

use crate::{Ctx, assert_lake_matches_topic, venv_python};

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("user-lake-e2e-{name}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// The record the lake should hold for a dict the original producer sent: its post code as the
/// text of the number when the API gave a number.
fn expected_record(sent: &Value) -> UserRecord {
    let mut value = sent.clone();
    if let Some(number) = value["post_code"].as_i64() {
        value["post_code"] = Value::String(number.to_string());
    }
    UserRecord::from_json_owned(value.to_string().as_bytes()).unwrap()
}

pub fn records_as_the_original_producer_sends_them_land_once_field_for_field(ctx: &Ctx) {
    // given nothing waiting, and 200 users produced as the original pipeline produced them:
    // kafka-python, json.dumps, no key, post codes as the API gave them
    ctx.drain();
    let env = local_env();
    let dir = temp_dir("original-producer");
    let sent_file = dir.join("sent.jsonl");
    let script = repo_root().join("local/e2e/python/original_producer.py");
    let printed = venv_python(&[
        script.as_os_str(),
        env["KAFKA_BROKERS"].as_ref(),
        ctx.topic.as_ref(),
        env["USERS_API_STAND_IN"].as_ref(),
        "200".as_ref(),
        sent_file.as_os_str(),
    ]);
    let produced: Value = serde_json::from_str(printed.trim()).unwrap();
    assert_eq!(produced["sent"], 200, "{produced}");
    assert!(
        produced["numeric_post_codes"].as_u64().unwrap() > 0
            && produced["text_post_codes"].as_u64().unwrap() > 0,
        "both kinds of post code: {produced}"
    );
    let sent: Vec<Value> = std::fs::read_to_string(&sent_file)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();

    // when the trigger delivers them
    let summary = ctx.trigger_until_idle();

    // then none is rejected, and each is in the lake once, field for field
    assert_eq!(
        (summary["records"].as_u64(), summary["rejected"].as_u64()),
        (Some(200), Some(0)),
        "{summary}"
    );
    let expected: BTreeMap<String, UserRecord> = sent
        .iter()
        .map(|s| (s["id"].as_str().unwrap().to_string(), expected_record(s)))
        .collect();
    let rows = ctx.rt.block_on(lake::rows(&ctx.s3));
    let mut found: BTreeMap<String, Vec<UserRecord>> = BTreeMap::new();
    for row in rows.into_iter().filter(|r| r.row.topic == ctx.topic) {
        let id = row.row.record.id.to_string();
        if expected.contains_key(&id) {
            found.entry(id).or_default().push(row.row.record);
        }
    }
    assert_eq!(
        found.len(),
        200,
        "every record of the original producer landed"
    );
    for (id, records) in &found {
        assert_eq!(records.len(), 1, "{id} landed once");
        assert_eq!(&records[0], &expected[id], "fields of {id}");
    }
    assert_lake_matches_topic(ctx);
}

/// The lake's rows of the topic as sorted (partition, offset, id), read by the lake's own code.
fn lake_coordinates(ctx: &Ctx) -> Vec<(i64, i64, String)> {
    let mut rows: Vec<(i64, i64, String)> = ctx
        .rt
        .block_on(lake::rows(&ctx.s3))
        .into_iter()
        .filter(|r| r.row.topic == ctx.topic)
        .map(|r| {
            (
                i64::from(r.row.partition),
                r.row.offset,
                r.row.record.id.to_string(),
            )
        })
        .collect();
    rows.sort();
    rows
}

fn coordinates(seen: &Value) -> Vec<(i64, i64, String)> {
    seen["coordinates"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c[0].as_i64().unwrap(),
                c[1].as_i64().unwrap(),
                c[2].as_str().unwrap().to_string(),
            )
        })
        .collect()
}

pub fn dataset_readers_read_the_lake_through_the_s3_endpoint(ctx: &Ctx) {
    // given a run of users delivered
    ctx.drain();
    ctx.schedule(1, 100);
    ctx.trigger_until_idle();
    let expected = lake_coordinates(ctx);

    // when pyarrow's dataset API and polars read s3://data-lake/users through the endpoint
    let env = local_env();
    let endpoint = env["AWS_ENDPOINT_URL_S3"]
        .trim_start_matches("http://")
        .to_string();
    let script = repo_root().join("local/e2e/python/read_through_s3.py");
    let printed = venv_python(&[
        script.as_os_str(),
        endpoint.as_ref(),
        env["LAKE_BUCKET"].as_ref(),
        env["AWS_ACCESS_KEY_ID"].as_ref(),
        env["AWS_SECRET_ACCESS_KEY"].as_ref(),
        env["AWS_REGION"].as_ref(),
    ]);
    let seen: Value = serde_json::from_str(printed.trim()).unwrap();

    // then both see exactly the lake's rows, and the Hive partition columns
    assert!(!expected.is_empty());
    assert_eq!(coordinates(&seen["pyarrow"]), expected, "pyarrow");
    assert_eq!(coordinates(&seen["polars"]), expected, "polars");
    assert_eq!(seen["pyarrow"]["hour_type"], "int32");
}

pub fn export_writes_every_user_once_to_the_original_files(ctx: &Ctx) {
    // given a run of users delivered
    ctx.drain();
    ctx.schedule(1, 100);
    ctx.trigger_until_idle();

    // when the lake is exported through the S3 endpoint
    let dir = temp_dir("export");
    let output = emulator("export", &["--out", dir.to_str().unwrap()]);
    assert!(output.status.success(), "{:?}", summary(&output));
    let answer = summary(&output);

    // then each file holds every user of the topic once, in (partition, offset) order, with
    // the record's twelve fields
    let mut rows: BTreeMap<(i32, i64), UserRecord> = BTreeMap::new();
    for row in ctx.rt.block_on(lake::rows(&ctx.s3)) {
        if row.row.topic == ctx.topic {
            rows.insert((row.row.partition, row.row.offset), row.row.record);
        }
    }
    let expected: Vec<UserRecord> = rows.into_values().collect();
    assert_eq!(
        answer["rows"].as_u64(),
        Some(expected.len() as u64),
        "{answer}"
    );
    // read as the original's users read its output/: json.load and pandas, no options
    let printed = venv_python(&[
        repo_root()
            .join("local/e2e/python/read_export.py")
            .as_os_str(),
        dir.as_os_str(),
    ]);
    let seen: Value = serde_json::from_str(printed.trim()).unwrap();
    let ids: Vec<String> = expected.iter().map(|r| r.id.to_string()).collect();
    let columns: Vec<&str> = user_record::RECORD_FIELDS.iter().map(|c| c.name).collect();
    for reader in [
        "json.load",
        "pd.read_json",
        "pd.read_csv",
        "pd.read_parquet users_spark_data",
        "pd.read_parquet users_data",
    ] {
        assert_eq!(seen[reader]["ids"], serde_json::json!(ids), "{reader}");
        assert_eq!(
            seen[reader]["columns"],
            serde_json::json!(columns),
            "{reader}"
        );
    }
    // and the JSON's and the CSV's users are the lake's, field for field
    for form in ["json_records", "csv_records"] {
        let users: Vec<UserRecord> = seen[form]
            .as_array()
            .unwrap()
            .iter()
            .map(|r| UserRecord::from_json_owned(r.to_string().as_bytes()).unwrap())
            .collect();
        assert_eq!(users, expected, "{form}");
    }
}

pub fn status_shows_each_partitions_lag_and_the_lakes_hours(ctx: &Ctx) {
    // given a run of users delivered, so that the sink's group has committed every record
    ctx.drain();
    ctx.schedule(1, 60);
    ctx.trigger_until_idle();
    let messages = ctx.topic_messages();

    // when
    let output = emulator("status", &[]);
    assert!(output.status.success(), "{:?}", summary(&output));
    let status = summary(&output);

    // then each partition's committed offset is past its last message and nothing lags, and
    // the lake's hours add up to the rows the lake holds
    let mut last: BTreeMap<i64, i64> = BTreeMap::new();
    for m in &messages {
        let at = last.entry(i64::from(m.partition)).or_insert(m.offset);
        *at = (*at).max(m.offset);
    }
    let partitions = status["kafka"]["partitions"].as_array().unwrap();
    assert_eq!(partitions.len(), last.len(), "{status}");
    for p in partitions {
        let partition = p["partition"].as_i64().unwrap();
        assert_eq!(
            p["committed"].as_i64(),
            Some(last[&partition] + 1),
            "partition {partition}: {p}"
        );
    }
    assert_eq!(status["kafka"]["lag"], 0, "{status}");
    // (status counts the topic's rows: other scenarios leave other topics' rows in the lake)
    assert_eq!(status["lake"]["topic"], ctx.topic.as_str(), "{status}");
    assert_eq!(status["lake"]["topic_note"], Value::Null, "{status}");
    let rows = (ctx.rt.block_on(lake::rows(&ctx.s3)).iter())
        .filter(|r| r.row.topic == ctx.topic)
        .count() as u64;
    assert_eq!(status["lake"]["rows"].as_u64(), Some(rows), "{status}");
    let hours: u64 = status["lake"]["hours"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["rows"].as_u64().unwrap())
        .sum();
    assert_eq!(hours, rows);
    let errors = (ctx.rt.block_on(lake::errors(&ctx.s3)).iter())
        .filter(|(_, e)| e["topic"] == ctx.topic.as_str())
        .count() as u64;
    assert_eq!(status["lake"]["error_records"].as_u64(), Some(errors));
}

/// Serves one randomuser-shaped page, whatever the query, on a free port: an API of the
/// user's own. It stops when dropped.
struct OwnApi {
    child: std::process::Child,
    url: String,
}

impl OwnApi {
    fn start(page: &Path) -> Self {
        let dir = temp_dir("own-api");
        std::fs::create_dir_all(dir.join("api")).unwrap();
        std::fs::copy(page, dir.join("api/index.html")).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = std::process::Command::new("python3")
            .args([
                "-m",
                "http.server",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
            ])
            .current_dir(&dir)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::null())
            .spawn()
            .unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                std::time::Instant::now() < deadline,
                "the API did not listen"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        Self {
            child,
            url: format!("http://127.0.0.1:{port}/api/"),
        }
    }
}

impl Drop for OwnApi {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn a_users_api_of_their_own_replaces_the_stand_in(ctx: &Ctx) {
    // given an API of the user's own on another port, serving six known users
    let page = repo_root().join("functions/producer/tests/fixtures/randomuser-mixed-nat.json");
    let fixture: Value = serde_json::from_slice(&std::fs::read(&page).unwrap()).unwrap();
    let emails: BTreeSet<String> = fixture["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["email"].as_str().unwrap().to_string())
        .collect();
    let api = OwnApi::start(&page);
    ctx.drain();
    let before: BTreeSet<(i32, i64)> = ctx
        .topic_messages()
        .iter()
        .map(|m| (m.partition, m.offset))
        .collect();

    // when the stack is brought up with USERS_API_URL pointing at it, and the schedule fires
    ctx.stack
        .restart_functions_with(&[("USERS_API_URL", &api.url)])
        .unwrap();
    let state = ctx.stack.state();
    let stand_in_up = std::net::TcpStream::connect(
        local_env()["USERS_API_STAND_IN"]
            .trim_start_matches("http://")
            .trim_end_matches("/api/"),
    )
    .is_ok();
    let produced = ctx.schedule(1, 6);
    let new: Vec<UserRecord> = ctx
        .topic_messages()
        .iter()
        .filter(|m| !before.contains(&(m.partition, m.offset)))
        .map(|m| UserRecord::from_json_owned(m.value.as_deref().unwrap()).unwrap())
        .collect();
    // (the stand-in comes back for the scenarios after this one)
    ctx.stack.restart_functions_with(&[]).unwrap();
    let restored = ctx.stack.state();

    // then the stack says it uses that API, did not start the stand-in, and the users produced
    // are that API's
    assert_eq!(state["users_api"]["url"], api.url.as_str(), "{state}");
    assert_eq!(state["users_api"]["stand_in"], false, "{state}");
    assert!(!stand_in_up, "the stand-in was started");
    assert_eq!(produced, 6);
    let seen: BTreeSet<String> = new.iter().map(|r| r.email.to_string()).collect();
    assert_eq!(seen, emails);
    assert_eq!(restored["users_api"]["stand_in"], true, "{restored}");
    ctx.drain();
}

pub fn peek_shows_the_topics_newest_and_oldest_messages_and_refuses_an_unknown_topic(ctx: &Ctx) {
    // given a run of users on the topic
    ctx.drain();
    ctx.schedule(1, 20);
    let mut messages = ctx.topic_messages();
    messages.sort_by_key(|m| (m.timestamp_ms, m.partition, m.offset));
    let coordinates = |ms: &[e2e::topic::TopicMessage]| -> Vec<(i64, i64)> {
        ms.iter()
            .map(|m| (i64::from(m.partition), m.offset))
            .collect()
    };

    // when peek is asked for the newest three and the oldest two
    let last = emulator("peek", &["--last", "3"]);
    let first = emulator("peek", &["--first", "2"]);
    let unknown = emulator("peek", &["--topic", "no_such_topic_here"]);

    // then each shows exactly those messages of the topic, oldest first, values parsed
    assert!(last.status.success(), "{:?}", summary(&last));
    let shown = |output: &std::process::Output| -> (Vec<(i64, i64)>, Value) {
        let answer = summary(output);
        let at = answer["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["partition"].as_i64().unwrap(),
                    m["offset"].as_i64().unwrap(),
                )
            })
            .collect();
        (at, answer)
    };
    let (newest, answer) = shown(&last);
    assert_eq!(
        newest,
        coordinates(&messages[messages.len() - 3..]),
        "{answer}"
    );
    let newest_value: Value =
        serde_json::from_slice(messages.last().unwrap().value.as_deref().unwrap()).unwrap();
    assert_eq!(answer["messages"][2]["value"], newest_value);
    let (oldest, answer) = shown(&first);
    assert_eq!(oldest, coordinates(&messages[..2]), "{answer}");
    // and an unknown topic is a fatal error on stderr, not an empty answer
    assert_eq!(unknown.status.code(), Some(1), "{unknown:?}");
    // (the failure is stderr's last line; log lines may come before it)
    let stderr = String::from_utf8_lossy(&unknown.stderr);
    let last = stderr.lines().last().unwrap_or_default();
    let failure: Value = serde_json::from_str(last)
        .unwrap_or_else(|e| panic!("stderr does not end with the JSON failure ({e}): {stderr}"));
    assert_eq!(failure["errorType"], "ReadFailed.Fatal", "{failure}");
}
