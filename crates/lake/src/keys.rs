//! Object keys in the lake, written and parsed by the same code.
//!
//! Keys are a pure function of where the records came from (topic, partition, offsets, Kafka
//! time), so a retried batch overwrites its own objects and a reader of a key knows what rows it
//! holds without opening it:
//!
//! ```text
//! {prefix}users/dt=YYYY-MM-DD/hour=HH/{topic}-{partition}-{first}-{last}.parquet   an original
//! {prefix}users/dt=YYYY-MM-DD/hour=HH/compacted-{digest}.parquet                    a merged object
//! {prefix}users_jsonl/…/{topic}-{partition}-{first}-{last}.jsonl                    the same rows as text
//! {prefix}users_csv/…/{topic}-{partition}-{first}-{last}.csv
//! {prefix}_errors/dt=YYYY-MM-DD/{topic}-{partition}-{first}-{last}.jsonl            rejected records
//! {prefix}_errors/dt=YYYY-MM-DD/{topic}-{partition}-malformed-{digest}.jsonl        entries with no offset
//! ```
//!
//! Merged names never parse as originals and do not start with `_` or `.`, which Hive-style
//! readers skip. Topics may contain `-`: names are read from the right.

use std::fmt;

use chrono::{DateTime, NaiveDate, TimeZone, Timelike, Utc};

use crate::OutputFormat;

/// Merged objects are named `compacted-<digest>.parquet`.
pub const MERGED_PREFIX: &str = "compacted-";
/// The root of rejected records, beside the formats' roots.
pub const ERRORS_ROOT: &str = "_errors";

/// One hour of Kafka time: the partition of the lake a row lands in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Hour {
    pub date: NaiveDate,
    /// 0 to 23.
    pub hour: u32,
}

impl Hour {
    /// The hour a Kafka timestamp falls in.
    pub fn of(timestamp: DateTime<Utc>) -> Self {
        Self {
            date: timestamp.date_naive(),
            hour: timestamp.hour(),
        }
    }

    /// Whether a timestamp falls in this hour (without building its hour).
    pub fn contains(&self, timestamp: DateTime<Utc>) -> bool {
        self.hour == timestamp.hour() && self.date == timestamp.date_naive()
    }

    /// The first instant of the hour.
    pub fn start(&self) -> DateTime<Utc> {
        let start = self.date.and_hms_opt(self.hour, 0, 0).unwrap_or_default();
        Utc.from_utc_datetime(&start)
    }

    /// Reads `dt=YYYY-MM-DD` and `hour=HH`, the two directory names of a partition.
    fn parse(dt: &str, hour: &str) -> Option<Self> {
        let date = NaiveDate::parse_from_str(dt.strip_prefix("dt=")?, "%Y-%m-%d").ok()?;
        let hour = hour.strip_prefix("hour=").filter(|h| h.len() == 2)?;
        let hour: u32 = hour.parse().ok().filter(|h| *h < 24)?;
        // The date must be written as this code writes it (no `dt=2026-1-5`).
        (dt == format!("dt={}", date.format("%Y-%m-%d"))).then_some(Self { date, hour })
    }
}

impl fmt::Display for Hour {
    /// `dt=YYYY-MM-DD/hour=HH`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "dt={}/hour={:02}",
            self.date.format("%Y-%m-%d"),
            self.hour
        )
    }
}

/// The offsets of one topic-partition that an original object holds, as its name declares.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Span {
    pub topic: String,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
}

impl Span {
    /// Whether `other` lies wholly within this span.
    pub fn contains(&self, other: &Span) -> bool {
        self.topic == other.topic
            && self.partition == other.partition
            && self.first <= other.first
            && other.last <= self.last
    }

    /// Whether one row's coordinates lie within this span.
    pub fn holds(&self, topic: &str, partition: i32, offset: i64) -> bool {
        self.topic == topic
            && self.partition == partition
            && (self.first..=self.last).contains(&offset)
    }

    /// `{topic}-{partition}-{first}-{last}`.
    fn stem(&self) -> String {
        format!(
            "{}-{}-{}-{}",
            self.topic, self.partition, self.first, self.last
        )
    }

    /// Reads a stem written by [`Span::stem`]; `None` for anything else.
    fn parse(stem: &str) -> Option<Span> {
        let mut parts = stem.rsplitn(4, '-');
        let last = parts.next()?.parse().ok()?;
        let first = parts.next()?.parse().ok()?;
        let partition = digits(parts.next()?)?;
        let topic = parts.next().filter(|t| !t.is_empty())?.to_string();
        let span = Span {
            topic,
            partition,
            first,
            last,
        };
        (first >= 0 && first <= last && span.stem() == stem).then_some(span)
    }
}

