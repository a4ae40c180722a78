//! The table's promise, tested against an in-memory lake and catalog: every record handed in is
//! in the table exactly once, whatever is redelivered, retried, cut differently, interrupted or
//! raced, and a topic whose offsets start again loses nothing.

mod common;

use std::sync::Arc;

use arrow::array::{AsArray, RecordBatch};
use arrow::datatypes::Int64Type;
use lake::testing::MemoryStore;
use table::{
    Table, TableLocation,
    catalog::memory::{Fault, MemoryCatalog},
};

use common::{TOPIC, TestTable, at, properties, row, slices, table};

/// Every (partition, offset, id) the table's current snapshot holds, with repeats.
async fn held(table: &TestTable, snapshot: Option<i64>) -> Vec<(i32, i64, String)> {
    let mut all = Vec::new();
    for batch in table.scan(snapshot).await.unwrap() {
        all.extend(keys(&batch));
    }
    all.sort();
    all
}

fn keys(batch: &RecordBatch) -> Vec<(i32, i64, String)> {
    let partitions = batch
        .column_by_name("kafka_partition")
        .unwrap()
        .as_primitive::<arrow::datatypes::Int32Type>();
    let offsets = batch
        .column_by_name("kafka_offset")
        .unwrap()
        .as_primitive::<Int64Type>();
    let ids = batch.column_by_name("id").unwrap().as_string::<i32>();
    (0..batch.num_rows())
        .map(|i| {
            (
                partitions.value(i),
                offsets.value(i),
                ids.value(i).to_string(),
            )
        })
        .collect()
}

fn expected(
    partition: i32,
    offsets: std::ops::Range<i64>,
    generation: u8,
) -> Vec<(i32, i64, String)> {
    offsets
        .map(|o| {
            let row = row(partition, o, generation);
            (partition, o, row.record.id.to_string())
        })
        .collect()
}

#[tokio::test]
async fn a_redelivered_batch_adds_nothing_and_is_counted_as_duplicates() {
    let (table, _, _) = table();
    let batch = slices(0, 0..50, 0);
    let first = table.append(&batch, &properties(), at(60)).await.unwrap();
    assert_eq!((first.written, first.duplicates), (50, 0));

    let again = table.append(&batch, &properties(), at(61)).await.unwrap();

    assert_eq!((again.written, again.duplicates, again.rewound), (0, 50, 0));
    assert_eq!(again.snapshot_id, None, "nothing to add makes no snapshot");
    assert_eq!(held(&table, None).await, expected(0, 0..50, 0));
}

#[tokio::test]
async fn a_batch_cut_differently_adds_only_the_records_above_the_mark() {
    let (table, _, _) = table();
    table
        .append(&slices(0, 0..30, 0), &properties(), at(60))
        .await
        .unwrap();
    table
        .append(&slices(1, 0..10, 0), &properties(), at(60))
        .await
        .unwrap();

    let overlapping = table
        .append(&slices(0, 20..45, 0), &properties(), at(61))
        .await
        .unwrap();

    assert_eq!((overlapping.written, overlapping.duplicates), (15, 10));
    let mut want = expected(0, 0..45, 0);
    want.extend(expected(1, 0..10, 0));
    want.sort();
    assert_eq!(held(&table, None).await, want);
}

#[tokio::test]
async fn offsets_that_go_backwards_keep_both_generations_and_are_reported() {
    let (table, _, _) = table();
    table
        .append(&slices(0, 0..20, 0), &properties(), at(60))
        .await
        .unwrap();

    // The topic was deleted and created again: offsets start at 0 with other users.
    let recreated = table
        .append(&slices(0, 0..5, 1), &properties(), at(70))
        .await
        .unwrap();

    assert_eq!((recreated.written, recreated.rewound), (5, 5));
    assert_eq!(recreated.rewound_partitions, vec![(TOPIC.to_string(), 0)]);
    let mut want = expected(0, 0..20, 0);
    want.extend(expected(0, 0..5, 1));
    want.sort();
    assert_eq!(held(&table, None).await, want, "no earlier row is lost");

    // The new generation's records redelivered are duplicates, not rewound again.
    let again = table
        .append(&slices(0, 0..5, 1), &properties(), at(71))
        .await
        .unwrap();
    assert_eq!((again.written, again.duplicates, again.rewound), (0, 5, 0));
}

