//! Records behind a schema registry: an independent Confluent client (confluent-kafka's Avro
//! serializer) and the producer with `VALUE_FORMAT=avro` write Avro through the local
//! registry, the MSK trigger validates them against it as a mapping with a
//! `SchemaRegistryConfig` does, and every user lands once, field for field, in both record
//! formats; a record naming a schema the registry lacks reaches the failure bucket with
//! `SCHEMA_NOT_FOUND` and nothing else.
//!
//! Each scenario writes to a topic of its own, so the Avro values stay out of the other
//! scenarios' topic (read as JSON there, they would be poison records).

use std::collections::{BTreeMap, BTreeSet};

use e2e::{
    env_file::local_env,
    lake,
    registry::{fresh_topic, produce_with_confluent_kafka, registry_url, trigger_through_registry},
    topic,
};
use serde_json::Value;
use user_record::UserRecord;

use crate::Ctx;

/// The lake's users of `topic`, by id, each with how often it landed.
fn landed(ctx: &Ctx, topic: &str) -> BTreeMap<String, Vec<UserRecord>> {
    let mut found: BTreeMap<String, Vec<UserRecord>> = BTreeMap::new();
    for row in ctx.rt.block_on(lake::rows(&ctx.s3)) {
        if row.row.topic == topic {
            let id = row.row.record.id.to_string();
            found.entry(id).or_default().push(row.row.record);
        }
    }
    found
}

/// Every user of `sent` is in the lake once, field for field, and nothing else is.
fn assert_landed_once(ctx: &Ctx, topic: &str, sent: &[(UserRecord, Value)]) {
    let found = landed(ctx, topic);
    let expected: BTreeMap<String, &UserRecord> =
        sent.iter().map(|(r, _)| (r.id.to_string(), r)).collect();
    assert_eq!(
        found.keys().collect::<BTreeSet<_>>(),
        expected.keys().collect::<BTreeSet<_>>(),
        "the lake holds exactly the users sent"
    );
    for (id, records) in &found {
        assert_eq!(records.len(), 1, "{id} landed once");
        assert_eq!(&records[0], expected[id], "fields of {id}");
    }
}

/// Keys of the failure bucket.
fn failure_keys(ctx: &Ctx) -> BTreeSet<String> {
    let failures = ctx
        .rt
        .block_on(lake::bucket(&local_env()["FAILED_BATCH_BUCKET"]));
    ctx.rt
        .block_on(lake::keys(&failures, ""))
        .into_iter()
        .collect()
}

pub fn avro_from_a_confluent_client_lands_once_as_json_and_an_unknown_schema_reaches_the_failure_bucket(
    ctx: &Ctx,
) {
    // given a topic of its own with 150 users written by confluent-kafka's Avro serializer
    // (schema registered as version 1), one more framed with schema id 9999, which the
    // registry does not have, and 50 written with a second version that adds an optional field
    let (topic, group) = fresh_topic(&ctx.brokers, "avro_json");
    let (mut sent, first) =
        produce_with_confluent_kafka(&ctx.brokers, &topic, 150, &["--unknown-schema-id", "9999"]);
    let (sent_v2, second) = produce_with_confluent_kafka(&ctx.brokers, &topic, 50, &["--v2"]);
    assert_ne!(first["schema_id"], second["schema_id"], "{first} {second}");
    sent.extend(sent_v2);
    let unknown = &first["unknown"];
    let failures_before = failure_keys(ctx);
    // and the sink told where the writer schemas are and that records come as JSON (as the
    // template does for a SchemaRegistryUri)
    let registry = registry_url();
    let _sink = ctx.stack.functions_with(&[
        ("SCHEMA_REGISTRY_URI", &registry),
        ("SCHEMA_RECORD_FORMAT", "JSON"),
    ]);

    // when the trigger validates them against the registry and hands them over as JSON
    let (run, lines) = trigger_through_registry(&topic, &group, "JSON");

    // then every user sent lands once, field for field, and the unknown one reaches the
    // failure bucket alone, with SCHEMA_NOT_FOUND, its bytes as they were on the topic
    assert_eq!(
        (run["records"].as_u64(), run["rejected"].as_u64()),
        (Some(200), Some(0)),
        "{run}"
    );
    assert_eq!(run["schema_failures"], 1, "{run}");
    assert_landed_once(ctx, &topic, &sent);
    let sent_lines: Vec<&Value> = lines
        .iter()
        .filter(|l| l["event"] == "sent_to_destination")
        .collect();
    assert_eq!(sent_lines.len(), 1, "{sent_lines:?}");
    assert_eq!(sent_lines[0]["condition"], "SCHEMA_NOT_FOUND");
    let new_keys: Vec<String> = failure_keys(ctx)
        .difference(&failures_before)
        .cloned()
        .collect();
    assert_eq!(new_keys, [sent_lines[0]["key"].as_str().unwrap()]);
    let failures = ctx
        .rt
        .block_on(lake::bucket(&local_env()["FAILED_BATCH_BUCKET"]));
    let document: Value =
        serde_json::from_slice(&ctx.rt.block_on(lake::get(&failures, &new_keys[0]))).unwrap();
    assert_eq!(document["requestContext"]["condition"], "SCHEMA_NOT_FOUND");
    let event: Value = serde_json::from_str(document["payload"].as_str().unwrap()).unwrap();
    let group_key = format!("{topic}-{}", unknown["partition"]);
    let record = &event["records"][&group_key][0];
    assert_eq!(record["offset"], unknown["offset"], "{event}");
    let value = base64_decode(record["value"].as_str().unwrap());
    assert_eq!(
        user_record::avro::confluent_unframe(&value).map(|(id, _)| id),
        Some(9999)
    );
}

