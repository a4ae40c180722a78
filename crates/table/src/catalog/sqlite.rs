//! A SQLite file in the tables pyiceberg's `SqlCatalog` uses, as the local catalog.
//!
//! The local stack has no Glue, yet its readers (pyiceberg, and through it polars and DuckDB)
//! must find the table the way they find any Iceberg table: through a catalog. pyiceberg's SQL
//! catalog keeps each table's pointer in one row of `iceberg_tables` and each namespace's
//! properties in `iceberg_namespace_properties`; this module reads and writes exactly those
//! tables (the DDL below is what pyiceberg 0.12's SQLAlchemy models create on SQLite), so
//! `SqlCatalog(name, uri="sqlite:////abs/catalog.db", ...)` loads what the lake commits, and a
//! commit made by pyiceberg is one our writers see.
//!
//! The compare-and-swap is pyiceberg's own: one `UPDATE … WHERE metadata_location = <the one
//! read>` that changes one row or none. Several processes (sink invocations, the compactor,
//! replay, Python readers) open the file at once; SQLite serialises their writes, and each
//! connection waits up to [`BUSY_TIMEOUT`] for another's write lock before failing with a
//! retryable `SQLITE_BUSY`.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use lambda_kit::Retry;
use rusqlite::{Connection, OpenFlags, OptionalExtension, TransactionBehavior, ffi, params};

use super::{Catalog, CatalogError, Pointer, Swap};

