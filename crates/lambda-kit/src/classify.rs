//! The one way a failure is labelled: `<Kind>.<Retryable|Fatal>`, the `errorType` Lambda
//! reports, shown in the invocation's summary line and in the event source mapping's or
//! schedule's failure records. Retryable means the same work may succeed if done again later
//! (a throttled or unavailable service, a time-out); fatal means it will fail the same way until
//! someone changes something (a permission, a missing bucket, a defect, a bad input).

use std::fmt;

/// Whether doing the same work again later can succeed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Retry {
    /// A transient condition: throttling, a 5xx, a time-out, a dropped connection.
    Retryable,
    /// The same input fails again until the code, the configuration or a permission changes.
    Fatal,
}

impl Retry {
    /// `Retryable` or `Fatal`, as the label's second part.
    pub fn label(self) -> &'static str {
        match self {
            Retry::Retryable => "Retryable",
            Retry::Fatal => "Fatal",
        }
    }

    /// Whether this is [`Retry::Retryable`].
    pub fn is_retryable(self) -> bool {
        self == Retry::Retryable
    }
}

impl fmt::Display for Retry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.label())
    }
}

/// An error that knows its kind and whether it is worth retrying.
pub trait Classified: std::error::Error {
    /// What failed, in UpperCamelCase (`StoreFailed`, `FetchFailed`).
    fn kind(&self) -> &'static str;

    /// Whether the same work may succeed later.
    fn retry(&self) -> Retry;

    /// `<Kind>.<Retryable|Fatal>`.
    fn error_type(&self) -> String {
        format!("{}.{}", self.kind(), self.retry().label())
    }

    /// Whether the same work may succeed later.
    fn is_retryable(&self) -> bool {
        self.retry().is_retryable()
    }
}

/// An error with all its causes, `outer: cause: root cause`, for one-line reports. A cause
/// whose text the outer message already ends with is not repeated.
pub fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        if !text.ends_with(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// What Lambda reports for a failed invocation: the label as `errorType`, the error and its
/// causes as `errorMessage`.
pub fn diagnostic<E: Classified>(error: &E) -> lambda_runtime::Diagnostic {
    lambda_runtime::Diagnostic {
        error_type: error.error_type(),
        error_message: error_chain(error),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, thiserror::Error)]
    #[error("cannot put s3://lake/k")]
    struct PutFailed(#[source] std::io::Error);

    impl Classified for PutFailed {
        fn kind(&self) -> &'static str {
            "StoreFailed"
        }
        fn retry(&self) -> Retry {
            Retry::Fatal
        }
    }

    #[test]
    fn the_label_is_kind_dot_retry_and_the_message_carries_every_cause() {
        let error = PutFailed(std::io::Error::other("AccessDenied"));
        let diagnostic = diagnostic(&error);
        assert_eq!(diagnostic.error_type, "StoreFailed.Fatal");
        assert_eq!(
            diagnostic.error_message,
            "cannot put s3://lake/k: AccessDenied"
        );
        assert!(!error.is_retryable());
    }

    #[test]
    fn a_cause_the_message_already_ends_with_is_not_repeated() {
        #[derive(Debug, thiserror::Error)]
        #[error("outer: root cause")]
        struct Repeats(#[source] std::io::Error);
        let error = Repeats(std::io::Error::other("root cause"));
        assert_eq!(error_chain(&error), "outer: root cause");
    }
}
