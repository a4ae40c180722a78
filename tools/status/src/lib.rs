//! The pipeline at a glance, as Control Center and the Spark UI showed the original one: the
//! topic's partitions and how far the sink's consumer group is behind them, what the lake holds
//! per hour, the poison records waiting under `_errors/`, and the last compaction.
//!
//! The two halves are gathered separately ([`kafka_status`], [`lake_status`]) so that each can
//! be tested against its own real or in-memory counterpart; [`Status`] is printed as JSON, or as
//! a table for people (`--table`).

use std::{collections::BTreeMap, time::Duration};

use chrono::{DateTime, Utc};
use kafka_client::{KafkaClient, KafkaClientContext};
use lake::{
    DataKey, DataName, LakeKey, Layout, ObjectStore, OutputFormat,
    read::{ReadError, row_count},
};
use lambda_kit::{Classified, Retry};
use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    error::KafkaError,
};
use serde::Serialize;

/// One partition of the topic and the sink's position in it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PartitionStatus {
    pub partition: i32,
    /// The high watermark: the offset the next record will get.
    pub end: i64,
    /// The sink's consumer group's committed offset (the next record it will read), if any.
    pub committed: Option<i64>,
    /// Records written to the partition that the group has not committed.
    pub lag: i64,
}

/// The topic and the consumer group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KafkaStatus {
    pub topic: String,
    pub group: String,
    pub partitions: Vec<PartitionStatus>,
    /// The partitions' lag, added up.
    pub lag: i64,
}

/// One hour partition of the lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourStatus {
    /// `dt=YYYY-MM-DD/hour=HH`.
    pub hour: String,
    /// The sink's objects not yet merged.
    pub originals: usize,
    /// The compactor's merged objects.
    pub merged: usize,
    /// Rows in all of them (a row in an original and a merged object counts twice).
    pub rows: u64,
}

/// The last merged object written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compaction {
    pub key: String,
    pub at: Option<DateTime<Utc>>,
}

/// What the lake holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LakeStatus {
    pub hours: Vec<HourStatus>,
    pub objects: usize,
    pub rows: u64,
    /// Objects under `_errors/`.
    pub error_objects: usize,
    /// Poison records in them (one JSON line each).
    pub error_records: usize,
    pub last_compaction: Option<Compaction>,
}

/// Everything `status` prints.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Status {
    pub at: DateTime<Utc>,
    pub kafka: KafkaStatus,
    pub lake: LakeStatus,
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
    /// The lake could not be listed.
    #[error(transparent)]
    Store(#[from] lake::StoreError),
    /// An object could not be read.
    #[error(transparent)]
    Read(#[from] ReadError),
}

impl Classified for StatusError {
    fn kind(&self) -> &'static str {
        match self {
            StatusError::Setting(_) => "InvalidSetting",
            StatusError::Auth(e) => e.kind(),
            StatusError::Kafka { .. } => "KafkaFailed",
            StatusError::Store(_) => "StoreFailed",
            StatusError::Read(_) => "ReadFailed",
        }
    }

    fn retry(&self) -> Retry {
        match self {
            StatusError::Setting(_) => Retry::Fatal,
            StatusError::Auth(e) => e.retry(),
            StatusError::Kafka { .. } => Retry::Retryable,
            StatusError::Store(e) => e.retry(),
            StatusError::Read(ReadError::Store(e)) => e.retry(),
            StatusError::Read(_) => Retry::Fatal,
        }
    }
}

const KAFKA_TIMEOUT: Duration = Duration::from_secs(10);

