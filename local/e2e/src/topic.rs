//! Reading and writing the topic directly, independently of the pipeline.

use std::time::{Duration, Instant};

use rdkafka::{
    ClientConfig, Message, Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
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

/// Every message of every partition, from the beginning until none has arrived for 3 s.
///
/// The end is found by reading rather than from the high watermarks: against tansu 0.6 the
/// watermarks were seen to add up to less than what the topic held (773 of 900 messages).
pub fn read_all(brokers: &str, topic: &str, partitions: i32) -> Vec<TopicMessage> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", brokers)
        .set("group.id", "e2e-reader")
        .set("enable.auto.commit", "false")
        .create()
        .unwrap();
    let mut assignment = TopicPartitionList::new();
    for partition in 0..partitions {
        assignment
            .add_partition_offset(topic, partition, Offset::Beginning)
            .unwrap();
    }
    consumer.assign(&assignment).unwrap();
    let mut messages = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut last_seen = Instant::now();
    while last_seen.elapsed() < Duration::from_secs(3) && Instant::now() < deadline {
        if let Some(Ok(m)) = consumer.poll(Duration::from_millis(200)) {
            last_seen = Instant::now();
            messages.push(TopicMessage {
                partition: m.partition(),
                offset: m.offset(),
                timestamp_ms: m.timestamp().to_millis().unwrap_or(-1),
                key: m.key().map(<[u8]>::to_vec),
                value: m.payload().map(<[u8]>::to_vec),
            });
        }
    }
    messages
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
