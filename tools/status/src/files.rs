//! The plain-files layout (`LAKE_FORMAT=files`) described by listing `users/` and reading each
//! Parquet object's footer once per process ([`LookCache`]): objects and rows per hour, the
//! rows held twice while an original waits beside the merged object that replaced it, the
//! last merged object.
//!
//! `--topic` applies: an original's name carries its topic, and a merged object's footer lists
//! the originals (so the topics) it replaced. A merged object holding several topics is
//! counted whole, and `topic_note` says so.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use lake::{DataName, LakeStore, Layout, ObjectInfo, OutputFormat, Span};
use serde::Serialize;

use crate::{
    StatusError,
    cache::LookCache,
    errors::{ErrorsStatus, errors_status},
};

/// One hour partition of the lake.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HourStatus {
    /// `dt=YYYY-MM-DD/hour=HH`.
    pub hour: String,
    /// The sink's objects not yet merged.
    pub originals: usize,
    /// The compactor's merged objects.
    pub merged: usize,
    /// Rows in all of them: a row in an original and in the merged object that replaced it
    /// counts twice here.
    pub rows: u64,
    /// Rows of originals that a merged object of the hour already holds (the compactor
    /// deletes such originals `COMPACTION_DELETE_DELAY_MINUTES` after the merge).
    pub rows_counted_twice: u64,
}

/// The last merged object written.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Compaction {
    pub key: String,
    pub at: Option<DateTime<Utc>>,
}

/// What the lake holds of the topic.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LakeStatus {
    /// The topic the counts are of.
    pub topic: String,
    pub hours: Vec<HourStatus>,
    pub objects: usize,
    /// Rows in every object (see `rows_counted_twice`).
    pub rows: u64,
    /// Rows counted twice in `rows`: in an original and in the merged object replacing it.
    pub rows_counted_twice: u64,
    /// Records the lake holds: `rows - rows_counted_twice`.
    pub records: u64,
    /// Set when the counts could not be kept to the topic alone, and why.
    pub topic_note: Option<String>,
    #[serde(flatten)]
    pub errors: ErrorsStatus,
    pub last_compaction: Option<Compaction>,
}

/// One data object of the topic and what its footer says.
struct Counted {
    object: ObjectInfo,
    hour: String,
    /// The original's span, or the spans a merged object replaced.
    original: Option<Span>,
    replaced: Vec<Span>,
    rows: u64,
}

/// What the lake holds of `topic` per hour (row counts from the Parquet footers), its poison
/// records and its last merged object.
pub async fn lake_status<S: LakeStore>(
    store: &S,
    layout: &Layout,
    topic: &str,
    cache: &LookCache,
) -> Result<LakeStatus, StatusError> {
    let listed = store.list(&layout.root(OutputFormat::Parquet)).await?;
    cache.keep_only_footers(&listed);
    let mut counted = Vec::new();
    let mut mixed = 0;
    for object in listed {
        let Some((hour, name)) = layout.parquet_data(&object.key) else {
            continue;
        };
        if let DataName::Original(span) = &name
            && span.topic != topic
        {
            continue;
        }
        let footer = match cache.footer(&object) {
            Some(footer) => footer,
            None => {
                let footer = lake::read::footer(store, &object).await?;
                cache.keep_footer(&object, footer.clone());
                footer
            }
        };
        let (original, replaced) = match name {
            DataName::Original(span) => (Some(span), Vec::new()),
            DataName::Merged(_) => {
                let replaced = footer.compacted_from.unwrap_or_default();
                let of_topic = replaced.iter().filter(|s| s.topic == topic).count();
                if of_topic == 0 && !replaced.is_empty() {
                    continue;
                }
                if of_topic < replaced.len() || replaced.is_empty() {
                    mixed += 1;
                }
                (None, replaced)
            }
        };
        counted.push(Counted {
            object,
            hour: hour.to_string(),
            original,
            replaced,
            rows: footer.rows,
        });
    }
    let mut replaced_in: BTreeMap<&str, Vec<&Span>> = BTreeMap::new();
    for c in &counted {
        replaced_in.entry(&c.hour).or_default().extend(&c.replaced);
    }
    let mut hours: BTreeMap<String, HourStatus> = BTreeMap::new();
    let mut last_compaction: Option<Compaction> = None;
    for c in &counted {
        let entry = hours.entry(c.hour.clone()).or_insert_with(|| HourStatus {
            hour: c.hour.clone(),
            originals: 0,
            merged: 0,
            rows: 0,
            rows_counted_twice: 0,
        });
        entry.rows += c.rows;
        match &c.original {
            Some(span) => {
                entry.originals += 1;
                let replaced = replaced_in
                    .get(c.hour.as_str())
                    .is_some_and(|spans| spans.iter().any(|r| r.contains(span)));
                if replaced {
                    entry.rows_counted_twice += c.rows;
                }
            }
            None => {
                entry.merged += 1;
                let newer = last_compaction
                    .as_ref()
                    .is_none_or(|last| c.object.modified > last.at);
                if newer {
                    last_compaction = Some(Compaction {
                        key: c.object.key.clone(),
                        at: c.object.modified,
                    });
                }
            }
        }
    }
    let hours: Vec<HourStatus> = hours.into_values().collect();
    let rows = hours.iter().map(|h| h.rows).sum();
    let rows_counted_twice = hours.iter().map(|h| h.rows_counted_twice).sum();
    Ok(LakeStatus {
        topic: topic.to_string(),
        objects: counted.len(),
        rows,
        rows_counted_twice,
        records: rows - rows_counted_twice,
        topic_note: (mixed > 0).then(|| {
            format!(
                "{mixed} merged object(s) also hold other topics' rows or do not list theirs; they are counted whole"
            )
        }),
        errors: errors_status(store, layout, topic, cache).await?,
        hours,
        last_compaction,
    })
}
