//! The producer's settings, read once at start-up from the environment (see the README's
//! configuration table). Anything missing or malformed stops the function before it serves.

use std::time::Duration;

use kafka_client::KafkaSettings;
use lambda_kit::settings::{SettingError, Source, check, optional, or_default, required};

/// randomuser.me answers at most this many users per request; larger runs are paged.
pub const API_PAGE_LIMIT: usize = 5_000;
/// Users a run fetches, maps and produces at a time: one API request of at most this many,
/// whose records are all acknowledged before the next request. A run holds one chunk (as API
/// JSON, then as records and in librdkafka's queue), never the whole run, so its memory does
/// not grow with its count.
pub const USERS_PER_CHUNK: usize = 1_000;
const _: () = assert!(USERS_PER_CHUNK <= API_PAGE_LIMIT);
/// The most users one invocation may be asked for, by config or by the event. Memory is
/// bounded by a chunk; the time is not: a run's requests and acknowledgements follow one
/// another, and must end well inside the function's timeout. Larger volumes come from more
/// frequent runs.
pub const MAX_USERS_PER_RUN: usize = 20_000;

/// Everything the producer needs to know, validated.
#[derive(Debug, Clone, PartialEq)]
pub struct ProducerConfig {
    /// Base URL of the randomuser.me-compatible API (`USERS_API_URL`).
    pub users_api_url: String,
    /// Users per invocation unless the event asks for another count (`USERS_PER_RUN`).
    pub users_per_run: usize,
    /// Fixed seed passed to the API, for reproducible users (`USERS_SEED`).
    pub users_seed: Option<String>,
    /// Nationalities passed to the API, e.g. `gb,fr` (`USERS_NAT`).
    pub users_nat: Option<String>,
    /// Time allowed for one API request (`USERS_API_TIMEOUT_MS`).
    pub api_timeout: Duration,
    /// Retries of a failed API request before the invocation fails (`USERS_API_MAX_RETRIES`).
    pub api_max_retries: u32,
    /// The cluster and how to authenticate to it (`KAFKA_BROKERS`, `KAFKA_SECURITY` and its
    /// companions), read as every Kafka client of the lake reads them.
    pub kafka: KafkaSettings,
    /// Topic the users are produced to (`KAFKA_TOPIC`).
    pub kafka_topic: String,
    /// Upper bound on a message's delivery, retries included (`KAFKA_MESSAGE_TIMEOUT_MS`);
    /// keep it below the function's timeout so a dead broker fails the run cleanly.
    pub kafka_message_timeout: Duration,
    /// Producer batch compression codec (`KAFKA_COMPRESSION`).
    pub kafka_compression: String,
    /// How each record's value is written (`VALUE_FORMAT`, and `VALUE_REGISTRY_URL` for Avro).
    pub value_format: ValueFormat,
}

/// How the producer writes each record's value.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ValueFormat {
    /// The record as JSON (`VALUE_FORMAT=json`, the default): the topic's contract.
    Json,
    /// The record as an Avro datum of the users' schema in the Confluent wire format
    /// (`VALUE_FORMAT=avro`), the schema registered under `<topic>-value` in the Confluent
    /// registry at `registry` (`VALUE_REGISTRY_URL`).
    Avro { registry: reqwest::Url },
}

/// `VALUE_FORMAT` and, for `avro`, `VALUE_REGISTRY_URL`.
fn value_format(env: &impl Source) -> Result<ValueFormat, SettingError> {
    let format: String = or_default(env, "VALUE_FORMAT", "json".into())?;
    let format = check(
        "VALUE_FORMAT",
        format.to_ascii_lowercase(),
        matches!(format.to_ascii_lowercase().as_str(), "json" | "avro"),
        "must be json or avro",
    )?;
    if format == "json" {
        return Ok(ValueFormat::Json);
    }
    let url: String = required(env, "VALUE_REGISTRY_URL")?;
    let parsed = reqwest::Url::parse(&url)
        .ok()
        .filter(|u| matches!(u.scheme(), "http" | "https"));
    let valid = parsed.is_some();
    check(
        "VALUE_REGISTRY_URL",
        url,
        valid,
        "must be the http(s) URL of a Confluent-compatible schema registry",
    )?;
    Ok(ValueFormat::Avro {
        registry: parsed.expect("checked above"),
    })
}

