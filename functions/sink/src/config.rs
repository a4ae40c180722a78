//! The sink's settings, read once at start-up from the environment (see
//! `docs/configuration.md`). Anything missing or malformed stops the function before it serves.

use lake::{LakeConfig, OutputFormat, format::parse_formats};
use lambda_kit::{
    emf::MetricsConfig,
    settings::{SettingError, Source, or_default},
};
use table::TableConfig;

use crate::{
    decode::RecordFormat,
    registry::{BasicAuth, RegistryError},
};
use url::Url;

/// Everything the sink needs to know, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct SinkConfig {
    /// Where the lake is and how Parquet is encoded (`LAKE_BUCKET`, `LAKE_PREFIX`,
    /// `PARQUET_COMPRESSION`, `S3_FORCE_PATH_STYLE`).
    pub lake: LakeConfig,
    /// Formats each slot is written in, Parquet first (`OUTPUT_FORMATS`).
    pub output_formats: Vec<OutputFormat>,
    /// The Iceberg table and its catalog; `None` for the plain-files layout (`LAKE_FORMAT`,
    /// `ICEBERG_*`).
    pub table: Option<TableConfig>,
    /// Namespace and `FunctionName` of the metrics (`METRICS_NAMESPACE`,
    /// `AWS_LAMBDA_FUNCTION_NAME`).
    pub metrics: MetricsConfig,
    /// The registry the writer schemas of Avro values are fetched from, when the trigger hands
    /// over the records' own bytes (`SCHEMA_REGISTRY_URI`; empty or unset: values are read as
    /// JSON).
    pub schema_registry: Option<RegistryAddress>,
    /// The Secrets Manager secret with a Confluent registry's `username` and `password`
    /// (`SCHEMA_REGISTRY_SECRET_ARN`; empty or unset: the registry is read without
    /// credentials).
    pub schema_registry_secret: Option<String>,
    /// How the trigger hands over the values the registry validated: the mapping's
    /// `EventRecordFormat` (`SCHEMA_RECORD_FORMAT`, `JSON` or `SOURCE`; `SOURCE` when unset).
    pub schema_record_format: RecordFormat,
}

impl SinkConfig {
    /// Reads and validates every setting.
    pub fn from_source(env: &impl Source) -> Result<Self, SettingError> {
        let formats: String = or_default(env, "OUTPUT_FORMATS", "parquet".into())?;
        let output_formats = parse_formats(&formats).map_err(|reason| SettingError::Invalid {
            name: "OUTPUT_FORMATS",
            value: formats.clone(),
            reason,
        })?;
        let table = TableConfig::from_source(env)?;
        if table.is_some() && output_formats != [OutputFormat::Parquet] {
            return Err(SettingError::Invalid {
                name: "OUTPUT_FORMATS",
                value: formats,
                reason: "the Iceberg table (LAKE_FORMAT=iceberg) holds Parquet only: set \
                         OUTPUT_FORMATS=parquet and export JSON and CSV from the table, or set \
                         LAKE_FORMAT=files for JSON Lines and CSV objects beside the Parquet"
                    .into(),
            });
        }
        let schema_registry = schema_registry(env)?;
        Ok(Self {
            lake: LakeConfig::from_source(env)?,
            output_formats,
            table,
            metrics: MetricsConfig::from_source(env, "sink")?,
            schema_registry_secret: registry_secret(env, &schema_registry)?,
            schema_registry,
            schema_record_format: record_format(env)?,
        })
    }
}

/// `SCHEMA_REGISTRY_SECRET_ARN`: a Secrets Manager secret's ARN, for a Confluent registry only
/// (a Glue registry is read with the function's role).
fn registry_secret(
    env: &impl Source,
    registry: &Option<RegistryAddress>,
) -> Result<Option<String>, SettingError> {
    let arn: String = or_default(env, "SCHEMA_REGISTRY_SECRET_ARN", String::new())?;
    if arn.is_empty() {
        return Ok(None);
    }
    let invalid = |reason: &str| SettingError::Invalid {
        name: "SCHEMA_REGISTRY_SECRET_ARN",
        value: arn.clone(),
        reason: reason.into(),
    };
    if !(arn.starts_with("arn:") && arn.split(':').nth(2) == Some("secretsmanager")) {
        return Err(invalid("not a Secrets Manager secret's ARN"));
    }
    match registry {
        Some(RegistryAddress::Confluent(_)) => Ok(Some(arn)),
        Some(RegistryAddress::Glue(_)) => Err(invalid(
            "a Glue registry is read with the function's role; the secret is for a Confluent registry",
        )),
        None => Err(invalid("there is no SCHEMA_REGISTRY_URI for it")),
    }
}

