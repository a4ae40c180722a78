//! Rows of the lake in and out of Arrow: [`RowsBuilder`] lays records out in the lake schema
//! (the sink's hot path: each field is copied once, from the message value into its column) and
//! [`rows`] reads them back, for anything that checks or reprocesses what landed.

use std::sync::Arc;

use arrow::{
    array::{
        Array, ArrayRef, AsArray, Int32Array, Int32Builder, Int64Array, Int64Builder, StringArray,
        StringBuilder, TimestampMillisecondArray, TimestampMillisecondBuilder,
    },
    datatypes::{Int32Type, Int64Type, TimestampMillisecondType},
    error::ArrowError,
    record_batch::RecordBatch,
};
use chrono::{DateTime, Utc};
use user_record::{UserRecord, UserRecordRef};

use crate::lake_schema;

/// One row of the lake: the record and where it came from on the topic.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeRow {
    pub record: UserRecord,
    pub topic: String,
    pub partition: i32,
    pub offset: i64,
    pub timestamp: DateTime<Utc>,
}

/// The lake schema's columns, filling row by row.
pub struct RowsBuilder {
    id: StringBuilder,
    first_name: StringBuilder,
    last_name: StringBuilder,
    gender: StringBuilder,
    address: StringBuilder,
    post_code: StringBuilder,
    email: StringBuilder,
    username: StringBuilder,
    dob: TimestampMillisecondBuilder,
    registered_date: TimestampMillisecondBuilder,
    phone: StringBuilder,
    picture: StringBuilder,
    topic: StringBuilder,
    partition: Int32Builder,
    offset: Int64Builder,
    timestamp: TimestampMillisecondBuilder,
}

fn utc_millis() -> TimestampMillisecondBuilder {
    TimestampMillisecondBuilder::new().with_timezone("UTC")
}

impl Default for RowsBuilder {
    fn default() -> Self {
        Self {
            id: StringBuilder::new(),
            first_name: StringBuilder::new(),
            last_name: StringBuilder::new(),
            gender: StringBuilder::new(),
            address: StringBuilder::new(),
            post_code: StringBuilder::new(),
            email: StringBuilder::new(),
            username: StringBuilder::new(),
            dob: utc_millis(),
            registered_date: utc_millis(),
            phone: StringBuilder::new(),
            picture: StringBuilder::new(),
            topic: StringBuilder::new(),
            partition: Int32Builder::new(),
            offset: Int64Builder::new(),
            timestamp: utc_millis(),
        }
    }
}

impl RowsBuilder {
    /// Appends one record with its place on the topic.
    pub fn push(
        &mut self,
        record: &UserRecordRef<'_>,
        topic: &str,
        partition: i32,
        offset: i64,
        timestamp: DateTime<Utc>,
    ) {
        let mut id = uuid::Uuid::encode_buffer();
        self.id
            .append_value(record.id.hyphenated().encode_lower(&mut id));
        self.first_name.append_value(&record.first_name);
        self.last_name.append_value(&record.last_name);
        self.gender.append_value(&record.gender);
        self.address.append_value(&record.address);
        self.post_code.append_value(&record.post_code);
        self.email.append_value(&record.email);
        self.username.append_value(&record.username);
        self.dob.append_value(record.dob.timestamp_millis());
        self.registered_date
            .append_value(record.registered_date.timestamp_millis());
        self.phone.append_value(&record.phone);
        self.picture.append_value(&record.picture);
        self.topic.append_value(topic);
        self.partition.append_value(partition);
        self.offset.append_value(offset);
        self.timestamp.append_value(timestamp.timestamp_millis());
    }

    /// Appends a row read back from the lake.
    pub fn push_row(&mut self, row: &LakeRow) {
        self.push(
            &row.record,
            &row.topic,
            row.partition,
            row.offset,
            row.timestamp,
        );
    }

    /// Rows appended so far.
    pub fn len(&self) -> usize {
        arrow::array::ArrayBuilder::len(&self.offset)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The rows as one record batch in the lake schema, in the order they were appended.
    pub fn finish(mut self) -> Result<RecordBatch, ArrowError> {
        let columns: Vec<ArrayRef> = vec![
            Arc::new(self.id.finish()),
            Arc::new(self.first_name.finish()),
            Arc::new(self.last_name.finish()),
            Arc::new(self.gender.finish()),
            Arc::new(self.address.finish()),
            Arc::new(self.post_code.finish()),
            Arc::new(self.email.finish()),
            Arc::new(self.username.finish()),
            Arc::new(self.dob.finish()),
            Arc::new(self.registered_date.finish()),
            Arc::new(self.phone.finish()),
            Arc::new(self.picture.finish()),
            Arc::new(self.topic.finish()),
            Arc::new(self.partition.finish()),
            Arc::new(self.offset.finish()),
            Arc::new(self.timestamp.finish()),
        ];
        RecordBatch::try_new(lake_schema(), columns)
    }
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
    let owned = |array: &StringArray, i: usize| array.value(i).to_string().into();
    (0..batch.num_rows())
        .map(|i| {
            let id = id.value(i);
            Ok(LakeRow {
                record: UserRecord {
                    id: id
                        .parse()
                        .map_err(|e| ArrowError::ParseError(format!("id {id:?}: {e}")))?,
                    first_name: owned(first, i),
                    last_name: owned(last, i),
                    gender: owned(gender, i),
                    address: owned(address, i),
                    post_code: owned(post_code, i),
                    email: owned(email, i),
                    username: owned(username, i),
                    dob: utc(dob.value(i))?,
                    registered_date: utc(registered.value(i))?,
                    phone: owned(phone, i),
                    picture: owned(picture, i),
                },
                topic: topic.value(i).into(),
                partition: partition.value(i),
                offset: offset.value(i),
                timestamp: utc(kafka_ts.value(i))?,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use arrow::datatypes::{DataType, Field, Schema};

    use super::*;

    fn row(offset: i64) -> LakeRow {
        let json = format!(
            r#"{{"id":"6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e{offset:02x}","first_name":"Zoë","last_name":"Ørsted",
            "gender":"female","address":"1 Main St, Oslo, Oslo, Norway","post_code":"0567",
            "email":"z@example.com","username":"z","dob":"1987-05-04T10:11:12.345Z",
            "registered_date":"2015-02-03T04:05:06Z","phone":"22","picture":"https://x/p.jpg"}}"#
        );
        LakeRow {
            record: UserRecord::from_json_owned(json.as_bytes()).unwrap(),
            topic: "users_created".into(),
            partition: 2,
            offset,
            timestamp: DateTime::from_timestamp_millis(1_795_525_198_100 + offset).unwrap(),
        }
    }

    #[test]
    fn rows_built_into_a_batch_read_back_field_for_field() {
        let written: Vec<LakeRow> = (0..3).map(row).collect();
        let mut builder = RowsBuilder::default();
        written.iter().for_each(|r| builder.push_row(r));
        assert_eq!(builder.len(), 3);
        let batch = builder.finish().unwrap();
        assert_eq!(batch.schema(), lake_schema());
        assert_eq!(rows(&batch).unwrap(), written);
    }

    #[test]
    fn reading_rows_from_a_batch_without_a_lake_column_names_the_column() {
        let schema = Schema::new(vec![Field::new("id", DataType::Utf8, false)]);
        let ids = StringArray::from(vec!["6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f"]);
        let batch = RecordBatch::try_new(Arc::new(schema), vec![Arc::new(ids)]).unwrap();
        let error = rows(&batch).unwrap_err();
        assert_eq!(error.to_string(), "Schema error: no column first_name");
    }
}
