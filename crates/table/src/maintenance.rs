//! Keeping the table's history and its bucket bounded. A commit never rewrites or deletes a
//! file: it adds a snapshot, and a reader of any earlier snapshot still finds every file that
//! snapshot names. Left alone, the metadata gains a snapshot per commit and the bucket keeps
//! every file ever written (the small files a compaction replaced, the files of a writer that
//! died before its commit). Two steps bound them, in this order:
//!
//! - [`expire`] / [`Table::expire_snapshots`]: snapshots that stopped being current longer
//!   ago than a retention leave the metadata (the current one, those a reference names and the
//!   newest few always stay), with
//!   a compare-and-swap of the pointer like any commit. The offset marks are never lost: the
//!   current snapshot carries all of them and the table's properties too, and the new metadata
//!   is checked to read the same marks as before or it is not written.
//! - [`Table::remove_unreferenced`]: files under the table's `data/` and `metadata/` that the
//!   current state does not reach (its metadata file and metadata log, its snapshots' manifest
//!   lists, their manifests and the data files live in them) and that are older than a safety
//!   age are deleted. The age covers every commit still in flight: its files are written before
//!   its swap and are referenced by nothing until then. A commit that lands during the removal
//!   reaches only files the state read here reaches, or files younger than the age.
//!
//! Here rather than in the compactor so that every tool on the table (replay, status) can run
//! or report the same maintenance.

use std::collections::{BTreeSet, HashSet};

use chrono::{DateTime, Duration, Utc};
use futures::future::try_join_all;
use lake::LakeStore;
use serde_json::Value;

use crate::{
    catalog::Catalog,
    manifest::{self, ManifestFile, Status},
    marks::{MARKS_PROPERTY, Marks},
    spec::TableMetadata,
    table::{State, Table, TableError},
};

/// Default age after which a snapshot may be expired.
pub const DEFAULT_RETENTION_HOURS: i64 = 24;
/// Default number of newest snapshots kept whatever their age.
pub const DEFAULT_MIN_SNAPSHOTS: usize = 5;
/// Default age an unreferenced file must reach before it is deleted.
pub const DEFAULT_ORPHAN_MIN_AGE_HOURS: i64 = 24;

/// How many object reads or deletes run at once.
const CONCURRENCY: usize = 16;

/// Which snapshots stay.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    /// Snapshots committed less than this long ago stay.
    pub max_age: Duration,
    /// The newest this many snapshots stay, however old (at least 1: the current one).
    pub min_snapshots: usize,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            max_age: Duration::hours(DEFAULT_RETENTION_HOURS),
            min_snapshots: DEFAULT_MIN_SNAPSHOTS,
        }
    }
}

/// The metadata without the snapshots `retention` lets go as of `now`, and their ids.
#[derive(Debug, Clone, PartialEq)]
pub struct Expiry {
    pub metadata: TableMetadata,
    pub expired: Vec<i64>,
}

