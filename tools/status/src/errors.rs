//! The poison records under `_errors/`: how many, of which topic, and why they were rejected
//! (each line's `reason`, as the sink wrote it). An error object is never rewritten, so each
//! is read once per process ([`LookCache`]).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lake::{LakeKey, LakeStore, Layout};
use serde::Serialize;

use crate::{StatusError, cache::LookCache};

/// How many of the newest error objects are listed one by one.
pub const RECENT_ERRORS: usize = 20;

/// What one error object holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ErrorObject {
    pub key: String,
    pub at: Option<DateTime<Utc>>,
    /// Rejected records in it (one JSON line each).
    pub records: usize,
    /// Per reason, how many of its records were rejected for it.
    pub reasons: BTreeMap<String, usize>,
}

/// The poison records of the topic, printed beside the lake's counts.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize)]
pub struct ErrorsStatus {
    /// Objects under `_errors/` (the sink's rejected records, kept as objects beside the lake).
    pub error_objects: usize,
    /// Poison records in them (one JSON line each).
    pub error_records: usize,
    /// Per reason, the records rejected for it.
    pub error_reasons: BTreeMap<String, usize>,
    /// The newest error objects (at most [`RECENT_ERRORS`]), newest first.
    pub recent_errors: Vec<ErrorObject>,
}

/// What a line counts as when it is not a JSON object with a `reason`.
const NO_REASON: &str = "(no reason recorded)";

/// Per reason, the lines of an error object's body.
pub fn reasons_of(body: &[u8]) -> BTreeMap<String, usize> {
    let mut reasons = BTreeMap::new();
    for line in body.split(|&b| b == b'\n').filter(|l| !l.is_empty()) {
        let reason = serde_json::from_slice::<serde_json::Value>(line)
            .ok()
            .and_then(|v| v.get("reason")?.as_str().map(str::to_string))
            .unwrap_or_else(|| NO_REASON.to_string());
        *reasons.entry(reason).or_default() += 1;
    }
    reasons
}

/// The error objects of `topic` (and those whose key names no topic) and their records.
pub async fn errors_status<S: LakeStore>(
    store: &S,
    layout: &Layout,
    topic: &str,
    cache: &LookCache,
) -> Result<ErrorsStatus, StatusError> {
    let listed = store.list(&layout.errors_root()).await?;
    cache.keep_only_reasons(&listed);
    let mut objects = Vec::new();
    for object in listed {
        if let Some(LakeKey::Error(key)) = layout.parse(&object.key)
            && key.topic != topic
        {
            continue;
        }
        let reasons = match cache.reasons(&object) {
            Some(reasons) => reasons,
            None => {
                let reasons = reasons_of(&store.get(&object.key).await?);
                cache.keep_reasons(&object, reasons.clone());
                reasons
            }
        };
        objects.push(ErrorObject {
            key: object.key,
            at: object.modified,
            records: reasons.values().sum(),
            reasons,
        });
    }
    let mut status = ErrorsStatus {
        error_objects: objects.len(),
        ..ErrorsStatus::default()
    };
    for object in &objects {
        status.error_records += object.records;
        for (reason, n) in &object.reasons {
            *status.error_reasons.entry(reason.clone()).or_default() += n;
        }
    }
    objects.sort_by(|a, b| (b.at, &b.key).cmp(&(a.at, &a.key)));
    objects.truncate(RECENT_ERRORS);
    status.recent_errors = objects;
    Ok(status)
}
