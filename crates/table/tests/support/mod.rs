//! What the table's integration tests share: rows of the lake at known offsets and times, cut
//! by hour as the sink cuts them, and a table on its own in-memory lake and catalog.

// Each test file compiles this module on its own and uses part of it.
#![allow(dead_code)]

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lake::{LakeRow, RowsBuilder, testing::MemoryStore};
use parquet::{basic::Compression, file::properties::WriterProperties};
use table::{Slice, Table, TableLocation, catalog::memory::MemoryCatalog, files::hour_of};
use user_record::UserRecord;

pub const TOPIC: &str = "users_created";
pub const T0: i64 = 1_795_525_198_000;

pub fn at(offset: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(T0 + offset * 1_000).unwrap()
}

/// A row at `offset` of partition `partition`; `generation` changes the user, as a topic that
/// was deleted and created again carries other users at the same offsets.
pub fn row(partition: i32, offset: i64, generation: u8) -> LakeRow {
    let json = format!(
        r#"{{"id":"6f1c2f8e-2b7a-4c3e-9d1a-{generation:02x}{partition:02x}{offset:08x}","first_name":"A","last_name":"B",
        "gender":"female","address":"1 Main St","post_code":"0567","email":"a@b.c",
        "username":"a","dob":"1987-05-04T10:11:12.345Z",
        "registered_date":"2015-02-03T04:05:06Z","phone":"22","picture":"https://x/p.jpg"}}"#
    );
    LakeRow {
        record: UserRecord::from_json_owned(json.as_bytes()).unwrap(),
        topic: TOPIC.into(),
        partition,
        offset,
        timestamp: at(offset) + chrono::Duration::milliseconds(i64::from(generation)),
    }
}

/// Rows of one partition, cut into slices by hour as the sink cuts them.
pub fn slices(partition: i32, offsets: std::ops::Range<i64>, generation: u8) -> Vec<Slice> {
    let mut by_hour: BTreeMap<i32, RowsBuilder> = BTreeMap::new();
    for offset in offsets {
        let row = row(partition, offset, generation);
        by_hour
            .entry(hour_of(row.timestamp))
            .or_default()
            .push_row(&row);
    }
    by_hour
        .into_iter()
        .map(|(hour, builder)| Slice {
            topic: TOPIC.into(),
            partition,
            hour,
            batch: builder.finish().unwrap(),
        })
        .collect()
}

pub fn properties() -> WriterProperties {
    lake::writer::writer_properties(Compression::SNAPPY, "tests")
}

pub type TestTable = Table<&'static MemoryStore, &'static MemoryCatalog>;

/// A table on its own lake and catalog (leaked: they live as long as the test process).
pub fn table() -> (TestTable, &'static MemoryStore, &'static MemoryCatalog) {
    let store: &'static MemoryStore = Box::leak(Box::default());
    let catalog: &'static MemoryCatalog = Box::leak(Box::default());
    let table = Table::new(store, catalog, TableLocation::new("lake", "", "users"));
    (table, store, catalog)
}
