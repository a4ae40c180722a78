//! The lake's one boundary with S3: list, get, put and delete objects. A small trait, so that
//! every function's protocol can be tested against an in-memory lake (`testing` feature),
//! crash by crash, and run unchanged against S3 or the local S3-protocol store.

use aws_sdk_s3::primitives::ByteStream;
use bytes::Bytes;
use lambda_kit::{
    Retry,
    aws::{sdk_code, sdk_message, sdk_retry},
};

/// An object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
    /// When it was last written, if the store says.
    pub modified: Option<chrono::DateTime<chrono::Utc>>,
}

/// A failed call to the lake, with what the service said and whether a later attempt may
/// succeed (decided from the SDK error: throttling, 5xx and time-outs are retryable;
/// AccessDenied, NoSuchBucket and other 4xx are not).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Listing a prefix failed.
    #[error("cannot list s3://{bucket}/{prefix}: {message}")]
    List {
        bucket: String,
        prefix: String,
        code: Option<String>,
        retry: Retry,
        message: String,
    },
    /// Reading an object failed.
    #[error("cannot get s3://{bucket}/{key}: {message}")]
    Get {
        bucket: String,
        key: String,
        code: Option<String>,
        retry: Retry,
        message: String,
    },
    /// Writing an object failed.
    #[error("cannot put s3://{bucket}/{key}: {message}")]
    Put {
        bucket: String,
        key: String,
        code: Option<String>,
        retry: Retry,
        message: String,
    },
    /// Deleting an object failed.
    #[error("cannot delete s3://{bucket}/{key}: {message}")]
    Delete {
        bucket: String,
        key: String,
        code: Option<String>,
        retry: Retry,
        message: String,
    },
}

impl StoreError {
    /// Whether the same call may succeed later.
    pub fn retry(&self) -> Retry {
        match self {
            StoreError::List { retry, .. }
            | StoreError::Get { retry, .. }
            | StoreError::Put { retry, .. }
            | StoreError::Delete { retry, .. } => *retry,
        }
    }

    /// The service's error code (`AccessDenied`, `SlowDown`, `NoSuchKey`), when it sent one.
    pub fn code(&self) -> Option<&str> {
        match self {
            StoreError::List { code, .. }
            | StoreError::Get { code, .. }
            | StoreError::Put { code, .. }
            | StoreError::Delete { code, .. } => code.as_deref(),
        }
    }
}

/// When a conditional write may go ahead ([Amazon S3 conditional requests]: `If-None-Match: *`
/// and `If-Match: <etag>` on PutObject).
///
/// [Amazon S3 conditional requests]: https://docs.aws.amazon.com/AmazonS3/latest/userguide/conditional-requests.html
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Condition {
    /// Only if no object has the key.
    Absent,
    /// Only if the object is still the one with this ETag.
    Matches(String),
}

/// An object's body and the ETag that names this version of it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tagged {
    pub body: Bytes,
    pub etag: Option<String>,
}

/// What the functions ask of the lake's bucket: S3's list, get (whole, a range, with its
/// ETag), put (plain, or on a condition) and delete, over aws-sdk-s3 ([`S3Store`]) or in memory
/// for tests (`testing::MemoryStore`). Named apart from the `object_store` crate's trait, which
/// the project does not use.
pub trait LakeStore: Send + Sync {
    /// Every object whose key starts with `prefix`, in key order.
    fn list(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObjectInfo>, StoreError>> + Send;
    /// The whole body of an object.
    fn get(&self, key: &str) -> impl Future<Output = Result<Bytes, StoreError>> + Send;
    /// The bytes `range` of an object (a Parquet footer, without the rest).
    fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> impl Future<Output = Result<Bytes, StoreError>> + Send;
    /// Writes (or overwrites) an object.
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes an object; deleting a missing object succeeds, as in S3.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// The body and ETag of an object, or `None` when there is none.
    fn get_tagged(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Tagged>, StoreError>> + Send;
    /// Writes an object if `condition` holds: `Ok(true)` when written, `Ok(false)` when the
    /// condition did not hold (S3's 412, or its 409 for a concurrent conditional write).
    fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        condition: Condition,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

impl<T: LakeStore + ?Sized> LakeStore for &T {
    fn list(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObjectInfo>, StoreError>> + Send {
        (**self).list(prefix)
    }
    fn get(&self, key: &str) -> impl Future<Output = Result<Bytes, StoreError>> + Send {
        (**self).get(key)
    }
    fn get_range(
        &self,
        key: &str,
        range: std::ops::Range<u64>,
    ) -> impl Future<Output = Result<Bytes, StoreError>> + Send {
        (**self).get_range(key, range)
    }
    fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).put(key, body, content_type)
    }
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).delete(key)
    }
    fn get_tagged(
        &self,
        key: &str,
    ) -> impl Future<Output = Result<Option<Tagged>, StoreError>> + Send {
        (**self).get_tagged(key)
    }
    fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        condition: Condition,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send {
        (**self).put_if(key, body, content_type, condition)
    }
}

