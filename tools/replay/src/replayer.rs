//! Batching replayed records the way the event source mapping does (by record count and event
//! payload size), one topic-partition per event and aligned with the lake's existing objects,
//! and handing each event to the sink.

use std::{
    collections::BTreeMap,
    time::{Duration, Instant},
};

use emulators::{
    batcher::{BatchLimits, Batcher, Offer},
    event::{self, EventError, EventSource, SourceRecord},
};
use serde::Serialize;
use sink::{MskEvent, ObjectStore, Sink, SinkError};

use crate::Cuts;

/// Why a replay stopped. What was delivered before stays in the lake; running the replay again
/// rewrites the same objects.
#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    /// A batch could not be turned into an MSK event.
    #[error("cannot build the MSK event: {0}")]
    Event(#[from] EventError),
    /// The built event did not read back as the sink's event (a defect).
    #[error("the MSK event does not parse as the sink's event: {0}")]
    Parse(#[from] serde_json::Error),
    /// The sink failed a batch (an S3 write, say).
    #[error("the sink failed the batch of {key} offsets {first}-{last}: {source}")]
    Sink {
        key: String,
        first: i64,
        last: i64,
        #[source]
        source: Box<SinkError>,
    },
    /// Reading the topic failed.
    #[error("cannot read {target}: {source}")]
    Kafka {
        /// `<topic> from <brokers>`.
        target: String,
        #[source]
        source: rdkafka::error::KafkaError,
    },
    /// A start time has no offset on the broker, or the topic has no partitions.
    #[error("cannot start the replay of {topic}: {problem}")]
    Start { topic: String, problem: String },
    /// The lake could not be listed to align the batches.
    #[error("cannot list the lake to align batches: {0}")]
    Lake(#[from] compactor::StoreError),
}

/// What a replay did.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ReplaySummary {
    /// Events handed to the sink.
    pub batches: usize,
    /// Records read from the topic and delivered.
    pub records: usize,
    /// Records the sink wrote to Parquet.
    pub written: usize,
    /// Records the sink sent to `_errors/`.
    pub rejected: usize,
    /// Objects the sink wrote (or rewrote).
    pub objects: usize,
    /// Bytes the sink wrote.
    pub bytes: usize,
    /// Largest event payload delivered, in bytes.
    pub largest_event_bytes: usize,
}

/// No batching window: a replay reads as fast as it can, so only count and size close a batch.
const NO_WINDOW: Duration = Duration::from_secs(365 * 24 * 3600);

/// Gathers records per topic-partition and delivers full batches to the sink.
pub struct Replayer<S> {
    sink: Sink<S>,
    cuts: Cuts,
    limits: BatchLimits,
    source: EventSource,
    envelope_bytes: usize,
    open: BTreeMap<String, (Batcher<SourceRecord>, i64)>,
    summary: ReplaySummary,
}

impl<S: ObjectStore> Replayer<S> {
    /// A replayer writing through `sink`, with batches of at most `max_records` records and
    /// `max_payload_bytes` bytes of event JSON, cut at the edges of `cuts`.
    pub fn new(
        sink: Sink<S>,
        cuts: Cuts,
        max_records: usize,
        max_payload_bytes: usize,
        source: EventSource,
    ) -> Result<Self, ReplayError> {
        Ok(Self {
            envelope_bytes: event::envelope_json_len(&source)?,
            sink,
            cuts,
            limits: BatchLimits {
                max_records: max_records.max(1),
                window: NO_WINDOW,
                max_payload_bytes,
            },
            source,
            open: BTreeMap::new(),
            summary: ReplaySummary::default(),
        })
    }

    /// Takes the next record of its partition (records of one partition in offset order).
    pub async fn offer(&mut self, record: SourceRecord) -> Result<(), ReplayError> {
        let group = record.group_key();
        let bytes = event::record_json_len(&event::kafka_record(&record))?;
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
        let records = batch.take();
        let (Some(first), Some(last)) = (records.first(), records.last()) else {
            return Ok(());
        };
        let (first, last) = (first.offset, last.offset);
        let json = event::event_json(&event::kafka_event(&self.source, &records))?;
        let text: &serde_json::value::RawValue = serde_json::from_slice(&json)?;
        let msk = MskEvent::from_json(text.get())?;
        let done = sink::handle(&msk, &self.sink, chrono::Utc::now())
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
        summary.largest_event_bytes = summary.largest_event_bytes.max(json.len());
        tracing::debug!(group, first, last, records = done.records, "batch replayed");
        Ok(())
    }
}
