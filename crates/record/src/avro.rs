//! The record in Avro (feature `avro`), for producers that write through a schema registry and
//! for the sink when its trigger hands over the registry-encoded bytes (`EventRecordFormat`
//! `SOURCE`).
//!
//! A value is read with the schema it was written with (the writer's, from the registry) and
//! resolved to the users' schema ([`crate::schemas::AVRO`]) by Avro's own schema resolution, so
//! a writer that added an optional field, or any field the users' schema lacks, reads as the
//! record; what such a field holds is read apart, by [`added`], for the table's columns. Timestamps are `timestamp-millis`, so a
//! record written here keeps its instants to the millisecond, as the lake does.

use std::{borrow::Cow, sync::LazyLock};

use apache_avro::{
    Schema, reader::datum::GenericDatumReader, types::Value, writer::datum::GenericDatumWriter,
};
use chrono::{DateTime, Utc};

use crate::{UserRecord, schemas};

pub mod added;

/// The Confluent wire format's first byte, before the four bytes of the schema id.
const CONFLUENT_MAGIC: u8 = 0;

static SCHEMA: LazyLock<Schema> =
    LazyLock::new(|| Schema::parse_str(schemas::AVRO).expect("users.avsc is a valid Avro schema"));

/// The users' Avro schema, parsed.
pub fn schema() -> &'static Schema {
    &SCHEMA
}

/// Why a value is not a user record in Avro.
#[derive(Debug, thiserror::Error)]
pub enum AvroError {
    /// The bytes are not a datum of the writer's schema, or that schema does not resolve to the
    /// users' schema (a required field it lacks, a type that cannot be promoted).
    #[error("{0}")]
    Decode(#[from] apache_avro::Error),
    /// The record ended before the bytes did.
    #[error("{0} byte(s) after the record")]
    Trailing(usize),
    /// A field resolved to a value the record cannot hold (an instant out of range).
    #[error("field {field}: {problem}")]
    Field {
        field: &'static str,
        problem: String,
    },
    /// A field the writer's schema adds holds a value its column cannot ([`added`]).
    #[error("added field {field}: {problem}")]
    Added { field: String, problem: String },
}

impl UserRecord {
    /// The record as an Avro datum of the users' schema (no framing).
    pub fn to_avro(&self) -> Vec<u8> {
        let text = |s: &Cow<'_, str>| Value::String(s.to_string());
        let value = Value::Record(vec![
            ("id".into(), Value::Uuid(self.id)),
            ("first_name".into(), text(&self.first_name)),
            ("last_name".into(), text(&self.last_name)),
            ("gender".into(), text(&self.gender)),
            ("address".into(), text(&self.address)),
            ("post_code".into(), text(&self.post_code)),
            ("email".into(), text(&self.email)),
            ("username".into(), text(&self.username)),
            (
                "dob".into(),
                Value::TimestampMillis(self.dob.timestamp_millis()),
            ),
            (
                "registered_date".into(),
                Value::TimestampMillis(self.registered_date.timestamp_millis()),
            ),
            ("phone".into(), text(&self.phone)),
            ("picture".into(), text(&self.picture)),
        ]);
        write(schema(), value).expect("a record always fits its own schema")
    }

    /// Reads an Avro datum written with `writer` (no framing), resolved to the users' schema.
    pub fn from_avro(writer: &Schema, datum: &[u8]) -> Result<UserRecord, AvroError> {
        let mut rest = datum;
        let value = read(writer, Some(schema()), &mut rest)?;
        if !rest.is_empty() {
            return Err(AvroError::Trailing(rest.len()));
        }
        let Value::Record(fields) = value else {
            return Err(AvroError::Field {
                field: "(record)",
                problem: "the datum is not a record".into(),
            });
        };
        let mut record = Fields(fields);
        Ok(UserRecord {
            id: record.uuid("id")?,
            first_name: record.text("first_name")?,
            last_name: record.text("last_name")?,
            gender: record.text("gender")?,
            address: record.text("address")?,
            post_code: record.text("post_code")?,
            email: record.text("email")?,
            username: record.text("username")?,
            dob: record.instant("dob")?,
            registered_date: record.instant("registered_date")?,
            phone: record.text("phone")?,
            picture: record.text("picture")?,
        })
    }
}

/// One datum written with `writer`, resolved to `reader` when given; `datum` is left at its end.
fn read(
    writer: &Schema,
    reader: Option<&Schema>,
    datum: &mut &[u8],
) -> apache_avro::AvroResult<Value> {
    GenericDatumReader::builder(writer)
        .maybe_reader_schema(reader)
        .build()?
        .read_value(datum)
}

/// `value` as one datum of `schema`.
fn write(schema: &Schema, value: Value) -> apache_avro::AvroResult<Vec<u8>> {
    GenericDatumWriter::builder(schema)
        .build()?
        .write_value_to_vec(value)
}

/// The fields of a resolved record, taken out by name.
struct Fields(Vec<(String, Value)>);

impl Fields {
    fn take(&mut self, field: &'static str) -> Result<Value, AvroError> {
        let at = self.0.iter().position(|(name, _)| name == field);
        at.map(|at| self.0.swap_remove(at).1)
            .ok_or_else(|| AvroError::Field {
                field,
                problem: "missing".into(),
            })
    }

