//! Reading and writing the topic directly, independently of the pipeline.

use std::time::Duration;

use kafka_client::{KafkaClient, Start, TopicReader};
use rdkafka::{
    ClientConfig,
    producer::{BaseRecord, DefaultProducerContext, Producer, ThreadedProducer},
};

/// One message as the broker holds it.
#[derive(Debug, Clone)]
pub struct TopicMessage {
    pub partition: i32,
    pub offset: i64,
    pub timestamp_ms: i64,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
}

/// Every message of every partition, from the beginning to the topic's current end, as the
/// replay finds it (the watermarks each partition had at the start, then 3 s with nothing new).
pub fn read_all(brokers: &str, topic: &str) -> Vec<TopicMessage> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let client = KafkaClient::plaintext(brokers);
    let records = runtime.block_on(async {
        let mut reader = TopicReader::connect(
            &client,
            "e2e-reader",
            topic,
            Start::Beginning,
            &[],
            Duration::from_secs(3),
        )
        .unwrap();
        reader.read_to_end().await.unwrap()
    });
    records
        .into_iter()
        .map(|r| TopicMessage {
            partition: r.partition,
            offset: r.offset,
            timestamp_ms: r.timestamp.millis(),
            key: r.key,
            value: r.value,
        })
        .collect()
}

/// The messages that are users (poison ones go to `_errors/`), by (partition, offset), with
/// their Kafka timestamps.
pub fn good_messages(
    messages: &[TopicMessage],
) -> std::collections::BTreeMap<(i32, i64), (user_record::UserRecord, i64)> {
    messages
        .iter()
        .filter_map(|m| {
            let record = user_record::UserRecord::from_json_owned(m.value.as_deref()?).ok()?;
            Some(((m.partition, m.offset), (record, m.timestamp_ms)))
        })
        .collect()
}

/// Writes raw messages to one partition and waits for every acknowledgement.
pub fn write_raw(
    brokers: &str,
    topic: &str,
    partition: i32,
    messages: &[(Option<&str>, Option<&[u8]>)],
) {
    let producer: ThreadedProducer<DefaultProducerContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("acks", "all")
        .create()
        .unwrap();
    for (key, value) in messages {
        let mut record: BaseRecord<'_, str, [u8]> = BaseRecord::to(topic).partition(partition);
        if let Some(key) = key {
            record = record.key(key);
        }
        if let Some(value) = value {
            record = record.payload(value);
        }
        producer.send(record).map_err(|(e, _)| e).unwrap();
    }
    producer.flush(Duration::from_secs(30)).unwrap();
}

/// Creates `topic` with `partitions` partitions (one replica), as `stack.sh up` creates the
/// stack's own topic.
pub fn create(brokers: &str, topic: &str, partitions: i32) {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .create()
        .unwrap();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = runtime
        .block_on(admin.create_topics([&new], &AdminOptions::new()))
        .unwrap();
    for result in results {
        result.unwrap_or_else(|(name, code)| panic!("cannot create topic {name}: {code}"));
    }
}
