//! The catalog: the one place that says which metadata file is the table's current state, and
//! the only place where writers race. Every commit is a compare-and-swap of that pointer, so two
//! writers that both read version N cannot both make version N+1: one swaps, the other is told
//! it lost and starts again from the new state.
//!
//! Implementations: the AWS Glue Data Catalog (`UpdateTable` with the `VersionId` it read),
//! Amazon S3 Tables (`UpdateTableMetadataLocation` with the `versionToken` it read), a SQLite file in the tables pyiceberg's `SqlCatalog` uses (the local stack's, which pyiceberg,
//! DuckDB and polars open as any SQL catalog), and, behind the `testing` feature, one in memory.

use lambda_kit::Retry;

/// The table's current metadata file, and the catalog's token for this version of the pointer
/// (Glue's `VersionId`, S3 Tables' `versionToken`; `None` where the location itself is the
/// token, as in SQLite).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pointer {
    /// Full URI of the current metadata JSON (`s3://bucket/…/metadata/00003-<uuid>.metadata.json`).
    pub metadata_location: String,
    /// The catalog's own version token, passed back on the next swap.
    pub version: Option<String>,
}

/// What a swap did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Swap {
    /// The pointer now names the new metadata file.
    Swapped,
    /// Another commit moved the pointer first; nothing changed.
    Conflict,
}

/// A catalog call that failed. The outcome of a failed swap or create is unknown: the caller
/// finds out by loading the pointer again, never by guessing.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The catalog could not be reached or answered with an error.
    #[error("catalog {catalog}: cannot {operation} table {table}: {message}")]
    Call {
        /// Which catalog (`glue`, `s3tables:<table bucket ARN>`, `sqlite:/path`).
        catalog: String,
        /// `load`, `create` or `swap`.
        operation: &'static str,
        /// `namespace.table`.
        table: String,
        /// The service's error code, when it sent one.
        code: Option<String>,
        retry: Retry,
        message: String,
    },
    /// The catalog holds an entry for the table that is not an Iceberg table pointer (a Hive
    /// table of the same name, a row without a metadata location).
    #[error("catalog {catalog}: table {table} is not an Iceberg table: {reason}")]
    NotIceberg {
        catalog: String,
        table: String,
        reason: String,
    },
    /// The catalog places the table's files somewhere this writer cannot address (an S3 Tables
    /// warehouse location that is not an `s3://` URI).
    #[error("catalog {catalog}: table {table} has its files at {location}, not an s3:// location")]
    Warehouse {
        catalog: String,
        table: String,
        location: String,
    },
}

impl CatalogError {
    /// A failed AWS SDK call (Glue's, S3 Tables'), classified from the SDK's error: the
    /// service's error code and status, a time-out or a dropped connection, never its message.
    pub(crate) fn sdk<E>(
        catalog: String,
        operation: &'static str,
        table: String,
        error: &aws_sdk_glue::error::SdkError<E>,
    ) -> Self
    where
        E: aws_sdk_glue::error::ProvideErrorMetadata + std::error::Error + 'static,
    {
        CatalogError::Call {
            catalog,
            operation,
            table,
            code: lambda_kit::aws::sdk_code(error).map(str::to_string),
            retry: lambda_kit::aws::sdk_retry(error),
            message: lambda_kit::aws::sdk_message(error),
        }
    }

    /// Whether the same call may succeed later.
    pub fn retry(&self) -> Retry {
        match self {
            CatalogError::Call { retry, .. } => *retry,
            CatalogError::NotIceberg { .. } | CatalogError::Warehouse { .. } => Retry::Fatal,
        }
    }
}

/// The pointer of one table (the catalog is built for one namespace and table name).
pub trait Catalog: Send + Sync {
    /// The table's current pointer, or `None` when the catalog has no such table yet.
    fn load(&self) -> impl Future<Output = Result<Option<Pointer>, CatalogError>> + Send;
    /// Registers the table with its first metadata file: `Swapped` when created, `Conflict` when
    /// a table of that name already exists (another writer created it first).
    fn create(
        &self,
        metadata_location: &str,
    ) -> impl Future<Output = Result<Swap, CatalogError>> + Send;
    /// Moves the pointer from `current` to `metadata_location`, only if it still is `current`.
    fn swap(
        &self,
        current: &Pointer,
        metadata_location: &str,
    ) -> impl Future<Output = Result<Swap, CatalogError>> + Send;
    /// How the catalog names itself in errors and logs (`glue`, `sqlite:/path/catalog.db`).
    fn describe(&self) -> String;
}

impl<T: Catalog + ?Sized> Catalog for &T {
    fn load(&self) -> impl Future<Output = Result<Option<Pointer>, CatalogError>> + Send {
        (**self).load()
    }
    fn create(
        &self,
        metadata_location: &str,
    ) -> impl Future<Output = Result<Swap, CatalogError>> + Send {
        (**self).create(metadata_location)
    }
    fn swap(
        &self,
        current: &Pointer,
        metadata_location: &str,
    ) -> impl Future<Output = Result<Swap, CatalogError>> + Send {
        (**self).swap(current, metadata_location)
    }
    fn describe(&self) -> String {
        (**self).describe()
    }
}

pub mod glue;
#[cfg(feature = "testing")]
pub mod memory;
pub mod s3tables;
pub mod sqlite;