/// The real lake: one S3 bucket.
#[derive(Debug, Clone)]
pub struct S3Store {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3Store {
    pub fn new(client: aws_sdk_s3::Client, bucket: impl Into<String>) -> Self {
        Self {
            client,
            bucket: bucket.into(),
        }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// A store over another bucket through the same client (an S3 Tables table's warehouse
    /// bucket, beside the lake's).
    pub fn on_bucket(&self, bucket: impl Into<String>) -> Self {
        Self::new(self.client.clone(), bucket)
    }
}

impl S3Store {
    /// A GetObject of the whole body or of `range`.
    async fn fetch(
        &self,
        key: &str,
        range: Option<std::ops::Range<u64>>,
    ) -> Result<Bytes, StoreError> {
        let failed = |code: Option<&str>, retry, message| StoreError::Get {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            code: code.map(str::to_string),
            retry,
            message,
        };
        let request = self.client.get_object().bucket(&self.bucket).key(key);
        let request = match range {
            Some(range) => request.range(format!("bytes={}-{}", range.start, range.end - 1)),
            None => request,
        };
        let object = request
            .send()
            .await
            .map_err(|e| failed(sdk_code(&e), sdk_retry(&e), sdk_message(&e)))?;
        // A body cut off mid-stream is a transport failure: worth another try.
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| failed(None, Retry::Retryable, sdk_message(&e)))?;
        Ok(body.into_bytes())
    }
}

impl LakeStore for S3Store {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| StoreError::List {
                bucket: self.bucket.clone(),
                prefix: prefix.to_string(),
                code: sdk_code(&e).map(str::to_string),
                retry: sdk_retry(&e),
                message: sdk_message(&e),
            })?;
            objects.extend(page.contents().iter().filter_map(|o| {
                Some(ObjectInfo {
                    key: o.key()?.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                    modified: o
                        .last_modified()
                        .and_then(|t| chrono::DateTime::from_timestamp_millis(t.to_millis().ok()?)),
                })
            }));
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.fetch(key, None).await
    }

    async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<Bytes, StoreError> {
        if range.is_empty() {
            return Ok(Bytes::new());
        }
        self.fetch(key, Some(range)).await
    }

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
            .map_err(|e| StoreError::Put {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                code: sdk_code(&e).map(str::to_string),
                retry: sdk_retry(&e),
                message: sdk_message(&e),
            })
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Delete {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                code: sdk_code(&e).map(str::to_string),
                retry: sdk_retry(&e),
                message: sdk_message(&e),
            })
    }

    async fn get_tagged(&self, key: &str) -> Result<Option<Tagged>, StoreError> {
        let failed = |code: Option<&str>, retry, message| StoreError::Get {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            code: code.map(str::to_string),
            retry,
            message,
        };
        let answer = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await;
        let object = match answer {
            Ok(object) => object,
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => return Ok(None),
            Err(e) => return Err(failed(sdk_code(&e), sdk_retry(&e), sdk_message(&e))),
        };
        let etag = object.e_tag().map(str::to_string);
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| failed(None, Retry::Retryable, sdk_message(&e)))?;
        Ok(Some(Tagged {
            body: body.into_bytes(),
            etag,
        }))
    }

    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        condition: Condition,
    ) -> Result<bool, StoreError> {
        let request = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type(content_type)
            .body(ByteStream::from(body));
        let request = match condition {
            Condition::Absent => request.if_none_match("*"),
            Condition::Matches(etag) => request.if_match(etag),
        };
        match request.send().await {
            Ok(_) => Ok(true),
            Err(e)
                if matches!(
                    sdk_code(&e),
                    Some("PreconditionFailed" | "ConditionalRequestConflict")
                ) =>
            {
                Ok(false)
            }
            Err(e) => Err(StoreError::Put {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                code: sdk_code(&e).map(str::to_string),
                retry: sdk_retry(&e),
                message: sdk_message(&e),
            }),
        }
    }
}

