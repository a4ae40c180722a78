//! The compactor's one summary per run, written as an Embedded Metric Format document (see
//! `lambda_kit::emf`), like the producer's and the sink's: what it merged, removed and left,
//! and whether it had to stand aside for another run.
//!
//! | metric | unit | meaning |
//! |---|---|---|
//! | `PartitionsCompacted` | Count | closed hours with originals that the run worked on |
//! | `PartitionsFailed` | Count | of those, hours it could not compact (retried by the next run) |
//! | `MergedWritten` | Count | merged objects written |
//! | `RowsWritten` | Count | rows in them |
//! | `OriginalsRemoved` | Count | originals deleted |
//! | `OriginalsWaiting` | Count | originals kept until their merged object is old enough |
//! | `BytesRead` / `BytesWritten` | Bytes | of the originals read and the merged objects written |
//! | `Skipped` | Count | 1 when another run held the lease and this one did nothing |
//! | `Duration` | Milliseconds | the run |
//! | `Errors` | Count | 1 when the run failed, else 0 |

use std::time::Duration;

use chrono::{DateTime, Utc};
use lambda_kit::{
    Classified,
    emf::{Document, Metrics, Unit},
};

use crate::{CompactError, CompactSummary};

/// The summary document of a run that ended with `result`.
pub fn summary(
    metrics: &Metrics,
    now: DateTime<Utc>,
    took: Duration,
    result: &Result<CompactSummary, CompactError>,
) -> Document {
    let empty = CompactSummary::default();
    let counts = result.as_ref().unwrap_or(&empty);
    let document = metrics
        .document(now.timestamp_millis())
        .metric("PartitionsCompacted", Unit::Count, counts.partitions)
        .metric("PartitionsFailed", Unit::Count, counts.failed)
        .metric("MergedWritten", Unit::Count, counts.merged_written)
        .metric("RowsWritten", Unit::Count, counts.rows)
        .metric("OriginalsRemoved", Unit::Count, counts.originals_removed)
        .metric("OriginalsWaiting", Unit::Count, counts.originals_waiting)
        .metric("BytesRead", Unit::Bytes, counts.bytes_read)
        .metric("BytesWritten", Unit::Bytes, counts.bytes_written)
        .metric(
            "Skipped",
            Unit::Count,
            u8::from(counts.skipped_for.is_some()),
        )
        .duration("Duration", took);
    match result {
        Ok(summary) => match &summary.skipped_for {
            Some(holder) => document
                .succeeded("compaction skipped: another run holds the lease")
                .property("leaseHolder", holder.clone()),
            None => document.succeeded("compaction run finished"),
        },
        Err(error) => document.failed("compaction run failed", error.error_type(), error),
    }
}
