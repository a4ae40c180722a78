//! The sink's settings, read once at start-up from the environment (see
//! `docs/configuration.md`). Anything missing or malformed stops the function before it serves.

use lake::{LakeConfig, OutputFormat, format::parse_formats};
use lambda_kit::{
    emf::MetricsConfig,
    settings::{SettingError, Source, or_default},
};
use table::TableConfig;
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
        Ok(Self {
            lake: LakeConfig::from_source(env)?,
            output_formats,
            table,
            metrics: MetricsConfig::from_source(env, "sink")?,
            schema_registry: schema_registry(env)?,
        })
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

impl RegistryAddress {
    /// The registry's client: Glue with the credentials and region of `shared`, a Confluent
    /// registry over plain HTTP(S).
    pub fn client(&self, shared: &aws_config::SdkConfig) -> Box<dyn crate::SchemaRegistry> {
        match self {
            RegistryAddress::Confluent(url) => Box::new(crate::ConfluentRegistry::new(
                reqwest::Client::new(),
                url.clone(),
            )),
            RegistryAddress::Glue(_) => {
                Box::new(crate::GlueRegistry::new(aws_sdk_glue::Client::new(shared)))
            }
        }
    }
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
