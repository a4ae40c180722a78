//! Where a replay must cut its batches: at the start and end of every offset range the lake's
//! existing objects are named by, per topic-partition.

use std::collections::{BTreeSet, HashMap};

use lake::Layout;

/// Offset boundaries of the lake's existing objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Cuts {
    starts: HashMap<(String, i32), BTreeSet<i64>>,
    ends: HashMap<(String, i32), BTreeSet<i64>>,
}

impl Cuts {
    /// The boundaries of every original Parquet object of the lake among `keys`; other keys
    /// (merged objects, other formats) are ignored.
    pub fn from_keys<'a>(layout: &Layout, keys: impl IntoIterator<Item = &'a str>) -> Self {
        let mut cuts = Cuts::default();
        for key in keys {
            if let Some((_, span)) = layout.original_span(key) {
                let at = (span.topic, span.partition);
                cuts.starts
                    .entry(at.clone())
                    .or_default()
                    .insert(span.first);
                cuts.ends.entry(at).or_default().insert(span.last);
            }
        }
        cuts
    }

    /// Whether a batch holding `previous` must close before taking `next` (`previous < next`,
    /// both on `topic`-`partition`): an existing object starts after `previous` and no later
    /// than `next`, or one ends at or after `previous` and before `next`.
    pub fn separates(&self, topic: &str, partition: i32, previous: i64, next: i64) -> bool {
        let at = (topic.to_string(), partition);
        let starts = self
            .starts
            .get(&at)
            .is_some_and(|s| s.range(previous + 1..=next).next().is_some());
        let ends = self
            .ends
            .get(&at)
            .is_some_and(|e| e.range(previous..next).next().is_some());
        starts || ends
    }

    /// Number of objects whose ranges are known.
    pub fn len(&self) -> usize {
        self.starts.values().map(BTreeSet::len).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batches_are_cut_at_the_edges_of_existing_objects_only() {
        let cuts = Cuts::from_keys(
            &Layout::new(""),
            [
                "users/dt=2026-11-24/hour=12/users_created-0-10-19.parquet",
                "users/dt=2026-11-24/hour=13/users_created-0-20-24.parquet",
                "users/dt=2026-11-24/hour=13/compacted-0011223344556677.parquet",
                "users/dt=2026-11-24/hour=13/users_created-1-20-24.jsonl",
            ],
        );
        assert_eq!(cuts.len(), 2);
        assert!(
            !cuts.separates("users_created", 0, 10, 11),
            "inside an object"
        );
        assert!(
            cuts.separates("users_created", 0, 9, 10),
            "an object starts"
        );
        assert!(
            cuts.separates("users_created", 0, 19, 20),
            "one ends, one starts"
        );
        assert!(cuts.separates("users_created", 0, 24, 30), "an object ends");
        assert!(
            cuts.separates("users_created", 0, 5, 12),
            "a gap over a start"
        );
        assert!(
            !cuts.separates("users_created", 0, 25, 26),
            "past every object"
        );
        assert!(
            !cuts.separates("users_created", 1, 9, 10),
            "other partition"
        );
    }
}
