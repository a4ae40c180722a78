//! The Glue catalog through a real aws-sdk-glue client: against a scripted endpoint that
//! answers as Glue does where moto does not (a `ConcurrentModificationException`, throttling),
//! and, when the pinned venv has moto, against moto's Glue for the whole create, load and swap
//! cycle.

mod common;

use std::sync::{Arc, Mutex};

use aws_sdk_glue::config::{BehaviorVersion, Credentials, Region, retry::RetryConfig};
use aws_sdk_glue::types::{DatabaseInput, TableInput};
use lambda_kit::Retry;
use serde_json::{Value, json};
use table::catalog::glue::GlueCatalog;
use table::{Catalog, CatalogError, Pointer, Swap};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::TcpListener;

use common::moto;

/// A Glue client for `endpoint`, with test credentials and no retries (a test's scripted
/// failure is answered once).
fn client(endpoint: &str) -> aws_sdk_glue::Client {
    let config = aws_sdk_glue::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .endpoint_url(endpoint)
        .retry_config(RetryConfig::disabled())
        .build();
    aws_sdk_glue::Client::from_conf(config)
}

fn pointer(location: &str, version: &str) -> Pointer {
    Pointer {
        metadata_location: location.into(),
        version: Some(version.into()),
    }
}

/// A status and a JSON body, as a Glue endpoint answers.
type Answer = (u16, Value);
type Script = Arc<dyn Fn(&str, &Value) -> Answer + Send + Sync>;

/// An HTTP endpoint that answers each Glue operation (`GetTable`, …) as `script` says, and
/// keeps every request it received.
struct Scripted {
    endpoint: String,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
}

impl Scripted {
    async fn start(script: impl Fn(&str, &Value) -> Answer + Send + Sync + 'static) -> Self {
        let script: Script = Arc::new(script);
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        let requests = Arc::new(Mutex::new(Vec::new()));
        let kept = Arc::clone(&requests);
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(serve(socket, Arc::clone(&script), Arc::clone(&kept)));
            }
        });
        Self { endpoint, requests }
    }

    /// The operations received, in order.
    fn operations(&self) -> Vec<String> {
        let requests = self.requests.lock().unwrap();
        requests
            .iter()
            .map(|(operation, _)| operation.clone())
            .collect()
    }

    /// The body of the last request for `operation`.
    fn last(&self, operation: &str) -> Value {
        let requests = self.requests.lock().unwrap();
        let found = requests.iter().rev().find(|(op, _)| op == operation);
        found.map(|(_, body)| body.clone()).unwrap()
    }
}

/// Answers the HTTP/1.1 requests of one connection, one after the other.
async fn serve(
    socket: tokio::net::TcpStream,
    script: Script,
    requests: Arc<Mutex<Vec<(String, Value)>>>,
) {
    let mut reader = BufReader::new(socket);
    loop {
        let mut line = String::new();
        if reader.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let (mut operation, mut length) = (String::new(), 0);
        loop {
            line.clear();
            reader.read_line(&mut line).await.unwrap();
            let header = line.trim_end();
            if header.is_empty() {
                break;
            }
            let Some((name, value)) = header.split_once(':') else {
                continue;
            };
            match name.to_ascii_lowercase().as_str() {
                // `AWSGlue.GetTable`: the awsJson1_1 protocol's operation header.
                "x-amz-target" => {
                    operation = value.trim().trim_start_matches("AWSGlue.").to_string()
                }
                "content-length" => length = value.trim().parse().unwrap(),
                _ => {}
            }
        }
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await.unwrap();
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        let (status, answer) = script(&operation, &body);
        requests.lock().unwrap().push((operation, body));
        let answer = answer.to_string();
        let error_type = answer_type(status, &answer);
        let response = format!(
            "HTTP/1.1 {status} X\r\ncontent-type: application/x-amz-json-1.1\r\n{error_type}content-length: {}\r\n\r\n{answer}",
            answer.len()
        );
        reader
            .get_mut()
            .write_all(response.as_bytes())
            .await
            .unwrap();
    }
}

/// The `x-amzn-ErrorType` header line of an error answer (`{"__type": "…"}`).
fn answer_type(status: u16, answer: &str) -> String {
    if status < 300 {
        return String::new();
    }
    let value: Value = serde_json::from_str(answer).unwrap();
    match value["__type"].as_str() {
        Some(kind) => format!("x-amzn-ErrorType: {kind}\r\n"),
        None => String::new(),
    }
}

fn glue_error(kind: &str) -> Value {
    json!({ "__type": kind, "Message": format!("scripted {kind}") })
}

