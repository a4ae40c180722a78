//! The functions' last invocations, as the local stack records them: every invocation of the
//! producer, the sink and the compactor ends with one EMF summary line (`FunctionName`,
//! `Errors`, `Duration`, `timestamp`, and on failure `errorType` and `error`), which `cargo
//! lambda watch` writes to the stack's `functions.log`. On AWS the same lines go to each
//! function's CloudWatch log group, which `status` does not read: there the CloudWatch
//! dashboard (the stack's `DashboardUrl` output) shows invocations and errors.
//!
//! Only the log's last [`TAIL_BYTES`] are read on each look, so its size does not matter.

use std::{
    collections::BTreeMap,
    io::{Read, Seek, SeekFrom},
    path::{Path, PathBuf},
};

use chrono::{DateTime, Utc};
use serde::Serialize;
use serde_json::Value;

/// How much of the log's end a look reads.
pub const TAIL_BYTES: u64 = 4 * 1024 * 1024;

/// How many invocations of each function are listed.
pub const LAST_INVOCATIONS: usize = 10;

/// One invocation's summary line.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Invocation {
    pub at: Option<DateTime<Utc>>,
    /// Whether it succeeded (`Errors` 0).
    pub ok: bool,
    pub duration_ms: Option<f64>,
    /// The summary's message (`sink batch stored`, `producer run failed`, …).
    pub message: Option<String>,
    /// On failure, `<Kind>.<Retryable|Fatal>`.
    #[serde(rename = "errorType")]
    pub error_type: Option<String>,
    pub error: Option<String>,
    /// The counts the function reported (`RecordsProduced`, `RecordsWritten`, …).
    pub counts: BTreeMap<String, f64>,
}

/// One function's invocations in the part of the log read.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FunctionInvocations {
    pub function: String,
    /// Invocations found.
    pub invocations: usize,
    /// Of them, failed ones.
    pub failed: usize,
    /// The newest ones (at most [`LAST_INVOCATIONS`]), newest first.
    pub last: Vec<Invocation>,
}

/// What the functions' log says.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InvocationsStatus {
    /// The log read.
    pub log: PathBuf,
    /// Bytes of its end that were read (the whole log when it is smaller than that).
    pub bytes_read: u64,
    pub functions: Vec<FunctionInvocations>,
    /// Why the log could not be read, when it could not (a stack not started yet).
    pub unreadable: Option<String>,
}

/// The invocations the end of the log at `path` records.
pub fn invocations(path: &Path) -> InvocationsStatus {
    let mut status = InvocationsStatus {
        log: path.to_path_buf(),
        bytes_read: 0,
        functions: Vec::new(),
        unreadable: None,
    };
    match tail(path) {
        Ok(text) => {
            status.bytes_read = text.len() as u64;
            status.functions = summaries(&text);
        }
        Err(error) => status.unreadable = Some(error.to_string()),
    }
    status
}

fn tail(path: &Path) -> std::io::Result<String> {
    let mut file = std::fs::File::open(path)?;
    let size = file.metadata()?.len();
    let start = size.saturating_sub(TAIL_BYTES);
    file.seek(SeekFrom::Start(start))?;
    let mut bytes = Vec::new();
    file.read_to_end(&mut bytes)?;
    let mut text = String::from_utf8_lossy(&bytes).into_owned();
    if start > 0 {
        // The first line is cut: drop it.
        text = text
            .split_once('\n')
            .map(|(_, rest)| rest.to_string())
            .unwrap_or_default();
    }
    Ok(text)
}

/// Every invocation summary in `text` (one JSON line each, among other lines), per function.
pub fn summaries(text: &str) -> Vec<FunctionInvocations> {
    let mut per_function: BTreeMap<String, Vec<Invocation>> = BTreeMap::new();
    for line in text.lines() {
        let Some(start) = line.find('{') else {
            continue;
        };
        let Ok(Value::Object(fields)) = serde_json::from_str::<Value>(&line[start..]) else {
            continue;
        };
        let (Some(function), Some(errors), true) = (
            fields.get("FunctionName").and_then(Value::as_str),
            fields.get("Errors").and_then(Value::as_f64),
            fields.contains_key("_aws"),
        ) else {
            continue;
        };
        let text_field = |name: &str| fields.get(name).and_then(Value::as_str).map(str::to_string);
        let counts = fields
            .iter()
            .filter(|(name, _)| {
                name.starts_with("Records") || name.starts_with("Rows") || name.starts_with("Files")
            })
            .filter_map(|(name, v)| Some((name.clone(), v.as_f64()?)))
            .collect();
        per_function
            .entry(function.to_string())
            .or_default()
            .push(Invocation {
                at: text_field("timestamp").and_then(|t| t.parse().ok()),
                ok: errors == 0.0,
                duration_ms: fields.get("Duration").and_then(Value::as_f64),
                message: text_field("message"),
                error_type: text_field("errorType"),
                error: text_field("error"),
                counts,
            });
    }
    per_function
        .into_iter()
        .map(|(function, all)| {
            let failed = all.iter().filter(|i| !i.ok).count();
            let invocations = all.len();
            let last = all.into_iter().rev().take(LAST_INVOCATIONS).collect();
            FunctionInvocations {
                function,
                invocations,
                failed,
                last,
            }
        })
        .collect()
}
