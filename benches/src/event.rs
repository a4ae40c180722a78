//! The benchmark's input: an MSK event as a Lambda would receive it, filled up to a payload
//! size with realistic users, the same bytes on every run and every machine.
//!
//! Users come from the users-API stand-in's generator (the shapes randomuser.me sends) and are
//! flattened by the producer's own mapping, so the records are those the pipeline carries;
//! only the ids, random in the producer, are derived from the record's index here.

use base64::{Engine, engine::general_purpose::STANDARD as BASE64};
use serde_json::json;
use user_record::UserRecord;
use users_api::{NatSet, generate::user_at};

/// Lambda's limit on a synchronous invocation's payload: 6 MB (6,291,456 bytes).
pub const LAMBDA_PAYLOAD_LIMIT: usize = 6 * 1024 * 1024;
/// The topic the records claim to come from.
pub const TOPIC: &str = "users_created";
/// Partitions the records are spread over, round robin, as the local topic has.
pub const PARTITIONS: i32 = 3;
/// 2026-01-01T12:00:00Z: every record falls within this hour, 10 ms apart.
const FIRST_TIMESTAMP_MS: i64 = 1_767_268_800_000;
const SEED: &str = "user-lake-bench";

/// A generated event and what it holds.
#[derive(Debug, Clone)]
pub struct Event {
    pub bytes: Vec<u8>,
    pub records: usize,
    /// The records' JSON values together, as they sit on the topic (before base64).
    pub value_bytes: usize,
}

/// A version 4 UUID derived from `index` (splitmix64), so that ids are unique and stable.
fn id_of(index: u64) -> uuid::Uuid {
    let mix = |mut z: u64| {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    };
    let high = mix(index.wrapping_mul(0x9e37_79b9_7f4a_7c15));
    let low = mix(high ^ index);
    let bytes = ((u128::from(high) << 64) | u128::from(low)).to_le_bytes();
    uuid::Builder::from_random_bytes(bytes).into_uuid()
}

/// User `index`, as the producer would put it on the topic.
pub fn record(index: usize) -> anyhow::Result<UserRecord> {
    let user = serde_json::to_value(user_at(SEED, &NatSet::all(), 1, index as u32))?;
    let mut record = producer::mapping::to_record(index, &user)
        .map_err(|e| anyhow::anyhow!("generated user {index} does not map: {}", e.reason))?;
    record.id = id_of(index as u64);
    Ok(record)
}

/// One entry of the event's `records`, as MSK sends it, and its value's size.
fn entry(index: usize, partition: i32, offset: i64) -> anyhow::Result<(String, usize)> {
    let record = record(index)?;
    let value = record.to_json();
    let entry = json!({
        "topic": TOPIC,
        "partition": partition,
        "offset": offset,
        "timestamp": FIRST_TIMESTAMP_MS + 10 * index as i64,
        "timestampType": "CREATE_TIME",
        "key": BASE64.encode(record.key()),
        "value": BASE64.encode(&value),
        "headers": [],
    });
    Ok((serde_json::to_string(&entry)?, value.len()))
}

/// The largest event of whole records whose JSON stays within `max_bytes`.
pub fn msk_event(max_bytes: usize) -> anyhow::Result<Event> {
    let head = json!({
        "eventSource": "aws:kafka",
        "eventSourceArn": "arn:aws:kafka:us-east-1:123456789012:cluster/user-lake/0b1e2e7a-bench",
        "bootstrapServers": "b-1.user-lake.kafka.us-east-1.amazonaws.com:9098",
    })
    .to_string();
    // `{...head, "records":{` + per partition `"users_created-N":[` + `]` and commas + `}}`
    let partition_overhead = format!("\"{TOPIC}-0\":[],").len();
    let mut size =
        head.len() + "\"records\":{".len() + 2 + PARTITIONS as usize * partition_overhead;
    let mut partitions: Vec<Vec<String>> = vec![Vec::new(); PARTITIONS as usize];
    let mut value_bytes = 0;
    for index in 0.. {
        let partition = index as i32 % PARTITIONS;
        let offset = partitions[partition as usize].len() as i64;
        let (entry, value_len) = entry(index, partition, offset)?;
        if size + entry.len() + 1 > max_bytes {
            break;
        }
        size += entry.len() + 1;
        value_bytes += value_len;
        partitions[partition as usize].push(entry);
    }
    let records = partitions.iter().map(Vec::len).sum();
    let body: Vec<String> = partitions
        .iter()
        .enumerate()
        .map(|(p, entries)| format!("\"{TOPIC}-{p}\":[{}]", entries.join(",")))
        .collect();
    let text = format!(
        "{},\"records\":{{{}}}}}",
        head.trim_end_matches('}'),
        body.join(",")
    );
    anyhow::ensure!(
        text.len() <= max_bytes,
        "event is {} bytes, over {max_bytes}",
        text.len()
    );
    Ok(Event {
        bytes: text.into_bytes(),
        records,
        value_bytes,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_event_is_the_same_bytes_every_time_and_within_its_limit() {
        let first = msk_event(200_000).unwrap();
        let second = msk_event(200_000).unwrap();
        assert_eq!(first.bytes, second.bytes);
        assert!(first.bytes.len() <= 200_000);
        assert!(
            first.bytes.len() > 199_000,
            "filled to {}",
            first.bytes.len()
        );
    }

    #[test]
    fn records_are_about_seven_hundred_bytes_and_all_accepted_by_the_sink() {
        let event = msk_event(100_000).unwrap();
        let per_record = event.bytes.len() / event.records;
        assert!(
            (600..=800).contains(&per_record),
            "{per_record} B per record"
        );

        let text = std::str::from_utf8(&event.bytes).unwrap();
        let parsed = sink::MskEvent::from_json(text).unwrap();
        let decoded = sink::decode::decode(sink::Batch::Event(&parsed), |_| {});
        assert_eq!(decoded.accepted, event.records);
        assert!(
            decoded.rejected.is_empty(),
            "{:?}",
            decoded.rejected.first()
        );
    }

    #[test]
    fn ids_are_distinct_version_four_uuids() {
        let ids: std::collections::BTreeSet<_> = (0..10_000).map(id_of).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(ids.iter().all(|id| id.get_version_num() == 4));
    }
}
