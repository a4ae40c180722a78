//! The S3 Tables catalog through a real aws-sdk-s3tables client against moto's S3 Tables, which
//! keeps a table's pointer and version token as S3 Tables does (a stale token is refused) and
//! gives each table its own warehouse bucket: the create, load and swap cycle, the errors as the
//! SDK classifies them, and a table appended end to end through `TableConfig::open`, its files
//! in the warehouse bucket, read back by pyiceberg from its metadata file.
//!
//! moto 5.2.5 answers `UpdateTableMetadataLocation` with `namespace` as a string where the API
//! model (and S3 Tables) has a list of strings, which the SDK refuses to read. The S3 Tables
//! clients here talk to moto through [`Relay`], which puts that string in a list and changes
//! nothing else; the S3 clients talk to moto directly.

mod common;

use aws_config::{BehaviorVersion, Region, SdkConfig};
use aws_sdk_s3tables::config::Credentials;
use lake::{LakeStore, S3Store};
use lambda_kit::Retry;
use table::catalog::s3tables::S3TablesCatalog;
use table::config::CatalogChoice;
use table::{Catalog, CatalogError, Pointer, Swap, Table, TableConfig};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

use common::{at, moto, run_python, slices, venv_python};

/// An HTTP/1.1 relay to moto that puts the `namespace` string of a JSON answer in a list.
struct Relay {
    endpoint: String,
}

impl Relay {
    async fn start(upstream: &str) -> Self {
        let upstream = upstream.trim_start_matches("http://").to_string();
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let endpoint = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move {
            while let Ok((socket, _)) = listener.accept().await {
                tokio::spawn(relay(socket, upstream.clone()));
            }
        });
        Self { endpoint }
    }
}

/// Relays the requests of one connection, one after the other, each on a connection of its
/// own to moto (`connection: close`, so that the answer ends with the connection).
async fn relay(socket: TcpStream, upstream: String) {
    let mut client = BufReader::new(socket);
    loop {
        let mut line = String::new();
        if client.read_line(&mut line).await.unwrap_or(0) == 0 {
            return;
        }
        let (mut head, mut length) = (line.clone(), 0);
        loop {
            line.clear();
            client.read_line(&mut line).await.unwrap();
            if line == "\r\n" {
                break;
            }
            let name = line
                .split(':')
                .next()
                .unwrap_or_default()
                .to_ascii_lowercase();
            match name.as_str() {
                "content-length" => length = line[15..].trim().parse().unwrap(),
                "connection" => continue,
                _ => {}
            }
            head.push_str(&line);
        }
        head.push_str("connection: close\r\n\r\n");
        let mut body = vec![0; length];
        client.read_exact(&mut body).await.unwrap();
        let mut server = TcpStream::connect(&upstream).await.unwrap();
        server.write_all(head.as_bytes()).await.unwrap();
        server.write_all(&body).await.unwrap();
        let mut answer = Vec::new();
        server.read_to_end(&mut answer).await.unwrap();
        let split = answer.windows(4).position(|w| w == b"\r\n\r\n").unwrap() + 4;
        let (head, body) = answer.split_at(split);
        let body = namespace_as_list(body);
        let head: String = String::from_utf8_lossy(head)
            .split("\r\n")
            .filter(|l| !l.is_empty() && !l.to_ascii_lowercase().starts_with("content-length:"))
            .map(|l| format!("{l}\r\n"))
            .collect();
        let head = format!("{head}content-length: {}\r\n\r\n", body.len());
        let socket = client.get_mut();
        socket.write_all(head.as_bytes()).await.unwrap();
        socket.write_all(&body).await.unwrap();
    }
}

/// `body` with a top-level `namespace` string put in a list, as the API model has it.
fn namespace_as_list(body: &[u8]) -> Vec<u8> {
    match serde_json::from_slice::<serde_json::Value>(body) {
        Ok(mut answer) if answer.get("namespace").is_some_and(|n| n.is_string()) => {
            let namespace = answer["namespace"].take();
            answer["namespace"] = serde_json::Value::Array(vec![namespace]);
            answer.to_string().into_bytes()
        }
        _ => body.to_vec(),
    }
}

/// The AWS configuration every client of a test is built from: moto's endpoint, test
/// credentials, one attempt per call.
async fn shared(endpoint: &str) -> SdkConfig {
    aws_config::defaults(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new("test", "test", None, None, "test"))
        .retry_config(aws_config::retry::RetryConfig::disabled())
        .load()
        .await
}

/// An S3 Tables client to moto, through a [`Relay`] that lives as long as the test.
async fn s3tables_client(moto: &str) -> aws_sdk_s3tables::Client {
    let relay = Relay::start(moto).await;
    aws_sdk_s3tables::Client::new(&shared(&relay.endpoint).await)
}

