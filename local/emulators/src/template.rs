//! Reads the trigger settings of a function from the SAM template.
//!
//! The deployed stack takes its schedule rate and its MSK batching rules from `template.yaml`;
//! reading the same file here keeps the local emulators firing the functions the way AWS
//! would, without a second copy of those numbers that could drift. CloudFormation short tags
//! (`!Ref`, `!Sub`, …) are kept by the YAML parser as tagged values; `!Ref Param` (and the long
//! form `Ref: Param`) resolves to that parameter's `Default`.

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::time::Duration;

use serde_norway::Value;

/// SAM event types that run a function on a schedule.
const SCHEDULE_EVENT_TYPES: &[&str] = &["Schedule", "ScheduleV2"];
/// SAM event types that feed a function batches of Kafka records.
const KAFKA_EVENT_TYPES: &[&str] = &["MSK", "SelfManagedKafka"];

/// The stack the local run stands for: `${AWS::StackName}` in a `!Sub` the emulators resolve
/// (the deploy guide's stack name, so the sink's consumer group is `user-lake-sink` as on AWS).
pub const LOCAL_STACK_NAME: &str = "user-lake";
/// Lambda's default batch size for Kafka event sources.
pub const DEFAULT_BATCH_SIZE: usize = 100;
/// Lambda's default batching window for Kafka event sources (500 ms).
pub const DEFAULT_BATCHING_WINDOW: Duration = Duration::from_millis(500);
/// Largest BatchSize an MSK event source mapping accepts.
pub const MAX_BATCH_SIZE: usize = 10_000;
/// Largest MaximumBatchingWindowInSeconds an event source mapping accepts.
pub const MAX_BATCHING_WINDOW_SECS: u64 = 300;
/// Largest MaximumRetryAttempts of a Kafka event source mapping (-1 is infinite).
pub const MAX_KAFKA_RETRIES: u64 = 10_000;
/// Retries Lambda applies to a Kafka mapping with infinite retries and an on-failure destination
/// (Lambda developer guide, "Capturing discarded batches for Amazon MSK and self-managed Apache
/// Kafka event sources").
pub const KAFKA_RETRIES_WITH_DESTINATION: u32 = 10;
/// Range of a Kafka mapping's MaximumRecordAgeInSeconds (-1 is infinite).
pub const KAFKA_RECORD_AGE_SECS: std::ops::RangeInclusive<u64> = 60..=604_800;
/// Lambda's retries of a failed asynchronous invocation when `EventInvokeConfig` says nothing.
pub const DEFAULT_ASYNC_RETRIES: u32 = 2;
/// Lambda keeps an asynchronous event for at most six hours by default.
pub const DEFAULT_ASYNC_EVENT_AGE: Duration = Duration::from_secs(21_600);

/// Why the settings of a function could not be read from the template.
#[derive(Debug, thiserror::Error)]
pub enum TemplateError {
    /// The template file could not be read.
    #[error("cannot read SAM template {path}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    /// The template is not valid YAML.
    #[error("SAM template {path} is not valid YAML")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_norway::Error,
    },
    /// No serverless function in the template builds the named binary.
    #[error(
        "no AWS::Serverless::Function for `{function}` in {path} (matched on \
         Metadata.BuildProperties.Binary, then on the logical id)"
    )]
    FunctionNotFound { path: PathBuf, function: String },
    /// The function has no event of the wanted kind.
    #[error("function {logical_id} in {path} has no event of type {wanted}")]
    EventNotFound {
        path: PathBuf,
        logical_id: String,
        wanted: String,
    },
    /// A `Ref` names a parameter that does not exist or has no `Default`.
    #[error("`!Ref {name}` at {at} in {path} names no parameter with a Default")]
    UnresolvedRef {
        path: PathBuf,
        name: String,
        at: String,
    },
    /// A property is missing, has the wrong type or an out-of-range value.
    #[error("{at} in {path}: {problem}")]
    InvalidProperty {
        path: PathBuf,
        at: String,
        problem: String,
    },
}

/// Where a new consumer group starts reading a topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StartingPosition {
    /// From the oldest record still in the topic (`TRIM_HORIZON`, Kafka's `earliest`).
    TrimHorizon,
    /// Only records produced after the group first joins (`LATEST`, Kafka's `latest`).
    Latest,
}