impl ProducerConfig {
    /// Reads and validates every setting.
    pub fn from_source(env: &impl Source) -> Result<Self, SettingError> {
        let users_per_run: usize = or_default(env, "USERS_PER_RUN", 100)?;
        let users_per_run = check(
            "USERS_PER_RUN",
            users_per_run,
            (1..=MAX_USERS_PER_RUN).contains(&users_per_run),
            "must be between 1 and 20000",
        )?;
        let users_api_url: String =
            or_default(env, "USERS_API_URL", "https://randomuser.me/api/".into())?;
        let valid_url = reqwest::Url::parse(&users_api_url)
            .is_ok_and(|u| matches!(u.scheme(), "http" | "https"));
        let users_api_url = check(
            "USERS_API_URL",
            users_api_url,
            valid_url,
            "must be an http(s) URL",
        )?;
        let compression: String = or_default(env, "KAFKA_COMPRESSION", "lz4".into())?;
        let kafka_compression = check(
            "KAFKA_COMPRESSION",
            compression.to_ascii_lowercase(),
            matches!(
                compression.to_ascii_lowercase().as_str(),
                "none" | "gzip" | "snappy" | "lz4"
            ),
            "must be one of none, gzip, snappy, lz4",
        )?;
        let message_timeout_ms: u64 = or_default(env, "KAFKA_MESSAGE_TIMEOUT_MS", 30_000)?;
        let message_timeout_ms = check(
            "KAFKA_MESSAGE_TIMEOUT_MS",
            message_timeout_ms,
            (1_000..=900_000).contains(&message_timeout_ms),
            "must be between 1000 and 900000 (milliseconds)",
        )?;
        // A fractional part is allowed: the template's Number parameter accepts one.
        let api_timeout_ms: f64 = or_default(env, "USERS_API_TIMEOUT_MS", 10_000.0)?;
        let api_timeout_ms = check(
            "USERS_API_TIMEOUT_MS",
            api_timeout_ms,
            (1_000.0..=30_000.0).contains(&api_timeout_ms),
            "must be between 1000 and 30000 (milliseconds)",
        )?;
        let api_max_retries: u32 = or_default(env, "USERS_API_MAX_RETRIES", 3)?;
        let api_max_retries = check(
            "USERS_API_MAX_RETRIES",
            api_max_retries,
            api_max_retries <= 10,
            "must be between 0 and 10",
        )?;
        Ok(Self {
            users_api_url,
            users_per_run,
            users_seed: optional(env, "USERS_SEED")?,
            users_nat: optional(env, "USERS_NAT")?,
            api_timeout: Duration::from_secs_f64(api_timeout_ms / 1_000.0),
            api_max_retries,
            kafka: KafkaSettings::from_source(env)?,
            kafka_topic: or_default(env, "KAFKA_TOPIC", user_record::DEFAULT_TOPIC.into())?,
            kafka_message_timeout: Duration::from_millis(message_timeout_ms),
            kafka_compression,
            value_format: value_format(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every value `template.yaml` accepts for a parameter that sets one of the producer's
    /// variables (boundaries and values generated from its constraints) starts the producer.
    #[test]
    fn every_value_the_template_accepts_starts_the_producer() {
        let template = lambda_kit::template::Template::under_test(env!("CARGO_MANIFEST_DIR"));
        template.assert_starts("ProducerFunction", |env| {
            ProducerConfig::from_source(&env.to_vec())
                .map(|_| ())
                .map_err(|e| e.to_string())
        });
    }

    #[test]
    fn defaults_apply_when_only_brokers_are_set() {
        let config = ProducerConfig::from_source(&[("KAFKA_BROKERS", "b1:9092")]).unwrap();
        assert_eq!(config.users_api_url, "https://randomuser.me/api/");
        assert_eq!(config.users_per_run, 100);
        assert_eq!(config.kafka_topic, "users_created");
        assert_eq!(config.kafka_message_timeout, Duration::from_secs(30));
        assert_eq!(config.kafka_compression, "lz4");
        assert_eq!(config.api_max_retries, 3);
        assert_eq!(config.users_seed, None);
    }

    #[test]
    fn values_are_json_unless_avro_is_asked_for_with_a_registry_url() {
        let with = |pairs: &[(&'static str, &'static str)]| {
            let mut env = vec![("KAFKA_BROKERS", "b:9092")];
            env.extend_from_slice(pairs);
            ProducerConfig::from_source(&env).map(|c| c.value_format)
        };
        assert_eq!(with(&[]), Ok(ValueFormat::Json));
        assert_eq!(
            with(&[
                ("VALUE_FORMAT", "avro"),
                ("VALUE_REGISTRY_URL", "http://127.0.0.1:8081")
            ]),
            Ok(ValueFormat::Avro {
                registry: "http://127.0.0.1:8081".parse().unwrap()
            })
        );
        assert_eq!(
            with(&[("VALUE_FORMAT", "avro")]),
            Err(SettingError::Missing {
                name: "VALUE_REGISTRY_URL"
            })
        );
        let glue = with(&[
            ("VALUE_FORMAT", "avro"),
            (
                "VALUE_REGISTRY_URL",
                "arn:aws:glue:eu-west-1:123456789012:registry/users",
            ),
        ]);
        assert!(
            glue.unwrap_err().to_string().contains("VALUE_REGISTRY_URL"),
            "a Glue ARN is not a Confluent registry"
        );
        assert!(with(&[("VALUE_FORMAT", "protobuf")]).is_err());
    }

    #[test]
    fn missing_brokers_stop_start_up_by_name() {
        let err = ProducerConfig::from_source(&[("USERS_PER_RUN", "5")]).unwrap_err();
        assert_eq!(
            err,
            SettingError::Missing {
                name: "KAFKA_BROKERS"
            }
        );
    }

    #[test]
    fn out_of_range_count_is_rejected() {
        let env = [("KAFKA_BROKERS", "b:9092"), ("USERS_PER_RUN", "0")];
        let err = ProducerConfig::from_source(&env).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("environment variable USERS_PER_RUN=\"0\"")
        );
    }

    #[test]
    fn non_http_api_url_is_rejected() {
        let env = [("KAFKA_BROKERS", "b:9092"), ("USERS_API_URL", "ftp://x/")];
        let err = ProducerConfig::from_source(&env).unwrap_err();
        assert!(err.to_string().contains("USERS_API_URL"), "{err}");
    }

    #[test]
    fn kafka_settings_are_read_as_every_kafka_client_reads_them() {
        let env = [
            ("KAFKA_BROKERS", "b-1.example:9098"),
            ("KAFKA_SECURITY", "iam"),
            ("AWS_REGION", "eu-west-1"),
        ];
        let config = ProducerConfig::from_source(&env).unwrap();
        assert_eq!(config.kafka, KafkaSettings::from_source(&env).unwrap());
    }

    #[test]
    fn api_timeout_and_retries_out_of_range_are_named() {
        for (name, value) in [
            ("USERS_API_TIMEOUT_MS", "999"),
            ("USERS_API_TIMEOUT_MS", "30001"),
            ("USERS_API_MAX_RETRIES", "11"),
            ("USERS_API_MAX_RETRIES", "-1"),
        ] {
            let env = [("KAFKA_BROKERS", "b:9092"), (name, value)];
            let err = ProducerConfig::from_source(&env).unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("environment variable {name}=\"{value}\"")),
                "{err}"
            );
        }
    }

    #[test]
    fn unknown_compression_is_rejected() {
        let env = [("KAFKA_BROKERS", "b:9092"), ("KAFKA_COMPRESSION", "brotli")];
        let err = ProducerConfig::from_source(&env).unwrap_err();
        assert!(
            err.to_string().contains("KAFKA_COMPRESSION=\"brotli\""),
            "{err}"
        );
    }
}
