//! The plain-files half, the poison records, the cache of a process that looks again and again,
//! a cluster out of reach, and the invocations read from the functions log, each against the
//! in-memory store (and, for Kafka, a real client with no broker behind its address).

use std::time::Duration;

use kafka_client::KafkaClient;
use lake::{
    DataKey, DataName, Hour, Layout, OutputFormat, Span,
    testing::{MemoryStore, Operation, merged_parquet, parquet},
};
use lambda_kit::Retry;
use table::catalog::memory::MemoryCatalog;

use super::*;

const TOPIC: &str = "users_created";

fn hour(h: u32) -> Hour {
    Hour {
        date: chrono::NaiveDate::from_ymd_opt(2026, 11, 24).unwrap(),
        hour: h,
    }
}

fn span(topic: &str, first: i64, last: i64) -> Span {
    Span {
        topic: topic.into(),
        partition: 0,
        first,
        last,
    }
}

fn row(topic: &str, offset: i64) -> lake::LakeRow {
    let json = format!(
        r#"{{"id":"00000000-0000-4000-8000-{offset:012}","first_name":"A","last_name":"B","gender":"x","address":"a","post_code":"1","email":"e","username":"u","dob":"2000-01-01T00:00:00Z","registered_date":"2020-01-01T00:00:00Z","phone":"p","picture":"q"}}"#
    );
    lake::LakeRow {
        record: user_record::UserRecord::from_json_owned(json.as_bytes()).unwrap(),
        topic: topic.into(),
        partition: 0,
        offset,
        timestamp: hour(12).start(),
    }
}

fn rows(topic: &str, first: i64, last: i64) -> Vec<lake::LakeRow> {
    (first..=last).map(|o| row(topic, o)).collect()
}

fn merged_key(layout: &Layout, h: u32, digest: &str) -> String {
    layout.data_key(&DataKey {
        format: OutputFormat::Parquet,
        hour: hour(h),
        name: DataName::Merged(digest.into()),
    })
}

/// Hour 12: originals 0-2 and 3-4, a merged object that replaced both (the originals wait for
/// their deletion delay), and a late original 5-5; hour 13: one original 8-9. Plus a CSV copy
/// that is not counted.
fn lake_with_a_merge(store: &MemoryStore, layout: &Layout) -> String {
    let original = |h, first, last| {
        layout.original_key(OutputFormat::Parquet, hour(h), span(TOPIC, first, last))
    };
    store.insert(&original(12, 0, 2), parquet(&rows(TOPIC, 0, 2)));
    store.insert(&original(12, 3, 4), parquet(&rows(TOPIC, 3, 4)));
    let merged = merged_key(layout, 12, "0123456789abcdef");
    store.insert(
        &merged,
        merged_parquet(&rows(TOPIC, 0, 4), &[span(TOPIC, 0, 2), span(TOPIC, 3, 4)]),
    );
    store.insert(&original(12, 5, 5), parquet(&rows(TOPIC, 5, 5)));
    store.insert(&original(13, 8, 9), parquet(&rows(TOPIC, 8, 9)));
    store.insert(
        &layout.original_key(OutputFormat::Csv, hour(13), span(TOPIC, 8, 9)),
        b"id\r\n".to_vec(),
    );
    merged
}

#[tokio::test]
async fn rows_of_originals_a_merged_object_replaced_are_labelled_counted_twice() {
    // given hour 12 with two originals beside the merged object holding their rows, and a late
    // original; hour 13 with one original
    let (store, layout) = (MemoryStore::default(), Layout::new(""));
    let merged = lake_with_a_merge(&store, &layout);

    // when
    let status = lake_status(&store, &layout, TOPIC, &LookCache::default())
        .await
        .unwrap();

    // then every object's rows are counted, the replaced originals' rows are labelled as
    // counted twice, and the records are each row once
    let hours: Vec<(&str, usize, usize, u64, u64)> = status
        .hours
        .iter()
        .map(|h| {
            (
                h.hour.as_str(),
                h.originals,
                h.merged,
                h.rows,
                h.rows_counted_twice,
            )
        })
        .collect();
    assert_eq!(
        hours,
        [
            ("dt=2026-11-24/hour=12", 3, 1, 11, 5),
            ("dt=2026-11-24/hour=13", 1, 0, 2, 0)
        ]
    );
    assert_eq!(
        (
            status.objects,
            status.rows,
            status.rows_counted_twice,
            status.records
        ),
        (5, 13, 5, 8)
    );
    assert_eq!(status.last_compaction.as_ref().unwrap().key, merged);
    assert_eq!(status.topic_note, None);
    let people = table(&Status {
        at: Utc::now(),
        kafka: KafkaView::Reached(KafkaStatus {
            topic: TOPIC.into(),
            group: "g".into(),
            partitions: Vec::new(),
            lag: 0,
        }),
        lake: LakeView::Files(status),
        invocations: None,
    });
    assert!(
        people.contains("8 records (13 rows, of which 5 counted twice"),
        "{people}"
    );
}

