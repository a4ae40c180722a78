//! The parts that need the local stack (broker, S3 store, users-API stand-in, functions under
//! `cargo lambda watch`, started by `infra/local/stack.sh` through the e2e crate's helper):
//! the whole flow from the first scheduled run to the last Parquet object, then the producer's
//! own figures against the real broker and users API. Only one stack may run on a machine; the
//! e2e crate's `Stack` holds the machine's stack lock for as long as it runs.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
    time::{Instant, SystemTime},
};

use e2e::{
    env_file::local_env,
    stack::{Stack, json_lines, summary},
};
use kafka_client::KafkaClient;
use lambda_kit::emf::{Metrics, MetricsConfig};
use producer::{KafkaPublisher, ProducerConfig, Publisher, RandomUserApi};

use crate::{
    event,
    figure::{Figure, Repeats, time_alternating_ms, time_checked_ms},
};

/// Users per scheduled run: the producer's bound on one run.
const USERS_PER_RUN: usize = producer::config::MAX_USERS_PER_RUN;

/// Runs one of the emulators (built by `stack.sh up` in the debug profile) with the local env
/// and returns its output.
fn emulator(root: &Path, debug_dir: &Path, name: &str, args: &[&str]) -> anyhow::Result<Output> {
    let output = Command::new(debug_dir.join(name))
        .args(args)
        .envs(local_env())
        .env("RUST_LOG", "warn")
        .current_dir(root)
        .output()?;
    anyhow::ensure!(
        output.status.success(),
        "{name} failed ({}): {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    Ok(output)
}

/// The newest modification time of any file under `dir`.
fn newest_file(dir: &Path) -> anyhow::Result<Option<SystemTime>> {
    let mut newest = None;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let time = match entry.file_type()?.is_dir() {
            true => newest_file(&entry.path())?,
            false => Some(entry.metadata()?.modified()?),
        };
        newest = newest.max(time);
    }
    Ok(newest)
}

/// `users` through the whole flow: scheduled producer runs, then the MSK trigger until idle.
fn end_to_end(
    root: &Path,
    debug_dir: &Path,
    stack: &Stack,
    users: usize,
) -> anyhow::Result<Vec<Figure>> {
    let runs = users.div_ceil(USERS_PER_RUN);
    let per_run = users.div_ceil(runs);
    let started = SystemTime::now();
    let schedule = emulator(
        root,
        debug_dir,
        "schedule",
        &[
            "--times",
            &runs.to_string(),
            "--every",
            "1s",
            "--count",
            &per_run.to_string(),
            "--fail-fast",
        ],
    )?;
    let scheduled_at = SystemTime::now();
    let trigger = emulator(
        root,
        debug_dir,
        "msk-trigger",
        &["--until-idle", "5s", "--max-retries", "5"],
    )?;
    let delivered = summary(&trigger);
    let written = delivered["written"].as_u64().unwrap_or(0) as usize;
    anyhow::ensure!(
        written >= runs * per_run,
        "the sink wrote {written} of {} users: {delivered}",
        runs * per_run
    );
    // The stack's defaults: the Iceberg table's data files.
    let env = local_env();
    let users_dir = stack
        .lake_root
        .join(&env["LAKE_BUCKET"])
        .join("iceberg")
        .join(&env["ICEBERG_TABLE"])
        .join("data");
    let last = newest_file(&users_dir)?
        .ok_or_else(|| anyhow::anyhow!("no object under {}", users_dir.display()))?;
    let seconds = last.duration_since(started)?.as_secs_f64();
    // The schedule runs to its end before the trigger starts, so the wall time splits into the
    // producer's invocations, the schedule's spacing between runs, the sink's invocations, and
    // the trigger's own work (polling the broker, batching windows, building events).
    let schedule_s = scheduled_at.duration_since(started)?.as_secs_f64();
    let producer_s = invoked_seconds(&schedule.stdout, "invoked");
    let sink_s = invoked_seconds(&trigger.stdout, "delivered");
    let share = |part: f64| part / seconds * 100.0;
    let shares = [
        ("producer invocations", producer_s),
        (
            "schedule spacing (--every 1s) and start-up",
            schedule_s - producer_s,
        ),
        ("sink invocations", sink_s),
        (
            "trigger: broker reads, batching, events",
            seconds - schedule_s - sink_s,
        ),
    ];
    let mut figures = vec![
        Figure::single(
            &format!(
                "end to end: {} users, first run -> last object",
                runs * per_run
            ),
            "s",
            seconds,
        )
        .with_note("functions are debug builds under cargo lambda watch"),
        Figure::single(
            "end to end: throughput",
            "users/s",
            (runs * per_run) as f64 / seconds,
        ),
    ];
    figures.extend(shares.iter().map(|(part, s)| {
        Figure::single(
            &format!("end to end: share of wall time, {part}"),
            "%",
            share(*s).max(f64::MIN_POSITIVE),
        )
        .with_note(format!("{s:.1} s"))
    }));
    Ok(figures)
}

