//! A lake in memory for tests of anything that reads or writes it: keys in order, bodies
//! shared, and failures injected where a test asks for them, with the code and status S3 would
//! answer so that they are classified as real ones are.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
};

use bytes::Bytes;
use lambda_kit::{Retry, aws::service_retry};

use crate::{
    LakeRow, LakeStore, ObjectInfo, RowsBuilder, StoreError,
    store::{Condition, Tagged},
};

/// A Parquet object holding `rows`, encoded as the sink encodes its objects (default codec).
pub fn parquet(rows: &[LakeRow]) -> Vec<u8> {
    encode(rows, None)
}

/// `rows` as a merged object's body: Parquet whose footer lists `replaced`, the spans of the
/// originals it replaced ([`crate::compacted::COMPACTED_FROM_KEY`]).
pub fn merged_parquet(rows: &[LakeRow], replaced: &[crate::Span]) -> Vec<u8> {
    encode(rows, Some(crate::compacted::encode(replaced)))
}

fn encode(rows: &[LakeRow], compacted_from: Option<String>) -> Vec<u8> {
    let mut builder = RowsBuilder::default();
    rows.iter().for_each(|r| builder.push_row(r));
    let batch = builder.finish().expect("rows always fit the lake schema");
    let properties =
        crate::writer::writer_properties(parquet::basic::Compression::SNAPPY, "user-lake tests");
    let metadata: Vec<(&str, String)> = compacted_from
        .map(|value| (crate::compacted::COMPACTED_FROM_KEY, value))
        .into_iter()
        .collect();
    crate::writer::encode(&batch, &properties, &metadata).expect("rows encode")
}

/// A call to the store.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    List,
    Get,
    Put,
    Delete,
}

/// A call the store refuses as S3 would: calls of `operation` on keys containing `key_contains`
/// fail with `code` and HTTP `status`.
#[derive(Debug, Clone)]
struct Refusal {
    operation: Operation,
    key_contains: String,
    code: &'static str,
    status: u16,
}

/// A stored object: its body, content type, when it was written and its version's ETag.
#[derive(Debug, Clone)]
struct Stored {
    body: Bytes,
    content_type: &'static str,
    modified: chrono::DateTime<chrono::Utc>,
    etag: String,
}

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<String, Stored>,
    /// The time writes are stamped with; `None`: the clock.
    time: Option<chrono::DateTime<chrono::Utc>>,
    /// Writes so far, which makes every version's ETag new.
    versions: u64,
    refusals: Vec<Refusal>,
    /// Puts and deletes that may still succeed before the store "crashes"; `None`: no limit.
    mutations_left: Option<usize>,
    mutations: usize,
}

/// An in-memory lake.
#[derive(Debug, Default)]
pub struct MemoryStore {
    state: Mutex<State>,
}

impl State {
    fn store(&mut self, key: &str, body: Bytes, content_type: &'static str) {
        self.versions += 1;
        let stored = Stored {
            body,
            content_type,
            modified: self.time.unwrap_or_else(chrono::Utc::now),
            etag: format!("\"{:032x}\"", self.versions),
        };
        self.objects.insert(key.to_string(), stored);
    }
}

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Stamps later writes with `time` instead of the clock (the listing's `modified`).
    pub fn set_time(&self, time: chrono::DateTime<chrono::Utc>) {
        self.lock().time = Some(time);
    }

    /// Every object, key to body.
    pub fn snapshot(&self) -> BTreeMap<String, Bytes> {
        let state = self.lock();
        (state.objects.iter())
            .map(|(k, stored)| (k.clone(), stored.body.clone()))
            .collect()
    }

    /// Every key, in order.
    pub fn keys(&self) -> Vec<String> {
        self.lock().objects.keys().cloned().collect()
    }

    /// Every key under `prefix`, in order.
    pub fn keys_under(&self, prefix: &str) -> Vec<String> {
        self.keys()
            .into_iter()
            .filter(|k| k.starts_with(prefix))
            .collect()
    }

    /// An object's body; panics if there is none (a test's expectation failed).
    pub fn body(&self, key: &str) -> Bytes {
        match self.lock().objects.get(key) {
            Some(stored) => stored.body.clone(),
            None => panic!("no object {key}"),
        }
    }

    /// An object's content type; panics if there is none.
    pub fn content_type(&self, key: &str) -> &'static str {
        match self.lock().objects.get(key) {
            Some(stored) => stored.content_type,
            None => panic!("no object {key}"),
        }
    }

    /// Stores an object directly, bypassing faults.
    pub fn insert(&self, key: &str, body: impl Into<Bytes>) {
        self.lock()
            .store(key, body.into(), "application/octet-stream");
    }

    /// From now on, calls of `operation` on keys (or prefixes) containing `key_contains` fail
    /// with `code` and HTTP `status`, classified as S3's own answers are.
    pub fn refuse(
        &self,
        operation: Operation,
        key_contains: &str,
        code: &'static str,
        status: u16,
    ) {
        self.lock().refusals.push(Refusal {
            operation,
            key_contains: key_contains.to_string(),
            code,
            status,
        });
    }

    /// After `n` more puts and deletes succeed, every later one fails, as if the process had
    /// died there; [`MemoryStore::heal`] ends it.
    pub fn crash_after_mutations(&self, n: usize) {
        self.lock().mutations_left = Some(n);
    }

    /// Lifts every injected failure.
    pub fn heal(&self) {
        let mut state = self.lock();
        state.refusals.clear();
        state.mutations_left = None;
    }

    /// Puts and deletes that succeeded so far.
    pub fn mutations(&self) -> usize {
        self.lock().mutations
    }

    /// The injected failure for this call, if any; counts a mutation that may go ahead.
    fn check(&self, operation: Operation, key: &str) -> Result<(), StoreError> {
        let mut state = self.lock();
        let refused = state
            .refusals
            .iter()
            .find(|r| r.operation == operation && key.contains(&r.key_contains))
            .map(|r| {
                (
                    Some(r.code.to_string()),
                    service_retry(Some(r.code), r.status),
                )
            });
        let mutating = matches!(operation, Operation::Put | Operation::Delete);
        let crashed = mutating && state.mutations_left == Some(0);
        let failure = refused
            .or_else(|| crashed.then(|| (Some("InjectedCrash".to_string()), Retry::Retryable)));
        if let Some((code, retry)) = failure {
            let message = format!(
                "service error: {} (injected)",
                code.as_deref().unwrap_or("unknown")
            );
            return Err(error(operation, key, code, retry, message));
        }
        if mutating {
            state.mutations += 1;
            if let Some(left) = state.mutations_left.as_mut() {
                *left -= 1;
            }
        }
        Ok(())
    }
}

