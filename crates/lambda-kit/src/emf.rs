//! CloudWatch metrics as log lines: one Embedded Metric Format (EMF) document per invocation,
//! shared by every function so that they all publish their numbers the same way.
//!
//! Why a log line and not `PutMetricData`: Lambda already ships stdout to CloudWatch Logs, which
//! extracts the metrics from any event that is an EMF document; no SDK call, no latency on the
//! invocation and no `cloudwatch:PutMetricData` permission.
//!
//! How it must be written, given that the functions run on `provided.al2023` with
//! `LoggingConfig.LogFormat: JSON`:
//!
//! - The EMF specification requires the log event to *be* the JSON object, with nothing before
//!   or after it. A document nested inside another log record (in a `message` string, or in the
//!   `fields` of a `tracing` JSON line) is not extracted; this is the metric loss the Node.js EMF
//!   library had to fix when Lambda's JSON log format arrived, by writing to stdout directly
//!   instead of through the runtime's `console`.
//! - For an OS-only runtime, Lambda formats its own system logs (START, REPORT, ...) as JSON but
//!   captures the function's application output as it is written; a line that is already JSON
//!   is not encoded again. So the function must print the document itself, once, on one stdout
//!   line: never through `tracing`, whose JSON formatter would wrap it.
//! - Each document is written in a single `write_all` of the whole line on a locked stdout and
//!   flushed at once, so it cannot interleave with a `tracing` line and is not lost in a buffer
//!   if the execution environment is frozen after the response.
//!
//! The document is also the invocation's one structured summary: its top-level members carry the
//! metric values (as EMF requires), the dimension values and any other summary fields, so a
//! CloudWatch Logs Insights query and a metric read the same numbers.
//!
//! Lambda filters JSON application logs by their `level` field, and gives a line without one
//! the level INFO (Lambda developer guide, "Log-level filtering"). With the function's log level
//! set to WARN or ERROR, a metrics line at INFO would be dropped, and with it the metrics. So the
//! line's `level` is never below the configured level (`AWS_LAMBDA_LOG_LEVEL`): INFO for a
//! success at the default level, WARN or ERROR when the function logs only from there; a failure
//! is always ERROR.

use std::{
    io::Write,
    sync::{Arc, Mutex},
};

use serde_json::{Map, Value, json};

use crate::settings::{SettingError, Source, check, or_default};

/// Namespace of the metrics unless `METRICS_NAMESPACE` says otherwise.
pub const DEFAULT_NAMESPACE: &str = "UserLake";
/// The dimension every metric is published under: the Lambda function's name.
pub const FUNCTION_DIMENSION: &str = "FunctionName";

/// A CloudWatch unit, as EMF spells it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Bytes,
    Milliseconds,
}

impl Unit {
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Bytes => "Bytes",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// A log level as Lambda's log-level filtering knows it, from the most to the least detailed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LogLevel {
    Trace,
    Debug,
    Info,
    Warn,
    Error,
    Fatal,
}

impl LogLevel {
    /// The name Lambda writes and reads (`INFO`).
    pub fn as_str(self) -> &'static str {
        match self {
            LogLevel::Trace => "TRACE",
            LogLevel::Debug => "DEBUG",
            LogLevel::Info => "INFO",
            LogLevel::Warn => "WARN",
            LogLevel::Error => "ERROR",
            LogLevel::Fatal => "FATAL",
        }
    }
}

impl std::str::FromStr for LogLevel {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        match text.trim().to_ascii_uppercase().as_str() {
            "TRACE" => Ok(LogLevel::Trace),
            "DEBUG" => Ok(LogLevel::Debug),
            "INFO" => Ok(LogLevel::Info),
            "WARN" | "WARNING" => Ok(LogLevel::Warn),
            "ERROR" => Ok(LogLevel::Error),
            "FATAL" => Ok(LogLevel::Fatal),
            other => Err(format!(
                "{other:?} is not one of TRACE, DEBUG, INFO, WARN, ERROR, FATAL"
            )),
        }
    }
}

