//! Wires the sink: tracing, settings (fail fast), the S3 client, then the runtime.

use lake::S3Store;
use lambda_kit::settings::ProcessEnv;
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use serde_json::value::RawValue;
use sink::{Sink, SinkConfig, handle_json};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = SinkConfig::from_source(&ProcessEnv)?;
    let store = S3Store::new(config.lake.s3_client().await, &config.lake.bucket);
    let sink = &Sink::new(store, &config);
    // The payload stays JSON text so that the sink reads the event's entries in place.
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            handle_json(event.payload.get(), sink, chrono::Utc::now()).await
        },
    ))
    .await
}
