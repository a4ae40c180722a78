//! One compaction at a time, whatever calls the compactor: a lease taken with an S3 conditional
//! write before a run touches the lake, and given back when it ends.
//!
//! EventBridge Scheduler invokes the compactor asynchronously, so Lambda may deliver one event
//! twice, and a slow run could meet the next hour's; two runs merging the same hour would write
//! its rows into two merged objects. So a run first creates `{prefix}_compactor/lease.json` with
//! `If-None-Match: *` (the S3 User Guide, "Add preconditions to S3 operations with conditional
//! requests"): only one creator can succeed. The lease says until when it holds; it is set past
//! the invocation's deadline, after which Lambda has stopped the run that took it, so a lease left
//! by a crashed run can be taken over once it expires, with `If-Match` on its ETag so that only one
//! of several runs finding it expired takes it. A run that finds a live lease does nothing and
//! says so.

use chrono::{DateTime, Duration, Utc};
use lake::{Condition, LakeStore, Layout, StoreError};
use serde::{Deserialize, Serialize};

/// Time a lease outlives the deadline of the run that took it.
pub const MARGIN: Duration = Duration::minutes(1);

/// What the lease object holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    /// Who holds it: the invocation's request id.
    pub holder: String,
    pub acquired: DateTime<Utc>,
    /// After this, the holder has surely stopped.
    pub expires: DateTime<Utc>,
}

/// How taking the lease went.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Taken {
    /// This run holds it.
    Held(Lease),
    /// Another run holds it until it expires.
    Busy(Lease),
}

/// The lease's key: beside the lake's roots, never under `users/`.
pub fn key(layout: &Layout) -> String {
    format!("{}_compactor/lease.json", layout.prefix())
}

fn body(lease: &Lease) -> Vec<u8> {
    // A struct of strings and timestamps always serialises.
    serde_json::to_vec(lease).expect("a lease serialises")
}

/// Takes the lease for a run that may last until `deadline`, as of `now`.
pub async fn take<S: LakeStore>(
    store: &S,
    layout: &Layout,
    holder: &str,
    now: DateTime<Utc>,
    deadline: DateTime<Utc>,
) -> Result<Taken, StoreError> {
    let key = key(layout);
    let ours = Lease {
        holder: holder.to_string(),
        acquired: now,
        expires: deadline.max(now) + MARGIN,
    };
    if store
        .put_if(&key, body(&ours), "application/json", Condition::Absent)
        .await?
    {
        return Ok(Taken::Held(ours));
    }
    let Some(found) = store.get_tagged(&key).await? else {
        // Given back between the two calls: try once more from the start.
        let created = store
            .put_if(&key, body(&ours), "application/json", Condition::Absent)
            .await?;
        return Ok(if created {
            Taken::Held(ours)
        } else {
            Taken::Busy(unreadable(now))
        });
    };
    let Some(etag) = found.etag else {
        let theirs = serde_json::from_slice(&found.body).unwrap_or_else(|_| unreadable(now));
        return Ok(Taken::Busy(theirs));
    };
    let theirs: Lease = match serde_json::from_slice(&found.body) {
        Ok(lease) => lease,
        Err(error) => {
            // A lease this code cannot read (another version's, a crashed write, a hand edit)
            // may still belong to a live run, for at most the longest a run takes. It is
            // replaced, on its ETag, by a readable lease that says so: live until then, and
            // from then on expired like any other, so that the next run takes it over. Treating
            // it as live "from now" on every run would stop compaction for good.
            let marked = unreadable(now);
            let replaced = store
                .put_if(
                    &key,
                    body(&marked),
                    "application/json",
                    Condition::Matches(etag),
                )
                .await?;
            tracing::warn!(%error, replaced, expires = %marked.expires, "found a compaction lease it cannot read; it expires then");
            return Ok(Taken::Busy(marked));
        }
    };
    if theirs.expires > now {
        return Ok(Taken::Busy(theirs));
    }
    let replaced = store
        .put_if(
            &key,
            body(&ours),
            "application/json",
            Condition::Matches(etag),
        )
        .await?;
    Ok(if replaced {
        tracing::warn!(previous = %theirs.holder, expired = %theirs.expires, "took over an expired compaction lease");
        Taken::Held(ours)
    } else {
        Taken::Busy(theirs)
    })
}

/// The holder of a lease that could not be read.
pub const UNREADABLE_HOLDER: &str = "unreadable";