fn error(
    operation: Operation,
    key: &str,
    code: Option<String>,
    retry: Retry,
    message: String,
) -> StoreError {
    let (bucket, key) = ("memory".to_string(), key.to_string());
    match operation {
        Operation::List => StoreError::List {
            bucket,
            prefix: key,
            code,
            retry,
            message,
        },
        Operation::Get => StoreError::Get {
            bucket,
            key,
            code,
            retry,
            message,
        },
        Operation::Put => StoreError::Put {
            bucket,
            key,
            code,
            retry,
            message,
        },
        Operation::Delete => StoreError::Delete {
            bucket,
            key,
            code,
            retry,
            message,
        },
    }
}

impl LakeStore for MemoryStore {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        self.check(Operation::List, prefix)?;
        let state = self.lock();
        Ok(state
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(key, stored)| ObjectInfo {
                key: key.clone(),
                size: stored.body.len() as u64,
                modified: Some(stored.modified),
            })
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.check(Operation::Get, key)?;
        let found = self.lock().objects.get(key).map(|s| s.body.clone());
        found.ok_or_else(|| {
            let code = Some("NoSuchKey".to_string());
            let message = "service error: NoSuchKey".to_string();
            error(Operation::Get, key, code, Retry::Fatal, message)
        })
    }

    async fn get_range(&self, key: &str, range: std::ops::Range<u64>) -> Result<Bytes, StoreError> {
        let body = self.get(key).await?;
        let end = (range.end as usize).min(body.len());
        let start = (range.start as usize).min(end);
        Ok(body.slice(start..end))
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(), StoreError> {
        self.check(Operation::Put, key)?;
        self.lock().store(key, body.into(), content_type);
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check(Operation::Delete, key)?;
        self.lock().objects.remove(key);
        Ok(())
    }

    async fn get_tagged(&self, key: &str) -> Result<Option<Tagged>, StoreError> {
        self.check(Operation::Get, key)?;
        let found = self.lock().objects.get(key).map(|s| Tagged {
            body: s.body.clone(),
            etag: Some(s.etag.clone()),
        });
        Ok(found)
    }

    async fn put_if(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
        condition: Condition,
    ) -> Result<bool, StoreError> {
        self.check(Operation::Put, key)?;
        let mut state = self.lock();
        let holds = match (&condition, state.objects.get(key)) {
            (Condition::Absent, found) => found.is_none(),
            (Condition::Matches(etag), Some(found)) => &found.etag == etag,
            (Condition::Matches(_), None) => false,
        };
        if holds {
            state.store(key, body.into(), content_type);
        }
        Ok(holds)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn injected_refusals_are_classified_like_s3s_answers() {
        let store = MemoryStore::default();
        store.refuse(Operation::Put, "users/", "AccessDenied", 403);
        store.refuse(Operation::Put, "_errors/", "SlowDown", 503);
        let denied = store.put("users/a", vec![1], "x").await.unwrap_err();
        let throttled = store.put("_errors/b", vec![1], "x").await.unwrap_err();
        assert_eq!(
            (denied.retry(), denied.code()),
            (Retry::Fatal, Some("AccessDenied"))
        );
        assert_eq!(throttled.retry(), Retry::Retryable);
        store.put("other/c", vec![1], "x").await.unwrap();
        assert_eq!(store.keys(), ["other/c"]);
    }

    #[tokio::test]
    async fn conditional_writes_hold_as_s3s_do() {
        let store = MemoryStore::default();
        assert!(
            store
                .put_if("l", vec![1], "x", Condition::Absent)
                .await
                .unwrap()
        );
        assert!(
            !store
                .put_if("l", vec![2], "x", Condition::Absent)
                .await
                .unwrap()
        );
        let first = store.get_tagged("l").await.unwrap().unwrap();
        let etag = first.etag.unwrap();
        assert!(
            store
                .put_if("l", vec![3], "x", Condition::Matches(etag.clone()))
                .await
                .unwrap()
        );
        assert!(
            !store
                .put_if("l", vec![4], "x", Condition::Matches(etag))
                .await
                .unwrap()
        );
        assert_eq!(store.body("l").as_ref(), [3]);
        assert!(store.get_tagged("missing").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn a_crash_stops_every_mutation_after_the_allowed_ones_until_healed() {
        let store = MemoryStore::default();
        store.crash_after_mutations(1);
        store.put("a", vec![], "x").await.unwrap();
        assert!(store.put("b", vec![], "x").await.is_err());
        assert!(store.delete("a").await.is_err());
        assert_eq!(store.get("a").await.unwrap().len(), 0, "reads still work");
        store.heal();
        store.delete("a").await.unwrap();
        assert_eq!((store.keys().len(), store.mutations()), (0, 2));
    }
}
