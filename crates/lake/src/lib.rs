//! The S3 data lake as every function and command sees it, so that there is one answer to
//! "where does this row live, and how is it written":
//!
//! - [`keys`]: the key layout, written and parsed by the same code
//!   (`users/dt=…/hour=…/<topic>-<partition>-<first>-<last>.parquet`, merged objects, the text
//!   formats' roots, `_errors/`);
//! - [`schema`] and [`rows`]: the Arrow schema built from the record crate's column list, a
//!   builder that lays rows out in it and a reader that gets them back;
//! - [`writer`] and [`text`]: the Parquet settings every lake object is written with, and the
//!   JSON Lines and CSV forms of the same rows;
//! - [`compacted`]: the footer entry in which a merged object lists the originals it replaced;
//! - [`store`]: the one store trait (list, get, put, delete), with the S3 implementation and,
//!   behind the `testing` feature, an in-memory one;
//! - [`config`]: the lake's settings (`LAKE_BUCKET`, `LAKE_PREFIX`, `PARQUET_COMPRESSION`,
//!   `S3_FORCE_PATH_STYLE`) and the S3 client built from them.

pub mod compacted;
pub mod config;
pub mod format;
pub mod keys;
pub mod read;
pub mod rows;
pub mod schema;
pub mod store;
pub mod text;
pub mod writer;

#[cfg(feature = "testing")]
pub mod testing;

pub use config::LakeConfig;
pub use format::OutputFormat;
pub use keys::{DataKey, DataName, ErrorKey, ErrorRange, Hour, LakeKey, Layout, Span};
pub use rows::{LakeRow, RowsBuilder};
pub use schema::lake_schema;
pub use store::{Condition, LakeStore, ObjectInfo, S3Store, StoreError, Tagged};
