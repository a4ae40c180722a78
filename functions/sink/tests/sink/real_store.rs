//! The three output formats through the real S3 client into the local stack's S3-protocol
//! store (`local/s3-store`: s3s-fs, objects as plain files, signed requests), started in this
//! process: what lands on disk is byte for byte what the sink put, and each text format reads
//! back as the Parquet rows.

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use lake::S3Store;
use sink::handle_json;

use crate::common::*;

const BUCKET: &str = "data-lake";
const ALL: [(&str, &str); 1] = [("OUTPUT_FORMATS", "parquet,jsonl,csv")];

fn client(endpoint: &str) -> aws_sdk_s3::Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(Credentials::new(
            "lake-test",
            "lake-test-secret",
            None,
            None,
            "test",
        ))
        .force_path_style(true)
        .build();
    aws_sdk_s3::Client::from_conf(config)
}

#[tokio::test]
async fn all_three_formats_land_in_a_real_s3_store_as_put() {
    // given a real store with the lake bucket, and the same event put into memory for reference
    let root = std::env::temp_dir().join(format!("sink-s3-store-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    let credentials = s3_store::Credentials {
        access_key: "lake-test".into(),
        secret_key: "lake-test-secret".into(),
    };
    let store = s3_store::Running::start(&root, Some(credentials))
        .await
        .unwrap();
    let (real, _) = sink_with(S3Store::new(client(&store.endpoint()), BUCKET), &ALL);
    let (memory, _) = sink_with(MemoryStore::default(), &ALL);

    // when
    let summary = handle_json(&event("msk-users.json"), &real, now())
        .await
        .unwrap();
    handle_json(&event("msk-users.json"), &memory, now())
        .await
        .unwrap();

    // then every object is a file with exactly the bytes the sink put
    assert_eq!(summary.objects.len(), 9);
    let on_disk = |key: &str| std::fs::read(root.join(BUCKET).join(key)).unwrap();
    for key in memory.store.keys() {
        assert_eq!(on_disk(&key), memory.store.body(&key).as_ref(), "{key}");
    }
    // and each text format on disk reads back as the Parquet rows on disk
    for key in summary.objects.iter().filter(|k| k.ends_with(".parquet")) {
        let stem = &key["users/".len()..key.len() - ".parquet".len()];
        let parquet = lake_rows([read_parquet(on_disk(key))]);
        assert_eq!(
            read_jsonl(on_disk(&format!("users_jsonl/{stem}.jsonl"))),
            parquet
        );
        assert_eq!(read_csv(on_disk(&format!("users_csv/{stem}.csv"))), parquet);
    }
    std::fs::remove_dir_all(&root).unwrap();
}
