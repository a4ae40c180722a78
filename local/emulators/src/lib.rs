//! Local stand-ins for the two AWS triggers of the pipeline that neither `cargo lambda watch`
//! nor SAM provides: the EventBridge schedule that runs the `producer` function, and the
//! Amazon MSK event source mapping that feeds the `sink` function batches of Kafka records.
//!
//! Both call the functions through the Lambda Invoke API that `cargo lambda watch` serves, and
//! both read their settings from the SAM template, so a local run exercises the same events,
//! rates, batching rules and failure handling (retry limits, record age, the on-failure
//! destination, `EventInvokeConfig`) as the deployed stack. The `schedule` and `msk-trigger` binaries
//! only wire flags and environment to the pieces here. Both print what they do as JSON lines on
//! stdout (one per invocation, then a summary), which is what tests and scripts read; their
//! log goes to stderr.

pub mod duration;
pub mod failure;
pub mod invoke;
pub mod kafka;
pub mod schedule;
pub mod shutdown;
pub mod template;
pub mod trigger;
pub mod validation;

/// Sets up logging to stderr, filtered by `RUST_LOG` (default `info`), coloured only on a
/// terminal.
pub fn init_tracing() {
    use std::io::IsTerminal as _;
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}
