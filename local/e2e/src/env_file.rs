//! Reading `infra/local/local.env`, the one file of local endpoints and names.

use std::{collections::BTreeMap, path::PathBuf, sync::OnceLock};

/// Values a suite sets on top of the file for everything it starts (the plain-files suite's
/// `LAKE_FORMAT=files`), as `stack.sh` lets a caller's environment override the file.
static OVERRIDES: OnceLock<Vec<(String, String)>> = OnceLock::new();

/// Sets this process's overrides of the env file; once, before anything reads it.
pub fn override_local_env(pairs: &[(&str, &str)]) {
    let pairs = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    OVERRIDES
        .set(pairs)
        .expect("the env file's overrides are set once, first");
}

/// The repository's root directory.
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `KEY=VALUE` lines of the local env file (comments and blank lines skipped), with this
/// process's overrides applied.
pub fn local_env() -> BTreeMap<String, String> {
    let text = std::fs::read_to_string(repo_root().join("infra/local/local.env")).unwrap();
    let mut env: BTreeMap<String, String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect();
    for (key, value) in OVERRIDES.get().into_iter().flatten() {
        env.insert(key.clone(), value.clone());
    }
    env
}
