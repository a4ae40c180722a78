//! Typed settings from environment variables, shared by every function so that a missing or
//! malformed variable is reported the same way everywhere: by name, with the value that failed.

use std::{env, fmt::Display, str::FromStr};

/// A setting that could not be read at start-up.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SettingError {
    /// A variable with no default is not set (or is empty).
    #[error("environment variable {name} is required but not set")]
    Missing { name: &'static str },
    /// A variable is set but its value does not parse.
    #[error("environment variable {name}={value:?} is invalid: {reason}")]
    Invalid {
        name: &'static str,
        value: String,
        reason: String,
    },
}

/// Where settings come from: the process environment in production, a map in tests.
pub trait Source {
    /// The variable's value, or `None` when it is unset or empty.
    fn get(&self, name: &str) -> Option<String>;
}

/// The process environment.
pub struct ProcessEnv;

impl Source for ProcessEnv {
    fn get(&self, name: &str) -> Option<String> {
        env::var(name).ok().filter(|v| !v.trim().is_empty())
    }
}

/// Fixed settings, for tests: `[("LAKE_BUCKET", "data-lake")]`.
impl Source for [(&str, &str)] {
    fn get(&self, name: &str) -> Option<String> {
        self.iter()
            .find(|(k, _)| *k == name)
            .map(|(_, v)| v.to_string())
            .filter(|v| !v.trim().is_empty())
    }
}

impl<const N: usize> Source for [(&str, &str); N] {
    fn get(&self, name: &str) -> Option<String> {
        Source::get(self.as_slice(), name)
    }
}

impl Source for Vec<(&str, &str)> {
    fn get(&self, name: &str) -> Option<String> {
        Source::get(self.as_slice(), name)
    }
}

/// A required variable, parsed.
pub fn required<T>(source: &impl Source, name: &'static str) -> Result<T, SettingError>
where
    T: FromStr,
    T::Err: Display,
{
    optional(source, name)?.ok_or(SettingError::Missing { name })
}

/// An optional variable, parsed; `None` when unset.
pub fn optional<T>(source: &impl Source, name: &'static str) -> Result<Option<T>, SettingError>
where
    T: FromStr,
    T::Err: Display,
{
    source
        .get(name)
        .map(|value| {
            value
                .trim()
                .parse()
                .map_err(|e: T::Err| SettingError::Invalid {
                    name,
                    value,
                    reason: e.to_string(),
                })
        })
        .transpose()
}

/// A variable with a default, parsed.
pub fn or_default<T>(
    source: &impl Source,
    name: &'static str,
    default: T,
) -> Result<T, SettingError>
where
    T: FromStr,
    T::Err: Display,
{
    Ok(optional(source, name)?.unwrap_or(default))
}

/// Checks a parsed value against a rule, reporting a failure as an invalid variable.
pub fn check<T: Display>(
    name: &'static str,
    value: T,
    ok: bool,
    rule: &str,
) -> Result<T, SettingError> {
    if ok {
        Ok(value)
    } else {
        Err(SettingError::Invalid {
            name,
            value: value.to_string(),
            reason: rule.to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_required_variable_is_named() {
        let err = required::<String>(&[("OTHER", "x")], "LAKE_BUCKET").unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable LAKE_BUCKET is required but not set"
        );
    }

    #[test]
    fn empty_value_counts_as_unset() {
        assert_eq!(
            or_default(&[("USERS_PER_RUN", " ")], "USERS_PER_RUN", 7),
            Ok(7)
        );
    }

    #[test]
    fn unparsable_value_is_named_with_value_and_reason() {
        let err = or_default(&[("USERS_PER_RUN", "ten")], "USERS_PER_RUN", 100u32).unwrap_err();
        assert_eq!(
            err.to_string(),
            "environment variable USERS_PER_RUN=\"ten\" is invalid: invalid digit found in string"
        );
    }

    #[test]
    fn check_turns_a_broken_rule_into_an_invalid_variable() {
        let err = check("USERS_PER_RUN", 0, false, "must be at least 1").unwrap_err();
        assert!(
            err.to_string()
                .contains("USERS_PER_RUN=\"0\" is invalid: must be at least 1")
        );
        assert_eq!(check("USERS_PER_RUN", 5, true, "must be at least 1"), Ok(5));
    }
}