/// Each partition's end offset and the group's committed offset and lag.
pub fn kafka_status(
    client: &KafkaClient,
    topic: &str,
    group: &str,
) -> Result<KafkaStatus, StatusError> {
    let failed = |source| StatusError::Kafka {
        brokers: client.brokers().to_string(),
        topic: topic.to_string(),
        source: Box::new(source),
    };
    // The group is only asked for its committed offsets: this consumer never joins it.
    let consumer: BaseConsumer<KafkaClientContext> = client
        .client_config("user-lake-status")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .create_with_context(client.context())
        .map_err(failed)?;
    consumer.context().serve_first_token(|| {
        let _ = consumer.poll(Duration::ZERO);
    })?;
    let metadata = consumer
        .fetch_metadata(Some(topic), KAFKA_TIMEOUT)
        .map_err(failed)?;
    let ids: Vec<i32> = metadata
        .topics()
        .iter()
        .filter(|t| t.name() == topic)
        .flat_map(|t| t.partitions().iter().map(|p| p.id()))
        .collect();
    let mut wanted = TopicPartitionList::new();
    for &id in &ids {
        wanted.add_partition(topic, id);
    }
    let committed = consumer
        .committed_offsets(wanted, KAFKA_TIMEOUT)
        .map_err(failed)?;
    let mut partitions = Vec::new();
    for id in ids {
        let (_, end) = consumer
            .fetch_watermarks(topic, id, KAFKA_TIMEOUT)
            .map_err(failed)?;
        let committed = committed
            .find_partition(topic, id)
            .and_then(|p| match p.offset() {
                Offset::Offset(n) => Some(n),
                _ => None,
            });
        partitions.push(PartitionStatus {
            partition: id,
            end,
            committed,
            lag: (end - committed.unwrap_or(0)).max(0),
        });
    }
    partitions.sort_by_key(|p| p.partition);
    Ok(KafkaStatus {
        topic: topic.to_string(),
        group: group.to_string(),
        lag: partitions.iter().map(|p| p.lag).sum(),
        partitions,
    })
}

/// What the lake holds per hour (row counts from the Parquet footers), its poison records and
/// its last merged object.
pub async fn lake_status<S: ObjectStore>(
    store: &S,
    layout: &Layout,
) -> Result<LakeStatus, StatusError> {
    let mut hours: BTreeMap<String, HourStatus> = BTreeMap::new();
    let mut last_compaction: Option<Compaction> = None;
    let (mut objects, mut rows) = (0, 0);
    for object in store.list(&layout.root(OutputFormat::Parquet)).await? {
        let Some(LakeKey::Data(DataKey {
            format: OutputFormat::Parquet,
            hour,
            name,
        })) = layout.parse(&object.key)
        else {
            continue;
        };
        let count = row_count(store, &object).await?;
        let entry = hours.entry(hour.to_string()).or_insert_with(|| HourStatus {
            hour: hour.to_string(),
            originals: 0,
            merged: 0,
            rows: 0,
        });
        entry.rows += count;
        match name {
            DataName::Original(_) => entry.originals += 1,
            DataName::Merged(_) => {
                entry.merged += 1;
                let newer = last_compaction
                    .as_ref()
                    .is_none_or(|last| object.modified > last.at);
                if newer {
                    last_compaction = Some(Compaction {
                        key: object.key.clone(),
                        at: object.modified,
                    });
                }
            }
        }
        objects += 1;
        rows += count;
    }
    let errors = store.list(&layout.errors_root()).await?;
    let mut error_records = 0;
    for object in &errors {
        let body = store.get(&object.key).await?;
        error_records += body
            .split(|&b| b == b'\n')
            .filter(|l| !l.is_empty())
            .count();
    }
    Ok(LakeStatus {
        hours: hours.into_values().collect(),
        objects,
        rows,
        error_objects: errors.len(),
        error_records,
        last_compaction,
    })
}

/// The status as a table for people.
pub fn table(status: &Status) -> String {
    let mut out = String::new();
    let kafka = &status.kafka;
    out.push_str(&format!(
        "{}  topic {} (group {}): lag {}\n",
        status.at.format("%Y-%m-%d %H:%M:%S UTC"),
        kafka.topic,
        kafka.group,
        kafka.lag
    ));
    out.push_str("  partition        end  committed        lag\n");
    for p in &kafka.partitions {
        let committed = p.committed.map_or("-".to_string(), |c| c.to_string());
        out.push_str(&format!(
            "  {:>9} {:>10} {:>10} {:>10}\n",
            p.partition, p.end, committed, p.lag
        ));
    }
    let lake = &status.lake;
    out.push_str(&format!(
        "lake: {} objects, {} rows; _errors/: {} objects, {} records\n",
        lake.objects, lake.rows, lake.error_objects, lake.error_records
    ));
    out.push_str("  hour                      originals  merged       rows\n");
    for h in &lake.hours {
        out.push_str(&format!(
            "  {:<25} {:>9} {:>7} {:>10}\n",
            h.hour, h.originals, h.merged, h.rows
        ));
    }
    match &lake.last_compaction {
        Some(c) => out.push_str(&format!(
            "last compaction: {} at {}\n",
            c.key,
            c.at.map_or("an unknown time".to_string(), |t| t.to_rfc3339())
        )),
        None => out.push_str("last compaction: none\n"),
    }
    out
}

