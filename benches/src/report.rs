//! What a run leaves behind: a table on stdout and `results.json`, the same figures in both,
//! plus the checks that make a smoke run fail when a figure is absurd.

use std::{io::Write, path::Path};

use serde::Serialize;

use crate::figure::Figure;

/// Everything one run measured, and where.
#[derive(Debug, Serialize)]
pub struct Report {
    pub machine: Machine,
    pub event: EventInfo,
    pub benchmarks: Vec<Figure>,
    /// The targets this run's figures allow judging.
    pub targets: Vec<crate::targets::Target>,
    /// Parts that were not run, and why.
    pub skipped: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Machine {
    pub cpu: String,
    pub cores: usize,
    pub os: String,
    pub python: String,
}

#[derive(Debug, Serialize)]
pub struct EventInfo {
    pub bytes: usize,
    pub records: usize,
    /// The records' JSON values together (the bytes on the topic).
    pub value_bytes: usize,
}

impl Machine {
    pub fn here(python: String) -> Self {
        let cpu = std::fs::read_to_string("/proc/cpuinfo")
            .ok()
            .and_then(|info| {
                info.lines()
                    .find_map(|l| l.strip_prefix("model name"))
                    .map(|v| v.trim_start_matches([' ', '\t', ':']).to_string())
            })
            .unwrap_or_else(|| "unknown".into());
        Self {
            cpu,
            cores: std::thread::available_parallelism().map_or(1, |n| n.get()),
            os: std::env::consts::OS.into(),
            python,
        }
    }
}

fn number(value: f64) -> String {
    match value.abs() {
        v if v >= 1000.0 => format!("{value:.0}"),
        v if v >= 10.0 => format!("{value:.1}"),
        _ => format!("{value:.2}"),
    }
}

impl Report {
    /// The Markdown table the README quotes.
    pub fn table(&self) -> String {
        let mut out = String::from(
            "| benchmark | median | min | max | unit | note |\n| --- | ---: | ---: | ---: | --- | --- |\n",
        );
        for f in &self.benchmarks {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} |\n",
                f.name,
                number(f.median),
                number(f.min),
                number(f.max),
                f.unit,
                f.note.as_deref().unwrap_or("")
            ));
        }
        for skipped in &self.skipped {
            out.push_str(&format!("| {skipped} | | | | | skipped |\n"));
        }
        out
    }

    pub fn write_json(&self, path: &Path) -> anyhow::Result<()> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir)?;
        }
        let mut file = std::fs::File::create(path)?;
        serde_json::to_writer_pretty(&mut file, self)?;
        file.write_all(b"\n")?;
        Ok(())
    }

    /// Every figure is a positive finite number with min <= median <= max.
    pub fn check_sane(&self) -> anyhow::Result<()> {
        anyhow::ensure!(!self.benchmarks.is_empty(), "no benchmark ran");
        for f in &self.benchmarks {
            anyhow::ensure!(
                [f.min, f.median, f.max]
                    .iter()
                    .all(|v| v.is_finite() && *v > 0.0),
                "{}: figures must be positive, got {f:?}",
                f.name
            );
            anyhow::ensure!(
                f.min <= f.median && f.median <= f.max && f.samples > 0,
                "{}: min <= median <= max does not hold: {f:?}",
                f.name
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(figures: Vec<Figure>) -> Report {
        Report {
            machine: Machine::here("3.11".into()),
            event: EventInfo {
                bytes: 1,
                records: 1,
                value_bytes: 1,
            },
            benchmarks: figures,
            targets: Vec::new(),
            skipped: vec!["end to end".into()],
        }
    }

    #[test]
    fn a_zero_or_missing_figure_is_not_sane() {
        assert!(report(vec![]).check_sane().is_err());
        assert!(
            report(vec![Figure::single("x", "ms", 0.0)])
                .check_sane()
                .is_err()
        );
        assert!(
            report(vec![Figure::single("x", "ms", f64::NAN)])
                .check_sane()
                .is_err()
        );
        assert!(
            report(vec![Figure::of("x", "ms", &[1.0, 2.0])])
                .check_sane()
                .is_ok()
        );
    }

    #[test]
    fn the_table_has_a_row_per_figure_and_per_skipped_part() {
        let table = report(vec![Figure::of("sink core", "ms/event", &[12.0, 14.0])]).table();
        assert!(table.contains("| sink core | 13.0 | 12.0 | 14.0 | ms/event |"));
        assert!(table.contains("| end to end | | | | | skipped |"));
    }
}
