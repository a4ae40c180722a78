//! How a client proves who it is to Kafka. Locally the broker is plaintext; on Amazon MSK
//! a client speaks TLS and authenticates either with SASL/SCRAM (a username and password
//! kept in Secrets Manager) or with MSK IAM (SASL/OAUTHBEARER carrying a SigV4-signed token,
//! made by the `aws-msk-iam-sasl-signer` crate from the default AWS credential chain).
//!
//! librdkafka asks for a new IAM token when 80% of the current one's lifetime (15 minutes) has
//! passed, so a long-lived client (a warm function, a long replay) never presents an expired
//! token.

use std::{
    error::Error as StdError,
    fmt,
    sync::{
        Arc,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use aws_config::{BehaviorVersion, Region};
use aws_credential_types::provider::SharedCredentialsProvider;
use lambda_kit::{
    Classified, Retry,
    aws::{sdk_message, sdk_retry},
};
use rdkafka::{ClientConfig, ClientContext, client::OAuthToken, consumer::ConsumerContext};
use serde::Deserialize;
use tokio::runtime::Handle;

use crate::config::KafkaSecurity;

/// The principal name librdkafka attaches to an IAM token (MSK identifies the caller from the
/// signature, not from this name).
const IAM_PRINCIPAL: &str = "user-lake";
/// Longest wait for credentials and a signature before librdkafka is told the token failed.
const IAM_TOKEN_TIMEOUT: Duration = Duration::from_secs(10);

/// Why a client could not get what it needs to authenticate.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Secrets Manager did not return the SCRAM secret.
    #[error("cannot read the SCRAM secret {secret_arn}: {reason}")]
    SecretUnavailable {
        secret_arn: String,
        retry: Retry,
        reason: String,
    },
    /// The SCRAM secret is not the JSON object `{"username": ..., "password": ...}` MSK expects.
    #[error("the SCRAM secret {secret_arn} is malformed: {reason}")]
    SecretMalformed { secret_arn: String, reason: String },
    /// The default AWS credential chain found no credentials to sign IAM tokens with.
    #[error("no AWS credentials for MSK IAM authentication in region {region}")]
    NoCredentials { region: String },
    /// Signing an IAM token failed or took longer than allowed.
    #[error("cannot create an MSK IAM token for region {region}: {reason}")]
    IamToken { region: String, reason: String },
}

/// SASL/SCRAM credentials. The password never appears in `Debug` output or logs.
#[derive(Clone, PartialEq, Eq, Deserialize)]
pub struct ScramCredentials {
    pub username: String,
    pub password: String,
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// Reads an MSK SCRAM secret (`{"username": "...", "password": "..."}`); the error says what
/// is wrong without repeating the secret's contents.
pub fn parse_scram_secret(secret_arn: &str, secret: &str) -> Result<ScramCredentials, AuthError> {
    let malformed = |reason: String| AuthError::SecretMalformed {
        secret_arn: secret_arn.to_owned(),
        reason,
    };
    let credentials: ScramCredentials = serde_json::from_str(secret).map_err(|e| {
        // serde's messages may quote the offending value, which could be the password itself,
        // so only the kind of problem is reported.
        let problem = match e.classify() {
            serde_json::error::Category::Data if e.to_string().starts_with("missing field") => e
                .to_string()
                .split(" at line")
                .next()
                .unwrap_or_default()
                .to_owned(),
            serde_json::error::Category::Data => "a field has the wrong type".to_owned(),
            _ => "not valid JSON".to_owned(),
        };
        malformed(format!(
            "expected a JSON object with string fields username and password ({problem})"
        ))
    })?;
    if credentials.username.is_empty() || credentials.password.is_empty() {
        return Err(malformed("username and password must not be empty".into()));
    }
    Ok(credentials)
}

/// A source of MSK IAM tokens: a region and a credentials provider, signing on demand.
#[derive(Clone)]
pub struct IamTokenSource {
    region: Region,
    credentials: SharedCredentialsProvider,
    runtime: Handle,
}

impl fmt::Debug for IamTokenSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IamTokenSource")
            .field("region", &self.region)
            .finish_non_exhaustive()
    }
}