impl StartingPosition {
    /// The librdkafka `auto.offset.reset` value with the same meaning.
    pub fn auto_offset_reset(self) -> &'static str {
        match self {
            StartingPosition::TrimHorizon => "earliest",
            StartingPosition::Latest => "latest",
        }
    }
}

impl FromStr for StartingPosition {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "TRIM_HORIZON" | "EARLIEST" => Ok(StartingPosition::TrimHorizon),
            "LATEST" => Ok(StartingPosition::Latest),
            "AT_TIMESTAMP" => {
                Err("AT_TIMESTAMP is not supported locally; use TRIM_HORIZON or LATEST".into())
            }
            other => Err(format!(
                "unknown starting position `{other}` (TRIM_HORIZON or LATEST)"
            )),
        }
    }
}

/// The schedule event of a function.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScheduleSettings {
    /// Logical id of the function resource.
    pub logical_id: String,
    /// Name of the event under `Events`.
    pub event_name: String,
    /// The resolved `ScheduleExpression`, e.g. `rate(1 minute)`.
    pub expression: String,
    /// How Lambda retries the asynchronous invocations the schedule makes.
    pub invoke: AsyncInvokeSettings,
}

/// The function's `EventInvokeConfig`: what Lambda does with an asynchronous event that fails.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AsyncInvokeSettings {
    /// Retries of a failed invocation (`MaximumRetryAttempts`, 0 to 2; Lambda's default 2).
    pub max_retries: u32,
    /// Age after which a queued event is dropped (`MaximumEventAgeInSeconds`, 60 s to 6 h).
    pub max_event_age: Duration,
}

impl Default for AsyncInvokeSettings {
    fn default() -> Self {
        AsyncInvokeSettings {
            max_retries: DEFAULT_ASYNC_RETRIES,
            max_event_age: DEFAULT_ASYNC_EVENT_AGE,
        }
    }
}

/// Where a Kafka mapping sends a batch it gave up on (`DestinationConfig.OnFailure`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FailureDestination {
    /// `!GetAtt <Resource>.Arn` of a resource in the template: its logical id and type.
    Resource { logical_id: String, kind: String },
    /// A literal ARN.
    Arn(String),
}

/// The Kafka event source of a function, with Lambda's defaults filled in.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MskSettings {
    /// Logical id of the function resource.
    pub logical_id: String,
    /// Name of the event under `Events`, or the logical id of the `AWS::Lambda::EventSourceMapping`
    /// resource when the trigger is written as one.
    pub event_name: String,
    /// Topics the event source reads.
    pub topics: Vec<String>,
    /// Most records per invocation (`BatchSize`).
    pub batch_size: usize,
    /// How long to gather records after the first one (`MaximumBatchingWindowInSeconds`).
    pub batching_window: Duration,
    /// Where a new consumer group starts (`StartingPosition`).
    pub starting_position: StartingPosition,
    /// The consumer group id (`ConsumerGroupId`), if the template sets one.
    pub consumer_group_id: Option<String>,
    /// Retries of a failing batch (`MaximumRetryAttempts`); `None`: until it succeeds or its
    /// records expire. With an on-failure destination and no limit, Lambda applies 10.
    pub max_retries: Option<u32>,
    /// A batch whose oldest record is older than this is given up on
    /// (`MaximumRecordAgeInSeconds`); `None`: never.
    pub max_record_age: Option<Duration>,
    /// Whether a failing batch is split in two (`BisectBatchOnFunctionError`).
    pub bisect: bool,
    /// Where a batch that was given up on goes (`DestinationConfig.OnFailure.Destination`).
    pub on_failure: Option<FailureDestination>,
}

/// A parsed SAM template.
#[derive(Debug, Clone)]
pub struct Template {
    path: PathBuf,
    root: Value,
}

impl Template {
    /// Reads and parses the template at `path`.
    pub fn load(path: &Path) -> Result<Self, TemplateError> {
        let text = std::fs::read_to_string(path).map_err(|source| TemplateError::Read {
            path: path.to_owned(),
            source,
        })?;
        Self::parse(path, &text)
    }

    /// Parses template text; `path` only labels error messages.
    pub fn parse(path: impl Into<PathBuf>, text: &str) -> Result<Self, TemplateError> {
        let path = path.into();
        let root = serde_norway::from_str(text).map_err(|source| TemplateError::Parse {
            path: path.clone(),
            source,
        })?;
        Ok(Template { path, root })
    }

