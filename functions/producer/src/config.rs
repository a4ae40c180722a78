//! The producer's settings, read once at start-up from the environment (see the README's
//! configuration table). Anything missing or malformed stops the function before it serves.

use std::time::Duration;

use user_record::settings::{SettingError, Source, check, optional, or_default, required};

/// randomuser.me answers at most this many users per request; larger runs are paged.
pub const API_PAGE_LIMIT: usize = 5_000;
/// The most users one invocation may be asked for, by config or by the event. A run holds all
/// its users in memory (as parsed API JSON, then as records) before producing them; this bound
/// keeps that well inside the function's 256 MB. Larger volumes come from more frequent runs.
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
    /// Kafka bootstrap servers, `host:port[,host:port]` (`KAFKA_BROKERS`).
    pub kafka_brokers: String,
    /// Topic the users are produced to (`KAFKA_TOPIC`).
    pub kafka_topic: String,
    /// Upper bound on a message's delivery, retries included (`KAFKA_MESSAGE_TIMEOUT_MS`);
    /// keep it below the function's timeout so a dead broker fails the run cleanly.
    pub kafka_message_timeout: Duration,
    /// Producer batch compression codec (`KAFKA_COMPRESSION`).
    pub kafka_compression: String,
    /// How the producer authenticates to Kafka (`KAFKA_SECURITY` and its companions).
    pub kafka_security: KafkaSecurity,
}

/// How the producer authenticates to Kafka (`KAFKA_SECURITY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KafkaSecurity {
    /// No TLS and no SASL (`plaintext`): the local broker only.
    Plaintext,
    /// SASL/SCRAM-SHA-512 over TLS (`scram`), with the username and password read at start-up
    /// from the Secrets Manager secret `KAFKA_SASL_SECRET_ARN`.
    Scram { secret_arn: String },
    /// MSK IAM (`iam`): SASL/OAUTHBEARER over TLS, tokens signed for `AWS_REGION` with the
    /// function's role.
    Iam { region: String },
}

impl KafkaSecurity {
    fn from_source(env: &impl Source) -> Result<Self, SettingError> {
        let name: String = or_default(env, "KAFKA_SECURITY", "plaintext".into())?;
        match name.to_ascii_lowercase().as_str() {
            "plaintext" => Ok(Self::Plaintext),
            "scram" => {
                let secret_arn: String = required(env, "KAFKA_SASL_SECRET_ARN")?;
                let is_secret_arn =
                    secret_arn.starts_with("arn:") && secret_arn.contains(":secretsmanager:");
                let secret_arn = check(
                    "KAFKA_SASL_SECRET_ARN",
                    secret_arn,
                    is_secret_arn,
                    "must be the ARN of a Secrets Manager secret",
                )?;
                Ok(Self::Scram { secret_arn })
            }
            "iam" => Ok(Self::Iam {
                region: required(env, "AWS_REGION")?,
            }),
            _ => Err(SettingError::Invalid {
                name: "KAFKA_SECURITY",
                value: name,
                reason: "must be one of plaintext, scram, iam".into(),
            }),
        }
    }
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
        Ok(Self {
            users_api_url,
            users_per_run,
            users_seed: optional(env, "USERS_SEED")?,
            users_nat: optional(env, "USERS_NAT")?,
            api_timeout: Duration::from_millis(or_default(env, "USERS_API_TIMEOUT_MS", 10_000)?),
            api_max_retries: or_default(env, "USERS_API_MAX_RETRIES", 3)?,
            kafka_brokers: required(env, "KAFKA_BROKERS")?,
            kafka_topic: or_default(env, "KAFKA_TOPIC", user_record::DEFAULT_TOPIC.into())?,
            kafka_message_timeout: Duration::from_millis(message_timeout_ms),
            kafka_compression,
            kafka_security: KafkaSecurity::from_source(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn security_defaults_to_plaintext_in_any_case() {
        let env = [("KAFKA_BROKERS", "b:9092"), ("KAFKA_SECURITY", "PLAINTEXT")];
        let config = ProducerConfig::from_source(&env).unwrap();
        assert_eq!(config.kafka_security, KafkaSecurity::Plaintext);
        let config = ProducerConfig::from_source(&[("KAFKA_BROKERS", "b:9092")]).unwrap();
        assert_eq!(config.kafka_security, KafkaSecurity::Plaintext);
    }

    #[test]
    fn iam_security_signs_for_the_function_region() {
        let env = [
            ("KAFKA_BROKERS", "b-1.example:9098"),
            ("KAFKA_SECURITY", "iam"),
            ("AWS_REGION", "eu-west-1"),
        ];
        let config = ProducerConfig::from_source(&env).unwrap();
        assert_eq!(
            config.kafka_security,
            KafkaSecurity::Iam {
                region: "eu-west-1".into()
            }
        );
    }

    #[test]
    fn iam_security_without_a_region_stops_start_up_by_name() {
        let env = [("KAFKA_BROKERS", "b:9098"), ("KAFKA_SECURITY", "iam")];
        let err = ProducerConfig::from_source(&env).unwrap_err();
        assert_eq!(err, SettingError::Missing { name: "AWS_REGION" });
    }

    #[test]
    fn scram_security_needs_a_secrets_manager_arn() {
        let env = [("KAFKA_BROKERS", "b:9096"), ("KAFKA_SECURITY", "scram")];
        let err = ProducerConfig::from_source(&env).unwrap_err();
        assert_eq!(
            err,
            SettingError::Missing {
                name: "KAFKA_SASL_SECRET_ARN"
            }
        );

        let env = [
            ("KAFKA_BROKERS", "b:9096"),
            ("KAFKA_SECURITY", "scram"),
            ("KAFKA_SASL_SECRET_ARN", "AmazonMSK_users"),
        ];
        let err = ProducerConfig::from_source(&env).unwrap_err();
        assert!(err.to_string().contains("KAFKA_SASL_SECRET_ARN"), "{err}");

        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_users-AbCdEf";
        let env = [
            ("KAFKA_BROKERS", "b:9096"),
            ("KAFKA_SECURITY", "scram"),
            ("KAFKA_SASL_SECRET_ARN", arn),
        ];
        let config = ProducerConfig::from_source(&env).unwrap();
        assert_eq!(
            config.kafka_security,
            KafkaSecurity::Scram {
                secret_arn: arn.into()
            }
        );
    }

    #[test]
    fn unknown_security_is_rejected_with_the_choices() {
        let env = [("KAFKA_BROKERS", "b:9092"), ("KAFKA_SECURITY", "ssl")];
        let err = ProducerConfig::from_source(&env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable KAFKA_SECURITY=\"ssl\" is invalid: must be one of plaintext, scram, iam"
        );
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
