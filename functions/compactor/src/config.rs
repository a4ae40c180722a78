//! The compactor's settings, read once at start-up from the environment. The lake's bucket,
//! prefix, codec and addressing are read by the lake crate, as the sink's are, so the two
//! functions cannot disagree about where and how the lake is written.

use chrono::Duration;
use lake::LakeConfig;
use lambda_kit::settings::{SettingError, Source, check, or_default};

/// Default time after an hour's end before its partition is compacted.
pub const DEFAULT_GRACE_MINUTES: i64 = 120;
/// Default largest merged object, in MiB.
pub const DEFAULT_TARGET_MIB: u64 = 128;

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
}

impl CompactorConfig {
    /// Reads and validates every setting.
    pub fn from_source(env: &impl Source) -> Result<Self, SettingError> {
        let lake = LakeConfig::from_source(env)?;
        let grace: i64 = or_default(env, "COMPACTION_GRACE_MINUTES", DEFAULT_GRACE_MINUTES)?;
        let grace = check(
            "COMPACTION_GRACE_MINUTES",
            grace,
            (0..=7 * 24 * 60).contains(&grace),
            "must be 0 to 10080 minutes (a week)",
        )?;
        let target: u64 = or_default(env, "COMPACTION_TARGET_MIB", DEFAULT_TARGET_MIB)?;
        let target = check(
            "COMPACTION_TARGET_MIB",
            target,
            (1..=1024).contains(&target),
            "must be 1 to 1024 MiB (a merge is held in memory)",
        )?;
        Ok(Self {
            lake,
            grace: Duration::minutes(grace),
            target_bytes: target * 1024 * 1024,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_two_hours_of_grace_and_128_mib() {
        let config = CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake")]).unwrap();
        assert_eq!(config.grace, Duration::minutes(120));
        assert_eq!(config.target_bytes, 128 * 1024 * 1024);
        assert_eq!(config.lake.bucket, "data-lake");
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
            ("COMPACTION_TARGET_MIB", "4096"),
        ] {
            let err = CompactorConfig::from_source(&[("LAKE_BUCKET", "data-lake"), (name, value)])
                .unwrap_err();
            assert!(err.to_string().contains(name), "{err}");
        }
        assert!(CompactorConfig::from_source(&[("COMPACTION_TARGET_MIB", "8")]).is_err());
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
