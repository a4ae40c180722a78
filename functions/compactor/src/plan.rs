//! What to compact, decided from object names alone: which hour partitions are closed, which
//! objects are the sink's originals (named by the offsets they hold) and which are merged
//! objects written by an earlier run, and how originals are packed into merged objects of at
//! most the target size.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, NaiveDate, TimeZone, Utc};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::store::ObjectInfo;

/// Merged objects are named `compacted-<digest of the inputs' names>.parquet`. The name never
/// parses as an original, and does not start with `_` or `.`, which Hive-style readers skip.
pub const MERGED_PREFIX: &str = "compacted-";

/// The rows an original holds: every row of its hour partition whose Kafka coordinates are
/// `topic`, `partition` and an offset in `first..=last` (the sink writes one object per
/// topic-partition and hour of a batch, named `<topic>-<partition>-<first>-<last>.parquet`).
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Span {
    pub topic: String,
    pub partition: i32,
    pub first: i64,
    pub last: i64,
}

impl Span {
    /// The span an original's file name declares, or `None` for any other name.
    pub fn of_original(name: &str) -> Option<Span> {
        let stem = name.strip_suffix(".parquet")?;
        let mut parts = stem.rsplitn(4, '-');
        let last = parts.next()?.parse().ok()?;
        let first = parts.next()?.parse().ok()?;
        let partition = parts.next()?.parse().ok()?;
        let topic = parts.next().filter(|t| !t.is_empty())?.to_string();
        (first <= last && first >= 0).then_some(Span {
            topic,
            partition,
            first,
            last,
        })
    }

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
}

/// The spans a partition's merged objects already hold.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Coverage(pub Vec<Span>);

impl Coverage {
    pub fn covers(&self, span: &Span) -> bool {
        self.0.iter().any(|s| s.contains(span))
    }

    pub fn holds(&self, topic: &str, partition: i32, offset: i64) -> bool {
        self.0.iter().any(|s| s.holds(topic, partition, offset))
    }
}

/// An original object of a partition and the span its name declares.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Original {
    pub object: ObjectInfo,
    pub span: Span,
}

/// One hour partition of the lake and what it holds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourPartition {
    /// Key prefix of the partition, ending in `/`: `{prefix}users/dt=…/hour=…/`.
    pub dir: String,
    /// Start of the hour.
    pub start: DateTime<Utc>,
    /// The sink's objects, by span.
    pub originals: Vec<Original>,
    /// Objects of earlier compactions.
    pub merged: Vec<ObjectInfo>,
}

impl HourPartition {
    /// Closed once its hour and the grace period after it are over: no batch is expected to
    /// land in it any more (one that does anyway is merged by a later run).
    pub fn is_closed(&self, now: DateTime<Utc>, grace: Duration) -> bool {
        self.start + Duration::hours(1) + grace <= now
    }
}

/// Sorts a listing of `{prefix}users/` into hour partitions. Keys that are not
/// `dt=YYYY-MM-DD/hour=HH/<name>.parquet` (other formats, folders, stray files) are left out:
/// the compactor never touches what it does not recognise.
pub fn partitions(users_prefix: &str, objects: Vec<ObjectInfo>) -> Vec<HourPartition> {
    let mut by_dir: BTreeMap<String, HourPartition> = BTreeMap::new();
    for object in objects {
        let Some((dir, start, name)) = locate(users_prefix, &object.key) else {
            continue;
        };
        let entry = by_dir.entry(dir.clone()).or_insert_with(|| HourPartition {
            dir,
            start,
            originals: Vec::new(),
            merged: Vec::new(),
        });
        if name.starts_with(MERGED_PREFIX) && name.ends_with(".parquet") {
            entry.merged.push(object);
        } else if let Some(span) = Span::of_original(name) {
            entry.originals.push(Original { object, span });
        }
    }
    by_dir.into_values().collect()
}

fn locate<'a>(users_prefix: &str, key: &'a str) -> Option<(String, DateTime<Utc>, &'a str)> {
    let rest = key.strip_prefix(users_prefix)?;
    let mut parts = rest.split('/');
    let (dt, hour, name) = (parts.next()?, parts.next()?, parts.next()?);
    if parts.next().is_some() || name.is_empty() {
        return None;
    }
    let date = NaiveDate::parse_from_str(dt.strip_prefix("dt=")?, "%Y-%m-%d").ok()?;
    let hour: u32 = hour
        .strip_prefix("hour=")
        .filter(|h| h.len() == 2)?
        .parse()
        .ok()?;
    let start = Utc.from_utc_datetime(&date.and_hms_opt(hour, 0, 0)?);
    Some((format!("{users_prefix}{dt}/hour={hour:02}/"), start, name))
}

