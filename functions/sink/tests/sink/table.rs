//! The sink against the Iceberg table (the default layout), with an in-memory lake and catalog:
//! the sample event lands once, a redelivery adds nothing, the summary and metrics say so, and
//! an object key that already holds other bytes is never overwritten in the plain layout.

use std::sync::Arc;

use crate::common::*;
use arrow::array::AsArray;
use arrow::datatypes::Int64Type;
use sink::{Sink, handle_json};
use table::{
    AnyCatalog, Catalog, OpenedTable, Table, TableLocation, catalog::memory::MemoryCatalog,
};

/// A table-layout sink on `store`, its catalog, and its captured summary lines.
fn table_sink(
    store: MemoryStore,
) -> (
    Sink<MemoryStore>,
    Arc<MemoryCatalog>,
    lambda_kit::emf::Captured,
) {
    let catalog = Arc::new(MemoryCatalog::new());
    let (sink, captured) = sink_with(store, &[("LAKE_FORMAT", "iceberg")]);
    (
        sink.with_table(
            OpenedTable {
                catalog: AnyCatalog::Memory(catalog.clone()),
                location: TableLocation::new("data-lake", "", "users"),
            },
            None,
        ),
        catalog,
        captured,
    )
}

/// (partition, offset) of every row of the table's current snapshot, with repeats, sorted.
async fn table_rows(sink: &Sink<MemoryStore>, catalog: &Arc<MemoryCatalog>) -> Vec<(i32, i64)> {
    let opened = sink.table.as_ref().unwrap().opened.as_ref().unwrap();
    let table = Table::new(&sink.store, catalog.as_ref(), opened.location.clone());
    let mut rows = Vec::new();
    for batch in table.scan(None).await.unwrap() {
        let partitions = batch
            .column_by_name("kafka_partition")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int32Type>();
        let offsets = batch
            .column_by_name("kafka_offset")
            .unwrap()
            .as_primitive::<Int64Type>();
        rows.extend((0..batch.num_rows()).map(|i| (partitions.value(i), offsets.value(i))));
    }
    rows.sort();
    rows
}

#[tokio::test]
async fn the_sample_event_lands_in_the_table_once_and_its_redelivery_adds_nothing() {
    // given
    let (sink, catalog, captured) = table_sink(MemoryStore::default());

    // when the same event comes twice
    let first = handle_json(&event("msk-users.json"), &sink, now())
        .await
        .unwrap();
    let again = handle_json(&event("msk-users.json"), &sink, now())
        .await
        .unwrap();

    // then
    assert_eq!((first.written, first.duplicates), (6, 0));
    assert!(first.snapshot_id.is_some());
    assert_eq!((again.written, again.duplicates, again.rewound), (0, 6, 0));
    assert_eq!(again.snapshot_id, None);
    assert_eq!(
        table_rows(&sink, &catalog).await,
        vec![(0, 40), (0, 41), (0, 42), (2, 7), (2, 8), (2, 9)]
    );
    assert!(
        sink.store
            .keys()
            .iter()
            .all(|k| k.starts_with("iceberg/users/")),
        "{:?}",
        sink.store.keys()
    );
    let lines: Vec<serde_json::Value> = captured
        .lines()
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines[1]["RecordsDuplicate"], 6);
    assert_eq!(lines[1]["RecordsWritten"], 0);
    assert_eq!(lines[0]["RecordsWritten"], 6);
}

#[tokio::test]
async fn a_table_in_its_own_bucket_gets_every_table_file_and_the_lake_only_the_rejected() {
    // given a table whose catalog placed it at the root of another bucket (an S3 Tables
    // warehouse), with its own store
    let lake = MemoryStore::default();
    let warehouse = MemoryStore::default();
    let catalog = Arc::new(MemoryCatalog::new());
    let location = TableLocation::from_uri("s3://f00d--table-s3").unwrap();
    let (sink, _) = sink_with(lake, &[("LAKE_FORMAT", "iceberg")]);
    let opened = OpenedTable {
        catalog: AnyCatalog::Memory(catalog.clone()),
        location: location.clone(),
    };
    let sink = sink.with_table(opened, Some(warehouse));

    // when a batch with a poison record comes
    let summary = handle_json(&event("msk-mixed.json"), &sink, now())
        .await
        .unwrap();

    // then the table's files are all in the warehouse, at its root, and the table reads back
    // from there; the lake holds the rejected record only
    assert!(summary.written > 0 && summary.rejected > 0, "{summary:?}");
    let warehouse = sink.table.as_ref().unwrap().store.as_ref().unwrap();
    let keys = warehouse.keys();
    assert!(keys.iter().any(|k| k.starts_with("data/")), "{keys:?}");
    assert!(
        keys.iter()
            .all(|k| k.starts_with("data/") || k.starts_with("metadata/")),
        "{keys:?}"
    );
    assert!(
        sink.store.keys().iter().all(|k| k.starts_with("_errors/")),
        "{:?}",
        sink.store.keys()
    );
    let table = Table::new(warehouse, catalog.as_ref(), location);
    let rows: usize = table
        .scan(None)
        .await
        .unwrap()
        .iter()
        .map(|b| b.num_rows())
        .sum();
    assert_eq!(rows, summary.written);
    let pointer = catalog.load().await.unwrap().unwrap();
    assert!(
        pointer
            .metadata_location
            .starts_with("s3://f00d--table-s3/metadata/"),
        "{pointer:?}"
    );
}

#[tokio::test]
async fn poison_records_still_go_to_the_error_prefix_and_the_rest_to_the_table() {
    let (sink, catalog, _) = table_sink(MemoryStore::default());

    let summary = handle_json(&event("msk-mixed.json"), &sink, now())
        .await
        .unwrap();

    assert!(summary.rejected > 0);
    assert_eq!(table_rows(&sink, &catalog).await.len(), summary.written);
    assert_eq!(error_lines(&sink.store).len(), summary.rejected);
}

#[tokio::test]
async fn a_sink_for_the_table_without_a_catalog_fails_as_a_wiring_defect() {
    let (sink, _) = sink_with(MemoryStore::default(), &[("LAKE_FORMAT", "iceberg")]);

    let error = handle_json(&event("msk-users.json"), &sink, now())
        .await
        .unwrap_err();

    assert!(matches!(error, sink::SinkError::NoCatalog), "{error}");
}

#[tokio::test]
async fn in_the_plain_layout_an_object_key_holding_other_bytes_is_kept_and_the_new_lands_beside() {
    // given an object at the key the batch will use, holding other users (a topic deleted and
    // created again reuses offsets)
    let store = MemoryStore::default();
    let key = "users/dt=2026-11-24/hour=12/users_created-2-7-9.parquet";
    store.insert(key, b"an earlier batch".to_vec());
    let sink = sink(store);

    // when
    let summary = handle_json(&event("msk-users.json"), &sink, now())
        .await
        .unwrap();

    // then the earlier object is untouched and the new rows are beside it
    assert_eq!(sink.store.body(key).as_ref(), b"an earlier batch");
    let beside: Vec<String> = sink
        .store
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("users/dt=2026-11-24/hour=12/users_created-2-7-9~"))
        .collect();
    assert_eq!(beside.len(), 1, "{:?}", sink.store.keys());
    assert!(summary.objects.contains(&beside[0]));
    assert_eq!(read_parquet(sink.store.body(&beside[0])).num_rows(), 3);
}
