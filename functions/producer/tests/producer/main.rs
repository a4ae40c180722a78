//! The producer's integration tests, in one binary: the handler with test doubles, the HTTP
//! user source against a local server, the Kafka publisher against librdkafka's mock cluster,
//! the mapping of API users and the summary line.

mod common;
mod handler;
mod http_source;
mod kafka;
mod mapping;
mod metrics;