/// Packs originals, in span order, into groups whose sizes add up to at most `target` bytes
/// (an original larger than the target makes a group of its own). Each group becomes one
/// merged object, so memory per merge is bounded by the target.
pub fn groups(mut originals: Vec<Original>, target: u64) -> Vec<Vec<Original>> {
    originals.sort_by(|a, b| a.span.cmp(&b.span));
    let mut groups: Vec<Vec<Original>> = Vec::new();
    let mut size = 0;
    for original in originals {
        match groups.last_mut() {
            Some(group) if size + original.object.size <= target => {
                size += original.object.size;
                group.push(original);
            }
            _ => {
                size = original.object.size;
                groups.push(vec![original]);
            }
        }
    }
    groups
}

/// The merged object's key for a group: a digest of its inputs' names, so that a re-run over
/// the same inputs writes the same key.
pub fn merged_key(dir: &str, group: &[Original]) -> String {
    let mut names: Vec<&str> = group
        .iter()
        .map(|o| o.object.key.rsplit('/').next().unwrap_or(&o.object.key))
        .collect();
    names.sort_unstable();
    let digest = Sha256::digest(names.join("\n").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    format!("{dir}{MERGED_PREFIX}{hex}.parquet")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(key: &str, size: u64) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            size,
        }
    }

    #[test]
    fn original_names_declare_their_span_and_merged_names_do_not() {
        assert_eq!(
            Span::of_original("users-created-2-100-199.parquet"),
            Some(Span {
                topic: "users-created".into(),
                partition: 2,
                first: 100,
                last: 199
            })
        );
        for other in [
            "compacted-0123456789abcdef.parquet",
            "users_created-1-5-4.parquet",
            "users_created-1-5-9.jsonl",
            "-1-5-9.parquet",
            "x-y-5-9.parquet",
        ] {
            assert_eq!(Span::of_original(other), None, "{other}");
        }
    }

    #[test]
    fn listing_is_sorted_into_hour_partitions_ignoring_unknown_keys() {
        let listed = vec![
            info(
                "lake/users/dt=2026-11-24/hour=12/users_created-0-1-5.parquet",
                10,
            ),
            info("lake/users/dt=2026-11-24/hour=12/compacted-00.parquet", 10),
            info(
                "lake/users/dt=2026-11-24/hour=12/users_created-0-1-5.csv",
                10,
            ),
            info(
                "lake/users/dt=2026-11-24/hour=13/users_created-1-6-9.parquet",
                10,
            ),
            info(
                "lake/users/dt=2026-11-24/hour=13/deeper/x-1-1-1.parquet",
                10,
            ),
            info("lake/users/dt=2026-11-24/users_created-1-6-9.parquet", 10),
            info("lake/users/dt=bad/hour=13/users_created-1-6-9.parquet", 10),
        ];
        let parts = partitions("lake/users/", listed);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].dir, "lake/users/dt=2026-11-24/hour=12/");
        assert_eq!(
            parts[0].start,
            Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
        );
        assert_eq!((parts[0].originals.len(), parts[0].merged.len()), (1, 1));
        assert_eq!((parts[1].originals.len(), parts[1].merged.len()), (1, 0));
    }

    #[test]
    fn a_partition_closes_when_its_hour_and_the_grace_period_are_over() {
        let part = HourPartition {
            dir: String::new(),
            start: Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap(),
            originals: vec![],
            merged: vec![],
        };
        let grace = Duration::minutes(30);
        let at = |h, m| Utc.with_ymd_and_hms(2026, 11, 24, h, m, 0).unwrap();
        assert!(!part.is_closed(at(13, 29), grace));
        assert!(part.is_closed(at(13, 30), grace));
    }

    #[test]
    fn originals_are_packed_in_span_order_up_to_the_target() {
        let original = |p, first, size| Original {
            object: info(&format!("d/t-{p}-{first}-{first}.parquet"), size),
            span: Span {
                topic: "t".into(),
                partition: p,
                first,
                last: first,
            },
        };
        let packed = groups(
            vec![
                original(1, 0, 40),
                original(0, 5, 40),
                original(0, 1, 40),
                original(2, 0, 500),
                original(2, 9, 10),
            ],
            100,
        );
        let spans: Vec<Vec<(i32, i64)>> = packed
            .iter()
            .map(|g| g.iter().map(|o| (o.span.partition, o.span.first)).collect())
            .collect();
        assert_eq!(
            spans,
            vec![
                vec![(0, 1), (0, 5)],
                vec![(1, 0)],
                vec![(2, 0)],
                vec![(2, 9)]
            ]
        );
    }

    #[test]
    fn merged_keys_depend_on_the_set_of_inputs_only() {
        let o = |name: &str| Original {
            object: info(&format!("d/{name}"), 1),
            span: Span::of_original(name).unwrap(),
        };
        let (a, b) = (o("t-0-1-2.parquet"), o("t-0-3-4.parquet"));
        let one = merged_key("d/", &[a.clone(), b.clone()]);
        assert_eq!(one, merged_key("d/", &[b.clone(), a.clone()]));
        assert_ne!(one, merged_key("d/", &[a]));
        assert!(
            one.starts_with("d/compacted-") && one.ends_with(".parquet"),
            "{one}"
        );
    }
}