#[tokio::test]
async fn the_topic_applies_to_the_lake_and_a_merged_object_of_several_topics_is_noted() {
    // given the topic's original, another topic's original and merged object, a merged object
    // holding both topics, and an error object of each topic
    let (store, layout) = (MemoryStore::default(), Layout::new(""));
    let other = "orders";
    store.insert(
        &layout.original_key(OutputFormat::Parquet, hour(12), span(TOPIC, 0, 1)),
        parquet(&rows(TOPIC, 0, 1)),
    );
    store.insert(
        &layout.original_key(OutputFormat::Parquet, hour(12), span(other, 0, 6)),
        parquet(&rows(other, 0, 6)),
    );
    store.insert(
        &merged_key(&layout, 13, "00000000000000aa"),
        merged_parquet(&rows(other, 10, 12), &[span(other, 10, 12)]),
    );
    store.insert(
        &merged_key(&layout, 14, "00000000000000bb"),
        merged_parquet(
            &[rows(TOPIC, 20, 20), rows(other, 20, 20)].concat(),
            &[span(TOPIC, 20, 20), span(other, 20, 20)],
        ),
    );
    store.insert(
        "_errors/dt=2026-11-24/users_created-0-3-4.jsonl",
        b"{\"reason\":\"not JSON\"}\n{\"reason\":\"missing field `id`\"}\n".to_vec(),
    );
    store.insert(
        "_errors/dt=2026-11-24/orders-0-3-4.jsonl",
        b"{\"reason\":\"not JSON\"}\n".to_vec(),
    );

    // when
    let status = lake_status(&store, &layout, TOPIC, &LookCache::default())
        .await
        .unwrap();

    // then only the topic's objects count, the mixed one whole and noted
    let hours: Vec<(&str, u64)> = status
        .hours
        .iter()
        .map(|h| (h.hour.as_str(), h.rows))
        .collect();
    assert_eq!(
        hours,
        [("dt=2026-11-24/hour=12", 2), ("dt=2026-11-24/hour=14", 2)]
    );
    assert_eq!((status.objects, status.records), (2, 4));
    let note = status.topic_note.unwrap();
    assert!(
        note.starts_with("1 merged object(s) also hold other topics"),
        "{note}"
    );
    // and only the topic's poison records, with their reasons
    assert_eq!(
        (status.errors.error_objects, status.errors.error_records),
        (1, 2)
    );
    let reasons: Vec<(&str, usize)> = status
        .errors
        .error_reasons
        .iter()
        .map(|(r, n)| (r.as_str(), *n))
        .collect();
    assert_eq!(reasons, [("missing field `id`", 1), ("not JSON", 1)]);
    assert_eq!(status.errors.recent_errors.len(), 1);
}

