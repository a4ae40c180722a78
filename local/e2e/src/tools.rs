//! Finding the pinned tools that `make test` installs (`infra/local/tools.sh`): the tests that
//! need one look for it on `PATH` (where `make test` puts them) and in the tool cache. Run by
//! hand without them, such a test says so and passes; under `CI=true` a missing tool fails it,
//! so that CI never passes by skipping what `make test` promised to run.

use std::path::PathBuf;

/// Whether this is a CI run (`CI=true`), where every promised tool must be present.
pub fn is_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| v.eq_ignore_ascii_case("true") || v == "1")
}

/// The tool cache: `USER_LAKE_TOOLS`, else `~/.cache/user-lake`.
pub fn cache_dir() -> Option<PathBuf> {
    std::env::var_os("USER_LAKE_TOOLS")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache/user-lake")))
}

/// The executable `name`, from `PATH` or the tool cache (`<cache>/<name>-<version>/bin/<name>`).
/// `None` (with a notice) when it is missing; under CI, a panic that says how to get it.
pub fn pinned(name: &str) -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(name))
            .find(|p| p.is_file())
    });
    let cached = || {
        let dir = cache_dir()?;
        let mut found: Vec<PathBuf> = std::fs::read_dir(dir)
            .ok()?
            .flatten()
            .filter(|e| {
                e.file_name()
                    .to_string_lossy()
                    .starts_with(&format!("{name}-"))
            })
            .map(|e| e.path().join("bin").join(name))
            .filter(|p| p.is_file())
            .collect();
        found.sort();
        found.pop()
    };
    let found = on_path.or_else(cached);
    if found.is_none() {
        let message =
            format!("{name} is not installed; `make test` installs it (infra/local/tools.sh)");
        assert!(
            !is_ci(),
            "{message}, and under CI=true a missing tool fails the run"
        );
        eprintln!("SKIPPED: {message}");
    }
    found
}

/// Runs the pinned venv's Python (pyarrow, polars, DuckDB, kafka-python) and returns what it
/// printed.
pub fn venv_python(args: &[&std::ffi::OsStr]) -> String {
    let Ok(venv) = std::env::var("USER_LAKE_VENV") else {
        panic!(
            "USER_LAKE_VENV is not set: run the suite through `make test`, which installs pyarrow and duckdb"
        );
    };
    let output = std::process::Command::new(format!("{venv}/bin/python"))
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}
