//! The SAM template's parameters as the functions see them, for tests of parameter/code
//! agreement (feature `template-parameters`).
//!
//! CloudFormation accepts a parameter value when it matches the parameter's `AllowedPattern`
//! (the whole value), is one of its `AllowedValues`, and for a `Number` lies within `MinValue`
//! and `MaxValue`
//! (<https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/parameters-section-structure.html>).
//! A value accepted there and refused by the function's settings parser deploys fine and then
//! fails every invocation at start-up; for the sink, every batch then goes through its retries
//! into the failure bucket. [`Template::check_function`] feeds a function's parser the values
//! the template accepts for each parameter that sets one of its environment variables: the
//! boundaries (default, `MinValue`, `MaxValue`, every `AllowedValues` entry, and for a `Number`
//! one with a fractional part, which CloudFormation accepts as "an integer or float") and values
//! generated from `AllowedPattern` or the range, the other variables at their defaults. A variable set with `!If` is
//! checked with each value it can take, and one set with `!Sub` with its references resolved (a
//! parameter to its default, a resource to a placeholder of its kind).

use std::collections::BTreeMap;
use std::path::Path;

use proptest::{
    strategy::{BoxedStrategy, Strategy, ValueTree},
    test_runner::{Config, RngAlgorithm, TestRng, TestRunner},
};
use serde_norway::Value;

/// A placeholder value CloudFormation would put in place of a reference to a resource (or of
/// one of its attributes: a table bucket's `TableBucketARN` is also what its `Ref` returns), by
/// type.
fn resource_placeholder(kind: &str) -> String {
    match kind {
        "AWS::S3::Bucket" => "user-lake-lakebucket-1a2b3c4d5e6f".into(),
        "AWS::S3Tables::TableBucket" => {
            "arn:aws:s3tables:us-east-1:123456789012:bucket/lake-1a2b3c4d".into()
        }
        _ => "placeholder".into(),
    }
}

/// What CloudFormation puts in place of a pseudo parameter.
fn pseudo_parameter(name: &str) -> Option<&'static str> {
    Some(match name {
        "AWS::Region" => "us-east-1",
        "AWS::AccountId" => "123456789012",
        "AWS::Partition" => "aws",
        "AWS::StackName" => "user-lake",
        "AWS::URLSuffix" => "amazonaws.com",
        _ => return None,
    })
}

/// One parameter's constraints.
#[derive(Debug, Clone, PartialEq)]
pub struct Parameter {
    /// Its logical name.
    pub name: String,
    /// `String`, `Number`, ...
    pub kind: String,
    /// `Default`, as text.
    pub default: Option<String>,
    /// `AllowedPattern`.
    pub pattern: Option<String>,
    /// `AllowedValues`, as text.
    pub values: Option<Vec<String>>,
    /// `MinValue` of a `Number`.
    pub min: Option<i64>,
    /// `MaxValue` of a `Number`.
    pub max: Option<i64>,
}

/// Where an environment variable of a function gets its value.
#[derive(Debug, Clone, PartialEq)]
pub enum Setting {
    /// A literal in the template.
    Literal(String),
    /// `!Ref` of a parameter.
    Parameter(String),
    /// Something CloudFormation resolves at deploy time (a resource's name), as a placeholder.
    Resolved(String),
    /// `!If [condition, then, else]`: one or the other, as the condition decides at deploy time.
    Either(Vec<Setting>),
}

impl Setting {
    /// The plain settings this one can be (the branches of an `Either`, recursively).
    fn leaves(&self) -> Vec<&Setting> {
        match self {
            Setting::Either(branches) => branches.iter().flat_map(Setting::leaves).collect(),
            other => vec![other],
        }
    }
}

