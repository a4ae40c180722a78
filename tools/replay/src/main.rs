//! `replay`: reads `users_created` from a start to its current end and hands the records to the
//! sink's code, writing the lake directly. The lake's settings (`LAKE_*`, `OUTPUT_FORMATS`, ...)
//! and Kafka's (`KAFKA_BROKERS`, `KAFKA_SECURITY`, ...) come from the same environment as the
//! functions'. It prints one JSON summary on stdout (`"complete": false` and exit status 75
//! when the read stopped short of the topic's end), errors as JSON on stderr.
//!
//! With `--failed-batch s3://bucket/key` it stores instead the batch of a failure record that
//! the sink's trigger wrote to its on-failure destination, with no Kafka needed.
//!
//! When the lake is the Iceberg table (`LAKE_FORMAT=iceberg`, the default) it opens the table's
//! catalog (`ICEBERG_*`) as the sink function does, and every batch is one exactly-once commit.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use kafka_client::{KafkaClient, KafkaSettings, Start, TopicReader};
use lake::{LakeStore, OutputFormat, S3Store};
use lambda_kit::{Retry, command, emf::Metrics, settings::ProcessEnv};
use msk_event::{EventSource, MAX_PAYLOAD_BYTES};
use replay::{Cuts, ReplayError, Replayer, failed};
use sink::{Sink, SinkConfig};

/// Replay the topic into the lake through the sink's code.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "\
Environment (as for the sink; docs/configuration.md):
  KAFKA_BROKERS, KAFKA_SECURITY (plaintext|iam|scram), KAFKA_SASL_SECRET_ARN, KAFKA_TOPIC
  LAKE_BUCKET, LAKE_PREFIX, LAKE_FORMAT (iceberg|files), OUTPUT_FORMATS, PARQUET_COMPRESSION
  ICEBERG_CATALOG, ICEBERG_DATABASE, ICEBERG_TABLE (LAKE_FORMAT=iceberg)
  SCHEMA_REGISTRY_URI, SCHEMA_REGISTRY_SECRET_ARN (values in a registry's wire format)
  AWS_REGION, AWS_ENDPOINT_URL_S3 and the usual AWS credentials; RUST_LOG (default info)

On the local stack: set -a; . infra/local/local.env; set +a (docs/functions.md).

Exit status: 0; 75 when a retry may succeed (a broker, store or catalog out of reach, or the
read stopped short of the topic's end: \"complete\": false); 1 when it fails the same way until
something changes. Errors are one JSON object on stderr."
)]
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
    /// Plain-files layout only: the table needs no alignment.
    #[arg(long)]
    no_align: bool,
    /// Instead of reading the topic, store the batch of this failure record (repeatable):
    /// `s3://<FailedBatchBucket>/<key>`, as the trigger's on-failure destination wrote it.
    #[arg(
        long = "failed-batch",
        value_name = "S3_URL",
        conflicts_with_all = ["from", "partitions"]
    )]
    failed_batches: Vec<String>,
}

#[tokio::main]
async fn main() -> ExitCode {
    command::init_logging("info");
    match run(Args::parse()).await {
        Ok(summary) if summary["complete"] == false => {
            // What was replayed is in the lake; the rest of the topic is not.
            println!("{summary}");
            let failure = serde_json::json!({
                "errorType": "Incomplete.Retryable",
                "error": "the replay stopped short of the topic's end (see short_of_end); run it again from where it stopped",
                "short_of_end": summary["short_of_end"],
            });
            eprintln!("{failure}");
            command::exit_status(Retry::Retryable)
        }
        result => command::finish(result),
    }
}

