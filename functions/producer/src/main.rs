//! Wires the producer: tracing, settings (fail fast), long-lived clients, then the runtime.

use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use producer::{
    KafkaAuth, KafkaPublisher, Producer, ProducerConfig, RandomUserApi, ScheduledEvent, handle,
};
use user_record::settings::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = ProducerConfig::from_source(&ProcessEnv)?;
    let auth = KafkaAuth::resolve(&config.kafka_security).await?;
    let producer = Producer {
        source: RandomUserApi::new(&config)?,
        publisher: KafkaPublisher::new(&config, &auth)?,
        users_per_run: config.users_per_run,
        metrics: producer::metrics::from_env()?,
    };
    let producer = &producer;
    lambda_runtime::run(service_fn(move |event: LambdaEvent<ScheduledEvent>| async move {
        handle(&event.payload, producer).await
    }))
    .await
}