/// Drops from `metadata` the snapshots that stopped being current longer ago than the
/// retention (the commit after them is older than `max_age`: a query that started on one has
/// had that long to finish), except the current one, those a reference (`main`, a branch, a
/// tag) names and the newest `min_snapshots`, with their snapshot-log entries and any
/// statistics recorded for them. `Ok(None)` when nothing
/// expires. The marks the result reads are the marks `metadata` reads (written into the
/// properties where an expired snapshot was the only one carrying them); unreadable marks are
/// an error, and nothing expires.
pub fn expire(
    metadata: &TableMetadata,
    retention: &Retention,
    now: DateTime<Utc>,
) -> Result<Option<Expiry>, TableError> {
    let marks = Marks::of(metadata).map_err(|reason| TableError::Marks { reason })?;
    let cutoff = (now - retention.max_age).timestamp_millis();
    let mut keep: HashSet<i64> = metadata.refs.values().map(|r| r.snapshot_id).collect();
    keep.extend(metadata.current_snapshot_id);
    let mut newest: Vec<_> = metadata.snapshots.iter().collect();
    newest.sort_by_key(|s| std::cmp::Reverse((s.sequence_number, s.timestamp_ms)));
    keep.extend(
        newest
            .iter()
            .take(retention.min_snapshots.max(1))
            .map(|s| s.snapshot_id),
    );
    // A snapshot is read by the queries that started while it was current: it stays until
    // the commit after it is older than the retention, not merely until it is.
    for (older, newer) in newest.iter().skip(1).zip(&newest) {
        if newer.timestamp_ms >= cutoff {
            keep.insert(older.snapshot_id);
        }
    }
    keep.extend(
        (metadata.snapshots.iter())
            .filter(|s| s.timestamp_ms >= cutoff)
            .map(|s| s.snapshot_id),
    );
    let expired: Vec<i64> = (metadata.snapshots.iter())
        .map(|s| s.snapshot_id)
        .filter(|id| !keep.contains(id))
        .collect();
    if expired.is_empty() {
        return Ok(None);
    }
    let mut next = metadata.clone();
    next.snapshots.retain(|s| keep.contains(&s.snapshot_id));
    next.snapshot_log.retain(|e| keep.contains(&e.snapshot_id));
    for key in ["statistics", "partition-statistics"] {
        if let Some(Value::Array(entries)) = next.extra.get_mut(key) {
            entries.retain(|entry| {
                entry
                    .get("snapshot-id")
                    .and_then(Value::as_i64)
                    .is_none_or(|id| keep.contains(&id))
            });
        }
    }
    if Marks::of(&next).ok().as_ref() != Some(&marks) {
        next.properties
            .insert(MARKS_PROPERTY.into(), marks.to_json());
    }
    let kept = Marks::of(&next).map_err(|reason| TableError::Marks { reason })?;
    if kept != marks {
        return Err(TableError::Marks {
            reason: format!(
                "expiring {} snapshot(s) would change the marks from {} to {}",
                expired.len(),
                marks.to_json(),
                kept.to_json()
            ),
        });
    }
    Ok(Some(Expiry {
        metadata: next,
        expired,
    }))
}

/// What an expiry did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Expired {
    /// Ids of the snapshots that left the metadata.
    pub snapshots: Vec<i64>,
    /// Swaps lost to other writers before this one won.
    pub conflicts: u32,
}

/// Where a file of the table sits in its tree, in the order removal deletes them: a file is
/// deleted before the files it names, so that what is left never names a missing file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum FileKind {
    /// `metadata/<n>-<uuid>.metadata.json`
    Metadata,
    /// `metadata/snap-<id>-<attempt>-<uuid>.avro`
    ManifestList,
    /// `metadata/<uuid>-m<n>.avro`
    Manifest,
    /// `data/<partition>/<name>.parquet`
    Data,
}

/// The kind of the object `key` under the table's `prefix`; `None` for anything this writer
/// does not lay out there (statistics, hints, files of other tools), which is never deleted.
pub fn file_kind(prefix: &str, key: &str) -> Option<FileKind> {
    let rest = key.strip_prefix(prefix)?;
    if let Some(name) = rest.strip_prefix("metadata/") {
        if name.contains('/') {
            return None;
        }
        return if name.ends_with(".metadata.json") {
            Some(FileKind::Metadata)
        } else if name.starts_with("snap-") && name.ends_with(".avro") {
            Some(FileKind::ManifestList)
        } else if name.ends_with(".avro") {
            Some(FileKind::Manifest)
        } else {
            None
        };
    }
    (rest.starts_with("data/") && rest.ends_with(".parquet")).then_some(FileKind::Data)
}

/// The object keys a state of the table reaches.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct References {
    keys: HashSet<String>,
    /// Of them, data files.
    pub data_files: usize,
    /// Of them, manifests.
    pub manifests: usize,
}

