//! What a process that looks again and again (`--watch`, `--serve`) keeps between looks, so
//! that a look at a month-old lake costs a listing, not a read of every object: each object's
//! footer and each error object's reasons, by key, size and modification time (an object
//! written again under its key differs in one of them), and the table's description by its
//! metadata file (a commit writes a new one). Entries of objects gone from a listing are
//! dropped with it.

use std::{
    collections::{BTreeMap, HashMap, HashSet},
    sync::Mutex,
};

use chrono::{DateTime, Utc};
use lake::{ObjectInfo, read::Footer};

use crate::iceberg::TableStatus;

/// An object as a listing shows it.
type ObjectId = (String, u64, Option<DateTime<Utc>>);

fn id(object: &ObjectInfo) -> ObjectId {
    (object.key.clone(), object.size, object.modified)
}

/// Values kept per object, dropped with the object from a listing.
#[derive(Debug)]
struct PerObject<V>(Mutex<HashMap<ObjectId, V>>);

impl<V> Default for PerObject<V> {
    fn default() -> Self {
        PerObject(Mutex::default())
    }
}

impl<V: Clone> PerObject<V> {
    fn get(&self, object: &ObjectInfo) -> Option<V> {
        self.0
            .lock()
            .expect("not poisoned")
            .get(&id(object))
            .cloned()
    }

    fn keep(&self, object: &ObjectInfo, value: V) {
        self.0
            .lock()
            .expect("not poisoned")
            .insert(id(object), value);
    }

    /// Forgets the objects not in `listed`.
    fn keep_only(&self, listed: &[ObjectInfo]) {
        let listed: HashSet<ObjectId> = listed.iter().map(id).collect();
        self.0
            .lock()
            .expect("not poisoned")
            .retain(|k, _| listed.contains(k));
    }

    fn len(&self) -> usize {
        self.0.lock().expect("not poisoned").len()
    }
}

/// What earlier looks read; empty for a single look.
#[derive(Debug, Default)]
pub struct LookCache {
    footers: PerObject<Footer>,
    reasons: PerObject<BTreeMap<String, usize>>,
    table: Mutex<Option<(String, String, TableStatus)>>,
}

impl LookCache {
    pub(crate) fn footer(&self, object: &ObjectInfo) -> Option<Footer> {
        self.footers.get(object)
    }

    pub(crate) fn keep_footer(&self, object: &ObjectInfo, footer: Footer) {
        self.footers.keep(object, footer);
    }

    pub(crate) fn reasons(&self, object: &ObjectInfo) -> Option<BTreeMap<String, usize>> {
        self.reasons.get(object)
    }

    pub(crate) fn keep_reasons(&self, object: &ObjectInfo, reasons: BTreeMap<String, usize>) {
        self.reasons.keep(object, reasons);
    }

    /// Forgets the footers of objects not in `listed` (the data objects of the last listing).
    pub(crate) fn keep_only_footers(&self, listed: &[ObjectInfo]) {
        self.footers.keep_only(listed);
    }

    /// Forgets the reasons of error objects not in `listed` (the last listing of `_errors/`).
    pub(crate) fn keep_only_reasons(&self, listed: &[ObjectInfo]) {
        self.reasons.keep_only(listed);
    }

    /// The table's description for `topic` as of the metadata file `metadata_location`, if the
    /// last look found the same.
    pub(crate) fn table(&self, metadata_location: &str, topic: &str) -> Option<TableStatus> {
        let kept = self.table.lock().expect("not poisoned");
        match kept.as_ref() {
            Some((location, of, status)) if location == metadata_location && of == topic => {
                Some(status.clone())
            }
            _ => None,
        }
    }

    pub(crate) fn keep_table(&self, metadata_location: &str, topic: &str, status: &TableStatus) {
        *self.table.lock().expect("not poisoned") = Some((
            metadata_location.to_string(),
            topic.to_string(),
            status.clone(),
        ));
    }

    /// Objects whose footer is kept (for tests and the curious).
    pub fn footers_kept(&self) -> usize {
        self.footers.len()
    }
}
