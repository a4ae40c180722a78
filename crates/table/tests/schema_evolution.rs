//! Adding a column to the table: a writer built with a column the table lacks adds it by a
//! schema update (the old columns keep their ids, the new one is optional with the next id),
//! rows written before read it as null, writers built before it keep writing, and a rewrite
//! keeps it.

mod common;

use std::sync::Arc;

use arrow::array::{Array, AsArray, RecordBatch, StringArray};
use arrow::datatypes::{DataType, Field, Schema as ArrowSchema};
use common::{TestTable, properties, slices, table};
use lake::testing::MemoryStore;
use table::{
    Slice, Table, TableError, TableLocation,
    catalog::memory::MemoryCatalog,
    spec::{Schema, SchemaField, lake_table_schema},
};

const NEW_COLUMN: &str = "nationality";

/// The lake's columns and one more: what a later build of the writer writes.
fn columns_with_nationality() -> Schema {
    let mut schema = lake_table_schema();
    schema.fields.push(SchemaField {
        id: schema.last_column_id() + 1,
        name: NEW_COLUMN.into(),
        required: true,
        field_type: "string".into(),
        doc: None,
    });
    schema
}

/// The same table, as a writer of `columns` sees it.
fn writer(
    store: &'static MemoryStore,
    catalog: &'static MemoryCatalog,
    columns: Schema,
) -> TestTable {
    Table::new(store, catalog, TableLocation::new("lake", "", "users")).with_columns(columns)
}

/// Rows of partition 0 at `offsets`, with the new column set to `value` on every row.
fn slices_with_nationality(offsets: std::ops::Range<i64>, value: &str) -> Vec<Slice> {
    slices(0, offsets, 0)
        .into_iter()
        .map(|mut slice| {
            let rows = slice.batch.num_rows();
            let mut fields = slice.batch.schema().fields().to_vec();
            fields.push(Arc::new(Field::new(NEW_COLUMN, DataType::Utf8, false)));
            let mut columns = slice.batch.columns().to_vec();
            columns.push(Arc::new(StringArray::from(vec![value; rows])));
            slice.batch =
                RecordBatch::try_new(Arc::new(ArrowSchema::new(fields)), columns).unwrap();
            slice
        })
        .collect()
}

/// Every (offset, nationality) of the current snapshot, read in the table's form.
async fn offsets_and_nationality(table: &TestTable) -> Vec<(i64, Option<String>)> {
    let state = table.load().await.unwrap().unwrap();
    let schema = state.metadata.schema();
    let snapshot = state.metadata.current_snapshot().unwrap();
    let mut all = Vec::new();
    for entry in table.live_files(snapshot).await.unwrap() {
        let batch = table
            .read_table_file(&entry.data_file.file_path, schema)
            .await
            .unwrap();
        let offsets = batch
            .column_by_name("kafka_offset")
            .unwrap()
            .as_primitive::<arrow::datatypes::Int64Type>();
        let nationality = batch.column_by_name(NEW_COLUMN).unwrap().as_string::<i32>();
        for i in 0..batch.num_rows() {
            let value = nationality
                .is_valid(i)
                .then(|| nationality.value(i).to_string());
            all.push((offsets.value(i), value));
        }
    }
    all.sort();
    all
}

fn expected(offsets: std::ops::Range<i64>, value: Option<&str>) -> Vec<(i64, Option<String>)> {
    offsets.map(|o| (o, value.map(str::to_string))).collect()
}

#[tokio::test]
async fn a_writer_with_a_new_column_adds_it_as_optional_with_the_next_id() {
    // given a table holding rows written by the current build
    let (old, store, catalog) = table();
    old.append(&slices(0, 0..5, 0), &properties(), common::at(5))
        .await
        .unwrap();

    // when a build with one more column appends
    let new = writer(store, catalog, columns_with_nationality());
    let report = new
        .append(
            &slices_with_nationality(5..10, "NL"),
            &properties(),
            common::at(10),
        )
        .await
        .unwrap();

    // then the table's current schema is a second one: the old columns with their ids, and
    // the new column optional with the id after the last
    assert_eq!(report.written, 5);
    let metadata = new.load().await.unwrap().unwrap().metadata;
    assert_eq!(metadata.schemas.len(), 2);
    assert_eq!(metadata.current_schema_id, 1);
    let schema = metadata.schema();
    assert_eq!(
        schema.fields[..16],
        lake_table_schema().fields[..],
        "the old columns keep their ids"
    );
    let added = schema.field(NEW_COLUMN).unwrap();
    assert_eq!((added.id, added.required), (17, false));
    assert_eq!(metadata.last_column_id, 17);
    // and the rows written before it read the new column as null, the new rows as written
    let mut want = expected(0..5, None);
    want.extend(expected(5..10, Some("NL")));
    assert_eq!(offsets_and_nationality(&new).await, want);
}