/// A non-negative number written without sign or leading zeros.
fn digits<T: std::str::FromStr>(text: &str) -> Option<T> {
    let canonical = !text.is_empty()
        && text.bytes().all(|b| b.is_ascii_digit())
        && (text == "0" || !text.starts_with('0'));
    canonical.then(|| text.parse().ok()).flatten()
}

/// What a data object under a format's root holds.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DataName {
    /// An object the sink wrote: the rows of one span.
    Original(Span),
    /// An object the compactor wrote, named by a digest of the originals it replaced (Parquet
    /// only; the replaced spans are in its footer).
    Merged(String),
}

/// A data object: its format, hour partition and name.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct DataKey {
    pub format: OutputFormat,
    pub hour: Hour,
    pub name: DataName,
}

/// How an error object's name tells its records apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ErrorRange {
    /// The lowest and highest offset of the rejected records.
    Offsets { first: i64, last: i64 },
    /// No record had a readable offset: a digest of the object's body.
    Malformed(u64),
}

/// An object of rejected records: one per topic-partition and day of a batch.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ErrorKey {
    pub date: NaiveDate,
    pub topic: String,
    /// -1 when the entry's partition was unreadable.
    pub partition: i32,
    pub range: ErrorRange,
}

/// Any key the lake's writers produce.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum LakeKey {
    Data(DataKey),
    Error(ErrorKey),
}

/// The key layout of one lake: everything lives under its prefix.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Layout {
    prefix: String,
}

impl Layout {
    /// A layout under `prefix`, normalised to be empty or end in exactly one `/`.
    pub fn new(prefix: &str) -> Self {
        let trimmed = prefix.trim_matches('/');
        Self {
            prefix: if trimmed.is_empty() {
                String::new()
            } else {
                format!("{trimmed}/")
            },
        }
    }

    /// The prefix, empty or ending in `/`.
    pub fn prefix(&self) -> &str {
        &self.prefix
    }

    /// `{prefix}{root}/`: where a format's partitions live (`users/` for Parquet).
    pub fn root(&self, format: OutputFormat) -> String {
        format!("{}{}/", self.prefix, format.root())
    }

    /// `{prefix}_errors/`.
    pub fn errors_root(&self) -> String {
        format!("{}{ERRORS_ROOT}/", self.prefix)
    }

    /// `{prefix}{root}/dt=…/hour=…/`: one hour partition of a format.
    pub fn hour_dir(&self, format: OutputFormat, hour: Hour) -> String {
        format!("{}{hour}/", self.root(format))
    }

    /// The key of a data object.
    pub fn data_key(&self, key: &DataKey) -> String {
        let name = match &key.name {
            DataName::Original(span) => format!("{}.{}", span.stem(), key.format.name()),
            DataName::Merged(digest) => format!("{MERGED_PREFIX}{digest}.{}", key.format.name()),
        };
        format!("{}{name}", self.hour_dir(key.format, key.hour))
    }

    /// The key of an original object: `format`'s object for `span` in `hour`.
    pub fn original_key(&self, format: OutputFormat, hour: Hour, span: Span) -> String {
        self.data_key(&DataKey {
            format,
            hour,
            name: DataName::Original(span),
        })
    }

    /// The key of an error object.
    pub fn error_key(&self, key: &ErrorKey) -> String {
        let range = match key.range {
            ErrorRange::Offsets { first, last } => format!("{first}-{last}"),
            ErrorRange::Malformed(digest) => format!("malformed-{digest:016x}"),
        };
        format!(
            "{}dt={}/{}-{}-{range}.jsonl",
            self.errors_root(),
            key.date.format("%Y-%m-%d"),
            key.topic,
            key.partition
        )
    }

    /// The key, written back.
    pub fn key(&self, key: &LakeKey) -> String {
        match key {
            LakeKey::Data(data) => self.data_key(data),
            LakeKey::Error(error) => self.error_key(error),
        }
    }

    /// The hour and name of the Parquet data object a key names, or `None` for any other key
    /// (text formats, error objects, keys its writers do not produce): what every reader of
    /// the plain-files lake's rows lists.
    pub fn parquet_data(&self, key: &str) -> Option<(Hour, DataName)> {
        match self.parse(key)? {
            LakeKey::Data(DataKey {
                format: OutputFormat::Parquet,
                hour,
                name,
            }) => Some((hour, name)),
            _ => None,
        }
    }

