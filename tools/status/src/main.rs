//! `status`: the topic's partitions, the sink's committed offsets and lag, the lake's hours, its
//! poison records and the last compaction, for the local stack or a real cluster and bucket
//! (the `KAFKA_*` and lake settings come from the environment, as for the functions). Prints
//! one JSON object per look; `--table` prints a table instead, `--watch 5s` looks again every
//! 5 s until stopped, `--serve` serves the dashboard page and its `/status.json`.

use std::{net::SocketAddr, path::PathBuf, process::ExitCode, time::Duration};

use clap::Parser;
use kafka_client::{KafkaClient, KafkaSettings};
use lake::{LakeConfig, S3Store};
use lambda_kit::{command, settings::ProcessEnv};
use status::{LakeSource, LookCache, Looker, StatusError, serve::serve, table};
use table::{AnyCatalog, Table, TableConfig};

/// Show what the pipeline is doing: the topic's partitions and the sink's lag, what the lake
/// holds of the topic, its poison records, the last compaction.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "\
Environment (as for the functions; docs/configuration.md):
  KAFKA_BROKERS, KAFKA_SECURITY (plaintext|iam|scram), KAFKA_SASL_SECRET_ARN, KAFKA_TOPIC
  LAKE_BUCKET, LAKE_PREFIX, LAKE_FORMAT (iceberg|files), S3_FORCE_PATH_STYLE
  ICEBERG_CATALOG, ICEBERG_DATABASE, ICEBERG_TABLE (LAKE_FORMAT=iceberg)
  AWS_REGION, AWS_ENDPOINT_URL_S3 and the usual AWS credentials; RUST_LOG (default error)

On the local stack `make status` (WATCH=5s to refresh) and `make dashboard` set all of them
from infra/local/local.env.

Exit status: 0; 75 when a retry may succeed (a cluster or store out of reach: the lake is
still printed when only Kafka is); 1 when it fails the same way until something changes (an
unknown topic, a missing setting). Errors are one JSON object on stderr."
)]
struct Args {
    /// Topic the sink reads; the lake's counts are of this topic too.
    #[arg(long, env = "KAFKA_TOPIC", default_value = user_record::DEFAULT_TOPIC)]
    topic: String,
    /// The sink's consumer group (the template's SinkConsumerGroupId).
    #[arg(long, default_value = "user-lake-sink")]
    group: String,
    /// Print a table for people instead of JSON.
    #[arg(long)]
    table: bool,
    /// Print one JSON object per look (the default; the object /status.json serves).
    #[arg(long, conflicts_with = "table")]
    json: bool,
    /// Look again at this interval (e.g. 5s) until stopped; with --serve, how often the
    /// dashboard's status is taken (default 2s).
    #[arg(long, value_parser = humantime::parse_duration)]
    watch: Option<Duration>,
    /// Serve the dashboard page and /status.json on this address (127.0.0.1:8070 when none is
    /// given) until stopped.
    #[arg(long, value_name = "ADDR", num_args = 0..=1, default_missing_value = "127.0.0.1:8070")]
    serve: Option<SocketAddr>,
    /// The local stack's functions log, for the functions' last invocations (make dashboard
    /// gives target/local-stack/logs/functions.log).
    #[arg(long, value_name = "PATH")]
    functions_log: Option<PathBuf>,
    /// Longest wait for each request to the cluster.
    #[arg(long, default_value = "10s", value_parser = humantime::parse_duration)]
    kafka_timeout: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    command::init_logging("error");
    let args = Args::parse();
    let looker = match connect(&args).await {
        Ok(looker) => looker,
        Err(error) => return failed(&error),
    };
    if let Some(addr) = args.serve {
        let every = args.watch.unwrap_or(Duration::from_secs(2));
        return match serve(looker, addr, every).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => failed(&error),
        };
    }
    loop {
        let outcome = match looker.look().await {
            Ok(look) => {
                if args.table && !args.json {
                    if args.watch.is_some() {
                        // Clear the terminal so that each look replaces the last.
                        print!("\x1b[2J\x1b[H");
                    }
                    print!("{}", table(&look.status));
                } else {
                    println!(
                        "{}",
                        serde_json::to_string(&look.status).unwrap_or_default()
                    );
                }
                look.kafka_error
            }
            Err(error) => Some(error),
        };
        let Some(every) = args.watch else {
            return outcome.map_or(ExitCode::SUCCESS, |error| failed(&error));
        };
        if let Some(error) = outcome {
            report(&error);
        }
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
            () = tokio::time::sleep(every) => {}
        }
    }
}

async fn connect(args: &Args) -> Result<Looker<S3Store, AnyCatalog>, StatusError> {
    let kafka = KafkaSettings::from_source(&ProcessEnv)?;
    let client = KafkaClient::resolve(&kafka).await?;
    let config = LakeConfig::from_source(&ProcessEnv)?;
    let table = TableConfig::from_source(&ProcessEnv)?;
    let shared = aws_config::load_from_env().await;
    let store = S3Store::new(config.s3_client_from(&shared), &config.bucket);
    let lake = match table {
        Some(table) => {
            let opened = table
                .open(&shared, &config.bucket, config.layout.prefix())
                .await?;
            let store = opened.own_store(&store).unwrap_or(store);
            LakeSource::Table(
                Box::new(Table::new(store, opened.catalog, opened.location)),
                config.layout,
            )
        }
        None => LakeSource::Files(store, config.layout),
    };
    Ok(Looker {
        kafka: client,
        topic: args.topic.clone(),
        group: args.group.clone(),
        kafka_timeout: args.kafka_timeout,
        lake,
        functions_log: args.functions_log.clone(),
        cache: LookCache::default(),
    })
}

/// The error as one JSON object on stderr.
fn report(error: &StatusError) {
    eprintln!("{}", command::failure_json(error));
}

fn failed(error: &StatusError) -> ExitCode {
    command::fail(error)
}
