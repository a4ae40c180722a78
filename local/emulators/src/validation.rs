//! What an event source mapping with a `SchemaRegistryConfig` does to each record before the
//! function sees it (Lambda developer guide, "Using schema registries with Kafka event sources
//! in Lambda"): the validated parts (the value, the key, or both) must be in the registry's
//! wire format, name a schema the registry has, and decode with it. A record that passes is
//! handed over as JSON (`EventRecordFormat` `JSON`) or as its own bytes without the registry's
//! prefix (`SOURCE`), marked with `keySchemaMetadata` / `valueSchemaMetadata`; one that fails
//! goes to the on-failure destination with `SCHEMA_NOT_FOUND` or `DESERIALIZATION_ERROR` and
//! never reaches the function.
//!
//! Locally the registry is a Confluent one (the stack's stand-in), so the wire format is
//! Confluent's (a zero byte, the schema id in four bytes, then the datum) and the schemas are
//! Avro. The guide does not spell out the JSON it makes of an Avro record; the emulator writes
//! Avro's JSON as the `apache-avro` crate maps it: a union as the value of its branch, a
//! `timestamp-millis` as a number of milliseconds, a `uuid` as its text. The sink accepts
//! timestamps both as that number and as ISO-8601 text.

use std::{collections::BTreeSet, fmt, str::FromStr};

use apache_avro::reader::datum::GenericDatumReader;
use msk_event::{RecordSchemas, SchemaMetadata, SourceRecord};
use schema_registry::{RegistryError, WriterSchemas};
use user_record::avro::confluent_unframe;

use crate::failure::Condition;

/// `EventRecordFormat`: how a validated record reaches the function.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum RecordFormat {
    /// The record as JSON.
    #[value(name = "JSON")]
    Json,
    /// The record's own bytes, without the registry's prefix.
    #[value(name = "SOURCE")]
    Source,
}

/// One part of a Kafka record that a registry can validate.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    Key,
    Value,
}

impl fmt::Display for Attribute {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Attribute::Key => "KEY",
            Attribute::Value => "VALUE",
        })
    }
}

/// `SchemaValidationConfigs`: which parts of each record are validated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attributes {
    pub key: bool,
    pub value: bool,
}

impl FromStr for Attributes {
    type Err = String;

    /// `VALUE`, `KEY`, or both separated by a comma (the template's `SchemaValidation`).
    fn from_str(text: &str) -> Result<Self, String> {
        let mut attributes = Attributes {
            key: false,
            value: false,
        };
        for part in text.split(',').map(str::trim) {
            match part {
                "KEY" => attributes.key = true,
                "VALUE" => attributes.value = true,
                other => return Err(format!("{other:?} is not KEY or VALUE")),
            }
        }
        Ok(attributes)
    }
}

/// Why a record does not reach the function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SchemaFailure {
    /// The record names a schema id the registry does not have.
    NotFound {
        attribute: Attribute,
        schema_id: u32,
    },
    /// The part is missing, not in the registry's wire format, or does not decode with its
    /// schema.
    Deserialization {
        attribute: Attribute,
        reason: String,
    },
}

impl SchemaFailure {
    /// The condition the failure destination records.
    pub fn condition(&self) -> Condition {
        match self {
            SchemaFailure::NotFound { .. } => Condition::SchemaNotFound,
            SchemaFailure::Deserialization { .. } => Condition::DeserializationError,
        }
    }
}

impl fmt::Display for SchemaFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            SchemaFailure::NotFound {
                attribute,
                schema_id,
            } => write!(f, "{attribute}: the registry has no schema {schema_id}"),
            SchemaFailure::Deserialization { attribute, reason } => {
                write!(f, "{attribute}: {reason}")
            }
        }
    }
}

/// A record after validation.
#[derive(Debug)]
pub enum Checked {
    /// It passed: the record as the function receives it.
    Passed(SourceRecord),
    /// It failed: the record as it was read, and why.
    Failed(SourceRecord, SchemaFailure),
    /// The registry could not be asked: the record as it was read, nothing decided.
    Undecided(SourceRecord, RegistryError),
}

/// Validates records against a registry as the mapping does.
pub struct Validator {
    schemas: WriterSchemas,
    format: RecordFormat,
    attributes: Attributes,
}

/// `dataFormat` of an Avro part.
const AVRO: &str = "AVRO";

impl Validator {
    pub fn new(schemas: WriterSchemas, format: RecordFormat, attributes: Attributes) -> Self {
        Self {
            schemas,
            format,
            attributes,
        }
    }

