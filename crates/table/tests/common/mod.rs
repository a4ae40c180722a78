//! What the table's tests share: rows of the lake cut into slices as the sink cuts them, a table
//! on its own in-memory lake and catalog, moto's server, started for one test from the pinned
//! venv, and the venv's Python.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::io::ErrorKind;
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use lake::{LakeRow, RowsBuilder};
use table::{Slice, files::hour_of};
use user_record::UserRecord;

/// moto's server, started for one test on a free port and killed when dropped.
pub struct Moto {
    child: Child,
    pub endpoint: String,
}

impl Drop for Moto {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The pinned venv, or why it cannot be used.
fn venv() -> Result<PathBuf, String> {
    std::env::var_os("USER_LAKE_VENV")
        .map(PathBuf::from)
        .ok_or_else(|| {
            "USER_LAKE_VENV is not set (eval \"$(infra/local/tools.sh)\" sets it)".into()
        })
}

/// Starts moto from the pinned venv, or says why it cannot.
pub fn moto() -> Result<Moto, String> {
    let server = venv()?.join("bin/moto_server");
    if !server.is_file() {
        return Err(format!("{} is missing", server.display()));
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let child = Command::new(&server)
        .args(["-H", "127.0.0.1", "-p", &port.to_string()])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", server.display()))?;
    let mut moto = Moto {
        child,
        endpoint: format!("http://127.0.0.1:{port}"),
    };
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        match TcpStream::connect(("127.0.0.1", port)) {
            Ok(_) => return Ok(moto),
            Err(e) if e.kind() == ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                if let Some(status) = moto.child.try_wait().unwrap() {
                    panic!("moto_server exited at start: {status}");
                }
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("moto_server did not listen on {port}: {e}"),
        }
    }
}

/// The pinned venv's Python, if it can import `modules` (`pyiceberg.catalog.sql, pyarrow`);
/// else why not.
pub fn venv_python(modules: &str) -> Result<PathBuf, String> {
    let python = venv()?.join("bin/python");
    let probe = Command::new(&python)
        .args(["-c", &format!("import {modules}")])
        .output()
        .map_err(|e| format!("cannot run {}: {e}", python.display()))?;
    if !probe.status.success() {
        let stderr = String::from_utf8_lossy(&probe.stderr);
        return Err(format!(
            "{} cannot import {modules}: {}",
            python.display(),
            stderr.trim().lines().last().unwrap_or("")
        ));
    }
    Ok(python)
}

/// Runs `script` with `args` and returns what it printed; a failing script fails the test.
pub fn run_python(python: &Path, script: &str, args: &[&str]) -> String {
    let output = Command::new(python)
        .arg("-c")
        .arg(script)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "python failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap().trim().to_string()
}

/// The Kafka topic of the test rows.
pub const TOPIC: &str = "users_created";
const T0: i64 = 1_795_525_198_000;

/// The Kafka time of the row at `offset`: one second per offset.
pub fn at(offset: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(T0 + offset * 1_000).unwrap()
}

/// A row at `offset` of partition `partition`; `generation` changes the user, as a topic that
/// was deleted and created again carries other users at the same offsets.
pub fn row(partition: i32, offset: i64, generation: u8) -> LakeRow {
    let json = format!(
        r#"{{"id":"6f1c2f8e-2b7a-4c3e-9d1a-{generation:02x}{partition:02x}{offset:08x}","first_name":"A","last_name":"B",
        "gender":"female","address":"1 Main St","post_code":"0567","email":"a@b.c",
        "username":"a","dob":"1987-05-04T10:11:12.345Z",
        "registered_date":"2015-02-03T04:05:06Z","phone":"22","picture":"https://x/p.jpg"}}"#
    );
    LakeRow {
        record: UserRecord::from_json_owned(json.as_bytes()).unwrap(),
        topic: TOPIC.into(),
        partition,
        offset,
        timestamp: at(offset) + chrono::Duration::milliseconds(i64::from(generation)),
    }
}

/// Rows of one partition, cut into slices by hour as the sink cuts them.
pub fn slices(partition: i32, offsets: std::ops::Range<i64>, generation: u8) -> Vec<Slice> {
    let mut by_hour: BTreeMap<i32, RowsBuilder> = BTreeMap::new();
    for offset in offsets {
        let row = row(partition, offset, generation);
        by_hour
            .entry(hour_of(row.timestamp))
            .or_default()
            .push_row(&row);
    }
    by_hour
        .into_iter()
        .map(|(hour, builder)| Slice {
            topic: TOPIC.into(),
            partition,
            hour,
            batch: builder.finish().unwrap(),
        })
        .collect()
}

/// The writer settings of the tests' data files.
pub fn properties() -> parquet::file::properties::WriterProperties {
    lake::writer::writer_properties(parquet::basic::Compression::SNAPPY, "tests")
}

#[cfg(feature = "testing")]
pub type TestTable = table::Table<
    &'static lake::testing::MemoryStore,
    &'static table::catalog::memory::MemoryCatalog,
>;

/// A table on its own lake and catalog (leaked: they live as long as the test process).
#[cfg(feature = "testing")]
pub fn table() -> (
    TestTable,
    &'static lake::testing::MemoryStore,
    &'static table::catalog::memory::MemoryCatalog,
) {
    let store: &'static lake::testing::MemoryStore = Box::leak(Box::default());
    let catalog: &'static table::catalog::memory::MemoryCatalog = Box::leak(Box::default());
    let table = table::Table::new(
        store,
        catalog,
        table::TableLocation::new("lake", "", "users"),
    );
    (table, store, catalog)
}