/// How long one call waits for another connection's lock before it fails with `SQLITE_BUSY`.
pub const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The two tables as pyiceberg 0.12 creates them (`SqlCatalogBaseTable.metadata.create_all`
/// on SQLite, with the `iceberg_type` column of its "v1" schema), column for column.
const CREATE_TABLES: &str = concat!(
    "CREATE TABLE IF NOT EXISTS iceberg_tables (\n",
    "\tcatalog_name VARCHAR(255) NOT NULL, \n",
    "\ttable_namespace VARCHAR(255) NOT NULL, \n",
    "\ttable_name VARCHAR(255) NOT NULL, \n",
    "\tmetadata_location VARCHAR(1000), \n",
    "\tprevious_metadata_location VARCHAR(1000), \n",
    "\ticeberg_type VARCHAR(5), \n",
    "\tPRIMARY KEY (catalog_name, table_namespace, table_name)\n",
    ");\n",
    "CREATE TABLE IF NOT EXISTS iceberg_namespace_properties (\n",
    "\tcatalog_name VARCHAR(255) NOT NULL, \n",
    "\tnamespace VARCHAR(255) NOT NULL, \n",
    "\tproperty_key VARCHAR(255) NOT NULL, \n",
    "\tproperty_value VARCHAR(1000) NOT NULL, \n",
    "\tPRIMARY KEY (catalog_name, namespace, property_key)\n",
    ");\n",
);

/// Records the namespace as pyiceberg's `create_namespace` does when given no properties (one
/// `exists = true` row), unless the namespace already has properties of its own.
const RECORD_NAMESPACE: &str = "
INSERT INTO iceberg_namespace_properties (catalog_name, namespace, property_key, property_value)
SELECT ?1, ?2, 'exists', 'true'
WHERE NOT EXISTS (
    SELECT 1 FROM iceberg_namespace_properties WHERE catalog_name = ?1 AND namespace = ?2
)";

/// `iceberg_type` of a table row (other values, such as `VIEW`, are not tables).
const TABLE_TYPE: &str = "TABLE";

/// The path of the SQLite file a setting names, or `None` when the value is not a SQLite
/// catalog. Two spellings:
///
/// - `sqlite:<path>`: everything after `sqlite:` is the path, absolute or relative to the
///   working directory (`sqlite:/var/lake/catalog.db`, `sqlite:target/catalog.db`);
/// - SQLAlchemy's URL, the `uri` pyiceberg's `SqlCatalog` takes: `sqlite:///` then the path, so
///   `sqlite:////var/lake/catalog.db` is absolute and `sqlite:///catalog.db` is relative,
///   exactly as pyiceberg reads the same string.
///
/// Not accepted: an empty path, an in-memory database (`sqlite://`, `:memory:`), which no other
/// process could open, a host (`sqlite://host/…`) and query parameters (`?mode=ro`). The path
/// is taken verbatim, without percent-decoding.
pub fn sqlite_uri_path(value: &str) -> Option<PathBuf> {
    let rest = value.strip_prefix("sqlite:")?;
    let path = match rest.strip_prefix("//") {
        // SQLAlchemy's form: an empty host, then the path after the third slash.
        Some(url) => url.strip_prefix('/')?,
        None => rest,
    };
    if path.is_empty() || path == ":memory:" || path.contains('?') {
        return None;
    }
    Some(PathBuf::from(path))
}

/// One table's pointer in a SQLite file shared with pyiceberg's `SqlCatalog`.
///
/// One connection per catalog, behind a mutex, and every call on it runs in
/// `tokio::task::spawn_blocking`: rusqlite blocks (a call may wait up to [`BUSY_TIMEOUT`] for
/// another process's lock), which must not stall the runtime's worker threads; the calls are
/// few (one or two per commit) and short, so serialising one process's calls on one connection
/// costs nothing, where a connection per call would reopen the file and re-read its schema
/// each time.
#[derive(Debug)]
pub struct SqliteCatalog {
    path: PathBuf,
    catalog_name: String,
    namespace: String,
    table: String,
    /// Whether `iceberg_tables` has pyiceberg's `iceberg_type` column (a file created by an
    /// older pyiceberg or by Java's JDBC catalog may not).
    typed: bool,
    connection: Arc<Mutex<Connection>>,
}

impl SqliteCatalog {
    /// Opens (creating if needed) the SQLite file at `path`, creates pyiceberg's two tables if
    /// they are missing and records `namespace` the way pyiceberg does, for the table
    /// `namespace.table` of the catalog named `catalog_name` (the `name` pyiceberg's
    /// `SqlCatalog` is given; a multi-level namespace is its dotted string, `a.b`).
    ///
    /// Blocks on file I/O and possibly on another process's lock: call it at start-up, or in
    /// `spawn_blocking`.
    pub fn open(
        path: &Path,
        catalog_name: &str,
        namespace: &str,
        table: &str,
    ) -> Result<Self, CatalogError> {
        let failed = |e: rusqlite::Error| call_error(path, "open", namespace, table, e);
        for (what, value) in [
            ("catalog name", catalog_name),
            ("namespace", namespace),
            ("table name", table),
        ] {
            if value.is_empty() {
                return Err(CatalogError::Call {
                    catalog: describe(path),
                    operation: "open",
                    table: format!("{namespace}.{table}"),
                    code: None,
                    retry: Retry::Fatal,
                    message: format!("the {what} is empty"),
                });
            }
        }
        let flags = OpenFlags::SQLITE_OPEN_READ_WRITE
            | OpenFlags::SQLITE_OPEN_CREATE
            | OpenFlags::SQLITE_OPEN_NO_MUTEX;
        let mut connection = Connection::open_with_flags(path, flags).map_err(failed)?;
        connection.busy_timeout(BUSY_TIMEOUT).map_err(failed)?;
        // One writer at a time from the start (IMMEDIATE), so that processes opening a new
        // file together do not interleave their schema checks.
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(failed)?;
        transaction.execute_batch(CREATE_TABLES).map_err(failed)?;
        let typed = has_column(&transaction, "iceberg_tables", "iceberg_type").map_err(failed)?;
        transaction
            .execute(RECORD_NAMESPACE, params![catalog_name, namespace])
            .map_err(failed)?;
        transaction.commit().map_err(failed)?;
        Ok(Self {
            path: path.to_path_buf(),
            catalog_name: catalog_name.to_string(),
            namespace: namespace.to_string(),
            table: table.to_string(),
            typed,
            connection: Arc::new(Mutex::new(connection)),
        })
    }

    /// The SQLite file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The SQLAlchemy URL pyiceberg's `SqlCatalog` takes as `uri` for this file
    /// (`sqlite:////abs/path/catalog.db`), with the path made absolute.
    pub fn pyiceberg_uri(&self) -> String {
        let path = std::path::absolute(&self.path).unwrap_or_else(|_| self.path.clone());
        format!("sqlite:///{}", path.display())
    }

    /// Runs `work` on the connection in a blocking thread, and names its error.
    async fn call<T: Send + 'static>(
        &self,
        operation: &'static str,
        work: impl FnOnce(&Connection, Key) -> rusqlite::Result<T> + Send + 'static,
    ) -> Result<T, CatalogError> {
        let connection = Arc::clone(&self.connection);
        let key = Key {
            catalog_name: self.catalog_name.clone(),
            namespace: self.namespace.clone(),
            table: self.table.clone(),
        };
        let answer = tokio::task::spawn_blocking(move || {
            // A panic while the lock was held left no transaction open (rusqlite rolls back on
            // drop), so the connection is still sound.
            let connection = connection.lock().unwrap_or_else(PoisonError::into_inner);
            work(&connection, key)
        })
        .await;
        match answer {
            Ok(result) => result.map_err(|e| self.error(operation, e)),
            Err(join) => match join.try_into_panic() {
                Ok(panic) => std::panic::resume_unwind(panic),
                // Only a runtime shutting down cancels a blocking task.
                Err(join) => Err(CatalogError::Call {
                    catalog: self.describe(),
                    operation,
                    table: self.qualified(),
                    code: None,
                    retry: Retry::Retryable,
                    message: join.to_string(),
                }),
            },
        }
    }

    fn qualified(&self) -> String {
        format!("{}.{}", self.namespace, self.table)
    }

    fn error(&self, operation: &'static str, error: rusqlite::Error) -> CatalogError {
        call_error(&self.path, operation, &self.namespace, &self.table, error)
    }
}

