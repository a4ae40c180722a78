//! Grouping accepted records into the lake's partitions and laying each group out as one
//! Arrow record batch with the fixed lake schema.
//!
//! Records are appended to their slot's column builders as the decoder hands them over, so each
//! field is copied once, from the message value into its column, and no row is ever held as an
//! owned struct.

use std::sync::Arc;

use arrow::{
    array::{
        ArrayRef, Int32Builder, Int64Builder, StringBuilder, TimestampMillisecondBuilder,
        UInt32Array,
    },
    compute::take_record_batch,
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

    /// Whether a record with this place and time belongs here (without building its slot).
    fn holds(&self, topic: &str, partition: i32, timestamp: DateTime<Utc>) -> bool {
        self.partition == partition
            && self.hour == timestamp.hour()
            && self.date == timestamp.date_naive()
            && self.topic == topic
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

/// A slot whose columns could not be assembled into a record batch.
#[derive(Debug, thiserror::Error)]
#[error("cannot build the Arrow batch for {}-{}: {source}", slot.topic, slot.partition)]
pub struct BuildError {
    pub slot: Slot,
    #[source]
    pub source: ArrowError,
}

/// Collects accepted records into one set of column builders per slot.
#[derive(Default)]
pub struct Batcher {
    slots: Vec<SlotColumns>,
    /// The slot the previous record went to; consecutive records nearly always share it.
    last: usize,
}

impl Batcher {
    /// Appends a record to its slot's columns.
    pub fn push(&mut self, row: &Accepted<'_>) {
        let at = match self.slots.get(self.last) {
            Some(columns) if columns.slot.holds(row.topic, row.partition, row.timestamp) => {
                self.last
            }
            _ => self.find_or_add(row),
        };
        self.last = at;
        self.slots[at].push(row);
    }

    fn find_or_add(&mut self, row: &Accepted<'_>) -> usize {
        let found = self
            .slots
            .iter()
            .position(|c| c.slot.holds(row.topic, row.partition, row.timestamp));
        found.unwrap_or_else(|| {
            let slot = Slot::of(row.topic, row.partition, row.timestamp);
            self.slots.push(SlotColumns::new(slot));
            self.slots.len() - 1
        })
    }

    /// One batch per slot, in slot order, each with its rows in offset order.
    pub fn finish(self) -> Result<Vec<SlotBatch>, BuildError> {
        let mut slots = self.slots;
        slots.sort_by(|a, b| a.slot.cmp(&b.slot));
        slots.into_iter().map(SlotColumns::finish).collect()
    }
}

/// The lake schema's columns for one slot, filling row by row.
struct SlotColumns {
    slot: Slot,
    /// Offsets in arrival order, to put the rows in offset order when they did not arrive so.
    offsets: Vec<i64>,
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

impl SlotColumns {
    fn new(slot: Slot) -> Self {
        Self {
            slot,
            offsets: Vec::new(),
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

    fn push(&mut self, row: &Accepted<'_>) {
        let user = &row.record;
        let mut id = uuid::Uuid::encode_buffer();
        self.offsets.push(row.offset);
        self.id
            .append_value(user.id.hyphenated().encode_lower(&mut id));
        self.first_name.append_value(&user.first_name);
        self.last_name.append_value(&user.last_name);
        self.gender.append_value(&user.gender);
        self.address.append_value(&user.address);
        self.post_code.append_value(&user.post_code);
        self.email.append_value(&user.email);
        self.username.append_value(&user.username);
        self.dob.append_value(user.dob.timestamp_millis());
        self.registered_date
            .append_value(user.registered_date.timestamp_millis());
        self.phone.append_value(&user.phone);
        self.picture.append_value(&user.picture);
        self.topic.append_value(row.topic);
        self.partition.append_value(row.partition);
        self.offset.append_value(row.offset);
        self.timestamp
            .append_value(row.timestamp.timestamp_millis());
    }

    fn finish(mut self) -> Result<SlotBatch, BuildError> {
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
        let slot = self.slot;
        let in_order = |batch: RecordBatch| -> Result<RecordBatch, ArrowError> {
            if self.offsets.is_sorted() {
                return Ok(batch);
            }
            let mut order: Vec<u32> = (0..self.offsets.len() as u32).collect();
            order.sort_by_key(|&i| self.offsets[i as usize]);
            take_record_batch(&batch, &UInt32Array::from(order))
        };
        match RecordBatch::try_new(lake_schema(), columns).and_then(in_order) {
            Ok(batch) => Ok(SlotBatch {
                first_offset: self.offsets.iter().copied().min().unwrap_or(0),
                last_offset: self.offsets.iter().copied().max().unwrap_or(0),
                batch,
                slot,
            }),
            Err(source) => Err(BuildError { slot, source }),
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::{
        array::AsArray,
        datatypes::{Int32Type, Int64Type},
    };
    use user_record::UserRecordRef;

    use super::*;

    const USER: &str = r#"{"id":"6f1c2f8e-2b7a-4c3e-9d1a-0a5b8c7d6e4f","first_name":"Zoë","last_name":"L","gender":"female","address":"a","post_code":"0567","email":"e","username":"u","dob":"1987-05-04T10:11:12.345Z","registered_date":"2015-02-03T04:05:06Z","phone":"p","picture":"q"}"#;

    fn row(partition: i32, offset: i64, at: &str) -> Accepted<'static> {
        Accepted {
            topic: "users_created",
            partition,
            offset,
            timestamp: at.parse().unwrap(),
            record: UserRecordRef::from_json(USER.as_bytes()).unwrap(),
        }
    }

    #[test]
    fn rows_are_split_by_partition_and_hour_and_put_in_offset_order() {
        // given rows of two partitions and two hours, partly out of offset order
        let rows = [
            row(1, 12, "2026-11-24T13:00:01Z"),
            row(0, 9, "2026-11-24T12:59:59Z"),
            row(1, 10, "2026-11-24T13:00:00Z"),
            row(0, 8, "2026-11-24T12:10:00Z"),
            row(0, 11, "2026-11-24T13:30:00Z"),
            row(1, 11, "2026-11-24T13:00:00Z"),
        ];

        // when
        let mut batcher = Batcher::default();
        rows.iter().for_each(|r| batcher.push(r));
        let slots = batcher.finish().unwrap();

        // then one batch per slot, in slot order, offsets sorted and the range recorded
        let seen: Vec<(i32, u32, i64, i64, Vec<i64>)> = slots
            .iter()
            .map(|s| {
                let offsets = s.batch.column_by_name("kafka_offset").unwrap();
                let offsets = offsets.as_primitive::<Int64Type>().values().to_vec();
                let partitions = s.batch.column_by_name("kafka_partition").unwrap();
                let partitions = partitions.as_primitive::<Int32Type>();
                assert!(partitions.values().iter().all(|&p| p == s.slot.partition));
                (
                    s.slot.partition,
                    s.slot.hour,
                    s.first_offset,
                    s.last_offset,
                    offsets,
                )
            })
            .collect();
        assert_eq!(
            seen,
            vec![
                (0, 12, 8, 9, vec![8, 9]),
                (0, 13, 11, 11, vec![11]),
                (1, 13, 10, 12, vec![10, 11, 12]),
            ]
        );
        assert!(slots.iter().all(|s| s.batch.schema() == lake_schema()));
    }

    #[test]
    fn no_rows_make_no_batches() {
        assert!(Batcher::default().finish().unwrap().is_empty());
    }
}
