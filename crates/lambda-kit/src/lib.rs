//! What every function and command of the lake does the same way, so that an operator sees one
//! behaviour everywhere:
//!
//! - [`settings`]: typed settings from environment variables, read once at start-up; a missing
//!   or malformed variable stops the process with a message that names it;
//! - [`emf`]: one CloudWatch Embedded Metric Format line per invocation, which is also the
//!   invocation's structured summary;
//! - [`deadline`]: the invocation's deadline, or none when the runtime gave one in the past;
//! - [`classify`]: every error a function returns is reported to Lambda as
//!   `<Kind>.<Retryable|Fatal>`, decided from the error itself (for AWS SDK errors, from the
//!   service's status and error code), never from its text;
//! - [`raw_body`]: a handler run on the invocation's body as bytes, for payloads too large to
//!   read twice;
//! - [`command`]: how the operator commands end: JSON on stdout, the failure as JSON on stderr,
//!   an exit status that tells a retryable failure (75) from a fatal one (1).

pub mod classify;
pub mod command;
pub mod deadline;
pub mod emf;
pub mod raw_body;
pub mod settings;

#[cfg(feature = "aws")]
pub mod aws;

#[cfg(feature = "template-parameters")]
pub mod template;

pub use classify::{Classified, Retry, diagnostic, error_chain};
