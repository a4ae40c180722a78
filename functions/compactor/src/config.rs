//! The compactor's settings, read once at start-up from the environment. The lake's bucket,
//! prefix, codec and addressing are read by the lake crate, and the table's format and catalog
//! by the table crate, as the sink's are, so the two functions cannot disagree about where and
//! how the lake is written.

use chrono::Duration;
use lake::LakeConfig;
use lambda_kit::{
    emf::MetricsConfig,
    settings::{SettingError, Source, check, or_default},
};
use table::{
    TableConfig,
    maintenance::{
        DEFAULT_MIN_SNAPSHOTS, DEFAULT_ORPHAN_MIN_AGE_HOURS, DEFAULT_RETENTION_HOURS, Retention,
    },
};

/// Default time after an hour's end before its partition is compacted.
pub const DEFAULT_GRACE_MINUTES: i64 = 120;
/// Default largest merged object, in MiB.
pub const DEFAULT_TARGET_MIB: u64 = 128;
/// The largest merge allowed: its peak, about 11 MiB per MiB of input (`make bench`,
/// "compactor memory"), stays within Lambda's largest memory size (10,240 MB).
pub const MAX_TARGET_MIB: u64 = 512;
/// Default age a merged object must reach before the originals it holds are deleted: longer
/// than a query over the lake usually runs (Athena's default DML time-out is 30 minutes).
pub const DEFAULT_DELETE_DELAY_MINUTES: i64 = 60;
/// The longest a setting in hours may be: a year.
const MAX_HOURS: i64 = 366 * 24;

/// Everything the compactor needs to know, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct CompactorConfig {
    /// Bucket, prefix, Parquet codec and addressing of the lake (`LAKE_BUCKET`, `LAKE_PREFIX`,
    /// `PARQUET_COMPRESSION`, `S3_FORCE_PATH_STYLE`).
    pub lake: LakeConfig,
    /// Time after an hour's end before its partition counts as closed
    /// (`COMPACTION_GRACE_MINUTES`).
    pub grace: Duration,
    /// Largest merged object, as the sum of its inputs' sizes (`COMPACTION_TARGET_MIB`).
    pub target_bytes: u64,
    /// Age a merged object must reach before the originals it holds are deleted
    /// (`COMPACTION_DELETE_DELAY_MINUTES`); zero deletes them in the run that merged them.
    pub delete_delay: Duration,
    /// The Iceberg table and its catalog; `None` for the plain-files layout (`LAKE_FORMAT`,
    /// `ICEBERG_*`).
    pub table: Option<TableConfig>,
    /// Which of the table's snapshots stay (`SNAPSHOT_RETENTION_HOURS`, `SNAPSHOT_MIN_KEEP`).
    pub retention: Retention,
    /// Age a table file nothing references must reach before it is deleted
    /// (`ORPHAN_MIN_AGE_HOURS`): longer than any commit can be in flight.
    pub orphan_min_age: Duration,
    /// Namespace and `FunctionName` of the metrics (`METRICS_NAMESPACE`,
    /// `AWS_LAMBDA_FUNCTION_NAME`).
    pub metrics: MetricsConfig,
}

