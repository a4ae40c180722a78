//! Wires the sink: tracing, settings (fail fast), the S3 client, then the runtime.

use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use serde_json::value::RawValue;
use sink::{S3Store, Sink, SinkConfig, handle_json};
use user_record::settings::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = SinkConfig::from_source(&ProcessEnv)?;
    // Credentials, region and endpoint (AWS_ENDPOINT_URL_S3 locally) come from the default
    // provider chain; only the addressing style is ours to choose.
    let shared = aws_config::load_from_env().await;
    let s3 = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(config.s3_force_path_style)
        .build();
    let store = S3Store::new(
        aws_sdk_s3::Client::from_conf(s3),
        config.lake_bucket.clone(),
    );
    let sink = &Sink::new(store, &config);
    // The payload stays JSON text so that the sink reads the event's entries in place.
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<Box<RawValue>>| async move {
            handle_json(event.payload.get(), sink, chrono::Utc::now()).await
        },
    ))
    .await
}
