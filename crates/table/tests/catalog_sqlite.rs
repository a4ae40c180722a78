//! The SQLite catalog against real files: its compare-and-swap under concurrent writers, the
//! rows it reads and writes, and (when the pinned venv has pyiceberg) that pyiceberg's
//! `SqlCatalog` creates the same tables and reads and commits through our rows.

mod common;

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use proptest::prelude::*;
use rusqlite::Connection;
use table::catalog::sqlite::SqliteCatalog;
use table::{Catalog, CatalogError, Pointer, Swap};

use common::run_python;

/// A directory of its own under the system's temp dir, removed on drop.
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Self {
        let dir = std::env::temp_dir().join(format!("catalog-sqlite-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    fn file(&self) -> PathBuf {
        self.0.join("catalog.db")
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

fn open(path: &Path) -> SqliteCatalog {
    SqliteCatalog::open(path, "lake", "analytics", "users").unwrap()
}

fn pointer(location: &str) -> Pointer {
    Pointer {
        metadata_location: location.into(),
        version: None,
    }
}

/// The table's row: (metadata_location, previous_metadata_location, iceberg_type).
fn row(path: &Path) -> (Option<String>, Option<String>, Option<String>) {
    Connection::open(path)
        .unwrap()
        .query_row(
            "SELECT metadata_location, previous_metadata_location, iceberg_type \
             FROM iceberg_tables WHERE catalog_name = 'lake' \
             AND table_namespace = 'analytics' AND table_name = 'users'",
            [],
            |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
        )
        .unwrap()
}

#[tokio::test]
async fn a_created_table_loads_with_its_location_and_no_version() {
    let scratch = Scratch::new();
    let catalog = open(&scratch.file());
    assert_eq!(catalog.load().await.unwrap(), None);
    assert_eq!(
        catalog
            .create("s3://lake/users/metadata/00000-a.metadata.json")
            .await
            .unwrap(),
        Swap::Swapped
    );
    assert_eq!(
        catalog.load().await.unwrap(),
        Some(pointer("s3://lake/users/metadata/00000-a.metadata.json"))
    );
    assert_eq!(
        row(&scratch.file()),
        (
            Some("s3://lake/users/metadata/00000-a.metadata.json".into()),
            None,
            Some("TABLE".into())
        )
    );
    assert_eq!(
        catalog.describe(),
        format!("sqlite:{}", scratch.file().display())
    );
}

#[tokio::test]
async fn creating_a_table_twice_is_a_conflict_and_keeps_the_first() {
    let scratch = Scratch::new();
    let first = open(&scratch.file());
    let second = open(&scratch.file());
    assert_eq!(first.create("m/first.json").await.unwrap(), Swap::Swapped);
    assert_eq!(
        second.create("m/second.json").await.unwrap(),
        Swap::Conflict
    );
    assert_eq!(first.create("m/again.json").await.unwrap(), Swap::Conflict);
    assert_eq!(second.load().await.unwrap(), Some(pointer("m/first.json")));
}

#[tokio::test]
async fn a_swap_records_the_location_it_replaced_as_the_previous_one() {
    let scratch = Scratch::new();
    let catalog = open(&scratch.file());
    catalog.create("m/1.json").await.unwrap();
    let current = catalog.load().await.unwrap().unwrap();
    assert_eq!(
        catalog.swap(&current, "m/2.json").await.unwrap(),
        Swap::Swapped
    );
    assert_eq!(catalog.load().await.unwrap(), Some(pointer("m/2.json")));
    assert_eq!(
        row(&scratch.file()),
        (
            Some("m/2.json".into()),
            Some("m/1.json".into()),
            Some("TABLE".into())
        )
    );
}

#[tokio::test]
async fn a_swap_from_a_stale_pointer_is_a_conflict_and_changes_nothing() {
    let scratch = Scratch::new();
    let catalog = open(&scratch.file());
    catalog.create("m/1.json").await.unwrap();
    let stale = catalog.load().await.unwrap().unwrap();
    assert_eq!(
        catalog.swap(&stale, "m/2.json").await.unwrap(),
        Swap::Swapped
    );
    let before = row(&scratch.file());
    assert_eq!(
        catalog.swap(&stale, "m/3.json").await.unwrap(),
        Swap::Conflict
    );
    assert_eq!(row(&scratch.file()), before);
    assert_eq!(catalog.load().await.unwrap(), Some(pointer("m/2.json")));
}

#[tokio::test]
async fn a_swap_of_a_table_never_created_is_a_conflict() {
    let scratch = Scratch::new();
    let catalog = open(&scratch.file());
    assert_eq!(
        catalog
            .swap(&pointer("m/1.json"), "m/2.json")
            .await
            .unwrap(),
        Swap::Conflict
    );
    assert_eq!(catalog.load().await.unwrap(), None);
}

#[tokio::test]
async fn opening_records_the_namespace_once_as_pyiceberg_create_namespace_does() {
    let scratch = Scratch::new();
    open(&scratch.file());
    open(&scratch.file());
    // A namespace that already has properties of its own gets no `exists` row added.
    let connection = Connection::open(scratch.file()).unwrap();
    connection
        .execute(
            "INSERT INTO iceberg_namespace_properties VALUES ('lake', 'raw', 'owner', 'ops')",
            [],
        )
        .unwrap();
    SqliteCatalog::open(&scratch.file(), "lake", "raw", "users").unwrap();
    let mut statement = connection
        .prepare("SELECT * FROM iceberg_namespace_properties ORDER BY namespace")
        .unwrap();
    let rows: Vec<(String, String, String, String)> = statement
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let expected = [
        ("lake", "analytics", "exists", "true"),
        ("lake", "raw", "owner", "ops"),
    ]
    .map(|(a, b, c, d)| (a.into(), b.into(), c.into(), d.into()));
    assert_eq!(rows, expected);
}

#[tokio::test]
async fn catalogs_of_other_names_or_namespaces_share_the_file_without_seeing_each_other() {
    let scratch = Scratch::new();
    let ours = open(&scratch.file());
    let other_catalog =
        SqliteCatalog::open(&scratch.file(), "other", "analytics", "users").unwrap();
    let other_namespace = SqliteCatalog::open(&scratch.file(), "lake", "staging", "users").unwrap();
    assert_eq!(ours.create("m/ours.json").await.unwrap(), Swap::Swapped);
    assert_eq!(other_catalog.load().await.unwrap(), None);
    assert_eq!(
        other_catalog.create("m/other.json").await.unwrap(),
        Swap::Swapped
    );
    assert_eq!(
        other_namespace.create("m/staging.json").await.unwrap(),
        Swap::Swapped
    );
    assert_eq!(ours.load().await.unwrap(), Some(pointer("m/ours.json")));
    assert_eq!(
        other_catalog.load().await.unwrap(),
        Some(pointer("m/other.json"))
    );
}

#[tokio::test]
async fn a_view_or_a_row_without_a_metadata_location_is_not_an_iceberg_table() {
    let scratch = Scratch::new();
    let views = SqliteCatalog::open(&scratch.file(), "lake", "analytics", "a_view").unwrap();
    let empty = SqliteCatalog::open(&scratch.file(), "lake", "analytics", "empty").unwrap();
    let connection = Connection::open(scratch.file()).unwrap();
    connection
        .execute_batch(
            "INSERT INTO iceberg_tables VALUES ('lake', 'analytics', 'a_view', 'm/v.json', NULL, 'VIEW');
             INSERT INTO iceberg_tables VALUES ('lake', 'analytics', 'empty', NULL, NULL, 'TABLE');",
        )
        .unwrap();
    for catalog in [&views, &empty] {
        let error = catalog.load().await.unwrap_err();
        assert!(
            matches!(error, CatalogError::NotIceberg { .. }),
            "{error:?}"
        );
        assert_eq!(error.retry(), lambda_kit::Retry::Fatal);
    }
    assert_eq!(views.create("m/t.json").await.unwrap(), Swap::Conflict);
}

#[tokio::test]
async fn a_catalog_file_without_the_iceberg_type_column_is_used_as_it_is() {
    // The "v0" schema of older pyiceberg releases and of Java's JdbcCatalog.
    let scratch = Scratch::new();
    Connection::open(scratch.file())
        .unwrap()
        .execute_batch(
            "CREATE TABLE iceberg_tables (
                catalog_name VARCHAR(255) NOT NULL,
                table_namespace VARCHAR(255) NOT NULL,
                table_name VARCHAR(255) NOT NULL,
                metadata_location VARCHAR(1000),
                previous_metadata_location VARCHAR(1000),
                PRIMARY KEY (catalog_name, table_namespace, table_name));",
        )
        .unwrap();
    let catalog = open(&scratch.file());
    assert_eq!(catalog.create("m/1.json").await.unwrap(), Swap::Swapped);
    assert_eq!(catalog.create("m/1b.json").await.unwrap(), Swap::Conflict);
    let current = catalog.load().await.unwrap().unwrap();
    assert_eq!(
        catalog.swap(&current, "m/2.json").await.unwrap(),
        Swap::Swapped
    );
    assert_eq!(catalog.load().await.unwrap(), Some(pointer("m/2.json")));
    let columns: Vec<String> = Connection::open(scratch.file())
        .unwrap()
        .prepare("SELECT name FROM pragma_table_info('iceberg_tables')")
        .unwrap()
        .query_map([], |r| r.get(0))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert!(
        !columns.contains(&"iceberg_type".to_string()),
        "{columns:?}"
    );
}

/// Eight writers, each with its own connection (as separate processes have), each commit
/// twenty times: read the pointer, then swap from what it read, and start again on a conflict.
/// A trigger records every change of the row as SQLite applied it. No update may be lost: the
/// changes form one chain of 8 * 20 + 1 locations, each naming as previous the location it
/// replaced.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_read_then_swap_writers_lose_no_update() {
    const WRITERS: usize = 8;
    const COMMITS: usize = 20;
    let scratch = Scratch::new();
    let path = scratch.file();
    let first = open(&path);
    Connection::open(&path)
        .unwrap()
        .execute_batch(
            "CREATE TABLE applied (
                seq INTEGER PRIMARY KEY AUTOINCREMENT, old TEXT, new TEXT, previous TEXT);
             CREATE TRIGGER record_swap AFTER UPDATE ON iceberg_tables BEGIN
                INSERT INTO applied (old, new, previous)
                VALUES (OLD.metadata_location, NEW.metadata_location, NEW.previous_metadata_location);
             END;",
        )
        .unwrap();
    assert_eq!(first.create("m/initial.json").await.unwrap(), Swap::Swapped);

    let mut writers = Vec::new();
    for writer in 0..WRITERS {
        let catalog = Arc::new(open(&path));
        writers.push(tokio::spawn(async move {
            let mut swapped = Vec::new();
            let mut conflicts = 0;
            for commit in 0..COMMITS {
                let location = format!("m/{writer}-{commit}.json");
                loop {
                    let current = catalog.load().await.unwrap().unwrap();
                    // Time for the others to move the pointer between the read and the swap.
                    tokio::time::sleep(Duration::from_millis(1)).await;
                    match catalog.swap(&current, &location).await.unwrap() {
                        Swap::Swapped => {
                            swapped.push((location.clone(), current.metadata_location));
                            break;
                        }
                        Swap::Conflict => conflicts += 1,
                    }
                }
            }
            (swapped, conflicts)
        }));
    }
    let mut previous_of = HashMap::new();
    let mut conflicts = 0;
    for writer in writers {
        let (swapped, writer_conflicts) = writer.await.unwrap();
        conflicts += writer_conflicts;
        for (location, previous) in swapped {
            assert!(previous_of.insert(location, previous).is_none());
        }
    }
    assert_eq!(previous_of.len(), WRITERS * COMMITS);
    assert!(
        conflicts > 0,
        "the writers never raced: the test proves nothing"
    );

    // Every change SQLite applied replaced the location its writer read, and named it.
    let applied: Vec<(String, String, String)> = Connection::open(&path)
        .unwrap()
        .prepare("SELECT old, new, previous FROM applied ORDER BY seq")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(applied.len(), WRITERS * COMMITS);
    let mut expected_old = "m/initial.json".to_string();
    for (old, new, previous) in &applied {
        assert_eq!(old, &expected_old);
        assert_eq!(previous, old);
        assert_eq!(
            previous_of[new], *old,
            "{new} was swapped from another read"
        );
        expected_old = new.clone();
    }

    // Walking back from the final pointer by each location's previous reaches the first one
    // through every commit.
    let mut chain = vec![first.load().await.unwrap().unwrap().metadata_location];
    while let Some(previous) = previous_of.get(chain.last().unwrap()) {
        chain.push(previous.clone());
    }
    assert_eq!(chain.len(), WRITERS * COMMITS + 1);
    assert_eq!(chain.last().unwrap(), "m/initial.json");
    let (location, previous, _) = row(&path);
    assert_eq!(location.as_ref(), Some(&chain[0]));
    assert_eq!(previous.as_ref(), Some(&chain[1]));
    eprintln!(
        "{} commits by {WRITERS} writers, {conflicts} conflicts",
        WRITERS * COMMITS
    );
}

