//! `schedule`: invokes a function (`producer` by default, or `--function compactor`) through the
//! Lambda Invoke API at the rate of its schedule event in the SAM template, as EventBridge does
//! for the deployed stack.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use emulators::duration::{parse_duration, parse_interval};
use emulators::invoke::HttpInvoker;
use emulators::schedule::{self, ScheduleConfig};
use emulators::shutdown::Shutdown;
use emulators::template::Template;

/// Invoke a function on its EventBridge schedule, locally.
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// SAM template to read the schedule expression from.
    #[arg(long, default_value = "template.yaml")]
    template: PathBuf,
    /// Function to invoke (the cargo-lambda binary name).
    #[arg(long, default_value = "producer")]
    function: String,
    /// Lambda Invoke API endpoint (cargo lambda watch).
    #[arg(long, env = "LAMBDA_ENDPOINT", default_value = "http://127.0.0.1:9000")]
    endpoint: String,
    /// Region written into the events.
    #[arg(long, env = "AWS_REGION", default_value = "us-east-1")]
    region: String,
    /// Users per run, sent as `detail.count`.
    #[arg(long)]
    count: Option<u32>,
    /// Further `detail` fields as a JSON object, e.g. '{"now":"2026-11-25T03:00:00Z"}' (the
    /// compactor judges which hours are closed as of `now`).
    #[arg(long, value_parser = parse_detail)]
    detail: Option<serde_json::Map<String, serde_json::Value>>,
    /// Interval between invocations (e.g. 2s, 1m); default: the template's rate().
    #[arg(long, value_parser = parse_interval)]
    every: Option<Duration>,
    /// Stop after this many invocations; default: run until Ctrl-C or SIGTERM.
    #[arg(long)]
    times: Option<u64>,
    /// Stop at the first event that failed for good (after its retries).
    #[arg(long)]
    fail_fast: bool,
    /// Retries of a failed event; default: the function's EventInvokeConfig.MaximumRetryAttempts
    /// in the template (Lambda's default 2 when it has none).
    #[arg(long)]
    retries: Option<u32>,
    /// Pause before the first retry, doubled before the next (Lambda waits about 1 and 2 minutes).
    #[arg(long, default_value = "1s", value_parser = parse_duration)]
    retry_delay: Duration,
    /// Deliver every event twice (same id), as Lambda's asynchronous queue may.
    #[arg(long)]
    deliver_twice: bool,
    /// Longest wait for one invocation (the first one may wait for a build).
    #[arg(long, default_value = "15m", value_parser = parse_duration)]
    timeout: Duration,
}

fn parse_detail(text: &str) -> Result<serde_json::Map<String, serde_json::Value>, String> {
    match serde_json::from_str(text) {
        Ok(serde_json::Value::Object(map)) => Ok(map),
        Ok(_) => Err("must be a JSON object".to_owned()),
        Err(e) => Err(format!("not JSON: {e}")),
    }
}

#[tokio::main]
async fn main() -> ExitCode {
    emulators::init_tracing();
    match run(Args::parse()).await {
        Ok(code) => code,
        Err(error) => {
            eprintln!("schedule: {error:#}");
            ExitCode::from(2)
        }
    }
}

async fn run(args: Args) -> Result<ExitCode> {
    let template = Template::load(&args.template)?;
    let settings = template.schedule_settings(&args.function)?;
    let every = match args.every {
        Some(every) => every,
        None => schedule::parse_rate(&settings.expression).with_context(|| {
            format!(
                "schedule event {} of {}",
                settings.event_name, settings.logical_id
            )
        })?,
    };
    let invoker = HttpInvoker::new(&args.endpoint, args.timeout)?;
    let config = ScheduleConfig {
        function: args.function,
        every,
        times: args.times,
        fail_fast: args.fail_fast,
        region: args.region,
        count: args.count,
        detail: args.detail.unwrap_or_default(),
        retries: args.retries.unwrap_or(settings.invoke.max_retries),
        retry_delay: args.retry_delay,
        deliver_twice: args.deliver_twice,
    };
    tracing::info!(
        function = %config.function,
        url = %invoker.url(&config.function),
        every = %humantime::format_duration(every),
        times = ?config.times,
        retries = config.retries,
        deliver_twice = config.deliver_twice,
        "schedule started"
    );
    let mut shutdown = Shutdown::on_signals();
    let print = |line: &serde_json::Value| {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{line}");
        let _ = out.flush();
    };
    let report = schedule::run(&invoker, &config, &mut shutdown, |line| print(&line)).await;
    print(&serde_json::to_value(report)?);
    Ok(if report.events_failed > 0 {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    })
}