/// A GetTable answer for an Iceberg table at `location`, version `version`, with a parameter,
/// a description and a storage descriptor of its own.
fn iceberg_table(location: &str, version: &str) -> Answer {
    (
        200,
        json!({ "Table": {
            "Name": "users",
            "DatabaseName": "lake",
            "TableType": "EXTERNAL_TABLE",
            "Description": "the users",
            "VersionId": version,
            "Parameters": {
                "table_type": "iceberg",
                "metadata_location": location,
                "owner_team": "data",
            },
            "StorageDescriptor": {
                "Columns": [{ "Name": "id", "Type": "bigint" }],
                "Location": "s3://lake/users",
            },
        }}),
    )
}

#[tokio::test]
async fn a_swap_sends_the_version_it_read_and_keeps_the_tables_own_settings() {
    let glue = Scripted::start(|operation, _| match operation {
        "GetTable" => iceberg_table("s3://lake/users/metadata/1.json", "7"),
        "UpdateTable" => (200, json!({})),
        other => panic!("unexpected {other}"),
    })
    .await;
    let catalog = GlueCatalog::new(client(&glue.endpoint), "lake", "users");
    let current = pointer("s3://lake/users/metadata/1.json", "7");
    assert_eq!(
        catalog.load().await.unwrap(),
        Some(current.clone()),
        "table_type is matched without regard to case"
    );
    assert_eq!(
        catalog
            .swap(&current, "s3://lake/users/metadata/2.json")
            .await
            .unwrap(),
        Swap::Swapped
    );
    assert_eq!(glue.operations(), ["GetTable", "GetTable", "UpdateTable"]);
    let update = glue.last("UpdateTable");
    assert_eq!(update["VersionId"], "7");
    assert_eq!(update["SkipArchive"], true);
    assert_eq!(update["DatabaseName"], "lake");
    let input = &update["TableInput"];
    assert_eq!(input["Name"], "users");
    assert_eq!(input["TableType"], "EXTERNAL_TABLE");
    assert_eq!(input["Description"], "the users");
    assert_eq!(
        input["Parameters"],
        json!({
            "table_type": "ICEBERG",
            "metadata_location": "s3://lake/users/metadata/2.json",
            "previous_metadata_location": "s3://lake/users/metadata/1.json",
            "owner_team": "data",
        })
    );
    assert_eq!(
        input["StorageDescriptor"]["Columns"],
        json!([{ "Name": "id", "Type": "bigint" }])
    );
    assert_eq!(input["StorageDescriptor"]["Location"], "s3://lake/users");
}

#[tokio::test]
async fn a_concurrent_modification_on_update_is_a_conflict() {
    let glue = Scripted::start(|operation, _| match operation {
        "GetTable" => iceberg_table("m/1.json", "7"),
        _ => (400, glue_error("ConcurrentModificationException")),
    })
    .await;
    let catalog = GlueCatalog::new(client(&glue.endpoint), "lake", "users");
    assert_eq!(
        catalog
            .swap(&pointer("m/1.json", "7"), "m/2.json")
            .await
            .unwrap(),
        Swap::Conflict
    );
    assert_eq!(glue.operations(), ["GetTable", "UpdateTable"]);
}

#[tokio::test]
async fn a_table_moved_on_or_changed_since_the_read_is_a_conflict_without_an_update() {
    let glue = Scripted::start(|operation, _| match operation {
        "GetTable" => iceberg_table("m/2.json", "8"),
        other => panic!("unexpected {other}"),
    })
    .await;
    let catalog = GlueCatalog::new(client(&glue.endpoint), "lake", "users");
    // Another writer committed m/2.json.
    let moved_on = pointer("m/1.json", "7");
    assert_eq!(
        catalog.swap(&moved_on, "m/3.json").await.unwrap(),
        Swap::Conflict
    );
    // Same metadata, but the table changed since it was read: Glue would refuse version 7.
    let changed = pointer("m/2.json", "7");
    assert_eq!(
        catalog.swap(&changed, "m/3.json").await.unwrap(),
        Swap::Conflict
    );
    assert_eq!(glue.operations(), ["GetTable", "GetTable"]);
}

#[tokio::test]
async fn a_pointer_without_a_version_uses_the_version_of_the_check() {
    let glue = Scripted::start(|operation, _| match operation {
        "GetTable" => iceberg_table("m/1.json", "9"),
        _ => (200, json!({})),
    })
    .await;
    let catalog = GlueCatalog::new(client(&glue.endpoint), "lake", "users");
    let unversioned = Pointer {
        metadata_location: "m/1.json".into(),
        version: None,
    };
    assert_eq!(
        catalog.swap(&unversioned, "m/2.json").await.unwrap(),
        Swap::Swapped
    );
    assert_eq!(glue.last("UpdateTable")["VersionId"], "9");
}

