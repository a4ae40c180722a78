//! The lake as an Apache Iceberg table (format version 2), written by this project's own commit
//! path on the Iceberg spec (docs/table.md says why not the `iceberg` crate):
//!
//! - [`spec`]: the table metadata, schema (with field ids) and partition spec (`hour(kafka_timestamp)`);
//! - [`manifest`]: manifests and manifest lists, the Avro files that list a snapshot's data files;
//! - [`files`]: the data files, the lake's rows as Parquet with field ids;
//! - [`marks`]: each Kafka partition's highest offset in the table, kept in every commit;
//! - [`catalog`]: the pointer to the current metadata and its compare-and-swap (Glue, S3 Tables,
//!   SQLite);
//! - [`table`]: loading, the commit, and the exactly-once append;
//! - [`config`]: `LAKE_FORMAT` and the catalog settings, and the catalog they open.

pub mod catalog;
pub mod config;
pub mod files;
pub mod maintenance;
pub mod manifest;
pub mod marks;
pub mod spec;
pub mod table;

pub use catalog::{Catalog, CatalogError, Pointer, Swap};
pub use config::{AnyCatalog, OpenedTable, TableConfig};
pub use marks::Marks;
pub use table::{AppendReport, Change, Slice, State, Table, TableError, TableLocation};