    /// The schedule (`Schedule` or `ScheduleV2`) event of the function that builds `function`.
    pub fn schedule_settings(&self, function: &str) -> Result<ScheduleSettings, TemplateError> {
        let (logical_id, resource) = self.function(function)?;
        let (event_name, props) = self.event(logical_id, resource, SCHEDULE_EVENT_TYPES)?;
        let at = format!("Resources.{logical_id}.Properties.Events.{event_name}.Properties");
        let expression = self
            .property(props, "ScheduleExpression", &at)?
            .ok_or_else(|| self.invalid(&at, "ScheduleExpression is missing"))?;
        let expression = expression
            .as_str()
            .ok_or_else(|| self.invalid(&at, "ScheduleExpression is not a string"))?
            .to_owned();
        let invoke = self.async_invoke_settings(logical_id, resource)?;
        Ok(ScheduleSettings {
            logical_id: logical_id.to_owned(),
            event_name: event_name.to_owned(),
            expression,
            invoke,
        })
    }

    /// The `EventInvokeConfig` of a function, with Lambda's defaults for what it leaves out.
    fn async_invoke_settings(
        &self,
        logical_id: &str,
        resource: &Value,
    ) -> Result<AsyncInvokeSettings, TemplateError> {
        let at = format!("Resources.{logical_id}.Properties.EventInvokeConfig");
        let Some(config) = resource
            .get("Properties")
            .and_then(|p| p.get("EventInvokeConfig"))
        else {
            return Ok(AsyncInvokeSettings::default());
        };
        let mut settings = AsyncInvokeSettings::default();
        if let Some(v) = self.property(config, "MaximumRetryAttempts", &at)? {
            settings.max_retries = as_u64(&v)
                .filter(|n| *n <= 2)
                .ok_or_else(|| self.invalid(&at, "MaximumRetryAttempts must be 0, 1 or 2"))?
                as u32;
        }
        if let Some(v) = self.property(config, "MaximumEventAgeInSeconds", &at)? {
            let secs = as_u64(&v)
                .filter(|n| (60..=21_600).contains(n))
                .ok_or_else(|| self.invalid(&at, "MaximumEventAgeInSeconds must be 60 to 21600"))?;
            settings.max_event_age = Duration::from_secs(secs);
        }
        Ok(settings)
    }

