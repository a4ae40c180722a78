//! The emulators' integration tests, in one binary: the HTTP invoker against endpoints that
//! answer like AWS Lambda and like `cargo lambda watch`, the `schedule` binary, and the
//! `msk-trigger` binary against a real Kafka-protocol broker (tansu; feature `e2e`).

mod common;
mod http_invoker;
#[cfg(feature = "e2e")]
mod msk_trigger_broker;
mod schedule_binary;
