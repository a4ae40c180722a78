//! The batching rules of the MSK event source mapping, free of I/O and clocks so that they can
//! be tested exactly.
//!
//! A batch closes when it holds `BatchSize` records, when the batching window has passed since
//! its first record, or when one more record would make the invocation payload exceed Lambda's
//! 6 MB limit for synchronous invocations. The payload size is tracked in exact serialised
//! bytes: the caller passes each record's JSON length and its `"topic-partition"` key, and the
//! batcher adds the separators and group keys that the event JSON puts around them.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::build::string_json_len;

/// Lambda's limit on a synchronous invocation payload (6 MB).
pub const MAX_PAYLOAD_BYTES: usize = 6_291_456;

/// When a batch must close.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchLimits {
    /// Most records in one batch (`BatchSize`).
    pub max_records: usize,
    /// How long to keep gathering after the first record (`MaximumBatchingWindowInSeconds`).
    /// Zero means: deliver whatever is available at once.
    pub window: Duration,
    /// Most bytes of serialised event JSON in one invocation.
    pub max_payload_bytes: usize,
}

/// Why a batch was closed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloseReason {
    /// It holds `max_records` records.
    Count,
    /// The batching window passed since its first record (or, with a zero window, nothing more
    /// was available).
    Window,
    /// One more record would exceed the payload limit, or its only record already does.
    PayloadSize,
    /// The emulator is shutting down.
    Shutdown,
    /// The next record failed schema validation: it goes to the failure destination alone.
    SchemaFailure,
}

impl CloseReason {
    /// A short label for logs.
    pub fn label(self) -> &'static str {
        match self {
            CloseReason::Count => "batch size",
            CloseReason::Window => "batching window",
            CloseReason::PayloadSize => "payload size",
            CloseReason::Shutdown => "shutdown",
            CloseReason::SchemaFailure => "schema failure",
        }
    }
}

/// What happened to an offered record.
#[derive(Debug, PartialEq, Eq)]
pub enum Offer<T> {
    /// Added; the batch stays open.
    Added,
    /// Added, and the batch is now closed for this reason.
    Closed(CloseReason),
    /// Not added because it would exceed the payload limit: deliver the batch and start the
    /// next one with this record.
    Rejected(T),
}

/// Gathers the records of one invocation.
#[derive(Debug)]
pub struct Batcher<T> {
    limits: BatchLimits,
    envelope_bytes: usize,
    bytes: usize,
    items: Vec<T>,
    groups: HashSet<String>,
    first_at: Option<Instant>,
}

impl<T> Batcher<T> {
    /// An empty batch; `envelope_bytes` is the JSON length of the event with no records.
    pub fn new(limits: BatchLimits, envelope_bytes: usize) -> Self {
        Batcher {
            limits,
            envelope_bytes,
            bytes: envelope_bytes,
            items: Vec::new(),
            groups: HashSet::new(),
            first_at: None,
        }
    }

    /// Offers a record whose JSON is `record_bytes` long, grouped under `group`, received at `now`.
    ///
    /// The first record of a batch is always added, even when it alone exceeds the payload
    /// limit: a record must not be lost, so it goes out alone and the function (or Lambda,
    /// which would reject such a payload) decides.
    pub fn offer(&mut self, item: T, group: &str, record_bytes: usize, now: Instant) -> Offer<T> {
        let added = self.added_bytes(group, record_bytes);
        if !self.items.is_empty() && self.bytes + added > self.limits.max_payload_bytes {
            return Offer::Rejected(item);
        }
        if self.items.is_empty() {
            self.first_at = Some(now);
        }
        self.bytes += added;
        self.groups.insert(group.to_owned());
        self.items.push(item);
        if self.items.len() >= self.limits.max_records {
            Offer::Closed(CloseReason::Count)
        } else if self.bytes >= self.limits.max_payload_bytes {
            Offer::Closed(CloseReason::PayloadSize)
        } else {
            Offer::Added
        }
    }

    /// When the batching window of this batch ends (`None` while empty).
    pub fn deadline(&self) -> Option<Instant> {
        self.first_at.map(|t| t + self.limits.window)
    }

    /// Whether the batching window has passed at `now`. A zero window never comes due this
    /// way: such a batch closes when no further record is immediately available.
    pub fn is_due(&self, now: Instant) -> bool {
        !self.limits.window.is_zero() && self.deadline().is_some_and(|d| now >= d)
    }

    /// The serialised length of the event holding this batch.
    pub fn payload_bytes(&self) -> usize {
        self.bytes
    }

    /// Whether the payload is over the limit (only possible for a single oversized record).
    pub fn is_oversized(&self) -> bool {
        self.bytes > self.limits.max_payload_bytes
    }

    /// Number of records gathered.
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether no record has been gathered.
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// Takes the gathered records and starts a new, empty batch.
    pub fn take(&mut self) -> Vec<T> {
        self.bytes = self.envelope_bytes;
        self.groups.clear();
        self.first_at = None;
        std::mem::take(&mut self.items)
    }

