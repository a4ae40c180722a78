//! Turning batches into object bodies: Parquet for accepted rows, JSON Lines for rejected
//! records. Both are built in memory; a Lambda batch (6 MB of event at most) fits easily.

use arrow::record_batch::RecordBatch;
use parquet::{arrow::ArrowWriter, errors::ParquetError, file::properties::WriterProperties};

use crate::decode::Rejected;

/// Encodes one batch as a complete Parquet file.
pub fn parquet(
    batch: &RecordBatch,
    properties: &WriterProperties,
) -> Result<Vec<u8>, ParquetError> {
    let mut writer = ArrowWriter::try_new(
        Vec::with_capacity(batch.get_array_memory_size() / 2),
        batch.schema(),
        Some(properties.clone()),
    )?;
    writer.write(batch)?;
    writer.into_inner()
}

/// Encodes rejected records, one JSON object per line.
pub fn jsonl(rejected: &[&Rejected]) -> Vec<u8> {
    let mut body = Vec::with_capacity(rejected.len() * 256);
    for record in rejected {
        // A struct of strings, numbers and options always serialises.
        serde_json::to_writer(&mut body, record).expect("a Rejected always serialises");
        body.push(b'\n');
    }
    body
}