/// A table bucket `name` with the namespace `lake`; its ARN.
async fn table_bucket(client: &aws_sdk_s3tables::Client, name: &str) -> String {
    let arn = client
        .create_table_bucket()
        .name(name)
        .send()
        .await
        .unwrap()
        .arn;
    client
        .create_namespace()
        .table_bucket_arn(&arn)
        .namespace("lake")
        .send()
        .await
        .unwrap();
    arn
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_s3_tables_creates_loads_and_swaps_on_the_version_token() {
    let moto = match moto() {
        Ok(moto) => moto,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let client = s3tables_client(&moto.endpoint).await;
    let arn = table_bucket(&client, "lake-tables").await;
    let catalog = S3TablesCatalog::new(client.clone(), &arn, "lake", "users");
    assert_eq!(catalog.describe(), format!("s3tables:{arn}"));

    // No table: nothing to load. The warehouse creates it, empty, once.
    assert_eq!(catalog.load().await.unwrap(), None);
    let warehouse = catalog.warehouse().await.unwrap();
    assert!(
        warehouse.starts_with("s3://") && warehouse.ends_with("--table-s3"),
        "{warehouse}"
    );
    assert_eq!(catalog.warehouse().await.unwrap(), warehouse);
    assert_eq!(
        catalog.load().await.unwrap(),
        None,
        "a table without a metadata location has no pointer yet"
    );

    // The first metadata file, once; a second create finds the table taken.
    let first = format!("{warehouse}/metadata/00000-a.metadata.json");
    assert_eq!(catalog.create(&first).await.unwrap(), Swap::Swapped);
    let other = format!("{warehouse}/metadata/00000-b.metadata.json");
    assert_eq!(catalog.create(&other).await.unwrap(), Swap::Conflict);
    let read = catalog.load().await.unwrap().unwrap();
    assert_eq!(read.metadata_location, first);
    let token = read.version.clone().expect("the version token");
    let stored = client
        .get_table_metadata_location()
        .table_bucket_arn(&arn)
        .namespace("lake")
        .name("users")
        .send()
        .await
        .unwrap();
    assert_eq!(stored.version_token, token, "the pointer carries the token");

    // Two writers read the same pointer: the first swaps, the second holds a stale token.
    let second = format!("{warehouse}/metadata/00001-c.metadata.json");
    assert_eq!(catalog.swap(&read, &second).await.unwrap(), Swap::Swapped);
    let other_writer = S3TablesCatalog::new(client.clone(), &arn, "lake", "users");
    let lost = format!("{warehouse}/metadata/00001-d.metadata.json");
    assert_eq!(
        other_writer.swap(&read, &lost).await.unwrap(),
        Swap::Conflict
    );
    let now = catalog.load().await.unwrap().unwrap();
    assert_eq!(now.metadata_location, second);
    assert_ne!(now.version.as_deref(), Some(token.as_str()));

    // A pointer without its token: the table's own token, if it still points there.
    let untokened = |location: &str| Pointer {
        metadata_location: location.into(),
        version: None,
    };
    let third = format!("{warehouse}/metadata/00002-e.metadata.json");
    assert_eq!(
        catalog.swap(&untokened(&first), &third).await.unwrap(),
        Swap::Conflict
    );
    assert_eq!(
        catalog.swap(&untokened(&second), &third).await.unwrap(),
        Swap::Swapped
    );
    assert_eq!(
        catalog.load().await.unwrap().unwrap().metadata_location,
        third
    );

    // A metadata file outside the warehouse is refused, and is no state to wait out.
    let current = catalog.load().await.unwrap().unwrap();
    let error = catalog
        .swap(&current, "s3://elsewhere/metadata/00003-f.metadata.json")
        .await
        .unwrap_err();
    assert_eq!(error.retry(), Retry::Fatal, "{error}");
    let CatalogError::Call {
        code,
        operation,
        table,
        ..
    } = &error
    else {
        panic!("{error:?}")
    };
    assert_eq!(code.as_deref(), Some("BadRequestException"));
    assert_eq!((*operation, table.as_str()), ("swap", "lake.users"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_s3_tables_a_missing_namespace_or_bucket_loads_nothing_and_cannot_be_created() {
    let moto = match moto() {
        Ok(moto) => moto,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let client = s3tables_client(&moto.endpoint).await;
    let arn = table_bucket(&client, "lake-tables").await;
    let missing_bucket = arn.replace("lake-tables", "no-such-bucket");
    for (bucket, namespace) in [(arn.as_str(), "missing"), (missing_bucket.as_str(), "lake")] {
        let catalog = S3TablesCatalog::new(client.clone(), bucket, namespace, "users");
        assert_eq!(catalog.load().await.unwrap(), None);
        let error = catalog.warehouse().await.unwrap_err();
        assert_eq!(error.retry(), Retry::Fatal, "{error}");
        assert!(
            matches!(&error, CatalogError::Call { code: Some(code), .. } if code == "NotFoundException"),
            "{error:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn moto_s3_tables_holds_the_appended_table_in_its_warehouse_bucket() {
    let moto = match moto() {
        Ok(moto) => moto,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let relay = Relay::start(&moto.endpoint).await;
    let shared = shared(&relay.endpoint).await;
    let arn = table_bucket(&aws_sdk_s3tables::Client::new(&shared), "lake-tables").await;

    // The table opened as the functions open it, from ICEBERG_CATALOG (which creates it).
    let catalog_setting = format!("s3tables:{arn}");
    let config = TableConfig::from_source(&[
        ("ICEBERG_CATALOG", catalog_setting.as_str()),
        ("ICEBERG_DATABASE", "lake"),
    ])
    .unwrap()
    .unwrap();
    assert!(matches!(config.catalog, CatalogChoice::S3Tables { .. }));
    let opened = config.open(&shared, "data-lake", "lake/").await.unwrap();
    assert!(
        opened.location.bucket.ends_with("--table-s3") && opened.location.prefix.is_empty(),
        "{:?}",
        opened.location
    );
    let direct = self::shared(&moto.endpoint).await;
    let lake = S3Store::new(lake::config::s3_client_from(&direct, true), "data-lake");
    let warehouse = opened.own_store(&lake).expect("a bucket of its own");
    assert_eq!(warehouse.bucket(), opened.location.bucket);
    assert_eq!(opened.catalog.describe(), format!("s3tables:{arn}"));
    let table = Table::new(warehouse, opened.catalog, opened.location.clone());

    // Appended twice, the second time as a redelivery with more.
    let properties = lake::writer::writer_properties(
        parquet::basic::Compression::SNAPPY,
        "catalog_s3tables test",
    );
    let first = table
        .append(&slices(0, 0..40, 0), &properties, at(40))
        .await
        .unwrap();
    assert_eq!(first.written, 40);
    let again = table
        .append(&slices(0, 20..60, 0), &properties, at(60))
        .await
        .unwrap();
    assert_eq!((again.written, again.duplicates), (20, 20));

    // Every row once, every file in the warehouse bucket under data/ and metadata/.
    let rows: usize = table
        .scan(None)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, 60);
    let state = table.load().await.unwrap().unwrap();
    let snapshot = state.metadata.current_snapshot().unwrap();
    let warehouse_uri = opened.location.uri();
    let files = table.live_files(snapshot).await.unwrap();
    assert!(!files.is_empty());
    for entry in &files {
        let path = &entry.data_file.file_path;
        assert!(
            path.starts_with(&format!("{warehouse_uri}/data/")),
            "{path}"
        );
        let key = opened.location.key_of(path).unwrap();
        assert!(!table.store.get(&key).await.unwrap().is_empty(), "{key}");
    }
    assert!(
        snapshot
            .manifest_list
            .starts_with(&format!("{warehouse_uri}/metadata/")),
        "{}",
        snapshot.manifest_list
    );

    // The warehouse bucket cannot be listed nor have objects deleted, as S3 Tables' cannot:
    // removing unreferenced files is left to S3 Tables.
    let listed = table.store.list("").await.unwrap_err();
    assert!(
        matches!(&listed, lake::StoreError::List { code: Some(code), .. } if code == "MethodNotAllowed"),
        "{listed:?}"
    );
    let key = opened
        .location
        .key_of(&files[0].data_file.file_path)
        .unwrap();
    let deleted = table.store.delete(&key).await;
    assert!(deleted.is_err(), "{deleted:?}");
    assert!(!table.store.get(&key).await.unwrap().is_empty());
    let pointer = table.catalog.load().await.unwrap().unwrap();
    assert!(
        pointer
            .metadata_location
            .starts_with(&format!("{}/metadata/", opened.location.uri())),
        "{pointer:?}"
    );
    assert_eq!(
        table.load().await.unwrap().unwrap().metadata.location,
        opened.location.uri(),
        "the metadata states the warehouse as the table's location"
    );

    // pyiceberg reads the table from the metadata file S3 Tables points at.
    let python = match venv_python("pyiceberg.table, pyarrow") {
        Ok(python) => python,
        Err(why) => return eprintln!("pyiceberg read-back skipped: {why}"),
    };
    let counted = run_python(
        &python,
        "import sys\n\
         from pyiceberg.table import StaticTable\n\
         t = StaticTable.from_metadata(sys.argv[1], properties={\n\
             's3.endpoint': sys.argv[2], 's3.access-key-id': 'test',\n\
             's3.secret-access-key': 'test', 's3.region': 'us-east-1'})\n\
         a = t.scan().to_arrow()\n\
         print(a.num_rows, len(set(a.column('kafka_offset').to_pylist())))",
        &[&pointer.metadata_location, &moto.endpoint],
    );
    assert_eq!(counted, "60 60");
}
