//! The command line: where to listen (`--listen`, else `USERS_API_LISTEN`, else
//! `127.0.0.1:8088`), parsed by clap like the project's other commands. Kept apart from `main`
//! so that it can be tested without starting anything.

use std::net::SocketAddr;

/// Address used when neither `--listen` nor `USERS_API_LISTEN` is given.
pub const DEFAULT_LISTEN: &str = "127.0.0.1:8088";

/// An offline stand-in for randomuser.me.
#[derive(Debug, Clone, PartialEq, Eq, clap::Parser)]
#[command(
    name = "users-api",
    version,
    after_help = "Routes: GET /api/?results=N&seed=S&page=P&nat=us,gb   GET /health"
)]
pub struct Args {
    /// Address to listen on.
    #[arg(long, env = "USERS_API_LISTEN", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,
}

#[cfg(test)]
mod tests {
    use clap::{CommandFactory, Parser};

    use super::*;

    fn parse(args: &[&str]) -> Result<SocketAddr, clap::error::ErrorKind> {
        Args::try_parse_from(std::iter::once("users-api").chain(args.iter().copied()))
            .map(|args| args.listen)
            .map_err(|error| error.kind())
    }

    #[test]
    fn without_arguments_it_listens_on_the_default_address() {
        // (the tests' environment has no USERS_API_LISTEN)
        assert_eq!(parse(&[]), Ok("127.0.0.1:8088".parse().unwrap()));
    }

    #[test]
    fn the_listen_flag_is_read_in_both_spellings() {
        assert_eq!(
            parse(&["--listen", "0.0.0.0:1234"]),
            Ok("0.0.0.0:1234".parse().unwrap())
        );
        assert_eq!(
            parse(&["--listen=[::1]:80"]),
            Ok("[::1]:80".parse().unwrap())
        );
    }

    #[test]
    fn bad_arguments_are_reported() {
        assert_eq!(
            parse(&["--listen"]),
            Err(clap::error::ErrorKind::InvalidValue)
        );
        assert_eq!(
            parse(&["--port", "1"]),
            Err(clap::error::ErrorKind::UnknownArgument)
        );
        assert_eq!(
            parse(&["--listen", "localhost"]),
            Err(clap::error::ErrorKind::ValueValidation)
        );
    }

    #[test]
    fn help_names_the_environment_variable_and_the_routes() {
        let help = Args::command().render_help().to_string();
        assert!(help.contains("USERS_API_LISTEN"), "{help}");
        assert!(help.contains("GET /api/"), "{help}");
    }
}