/// Producer runs the freshness figure takes the median of.
const FRESHNESS_RUNS: usize = 5;

/// How fresh the table is: the MSK trigger runs as the event source mapping does (polling,
/// with the template's batching window), the schedule fires one producer run, and the table's
/// catalog is polled until the current snapshot holds the run's users. Measured from the end
/// of the producer's invocation (every record acknowledged by the broker) to the commit that
/// makes the last of them visible to any reader that opens the table; also the commits (so
/// snapshots) each run makes, which with the template's `rate(1 minute)` schedule and the
/// hourly compaction gives the table's snapshots per hour.
fn freshness(root: &Path, debug_dir: &Path, stack: &Stack) -> anyhow::Result<Vec<Figure>> {
    let env = local_env();
    let catalog = table::catalog::sqlite::SqliteCatalog::open(
        &stack.lake_root.join("iceberg-catalog.db"),
        table::config::SQL_CATALOG_NAME,
        &env["ICEBERG_DATABASE"],
        &env["ICEBERG_TABLE"],
    )?;
    let runtime = tokio::runtime::Runtime::new()?;
    let store = runtime.block_on(e2e::lake::client());
    let settings = e2e::lake::config();
    let table = table::Table::new(
        store,
        catalog,
        table::TableLocation::new(
            &settings.bucket,
            settings.layout.prefix(),
            &env["ICEBERG_TABLE"],
        ),
    );
    // (rows, snapshots) of the table's current state.
    let state = || -> anyhow::Result<(u64, usize)> {
        let Some(state) = runtime.block_on(table.load())? else {
            return Ok((0, 0));
        };
        let rows = state
            .metadata
            .current_snapshot()
            .and_then(|s| s.summary.get("total-records"))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0);
        Ok((rows, state.metadata.snapshots.len()))
    };
    // The trigger polls until stopped, as the event source mapping does; its lines are not
    // needed (the table says when the users are visible).
    let mut trigger = Command::new(debug_dir.join("msk-trigger"))
        .envs(local_env())
        .env("RUST_LOG", "warn")
        .current_dir(root)
        .stdout(std::process::Stdio::null())
        .spawn()?;
    let (mut seconds, mut commits, mut users) = (Vec::new(), Vec::new(), 0);
    let measured = (|| -> anyhow::Result<()> {
        for _ in 0..FRESHNESS_RUNS {
            let (rows_before, snapshots_before) = state()?;
            // One run of the template's default size (UsersPerRun).
            let run = emulator(
                root,
                debug_dir,
                "schedule",
                &["--times", "1", "--fail-fast"],
            )?;
            let produced = Instant::now();
            users = json_lines(&run.stdout)
                .iter()
                .filter_map(|l| l["response"]["produced"].as_u64())
                .sum();
            let deadline = produced + std::time::Duration::from_secs(120);
            loop {
                let (rows, snapshots) = state()?;
                if rows >= rows_before + users {
                    seconds.push(produced.elapsed().as_secs_f64());
                    commits.push((snapshots - snapshots_before) as f64);
                    break;
                }
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "the table holds {} of the run's {users} users after 120 s",
                    rows.saturating_sub(rows_before)
                );
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            // A quiet spell between runs, as the schedule's minute leaves.
            std::thread::sleep(std::time::Duration::from_secs(2));
        }
        Ok(())
    })();
    trigger.kill()?;
    trigger.wait()?;
    measured?;
    let per_run = commits.iter().sum::<f64>() / commits.len() as f64;
    Ok(vec![
        Figure::of(
            &format!("freshness: {users} users produced -> visible in the table"),
            "s",
            &seconds,
        )
        .with_note(
            "batching window 1 s as in template.yaml; debug builds under cargo lambda watch",
        ),
        Figure::single(
            "freshness: table commits per producer run",
            "commits",
            per_run,
        ),
        Figure::single(
            "snapshots per hour at the template's defaults (a run a minute, one compaction)",
            "snapshots",
            per_run * 60.0 + 1.0,
        ),
    ])
}