#[tokio::test]
async fn data_files_written_before_a_crash_stay_invisible_and_the_redelivery_lands_once() {
    let (table, store, _) = table();
    let batch = slices(0, 0..10, 0);
    // The writer died after its data file and before its commit.
    let state = table.load_or_create(at(60)).await.unwrap();
    let orphan = table
        .write_data_file(
            &batch[0].batch,
            state.metadata.schema(),
            batch[0].hour,
            "orphan",
            &properties(),
        )
        .await
        .unwrap();
    assert!(
        store
            .keys()
            .iter()
            .any(|k| orphan.file_path.ends_with(k.as_str()))
    );
    assert!(
        held(&table, None).await.is_empty(),
        "an uncommitted file is not in the table"
    );

    let report = table.append(&batch, &properties(), at(61)).await.unwrap();

    assert_eq!(report.written, 10);
    assert!(!report.files.contains(&orphan.file_path));
    assert_eq!(held(&table, None).await, expected(0, 0..10, 0));
}

#[tokio::test]
async fn a_swap_that_fails_before_it_applies_is_tried_again() {
    let (table, _, catalog) = table();
    table
        .append(&slices(0, 0..5, 0), &properties(), at(60))
        .await
        .unwrap();
    // The new metadata file is written, then the catalog call fails without swapping.
    catalog.inject(Fault::BeforeSwap);

    let report = table
        .append(&slices(0, 5..10, 0), &properties(), at(61))
        .await
        .unwrap();

    assert_eq!(report.written, 5);
    assert_eq!(held(&table, None).await, expected(0, 0..10, 0));
}

#[tokio::test]
async fn a_swap_whose_answer_is_lost_is_resolved_by_reading_the_pointer_not_redone() {
    let (table, _, catalog) = table();
    table
        .append(&slices(0, 0..5, 0), &properties(), at(60))
        .await
        .unwrap();
    catalog.inject(Fault::AfterSwap);

    let report = table
        .append(&slices(0, 5..10, 0), &properties(), at(61))
        .await
        .unwrap();

    assert_eq!(report.written, 5);
    assert_eq!(
        report.conflicts, 0,
        "the lost answer was read from the pointer"
    );
    assert_eq!(held(&table, None).await, expected(0, 0..10, 0));
    // The function died before answering: the batch comes again and adds nothing.
    let again = table
        .append(&slices(0, 5..10, 0), &properties(), at(62))
        .await
        .unwrap();
    assert_eq!((again.written, again.duplicates), (0, 5));
    assert_eq!(held(&table, None).await, expected(0, 0..10, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_writers_with_overlapping_batches_lose_no_commit_and_duplicate_nothing() {
    // given a catalog a little way off, so that writers read the same version before any swaps
    let store: &'static MemoryStore = Box::leak(Box::default());
    let catalog: &'static MemoryCatalog = Box::leak(Box::new(MemoryCatalog::with_latency(
        std::time::Duration::from_millis(3),
    )));
    let table = Table::new(store, catalog, TableLocation::new("lake", "", "users"));
    let table = Arc::new(table);
    // Eight writers: two per partition, each pair handing in overlapping ranges.
    let mut tasks = Vec::new();
    for writer in 0..8i64 {
        let table = table.clone();
        tasks.push(tokio::spawn(async move {
            let partition = (writer % 4) as i32;
            let start = (writer / 4) * 10;
            let mut written = 0;
            for round in 0..3 {
                let first = start + round * 15;
                let report = table
                    .append(
                        &slices(partition, first..first + 20, 0),
                        &properties(),
                        at(100),
                    )
                    .await
                    .unwrap();
                written += report.written;
            }
            written
        }));
    }
    let mut written = 0;
    for task in tasks {
        written += task.await.unwrap();
    }

    let rows = held(&table, None).await;
    let mut unique = rows.clone();
    unique.dedup();
    assert_eq!(rows, unique, "no record twice");
    // Every partition ends with every offset up to its writers' highest, present once.
    let mut want = Vec::new();
    for partition in 0..4 {
        want.extend(expected(partition, 0..60, 0));
    }
    want.sort();
    assert_eq!(rows, want);
    assert_eq!(written, want.len(), "the reports add up to the table");
    let (swaps, conflicts) = catalog.counts();
    assert!(swaps >= 4, "{swaps} swaps");
    assert!(
        conflicts > 0,
        "the writers raced: {swaps} swaps, no conflict"
    );
}

#[tokio::test]
async fn the_previous_snapshot_still_reads_the_previous_rows() {
    let (table, _, _) = table();
    let first = table
        .append(&slices(0, 0..7, 0), &properties(), at(60))
        .await
        .unwrap();
    table
        .append(&slices(0, 7..12, 0), &properties(), at(61))
        .await
        .unwrap();

    assert_eq!(held(&table, first.snapshot_id).await, expected(0, 0..7, 0));
    assert_eq!(held(&table, None).await, expected(0, 0..12, 0));
}