async fn run(args: Args) -> Result<serde_json::Value, ReplayError> {
    let config = SinkConfig::from_source(&ProcessEnv)?;
    if !args.failed_batches.is_empty() {
        return replay_failed_batches(&config, &args.failed_batches).await;
    }
    let kafka = KafkaSettings::from_source(&ProcessEnv)?;
    let client = KafkaClient::resolve(&kafka).await?;
    let shared = aws_config::load_from_env().await;
    let lake = S3Store::new(config.lake.s3_client_from(&shared), &config.lake.bucket);
    let layout = &config.lake.layout;
    // The table's offset marks keep replayed records from being added twice, however the
    // batches are cut; only plain objects named by their offsets need the cuts.
    let cuts = if args.no_align || config.table.is_some() {
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
    let sink = sink(lake, &config, &shared).await?;
    let mut replayer = Replayer::new(
        sink,
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
    let short: serde_json::Map<String, serde_json::Value> = (reader.shortfall().into_iter())
        .map(|(partition, (reached, end))| {
            let at = serde_json::json!({ "reached": reached, "end": end });
            (partition.to_string(), at)
        })
        .collect();
    let mut summary = serde_json::to_value(&summary).unwrap_or_default();
    summary["complete"] = short.is_empty().into();
    summary["short_of_end"] = short.into();
    Ok(summary)
}

/// Stores the batch of each failure record through the sink's code; one summary of them all.
async fn replay_failed_batches(
    config: &SinkConfig,
    urls: &[String],
) -> Result<serde_json::Value, ReplayError> {
    let shared = aws_config::load_from_env().await;
    let client = config.lake.s3_client_from(&shared);
    let lake = S3Store::new(client.clone(), &config.lake.bucket);
    let sink = sink(lake, config, &shared).await?;
    let mut batches = Vec::new();
    for url in urls {
        let (bucket, key) = failed::s3_url(url).map_err(|problem| {
            ReplayError::Setting(lambda_kit::settings::SettingError::Invalid {
                name: "--failed-batch",
                value: url.clone(),
                reason: problem,
            })
        })?;
        let body = S3Store::new(client.clone(), &bucket).get(&key).await?;
        let batch = failed::failed_batch(&key, &body)?;
        let stored = sink::handle_json(&batch.event, &sink, chrono::Utc::now())
            .await
            .map_err(|source| ReplayError::FailedBatch {
                key: key.clone(),
                source: Box::new(source),
            })?;
        batches.push(serde_json::json!({
            "failed_batch": url,
            "condition": batch.condition,
            "records": stored.records,
            "written": stored.written,
            "rejected": stored.rejected,
            "objects": stored.objects.len(),
            "duplicates": stored.duplicates,
            "rewound": stored.rewound,
            "snapshot_id": stored.snapshot_id,
        }));
    }
    let total = |field: &str| -> u64 { batches.iter().filter_map(|b| b[field].as_u64()).sum() };
    Ok(serde_json::json!({
        "failed_batches": batches.len(),
        "records": total("records"),
        "written": total("written"),
        "rejected": total("rejected"),
        "duplicates": total("duplicates"),
        "rewound": total("rewound"),
        "batches": batches,
    }))
}

/// The sink as the function builds it (with the table's catalog opened when the lake is the
/// table), its per-batch metric lines on stderr: stdout holds the replay's one summary.
async fn sink(
    lake: S3Store,
    config: &SinkConfig,
    shared: &aws_config::SdkConfig,
) -> Result<Sink<S3Store>, ReplayError> {
    let mut sink = Sink::new(lake, config);
    sink.metrics = Metrics::stderr(sink.metrics.config().clone());
    // Values in a registry's wire format are read with their writer's schema, as the sink
    // reads them behind a trigger in SOURCE format.
    if let Some(registry) = config.registry_client(shared).await? {
        sink = sink.with_schemas(registry);
    }
    if let Some(table) = &config.table {
        let opened = table
            .open(shared, &config.lake.bucket, config.lake.layout.prefix())
            .await?;
        tracing::debug!(
            catalog = %table::Catalog::describe(&opened.catalog),
            table = %opened.location.uri(),
            "replaying into the table"
        );
        let store = opened.own_store(&sink.store);
        sink = sink.with_table(opened, store);
    }
    Ok(sink)
}