/// What a test does to the catalog, checked against a model of one pointer.
#[derive(Debug, Clone)]
enum Op {
    Create,
    /// Swap from the pointer as it is now.
    SwapCurrent,
    /// Swap from one of the locations the table had before (or never had).
    SwapStale(usize),
    Load,
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        1 => Just(Op::Create),
        4 => Just(Op::SwapCurrent),
        2 => (0usize..8).prop_map(Op::SwapStale),
        2 => Just(Op::Load),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 24, failure_persistence: None, ..ProptestConfig::default() })]

    /// Any sequence of creates, swaps from the current or a stale pointer, and loads answers as
    /// a single compare-and-swap register does.
    #[test]
    fn every_sequence_of_calls_answers_as_one_compare_and_swap_register(
        ops in proptest::collection::vec(op(), 1..16)
    ) {
        let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let scratch = Scratch::new();
        let catalog = open(&scratch.file());
        let mut model: Option<String> = None;
        let mut history: Vec<String> = Vec::new();
        let mut previous: Option<String> = None;
        for (n, op) in ops.into_iter().enumerate() {
            let location = format!("m/{n}.json");
            runtime.block_on(async {
                match op {
                    Op::Create => {
                        let expected = if model.is_some() { Swap::Conflict } else { Swap::Swapped };
                        assert_eq!(catalog.create(&location).await.unwrap(), expected);
                        if expected == Swap::Swapped {
                            model = Some(location.clone());
                        }
                    }
                    Op::SwapCurrent => {
                        let from = model.clone().unwrap_or_else(|| "m/none.json".into());
                        let answer = catalog.swap(&pointer(&from), &location).await.unwrap();
                        if model.is_some() {
                            assert_eq!(answer, Swap::Swapped);
                            history.push(from.clone());
                            previous = Some(from);
                            model = Some(location.clone());
                        } else {
                            assert_eq!(answer, Swap::Conflict);
                        }
                    }
                    Op::SwapStale(k) => {
                        let from = history.get(k).cloned().unwrap_or_else(|| format!("m/never-{k}.json"));
                        assert_eq!(
                            catalog.swap(&pointer(&from), &location).await.unwrap(),
                            Swap::Conflict
                        );
                    }
                    Op::Load => {
                        assert_eq!(catalog.load().await.unwrap(), model.as_deref().map(pointer));
                    }
                }
            });
        }
        if model.is_some() {
            let (location, stored_previous, _) = row(&scratch.file());
            prop_assert_eq!(location, model);
            prop_assert_eq!(stored_previous, previous);
        }
    }
}

