//! How every operator command (`replay`, `export`, `status`, `peek`) logs and ends, so that
//! scripts and schedulers can rely on one convention: the log on stderr; the summary as one JSON document on stdout; a failure
//! as `{"errorType": "<Kind>.<Retryable|Fatal>", "error": "..."}` on stderr; and an exit status
//! that says whether running the same command again may help.
//!
//! | Exit | Meaning |
//! |---|---|
//! | 0 | done |
//! | 1 | fatal: the same command fails again until a setting, an argument or the data changes |
//! | 75 | retryable: a broker, store or catalog was out of reach, or the work stopped short; run it again (`EX_TEMPFAIL` of sysexits.h, which cron wrappers and systemd treat as temporary) |

use std::process::ExitCode;

use crate::{Classified, Retry, error_chain};

/// Logs to stderr, since stdout is the command's JSON: filtered by `RUST_LOG`, else at
/// `default` (`warn`, `info`, ...).
pub fn init_logging(default: &str) {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| default.into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

/// The exit status of a fatal failure.
pub const EXIT_FATAL: u8 = 1;
/// The exit status of a failure worth retrying (`EX_TEMPFAIL`).
pub const EXIT_RETRYABLE: u8 = 75;

/// The exit status for a failure of this kind.
pub fn exit_status(retry: Retry) -> ExitCode {
    ExitCode::from(match retry {
        Retry::Retryable => EXIT_RETRYABLE,
        Retry::Fatal => EXIT_FATAL,
    })
}

/// The JSON a failure prints on stderr.
pub fn failure_json<E: Classified>(error: &E) -> serde_json::Value {
    serde_json::json!({
        "errorType": error.error_type(),
        "error": error_chain(error),
    })
}

/// Prints a failure on stderr and gives its exit status.
pub fn fail<E: Classified>(error: &E) -> ExitCode {
    eprintln!("{}", failure_json(error));
    exit_status(error.retry())
}

/// Prints the summary on stdout (status 0), or the failure on stderr.
pub fn finish<E: Classified>(result: Result<serde_json::Value, E>) -> ExitCode {
    match result {
        Ok(summary) => {
            println!("{summary}");
            ExitCode::SUCCESS
        }
        Err(error) => fail(&error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("broker out of reach")]
    struct OutOfReach;

    impl Classified for OutOfReach {
        fn kind(&self) -> &'static str {
            "ReadFailed"
        }
        fn retry(&self) -> Retry {
            Retry::Retryable
        }
    }

    #[test]
    fn a_retryable_failure_exits_75_and_a_fatal_one_1() {
        assert_eq!(exit_status(Retry::Retryable), ExitCode::from(75));
        assert_eq!(exit_status(Retry::Fatal), ExitCode::from(1));
    }

    #[test]
    fn a_failure_is_reported_with_its_label_and_causes() {
        let printed = failure_json(&OutOfReach);
        assert_eq!(printed["errorType"], "ReadFailed.Retryable");
        assert_eq!(printed["error"], "broker out of reach");
    }
}