    /// The record as the function receives it, or why it does not.
    pub async fn check(&self, mut record: SourceRecord) -> Checked {
        let mut key = None;
        if self.attributes.key {
            match self.part(Attribute::Key, record.key.as_deref()).await {
                Ok(Ok(part)) => key = Some(part),
                Ok(Err(failure)) => return Checked::Failed(record, failure),
                Err(error) => return Checked::Undecided(record, error),
            }
        }
        let mut value = None;
        if self.attributes.value {
            match self.part(Attribute::Value, record.value.as_deref()).await {
                Ok(Ok(part)) => value = Some(part),
                Ok(Err(failure)) => return Checked::Failed(record, failure),
                Err(error) => return Checked::Undecided(record, error),
            }
        }
        let mut schemas = RecordSchemas::default();
        if let Some((bytes, metadata)) = key {
            record.key = Some(bytes);
            schemas.key = Some(metadata);
        }
        if let Some((bytes, metadata)) = value {
            record.value = Some(bytes);
            schemas.value = Some(metadata);
        }
        record.schemas = schemas;
        Checked::Passed(record)
    }

    /// One validated part: its bytes as the function receives them and its metadata.
    async fn part(
        &self,
        attribute: Attribute,
        bytes: Option<&[u8]>,
    ) -> Result<Result<(Vec<u8>, SchemaMetadata<'static>), SchemaFailure>, RegistryError> {
        let failed = |reason: String| Ok(Err(SchemaFailure::Deserialization { attribute, reason }));
        let Some(bytes) = bytes else {
            return failed("the record has none".into());
        };
        let Some((schema_id, datum)) = confluent_unframe(bytes) else {
            return failed(
                "not in the registry's wire format (a zero byte, then a four-byte schema id)"
                    .into(),
            );
        };
        let id = schema_id.to_string();
        let schema = match self.schemas.resolve(BTreeSet::from([id.as_str()])).await {
            Ok(mut set) => set
                .remove(&id)
                .expect("resolve answers every id it is asked"),
            Err(error) if error.is_not_found() => {
                return Ok(Err(SchemaFailure::NotFound {
                    attribute,
                    schema_id,
                }));
            }
            Err(error) => return Err(error),
        };
        let schema = match schema {
            Ok(schema) => schema,
            Err(reason) => return failed(reason),
        };
        let mut rest = datum;
        let decoded = GenericDatumReader::builder(&schema)
            .build()
            .and_then(|reader| reader.read_value(&mut rest));
        let value = match decoded {
            // The crate reads a string cut short as a null rather than failing; a value that
            // does not validate against its schema is such a datum.
            Ok(value) if !value.validate(&schema) => {
                return failed(format!(
                    "does not decode with schema {id}: the datum ends early"
                ));
            }
            Ok(value) if rest.is_empty() => value,
            Ok(_) => {
                return failed(format!(
                    "{} byte(s) after the datum of schema {id}",
                    rest.len()
                ));
            }
            Err(error) => return failed(format!("does not decode with schema {id}: {error}")),
        };
        let handed_over = match self.format {
            RecordFormat::Source => datum.to_vec(),
            RecordFormat::Json => match serde_json::Value::try_from(value) {
                Ok(json) => json.to_string().into_bytes(),
                Err(error) => return failed(format!("has no JSON form: {error}")),
            },
        };
        let metadata = SchemaMetadata {
            data_format: AVRO.into(),
            schema_id: Some(id.into()),
        };
        Ok(Ok((handed_over, metadata)))
    }
}

#[cfg(test)]
mod tests {
    use msk_event::RecordTimestamp;
    use schema_registry::FixedRegistry;
    use serde_json::{Value, json};
    use user_record::{UserRecord, avro::confluent_frame};

    use super::*;

    fn user() -> UserRecord {
        UserRecord::from_json_owned(
            json!({
                "id": "5f1c2f6e-8d8a-4c1e-9a53-2b1d0c6a7e11",
                "first_name": "Ada", "last_name": "Byron", "gender": "female",
                "address": "12 Main Street, Leeds, West Yorkshire, United Kingdom",
                "post_code": "LS1 4AP", "email": "ada@example.com", "username": "ada",
                "dob": "1990-05-01T10:20:30.456Z", "registered_date": "2015-02-03T04:05:06.789Z",
                "phone": "0113 496 0000", "picture": "https://example.com/ada.jpg"
            })
            .to_string()
            .as_bytes(),
        )
        .unwrap()
    }

    fn record(value: Vec<u8>) -> SourceRecord {
        SourceRecord {
            topic: "users_created".into(),
            partition: 0,
            offset: 7,
            timestamp: RecordTimestamp::CreateTime(1_765_000_000_000),
            key: Some(b"5f1c2f6e-8d8a-4c1e-9a53-2b1d0c6a7e11".to_vec()),
            value: Some(value),
            headers: vec![],
            schemas: RecordSchemas::default(),
        }
    }

