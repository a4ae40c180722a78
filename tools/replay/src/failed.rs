//! Bringing back a batch the sink's trigger gave up on, from its failure record alone.
//!
//! For an S3 on-failure destination Lambda writes, with the failure's metadata, the whole
//! invocation event as a JSON string under `payload` (Lambda developer guide, "Capturing
//! discarded batches for Amazon MSK and self-managed Apache Kafka event sources"). Handing that
//! event to the sink's code stores the batch under the very keys its first delivery would have
//! written, even after the topic's retention deleted the records.

use serde::Deserialize;

/// Why a failure record cannot be replayed.
#[derive(Debug, thiserror::Error)]
pub enum FailureRecordError {
    /// The object is not a failure record with an event in it.
    #[error("{key} is not a failure record with an event under `payload`: {source}")]
    Invalid {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

/// The parts of a failure record a replay uses.
#[derive(Debug, Deserialize)]
struct FailureRecord {
    #[serde(rename = "requestContext")]
    request_context: RequestContext,
    payload: String,
}

#[derive(Debug, Deserialize)]
struct RequestContext {
    condition: String,
}

/// The failed batch of a failure record: why it failed, and the invocation event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedBatch {
    /// `requestContext.condition`, e.g. `RetryAttemptsExhausted`.
    pub condition: String,
    /// The MSK event, as the function was given it.
    pub event: String,
}

/// Reads the failure record stored at `key`.
pub fn failed_batch(key: &str, body: &[u8]) -> Result<FailedBatch, FailureRecordError> {
    let record: FailureRecord =
        serde_json::from_slice(body).map_err(|source| FailureRecordError::Invalid {
            key: key.to_string(),
            source,
        })?;
    Ok(FailedBatch {
        condition: record.request_context.condition,
        event: record.payload,
    })
}

/// `s3://bucket/key` split into its bucket and key.
pub fn s3_url(url: &str) -> Result<(String, String), String> {
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| format!("`{url}` is not an s3://bucket/key URL"))?;
    match rest.split_once('/') {
        Some((bucket, key)) if !bucket.is_empty() && !key.is_empty() => {
            Ok((bucket.to_string(), key.to_string()))
        }
        _ => Err(format!("`{url}` is not an s3://bucket/key URL")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_is_read_from_the_payload_string() {
        let body = br#"{"requestContext":{"condition":"RetryAttemptsExhausted","approximateInvokeCount":11},"KafkaBatchInfo":{},"payload":"{\"eventSource\":\"aws:kafka\",\"records\":{}}"}"#;
        let batch = failed_batch("k", body).unwrap();
        assert_eq!(batch.condition, "RetryAttemptsExhausted");
        assert_eq!(batch.event, r#"{"eventSource":"aws:kafka","records":{}}"#);
    }

    #[test]
    fn a_record_without_a_payload_is_refused_naming_its_key() {
        let error = failed_batch(
            "aws/lambda/x.json",
            br#"{"requestContext":{"condition":"X"}}"#,
        )
        .unwrap_err();
        assert!(error.to_string().contains("aws/lambda/x.json"), "{error}");
    }

    #[test]
    fn s3_urls_split_into_bucket_and_key() {
        assert_eq!(
            s3_url("s3://failed-batches/aws/lambda/a.json"),
            Ok(("failed-batches".into(), "aws/lambda/a.json".into()))
        );
        assert!(s3_url("failed-batches/a.json").is_err());
        assert!(s3_url("s3://bucket-only").is_err());
    }
}
