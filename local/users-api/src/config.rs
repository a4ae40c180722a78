//! The command line: where to listen.
//!
//! `--listen ADDR` wins over the `USERS_API_LISTEN` variable, which wins over
//! the default `127.0.0.1:8088`. Parsing is separate from `main` so that it can
//! be tested without starting anything.

use std::net::SocketAddr;

/// Address used when neither `--listen` nor `USERS_API_LISTEN` is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8088";

/// Environment variable naming the address to listen on.
pub const LISTEN_ENV: &str = "USERS_API_LISTEN";

/// Printed for `--help`.
pub const USAGE: &str = "\
users-api: an offline stand-in for randomuser.me

Usage: users-api [--listen ADDR]

  --listen ADDR   address to listen on (env USERS_API_LISTEN; default 127.0.0.1:8088)
  -h, --help      print this help

Routes: GET /api/?results=N&seed=S&page=P&nat=us,gb   GET /health
";

/// What the command line asks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Serve { listen: SocketAddr },
    Help,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("--listen needs an address, such as 127.0.0.1:8088")]
    MissingValue,
    #[error("unknown argument '{0}' (try --help)")]
    UnknownArgument(String),
    #[error("'{value}' from {source_name} is not a socket address such as 127.0.0.1:8088")]
    InvalidAddress {
        value: String,
        source_name: &'static str,
    },
}

/// Reads the arguments (without the program name) and the value of
/// `USERS_API_LISTEN`, if set.
pub fn parse(
    args: impl IntoIterator<Item = String>,
    env_listen: Option<String>,
) -> Result<Command, ConfigError> {
    let mut listen: Option<(String, &'static str)> = None;
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "-h" | "--help" => return Ok(Command::Help),
            "--listen" => {
                let value = args.next().ok_or(ConfigError::MissingValue)?;
                listen = Some((value, "--listen"));
            }
            other => match other.strip_prefix("--listen=") {
                Some(value) => listen = Some((value.to_owned(), "--listen")),
                None => return Err(ConfigError::UnknownArgument(arg)),
            },
        }
    }
    let (value, source_name) = listen
        .or_else(|| {
            env_listen
                .filter(|v| !v.trim().is_empty())
                .map(|v| (v, LISTEN_ENV))
        })
        .unwrap_or_else(|| (DEFAULT_LISTEN.to_owned(), "the default"));
    let listen = value
        .trim()
        .parse()
        .map_err(|_| ConfigError::InvalidAddress {
            value: value.clone(),
            source_name,
        })?;
    Ok(Command::Serve { listen })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn serve(addr: &str) -> Command {
        Command::Serve {
            listen: addr.parse().unwrap(),
        }
    }

    #[test]
    fn without_arguments_or_environment_it_listens_on_the_default_address() {
        assert_eq!(parse(args(&[]), None), Ok(serve("127.0.0.1:8088")));
    }

    #[test]
    fn the_environment_variable_replaces_the_default() {
        assert_eq!(
            parse(args(&[]), Some("127.0.0.1:9000".into())),
            Ok(serve("127.0.0.1:9000"))
        );
    }

    #[test]
    fn the_listen_flag_wins_over_the_environment_in_both_spellings() {
        let env = Some("127.0.0.1:9000".to_owned());
        assert_eq!(
            parse(args(&["--listen", "0.0.0.0:1234"]), env.clone()),
            Ok(serve("0.0.0.0:1234"))
        );
        assert_eq!(
            parse(args(&["--listen=[::1]:80"]), env),
            Ok(serve("[::1]:80"))
        );
    }

    #[test]
    fn bad_arguments_are_reported() {
        assert_eq!(
            parse(args(&["--listen"]), None),
            Err(ConfigError::MissingValue)
        );
        assert_eq!(
            parse(args(&["--port", "1"]), None),
            Err(ConfigError::UnknownArgument("--port".into()))
        );
        assert!(matches!(
            parse(args(&[]), Some("localhost".into())),
            Err(ConfigError::InvalidAddress {
                source_name: LISTEN_ENV,
                ..
            })
        ));
    }

    #[test]
    fn help_is_recognised() {
        assert_eq!(parse(args(&["--help"]), None), Ok(Command::Help));
    }
}
