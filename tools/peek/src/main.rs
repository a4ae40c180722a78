//! `peek`: the first or last messages of the topic as one JSON document on stdout, read with
//! the functions' Kafka settings from the environment (`KAFKA_BROKERS`, `KAFKA_SECURITY` and its
//! companions, `KAFKA_TOPIC`). Failures follow the commands' convention
//! ([`lambda_kit::command`]): JSON on stderr, exit status 1 (fatal: an unknown topic) or 75
//! (retryable: the broker out of reach).

use std::{process::ExitCode, time::Duration};

use clap::Parser;
use kafka_client::{KafkaClient, KafkaSettings};
use lambda_kit::{command, settings::ProcessEnv};
use peek::{PeekError, Which, message_json, peek};

/// Print the first or last messages of the topic as JSON (the newest one by default).
#[derive(Debug, Parser)]
#[command(
    version,
    after_help = "Environment: KAFKA_BROKERS, KAFKA_SECURITY (plaintext, scram, iam) and its \
                  companions (docs/configuration.md), KAFKA_TOPIC.\n\
                  Against the local stack: make peek (N=5, FIRST=1)."
)]
struct Args {
    /// The newest N messages of the topic (every partition read).
    #[arg(long, value_name = "N", conflicts_with = "first")]
    last: Option<usize>,
    /// The oldest N messages the broker holds.
    #[arg(long, value_name = "N")]
    first: Option<usize>,
    /// Topic to look at.
    #[arg(long, env = "KAFKA_TOPIC", default_value = user_record::DEFAULT_TOPIC)]
    topic: String,
    /// Only this partition (repeatable); default: all.
    #[arg(long = "partition")]
    partitions: Vec<i32>,
    /// The read ends at the topic's end once nothing arrived for this long.
    #[arg(long, default_value = "1s", value_parser = humantime::parse_duration)]
    idle: Duration,
}

#[tokio::main]
async fn main() -> ExitCode {
    command::init_logging("warn");
    command::finish(run(Args::parse()).await)
}

async fn run(args: Args) -> Result<serde_json::Value, PeekError> {
    let which = match (args.first, args.last) {
        (Some(n), _) => Which::First(n),
        (None, n) => Which::Last(n.unwrap_or(1)),
    };
    let settings = KafkaSettings::from_source(&ProcessEnv)?;
    let client = KafkaClient::resolve(&settings).await?;
    let messages = peek(&client, &args.topic, which, &args.partitions, args.idle).await?;
    let (side, asked) = match which {
        Which::First(n) => ("first", n),
        Which::Last(n) => ("last", n),
    };
    Ok(serde_json::json!({
        "topic": args.topic,
        side: asked,
        "messages": messages.iter().map(message_json).collect::<Vec<_>>(),
    }))
}
