//! What to compact, decided from object names alone (read by the lake's own key parser): which
//! hour partitions are closed, which objects are the sink's originals (named by the offsets
//! they hold) and which are merged objects written by an earlier run, and how originals are
//! packed into merged objects of at most the target size.

use std::collections::BTreeMap;

use chrono::{DateTime, Duration, Utc};
use lake::{DataKey, DataName, Hour, Layout, ObjectInfo, OutputFormat, Span};
use sha2::{Digest, Sha256};

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
    /// The hour.
    pub hour: Hour,
    /// The sink's objects, by span.
    pub originals: Vec<Original>,
    /// Objects of earlier compactions.
    pub merged: Vec<ObjectInfo>,
}

impl HourPartition {
    /// Closed once its hour and the grace period after it are over: no batch is expected to
    /// land in it any more (one that does anyway is merged by a later run).
    pub fn is_closed(&self, now: DateTime<Utc>, grace: Duration) -> bool {
        self.hour.start() + Duration::hours(1) + grace <= now
    }
}

/// Sorts a listing of `{prefix}users/` into hour partitions. Keys the lake's writers do not
/// produce (other formats, folders, stray files) are left out: the compactor never touches what
/// it does not recognise.
pub fn partitions(layout: &Layout, objects: Vec<ObjectInfo>) -> Vec<HourPartition> {
    let mut by_hour: BTreeMap<Hour, HourPartition> = BTreeMap::new();
    for object in objects {
        let Some((hour, name)) = layout.parquet_data(&object.key) else {
            continue;
        };
        let entry = by_hour.entry(hour).or_insert_with(|| HourPartition {
            dir: layout.hour_dir(OutputFormat::Parquet, hour),
            hour,
            originals: Vec::new(),
            merged: Vec::new(),
        });
        match name {
            DataName::Merged(_) => entry.merged.push(object),
            DataName::Original(span) => entry.originals.push(Original { object, span }),
        }
    }
    by_hour.into_values().collect()
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
pub fn merged_key(layout: &Layout, hour: Hour, group: &[Original]) -> String {
    let mut names: Vec<&str> = group
        .iter()
        .map(|o| o.object.key.rsplit('/').next().unwrap_or(&o.object.key))
        .collect();
    names.sort_unstable();
    let digest = Sha256::digest(names.join("\n").as_bytes());
    let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
    layout.data_key(&DataKey {
        format: OutputFormat::Parquet,
        hour,
        name: DataName::Merged(hex),
    })
}

#[cfg(test)]
mod tests {
    use chrono::{NaiveDate, TimeZone};
    use lake::LakeKey;

    use super::*;

    fn info(key: &str, size: u64) -> ObjectInfo {
        ObjectInfo {
            key: key.into(),
            size,
            modified: None,
        }
    }

    #[test]
    fn listing_is_sorted_into_hour_partitions_ignoring_unknown_keys() {
        let listed = vec![
            info(
                "lake/users/dt=2026-11-24/hour=12/users_created-0-1-5.parquet",
                10,
            ),
            info(
                "lake/users/dt=2026-11-24/hour=12/compacted-00ff.parquet",
                10,
            ),
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
        let parts = partitions(&Layout::new("lake"), listed);
        assert_eq!(parts.len(), 2);
        assert_eq!(parts[0].dir, "lake/users/dt=2026-11-24/hour=12/");
        assert_eq!(
            parts[0].hour.start(),
            Utc.with_ymd_and_hms(2026, 11, 24, 12, 0, 0).unwrap()
        );
        assert_eq!((parts[0].originals.len(), parts[0].merged.len()), (1, 1));
        assert_eq!((parts[1].originals.len(), parts[1].merged.len()), (1, 0));
    }

    #[test]
    fn a_partition_closes_when_its_hour_and_the_grace_period_are_over() {
        let part = HourPartition {
            dir: String::new(),
            hour: Hour {
                date: NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
                hour: 12,
            },
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
        let layout = Layout::new("");
        let o = |name: &str| {
            let key = format!("users/dt=2026-11-24/hour=12/{name}");
            let (hour, span) = layout.original_span(&key).unwrap();
            (
                hour,
                Original {
                    object: info(&key, 1),
                    span,
                },
            )
        };
        let ((hour, a), (_, b)) = (o("t-0-1-2.parquet"), o("t-0-3-4.parquet"));
        let one = merged_key(&layout, hour, &[a.clone(), b.clone()]);
        assert_eq!(one, merged_key(&layout, hour, &[b.clone(), a.clone()]));
        assert_ne!(one, merged_key(&layout, hour, &[a]));
        assert!(
            one.starts_with("users/dt=2026-11-24/hour=12/compacted-"),
            "{one}"
        );
        assert!(matches!(
            layout.parse(&one),
            Some(LakeKey::Data(DataKey {
                name: DataName::Merged(_),
                ..
            }))
        ));
    }
}
