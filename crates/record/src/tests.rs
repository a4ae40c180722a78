use std::collections::BTreeSet;

use super::*;

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
    let parsed = UserRecord::from_json_owned(&record.to_json()).unwrap();
    assert_eq!(parsed, record);
    assert_eq!(parsed.first_name, "Zoë");
}

#[test]
fn wire_form_is_flat_in_column_order_with_iso_timestamps_and_string_post_code() {
    let value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    let object = value.as_object().unwrap();
    let text = String::from_utf8(sample().to_json()).unwrap();
    let mut at = 0;
    for column in RECORD_FIELDS {
        let found = text[at..]
            .find(&format!("\"{}\":", column.name))
            .unwrap_or_else(|| panic!("{} missing or out of order in {text}", column.name));
        at += found;
    }
    assert_eq!(object.len(), RECORD_FIELDS.len());
    assert_eq!(object["dob"], "1987-05-04T10:11:12.345Z");
    assert_eq!(object["registered_date"], "2015-02-03T04:05:06Z");
    assert_eq!(object["post_code"], "0567");
    assert_eq!(object["id"], "6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f");
}

#[test]
fn timestamp_columns_are_the_fields_that_carry_dates() {
    let value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    for column in RECORD_FIELDS {
        let parses = value[column.name]
            .as_str()
            .is_some_and(|v| v.parse::<DateTime<Utc>>().is_ok());
        assert_eq!(
            parses,
            column.column_type == ColumnType::Timestamp,
            "{}",
            column.name
        );
    }
}

#[test]
fn key_is_the_hyphenated_id() {
    assert_eq!(sample().key(), "6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f");
}

#[test]
fn missing_field_is_rejected_with_its_name() {
    let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    value.as_object_mut().unwrap().remove("email");
    let err = UserRecord::from_json_owned(value.to_string().as_bytes()).unwrap_err();
    assert!(err.to_string().contains("missing field `email`"), "{err}");
    assert!(!err.to_string().contains('\n'), "one line: {err:?}");
}

#[test]
fn a_whole_number_post_code_is_kept_as_its_decimal_text() {
    for (wire, kept) in [
        ("78276", "78276"),
        ("\"0476\"", "0476"),
        ("0", "0"),
        ("-12", "-12"),
    ] {
        let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        value["post_code"] = serde_json::from_str(wire).unwrap();
        let record = UserRecord::from_json_owned(value.to_string().as_bytes()).unwrap();
        assert_eq!(record.post_code, kept, "{wire}");
        let again: serde_json::Value = serde_json::from_slice(&record.to_json()).unwrap();
        assert_eq!(
            again["post_code"], kept,
            "{wire} is written back as a string"
        );
    }
}

#[test]
fn a_fractional_null_or_boolean_post_code_breaks_the_contract() {
    for wire in ["12.5", "1e3", "null", "true", "[1]"] {
        let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
        value["post_code"] = serde_json::from_str(wire).unwrap();
        let err = UserRecord::from_json_owned(value.to_string().as_bytes()).unwrap_err();
        assert!(
            err.to_string()
                .contains("expected a string or a whole number"),
            "{wire}: {err}"
        );
    }
}

#[test]
fn malformed_id_and_timestamp_are_rejected() {
    let mut bad_id: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    bad_id["id"] = serde_json::json!("not-a-uuid");
    assert!(UserRecord::from_json_owned(bad_id.to_string().as_bytes()).is_err());

    let mut bad_dob: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    bad_dob["dob"] = serde_json::json!("yesterday");
    assert!(UserRecord::from_json_owned(bad_dob.to_string().as_bytes()).is_err());
}