/// The seconds spent in invocations, from an emulator's JSON lines (`duration_ms` of each line
/// whose `event` is `event`).
fn invoked_seconds(stdout: &[u8], event: &str) -> f64 {
    json_lines(stdout)
        .iter()
        .filter(|line| line["event"] == event)
        .filter_map(|line| line["duration_ms"].as_f64())
        .sum::<f64>()
        / 1e3
}

/// The producer's own work against the real broker and users API, in this process.
fn producer_figures(runtime: &tokio::runtime::Runtime) -> anyhow::Result<Vec<Figure>> {
    let env = local_env();
    let settings: Vec<(&str, &str)> = env.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    let config = ProducerConfig::from_source(&settings)?;
    let publisher = KafkaPublisher::new(&config, &KafkaClient::plaintext(&config.kafka.brokers))?;
    let records = (0..10_000)
        .map(event::record)
        .collect::<anyhow::Result<Vec<_>>>()?;
    // The producer and bare rdkafka take turns, so that both meet the broker's store at the
    // same size (it grows with every run). The checked runs first are both ones' warm-up.
    let repeats = Repeats {
        warmup: 0,
        samples: 5,
    };
    let bare = BareRdkafka::new(&config, &records)?;
    let publish = || {
        runtime
            .block_on(publisher.publish(&records, &Default::default()))
            .map_err(anyhow::Error::from)
    };
    let send_bare = || {
        bare.send_all(runtime)
            .map_err(|failed| anyhow::anyhow!("bare rdkafka: {failed} deliveries failed"))
    };
    publish()?;
    send_bare()?;
    let (produce, client_only) = time_alternating_ms(repeats, publish, send_bare)?;
    let produce = Figure::of(
        "producer: produce 10,000 records, acks awaited",
        "ms",
        &produce,
    );
    let client_only = Figure::of(
        "producer: rdkafka alone, 10,000 records, acks awaited",
        "ms",
        &client_only,
    );

    let api = producer::Producer {
        source: RandomUserApi::new(&config)?,
        publisher,
        users_per_run: 5_000,
        // kept off stdout, where the table goes
        metrics: Metrics::captured(MetricsConfig::from_source(&settings, "producer")?).0,
    };
    let scheduled: producer::ScheduledEvent = serde_json::from_value(serde_json::json!({
        "version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "123456789012", "time": "2026-01-01T12:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {"count": 5000}
    }))?;
    let run = || -> anyhow::Result<()> {
        let produced = runtime
            .block_on(producer::handle(&scheduled, &api))?
            .produced;
        anyhow::ensure!(
            produced == 5_000,
            "a run produced {produced} of 5,000 users"
        );
        Ok(())
    };
    run()?;
    let fetch_produce = Figure::of(
        "producer: fetch + produce 5,000 users",
        "ms",
        &time_checked_ms(repeats, run)?,
    );
    Ok(vec![
        Figure::rate(
            "producer: records/s to the broker",
            "records/s",
            10_000.0,
            &produce,
        ),
        Figure::rate(
            "producer: rdkafka alone, records/s to the broker",
            "records/s",
            10_000.0,
            &client_only,
        ),
        produce,
        client_only,
        fetch_produce,
    ])
}

/// The same records sent by a bare rdkafka producer with the producer's settings, already
/// serialised, every delivery awaited: what the client and the broker allow, the producer's
/// own work (serialising, keys, bookkeeping) left out.
struct BareRdkafka<'c> {
    topic: &'c str,
    messages: Vec<(String, Vec<u8>)>,
    producer: rdkafka::producer::FutureProducer<kafka_client::KafkaClientContext>,
}

impl<'c> BareRdkafka<'c> {
    fn new(
        config: &'c ProducerConfig,
        records: &[user_record::UserRecord],
    ) -> anyhow::Result<Self> {
        let kafka = KafkaClient::plaintext(&config.kafka.brokers);
        Ok(Self {
            topic: &config.kafka_topic,
            messages: records.iter().map(|r| (r.key(), r.to_json())).collect(),
            producer: producer::publish::client_config(config, &kafka)
                .create_with_context(kafka.context())?,
        })
    }

