//! The replayer against an in-memory lake of plain Parquet objects (`LAKE_FORMAT=files`) first
//! filled the way the MSK trigger fills it: a replay over a complete lake rewrites the same
//! objects with the same bytes, a replay into a partial lake fills the gap without doubling
//! anything, and batches stay within the record count and event size they are given.

use std::collections::BTreeMap;

use bytes::Bytes;
use lake::{Layout, testing::MemoryStore};
use msk_event::{EventSource, MskEvent, RecordTimestamp, SourceRecord, event_json};
use replay::{Cuts, ReplaySummary, Replayer};
use sink::{Batch, Sink, SinkConfig};
use user_record::UserRecord;

/// 12:50 UTC on 2026-11-24; records are a minute apart, so they cross into hour 13.
const T0: i64 = 1_795_524_600_000;

pub(crate) fn record(partition: i32, offset: i64) -> SourceRecord {
    let n = i64::from(partition) * 1000 + offset;
    let user = UserRecord {
        id: format!("00000000-0000-4000-8000-{n:012}").parse().unwrap(),
        first_name: format!("Ana {n}").into(),
        last_name: "Çelik".into(),
        gender: "female".into(),
        address: "1 Rue de la Paix, Paris, Île-de-France, France".into(),
        post_code: "75002".into(),
        email: format!("ana{n}@example.com").into(),
        username: format!("ana{n}").into(),
        dob: chrono::DateTime::from_timestamp(600_000_000 + n, 0).unwrap(),
        registered_date: chrono::DateTime::from_timestamp(1_400_000_000 + n, 0).unwrap(),
        phone: "01-23-45-67-89".into(),
        picture: "https://randomuser.me/api/portraits/med/women/1.jpg".into(),
    };
    // Offset 7 of partition 1 is poison: it goes to _errors/ and must not upset alignment.
    let value = if (partition, offset) == (1, 7) {
        b"not json".to_vec()
    } else {
        user.to_json()
    };
    SourceRecord {
        topic: "users_created".into(),
        partition,
        offset,
        timestamp: RecordTimestamp::CreateTime(T0 + offset * 60_000),
        key: Some(user.key().into_bytes()),
        value: Some(value),
        headers: vec![],
        schemas: Default::default(),
    }
}

/// The topic: 3 partitions of 25 records.
pub(crate) fn topic() -> Vec<SourceRecord> {
    (0..25)
        .flat_map(|offset| (0..3).map(move |p| record(p, offset)))
        .collect()
}

/// A sink with the settings of `env` (the lake's bucket is `data-lake`), writing to `store`.
pub(crate) fn sink_with<'a>(store: &'a MemoryStore, env: &[(&str, &str)]) -> Sink<&'a MemoryStore> {
    let mut env = env.to_vec();
    env.push(("LAKE_BUCKET", "data-lake"));
    let config = SinkConfig::from_source(&env).unwrap();
    let mut sink = Sink::new(store, &config);
    // the sink's summary lines stay out of the test output
    sink.metrics = lambda_kit::emf::Metrics::captured(config.metrics).0;
    sink
}

/// A sink writing plain Parquet objects, the layout these tests align with.
fn sink(store: &MemoryStore) -> Sink<&MemoryStore> {
    sink_with(store, &[("LAKE_FORMAT", "files")])
}

/// Delivers the topic as the trigger did: batches of uneven sizes across partitions, each as
/// the MSK event JSON the sink is invoked with.
async fn delivered_by_the_trigger(store: &MemoryStore, records: &[SourceRecord]) {
    deliver_as_the_trigger(&sink(store), records).await;
}

/// Delivers `records` to `sink` as the trigger does: batches of uneven sizes across
/// partitions, each as the MSK event JSON the sink is invoked with.
pub(crate) async fn deliver_as_the_trigger(sink: &Sink<&MemoryStore>, records: &[SourceRecord]) {
    let source = EventSource::local("us-east-1", "127.0.0.1:9092");
    let mut rest = records;
    for size in [7, 3, 11, 20, 5, 100].into_iter().cycle() {
        if rest.is_empty() {
            break;
        }
        let (batch, tail) = rest.split_at(size.min(rest.len()));
        rest = tail;
        let json = event_json(&source, batch);
        let msk = MskEvent::from_json(std::str::from_utf8(&json).unwrap()).unwrap();
        sink::handle(Batch::Event(&msk), sink, chrono::Utc::now())
            .await
            .unwrap();
    }
}

async fn replay(
    store: &MemoryStore,
    records: Vec<SourceRecord>,
    max_records: usize,
    max_bytes: usize,
) -> ReplaySummary {
    let keys = store.keys();
    let cuts = Cuts::from_keys(&Layout::new(""), keys.iter().map(String::as_str));
    let mut replayer = Replayer::new(
        sink(store),
        cuts,
        max_records,
        max_bytes,
        EventSource::local("us-east-1", "127.0.0.1:9092"),
    );
    for record in records {
        replayer.offer(record).await.unwrap();
    }
    replayer.finish().await.unwrap()
}

fn read_parquet(body: Bytes) -> Vec<arrow::record_batch::RecordBatch> {
    parquet::arrow::arrow_reader::ParquetRecordBatchReaderBuilder::try_new(body)
        .unwrap()
        .build()
        .unwrap()
        .map(Result::unwrap)
        .collect()
}

fn data(store: &MemoryStore) -> BTreeMap<String, Bytes> {
    store
        .snapshot()
        .into_iter()
        .filter(|(k, _)| k.starts_with("users/"))
        .collect()
}