    /// What a key of this lake names, or `None` for any key its writers do not produce (other
    /// prefixes, folders, stray files): such objects are never touched.
    pub fn parse(&self, key: &str) -> Option<LakeKey> {
        let rest = key.strip_prefix(self.prefix.as_str())?;
        let (root, rest) = rest.split_once('/')?;
        if root == ERRORS_ROOT {
            return parse_error(rest).map(LakeKey::Error);
        }
        let format = OutputFormat::ALL.into_iter().find(|f| f.root() == root)?;
        let mut parts = rest.split('/');
        let (dt, hour, name) = (parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some() {
            return None;
        }
        let hour = Hour::parse(dt, hour)?;
        let stem = name.strip_suffix(format.name())?.strip_suffix('.')?;
        let name = match stem.strip_prefix(MERGED_PREFIX) {
            Some(digest)
                if format == OutputFormat::Parquet
                    && !digest.is_empty()
                    && digest.bytes().all(|b| b.is_ascii_hexdigit()) =>
            {
                DataName::Merged(digest.to_string())
            }
            _ => DataName::Original(Span::parse(stem)?),
        };
        Some(LakeKey::Data(DataKey { format, hour, name }))
    }

    /// The span of an original Parquet object's key, the common question of the compactor and
    /// the replay.
    pub fn original_span(&self, key: &str) -> Option<(Hour, Span)> {
        match self.parse(key)? {
            LakeKey::Data(DataKey {
                format: OutputFormat::Parquet,
                hour,
                name: DataName::Original(span),
            }) => Some((hour, span)),
            _ => None,
        }
    }
}

/// Reads `dt=YYYY-MM-DD/{topic}-{partition}-{range}.jsonl`.
fn parse_error(rest: &str) -> Option<ErrorKey> {
    let (dt, name) = rest.split_once('/')?;
    let date = NaiveDate::parse_from_str(dt.strip_prefix("dt=")?, "%Y-%m-%d").ok()?;
    let stem = name.strip_suffix(".jsonl")?;
    let (head, range) = match stem.rsplit_once("-malformed-") {
        Some((head, digest)) if digest.len() == 16 => (
            head,
            ErrorRange::Malformed(u64::from_str_radix(digest, 16).ok()?),
        ),
        _ => {
            let (head, last) = stem.rsplit_once('-')?;
            let (head, first) = head.rsplit_once('-')?;
            let (first, last) = (first.parse().ok()?, last.parse().ok()?);
            (head, ErrorRange::Offsets { first, last })
        }
    };
    let (topic, partition) = head.rsplit_once('-')?;
    // An unreadable partition is written as -1, which leaves the topic ending in `-`.
    let (topic, partition) = match topic.strip_suffix('-') {
        Some(topic) if partition == "1" => (topic, -1),
        _ => (topic, digits(partition)?),
    };
    let key = ErrorKey {
        date,
        topic: topic.to_string(),
        partition,
        range,
    };
    (!key.topic.is_empty() && Layout::default().error_key(&key).ends_with(rest)).then_some(key)
}

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::*;

    fn hour(h: u32) -> Hour {
        Hour {
            date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
            hour: h,
        }
    }

    fn span(topic: &str, partition: i32, first: i64, last: i64) -> Span {
        Span {
            topic: topic.into(),
            partition,
            first,
            last,
        }
    }

    #[test]
    fn keys_are_written_as_the_readme_shows() {
        let lake = Layout::new("/lake/raw/");
        let span = span("users_created", 1, 100, 106);
        assert_eq!(
            lake.original_key(OutputFormat::Parquet, hour(12), span.clone()),
            "lake/raw/users/dt=2026-11-24/hour=12/users_created-1-100-106.parquet"
        );
        assert_eq!(
            lake.original_key(OutputFormat::Csv, hour(9), span),
            "lake/raw/users_csv/dt=2026-11-24/hour=09/users_created-1-100-106.csv"
        );
        let error = ErrorKey {
            date: hour(0).date,
            topic: "users_created".into(),
            partition: 1,
            range: ErrorRange::Offsets {
                first: 101,
                last: 105,
            },
        };
        assert_eq!(
            Layout::new("").error_key(&error),
            "_errors/dt=2026-11-24/users_created-1-101-105.jsonl"
        );
    }

