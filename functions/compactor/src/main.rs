//! Wires the compactor: tracing, settings (fail fast), the S3 client, then the runtime.

use compactor::{CompactRequest, Compactor, CompactorConfig, Run, handle};
use lake::S3Store;
use lambda_kit::settings::ProcessEnv;
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = CompactorConfig::from_source(&ProcessEnv)?;
    let store = S3Store::new(config.lake.s3_client().await, &config.lake.bucket);
    let compactor = &Compactor::new(store, &config);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CompactRequest>| async move {
            let started = chrono::Utc::now();
            let run = Run {
                id: event.context.request_id.clone(),
                now: event.payload.detail.now.unwrap_or(started),
                started,
                deadline: chrono::DateTime::from(event.context.deadline()),
            };
            handle(compactor, &run).await
        },
    ))
    .await
}
