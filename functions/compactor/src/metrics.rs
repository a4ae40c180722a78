//! The compactor's one summary per run, written as an Embedded Metric Format document (see
//! `lambda_kit::emf`), like the producer's and the sink's: what it merged, removed and left,
//! and whether it had to stand aside for another run. Both layouts report every metric; those
//! of the other layout are 0.
//!
//! | metric | unit | meaning |
//! |---|---|---|
//! | `PartitionsCompacted` | Count | closed hours with files to merge that the run worked on |
//! | `PartitionsFailed` | Count | of those, hours it could not compact (retried by the next run) |
//! | `RowsWritten` | Count | rows in the merged files written |
//! | `BytesRead` / `BytesWritten` | Bytes | of the files merged and the merged files written |
//! | `MergedWritten` | Count | plain files: merged objects written |
//! | `OriginalsRemoved` | Count | plain files: originals deleted |
//! | `OriginalsWaiting` | Count | plain files: originals kept until their merged object is old enough |
//! | `FilesMerged` | Count | table: data files replaced by merged ones in committed rewrites |
//! | `FilesWritten` | Count | table: merged data files committed |
//! | `HoursDeferred` | Count | table: closed hours with files to merge left for the next run (deadline near, or the hour kept changing under its rewrite) |
//! | `CommitConflicts` | Count | table: commits lost to another writer (the sink) and tried again |
//! | `SnapshotsExpired` | Count | table: snapshots older than the retention removed from the metadata |
//! | `FilesDeleted` | Count | table: files no retained snapshot or metadata file references, deleted |
//! | `FilesWaiting` | Count | table: unreferenced files kept until they are `ORPHAN_MIN_AGE_HOURS` old |
//! | `Skipped` | Count | 1 when another run held the lease and this one did nothing |
//! | `Duration` | Milliseconds | the run |
//! | `Errors` | Count | 1 when the run failed, else 0 |
//!
//! A run on the table that stopped before its snapshot expiry or file removal because its
//! deadline was near says so in the `cleanupDeferred` property.

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
        .metric("FilesMerged", Unit::Count, counts.files_merged)
        .metric("FilesWritten", Unit::Count, counts.files_written)
        .metric("HoursDeferred", Unit::Count, counts.hours_deferred)
        .metric("CommitConflicts", Unit::Count, counts.commit_conflicts)
        .metric("SnapshotsExpired", Unit::Count, counts.snapshots_expired)
        .metric("FilesDeleted", Unit::Count, counts.files_deleted)
        .metric("FilesWaiting", Unit::Count, counts.files_waiting)
        .metric(
            "Skipped",
            Unit::Count,
            u8::from(counts.skipped_for.is_some()),
        )
        .duration("Duration", took);
    let document = if counts.cleanup_deferred {
        document.property("cleanupDeferred", true)
    } else {
        document
    };
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
