//! docker-compose.yml cannot run here (no Docker engine), so this checks that it agrees with
//! infra/local/local.env: the same ports, topic, partitions, bucket and credentials.

use e2e::env_file::{local_env, repo_root};
use serde_norway::Value;

fn compose() -> Value {
    let text = std::fs::read_to_string(repo_root().join("docker-compose.yml")).unwrap();
    serde_norway::from_str(&text).unwrap()
}

fn port(url: &str) -> &str {
    url.rsplit(':').next().unwrap().trim_end_matches('/')
}

fn published_ports(service: &Value) -> Vec<String> {
    service["ports"]
        .as_sequence()
        .map(|ports| {
            ports
                .iter()
                .filter_map(|p| p.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn words(value: &Value) -> String {
    match value {
        Value::Sequence(items) => items
            .iter()
            .filter_map(Value::as_str)
            .collect::<Vec<_>>()
            .join(" "),
        Value::String(text) => text.clone(),
        _ => String::new(),
    }
}

#[test]
fn kafka_listens_and_advertises_the_env_file_broker() {
    let (compose, env) = (compose(), local_env());
    let kafka = &compose["services"]["kafka"];
    let broker_port = port(&env["KAFKA_BROKERS"]);
    assert!(published_ports(kafka).contains(&format!("127.0.0.1:{broker_port}:{broker_port}")));
    let advertised = kafka["environment"]["KAFKA_ADVERTISED_LISTENERS"]
        .as_str()
        .unwrap();
    assert!(
        advertised.contains(&format!("://{}", env["KAFKA_BROKERS"])),
        "{advertised}"
    );
}

#[test]
fn the_topic_is_created_with_the_env_file_name_and_partitions() {
    let (compose, env) = (compose(), local_env());
    let command = words(&compose["services"]["kafka-init"]["command"]);
    assert!(
        command.contains(&format!("--topic {}", env["KAFKA_TOPIC"])),
        "{command}"
    );
    assert!(
        command.contains(&format!("--partitions {}", env["KAFKA_PARTITIONS"])),
        "{command}"
    );
}

#[test]
fn the_s3_store_serves_the_env_file_endpoint_bucket_and_credentials() {
    let (compose, env) = (compose(), local_env());
    let services = &compose["services"];
    let s3_port = port(&env["AWS_ENDPOINT_URL_S3"]);
    assert!(published_ports(&services["s3"]).contains(&format!("127.0.0.1:{s3_port}:{s3_port}")));
    assert!(words(&services["s3"]["command"]).contains(&format!("-s3.port={s3_port}")));
    let init = &services["s3-init"];
    assert!(words(&init["command"]).contains(&format!("s3://{}", env["LAKE_BUCKET"])));
    assert_eq!(
        init["environment"]["AWS_ACCESS_KEY_ID"].as_str(),
        Some(env["AWS_ACCESS_KEY_ID"].as_str())
    );
    assert_eq!(
        init["environment"]["AWS_SECRET_ACCESS_KEY"].as_str(),
        Some(env["AWS_SECRET_ACCESS_KEY"].as_str())
    );
    let identities = compose["configs"]["s3-identities"]["content"]
        .as_str()
        .unwrap();
    assert!(identities.contains(&format!("\"accessKey\": \"{}\"", env["AWS_ACCESS_KEY_ID"])));
    assert!(identities.contains(&format!(
        "\"secretKey\": \"{}\"",
        env["AWS_SECRET_ACCESS_KEY"]
    )));
}

#[test]
fn the_users_api_is_built_here_and_served_at_the_env_file_url() {
    let (compose, env) = (compose(), local_env());
    let users_api = &compose["services"]["users-api"];
    let dockerfile = users_api["build"]["dockerfile"].as_str().unwrap();
    let recipe = std::fs::read_to_string(repo_root().join(dockerfile)).unwrap();
    let api_port = env["USERS_API_URL"]
        .trim_end_matches('/')
        .rsplit_once(':')
        .and_then(|(_, rest)| rest.split('/').next())
        .unwrap()
        .to_string();
    assert!(published_ports(users_api).contains(&format!("127.0.0.1:{api_port}:{api_port}")));
    assert!(recipe.contains("-p users-api"), "{recipe}");
    assert!(recipe.contains(&format!("0.0.0.0:{api_port}")), "{recipe}");
}

#[test]
fn the_schema_registry_serves_the_env_file_url_and_stores_in_the_broker() {
    let (compose, env) = (compose(), local_env());
    let registry = &compose["services"]["schema-registry"];
    let registry_port = port(&env["SCHEMA_REGISTRY_STAND_IN"]);
    assert!(
        published_ports(registry).contains(&format!("127.0.0.1:{registry_port}:{registry_port}")),
        "{:?}",
        published_ports(registry)
    );
    let environment = &registry["environment"];
    assert_eq!(
        environment["SCHEMA_REGISTRY_LISTENERS"].as_str(),
        Some(format!("http://0.0.0.0:{registry_port}").as_str())
    );
    assert_eq!(
        environment["SCHEMA_REGISTRY_KAFKASTORE_BOOTSTRAP_SERVERS"].as_str(),
        Some("kafka:29092"),
        "the broker's listener for the other containers"
    );
}

#[test]
fn no_compose_port_collides_with_the_functions_endpoint() {
    let (compose, env) = (compose(), local_env());
    let lambda_port = port(&env["LAMBDA_ENDPOINT"]);
    let services = compose["services"].as_mapping().unwrap();
    for (name, service) in services {
        for published in published_ports(service) {
            assert!(
                !published.contains(&format!(":{lambda_port}:")),
                "{name:?} publishes {published}"
            );
        }
    }
}
