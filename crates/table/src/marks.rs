//! The Kafka offset marks: per topic-partition, the highest offset the table makes visible.
//! They are what makes the sink exactly-once: a record at or below its partition's mark is
//! already in the table (or was rejected), so it is never added again.
//!
//! Every commit of this project writes the whole map (not only the partitions it touched) into
//! its snapshot's summary and into the table's properties. The current snapshot therefore
//! always carries every mark, so expiring older snapshots loses none; a commit by another
//! engine (a table optimizer's compaction, say) copies the table's properties but not our
//! summary, so the marks are found again through the snapshot ancestry, and failing that in
//! the properties.

use std::collections::BTreeMap;

use crate::spec::TableMetadata;

/// The snapshot summary key and table property that hold the marks, as JSON
/// (`{"users_created":{"0":41,"1":17}}`).
pub const MARKS_PROPERTY: &str = "user-lake.kafka-offsets";

/// Per topic, per partition, the highest offset made visible.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Marks(BTreeMap<String, BTreeMap<i32, i64>>);

impl Marks {
    /// The mark of one topic-partition, if the table has seen it.
    pub fn get(&self, topic: &str, partition: i32) -> Option<i64> {
        self.0.get(topic)?.get(&partition).copied()
    }

    /// Raises a mark to `offset` (a mark never goes down).
    pub fn raise(&mut self, topic: &str, partition: i32, offset: i64) {
        let mark = self
            .0
            .entry(topic.to_string())
            .or_default()
            .entry(partition)
            .or_insert(offset);
        *mark = (*mark).max(offset);
    }

    /// Every (topic, partition, mark).
    pub fn iter(&self) -> impl Iterator<Item = (&str, i32, i64)> {
        self.0.iter().flat_map(|(topic, partitions)| {
            partitions
                .iter()
                .map(move |(&partition, &offset)| (topic.as_str(), partition, offset))
        })
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The JSON stored under [`MARKS_PROPERTY`].
    pub fn to_json(&self) -> String {
        serde_json::to_string(&self.0).expect("marks serialise")
    }

    pub fn from_json(text: &str) -> Result<Self, String> {
        serde_json::from_str(text).map(Marks).map_err(|e| {
            format!("{MARKS_PROPERTY} is not a map of topics to partitions to offsets: {e}")
        })
    }

    /// The table's marks: from the newest snapshot in the current ancestry that carries them,
    /// else from the table's properties, else none (a new table). A value that does not parse
    /// is an error, never an empty map: empty marks would let every record in again.
    pub fn of(metadata: &TableMetadata) -> Result<Self, String> {
        let found = metadata
            .ancestry()
            .find_map(|s| s.summary.get(MARKS_PROPERTY))
            .or_else(|| metadata.properties.get(MARKS_PROPERTY));
        match found {
            Some(text) => Self::from_json(text),
            None => Ok(Self::default()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spec::Snapshot;

    fn snapshot(id: i64, parent: Option<i64>, marks: Option<&Marks>) -> Snapshot {
        let mut summary = BTreeMap::from([("operation".to_string(), "append".to_string())]);
        if let Some(marks) = marks {
            summary.insert(MARKS_PROPERTY.into(), marks.to_json());
        }
        Snapshot {
            snapshot_id: id,
            parent_snapshot_id: parent,
            sequence_number: id,
            timestamp_ms: id,
            manifest_list: format!("s3://b/t/metadata/snap-{id}.avro"),
            summary,
            schema_id: Some(0),
        }
    }

    #[test]
    fn a_mark_only_goes_up() {
        let mut marks = Marks::default();
        marks.raise("t", 0, 10);
        marks.raise("t", 0, 4);
        marks.raise("t", 1, 2);
        assert_eq!(marks.get("t", 0), Some(10));
        assert_eq!(marks.get("t", 1), Some(2));
        assert_eq!(marks.get("t", 2), None);
        assert_eq!(Marks::from_json(&marks.to_json()).unwrap(), marks);
    }

    #[test]
    fn marks_are_found_through_the_ancestry_past_a_commit_that_lacks_them() {
        let mut marks = Marks::default();
        marks.raise("users_created", 0, 41);
        let mut metadata = TableMetadata::new("s3://b/t", "u", 0);
        metadata.add_snapshot(snapshot(1, None, Some(&marks)), None);
        // a compaction by another engine: no marks in its summary
        metadata.add_snapshot(snapshot(2, Some(1), None), None);
        assert_eq!(Marks::of(&metadata).unwrap(), marks);
    }

    #[test]
    fn marks_fall_back_to_the_table_properties_when_the_ancestry_has_none() {
        let mut marks = Marks::default();
        marks.raise("users_created", 2, 7);
        let mut metadata = TableMetadata::new("s3://b/t", "u", 0);
        metadata
            .properties
            .insert(MARKS_PROPERTY.into(), marks.to_json());
        metadata.add_snapshot(snapshot(5, Some(4), None), None);
        assert_eq!(Marks::of(&metadata).unwrap(), marks);
    }

    #[test]
    fn unreadable_marks_are_an_error_not_an_empty_map() {
        let mut metadata = TableMetadata::new("s3://b/t", "u", 0);
        metadata
            .properties
            .insert(MARKS_PROPERTY.into(), "{not json".into());
        assert!(Marks::of(&metadata).is_err());
        assert_eq!(
            Marks::of(&TableMetadata::new("s3://b/t", "u", 0)).unwrap(),
            Marks::default()
        );
    }
}
