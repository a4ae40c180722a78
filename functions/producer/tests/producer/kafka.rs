//! The Kafka publisher against librdkafka's built-in mock cluster: keys, payloads, a full
//! client queue waited on, and a clear failure when the broker is down. (The real broker is
//! exercised end to end.)

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use kafka_client::KafkaClient;
use producer::{
    KafkaPublisher, ProducerConfig, PublishError, Publisher, publish::QUEUE_MAX_MESSAGES,
};
use rdkafka::{
    ClientConfig, Message,
    consumer::{BaseConsumer, Consumer},
    mocking::MockCluster,
};
use user_record::UserRecord;

fn records(n: usize) -> Vec<UserRecord> {
    let path = format!(
        "{}/tests/fixtures/randomuser-mixed-nat.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let page: serde_json::Value = serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap();
    let users = page["results"].as_array().unwrap();
    (0..n)
        .map(|i| producer::mapping::to_record(i, &users[i % users.len()]).unwrap())
        .collect()
}

/// Up to `count` (key, value) pairs of `users_created` from the beginning, within 20 s.
fn consume(brokers: &str, count: usize) -> Vec<(Vec<u8>, Vec<u8>)> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "check")
        .set("auto.offset.reset", "earliest")
        .create()
        .unwrap();
    consumer.subscribe(&["users_created"]).unwrap();
    let mut received = Vec::new();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while received.len() < count && std::time::Instant::now() < deadline {
        if let Some(Ok(message)) = consumer.poll(Duration::from_millis(200)) {
            let key = message.key().unwrap().to_vec();
            received.push((key, message.payload().unwrap().to_vec()));
        }
    }
    received
}

fn publisher(brokers: &str, timeout_ms: &'static str) -> KafkaPublisher {
    let env = [
        ("KAFKA_BROKERS", brokers),
        ("KAFKA_MESSAGE_TIMEOUT_MS", timeout_ms),
    ];
    KafkaPublisher::new(
        &ProducerConfig::from_source(&env).unwrap(),
        &KafkaClient::plaintext(brokers),
    )
    .unwrap()
}

#[tokio::test]
async fn every_record_is_delivered_keyed_by_its_id_as_contract_json() {
    // given a mock cluster with the topic
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("users_created", 3, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let sent = records(50);

    // when
    let delivered = publisher(&brokers, "10000")
        .publish(&sent, &Default::default())
        .await
        .unwrap();

    // then
    assert_eq!(delivered, 50);
    let mut received = Vec::new();
    for (key, payload) in consume(&brokers, 50) {
        let key = String::from_utf8(key).unwrap();
        let record = UserRecord::from_json_owned(&payload).unwrap();
        assert_eq!(key, record.key());
        received.push(record);
    }
    received.sort_by_key(|r| r.id);
    let mut expected = sent.clone();
    expected.sort_by_key(|r| r.id);
    assert_eq!(received, expected);
}

#[tokio::test]
async fn a_dead_broker_fails_the_run_within_the_message_timeout_reporting_nothing_delivered() {
    // given a cluster whose only broker is down
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("users_created", 1, 1).unwrap();
    cluster.broker_down(1).unwrap();
    let publisher = publisher(&cluster.bootstrap_servers(), "1500");

    // when
    let started = std::time::Instant::now();
    let error = publisher
        .publish(&records(5), &Default::default())
        .await
        .unwrap_err();

    // then
    assert!(
        started.elapsed() < Duration::from_secs(10),
        "{:?}",
        started.elapsed()
    );
    match &error {
        PublishError::Delivery {
            attempted,
            delivered,
            failed,
            topic,
            ..
        } => {
            assert_eq!((*attempted, *delivered, *failed), (5, 0, 5));
            assert_eq!(topic, "users_created");
        }
        other => panic!("expected a delivery error, got {other}"),
    }
    assert!(
        error
            .to_string()
            .contains("5 of 5 record(s) were not delivered to topic users_created"),
        "{error}"
    );
}

#[tokio::test]
async fn more_records_than_the_client_queue_holds_wait_for_room_and_are_all_delivered() {
    // given a mock cluster and more records than librdkafka's queue may hold at once
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("users_created", 3, 1).unwrap();
    let count = QUEUE_MAX_MESSAGES + 500;
    let acknowledged = AtomicUsize::new(0);

    // when they are handed over together (the last 500 find the queue full)
    let delivered = publisher(&cluster.bootstrap_servers(), "30000")
        .publish(&records(count), &acknowledged)
        .await
        .unwrap();

    // then every one waited for room and was delivered, none dropped
    assert_eq!(delivered, count);
    assert_eq!(acknowledged.load(Ordering::Relaxed), count);
}

#[tokio::test]
async fn with_avro_every_value_is_the_record_in_the_confluent_wire_format() {
    // given a mock cluster and a publisher writing Avro with schema id 7
    let cluster = MockCluster::new(1).unwrap();
    cluster.create_topic("users_created", 1, 1).unwrap();
    let brokers = cluster.bootstrap_servers();
    let sent = records(5);
    let publisher = publisher(&brokers, "10000")
        .with_encoding(producer::ValueEncoding::ConfluentAvro { schema_id: 7 });

    // when
    let delivered = publisher.publish(&sent, &Default::default()).await.unwrap();

    // then each value is a zero byte, the id 7, and the record's Avro datum
    assert_eq!(delivered, 5);
    let mut received = Vec::new();
    for (_, payload) in consume(&brokers, 5) {
        let (id, datum) =
            user_record::avro::confluent_unframe(&payload).expect("the Confluent wire format");
        assert_eq!(id, 7);
        received.push(UserRecord::from_avro(user_record::avro::schema(), datum).unwrap());
    }
    assert_eq!(received, sent, "field for field, in order");
}