    /// The Kafka (`MSK` or `SelfManagedKafka`) event of the function that builds `function`.
    pub fn msk_settings(&self, function: &str) -> Result<MskSettings, TemplateError> {
        let (logical_id, resource) = self.function(function)?;
        let (event_name, props, at, group_in) = match self.mapping_of(logical_id) {
            Some((mapping_id, props)) => {
                let group_in = props.get("AmazonManagedKafkaEventSourceConfig");
                let at = format!("Resources.{mapping_id}.Properties");
                (mapping_id, props, at, group_in.unwrap_or(&Value::Null))
            }
            None => {
                let (event_name, props) = self.event(logical_id, resource, KAFKA_EVENT_TYPES)?;
                let at =
                    format!("Resources.{logical_id}.Properties.Events.{event_name}.Properties");
                (event_name, props, at, props)
            }
        };

        let topics = match self.property(props, "Topics", &at)? {
            None => Vec::new(),
            Some(Value::Sequence(items)) => items
                .iter()
                .map(|item| {
                    self.resolve(item, &format!("{at}.Topics"))?
                        .as_str()
                        .map(str::to_owned)
                        .ok_or_else(|| self.invalid(&at, "Topics holds a non-string"))
                })
                .collect::<Result<_, _>>()?,
            Some(_) => return Err(self.invalid(&at, "Topics is not a list")),
        };

        let batch_size = match self.property(props, "BatchSize", &at)? {
            None => DEFAULT_BATCH_SIZE,
            Some(v) => {
                let n = as_u64(&v)
                    .ok_or_else(|| self.invalid(&at, "BatchSize is not a whole number"))?;
                if n == 0 || n > MAX_BATCH_SIZE as u64 {
                    return Err(self.invalid(
                        &at,
                        &format!("BatchSize {n} is outside 1..={MAX_BATCH_SIZE}"),
                    ));
                }
                n as usize
            }
        };

        let batching_window = match self.property(props, "MaximumBatchingWindowInSeconds", &at)? {
            None => DEFAULT_BATCHING_WINDOW,
            Some(v) => {
                let n = as_u64(&v).ok_or_else(|| {
                    self.invalid(&at, "MaximumBatchingWindowInSeconds is not a whole number")
                })?;
                if n > MAX_BATCHING_WINDOW_SECS {
                    return Err(self.invalid(
                        &at,
                        &format!(
                            "MaximumBatchingWindowInSeconds {n} is over {MAX_BATCHING_WINDOW_SECS}"
                        ),
                    ));
                }
                Duration::from_secs(n)
            }
        };

        let starting_position = match self.property(props, "StartingPosition", &at)? {
            None => StartingPosition::TrimHorizon,
            Some(v) => v
                .as_str()
                .ok_or_else(|| self.invalid(&at, "StartingPosition is not a string"))?
                .parse()
                .map_err(|problem: String| self.invalid(&at, &problem))?,
        };

        let consumer_group_id = match self.property(group_in, "ConsumerGroupId", &at)? {
            None => None,
            Some(v) => Some(
                v.as_str()
                    .ok_or_else(|| self.invalid(&at, "ConsumerGroupId is not a string"))?
                    .to_owned(),
            ),
        };

        let max_retries = match self.property(props, "MaximumRetryAttempts", &at)? {
            None => None,
            Some(v) => match as_i64(&v) {
                Some(-1) => None,
                Some(n) if (0..=MAX_KAFKA_RETRIES as i64).contains(&n) => Some(n as u32),
                _ => {
                    return Err(self.invalid(
                        &at,
                        &format!("MaximumRetryAttempts must be -1 or 0 to {MAX_KAFKA_RETRIES}"),
                    ));
                }
            },
        };
        let max_record_age = match self.property(props, "MaximumRecordAgeInSeconds", &at)? {
            None => None,
            Some(v) => match as_i64(&v) {
                Some(-1) => None,
                Some(n) if n >= 0 && KAFKA_RECORD_AGE_SECS.contains(&(n as u64)) => {
                    Some(Duration::from_secs(n as u64))
                }
                _ => {
                    return Err(
                        self.invalid(&at, "MaximumRecordAgeInSeconds must be -1 or 60 to 604800")
                    );
                }
            },
        };
        let bisect = match self.property(props, "BisectBatchOnFunctionError", &at)? {
            None => false,
            Some(Value::Bool(b)) => b,
            Some(_) => {
                return Err(self.invalid(&at, "BisectBatchOnFunctionError is not a boolean"));
            }
        };
        let on_failure = match props
            .get("DestinationConfig")
            .and_then(|d| d.get("OnFailure"))
            .and_then(|f| f.get("Destination"))
        {
            None | Some(Value::Null) => None,
            Some(destination) => Some(self.destination(destination, &at)?),
        };
        let max_retries = match (max_retries, &on_failure) {
            (None, Some(_)) => Some(KAFKA_RETRIES_WITH_DESTINATION),
            (retries, _) => retries,
        };

        Ok(MskSettings {
            logical_id: logical_id.to_owned(),
            event_name: event_name.to_owned(),
            topics,
            batch_size,
            batching_window,
            starting_position,
            consumer_group_id,
            max_retries,
            max_record_age,
            bisect,
            on_failure,
        })
    }

    /// An on-failure destination: `!GetAtt X.Arn` (or `Fn::GetAtt: [X, Arn]`) of a resource of
    /// the template, or an ARN written out.
    fn destination(&self, value: &Value, at: &str) -> Result<FailureDestination, TemplateError> {
        let at = format!("{at}.DestinationConfig.OnFailure.Destination");
        let target = match value {
            Value::Tagged(tagged) if tagged.tag == "GetAtt" => match &tagged.value {
                Value::String(s) => s.strip_suffix(".Arn").map(str::to_owned),
                Value::Sequence(items) => get_att_arn(items),
                _ => None,
            },
            Value::Mapping(map) if map.len() == 1 => match map.get("Fn::GetAtt") {
                Some(Value::Sequence(items)) => get_att_arn(items),
                Some(Value::String(s)) => s.strip_suffix(".Arn").map(str::to_owned),
                _ => None,
            },
            Value::String(arn) if arn.starts_with("arn:") => {
                return Ok(FailureDestination::Arn(arn.clone()));
            }
            _ => None,
        };
        let logical_id =
            target.ok_or_else(|| self.invalid(&at, "expected !GetAtt <Resource>.Arn or an ARN"))?;
        let kind = self
            .root
            .get("Resources")
            .and_then(|r| r.get(logical_id.as_str()))
            .and_then(|r| r.get("Type"))
            .and_then(Value::as_str)
            .ok_or_else(|| self.invalid(&at, &format!("no resource {logical_id} in the template")))?
            .to_owned();
        Ok(FailureDestination::Resource { logical_id, kind })
    }