    /// Bytes that a record adds: itself, a comma if its group is not empty, and for a new group
    /// the quoted key, a colon and the brackets (plus a comma if other groups exist).
    fn added_bytes(&self, group: &str, record_bytes: usize) -> usize {
        if self.groups.contains(group) {
            record_bytes + 1
        } else {
            let comma = usize::from(!self.groups.is_empty());
            comma + string_json_len(group) + 1 + 2 + record_bytes
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{
        EventSource, RecordTimestamp, SourceRecord, envelope_json_len, event_json, record_json_len,
    };

    fn limits(max_records: usize, window_ms: u64, max_payload_bytes: usize) -> BatchLimits {
        BatchLimits {
            max_records,
            window: Duration::from_millis(window_ms),
            max_payload_bytes,
        }
    }

    fn record(partition: i32, offset: i64, value_len: usize) -> SourceRecord {
        SourceRecord {
            topic: "users_created".to_owned(),
            partition,
            offset,
            timestamp: RecordTimestamp::CreateTime(1_700_000_000_000 + offset),
            key: Some(format!("k{offset}").into_bytes()),
            value: Some(vec![b'x'; value_len]),
            headers: vec![("h".to_owned(), Some(vec![0xff]))],
            schemas: Default::default(),
        }
    }

    fn offer(b: &mut Batcher<SourceRecord>, r: SourceRecord, now: Instant) -> Offer<SourceRecord> {
        let len = record_json_len(&r);
        let key = r.group_key();
        b.offer(r, &key, len, now)
    }

    #[test]
    fn closes_when_batch_size_records_are_gathered() {
        let now = Instant::now();
        let mut b = Batcher::new(limits(3, 1000, MAX_PAYLOAD_BYTES), 100);
        assert_eq!(offer(&mut b, record(0, 0, 10), now), Offer::Added);
        assert_eq!(offer(&mut b, record(0, 1, 10), now), Offer::Added);
        assert_eq!(
            offer(&mut b, record(1, 0, 10), now),
            Offer::Closed(CloseReason::Count)
        );
        assert_eq!(b.take().len(), 3);
        assert!(b.is_empty());
        assert_eq!(b.deadline(), None);
    }

    #[test]
    fn comes_due_when_the_window_has_passed_since_the_first_record() {
        let start = Instant::now();
        let mut b = Batcher::new(limits(500, 1000, MAX_PAYLOAD_BYTES), 100);
        assert!(
            !b.is_due(start + Duration::from_secs(5)),
            "an empty batch is never due"
        );
        offer(&mut b, record(0, 0, 10), start);
        offer(&mut b, record(0, 1, 10), start + Duration::from_millis(900));
        assert_eq!(b.deadline(), Some(start + Duration::from_millis(1000)));
        assert!(!b.is_due(start + Duration::from_millis(999)));
        assert!(b.is_due(start + Duration::from_millis(1000)));
    }

    #[test]
    fn a_zero_window_never_comes_due_by_time() {
        let start = Instant::now();
        let mut b = Batcher::new(limits(500, 0, MAX_PAYLOAD_BYTES), 100);
        offer(&mut b, record(0, 0, 10), start);
        assert!(!b.is_due(start + Duration::from_secs(10)));
    }

    #[test]
    fn rejects_the_record_that_would_push_the_payload_over_6_mb() {
        let now = Instant::now();
        let source = EventSource::local("us-east-1", "127.0.0.1:9092");
        let envelope = envelope_json_len(&source);
        let mut b = Batcher::new(limits(500, 1000, MAX_PAYLOAD_BYTES), envelope);
        // base64 turns 3 bytes into 4: 2 MiB values give ~2.8 MB records, so two fit and a third does not.
        let mut sent = Vec::new();
        for offset in 0..2 {
            assert_eq!(offer(&mut b, record(0, offset, 2 << 20), now), Offer::Added);
        }
        match offer(&mut b, record(0, 2, 2 << 20), now) {
            Offer::Rejected(r) => assert_eq!(r.offset, 2),
            other => panic!("expected the third record to be rejected, got {other:?}"),
        }
        assert!(b.payload_bytes() <= MAX_PAYLOAD_BYTES);
        sent.extend(b.take());
        let json = event_json(&source, &sent);
        assert!(json.len() <= MAX_PAYLOAD_BYTES);
    }

    #[test]
    fn a_single_record_over_the_limit_is_sent_alone_not_dropped() {
        let now = Instant::now();
        let mut b = Batcher::new(limits(500, 1000, 1000), 100);
        assert_eq!(
            offer(&mut b, record(0, 0, 5000), now),
            Offer::Closed(CloseReason::PayloadSize)
        );
        assert!(b.is_oversized());
        assert_eq!(b.take().len(), 1);
    }

    #[test]
    fn tracked_size_equals_the_serialised_event_length() {
        let now = Instant::now();
        let source = EventSource::local("eu-west-1", "127.0.0.1:9092");
        let mut b = Batcher::new(
            limits(500, 1000, MAX_PAYLOAD_BYTES),
            envelope_json_len(&source),
        );
        let mut records = Vec::new();
        for (partition, offset, len) in [(0, 0, 5), (1, 0, 0), (0, 1, 300), (2, 9, 1), (1, 1, 44)] {
            let mut r = record(partition, offset, len);
            if offset == 9 {
                r.key = None;
                r.value = None;
                r.headers.clear();
            }
            records.push(r.clone());
            offer(&mut b, r, now);
            let json = event_json(&source, &records);
            assert_eq!(
                b.payload_bytes(),
                json.len(),
                "after {} records",
                records.len()
            );
        }
    }
}
