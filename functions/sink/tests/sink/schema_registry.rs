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

/// A sink for the table, reading values a trigger in `format` hands over with writer schemas
/// from `registry`; and its catalog.
fn table_sink_reading(
    registry: Arc<FixedRegistry>,
    format: &'static str,
) -> (
    Sink<MemoryStore>,
    Arc<table::catalog::memory::MemoryCatalog>,
) {
    let catalog = Arc::new(table::catalog::memory::MemoryCatalog::new());
    let env = [("LAKE_FORMAT", "iceberg"), ("SCHEMA_RECORD_FORMAT", format)];
    let (sink, _) = sink_with(MemoryStore::default(), &env);
    let sink = sink.with_schemas(Box::new(registry)).with_table(
        table::OpenedTable {
            catalog: table::AnyCatalog::Memory(catalog.clone()),
            location: table::TableLocation::new("data-lake", "", "users"),
        },
        None,
    );
    (sink, catalog)
}

/// The table's current schema, and its rows as (offset, the column `name` as text) in offset
/// order, every file read with that schema.
async fn table_column(
    sink: &Sink<MemoryStore>,
    catalog: &table::catalog::memory::MemoryCatalog,
    name: &str,
) -> (table::spec::Schema, Vec<(i64, Option<String>)>) {
    use arrow::{array::AsArray, datatypes::Int64Type};
    let location = table::TableLocation::new("data-lake", "", "users");
    let table = table::Table::new(&sink.store, catalog, location);
    let state = table.load().await.unwrap().unwrap();
    let schema = state.metadata.schema().clone();
    let snapshot = state.metadata.current_snapshot().unwrap();
    let mut rows = Vec::new();
    for entry in table.live_files(snapshot).await.unwrap() {
        let batch = (table
            .read_table_file(&entry.data_file.file_path, &schema)
            .await)
            .unwrap();
        let offsets = batch.column_by_name("kafka_offset").unwrap();
        let column = arrow::util::display::ArrayFormatter::try_new(
            batch.column_by_name(name).unwrap().as_ref(),
            &Default::default(),
        )
        .unwrap();
        let values = batch.column_by_name(name).unwrap();
        for (i, offset) in offsets
            .as_primitive::<Int64Type>()
            .values()
            .iter()
            .enumerate()
        {
            let text = values.is_valid(i).then(|| column.value(i).to_string());
            rows.push((*offset, text));
        }
    }
    rows.sort();
    (schema, rows)
}

/// The users' schema with `nationality` as `type` (a union with null) appended.
fn schema_adding_nationality_as(avro_type: &str) -> String {
    let mut avro: Value = serde_json::from_str(user_record::schemas::AVRO).unwrap();
    avro["fields"].as_array_mut().unwrap().push(json!(
        {"name": "nationality", "type": ["null", avro_type], "default": null}
    ));
    avro.to_string()
}

#[tokio::test]
async fn a_field_a_newer_schema_adds_becomes_an_optional_table_column_in_source_format() {
    // given a table and values of both schema versions, handed over as their Avro bytes
    let registry = Arc::new(FixedRegistry::new([
        ("1", user_record::schemas::AVRO),
        ("2", &schema_v2()),
    ]));
    let (sink, catalog) = table_sink_reading(registry, "SOURCE");
    let values = vec![
        (user(0).to_avro(), "1"),
        (avro_v2(&user(1)), "2"),
        (user(2).to_avro(), "1"),
    ];

    // when the sink handles them
    let summary = handle_json(&event(&values), &sink, now()).await.unwrap();

    // then the table has gained nationality, optional, after the lake's columns, and it reads
    // as written for the v2 record and as null for the others
    assert_eq!(summary.rejected, 0);
    let (schema, rows) = table_column(&sink, &catalog, "nationality").await;
    let column = schema.field("nationality").expect("the column was added");
    assert_eq!(
        (column.field_type.as_str(), column.required),
        ("string", false)
    );
    assert_eq!(
        column.id,
        schema.fields.len() as i32,
        "numbered after the lake's"
    );
    assert_eq!(rows, [(0, None), (1, Some("NO".into())), (2, None)]);
}

