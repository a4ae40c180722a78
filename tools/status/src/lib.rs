//! The pipeline at a glance, as Control Center and the Spark UI showed the original one: the
//! topic's partitions and how far the sink's consumer group is behind them, what the lake holds
//! of the topic per hour, the poison records waiting under `_errors/` and why, the last
//! compaction, and (on the local stack) the functions' last invocations.
//!
//! The halves are gathered separately ([`kafka_status`], and [`table_status`] or
//! [`lake_status`]) so that each can be tested against its own real or in-memory counterpart;
//! [`Looker::look`] puts them together, the one code path behind the JSON `status` prints, the
//! table for people (`--table`) and the dashboard's `/status.json` (`--serve`). A cluster out
//! of reach does not hide the lake: the look carries the lake and says why Kafka is missing.

pub mod cache;
pub mod errors;
pub mod files;
pub mod human;
pub mod iceberg;
pub mod invocations;
pub mod kafka;
pub mod serve;

use std::{path::PathBuf, time::Duration};

use chrono::{DateTime, Utc};
use kafka_client::KafkaClient;
use lake::{LakeStore, Layout, read::ReadError};
use lambda_kit::{Classified, Retry};
use rdkafka::error::KafkaError;
use serde::Serialize;
use table::{Catalog, CatalogError, Table, TableError};

pub use cache::LookCache;
pub use errors::{ErrorObject, ErrorsStatus};
pub use files::{Compaction, HourStatus, LakeStatus, lake_status};
pub use human::table;
pub use iceberg::{MarkStatus, TableCompaction, TableHourStatus, TableStatus, table_status};
pub use invocations::{FunctionInvocations, Invocation, InvocationsStatus};
pub use kafka::{KafkaStatus, KafkaUnreachable, KafkaView, PartitionStatus, kafka_status};

/// What the lake holds, in the layout it has.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub enum LakeView {
    /// Plain Parquet objects (`LAKE_FORMAT=files`): printed under `lake`.
    #[serde(rename = "lake")]
    Files(LakeStatus),
    /// The Iceberg table: printed under `table`.
    #[serde(rename = "table")]
    Table(TableStatus),
}

impl LakeView {
    /// Records the lake holds of the topic, each once.
    pub fn records(&self) -> u64 {
        match self {
            LakeView::Files(lake) => lake.records,
            LakeView::Table(table) => table.records,
        }
    }
}

/// Everything `status` prints.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Status {
    pub at: DateTime<Utc>,
    pub kafka: KafkaView,
    #[serde(flatten)]
    pub lake: LakeView,
    /// The functions' last invocations, when a functions log was given (`--functions-log`).
    pub invocations: Option<InvocationsStatus>,
}

/// Why the status could not be gathered.
#[derive(Debug, thiserror::Error)]
pub enum StatusError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Setting(#[from] lambda_kit::settings::SettingError),
    /// The Kafka credentials could not be resolved.
    #[error(transparent)]
    Auth(#[from] kafka_client::AuthError),
    /// The broker could not be asked.
    #[error("cannot ask {brokers} about {topic}: {source}")]
    Kafka {
        brokers: String,
        topic: String,
        #[source]
        source: Box<KafkaError>,
    },
    /// The cluster answered that it has no such topic (a mistyped `--topic` or `KAFKA_TOPIC`).
    #[error("{brokers} has no topic {topic}")]
    UnknownTopic { brokers: String, topic: String },
    /// The lake could not be listed.
    #[error(transparent)]
    Store(#[from] lake::StoreError),
    /// An object could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The table's metadata or manifests could not be read.
    #[error(transparent)]
    Table(Box<TableError>),
    /// The table's catalog could not be opened or asked.
    #[error(transparent)]
    Catalog(Box<CatalogError>),
    /// The dashboard's address could not be listened on.
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: String,
        #[source]
        source: std::io::Error,
    },
}

impl From<TableError> for StatusError {
    fn from(error: TableError) -> Self {
        StatusError::Table(Box::new(error))
    }
}

impl From<CatalogError> for StatusError {
    fn from(error: CatalogError) -> Self {
        StatusError::Catalog(Box::new(error))
    }
}

impl Classified for StatusError {
    fn kind(&self) -> &'static str {
        match self {
            StatusError::Setting(_) => "InvalidSetting",
            StatusError::Auth(e) => e.kind(),
            StatusError::Kafka { .. } => "KafkaFailed",
            StatusError::UnknownTopic { .. } => "UnknownTopic",
            StatusError::Store(_) => "StoreFailed",
            StatusError::Read(_) => "ReadFailed",
            StatusError::Table(_) => "TableReadFailed",
            StatusError::Catalog(_) => "CatalogFailed",
            StatusError::Listen { .. } => "ListenFailed",
        }
    }

    fn retry(&self) -> Retry {
        match self {
            StatusError::Setting(_) | StatusError::UnknownTopic { .. } => Retry::Fatal,
            StatusError::Auth(e) => e.retry(),
            StatusError::Kafka { .. } => Retry::Retryable,
            StatusError::Store(e) => e.retry(),
            StatusError::Read(ReadError::Store(e)) => e.retry(),
            StatusError::Read(_) => Retry::Fatal,
            StatusError::Table(e) => e.retry(),
            StatusError::Catalog(e) => e.retry(),
            StatusError::Listen { .. } => Retry::Fatal,
        }
    }
}