impl References {
    pub fn contains(&self, key: &str) -> bool {
        self.keys.contains(key)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// Every string inside a JSON value (file locations another writer recorded, such as
/// statistics files).
fn strings(value: &Value, out: &mut Vec<String>) {
    match value {
        Value::String(text) => out.push(text.clone()),
        Value::Array(items) => items.iter().for_each(|v| strings(v, out)),
        Value::Object(fields) => fields.values().for_each(|v| strings(v, out)),
        _ => {}
    }
}

/// What a removal did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Removal {
    /// Keys deleted, in the order they were deleted.
    pub deleted: Vec<String>,
    /// Files nothing references that are younger than the safety age (or of unknown age):
    /// kept, perhaps a commit in flight.
    pub waiting: usize,
    /// Files the state references.
    pub referenced: usize,
}

/// The wait before attempt `n` after a lost swap: 20 ms doubling to 1 s, with jitter.
fn backoff(attempt: u32) -> std::time::Duration {
    let base = 20u64 << attempt.min(6);
    let jitter = u64::from(uuid::Uuid::new_v4().as_bytes()[0]) * base / 255;
    std::time::Duration::from_millis((base + jitter).min(1_000))
}

impl<S: LakeStore, C: Catalog> Table<S, C> {
    /// Expires the snapshots `retention` lets go as of `now` ([`expire`]), retrying against
    /// other writers' commits: each attempt starts from the state the catalog holds then.
    pub async fn expire_snapshots(
        &self,
        retention: &Retention,
        now: DateTime<Utc>,
    ) -> Result<Expired, TableError> {
        for attempt in 0..self.max_attempts {
            if attempt > 0 {
                tokio::time::sleep(backoff(attempt)).await;
            }
            let Some(state) = self.load().await? else {
                return Ok(Expired::default());
            };
            // Every earlier attempt lost its swap.
            let conflicts = attempt;
            let Some(expiry) = expire(&state.metadata, retention, now)? else {
                return Ok(Expired {
                    snapshots: Vec::new(),
                    conflicts,
                });
            };
            let mut next = expiry.metadata;
            next.last_updated_ms = now.timestamp_millis().max(state.metadata.last_updated_ms);
            next.log_previous(Some(&state.pointer.metadata_location));
            if self.swap_in(&state, next).await?.is_some() {
                return Ok(Expired {
                    snapshots: expiry.expired,
                    conflicts,
                });
            }
        }
        Err(TableError::Contended {
            attempts: self.max_attempts,
        })
    }

    /// The object keys `state` reaches: its metadata file, those of its metadata log, file
    /// locations recorded in its other fields, every snapshot's manifest list, their manifests
    /// and the data files live in them (an entry marking a file deleted does not keep it: a
    /// snapshot that still reads the file lists it live). A file that cannot be read is an
    /// error, never a gap.
    pub async fn references(&self, state: &State) -> Result<References, TableError> {
        let metadata = &state.metadata;
        let mut uris = vec![state.pointer.metadata_location.clone()];
        uris.extend(
            metadata
                .metadata_log
                .iter()
                .map(|e| e.metadata_file.clone()),
        );
        for value in metadata.extra.values() {
            strings(value, &mut uris);
        }
        let mut references = References::default();
        let add = |references: &mut References, uri: &str| {
            if let Some(key) = self.location.key_of(uri) {
                references.keys.insert(key);
            }
        };
        for uri in &uris {
            add(&mut references, uri);
        }
        for snapshot in &metadata.snapshots {
            add(&mut references, &snapshot.manifest_list);
        }
        let mut manifests = BTreeSet::new();
        let mut unique = Vec::new();
        for snapshots in metadata.snapshots.chunks(CONCURRENCY) {
            let lists = try_join_all(snapshots.iter().map(|s| self.manifests(s))).await?;
            for file in lists.into_iter().flatten() {
                if manifests.insert(file.manifest_path.clone()) {
                    unique.push(file);
                }
            }
        }
        references.manifests = unique.len();
        for file in &unique {
            add(&mut references, &file.manifest_path);
        }
        let mut data_files = HashSet::new();
        for files in unique.chunks(CONCURRENCY) {
            let entries = try_join_all(files.iter().map(|f| self.manifest_entries(f))).await?;
            for entry in entries.into_iter().flatten() {
                if entry.status != Status::Deleted {
                    data_files.insert(entry.data_file.file_path);
                }
            }
        }
        references.data_files = data_files.len();
        for uri in &data_files {
            add(&mut references, uri);
        }
        Ok(references)
    }

