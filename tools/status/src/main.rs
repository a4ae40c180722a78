//! `status`: the topic's partitions, the sink's committed offsets and lag, the lake's hours, its
//! poison records and the last compaction, for the local stack or a real cluster and bucket
//! (the `KAFKA_*` and lake settings come from the environment, as for the functions). When the
//! lake is the Iceberg table (`LAKE_FORMAT=iceberg`, the default) it opens the table's catalog
//! (`ICEBERG_*`) and reports from the table's metadata: the current snapshot, records, data
//! files and hours, the offset marks and the table's lag behind the topic, the last compaction.
//! Prints one JSON object per look; `--table` prints a table instead, `--watch 5s` looks again
//! every 5 s until stopped.

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use kafka_client::{KafkaClient, KafkaSettings};
use lake::{LakeConfig, Layout, S3Store};
use lambda_kit::{Classified, error_chain, settings::ProcessEnv};
use status::{LakeView, Status, StatusError, kafka_status, lake_status, table, table_status};
use table::{AnyCatalog, Table, TableConfig};

/// Show what the pipeline is doing.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Topic the sink reads.
    #[arg(long, env = "KAFKA_TOPIC", default_value = "users_created")]
    topic: String,
    /// The sink's consumer group (the template's SinkConsumerGroupId).
    #[arg(long, default_value = "user-lake-sink")]
    group: String,
    /// Print a table for people instead of JSON.
    #[arg(long)]
    table: bool,
    /// Look again at this interval (e.g. 5s) until stopped.
    #[arg(long, value_parser = humantime::parse_duration)]
    watch: Option<Duration>,
}

#[tokio::main]
async fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "error".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let (client, lake) = match connect().await {
        Ok(parts) => parts,
        Err(error) => return failed(&error),
    };
    loop {
        match look(&args, &client, &lake).await {
            Ok(status) if args.table => {
                if args.watch.is_some() {
                    // Clear the terminal so that each look replaces the last.
                    print!("\x1b[2J\x1b[H");
                }
                print!("{}", table(&status));
            }
            Ok(status) => println!("{}", serde_json::to_string(&status).unwrap_or_default()),
            Err(error) if args.watch.is_none() => return failed(&error),
            Err(error) => eprintln!("status: {}", error_chain(&error)),
        }
        let Some(every) = args.watch else {
            return ExitCode::SUCCESS;
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => return ExitCode::SUCCESS,
            () = tokio::time::sleep(every) => {}
        }
    }
}

/// The lake as its layout has it: plain objects, or the table with its catalog opened.
enum Lake {
    Files(S3Store, Layout),
    Table(Box<Table<S3Store, AnyCatalog>>, Layout),
}

async fn connect() -> Result<(KafkaClient, Lake), StatusError> {
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
            Lake::Table(
                Box::new(Table::new(store, opened.catalog, opened.location)),
                config.layout,
            )
        }
        None => Lake::Files(store, config.layout),
    };
    Ok((client, lake))
}

async fn look(args: &Args, client: &KafkaClient, lake: &Lake) -> Result<Status, StatusError> {
    let (client, topic, group) = (client.clone(), args.topic.clone(), args.group.clone());
    // librdkafka's calls block; they run beside the lake's listing.
    let kafka = tokio::task::spawn_blocking(move || kafka_status(&client, &topic, &group));
    let lake = match lake {
        Lake::Files(store, layout) => LakeView::Files(lake_status(store, layout).await?),
        Lake::Table(table, layout) => LakeView::Table(table_status(table, layout).await?),
    };
    let kafka = kafka.await.expect("the Kafka look does not panic")?;
    let lake = match lake {
        LakeView::Table(mut table) => {
            table.measure_lag(&kafka);
            LakeView::Table(table)
        }
        files => files,
    };
    Ok(Status {
        at: chrono::Utc::now(),
        kafka,
        lake,
    })
}

fn failed(error: &StatusError) -> ExitCode {
    let failure = serde_json::json!({
        "errorType": error.error_type(),
        "error": error_chain(error),
    });
    eprintln!("{failure}");
    ExitCode::FAILURE
}