pub fn avro_from_a_confluent_client_lands_once_as_its_own_bytes_read_with_the_writers_schema(
    ctx: &Ctx,
) {
    // given a topic of its own with 120 users written by confluent-kafka and 30 with the
    // schema's second version, and the sink told
    // where the writer schemas are (as the template does for SchemaRecordFormat SOURCE)
    let (topic, group) = fresh_topic(&ctx.brokers, "avro_source");
    let (mut sent, _) = produce_with_confluent_kafka(&ctx.brokers, &topic, 120, &[]);
    let (sent_v2, _) = produce_with_confluent_kafka(&ctx.brokers, &topic, 30, &["--v2"]);
    sent.extend(sent_v2);
    let registry = registry_url();
    let _sink = ctx
        .stack
        .functions_with(&[("SCHEMA_REGISTRY_URI", &registry)]);

    // when the trigger validates them and hands over each datum without the registry's prefix
    let (run, _) = trigger_through_registry(&topic, &group, "SOURCE");

    // then the sink reads each with its writer's schema, and every user lands once
    assert_eq!(
        (run["records"].as_u64(), run["rejected"].as_u64()),
        (Some(150), Some(0)),
        "{run}"
    );
    assert_landed_once(ctx, &topic, &sent);
}

pub fn the_producer_writes_avro_through_the_registry_and_it_lands_once(ctx: &Ctx) {
    // given a topic of its own and the producer writing Avro through the registry to it
    let (topic, group) = fresh_topic(&ctx.brokers, "avro_producer");
    let registry = registry_url();
    let _producer = ctx.stack.functions_with(&[
        ("VALUE_FORMAT", "avro"),
        ("VALUE_REGISTRY_URL", &registry),
        ("KAFKA_TOPIC", &topic),
    ]);

    // when it runs once for 100 users and the trigger delivers them as JSON
    let produced = ctx.schedule(1, 100);
    let (run, _) = trigger_through_registry(&topic, &group, "JSON");

    // then each value on the topic is the Confluent wire format of a user, and each of those
    // users is in the lake once, field for field
    assert_eq!(produced, 100);
    assert_eq!(run["records"], 100, "{run}");
    let messages = topic::read_all(&ctx.brokers, &topic);
    let sent: Vec<(UserRecord, Value)> = messages
        .iter()
        .map(|m| {
            let (_, datum) = user_record::avro::confluent_unframe(m.value.as_deref().unwrap())
                .expect("the Confluent wire format");
            let user = UserRecord::from_avro(user_record::avro::schema(), datum).unwrap();
            (user, Value::Null)
        })
        .collect();
    assert_eq!(sent.len(), 100);
    assert_landed_once(ctx, &topic, &sent);
}

fn base64_decode(text: &str) -> Vec<u8> {
    use base64::{Engine, engine::general_purpose::STANDARD};
    STANDARD.decode(text).unwrap()
}
