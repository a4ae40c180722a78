//! Records a trigger with a schema registry hands over: as JSON (`EventRecordFormat` `JSON`,
//! timestamps as the `timestamp-millis` numbers of the users' Avro schema) or as the Avro datum
//! without the registry's prefix (`SOURCE`), each with `valueSchemaMetadata`. Both land as the
//! JSON records do; an Avro value that does not decode goes to `_errors/` with its reason; a
//! writer schema the registry cannot give fails the batch, retryably, storing nothing.

use std::sync::Arc;

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use lambda_kit::Classified;
use serde_json::{Value, json};
use sink::{Sink, handle_json, registry::FixedRegistry};
use user_record::UserRecord;

use crate::common::*;

/// A user whose instants are whole milliseconds (what `timestamp-millis` carries).
fn user(i: u32) -> UserRecord {
    let json = json!({
        "id": uuid::Uuid::from_u128(0x6f1c_2f8e_0000_4c3e_9d1a_0000_0000_0000 + u128::from(i)),
        "first_name": format!("Zoë {i}"), "last_name": "Løvås", "gender": "female",
        "address": "4821 Kirkeveien, Oslo, Østfold, Norway", "post_code": "0567",
        "email": format!("zoe{i}@example.com"), "username": format!("bluefish{i}"),
        "dob": "1987-05-04T10:11:12.345Z", "registered_date": "2015-02-03T04:05:06Z",
        "phone": "22 33 44 55", "picture": "https://randomuser.me/api/portraits/med/women/12.jpg",
    });
    UserRecord::from_json_owned(json.to_string().as_bytes()).unwrap()
}

/// The JSON a trigger in `JSON` format makes of a user's Avro record: the same fields, the
/// `timestamp-millis` instants as numbers.
fn lambda_json(user: &UserRecord) -> Vec<u8> {
    let mut value: Value = serde_json::from_slice(&user.to_json()).unwrap();
    value["dob"] = json!(user.dob.timestamp_millis());
    value["registered_date"] = json!(user.registered_date.timestamp_millis());
    value.to_string().into_bytes()
}

/// An event of one partition whose values, at offsets from 0, each carry the Avro metadata of
/// the schema id beside them.
fn event(values: &[(Vec<u8>, &str)]) -> String {
    let entries: Vec<Value> = (values.iter().enumerate())
        .map(|(offset, (value, schema_id))| {
            json!({
                "topic": "users_created", "partition": 0, "offset": offset,
                "timestamp": 1_795_525_198_100i64, "timestampType": "CREATE_TIME",
                "key": BASE64.encode(b"k"), "value": BASE64.encode(value), "headers": [],
                "valueSchemaMetadata": {"dataFormat": "AVRO", "schemaId": schema_id},
            })
        })
        .collect();
    json!({"eventSource": "aws:kafka", "records": {"users_created-0": entries}}).to_string()
}

/// The users' schema with one more, optional, field: the next version a producer may write.
fn schema_v2() -> String {
    let mut avro: Value = serde_json::from_str(user_record::schemas::AVRO).unwrap();
    avro["fields"].as_array_mut().unwrap().push(json!(
        {"name": "nationality", "type": ["null", "string"], "default": null}
    ));
    avro.to_string()
}

/// A user's datum written with [`schema_v2`], its new field set.
fn avro_v2(user: &UserRecord) -> Vec<u8> {
    // v2's fields are v1's and then one more: a v1 datum followed by the union's branch 1
    // (zig-zag 2) and the string "NO".
    let mut datum = user.to_avro();
    datum.extend_from_slice(&[2, 4, b'N', b'O']);
    let writer = apache_avro::Schema::parse_str(&schema_v2()).unwrap();
    assert!(UserRecord::from_avro(&writer, &datum).is_ok(), "a v2 datum");
    datum
}

fn source_sink(registry: Arc<FixedRegistry>) -> Sink<MemoryStore> {
    sink(MemoryStore::default()).with_schemas(Box::new(registry))
}

#[tokio::test]
async fn json_made_by_the_trigger_from_avro_records_lands_field_for_field() {
    // given users as a trigger in JSON format hands them over
    let users: Vec<UserRecord> = (0..3).map(user).collect();
    let values: Vec<(Vec<u8>, &str)> = users.iter().map(|u| (lambda_json(u), "1")).collect();
    let sink = sink(MemoryStore::default());

    // when the sink handles them
    let summary = handle_json(&event(&values), &sink, now()).await.unwrap();

    // then every user is in the lake as it was produced
    assert_eq!(summary.rejected, 0);
    assert_eq!(lake_users(&sink.store), users);
}