/// The pinned venv's Python, if it has pyiceberg's SQL catalog and pyarrow; else why not.
fn pyiceberg_python() -> Result<PathBuf, String> {
    common::venv_python("pyiceberg.catalog.sql, pyarrow")
}

/// A column as SQLite sees it: name, declared type, not null, position in the primary key.
type ColumnInfo = (String, String, bool, i64);

/// The schema of a catalog file: each table's name, SQL and columns.
fn schema(path: &Path) -> Vec<(String, String, Vec<ColumnInfo>)> {
    let connection = Connection::open(path).unwrap();
    let tables: Vec<(String, String)> = connection
        .prepare("SELECT name, sql FROM sqlite_master WHERE type = 'table' ORDER BY name")
        .unwrap()
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    tables
        .into_iter()
        .map(|(name, sql)| {
            let columns = connection
                .prepare("SELECT name, type, \"notnull\", pk FROM pragma_table_info(?1)")
                .unwrap()
                .query_map([&name], |r| {
                    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
                })
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap();
            (name, sql, columns)
        })
        .collect()
}

#[test]
fn our_catalog_tables_are_the_ones_pyiceberg_sql_catalog_creates() {
    let python = match pyiceberg_python() {
        Ok(python) => python,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let scratch = Scratch::new();
    let theirs = scratch.0.join("pyiceberg.db");
    run_python(
        &python,
        "import sys\n\
         from pyiceberg.catalog.sql import SqlCatalog\n\
         SqlCatalog('lake', uri='sqlite:///' + sys.argv[1]).create_namespace('analytics')\n",
        &[theirs.to_str().unwrap()],
    );
    open(&scratch.file());
    let ours = schema(&scratch.file());
    assert_eq!(ours, schema(&theirs));
    assert_eq!(
        ours.iter()
            .map(|(name, ..)| name.as_str())
            .collect::<Vec<_>>(),
        ["iceberg_namespace_properties", "iceberg_tables"]
    );
    let namespaces = |path: &Path| -> Vec<(String, String, String, String)> {
        Connection::open(path)
            .unwrap()
            .prepare("SELECT * FROM iceberg_namespace_properties")
            .unwrap()
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?)))
            .unwrap()
            .collect::<Result<_, _>>()
            .unwrap()
    };
    assert_eq!(namespaces(&scratch.file()), namespaces(&theirs));
}