/// The row's key, owned, for a call run on another thread.
struct Key {
    catalog_name: String,
    namespace: String,
    table: String,
}

fn describe(path: &Path) -> String {
    format!("sqlite:{}", path.display())
}

/// A failed SQLite call: retryable when another connection held the lock (`SQLITE_BUSY`,
/// `SQLITE_LOCKED`) past the busy timeout, fatal otherwise (a read-only or corrupt file, a file
/// that is not a database, a schema that does not match).
fn call_error(
    path: &Path,
    operation: &'static str,
    namespace: &str,
    table: &str,
    error: rusqlite::Error,
) -> CatalogError {
    let retry = match error.sqlite_error_code() {
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked) => {
            Retry::Retryable
        }
        _ => Retry::Fatal,
    };
    CatalogError::Call {
        catalog: describe(path),
        operation,
        table: format!("{namespace}.{table}"),
        code: error.sqlite_error().map(|e| code_name(e.extended_code)),
        retry,
        message: error.to_string(),
    }
}

/// SQLite's name for a result code (`SQLITE_BUSY`), with the extended code when it says more
/// (`SQLITE_CONSTRAINT (1555)`).
fn code_name(extended: i32) -> String {
    const PRIMARY: [&str; 29] = [
        "SQLITE_OK",
        "SQLITE_ERROR",
        "SQLITE_INTERNAL",
        "SQLITE_PERM",
        "SQLITE_ABORT",
        "SQLITE_BUSY",
        "SQLITE_LOCKED",
        "SQLITE_NOMEM",
        "SQLITE_READONLY",
        "SQLITE_INTERRUPT",
        "SQLITE_IOERR",
        "SQLITE_CORRUPT",
        "SQLITE_NOTFOUND",
        "SQLITE_FULL",
        "SQLITE_CANTOPEN",
        "SQLITE_PROTOCOL",
        "SQLITE_EMPTY",
        "SQLITE_SCHEMA",
        "SQLITE_TOOBIG",
        "SQLITE_CONSTRAINT",
        "SQLITE_MISMATCH",
        "SQLITE_MISUSE",
        "SQLITE_NOLFS",
        "SQLITE_AUTH",
        "SQLITE_FORMAT",
        "SQLITE_RANGE",
        "SQLITE_NOTADB",
        "SQLITE_NOTICE",
        "SQLITE_WARNING",
    ];
    let primary = extended & 0xff;
    let name = usize::try_from(primary)
        .ok()
        .and_then(|i| PRIMARY.get(i))
        .map_or_else(|| format!("SQLITE_{primary}"), |name| name.to_string());
    if extended == primary {
        name
    } else {
        format!("{name} ({extended})")
    }
}