/// Where metrics go and under which names, read once at start-up.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MetricsConfig {
    /// CloudWatch namespace (`METRICS_NAMESPACE`).
    pub namespace: String,
    /// Value of the `FunctionName` dimension: `AWS_LAMBDA_FUNCTION_NAME`, which Lambda sets, or
    /// the binary's name when run elsewhere.
    pub function_name: String,
    /// The function's application log level (`AWS_LAMBDA_LOG_LEVEL`, which Lambda sets from its
    /// logging configuration; INFO when unset): the lowest level the metrics line is written at.
    pub log_level: LogLevel,
}

impl MetricsConfig {
    /// Reads `METRICS_NAMESPACE` (default `UserLake`), `AWS_LAMBDA_FUNCTION_NAME` (default
    /// `default_function`) and `AWS_LAMBDA_LOG_LEVEL` (default INFO).
    pub fn from_source(env: &impl Source, default_function: &str) -> Result<Self, SettingError> {
        let namespace: String = or_default(env, "METRICS_NAMESPACE", DEFAULT_NAMESPACE.into())?;
        let valid = namespace.len() <= 255
            && !namespace.starts_with(':')
            && !namespace.starts_with("AWS/")
            && namespace
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-/#: ".contains(&b));
        Ok(Self {
            namespace: check(
                "METRICS_NAMESPACE",
                namespace,
                valid,
                "must be a CloudWatch namespace: at most 255 of A-Z a-z 0-9 . _ - / # : and \
                 space, not starting with ':' or 'AWS/'",
            )?,
            function_name: or_default(env, "AWS_LAMBDA_FUNCTION_NAME", default_function.into())?,
            log_level: or_default(env, "AWS_LAMBDA_LOG_LEVEL", LogLevel::Info)?,
        })
    }
}

/// One EMF document: a namespace, its dimensions, metric values and other summary fields.
#[derive(Debug, Clone)]
pub struct Document {
    namespace: String,
    /// The lowest level the line may carry, so that Lambda's log filter keeps it.
    floor: LogLevel,
    timestamp_ms: i64,
    dimensions: Vec<(String, String)>,
    metrics: Vec<(String, Unit, Value)>,
    properties: Map<String, Value>,
}

impl Document {
    /// An empty document for metrics observed at `timestamp_ms` (milliseconds since the epoch).
    pub fn new(namespace: impl Into<String>, timestamp_ms: i64) -> Self {
        Self {
            namespace: namespace.into(),
            floor: LogLevel::Trace,
            timestamp_ms,
            dimensions: Vec::new(),
            metrics: Vec::new(),
            properties: Map::new(),
        }
    }

    /// Adds a dimension (all dimensions form one dimension set).
    pub fn dimension(mut self, name: &str, value: impl Into<String>) -> Self {
        self.dimensions.push((name.to_string(), value.into()));
        self
    }

    /// Adds a metric. A value that is not a finite number (NaN from a float) is left out, since
    /// EMF requires numbers.
    pub fn metric(mut self, name: &str, unit: Unit, value: impl Into<Value>) -> Self {
        let value = value.into();
        if value.is_number() {
            self.metrics.push((name.to_string(), unit, value));
        }
        self
    }

    /// Adds a time as a metric in milliseconds, kept to the microsecond.
    pub fn duration(self, name: &str, elapsed: std::time::Duration) -> Self {
        self.metric(
            name,
            Unit::Milliseconds,
            elapsed.as_micros() as f64 / 1000.0,
        )
    }

    /// Adds a summary field that is not a metric (a topic, an error message, a list of keys).
    pub fn property(mut self, name: &str, value: impl Into<Value>) -> Self {
        self.properties.insert(name.to_string(), value.into());
        self
    }

    /// The lowest level the line may carry (the function's log level).
    pub fn at_least(mut self, floor: LogLevel) -> Self {
        self.floor = floor;
        self
    }

    /// Ends the summary of an invocation that succeeded: `Errors` = 0, `level` INFO (or the
    /// function's log level, if higher) and the message.
    pub fn succeeded(self, message: &str) -> Self {
        let level = LogLevel::Info.max(self.floor).as_str();
        self.metric("Errors", Unit::Count, 0u8)
            .property("level", level)
            .property("message", message)
    }

