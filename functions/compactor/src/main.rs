//! Wires the compactor: tracing, settings (fail fast), the S3 client, then the runtime.

use compactor::{CompactRequest, Compactor, CompactorConfig, S3LakeStore, handle};
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};
use user_record::settings::ProcessEnv;

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = CompactorConfig::from_source(&ProcessEnv)?;
    let shared = aws_config::load_from_env().await;
    let s3 = aws_sdk_s3::config::Builder::from(&shared)
        .force_path_style(config.lake.s3_force_path_style)
        .build();
    let store = S3LakeStore::new(
        aws_sdk_s3::Client::from_conf(s3),
        config.lake.lake_bucket.clone(),
    );
    let compactor = &Compactor::new(store, &config);
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CompactRequest>| async move {
            let now = event.payload.detail.now.unwrap_or_else(chrono::Utc::now);
            handle(compactor, now).await
        },
    ))
    .await
}
