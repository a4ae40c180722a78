use super::*;
use arrow::datatypes::{DataType, TimeUnit};

fn sample() -> UserRecord {
    UserRecord {
        id: "6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f".parse().unwrap(),
        first_name: "Zoë".into(),
        last_name: "Løvås".into(),
        gender: "female".into(),
        address: "4821 Kirkeveien, Oslo, Østfold, Norway".into(),
        post_code: "0567".into(),
        email: "zoe.lovas@example.com".into(),
        username: "bluefish392".into(),
        dob: "1987-05-04T10:11:12.345Z".parse().unwrap(),
        registered_date: "2015-02-03T04:05:06Z".parse().unwrap(),
        phone: "22 33 44 55".into(),
        picture: "https://randomuser.me/api/portraits/med/women/12.jpg".into(),
    }
}

#[test]
fn json_round_trip_keeps_every_field_and_unicode() {
    let record = sample();
    let parsed = UserRecord::from_json(&record.to_json()).unwrap();
    assert_eq!(parsed, record);
    assert_eq!(parsed.first_name, "Zoë");
}

#[test]
fn wire_form_is_flat_with_iso_timestamps_and_string_post_code() {
    let value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    let object = value.as_object().unwrap();
    let keys: Vec<&str> = object.keys().map(String::as_str).collect();
    let mut expected = RECORD_COLUMNS.to_vec();
    expected.sort_unstable();
    let mut keys_sorted = keys.clone();
    keys_sorted.sort_unstable();
    assert_eq!(keys_sorted, expected);
    assert_eq!(object["dob"], "1987-05-04T10:11:12.345Z");
    assert_eq!(object["registered_date"], "2015-02-03T04:05:06Z");
    assert_eq!(object["post_code"], "0567");
    assert_eq!(object["id"], "6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f");
}

#[test]
fn key_is_the_hyphenated_id() {
    assert_eq!(sample().key(), "6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f");
}

#[test]
fn missing_field_is_rejected_with_its_name() {
    let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    value.as_object_mut().unwrap().remove("email");
    let err = UserRecord::from_json(value.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("missing field `email`"), "{err}");
}

#[test]
fn numeric_post_code_breaks_the_contract() {
    let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    value["post_code"] = serde_json::json!(12345);
    let err = UserRecord::from_json(value.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("invalid type: integer"), "{err}");
}

#[test]
fn malformed_id_and_timestamp_are_rejected() {
    let mut bad_id: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    bad_id["id"] = serde_json::json!("not-a-uuid");
    assert!(UserRecord::from_json(bad_id.to_string().as_bytes()).is_err());

    let mut bad_dob: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    bad_dob["dob"] = serde_json::json!("yesterday");
    assert!(UserRecord::from_json(bad_dob.to_string().as_bytes()).is_err());
}

#[test]
fn unknown_fields_are_ignored_so_the_contract_can_grow() {
    let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    value["nationality"] = serde_json::json!("NO");
    assert_eq!(
        UserRecord::from_json(value.to_string().as_bytes()).unwrap(),
        sample()
    );
}

#[test]
fn lake_schema_has_record_then_kafka_columns_with_real_types() {
    let schema = lake_schema();
    let names: Vec<&str> = schema.fields().iter().map(|f| f.name().as_str()).collect();
    let expected: Vec<&str> = RECORD_COLUMNS
        .iter()
        .chain(KAFKA_COLUMNS.iter())
        .copied()
        .collect();
    assert_eq!(names, expected);
    let utc_ms = DataType::Timestamp(TimeUnit::Millisecond, Some("UTC".into()));
    assert_eq!(schema.field_with_name("dob").unwrap().data_type(), &utc_ms);
    assert_eq!(
        schema
            .field_with_name("kafka_timestamp")
            .unwrap()
            .data_type(),
        &utc_ms
    );
    assert_eq!(
        schema
            .field_with_name("kafka_partition")
            .unwrap()
            .data_type(),
        &DataType::Int32
    );
    assert_eq!(
        schema.field_with_name("kafka_offset").unwrap().data_type(),
        &DataType::Int64
    );
    assert_eq!(
        schema.field_with_name("post_code").unwrap().data_type(),
        &DataType::Utf8
    );
    assert!(schema.fields().iter().all(|f| !f.is_nullable()));
}

