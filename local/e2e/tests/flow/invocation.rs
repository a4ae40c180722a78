//! Lambda's invocation rules, as the emulators apply them from the template: a batch that fails
//! past the trigger's retry limit goes whole to the on-failure destination and comes back with
//! `replay --failed-batch`; a scheduled producer event delivered twice produces twice.

use std::collections::BTreeSet;

use ::lake::LakeStore;
use e2e::{
    env_file::local_env,
    lake,
    stack::{emulator, json_lines, summary},
};
use serde_json::Value;

use crate::{Ctx, assert_lake_matches_topic, good_messages, produced};

/// A bucket of the local store that refuses every write while this lives: its directory is
/// moved aside and a plain file put in its place, so the store cannot create the objects'
/// directories there (it would recreate a missing bucket directory). Restored on drop, even
/// when the scenario fails.
struct BlockedBucket {
    dir: std::path::PathBuf,
    aside: std::path::PathBuf,
}

impl BlockedBucket {
    fn new(dir: std::path::PathBuf) -> Self {
        let aside = dir.with_extension("aside");
        std::fs::rename(&dir, &aside).unwrap();
        std::fs::write(&dir, b"this bucket refuses writes for a test\n").unwrap();
        BlockedBucket { dir, aside }
    }
}

impl Drop for BlockedBucket {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.dir);
        let _ = std::fs::rename(&self.aside, &self.dir);
    }
}

pub fn a_batch_failing_past_its_retries_goes_whole_to_the_failure_bucket_and_replay_brings_it_back(
    ctx: &Ctx,
) {
    // given nothing waiting, 120 new users, and a lake bucket that has gone away, so that
    // every write of the sink fails (the failure bucket is still there)
    ctx.drain();
    let env = local_env();
    let failed_bucket = env["FAILED_BATCH_BUCKET"].clone();
    let failures = ctx.rt.block_on(lake::bucket(&failed_bucket));
    let earlier: BTreeSet<String> = ctx
        .rt
        .block_on(lake::keys(&failures, ""))
        .into_iter()
        .collect();
    let before = good_messages(&ctx.topic_messages());
    let new_users = ctx.schedule(1, 120);
    let blocked = BlockedBucket::new(ctx.lake_root.join(&env["LAKE_BUCKET"]));

    // when the trigger gives each batch up after one retry
    let output = emulator(
        "msk-trigger",
        &[
            "--until-idle",
            "3s",
            "--max-retries",
            "1",
            "--batch-size",
            "50",
        ],
    );
    drop(blocked);
    assert!(
        output.status.success(),
        "msk-trigger failed: {}",
        output.status
    );
    let run = summary(&output);
    let lines = json_lines(&output.stdout);

    // then every batch is in the failure bucket, whole, and committed: the lake has a gap
    let sent: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "sent_to_destination")
        .collect();
    assert_eq!(
        run["sent_to_destination"].as_u64(),
        Some(sent.len() as u64),
        "{run}"
    );
    assert_eq!(run["dropped"], 0, "{run}");
    let in_records: u64 = sent.iter().map(|l| l["records"].as_u64().unwrap()).sum();
    assert_eq!(in_records, new_users, "{sent:?}");
    let keys: Vec<String> = ctx
        .rt
        .block_on(lake::keys(&failures, ""))
        .into_iter()
        .filter(|k| !earlier.contains(k))
        .collect();
    assert_eq!(keys.len(), sent.len(), "{keys:?}");
    let mut carried = 0;
    for key in &keys {
        let record: Value =
            serde_json::from_slice(&ctx.rt.block_on(lake::get(&failures, key))).unwrap();
        assert_eq!(
            record["requestContext"]["condition"], "RetryAttemptsExhausted",
            "{key}"
        );
        assert_eq!(
            record["requestContext"]["approximateInvokeCount"], 2,
            "{key}"
        );
        let event: Value = serde_json::from_str(record["payload"].as_str().unwrap()).unwrap();
        let records: usize = event["records"]
            .as_object()
            .unwrap()
            .values()
            .map(|r| r.as_array().unwrap().len())
            .sum();
        assert_eq!(
            records as u64,
            record["KafkaBatchInfo"]["batchSize"].as_u64().unwrap()
        );
        carried += records as u64;
    }
    assert_eq!(carried, new_users);
    let rows = ctx.rt.block_on(lake::rows(&ctx.s3));
    let in_lake: BTreeSet<(i32, i64)> = rows
        .iter()
        .map(|r| (r.row.partition, r.row.offset))
        .collect();
    let new: Vec<(i32, i64)> = good_messages(&ctx.topic_messages())
        .into_keys()
        .filter(|k| !before.contains_key(k))
        .collect();
    assert_eq!(new.len() as u64, new_users);
    assert!(
        new.iter().all(|k| !in_lake.contains(k)),
        "the given-up batches are not in the lake"
    );
    assert_eq!(
        ctx.trigger_until_idle()["records"],
        0,
        "nothing is left to deliver"
    );

    // when replay stores each failure record's batch
    let urls: Vec<String> = keys
        .iter()
        .map(|k| format!("s3://{failed_bucket}/{k}"))
        .collect();
    let mut args = Vec::new();
    for url in &urls {
        args.extend(["--failed-batch", url.as_str()]);
    }
    let output = emulator("replay", &args);
    assert!(
        output.status.success(),
        "replay failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let replayed = summary(&output);

    // then the gap is closed: every message of the topic is in the lake once
    assert_eq!(
        replayed["failed_batches"].as_u64(),
        Some(keys.len() as u64),
        "{replayed}"
    );
    assert_eq!(replayed["written"].as_u64(), Some(new_users), "{replayed}");
    assert_lake_matches_topic(ctx);
    for key in &keys {
        ctx.rt.block_on(failures.delete(key)).unwrap();
    }
}

pub fn a_scheduled_producer_event_delivered_twice_produces_twice_and_both_land(ctx: &Ctx) {
    // given nothing waiting
    ctx.drain();
    let before = good_messages(&ctx.topic_messages()).len();

    // when one scheduled event of 40 users is delivered twice
    let output = emulator(
        "schedule",
        &[
            "--times",
            "1",
            "--count",
            "40",
            "--deliver-twice",
            "--fail-fast",
        ],
    );
    assert!(
        output.status.success(),
        "schedule failed: {}",
        output.status
    );
    let lines = json_lines(&output.stdout);
    let invoked: Vec<&Value> = lines.iter().filter(|l| l["event"] == "invoked").collect();

    // then both deliveries (same event id) ran and produced their own 40 users: the documented
    // answer is "produce twice", and every record of both lands once
    assert_eq!(invoked.len(), 2, "{lines:?}");
    assert_eq!(invoked[0]["event_id"], invoked[1]["event_id"]);
    assert_eq!(invoked[1]["duplicate"], true);
    assert_eq!(produced(&output.stdout), 80);
    ctx.trigger_until_idle();
    let after = good_messages(&ctx.topic_messages());
    assert_eq!(after.len() - before, 80);
    let ids: BTreeSet<_> = after.values().map(|(record, _)| record.id).collect();
    assert_eq!(ids.len(), after.len(), "each delivery made new ids");
    assert_lake_matches_topic(ctx);
}
