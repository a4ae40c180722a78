//! The sink's one summary per invocation, written as an Embedded Metric Format document (see
//! `lambda_kit::emf` for why and how): what came in, what was stored, how long Parquet took
//! and how far behind the topic the batch was. It is emitted for a failed batch too, with
//! `Errors` = 1 and the error, so that a retried batch is visible in the same numbers.
//!
//! | metric | unit | meaning |
//! |---|---|---|
//! | `RecordsIn` | Count | records in the event |
//! | `RecordsWritten` | Count | records stored in the lake (0 when the batch failed) |
//! | `RecordsRejected` | Count | records stored under `_errors/` (0 when the batch failed) |
//! | `ObjectsWritten` | Count | objects put, data and errors, every format |
//! | `BytesWritten` | Bytes | bytes of those objects |
//! | `ParquetEncodeTime` | Milliseconds | time spent encoding Parquet |
//! | `Lag` | Milliseconds | now minus the oldest Kafka timestamp in the batch |
//! | `RecordsDuplicate` | Count | records the table already held (a redelivery or replay), not added again |
//! | `RecordsRewound` | Count | records below their partition's offset mark that the table did not hold: the topic's offsets went backwards; added beside the earlier rows |
//! | `CommitConflicts` | Count | table commits lost to another writer and retried |
//! | `CommitTime` | Milliseconds | time spent committing to the table |
//! | `Errors` | Count | 1 when the invocation failed, else 0 |

use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_kit::{
    Classified,
    emf::{Document, Metrics, Unit},
};

use crate::{SinkError, SinkSummary};

/// What one invocation saw, filled in as it goes so that a failure still reports it.
#[derive(Debug, Default)]
pub struct Observed {
    /// Records in the event.
    pub records: usize,
    /// Objects put successfully.
    pub objects: usize,
    /// Bytes of the objects put successfully.
    pub bytes: usize,
    /// Time spent encoding Parquet.
    pub parquet_encode: Duration,
    /// The oldest Kafka timestamp in the batch, accepted or rejected.
    pub oldest: Option<DateTime<Utc>>,
    /// Time spent committing to the table.
    pub commit: Duration,
    /// Commits lost to another writer and retried.
    pub conflicts: usize,
    /// Records the table already held.
    pub duplicates: usize,
    /// Records below their mark that the table did not hold.
    pub rewound: usize,
}

/// The summary document of an invocation that ended with `result`.
pub fn summary(
    metrics: &Metrics,
    now: DateTime<Utc>,
    observed: &Observed,
    result: &Result<SinkSummary, SinkError>,
) -> Document {
    let (written, rejected) = match result {
        Ok(summary) => (summary.written, summary.rejected),
        Err(_) => (0, 0),
    };
    let mut document = metrics
        .document(now.timestamp_millis())
        .metric("RecordsIn", Unit::Count, observed.records)
        .metric("RecordsWritten", Unit::Count, written)
        .metric("RecordsRejected", Unit::Count, rejected)
        .metric("ObjectsWritten", Unit::Count, observed.objects)
        .metric("BytesWritten", Unit::Bytes, observed.bytes)
        .duration("ParquetEncodeTime", observed.parquet_encode)
        .metric("RecordsDuplicate", Unit::Count, observed.duplicates)
        .metric("RecordsRewound", Unit::Count, observed.rewound)
        .metric("CommitConflicts", Unit::Count, observed.conflicts)
        .duration("CommitTime", observed.commit);
    if let Some(oldest) = observed.oldest {
        let lag = (now - oldest).num_milliseconds().max(0);
        document = document.metric("Lag", Unit::Milliseconds, lag);
    }
    match result {
        Ok(summary) => document
            .succeeded("sink batch stored")
            .property("objects", summary.objects.clone()),
        Err(error) => document.failed("sink batch failed", error.error_type(), error),
    }
}
