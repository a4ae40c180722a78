//! The replay: its batches aligned with the lake (`aligned`), and the binary reaching MSK with
//! the security its `KAFKA_*` settings ask for (`connect`).

mod aligned;
mod connect;
