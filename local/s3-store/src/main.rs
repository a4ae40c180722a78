//! `s3-store`: serves a directory as an S3-protocol endpoint for the local stack (see the
//! library for what it answers differently from s3s-fs).

use std::path::PathBuf;

use clap::Parser;
use s3_store::{Credentials, Store, serve};
use tokio::net::TcpListener;

/// Serve a directory of buckets over the S3 protocol.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1")]
    host: String,
    /// Port to listen on.
    #[arg(long, default_value_t = 4566)]
    port: u16,
    /// Access key every request must be signed with.
    #[arg(long, env = "AWS_ACCESS_KEY_ID", requires = "secret_key")]
    access_key: Option<String>,
    /// Secret key every request must be signed with.
    #[arg(long, env = "AWS_SECRET_ACCESS_KEY", requires = "access_key")]
    secret_key: Option<String>,
    /// Directory holding one directory per bucket.
    root: PathBuf,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let credentials = match (args.access_key, args.secret_key) {
        (Some(access_key), Some(secret_key)) => Some(Credentials {
            access_key,
            secret_key,
        }),
        _ => None,
    };
    let listener = TcpListener::bind((args.host.as_str(), args.port)).await?;
    let address = listener.local_addr()?;
    let store = Store::new(&args.root)?;
    // One machine-readable line for whoever started it.
    println!(
        "{}",
        serde_json::json!({"event": "listening", "address": address.to_string(), "root": args.root})
    );
    let shutdown = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    serve(listener, store, credentials, shutdown).await
}