    /// Finds the function resource for a cargo-lambda function name: first by
    /// `Metadata.BuildProperties.Binary`, then by logical id (`sink`, `Sink` or `SinkFunction`).
    fn function(&self, function: &str) -> Result<(&str, &Value), TemplateError> {
        let not_found = || TemplateError::FunctionNotFound {
            path: self.path.clone(),
            function: function.to_owned(),
        };
        let resources = self
            .root
            .get("Resources")
            .and_then(Value::as_mapping)
            .ok_or_else(not_found)?;
        let functions: Vec<(&str, &Value)> = resources
            .iter()
            .filter_map(|(id, resource)| Some((id.as_str()?, resource)))
            .filter(|(_, resource)| {
                matches!(
                    resource.get("Type").and_then(Value::as_str),
                    Some("AWS::Serverless::Function")
                )
            })
            .collect();

        let by_binary = functions.iter().find(|(_, resource)| {
            resource
                .get("Metadata")
                .and_then(|m| m.get("BuildProperties"))
                .and_then(|b| b.get("Binary"))
                .and_then(Value::as_str)
                == Some(function)
        });
        let by_id = || {
            functions.iter().find(|(id, _)| {
                id.eq_ignore_ascii_case(function)
                    || id.eq_ignore_ascii_case(&format!("{function}Function"))
            })
        };
        by_binary.or_else(by_id).copied().ok_or_else(not_found)
    }

    /// The `AWS::Lambda::EventSourceMapping` of the template whose `FunctionName` is `!Ref
    /// logical_id`, with its logical id and properties: a Kafka trigger written as the mapping
    /// itself rather than as a SAM event of the function.
    fn mapping_of(&self, logical_id: &str) -> Option<(&str, &Value)> {
        let refers = |value: &Value| match value {
            Value::Tagged(tagged) if tagged.tag == "Ref" => {
                tagged.value.as_str() == Some(logical_id)
            }
            Value::Mapping(map) if map.len() == 1 => {
                map.get("Ref").and_then(Value::as_str) == Some(logical_id)
            }
            _ => false,
        };
        self.root
            .get("Resources")
            .and_then(Value::as_mapping)?
            .iter()
            .filter_map(|(id, resource)| Some((id.as_str()?, resource)))
            .filter(|(_, resource)| {
                resource.get("Type").and_then(Value::as_str)
                    == Some("AWS::Lambda::EventSourceMapping")
            })
            .filter_map(|(id, resource)| Some((id, resource.get("Properties")?)))
            .find(|(_, props)| props.get("FunctionName").is_some_and(refers))
    }