/// The lake as its layout has it: plain objects, or the table with its catalog opened.
pub enum LakeSource<S, C> {
    Files(S, Layout),
    Table(Box<Table<S, C>>, Layout),
}

/// Everything a look needs, and what earlier looks of the same process read.
pub struct Looker<S, C> {
    pub kafka: KafkaClient,
    pub topic: String,
    pub group: String,
    /// Bounds each request to the cluster.
    pub kafka_timeout: Duration,
    pub lake: LakeSource<S, C>,
    /// The local stack's functions log (`target/local-stack/logs/functions.log`), if given.
    pub functions_log: Option<PathBuf>,
    pub cache: LookCache,
}

/// One look: the status, and the error that kept Kafka out of it, if one did.
pub struct Look {
    pub status: Status,
    pub kafka_error: Option<StatusError>,
}

impl<S: LakeStore + Sync, C: Catalog + Sync> Looker<S, C> {
    /// Asks the cluster and the lake at once. A topic the cluster does not know fails the look;
    /// a cluster that cannot be asked leaves the lake alone in it, with the reason under
    /// `kafka` and the error in [`Look::kafka_error`].
    pub async fn look(&self) -> Result<Look, StatusError> {
        let (client, topic, group, timeout) = (
            self.kafka.clone(),
            self.topic.clone(),
            self.group.clone(),
            self.kafka_timeout,
        );
        // librdkafka's calls block; they run beside the lake's listing.
        let kafka =
            tokio::task::spawn_blocking(move || kafka_status(&client, &topic, &group, timeout));
        let lake = match &self.lake {
            LakeSource::Files(store, layout) => {
                LakeView::Files(lake_status(store, layout, &self.topic, &self.cache).await?)
            }
            LakeSource::Table(table, layout) => {
                LakeView::Table(table_status(table, layout, &self.topic, &self.cache).await?)
            }
        };
        let (kafka, kafka_error) = match kafka.await.expect("the Kafka look does not panic") {
            Ok(kafka) => (KafkaView::Reached(kafka), None),
            Err(error @ StatusError::UnknownTopic { .. }) => return Err(error),
            Err(error) => (
                KafkaView::unreachable(&self.topic, &self.group, &error),
                Some(error),
            ),
        };
        let lake = match (lake, &kafka) {
            (LakeView::Table(mut table), KafkaView::Reached(kafka)) => {
                table.measure_lag(kafka);
                LakeView::Table(table)
            }
            (lake, _) => lake,
        };
        Ok(Look {
            status: Status {
                at: Utc::now(),
                kafka,
                lake,
                invocations: self.functions_log.as_deref().map(invocations::invocations),
            },
            kafka_error,
        })
    }
}

#[cfg(test)]
mod tests;
