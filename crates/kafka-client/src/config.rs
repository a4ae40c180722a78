//! The Kafka settings every client reads from the environment: `KAFKA_BROKERS`,
//! `KAFKA_SECURITY` and its companions `KAFKA_SASL_SECRET_ARN` and `AWS_REGION`.

use lambda_kit::settings::{SettingError, Source, check, or_default, required};

/// How a client authenticates to Kafka (`KAFKA_SECURITY`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KafkaSecurity {
    /// No TLS and no SASL (`plaintext`): the local broker only.
    Plaintext,
    /// SASL/SCRAM-SHA-512 over TLS (`scram`), with the username and password read at start-up
    /// from the Secrets Manager secret `KAFKA_SASL_SECRET_ARN`.
    Scram { secret_arn: String },
    /// MSK IAM (`iam`): SASL/OAUTHBEARER over TLS, tokens signed for `AWS_REGION` with the
    /// process's AWS credentials.
    Iam { region: String },
}

impl KafkaSecurity {
    /// Reads `KAFKA_SECURITY` (default `plaintext`) and what the chosen mode needs.
    pub fn from_source(env: &impl Source) -> Result<Self, SettingError> {
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

/// Where the cluster is and how to authenticate to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KafkaSettings {
    /// Bootstrap servers, `host:port[,host:port]` (`KAFKA_BROKERS`).
    pub brokers: String,
    /// How to authenticate (`KAFKA_SECURITY` and its companions).
    pub security: KafkaSecurity,
}

impl KafkaSettings {
    /// Reads `KAFKA_BROKERS` (required) and the security settings.
    pub fn from_source(env: &impl Source) -> Result<Self, SettingError> {
        let brokers: String = required(env, "KAFKA_BROKERS")?;
        let valid = brokers.split(',').all(|b| {
            b.rsplit_once(':')
                .is_some_and(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok())
        });
        Ok(Self {
            brokers: check(
                "KAFKA_BROKERS",
                brokers,
                valid,
                "must be host:port[,host:port...]",
            )?,
            security: KafkaSecurity::from_source(env)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn security_defaults_to_plaintext_in_any_case() {
        let env = [("KAFKA_BROKERS", "b:9092"), ("KAFKA_SECURITY", "PLAINTEXT")];
        let settings = KafkaSettings::from_source(&env).unwrap();
        assert_eq!(settings.security, KafkaSecurity::Plaintext);
        let settings = KafkaSettings::from_source(&[("KAFKA_BROKERS", "b:9092")]).unwrap();
        assert_eq!(settings.security, KafkaSecurity::Plaintext);
    }

    #[test]
    fn missing_or_malformed_brokers_stop_start_up_by_name() {
        let err = KafkaSettings::from_source(&[("KAFKA_SECURITY", "iam")]).unwrap_err();
        assert_eq!(
            err,
            SettingError::Missing {
                name: "KAFKA_BROKERS"
            }
        );
        let err = KafkaSettings::from_source(&[("KAFKA_BROKERS", "b1:9092,b2")]).unwrap_err();
        assert!(
            err.to_string().contains("KAFKA_BROKERS=\"b1:9092,b2\""),
            "{err}"
        );
    }

    #[test]
    fn iam_security_signs_for_the_configured_region() {
        let env = [
            ("KAFKA_BROKERS", "b-1.example:9098"),
            ("KAFKA_SECURITY", "iam"),
            ("AWS_REGION", "eu-west-1"),
        ];
        let settings = KafkaSettings::from_source(&env).unwrap();
        assert_eq!(
            settings.security,
            KafkaSecurity::Iam {
                region: "eu-west-1".into()
            }
        );
        let env = [("KAFKA_BROKERS", "b:9098"), ("KAFKA_SECURITY", "iam")];
        let err = KafkaSettings::from_source(&env).unwrap_err();
        assert_eq!(err, SettingError::Missing { name: "AWS_REGION" });
    }

    #[test]
    fn scram_security_needs_a_secrets_manager_arn() {
        let env = [("KAFKA_BROKERS", "b:9096"), ("KAFKA_SECURITY", "scram")];
        let err = KafkaSettings::from_source(&env).unwrap_err();
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
        let err = KafkaSettings::from_source(&env).unwrap_err();
        assert!(err.to_string().contains("KAFKA_SASL_SECRET_ARN"), "{err}");

        let arn = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:AmazonMSK_users-AbCdEf";
        let env = [
            ("KAFKA_BROKERS", "b:9096"),
            ("KAFKA_SECURITY", "scram"),
            ("KAFKA_SASL_SECRET_ARN", arn),
        ];
        let settings = KafkaSettings::from_source(&env).unwrap();
        assert_eq!(
            settings.security,
            KafkaSecurity::Scram {
                secret_arn: arn.into()
            }
        );
    }

    #[test]
    fn unknown_security_is_rejected_with_the_choices() {
        let env = [("KAFKA_BROKERS", "b:9092"), ("KAFKA_SECURITY", "ssl")];
        let err = KafkaSettings::from_source(&env).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable KAFKA_SECURITY=\"ssl\" is invalid: must be one of plaintext, scram, iam"
        );
    }
}