#[tokio::test]
async fn a_missing_table_loads_as_none_and_a_dropped_one_refuses_a_swap() {
    let glue = Scripted::start(|_, _| (400, glue_error("EntityNotFoundException"))).await;
    let catalog = GlueCatalog::new(client(&glue.endpoint), "lake", "users");
    assert_eq!(catalog.load().await.unwrap(), None);
    assert_eq!(
        catalog
            .swap(&pointer("m/1.json", "1"), "m/2.json")
            .await
            .unwrap(),
        Swap::Conflict
    );
}

#[tokio::test]
async fn creating_a_table_that_exists_is_a_conflict() {
    let glue = Scripted::start(|operation, _| match operation {
        "CreateTable" => (400, glue_error("AlreadyExistsException")),
        other => panic!("unexpected {other}"),
    })
    .await;
    let catalog = GlueCatalog::new(client(&glue.endpoint), "lake", "users")
        .with_catalog_id("123456789012")
        .with_columns(vec![("id".into(), "bigint".into())])
        .with_location("s3://lake/users");
    assert_eq!(catalog.create("m/1.json").await.unwrap(), Swap::Conflict);
    let create = glue.last("CreateTable");
    assert_eq!(create["CatalogId"], "123456789012");
    assert_eq!(
        create["TableInput"],
        json!({
            "Name": "users",
            "TableType": "EXTERNAL_TABLE",
            "Parameters": { "table_type": "ICEBERG", "metadata_location": "m/1.json" },
            "StorageDescriptor": {
                "Columns": [{ "Name": "id", "Type": "bigint" }],
                "Location": "s3://lake/users",
            },
        })
    );
}

#[tokio::test]
async fn a_hive_table_of_the_same_name_is_not_an_iceberg_table() {
    let glue = Scripted::start(|_, _| {
        (
            200,
            json!({ "Table": { "Name": "users", "VersionId": "1", "TableType": "EXTERNAL_TABLE",
                               "Parameters": { "classification": "parquet" } } }),
        )
    })
    .await;
    let catalog = GlueCatalog::new(client(&glue.endpoint), "lake", "users");
    let error = catalog.load().await.unwrap_err();
    assert!(
        matches!(error, CatalogError::NotIceberg { .. }),
        "{error:?}"
    );
    assert_eq!(error.retry(), Retry::Fatal);
    let error = catalog
        .swap(&pointer("m/1.json", "1"), "m/2.json")
        .await
        .unwrap_err();
    assert!(
        matches!(error, CatalogError::NotIceberg { .. }),
        "{error:?}"
    );
}

#[tokio::test]
async fn throttling_and_server_errors_are_retryable_denials_fatal() {
    for (status, kind, retry) in [
        (400, "ThrottlingException", Retry::Retryable),
        (500, "InternalServiceException", Retry::Retryable),
        (400, "AccessDeniedException", Retry::Fatal),
        (400, "InvalidInputException", Retry::Fatal),
    ] {
        let glue = Scripted::start(move |_, _| (status, glue_error(kind))).await;
        let catalog = GlueCatalog::new(client(&glue.endpoint), "lake", "users");
        let error = catalog.load().await.unwrap_err();
        assert_eq!(error.retry(), retry, "{kind}: {error}");
        let CatalogError::Call {
            code,
            operation,
            table,
            catalog,
            ..
        } = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!(code.as_deref(), Some(kind));
        assert_eq!(*operation, "load");
        assert_eq!(table, "lake.users");
        assert_eq!(catalog, "glue");
    }
}