impl CompactorConfig {
    /// Reads and validates every setting.
    pub fn from_source(env: &impl Source) -> Result<Self, SettingError> {
        let lake = LakeConfig::from_source(env)?;
        // Minutes and MiB may have a fractional part: the template's Number parameters accept
        // one (CloudFormation: "an integer or float").
        let grace: f64 = or_default(
            env,
            "COMPACTION_GRACE_MINUTES",
            DEFAULT_GRACE_MINUTES as f64,
        )?;
        let grace = check(
            "COMPACTION_GRACE_MINUTES",
            grace,
            (0.0..=(7 * 24 * 60) as f64).contains(&grace),
            "must be 0 to 10080 minutes (a week)",
        )?;
        let target: f64 = or_default(env, "COMPACTION_TARGET_MIB", DEFAULT_TARGET_MIB as f64)?;
        let target = check(
            "COMPACTION_TARGET_MIB",
            target,
            (1.0..=MAX_TARGET_MIB as f64).contains(&target),
            "must be 1 to 512 MiB (a merge is held in memory, about 11 MiB per MiB merged)",
        )?;
        let delay: f64 = or_default(
            env,
            "COMPACTION_DELETE_DELAY_MINUTES",
            DEFAULT_DELETE_DELAY_MINUTES as f64,
        )?;
        let delay = check(
            "COMPACTION_DELETE_DELAY_MINUTES",
            delay,
            (0.0..=(24 * 60) as f64).contains(&delay),
            "must be 0 to 1440 minutes (a day)",
        )?;
        let retention: i64 = or_default(env, "SNAPSHOT_RETENTION_HOURS", DEFAULT_RETENTION_HOURS)?;
        let retention = check(
            "SNAPSHOT_RETENTION_HOURS",
            retention,
            (1..=MAX_HOURS).contains(&retention),
            "must be 1 to 8784 hours (a year): a query reads a snapshot for as long as it runs",
        )?;
        let keep: usize = or_default(env, "SNAPSHOT_MIN_KEEP", DEFAULT_MIN_SNAPSHOTS)?;
        let keep = check(
            "SNAPSHOT_MIN_KEEP",
            keep,
            (1..=10_000).contains(&keep),
            "must be 1 to 10000 snapshots",
        )?;
        let orphan: i64 = or_default(env, "ORPHAN_MIN_AGE_HOURS", DEFAULT_ORPHAN_MIN_AGE_HOURS)?;
        let orphan = check(
            "ORPHAN_MIN_AGE_HOURS",
            orphan,
            (1..=MAX_HOURS).contains(&orphan),
            "must be 1 to 8784 hours (a year), and longer than any commit can take",
        )?;
        Ok(Self {
            lake,
            grace: minutes(grace),
            target_bytes: (target * 1024.0 * 1024.0).round() as u64,
            delete_delay: minutes(delay),
            table: TableConfig::from_source(env)?,
            retention: Retention {
                max_age: Duration::hours(retention),
                min_snapshots: keep,
            },
            orphan_min_age: Duration::hours(orphan),
            metrics: MetricsConfig::from_source(env, "compactor")?,
        })
    }
}