#[tokio::test]
async fn a_writer_built_before_the_column_was_added_keeps_writing() {
    // given a table of the current build that a later build added a column to
    let (old, store, catalog) = table();
    old.append(&slices(0, 0..3, 0), &properties(), common::at(3))
        .await
        .unwrap();
    let new = writer(store, catalog, columns_with_nationality());
    new.append(
        &slices_with_nationality(3..5, "NL"),
        &properties(),
        common::at(5),
    )
    .await
    .unwrap();

    // when the earlier build appends rows without that column
    let report = old
        .append(&slices(0, 5..10, 0), &properties(), common::at(10))
        .await
        .unwrap();

    // then they land once, with the column null, and the schema stays as it was
    assert_eq!(report.written, 5);
    let metadata = old.load().await.unwrap().unwrap().metadata;
    assert_eq!(metadata.schemas.len(), 2);
    let mut want = expected(0..3, None);
    want.extend(expected(3..5, Some("NL")));
    want.extend(expected(5..10, None));
    assert_eq!(offsets_and_nationality(&old).await, want);
}

#[tokio::test]
async fn writers_adding_the_same_column_at_once_add_it_once() {
    // given a table written by the current build, and four writers of a later one
    let (old, store, catalog) = table();
    old.append(&slices(9, 0..3, 0), &properties(), common::at(3))
        .await
        .unwrap();

    // when they append other partitions' rows at the same time
    let runs = (0..4).map(|partition| async move {
        let new = writer(store, catalog, columns_with_nationality());
        let rows: Vec<Slice> = slices_with_nationality(0..3, "NL")
            .into_iter()
            .map(|mut s| {
                s.partition = partition;
                s
            })
            .collect();
        new.append(&rows, &properties(), common::at(3)).await
    });
    let reports = futures::future::join_all(runs).await;

    // then every append landed and the column was added by one schema update only
    for report in reports {
        assert_eq!(report.unwrap().written, 3);
    }
    let metadata = old.load().await.unwrap().unwrap().metadata;
    let names: Vec<&str> = metadata
        .schema()
        .fields
        .iter()
        .map(|f| f.name.as_str())
        .collect();
    assert_eq!(names.iter().filter(|n| **n == NEW_COLUMN).count(), 1);
    assert_eq!(metadata.schemas.len(), 2);
}

#[tokio::test]
async fn a_writer_that_types_a_column_otherwise_is_refused_and_changes_nothing() {
    // given a table holding rows
    let (old, store, catalog) = table();
    old.append(&slices(0, 0..5, 0), &properties(), common::at(5))
        .await
        .unwrap();
    let before = old.load().await.unwrap().unwrap().pointer;

    // when a writer whose kafka_partition is a long appends
    let mut columns = lake_table_schema();
    columns
        .fields
        .iter_mut()
        .find(|f| f.name == "kafka_partition")
        .unwrap()
        .field_type = "long".into();
    let error = writer(store, catalog, columns)
        .append(&slices(0, 5..10, 0), &properties(), common::at(10))
        .await
        .unwrap_err();

    // then it is told which column differs, as an error no retry mends, and the table is
    // where it was
    assert!(
        matches!(&error, TableError::ColumnType { column, table_type, writer_type }
            if column == "kafka_partition" && table_type == "int" && writer_type == "long"),
        "{error}"
    );
    assert!(!error.retry().is_retryable());
    assert_eq!(old.load().await.unwrap().unwrap().pointer, before);
}
