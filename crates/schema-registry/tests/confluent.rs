//! The Confluent client against the registry stand-in the local stack runs
//! (`local/schema-registry/registry.py`, Python's standard library only), over HTTP. It starts
//! that process, so it runs with the feature `e2e` (`make test`).
#![cfg(feature = "e2e")]

use std::{
    net::TcpListener,
    process::{Child, Command},
    time::{Duration, Instant},
};

use schema_registry::{ConfluentRegistry, SchemaRegistry};

/// The stand-in on a free port; killed when dropped.
struct StandIn {
    child: Child,
    url: url::Url,
}

impl StandIn {
    fn start() -> Self {
        Self::start_with(&[])
    }

    /// The stand-in started with more arguments (`--basic-auth USER:PASSWORD`).
    fn start_with(args: &[&str]) -> Self {
        let port = TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../local/schema-registry/registry.py"
        );
        let child = Command::new("python3")
            .args([script, "--listen", &format!("127.0.0.1:{port}")])
            .args(args)
            .stderr(std::process::Stdio::null())
            .spawn()
            .expect("python3 runs the registry stand-in");
        let deadline = Instant::now() + Duration::from_secs(20);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the stand-in did not listen");
            std::thread::sleep(Duration::from_millis(50));
        }
        StandIn {
            child,
            url: format!("http://127.0.0.1:{port}").parse().unwrap(),
        }
    }

    fn client(&self) -> ConfluentRegistry {
        ConfluentRegistry::new(reqwest::Client::new(), self.url.clone())
    }
}

impl Drop for StandIn {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[tokio::test]
async fn a_registered_schema_keeps_its_id_and_is_fetched_by_it() {
    // given the stand-in
    let stand_in = StandIn::start();
    let registry = stand_in.client();

    // when the users' schema is registered twice
    let first = (registry.register("users_created-value", user_record::schemas::AVRO))
        .await
        .unwrap();
    let again = (registry.register("users_created-value", user_record::schemas::AVRO))
        .await
        .unwrap();

    // then it has one id, under which the registry answers the same schema
    assert_eq!(first, again);
    let text = registry.schema_text(&first.to_string()).await.unwrap();
    let parsed = apache_avro::Schema::parse_str(&text).unwrap();
    assert_eq!(
        parsed,
        apache_avro::Schema::parse_str(user_record::schemas::AVRO).unwrap()
    );
}

#[tokio::test]
async fn an_unknown_id_is_not_found_and_an_incompatible_schema_is_refused() {
    let stand_in = StandIn::start();
    let registry = stand_in.client();
    let error = registry.schema_text("4711").await.unwrap_err();
    assert!(error.is_not_found(), "{error}");

    registry
        .register("users_created-value", user_record::schemas::AVRO)
        .await
        .unwrap();
    // a required field without a default cannot be read from what the first version wrote
    let mut incompatible: serde_json::Value =
        serde_json::from_str(user_record::schemas::AVRO).unwrap();
    incompatible["fields"]
        .as_array_mut()
        .unwrap()
        .push(serde_json::json!({"name": "nationality", "type": "string"}));
    let error = registry
        .register("users_created-value", &incompatible.to_string())
        .await
        .unwrap_err();
    assert!(
        matches!(
            error,
            schema_registry::RegistryError::Status { status: 409, .. }
        ),
        "{error}"
    );
    assert!(!error.is_not_found());
}

#[tokio::test]
async fn a_registry_asking_for_basic_auth_answers_a_client_with_the_credentials_only() {
    // given a stand-in that asks for credentials
    let stand_in = StandIn::start_with(&["--basic-auth", "sink:s3cret"]);
    let secret = r#"{"username": "sink", "password": "s3cret"}"#;
    let credentials = schema_registry::BasicAuth::from_secret(secret).unwrap();

    // when a client with them registers the users' schema, and one without asks for it
    let with = stand_in.client().with_basic_auth(credentials);
    let id = (with.register("users_created-value", user_record::schemas::AVRO))
        .await
        .unwrap();
    let refused = stand_in.client().schema_text(&id.to_string()).await;

    // then the first is answered and the second refused with 401
    assert!(with.schema_text(&id.to_string()).await.is_ok());
    assert!(
        matches!(
            refused,
            Err(schema_registry::RegistryError::Status { status: 401, .. })
        ),
        "{refused:?}"
    );
}
