//! Merging originals into one Parquet object: read them, drop rows an earlier merged object
//! already holds and rows seen twice, sort by `kafka_partition, kafka_offset`, and encode with
//! the sink's writer settings. The merged object's footer records the spans of its inputs,
//! which is how a later run knows which originals it replaces.

use std::collections::BTreeSet;

use arrow::{
    array::{AsArray, BooleanArray},
    compute::{
        SortColumn, concat_batches, filter_record_batch, lexsort_to_indices, take_record_batch,
    },
    datatypes::{Int32Type, Int64Type},
    error::ArrowError,
    record_batch::RecordBatch,
};
use bytes::Bytes;
use lake::{Span, lake_schema};
use parquet::{
    arrow::arrow_reader::ParquetRecordBatchReaderBuilder, errors::ParquetError,
    file::properties::WriterProperties,
};

use crate::plan::Coverage;

/// Footer key of a merged object: the spans of the originals it replaced.
pub use lake::compacted::COMPACTED_FROM_KEY as SPANS_KEY;

/// Why an object could not be merged. Nothing is deleted when this happens.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    /// An object is not readable Parquet.
    #[error("{key} is not readable Parquet: {source}")]
    Read {
        key: String,
        #[source]
        source: ParquetError,
    },
    /// An object's columns are not the lake schema's.
    #[error("{key} does not have the lake schema: {detail}")]
    Schema { key: String, detail: String },
    /// A merged object has no readable record of what it replaced.
    #[error("{key} has no readable {SPANS_KEY} footer entry: {detail}")]
    Spans { key: String, detail: String },
    /// Rows could not be combined or sorted (a defect).
    #[error("cannot merge rows: {0}")]
    Arrow(#[from] ArrowError),
    /// The merged rows could not be encoded (a defect).
    #[error("cannot encode the merged object: {0}")]
    Encode(#[source] ParquetError),
}

/// Every batch of an object in the lake schema.
pub fn read(key: &str, body: Bytes) -> Result<Vec<RecordBatch>, MergeError> {
    let read_error = |source| MergeError::Read {
        key: key.to_string(),
        source,
    };
    let builder = ParquetRecordBatchReaderBuilder::try_new(body).map_err(read_error)?;
    let expected = lake_schema();
    if builder.schema().fields() != expected.fields() {
        return Err(MergeError::Schema {
            key: key.to_string(),
            detail: format!("found columns {:?}", builder.schema().fields()),
        });
    }
    let reader = builder.build().map_err(read_error)?;
    reader
        .map(|batch| {
            let batch = batch.map_err(|e| read_error(ParquetError::from(e)))?;
            Ok(RecordBatch::try_new(
                expected.clone(),
                batch.columns().to_vec(),
            )?)
        })
        .collect()
}

/// The spans a merged object replaced, from its footer.
pub fn spans(key: &str, body: Bytes) -> Result<Vec<Span>, MergeError> {
    let spans_error = |detail: String| MergeError::Spans {
        key: key.to_string(),
        detail,
    };
    let builder =
        ParquetRecordBatchReaderBuilder::try_new(body).map_err(|source| MergeError::Read {
            key: key.to_string(),
            source,
        })?;
    let value = builder
        .metadata()
        .file_metadata()
        .key_value_metadata()
        .and_then(|kvs| kvs.iter().find(|kv| kv.key == SPANS_KEY))
        .and_then(|kv| kv.value.clone())
        .ok_or_else(|| spans_error("missing".into()))?;
    lake::compacted::decode(&value).map_err(|e| spans_error(e.to_string()))
}

/// The rows of `batches`, without those `covered` already holds and without repeats of one
/// Kafka record, sorted by `kafka_partition, kafka_offset` (then topic).
pub fn merge(batches: &[RecordBatch], covered: &Coverage) -> Result<RecordBatch, MergeError> {
    let all = concat_batches(&lake_schema(), batches)?;
    let column = |name: &str| {
        all.column_by_name(name)
            .cloned()
            .ok_or_else(|| ArrowError::SchemaError(format!("no column {name}")))
    };
    let (topic, partition, offset) = (
        column("kafka_topic")?,
        column("kafka_partition")?,
        column("kafka_offset")?,
    );
    let order = lexsort_to_indices(
        &[
            SortColumn {
                values: partition,
                options: None,
            },
            SortColumn {
                values: offset,
                options: None,
            },
            SortColumn {
                values: topic,
                options: None,
            },
        ],
        None,
    )?;
    let sorted = take_record_batch(&all, &order)?;
    let topics = sorted
        .column_by_name("kafka_topic")
        .map(|c| c.as_string::<i32>().clone());
    let partitions = sorted
        .column_by_name("kafka_partition")
        .map(|c| c.as_primitive::<Int32Type>().clone());
    let offsets = sorted
        .column_by_name("kafka_offset")
        .map(|c| c.as_primitive::<Int64Type>().clone());
    let (Some(topics), Some(partitions), Some(offsets)) = (topics, partitions, offsets) else {
        return Err(ArrowError::SchemaError("Kafka columns missing".into()).into());
    };
    let mut seen = BTreeSet::new();
    let keep: BooleanArray = (0..sorted.num_rows())
        .map(|i| {
            let (t, p, o) = (topics.value(i), partitions.value(i), offsets.value(i));
            Some(!covered.holds(t, p, o) && seen.insert((t.to_string(), p, o)))
        })
        .collect();
    Ok(filter_record_batch(&sorted, &keep)?)
}

/// Encodes merged rows as one Parquet object whose footer records `spans`.
pub fn encode(
    batch: &RecordBatch,
    spans: &[Span],
    properties: &WriterProperties,
) -> Result<Vec<u8>, MergeError> {
    let spans = lake::compacted::encode(spans);
    lake::writer::encode(batch, properties, &[(SPANS_KEY, spans)]).map_err(MergeError::Encode)
}
