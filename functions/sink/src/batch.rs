//! Grouping accepted records into the lake's partitions and laying each group out as one
//! Arrow record batch with the fixed lake schema.

use std::{collections::BTreeMap, sync::Arc};

use arrow::{
    array::{ArrayRef, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder},
    error::ArrowError,
    record_batch::RecordBatch,
};
use chrono::{DateTime, NaiveDate, Timelike, Utc};
use user_record::lake_schema;

use crate::decode::Accepted;

/// Where a group of rows goes: one topic-partition within one hour of Kafka time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    pub topic: String,
    pub partition: i32,
    pub date: NaiveDate,
    pub hour: u32,
}

impl Slot {
    /// The slot of a record with this Kafka timestamp.
    pub fn of(topic: &str, partition: i32, timestamp: DateTime<Utc>) -> Self {
        Self {
            topic: topic.to_string(),
            partition,
            date: timestamp.date_naive(),
            hour: timestamp.hour(),
        }
    }
}

/// The rows of one slot, ready to encode.
#[derive(Debug)]
pub struct SlotBatch {
    pub slot: Slot,
    pub first_offset: i64,
    pub last_offset: i64,
    pub batch: RecordBatch,
}

/// Groups records by slot (in slot order, rows by offset) and builds one batch per slot.
pub fn build(accepted: &[Accepted]) -> Result<Vec<SlotBatch>, ArrowError> {
    let mut groups: BTreeMap<Slot, Vec<&Accepted>> = BTreeMap::new();
    for row in accepted {
        groups
            .entry(Slot::of(&row.topic, row.partition, row.timestamp))
            .or_default()
            .push(row);
    }
    groups
        .into_iter()
        .map(|(slot, mut rows)| {
            rows.sort_by_key(|row| row.offset);
            Ok(SlotBatch {
                first_offset: rows.first().map_or(0, |r| r.offset),
                last_offset: rows.last().map_or(0, |r| r.offset),
                batch: to_record_batch(&rows)?,
                slot,
            })
        })
        .collect()
}

/// Lays rows out column by column in the lake schema's order.
pub fn to_record_batch(rows: &[&Accepted]) -> Result<RecordBatch, ArrowError> {
    let n = rows.len();
    let text = |f: fn(&Accepted) -> &str| -> ArrayRef {
        let bytes = rows.iter().map(|r| f(r).len()).sum();
        let mut builder = StringBuilder::with_capacity(n, bytes);
        rows.iter().for_each(|r| builder.append_value(f(r)));
        Arc::new(builder.finish())
    };
    let millis = |f: fn(&Accepted) -> DateTime<Utc>| -> ArrayRef {
        let mut builder = TimestampMillisecondBuilder::with_capacity(n).with_timezone("UTC");
        rows.iter()
            .for_each(|r| builder.append_value(f(r).timestamp_millis()));
        Arc::new(builder.finish())
    };
    let mut id = StringBuilder::with_capacity(n, n * uuid::fmt::Hyphenated::LENGTH);
    let mut buffer = uuid::Uuid::encode_buffer();
    rows.iter()
        .for_each(|r| id.append_value(r.record.id.hyphenated().encode_lower(&mut buffer)));
    let mut partition = Int32Builder::with_capacity(n);
    let mut offset = Int64Builder::with_capacity(n);
    for row in rows {
        partition.append_value(row.partition);
        offset.append_value(row.offset);
    }
    let columns: Vec<ArrayRef> = vec![
        Arc::new(id.finish()),
        text(|r| &r.record.first_name),
        text(|r| &r.record.last_name),
        text(|r| &r.record.gender),
        text(|r| &r.record.address),
        text(|r| &r.record.post_code),
        text(|r| &r.record.email),
        text(|r| &r.record.username),
        millis(|r| r.record.dob),
        millis(|r| r.record.registered_date),
        text(|r| &r.record.phone),
        text(|r| &r.record.picture),
        text(|r| &r.topic),
        Arc::new(partition.finish()),
        Arc::new(offset.finish()),
        millis(|r| r.timestamp),
    ];
    RecordBatch::try_new(lake_schema(), columns)
}