#[cfg(test)]
mod tests {
    use lake::{Hour, Span, testing::MemoryStore};

    use super::*;

    fn hour(h: u32) -> Hour {
        Hour {
            date: chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            hour: h,
        }
    }

    #[tokio::test]
    async fn an_unreadable_object_under_users_is_named() {
        let store = MemoryStore::default();
        let layout = Layout::new("");
        let span = Span {
            topic: "users_created".into(),
            partition: 0,
            first: 1,
            last: 2,
        };
        let key = layout.original_key(OutputFormat::Parquet, hour(12), span);
        store.insert(&key, b"not parquet".to_vec());
        let error = lake_status(&store, &layout).await.unwrap_err();
        assert!(error.to_string().contains(&key), "{error}");
    }

    fn row(offset: i64) -> lake::LakeRow {
        let json = format!(
            r#"{{"id":"00000000-0000-4000-8000-{offset:012}","first_name":"A","last_name":"B","gender":"x","address":"a","post_code":"1","email":"e","username":"u","dob":"2000-01-01T00:00:00Z","registered_date":"2020-01-01T00:00:00Z","phone":"p","picture":"q"}}"#
        );
        lake::LakeRow {
            record: user_record::UserRecord::from_json_owned(json.as_bytes()).unwrap(),
            topic: "users_created".into(),
            partition: 0,
            offset,
            timestamp: hour(12).start(),
        }
    }

    #[tokio::test]
    async fn hours_count_their_objects_and_rows_errors_count_their_lines() {
        // given hour 12 as an original of 3 rows and a merged object of 5, hour 13 as one
        // original of 2, an error object of two records, and a CSV copy that is not counted
        let (store, layout) = (MemoryStore::default(), Layout::new(""));
        let span = |first, last| Span {
            topic: "users_created".into(),
            partition: 0,
            first,
            last,
        };
        let rows: Vec<lake::LakeRow> = (0..5).map(row).collect();
        let original = layout.original_key(OutputFormat::Parquet, hour(12), span(5, 7));
        store.insert(&original, lake::testing::parquet(&rows[..3]));
        let merged = layout.data_key(&DataKey {
            format: OutputFormat::Parquet,
            hour: hour(12),
            name: DataName::Merged("0123456789abcdef".into()),
        });
        store.insert(&merged, lake::testing::parquet(&rows));
        let thirteen = layout.original_key(OutputFormat::Parquet, hour(13), span(8, 9));
        store.insert(&thirteen, lake::testing::parquet(&rows[..2]));
        store.insert(
            &layout.original_key(OutputFormat::Csv, hour(13), span(8, 9)),
            b"id\r\n".to_vec(),
        );
        store.insert(
            "_errors/dt=2026-11-24/users_created-0-3-4.jsonl",
            b"{}\n{}\n".to_vec(),
        );

        // when
        let status = lake_status(&store, &layout).await.unwrap();

        // then
        let hours: Vec<(&str, usize, usize, u64)> = status
            .hours
            .iter()
            .map(|h| (h.hour.as_str(), h.originals, h.merged, h.rows))
            .collect();
        assert_eq!(
            hours,
            [
                ("dt=2026-11-24/hour=12", 1, 1, 8),
                ("dt=2026-11-24/hour=13", 1, 0, 2)
            ]
        );
        assert_eq!((status.objects, status.rows), (3, 10));
        assert_eq!((status.error_objects, status.error_records), (1, 2));
        assert_eq!(status.last_compaction.unwrap().key, merged);
    }

    #[tokio::test]
    async fn an_empty_lake_has_no_hours_and_no_compaction() {
        let status = lake_status(&MemoryStore::default(), &Layout::new("lake"))
            .await
            .unwrap();
        assert_eq!(
            (status.objects, status.rows, status.error_records),
            (0, 0, 0)
        );
        assert!(status.hours.is_empty() && status.last_compaction.is_none());
    }
}