#[tokio::test]
async fn a_replay_over_a_complete_lake_rewrites_the_same_objects_byte_for_byte() {
    // given the topic delivered by the trigger in uneven batches
    let store = MemoryStore::default();
    delivered_by_the_trigger(&store, &topic()).await;
    let before = data(&store);
    let everything_before = store.snapshot();
    assert!(before.len() > 6, "{:?}", before.keys());
    assert!(everything_before.keys().any(|k| k.starts_with("_errors/")));

    // when the whole topic is replayed, aligned with the lake
    let summary = replay(&store, topic(), 500, 6_291_456).await;

    // then every record went through the sink again, and the lake's objects, data and
    // errors alike, are unchanged
    assert_eq!(
        (summary.records, summary.written, summary.rejected),
        (75, 74, 1)
    );
    assert_eq!(data(&store), before);
    assert_eq!(store.snapshot(), everything_before);
}

#[tokio::test]
async fn a_replay_into_a_partial_lake_fills_the_gap_without_doubling_rows() {
    // given a lake holding only the first 10 offsets of each partition
    let store = MemoryStore::default();
    let early: Vec<SourceRecord> = topic().into_iter().filter(|r| r.offset < 10).collect();
    delivered_by_the_trigger(&store, &early).await;
    let early_objects = data(&store);

    // when the whole topic is replayed
    replay(&store, topic(), 500, 6_291_456).await;

    // then the early objects are untouched and every good record is in the lake once
    let after = data(&store);
    assert!(early_objects.iter().all(|(k, v)| after.get(k) == Some(v)));
    let mut rows: Vec<(i32, i64)> = after
        .values()
        .flat_map(|body| read_parquet(body.clone()))
        .flat_map(|b| lake::rows::rows(&b).unwrap())
        .map(|r| (r.partition, r.offset))
        .collect();
    rows.sort();
    let total = rows.len();
    rows.dedup();
    assert_eq!((total, rows.len()), (74, 74));
}

#[tokio::test]
async fn batches_respect_the_record_count_and_the_event_size() {
    // given an empty lake
    let store = MemoryStore::default();

    // when the topic is replayed in batches of at most 4 records and 4 KB of event JSON
    let by_count = replay(&store, topic(), 4, 6_291_456).await;
    let store = MemoryStore::default();
    let by_size = replay(&store, topic(), 500, 4_096).await;

    // then
    assert_eq!(by_count.batches, 3 * 7, "25 records per partition in fours");
    assert_eq!(by_count.records, 75);
    assert!(by_size.largest_event_bytes <= 4_096, "{by_size:?}");
    assert!(by_size.batches > 3, "{by_size:?}");
    assert_eq!(by_size.written, 74);
}

/// The rows of the lake's data objects, by (partition, offset).
fn rows_by_offset(store: &MemoryStore) -> BTreeMap<(i32, i64), UserRecord> {
    data(store)
        .into_values()
        .flat_map(read_parquet)
        .flat_map(|b| lake::rows::rows(&b).unwrap())
        .map(|r| ((r.partition, r.offset), r.record))
        .collect()
}

#[tokio::test]
async fn a_topic_written_through_a_confluent_registry_replays_to_the_rows_of_its_json() {
    // given the topic with partitions 0 and 1 written as Avro in the Confluent wire format
    // (schema 3), partition 2 as JSON, and offset 5 of partition 2 framed with schema 99,
    // which the registry does not have
    use user_record::avro::confluent_frame;
    let avro: Vec<SourceRecord> = topic()
        .into_iter()
        .map(|mut r| {
            let user = UserRecord::from_json_owned(r.value.as_deref().unwrap());
            match (r.partition, r.offset, user) {
                (2, 5, Ok(user)) => r.value = Some(confluent_frame(99, &user.to_avro())),
                (0 | 1, _, Ok(user)) => r.value = Some(confluent_frame(3, &user.to_avro())),
                _ => {}
            }
            r
        })
        .collect();
    let registry = sink::registry::FixedRegistry::new([("3", user_record::schemas::AVRO)]);
    let store = MemoryStore::default();
    let sink = sink(&store).with_schemas(Box::new(registry));

    // when it is replayed by a replayer whose sink knows the registry
    let mut replayer = Replayer::new(
        sink,
        Cuts::from_keys(&Layout::new(""), std::iter::empty()),
        500,
        6_291_456,
        EventSource::local("us-east-1", "127.0.0.1:9092"),
    );
    for record in avro {
        replayer.offer(record).await.unwrap();
    }
    let summary = replayer.finish().await.unwrap();

    // then the lake holds the rows the JSON topic gives, but for the poison record and the
    // one whose schema is unknown, which wait in _errors/ with their reasons
    assert_eq!(
        (summary.records, summary.written, summary.rejected),
        (75, 73, 2)
    );
    let json_store = MemoryStore::default();
    replay(&json_store, topic(), 500, 6_291_456).await;
    let mut expected = rows_by_offset(&json_store);
    expected.remove(&(2, 5));
    assert_eq!(rows_by_offset(&store), expected);
    let reasons: Vec<String> = store
        .snapshot()
        .into_iter()
        .filter(|(k, _)| k.starts_with("_errors/"))
        .map(|(_, body)| String::from_utf8_lossy(&body).into_owned())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("the schema registry has no schema 99")),
        "{reasons:?}"
    );
}