#[tokio::test]
async fn a_second_look_reads_no_footer_and_no_error_object_it_already_read() {
    // given a lake looked at once by a process
    let (store, layout) = (MemoryStore::default(), Layout::new(""));
    lake_with_a_merge(&store, &layout);
    store.insert(
        "_errors/dt=2026-11-24/users_created-0-3-4.jsonl",
        b"{\"reason\":\"not JSON\"}\n".to_vec(),
    );
    let cache = LookCache::default();
    let first = lake_status(&store, &layout, TOPIC, &cache).await.unwrap();
    assert_eq!(cache.footers_kept(), 5);

    // when every read of an object that was there is refused, and one new original lands
    store.refuse(Operation::Get, "dt=2026-11-24", "AccessDenied", 403);
    let late = layout.original_key(OutputFormat::Parquet, hour(15), span(TOPIC, 30, 31));
    store.insert(&late, parquet(&rows(TOPIC, 30, 31)));
    let second = lake_status(&store, &layout, TOPIC, &cache).await;

    // then the second look needed only the new object's footer, which is refused too: it
    // names that object alone
    let error = second.unwrap_err().to_string();
    assert!(error.contains("hour=15"), "{error}");

    // and without the new object, the second look reads nothing and finds the same
    store.delete(&late).await.unwrap();
    let again = lake_status(&store, &layout, TOPIC, &cache).await.unwrap();
    assert_eq!(again, first);
    assert_eq!(cache.footers_kept(), 5);

    // while a process without the cache cannot look at all
    assert!(
        lake_status(&store, &layout, TOPIC, &LookCache::default())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn an_unreadable_object_under_users_is_named() {
    let (store, layout) = (MemoryStore::default(), Layout::new(""));
    let key = layout.original_key(OutputFormat::Parquet, hour(12), span(TOPIC, 1, 2));
    store.insert(&key, b"not parquet".to_vec());
    let error = lake_status(&store, &layout, TOPIC, &LookCache::default())
        .await
        .unwrap_err();
    assert!(error.to_string().contains(&key), "{error}");
}

#[tokio::test]
async fn an_empty_lake_has_no_hours_and_no_compaction() {
    let status = lake_status(
        &MemoryStore::default(),
        &Layout::new("lake"),
        TOPIC,
        &LookCache::default(),
    )
    .await
    .unwrap();
    assert_eq!(
        (status.objects, status.rows, status.errors.error_records),
        (0, 0, 0)
    );
    assert!(status.hours.is_empty() && status.last_compaction.is_none());
}

#[tokio::test]
async fn a_cluster_out_of_reach_leaves_the_lake_alone_with_the_reason() {
    // given a lake, and a cluster address nothing listens on
    let (store, layout) = (MemoryStore::default(), Layout::new(""));
    lake_with_a_merge(&store, &layout);
    let looker: Looker<&MemoryStore, &MemoryCatalog> = Looker {
        kafka: KafkaClient::plaintext("127.0.0.1:9"),
        topic: TOPIC.into(),
        group: "user-lake-sink".into(),
        kafka_timeout: Duration::from_secs(2),
        lake: LakeSource::Files(&store, layout),
        functions_log: None,
        cache: LookCache::default(),
    };

    // when
    let look = looker.look().await.unwrap();

    // then the lake is there, Kafka is marked unreachable with a retryable reason, and the
    // command would exit with 75
    let error = look.kafka_error.expect("Kafka was not reached");
    assert_eq!(error.retry(), Retry::Retryable);
    assert_eq!(
        lambda_kit::command::exit_status(error.retry()),
        std::process::ExitCode::from(75)
    );
    let json = serde_json::to_value(&look.status).unwrap();
    assert_eq!(json["kafka"]["reachable"], false, "{json}");
    assert_eq!(
        json["kafka"]["errorType"], "KafkaFailed.Retryable",
        "{json}"
    );
    assert!(
        json["kafka"]["reason"]
            .as_str()
            .unwrap()
            .contains("127.0.0.1:9"),
        "{json}"
    );
    assert!(
        json["kafka"].get("lag").is_none(),
        "no lag to misread: {json}"
    );
    assert_eq!(json["lake"]["records"], 8, "{json}");
    let people = table(&look.status);
    assert!(
        people.contains("Kafka unreachable (KafkaFailed.Retryable)"),
        "{people}"
    );
}

#[test]
fn an_unknown_topic_is_fatal_and_a_cluster_out_of_reach_is_retryable() {
    let unknown = StatusError::UnknownTopic {
        brokers: "b:9092".into(),
        topic: "users_craeted".into(),
    };
    assert_eq!(unknown.error_type(), "UnknownTopic.Fatal");
    assert_eq!(unknown.to_string(), "b:9092 has no topic users_craeted");
    assert_eq!(
        lambda_kit::command::exit_status(unknown.retry()),
        std::process::ExitCode::FAILURE
    );
}

#[test]
fn invocations_are_read_from_the_summary_lines_of_the_functions_log() {
    // given a log with build output, a producer run, a failed sink batch and a good one
    let log = r#"   Compiling sink v0.1.0
INFO invoking function sink
{"FunctionName":"producer","Errors":0,"Duration":19.5,"RecordsProduced":50,"UsersFetched":50,"_aws":{},"level":"INFO","message":"producer run finished","timestamp":"2026-12-07T15:53:36.123Z"}
{"FunctionName":"sink","Errors":1,"Duration":3.0,"RecordsIn":10,"RecordsWritten":0,"_aws":{},"level":"ERROR","message":"sink batch failed","errorType":"StoreFailed.Retryable","error":"cannot put","timestamp":"2026-12-07T15:53:37.000Z"}
{"FunctionName":"sink","Errors":0,"Duration":68.2,"RecordsIn":10,"RecordsWritten":10,"_aws":{},"level":"INFO","message":"sink batch stored","timestamp":"2026-12-07T15:53:38.000Z"}
{"level":"INFO","message":"not a summary","FunctionName":"sink"}
"#;

    // when
    let functions = invocations::summaries(log);

    // then each function's invocations, newest first, with their outcome
    let names: Vec<(&str, usize, usize)> = functions
        .iter()
        .map(|f| (f.function.as_str(), f.invocations, f.failed))
        .collect();
    assert_eq!(names, [("producer", 1, 0), ("sink", 2, 1)]);
    let sink = &functions[1].last;
    assert!(sink[0].ok && !sink[1].ok);
    assert_eq!(sink[1].error_type.as_deref(), Some("StoreFailed.Retryable"));
    assert_eq!(sink[0].counts["RecordsWritten"], 10.0);
    assert_eq!(
        functions[0].last[0].at,
        "2026-12-07T15:53:36.123Z".parse().ok()
    );
}

#[test]
fn a_functions_log_not_there_is_said_so() {
    let status = invocations::invocations(std::path::Path::new("/nonexistent/functions.log"));
    assert!(status.functions.is_empty());
    assert!(status.unreadable.is_some());
}