    /// The first event of `resource` whose `Type` is one of `wanted`, with its properties.
    fn event<'a>(
        &self,
        logical_id: &str,
        resource: &'a Value,
        wanted: &[&str],
    ) -> Result<(&'a str, &'a Value), TemplateError> {
        resource
            .get("Properties")
            .and_then(|p| p.get("Events"))
            .and_then(Value::as_mapping)
            .into_iter()
            .flatten()
            .filter_map(|(name, event)| Some((name.as_str()?, event)))
            .find(|(_, event)| {
                event
                    .get("Type")
                    .and_then(Value::as_str)
                    .is_some_and(|t| wanted.contains(&t))
            })
            .map(|(name, event)| (name, event.get("Properties").unwrap_or(&Value::Null)))
            .ok_or_else(|| TemplateError::EventNotFound {
                path: self.path.clone(),
                logical_id: logical_id.to_owned(),
                wanted: wanted.join(" or "),
            })
    }

    /// Reads `key` of `props`, resolving a `Ref` to its parameter's default.
    fn property(&self, props: &Value, key: &str, at: &str) -> Result<Option<Value>, TemplateError> {
        match props.get(key) {
            None | Some(Value::Null) => Ok(None),
            Some(v) => self.resolve(v, &format!("{at}.{key}")).map(Some),
        }
    }

    /// Resolves `!Ref Param` and `{Ref: Param}` to the parameter's `Default`, `!If [Condition,
    /// a, b]` on a condition made of `!Equals`, `!Not` and `!Ref`, and `!Sub` of parameters and
    /// `${AWS::StackName}` (the local stack stands for the stack [`LOCAL_STACK_NAME`]); other
    /// values are returned as they are.
    fn resolve(&self, value: &Value, at: &str) -> Result<Value, TemplateError> {
        if let Value::Tagged(tagged) = value {
            match (
                tagged.tag.to_string().trim_start_matches('!'),
                &tagged.value,
            ) {
                ("If", Value::Sequence(args)) if args.len() == 3 => {
                    let name = args[0]
                        .as_str()
                        .ok_or_else(|| self.invalid(at, "!If names no condition"))?;
                    let branch = if self.condition(name, at)? {
                        &args[1]
                    } else {
                        &args[2]
                    };
                    return self.resolve(branch, at);
                }
                ("Sub", Value::String(text)) => {
                    return self.substitute(text, at).map(Value::String);
                }
                _ => {}
            }
        }
        let referenced = match value {
            Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
            Value::Mapping(map) if map.len() == 1 => map.get("Ref").and_then(Value::as_str),
            _ => None,
        };
        let Some(name) = referenced else {
            return Ok(value.clone());
        };
        self.root
            .get("Parameters")
            .and_then(|p| p.get(name))
            .and_then(|p| p.get("Default"))
            .cloned()
            .ok_or_else(|| TemplateError::UnresolvedRef {
                path: self.path.clone(),
                name: name.to_owned(),
                at: at.to_owned(),
            })
    }

    /// The value of a condition of `Conditions`, from the parameters' defaults.
    fn condition(&self, name: &str, at: &str) -> Result<bool, TemplateError> {
        let body = self
            .root
            .get("Conditions")
            .and_then(|c| c.get(name))
            .ok_or_else(|| self.invalid(at, &format!("no condition {name}")))?;
        self.truth(body, at)
    }

    fn truth(&self, value: &Value, at: &str) -> Result<bool, TemplateError> {
        let Value::Tagged(tagged) = value else {
            return Err(self.invalid(at, "a condition that is not !Equals or !Not"));
        };
        match (
            tagged.tag.to_string().trim_start_matches('!'),
            &tagged.value,
        ) {
            ("Not", Value::Sequence(args)) if args.len() == 1 => Ok(!self.truth(&args[0], at)?),
            ("Equals", Value::Sequence(args)) if args.len() == 2 => {
                let text = |v: &Value| -> Result<String, TemplateError> {
                    match self.resolve(v, at)? {
                        Value::String(s) => Ok(s),
                        Value::Number(n) => Ok(n.to_string()),
                        Value::Bool(b) => Ok(b.to_string()),
                        _ => Err(self.invalid(at, "!Equals of a value that is not a scalar")),
                    }
                };
                Ok(text(&args[0])? == text(&args[1])?)
            }
            _ => Err(self.invalid(at, "a condition that is not !Equals or !Not")),
        }
    }

    /// `${AWS::StackName}` and `${Param}` (its default) in a `!Sub` string.
    fn substitute(&self, text: &str, at: &str) -> Result<String, TemplateError> {
        let mut out = String::new();
        let mut rest = text;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let end = rest[start..]
                .find('}')
                .ok_or_else(|| self.invalid(at, "an unclosed ${ in !Sub"))?;
            let name = &rest[start + 2..start + end];
            if name == "AWS::StackName" {
                out.push_str(LOCAL_STACK_NAME);
            } else {
                let param = Value::Tagged(Box::new(serde_norway::value::TaggedValue {
                    tag: serde_norway::value::Tag::new("Ref"),
                    value: Value::String(name.to_owned()),
                }));
                match self.resolve(&param, at)? {
                    Value::String(s) => out.push_str(&s),
                    Value::Number(n) => out.push_str(&n.to_string()),
                    _ => return Err(self.invalid(at, &format!("${{{name}}} is not a scalar"))),
                }
            }
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        Ok(out)
    }

    fn invalid(&self, at: &str, problem: &str) -> TemplateError {
        TemplateError::InvalidProperty {
            path: self.path.clone(),
            at: at.to_owned(),
            problem: problem.to_owned(),
        }
    }
}

