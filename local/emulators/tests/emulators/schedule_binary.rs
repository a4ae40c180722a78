//! The `schedule` binary end to end against a local Invoke API endpoint.

use std::process::Stdio;

use crate::common::{FakeLambda, Reply};
use serde_json::Value;
use tokio::process::Command;

fn template() -> String {
    concat!(env!("CARGO_MANIFEST_DIR"), "/../../template.yaml").to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn invokes_the_producer_n_times_with_scheduled_events_and_fails_the_exit_code_on_an_error() {
    let lambda = FakeLambda::start(
        vec![
            Reply::ok(r#"{"produced":5}"#),
            Reply::watch_function_error(),
        ],
        Reply::ok(r#"{"produced":5}"#),
    )
    .await;
    let output = Command::new(env!("CARGO_BIN_EXE_schedule"))
        .args([
            "--template",
            &template(),
            "--every",
            "50ms",
            "--times",
            "3",
            "--count",
            "5",
        ])
        .env("LAMBDA_ENDPOINT", lambda.endpoint())
        .env("AWS_REGION", "eu-central-1")
        .stdin(Stdio::null())
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let lines: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(
        lines.len(),
        4,
        "one line per invocation and a summary: {stdout}"
    );
    let outcomes: Vec<_> = lines[..3]
        .iter()
        .map(|l| (l["event"].as_str(), l["run"].as_u64(), l["ok"].as_bool()))
        .collect();
    assert_eq!(
        outcomes,
        [
            (Some("invoked"), Some(1), Some(true)),
            (Some("invoked"), Some(2), Some(false)),
            (Some("invoked"), Some(3), Some(true)),
        ]
    );
    assert_eq!(lines[0]["response"]["produced"], 5, "{stdout}");
    assert!(
        lines[1]["error"].as_str().unwrap().contains("watch style"),
        "{stdout}"
    );
    assert_eq!(lines[3]["invocations"], 3, "{stdout}");
    assert_eq!(lines[3]["failures"], 1, "{stdout}");
    assert_eq!(
        output.status.code(),
        Some(1),
        "a failed invocation fails the run"
    );

    let requests = lambda.requests();
    assert_eq!(requests.len(), 3);
    for request in &requests {
        assert_eq!(request.path, "/2015-03-31/functions/producer/invocations");
        let event: Value = request.json();
        assert_eq!(event["detail-type"], "Scheduled Event");
        assert_eq!(event["region"], "eu-central-1");
        assert_eq!(event["detail"]["count"], 5);
        let time = event["time"].as_str().unwrap();
        assert!(
            time.ends_with('Z') && time.len() == 20,
            "seconds precision: {time}"
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn fail_fast_stops_at_the_first_failure() {
    let lambda = FakeLambda::start(vec![Reply::aws_function_error()], Reply::ok("{}")).await;
    let output = Command::new(env!("CARGO_BIN_EXE_schedule"))
        .args([
            "--template",
            &template(),
            "--every",
            "50ms",
            "--times",
            "5",
            "--fail-fast",
        ])
        .env("LAMBDA_ENDPOINT", lambda.endpoint())
        .output()
        .await
        .unwrap();
    assert_eq!(output.status.code(), Some(1));
    assert_eq!(lambda.requests().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_cron_schedule_without_every_is_a_clear_error() {
    let dir = std::env::temp_dir().join(format!("emulators-cron-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("template.yaml");
    let text = std::fs::read_to_string(template())
        .unwrap()
        .replace("Default: rate(1 minute)", "Default: cron(0 12 * * ? *)");
    std::fs::write(&path, text).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_schedule"))
        .args(["--template", path.to_str().unwrap(), "--times", "1"])
        .env("LAMBDA_ENDPOINT", "http://127.0.0.1:9")
        .output()
        .await
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("--every"), "{stderr}");
    let _ = std::fs::remove_dir_all(dir);
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_stops_the_schedule_after_the_in_flight_invocation() {
    use tokio::io::{AsyncBufReadExt, BufReader};

    let lambda = FakeLambda::start(vec![], Reply::ok(r#"{"produced":1}"#)).await;
    let mut child = Command::new(env!("CARGO_BIN_EXE_schedule"))
        .args(["--template", &template(), "--every", "1h"])
        .env("LAMBDA_ENDPOINT", lambda.endpoint())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut stdout = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = tokio::time::timeout(std::time::Duration::from_secs(30), stdout.next_line())
        .await
        .expect("the first invocation fires at once")
        .unwrap()
        .unwrap();
    let first: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(
        (first["run"].as_u64(), first["ok"].as_bool()),
        (Some(1), Some(true)),
        "{first}"
    );

    let pid = child.id().unwrap().to_string();
    let killed = Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let status = tokio::time::timeout(std::time::Duration::from_secs(10), child.wait())
        .await
        .expect("the schedule stops promptly on SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0), "no invocation failed");
    assert_eq!(lambda.requests().len(), 1);
}
