//! `replay`: reads `users_created` from a start to its current end and hands the records to the
//! sink's code, writing the lake directly. The lake's settings (`LAKE_*`, `OUTPUT_FORMATS`, ...)
//! and Kafka's (`KAFKA_BROKERS`, `KAFKA_SECURITY`, ...) come from the same environment as the
//! functions'. It prints one JSON summary on stdout.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use kafka_client::{KafkaClient, KafkaSettings, Start, TopicReader};
use lake::{ObjectStore, OutputFormat, S3Store};
use lambda_kit::{Classified, error_chain, settings::ProcessEnv};
use msk_event::{EventSource, MAX_PAYLOAD_BYTES};
use replay::{Cuts, ReplayError, Replayer};
use sink::{Sink, SinkConfig};

/// Replay the topic into the lake through the sink's code.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where to start in every partition: `beginning`, an offset, or an RFC 3339 time.
    #[arg(long, default_value = "beginning")]
    from: Start,
    /// Topic to replay.
    #[arg(long, env = "KAFKA_TOPIC", default_value = user_record::DEFAULT_TOPIC)]
    topic: String,
    /// Replay only this partition (repeatable); default: all.
    #[arg(long = "partition")]
    partitions: Vec<i32>,
    /// Most records per sink invocation (the event source mapping's BatchSize).
    #[arg(long, default_value_t = 500)]
    batch_size: usize,
    /// Most bytes of event JSON per sink invocation (Lambda's 6 MB payload limit).
    #[arg(long, default_value_t = MAX_PAYLOAD_BYTES)]
    max_event_bytes: usize,
    /// The end is reached once every partition's starting high watermark was read and nothing
    /// arrived for this long.
    #[arg(long, default_value = "3s", value_parser = humantime::parse_duration)]
    idle: Duration,
    /// Do not align batches with the lake's existing objects (writes new keys beside them).
    #[arg(long)]
    no_align: bool,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
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

async fn run(args: Args) -> Result<serde_json::Value, ReplayError> {
    let config = SinkConfig::from_source(&ProcessEnv)?;
    let kafka = KafkaSettings::from_source(&ProcessEnv)?;
    let client = KafkaClient::resolve(&kafka).await?;
    let shared = aws_config::load_from_env().await;
    let lake = S3Store::new(config.lake.s3_client_from(&shared), &config.lake.bucket);
    let layout = &config.lake.layout;
    let cuts = if args.no_align {
        Cuts::default()
    } else {
        let root = layout.root(OutputFormat::Parquet);
        let listed = lake.list(&root).await?;
        Cuts::from_keys(layout, listed.iter().map(|o| o.key.as_str()))
    };
    tracing::debug!(objects = cuts.len(), "aligning with the lake's objects");
    let region = shared
        .region()
        .map_or("us-east-1".to_string(), ToString::to_string);
    let mut replayer = Replayer::new(
        Sink::new(lake, &config),
        cuts,
        args.batch_size,
        args.max_event_bytes,
        EventSource::local(&region, client.brokers()),
    );
    let mut reader = TopicReader::connect(
        &client,
        "user-lake-replay",
        &args.topic,
        args.from,
        &args.partitions,
        args.idle,
    )?;
    while let Some(record) = reader.next().await? {
        replayer.offer(record).await?;
    }
    let summary = replayer.finish().await?;
    Ok(serde_json::to_value(&summary).unwrap_or_default())
}