/// A whole number from a YAML number or a numeric string (parameter defaults are often strings).
fn as_u64(value: &Value) -> Option<u64> {
    match value {
        Value::Number(n) => n.as_u64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// A signed whole number, as [`as_u64`] reads an unsigned one.
fn as_i64(value: &Value) -> Option<i64> {
    match value {
        Value::Number(n) => n.as_i64(),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// `[X, Arn]` of a `GetAtt`: `X`.
fn get_att_arn(items: &[Value]) -> Option<String> {
    match items {
        [Value::String(id), Value::String(attribute)] if attribute == "Arn" => Some(id.clone()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn project_template() -> Template {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../template.yaml");
        Template::load(&path).expect("the project's template.yaml parses")
    }

    #[test]
    fn project_template_gives_the_sink_msk_batching_settings() {
        let msk = project_template().msk_settings("sink").unwrap();
        assert_eq!(msk.logical_id, "SinkFunction");
        assert_eq!(
            msk.event_name, "SinkFunctionUsersTopic",
            "the mapping resource"
        );
        assert_eq!(msk.batch_size, 10_000);
        assert_eq!(msk.batching_window, Duration::from_secs(1));
        assert_eq!(msk.starting_position, StartingPosition::TrimHorizon);
        assert_eq!(msk.starting_position.auto_offset_reset(), "earliest");
        assert_eq!(msk.consumer_group_id.as_deref(), Some("user-lake-sink"));
        assert_eq!(msk.topics, vec!["users_created".to_owned()]);
    }

    #[test]
    fn project_template_resolves_the_producer_schedule_ref_to_its_default() {
        let schedule = project_template().schedule_settings("producer").unwrap();
        assert_eq!(schedule.logical_id, "ProducerFunction");
        assert_eq!(schedule.event_name, "Schedule");
        assert_eq!(schedule.expression, "rate(1 minute)");
    }

    #[test]
    fn project_template_gives_the_compactor_an_hourly_schedule() {
        let schedule = project_template().schedule_settings("compactor").unwrap();
        assert_eq!(schedule.logical_id, "CompactorFunction");
        assert_eq!(schedule.event_name, "Hourly");
        assert_eq!(schedule.expression, "rate(1 hour)");
    }

    #[test]
    fn project_template_retries_no_scheduled_run_and_bounds_the_sinks_retries() {
        let t = project_template();
        for function in ["producer", "compactor"] {
            let schedule = t.schedule_settings(function).unwrap();
            assert_eq!(schedule.invoke.max_retries, 0, "{function}");
        }
        let msk = t.msk_settings("sink").unwrap();
        assert_eq!(msk.max_retries, Some(10));
        assert_eq!(msk.max_record_age, None);
        assert!(!msk.bisect);
        assert_eq!(
            msk.on_failure,
            Some(FailureDestination::Resource {
                logical_id: "FailedBatchBucket".into(),
                kind: "AWS::S3::Bucket".into()
            })
        );
    }

    const FAILURES: &str = r#"
Resources:
  Queue:
    Type: AWS::SQS::Queue
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Feed:
          Type: MSK
          Properties:
            Topics: [a]
            MaximumRecordAgeInSeconds: 3600
            DestinationConfig:
              OnFailure:
                Destination:
                  Fn::GetAtt: [Queue, Arn]
        Tick:
          Type: Schedule
          Properties:
            ScheduleExpression: rate(5 minutes)
"#;

    #[test]
    fn a_destination_with_unbounded_retries_gets_lambdas_ten_and_async_defaults_apply() {
        let t = Template::parse("failures.yaml", FAILURES).unwrap();
        let msk = t.msk_settings("worker").unwrap();
        assert_eq!(msk.max_retries, Some(KAFKA_RETRIES_WITH_DESTINATION));
        assert_eq!(msk.max_record_age, Some(Duration::from_secs(3600)));
        assert!(matches!(
            msk.on_failure,
            Some(FailureDestination::Resource { ref kind, .. }) if kind == "AWS::SQS::Queue"
        ));
        let schedule = t.schedule_settings("worker").unwrap();
        assert_eq!(schedule.invoke, AsyncInvokeSettings::default());
    }

    #[test]
    fn out_of_range_retry_settings_are_refused_with_their_name() {
        for (property, value) in [
            ("MaximumRetryAttempts", "-2"),
            ("MaximumRetryAttempts", "20000"),
            ("MaximumRecordAgeInSeconds", "30"),
        ] {
            let text = FAILURES.replace(
                "MaximumRecordAgeInSeconds: 3600",
                &format!("{property}: {value}"),
            );
            let t = Template::parse("failures.yaml", &text).unwrap();
            let err = t.msk_settings("worker").unwrap_err().to_string();
            assert!(err.contains(property), "{property}={value}: {err}");
        }
        let text = FAILURES.replace(
            "      Events:",
            "      EventInvokeConfig:\n        MaximumRetryAttempts: 3\n      Events:",
        );
        let t = Template::parse("failures.yaml", &text).unwrap();
        let err = t.schedule_settings("worker").unwrap_err().to_string();
        assert!(err.contains("MaximumRetryAttempts"), "{err}");
    }

    const SMALL: &str = r#"
Parameters:
  Size:
    Type: Number
    Default: "25"
  NoDefault:
    Type: String
Resources:
  Worker:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Tick:
          Type: Schedule
          Properties:
            ScheduleExpression: !Ref NoDefault
        Feed:
          Type: SelfManagedKafka
          Properties:
            BatchSize:
              Ref: Size
            StartingPosition: LATEST
            Topics: [a, b]
"#;

    #[test]
    fn long_form_ref_and_string_defaults_resolve_and_missing_properties_take_lambda_defaults() {
        let t = Template::parse("small.yaml", SMALL).unwrap();
        let msk = t.msk_settings("worker").unwrap();
        assert_eq!(msk.batch_size, 25);
        assert_eq!(msk.batching_window, DEFAULT_BATCHING_WINDOW);
        assert_eq!(msk.starting_position, StartingPosition::Latest);
        assert_eq!(msk.consumer_group_id, None);
        assert_eq!(msk.topics, vec!["a".to_owned(), "b".to_owned()]);
    }

    const PER_STACK: &str = r#"
Parameters:
  Group:
    Type: String
    Default: ""
  Other:
    Type: String
    Default: chosen
Conditions:
  HasGroup: !Not [!Equals [!Ref Group, ""]]
  HasOther: !Not [!Equals [!Ref Other, ""]]
Resources:
  Empty:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Feed:
          Type: MSK
          Properties:
            Topics: [a]
            ConsumerGroupId: !If [HasGroup, !Ref Group, !Sub "${AWS::StackName}-sink"]
  Given:
    Type: AWS::Serverless::Function
    Properties:
      Events:
        Feed:
          Type: MSK
          Properties:
            Topics: [a]
            ConsumerGroupId: !If [HasOther, !Ref Other, !Sub "${AWS::StackName}-sink"]
"#;

    #[test]
    fn a_per_stack_default_resolves_through_if_and_sub_to_the_local_stack_name() {
        let t = Template::parse("per-stack.yaml", PER_STACK).unwrap();
        let empty = t.msk_settings("empty").unwrap();
        assert_eq!(empty.consumer_group_id.as_deref(), Some("user-lake-sink"));
        let given = t.msk_settings("given").unwrap();
        assert_eq!(given.consumer_group_id.as_deref(), Some("chosen"));
    }

    #[test]
    fn ref_to_a_parameter_without_default_is_an_error_naming_it() {
        let t = Template::parse("small.yaml", SMALL).unwrap();
        let err = t.schedule_settings("Worker").unwrap_err();
        assert!(
            matches!(&err, TemplateError::UnresolvedRef { name, .. } if name == "NoDefault"),
            "{err}"
        );
    }

    #[test]
    fn unknown_function_and_missing_event_are_reported() {
        let t = project_template();
        assert!(matches!(
            t.msk_settings("nope"),
            Err(TemplateError::FunctionNotFound { .. })
        ));
        assert!(matches!(
            t.msk_settings("producer"),
            Err(TemplateError::EventNotFound { .. })
        ));
    }

    #[test]
    fn starting_position_parses_aws_and_kafka_spellings() {
        assert_eq!("TRIM_HORIZON".parse(), Ok(StartingPosition::TrimHorizon));
        assert_eq!("earliest".parse(), Ok(StartingPosition::TrimHorizon));
        assert_eq!("latest".parse(), Ok(StartingPosition::Latest));
        assert!("AT_TIMESTAMP".parse::<StartingPosition>().is_err());
    }
}
