//! Reading rows back out of Arrow batches in the lake schema: the inverse of the sink's layout,
//! for anything that checks or reprocesses what landed in the lake.

use arrow::{
    array::{Array, AsArray, Int32Array, Int64Array, StringArray, TimestampMillisecondArray},
    datatypes::{Int32Type, Int64Type, TimestampMillisecondType},
    error::ArrowError,
    record_batch::RecordBatch,
};
use chrono::{DateTime, Utc};

use crate::UserRecord;

/// One row of the lake: the record and where it came from on the topic.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeRow {
    pub record: UserRecord,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: DateTime<Utc>,
}

fn column<'a, T: 'static>(
    batch: &'a RecordBatch,
    name: &str,
    cast: impl Fn(&'a dyn Array) -> Option<&'a T>,
) -> Result<&'a T, ArrowError> {
    let array = batch
        .column_by_name(name)
        .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))?;
    cast(array.as_ref()).ok_or_else(|| {
        ArrowError::SchemaError(format!("column {name} has type {}", array.data_type()))
    })
}

fn text<'a>(batch: &'a RecordBatch, name: &str) -> Result<&'a StringArray, ArrowError> {
    column(batch, name, |a| a.as_string_opt::<i32>())
}

fn millis<'a>(
    batch: &'a RecordBatch,
    name: &str,
) -> Result<&'a TimestampMillisecondArray, ArrowError> {
    column(batch, name, |a| {
        a.as_primitive_opt::<TimestampMillisecondType>()
    })
}

fn utc(ms: i64) -> Result<DateTime<Utc>, ArrowError> {
    DateTime::from_timestamp_millis(ms)
        .ok_or_else(|| ArrowError::ParseError(format!("timestamp {ms} ms is out of range")))
}

/// Every row of a batch in the lake schema, in batch order.
pub fn rows(batch: &RecordBatch) -> Result<Vec<LakeRow>, ArrowError> {
    let (id, first, last) = (
        text(batch, "id")?,
        text(batch, "first_name")?,
        text(batch, "last_name")?,
    );
    let (gender, address) = (text(batch, "gender")?, text(batch, "address")?);
    let (post_code, email) = (text(batch, "post_code")?, text(batch, "email")?);
    let (username, phone, picture) = (
        text(batch, "username")?,
        text(batch, "phone")?,
        text(batch, "picture")?,
    );
    let (dob, registered) = (millis(batch, "dob")?, millis(batch, "registered_date")?);
    let (topic, kafka_ts) = (
        text(batch, "kafka_topic")?,
        millis(batch, "kafka_timestamp")?,
    );
    let partition: &Int32Array = column(batch, "kafka_partition", |a| {
        a.as_primitive_opt::<Int32Type>()
    })?;
    let offset: &Int64Array = column(batch, "kafka_offset", |a| a.as_primitive_opt::<Int64Type>())?;
    (0..batch.num_rows())
        .map(|i| {
            let id = id.value(i);
            Ok(LakeRow {
                record: UserRecord {
                    id: id
                        .parse()
                        .map_err(|e| ArrowError::ParseError(format!("id {id:?}: {e}")))?,
                    first_name: first.value(i).into(),
                    last_name: last.value(i).into(),
                    gender: gender.value(i).into(),
                    address: address.value(i).into(),
                    post_code: post_code.value(i).into(),
                    email: email.value(i).into(),
                    username: username.value(i).into(),
                    dob: utc(dob.value(i))?,
                    registered_date: utc(registered.value(i))?,
                    phone: phone.value(i).into(),
                    picture: picture.value(i).into(),
                },
                topic: topic.value(i).into(),
                partition: partition.value(i),
                offset: offset.value(i),
                timestamp: utc(kafka_ts.value(i))?,
            })
        })
        .collect()
}
