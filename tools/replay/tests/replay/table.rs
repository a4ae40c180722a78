//! The replayer through the sink into the Iceberg table (an in-memory lake and catalog), first
//! filled the way the MSK trigger fills it. The table needs no alignment: its offset marks keep
//! a replay, cut into other batches than the first delivery, from adding any record twice. A
//! replay over a complete table changes nothing and reports every record it held as a
//! duplicate; a replay into a partial table adds only what was missing.

use std::sync::Arc;

use lake::testing::MemoryStore;
use msk_event::{EventSource, SourceRecord};
use replay::{Cuts, ReplaySummary, Replayer};
use sink::Sink;
use table::{
    AnyCatalog, Catalog, OpenedTable, Table, TableLocation, catalog::memory::MemoryCatalog,
};

use crate::aligned::{deliver_as_the_trigger, sink_with, topic};

/// A sink committing to the table in `catalog` (the default layout), over `store`.
fn table_sink<'a>(store: &'a MemoryStore, catalog: &Arc<MemoryCatalog>) -> Sink<&'a MemoryStore> {
    let opened = OpenedTable {
        catalog: AnyCatalog::Memory(catalog.clone()),
        location: TableLocation::new("data-lake", "", "users"),
    };
    sink_with(store, &[]).with_table(opened, None)
}

/// Replays `records` in batches of up to 500 records, with no cuts (the table needs none).
async fn replay(
    store: &MemoryStore,
    catalog: &Arc<MemoryCatalog>,
    records: Vec<SourceRecord>,
) -> ReplaySummary {
    let mut replayer = Replayer::new(
        table_sink(store, catalog),
        Cuts::default(),
        500,
        6_291_456,
        EventSource::local("us-east-1", "127.0.0.1:9092"),
    );
    for record in records {
        replayer.offer(record).await.unwrap();
    }
    replayer.finish().await.unwrap()
}

/// Every (partition, offset) the table's current snapshot holds, with repeats, in order.
async fn held(store: &MemoryStore, catalog: &Arc<MemoryCatalog>) -> Vec<(i32, i64)> {
    let table = Table::new(
        store,
        catalog.as_ref(),
        TableLocation::new("data-lake", "", "users"),
    );
    let mut rows: Vec<(i32, i64)> = table
        .scan(None)
        .await
        .unwrap()
        .iter()
        .flat_map(|batch| lake::rows::rows(batch).unwrap())
        .map(|r| (r.partition, r.offset))
        .collect();
    rows.sort();
    rows
}

/// The (partition, offset) of every good record of `records` (the poison one is rejected).
fn good(records: &[SourceRecord]) -> Vec<(i32, i64)> {
    let mut keys: Vec<(i32, i64)> = records
        .iter()
        .filter(|r| (r.partition, r.offset) != (1, 7))
        .map(|r| (r.partition, r.offset))
        .collect();
    keys.sort();
    keys
}

#[tokio::test]
async fn a_replay_of_records_already_in_the_table_adds_nothing_and_reports_them_as_duplicates() {
    // given the whole topic committed to the table by the trigger, in uneven batches
    let (store, catalog) = (MemoryStore::default(), Arc::new(MemoryCatalog::new()));
    deliver_as_the_trigger(&table_sink(&store, &catalog), &topic()).await;
    assert_eq!(held(&store, &catalog).await, good(&topic()));
    let objects_before = store.snapshot();
    let pointer_before = catalog.load().await.unwrap();

    // when the whole topic is replayed, cut into other batches
    let summary = replay(&store, &catalog, topic()).await;

    // then every record went through the sink again and none was added
    assert_eq!(
        (summary.records, summary.written, summary.rejected),
        (75, 0, 1)
    );
    assert_eq!((summary.duplicates, summary.rewound), (74, 0));
    assert_eq!(summary.snapshot_id, None, "nothing added, no snapshot");
    assert_eq!(catalog.load().await.unwrap(), pointer_before);
    assert_eq!(store.snapshot(), objects_before, "no object written");
    assert_eq!(held(&store, &catalog).await, good(&topic()));
    // and the summary the command prints says so
    let json = serde_json::to_value(&summary).unwrap();
    assert_eq!(
        (json["duplicates"].as_u64(), json["rewound"].as_u64()),
        (Some(74), Some(0))
    );
    assert!(json.get("snapshot_id").is_none(), "{json}");
}

#[tokio::test]
async fn a_replay_into_a_partial_table_adds_only_the_missing_records_once() {
    // given a table holding only the first 10 offsets of each partition
    let (store, catalog) = (MemoryStore::default(), Arc::new(MemoryCatalog::new()));
    let early: Vec<SourceRecord> = topic().into_iter().filter(|r| r.offset < 10).collect();
    deliver_as_the_trigger(&table_sink(&store, &catalog), &early).await;

    // when the whole topic is replayed
    let summary = replay(&store, &catalog, topic()).await;

    // then the missing records were added, those held counted as duplicates, none twice
    let already = good(&early).len();
    assert_eq!(already, 29);
    assert_eq!(
        (summary.written, summary.duplicates, summary.rewound),
        (74 - already, already, 0)
    );
    assert_eq!(held(&store, &catalog).await, good(&topic()));
    let table = Table::new(
        &store,
        catalog.as_ref(),
        TableLocation::new("data-lake", "", "users"),
    );
    let current = table.load().await.unwrap().unwrap().metadata;
    assert_eq!(summary.snapshot_id, current.current_snapshot_id);
}
