//! Classifying AWS SDK errors as retryable or fatal from what the service said, the way the
//! SDK's own retry classifiers do: throttling and transient error codes, 408, 429 and 5xx
//! statuses, time-outs and dropped connections are retryable; any other 4xx (AccessDenied,
//! NoSuchBucket, a validation error) and a request the SDK could not even build are fatal.
//!
//! The SDK has already retried a retryable error with backoff before it reaches the caller, so
//! "retryable" here means "may succeed on a later invocation", not "retry at once".

use aws_smithy_runtime_api::{client::result::SdkError, http::Response};
use aws_smithy_types::error::{display::DisplayErrorContext, metadata::ProvideErrorMetadata};

use crate::Retry;

/// Error codes that mean "try again later" even when their status says otherwise: the SDK's
/// throttling and transient codes, and S3's answers to concurrent conditional writes and
/// conflicting operations, which its documentation says to retry.
fn is_transient_code(code: &str) -> bool {
    aws_runtime::retries::classifiers::THROTTLING_ERRORS.contains(&code)
        || aws_runtime::retries::classifiers::TRANSIENT_ERRORS.contains(&code)
        || matches!(
            code,
            "ConditionalRequestConflict"
                | "OperationAborted"
                | "InternalError"
                | "ServiceUnavailable"
        )
}

/// Whether a service's error answer (its code, if any, and HTTP status) is worth retrying.
pub fn service_retry(code: Option<&str>, status: u16) -> Retry {
    if code.is_some_and(is_transient_code) {
        return Retry::Retryable;
    }
    match status {
        408 | 429 | 500..=599 => Retry::Retryable,
        _ => Retry::Fatal,
    }
}

/// Whether a failed SDK call is worth retrying, from the error itself.
pub fn sdk_retry<E: ProvideErrorMetadata>(error: &SdkError<E, Response>) -> Retry {
    match error {
        SdkError::ConstructionFailure(_) => Retry::Fatal,
        SdkError::TimeoutError(_) | SdkError::ResponseError(_) => Retry::Retryable,
        SdkError::DispatchFailure(failure) if failure.is_user() => Retry::Fatal,
        SdkError::DispatchFailure(_) => Retry::Retryable,
        SdkError::ServiceError(context) => {
            service_retry(context.err().code(), context.raw().status().as_u16())
        }
        // A variant added by a later SDK: assume the conservative, transient reading.
        _ => Retry::Retryable,
    }
}

/// The service's error code (`AccessDenied`, `SlowDown`), when it sent one.
pub fn sdk_code<E: ProvideErrorMetadata>(error: &SdkError<E, Response>) -> Option<&str> {
    error
        .as_service_error()
        .and_then(ProvideErrorMetadata::code)
}

/// The error with its whole cause chain, as the SDK recommends for reports.
pub fn sdk_message<E: std::error::Error>(error: &E) -> String {
    DisplayErrorContext(error).to_string()
}

#[cfg(test)]
mod tests {
    use aws_sdk_s3::operation::put_object::PutObjectError;
    use aws_smithy_runtime_api::{
        client::result::{ConnectorError, SdkError},
        http::{Response, StatusCode},
    };
    use aws_smithy_types::{body::SdkBody, error::ErrorMetadata};

    use super::*;

    fn answered(status: u16, code: &str) -> SdkError<PutObjectError, Response> {
        let error = PutObjectError::generic(ErrorMetadata::builder().code(code).build());
        let raw = Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty());
        SdkError::service_error(error, raw)
    }

    #[test]
    fn denied_missing_and_invalid_requests_are_fatal() {
        for (status, code) in [
            (403, "AccessDenied"),
            (404, "NoSuchBucket"),
            (400, "InvalidRequest"),
            (412, "PreconditionFailed"),
        ] {
            assert_eq!(sdk_retry(&answered(status, code)), Retry::Fatal, "{code}");
        }
    }

    #[test]
    fn throttling_server_errors_and_conflicts_are_retryable() {
        for (status, code) in [
            (503, "SlowDown"),
            (500, "InternalError"),
            (400, "RequestTimeout"),
            (429, "TooManyRequests"),
            (409, "ConditionalRequestConflict"),
            (502, "BadGateway"),
        ] {
            assert_eq!(
                sdk_retry(&answered(status, code)),
                Retry::Retryable,
                "{code}"
            );
        }
        assert_eq!(sdk_code(&answered(503, "SlowDown")), Some("SlowDown"));
    }

    #[test]
    fn time_outs_and_refused_connections_are_retryable_a_request_never_built_is_fatal() {
        let timeout: SdkError<PutObjectError, Response> = SdkError::timeout_error("took too long");
        let refused: SdkError<PutObjectError, Response> = SdkError::dispatch_failure(
            ConnectorError::io(std::io::Error::other("connection refused").into()),
        );
        let unbuildable: SdkError<PutObjectError, Response> =
            SdkError::construction_failure("no bucket given");
        assert_eq!(sdk_retry(&timeout), Retry::Retryable);
        assert_eq!(sdk_retry(&refused), Retry::Retryable);
        assert_eq!(sdk_retry(&unbuildable), Retry::Fatal);
    }
}
