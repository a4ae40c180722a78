//! Turning batches into object bodies: Parquet for accepted rows, JSON Lines for rejected
//! records. Both are built in memory; a Lambda batch (6 MB of event at most) fits easily.

use arrow::record_batch::RecordBatch;
use parquet::{errors::ParquetError, file::properties::WriterProperties};

use crate::decode::Rejected;

/// Encodes one batch as a complete Parquet file, as every lake object is encoded.
pub fn parquet(
    batch: &RecordBatch,
    properties: &WriterProperties,
) -> Result<Vec<u8>, ParquetError> {
    lake::writer::encode(batch, properties, &[])
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
