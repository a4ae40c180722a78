//! The lake's settings, shared by every function and command that reads or writes it (see the
//! configuration table in `docs/configuration.md`), and the S3 client they build from them.

use lambda_kit::settings::{SettingError, Source, check, or_default, required};
use parquet::basic::Compression;

use crate::{keys::Layout, writer::parse_compression};

/// Where the lake is and how its objects are encoded, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct LakeConfig {
    /// Bucket of the data lake (`LAKE_BUCKET`).
    pub bucket: String,
    /// Key layout under `LAKE_PREFIX` (empty or ending in `/`).
    pub layout: Layout,
    /// Parquet codec (`PARQUET_COMPRESSION`).
    pub compression: Compression,
    /// Address the bucket as `endpoint/bucket/key` rather than `bucket.endpoint/key`; needed
    /// by local S3-protocol stores (`S3_FORCE_PATH_STYLE`).
    pub force_path_style: bool,
}

impl LakeConfig {
    /// Reads and validates `LAKE_BUCKET`, `LAKE_PREFIX`, `PARQUET_COMPRESSION` and
    /// `S3_FORCE_PATH_STYLE`.
    pub fn from_source(env: &impl Source) -> Result<Self, SettingError> {
        let codec: String = or_default(env, "PARQUET_COMPRESSION", "zstd".into())?;
        let compression = parse_compression(&codec).map_err(|reason| SettingError::Invalid {
            name: "PARQUET_COMPRESSION",
            value: codec,
            reason,
        })?;
        let prefix: String = or_default(env, "LAKE_PREFIX", String::new())?;
        let bucket: String = required(env, "LAKE_BUCKET")?;
        let valid_bucket = (3..=63).contains(&bucket.len())
            && bucket
                .bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || b == b'.');
        Ok(Self {
            bucket: check(
                "LAKE_BUCKET",
                bucket,
                valid_bucket,
                "must be an S3 bucket name (3-63 lowercase letters, digits, '-' or '.')",
            )?,
            layout: Layout::new(&prefix),
            compression,
            force_path_style: or_default(env, "S3_FORCE_PATH_STYLE", false)?,
        })
    }

    /// An S3 client for this lake. Credentials, region and endpoint (`AWS_ENDPOINT_URL_S3`
    /// locally) come from the default provider chain; only the addressing style is ours.
    pub async fn s3_client(&self) -> aws_sdk_s3::Client {
        s3_client(self.force_path_style).await
    }

    /// An S3 client for this lake from an already loaded AWS configuration.
    pub fn s3_client_from(&self, shared: &aws_config::SdkConfig) -> aws_sdk_s3::Client {
        s3_client_from(shared, self.force_path_style)
    }
}

/// An S3 client as every part of the project builds one (the lake's, the local stand-in of the
/// failure destination's): the default provider chain, and the addressing style asked for.
pub async fn s3_client(force_path_style: bool) -> aws_sdk_s3::Client {
    let shared = aws_config::load_from_env().await;
    s3_client_from(&shared, force_path_style)
}

/// [`s3_client`] from an already loaded AWS configuration.
pub fn s3_client_from(
    shared: &aws_config::SdkConfig,
    force_path_style: bool,
) -> aws_sdk_s3::Client {
    let s3 = aws_sdk_s3::config::Builder::from(shared)
        .force_path_style(force_path_style)
        .build();
    aws_sdk_s3::Client::from_conf(s3)
}

#[cfg(test)]
mod tests {
    use parquet::basic::ZstdLevel;

    use super::*;

    #[test]
    fn defaults_are_zstd_level_one_no_prefix_virtual_hosted() {
        let config = LakeConfig::from_source(&[("LAKE_BUCKET", "data-lake")]).unwrap();
        assert_eq!(config.bucket, "data-lake");
        assert_eq!(config.layout.prefix(), "");
        assert_eq!(
            config.compression,
            Compression::ZSTD(ZstdLevel::try_new(1).unwrap())
        );
        assert!(!config.force_path_style);
    }

    #[test]
    fn prefix_is_normalised_to_end_with_one_slash() {
        let env = [("LAKE_BUCKET", "data-lake"), ("LAKE_PREFIX", "/lake/raw/")];
        let config = LakeConfig::from_source(&env).unwrap();
        assert_eq!(config.layout.prefix(), "lake/raw/");
    }

    #[test]
    fn a_missing_bucket_stops_start_up_by_name() {
        let err = LakeConfig::from_source(&[("LAKE_PREFIX", "x")]).unwrap_err();
        assert_eq!(
            err,
            SettingError::Missing {
                name: "LAKE_BUCKET"
            }
        );
    }

    #[test]
    fn an_invalid_bucket_codec_or_addressing_style_is_named() {
        let cases = [
            ("LAKE_BUCKET", "Data_Lake"),
            ("PARQUET_COMPRESSION", "brotli"),
            ("S3_FORCE_PATH_STYLE", "yes"),
        ];
        for (name, value) in cases {
            let mut env = vec![("LAKE_BUCKET", "data-lake")];
            env.retain(|(n, _)| *n != name);
            env.push((name, value));
            let err = LakeConfig::from_source(&env).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("environment variable {name}=\"{value}\"")),
                "{err}"
            );
        }
    }
}
