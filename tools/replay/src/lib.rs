//! Replaying the topic into the lake: read `users_created` from a chosen start to its current
//! end and hand the records, in batches cut as the event source mapping cuts them, to the
//! sink's own [`sink::handle`]. For backfills (a lake lost or started late), rebuilds, and the
//! batches the mapping gave up on. It connects to Kafka with the same `KAFKA_*` settings as
//! the producer (plaintext, SCRAM or MSK IAM).
//!
//! In the plain-files layout (`LAKE_FORMAT=files`) the sink names an object by the first and
//! last offset of its batch's records in one partition and hour, so a replay cut into other
//! batches than the original delivery would write other keys beside the existing objects: the
//! same rows twice. The replay therefore aligns its batches with what the lake already holds
//! ([`Cuts`]): a batch never spans the start or end of an existing object's offset range, so
//! records already in the lake come out under the very keys, with the very bytes, they have,
//! and a replay over a complete lake leaves it unchanged. (Hours already compacted hold merged
//! objects whose names carry no offsets; records replayed into them land as new originals,
//! which the compactor's next run removes because the merged objects' footers show it holds
//! their rows.)
//!
//! The Iceberg table (`LAKE_FORMAT=iceberg`, the default) needs no alignment: the sink adds a
//! batch with one exactly-once commit, and each topic-partition's offset mark in the table
//! keeps a record it already holds from being added again, however the batches are cut. A
//! replay over records already in the table adds nothing and reports them as `duplicates`;
//! records at or below a mark that the table does not hold (a topic deleted and created again)
//! are added beside the earlier ones and reported as `rewound`.
//!
//! A batch the trigger gave up on can also come back from its failure record ([`failed`]),
//! without the topic.

pub mod cuts;
pub mod failed;
pub mod replayer;

pub use cuts::Cuts;
pub use replayer::{ReplayError, ReplaySummary, Replayer};
