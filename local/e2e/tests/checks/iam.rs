//! The functions' real S3 and Glue traffic under exactly the permissions the template gives
//! their roles.
//!
//! `local/iam/moto_lake.py` translates `template.yaml` with the SAM translator, resolves each
//! role's policies for the stack's parameters, and serves them from moto's server with IAM
//! authorisation on (Glue's catalog calls authorised on their catalog, database and table ARNs,
//! S3 Tables' calls on their table bucket and table ARNs and a table's S3 object calls as
//! `s3tables:GetTableData` and `s3tables:PutTableData` on the table, as AWS does), with the
//! lake's buckets, the stack's Glue database and, under `TableCatalog=s3tables`, its table bucket
//! and namespace. Each binary then runs one invocation (`e2e::runtime_api`) with its role's
//! session credentials against that endpoint: a call its role does not allow fails the
//! invocation, and so the test. Each layout is run with the roles the template gives it: the
//! plain files (`LAKE_FORMAT=files`, every output root; moto_lake.py with
//! `--param LakeFormat=files`), the Iceberg table in the Glue catalog (`LAKE_FORMAT=iceberg`, the
//! template's default, whose roles have no grant on the files' roots users/, users_jsonl/ and
//! users_csv/), and the table in S3 Tables (`--param TableCatalog=s3tables`, the binaries given
//! the table settings the template gives each function there). The narrowing tests remove one
//! grant and expect the denial, which proves the others could fail too.

use std::{
    io::{BufRead, BufReader},
    path::PathBuf,
    process::{Child, Command, Stdio},
};

use chrono::{Duration, Utc};
use e2e::{
    env_file::repo_root,
    runtime_api::{Answer, invoke_once},
    tools,
};
use lake::{LakeStore, S3Store};
use serde_json::Value;
use table::{AnyCatalog, Table, TableConfig, maintenance::Retention};

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

/// moto_lake.py's flags for the roles the template gives the plain-files layout.
const FILES: [&str; 2] = ["--param", "LakeFormat=files"];

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

    /// The Glue database the template creates (`GlueDatabase`), where the table mode's table is.
    fn glue_database(&self) -> String {
        self.ready["glue_databases"]["GlueDatabase"]
            .as_str()
            .unwrap()
            .to_string()
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
            ("AWS_ENDPOINT_URL_GLUE".into(), self.endpoint()),
            ("AWS_ENDPOINT_URL_S3TABLES".into(), self.endpoint()),
            ("AWS_REGION".into(), "us-east-1".into()),
            ("AWS_EC2_METADATA_DISABLED".into(), "true".into()),
            ("S3_FORCE_PATH_STYLE".into(), "true".into()),
            ("LAKE_BUCKET".into(), self.bucket("lake")),
            ("AWS_LAMBDA_LOG_FORMAT".into(), "JSON".into()),
        ]
    }

    /// The AWS configuration of `principal`'s session (`admin`: moto's administrator), every
    /// service at moto's endpoint.
    async fn shared(&self, principal: &str) -> aws_config::SdkConfig {
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
        aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .endpoint_url(self.endpoint())
            .credentials_provider(credentials)
            .load()
            .await
    }

    /// A store over `bucket` with `principal`'s session.
    async fn store(&self, principal: &str, bucket: &str) -> S3Store {
        let shared = self.shared(principal).await;
        S3Store::new(lake::config::s3_client_from(&shared, true), bucket)
    }

    /// The lake's table as the functions open it (`TableConfig`, the Glue catalog), with
    /// `principal`'s session.
    async fn table(&self, principal: &str) -> Table<S3Store, AnyCatalog> {
        let database = self.glue_database();
        self.table_with(principal, &[("ICEBERG_DATABASE", database.as_str())])
            .await
    }

    /// The lake's table as a function with the table `settings` opens it, with `principal`'s
    /// session.
    async fn table_with(
        &self,
        principal: &str,
        settings: &[(&str, &str)],
    ) -> Table<S3Store, AnyCatalog> {
        let config = TableConfig::from_source(&settings.to_vec())
            .unwrap()
            .unwrap();
        let shared = self.shared(principal).await;
        let opened = config
            .open(&shared, &self.bucket("lake"), "")
            .await
            .unwrap();
        Table::new(
            self.store(principal, &opened.location.bucket).await,
            opened.catalog,
            opened.location,
        )
    }

    /// The table settings of `function`'s environment (`LAKE_FORMAT`, `ICEBERG_*`), as the
    /// template sets them for the run's parameters.
    fn table_settings(&self, function: &str) -> Vec<(String, String)> {
        let environment = self.ready["functions"][function]["environment"]
            .as_object()
            .unwrap();
        environment
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().unwrap().to_string()))
            .collect()
    }

    /// The Glue table `users` as the administrator reads it.
    async fn glue_table(&self) -> aws_sdk_glue::types::Table {
        let glue = aws_sdk_glue::Client::new(&self.shared("admin").await);
        let found = glue
            .get_table()
            .database_name(self.glue_database())
            .name("users")
            .send()
            .await
            .unwrap();
        found.table.unwrap()
    }
}