impl IamTokenSource {
    /// `runtime` runs the credential look-ups that librdkafka's own thread cannot await.
    pub fn new(region: Region, credentials: SharedCredentialsProvider, runtime: Handle) -> Self {
        Self {
            region,
            credentials,
            runtime,
        }
    }

    /// A base64url token and the Unix time in milliseconds at which it expires.
    pub async fn token(&self) -> Result<(String, i64), AuthError> {
        let signed = aws_msk_iam_sasl_signer::generate_auth_token_from_credentials_provider(
            self.region.clone(),
            self.credentials.clone(),
        );
        match tokio::time::timeout(IAM_TOKEN_TIMEOUT, signed).await {
            Ok(Ok(token)) => Ok(token),
            Ok(Err(e)) => Err(self.token_error(e.to_string())),
            Err(_) => Err(self.token_error(format!("timed out after {IAM_TOKEN_TIMEOUT:?}"))),
        }
    }

    /// [`Self::token`] for a caller that is not async (librdkafka's polling thread). It runs on
    /// a thread of its own, so it is safe to call from inside the runtime too.
    pub fn token_blocking(&self) -> Result<(String, i64), AuthError> {
        std::thread::scope(|scope| {
            scope
                .spawn(|| self.runtime.block_on(self.token()))
                .join()
                .unwrap_or_else(|_| Err(self.token_error("the signing thread panicked".into())))
        })
    }

    fn token_error(&self, reason: String) -> AuthError {
        AuthError::IamToken {
            region: self.region.to_string(),
            reason,
        }
    }
}

/// What the Kafka client authenticates with, resolved once per cold start.
#[derive(Debug, Clone)]
pub enum KafkaAuth {
    /// No TLS, no SASL: the local broker.
    Plaintext,
    /// SASL/SCRAM-SHA-512 over TLS.
    Scram(ScramCredentials),
    /// MSK IAM: SASL/OAUTHBEARER over TLS with signed tokens.
    Iam(IamTokenSource),
}

impl KafkaAuth {
    /// Resolves the configured security: reads the SCRAM secret from Secrets Manager, or
    /// prepares IAM signing with the default credential chain. Credentials come only from the
    /// AWS default provider chain (on Lambda, the execution role).
    pub async fn resolve(security: &KafkaSecurity) -> Result<Self, AuthError> {
        match security {
            KafkaSecurity::Plaintext => Ok(Self::Plaintext),
            KafkaSecurity::Scram { secret_arn } => {
                let aws = aws_config::defaults(BehaviorVersion::latest()).load().await;
                let client = aws_sdk_secretsmanager::Client::new(&aws);
                let unavailable = |retry, reason: String| AuthError::SecretUnavailable {
                    secret_arn: secret_arn.clone(),
                    retry,
                    reason,
                };
                let output = client
                    .get_secret_value()
                    .secret_id(secret_arn)
                    .send()
                    .await
                    .map_err(|e| unavailable(sdk_retry(&e), sdk_message(&e)))?;
                let secret = output.secret_string().ok_or_else(|| {
                    unavailable(Retry::Fatal, "the secret has no string value".into())
                })?;
                Ok(Self::Scram(parse_scram_secret(secret_arn, secret)?))
            }
            KafkaSecurity::Iam { region } => {
                let region = Region::new(region.clone());
                let aws = aws_config::defaults(BehaviorVersion::latest())
                    .region(region.clone())
                    .load()
                    .await;
                let credentials =
                    aws.credentials_provider()
                        .ok_or_else(|| AuthError::NoCredentials {
                            region: region.to_string(),
                        })?;
                Ok(Self::Iam(IamTokenSource::new(
                    region,
                    credentials,
                    Handle::current(),
                )))
            }
        }
    }

