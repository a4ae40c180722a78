//! `export`: every user of the lake, once, into `users_data.json` (JSON Lines),
//! `users_data.csv` and `users_data.parquet`, read through S3 with the lake's settings from the
//! environment (`LAKE_BUCKET`, `LAKE_PREFIX`, `AWS_ENDPOINT_URL_S3`, ...). Prints one JSON
//! summary, or `{"errorType": ..., "error": ...}` and a non-zero exit.

use std::{path::PathBuf, process::ExitCode};

use chrono::{DateTime, Utc};
use clap::Parser;
use export::{ExportError, Selection, export};
use lake::{LakeConfig, S3Store};
use lambda_kit::{Classified, error_chain, settings::ProcessEnv};

/// Export the lake's users to the original pipeline's files.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Directory the files are written to.
    #[arg(long, default_value = "output")]
    out: PathBuf,
    /// Only users whose Kafka timestamp is at or after this RFC 3339 time.
    #[arg(long)]
    from: Option<DateTime<Utc>>,
    /// Only users whose Kafka timestamp is before this RFC 3339 time.
    #[arg(long)]
    to: Option<DateTime<Utc>>,
    /// Topic whose users are exported.
    #[arg(long, env = "KAFKA_TOPIC", default_value = user_record::DEFAULT_TOPIC)]
    topic: String,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    match run(Args::parse()).await {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            let failure = serde_json::json!({
                "errorType": error.error_type(),
                "error": error_chain(&error),
            });
            println!("{failure}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: Args) -> Result<serde_json::Value, ExportError> {
    let config = LakeConfig::from_source(&ProcessEnv)?;
    let store = S3Store::new(config.s3_client().await, &config.bucket);
    let selection = Selection {
        topic: args.topic,
        from: args.from,
        to: args.to,
    };
    let properties = lake::writer::writer_properties(
        config.compression,
        concat!("user-lake export ", env!("CARGO_PKG_VERSION")),
    );
    let summary = export(&store, &config.layout, &selection, &args.out, &properties).await?;
    Ok(serde_json::to_value(&summary).unwrap_or_default())
}