/// The Glue table as moto stores it.
async fn stored(client: &aws_sdk_glue::Client, table: &str) -> aws_sdk_glue::types::Table {
    client
        .get_table()
        .database_name("lake")
        .name(table)
        .send()
        .await
        .unwrap()
        .table
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_glue_creates_loads_and_swaps_and_refuses_stale_pointers() {
    let moto = match moto() {
        Ok(moto) => moto,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let client = client(&moto.endpoint);
    client
        .create_database()
        .database_input(DatabaseInput::builder().name("lake").build().unwrap())
        .send()
        .await
        .unwrap();
    let catalog = GlueCatalog::new(client.clone(), "lake", "users")
        .with_columns(vec![
            ("id".into(), "bigint".into()),
            ("kafka_timestamp".into(), "timestamp".into()),
        ])
        .with_location("s3://lake/users");

    // Create, once.
    assert_eq!(catalog.load().await.unwrap(), None);
    assert_eq!(
        catalog
            .create("s3://lake/users/metadata/1.json")
            .await
            .unwrap(),
        Swap::Swapped
    );
    assert_eq!(
        catalog
            .create("s3://lake/users/metadata/x.json")
            .await
            .unwrap(),
        Swap::Conflict
    );
    let first = catalog.load().await.unwrap().unwrap();
    assert_eq!(first.metadata_location, "s3://lake/users/metadata/1.json");
    let table = stored(&client, "users").await;
    assert_eq!(table.table_type.as_deref(), Some("EXTERNAL_TABLE"));
    let parameters = table.parameters.clone().unwrap();
    assert_eq!(parameters["table_type"], "ICEBERG");
    let descriptor = table.storage_descriptor.clone().unwrap();
    assert_eq!(descriptor.location.as_deref(), Some("s3://lake/users"));
    let columns: Vec<(String, Option<String>)> = descriptor
        .columns
        .unwrap()
        .into_iter()
        .map(|c| (c.name, c.r#type))
        .collect();
    assert_eq!(
        columns,
        [
            ("id".to_string(), Some("bigint".to_string())),
            ("kafka_timestamp".to_string(), Some("timestamp".to_string()))
        ]
    );

    // Someone changes the table's description and a parameter: a new version, same pointer.
    let mut edited = parameters.clone();
    edited.insert("owner_team".into(), "data".into());
    client
        .update_table()
        .database_name("lake")
        .table_input(
            TableInput::builder()
                .name("users")
                .table_type("EXTERNAL_TABLE")
                .description("the users")
                .set_parameters(Some(edited))
                .set_storage_descriptor(table.storage_descriptor.clone())
                .build()
                .unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_eq!(
        catalog
            .swap(&first, "s3://lake/users/metadata/2.json")
            .await
            .unwrap(),
        Swap::Conflict,
        "the version read is no longer the table's"
    );
    let current = catalog.load().await.unwrap().unwrap();
    assert_eq!(current.metadata_location, first.metadata_location);
    assert_ne!(current.version, first.version);

    // Two writers read the same pointer: the first swaps, the second is refused.
    let other = GlueCatalog::new(client.clone(), "lake", "users");
    assert_eq!(
        catalog
            .swap(&current, "s3://lake/users/metadata/2.json")
            .await
            .unwrap(),
        Swap::Swapped
    );
    assert_eq!(
        other
            .swap(&current, "s3://lake/users/metadata/2b.json")
            .await
            .unwrap(),
        Swap::Conflict
    );
    let second = other.load().await.unwrap().unwrap();
    assert_eq!(second.metadata_location, "s3://lake/users/metadata/2.json");
    let table = stored(&client, "users").await;
    let parameters = table.parameters.unwrap();
    assert_eq!(
        parameters["previous_metadata_location"],
        "s3://lake/users/metadata/1.json"
    );
    assert_eq!(
        parameters["owner_team"], "data",
        "the table's own parameters are kept"
    );
    assert_eq!(table.description.as_deref(), Some("the users"));
    assert_eq!(
        table.storage_descriptor.unwrap().columns.unwrap().len(),
        2,
        "the columns are kept"
    );

    // A writer built without columns keeps the ones the table has.
    assert_eq!(
        other
            .swap(&second, "s3://lake/users/metadata/3.json")
            .await
            .unwrap(),
        Swap::Swapped
    );
    let table = stored(&client, "users").await;
    assert_eq!(table.storage_descriptor.unwrap().columns.unwrap().len(), 2);
    assert_eq!(
        catalog.load().await.unwrap().unwrap().metadata_location,
        "s3://lake/users/metadata/3.json"
    );

    // A Hive table of another name is not ours to swap.
    client
        .create_table()
        .database_name("lake")
        .table_input(TableInput::builder().name("legacy").build().unwrap())
        .send()
        .await
        .unwrap();
    let legacy = GlueCatalog::new(client.clone(), "lake", "legacy");
    assert!(matches!(
        legacy.load().await.unwrap_err(),
        CatalogError::NotIceberg { .. }
    ));

    // A database that does not exist: no table to load, and no table can be created in it.
    let nowhere = GlueCatalog::new(client.clone(), "missing", "users");
    assert_eq!(nowhere.load().await.unwrap(), None);
    let error = nowhere
        .create("s3://lake/users/metadata/1.json")
        .await
        .unwrap_err();
    assert_eq!(error.retry(), Retry::Fatal, "{error}");
}
