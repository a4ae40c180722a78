//! The sink's integration tests, in one binary: the handler on the sample events, the output
//! formats, the metrics line, arbitrary and hostile input, and the real S3 client against the
//! local S3-protocol store.

mod common;
mod decode_properties;
mod handler;
mod hostile_input;
mod metrics;
mod outputs;
mod real_store;
mod schema_registry;
mod table;
