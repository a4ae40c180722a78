//! The sink's settings, read once at start-up from the environment (see the README's
//! configuration table). Anything missing or malformed stops the function before it serves.

use parquet::basic::{Compression, ZstdLevel};
use user_record::{
    emf::MetricsConfig,
    settings::{SettingError, Source, check, or_default, required},
};

use crate::outputs::{OutputFormat, parse_formats};

/// Everything the sink needs to know, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// Bucket of the data lake (`LAKE_BUCKET`).
    pub lake_bucket: String,
    /// Key prefix under which `users/` and `_errors/` live, empty or ending in `/`
    /// (`LAKE_PREFIX`).
    pub lake_prefix: String,
    /// Parquet codec (`PARQUET_COMPRESSION`).
    pub compression: Compression,
    /// Address the bucket as `endpoint/bucket/key` rather than `bucket.endpoint/key`; needed
    /// by local S3-protocol stores (`S3_FORCE_PATH_STYLE`).
    pub s3_force_path_style: bool,
    /// Formats each slot is written in, Parquet first (`OUTPUT_FORMATS`).
    pub output_formats: Vec<OutputFormat>,
    /// Namespace and `FunctionName` of the metrics (`METRICS_NAMESPACE`,
    /// `AWS_LAMBDA_FUNCTION_NAME`).
    pub metrics: MetricsConfig,
}

/// Parses `zstd`, `zstd(3)`, `snappy`, `gzip`, `gzip(9)`, `lz4`, `none`. A bare `zstd` means
/// level 1: nearly the ratio of the default level 3 at a fraction of the encode time.
pub fn parse_compression(value: &str) -> Result<Compression, String> {
    match value.trim().to_ascii_lowercase().as_str() {
        "zstd" => Ok(Compression::ZSTD(
            ZstdLevel::try_new(1).map_err(|e| e.to_string())?,
        )),
        "gzip" => Ok(Compression::GZIP(Default::default())),
        "lz4" | "lz4_raw" => Ok(Compression::LZ4_RAW),
        "none" | "uncompressed" => Ok(Compression::UNCOMPRESSED),
        "snappy" => Ok(Compression::SNAPPY),
        other if other.starts_with("zstd(") || other.starts_with("gzip(") => other
            .parse()
            .map_err(|e: parquet::errors::ParquetError| e.to_string()),
        _ => Err("must be one of zstd, zstd(1..22), snappy, gzip, gzip(0..9), lz4, none".into()),
    }
}

impl SinkConfig {
    /// Reads and validates every setting.
    pub fn from_source(env: &impl Source) -> Result<Self, SettingError> {
        let codec: String = or_default(env, "PARQUET_COMPRESSION", "zstd".into())?;
        let compression = parse_compression(&codec).map_err(|reason| SettingError::Invalid {
            name: "PARQUET_COMPRESSION",
            value: codec,
            reason,
        })?;
        let prefix: String = or_default(env, "LAKE_PREFIX", String::new())?;
        let prefix = prefix.trim_matches('/');
        let lake_prefix = if prefix.is_empty() {
            String::new()
        } else {
            format!("{prefix}/")
        };
        let formats: String = or_default(env, "OUTPUT_FORMATS", "parquet".into())?;
        let output_formats = parse_formats(&formats).map_err(|reason| SettingError::Invalid {
            name: "OUTPUT_FORMATS",
            value: formats,
            reason,
        })?;
        let lake_bucket: String = required(env, "LAKE_BUCKET")?;
        let valid_bucket = (3..=63).contains(&lake_bucket.len())
            && lake_bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        Ok(Self {
            lake_bucket: check(
                "LAKE_BUCKET",
                lake_bucket,
                valid_bucket,
                "must be an S3 bucket name (3-63 lowercase letters, digits, '-' or '.')",
            )?,
            lake_prefix,
            compression,
            s3_force_path_style: or_default(env, "S3_FORCE_PATH_STYLE", false)?,
            output_formats,
            metrics: MetricsConfig::from_source(env, "sink")?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_are_zstd_level_one_no_prefix_virtual_hosted() {
        let config = SinkConfig::from_source(&[("LAKE_BUCKET", "data-lake")]).unwrap();
        assert_eq!(config.lake_bucket, "data-lake");
        assert_eq!(config.lake_prefix, "");
        assert_eq!(
            config.compression,
            Compression::ZSTD(ZstdLevel::try_new(1).unwrap())
        );
        assert!(!config.s3_force_path_style);
        assert_eq!(config.output_formats, vec![OutputFormat::Parquet]);
        assert_eq!(config.metrics.namespace, "UserLake");
        assert_eq!(config.metrics.function_name, "sink");
    }

    #[test]
    fn output_formats_are_read_and_a_bad_set_is_named() {
        let env = [
            ("LAKE_BUCKET", "data-lake"),
            ("OUTPUT_FORMATS", "parquet,csv,jsonl"),
        ];
        assert_eq!(
            SinkConfig::from_source(&env).unwrap().output_formats,
            OutputFormat::ALL.to_vec()
        );
        let env = [
            ("LAKE_BUCKET", "data-lake"),
            ("OUTPUT_FORMATS", "parquet,xml"),
        ];
        let err = SinkConfig::from_source(&env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable OUTPUT_FORMATS=\"parquet,xml\" is invalid: unknown format \
             \"xml\"; the formats are parquet, jsonl, csv"
        );
    }

    #[test]
    fn prefix_is_normalised_to_end_with_one_slash() {
        let env = [("LAKE_BUCKET", "data-lake"), ("LAKE_PREFIX", "/lake/raw/")];
        assert_eq!(
            SinkConfig::from_source(&env).unwrap().lake_prefix,
            "lake/raw/"
        );
    }

    #[test]
    fn missing_bucket_stops_start_up_by_name() {
        let err = SinkConfig::from_source(&[("LAKE_PREFIX", "x")]).unwrap_err();
        assert_eq!(
            err,
            SettingError::Missing {
                name: "LAKE_BUCKET"
            }
        );
    }

    #[test]
    fn invalid_bucket_and_codec_are_named() {
        let err = SinkConfig::from_source(&[("LAKE_BUCKET", "Data_Lake")]).unwrap_err();
        assert!(
            err.to_string().contains("LAKE_BUCKET=\"Data_Lake\""),
            "{err}"
        );
        let env = [
            ("LAKE_BUCKET", "data-lake"),
            ("PARQUET_COMPRESSION", "brotli"),
        ];
        let err = SinkConfig::from_source(&env).unwrap_err();
        assert!(
            err.to_string().contains("PARQUET_COMPRESSION=\"brotli\""),
            "{err}"
        );
        let env = [("LAKE_BUCKET", "data-lake"), ("S3_FORCE_PATH_STYLE", "yes")];
        assert!(
            SinkConfig::from_source(&env)
                .unwrap_err()
                .to_string()
                .contains("S3_FORCE_PATH_STYLE")
        );
    }

    #[test]
    fn every_documented_codec_parses() {
        for codec in [
            "zstd", "ZSTD(3)", "snappy", "gzip", "gzip(9)", "lz4", "none",
        ] {
            assert!(parse_compression(codec).is_ok(), "{codec}");
        }
        assert_eq!(
            parse_compression("zstd(7)").unwrap(),
            Compression::ZSTD(ZstdLevel::try_new(7).unwrap())
        );
        assert!(parse_compression("zstd(99)").is_err());
    }
}
