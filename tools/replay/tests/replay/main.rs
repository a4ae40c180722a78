//! The replay: its batches aligned with a lake of plain objects (`aligned`), replays into the
//! Iceberg table that add nothing twice (`table`), and the binary reaching MSK with the security
//! its `KAFKA_*` settings ask for (`connect`).

mod aligned;
mod connect;
mod table;
