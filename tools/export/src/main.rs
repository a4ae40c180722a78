//! `export`: every user of the lake, once, into the original pipeline's `users_data.json` (a
//! JSON array; `--json lines` for JSON Lines), `users_data.csv` and `users_spark_data.parquet`
//! (also as `users_data.parquet`), read through S3 with the lake's settings from the
//! environment (`LAKE_BUCKET`, `LAKE_PREFIX`, `AWS_ENDPOINT_URL_S3`, ...). When the lake is the
//! Iceberg table (`LAKE_FORMAT=iceberg`, the default) it opens the table's catalog (`ICEBERG_*`)
//! and reads the current snapshot, or the one `--snapshot-id` names. Prints one JSON summary,
//! or `{"errorType": ..., "error": ...}` on stderr and exit status 1 (fatal) or 75 (retryable:
//! the store or catalog was out of reach; [`lambda_kit::command`]); a selection that holds no
//! user is a fatal error (`NothingSelected`), and leaves the files of an earlier export as they
//! were.

use std::{path::PathBuf, process::ExitCode};

use chrono::{DateTime, Utc};
use clap::Parser;
use export::{ExportError, FileOptions, JsonForm, Selection, export, export_table};
use lake::{LakeConfig, S3Store};
use lambda_kit::{
    command,
    settings::{ProcessEnv, SettingError},
};
use table::{Table, TableConfig};

/// Export the lake's users to the original pipeline's files.
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "\
Environment (as for the sink; docs/configuration.md):
  LAKE_BUCKET, LAKE_PREFIX, LAKE_FORMAT (iceberg|files), PARQUET_COMPRESSION, KAFKA_TOPIC
  ICEBERG_CATALOG, ICEBERG_DATABASE, ICEBERG_TABLE (LAKE_FORMAT=iceberg)
  AWS_REGION, AWS_ENDPOINT_URL_S3 and the usual AWS credentials; RUST_LOG (default warn)

On the local stack `make export` sets them from infra/local/local.env.

Exit status: 0; 75 when a retry may succeed (the store or catalog out of reach); 1 when it
fails the same way until something changes (no user selected, a missing setting). Errors are
one JSON object on stderr."
)]
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
    /// Read this snapshot of the table instead of the current one (one the table still keeps;
    /// `status` lists the current one, each export's summary the one it read).
    #[arg(long)]
    snapshot_id: Option<i64>,
    /// The form of users_data.json: one JSON array, as the original pipeline wrote it, or JSON
    /// Lines (one user per line).
    #[arg(long, value_enum, default_value_t = JsonForm::Array)]
    json: JsonForm,
}

#[tokio::main]
async fn main() -> ExitCode {
    command::init_logging("warn");
    command::finish(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<serde_json::Value, ExportError> {
    let config = LakeConfig::from_source(&ProcessEnv)?;
    let table = TableConfig::from_source(&ProcessEnv)?;
    if let (None, Some(id)) = (&table, args.snapshot_id) {
        return Err(SettingError::Invalid {
            name: "--snapshot-id",
            value: id.to_string(),
            reason: "snapshots are the Iceberg table's; LAKE_FORMAT=files has none".into(),
        }
        .into());
    }
    let shared = aws_config::load_from_env().await;
    let store = S3Store::new(config.s3_client_from(&shared), &config.bucket);
    let selection = Selection {
        topic: args.topic,
        from: args.from,
        to: args.to,
    };
    let options = FileOptions {
        json: args.json,
        properties: lake::writer::writer_properties(
            config.compression,
            concat!("user-lake export ", env!("CARGO_PKG_VERSION")),
        ),
    };
    let summary = match table {
        Some(table) => {
            let opened = table
                .open(&shared, &config.bucket, config.layout.prefix())
                .await
                .map_err(table::TableError::from)?;
            let store = opened.own_store(&store).unwrap_or(store);
            let table = Table::new(store, opened.catalog, opened.location);
            export_table(&table, args.snapshot_id, &selection, &args.out, &options).await?
        }
        None => export(&store, &config.layout, &selection, &args.out, &options).await?,
    };
    Ok(serde_json::to_value(&summary).unwrap_or_default())
}
