//! The Kafka half of the status: each partition's end offset and the sink's consumer group's
//! committed offset and lag. A topic the cluster does not know is an error, not an empty topic;
//! a cluster out of reach leaves the lake's half to be shown alone ([`KafkaView::Unreachable`]).

use std::time::Duration;

use kafka_client::{KafkaClient, KafkaClientContext};
use lambda_kit::{Classified, error_chain};
use rdkafka::{
    Offset, TopicPartitionList,
    consumer::{BaseConsumer, Consumer},
    types::RDKafkaErrorCode,
};
use serde::Serialize;

use crate::StatusError;

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

impl KafkaStatus {
    /// The partitions' end offsets, added up: every record the topic ever received.
    pub fn end_total(&self) -> i64 {
        self.partitions.iter().map(|p| p.end).sum()
    }
}

/// Why the cluster could not be asked, printed in place of the partitions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct KafkaUnreachable {
    pub topic: String,
    pub group: String,
    /// `<Kind>.<Retryable|Fatal>`, as on stderr.
    #[serde(rename = "errorType")]
    pub error_type: String,
    /// The error and its causes.
    pub reason: String,
}

/// The Kafka half as it was found: asked, or out of reach. Printed under `kafka` with
/// `reachable` saying which.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KafkaView {
    Reached(KafkaStatus),
    Unreachable(KafkaUnreachable),
}

impl KafkaView {
    /// The status, when the cluster answered.
    pub fn reached(&self) -> Option<&KafkaStatus> {
        match self {
            KafkaView::Reached(status) => Some(status),
            KafkaView::Unreachable(_) => None,
        }
    }

    /// The half for a cluster that could not be asked.
    pub fn unreachable(topic: &str, group: &str, error: &StatusError) -> Self {
        KafkaView::Unreachable(KafkaUnreachable {
            topic: topic.to_string(),
            group: group.to_string(),
            error_type: error.error_type(),
            reason: error_chain(error),
        })
    }
}

impl Serialize for KafkaView {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        #[derive(Serialize)]
        struct Tagged<'a, T> {
            reachable: bool,
            #[serde(flatten)]
            inner: &'a T,
        }
        match self {
            KafkaView::Reached(inner) => Tagged {
                reachable: true,
                inner,
            }
            .serialize(serializer),
            KafkaView::Unreachable(inner) => Tagged {
                reachable: false,
                inner,
            }
            .serialize(serializer),
        }
    }
}

/// Each partition's end offset and the group's committed offset and lag; `timeout` bounds
/// each request to the cluster.
pub fn kafka_status(
    client: &KafkaClient,
    topic: &str,
    group: &str,
    timeout: Duration,
) -> Result<KafkaStatus, StatusError> {
    let failed = |source| StatusError::Kafka {
        brokers: client.brokers().to_string(),
        topic: topic.to_string(),
        source: Box::new(source),
    };
    // The group is only asked for its committed offsets: this consumer never joins it. It
    // creates no topic by asking about one.
    let consumer: BaseConsumer<KafkaClientContext> = client
        .client_config("user-lake-status")
        .set("group.id", group)
        .set("enable.auto.commit", "false")
        .set("allow.auto.create.topics", "false")
        .create_with_context(client.context())
        .map_err(failed)?;
    consumer.context().serve_first_token(|| {
        let _ = consumer.poll(Duration::ZERO);
    })?;
    let metadata = consumer
        .fetch_metadata(Some(topic), timeout)
        .map_err(failed)?;
    let unknown = || StatusError::UnknownTopic {
        brokers: client.brokers().to_string(),
        topic: topic.to_string(),
    };
    let found = metadata
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(unknown)?;
    match found.error().map(RDKafkaErrorCode::from) {
        None => {}
        Some(RDKafkaErrorCode::UnknownTopicOrPartition | RDKafkaErrorCode::UnknownTopic) => {
            return Err(unknown());
        }
        Some(code) => {
            return Err(failed(rdkafka::error::KafkaError::MetadataFetch(code)));
        }
    }
    let ids: Vec<i32> = found.partitions().iter().map(|p| p.id()).collect();
    if ids.is_empty() {
        return Err(unknown());
    }
    let mut wanted = TopicPartitionList::new();
    for &id in &ids {
        wanted.add_partition(topic, id);
    }
    let committed = consumer
        .committed_offsets(wanted, timeout)
        .map_err(failed)?;
    let mut partitions = Vec::new();
    for id in ids {
        let (_, end) = consumer
            .fetch_watermarks(topic, id, timeout)
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
