//! The store through the real S3 client, signed, on a temporary directory: objects round-trip
//! as plain files, and every request a dataset reader makes on a prefix gets S3's answer.

use aws_sdk_s3::{
    Client,
    config::{BehaviorVersion, Credentials as AwsCredentials, Region},
    primitives::ByteStream,
};
use s3_store::{Credentials, Running};

const BUCKET: &str = "data-lake";

fn credentials() -> Credentials {
    Credentials {
        access_key: "user-lake-local".into(),
        secret_key: "user-lake-local-secret".into(),
    }
}

fn client(endpoint: &str, secret: &str) -> Client {
    let config = aws_sdk_s3::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .region(Region::new("us-east-1"))
        .endpoint_url(endpoint)
        .credentials_provider(AwsCredentials::new(
            "user-lake-local",
            secret,
            None,
            None,
            "test",
        ))
        .force_path_style(true)
        .build();
    Client::from_conf(config)
}

/// A store with one object at `users/dt=2026-11-24/hour=12/a.parquet`.
async fn store_with_one_object(dir: &std::path::Path) -> (Running, Client) {
    std::fs::create_dir_all(dir.join(BUCKET)).unwrap();
    let running = Running::start(dir, Some(credentials())).await.unwrap();
    let s3 = client(&running.endpoint(), "user-lake-local-secret");
    s3.put_object()
        .bucket(BUCKET)
        .key("users/dt=2026-11-24/hour=12/a.parquet")
        .body(ByteStream::from(b"0123456789".to_vec()))
        .send()
        .await
        .unwrap();
    (running, s3)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("s3-store-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

#[tokio::test]
async fn a_prefix_is_not_an_object_for_head_or_get() {
    // given an object below users/
    let dir = temp_dir("prefix");
    let (_store, s3) = store_with_one_object(&dir).await;

    for key in [
        "users",
        "users/",
        "users/dt=2026-11-24",
        "users/dt=2026-11-24/hour=12/",
    ] {
        // when a reader asks for the prefix as if it were an object
        let head = s3.head_object().bucket(BUCKET).key(key).send().await;
        let get = s3.get_object().bucket(BUCKET).key(key).send().await;

        // then S3's answer: 404, no such key
        let head = head.unwrap_err();
        let status = head.raw_response().map(|r| r.status().as_u16());
        assert_eq!(status, Some(404), "HeadObject {key}: {head:?}");
        let get = get.unwrap_err();
        assert_eq!(
            get.as_service_error().map(|e| e.is_no_such_key()),
            Some(true),
            "GetObject {key}: {get:?}"
        );
    }
}

#[tokio::test]
async fn objects_ranges_and_delimited_listings_are_served_as_s3_serves_them() {
    let dir = temp_dir("objects");
    let (_store, s3) = store_with_one_object(&dir).await;
    let key = "users/dt=2026-11-24/hour=12/a.parquet";

    // the object is a plain file
    assert_eq!(
        std::fs::read(dir.join(BUCKET).join(key)).unwrap(),
        b"0123456789"
    );
    // a ranged GET returns the range, as Parquet readers ask for footers
    let ranged = s3
        .get_object()
        .bucket(BUCKET)
        .key(key)
        .range("bytes=6-9")
        .send()
        .await
        .unwrap();
    assert_eq!(ranged.content_range(), Some("bytes 6-9/10"));
    assert_eq!(
        ranged.body.collect().await.unwrap().into_bytes().as_ref(),
        b"6789"
    );
    // a delimited listing of the root shows the prefix, not the object
    let listed = s3
        .list_objects_v2()
        .bucket(BUCKET)
        .prefix("users/")
        .delimiter("/")
        .send()
        .await
        .unwrap();
    let prefixes: Vec<&str> = listed
        .common_prefixes()
        .iter()
        .filter_map(|p| p.prefix())
        .collect();
    assert_eq!(prefixes, ["users/dt=2026-11-24/"]);
    assert!(listed.contents().is_empty());
}

#[tokio::test]
async fn a_request_signed_with_another_secret_is_refused() {
    let dir = temp_dir("signed");
    let (store, _) = store_with_one_object(&dir).await;
    let stranger = client(&store.endpoint(), "not-the-secret");
    let refused = stranger
        .list_objects_v2()
        .bucket(BUCKET)
        .send()
        .await
        .unwrap_err();
    assert_eq!(
        refused.raw_response().map(|r| r.status().as_u16()),
        Some(403)
    );
}

#[tokio::test]
async fn a_key_longer_than_the_store_can_keep_is_refused_as_too_long_and_one_just_shorter_is_kept()
{
    // given the store, and the longest key it keeps in the bucket (its attributes file name,
    // with the bucket and the key in base64, must fit in 255 bytes)
    let dir = temp_dir("long-keys");
    let (store, s3) = store_with_one_object(&dir).await;
    let fixed = ".bucket-".len() + "data-lake".len().div_ceil(3) * 4 + ".object-".len();
    let longest = (255 - fixed - ".internal.json".len()) * 3 / 4;
    let key = |len: usize| format!("aws/{}", "k".repeat(len - 4));

    // when a key of that length and one a byte longer are put
    let kept = s3
        .put_object()
        .bucket(BUCKET)
        .key(key(longest))
        .body(ByteStream::from(b"{}".to_vec()))
        .send()
        .await;
    let refused = s3
        .put_object()
        .bucket(BUCKET)
        .key(key(longest + 1))
        .body(ByteStream::from(b"{}".to_vec()))
        .send()
        .await
        .unwrap_err();

    // then the first is kept and the second refused with S3's answer for a long key
    assert!(kept.is_ok(), "{kept:?}");
    assert_eq!(
        refused.raw_response().map(|r| r.status().as_u16()),
        Some(400)
    );
    assert_eq!(
        refused.as_service_error().and_then(|e| e.meta().code()),
        Some("KeyTooLongError")
    );
    drop(store);
}
