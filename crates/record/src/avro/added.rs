//! Fields a newer version of the schema adds to the record, kept so that the table can grow a
//! column for each.
//!
//! A producer may register a second version of the users' schema with an optional field the
//! contract does not name (`nationality`). The record is still read against the users' schema
//! ([`crate::UserRecord::from_avro`]); what the writer's schema adds beyond it is read here, typed
//! by the writer's schema and never guessed from a value, so that every record of one schema
//! fills the same typed column. Only scalar fields are kept: a nested record, an array, a map,
//! bytes, a decimal or a union of several types has no column in the lake, and neither has a
//! field named like one of the lake's own columns.

use apache_avro::{Schema, types::Value};

use super::{AvroError, read};
use crate::columns::lake_columns;

/// The column type an added field is kept as.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum AddedKind {
    /// `string`, an `enum` (its symbol) or a `uuid` (its text).
    Text,
    Boolean,
    Int,
    Long,
    Float,
    Double,
    /// `date`: days since 1970-01-01.
    Date,
    /// `timestamp-millis`: milliseconds since the epoch, UTC.
    TimestampMillis,
    /// `timestamp-micros`: microseconds since the epoch, UTC.
    TimestampMicros,
}

impl AddedKind {
    /// The name the reasons and logs use.
    pub fn name(self) -> &'static str {
        match self {
            AddedKind::Text => "string",
            AddedKind::Boolean => "boolean",
            AddedKind::Int => "int",
            AddedKind::Long => "long",
            AddedKind::Float => "float",
            AddedKind::Double => "double",
            AddedKind::Date => "date",
            AddedKind::TimestampMillis => "timestamp-millis",
            AddedKind::TimestampMicros => "timestamp-micros",
        }
    }

    /// The kind of a field's schema: its own, or the one type beside `null` in a union.
    fn of(schema: &Schema) -> Result<Self, String> {
        Ok(match schema {
            Schema::String | Schema::Enum(_) | Schema::Uuid(_) => AddedKind::Text,
            Schema::Boolean => AddedKind::Boolean,
            Schema::Int => AddedKind::Int,
            Schema::Long => AddedKind::Long,
            Schema::Float => AddedKind::Float,
            Schema::Double => AddedKind::Double,
            Schema::Date => AddedKind::Date,
            Schema::TimestampMillis => AddedKind::TimestampMillis,
            Schema::TimestampMicros => AddedKind::TimestampMicros,
            Schema::Union(union) => {
                let mut types = union.variants().iter().filter(|s| **s != Schema::Null);
                match (types.next(), types.next()) {
                    (Some(only), None) if !matches!(only, Schema::Union(_)) => AddedKind::of(only)?,
                    _ => return Err("a union of several types has no column type".into()),
                }
            }
            other => return Err(format!("{other:?} has no column type in the lake")),
        })
    }
}

/// A field the writer's schema has and the users' schema lacks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AddedField {
    pub name: String,
    /// The column type it is kept as, or why it is not kept.
    pub kind: Result<AddedKind, String>,
}

/// One value of an added field, as the column stores it.
#[derive(Debug, Clone, PartialEq)]
pub enum AddedValue {
    Null,
    Text(String),
    Boolean(bool),
    Int(i32),
    Long(i64),
    Float(f32),
    Double(f64),
    /// Days since 1970-01-01.
    Date(i32),
    /// Microseconds since the epoch, UTC (from either timestamp kind).
    Timestamp(i64),
}

/// The fields of `writer` (a record schema) that the users' schema does not have, in the
/// writer's order. Empty for the users' schema itself, and for any schema that is not a record.
pub fn added_fields(writer: &Schema) -> Vec<AddedField> {
    let (Schema::Record(writer), Schema::Record(users)) = (writer, super::schema()) else {
        return Vec::new();
    };
    let own: Vec<&str> = lake_columns().map(|c| c.name).collect();
    writer
        .fields
        .iter()
        .filter(|field| !users.lookup.contains_key(&field.name))
        .map(|field| AddedField {
            name: field.name.clone(),
            kind: if own.contains(&field.name.as_str()) {
                Err("its name is one of the lake's own columns".into())
            } else {
                AddedKind::of(&field.schema)
            },
        })
        .collect()
}

/// The values of the `fields` that are kept (`kind` is `Ok`), in their order, from a datum
/// written with `writer`.
pub fn read_added(
    writer: &Schema,
    datum: &[u8],
    fields: &[AddedField],
) -> Result<Vec<AddedValue>, AvroError> {
    let Value::Record(mut values) = read(writer, None, &mut &datum[..])? else {
        return Err(AvroError::Field {
            field: "(record)",
            problem: "the datum is not a record".into(),
        });
    };
    let mut added = Vec::new();
    for field in fields {
        let Ok(kind) = field.kind else { continue };
        let at = values.iter().position(|(name, _)| *name == field.name);
        let value = at.map_or(Value::Null, |at| values.swap_remove(at).1);
        added.push(from_avro(kind, value).map_err(|problem| AvroError::Added {
            field: field.name.clone(),
            problem,
        })?);
    }
    Ok(added)
}

