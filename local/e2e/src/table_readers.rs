//! The table's independent readers: `local/e2e/python/read_table.py` (pyiceberg through the
//! catalog, pyiceberg's StaticTable, DuckDB's iceberg extension, polars), none of which shares
//! code with the pipeline, run on the local stack's table.

use std::{collections::BTreeMap, path::PathBuf};

use serde_json::Value;

use crate::env_file::repo_root;

/// The local stack's SQLite catalog file under its lake root.
pub fn catalog_path(lake_root: &std::path::Path) -> PathBuf {
    lake_root.join("iceberg-catalog.db")
}

/// Runs `read_table.py`, the independent readers, on the table of the catalog file `catalog`
/// (a free function, so that a thread can read while the test does something else).
pub fn read_table(
    env: &BTreeMap<String, String>,
    catalog: &std::path::Path,
    readers: &str,
    snapshot: Option<i64>,
    rows: Option<&PathBuf>,
) -> Value {
    let venv = std::env::var("USER_LAKE_VENV").expect(
        "USER_LAKE_VENV is not set: run the suite through `make test`, which installs the readers",
    );
    let mut command = std::process::Command::new(format!("{venv}/bin/python"));
    command
        .arg(repo_root().join("local/e2e/python/read_table.py"))
        .arg("--catalog-uri")
        .arg(format!("sqlite:///{}", catalog.display()))
        .args(["--catalog-name", "user_lake"])
        .arg("--table")
        .arg(format!(
            "{}.{}",
            env["ICEBERG_DATABASE"], env["ICEBERG_TABLE"]
        ))
        .args(["--s3-endpoint", &env["AWS_ENDPOINT_URL_S3"]])
        .args(["--access-key", &env["AWS_ACCESS_KEY_ID"]])
        .args(["--secret-key", &env["AWS_SECRET_ACCESS_KEY"]])
        .args(["--region", &env["AWS_REGION"]])
        .args(["--readers", readers]);
    if let Some(id) = snapshot {
        command.args(["--snapshot-id", &id.to_string()]);
    }
    if let Some(path) = rows {
        command.arg("--rows").arg(path);
    }
    let output = command.output().unwrap();
    assert!(
        output.status.success(),
        "read_table.py failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}
