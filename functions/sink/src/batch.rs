//! Grouping accepted records into the lake's partitions and laying each group out as one
//! Arrow record batch with the lake schema, followed, for the table, by a column for each field
//! the writers' schemas add ([`crate::decode::Added`]).
//!
//! Records are appended to their slot's column builders as the decoder hands them over, so each
//! field is copied once, from the message value into its column, and no row is ever held as an
//! owned struct.

use std::sync::Arc;

use arrow::{
    array::{
        ArrayRef, BooleanArray, Date32Array, Float32Array, Float64Array, Int32Array, Int64Array,
        StringArray, TimestampMicrosecondArray, UInt32Array,
    },
    compute::take_record_batch,
    datatypes::{Field, FieldRef, Schema},
    error::ArrowError,
    record_batch::RecordBatch,
};
use chrono::{DateTime, Utc};
use lake::{Hour, RowsBuilder, Span};

use user_record::avro::added::{AddedKind, AddedValue};

use crate::decode::{Accepted, Added};

/// Where a group of rows goes: one topic-partition within one hour of Kafka time.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Slot {
    pub topic: String,
    pub partition: i32,
    pub hour: Hour,
}

impl Slot {
    /// The slot of a record with this Kafka timestamp.
    pub fn of(topic: &str, partition: i32, timestamp: DateTime<Utc>) -> Self {
        Self {
            topic: topic.to_string(),
            partition,
            hour: Hour::of(timestamp),
        }
    }

    /// Whether a record with this place and time belongs here (without building its slot).
    fn holds(&self, topic: &str, partition: i32, timestamp: DateTime<Utc>) -> bool {
        self.partition == partition && self.hour.contains(timestamp) && self.topic == topic
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

impl SlotBatch {
    /// The span of offsets the slot's objects are named by.
    pub fn span(&self) -> Span {
        Span {
            topic: self.slot.topic.clone(),
            partition: self.slot.partition,
            first: self.first_offset,
            last: self.last_offset,
        }
    }
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
    /// Whether the fields writers' schemas add get columns (the table) or are left out.
    keep_added: bool,
}

impl Batcher {
    /// A batcher that gives each field a writer's schema adds a column after the lake's.
    pub fn keeping_added_fields() -> Self {
        Self {
            keep_added: true,
            ..Self::default()
        }
    }

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
            self.slots.push(SlotColumns::new(slot, self.keep_added));
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

/// One slot's rows, filling as records arrive.
struct SlotColumns {
    slot: Slot,
    /// Offsets in arrival order, to put the rows in offset order when they did not arrive so.
    offsets: Vec<i64>,
    rows: RowsBuilder,
    /// The added fields' columns; `None` when they are left out.
    added: Option<AddedColumns>,
}

impl SlotColumns {
    fn new(slot: Slot, keep_added: bool) -> Self {
        Self {
            slot,
            offsets: Vec::new(),
            rows: RowsBuilder::default(),
            added: keep_added.then(AddedColumns::default),
        }
    }

    fn push(&mut self, row: &Accepted<'_>) {
        self.offsets.push(row.offset);
        (self.rows).push(
            &row.record,
            row.topic,
            row.partition,
            row.offset,
            row.timestamp,
        );
        if let Some(added) = &mut self.added {
            added.push(&row.added);
        }
    }

    fn finish(self) -> Result<SlotBatch, BuildError> {
        let Self {
            slot,
            offsets,
            rows,
            added,
        } = self;
        let with_added = |batch: RecordBatch| match added {
            Some(added) if !added.columns.is_empty() => added.append_to(batch),
            _ => Ok(batch),
        };
        let in_order = |batch: RecordBatch| -> Result<RecordBatch, ArrowError> {
            if offsets.is_sorted() {
                return Ok(batch);
            }
            let mut order: Vec<u32> = (0..offsets.len() as u32).collect();
            order.sort_by_key(|&i| offsets[i as usize]);
            take_record_batch(&batch, &UInt32Array::from(order))
        };
        match rows.finish().and_then(with_added).and_then(in_order) {
            Ok(batch) => Ok(SlotBatch {
                first_offset: offsets.iter().copied().min().unwrap_or(0),
                last_offset: offsets.iter().copied().max().unwrap_or(0),
                batch,
                slot,
            }),
            Err(source) => Err(BuildError { slot, source }),
        }
    }
}

/// The columns of the fields writers' schemas add, one value per row, null where a row's schema
/// does not have the field. One type per name: [`crate::decode::Writers`] refuses a record
/// whose schema gives a name another type than an earlier schema of the batch.
#[derive(Default)]
struct AddedColumns {
    rows: usize,
    columns: Vec<(String, AddedKind, Vec<AddedValue>)>,
}

impl AddedColumns {
    fn push(&mut self, added: &[Added<'_>]) {
        for cell in added {
            let at = match self.columns.iter().position(|(name, ..)| name == cell.name) {
                Some(at) => at,
                None => {
                    let nulls = vec![AddedValue::Null; self.rows];
                    self.columns.push((cell.name.to_string(), cell.kind, nulls));
                    self.columns.len() - 1
                }
            };
            self.columns[at].2.push(cell.value.clone());
        }
        self.rows += 1;
        for (_, _, values) in &mut self.columns {
            if values.len() < self.rows {
                values.push(AddedValue::Null);
            }
        }
    }

    /// `batch` with the added columns after its own, each nullable.
    fn append_to(self, batch: RecordBatch) -> Result<RecordBatch, ArrowError> {
        let (schema, mut columns, _) = batch.into_parts();
        let mut fields: Vec<FieldRef> = schema.fields().iter().cloned().collect();
        for (name, kind, values) in self.columns {
            let array = added_array(kind, &values);
            fields.push(Arc::new(Field::new(name, array.data_type().clone(), true)));
            columns.push(array);
        }
        RecordBatch::try_new(Arc::new(Schema::new(fields)), columns)
    }
}

/// One added column as Arrow: text, numbers, dates, and instants in microseconds, UTC.
fn added_array(kind: AddedKind, values: &[AddedValue]) -> ArrayRef {
    use AddedValue as V;
    macro_rules! column {
        ($array:ty, $variant:ident) => {
            Arc::new(
                values
                    .iter()
                    .map(|v| match v {
                        V::$variant(x) => Some(x.clone()),
                        _ => None,
                    })
                    .collect::<$array>(),
            )
        };
    }
    match kind {
        AddedKind::Text => column!(StringArray, Text),
        AddedKind::Boolean => column!(BooleanArray, Boolean),
        AddedKind::Int => column!(Int32Array, Int),
        AddedKind::Long => column!(Int64Array, Long),
        AddedKind::Float => column!(Float32Array, Float),
        AddedKind::Double => column!(Float64Array, Double),
        AddedKind::Date => column!(Date32Array, Date),
        AddedKind::TimestampMillis | AddedKind::TimestampMicros => {
            let micros: TimestampMicrosecondArray = (values.iter())
                .map(|v| match v {
                    V::Timestamp(us) => Some(*us),
                    _ => None,
                })
                .collect();
            Arc::new(micros.with_timezone("UTC"))
        }
    }
}

#[cfg(test)]
mod tests {
    use arrow::{
        array::AsArray,
        datatypes::{Int32Type, Int64Type},
    };
    use lake::lake_schema;
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
            added: Vec::new(),
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
                    s.slot.hour.hour,
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
