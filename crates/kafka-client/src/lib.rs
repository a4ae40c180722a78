//! Kafka client settings for everything that talks to Kafka (the producer, the replay, the
//! local trigger emulator): the brokers and the security mode come from the same `KAFKA_*`
//! variables, so a command that works against the local broker works against Amazon MSK by
//! changing the environment only.
//!
//! - `plaintext`: no TLS, no SASL (the local broker);
//! - `scram`: SASL/SCRAM-SHA-512 over TLS, the username and password read once from a Secrets
//!   Manager secret (MSK port 9096);
//! - `iam`: MSK IAM, SASL/OAUTHBEARER over TLS with SigV4-signed tokens made on demand from the
//!   default AWS credential chain (MSK port 9098).
//!
//! [`reader`] reads a topic from a start to its current end (watermarks plus idleness), the one
//! definition of "everything so far" that the replay and the checks share.

pub mod auth;
pub mod config;
pub mod reader;

pub use auth::{AuthError, IamTokenSource, KafkaAuth, KafkaClientContext, ScramCredentials};
pub use config::{KafkaSecurity, KafkaSettings};
pub use reader::{ReadError, Start, TopicReader, owned_record};

use rdkafka::ClientConfig;

/// The brokers and resolved credentials of one Kafka cluster, ready to configure clients.
#[derive(Debug, Clone)]
pub struct KafkaClient {
    brokers: String,
    auth: KafkaAuth,
}

impl KafkaClient {
    /// Resolves the configured security once (reads the SCRAM secret, or prepares IAM
    /// signing); call it once per process.
    pub async fn resolve(settings: &KafkaSettings) -> Result<Self, AuthError> {
        Ok(Self {
            brokers: settings.brokers.clone(),
            auth: KafkaAuth::resolve(&settings.security).await?,
        })
    }

    /// A client for a plaintext broker, as the local stack runs one.
    pub fn plaintext(brokers: &str) -> Self {
        Self::with_auth(brokers, KafkaAuth::Plaintext)
    }

    /// A client with credentials resolved elsewhere (tests, fixed tokens).
    pub fn with_auth(brokers: &str, auth: KafkaAuth) -> Self {
        Self {
            brokers: brokers.to_owned(),
            auth,
        }
    }

    /// The bootstrap servers.
    pub fn brokers(&self) -> &str {
        &self.brokers
    }

    /// A librdkafka configuration with the brokers, the security properties and `client.id`;
    /// the caller adds what its role needs (acks, group id, ...).
    pub fn client_config(&self, client_id: &str) -> ClientConfig {
        let mut config = ClientConfig::new();
        config
            .set("bootstrap.servers", &self.brokers)
            .set("client.id", client_id);
        self.auth.apply(&mut config);
        config
    }

    /// The client context that answers librdkafka's token requests (MSK IAM).
    pub fn context(&self) -> KafkaClientContext {
        self.auth.context()
    }
}