    /// The entries of one manifest.
    async fn manifest_entries(
        &self,
        file: &ManifestFile,
    ) -> Result<Vec<manifest::ManifestEntry>, TableError> {
        let key = self
            .location
            .key_of(&file.manifest_path)
            .ok_or_else(|| TableError::Foreign {
                uri: file.manifest_path.clone(),
                bucket: self.location.bucket.clone(),
            })?;
        let body = self.store.get(&key).await?;
        manifest::read_manifest(&body, file).map_err(|source| TableError::Manifest {
            location: file.manifest_path.clone(),
            source,
        })
    }

    /// Deletes the table's files that the current state does not reach and that are at least
    /// `min_age` old as of `now` (by the store's last-modified time; a file of unknown age
    /// stays). The listing comes first and the state after it, so that a commit landing in
    /// between is seen. Nothing is deleted when there is no table, or when any file the state
    /// names cannot be read. Deletes run top-down (metadata files, manifest lists, manifests,
    /// data files) and stop at the first failure; a later run finishes the rest.
    pub async fn remove_unreferenced(
        &self,
        min_age: Duration,
        now: DateTime<Utc>,
    ) -> Result<Removal, TableError> {
        let prefix = &self.location.prefix;
        let mut listed = self.store.list(&format!("{prefix}metadata/")).await?;
        listed.extend(self.store.list(&format!("{prefix}data/")).await?);
        let Some(state) = self.load().await? else {
            return Ok(Removal::default());
        };
        let references = self.references(&state).await?;
        let mut removal = Removal::default();
        let mut doomed = Vec::new();
        for object in listed {
            let Some(kind) = file_kind(prefix, &object.key) else {
                continue;
            };
            if references.contains(&object.key) {
                removal.referenced += 1;
            } else if object
                .modified
                .is_some_and(|modified| modified + min_age <= now)
            {
                doomed.push((kind, object.key));
            } else {
                removal.waiting += 1;
            }
        }
        doomed.sort();
        for kind in [
            FileKind::Metadata,
            FileKind::ManifestList,
            FileKind::Manifest,
            FileKind::Data,
        ] {
            let keys: Vec<&String> = (doomed.iter())
                .filter(|(k, _)| *k == kind)
                .map(|(_, key)| key)
                .collect();
            for chunk in keys.chunks(CONCURRENCY) {
                try_join_all(chunk.iter().map(|key| self.store.delete(key))).await?;
                removal
                    .deleted
                    .extend(chunk.iter().map(|key| (*key).clone()));
            }
        }
        Ok(removal)
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;
    use crate::spec::Snapshot;

    const HOUR_MS: i64 = 3_600_000;

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp_millis(1_000 * HOUR_MS).unwrap()
    }

    fn marks(offset: i64) -> Marks {
        let mut marks = Marks::default();
        marks.raise("users_created", 0, offset);
        marks
    }

