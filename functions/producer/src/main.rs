//! Wires the producer: tracing, settings (fail fast), long-lived clients, then the runtime.

use kafka_client::KafkaClient;
use std::time::SystemTime;

use lambda_kit::{deadline::time_left, settings::ProcessEnv};
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use producer::{
    KafkaPublisher, Producer, ProducerConfig, RandomUserApi, ScheduledEvent, ValueEncoding,
    handle_until,
};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = ProducerConfig::from_source(&ProcessEnv)?;
    let kafka = KafkaClient::resolve(&config.kafka).await?;
    let encoding = ValueEncoding::for_format(&config.value_format, &config.kafka_topic).await?;
    let producer = Producer {
        source: RandomUserApi::new(&config)?,
        publisher: KafkaPublisher::new(&config, &kafka)?.with_encoding(encoding),
        users_per_run: config.users_per_run,
        metrics: producer::metrics::from_env()?,
    };
    let producer = &producer;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<ScheduledEvent>| async move {
            // The work stops short of the invocation's deadline, so that its summary is printed.
            let left = time_left(event.context.deadline(), SystemTime::now());
            let deadline = left.map(|left| tokio::time::Instant::now() + left);
            handle_until(&event.payload, producer, deadline).await
        },
    ))
    .await
}