/// Writes `body` under `key` unless an object is already there: the same bytes again is an
/// idempotent success (a redelivered batch); other bytes are never overwritten but kept beside
/// them under the key with the body's digest before its extension (`…-0-9~1a2b3c4d5e6f7a8b.parquet`),
/// as when a topic deleted and created again reuses offsets. Returns the key written (or found).
pub async fn put_once<S: LakeStore + ?Sized>(
    store: &S,
    key: &str,
    body: Vec<u8>,
    content_type: &'static str,
) -> Result<String, StoreError> {
    let digest = format!("{:016x}", fnv1a(&body));
    let (stem, extension) = match key.rsplit_once('.') {
        Some((stem, extension)) if !extension.contains('/') => (stem, format!(".{extension}")),
        _ => (key, String::new()),
    };
    for candidate in [key.to_string(), format!("{stem}~{digest}{extension}")] {
        if store
            .put_if(&candidate, body.clone(), content_type, Condition::Absent)
            .await?
        {
            return Ok(candidate);
        }
        let existing = store.get_tagged(&candidate).await?;
        if existing.is_some_and(|e| e.body.as_ref() == body.as_slice()) {
            return Ok(candidate);
        }
    }
    // Both names hold other bytes: a digest collision of two different bodies, never expected.
    Err(StoreError::Put {
        bucket: String::new(),
        key: key.to_string(),
        code: Some("KeyTaken".into()),
        retry: Retry::Fatal,
        message: "the key and its digest-named sibling both hold other content".into(),
    })
}

/// A stable 64-bit digest (FNV-1a) of an object's body.
pub fn fnv1a(bytes: &[u8]) -> u64 {
    bytes.iter().fold(0xcbf2_9ce4_8422_2325, |hash, &b| {
        (hash ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

#[cfg(all(test, feature = "testing"))]
mod put_once_tests {
    use super::*;
    use crate::testing::MemoryStore;

    #[tokio::test]
    async fn the_same_bytes_again_succeed_and_other_bytes_land_beside_never_over() {
        let store = MemoryStore::default();
        let key = "users/dt=2026-12-07/hour=08/users_created-0-0-9.parquet";
        assert_eq!(
            put_once(&store, key, b"first".to_vec(), "x").await.unwrap(),
            key
        );
        assert_eq!(
            put_once(&store, key, b"first".to_vec(), "x").await.unwrap(),
            key
        );

        let beside = put_once(&store, key, b"second".to_vec(), "x")
            .await
            .unwrap();

        assert_ne!(beside, key);
        assert!(
            beside.starts_with("users/dt=2026-12-07/hour=08/users_created-0-0-9~"),
            "{beside}"
        );
        assert!(beside.ends_with(".parquet"), "{beside}");
        assert_eq!(store.body(key).as_ref(), b"first");
        assert_eq!(store.body(&beside).as_ref(), b"second");
        assert_eq!(
            put_once(&store, key, b"second".to_vec(), "x")
                .await
                .unwrap(),
            beside
        );
    }
}