/// Whether an insert failed because the row's key is taken.
fn is_duplicate(error: &rusqlite::Error) -> bool {
    error.sqlite_error().is_some_and(|e| {
        e.extended_code == ffi::SQLITE_CONSTRAINT_PRIMARYKEY
            || e.extended_code == ffi::SQLITE_CONSTRAINT_UNIQUE
    })
}

fn has_column(connection: &Connection, table: &str, column: &str) -> rusqlite::Result<bool> {
    let mut statement = connection.prepare("SELECT name FROM pragma_table_info(?1)")?;
    let names = statement
        .query_map([table], |row| row.get::<_, String>(0))?
        .collect::<rusqlite::Result<Vec<_>>>()?;
    Ok(names.iter().any(|name| name == column))
}

impl Catalog for SqliteCatalog {
    async fn load(&self) -> Result<Option<Pointer>, CatalogError> {
        let sql = if self.typed {
            "SELECT metadata_location, iceberg_type FROM iceberg_tables \
             WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3"
        } else {
            "SELECT metadata_location, NULL FROM iceberg_tables \
             WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3"
        };
        let row = self
            .call("load", move |connection, key| {
                connection
                    .query_row(
                        sql,
                        params![key.catalog_name, key.namespace, key.table],
                        |row| {
                            Ok((
                                row.get::<_, Option<String>>(0)?,
                                row.get::<_, Option<String>>(1)?,
                            ))
                        },
                    )
                    .optional()
            })
            .await?;
        let Some((location, kind)) = row else {
            return Ok(None);
        };
        let not_iceberg = |reason: String| CatalogError::NotIceberg {
            catalog: self.describe(),
            table: self.qualified(),
            reason,
        };
        // pyiceberg reads a row as a table when its type is TABLE or unset.
        if let Some(kind) = kind.filter(|kind| kind != TABLE_TYPE) {
            return Err(not_iceberg(format!("its row's iceberg_type is {kind:?}")));
        }
        match location.filter(|location| !location.is_empty()) {
            Some(metadata_location) => Ok(Some(Pointer {
                metadata_location,
                version: None,
            })),
            None => Err(not_iceberg("its row has no metadata_location".into())),
        }
    }

    async fn create(&self, metadata_location: &str) -> Result<Swap, CatalogError> {
        let location = metadata_location.to_string();
        let sql = if self.typed {
            "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, \
             metadata_location, previous_metadata_location, iceberg_type) \
             VALUES (?1, ?2, ?3, ?4, NULL, 'TABLE')"
        } else {
            "INSERT INTO iceberg_tables (catalog_name, table_namespace, table_name, \
             metadata_location, previous_metadata_location) \
             VALUES (?1, ?2, ?3, ?4, NULL)"
        };
        self.call("create", move |connection, key| {
            match connection.execute(
                sql,
                params![key.catalog_name, key.namespace, key.table, location],
            ) {
                Ok(_) => Ok(Swap::Swapped),
                Err(e) if is_duplicate(&e) => Ok(Swap::Conflict),
                Err(e) => Err(e),
            }
        })
        .await
    }

    async fn swap(&self, current: &Pointer, metadata_location: &str) -> Result<Swap, CatalogError> {
        let expected = current.metadata_location.clone();
        let location = metadata_location.to_string();
        // One statement, atomic on its own: it changes the row only if the row still names
        // the metadata file this writer read, and records that file as the previous one.
        let changed = self
            .call("swap", move |connection, key| {
                connection.execute(
                    "UPDATE iceberg_tables \
                     SET metadata_location = ?5, previous_metadata_location = ?4 \
                     WHERE catalog_name = ?1 AND table_namespace = ?2 AND table_name = ?3 \
                     AND metadata_location = ?4",
                    params![
                        key.catalog_name,
                        key.namespace,
                        key.table,
                        expected,
                        location
                    ],
                )
            })
            .await?;
        match changed {
            1 => Ok(Swap::Swapped),
            0 => Ok(Swap::Conflict),
            // The primary key makes this impossible; a file without it is not pyiceberg's.
            n => Err(CatalogError::Call {
                catalog: self.describe(),
                operation: "swap",
                table: self.qualified(),
                code: None,
                retry: Retry::Fatal,
                message: format!(
                    "{n} rows of iceberg_tables named the table: the file's iceberg_tables has no primary key"
                ),
            }),
        }
    }

