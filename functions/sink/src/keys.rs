//! Object keys in the lake. Keys are a pure function of where the records came from
//! (topic, partition, offsets, Kafka time), so a retried batch overwrites its own objects.

use chrono::NaiveDate;

use crate::{batch::Slot, outputs::OutputFormat};

/// `{prefix}{root}/dt=YYYY-MM-DD/hour=HH/{topic}-{partition}-{first}-{last}.{extension}`, where
/// root and extension are the format's: `users/….parquet`, `users_jsonl/….jsonl`,
/// `users_csv/….csv`.
pub fn data_key(
    prefix: &str,
    format: OutputFormat,
    slot: &Slot,
    first_offset: i64,
    last_offset: i64,
) -> String {
    format!(
        "{prefix}{}/dt={}/hour={:02}/{}-{}-{first_offset}-{last_offset}.{}",
        format.root(),
        slot.date.format("%Y-%m-%d"),
        slot.hour,
        slot.topic,
        slot.partition,
        format.name()
    )
}

/// `{prefix}_errors/dt=YYYY-MM-DD/{topic}-{partition}-{first}-{last}.jsonl`; `range` is
/// `{first}-{last}` of the rejected offsets, or a digest when no offset was readable.
pub fn error_key(
    prefix: &str,
    date: NaiveDate,
    topic: &str,
    partition: i32,
    range: &str,
) -> String {
    format!(
        "{prefix}_errors/dt={}/{topic}-{partition}-{range}.jsonl",
        date.format("%Y-%m-%d")
    )
}
