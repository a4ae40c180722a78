//! `replay`: reads `users_created` from a start to its current end and feeds the records to the
//! sink's code, writing the lake directly (the sink's settings, from the same environment).

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use compactor::{LakeStore, S3LakeStore};
use emulators::{batcher::MAX_PAYLOAD_BYTES, duration::parse_duration, event::EventSource};
use replay::{Cuts, Replayer, Start, TopicReader};
use sink::{S3Store, Sink, SinkConfig};
use user_record::settings::ProcessEnv;

/// Replay the topic into the lake through the sink's code.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Where to start in every partition: `beginning`, an offset, or an RFC 3339 time.
    #[arg(long, default_value = "beginning")]
    from: Start,
    /// Bootstrap brokers.
    #[arg(long, env = "KAFKA_BROKERS")]
    brokers: String,
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
    #[arg(long, default_value = "3s", value_parser = parse_duration)]
    idle: Duration,
    /// Do not align batches with the lake's existing objects (writes new keys beside them).
    #[arg(long)]
    no_align: bool,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    emulators::init_tracing();
    let args = Args::parse();
    let config = SinkConfig::from_source(&ProcessEnv)?;
    let shared = aws_config::load_from_env().await;
    let s3 = aws_sdk_s3::Client::from_conf(
        aws_sdk_s3::config::Builder::from(&shared)
            .force_path_style(config.s3_force_path_style)
            .build(),
    );
    let cuts = if args.no_align {
        Cuts::default()
    } else {
        let lake = S3LakeStore::new(s3.clone(), config.lake_bucket.clone());
        let listed = lake.list(&format!("{}users/", config.lake_prefix)).await?;
        Cuts::from_keys(listed.iter().map(|o| o.key.as_str()))
    };
    tracing::info!(objects = cuts.len(), "aligning with the lake's objects");
    let sink = Sink::new(S3Store::new(s3, config.lake_bucket.clone()), &config);
    let region = shared
        .region()
        .map_or("us-east-1".to_string(), ToString::to_string);
    let mut replayer = Replayer::new(
        sink,
        cuts,
        args.batch_size,
        args.max_event_bytes,
        EventSource::local(&region, &args.brokers),
    )?;
    let mut reader = TopicReader::connect(
        &args.brokers,
        &args.topic,
        args.from,
        &args.partitions,
        args.idle,
    )?;
    while let Some(record) = reader.next().await? {
        replayer.offer(record).await?;
    }
    let summary = replayer.finish().await.context("replay stopped")?;
    tracing::info!(
        batches = summary.batches,
        records = summary.records,
        written = summary.written,
        rejected = summary.rejected,
        "replay finished"
    );
    println!("{}", serde_json::to_string(&summary)?);
    Ok(())
}