    /// Ends the summary of an invocation that failed: `Errors` = 1, `level` ERROR, the message,
    /// the `errorType` Lambda reports and the error itself.
    pub fn failed(self, message: &str, error_type: String, error: &dyn std::fmt::Display) -> Self {
        let level = LogLevel::Error.max(self.floor).as_str();
        self.metric("Errors", Unit::Count, 1u8)
            .property("level", level)
            .property("message", message)
            .property("errorType", error_type)
            .property("error", error.to_string())
    }

    /// The document as JSON: the fields, then the dimension and metric values, then `_aws`, so
    /// that neither a field nor a metric can shadow the metadata. A top-level `timestamp` in RFC
    /// 3339 (UTC, milliseconds) goes with the `level`: Lambda's log-level filtering assigns a
    /// JSON line without a valid one the level INFO, which a function at WARN or ERROR drops
    /// (see [`lambda_keeps`]).
    pub fn to_value(&self) -> Value {
        let mut root = self.properties.clone();
        root.insert(
            "timestamp".into(),
            Value::String(rfc3339_ms(self.timestamp_ms)),
        );
        for (name, value) in &self.dimensions {
            root.insert(name.clone(), Value::String(value.clone()));
        }
        for (name, _, value) in &self.metrics {
            root.insert(name.clone(), value.clone());
        }
        let dimension_set: Vec<&str> = self.dimensions.iter().map(|(n, _)| n.as_str()).collect();
        let metrics: Vec<Value> = self
            .metrics
            .iter()
            .map(|(name, unit, _)| json!({"Name": name, "Unit": unit.as_str()}))
            .collect();
        root.insert(
            "_aws".into(),
            json!({
                "Timestamp": self.timestamp_ms,
                "CloudWatchMetrics": [{
                    "Namespace": self.namespace,
                    "Dimensions": [dimension_set],
                    "Metrics": metrics,
                }],
            }),
        );
        Value::Object(root)
    }

    /// The document on one line, without the newline.
    pub fn to_line(&self) -> String {
        self.to_value().to_string()
    }
}