fn from_avro(kind: AddedKind, value: Value) -> Result<AddedValue, String> {
    Ok(match (kind, value) {
        (_, Value::Null) => AddedValue::Null,
        (_, Value::Union(_, inner)) => return from_avro(kind, *inner),
        (AddedKind::Text, Value::String(text) | Value::Enum(_, text)) => AddedValue::Text(text),
        (AddedKind::Text, Value::Uuid(id)) => AddedValue::Text(id.to_string()),
        (AddedKind::Boolean, Value::Boolean(b)) => AddedValue::Boolean(b),
        (AddedKind::Int, Value::Int(n)) => AddedValue::Int(n),
        (AddedKind::Long, Value::Long(n)) => AddedValue::Long(n),
        (AddedKind::Float, Value::Float(x)) => AddedValue::Float(x),
        (AddedKind::Double, Value::Double(x)) => AddedValue::Double(x),
        (AddedKind::Date, Value::Date(days)) => AddedValue::Date(days),
        (AddedKind::TimestampMillis, Value::TimestampMillis(ms)) => {
            AddedValue::Timestamp(ms.checked_mul(1000).ok_or("out of range")?)
        }
        (AddedKind::TimestampMicros, Value::TimestampMicros(us)) => AddedValue::Timestamp(us),
        (kind, value) => return Err(format!("{value:?} is not a {}", kind.name())),
    })
}

