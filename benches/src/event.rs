//! The benchmark's input: an MSK event as a Lambda would receive it, filled up to a payload
//! size with realistic users, the same bytes on every run and every machine.
//!
//! Users come from the users-API stand-in's generator (the shapes randomuser.me sends) and are
//! flattened by the producer's own mapping, so the records are those the pipeline carries;
//! only the ids, random in the producer, are derived from the record's index here.

use msk_event::{
    EventSource, RecordTimestamp, SourceRecord, build::string_json_len, envelope_json_len,
    event_json, group_key, record_json_len,
};
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

/// The largest event of whole records whose JSON stays within `max_bytes`, written by the
/// project's own builder of Lambda's event (its fields in Lambda's order).
pub fn msk_event(max_bytes: usize) -> anyhow::Result<Event> {
    let source = EventSource {
        arn: "arn:aws:kafka:us-east-1:123456789012:cluster/user-lake/0b1e2e7a-bench".into(),
        bootstrap_servers: "b-1.user-lake.kafka.us-east-1.amazonaws.com:9098".into(),
    };
    // `"users_created-N":[]` and a comma for each partition, all of which are used
    let partition_overhead = string_json_len(&group_key(TOPIC, 0)) + ":[],".len();
    let mut size = envelope_json_len(&source) + PARTITIONS as usize * partition_overhead;
    let mut records = Vec::new();
    let mut value_bytes = 0;
    for index in 0.. {
        let user = record(index)?;
        let value = user.to_json();
        let value_len = value.len();
        let entry = SourceRecord {
            topic: TOPIC.into(),
            partition: index as i32 % PARTITIONS,
            offset: (index / PARTITIONS as usize) as i64,
            timestamp: RecordTimestamp::CreateTime(FIRST_TIMESTAMP_MS + 10 * index as i64),
            key: Some(user.key().into_bytes()),
            value: Some(value),
            headers: Vec::new(),
            schemas: Default::default(),
        };
        // the entry and the comma after it
        let added = record_json_len(&entry) + 1;
        if size + added > max_bytes {
            break;
        }
        size += added;
        value_bytes += value_len;
        records.push(entry);
    }
    let bytes = event_json(&source, &records);
    anyhow::ensure!(
        bytes.len() <= max_bytes,
        "event is {} bytes, over {max_bytes}",
        bytes.len()
    );
    Ok(Event {
        bytes,
        records: records.len(),
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