#[tokio::test]
async fn a_field_a_newer_schema_adds_becomes_a_table_column_in_json_format() {
    // given a table and the JSON a trigger makes of records of both versions: the added field
    // as its branch's value, as Avro's JSON encoding of a union, and left out
    let registry = Arc::new(FixedRegistry::new([
        ("1", user_record::schemas::AVRO),
        ("2", &schema_v2()),
    ]));
    let (sink, catalog) = table_sink_reading(registry, "JSON");
    let with = |user: &UserRecord, nationality: Option<Value>| {
        let mut value: Value = serde_json::from_slice(&lambda_json(user)).unwrap();
        if let Some(n) = nationality {
            value["nationality"] = n;
        }
        value.to_string().into_bytes()
    };
    let values = vec![
        (with(&user(0), None), "1"),
        (with(&user(1), Some(json!("NO"))), "2"),
        (with(&user(2), Some(json!({"string": "SE"}))), "2"),
        (with(&user(3), None), "2"),
    ];

    // when the sink handles them
    let summary = handle_json(&event(&values), &sink, now()).await.unwrap();

    // then every record lands and the column holds what each carried
    assert_eq!(summary.rejected, 0);
    let (_, rows) = table_column(&sink, &catalog, "nationality").await;
    assert_eq!(
        rows,
        [
            (0, None),
            (1, Some("NO".into())),
            (2, Some("SE".into())),
            (3, None)
        ]
    );
}

#[tokio::test]
async fn a_batch_whose_schemas_give_an_added_field_two_types_refuses_the_later_ones_records() {
    // given values of two schemas that add nationality, as a string and as a long
    let registry = Arc::new(FixedRegistry::new([
        ("2", schema_v2().as_str()),
        ("3", schema_adding_nationality_as("long").as_str()),
    ]));
    let (sink, catalog) = table_sink_reading(registry, "SOURCE");
    let mut as_long = user(1).to_avro();
    as_long.extend_from_slice(&[2, 14]); // branch 1, the long 7
    let values = vec![(avro_v2(&user(0)), "2"), (as_long.clone(), "3")];

    // when the sink handles them
    let summary = handle_json(&event(&values), &sink, now()).await.unwrap();

    // then the string schema's record lands, and the other is in _errors/ with the reason
    assert_eq!(summary.rejected, 1);
    let errors = error_lines(&sink.store);
    let reason = errors[0]["reason"].as_str().unwrap();
    assert_eq!(
        reason,
        "field nationality is long in schema 3 and string in schema 2 of the same batch"
    );
    assert_eq!(errors[0]["raw_base64"], BASE64.encode(&as_long));
    let (_, rows) = table_column(&sink, &catalog, "nationality").await;
    assert_eq!(rows, [(0, Some("NO".into()))]);
}

#[tokio::test]
async fn the_plain_files_layout_keeps_the_lakes_columns_only() {
    // given a plain-files sink and a v2 value with its added field set
    let registry = Arc::new(FixedRegistry::new([("2", schema_v2().as_str())]));
    let sink = source_sink(registry);

    // when the sink handles it
    handle_json(&event(&[(avro_v2(&user(0)), "2")]), &sink, now())
        .await
        .unwrap();

    // then its object has the lake's columns and no other
    let parquet: Vec<String> = (sink.store.keys().into_iter())
        .filter(|k| k.ends_with(".parquet"))
        .collect();
    assert_eq!(parquet.len(), 1);
    let batch = read_parquet(sink.store.body(&parquet[0]));
    assert_eq!(
        batch.schema().fields().len(),
        lake::lake_schema().fields().len()
    );
    assert_eq!(lake_users(&sink.store), vec![user(0)]);
}