/// The value of an added field from the JSON a trigger in `JSON` format made of the record. An
/// Avro union may come as the value of its branch or, as Avro's JSON encoding writes it, as an
/// object naming the branch (`{"string": "NL"}`); a timestamp as a number in its own unit or
/// as ISO-8601 text; a date as days or as `YYYY-MM-DD`.
pub fn added_from_json(kind: AddedKind, value: &serde_json::Value) -> Result<AddedValue, String> {
    use serde_json::Value as Json;
    let wrong = || format!("{value} is not a {}", kind.name());
    Ok(match (kind, value) {
        (_, Json::Null) => AddedValue::Null,
        (_, Json::Object(branch)) if branch.len() == 1 => {
            let (_, inner) = branch.iter().next().expect("one member");
            return added_from_json(kind, inner);
        }
        (AddedKind::Text, Json::String(text)) => AddedValue::Text(text.clone()),
        (AddedKind::Boolean, Json::Bool(b)) => AddedValue::Boolean(*b),
        (AddedKind::Int, Json::Number(n)) => AddedValue::Int(
            n.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(wrong)?,
        ),
        (AddedKind::Long, Json::Number(n)) => AddedValue::Long(n.as_i64().ok_or_else(wrong)?),
        (AddedKind::Float, Json::Number(n)) => {
            AddedValue::Float(n.as_f64().ok_or_else(wrong)? as f32)
        }
        (AddedKind::Double, Json::Number(n)) => AddedValue::Double(n.as_f64().ok_or_else(wrong)?),
        (AddedKind::Date, Json::Number(n)) => AddedValue::Date(
            n.as_i64()
                .and_then(|n| i32::try_from(n).ok())
                .ok_or_else(wrong)?,
        ),
        (AddedKind::Date, Json::String(text)) => {
            let date = chrono::NaiveDate::parse_from_str(text, "%Y-%m-%d").map_err(|_| wrong())?;
            let epoch = chrono::NaiveDate::from_ymd_opt(1970, 1, 1).expect("a date");
            AddedValue::Date((date - epoch).num_days() as i32)
        }
        (AddedKind::TimestampMillis, Json::Number(n)) => {
            let ms = n.as_i64().ok_or_else(wrong)?;
            AddedValue::Timestamp(ms.checked_mul(1000).ok_or_else(wrong)?)
        }
        (AddedKind::TimestampMicros, Json::Number(n)) => {
            AddedValue::Timestamp(n.as_i64().ok_or_else(wrong)?)
        }
        (AddedKind::TimestampMillis | AddedKind::TimestampMicros, Json::String(text)) => {
            let instant = chrono::DateTime::parse_from_rfc3339(text).map_err(|_| wrong())?;
            AddedValue::Timestamp(instant.timestamp_micros())
        }
        _ => return Err(wrong()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{UserRecord, avro::write, schemas};

    /// The users' schema with more fields appended.
    fn users_schema_with(fields: serde_json::Value) -> Schema {
        let mut avro: serde_json::Value = serde_json::from_str(schemas::AVRO).unwrap();
        let all = avro["fields"].as_array_mut().unwrap();
        all.extend(fields.as_array().unwrap().iter().cloned());
        Schema::parse_str(&avro.to_string()).unwrap()
    }

    fn sample() -> UserRecord {
        UserRecord::from_json_owned(
            br#"{"id":"6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f","first_name":"A","last_name":"B","gender":"female","address":"x","post_code":"0567","email":"e","username":"u","dob":"1987-05-04T10:11:12.345Z","registered_date":"2015-02-03T04:05:06Z","phone":"p","picture":"q"}"#,
        )
        .unwrap()
    }

    /// A datum of `writer`: the sample's fields, then `added`.
    fn datum(writer: &Schema, added: Vec<(&str, Value)>) -> Vec<u8> {
        let Value::Record(mut fields) =
            read(crate::avro::schema(), None, &mut &sample().to_avro()[..]).unwrap()
        else {
            panic!("a record");
        };
        fields.extend(added.into_iter().map(|(n, v)| (n.to_string(), v)));
        write(writer, Value::Record(fields)).unwrap()
    }

    #[test]
    fn the_users_schema_adds_nothing() {
        assert!(added_fields(crate::avro::schema()).is_empty());
    }

    #[test]
    fn scalar_fields_are_kept_with_their_type_and_others_say_why_not() {
        // given a writer's schema with four more fields
        let writer = users_schema_with(serde_json::json!([
            {"name": "nationality", "type": ["null", "string"], "default": null},
            {"name": "seen_at", "type": {"type": "long", "logicalType": "timestamp-millis"}},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "kafka_offset", "type": "long"}
        ]));

        // when its added fields are listed
        let added = added_fields(&writer);

        // then the scalars are kept, the array and the lake's own column name are not
        let kinds: Vec<(&str, Option<AddedKind>)> = added
            .iter()
            .map(|f| (f.name.as_str(), f.kind.clone().ok()))
            .collect();
        assert_eq!(
            kinds,
            [
                ("nationality", Some(AddedKind::Text)),
                ("seen_at", Some(AddedKind::TimestampMillis)),
                ("tags", None),
                ("kafka_offset", None),
            ]
        );
        assert!(added[3].kind.as_ref().unwrap_err().contains("lake's own"));
    }

    #[test]
    fn the_kept_fields_read_from_a_datum_in_order_and_a_null_branch_is_null() {
        // given two datums of a schema adding an optional string and a timestamp
        let writer = users_schema_with(serde_json::json!([
            {"name": "nationality", "type": ["null", "string"], "default": null},
            {"name": "tags", "type": {"type": "array", "items": "string"}},
            {"name": "seen_at", "type": {"type": "long", "logicalType": "timestamp-millis"}}
        ]));
        let fields = added_fields(&writer);
        let set = datum(
            &writer,
            vec![
                (
                    "nationality",
                    Value::Union(1, Box::new(Value::String("NL".into()))),
                ),
                ("tags", Value::Array(vec![])),
                ("seen_at", Value::TimestampMillis(1_700_000_000_123)),
            ],
        );
        let unset = datum(
            &writer,
            vec![
                ("nationality", Value::Union(0, Box::new(Value::Null))),
                ("tags", Value::Array(vec![])),
                ("seen_at", Value::TimestampMillis(0)),
            ],
        );

        // then the kept fields read as written, timestamps in microseconds
        assert_eq!(
            read_added(&writer, &set, &fields).unwrap(),
            [
                AddedValue::Text("NL".into()),
                AddedValue::Timestamp(1_700_000_000_123_000)
            ]
        );
        assert_eq!(
            read_added(&writer, &unset, &fields).unwrap(),
            [AddedValue::Null, AddedValue::Timestamp(0)]
        );
    }

    #[test]
    fn json_values_read_as_the_branch_or_as_avros_json_encoding_of_a_union() {
        use serde_json::json;
        let text = |v| added_from_json(AddedKind::Text, &v);
        assert_eq!(text(json!("NL")), Ok(AddedValue::Text("NL".into())));
        assert_eq!(
            text(json!({"string": "NL"})),
            Ok(AddedValue::Text("NL".into()))
        );
        assert_eq!(text(json!(null)), Ok(AddedValue::Null));
        assert!(text(json!(7)).unwrap_err().contains("not a string"));
        let at = |v| added_from_json(AddedKind::TimestampMillis, &v);
        assert_eq!(at(json!(1_000)), Ok(AddedValue::Timestamp(1_000_000)));
        assert_eq!(
            at(json!("1970-01-01T00:00:01Z")),
            Ok(AddedValue::Timestamp(1_000_000))
        );
        let int = |v| added_from_json(AddedKind::Int, &v);
        assert!(int(json!(5_000_000_000u64)).is_err(), "beyond an int");
        assert_eq!(
            added_from_json(AddedKind::Date, &json!("1970-01-11")),
            Ok(AddedValue::Date(10))
        );
    }
}
