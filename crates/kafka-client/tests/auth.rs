//! Kafka authentication, offline: MSK IAM tokens signed with fixed credentials, the client
//! context librdkafka asks for tokens, SCRAM secrets, and what a producer, a consumer and the
//! topic reader of replay and status built from the settings actually send on the wire (a TLS
//! ClientHello for SCRAM and IAM, the Kafka protocol in the clear locally).

use std::{
    io::Read,
    net::TcpListener,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

use aws_config::Region;
use aws_credential_types::{Credentials, provider::SharedCredentialsProvider};
use base64::Engine;
use kafka_client::{
    KafkaClient, KafkaSecurity, KafkaSettings, Start, TopicReader,
    auth::{AuthError, IamTokenSource, KafkaAuth, ScramCredentials, parse_scram_secret},
};
use rdkafka::{
    ClientContext,
    consumer::{BaseConsumer, Consumer},
    producer::{FutureProducer, FutureRecord},
};
use tokio::runtime::Handle;

const REGION: &str = "eu-west-1";

fn fixed_credentials(secret: &str) -> SharedCredentialsProvider {
    SharedCredentialsProvider::new(Credentials::new(
        "AKIDUSERLAKETEST",
        secret,
        Some("session-token-for-tests".into()),
        None,
        "fixed",
    ))
}

fn iam_source(secret: &str) -> IamTokenSource {
    IamTokenSource::new(
        Region::new(REGION),
        fixed_credentials(secret),
        Handle::current(),
    )
}

/// The query of the presigned URL that an MSK IAM token carries.
fn token_query(token: &str) -> (url::Url, Vec<(String, String)>) {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(token)
        .expect("an MSK IAM token is unpadded base64url");
    let url = url::Url::parse(std::str::from_utf8(&bytes).unwrap()).unwrap();
    let query = url.query_pairs().into_owned().collect();
    (url, query)
}

fn param<'a>(query: &'a [(String, String)], name: &str) -> &'a str {
    query
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("token has no {name}"))
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_token_is_a_presigned_kafka_connect_request_for_the_region() {
    // given fixed credentials
    let source = iam_source("fixed-secret-key");

    // when
    let (token, expires_ms) = source.token().await.unwrap();

    // then the token is a SigV4 presigned GET of kafka-cluster:Connect in the region
    let (url, query) = token_query(&token);
    assert_eq!(url.scheme(), "https");
    assert_eq!(url.host_str(), Some("kafka.eu-west-1.amazonaws.com"));
    assert_eq!(param(&query, "Action"), "kafka-cluster:Connect");
    assert_eq!(param(&query, "X-Amz-Algorithm"), "AWS4-HMAC-SHA256");
    let credential = param(&query, "X-Amz-Credential");
    assert!(credential.starts_with("AKIDUSERLAKETEST/"), "{credential}");
    assert!(
        credential.ends_with("/eu-west-1/kafka-cluster/aws4_request"),
        "{credential}"
    );
    assert_eq!(param(&query, "X-Amz-Expires"), "900");
    assert_eq!(
        param(&query, "X-Amz-Security-Token"),
        "session-token-for-tests"
    );
    let signature = param(&query, "X-Amz-Signature");
    assert_eq!(signature.len(), 64);
    assert!(signature.bytes().all(|b| b.is_ascii_hexdigit()));
    // and it expires 15 minutes after it was signed
    let signed_at =
        chrono::NaiveDateTime::parse_from_str(param(&query, "X-Amz-Date"), "%Y%m%dT%H%M%SZ")
            .unwrap()
            .and_utc()
            .timestamp_millis();
    assert_eq!(expires_ms, signed_at + 900_000);
    assert!(expires_ms > now_ms() + 800_000);
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_signature_depends_on_the_secret_key() {
    // given two sources that differ only in the secret key
    let (a, _) = iam_source("secret-a").token().await.unwrap();
    let (b, _) = iam_source("secret-b").token().await.unwrap();

    // then the signatures differ (unless the clock ticked between the calls, the rest is equal)
    let (_, qa) = token_query(&a);
    let (_, qb) = token_query(&b);
    assert_ne!(param(&qa, "X-Amz-Signature"), param(&qb, "X-Amz-Signature"));
}

#[tokio::test(flavor = "multi_thread")]
async fn client_context_gives_librdkafka_an_unexpired_token() {
    // given the context an IAM client runs with
    let context = KafkaAuth::Iam(iam_source("fixed-secret-key")).context();

    // when librdkafka asks for a token (it does so from its own thread, not an async task)
    let token = context.generate_oauth_token(None).unwrap();

    // then
    let (_, query) = token_query(&token.token);
    assert_eq!(param(&query, "Action"), "kafka-cluster:Connect");
    assert_eq!(token.principal_name, "user-lake");
    assert!(token.lifetime_ms > now_ms());
}

#[test]
fn a_client_not_configured_for_iam_refuses_to_make_tokens() {
    let context = KafkaAuth::Plaintext.context();
    let Err(err) = context.generate_oauth_token(None) else {
        panic!("a plaintext client made an IAM token");
    };
    assert!(
        err.to_string().contains("not configured for MSK IAM"),
        "{err}"
    );
}

#[test]
fn scram_secret_in_the_msk_format_is_read() {
    let secret = r#"{"username": "user-lake", "password": "s3cr3t-Pa55"}"#;
    let credentials = parse_scram_secret("arn:secret", secret).unwrap();
    assert_eq!(
        credentials,
        ScramCredentials {
            username: "user-lake".into(),
            password: "s3cr3t-Pa55".into()
        }
    );
}

#[test]
fn scram_password_never_shows_in_debug_output() {
    let credentials =
        parse_scram_secret("arn:s", r#"{"username":"u","password":"hunter2"}"#).unwrap();
    let shown = format!(
        "{credentials:?} {:?}",
        KafkaAuth::Scram(credentials.clone())
    );
    assert!(!shown.contains("hunter2"), "{shown}");
    assert!(shown.contains("<redacted>"), "{shown}");
}

#[test]
fn malformed_scram_secret_is_explained_without_repeating_it() {
    for secret in [
        "hunter2",
        r#"{"username":"u"}"#,
        r#"{"username":"u","password":""}"#,
        r#"{"user":"u","pass":"hunter2"}"#,
    ] {
        let err =
            parse_scram_secret("arn:aws:secretsmanager:eu-west-1:1:secret:s", secret).unwrap_err();
        assert!(matches!(err, AuthError::SecretMalformed { .. }), "{err}");
        let message = err.to_string();
        assert!(message.contains("arn:aws:secretsmanager"), "{message}");
        assert!(!message.contains("hunter2"), "{message}");
    }
}

/// The role of a client under test: both must speak the configured security.
#[derive(Clone, Copy)]
enum Role {
    Producer,
    Consumer,
    /// The reader replay and status read the topic with.
    Reader,
}

const ROLES: [Role; 3] = [Role::Producer, Role::Consumer, Role::Reader];

/// Starts a client of `role` against a listener that records the first bytes it sends.
fn first_bytes_sent(auth: KafkaAuth, role: Role) -> Vec<u8> {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let brokers = listener.local_addr().unwrap().to_string();
    let client = KafkaClient::with_auth(&brokers, auth);
    let reader = std::thread::spawn(move || {
        // A client that does not connect promptly fails the test rather than hanging it. (An
        // IAM consumer never polled before it asks for metadata gets no token and connects
        // only when that request times out, 15 s later: far too late for this bound.)
        listener.set_nonblocking(true).unwrap();
        let started = std::time::Instant::now();
        let mut stream = loop {
            match listener.accept() {
                Ok((stream, _)) => break stream,
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                    assert!(
                        started.elapsed() < Duration::from_secs(10),
                        "the client did not connect within 10 s"
                    );
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => panic!("accept failed: {e}"),
            }
        };
        stream.set_nonblocking(false).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .unwrap();
        let mut first = [0u8; 3];
        stream.read_exact(&mut first).unwrap();
        first.to_vec()
    });
    // nothing answers; the client's first bytes are what matter
    match role {
        Role::Producer => {
            let producer: FutureProducer<_> = client
                .client_config("auth-test")
                .set("message.timeout.ms", "2000")
                .create_with_context(client.context())
                .unwrap();
            let delivery = producer
                .send_result(FutureRecord::to("users_created").key("k").payload("v"))
                .map_err(|(e, _)| e)
                .unwrap();
            let bytes = reader.join().unwrap();
            drop(delivery);
            bytes
        }
        Role::Consumer => {
            let consumer: BaseConsumer<_> = client
                .client_config("auth-test")
                .set("group.id", "auth-test")
                .create_with_context(client.context())
                .unwrap();
            consumer.subscribe(&["users_created"]).unwrap();
            let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
            let polling = {
                let stop = stop.clone();
                std::thread::spawn(move || {
                    while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                        let _ = consumer.poll(Duration::from_millis(50));
                    }
                })
            };
            let bytes = reader.join().unwrap();
            stop.store(true, std::sync::atomic::Ordering::Relaxed);
            polling.join().unwrap();
            bytes
        }
        Role::Reader => {
            // It asks for the topic's metadata first, which nothing answers: it gives up
            // after its metadata timeout, once its first bytes were sent.
            // (its stream consumer needs the tokio runtime the test runs in)
            let runtime = Handle::current();
            let connecting = std::thread::spawn(move || {
                let _entered = runtime.enter();
                let _ = TopicReader::connect(
                    &client,
                    "auth-test",
                    "users_created",
                    Start::Beginning,
                    &[],
                    Duration::from_secs(1),
                );
            });
            let bytes = reader.join().unwrap();
            drop(connecting);
            bytes
        }
    }
}

fn is_tls_client_hello(bytes: &[u8]) -> bool {
    // TLS record: content type 22 (handshake), protocol major version 3
    bytes[0] == 0x16 && bytes[1] == 0x03
}

fn scram() -> KafkaAuth {
    KafkaAuth::Scram(ScramCredentials {
        username: "u".into(),
        password: "p".into(),
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn scram_clients_connect_with_tls() {
    for role in ROLES {
        let bytes = first_bytes_sent(scram(), role);
        assert!(is_tls_client_hello(&bytes), "{bytes:02x?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn iam_clients_connect_with_tls() {
    for role in ROLES {
        let bytes = first_bytes_sent(KafkaAuth::Iam(iam_source("fixed-secret-key")), role);
        assert!(is_tls_client_hello(&bytes), "{bytes:02x?}");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn plaintext_clients_speak_kafka_in_the_clear() {
    for role in ROLES {
        // a Kafka request starts with its 4-byte big-endian length, far below 2^24
        let bytes = first_bytes_sent(KafkaAuth::Plaintext, role);
        assert_eq!(bytes[0], 0, "{bytes:02x?}");
        assert!(!is_tls_client_hello(&bytes));
    }
}

#[tokio::test]
async fn plaintext_settings_resolve_without_any_aws_call() {
    let settings = KafkaSettings {
        brokers: "127.0.0.1:9092".into(),
        security: KafkaSecurity::Plaintext,
    };
    let client = KafkaClient::resolve(&settings).await.unwrap();
    assert_eq!(client.brokers(), "127.0.0.1:9092");
    let config = client.client_config("x");
    assert_eq!(config.get("security.protocol"), Some("plaintext"));
    assert_eq!(config.get("bootstrap.servers"), Some("127.0.0.1:9092"));
}