/// pyiceberg writes a real table's first metadata file (through a scratch catalog); we register
/// it; pyiceberg loads it through our row and commits a change with its own compare-and-swap;
/// we load what it committed, and our stale pointer is refused.
#[tokio::test]
async fn pyiceberg_loads_what_we_register_and_we_load_what_it_commits() {
    let python = match pyiceberg_python() {
        Ok(python) => python,
        Err(why) => return eprintln!("skipped: {why}"),
    };
    let scratch = Scratch::new();
    let first = run_python(
        &python,
        "import sys\n\
         from pyiceberg.catalog.sql import SqlCatalog\n\
         from pyiceberg.schema import Schema\n\
         from pyiceberg.types import LongType, NestedField\n\
         root = sys.argv[1]\n\
         scratch = SqlCatalog('scratch', uri=f'sqlite:///{root}/scratch.db', warehouse=f'file://{root}/warehouse')\n\
         scratch.create_namespace('analytics')\n\
         table = scratch.create_table('analytics.users', Schema(NestedField(1, 'id', LongType(), required=True)))\n\
         print(table.metadata_location)\n",
        &[scratch.0.to_str().unwrap()],
    );
    let catalog = open(&scratch.file());
    assert_eq!(catalog.create(&first).await.unwrap(), Swap::Swapped);

    let committed = run_python(
        &python,
        "import sys\n\
         from pyiceberg.catalog.sql import SqlCatalog\n\
         uri, expected = sys.argv[1:3]\n\
         catalog = SqlCatalog('lake', uri=uri)\n\
         assert catalog.namespace_exists('analytics')\n\
         assert catalog.list_tables('analytics') == [('analytics', 'users')], catalog.list_tables('analytics')\n\
         table = catalog.load_table('analytics.users')\n\
         assert table.metadata_location == expected, table.metadata_location\n\
         with table.transaction() as tx:\n    tx.set_properties(committed_by='pyiceberg')\n\
         print(catalog.load_table('analytics.users').metadata_location)\n",
        &[&catalog.pyiceberg_uri(), &first],
    );
    assert_ne!(committed, first);
    assert_eq!(catalog.load().await.unwrap(), Some(pointer(&committed)));
    let (_, previous, kind) = row(&scratch.file());
    assert_eq!(previous.as_deref(), Some(first.as_str()));
    assert_eq!(kind.as_deref(), Some("TABLE"));
    assert_eq!(
        catalog
            .swap(&pointer(&first), "file:///elsewhere.json")
            .await
            .unwrap(),
        Swap::Conflict
    );
    assert_eq!(catalog.load().await.unwrap(), Some(pointer(&committed)));
}
