//! The three output formats through the real S3 client into a real S3-protocol store (s3s-fs,
//! the local stack's store, objects as plain files): what lands on disk is byte for byte what
//! the sink put, and each text format reads back as the Parquet rows.
//!
//! s3s-fs comes from the pinned tools (`make tools`); without it the test says so and passes.

mod common;

use std::{
    net::TcpStream,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::{Duration, Instant},
};

use aws_sdk_s3::config::{BehaviorVersion, Credentials, Region};
use common::*;
use sink::{S3Store, handle_json};

const BUCKET: &str = "data-lake";
const ALL: [(&str, &str); 1] = [("OUTPUT_FORMATS", "parquet,jsonl,csv")];

fn s3s_fs_binary() -> Option<PathBuf> {
    if let Some(path) = std::env::var_os("S3S_FS_BIN") {
        return Some(PathBuf::from(path));
    }
    let tools = std::env::var_os("USER_LAKE_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/user-lake")));
    let cached = tools
        .map(|dir| dir.join("s3s-fs-0.14.1/bin/s3s-fs"))
        .filter(|p| p.is_file());
    cached.or_else(|| {
        std::env::var_os("PATH").and_then(|paths| {
            std::env::split_paths(&paths)
                .map(|dir| dir.join("s3s-fs"))
                .find(|p| p.is_file())
        })
    })
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process that is killed when dropped, so a failing test leaves no store behind.
struct Running(Child);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// s3s-fs serving `root` on a free port, killed when the handle drops; and its endpoint.
async fn start_store(binary: &Path, root: &Path) -> (Running, String) {
    let port = free_port();
    let child = Command::new(binary)
        .args(["--host", "127.0.0.1", "--port", &port.to_string()])
        .args([
            "--access-key",
            "lake-test",
            "--secret-key",
            "lake-test-secret",
        ])
        .arg(root)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map(Running)
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "s3s-fs did not listen on {port}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    (child, format!("http://127.0.0.1:{port}"))
}

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
    let Some(binary) = s3s_fs_binary() else {
        eprintln!("s3s-fs is not installed (make tools); skipping the real-store check");
        return;
    };
    // given a real store with the lake bucket, and the same event put into memory for reference
    let root = std::env::temp_dir().join(format!("sink-s3s-{}", std::process::id()));
    std::fs::create_dir_all(root.join(BUCKET)).unwrap();
    let (_store, endpoint) = start_store(&binary, &root).await;
    let (real, _) = sink_with(S3Store::new(client(&endpoint), BUCKET.into()), &ALL);
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
        assert_eq!(on_disk(&key), memory.store.body(&key), "{key}");
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