    /// A snapshot committed `hours_ago`, carrying `marks` in its summary when given.
    fn snapshot(id: i64, hours_ago: i64, marks: Option<&Marks>) -> Snapshot {
        let mut summary = BTreeMap::from([("operation".to_string(), "append".to_string())]);
        if let Some(marks) = marks {
            summary.insert(MARKS_PROPERTY.into(), marks.to_json());
        }
        Snapshot {
            snapshot_id: id,
            parent_snapshot_id: (id > 1).then_some(id - 1),
            sequence_number: id,
            timestamp_ms: now().timestamp_millis() - hours_ago * HOUR_MS,
            manifest_list: format!("s3://b/t/metadata/snap-{id}-1-u.avro"),
            summary,
            schema_id: Some(0),
        }
    }

    /// Snapshots 1..=n, one an hour, the newest now, each with marks up to its id.
    fn table_of(n: i64) -> TableMetadata {
        let mut metadata = TableMetadata::new("s3://b/t", "u", 0);
        for id in 1..=n {
            let marks = marks(id * 10);
            metadata.add_snapshot(snapshot(id, n - id, Some(&marks)), None);
            metadata
                .properties
                .insert(MARKS_PROPERTY.into(), marks.to_json());
        }
        metadata
    }

    fn ids(metadata: &TableMetadata) -> Vec<i64> {
        metadata.snapshots.iter().map(|s| s.snapshot_id).collect()
    }

    #[test]
    fn snapshots_past_the_retention_go_and_the_newest_and_current_stay() {
        let metadata = table_of(40);
        let retention = Retention {
            max_age: Duration::hours(24),
            min_snapshots: 3,
        };

        let expiry = expire(&metadata, &retention, now()).unwrap().unwrap();

        // snapshot 16 was committed 24 hours ago, so 15 was current until then: they and the
        // newer ones stay
        assert_eq!(ids(&expiry.metadata), (15..=40).collect::<Vec<_>>());
        assert_eq!(expiry.expired, (1..=14).collect::<Vec<_>>());
        let log: Vec<i64> = (expiry.metadata.snapshot_log.iter())
            .map(|e| e.snapshot_id)
            .collect();
        assert_eq!(log, (15..=40).collect::<Vec<_>>());
        assert_eq!(expiry.metadata.current_snapshot_id, Some(40));
        assert_eq!(expiry.metadata.refs["main"].snapshot_id, 40);
        assert_eq!(
            Marks::of(&expiry.metadata).unwrap(),
            Marks::of(&metadata).unwrap()
        );
        // and nothing is left to expire
        assert_eq!(expire(&expiry.metadata, &retention, now()).unwrap(), None);
    }

    #[test]
    fn a_snapshot_replaced_a_moment_ago_stays_however_old_its_commit() {
        // an idle table: a commit two days ago, then a rewrite now
        let mut metadata = TableMetadata::new("s3://b/t", "u", 0);
        metadata.add_snapshot(snapshot(1, 72, Some(&marks(1))), None);
        metadata.add_snapshot(snapshot(2, 48, Some(&marks(2))), None);
        metadata.add_snapshot(snapshot(3, 0, Some(&marks(2))), None);
        let retention = Retention {
            max_age: Duration::hours(24),
            min_snapshots: 1,
        };

        let expiry = expire(&metadata, &retention, now()).unwrap().unwrap();

        // a query that started on snapshot 2 a moment ago still finds it
        assert_eq!(ids(&expiry.metadata), [2, 3]);
    }

    #[test]
    fn the_newest_few_and_every_referenced_snapshot_stay_however_old() {
        let mut metadata = table_of(10);
        let tagged = metadata.refs["main"].clone();
        metadata.refs.insert(
            "audit".into(),
            crate::spec::SnapshotRef {
                snapshot_id: 2,
                kind: "tag".into(),
                ..tagged
            },
        );
        let retention = Retention {
            max_age: Duration::zero(),
            min_snapshots: 3,
        };

        let expiry = expire(&metadata, &retention, now() + Duration::days(30))
            .unwrap()
            .unwrap();

        assert_eq!(ids(&expiry.metadata), [2, 8, 9, 10]);
        let no_minimum = Retention {
            min_snapshots: 0,
            ..retention
        };
        let expiry = expire(&metadata, &no_minimum, now() + Duration::days(30))
            .unwrap()
            .unwrap();
        assert_eq!(
            ids(&expiry.metadata),
            [2, 10],
            "the current one always stays"
        );
    }

