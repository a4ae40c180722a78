//! Putting objects into the lake: the `ObjectStore` boundary and its S3 implementation.

use aws_sdk_s3::{error::DisplayErrorContext, primitives::ByteStream};

/// Why an object could not be written. Every such failure fails the invocation, so the event
/// source mapping retries the batch; deterministic keys make the retry overwrite, not
/// duplicate.
#[derive(Debug, thiserror::Error)]
#[error("cannot put s3://{bucket}/{key}: {message}")]
pub struct StoreError {
    pub bucket: String,
    pub key: String,
    pub message: String,
}

/// What the sink asks of the lake.
pub trait ObjectStore {
    /// Writes (or overwrites) one object.
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The real lake: one S3 bucket.
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> Self {
        Self { client, bucket }
    }
}

impl ObjectStore for S3Store {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|error| StoreError {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                message: DisplayErrorContext(&error).to_string(),
            })
    }
}
