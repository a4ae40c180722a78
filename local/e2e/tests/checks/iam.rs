//! The functions' real S3 traffic under exactly the permissions the template gives their roles.
//!
//! `local/iam/moto_lake.py` translates `template.yaml` with the SAM translator, resolves each
//! role's policies for the stack's parameters, and serves them from moto's server with IAM
//! authorisation on. Each binary then runs one invocation (`e2e::runtime_api`) with its role's
//! session credentials against that endpoint: a call its role does not allow fails the
//! invocation, and so the test. The last test narrows one grant and expects the denial, which
//! proves the others could fail too.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use e2e::{
    env_file::repo_root,
    runtime_api::{Answer, invoke_once},
    tools,
};
use lake::{ObjectStore, S3Store};
use serde_json::Value;

use crate::log_levels::binary;

/// moto's server with the template's roles, for as long as this lives.
struct Moto {
    child: Child,
    ready: Value,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = Command::new("kill")
            .arg(self.child.id().to_string())
            .status();
        let _ = self.child.wait();
    }
}

/// The tools venv's python, where `make test` installed moto and the SAM translator.
fn venv_python() -> Option<PathBuf> {
    let python = std::env::var_os("USER_LAKE_VENV").map(|v| PathBuf::from(v).join("bin/python"));
    match python.filter(|p| p.is_file()) {
        Some(python) => Some(python),
        None if tools::is_ci() => {
            panic!("USER_LAKE_VENV is not set: run through `make test`, which installs moto")
        }
        None => {
            eprintln!("skipped: USER_LAKE_VENV is not set (make test installs moto)");
            None
        }
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// Starts moto with the template's roles (and `extra` flags of moto_lake.py).
fn moto(extra: &[&str]) -> Option<Moto> {
    let python = venv_python()?;
    let mut child = Command::new(python)
        .arg(repo_root().join("local/iam/moto_lake.py"))
        .args(["--port", &free_port().to_string(), "--role", "ReplayRole"])
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap();
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    let ready: Value = serde_json::from_str(&line)
        .unwrap_or_else(|e| panic!("moto_lake.py did not start ({e}): {line:?}"));
    Some(Moto { child, ready })
}

impl Moto {
    fn endpoint(&self) -> String {
        self.ready["endpoint"].as_str().unwrap().to_string()
    }

    fn bucket(&self, which: &str) -> String {
        self.ready["buckets"][which].as_str().unwrap().to_string()
    }

    /// The environment of a function's binary under the session of `principal`'s role.
    fn env(&self, principal: &str) -> Vec<(String, String)> {
        let session = &self.ready["functions"][principal];
        let text = |v: &Value| v.as_str().unwrap().to_string();
        vec![
            ("AWS_ACCESS_KEY_ID".into(), text(&session["access_key_id"])),
            (
                "AWS_SECRET_ACCESS_KEY".into(),
                text(&session["secret_access_key"]),
            ),
            ("AWS_SESSION_TOKEN".into(), text(&session["session_token"])),
            ("AWS_ENDPOINT_URL_S3".into(), self.endpoint()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("S3_FORCE_PATH_STYLE".into(), "true".into()),
            ("LAKE_BUCKET".into(), self.bucket("lake")),
            ("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()),
        ]
    }

    /// A store over `bucket` with `principal`'s session (`admin`: moto's administrator).
    async fn store(&self, principal: &str, bucket: &str) -> S3Store {
        let session = if principal == "admin" {
            &self.ready["admin"]
        } else {
            &self.ready["functions"][principal]
        };
        let credentials = aws_sdk_s3::config::Credentials::new(
            session["access_key_id"].as_str().unwrap(),
            session["secret_access_key"].as_str().unwrap(),
            session["session_token"].as_str().map(str::to_string),
            None,
            "moto",
        );
        let shared = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(credentials)
            .load()
            .await;
        S3Store::new(lake::config::s3_client_from(&shared, true), bucket)
    }
}

/// Runs `function`'s binary once with `event` under `principal`'s session.
fn invoke(
    moto: &Moto,
    function: &str,
    principal: &str,
    env: &[(&str, &str)],
    event: &str,
) -> Answer {
    let mut all = moto.env(principal);
    all.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
    all.push(("AWS_LAMBDA_FUNCTION_NAME".into(), function.into()));
    let pairs: Vec<(&str, &str)> = all.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let run = invoke_once(&binary(function), &pairs, event.as_bytes()).unwrap();
    run.answer
}

fn event(name: &str) -> String {
    std::fs::read_to_string(repo_root().join("events/sink").join(name)).unwrap()
}

fn response(answer: Answer) -> Value {
    match answer {
        Answer::Response(body) => serde_json::from_str(&body).unwrap(),
        Answer::Error(error) => panic!("the invocation failed: {error}"),
    }
}

#[test]
fn each_function_stores_what_it_must_with_only_its_roles_permissions() {
    let Some(moto) = moto(&[]) else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let (lake_bucket, failed_bucket) = (moto.bucket("lake"), moto.bucket("failed"));
    let admin_lake = rt.block_on(moto.store("admin", &lake_bucket));

    // given the sink, writing every output format, with the sink role's session: it stores
    // good records under users/, users_jsonl/, users_csv/ and poison ones under _errors/
    let stored = response(invoke(
        &moto,
        "sink",
        "SinkFunction",
        &[
            ("LAKE_FORMAT", "files"),
            ("OUTPUT_FORMATS", "parquet,jsonl,csv"),
        ],
        &event("msk-mixed.json"),
    ));
    assert!(stored["written"].as_u64().unwrap() > 0, "{stored}");
    assert!(stored["rejected"].as_u64().unwrap() > 0, "{stored}");
    let keys = rt.block_on(e2e::lake::keys(&admin_lake, ""));
    for root in ["users/", "users_jsonl/", "users_csv/", "_errors/"] {
        assert!(
            keys.iter().any(|k| k.starts_with(root)),
            "nothing under {root}: {keys:?}"
        );
    }

    // and the trigger's failure record, written with the sink role (Lambda writes the S3
    // destination with the function's execution role)
    let sink_failures = rt.block_on(moto.store("SinkFunction", &failed_bucket));
    let payload = event("msk-users.json");
    let record = serde_json::json!({
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11},
        "KafkaBatchInfo": {"batchSize": 1},
        "payload": payload,
    });
    let failure_key = "aws/lambda/00000000-0000-4000-8000-000000000001/users_created-0/a.json";
    rt.block_on(sink_failures.put(
        failure_key,
        record.to_string().into_bytes(),
        "application/json",
    ))
    .unwrap();
    assert!(
        rt.block_on(sink_failures.list("aws/")).is_ok(),
        "the sink may list its destination"
    );

    // when the compactor runs over the lake with its role (lease, merge, deletes)
    let later = (chrono::Utc::now() + chrono::Duration::hours(3)).to_rfc3339();
    let compacted = response(invoke(
        &moto,
        "compactor",
        "CompactorFunction",
        &[
            ("LAKE_FORMAT", "files"),
            ("COMPACTION_DELETE_DELAY_MINUTES", "0"),
        ],
        &serde_json::json!({"detail": {"now": later}}).to_string(),
    ));

    // then it took its lease, merged and deleted the originals, and gave the lease back
    assert_eq!(compacted["failed"], 0, "{compacted}");
    assert!(
        compacted["merged_written"].as_u64().unwrap() >= 1,
        "{compacted}"
    );
    assert!(
        compacted["originals_removed"].as_u64().unwrap() >= 1,
        "{compacted}"
    );
    assert!(compacted.get("skipped_for").is_none(), "{compacted}");
    let after = rt.block_on(e2e::lake::keys(&admin_lake, "users/"));
    assert!(after.iter().all(|k| k.contains("/compacted-")), "{after:?}");
    assert!(
        rt.block_on(e2e::lake::keys(&admin_lake, "_compactor/"))
            .is_empty()
    );

    // when replay brings the failed batch back with the operator's role
    let output = Command::new(binary("replay"))
        .env_clear()
        .envs(moto.env("ReplayRole"))
        .env("LAKE_FORMAT", "files")
        .args([
            "--failed-batch",
            &format!("s3://{failed_bucket}/{failure_key}"),
        ])
        .output()
        .unwrap();

    // then its records are in the lake
    let summary: Value = serde_json::from_slice(
        output
            .stdout
            .split(|b| *b == b'\n')
            .find(|l| !l.is_empty())
            .unwrap(),
    )
    .unwrap();
    assert!(output.status.success(), "{summary}");
    assert!(summary["written"].as_u64().unwrap() > 0, "{summary}");
}

#[test]
fn a_narrowed_grant_is_denied_and_fails_the_sink() {
    // given the sink role without its grant on users_csv/
    let Some(moto) = moto(&["--narrow", "SinkFunction:users_csv"]) else {
        return;
    };

    // when the sink writes every output format
    let answer = invoke(
        &moto,
        "sink",
        "SinkFunction",
        &[
            ("LAKE_FORMAT", "files"),
            ("OUTPUT_FORMATS", "parquet,jsonl,csv"),
        ],
        &event("msk-users.json"),
    );

    // then the CSV write is denied, and the invocation fails as a store failure to act on
    let Answer::Error(error) = answer else {
        panic!("the sink stored everything without its grant on users_csv/: {answer:?}");
    };
    assert!(error.contains("StoreFailed.Fatal"), "{error}");
    assert!(error.contains("AccessDenied"), "{error}");
}
