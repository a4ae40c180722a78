//! Local stand-ins for the two AWS triggers of the pipeline that neither `cargo lambda watch`
//! nor SAM provides: the EventBridge schedule that runs the `producer` function, and the
//! Amazon MSK event source mapping that feeds the `sink` function batches of Kafka records.
//!
//! Both call the functions through the Lambda Invoke API that `cargo lambda watch` serves, and
//! both read their settings from the SAM template, so a local run exercises the same events,
//! rates and batching rules as the deployed stack. The `schedule` and `msk-trigger` binaries
//! only wire flags and environment to the pieces here.

pub mod batcher;
pub mod duration;
pub mod event;
pub mod invoke;
pub mod kafka;
pub mod schedule;
pub mod shutdown;
pub mod template;
pub mod trigger;

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

/// An error with all its causes, `outer: cause: root cause`, for one-line reports.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some libraries repeat their cause in their own message; skip exact repeats.
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

#[cfg(test)]
mod tests {
    use super::error_chain;

    #[derive(Debug, thiserror::Error)]
    #[error("outer")]
    struct Outer(#[source] std::io::Error);

    #[test]
    fn error_chain_lists_every_cause_once() {
        let error = Outer(std::io::Error::other("root cause"));
        assert_eq!(error_chain(&error), "outer: root cause");
    }
}
