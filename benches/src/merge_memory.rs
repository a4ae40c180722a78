//! Peak memory of the compactor merging one hour of `COMPACTION_TARGET_MIB`: the figure its
//! `MemorySize` in template.yaml rests on.
//!
//! The harness runs itself again as a child per target size. The child fills an in-memory lake
//! with one hour of originals as the sink writes them (500 records per object, zstd level 1,
//! the users the sink benchmark uses) until they add up to the target, then runs the
//! compactor's handler over it with that target, so that the whole hour is one merge group.
//! It reports the peak resident set (`VmHWM`) before and after the run. The in-memory lake
//! holds the originals for the whole child, and hands them to the compactor without a copy
//! (shared `Bytes`); in Lambda the compactor downloads them instead, so its peak there is the
//! child's growth during the run plus the group's bytes plus the runtime's own baseline. That
//! sum is computed, not measured, and says so.

use chrono::{DateTime, Duration, TimeZone, Utc};
use compactor::{Compactor, CompactorConfig, Run, handle};
use lake::{
    Hour, LakeRow, LakeStore, Layout, OutputFormat, RowsBuilder, Span, testing::MemoryStore,
};
use serde::{Deserialize, Serialize};

use crate::{
    core::runtime,
    event::record,
    figure::Figure,
    memory::{run_child, status_kib},
};

/// Records per original, as the trigger's `BatchSize` cuts them.
const RECORDS_PER_OBJECT: usize = 500;

/// What the child reports.
#[derive(Debug, Serialize, Deserialize)]
pub struct MergeUsage {
    pub target_mib: u64,
    /// Bytes of the originals merged.
    pub input_bytes: u64,
    pub rows: u64,
    pub merged_written: u64,
    /// Peak resident set with the lake filled, before the run.
    pub before_kib: u64,
    /// Peak resident set after the run.
    pub peak_kib: u64,
    /// Wall time of the run (one thread: its CPU time).
    pub merge_ms: f64,
}

/// 12:00 UTC of the hour the child fills.
fn hour_start() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
}

/// Fills `store` with originals of one hour up to `target` bytes (the next one would pass it),
/// so that they make one merge group; their bytes and rows.
async fn fill(store: &MemoryStore, target: u64) -> anyhow::Result<(u64, u64)> {
    let layout = Layout::new("");
    let properties = lake::writer::writer_properties(
        parquet::basic::Compression::ZSTD(parquet::basic::ZstdLevel::try_new(1)?),
        "user-lake bench",
    );
    let (mut bytes, mut rows, mut offset) = (0u64, 0u64, 0i64);
    loop {
        let mut builder = RowsBuilder::default();
        let first = offset;
        for _ in 0..RECORDS_PER_OBJECT {
            let millis = (offset * 3_600_000) / 10_000_000;
            builder.push_row(&LakeRow {
                record: record(offset as usize)?,
                topic: "users_created".into(),
                partition: 0,
                offset,
                timestamp: hour_start() + Duration::milliseconds(millis),
            });
            offset += 1;
        }
        let batch = builder.finish()?;
        let mut writer = parquet::arrow::ArrowWriter::try_new(
            Vec::new(),
            batch.schema(),
            Some(properties.clone()),
        )?;
        writer.write(&batch)?;
        let body = writer.into_inner()?;
        if bytes > 0 && bytes + body.len() as u64 > target {
            break;
        }
        bytes += body.len() as u64;
        rows += RECORDS_PER_OBJECT as u64;
        let span = Span {
            topic: "users_created".into(),
            partition: 0,
            first,
            last: offset - 1,
        };
        let key = layout.original_key(OutputFormat::Parquet, Hour::of(hour_start()), span);
        store
            .put(&key, body, OutputFormat::Parquet.content_type())
            .await?;
    }
    Ok((bytes, rows))
}

/// The child's work: fill, merge, print the usage as JSON.
pub fn child(target_mib: u64) -> anyhow::Result<()> {
    let runtime = runtime();
    let store = MemoryStore::default();
    store.set_time(hour_start() + Duration::hours(3));
    let (input_bytes, rows) = runtime.block_on(fill(&store, target_mib * 1024 * 1024))?;
    let target = target_mib.to_string();
    let config = CompactorConfig::from_source(&[
        ("LAKE_BUCKET", "bench-lake"),
        // the merge of the plain-files layout's objects, which this bench fills the lake with
        ("LAKE_FORMAT", "files"),
        ("COMPACTION_TARGET_MIB", target.as_str()),
        ("COMPACTION_DELETE_DELAY_MINUTES", "0"),
    ])?;
    let mut compactor = Compactor::new(&store, &config);
    compactor.metrics = lambda_kit::emf::Metrics::captured(config.metrics.clone()).0;
    let now = hour_start() + Duration::hours(3);
    let run = Run {
        id: "bench".into(),
        now,
        started: now,
        deadline: now + Duration::minutes(15),
    };
    let before_kib = status_kib("VmHWM")?;
    let started = std::time::Instant::now();
    let summary = runtime.block_on(handle(&compactor, &run))?;
    let merge_ms = started.elapsed().as_secs_f64() * 1e3;
    let peak_kib = status_kib("VmHWM")?;
    anyhow::ensure!(
        summary.rows as u64 == rows,
        "merged {} of {rows} rows",
        summary.rows
    );
    let usage = MergeUsage {
        target_mib,
        input_bytes,
        rows,
        merged_written: summary.merged_written as u64,
        before_kib,
        peak_kib,
        merge_ms,
    };
    println!("{}", serde_json::to_string(&usage)?);
    Ok(())
}

/// One child per target; the peak growth during the merge and the Lambda estimate of each.
pub fn figures(targets: &[u64]) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for &target in targets {
        let target_arg = target.to_string();
        let usage: MergeUsage =
            run_child(&["--compactor-memory-child".as_ref(), target_arg.as_ref()])?;
        let growth = usage.peak_kib.saturating_sub(usage.before_kib) as f64 / 1024.0;
        let input = usage.input_bytes as f64 / 1_048_576.0;
        figures.push(
            Figure::of(
                &format!("compactor memory: growth merging {target} MiB"),
                "MiB",
                &[growth],
            )
            .with_note(format!(
                "{} rows in {:.0} MiB of originals, {} merged object(s); in Lambda about {:.0} MiB \
                 (this growth + the downloaded originals + about 30 MiB of runtime; computed)",
                usage.rows,
                input,
                usage.merged_written,
                growth + input + 30.0
            )),
        );
        figures.push(
            Figure::of(
                &format!("compactor: merge time per 1,000 rows at {target} MiB"),
                "ms",
                &[usage.merge_ms / usage.rows as f64 * 1000.0],
            )
            .with_note("one run: read, sort, filter, encode, against an in-memory lake"),
        );
    }
    Ok(figures)
}
