//! Batching replayed records the way the event source mapping does (by record count and event
//! payload size), one topic-partition per batch and aligned with the lake's existing objects,
//! and handing each batch to the sink's code directly: the records as read, no event JSON.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use kafka_client::ReadError;
use lake::{LakeStore, StoreError};
use lambda_kit::{Classified, Retry};
use msk_event::{
    BatchLimits, Batcher, EventSource, Offer, SourceRecord, envelope_json_len, record_json_len,
};
use serde::Serialize;
use sink::{Batch, Sink, SinkError};

use crate::Cuts;

/// Why a replay stopped. What was delivered before stays in the lake; running the replay again
/// rewrites the same objects (plain files) or adds nothing twice (the table).
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A setting is missing or invalid.
    #[error(transparent)]
    Setting(#[from] lambda_kit::settings::SettingError),
    /// The Kafka credentials could not be resolved (SCRAM secret, IAM signing).
    #[error(transparent)]
    Auth(#[from] kafka_client::AuthError),
    /// The sink failed a batch (an S3 write, say).
    #[error("the sink failed the batch of {key} offsets {first}-{last}: {source}")]
    Sink {
        key: String,
        first: i64,
        last: i64,
        #[source]
        source: Box<SinkError>,
    },
    /// Reading the topic failed, or could not start.
    #[error(transparent)]
    Read(#[from] ReadError),
    /// The lake could not be listed to align the batches, or a failure record not read.
    #[error("cannot list the lake or read a failure record: {0}")]
    Lake(#[from] StoreError),
    /// The table's catalog could not be opened.
    #[error("cannot open the table's catalog: {0}")]
    Catalog(#[from] table::CatalogError),
    /// The schema registry's credentials could not be read.
    #[error(transparent)]
    Registry(#[from] sink::registry::RegistryError),
    /// A failure record holds no event to replay.
    #[error(transparent)]
    FailureRecord(#[from] crate::failed::FailureRecordError),
    /// The sink failed the event of a failure record.
    #[error("the sink failed the batch of {key}: {source}")]
    FailedBatch {
        key: String,
        #[source]
        source: Box<SinkError>,
    },
}

impl Classified for ReplayError {
    fn kind(&self) -> &'static str {
        match self {
            ReplayError::Setting(_) => "InvalidSetting",
            ReplayError::Auth(error) => error.kind(),
            ReplayError::Sink { .. } => "SinkFailed",
            ReplayError::Read(_) => "ReadFailed",
            ReplayError::Lake(_) => "StoreFailed",
            ReplayError::Catalog(_) => "CatalogFailed",
            ReplayError::Registry(_) => "SchemaRegistryFailed",
            ReplayError::FailureRecord(_) => "InvalidFailureRecord",
            ReplayError::FailedBatch { .. } => "SinkFailed",
        }
    }

    fn retry(&self) -> Retry {
        match self {
            ReplayError::Setting(_) => Retry::Fatal,
            ReplayError::Auth(error) => error.retry(),
            ReplayError::Sink { source, .. } => source.retry(),
            ReplayError::Read(error) => error.retry(),
            ReplayError::Lake(error) => error.retry(),
            ReplayError::Catalog(error) => error.retry(),
            // The secret's absence or shape does not change by asking again soon.
            ReplayError::Registry(_) => Retry::Fatal,
            ReplayError::FailureRecord(_) => Retry::Fatal,
            ReplayError::FailedBatch { source, .. } => source.retry(),
        }
    }
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    /// Events handed to the sink.
    pub batches: usize,
    /// Records read from the topic and delivered.
    pub records: usize,
    /// Records the sink wrote to Parquet objects, or added to the table.
    pub written: usize,
    /// Records the sink sent to `_errors/`.
    pub rejected: usize,
    /// Objects the sink wrote (or rewrote).
    pub objects: usize,
    /// Bytes the sink wrote.
    pub bytes: usize,
    /// Largest batch delivered, in bytes of the MSK event it would make.
    pub largest_event_bytes: usize,
    /// Records the table already held (at or below their partition's offset mark): not added
    /// again. Always 0 for the plain-files layout.
    pub duplicates: usize,
    /// Records at or below their partition's mark that the table did not hold (the topic's
    /// offsets went backwards): added beside the earlier ones. Always 0 for plain files.
    pub rewound: usize,
    /// The last table snapshot the replay committed; absent when it added nothing (or the
    /// lake is plain files).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub snapshot_id: Option<i64>,
}

/// No batching window: a replay reads as fast as it can, so only count and size close a batch.
const NO_WINDOW: Duration = Duration::from_secs(365 * 24 * 3600);

/// Gathers records per topic-partition and delivers full batches to the sink.
pub struct Replayer<S> {
    sink: Sink<S>,
    cuts: Cuts,
    limits: BatchLimits,
    envelope_bytes: usize,
    open: BTreeMap<String, (Batcher<SourceRecord>, i64)>,
    summary: ReplaySummary,
    /// When progress was last logged: a long replay says how far it is every
    /// [`PROGRESS_EVERY`] on stderr (its summary comes at the end, on stdout).
    progress_logged: std::time::Instant,
}

/// How often a replay logs its progress.
const PROGRESS_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

impl<S: LakeStore> Replayer<S> {
    /// A replayer writing through `sink`, with batches of at most `max_records` records and
    /// `max_payload_bytes` bytes of the event JSON they would make with `source`, cut at the
    /// edges of `cuts`.
    pub fn new(
        sink: Sink<S>,
        cuts: Cuts,
        max_records: usize,
        max_payload_bytes: usize,
        source: EventSource,
    ) -> Self {
        Self {
            envelope_bytes: envelope_json_len(&source),
            sink,
            cuts,
            limits: BatchLimits {
                max_records: max_records.max(1),
                window: NO_WINDOW,
                max_payload_bytes,
            },
            open: BTreeMap::new(),
            summary: ReplaySummary::default(),
            progress_logged: std::time::Instant::now(),
        }
    }

    /// Takes the next record of its partition (records of one partition in offset order).
    pub async fn offer(&mut self, record: SourceRecord) -> Result<(), ReplayError> {
        let record = match self.sink.schemas {
            Some(_) => sink::as_source_format(record),
            None => record,
        };
        let group = record.group_key();
        let bytes = record_json_len(&record);
        let cut = self.open.get(&group).is_some_and(|(batch, last)| {
            !batch.is_empty()
                && self
                    .cuts
                    .separates(&record.topic, record.partition, *last, record.offset)
        });
        if cut {
            self.flush(&group).await?;
        }
        let (offset, envelope, limits) = (record.offset, self.envelope_bytes, self.limits);
        let (batch, last) = self
            .open
            .entry(group.clone())
            .or_insert_with(|| (Batcher::new(limits, envelope), -1));
        *last = offset;
        match batch.offer(record, &group, bytes, Instant::now()) {
            Offer::Added => Ok(()),
            Offer::Closed(_) => self.flush(&group).await,
            Offer::Rejected(record) => {
                self.flush(&group).await?;
                let (batch, _) = self.open.get_mut(&group).expect("flushed, not removed");
                if let Offer::Closed(_) = batch.offer(record, &group, bytes, Instant::now()) {
                    self.flush(&group).await?;
                }
                Ok(())
            }
        }
    }

    /// Delivers what is left and reports.
    pub async fn finish(mut self) -> Result<ReplaySummary, ReplayError> {
        let groups: Vec<String> = self.open.keys().cloned().collect();
        for group in groups {
            self.flush(&group).await?;
        }
        Ok(self.summary)
    }

    /// The summary so far.
    pub fn summary(&self) -> &ReplaySummary {
        &self.summary
    }

    async fn flush(&mut self, group: &str) -> Result<(), ReplayError> {
        let Some((batch, _)) = self.open.get_mut(group) else {
            return Ok(());
        };
        let event_bytes = batch.payload_bytes();
        let records = batch.take();
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(());
        };
        let (first, last) = (first.offset, last.offset);
        let done = sink::handle(Batch::Records(&records), &self.sink, chrono::Utc::now())
            .await
            .map_err(|source| ReplayError::Sink {
                key: group.to_string(),
                first,
                last,
                source: Box::new(source),
            })?;
        let summary = &mut self.summary;
        summary.batches += 1;
        summary.records += done.records;
        summary.written += done.written;
        summary.rejected += done.rejected;
        summary.objects += done.objects.len();
        summary.bytes += done.bytes;
        summary.duplicates += done.duplicates;
        summary.rewound += done.rewound;
        summary.snapshot_id = done.snapshot_id.or(summary.snapshot_id);
        summary.largest_event_bytes = summary.largest_event_bytes.max(event_bytes);
        tracing::debug!(
            group,
            first,
            last,
            records = done.records,
            duplicates = done.duplicates,
            "batch replayed"
        );
        if self.progress_logged.elapsed() >= PROGRESS_EVERY {
            self.progress_logged = std::time::Instant::now();
            let summary = &self.summary;
            tracing::info!(
                batches = summary.batches,
                records = summary.records,
                written = summary.written,
                rejected = summary.rejected,
                partition = group,
                offset = last,
                "replaying"
            );
        }
        Ok(())
    }
}
