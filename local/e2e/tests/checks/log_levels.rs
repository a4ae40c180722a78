//! The functions' real stdout, filtered as Lambda filters JSON application logs at each level the
//! template allows (`LogLevel`: TRACE, DEBUG, INFO, WARN, ERROR), still holds the metrics line of
//! every invocation, succeeded or failed (Lambda developer guide, "Log-level filtering": a JSON
//! line is kept when its `level` is at or above the function's level; a line without a valid
//! `level`, or without a valid RFC 3339 `timestamp`, counts as INFO).
//!
//! Each function's binary runs for one invocation against a stand-in of the runtime API
//! (`e2e::runtime_api`), with `AWS_LAMBDA_LOG_FORMAT=JSON` and `AWS_LAMBDA_LOG_LEVEL` set as
//! Lambda sets them from the template's `LoggingConfig`.

use std::path::PathBuf;

use e2e::runtime_api::{Answer, invoke_once};
use lambda_kit::emf::{LogLevel, lambda_keeps};
use serde_json::Value;

const LEVELS: [&str; 5] = ["TRACE", "DEBUG", "INFO", "WARN", "ERROR"];

/// The lines Lambda keeps of `stdout` at `configured` (`lambda_kit::emf::lambda_keeps`: the
/// level rule and the timestamp rule); a line that is not a JSON object is kept as a string.
fn kept(stdout: &[String], configured: LogLevel) -> Vec<Value> {
    stdout
        .iter()
        .filter(|line| lambda_keeps(line, configured))
        .map(|line| {
            serde_json::from_str::<Value>(line)
                .ok()
                .filter(Value::is_object)
                .unwrap_or_else(|| Value::String(line.clone()))
        })
        .collect()
}

pub fn binary(name: &str) -> PathBuf {
    // Beside this test's binary: target/<profile>/deps/<test> -> target/<profile>/<name>.
    let exe = std::env::current_exe().unwrap();
    let path = exe.parent().unwrap().parent().unwrap().join(name);
    assert!(
        path.is_file(),
        "{} is not built (cargo build --workspace --bins)",
        path.display()
    );
    path
}

/// Runs `function` at every allowed level with `event`; the metrics line Lambda keeps at each.
fn metrics_lines(
    function: &str,
    env: &[(&str, &str)],
    event: &str,
) -> Vec<(String, Value, Answer)> {
    LEVELS
        .iter()
        .map(|level| {
            let mut all = vec![
                ("AWS_LAMBDA_FUNCTION_NAME", function),
                ("AWS_LAMBDA_LOG_FORMAT", "JSON"),
                ("AWS_LAMBDA_LOG_LEVEL", *level),
                ("AWS_REGION", "us-east-1"),
                ("AWS_EC2_METADATA_DISABLED", "true"),
            ];
            all.extend_from_slice(env);
            let run = invoke_once(&binary(function), &all, event.as_bytes()).unwrap();
            let configured: LogLevel = level.parse().unwrap();
            let metrics = kept(&run.stdout, configured)
                .into_iter()
                .find(|l| l.get("_aws").is_some())
                .unwrap_or_else(|| {
                    panic!(
                        "{function} at {level}: no metrics line kept of {:?}",
                        run.stdout
                    )
                });
            (level.to_string(), metrics, run.answer)
        })
        .collect()
}

#[test]
fn the_sinks_metrics_line_survives_every_log_level() {
    let lines = metrics_lines(
        "sink",
        &[("LAKE_BUCKET", "data-lake")],
        r#"{"eventSource":"aws:kafka","records":{}}"#,
    );
    for (level, metrics, answer) in lines {
        assert!(matches!(answer, Answer::Response(_)), "{level}: {answer:?}");
        assert_eq!(metrics["Errors"], 0, "{level}");
        assert_eq!(metrics["FunctionName"], "sink", "{level}");
    }
}

#[test]
fn the_producers_metrics_line_of_a_failed_run_survives_every_log_level() {
    // a count the producer refuses: it fails before any request, with its summary line
    let lines = metrics_lines(
        "producer",
        &[("KAFKA_BROKERS", "127.0.0.1:9")],
        r#"{"version":"0","id":"1","detail-type":"Scheduled Event","source":"aws.events","account":"000000000000","time":"2026-11-24T12:00:00Z","region":"us-east-1","resources":[],"detail":{"count":0}}"#,
    );
    for (level, metrics, answer) in lines {
        assert!(
            matches!(answer, Answer::Error(ref e) if e.contains("InvalidCount.Fatal")),
            "{level}: {answer:?}"
        );
        assert_eq!(metrics["Errors"], 1, "{level}");
        assert_eq!(metrics["level"], "ERROR", "{level}");
    }
}

#[test]
fn the_compactors_metrics_line_survives_every_log_level() {
    // an empty lake in the local S3-protocol store, started here
    let root = std::env::temp_dir().join(format!("log-levels-lake-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join("data-lake")).unwrap();
    let runtime = tokio::runtime::Runtime::new().unwrap();
    let credentials = s3_store::Credentials {
        access_key: "k".into(),
        secret_key: "s".into(),
    };
    let store = runtime
        .block_on(s3_store::Running::start(&root, Some(credentials)))
        .unwrap();
    let endpoint = store.endpoint();
    let lines = metrics_lines(
        "compactor",
        &[
            ("LAKE_BUCKET", "data-lake"),
            ("LAKE_FORMAT", "files"),
            ("S3_FORCE_PATH_STYLE", "true"),
            ("AWS_ENDPOINT_URL_S3", &endpoint),
            ("AWS_ACCESS_KEY_ID", "k"),
            ("AWS_SECRET_ACCESS_KEY", "s"),
        ],
        r#"{"detail":{}}"#,
    );
    for (level, metrics, answer) in lines {
        assert!(matches!(answer, Answer::Response(_)), "{level}: {answer:?}");
        assert_eq!(metrics["Errors"], 0, "{level}");
        assert_eq!(metrics["PartitionsCompacted"], 0, "{level}");
    }
    drop(store);
}

#[test]
fn the_filter_drops_what_lambda_drops() {
    // the check above could not fail if the filter kept everything
    // (a line's level counts only with an RFC 3339 timestamp; without one it is INFO)
    let stdout = vec![
        r#"{"level":"INFO","message":"a","timestamp":"2026-12-07T09:00:00Z"}"#.to_string(),
        r#"{"message":"no level"}"#.to_string(),
        r#"{"level":"WARN","message":"b","timestamp":"2026-12-07T09:00:00Z"}"#.to_string(),
        r#"{"level":"WARN","message":"no timestamp"}"#.to_string(),
        "plain text".to_string(),
    ];
    let messages = |level| -> Vec<String> {
        kept(&stdout, level)
            .iter()
            .map(|v| v["message"].as_str().or(v.as_str()).unwrap().to_string())
            .collect()
    };
    assert_eq!(
        messages(LogLevel::Info),
        ["a", "no level", "b", "no timestamp", "plain text"]
    );
    assert_eq!(messages(LogLevel::Warn), ["b"]);
    assert!(messages(LogLevel::Error).is_empty());
}