    #[test]
    fn marks_only_an_expired_snapshot_carried_move_into_the_properties() {
        // Marks in an old snapshot of ours only; newer commits by another engine carry none,
        // and the properties predate the marks.
        let mut metadata = TableMetadata::new("s3://b/t", "u", 0);
        let ours = marks(41);
        metadata.add_snapshot(snapshot(1, 48, Some(&ours)), None);
        metadata.add_snapshot(snapshot(2, 30, None), None);
        metadata.add_snapshot(snapshot(3, 0, None), None);
        assert_eq!(Marks::of(&metadata).unwrap(), ours);
        let retention = Retention {
            max_age: Duration::hours(24),
            min_snapshots: 1,
        };

        let expiry = expire(&metadata, &retention, now()).unwrap().unwrap();

        assert_eq!(expiry.expired, [1]);
        assert_eq!(Marks::of(&expiry.metadata).unwrap(), ours);
        assert_eq!(
            expiry.metadata.properties[MARKS_PROPERTY],
            ours.to_json(),
            "written into the properties"
        );
    }

    #[test]
    fn unreadable_marks_stop_the_expiry() {
        let mut metadata = table_of(5);
        for snapshot in &mut metadata.snapshots {
            snapshot.summary.remove(MARKS_PROPERTY);
        }
        metadata
            .properties
            .insert(MARKS_PROPERTY.into(), "{not json".into());
        let retention = Retention {
            max_age: Duration::zero(),
            min_snapshots: 1,
        };
        assert!(matches!(
            expire(&metadata, &retention, now()),
            Err(TableError::Marks { .. })
        ));
    }

    #[test]
    fn statistics_of_expired_snapshots_leave_with_them() {
        let mut metadata = table_of(3);
        metadata.extra.insert(
            "statistics".into(),
            serde_json::json!([
                {"snapshot-id": 1, "statistics-path": "s3://b/t/metadata/1.stats"},
                {"snapshot-id": 3, "statistics-path": "s3://b/t/metadata/3.stats"}
            ]),
        );
        let retention = Retention {
            max_age: Duration::zero(),
            min_snapshots: 1,
        };
        let later = now() + Duration::minutes(1);
        let expiry = expire(&metadata, &retention, later).unwrap().unwrap();
        assert_eq!(
            expiry.metadata.extra["statistics"],
            serde_json::json!([{"snapshot-id": 3, "statistics-path": "s3://b/t/metadata/3.stats"}])
        );
    }

    #[test]
    fn only_files_this_writer_lays_out_are_candidates_for_removal() {
        let prefix = "lake/iceberg/users/";
        let kind = |rest: &str| file_kind(prefix, &format!("{prefix}{rest}"));
        assert_eq!(
            kind("metadata/00003-u.metadata.json"),
            Some(FileKind::Metadata)
        );
        assert_eq!(
            kind("metadata/snap-12-1-u.avro"),
            Some(FileKind::ManifestList)
        );
        assert_eq!(kind("metadata/u-m0.avro"), Some(FileKind::Manifest));
        assert_eq!(
            kind("data/kafka_timestamp_hour=2026-12-07-08/t-0-1-5-u.parquet"),
            Some(FileKind::Data)
        );
        for other in [
            "metadata/version-hint.text",
            "metadata/1.stats",
            "metadata/deeper/x.avro",
            "data/notes.txt",
            "elsewhere/x.parquet",
        ] {
            assert_eq!(kind(other), None, "{other}");
        }
        assert_eq!(file_kind(prefix, "lake/users/x.parquet"), None);
    }
}