/// A checked (finite, in range) number of minutes, to the millisecond.
fn minutes(minutes: f64) -> Duration {
    Duration::milliseconds((minutes * 60_000.0).round() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value `template.yaml` accepts for a parameter that sets one of the compactor's
    /// variables (boundaries and values generated from its constraints) starts the compactor.
    #[test]
    fn every_value_the_template_accepts_starts_the_compactor() {
        let template = lambda_kit::template::Template::under_test(env!("CARGO_MANIFEST_DIR"));
        template.assert_starts("CompactorFunction", |env| {
            CompactorConfig::from_source(&env.to_vec())
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    }

    #[test]
    fn minutes_and_mib_with_a_fractional_part_are_read_exactly() {
        let env = [
            ("LAKE_BUCKET", "data-lake"),
            ("COMPACTION_GRACE_MINUTES", "0.5"),
            ("COMPACTION_TARGET_MIB", "1.5"),
            ("COMPACTION_DELETE_DELAY_MINUTES", "90.25"),
        ];
        let config = CompactorConfig::from_source(&env).unwrap();
        assert_eq!(config.grace, Duration::seconds(30));
        assert_eq!(config.target_bytes, 1_572_864);
        assert_eq!(config.delete_delay, Duration::seconds(5415));
        for (name, value) in [
            ("COMPACTION_GRACE_MINUTES", "NaN"),
            ("COMPACTION_TARGET_MIB", "inf"),
            ("COMPACTION_DELETE_DELAY_MINUTES", "-0.5"),
        ] {
            let env = [("LAKE_BUCKET", "data-lake"), (name, value)];
            let error = CompactorConfig::from_source(&env).unwrap_err().to_string();
            assert!(error.contains(name), "{error}");
        }
    }

    #[test]
    fn defaults_are_two_hours_of_grace_128_mib_and_an_hour_before_deleting() {
        let config = CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake")]).unwrap();
        assert_eq!(config.grace, Duration::minutes(120));
        assert_eq!(config.target_bytes, 128 * 1024 * 1024);
        assert_eq!(config.delete_delay, Duration::minutes(60));
        assert_eq!(config.metrics.function_name, "compactor");
        assert_eq!(config.lake.bucket, "data-lake");
    }

    #[test]
    fn the_table_is_the_default_with_a_day_of_snapshots_and_a_day_before_orphans_go() {
        let config = CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake")]).unwrap();
        assert_eq!(config.table.unwrap().table, "users");
        assert_eq!(
            config.retention,
            Retention {
                max_age: Duration::hours(24),
                min_snapshots: 5
            }
        );
        assert_eq!(config.orphan_min_age, Duration::hours(24));
        let files =
            CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake"), ("LAKE_FORMAT", "files")])
                .unwrap();
        assert_eq!(files.table, None);
    }

    #[test]
    fn table_maintenance_settings_are_read_and_bad_ones_named() {
        let config = CompactorConfig::from_source(&[
            ("LAKE_BUCKET", "data-lake"),
            ("SNAPSHOT_RETENTION_HOURS", "72"),
            ("SNAPSHOT_MIN_KEEP", "1"),
            ("ORPHAN_MIN_AGE_HOURS", "48"),
        ])
        .unwrap();
        assert_eq!(config.retention.max_age, Duration::hours(72));
        assert_eq!(config.retention.min_snapshots, 1);
        assert_eq!(config.orphan_min_age, Duration::hours(48));
        for (name, value) in [
            ("SNAPSHOT_RETENTION_HOURS", "0"),
            ("SNAPSHOT_RETENTION_HOURS", "8785"),
            ("SNAPSHOT_MIN_KEEP", "0"),
            ("ORPHAN_MIN_AGE_HOURS", "0"),
            ("ORPHAN_MIN_AGE_HOURS", "a day"),
            ("LAKE_FORMAT", "delta"),
        ] {
            let err = CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake"), (name, value)])
                .unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
    }

    #[test]
    fn settings_are_read_and_bad_ones_named() {
        let env = [
            ("LAKE_BUCKET", "data-lake"),
            ("LAKE_PREFIX", "raw"),
            ("COMPACTION_GRACE_MINUTES", "0"),
            ("COMPACTION_TARGET_MIB", "64"),
        ];
        let config = CompactorConfig::from_source(&env).unwrap();
        assert_eq!(
            (
                config.grace,
                config.target_bytes,
                config.lake.layout.prefix()
            ),
            (Duration::zero(), 64 * 1024 * 1024, "raw/")
        );
        for (name, value) in [
            ("COMPACTION_GRACE_MINUTES", "-5"),
            ("COMPACTION_GRACE_MINUTES", "soon"),
            ("COMPACTION_TARGET_MIB", "0"),
            ("COMPACTION_TARGET_MIB", "513"),
            ("COMPACTION_DELETE_DELAY_MINUTES", "-1"),
            ("COMPACTION_DELETE_DELAY_MINUTES", "1441"),
        ] {
            let err = CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake"), (name, value)])
                .unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        assert!(CompactorConfig::from_source(&[("COMPACTION_TARGET_MIB", "8")]).is_err());
    }

    #[test]
    fn the_largest_merge_allowed_is_512_mib() {
        let config = CompactorConfig::from_source(&[
            ("LAKE_BUCKET", "data-lake"),
            ("COMPACTION_TARGET_MIB", "512"),
        ])
        .unwrap();
        assert_eq!(config.target_bytes, 512 * 1024 * 1024);
    }

    #[test]
    fn a_setting_only_the_sink_reads_does_not_stop_the_compactor() {
        let env = [
            ("LAKE_BUCKET", "data-lake"),
            ("OUTPUT_FORMATS", "parquet,xml"),
        ];
        assert!(CompactorConfig::from_source(&env).is_ok());
    }
}
