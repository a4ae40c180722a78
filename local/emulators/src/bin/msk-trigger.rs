//! `msk-trigger`: consumes the Kafka topic as a consumer group and invokes a function with
//! batches of records in the Amazon MSK event format, as the MSK event source mapping does for
//! the deployed stack.

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use clap::Parser;
use emulators::duration::parse_duration;
use emulators::failure::{BucketDestination, FailureSink};
use emulators::invoke::HttpInvoker;
use emulators::kafka::{KafkaSource, KafkaSourceConfig};
use emulators::shutdown::Shutdown;
use emulators::template::{FailureDestination, MAX_BATCH_SIZE, StartingPosition, Template};
use emulators::trigger::{self, RetryPolicy, TriggerConfig};
use emulators::validation::{Attributes, RecordFormat, Validator};
use kafka_client::{KafkaClient, KafkaSettings};
use lambda_kit::settings::{ProcessEnv, or_default};
use msk_event::{BatchLimits, EventSource, MAX_PAYLOAD_BYTES};
use schema_registry::{ConfluentRegistry, WriterSchemas};

/// Feed a function batches of Kafka records as the MSK event source mapping does, locally.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// SAM template to read the MSK event settings from.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Function to invoke (the cargo-lambda binary name).
    #[arg(long, default_value = "sink")]
    function: String,
    /// Lambda Invoke API endpoint (cargo lambda watch).
    #[arg(long, env = "LAMBDA_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    /// Topic to consume; default: the first of the event's Topics.
    #[arg(long, env = "KAFKA_TOPIC")]
    topic: Option<String>,
    /// Consumer group id; default: the event's ConsumerGroupId.
    #[arg(long)]
    group: Option<String>,
    /// Most records per invocation; default: the event's BatchSize.
    #[arg(long)]
    batch_size: Option<usize>,
    /// Batching window (e.g. 1s, 500ms); default: the event's MaximumBatchingWindowInSeconds.
    #[arg(long, value_parser = parse_duration)]
    batching_window: Option<Duration>,
    /// TRIM_HORIZON or LATEST; default: the event's StartingPosition.
    #[arg(long)]
    starting_position: Option<StartingPosition>,
    /// Retries of a failing batch before giving up; default: the event's MaximumRetryAttempts
    /// (10 when it has an on-failure destination and no limit; else until it succeeds).
    #[arg(long)]
    max_retries: Option<u32>,
    /// Bucket that stands in for the event's S3 on-failure destination (the template's
    /// FailedBatchBucket), reached like the lake (AWS_ENDPOINT_URL_S3, S3_FORCE_PATH_STYLE).
    #[arg(long, env = "FAILED_BATCH_BUCKET")]
    failure_bucket: Option<String>,
    /// Exit once no new record arrived for this long (seconds, or e.g. 10s) and all was delivered.
    #[arg(long, value_parser = parse_duration)]
    until_idle: Option<Duration>,
    /// Region written into the event source ARN.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Longest wait for one invocation (the first one may wait for a build).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    timeout: Duration,
    /// Validate records against this Confluent schema registry (the mapping's
    /// SchemaRegistryConfig; the stack's stand-in is SCHEMA_REGISTRY_STAND_IN); none by default.
    #[arg(long)]
    schema_registry: Option<url::Url>,
    /// With a registry, how a validated record reaches the function (EventRecordFormat).
    #[arg(long, value_enum, default_value = "JSON", requires = "schema_registry")]
    schema_record_format: RecordFormat,
    /// With a registry, what is validated: VALUE, KEY or KEY,VALUE (SchemaValidationConfigs).
    #[arg(long, default_value = "VALUE", requires = "schema_registry")]
    schema_validation: Attributes,
}