/// A lease nobody can read, as live as the longest run from when it was found.
fn unreadable(now: DateTime<Utc>) -> Lease {
    Lease {
        holder: UNREADABLE_HOLDER.into(),
        acquired: now,
        expires: now + Duration::minutes(15) + MARGIN,
    }
}

/// Gives the lease back, if it is still this run's (it is, unless the run outlived it).
pub async fn give_back<S: LakeStore>(
    store: &S,
    layout: &Layout,
    lease: &Lease,
) -> Result<(), StoreError> {
    let key = key(layout);
    let still_ours = match store.get_tagged(&key).await? {
        Some(found) => serde_json::from_slice::<Lease>(&found.body)
            .is_ok_and(|current| current.holder == lease.holder),
        None => false,
    };
    if still_ours {
        store.delete(&key).await?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use lake::testing::MemoryStore;

    use super::*;

    fn at(minute: i64) -> DateTime<Utc> {
        "2026-11-24T16:00:00Z".parse::<DateTime<Utc>>().unwrap() + Duration::minutes(minute)
    }

    #[tokio::test]
    async fn one_run_holds_the_lease_and_another_finds_it_busy() {
        let (store, layout) = (MemoryStore::default(), Layout::new("lake"));
        let first = take(&store, &layout, "a", at(0), at(15)).await.unwrap();
        let second = take(&store, &layout, "b", at(1), at(16)).await.unwrap();
        assert!(matches!(first, Taken::Held(ref l) if l.holder == "a" && l.expires == at(16)));
        assert!(matches!(second, Taken::Busy(ref l) if l.holder == "a"));
        assert_eq!(store.keys(), ["lake/_compactor/lease.json"]);
    }

    #[tokio::test]
    async fn a_lease_given_back_is_free_and_an_expired_one_is_taken_over() {
        let (store, layout) = (MemoryStore::default(), Layout::new(""));
        let Taken::Held(lease) = take(&store, &layout, "a", at(0), at(15)).await.unwrap() else {
            panic!("the first run holds the lease");
        };
        give_back(&store, &layout, &lease).await.unwrap();
        assert!(store.keys().is_empty());
        // a run that crashed holding it: after its expiry, the next run takes it
        take(&store, &layout, "crashed", at(0), at(15))
            .await
            .unwrap();
        let later = take(&store, &layout, "next", at(17), at(32)).await.unwrap();
        assert!(matches!(later, Taken::Held(ref l) if l.holder == "next"));
    }

    #[tokio::test]
    async fn an_unreadable_lease_holds_off_one_run_and_the_next_takes_it_over() {
        for garbage in [
            &b"not json"[..],
            br#"{"holder":"old-schema","until":"2026"}"#,
            b"",
        ] {
            let (store, layout) = (MemoryStore::default(), Layout::new(""));
            assert!(
                store
                    .put_if(
                        &key(&layout),
                        garbage.to_vec(),
                        "application/json",
                        Condition::Absent
                    )
                    .await
                    .unwrap()
            );
            // The run that finds it cannot tell whether a live run holds it: it waits.
            let first = take(&store, &layout, "a", at(0), at(15)).await.unwrap();
            assert!(
                matches!(first, Taken::Busy(ref l) if l.holder == UNREADABLE_HOLDER && l.expires == at(16)),
                "{first:?}"
            );
            // Another run in the same window still waits, and does not push the expiry out.
            let again = take(&store, &layout, "b", at(10), at(25)).await.unwrap();
            assert!(
                matches!(again, Taken::Busy(ref l) if l.expires == at(16)),
                "{again:?}"
            );
            // The next hourly run (and any run two hours later) takes it over.
            let next = take(&store, &layout, "c", at(60), at(75)).await.unwrap();
            assert!(
                matches!(next, Taken::Held(ref l) if l.holder == "c"),
                "{next:?}"
            );
            let current: Lease = serde_json::from_slice(&store.body(&key(&layout))).unwrap();
            assert_eq!(current.holder, "c");
        }
    }

    #[tokio::test]
    async fn giving_back_a_lease_another_run_took_over_leaves_it_alone() {
        let (store, layout) = (MemoryStore::default(), Layout::new(""));
        let Taken::Held(old) = take(&store, &layout, "slow", at(0), at(15)).await.unwrap() else {
            panic!("the first run holds the lease");
        };
        take(&store, &layout, "next", at(20), at(35)).await.unwrap();
        give_back(&store, &layout, &old).await.unwrap();
        let current: Lease = serde_json::from_slice(&store.body(&key(&layout))).unwrap();
        assert_eq!(current.holder, "next");
    }
}
