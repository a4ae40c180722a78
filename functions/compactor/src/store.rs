//! The lake as the compactor sees it: list, get, put and delete objects. A small trait so that
//! the compaction protocol can be tested, crash by crash, against an in-memory lake, and run
//! against S3 (or the local S3-protocol store) unchanged.

use std::{collections::BTreeMap, sync::Mutex};

use aws_sdk_s3::{error::DisplayErrorContext, primitives::ByteStream};
use bytes::Bytes;

/// An object found by a listing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectInfo {
    pub key: String,
    pub size: u64,
}

/// A failed call to the lake. Every one stops the partition being compacted; nothing is
/// deleted before the objects that replace it are stored, so a re-run picks up from there.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// Listing a prefix failed.
    #[error("cannot list s3://{bucket}/{prefix}: {message}")]
    List {
        bucket: String,
        prefix: String,
        message: String,
    },
    /// Reading an object failed.
    #[error("cannot get s3://{bucket}/{key}: {message}")]
    Get {
        bucket: String,
        key: String,
        message: String,
    },
    /// Writing an object failed.
    #[error("cannot put s3://{bucket}/{key}: {message}")]
    Put {
        bucket: String,
        key: String,
        message: String,
    },
    /// Deleting an object failed.
    #[error("cannot delete s3://{bucket}/{key}: {message}")]
    Delete {
        bucket: String,
        key: String,
        message: String,
    },
}

/// What the compactor asks of the lake.
pub trait LakeStore: Sync {
    /// Every object whose key starts with `prefix`, in key order.
    fn list(
        &self,
        prefix: &str,
    ) -> impl Future<Output = Result<Vec<ObjectInfo>, StoreError>> + Send;
    /// The whole body of an object.
    fn get(&self, key: &str) -> impl Future<Output = Result<Bytes, StoreError>> + Send;
    /// Writes (or overwrites) an object.
    fn put(&self, key: &str, body: Vec<u8>) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Deletes an object; deleting a missing object succeeds, as in S3.
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send;
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
    fn put(&self, key: &str, body: Vec<u8>) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).put(key, body)
    }
    fn delete(&self, key: &str) -> impl Future<Output = Result<(), StoreError>> + Send {
        (**self).delete(key)
    }
}

/// The real lake: one S3 bucket.
pub struct S3LakeStore {
    client: aws_sdk_s3::Client,
    bucket: String,
}

impl S3LakeStore {
    pub fn new(client: aws_sdk_s3::Client, bucket: String) -> Self {
        Self { client, bucket }
    }
}

fn message<E: std::error::Error>(error: E) -> String {
    DisplayErrorContext(&error).to_string()
}

impl LakeStore for S3LakeStore {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        let failed = |message| StoreError::List {
            bucket: self.bucket.clone(),
            prefix: prefix.to_string(),
            message,
        };
        let mut pages = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .into_paginator()
            .send();
        let mut objects = Vec::new();
        while let Some(page) = pages.next().await {
            let page = page.map_err(|e| failed(message(e)))?;
            objects.extend(page.contents().iter().filter_map(|o| {
                Some(ObjectInfo {
                    key: o.key()?.to_string(),
                    size: o.size().unwrap_or(0).max(0) as u64,
                })
            }));
        }
        objects.sort_by(|a, b| a.key.cmp(&b.key));
        Ok(objects)
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        let failed = |message| StoreError::Get {
            bucket: self.bucket.clone(),
            key: key.to_string(),
            message,
        };
        let object = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .send()
            .await
            .map_err(|e| failed(message(e)))?;
        let body = object
            .body
            .collect()
            .await
            .map_err(|e| failed(message(e)))?;
        Ok(body.into_bytes())
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_type("application/vnd.apache.parquet")
            .body(ByteStream::from(body))
            .send()
            .await
            .map(|_| ())
            .map_err(|e| StoreError::Put {
                bucket: self.bucket.clone(),
                key: key.to_string(),
                message: message(e),
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
                message: message(e),
            })
    }
}

/// A lake in memory, for tests and tools: keys in order, bodies shared.
#[derive(Debug, Default)]
pub struct MemoryStore {
    objects: Mutex<BTreeMap<String, Bytes>>,
}

impl MemoryStore {
    /// Every object, key to body.
    pub fn snapshot(&self) -> BTreeMap<String, Bytes> {
        self.lock().clone()
    }

    /// Every key, in order.
    pub fn keys(&self) -> Vec<String> {
        self.lock().keys().cloned().collect()
    }

    /// Stores an object directly.
    pub fn insert(&self, key: &str, body: impl Into<Bytes>) {
        self.lock().insert(key.to_string(), body.into());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<String, Bytes>> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.objects.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl LakeStore for MemoryStore {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        Ok(self
            .lock()
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(key, body)| ObjectInfo {
                key: key.clone(),
                size: body.len() as u64,
            })
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.lock()
            .get(key)
            .cloned()
            .ok_or_else(|| StoreError::Get {
                bucket: "memory".into(),
                key: key.to_string(),
                message: "no such key".into(),
            })
    }

    async fn put(&self, key: &str, body: Vec<u8>) -> Result<(), StoreError> {
        self.insert(key, body);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.lock().remove(key);
        Ok(())
    }
}

/// The in-memory lake also takes the sink's writes, so tests can fill it with real sink output.
impl sink::ObjectStore for &MemoryStore {
    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        _content_type: &'static str,
    ) -> Result<(), sink::StoreError> {
        self.insert(key, body);
        Ok(())
    }
}