#[test]
fn unknown_fields_are_ignored_so_the_contract_can_grow() {
    let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    value["nationality"] = serde_json::json!("NO");
    assert_eq!(
        UserRecord::from_json_owned(value.to_string().as_bytes()).unwrap(),
        sample()
    );
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
        ("fractional post code", edit(&|v| v["post_code"] = serde_json::json!(1.5))),
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
fn borrowed_and_owned_readings_give_the_same_verdict_and_fields() {
    for (case, bytes) in contract_cases() {
        let owned = UserRecord::from_json_owned(&bytes);
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
fn the_contract_cases_that_land_are_exactly_the_expected_ones() {
    let landing: Vec<&str> = contract_cases()
        .into_iter()
        .filter(|(_, bytes)| UserRecordRef::from_json(bytes).is_ok())
        .map(|(case, _)| case)
        .collect();
    assert_eq!(
        landing,
        [
            "valid",
            "escaped strings",
            "numeric post code",
            "unknown field"
        ]
    );
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

#[test]
fn opening_brackets_are_counted_across_runs_of_every_length() {
    // Runs of 255 bytes each sum into a byte: a run of brackets only must not wrap.
    for len in [0, 1, 254, 255, 256, 510, 511, 1000] {
        let brackets = "[{".repeat(len).into_bytes();
        assert_eq!(opening_brackets(&brackets[..len]), len, "{len} brackets");
    }
    let mixed = br#"{"a":[1,{"b":"[x]{"}],"c":"]}"}"#;
    assert_eq!(opening_brackets(mixed), 5);
}

#[test]
fn values_nested_past_the_simd_limit_are_read_without_overflowing_the_stack() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    // an unknown field however deep is skipped, as the contract allows
    let padded = sample_json_with_extra(&deep);
    assert!(opening_brackets(padded.as_bytes()) > MAX_SIMD_BRACKETS);
    assert_eq!(
        UserRecord::from_json_owned(padded.as_bytes()).unwrap(),
        sample()
    );
    // and a value that is only nesting is an error
    assert!(UserRecord::from_json_owned(deep.as_bytes()).is_err());
}

/// The sample record's JSON with one more field, `extra`, holding `raw` as it is.
fn sample_json_with_extra(raw: &str) -> String {
    let json = String::from_utf8(sample().to_json()).unwrap();
    format!(r#"{{"extra":{raw},{}"#, &json[1..])
}

/// The sample record's field names, as its JSON value carries them.
fn sample_field_names() -> BTreeSet<String> {
    let value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    value.as_object().unwrap().keys().cloned().collect()
}

#[test]
fn the_avro_schema_has_every_record_field_in_wire_order_with_its_type() {
    // given the Avro schema file, which must be one Avro accepts
    apache_avro::Schema::parse_str(schemas::AVRO).expect("a valid Avro schema");
    let avro: serde_json::Value = serde_json::from_str(schemas::AVRO).unwrap();
    let fields = avro["fields"].as_array().unwrap();

    // then its fields are the record's, in the order the record writes them
    let names: Vec<&str> = fields.iter().map(|f| f["name"].as_str().unwrap()).collect();
    let expected: Vec<&str> = RECORD_FIELDS.iter().map(|c| c.name).collect();
    assert_eq!(names, expected);
    let as_set: BTreeSet<String> = names.iter().map(|n| n.to_string()).collect();
    assert_eq!(as_set, sample_field_names());

    // and each is typed as its column, none optional
    for (field, column) in fields.iter().zip(RECORD_FIELDS) {
        let (base, logical) = match &field["type"] {
            serde_json::Value::String(base) => (base.as_str(), None),
            typed => (
                typed["type"].as_str().unwrap(),
                typed["logicalType"].as_str(),
            ),
        };
        let expected = match (column.name, column.column_type) {
            ("id", _) => ("string", Some("uuid")),
            (_, ColumnType::Text) => ("string", None),
            (_, ColumnType::Timestamp) => ("long", Some("timestamp-millis")),
            (name, other) => panic!("{name}: no Avro type for {other:?}"),
        };
        assert_eq!((base, logical), expected, "{}", column.name);
    }
}

#[test]
fn the_json_schema_requires_every_record_field_with_its_type() {
    let schema: serde_json::Value = serde_json::from_str(schemas::JSON_SCHEMA).unwrap();
    let properties = schema["properties"].as_object().unwrap();
    let required: BTreeSet<String> = schema["required"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n.as_str().unwrap().to_string())
        .collect();
    assert_eq!(required, sample_field_names());
    let described: BTreeSet<String> = properties.keys().cloned().collect();
    assert_eq!(described, sample_field_names());
    assert_eq!(
        schema["additionalProperties"], true,
        "unknown fields are allowed"
    );

    for column in RECORD_FIELDS {
        let property = &properties[column.name];
        let expected = match (column.name, column.column_type) {
            ("id", _) => serde_json::json!({"type": "string", "format": "uuid"}),
            ("post_code", _) => serde_json::json!({"type": ["string", "integer"]}),
            (_, ColumnType::Text) => serde_json::json!({"type": "string"}),
            (_, ColumnType::Timestamp) => {
                serde_json::json!({"type": "string", "format": "date-time"})
            }
            (name, other) => panic!("{name}: no JSON Schema type for {other:?}"),
        };
        for (key, value) in expected.as_object().unwrap() {
            assert_eq!(&property[key], value, "{}.{key}", column.name);
        }
    }
}

#[test]
fn timestamps_may_be_whole_milliseconds_as_avro_timestamp_millis_reach_json() {
    // given the sample with both instants as milliseconds since the epoch
    let mut value: serde_json::Value = serde_json::from_slice(&sample().to_json()).unwrap();
    value["dob"] = serde_json::json!(sample().dob.timestamp_millis());
    value["registered_date"] = serde_json::json!(sample().registered_date.timestamp_millis());

    // then it reads as the sample
    let record = UserRecord::from_json_owned(value.to_string().as_bytes()).unwrap();
    assert_eq!(record, sample());

    // and a fraction, or an instant out of range, is refused
    for bad in ["1.5", "9223372036854775807", "18446744073709551615"] {
        value["dob"] = serde_json::from_str(bad).unwrap();
        assert!(
            UserRecord::from_json_owned(value.to_string().as_bytes()).is_err(),
            "{bad}"
        );
    }
}
