//! A lake in memory for tests of anything that reads or writes it: keys in order, bodies
//! shared, and failures injected where a test asks for them, with the code and status S3 would
//! answer so that they are classified as real ones are.

use std::{
    collections::BTreeMap,
    sync::{Mutex, MutexGuard},
};

use bytes::Bytes;
use lambda_kit::{Retry, aws::service_retry};

use crate::{ObjectInfo, ObjectStore, StoreError};

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

#[derive(Debug, Default)]
struct State {
    objects: BTreeMap<String, (Bytes, &'static str)>,
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

impl MemoryStore {
    fn lock(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave the map half-updated.
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every object, key to body.
    pub fn snapshot(&self) -> BTreeMap<String, Bytes> {
        let state = self.lock();
        (state.objects.iter())
            .map(|(k, (body, _))| (k.clone(), body.clone()))
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
            Some((body, _)) => body.clone(),
            None => panic!("no object {key}"),
        }
    }

    /// An object's content type; panics if there is none.
    pub fn content_type(&self, key: &str) -> &'static str {
        match self.lock().objects.get(key) {
            Some((_, content_type)) => content_type,
            None => panic!("no object {key}"),
        }
    }

    /// Stores an object directly, bypassing faults.
    pub fn insert(&self, key: &str, body: impl Into<Bytes>) {
        (self.lock().objects).insert(key.to_string(), (body.into(), "application/octet-stream"));
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

impl ObjectStore for MemoryStore {
    async fn list(&self, prefix: &str) -> Result<Vec<ObjectInfo>, StoreError> {
        self.check(Operation::List, prefix)?;
        let state = self.lock();
        Ok(state
            .objects
            .range(prefix.to_string()..)
            .take_while(|(k, _)| k.starts_with(prefix))
            .map(|(key, (body, _))| ObjectInfo {
                key: key.clone(),
                size: body.len() as u64,
            })
            .collect())
    }

    async fn get(&self, key: &str) -> Result<Bytes, StoreError> {
        self.check(Operation::Get, key)?;
        let found = self.lock().objects.get(key).map(|(body, _)| body.clone());
        found.ok_or_else(|| {
            let code = Some("NoSuchKey".to_string());
            let message = "service error: NoSuchKey".to_string();
            error(Operation::Get, key, code, Retry::Fatal, message)
        })
    }

    async fn put(
        &self,
        key: &str,
        body: Vec<u8>,
        content_type: &'static str,
    ) -> Result<(), StoreError> {
        self.check(Operation::Put, key)?;
        (self.lock().objects).insert(key.to_string(), (body.into(), content_type));
        Ok(())
    }

    async fn delete(&self, key: &str) -> Result<(), StoreError> {
        self.check(Operation::Delete, key)?;
        self.lock().objects.remove(key);
        Ok(())
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