    fn wrong(field: &'static str, value: &Value) -> AvroError {
        AvroError::Field {
            field,
            problem: format!("unexpected value {value:?}"),
        }
    }

    fn text(&mut self, field: &'static str) -> Result<Cow<'static, str>, AvroError> {
        match self.take(field)? {
            Value::String(text) => Ok(Cow::Owned(text)),
            other => Err(Self::wrong(field, &other)),
        }
    }

    fn uuid(&mut self, field: &'static str) -> Result<uuid::Uuid, AvroError> {
        match self.take(field)? {
            Value::Uuid(id) => Ok(id),
            Value::String(text) => text.parse().map_err(|error| AvroError::Field {
                field,
                problem: format!("{text:?} is not a UUID: {error}"),
            }),
            other => Err(Self::wrong(field, &other)),
        }
    }

    fn instant(&mut self, field: &'static str) -> Result<DateTime<Utc>, AvroError> {
        match self.take(field)? {
            Value::TimestampMillis(ms) | Value::Long(ms) => DateTime::from_timestamp_millis(ms)
                .ok_or_else(|| AvroError::Field {
                    field,
                    problem: format!("{ms} ms since the epoch is out of range"),
                }),
            other => Err(Self::wrong(field, &other)),
        }
    }
}

/// The Confluent wire format of a registry-encoded value: a zero byte, the schema id (four
/// bytes, big-endian), then the datum.
pub fn confluent_frame(schema_id: u32, datum: &[u8]) -> Vec<u8> {
    let mut framed = Vec::with_capacity(5 + datum.len());
    framed.push(CONFLUENT_MAGIC);
    framed.extend_from_slice(&schema_id.to_be_bytes());
    framed.extend_from_slice(datum);
    framed
}

/// The schema id and the datum of a value in the Confluent wire format; `None` when the value
/// is not in it (too short, or another first byte).
pub fn confluent_unframe(framed: &[u8]) -> Option<(u32, &[u8])> {
    match framed {
        [CONFLUENT_MAGIC, a, b, c, d, datum @ ..] => {
            Some((u32::from_be_bytes([*a, *b, *c, *d]), datum))
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> UserRecord {
        UserRecord::from_json_owned(
            br#"{"id":"6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f","first_name":"Zo\u00eb","last_name":"L\u00f8v\u00e5s","gender":"female","address":"4821 Kirkeveien, Oslo, \u00d8stfold, Norway","post_code":"0567","email":"zoe@example.com","username":"bluefish392","dob":"1987-05-04T10:11:12.345Z","registered_date":"2015-02-03T04:05:06Z","phone":"22 33 44 55","picture":"https://randomuser.me/api/portraits/med/women/12.jpg"}"#,
        )
        .unwrap()
    }

    /// The users' schema with one more, optional, field: the next version a producer may write.
    fn schema_with_nationality() -> Schema {
        let mut avro: serde_json::Value = serde_json::from_str(schemas::AVRO).unwrap();
        avro["fields"]
            .as_array_mut()
            .unwrap()
            .push(serde_json::json!(
                {"name": "nationality", "type": ["null", "string"], "default": null}
            ));
        Schema::parse_str(&avro.to_string()).unwrap()
    }

    #[test]
    fn a_record_reads_back_from_its_avro_datum_field_for_field() {
        let record = sample();
        assert_eq!(
            UserRecord::from_avro(schema(), &record.to_avro()).unwrap(),
            record
        );
    }

    #[test]
    fn a_datum_of_a_newer_schema_with_an_optional_field_reads_as_the_record() {
        // given a record written with the next schema version, its new field set
        let writer = schema_with_nationality();
        let Value::Record(mut fields) = read(schema(), None, &mut &sample().to_avro()[..]).unwrap()
        else {
            panic!("a record");
        };
        fields.push((
            "nationality".into(),
            Value::Union(1, Box::new(Value::String("NO".into()))),
        ));
        let datum = write(&writer, Value::Record(fields)).unwrap();

        // then it reads, with its writer's schema, as the record (the new field ignored)
        assert_eq!(UserRecord::from_avro(&writer, &datum).unwrap(), sample());
        // and read with the old schema instead, it is refused rather than misread
        assert!(UserRecord::from_avro(schema(), &datum).is_err());
    }

    #[test]
    fn truncated_and_overlong_datums_are_refused() {
        let datum = sample().to_avro();
        let err = UserRecord::from_avro(schema(), &datum[..datum.len() - 3]).unwrap_err();
        assert!(matches!(err, AvroError::Decode(_)), "{err}");
        let mut longer = datum.clone();
        longer.push(0);
        let err = UserRecord::from_avro(schema(), &longer).unwrap_err();
        assert_eq!(err.to_string(), "1 byte(s) after the record");
    }

    #[test]
    fn the_confluent_frame_carries_the_schema_id_before_the_datum() {
        let framed = confluent_frame(258, b"datum");
        assert_eq!(&framed[..5], &[0, 0, 0, 1, 2]);
        assert_eq!(confluent_unframe(&framed), Some((258, &b"datum"[..])));
        assert_eq!(confluent_unframe(b"{\"id\":1}"), None, "JSON is not framed");
        assert_eq!(confluent_unframe(&[0, 0, 1]), None, "too short");
    }
}