/// The table mode's settings, as the template sets them, for the table `users` of `database`.
fn table_env(database: &str) -> [(&'static str, &str); 4] {
    [
        ("LAKE_FORMAT", "iceberg"),
        ("ICEBERG_CATALOG", "glue"),
        ("ICEBERG_DATABASE", database),
        ("ICEBERG_TABLE", "users"),
    ]
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

/// `event` with every record's offset moved on by `by`: records the lake has not seen.
fn shifted(event: &str, by: i64) -> String {
    let mut event: Value = serde_json::from_str(event).unwrap();
    for records in event["records"].as_object_mut().unwrap().values_mut() {
        for record in records.as_array_mut().unwrap() {
            record["offset"] = (record["offset"].as_i64().unwrap() + by).into();
        }
    }
    event.to_string()
}

/// The parameter `key` of a Glue table.
fn parameter<'a>(table: &'a aws_sdk_glue::types::Table, key: &str) -> &'a str {
    table
        .parameters()
        .and_then(|p| p.get(key))
        .map_or("", String::as_str)
}

/// The failure record the trigger writes for a batch (`payload`, the MSK event) after its
/// retries, stored in the failed bucket with the sink role (Lambda writes the S3 destination
/// with the function's execution role); its `s3://` URL.
fn store_failure_record(moto: &Moto, rt: &tokio::runtime::Runtime, payload: &str) -> String {
    let failed_bucket = moto.bucket("failed");
    let sink_failures = rt.block_on(moto.store("SinkFunction", &failed_bucket));
    let record = serde_json::json!({
        "requestContext": {"condition": "RetryAttemptsExhausted", "approximateInvokeCount": 11},
        "KafkaBatchInfo": {"batchSize": 1},
        "payload": payload,
    });
    let key = "aws/lambda/00000000-0000-4000-8000-000000000001/users_created-0/a.json";
    rt.block_on(sink_failures.put(key, record.to_string().into_bytes(), "application/json"))
        .unwrap();
    assert!(
        rt.block_on(sink_failures.list("aws/")).is_ok(),
        "the sink may list its destination"
    );
    format!("s3://{failed_bucket}/{key}")
}

/// `replay --failed-batch url` with the operator's role (`ReplayRole`) and `env`; its summary,
/// after checking that it succeeded.
fn replay_failed_batch(moto: &Moto, env: &[(&str, &str)], url: &str) -> Value {
    let output = Command::new(binary("replay"))
        .env_clear()
        .envs(moto.env("ReplayRole"))
        .envs(env.iter().copied())
        .args(["--failed-batch", url])
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(
        output
            .stdout
            .split(|b| *b == b'\n')
            .find(|l| !l.is_empty())
            .unwrap(),
    )
    .unwrap();
    assert!(output.status.success(), "{summary}");
    summary
}

fn response(answer: Answer) -> Value {
    match answer {
        Answer::Response(body) => serde_json::from_str(&body).unwrap(),
        Answer::Error(error) => panic!("the invocation failed: {error}"),
    }
}