/// `SCHEMA_RECORD_FORMAT`: `JSON` or `SOURCE`, as the mapping's `EventRecordFormat` is spelled.
fn record_format(env: &impl Source) -> Result<RecordFormat, SettingError> {
    let text: String = or_default(env, "SCHEMA_RECORD_FORMAT", "SOURCE".into())?;
    match text.as_str() {
        "JSON" => Ok(RecordFormat::Json),
        "SOURCE" => Ok(RecordFormat::Source),
        _ => Err(SettingError::Invalid {
            name: "SCHEMA_RECORD_FORMAT",
            value: text,
            reason: "the record formats are JSON and SOURCE".into(),
        }),
    }
}

/// `SCHEMA_REGISTRY_URI`: a Glue registry's ARN or an http(s) URL, or nothing when unset or
/// empty.
fn schema_registry(env: &impl Source) -> Result<Option<RegistryAddress>, SettingError> {
    let text: String = or_default(env, "SCHEMA_REGISTRY_URI", String::new())?;
    if text.is_empty() {
        return Ok(None);
    }
    let invalid = |reason: String| SettingError::Invalid {
        name: "SCHEMA_REGISTRY_URI",
        value: text.clone(),
        reason,
    };
    if let Some(rest) = text.strip_prefix("arn:") {
        let glue = rest.split(':').nth(1) == Some("glue") && rest.contains(":registry/");
        return match glue {
            true => Ok(Some(RegistryAddress::Glue(text.clone()))),
            false => Err(invalid("an ARN that is not a Glue registry's".into())),
        };
    }
    let url = Url::parse(&text).map_err(|error| invalid(error.to_string()))?;
    match url.scheme() {
        "http" | "https" if url.cannot_be_a_base() => Err(invalid("not a base URL".into())),
        "http" | "https" => Ok(Some(RegistryAddress::Confluent(url))),
        other => Err(invalid(format!("scheme {other} is not http or https"))),
    }
}

/// Where the writer schemas of Avro values are fetched from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RegistryAddress {
    /// An AWS Glue schema registry, by its ARN; schemas are read by version id with the
    /// function's role.
    Glue(String),
    /// A Confluent-compatible registry's REST API.
    Confluent(Url),
}

impl SinkConfig {
    /// The client of the registry the writer schemas are fetched from, if one is set: Glue
    /// with the credentials and region of `shared`; a Confluent registry over HTTP(S), with the
    /// credentials of `SCHEMA_REGISTRY_SECRET_ARN`, read here once.
    pub async fn registry_client(
        &self,
        shared: &aws_config::SdkConfig,
    ) -> Result<Option<Box<dyn crate::SchemaRegistry>>, RegistryError> {
        let Some(address) = &self.schema_registry else {
            return Ok(None);
        };
        Ok(Some(match address {
            RegistryAddress::Confluent(url) => {
                let registry = crate::ConfluentRegistry::new(reqwest::Client::new(), url.clone());
                match &self.schema_registry_secret {
                    Some(arn) => {
                        let secrets = aws_sdk_secretsmanager::Client::new(shared);
                        Box::new(registry.with_basic_auth(basic_auth(&secrets, arn).await?))
                    }
                    None => Box::new(registry),
                }
            }
            RegistryAddress::Glue(_) => {
                Box::new(crate::GlueRegistry::new(aws_sdk_glue::Client::new(shared)))
            }
        }))
    }
}