    /// Sets the client properties this kind of authentication needs.
    pub fn apply(&self, config: &mut ClientConfig) {
        match self {
            Self::Plaintext => {
                config.set("security.protocol", "plaintext");
            }
            Self::Scram(credentials) => {
                config
                    .set("security.protocol", "sasl_ssl")
                    .set("sasl.mechanism", "SCRAM-SHA-512")
                    .set("sasl.username", &credentials.username)
                    .set("sasl.password", &credentials.password);
            }
            Self::Iam(_) => {
                config
                    .set("security.protocol", "sasl_ssl")
                    .set("sasl.mechanism", "OAUTHBEARER");
            }
        }
    }

    /// The client context that answers librdkafka's token requests (IAM only).
    pub fn context(&self) -> KafkaClientContext {
        KafkaClientContext {
            iam: match self {
                Self::Iam(source) => Some(source.clone()),
                _ => None,
            },
            tokens: Arc::default(),
        }
    }
}

/// The rdkafka context of every client: it makes IAM tokens when librdkafka asks for one.
#[derive(Debug, Clone, Default)]
pub struct KafkaClientContext {
    iam: Option<IamTokenSource>,
    /// Tokens handed to librdkafka so far.
    tokens: Arc<AtomicUsize>,
}

/// Longest wait for a consumer's first IAM token.
const FIRST_TOKEN_TIMEOUT: Duration = Duration::from_secs(15);

impl KafkaClientContext {
    /// Whether the client authenticates with MSK IAM (SASL/OAUTHBEARER tokens).
    pub fn uses_iam(&self) -> bool {
        self.iam.is_some()
    }

    /// Serves a new consumer its first IAM token before it talks to a broker; a no-op for the
    /// other securities.
    ///
    /// librdkafka connects over SASL/OAUTHBEARER only once it holds a token, and asks for one
    /// with an event on the consumer's queue, which only polling the consumer serves (rdkafka's
    /// `Client::poll_event`). A consumer that first fetches metadata or watermarks, before it is
    /// ever polled, would wait for a connection that never comes. `poll_once` polls the consumer
    /// once without blocking; it is called until the token is made.
    pub fn serve_first_token(&self, mut poll_once: impl FnMut()) -> Result<(), AuthError> {
        if !self.uses_iam() {
            return Ok(());
        }
        let started = Instant::now();
        while self.tokens.load(Ordering::Acquire) == 0 {
            if started.elapsed() > FIRST_TOKEN_TIMEOUT {
                return Err(AuthError::IamToken {
                    region: self
                        .iam
                        .as_ref()
                        .map(|s| s.region.to_string())
                        .unwrap_or_default(),
                    reason: format!("librdkafka asked for no token within {FIRST_TOKEN_TIMEOUT:?}"),
                });
            }
            poll_once();
            std::thread::sleep(Duration::from_millis(10));
        }
        Ok(())
    }
}

impl ClientContext for KafkaClientContext {
    const ENABLE_REFRESH_OAUTH_TOKEN: bool = true;

    fn generate_oauth_token(
        &self,
        _oauthbearer_config: Option<&str>,
    ) -> Result<OAuthToken, Box<dyn StdError>> {
        let source = self
            .iam
            .as_ref()
            .ok_or("OAUTHBEARER was requested but the client is not configured for MSK IAM")?;
        let (token, lifetime_ms) = source.token_blocking()?;
        self.tokens.fetch_add(1, Ordering::AcqRel);
        Ok(OAuthToken {
            token,
            principal_name: IAM_PRINCIPAL.to_owned(),
            lifetime_ms,
        })
    }
}

/// Consumers (the replay, the trigger emulator) use the same context.
impl ConsumerContext for KafkaClientContext {}

impl Classified for AuthError {
    fn kind(&self) -> &'static str {
        "KafkaAuthFailed"
    }

    fn retry(&self) -> Retry {
        match self {
            AuthError::SecretUnavailable { retry, .. } => *retry,
            AuthError::SecretMalformed { .. } | AuthError::NoCredentials { .. } => Retry::Fatal,
            AuthError::IamToken { .. } => Retry::Retryable,
        }
    }
}