#[tokio::main]
async fn main() -> ExitCode {
    emulators::init_tracing();
    match run(Args::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("msk-trigger: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<ExitCode> {
    let template = Template::load(&args.template)?;
    let msk = template.msk_settings(&args.function)?;

    let topic = match args.topic.or_else(|| msk.topics.first().cloned()) {
        Some(topic) => topic,
        None => bail!("no topic: set KAFKA_TOPIC or --topic, or list Topics in the MSK event"),
    };
    let group_id = args
        .group
        .or(msk.consumer_group_id)
        .unwrap_or_else(|| format!("user-lake-local-{}", args.function));
    let max_records = args.batch_size.unwrap_or(msk.batch_size);
    if !(1..=MAX_BATCH_SIZE).contains(&max_records) {
        bail!("--batch-size {max_records} is outside 1..={MAX_BATCH_SIZE}");
    }
    let limits = BatchLimits {
        max_records,
        window: args.batching_window.unwrap_or(msk.batching_window),
        max_payload_bytes: MAX_PAYLOAD_BYTES,
    };
    // The brokers and their security (KAFKA_BROKERS, KAFKA_SECURITY, ...) are read as every
    // Kafka client of the lake reads them.
    let kafka = KafkaSettings::from_source(&ProcessEnv)?;
    let client = KafkaClient::resolve(&kafka).await?;
    let source_config = KafkaSourceConfig {
        topic,
        group_id,
        starting_position: args.starting_position.unwrap_or(msk.starting_position),
    };
    let config = TriggerConfig {
        function: args.function,
        limits,
        source: EventSource::local(&args.region, client.brokers()),
        retry: RetryPolicy {
            max_retries: args.max_retries.or(msk.max_retries),
            max_record_age: msk.max_record_age,
            ..RetryPolicy::DEFAULT
        },
        until_idle: args.until_idle,
    };

    if msk.bisect {
        bail!(
            "BisectBatchOnFunctionError is true in the template; the local trigger does not split batches"
        );
    }
    let destination = match (&msk.on_failure, args.failure_bucket) {
        (None, _) => None,
        (Some(FailureDestination::Resource { kind, .. }), Some(bucket))
            if kind == "AWS::S3::Bucket" =>
        {
            let force_path_style: bool = or_default(&ProcessEnv, "S3_FORCE_PATH_STYLE", false)?;
            let client = lake::config::s3_client(force_path_style).await;
            Some(BucketDestination(lake::S3Store::new(client, bucket)))
        }
        (Some(destination), Some(_)) => {
            bail!(
                "the on-failure destination {destination:?} is not an S3 bucket; locally only an S3 bucket is stood in for"
            )
        }
        (Some(destination), None) => {
            tracing::warn!(
                ?destination,
                "the MSK event has an on-failure destination but FAILED_BATCH_BUCKET is not set: a batch past its retries stops the trigger instead"
            );
            None
        }
    };
    let destination = destination.as_ref().map(|d| d as &dyn FailureSink);

    let validator = match &args.schema_registry {
        Some(url) => {
            let client = reqwest::Client::builder()
                .timeout(Duration::from_secs(10))
                .build()
                .context("building the schema registry's HTTP client")?;
            let registry = ConfluentRegistry::new(client, url.clone());
            Some(Validator::new(
                WriterSchemas::new(Box::new(registry)),
                args.schema_record_format,
                args.schema_validation,
            ))
        }
        None => None,
    };

    let invoker = HttpInvoker::new(&args.endpoint, args.timeout)?;
    let mut source =
        KafkaSource::connect(&client, &source_config).context("starting the Kafka consumer")?;
    tracing::info!(
        function = %config.function,
        url = %invoker.url(&config.function),
        brokers = %client.brokers(),
        topic = %source_config.topic,
        group = %source_config.group_id,
        batch_size = limits.max_records,
        batching_window_ms = limits.window.as_millis() as u64,
        auto_offset_reset = source_config.starting_position.auto_offset_reset(),
        until_idle_s = config.until_idle.map(|d| d.as_secs_f64()),
        max_retries = ?config.retry.max_retries,
        failure_bucket = destination.is_some(),
        schema_registry = args.schema_registry.as_ref().map(|u| u.as_str()),
        "msk-trigger started"
    );

    let mut shutdown = Shutdown::on_signals();
    let mut print = |line: serde_json::Value| {
        use std::io::Write as _;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let finished = trigger::run_validating(
        &mut source,
        &invoker,
        &config,
        validator.as_ref(),
        destination,
        &mut shutdown,
        &mut print,
    )
    .await;
    println!("{}", serde_json::to_string(&finished.summary)?);
    match finished.error {
        None => Ok(ExitCode::SUCCESS),
        Some(error) => {
            eprintln!("msk-trigger: {}", lambda_kit::error_chain(&error));
            Ok(ExitCode::FAILURE)
        }
    }
}