    /// Every message sent and its delivery awaited; how many failed, if any did.
    fn send_all(&self, runtime: &tokio::runtime::Runtime) -> Result<(), usize> {
        use rdkafka::producer::FutureRecord;
        runtime.block_on(async {
            let sends = self.messages.iter().map(|(key, payload)| {
                self.producer.send(
                    FutureRecord::to(self.topic).key(key).payload(payload),
                    std::time::Duration::from_secs(30),
                )
            });
            let failed = futures::future::join_all(sends)
                .await
                .into_iter()
                .filter(Result::is_err)
                .count();
            (failed == 0).then_some(()).ok_or(failed)
        })
    }
}

/// Starts a fresh stack under the target directory, measures, and stops it.
pub fn figures(root: &Path, bin_dir: &Path, users: usize) -> anyhow::Result<Vec<Figure>> {
    let target = bin_dir.parent().map(PathBuf::from).unwrap_or_default();
    eprintln!("[bench] starting the local stack");
    let up = Instant::now();
    let stack = Stack::up(&target.join("bench-stack"))?;
    eprintln!(
        "[bench] stack up in {:?}; end to end with {users} users",
        up.elapsed()
    );
    let mut figures = end_to_end(root, &target.join("debug"), &stack, users)?;
    eprintln!("[bench] freshness: produced -> visible in the table");
    figures.extend(freshness(root, &target.join("debug"), &stack)?);
    eprintln!("[bench] producer");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    figures.extend(producer_figures(&runtime)?);
    eprintln!("[bench] producer memory at {USERS_PER_RUN} users");
    figures.extend(producer_memory(bin_dir)?);
    drop(stack);
    Ok(figures)
}

/// Starts a fresh stack under the target directory and measures only the producer's peak
/// memory (`--producer-memory`).
pub fn producer_memory_figures(bin_dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let target = bin_dir.parent().map(PathBuf::from).unwrap_or_default();
    eprintln!("[bench] starting the local stack");
    let stack = Stack::up(&target.join("bench-stack"))?;
    eprintln!("[bench] producer memory at {USERS_PER_RUN} users");
    let figures = producer_memory(bin_dir)?;
    drop(stack);
    Ok(figures)
}

/// Peak memory of the producer's binary running one scheduled event of the most users a run
/// may ask for, against the local stack's users API and broker (its `MemorySize` rests on it),
/// and the CPU time the process used for it (what Lambda's share of a vCPU at that size must
/// give).
fn producer_memory(bin_dir: &Path) -> anyhow::Result<Vec<Figure>> {
    let settings = e2e::env_file::local_env();
    let mut env: Vec<(&str, &str)> = settings
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    env.push(("AWS_LAMBDA_FUNCTION_NAME", "producer"));
    let count = USERS_PER_RUN.to_string();
    let event = serde_json::json!({
        "version": "0", "id": "bench", "detail-type": "Scheduled Event", "source": "aws.events",
        "account": "000000000000", "time": "2026-11-24T12:00:00Z", "region": "us-east-1",
        "resources": [], "detail": {"count": USERS_PER_RUN}
    });
    let run = e2e::runtime_api::invoke_once(
        &bin_dir.join("producer"),
        &env,
        event.to_string().as_bytes(),
    )?;
    let e2e::runtime_api::Answer::Response(body) = &run.answer else {
        anyhow::bail!("the producer failed at {count} users: {:?}", run.answer);
    };
    let peak = run
        .peak_rss_kib
        .ok_or_else(|| anyhow::anyhow!("no VmHWM for the producer's process"))?;
    let cpu = run
        .cpu_seconds
        .ok_or_else(|| anyhow::anyhow!("no CPU time for the producer's process"))?;
    Ok(vec![
        Figure::of(
            &format!("producer memory: peak RSS at {count} users"),
            "MiB",
            &[peak as f64 / 1024.0],
        )
        .with_note(format!("one run of the release binary: {body}")),
        Figure::of(
            &format!("producer CPU time: start and one run of {count} users"),
            "s",
            &[cpu],
        ),
    ])
}
