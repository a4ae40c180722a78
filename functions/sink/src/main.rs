//! Wires the sink: tracing, settings (fail fast), the S3 client and the table's catalog, then
//! the runtime.

use lake::S3Store;
use lambda_kit::settings::ProcessEnv;
use lambda_runtime::{Error, tracing};
use sink::{Sink, SinkConfig, handle_bytes};

#[tokio::main]
async fn main() -> Result<(), Error> {
    tracing::init_default_subscriber();
    let config = SinkConfig::from_source(&ProcessEnv)?;
    let shared = aws_config::load_from_env().await;
    let store = S3Store::new(config.lake.s3_client_from(&shared), &config.lake.bucket);
    let mut sink = Sink::new(store, &config);
    if let Some(registry) = config.registry_client(&shared).await? {
        sink = sink.with_schemas(registry);
    }
    if let Some(table) = &config.table {
        let opened = table
            .open(&shared, &config.lake.bucket, config.lake.layout.prefix())
            .await?;
        let store = opened.own_store(&sink.store);
        sink = sink.with_table(opened, store);
    }
    let sink = &sink;
    // The sink reads the event's entries in place from the body as the Runtime API sent it,
    // so the runtime's own pass over the 6 MB payload is skipped (lambda_kit::raw_body).
    lambda_kit::raw_body::run(move |body, _context| async move {
        handle_bytes(&body, sink, chrono::Utc::now()).await
    })
    .await
}