#[tokio::test]
async fn avro_values_of_either_schema_version_land_and_a_bad_one_goes_to_errors() {
    // given a registry with two versions of the users' schema, and values written with each,
    // one of them cut short
    let registry = Arc::new(FixedRegistry::new([
        ("1", user_record::schemas::AVRO),
        ("2", &schema_v2()),
    ]));
    let sink = source_sink(registry.clone());
    let truncated = user(2).to_avro()[..20].to_vec();
    let values = vec![
        (user(0).to_avro(), "1"),
        (avro_v2(&user(1)), "2"),
        (truncated.clone(), "1"),
        (user(3).to_avro(), "1"),
    ];

    // when the sink handles them
    let summary = handle_json(&event(&values), &sink, now()).await.unwrap();

    // then the good ones land field for field, the bad one is in _errors/ with its bytes
    assert_eq!(lake_users(&sink.store), vec![user(0), user(1), user(3)]);
    assert_eq!(summary.rejected, 1);
    let errors = error_lines(&sink.store);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0]["offset"], 2);
    let reason = errors[0]["reason"].as_str().unwrap();
    assert!(
        reason.starts_with("value is not a valid Avro user record (schema 1)"),
        "{reason}"
    );
    assert_eq!(errors[0]["raw_base64"], BASE64.encode(&truncated));
    // and each schema was fetched once
    assert_eq!(registry.lookups(), 2);
}

#[tokio::test]
async fn writer_schemas_are_fetched_once_for_the_functions_life() {
    let registry = Arc::new(FixedRegistry::new([("1", user_record::schemas::AVRO)]));
    let sink = source_sink(registry.clone());
    for i in 0..3 {
        let summary = handle_json(&event(&[(user(i).to_avro(), "1")]), &sink, now())
            .await
            .unwrap();
        assert_eq!(summary.rejected, 0);
    }
    assert_eq!(registry.lookups(), 1);
    assert_eq!(lake_users(&sink.store).len(), 3);
}

#[tokio::test]
async fn a_writer_schema_the_registry_lacks_fails_the_batch_retryably_storing_nothing() {
    // given a value whose schema id the registry does not know
    let registry = Arc::new(FixedRegistry::new([("1", user_record::schemas::AVRO)]));
    let sink = source_sink(registry);
    let values = vec![(user(0).to_avro(), "1"), (user(1).to_avro(), "99")];

    // when the sink handles the batch
    let err = handle_json(&event(&values), &sink, now())
        .await
        .unwrap_err();

    // then the batch fails, to be retried, and nothing was written
    assert!(err.retry().is_retryable(), "{err}");
    assert!(err.to_string().contains("schema 99"), "{err}");
    assert!(sink.store.keys().is_empty(), "{:?}", sink.store.keys());
}

#[tokio::test]
async fn without_a_registry_avro_values_are_rejected_as_json_and_kept() {
    // given a sink set up for JSON values (no SCHEMA_REGISTRY_URI) handed Avro bytes
    let sink = sink(MemoryStore::default());
    let avro = user(0).to_avro();

    // then the record is not lost: it is in _errors/ with its bytes
    let summary = handle_json(&event(&[(avro.clone(), "1")]), &sink, now())
        .await
        .unwrap();
    assert_eq!(summary.rejected, 1);
    let errors = error_lines(&sink.store);
    assert_eq!(errors[0]["raw_base64"], BASE64.encode(&avro));
}

/// The local registry stand-in (`local/schema-registry/registry.py`) on a free port, stopped
/// when dropped.
struct LocalRegistry {
    child: std::process::Child,
    url: url::Url,
}

impl LocalRegistry {
    fn start() -> Self {
        use std::io::BufRead;
        let script = format!(
            "{}/../../local/schema-registry/registry.py",
            env!("CARGO_MANIFEST_DIR")
        );
        let mut child = std::process::Command::new("python3")
            .args([script.as_str(), "--listen", "127.0.0.1:0"])
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("python3 runs the local registry");
        let mut first = String::new();
        let stderr = child.stderr.take().unwrap();
        std::io::BufReader::new(stderr)
            .read_line(&mut first)
            .unwrap();
        let line: Value = serde_json::from_str(&first).expect("the registry says where it listens");
        let url = line["listening"].as_str().unwrap().parse().unwrap();
        Self { child, url }
    }
}

impl Drop for LocalRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn the_confluent_client_reads_a_registered_schema_by_id_from_a_real_registry() {
    use sink::SchemaRegistry;
    // given the users' schema registered with the local registry over its REST API
    let registry = LocalRegistry::start();
    let client = reqwest::Client::new();
    let registered: Value = client
        .post(
            registry
                .url
                .join("subjects/users_created-value/versions")
                .unwrap(),
        )
        .json(&json!({"schema": user_record::schemas::AVRO}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = registered["id"].to_string();

    // when the sink's client asks for that id, and for one the registry lacks
    let confluent = sink::ConfluentRegistry::new(client, registry.url.clone());
    let text = confluent.schema_text(&id).await.unwrap();
    let missing = confluent.schema_text("99").await.unwrap_err();

    // then it gets the schema as registered, and a 404 for the other
    assert_eq!(text, user_record::schemas::AVRO);
    assert!(
        matches!(
            missing,
            sink::registry::RegistryError::Status { status: 404, .. }
        ),
        "{missing}"
    );
}
