//! Peak memory of a process that handles one event, as the kernel counts it (`VmHWM` in
//! `/proc/self/status`). The harness runs itself again as that process, so nothing the
//! harness holds (the Python figures, the other benchmarks) is counted.

use std::{ffi::OsStr, path::Path, process::Command};

use serde::{Deserialize, Serialize};

use crate::{
    core::{handle_event, runtime, sink_with},
    figure::Figure,
};

/// What the child reports, in KiB.
#[derive(Debug, Serialize, Deserialize)]
pub struct Usage {
    /// Peak resident set after reading the event and before handling it.
    pub before_kib: u64,
    /// Peak resident set after handling it.
    pub peak_kib: u64,
}

/// A field of `/proc/self/status` in KiB (Linux only).
pub fn status_kib(field: &str) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no {field} in /proc/self/status"))
}

/// Runs this harness again with `args` (a child mode) and reads the JSON it prints.
pub fn run_child<T: serde::de::DeserializeOwned>(args: &[&OsStr]) -> anyhow::Result<T> {
    let output = Command::new(std::env::current_exe()?).args(args).output()?;
    anyhow::ensure!(
        output.status.success(),
        "{} child failed: {}",
        args.first().map_or("".into(), |a| a.to_string_lossy()),
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(serde_json::from_slice(&output.stdout)?)
}

/// The child's work: read the event file, handle it once, print the usage as JSON.
pub fn child(event_file: &Path) -> anyhow::Result<()> {
    let bytes = std::fs::read(event_file)?;
    let sink = sink_with("zstd")?;
    let runtime = runtime();
    let before_kib = status_kib("VmHWM")?;
    let summary = handle_event(&bytes, &sink, &runtime)?;
    anyhow::ensure!(summary.written > 0, "the child wrote nothing");
    let usage = Usage {
        before_kib,
        peak_kib: status_kib("VmHWM")?,
    };
    println!("{}", serde_json::to_string(&usage)?);
    Ok(())
}

/// Runs the child `runs` times on `event_file` and reports its peak RSS.
pub fn figures(event_file: &Path, runs: usize) -> anyhow::Result<Vec<Figure>> {
    let mut peaks = Vec::new();
    let mut before = Vec::new();
    for _ in 0..runs {
        let usage: Usage = run_child(&["--memory-child".as_ref(), event_file.as_os_str()])?;
        peaks.push(usage.peak_kib as f64 / 1024.0);
        before.push(usage.before_kib as f64 / 1024.0);
    }
    Ok(vec![
        Figure::of("sink memory: peak RSS handling the event", "MiB", &peaks),
        Figure::of(
            "sink memory: RSS with the event read, before",
            "MiB",
            &before,
        ),
    ])
}
