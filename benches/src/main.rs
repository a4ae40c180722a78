//! `make bench`: measures the sink's hot path, its memory, the functions' cold start, the
//! producer and the whole flow on the local stack, runs the Python baseline on the same event
//! bytes, prints a table and writes `results.json`. `--smoke` runs every local part on tiny
//! sizes and fails unless each figure is sane, so that CI keeps the harness working.

mod cold_start;
mod core;
mod event;
mod figure;
mod memory;
mod merge_memory;
mod python;
mod report;
mod stack;
mod targets;

use std::path::PathBuf;

use clap::Parser;

use figure::{Figure, Repeats};
use report::{EventInfo, Machine, Report};

#[derive(Debug, Parser)]
#[command(about = "user-lake benchmarks")]
struct Args {
    /// Tiny sizes, few repeats, no local stack; fail unless every figure is sane.
    #[arg(long)]
    smoke: bool,
    /// Where to write the figures as JSON.
    #[arg(long, default_value = "target/bench/results.json")]
    out: PathBuf,
    /// The baseline's Python (from benches/python/venv.sh); the baseline is skipped without it.
    #[arg(long)]
    python: Option<PathBuf>,
    /// Directory of the function binaries (default: beside this binary).
    #[arg(long)]
    bin_dir: Option<PathBuf>,
    /// Size of the MSK event (default: Lambda's 6 MB payload limit; 256 KiB with --smoke).
    #[arg(long)]
    event_bytes: Option<usize>,
    /// Skip the parts that need the local stack (producer, end to end).
    #[arg(long)]
    no_stack: bool,
    /// Only the sink core and its stages: what a cross-compiled run on another CPU measures.
    #[arg(long)]
    core_only: bool,
    /// Only the parts on the local stack (end to end, freshness, producer).
    #[arg(long, conflicts_with_all = ["core_only", "no_stack", "smoke"])]
    stack_only: bool,
    /// Only the producer's peak memory (and CPU time) at the most users a run may ask for, on
    /// the local stack.
    #[arg(long, conflicts_with_all = ["core_only", "no_stack", "smoke", "stack_only"])]
    producer_memory: bool,
    /// Users to send through the whole flow.
    #[arg(long, default_value_t = 100_000)]
    e2e_users: usize,
    /// Internal: handle the event in this file once and print the peak RSS.
    #[arg(long, hide = true)]
    memory_child: Option<PathBuf>,
    /// Compactor merge sizes to measure the peak memory of, in MiB (COMPACTION_TARGET_MIB).
    #[arg(long, value_delimiter = ',', default_values_t = [128u64, 512])]
    compactor_mib: Vec<u64>,
    /// Internal: merge one hour of this many MiB and print the peak RSS.
    #[arg(long, hide = true)]
    compactor_memory_child: Option<u64>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    if let Some(file) = &args.memory_child {
        return memory::child(file);
    }
    if let Some(target) = args.compactor_memory_child {
        return merge_memory::child(target);
    }
    let repeats = match args.smoke {
        true => Repeats {
            warmup: 1,
            samples: 3,
        },
        false => Repeats {
            warmup: 5,
            samples: 30,
        },
    };
    let default_bytes = match args.smoke {
        true => 256 * 1024,
        false => event::LAMBDA_PAYLOAD_LIMIT,
    };
    let event = event::msk_event(args.event_bytes.unwrap_or(default_bytes))?;
    let root = e2e::env_file::repo_root();
    let event_file = args.out.with_file_name("msk-event.json");
    std::fs::create_dir_all(event_file.parent().unwrap_or(&root))?;
    std::fs::write(&event_file, &event.bytes)?;
    eprintln!(
        "[bench] event: {} bytes, {} records, in {}",
        event.bytes.len(),
        event.records,
        event_file.display()
    );

    let mut benchmarks = Vec::new();
    let mut skipped = Vec::new();
    if args.producer_memory {
        skipped.push("everything but the producer's memory (--producer-memory)".into());
        let (figures, failure) = match stack::producer_memory_figures(&bin_dir(&args)?) {
            Ok(figures) => (figures, None),
            Err(error) => (Vec::new(), Some(error)),
        };
        return finish(&args, "not run".into(), &event, figures, skipped, failure);
    }
    if args.stack_only {
        skipped.push("everything but the local stack's parts (--stack-only)".into());
        let bin_dir = bin_dir(&args)?;
        let figures = stack::figures(&root, &bin_dir, args.e2e_users);
        let (figures, failure) = match figures {
            Ok(figures) => (figures, None),
            Err(error) => (Vec::new(), Some(error)),
        };
        return finish(&args, "not run".into(), &event, figures, skipped, failure);
    }
    eprintln!("[bench] sink core");
    benchmarks.extend(core::figures(&event.bytes, event.records, repeats)?);
    if args.core_only {
        skipped.push("everything but the sink core (--core-only)".into());
        return finish(&args, "not run".into(), &event, benchmarks, skipped, None);
    }
    eprintln!("[bench] sink memory and codecs");
    benchmarks.extend(memory::figures(
        &event_file,
        if args.smoke { 1 } else { 5 },
    )?);
    let codec_repeats = Repeats {
        warmup: 1,
        samples: repeats.samples.min(10),
    };
    benchmarks.extend(core::codec_figures(
        &event.bytes,
        event.records,
        codec_repeats,
    )?);

