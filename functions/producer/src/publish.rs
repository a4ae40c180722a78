//! Producing records to Kafka: the `Publisher` boundary and its rdkafka implementation.
//! Every delivery is awaited, so a run reports as produced only what the broker acknowledged.
//! The run hands the publisher one chunk of records at a time; librdkafka's own queue is bounded
//! too ([`QUEUE_MAX_MESSAGES`], [`QUEUE_MAX_KBYTES`]), and a record that finds it full waits
//! for deliveries to make room, never dropped.

use std::{
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use futures::future::join_all;
use rdkafka::{
    ClientConfig,
    error::KafkaError,
    producer::{FutureProducer, FutureRecord},
    util::Timeout,
};
use schema_registry::{ConfluentRegistry, RegistryError};
use user_record::{UserRecord, avro::confluent_frame, schemas};

use kafka_client::{KafkaClient, KafkaClientContext};

use crate::config::{ProducerConfig, USERS_PER_CHUNK, ValueFormat};

/// Why records were not all delivered.
#[derive(Debug, thiserror::Error)]
pub enum PublishError {
    /// The Kafka client could not be created from the settings.
    #[error("cannot create the Kafka producer for {brokers}: {source}")]
    Client {
        brokers: String,
        #[source]
        source: Box<KafkaError>,
    },
    /// At least one record was not acknowledged by the broker in time.
    #[error(
        "{failed} of {attempted} record(s) were not delivered to topic {topic} \
         (first failure: key {first_key}: {source}); {delivered} were delivered"
    )]
    Delivery {
        topic: String,
        attempted: usize,
        delivered: usize,
        failed: usize,
        first_key: String,
        #[source]
        source: Box<KafkaError>,
    },
}

/// What the producer asks of Kafka.
pub trait Publisher {
    /// Produces every record, keyed by its id, and waits for each acknowledgement, counting
    /// each in `acknowledged` as it comes (so that a caller that stops waiting knows how many
    /// arrived). Returns how many were delivered; any failure is an error that says how many
    /// were.
    fn publish(
        &self,
        records: &[UserRecord],
        acknowledged: &AtomicUsize,
    ) -> impl Future<Output = Result<usize, PublishError>> + Send;
    /// The topic records go to.
    fn topic(&self) -> &str;
}

/// The real publisher: one rdkafka producer, idempotent, acks from all in-sync replicas.
///
/// After a run that was not fully delivered the producer is built anew for the next run: an
/// idempotent producer keeps its producer id and sequence numbers, which a broker that lost
/// them (restarted, or failed over) rejects for every later record, so a warm function would
/// otherwise fail every run until its process is replaced.
/// How a record becomes a message value.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ValueEncoding {
    /// The record as JSON, the topic's contract.
    Json,
    /// The record as an Avro datum of the users' schema, in the Confluent wire format with the
    /// id the registry gave that schema.
    ConfluentAvro { schema_id: u32 },
}

impl ValueEncoding {
    /// The encoding `format` asks for. For Avro the users' schema is registered under the
    /// topic's value subject (`<topic>-value`, Confluent's default naming), as a Confluent
    /// serializer does, and its id kept for the function's life.
    pub async fn for_format(format: &ValueFormat, topic: &str) -> Result<Self, RegistryError> {
        match format {
            ValueFormat::Json => Ok(ValueEncoding::Json),
            ValueFormat::Avro { registry } => {
                let client = reqwest::Client::builder()
                    .timeout(Duration::from_secs(10))
                    .build()
                    .expect("a client with a time-out builds");
                let registry = ConfluentRegistry::new(client, registry.clone());
                let subject = format!("{topic}-value");
                let schema_id = registry.register(&subject, schemas::AVRO).await?;
                Ok(ValueEncoding::ConfluentAvro { schema_id })
            }
        }
    }

    /// The message value of `record`.
    pub fn encode(self, record: &UserRecord) -> Vec<u8> {
        match self {
            ValueEncoding::Json => record.to_json(),
            ValueEncoding::ConfluentAvro { schema_id } => {
                confluent_frame(schema_id, &record.to_avro())
            }
        }
    }
}

pub struct KafkaPublisher {
    producer: std::sync::Mutex<FutureProducer<KafkaClientContext>>,
    encoding: ValueEncoding,
    client: ClientConfig,
    context: KafkaClientContext,
    brokers: String,
    topic: String,
    queue_timeout: Duration,
}