/// `timestamp_ms` (milliseconds since the epoch) as RFC 3339 in UTC with milliseconds,
/// `2026-12-07T07:46:24.123Z`.
pub fn rfc3339_ms(timestamp_ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(timestamp_ms)
        .unwrap_or_default()
        .to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// Whether Lambda sends a line of a function's output to CloudWatch Logs when the function logs
/// JSON at the application log level `configured`, by the rules of
/// <https://docs.aws.amazon.com/lambda/latest/dg/monitoring-cloudwatchlogs-log-level.html>:
/// a line is kept when its level is at or above `configured`; "if the "level" value field is
/// invalid or missing, Lambda will assign the log output the level INFO", and "if you don't
/// supply a valid timestamp, Lambda will assign the log the level INFO" (an RFC 3339 time in
/// `timestamp`). A line that is not a JSON object has neither, so it is INFO.
pub fn lambda_keeps(line: &str, configured: LogLevel) -> bool {
    let level = serde_json::from_str::<Value>(line)
        .ok()
        .filter(Value::is_object)
        .filter(|v| {
            v["timestamp"]
                .as_str()
                .is_some_and(|t| chrono::DateTime::parse_from_rfc3339(t).is_ok())
        })
        .and_then(|v| v["level"].as_str().and_then(|l| l.parse::<LogLevel>().ok()))
        .unwrap_or(LogLevel::Info);
    level >= configured
}

/// Where documents are written, one line each.
pub trait LineWriter: Send + Sync {
    fn write_line(&self, line: &str);
}

/// The process's stdout, which Lambda ships to CloudWatch Logs.
pub struct Stdout;

impl LineWriter for Stdout {
    fn write_line(&self, line: &str) {
        let mut buffer = Vec::with_capacity(line.len() + 1);
        buffer.extend_from_slice(line.as_bytes());
        buffer.push(b'\n');
        let mut out = std::io::stdout().lock();
        // A metric line that cannot be written must not fail the invocation it describes.
        let _ = out.write_all(&buffer).and_then(|()| out.flush());
    }
}

/// Writes each line to stderr: for commands that run a function's code and keep stdout for
/// their own summary.
pub struct Stderr;

impl LineWriter for Stderr {
    fn write_line(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }
}

/// Keeps every line in memory, for tests and for tools that print their own summary.
#[derive(Debug, Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<String>>>);

impl Captured {
    /// The lines written so far.
    pub fn lines(&self) -> Vec<String> {
        self.0.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

impl LineWriter for Captured {
    fn write_line(&self, line: &str) {
        if let Ok(mut lines) = self.0.lock() {
            lines.push(line.to_string());
        }
    }
}

/// A function's metrics emitter: its namespace and `FunctionName`, and where lines go.
#[derive(Clone)]
pub struct Metrics {
    config: MetricsConfig,
    out: Arc<dyn LineWriter>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics")
            .field("config", &self.config)
            .finish_non_exhaustive()
    }
}

impl Metrics {
    /// Emits to `out`.
    pub fn new(config: MetricsConfig, out: Arc<dyn LineWriter>) -> Self {
        Self { config, out }
    }

    /// Emits to stdout, as in Lambda.
    pub fn stdout(config: MetricsConfig) -> Self {
        Self::new(config, Arc::new(Stdout))
    }

    /// Emits to stderr (a command that prints its own summary on stdout).
    pub fn stderr(config: MetricsConfig) -> Self {
        Self::new(config, Arc::new(Stderr))
    }

    /// Emits into memory; the returned handle reads the lines back.
    pub fn captured(config: MetricsConfig) -> (Self, Captured) {
        let captured = Captured::default();
        (Self::new(config, Arc::new(captured.clone())), captured)
    }

    pub fn config(&self) -> &MetricsConfig {
        &self.config
    }

    /// A document in this function's namespace with its `FunctionName` dimension.
    pub fn document(&self, timestamp_ms: i64) -> Document {
        Document::new(&self.config.namespace, timestamp_ms)
            .dimension(FUNCTION_DIMENSION, &self.config.function_name)
            .at_least(self.config.log_level)
    }

    /// Writes the document as one line.
    pub fn emit(&self, document: &Document) {
        self.out.write_line(&document.to_line());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lambda_keeps_a_line_by_its_level_only_when_its_timestamp_is_valid() {
        let at = |level: &str, timestamp: Option<&str>| {
            let mut line = json!({"level": level, "message": "m"});
            if let Some(t) = timestamp {
                line["timestamp"] = json!(t);
            }
            line.to_string()
        };
        let valid = Some("2026-12-07T07:46:24.123Z");
        assert!(lambda_keeps(&at("WARN", valid), LogLevel::Warn));
        assert!(!lambda_keeps(&at("INFO", valid), LogLevel::Warn));
        // No timestamp, or one that is not RFC 3339: INFO, whatever its level says.
        assert!(!lambda_keeps(&at("ERROR", None), LogLevel::Warn));
        assert!(!lambda_keeps(
            &at("ERROR", Some("1795525198100")),
            LogLevel::Error
        ));
        assert!(!lambda_keeps(
            &at("ERROR", Some("2026-12-07 07:46")),
            LogLevel::Error
        ));
        assert!(lambda_keeps(&at("ERROR", None), LogLevel::Info));
        assert!(lambda_keeps("plain text", LogLevel::Info));
        assert!(!lambda_keeps("plain text", LogLevel::Warn));
    }

    #[test]
    fn the_metrics_line_survives_every_level_it_is_written_at() {
        for floor in [
            LogLevel::Trace,
            LogLevel::Debug,
            LogLevel::Info,
            LogLevel::Warn,
            LogLevel::Error,
        ] {
            let (metrics, captured) = Metrics::captured(config());
            let document = metrics
                .document(1_795_525_198_100)
                .at_least(floor)
                .succeeded("done");
            metrics.emit(&document);
            let line = &captured.lines()[0];
            let value: Value = serde_json::from_str(line).unwrap();
            assert_eq!(value["timestamp"], "2026-11-24T12:59:58.100Z");
            assert!(lambda_keeps(line, floor), "dropped at {floor:?}: {line}");
            // Without its timestamp the same line would be INFO and dropped at WARN and ERROR.
            let mut bare = value.clone();
            bare.as_object_mut().unwrap().remove("timestamp");
            assert_eq!(
                lambda_keeps(&bare.to_string(), floor),
                floor <= LogLevel::Info,
                "{floor:?}"
            );
        }
    }

    fn config() -> MetricsConfig {
        MetricsConfig::from_source(&[("AWS_LAMBDA_FUNCTION_NAME", "lake-sink")], "sink").unwrap()
    }

    #[test]
    fn a_document_has_the_emf_metadata_and_top_level_values() {
        // given
        let (metrics, captured) = Metrics::captured(config());

        // when
        let document = metrics
            .document(1_795_525_198_100)
            .metric("RecordsIn", Unit::Count, 7u64)
            .metric("BytesWritten", Unit::Bytes, 6876usize)
            .metric("Lag", Unit::Milliseconds, 12.5)
            .property("topic", "users_created");
        metrics.emit(&document);

        // then: one line, a JSON object, every member the spec asks for
        let lines = captured.lines();
        assert_eq!(lines.len(), 1);
        assert!(!lines[0].contains('\n'));
        let value: Value = serde_json::from_str(&lines[0]).unwrap();
        assert_eq!(value["_aws"]["Timestamp"], 1_795_525_198_100i64);
        let directive = &value["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(directive["Namespace"], "UserLake");
        assert_eq!(directive["Dimensions"], json!([["FunctionName"]]));
        assert_eq!(
            directive["Metrics"],
            json!([
                {"Name": "RecordsIn", "Unit": "Count"},
                {"Name": "BytesWritten", "Unit": "Bytes"},
                {"Name": "Lag", "Unit": "Milliseconds"},
            ])
        );
        assert_eq!(value["FunctionName"], "lake-sink");
        assert_eq!(value["RecordsIn"], 7);
        assert_eq!(value["BytesWritten"], 6876);
        assert_eq!(value["Lag"], 12.5);
        assert_eq!(value["topic"], "users_created");
    }

    #[test]
    fn a_non_finite_value_is_left_out_and_fields_cannot_shadow_the_metadata() {
        let value = Document::new("UserLake", 0)
            .metric("Broken", Unit::Milliseconds, f64::NAN)
            .property("_aws", "not metadata")
            .to_value();
        assert!(value.get("Broken").is_none());
        assert_eq!(value["_aws"]["CloudWatchMetrics"][0]["Metrics"], json!([]));
    }

    #[test]
    fn namespace_defaults_and_is_validated_by_name() {
        let config = MetricsConfig::from_source(&[("OTHER", "x")], "producer").unwrap();
        assert_eq!(
            config,
            MetricsConfig {
                namespace: "UserLake".into(),
                function_name: "producer".into(),
                log_level: LogLevel::Info,
            }
        );
        let custom = [("METRICS_NAMESPACE", "Team/User Lake")];
        assert_eq!(
            MetricsConfig::from_source(&custom, "producer")
                .unwrap()
                .namespace,
            "Team/User Lake"
        );
        for bad in ["AWS/Lambda", "lake{1}", ":lake"] {
            let err =
                MetricsConfig::from_source(&[("METRICS_NAMESPACE", bad)], "producer").unwrap_err();
            assert!(
                err.to_string()
                    .starts_with(&format!("environment variable METRICS_NAMESPACE=\"{bad}\"")),
                "{err}"
            );
        }
    }

    #[test]
    fn the_line_is_never_below_the_functions_log_level_and_a_failure_is_an_error() {
        for (configured, success, failure) in [
            ("TRACE", "INFO", "ERROR"),
            ("DEBUG", "INFO", "ERROR"),
            ("INFO", "INFO", "ERROR"),
            ("WARN", "WARN", "ERROR"),
            ("ERROR", "ERROR", "ERROR"),
        ] {
            let env = [("AWS_LAMBDA_LOG_LEVEL", configured)];
            let metrics = Metrics::captured(MetricsConfig::from_source(&env, "sink").unwrap()).0;
            let ok = metrics.document(0).succeeded("done").to_value();
            let failed = metrics
                .document(0)
                .failed("failed", "StoreFailed.Retryable".into(), &"boom")
                .to_value();
            assert_eq!(ok["level"], success, "{configured}");
            assert_eq!(failed["level"], failure, "{configured}");
        }
        let bad = MetricsConfig::from_source(&[("AWS_LAMBDA_LOG_LEVEL", "loud")], "sink");
        assert!(
            bad.unwrap_err()
                .to_string()
                .contains("AWS_LAMBDA_LOG_LEVEL")
        );
    }
}