    let mut python_version = "not run".to_string();
    match &args.python {
        Some(python) => {
            eprintln!("[bench] Python baseline");
            let script = root.join("benches/python/baseline.py");
            let py_repeats = Repeats {
                warmup: repeats.warmup.min(2),
                samples: repeats.samples.min(10),
            };
            let (figures, versions) =
                python::figures(python, &script, &event_file, event.records, py_repeats)?;
            python_version = versions;
            benchmarks.extend(compare(&benchmarks, figures));
        }
        None => skipped.push("python baseline (no --python)".to_string()),
    }

    eprintln!("[bench] compactor memory");
    let merge_sizes = if args.smoke {
        vec![1]
    } else {
        args.compactor_mib.clone()
    };
    benchmarks.extend(merge_memory::figures(&merge_sizes)?);

    eprintln!("[bench] cold start");
    let bin_dir = bin_dir(&args)?;
    // The functions as deployed: the table's catalog is Glue, whose client does no I/O at
    // start-up (the local SQLite catalog's file would be opened relative to this process).
    let mut settings = e2e::env_file::local_env();
    settings.insert("ICEBERG_CATALOG".into(), "glue".into());
    let settings: Vec<(String, String)> = settings.into_iter().collect();
    let start_repeats = Repeats {
        warmup: repeats.warmup.min(2),
        samples: repeats.samples.min(20),
    };
    benchmarks.extend(cold_start::figures(&bin_dir, &settings, start_repeats)?);

    // A failure on the stack keeps the figures measured before it: they are written, then the
    // run fails.
    let mut stack_failure = None;
    if args.smoke || args.no_stack {
        skipped.push("producer and end to end (need the local stack)".into());
    } else {
        match stack::figures(&root, &bin_dir, args.e2e_users) {
            Ok(figures) => benchmarks.extend(figures),
            Err(error) => {
                skipped.push(format!("producer and end to end (failed: {error:#})"));
                stack_failure = Some(error);
            }
        }
    }

    finish(
        &args,
        python_version,
        &event,
        benchmarks,
        skipped,
        stack_failure,
    )
}

/// Where the function binaries are: `--bin-dir`, else beside this binary.
fn bin_dir(args: &Args) -> anyhow::Result<PathBuf> {
    Ok(match args.bin_dir.clone() {
        Some(dir) => dir,
        None => std::env::current_exe()?
            .parent()
            .map(PathBuf::from)
            .unwrap_or_default(),
    })
}

/// Prints the table, writes `results.json`, then fails if the stack's part failed or, in a
/// smoke run, if any figure is absurd.
fn finish(
    args: &Args,
    python_version: String,
    event: &event::Event,
    benchmarks: Vec<Figure>,
    skipped: Vec<String>,
    stack_failure: Option<anyhow::Error>,
) -> anyhow::Result<()> {
    let report = Report {
        machine: Machine::here(python_version),
        event: EventInfo {
            bytes: event.bytes.len(),
            records: event.records,
            value_bytes: event.value_bytes,
        },
        targets: targets::evaluate(&benchmarks),
        benchmarks,
        skipped,
    };
    println!(
        "\nuser-lake benchmarks on {} ({} cores, {}); event {} bytes, {} records\n",
        report.machine.cpu,
        report.machine.cores,
        std::env::consts::ARCH,
        report.event.bytes,
        report.event.records
    );
    print!("{}", report.table());
    println!("\ntargets (ratios of this run's medians)\n");
    print!("{}", targets::table(&report.targets));
    report.write_json(&args.out)?;
    println!("\nfigures written to {}", args.out.display());
    if let Some(error) = stack_failure {
        return Err(error.context("the local stack's part of the benchmarks failed"));
    }
    if args.smoke {
        report.check_sane()?;
        println!("bench smoke: every figure is sane");
    }
    Ok(())
}

/// Notes on the Python figures: how many times faster the Rust sink is on the same bytes.
fn compare(rust: &[Figure], python: Vec<Figure>) -> Vec<Figure> {
    let Some(sink) = rust
        .iter()
        .find(|f| f.name == "sink core: event -> Parquet")
    else {
        return python;
    };
    python
        .into_iter()
        .map(|f| {
            let ratio = f.median / sink.median;
            let note = format!(
                "{}; the Rust sink is {ratio:.1}x as fast",
                f.note.clone().unwrap_or_default()
            );
            f.with_note(note)
        })
        .collect()
}