#[test]
fn each_function_stores_what_it_must_with_only_its_roles_permissions() {
    let Some(moto) = moto(&FILES) else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let admin_lake = rt.block_on(moto.store("admin", &moto.bucket("lake")));

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

    // and the trigger's failure record, written with the sink role
    let failure = store_failure_record(&moto, &rt, &event("msk-users.json"));

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
    let summary = replay_failed_batch(&moto, &[("LAKE_FORMAT", "files")], &failure);

    // then its records are in the lake
    assert!(summary["written"].as_u64().unwrap() > 0, "{summary}");
}

#[test]
fn a_narrowed_grant_is_denied_and_fails_the_sink() {
    // given the files layout's sink role without its grant on users_csv/
    let Some(moto) = moto(&[&FILES[..], &["--narrow", "SinkFunction:users_csv"]].concat()) else {
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

#[test]
fn the_table_mode_creates_commits_and_maintains_the_iceberg_table_with_only_its_roles_permissions()
{
    let Some(moto) = moto(&[]) else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = moto.glue_database();
    let table = table_env(&database);

    // given the roles of the template's default layout: no grant on the plain files' roots
    let policies = moto.ready["functions"].to_string();
    let lake_bucket = moto.bucket("lake");
    for root in ["users/", "users_jsonl/", "users_csv/"] {
        let object = format!("{lake_bucket}/{root}");
        let listed = format!("\"{root}");
        assert!(
            !policies.contains(&object) && !policies.contains(&listed),
            "a table-mode role is granted {root}: {policies}"
        );
    }
    let metadata_root = format!("s3://{}/iceberg/users/metadata/", moto.bucket("lake"));

    // given no table yet, when the sink stores a batch with its role's session
    let created = response(invoke(
        &moto,
        "sink",
        "SinkFunction",
        &table,
        &event("msk-mixed.json"),
    ));

    // then it created the table in Glue and committed its rows: an Iceberg table whose metadata
    // is in the lake
    assert!(created["written"].as_u64().unwrap() > 0, "{created}");
    assert!(created["rejected"].as_u64().unwrap() > 0, "{created}");
    assert!(created["snapshot_id"].is_i64(), "{created}");
    let first = rt.block_on(moto.glue_table());
    assert_eq!(parameter(&first, "table_type"), "ICEBERG");
    assert!(
        parameter(&first, "metadata_location").starts_with(&metadata_root),
        "{first:?}"
    );

    // when the next batch arrives
    let committed = response(invoke(
        &moto,
        "sink",
        "SinkFunction",
        &table,
        &event("msk-users.json"),
    ));

    // then it is committed on the table: every record added, the pointer moved on
    assert_eq!(committed["written"], committed["records"], "{committed}");
    assert_eq!(committed["duplicates"], 0, "{committed}");
    assert_ne!(committed["snapshot_id"], created["snapshot_id"]);
    let second = rt.block_on(moto.glue_table());
    assert_eq!(
        parameter(&second, "previous_metadata_location"),
        parameter(&first, "metadata_location")
    );
    assert!(parameter(&second, "metadata_location").starts_with(&metadata_root));

    // when replay brings back, with the operator's role, a failed batch the table has not seen
    let failure = store_failure_record(&moto, &rt, &shifted(&event("msk-users.json"), 1000));
    let replayed = replay_failed_batch(&moto, &table, &failure);

    // then it committed its records on the table
    assert!(replayed["written"].as_u64().unwrap() > 0, "{replayed}");
    assert_eq!(replayed["duplicates"], 0, "{replayed}");
    assert!(replayed["batches"][0]["snapshot_id"].is_i64(), "{replayed}");

    // when the compactor runs with its role once the records' hours are closed, with the
    // shortest retention and orphan age it takes
    let maintenance = [
        ("SNAPSHOT_RETENTION_HOURS", "1"),
        ("SNAPSHOT_MIN_KEEP", "1"),
        ("ORPHAN_MIN_AGE_HOURS", "1"),
    ];
    let later = (Utc::now() + Duration::hours(3)).to_rfc3339();
    let compacted = response(invoke(
        &moto,
        "compactor",
        "CompactorFunction",
        &[&table[..], &maintenance[..]].concat(),
        &serde_json::json!({"detail": {"now": later}}).to_string(),
    ));

    // then it merged the hour's files in a committed rewrite, and its expiry and removal (which
    // list and read the table's files) ran without a denial
    assert_eq!(compacted["failed"], 0, "{compacted}");
    assert!(compacted.get("skipped_for").is_none(), "{compacted}");
    assert!(
        compacted["files_merged"].as_u64().unwrap() >= 2,
        "{compacted}"
    );
    assert!(
        compacted["files_written"].as_u64().unwrap() >= 1,
        "{compacted}"
    );
    assert!(!compacted["cleanup_deferred"].as_bool().unwrap_or(false));

    // when the compactor's expiry and removal (the table crate's calls its run makes) run with
    // its role three hours on: the binary judges ages by the wall clock, and an hour is the
    // least it takes, so nothing it just wrote was old enough
    let compactor = rt.block_on(moto.table("CompactorFunction"));
    let three_hours_on = Utc::now() + Duration::hours(3);
    let retention = Retention {
        max_age: Duration::hours(1),
        min_snapshots: 1,
    };
    let expired = rt
        .block_on(compactor.expire_snapshots(&retention, three_hours_on))
        .unwrap();
    let removal = rt
        .block_on(compactor.remove_unreferenced(Duration::hours(1), three_hours_on))
        .unwrap();

    // then every snapshot but the current one expired, and the files only they reached (the
    // merged originals among them) are deleted from the lake
    assert!(!expired.snapshots.is_empty(), "{expired:?}");
    assert!(
        removal.deleted.iter().any(|k| k.contains("/data/")),
        "{removal:?}"
    );
    let admin_lake = rt.block_on(moto.store("admin", &moto.bucket("lake")));
    let left = rt.block_on(e2e::lake::keys(&admin_lake, "iceberg/users/"));
    assert!(
        removal.deleted.iter().all(|k| !left.contains(k)),
        "{left:?}"
    );
}

#[test]
fn a_sink_role_without_glue_update_table_creates_the_table_but_cannot_commit_to_it() {
    // given the sink role without glue:UpdateTable, and no table yet
    let Some(moto) = moto(&["--narrow-action", "SinkFunction:glue:UpdateTable"]) else {
        return;
    };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let database = moto.glue_database();

    // when the sink stores a batch
    let answer = invoke(
        &moto,
        "sink",
        "SinkFunction",
        &table_env(&database),
        &event("msk-users.json"),
    );

    // then Glue refuses the commit's UpdateTable, and the invocation fails as a table failure to
    // act on
    let Answer::Error(error) = answer else {
        panic!("the sink committed without glue:UpdateTable: {answer:?}");
    };
    assert!(error.contains("TableCommitFailed.Fatal"), "{error}");
    assert!(error.contains("cannot swap table"), "{error}");
    assert!(
        error.contains("not authorized to perform: glue:UpdateTable"),
        "{error}"
    );
    // and the table it created (CreateTable is still granted) is the empty first version
    let created = rt.block_on(moto.glue_table());
    assert!(
        parameter(&created, "metadata_location").contains("/metadata/00000-"),
        "{created:?}"
    );
}

/// moto_lake.py's flags for the roles the template gives the table in S3 Tables.
const S3TABLES: [&str; 2] = ["--param", "TableCatalog=s3tables"];

fn borrowed(settings: &[(String, String)]) -> Vec<(&str, &str)> {
    settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect()
}

#[test]
fn under_s3_tables_the_sink_and_replay_create_and_commit_the_table_with_only_their_roles_permissions()
 {
    let Some(moto) = moto(&S3TABLES) else { return };
    let rt = tokio::runtime::Runtime::new().unwrap();
    let settings = moto.table_settings("SinkFunction");
    let table = borrowed(&settings);
    let table_bucket = moto.ready["table_buckets"]["TableBucket"]["arn"]
        .as_str()
        .unwrap()
        .to_string();

    // given the template's settings and roles under TableCatalog s3tables: every function names
    // the table users in the stack's table bucket; the sink and replay are granted the table
    // (lake-s3tables), the compactor nothing of S3 Tables
    let catalog = format!("s3tables:{table_bucket}");
    assert!(
        table.contains(&("ICEBERG_CATALOG", catalog.as_str())),
        "{table:?}"
    );
    assert_eq!(moto.table_settings("CompactorFunction"), settings);
    for who in ["SinkFunction", "ReplayRole"] {
        let granted = moto.ready["functions"][who]["policies"]["lake-s3tables"].to_string();
        assert!(granted.contains(&table_bucket), "{who}: {granted}");
    }
    let compactor = &moto.ready["functions"]["CompactorFunction"];
    let compactor_grants = format!("{}{}", compactor["policies"], compactor["managed_policies"]);
    assert!(
        !compactor_grants.contains("s3tables:"),
        "{compactor_grants}"
    );

    // given no table yet, when the sink stores a batch with its role's session
    let created = response(invoke(
        &moto,
        "sink",
        "SinkFunction",
        &table,
        &event("msk-mixed.json"),
    ));

    // then it created the table in the table bucket and committed its rows, the metadata in the
    // table's own warehouse bucket
    assert!(created["written"].as_u64().unwrap() > 0, "{created}");
    assert!(created["rejected"].as_u64().unwrap() > 0, "{created}");
    assert!(created["snapshot_id"].is_i64(), "{created}");
    let admin_table = rt.block_on(moto.table_with("admin", &table));
    let first = rt.block_on(admin_table.load()).unwrap().unwrap().pointer;
    assert!(
        first.metadata_location.contains("--table-s3/metadata/"),
        "{first:?}"
    );

    // when the next batch arrives
    let committed = response(invoke(
        &moto,
        "sink",
        "SinkFunction",
        &table,
        &event("msk-users.json"),
    ));

    // then it is committed on the table: every record added, the pointer moved on
    assert_eq!(committed["written"], committed["records"], "{committed}");
    assert_eq!(committed["duplicates"], 0, "{committed}");
    assert_ne!(committed["snapshot_id"], created["snapshot_id"]);
    let second = rt.block_on(admin_table.load()).unwrap().unwrap().pointer;
    assert_ne!(second.metadata_location, first.metadata_location);

    // when replay brings back, with the operator's role and the sink's settings, a failed batch
    // the table has not seen
    let failure = store_failure_record(&moto, &rt, &shifted(&event("msk-users.json"), 1000));
    let replayed = replay_failed_batch(&moto, &table, &failure);

    // then it committed its records on the table
    assert!(replayed["written"].as_u64().unwrap() > 0, "{replayed}");
    assert_eq!(replayed["duplicates"], 0, "{replayed}");
    assert!(replayed["batches"][0]["snapshot_id"].is_i64(), "{replayed}");

    // when the compactor runs with its role and its settings once the records' hours are closed
    let before = rt.block_on(admin_table.load()).unwrap().unwrap().pointer;
    let later = (Utc::now() + Duration::hours(3)).to_rfc3339();
    let compactor_settings = moto.table_settings("CompactorFunction");
    let compacted = response(invoke(
        &moto,
        "compactor",
        "CompactorFunction",
        &borrowed(&compactor_settings),
        &serde_json::json!({"detail": {"now": later}}).to_string(),
    ));

    // then it stood aside, S3 Tables maintaining the table: no lease, no merge, no commit, and
    // no call its role (granted nothing of S3 Tables) would be refused
    assert_eq!(compacted["failed"], 0, "{compacted}");
    assert_eq!(compacted["partitions"], 0, "{compacted}");
    assert_eq!(compacted["files_merged"], 0, "{compacted}");
    assert_eq!(compacted["merged_written"], 0, "{compacted}");
    let after = rt.block_on(admin_table.load()).unwrap().unwrap().pointer;
    assert_eq!(after.metadata_location, before.metadata_location);
    let admin_lake = rt.block_on(moto.store("admin", &moto.bucket("lake")));
    assert!(
        rt.block_on(e2e::lake::keys(&admin_lake, "_compactor/"))
            .is_empty()
    );

    // and the table, read back with the sink's role, holds every record the three commits
    // wrote, and each partition's mark is the highest offset it was given
    let sink_table = rt.block_on(moto.table_with("SinkFunction", &table));
    let state = rt.block_on(sink_table.load()).unwrap().unwrap();
    let rows: usize = rt
        .block_on(sink_table.scan(None))
        .unwrap()
        .iter()
        .map(|batch| batch.num_rows())
        .sum();
    let written: u64 = [&created, &committed, &replayed]
        .iter()
        .map(|summary| summary["written"].as_u64().unwrap())
        .sum();
    assert_eq!(rows as u64, written);
    let marks = table::Marks::of(&state.metadata).unwrap();
    assert_eq!(
        marks.iter().collect::<Vec<_>>(),
        [
            ("users_created", 0, 1042),
            ("users_created", 1, 106),
            ("users_created", 2, 1009)
        ]
    );
}

/// The sink's answer to one batch under TableCatalog s3tables with `action` taken from its
/// role, and whether a table was committed after it (as an administrator sees it); `None`
/// without the pinned venv.
fn a_batch_under_s3_tables_without(action: &str) -> Option<(Answer, bool)> {
    let narrow = format!("SinkFunction:{action}");
    let narrowed = [&S3TABLES[..], &["--narrow-action", &narrow]].concat();
    let moto = moto(&narrowed)?;
    let rt = tokio::runtime::Runtime::new().unwrap();
    let settings = moto.table_settings("SinkFunction");
    let table = borrowed(&settings);
    let answer = invoke(
        &moto,
        "sink",
        "SinkFunction",
        &table,
        &event("msk-users.json"),
    );
    let admin_table = rt.block_on(moto.table_with("admin", &table));
    let committed = rt.block_on(admin_table.load()).unwrap().is_some();
    Some((answer, committed))
}

#[test]
fn under_s3_tables_a_sink_role_without_update_table_metadata_location_cannot_commit() {
    // given the sink role under TableCatalog s3tables without
    // s3tables:UpdateTableMetadataLocation, and no table yet; when the sink stores a batch
    let action = "s3tables:UpdateTableMetadataLocation";
    let Some((answer, committed)) = a_batch_under_s3_tables_without(action) else {
        return;
    };

    // then S3 Tables refuses the commit's pointer update, and the invocation fails
    let Answer::Error(error) = answer else {
        panic!("the sink committed without {action}: {answer:?}");
    };
    assert!(error.contains("TableCommitFailed.Fatal"), "{error}");
    assert!(
        error.contains("cannot create table user_lake.users"),
        "{error}"
    );
    assert!(
        error.contains("not authorized to perform: s3tables:UpdateTableMetadataLocation"),
        "{error}"
    );
    // and nothing is committed: the table has no metadata file
    assert!(!committed);
}

#[test]
fn under_s3_tables_a_sink_role_without_put_table_data_cannot_write_the_tables_files() {
    // given the sink role under TableCatalog s3tables without s3tables:PutTableData, which
    // authorises the S3 writes into the table's warehouse bucket; when the sink stores a batch
    let action = "s3tables:PutTableData";
    let Some((answer, committed)) = a_batch_under_s3_tables_without(action) else {
        return;
    };

    // then the write into the warehouse bucket is denied, and the invocation fails
    let Answer::Error(error) = answer else {
        panic!("the sink wrote the table's files without {action}: {answer:?}");
    };
    assert!(error.contains("TableCommitFailed.Fatal"), "{error}");
    assert!(error.contains("--table-s3/metadata/"), "{error}");
    assert!(error.contains("AccessDenied"), "{error}");
    // and nothing is committed
    assert!(!committed);
}