    #[test]
    fn keys_the_writers_do_not_produce_are_not_recognised() {
        let lake = Layout::new("");
        for key in [
            "users/dt=2026-11-24/hour=12/users_created-1-5-4.parquet",
            "users/dt=2026-11-24/hour=12/users_created-01-5-9.parquet",
            "users/dt=2026-11-24/hour=12/-1-5-9.parquet",
            "users/dt=2026-11-24/hour=12/x-y-5-9.parquet",
            "users/dt=2026-11-24/hour=12/users_created-1-5-9.jsonl",
            "users/dt=2026-11-24/hour=24/users_created-1-5-9.parquet",
            "users/dt=2026-11-24/hour=7/users_created-1-5-9.parquet",
            "users/dt=bad/hour=12/users_created-1-5-9.parquet",
            "users/dt=2026-11-24/users_created-1-5-9.parquet",
            "users/dt=2026-11-24/hour=12/deeper/users_created-1-5-9.parquet",
            "users_csv/dt=2026-11-24/hour=12/compacted-00ff.csv",
            "other/dt=2026-11-24/hour=12/users_created-1-5-9.parquet",
            "_errors/dt=2026-11-24/users_created-1-x-9.jsonl",
        ] {
            assert_eq!(lake.parse(key), None, "{key}");
        }
        assert_eq!(
            lake.parse("users/dt=2026-11-24/hour=12/compacted-0123456789abcdef.parquet"),
            Some(LakeKey::Data(DataKey {
                format: OutputFormat::Parquet,
                hour: hour(12),
                name: DataName::Merged("0123456789abcdef".into()),
            }))
        );
    }

    #[test]
    fn topics_with_dashes_and_unreadable_partitions_read_back() {
        let lake = Layout::new("");
        assert_eq!(
            lake.original_span("users/dt=2026-11-24/hour=12/users-created-2-100-199.parquet"),
            Some((hour(12), span("users-created", 2, 100, 199)))
        );
        let malformed = ErrorKey {
            date: hour(0).date,
            topic: "users_created".into(),
            partition: -1,
            range: ErrorRange::Malformed(0xdead_beef),
        };
        let key = lake.error_key(&malformed);
        assert_eq!(
            key,
            "_errors/dt=2026-11-24/users_created--1-malformed-00000000deadbeef.jsonl"
        );
        assert_eq!(lake.parse(&key), Some(LakeKey::Error(malformed)));
    }

    fn topic() -> impl Strategy<Value = String> {
        // Kafka topic characters; a topic ending in '-' would read as partition -1.
        "[a-z_.][a-z0-9_.-]{0,20}[a-z0-9_.]"
    }

    fn lake_key() -> impl Strategy<Value = LakeKey> {
        let hour = (0i64..20_000, 0u32..24).prop_map(|(day, hour)| Hour {
            date: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Days::new(day as u64),
            hour,
        });
        let span = (topic(), 0i32..1000, 0i64..1 << 40, 0i64..1000)
            .prop_map(|(t, p, first, n)| span(&t, p, first, first + n));
        let original = (
            prop::sample::select(OutputFormat::ALL.to_vec()),
            hour.clone(),
            span,
        )
            .prop_map(|(format, hour, span)| DataKey {
                format,
                hour,
                name: DataName::Original(span),
            });
        let merged = (hour, "[0-9a-f]{16}").prop_map(|(hour, digest)| DataKey {
            format: OutputFormat::Parquet,
            hour,
            name: DataName::Merged(digest),
        });
        let range = prop_oneof![
            (0i64..1 << 40, 0i64..1000).prop_map(|(first, n)| ErrorRange::Offsets {
                first,
                last: first + n
            }),
            any::<u64>().prop_map(ErrorRange::Malformed),
        ];
        let error = (0i64..20_000, topic(), -1i32..1000, range).prop_map(
            |(day, topic, partition, range)| ErrorKey {
                date: NaiveDate::from_ymd_opt(2000, 1, 1).unwrap() + chrono::Days::new(day as u64),
                topic,
                partition,
                range,
            },
        );
        prop_oneof![
            original.prop_map(LakeKey::Data),
            merged.prop_map(LakeKey::Data),
            error.prop_map(LakeKey::Error),
        ]
    }

    proptest! {
        #[test]
        fn every_key_written_parses_back_to_what_wrote_it(
            key in lake_key(),
            prefix in prop_oneof![Just(String::new()), "[a-z]{1,8}(/[a-z]{1,8}){0,2}"],
        ) {
            let lake = Layout::new(&prefix);
            let written = lake.key(&key);
            prop_assert!(written.starts_with(lake.prefix()));
            prop_assert_eq!(lake.parse(&written), Some(key));
        }
    }
}
