//! The `msk-trigger` binary end to end against a real Kafka-protocol broker (tansu) and a local
//! Invoke API endpoint: records are delivered in the MSK event format, a failed invocation is
//! retried, and delivered offsets are committed so that a second run resumes after them.
//!
//! The broker is the pinned tansu that `make test` installs; without it the tests say so and
//! pass, except under `CI=true`, where a missing tool fails them.

use std::collections::BTreeSet;
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use crate::common::{FakeLambda, Reply};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rdkafka::ClientConfig;
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::message::{Header, OwnedHeaders};
use rdkafka::producer::{FutureProducer, FutureRecord};
use serde_json::{Value, json};
use tokio::process::{Child, Command};

fn tansu_binary() -> Option<PathBuf> {
    e2e::tools::pinned("tansu")
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts a tansu broker on a free port, its log in SQLite in a fresh directory; it is killed
/// when the handle drops.
async fn start_broker(binary: &PathBuf) -> (Child, String) {
    let port = free_port();
    let url = format!("tcp://127.0.0.1:{port}");
    let dir = std::env::temp_dir().join(format!("emulators-tansu-{port}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new(binary)
        .current_dir(&dir)
        .args([
            "broker",
            "--listener-url",
            &url,
            "--advertised-listener-url",
            &url,
        ])
        .args(["--storage-engine", "sqlite://tansu.db"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .expect("tansu starts");
    let brokers = format!("127.0.0.1:{port}");
    let deadline = Instant::now() + Duration::from_secs(30);
    while TcpStream::connect(&brokers).is_err() {
        assert!(
            Instant::now() < deadline,
            "tansu did not listen on {brokers} within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    (child, brokers)
}

async fn create_topic(brokers: &str, topic: &str, partitions: i32) {
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let results = admin
        .create_topics(
            &[NewTopic::new(topic, partitions, TopicReplication::Fixed(1))],
            &AdminOptions::new().operation_timeout(Some(Duration::from_secs(10))),
        )
        .await
        .unwrap();
    for result in results {
        result.expect("topic created");
    }
}

/// Produces the test records; returns (partition, offset) of each.
async fn produce(brokers: &str, topic: &str, first: usize, count: usize) -> Vec<(i64, i64)> {
    let producer: FutureProducer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("message.timeout.ms", "20000")
        .create()
        .unwrap();
    let mut delivered = Vec::new();
    for n in first..first + count {
        let key = format!("user-{n}");
        let value = format!(r#"{{"n":{n}}}"#);
        let headers = OwnedHeaders::new().insert(Header {
            key: "source",
            value: Some(&[0x01u8, 0xff][..]),
        });
        let result = match n {
            // No key.
            1 => {
                producer
                    .send(
                        FutureRecord::<(), str>::to(topic)
                            .payload(&value)
                            .partition(0),
                        Duration::from_secs(20),
                    )
                    .await
            }
            // Tombstone: a key and no value.
            2 => {
                producer
                    .send(
                        FutureRecord::<str, ()>::to(topic)
                            .key(&key)
                            .partition(1)
                            .headers(headers),
                        Duration::from_secs(20),
                    )
                    .await
            }
            _ => {
                producer
                    .send(
                        FutureRecord::to(topic)
                            .key(&key)
                            .payload(&value)
                            .partition((n % 2) as i32)
                            .headers(headers),
                        Duration::from_secs(20),
                    )
                    .await
            }
        };
        let delivery = result.map_err(|(e, _)| e).expect("record produced");
        delivered.push((i64::from(delivery.partition), delivery.offset));
    }
    delivered
}

async fn run_trigger(
    brokers: &str,
    topic: &str,
    group: &str,
    lambda: &FakeLambda,
) -> (i32, Value, String) {
    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let output = Command::new(env!("CARGO_BIN_EXE_msk-trigger"))
        .args([
            "--template",
            template,
            "--group",
            group,
            "--until-idle",
            "8",
        ])
        .env("KAFKA_BROKERS", brokers)
        .env("KAFKA_TOPIC", topic)
        .env("LAMBDA_ENDPOINT", lambda.endpoint())
        .env("RUST_LOG", "info")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout).into_owned();
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    eprintln!("--- msk-trigger stderr ---\n{stderr}--- stdout ---\n{stdout}");
    let summary = stdout
        .lines()
        .last()
        .and_then(|l| serde_json::from_str(l).ok())
        .unwrap_or_else(|| panic!("no JSON summary line in stdout: {stdout}\nstderr: {stderr}"));
    (output.status.code().unwrap_or(-1), summary, stderr)
}

/// (partition, offset) of every record in the events the endpoint accepted.
fn delivered(lambda: &FakeLambda, skip: usize) -> Vec<Value> {
    lambda
        .requests()
        .into_iter()
        .skip(skip)
        .flat_map(|r| {
            let event = r.json();
            event["records"]
                .as_object()
                .unwrap()
                .values()
                .flat_map(|g| g.as_array().unwrap().clone())
                .collect::<Vec<_>>()
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn delivers_msk_events_retries_a_failure_and_resumes_after_committed_offsets() {
    let Some(binary) = tansu_binary() else {
        return;
    };
    let (_broker, brokers) = start_broker(&binary).await;
    let topic = format!("users_created_{}", std::process::id());
    let group = format!("emulators-test-{}", std::process::id());
    create_topic(&brokers, &topic, 2).await;
    let produced = produce(&brokers, &topic, 0, 5).await;

    // First invocation fails the way cargo lambda watch reports a function error.
    let lambda = FakeLambda::start(
        vec![Reply::watch_function_error()],
        Reply::ok(r#"{"written":1,"rejected":0}"#),
    )
    .await;
    let (code, summary, stderr) = run_trigger(&brokers, &topic, &group, &lambda).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["records"], 5, "{summary} {stderr}");
    assert_eq!(summary["retries"], 1, "{summary}");
    assert_eq!(summary["stopped"], "idle");

    let requests = lambda.requests();
    assert_eq!(
        requests[0].body, requests[1].body,
        "the failed batch is retried as it was"
    );
    let records = delivered(&lambda, 1);
    let got: BTreeSet<(i64, i64)> = records
        .iter()
        .map(|r| {
            (
                r["partition"].as_i64().unwrap(),
                r["offset"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(got, produced.iter().copied().collect::<BTreeSet<_>>());

    let event = requests[1].json();
    assert_eq!(event["eventSource"], "aws:kafka");
    assert_eq!(event["bootstrapServers"], brokers.as_str());
    assert!(
        event["records"]
            .as_object()
            .unwrap()
            .keys()
            .all(|k| k.starts_with(&format!("{topic}-")))
    );
    for r in &records {
        assert_eq!(r["topic"], topic.as_str());
        assert_eq!(r["timestampType"], "CREATE_TIME");
        assert!(r["timestamp"].as_i64().unwrap() > 1_600_000_000_000);
        let value = r["value"].as_str().map(|v| BASE64.decode(v).unwrap());
        let key = r["key"].as_str().map(|k| BASE64.decode(k).unwrap());
        match value {
            None => {
                assert_eq!(
                    key.as_deref(),
                    Some(&b"user-2"[..]),
                    "the tombstone keeps its key"
                );
                assert_eq!(r["headers"], json!([{"source": [1, -1]}]));
            }
            Some(v) if v == br#"{"n":1}"# => assert!(key.is_none(), "record 1 has no key"),
            Some(v) => {
                let n: Value = serde_json::from_slice(&v).unwrap();
                assert_eq!(key, Some(format!("user-{}", n["n"]).into_bytes()));
                assert_eq!(r["headers"], json!([{"source": [1, -1]}]));
            }
        }
    }

    // A second run of the same group only sees what was produced after the commit.
    let more = produce(&brokers, &topic, 5, 1).await;
    let lambda = FakeLambda::start(vec![], Reply::ok(r#"{"written":1,"rejected":0}"#)).await;
    let (code, summary, stderr) = run_trigger(&brokers, &topic, &group, &lambda).await;
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(summary["records"], 1, "{summary} {stderr}");
    let again = delivered(&lambda, 0);
    assert_eq!(
        (
            again[0]["partition"].as_i64().unwrap(),
            again[0]["offset"].as_i64().unwrap()
        ),
        more[0]
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_trigger_with_a_summary_after_the_delivered_batch() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let Some(binary) = tansu_binary() else {
        return;
    };
    let (_broker, brokers) = start_broker(&binary).await;
    let topic = format!("users_created_term_{}", std::process::id());
    create_topic(&brokers, &topic, 2).await;
    produce(&brokers, &topic, 0, 3).await;
    let lambda = FakeLambda::start(vec![], Reply::ok(r#"{"written":3,"rejected":0}"#)).await;

    let template = concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml");
    let mut child = Command::new(env!("CARGO_BIN_EXE_msk-trigger"))
        .args([
            "--template",
            template,
            "--group",
            &format!("{topic}-group"),
            "--batching-window",
            "200ms",
        ])
        .env("KAFKA_BROKERS", &brokers)
        .env("KAFKA_TOPIC", &topic)
        .env("LAMBDA_ENDPOINT", lambda.endpoint())
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    // Wait until all three records were delivered (possibly in more than one batch).
    let batches = tokio::time::timeout(Duration::from_secs(60), async {
        let (mut records, mut batches) = (0, 0);
        while records < 3 {
            let Some(line) = stdout.next_line().await.unwrap() else {
                panic!("msk-trigger ended before delivering");
            };
            let event: Value = serde_json::from_str(&line).unwrap();
            if event["event"] == "delivered" {
                batches += 1;
                records += event["records"].as_u64().unwrap();
            }
        }
        batches
    })
    .await
    .expect("the records are delivered within 60 s");

    let pid = child.id().unwrap().to_string();
    assert!(
        Command::new("kill")
            .args(["-TERM", &pid])
            .status()
            .await
            .unwrap()
            .success()
    );
    let rest = async {
        let mut last = None;
        while let Some(line) = stdout.next_line().await.unwrap() {
            last = Some(line);
        }
        last
    };
    let (status, last) = tokio::time::timeout(Duration::from_secs(15), async {
        tokio::join!(child.wait(), rest)
    })
    .await
    .expect("msk-trigger stops promptly on SIGTERM");
    assert_eq!(status.unwrap().code(), Some(0));
    let summary: Value = serde_json::from_str(&last.unwrap_or_default()).unwrap();
    assert_eq!(summary["stopped"], "signal", "{summary}");
    assert_eq!(summary["records"], 3, "{summary}");
    assert_eq!(summary["batches"], batches, "{summary}");
    assert_eq!(summary["written"], 3 * batches, "{summary}");
}