/// The credentials a Confluent registry's secret holds (`username`, `password`).
async fn basic_auth(
    secrets: &aws_sdk_secretsmanager::Client,
    arn: &str,
) -> Result<BasicAuth, RegistryError> {
    let failed = |reason: String| RegistryError::Credentials {
        secret_arn: arn.into(),
        reason,
    };
    let output = (secrets.get_secret_value().secret_id(arn).send())
        .await
        .map_err(|error| failed(lambda_kit::aws::sdk_message(&error)))?;
    let text = output
        .secret_string()
        .ok_or_else(|| failed("the secret has no string value".into()))?;
    BasicAuth::from_secret(text).map_err(failed)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value `template.yaml` accepts for a parameter that sets one of the sink's
    /// variables (boundaries and values generated from its constraints) starts the sink.
    #[test]
    fn every_value_the_template_accepts_starts_the_sink() {
        // The template's rules (TableHoldsParquetOnly: text formats only without the table)
        // are applied by the check: combinations they refuse never reach the sink.
        let template = lambda_kit::template::Template::under_test(env!("CARGO_MANIFEST_DIR"));
        template.assert_starts("SinkFunction", |env| {
            SinkConfig::from_source(&env.to_vec())
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    }

    /// The rule the test above relies on is in the template.
    #[test]
    fn the_template_refuses_text_formats_with_the_table() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        let text = std::fs::read_to_string(path).unwrap();
        let rule = text
            .split("TableHoldsParquetOnly:")
            .nth(1)
            .expect("template.yaml has the rule TableHoldsParquetOnly");
        let rule: String = rule.lines().take(5).collect::<Vec<_>>().join("\n");
        assert!(
            rule.contains("!Equals [!Ref LakeFormat, iceberg]"),
            "{rule}"
        );
        assert!(
            rule.contains("!Equals [!Ref OutputFormats, parquet]"),
            "{rule}"
        );
    }

    #[test]
    fn a_schema_registry_is_a_glue_arn_or_a_url_and_anything_else_is_named() {
        let with = |uri: &'static str| {
            SinkConfig::from_source(&[("LAKE_BUCKET", "data-lake"), ("SCHEMA_REGISTRY_URI", uri)])
                .map(|config| config.schema_registry)
        };
        assert_eq!(with("").unwrap(), None);
        let glue = "arn:aws:glue:eu-west-1:123456789012:registry/users";
        assert_eq!(
            with(glue).unwrap(),
            Some(RegistryAddress::Glue(glue.into()))
        );
        let Some(RegistryAddress::Confluent(url)) =
            with("https://registry.internal:8081/sr").unwrap()
        else {
            panic!("a Confluent registry");
        };
        assert_eq!(url.as_str(), "https://registry.internal:8081/sr");
        for bad in [
            "registry.internal:8081",
            "ftp://registry.internal",
            "arn:aws:s3:::bucket",
            "arn:aws:glue:eu-west-1:123456789012:database/users",
        ] {
            let err = with(bad).unwrap_err().to_string();
            assert!(err.contains("SCHEMA_REGISTRY_URI"), "{bad}: {err}");
        }
    }

    #[test]
    fn a_registry_secret_is_a_secrets_manager_arn_for_a_confluent_registry_only() {
        let with = |uri: &'static str, secret: &'static str| {
            SinkConfig::from_source(&[
                ("LAKE_BUCKET", "data-lake"),
                ("SCHEMA_REGISTRY_URI", uri),
                ("SCHEMA_REGISTRY_SECRET_ARN", secret),
            ])
            .map(|config| config.schema_registry_secret)
        };
        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:registry-AbCdEf";
        assert_eq!(
            with("https://registry.internal", arn).unwrap().as_deref(),
            Some(arn)
        );
        assert_eq!(with("https://registry.internal", "").unwrap(), None);
        let glue = "arn:aws:glue:eu-west-1:123456789012:registry/users";
        for (uri, secret, why) in [
            (glue, arn, "Glue registry"),
            ("", arn, "no SCHEMA_REGISTRY_URI"),
            (
                "https://registry.internal",
                "arn:aws:s3:::bucket",
                "not a Secrets Manager",
            ),
        ] {
            let err = with(uri, secret).unwrap_err().to_string();
            assert!(
                err.contains("SCHEMA_REGISTRY_SECRET_ARN") && err.contains(why),
                "{err}"
            );
        }
    }

    #[test]
    fn the_record_format_is_json_or_source_and_source_when_unset() {
        let with = |env: &[(&'static str, &'static str)]| {
            let mut all = vec![("LAKE_BUCKET", "data-lake")];
            all.extend_from_slice(env);
            SinkConfig::from_source(&all).map(|config| config.schema_record_format)
        };
        assert_eq!(with(&[]).unwrap(), RecordFormat::Source);
        assert_eq!(
            with(&[("SCHEMA_RECORD_FORMAT", "JSON")]).unwrap(),
            RecordFormat::Json
        );
        let err = with(&[("SCHEMA_RECORD_FORMAT", "json")]).unwrap_err();
        assert!(err.to_string().contains("SCHEMA_RECORD_FORMAT"), "{err}");
    }

    #[test]
    fn defaults_are_the_iceberg_table_parquet_only_and_the_sinks_own_metrics() {
        let config = SinkConfig::from_source(&[("LAKE_BUCKET", "data-lake")]).unwrap();
        assert_eq!(config.lake.bucket, "data-lake");
        assert_eq!(config.table.unwrap().table, "users");
        assert_eq!(config.output_formats, vec![OutputFormat::Parquet]);
        assert_eq!(config.metrics.namespace, "UserLake");
        assert_eq!(config.metrics.function_name, "sink");
    }

    #[test]
    fn output_formats_are_read_and_a_bad_set_is_named() {
        let env = [
            ("LAKE_BUCKET", "data-lake"),
            ("LAKE_FORMAT", "files"),
            ("OUTPUT_FORMATS", "parquet,csv,jsonl"),
        ];
        assert_eq!(
            SinkConfig::from_source(&env).unwrap().output_formats,
            OutputFormat::ALL.to_vec()
        );
        let env = [
            ("LAKE_BUCKET", "data-lake"),
            ("OUTPUT_FORMATS", "parquet,csv"),
        ];
        let err = SinkConfig::from_source(&env).unwrap_err();
        assert!(err.to_string().contains("holds Parquet only"), "{err}");
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
    fn a_missing_bucket_stops_start_up_by_name() {
        let err = SinkConfig::from_source(&[("OUTPUT_FORMATS", "parquet")]).unwrap_err();
        assert_eq!(
            err,
            SettingError::Missing {
                name: "LAKE_BUCKET"
            }
        );
    }
}
