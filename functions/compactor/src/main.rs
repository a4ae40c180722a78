//! Wires the compactor: tracing, settings (fail fast), the S3 client and the table's catalog,
//! then the runtime.

use compactor::{CompactRequest, Compactor, CompactorConfig, Run, handle};
use lake::S3Store;
use std::time::SystemTime;

use lambda_kit::{
    deadline::{LONGEST_TIMEOUT, time_left},
    settings::ProcessEnv,
};
use lambda_runtime::{Error, LambdaEvent, service_fn, tracing};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = CompactorConfig::from_source(&ProcessEnv)?;
    let shared = aws_config::load_from_env().await;
    let store = S3Store::new(config.lake.s3_client_from(&shared), &config.lake.bucket);
    let mut compactor = Compactor::new(store, &config);
    // Only a table the compactor maintains is opened (not one in S3 Tables, which S3 maintains).
    if let (Some(table), Some(_)) = (&config.table, &compactor.table) {
        let opened = table
            .open(&shared, &config.lake.bucket, config.lake.layout.prefix())
            .await?;
        compactor = compactor.with_table(opened);
    }
    let compactor = &compactor;
    lambda_runtime::run(service_fn(
        move |event: LambdaEvent<CompactRequest>| async move {
            let started = chrono::Utc::now();
            // Without a real deadline (a local runtime), the longest a Lambda run can take.
            let left =
                time_left(event.context.deadline(), SystemTime::now()).unwrap_or(LONGEST_TIMEOUT);
            let run = Run {
                id: event.context.request_id.clone(),
                now: event.payload.detail.now.unwrap_or(started),
                started,
                deadline: started
                    + chrono::Duration::from_std(left).unwrap_or(chrono::Duration::minutes(15)),
            };
            handle(compactor, &run).await
        },
    ))
    .await
}