fn text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// The parts of a CloudFormation regular expression that matter here: its top-level
/// alternatives without `^`/`$` (`AllowedPattern` matches the whole value), and the prefixes a
/// leading negative look-ahead `(?!X)` forbids.
fn alternatives(pattern: &str) -> Vec<(String, Option<String>)> {
    let mut parts = Vec::new();
    let (mut depth, mut class, mut escaped, mut start) = (0i32, false, false, 0);
    for (i, c) in pattern.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '[' if !class => class = true,
            ']' if class => class = false,
            '(' if !class => depth += 1,
            ')' if !class => depth -= 1,
            '|' if !class && depth == 0 => {
                parts.push(&pattern[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&pattern[start..]);
    parts
        .into_iter()
        .map(|part| {
            let mut part = part.strip_prefix('^').unwrap_or(part).to_owned();
            if part.ends_with('$') && !part.ends_with("\\$") {
                part.pop();
            }
            let mut forbidden = None;
            if let Some(rest) = part.strip_prefix("(?!")
                && let Some(end) = rest.find(')')
            {
                forbidden = Some(rest[..end].to_owned());
                part = rest[end + 1..].to_owned();
            }
            (part, forbidden)
        })
        .collect()
}

impl Parameter {
    /// Whether CloudFormation accepts `value` for this parameter, by its `AllowedValues` and
    /// `AllowedPattern` (numbers: by their range).
    pub fn accepts(&self, value: &str) -> bool {
        if let Some(values) = &self.values {
            return values.iter().any(|v| v == value);
        }
        if self.kind == "Number" {
            // "An integer or float": a whole number or one with a fractional part.
            let number = regex::Regex::new(r"^-?[0-9]+(\.[0-9]+)?$").expect("a regex");
            return number.is_match(value)
                && value.parse::<f64>().is_ok_and(|n| {
                    self.min.is_none_or(|min| n >= min as f64)
                        && self.max.is_none_or(|max| n <= max as f64)
                });
        }
        let Some(pattern) = &self.pattern else {
            return true;
        };
        alternatives(pattern).iter().any(|(regex, forbidden)| {
            regex::Regex::new(&format!("^(?:{regex})$")).is_ok_and(|r| r.is_match(value))
                && forbidden
                    .as_ref()
                    .is_none_or(|f| !value.starts_with(f.as_str()))
        })
    }

    /// From a value the template accepts and a parser refuses, the same value with its last
    /// number lowered one at a time while both still hold: `zstd(30)` becomes `zstd(23)`.
    fn lowest_refused(&self, value: String, refused: impl Fn(&str) -> bool) -> String {
        let Some(found) = regex::Regex::new(r"[0-9]+")
            .ok()
            .and_then(|r| r.find_iter(&value).last())
        else {
            return value;
        };
        let (range, mut number) = (found.range(), found.as_str().parse::<u64>().unwrap_or(0));
        let mut lowest = value.clone();
        for _ in 0..1_000 {
            let Some(lower) = number.checked_sub(1) else {
                break;
            };
            let candidate = format!("{}{lower}{}", &value[..range.start], &value[range.end..]);
            if !(self.accepts(&candidate) && refused(&candidate)) {
                break;
            }
            (number, lowest) = (lower, candidate);
        }
        lowest
    }

    /// The values that sit on the edges of what the template accepts: the default, the
    /// `MinValue` and `MaxValue` and their neighbours inside the range, a number with a
    /// fractional part inside it, and every `AllowedValues` entry.
    pub fn boundaries(&self) -> Vec<String> {
        let mut out: Vec<String> = self.default.iter().cloned().collect();
        if let Some(values) = &self.values {
            out.extend(values.iter().cloned());
        }
        if let (Some(min), Some(max)) = (self.min, self.max) {
            out.extend([min, max, (min + 1).min(max), (max - 1).max(min)].map(|n| n.to_string()));
        } else if let Some(min) = self.min {
            out.extend([min, min + 1, i64::from(i32::MAX)].map(|n| n.to_string()));
        } else if let Some(max) = self.max {
            out.extend([max, max - 1, 0].map(|n| n.to_string()));
        }
        if self.kind == "Number" && self.values.is_none() {
            let low = self.min.unwrap_or(0);
            if self.max.is_none_or(|max| max > low) {
                out.push(format!("{low}.5"));
            }
        }
        out.dedup();
        out
    }

    /// Values the template accepts, generated from `AllowedValues`, `MinValue`/`MaxValue` or
    /// `AllowedPattern`; `None` when the parameter constrains nothing that can be generated.
    pub fn strategy(&self) -> Option<BoxedStrategy<String>> {
        use proptest::prelude::*;
        if let Some(values) = &self.values {
            return Some(proptest::sample::select(values.clone()).boxed());
        }
        if self.kind == "Number" {
            let min = self.min.unwrap_or(i64::from(i32::MIN));
            let max = self.max.unwrap_or(i64::from(i32::MAX));
            let whole = (min..=max).prop_map(|n| n.to_string());
            // Below the maximum, a fractional part too (`7.25`).
            let fractional = (min..max.max(min + 1), 1u32..100)
                .prop_filter("inside the range", move |(n, _)| *n < max)
                .prop_map(|(n, hundredths)| format!("{n}.{hundredths:02}"));
            return Some(proptest::prop_oneof![whole, fractional].boxed());
        }
        let pattern = self.pattern.as_ref()?;
        let branches: Vec<BoxedStrategy<String>> = alternatives(pattern)
            .into_iter()
            .map(|(regex, forbidden)| {
                let strategy = proptest::string::string_regex(&regex)
                    .unwrap_or_else(|e| panic!("{}: AllowedPattern {regex:?}: {e}", self.name));
                match forbidden {
                    Some(prefix) => strategy
                        .prop_filter("a prefix the look-ahead forbids", move |v| {
                            !v.starts_with(prefix.as_str())
                        })
                        .boxed(),
                    None => strategy.boxed(),
                }
            })
            .collect();
        Some(proptest::strategy::Union::new(branches).boxed())
    }
}

/// The names `value` refers to with `Ref`, in order.
fn references(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::Tagged(tagged) if tagged.tag == "Ref" => {
            out.extend(tagged.value.as_str().map(str::to_owned));
        }
        Value::Tagged(tagged) => references(&tagged.value, out),
        Value::Sequence(items) => items.iter().for_each(|v| references(v, out)),
        Value::Mapping(map) => map.iter().for_each(|(key, v)| match key.as_str() {
            Some("Ref") => out.extend(v.as_str().map(str::to_owned)),
            _ => references(v, out),
        }),
        _ => {}
    }
}

/// A SAM template, read for its parameters and its functions' environments.
pub struct Template {
    root: Value,
}

impl Template {
    /// Reads the template at `path`; panics (a test helper) when it cannot be read.
    pub fn load(path: &Path) -> Self {
        let source = std::fs::read_to_string(path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        Self {
            root: serde_norway::from_str(&source)
                .unwrap_or_else(|e| panic!("{} is not YAML: {e}", path.display())),
        }
    }

    /// The template the functions' tests hold their code to: `USER_LAKE_TEMPLATE` when set (a
    /// broken template there shows the check failing), else the repository's `template.yaml`
    /// two levels above `manifest_dir` (a function's `CARGO_MANIFEST_DIR`).
    pub fn under_test(manifest_dir: &str) -> Self {
        let path = std::env::var_os("USER_LAKE_TEMPLATE").map_or_else(
            || Path::new(manifest_dir).join("../../template.yaml"),
            std::path::PathBuf::from,
        );
        Self::load(&path)
    }

    /// Panics, listing each refusal, unless `parse` accepts every value [`check_function`]
    /// tries (256 generated per parameter besides the boundaries).
    ///
    /// [`check_function`]: Template::check_function
    pub fn assert_starts(
        &self,
        logical_id: &str,
        parse: impl Fn(&[(&str, &str)]) -> Result<(), String>,
    ) {
        let failures = self.check_function(logical_id, 256, parse);
        assert!(failures.is_empty(), "{}", failures.join("\n"));
    }

    /// The parameter named `name`.
    pub fn parameter(&self, name: &str) -> Option<Parameter> {
        let spec = self.root.get("Parameters")?.get(name)?;
        let number = |key: &str| spec.get(key).and_then(text).and_then(|t| t.parse().ok());
        Some(Parameter {
            name: name.to_owned(),
            kind: spec.get("Type").and_then(text).unwrap_or_default(),
            default: spec.get("Default").and_then(text),
            pattern: spec.get("AllowedPattern").and_then(text),
            values: spec
                .get("AllowedValues")
                .and_then(Value::as_sequence)
                .map(|v| v.iter().filter_map(text).collect()),
            min: number("MinValue"),
            max: number("MaxValue"),
        })
    }

    fn resource_kind(&self, logical_id: &str) -> Option<String> {
        self.root
            .get("Resources")?
            .get(logical_id)?
            .get("Type")
            .and_then(text)
    }

    /// A `!Sub` string with each `${Name}` or `${Resource.Attribute}` resolved: a parameter to
    /// its default, a pseudo parameter to a plausible value, a resource to its placeholder.
    fn substitute(&self, template: &str) -> String {
        let mut out = String::new();
        let mut rest = template;
        while let Some(start) = rest.find("${") {
            out.push_str(&rest[..start]);
            let Some(end) = rest[start..].find('}') else {
                break;
            };
            let name = &rest[start + 2..start + end];
            let logical = name.split('.').next().unwrap_or(name);
            let value = match (pseudo_parameter(name), self.parameter(logical)) {
                (Some(pseudo), _) => pseudo.to_string(),
                (None, Some(parameter)) => parameter.default.unwrap_or_default(),
                (None, None) => {
                    resource_placeholder(&self.resource_kind(logical).unwrap_or_default())
                }
            };
            out.push_str(&value);
            rest = &rest[start + end + 1..];
        }
        out.push_str(rest);
        out
    }

    fn setting(&self, value: &Value) -> Setting {
        if let Value::Tagged(tagged) = value {
            match &tagged.value {
                Value::Sequence(items) if tagged.tag == "If" && items.len() == 3 => {
                    return Setting::Either(items[1..].iter().map(|v| self.setting(v)).collect());
                }
                Value::String(template) if tagged.tag == "Sub" => {
                    return Setting::Resolved(self.substitute(template));
                }
                _ => {}
            }
        }
        let referenced = match value {
            Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
            Value::Mapping(map) if map.len() == 1 => map.get("Ref").and_then(Value::as_str),
            _ => None,
        };
        match (referenced, text(value)) {
            (Some(name), _) if self.parameter(name).is_some() => Setting::Parameter(name.into()),
            (Some(name), _) => Setting::Resolved(resource_placeholder(
                &self.resource_kind(name).unwrap_or_default(),
            )),
            (None, Some(literal)) => Setting::Literal(literal),
            (None, None) => Setting::Resolved("placeholder".into()),
        }
    }

    /// The environment variables of the function `logical_id`, with where each comes from;
    /// `LoggingConfig.ApplicationLogLevel` is there as `AWS_LAMBDA_LOG_LEVEL`, which Lambda sets
    /// from it.
    pub fn environment(&self, logical_id: &str) -> BTreeMap<String, Setting> {
        let props = self
            .root
            .get("Resources")
            .and_then(|r| r.get(logical_id))
            .and_then(|r| r.get("Properties"))
            .unwrap_or_else(|| panic!("the template has no resource {logical_id}"));
        let mut env = BTreeMap::new();
        if let Some(vars) = props
            .get("Environment")
            .and_then(|e| e.get("Variables"))
            .and_then(Value::as_mapping)
        {
            for (name, value) in vars {
                if let Some(name) = name.as_str() {
                    env.insert(name.to_owned(), self.setting(value));
                }
            }
        }
        if let Some(level) = props
            .get("LoggingConfig")
            .and_then(|l| l.get("ApplicationLogLevel"))
        {
            env.insert("AWS_LAMBDA_LOG_LEVEL".into(), self.setting(level));
        }
        env
    }

    /// Whether `condition` (a rule's `RuleCondition` or `Assert`) holds with the parameters in
    /// `values`, each other parameter at its default. The rule functions the template uses are
    /// modelled; any other stops the test, naming it.
    fn holds(&self, condition: &Value, values: &BTreeMap<String, String>) -> bool {
        let (function, args) = match condition {
            Value::Tagged(tagged) => (tagged.tag.to_string(), &tagged.value),
            Value::Mapping(map) if map.len() == 1 => {
                let (key, args) = map.iter().next().expect("one entry");
                let key = key.as_str().unwrap_or_default();
                (key.strip_prefix("Fn::").unwrap_or(key).to_owned(), args)
            }
            Value::Bool(truth) => return *truth,
            other => panic!("template rules: {other:?} is not a condition"),
        };
        let function = function.trim_start_matches('!');
        let items = args.as_sequence().map(Vec::as_slice).unwrap_or_default();
        match function {
            "Equals" if items.len() == 2 => {
                self.rule_text(&items[0], values) == self.rule_text(&items[1], values)
            }
            "Not" if items.len() == 1 => !self.holds(&items[0], values),
            "And" => items.iter().all(|c| self.holds(c, values)),
            "Or" => items.iter().any(|c| self.holds(c, values)),
            other => panic!("template rules: Fn::{other} is not modelled here"),
        }
    }

    /// The text of a rule function's argument: a `Ref` to a parameter, else a literal.
    fn rule_text(&self, value: &Value, values: &BTreeMap<String, String>) -> String {
        let referenced = match value {
            Value::Tagged(tagged) if tagged.tag == "Ref" => tagged.value.as_str(),
            Value::Mapping(map) if map.len() == 1 => map.get("Ref").and_then(Value::as_str),
            _ => None,
        };
        match referenced {
            Some(name) => values.get(name).cloned().unwrap_or_else(|| {
                let parameter = self.parameter(name);
                parameter.and_then(|p| p.default).unwrap_or_default()
            }),
            None => text(value).unwrap_or_default(),
        }
    }

    /// The first of the template's `Rules` that `values` breaks (each other parameter at its
    /// default), with the parameters its assertions name.
    fn broken_rule(&self, values: &BTreeMap<String, String>) -> Option<(String, Vec<String>)> {
        let rules = self.root.get("Rules")?.as_mapping()?;
        for (name, rule) in rules {
            let applies = rule
                .get("RuleCondition")
                .is_none_or(|c| self.holds(c, values));
            let assertions = rule.get("Assertions").and_then(Value::as_sequence);
            let broken = applies
                && assertions.is_some_and(|a| {
                    a.iter()
                        .any(|a| a.get("Assert").is_some_and(|c| !self.holds(c, values)))
                });
            if broken {
                let mut parameters = Vec::new();
                references(rule.get("Assertions")?, &mut parameters);
                parameters.retain(|p| !values.contains_key(p) && self.parameter(p).is_some());
                parameters.dedup();
                return Some((name.as_str().unwrap_or_default().to_owned(), parameters));
            }
        }
        None
    }

    /// `values` completed so that no rule of the template breaks: a broken rule's other
    /// parameters take values their constraints accept (boundaries, then a few generated)
    /// until it holds. `None` when no such values are found: the template refuses `values`
    /// before anything deploys, so a function never sees them.
    fn within_rules(
        &self,
        values: BTreeMap<String, String>,
        runner: &mut TestRunner,
        depth: usize,
    ) -> Option<BTreeMap<String, String>> {
        let Some((_, others)) = self.broken_rule(&values) else {
            return Some(values);
        };
        if depth == 0 {
            return None;
        }
        for other in others {
            let parameter = self.parameter(&other)?;
            let mut candidates = parameter.boundaries();
            if let Some(strategy) = parameter.strategy() {
                candidates
                    .extend((0..4).filter_map(|_| Some(strategy.new_tree(runner).ok()?.current())));
            }
            for candidate in candidates {
                let mut next = values.clone();
                next.insert(other.clone(), candidate);
                if let Some(found) = self.within_rules(next, runner, depth - 1) {
                    return Some(found);
                }
            }
        }
        None
    }

    /// A value the template accepts for `parameter`: its default, else one generated.
    fn accepted(&self, parameter: &Parameter, runner: &mut TestRunner) -> String {
        if let Some(default) = &parameter.default {
            return default.clone();
        }
        let strategy = parameter.strategy().unwrap_or_else(|| {
            panic!(
                "{} has no Default and nothing to generate a value from",
                parameter.name
            )
        });
        strategy
            .new_tree(runner)
            .expect("a value of the parameter")
            .current()
    }

    /// Feeds `parse` the environment of the function `logical_id` once for each value checked
    /// of each parameter that sets one of its variables (its boundaries and `cases` generated
    /// values), the other variables at their defaults. Returns one line per value `parse`
    /// refused: the parameter, the variable, the value and the reason.
    pub fn check_function(
        &self,
        logical_id: &str,
        cases: u32,
        parse: impl Fn(&[(&str, &str)]) -> Result<(), String>,
    ) -> Vec<String> {
        let mut runner = TestRunner::new_with_rng(
            Config {
                cases,
                ..Config::default()
            },
            TestRng::deterministic_rng(RngAlgorithm::ChaCha),
        );
        let environment = self.environment(logical_id);
        if let Some((rule, _)) = self.broken_rule(&BTreeMap::new()) {
            panic!("the template's defaults break its rule {rule}");
        }
        let rule_runner = || {
            TestRunner::new_with_rng(
                Config::default(),
                TestRng::deterministic_rng(RngAlgorithm::ChaCha),
            )
        };
        // What Lambda itself sets in every function's environment (reserved variables).
        let mut base: BTreeMap<String, String> = [
            ("AWS_REGION", "us-east-1"),
            ("AWS_LAMBDA_FUNCTION_NAME", logical_id),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        for (name, setting) in &environment {
            // An `!If`'s first branch (each branch is also checked on its own below).
            let value = match setting.leaves()[0] {
                Setting::Literal(v) | Setting::Resolved(v) => v.clone(),
                Setting::Parameter(p) => {
                    let parameter = self.parameter(p).expect("a parameter");
                    self.accepted(&parameter, &mut runner)
                }
                Setting::Either(_) => unreachable!("leaves are plain"),
            };
            base.insert(name.clone(), value);
        }
        let mut failures = Vec::new();
        let leaves = environment.iter().flat_map(|(variable, setting)| {
            setting.leaves().into_iter().map(move |l| (variable, l))
        });
        for (variable, setting) in leaves {
            let attempt = |value: &str| {
                let mut env = base.clone();
                env.insert(variable.clone(), value.to_owned());
                if let Setting::Parameter(name) = setting {
                    // The other parameters a rule ties this one to, set as the rule requires.
                    let fixed = BTreeMap::from([(name.clone(), value.to_owned())]);
                    let Some(values) = self.within_rules(fixed, &mut rule_runner(), 3) else {
                        return Ok(()); // the template refuses the value before deploying
                    };
                    for (parameter, value) in &values {
                        let set_by = Setting::Parameter(parameter.clone());
                        for (other, _) in environment.iter().filter(|(_, s)| **s == set_by) {
                            env.insert(other.clone(), value.clone());
                        }
                    }
                }
                let pairs: Vec<(&str, &str)> =
                    env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
                parse(&pairs)
            };
            let name = match setting {
                Setting::Parameter(name) => name,
                // A fixed value one branch of an `!If` gives the variable.
                Setting::Literal(value) | Setting::Resolved(value) => {
                    if environment[variable].leaves().len() > 1
                        && let Err(reason) = attempt(value)
                    {
                        failures.push(format!(
                            "{logical_id}: {variable} = {value:?} (one branch of its !If) is refused: {reason}"
                        ));
                    }
                    continue;
                }
                Setting::Either(_) => unreachable!("leaves are plain"),
            };
            let parameter = self.parameter(name).expect("a parameter");
            let mut refused = |value: &str, reason: String| {
                failures.push(format!(
                    "{logical_id}: parameter {name} = {value:?} (accepted by the template) \
                     as {variable} is refused: {reason}"
                ));
            };
            for value in parameter.boundaries() {
                if let Err(reason) = attempt(&value) {
                    refused(&value, reason);
                }
            }
            // Generated values; the first refused one is shrunk to the simplest value still
            // refused (proptest's simplify/complicate walk), which names the edge plainly.
            if let Some(strategy) = parameter.strategy() {
                for _ in 0..cases {
                    let mut tree = strategy.new_tree(&mut runner).expect("a generated value");
                    let Err(reason) = attempt(&tree.current()) else {
                        continue;
                    };
                    let mut simplest = (tree.current(), reason);
                    let mut steps = 0;
                    let mut more = tree.simplify();
                    while more && steps < 10_000 {
                        steps += 1;
                        more = match attempt(&tree.current()) {
                            Err(reason) => {
                                simplest = (tree.current(), reason);
                                tree.simplify()
                            }
                            Ok(()) => tree.complicate(),
                        };
                    }
                    let lowest =
                        parameter.lowest_refused(simplest.0.clone(), |v| attempt(v).is_err());
                    let reason = attempt(&lowest).err().unwrap_or(simplest.1);
                    refused(&lowest, reason);
                    break;
                }
            }
        }
        failures.sort();
        failures.dedup();
        failures
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SMALL: &str = r#"
Parameters:
  Codec:
    Type: String
    Default: zstd
    AllowedPattern: ^(zstd|zstd\([0-9]+\))$
  Count:
    Type: Number
    Default: 5
    MinValue: 1
    MaxValue: 10
  Level:
    Type: String
    Default: INFO
    AllowedValues: [INFO, WARN]
  Namespace:
    Type: String
    Default: Lake
    AllowedPattern: '^(?!AWS/)[A-Za-z/]{1,8}$'
  Mode:
    Type: String
    Default: plain
    AllowedValues: [plain, signed]
  Secret:
    Type: String
    Default: ""
    AllowedPattern: ^$|^key-[0-9]{1,3}$
Rules:
  SignedNeedsSecret:
    RuleCondition: !Equals [!Ref Mode, signed]
    Assertions:
      - Assert: !Not [!Equals [!Ref Secret, ""]]
Conditions:
  OnTables: !Equals [!Ref Codec, zstd]
Resources:
  Bucket:
    Type: AWS::S3::Bucket
  Tables:
    Type: AWS::S3Tables::TableBucket
  Fn:
    Type: AWS::Serverless::Function
    Properties:
      LoggingConfig:
        ApplicationLogLevel: !Ref Level
      Environment:
        Variables:
          CODEC: !Ref Codec
          COUNT: !Ref Count
          BUCKET: !Ref Bucket
          FIXED: "30000"
          NS: !Ref Namespace
          MODE: !Ref Mode
          SECRET: !Ref Secret
          CATALOG: !If [OnTables, !Sub "tables:${Tables.TableBucketARN}/${Namespace}@${AWS::Region}", plain]
"#;

    fn small() -> Template {
        Template {
            root: serde_norway::from_str(SMALL).unwrap(),
        }
    }

    #[test]
    fn anchors_and_a_leading_look_ahead_are_taken_apart() {
        assert_eq!(
            alternatives("^$|^arn:(a|b)$"),
            vec![(String::new(), None), ("arn:(a|b)".to_owned(), None)]
        );
        assert_eq!(
            alternatives("^(?!AWS/)[A-Z]+$"),
            vec![("[A-Z]+".to_owned(), Some("AWS/".to_owned()))]
        );
    }

    #[test]
    fn the_environment_says_where_each_variable_comes_from() {
        let env = small().environment("Fn");
        assert_eq!(env["CODEC"], Setting::Parameter("Codec".into()));
        assert_eq!(env["FIXED"], Setting::Literal("30000".into()));
        assert_eq!(
            env["BUCKET"],
            Setting::Resolved("user-lake-lakebucket-1a2b3c4d5e6f".into())
        );
        assert_eq!(
            env["AWS_LAMBDA_LOG_LEVEL"],
            Setting::Parameter("Level".into())
        );
    }

    #[test]
    fn each_branch_of_an_if_is_checked_with_its_subs_resolved() {
        let template = small();
        assert_eq!(
            template.environment("Fn")["CATALOG"],
            Setting::Either(vec![
                Setting::Resolved(
                    "tables:arn:aws:s3tables:us-east-1:123456789012:bucket/lake-1a2b3c4d/Lake@us-east-1"
                        .into()
                ),
                Setting::Literal("plain".into()),
            ])
        );
        // A parser that knows only the first branch is caught, naming the other.
        let catalog_of = |env: &[(&str, &str)]| {
            let (_, catalog) = env.iter().find(|(k, _)| *k == "CATALOG").unwrap();
            catalog.to_string()
        };
        let failures = template.check_function("Fn", 8, |env| {
            let catalog = catalog_of(env);
            match catalog.starts_with("tables:arn:aws:s3tables:") {
                true => Ok(()),
                false => Err(format!("unknown catalog {catalog}")),
            }
        });
        assert_eq!(failures.len(), 1, "{failures:?}");
        assert!(
            failures[0].contains(r#"CATALOG = "plain" (one branch of its !If)"#),
            "{failures:?}"
        );
        // The other variables are checked with the first branch in place.
        let failures = template.check_function("Fn", 8, |env| match catalog_of(env).as_str() {
            "plain" => Ok(()),
            other if other.starts_with("tables:") => Ok(()),
            other => Err(format!("unknown catalog {other}")),
        });
        assert!(failures.is_empty(), "{failures:?}");
    }

    #[test]
    fn numbers_are_checked_at_their_bounds() {
        let count = small().parameter("Count").unwrap();
        assert_eq!(count.boundaries(), vec!["5", "1", "10", "2", "9", "1.5"]);
        assert!(count.accepts("9.75") && !count.accepts("10.5") && !count.accepts("1e1"));
    }

    /// Whether one of `failures` names `parameter = value`.
    fn names(failures: &[String], parameter_value: &str) -> bool {
        failures
            .iter()
            .any(|f| f.contains(&format!("parameter {parameter_value}")))
    }

    /// A parser like the producer's: `signed` needs a secret, as the template's rule says.
    fn needs_a_secret_when_signed(env: &[(&str, &str)]) -> Result<(), String> {
        let get = |name: &str| env.iter().find(|(k, _)| *k == name).unwrap().1;
        match (get("MODE"), get("SECRET")) {
            ("signed", "") => Err("SECRET is required when MODE is signed".into()),
            _ => Ok(()),
        }
    }

    #[test]
    fn a_value_a_rule_ties_to_another_parameter_is_checked_with_that_parameter_set() {
        let failures = small().check_function("Fn", 16, needs_a_secret_when_signed);
        assert_eq!(failures, Vec::<String>::new());
        // Without the rule, the same parser is caught on `signed` with no secret.
        let mut template = small();
        template.root.as_mapping_mut().unwrap().remove("Rules");
        let failures = template.check_function("Fn", 16, needs_a_secret_when_signed);
        assert!(names(&failures, r#"Mode = "signed""#), "{failures:?}");
    }

    #[test]
    fn a_parser_that_refuses_what_a_rule_allows_is_caught() {
        let failures = small().check_function("Fn", 16, |env| {
            let signed = env.iter().any(|(k, v)| *k == "MODE" && *v == "signed");
            if signed {
                Err("signing is not supported".into())
            } else {
                Ok(())
            }
        });
        assert!(names(&failures, r#"Mode = "signed""#), "{failures:?}");
    }

    #[test]
    fn a_parser_of_whole_numbers_is_caught_on_a_fraction_the_template_accepts() {
        let failures = small().check_function("Fn", 16, |env| {
            let count = env.iter().find(|(k, _)| *k == "COUNT").unwrap().1;
            count.parse::<u32>().map(|_| ()).map_err(|e| e.to_string())
        });
        assert!(names(&failures, r#"Count = "1.5""#), "{failures:?}");
    }

    #[test]
    fn a_parser_narrower_than_the_template_is_caught_and_named() {
        let failures = small().check_function("Fn", 64, |env| {
            let codec = env.iter().find(|(k, _)| *k == "CODEC").unwrap().1;
            match codec.strip_prefix("zstd(") {
                Some(level) => match level.trim_end_matches(')').parse::<u32>() {
                    Ok(1..=22) => Ok(()),
                    _ => Err(format!("bad level in {codec}")),
                },
                None => Ok(()),
            }
        });
        assert!(!failures.is_empty());
        assert!(
            failures.iter().all(|f| f.contains("parameter Codec")),
            "{failures:?}"
        );
    }

    #[test]
    fn a_parser_that_agrees_passes_and_the_look_ahead_is_respected() {
        let failures = small().check_function("Fn", 64, |env| {
            let get = |name: &str| env.iter().find(|(k, _)| *k == name).unwrap().1;
            let count: f64 = get("COUNT").parse().map_err(|e| format!("{e}"))?;
            if !(1.0..=10.0).contains(&count) || get("NS").starts_with("AWS/") {
                return Err("out of range".into());
            }
            Ok(())
        });
        assert_eq!(failures, Vec::<String>::new());
    }
}
