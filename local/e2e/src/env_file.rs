//! Reading `infra/local/local.env`, the one file of local endpoints and names.

use std::{
    collections::BTreeMap,
    path::{Path, PathBuf},
    sync::OnceLock,
};

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

/// The repository's root directory, found when it is asked for (not fixed when this crate
/// was compiled, which could name another, since deleted, checkout): `USER_LAKE_ROOT` when
/// set, else the nearest directory at or above the current one that holds the local stack's
/// env file (cargo runs tests in their package's directory, commands from the root).
pub fn repo_root() -> PathBuf {
    if let Some(root) = std::env::var_os("USER_LAKE_ROOT") {
        return PathBuf::from(root);
    }
    let here = std::env::current_dir().expect("a current directory");
    root_above(&here).unwrap_or_else(|| {
        panic!(
            "{} is not inside a user-lake checkout (no infra/local/local.env above it); \
                 run from the repository or set USER_LAKE_ROOT",
            here.display()
        )
    })
}

/// The nearest directory at or above `dir` that holds `infra/local/local.env`.
fn root_above(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join("infra/local/local.env").is_file())
        .map(Path::to_path_buf)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_root_is_the_nearest_directory_above_that_holds_the_env_file() {
        // given a checkout with the env file, and a directory deep inside it
        let checkout = std::env::temp_dir().join(format!("user-lake-root-{}", std::process::id()));
        let inside = checkout.join("local/e2e/src");
        std::fs::create_dir_all(&inside).unwrap();
        std::fs::create_dir_all(checkout.join("infra/local")).unwrap();
        std::fs::write(checkout.join("infra/local/local.env"), "KAFKA_TOPIC=t\n").unwrap();

        // when the root is looked for from inside it, and from outside any checkout
        let found = root_above(&inside);
        let outside = root_above(Path::new("/"));

        // then it is the checkout, and outside there is none
        std::fs::remove_dir_all(&checkout).unwrap();
        assert_eq!(found, Some(checkout));
        assert_eq!(outside, None);
    }
}
