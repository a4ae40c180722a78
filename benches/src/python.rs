//! The Python baseline, run on the same event file in the same process tree:
//! `benches/python/baseline.py` under the pinned venv that `benches/python/venv.sh` installs.

use std::{collections::BTreeMap, path::Path, process::Command};

use serde::Deserialize;

use crate::figure::{Figure, Repeats};

#[derive(Debug, Deserialize)]
struct Measured {
    ms: Vec<f64>,
    rows: usize,
    bytes: usize,
}

#[derive(Debug, Deserialize)]
struct Output {
    pandas: Measured,
    pyarrow: Measured,
    versions: BTreeMap<String, String>,
}

/// The two Python paths' times per event, checked to have written every record.
pub fn figures(
    python: &Path,
    script: &Path,
    event_file: &Path,
    records: usize,
    repeats: Repeats,
) -> anyhow::Result<(Vec<Figure>, String)> {
    let output = Command::new(python)
        .arg(script)
        .arg(event_file)
        .arg(repeats.warmup.to_string())
        .arg(repeats.samples.to_string())
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "the Python baseline failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let out: Output = serde_json::from_slice(&output.stdout)?;
    let mut figures = Vec::new();
    for (name, path) in [
        ("python: json + pandas.to_parquet", &out.pandas),
        ("python: pyarrow JSON reader + write_table", &out.pyarrow),
    ] {
        anyhow::ensure!(
            path.rows == records,
            "{name} wrote {} of {records} rows",
            path.rows
        );
        figures.push(
            Figure::of(name, "ms/event", &path.ms)
                .with_note(format!("{} KiB of Parquet", path.bytes / 1024)),
        );
    }
    let versions = out
        .versions
        .iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ");
    Ok((figures, versions))
}
