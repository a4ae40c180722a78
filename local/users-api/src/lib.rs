//! An offline stand-in for randomuser.me.
//!
//! The producer Lambda fetches users from a randomuser.me-compatible API. This
//! crate answers that API on the local machine, with the same JSON shape
//! (version 1.4), so the whole pipeline runs, and is tested, without the
//! internet. Answers are deterministic: the same seed, page, size and
//! nationalities give the same bytes.
//!
//! - [`request`] reads the query string into a [`PageRequest`];
//! - [`generate`] turns a request into users;
//! - [`nat`] holds the per-nationality tables;
//! - [`model`] is the JSON shape;
//! - [`http`] is the router; [`config`] reads the command line.

pub mod config;
pub mod generate;
pub mod http;
pub mod model;
pub mod nat;
pub mod request;

pub use generate::page;
pub use model::{ApiResponse, User};
pub use nat::{Nat, NatSet};
pub use request::{MAX_RESULTS, PageRequest, RequestError};