    fn validator(format: RecordFormat, attributes: &str) -> Validator {
        let registry = FixedRegistry::new([("3", user_record::schemas::AVRO)]);
        Validator::new(
            WriterSchemas::new(Box::new(registry)),
            format,
            attributes.parse().unwrap(),
        )
    }

    fn framed(schema_id: u32) -> Vec<u8> {
        confluent_frame(schema_id, &user().to_avro())
    }

    #[tokio::test]
    async fn in_json_format_a_valid_value_becomes_the_record_as_json_with_its_metadata() {
        // given a value framed with schema 3, which the registry has
        let checked = validator(RecordFormat::Json, "VALUE")
            .check(record(framed(3)))
            .await;

        // then it passes as JSON the sink reads field for field, marked AVRO 3
        let Checked::Passed(passed) = checked else {
            panic!("{checked:?}")
        };
        let json: Value = serde_json::from_slice(passed.value.as_deref().unwrap()).unwrap();
        assert_eq!(
            json["dob"],
            json!(641_557_230_456_i64),
            "millis as a number"
        );
        assert_eq!(
            UserRecord::from_json_owned(passed.value.as_deref().unwrap()).unwrap(),
            user()
        );
        assert_eq!(
            passed.schemas.value,
            Some(SchemaMetadata {
                data_format: "AVRO".into(),
                schema_id: Some("3".into())
            })
        );
        assert_eq!(passed.schemas.key, None, "keys are not validated");
    }

    #[tokio::test]
    async fn in_source_format_a_valid_value_is_its_datum_without_the_prefix() {
        let checked = validator(RecordFormat::Source, "VALUE")
            .check(record(framed(3)))
            .await;
        let Checked::Passed(passed) = checked else {
            panic!("{checked:?}")
        };
        assert_eq!(passed.value, Some(user().to_avro()));
    }

    #[tokio::test]
    async fn an_unknown_schema_id_fails_as_schema_not_found_and_keeps_the_record_as_read() {
        let checked = validator(RecordFormat::Json, "VALUE")
            .check(record(framed(99)))
            .await;
        let Checked::Failed(failed, failure) = checked else {
            panic!("{checked:?}")
        };
        assert_eq!(failure.condition(), Condition::SchemaNotFound);
        assert_eq!(failed.value, Some(framed(99)));
    }

    #[tokio::test]
    async fn plain_json_and_a_cut_datum_fail_as_deserialization_errors() {
        let plain = user().to_json();
        let mut cut = framed(3);
        cut.truncate(cut.len() - 4);
        let mut longer = framed(3);
        longer.push(0);
        for value in [plain, cut, longer] {
            let checked = validator(RecordFormat::Json, "VALUE")
                .check(record(value))
                .await;
            let Checked::Failed(_, failure) = checked else {
                panic!("{checked:?}")
            };
            assert_eq!(
                failure.condition(),
                Condition::DeserializationError,
                "{failure}"
            );
        }
    }

    #[tokio::test]
    async fn a_validated_key_must_be_registry_encoded_too() {
        // given plain-text keys, as the producer writes them, and keys validated
        let checked = validator(RecordFormat::Json, "KEY,VALUE")
            .check(record(framed(3)))
            .await;
        let Checked::Failed(_, failure) = checked else {
            panic!("{checked:?}")
        };
        assert!(
            matches!(
                failure,
                SchemaFailure::Deserialization {
                    attribute: Attribute::Key,
                    ..
                }
            ),
            "{failure}"
        );
    }

    #[tokio::test]
    async fn a_registry_that_does_not_answer_leaves_the_record_undecided() {
        // given a registry address nothing listens on
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        drop(listener);
        let registry =
            schema_registry::ConfluentRegistry::new(reqwest::Client::new(), url.parse().unwrap());
        let validator = Validator::new(
            WriterSchemas::new(Box::new(registry)),
            RecordFormat::Json,
            "VALUE".parse().unwrap(),
        );

        // when a framed value is checked, then nothing is decided and the record is kept
        match validator.check(record(framed(3))).await {
            Checked::Undecided(kept, error) => {
                assert_eq!(kept.value, Some(framed(3)));
                assert!(!error.is_not_found(), "{error}");
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn the_validated_attributes_are_key_value_or_both() {
        let parse = |text: &str| text.parse::<Attributes>().map(|a| (a.key, a.value));
        assert_eq!(parse("VALUE"), Ok((false, true)));
        assert_eq!(parse("KEY"), Ok((true, false)));
        assert_eq!(parse("KEY,VALUE"), Ok((true, true)));
        assert!(parse("HEADERS").is_err());
    }
}
