//! Reading `infra/local/local.env`, the one file of local endpoints and names.

use std::{collections::BTreeMap, path::PathBuf};

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `KEY=VALUE` lines of the local env file; comments and blank lines are skipped.
pub fn local_env() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo_root().join("infra/local/local.env")).unwrap();
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}
