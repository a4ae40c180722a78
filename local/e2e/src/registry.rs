//! Producing through the local schema registry and triggering the sink behind it, for the
//! scenarios of `flow` and `table_flow` that read records a registry validated: confluent-kafka's
//! Avro serializer (`local/e2e/python/registry_producer.py`, a client that shares no code with
//! the pipeline) writes the users, and the MSK trigger validates them as a mapping with a
//! `SchemaRegistryConfig` does.

use serde_json::Value;
use user_record::UserRecord;

use crate::{
    env_file::{local_env, repo_root},
    stack::{emulator, json_lines, summary},
    tools::venv_python,
    topic,
};

/// A topic of 3 partitions no earlier run used, and a consumer group for it. The name stays
/// short: the failure bucket's keys hold it, and the local store keeps keys of about 150 bytes.
pub fn fresh_topic(brokers: &str, name: &str) -> (String, String) {
    let seconds = chrono::Utc::now().timestamp();
    let topic = format!("{name}_{seconds}");
    topic::create(brokers, &topic, 3);
    let group = format!("{topic}-sink");
    (topic, group)
}

/// The registry stand-in's URL.
pub fn registry_url() -> String {
    local_env()["SCHEMA_REGISTRY_STAND_IN"].clone()
}

/// Runs the MSK trigger on `topic` behind the registry until idle; its summary and JSON lines.
pub fn trigger_through_registry(topic: &str, group: &str, format: &str) -> (Value, Vec<Value>) {
    let registry = registry_url();
    let output = emulator(
        "msk-trigger",
        &[
            "--until-idle",
            "3s",
            "--max-retries",
            "5",
            "--topic",
            topic,
            "--group",
            group,
            "--schema-registry",
            &registry,
            "--schema-record-format",
            format,
        ],
    );
    assert!(
        output.status.success(),
        "msk-trigger failed: {}",
        output.status
    );
    (summary(&output), json_lines(&output.stdout))
}

/// Produces `count` users with confluent-kafka through the registry; the users as sent (with
/// any field a later schema version adds, as JSON), and the script's summary.
pub fn produce_with_confluent_kafka(
    brokers: &str,
    topic: &str,
    count: u32,
    extra: &[&str],
) -> (Vec<(UserRecord, Value)>, Value) {
    let env = local_env();
    let dir = std::env::temp_dir().join(format!("user-lake-e2e-{topic}"));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    let sent_file = dir.join("sent.jsonl");
    let script = repo_root().join("local/e2e/python/registry_producer.py");
    let count = count.to_string();
    let mut args = vec![
        script.as_os_str(),
        brokers.as_ref(),
        topic.as_ref(),
        env["SCHEMA_REGISTRY_STAND_IN"].as_ref(),
        env["USERS_API_STAND_IN"].as_ref(),
        count.as_ref(),
        sent_file.as_os_str(),
    ];
    args.extend(extra.iter().map(std::ffi::OsStr::new));
    let printed = venv_python(&args);
    let produced: Value = serde_json::from_str(printed.trim()).unwrap();
    let sent = std::fs::read_to_string(&sent_file)
        .unwrap()
        .lines()
        .map(|l| {
            let record = UserRecord::from_json_owned(l.as_bytes()).unwrap();
            (record, serde_json::from_str(l).unwrap())
        })
        .collect();
    (sent, produced)
}