impl KafkaPublisher {
    /// Builds the client once per cold start, authenticating as `kafka` says.
    pub fn new(config: &ProducerConfig, kafka: &KafkaClient) -> Result<Self, PublishError> {
        let client = client_config(config, kafka);
        let context = kafka.context();
        let producer = create(&client, &context, kafka.brokers())?;
        Ok(Self {
            producer: std::sync::Mutex::new(producer),
            encoding: ValueEncoding::Json,
            client,
            context,
            brokers: kafka.brokers().to_owned(),
            topic: config.kafka_topic.clone(),
            queue_timeout: config.kafka_message_timeout,
        })
    }

    /// The publisher writing values with `encoding` (JSON unless told otherwise).
    pub fn with_encoding(mut self, encoding: ValueEncoding) -> Self {
        self.encoding = encoding;
        self
    }

    fn current(&self) -> FutureProducer<KafkaClientContext> {
        self.producer
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Replaces the producer with a new one (a new producer id), keeping the old one if the
    /// new one cannot be built.
    fn renew(&self) {
        match create(&self.client, &self.context, &self.brokers) {
            Ok(fresh) => {
                *self
                    .producer
                    .lock()
                    .unwrap_or_else(std::sync::PoisonError::into_inner) = fresh;
                tracing::warn!("a run was not fully delivered; the Kafka producer was built anew");
            }
            Err(error) => tracing::error!(%error, "cannot build a new Kafka producer"),
        }
    }
}

/// The most messages librdkafka's queue holds, sent or not yet acknowledged (its default is
/// 100,000): ten chunks of a run, so a run never fills it.
pub const QUEUE_MAX_MESSAGES: usize = 10 * USERS_PER_CHUNK;
/// The most KiB of messages librdkafka's queue holds (its default is 1 GiB): 16 MiB, well over
/// [`QUEUE_MAX_MESSAGES`] records of the topic's size, and a small share of the function's
/// memory whoever fills it.
pub const QUEUE_MAX_KBYTES: usize = 16 * 1024;

/// The producer's client settings (every write acknowledged by all replicas, idempotent,
/// compressed, lingering 5 ms, a bounded queue): also what the bench's bare-rdkafka figure
/// sends with.
pub fn client_config(config: &ProducerConfig, kafka: &KafkaClient) -> ClientConfig {
    let mut client = kafka.client_config("user-lake-producer");
    client
        .set("acks", "all")
        .set("enable.idempotence", "true")
        .set("compression.type", &config.kafka_compression)
        .set("linger.ms", "5")
        .set(
            "queue.buffering.max.messages",
            QUEUE_MAX_MESSAGES.to_string(),
        )
        .set("queue.buffering.max.kbytes", QUEUE_MAX_KBYTES.to_string())
        .set(
            "message.timeout.ms",
            config.kafka_message_timeout.as_millis().to_string(),
        );
    client
}

fn create(
    client: &ClientConfig,
    context: &KafkaClientContext,
    brokers: &str,
) -> Result<FutureProducer<KafkaClientContext>, PublishError> {
    client
        .create_with_context(context.clone())
        .map_err(|source| PublishError::Client {
            brokers: brokers.to_owned(),
            source: Box::new(source),
        })
}

impl Publisher for KafkaPublisher {
    async fn publish(
        &self,
        records: &[UserRecord],
        acknowledged: &AtomicUsize,
    ) -> Result<usize, PublishError> {
        let producer = self.current();
        let producer = &producer;
        let sends = records.iter().map(|record| async move {
            let key = record.key();
            let payload = self.encoding.encode(record);
            // A full queue is waited on (retried as deliveries free it) up to the message
            // timeout, then reported as this record's failure: never dropped unseen.
            let sent = producer
                .send(
                    FutureRecord::to(&self.topic).key(&key).payload(&payload),
                    Timeout::After(self.queue_timeout),
                )
                .await;
            if sent.is_ok() {
                acknowledged.fetch_add(1, Ordering::Relaxed);
            }
            sent.map(|_| ()).map_err(|(error, _)| (key, error))
        });
        let outcomes = join_all(sends).await;
        let delivered = outcomes.iter().filter(|o| o.is_ok()).count();
        let failed = outcomes.len() - delivered;
        match outcomes.into_iter().find_map(Result::err) {
            None => Ok(delivered),
            Some((first_key, source)) => {
                self.renew();
                Err(PublishError::Delivery {
                    topic: self.topic.clone(),
                    attempted: records.len(),
                    delivered,
                    failed,
                    first_key,
                    source: Box::new(source),
                })
            }
        }
    }

    fn topic(&self) -> &str {
        &self.topic
    }
}