    fn describe(&self) -> String {
        describe(&self.path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scratch_file() -> (PathBuf, impl Drop) {
        struct Cleanup(PathBuf);
        impl Drop for Cleanup {
            fn drop(&mut self) {
                let _ = std::fs::remove_dir_all(&self.0);
            }
        }
        let dir = std::env::temp_dir().join(format!("sqlite-catalog-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir_all(&dir).unwrap();
        (dir.join("catalog.db"), Cleanup(dir))
    }

    #[test]
    fn settings_name_a_path_in_either_spelling() {
        let cases = [
            ("sqlite:/var/lake/catalog.db", Some("/var/lake/catalog.db")),
            ("sqlite:target/catalog.db", Some("target/catalog.db")),
            (
                "sqlite:////var/lake/catalog.db",
                Some("/var/lake/catalog.db"),
            ),
            ("sqlite:///catalog.db", Some("catalog.db")),
            ("sqlite:", None),
            ("sqlite://", None),
            ("sqlite:///", None),
            ("sqlite::memory:", None),
            ("sqlite://host/catalog.db", None),
            ("sqlite:////var/catalog.db?mode=ro", None),
            ("glue", None),
            ("/var/lake/catalog.db", None),
        ];
        for (value, path) in cases {
            assert_eq!(sqlite_uri_path(value), path.map(PathBuf::from), "{value}");
        }
    }

    #[test]
    fn result_codes_are_named_as_sqlite_names_them() {
        assert_eq!(code_name(5), "SQLITE_BUSY");
        assert_eq!(code_name(1555), "SQLITE_CONSTRAINT (1555)");
        assert_eq!(code_name(26), "SQLITE_NOTADB");
    }

    #[test]
    fn the_pyiceberg_uri_names_the_absolute_path() {
        let (path, _cleanup) = scratch_file();
        let catalog = SqliteCatalog::open(&path, "lake", "ns", "users").unwrap();
        assert_eq!(
            catalog.pyiceberg_uri(),
            format!("sqlite:///{}", path.display())
        );
        assert_eq!(sqlite_uri_path(&catalog.pyiceberg_uri()), Some(path));
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_lock_held_past_the_busy_timeout_is_a_retryable_busy_error() {
        let (path, _cleanup) = scratch_file();
        let catalog = SqliteCatalog::open(&path, "lake", "ns", "users").unwrap();
        catalog
            .connection
            .lock()
            .unwrap()
            .busy_timeout(Duration::from_millis(50))
            .unwrap();
        assert_eq!(
            catalog.create("s3://b/m/1.json").await.unwrap(),
            Swap::Swapped
        );
        let other = Connection::open(&path).unwrap();
        other.execute_batch("BEGIN EXCLUSIVE").unwrap();
        let current = Pointer {
            metadata_location: "s3://b/m/1.json".into(),
            version: None,
        };
        let error = catalog.swap(&current, "s3://b/m/2.json").await.unwrap_err();
        assert_eq!(error.retry(), Retry::Retryable, "{error}");
        let CatalogError::Call {
            code, operation, ..
        } = &error
        else {
            panic!("{error:?}")
        };
        assert_eq!(code.as_deref(), Some("SQLITE_BUSY"));
        assert_eq!(*operation, "swap");
        other.execute_batch("ROLLBACK").unwrap();
        assert_eq!(
            catalog.swap(&current, "s3://b/m/2.json").await.unwrap(),
            Swap::Swapped
        );
    }

    #[test]
    fn a_file_that_is_not_a_database_is_a_fatal_error() {
        let (path, _cleanup) = scratch_file();
        std::fs::write(&path, vec![b'x'; 4096]).unwrap();
        let error = SqliteCatalog::open(&path, "lake", "ns", "users").unwrap_err();
        assert_eq!(error.retry(), Retry::Fatal, "{error}");
        let CatalogError::Call { code, catalog, .. } = &error else {
            panic!("{error:?}")
        };
        assert_eq!(code.as_deref(), Some("SQLITE_NOTADB"));
        assert_eq!(*catalog, format!("sqlite:{}", path.display()));
    }
}