#[test]
fn reading_rows_from_a_batch_without_a_lake_column_names_the_column() {
    use arrow::{array::StringArray, datatypes::Schema, record_batch::RecordBatch};
    use std::sync::Arc;
    let schema = Schema::new(vec![arrow::datatypes::Field::new(
        "id",
        DataType::Utf8,
        false,
    )]);
    let ids = StringArray::from(vec!["6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f"]);
    let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(ids)]).unwrap();
    let error = lake::rows(&batch).unwrap_err();
    assert_eq!(error.to_string(), "Schema error: no column first_name");
}

/// Values that break the contract in different ways, each as the JSON a message could carry.
fn contract_cases() -> Vec<(&'static str, Vec<u8>)> {
    let good = serde_json::to_value(sample()).unwrap();
    let edit = |f: &dyn Fn(&mut serde_json::Value)| {
        let mut value = good.clone();
        f(&mut value);
        value.to_string().into_bytes()
    };
    vec![
        ("valid", good.to_string().into_bytes()),
        ("escaped strings", br#"{"id":"6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f","first_name":"Zo\u00eb \"Z\"","last_name":"L\\v","gender":"female","address":"a\nb","post_code":"0567","email":"e","username":"u","dob":"1987-05-04T10:11:12.345+02:00","registered_date":"2015-02-03T04:05:06Z","phone":"p","picture":"q"}"#.to_vec()),
        ("missing email", edit(&|v| { v.as_object_mut().unwrap().remove("email"); })),
        ("numeric post code", edit(&|v| v["post_code"] = serde_json::json!(12345))),
        ("bad id", edit(&|v| v["id"] = serde_json::json!("not-a-uuid"))),
        ("bad dob", edit(&|v| v["dob"] = serde_json::json!("yesterday"))),
        ("null phone", edit(&|v| v["phone"] = serde_json::Value::Null)),
        ("unknown field", edit(&|v| v["nationality"] = serde_json::json!({"deep": [1, 2]}))),
        ("duplicate field", br#"{"id":"6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f","id":"6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f"}"#.to_vec()),
        ("array", b"[1,2,3]".to_vec()),
        ("truncated", good.to_string().as_bytes()[..40].to_vec()),
        ("invalid UTF-8", {
            let mut bytes = good.to_string().into_bytes();
            let at = bytes.windows(3).position(|w| w == b"Zo\xc3").unwrap();
            bytes[at + 2] = 0xff;
            bytes
        }),
    ]
}

#[test]
fn borrowed_and_owned_parsers_give_the_same_verdict_and_fields() {
    for (case, bytes) in contract_cases() {
        let owned = UserRecord::from_json(&bytes);
        let borrowed = UserRecordRef::from_json(&bytes);
        match (owned, borrowed) {
            (Ok(owned), Ok(borrowed)) => assert_eq!(borrowed.into_owned(), owned, "{case}"),
            (Err(owned), Err(borrowed)) => {
                assert_eq!(owned.to_string(), borrowed.to_string(), "{case}")
            }
            (owned, borrowed) => panic!("{case}: owned {owned:?}, borrowed {borrowed:?}"),
        }
    }
}

#[test]
fn borrowed_parser_copies_only_strings_with_escapes() {
    let bytes = sample().to_json();
    let record = UserRecordRef::from_json(&bytes).unwrap();
    assert!(matches!(
        record.first_name,
        std::borrow::Cow::Borrowed("Zoë")
    ));
    let escaped = br#"{"id":"6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f","first_name":"a\"b","last_name":"","gender":"","address":"","post_code":"","email":"","username":"","dob":"2000-01-01T00:00:00Z","registered_date":"2000-01-01T00:00:00Z","phone":"","picture":""}"#;
    let record = UserRecordRef::from_json(escaped).unwrap();
    assert!(matches!(record.first_name, std::borrow::Cow::Owned(ref s) if s == "a\"b"));
}
