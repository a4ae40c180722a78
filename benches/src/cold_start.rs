//! Cold start: the time from exec of a function's binary to its first request for work on
//! the Lambda runtime API (`GET /2018-06-01/runtime/invocation/next`). A listener on
//! loopback plays the runtime API; it never answers, the process is killed once it asks.

use std::{
    io::Read,
    net::TcpListener,
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, Instant},
};

use crate::figure::{Figure, Repeats};

const NEXT_INVOCATION: &str = "GET /2018-06-01/runtime/invocation/next";
const WAIT: Duration = Duration::from_secs(10);

/// Reads requests off `listener` until the first request for work; returns when it came.
fn first_next_request(listener: TcpListener) -> Option<Instant> {
    for stream in listener.incoming() {
        let mut stream = stream.ok()?;
        let mut head = Vec::new();
        let mut buf = [0u8; 1024];
        while !head.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buf) {
                Ok(0) | Err(_) => break,
                Ok(n) => head.extend_from_slice(&buf[..n]),
            }
        }
        if head.starts_with(NEXT_INVOCATION.as_bytes()) {
            return Some(Instant::now());
        }
    }
    None
}

/// One start of `binary` with `env`: milliseconds until it asked for work.
fn start_once(binary: &Path, env: &[(String, String)]) -> anyhow::Result<f64> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let api = listener.local_addr()?.to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || tx.send(first_next_request(listener)));
    let started = Instant::now();
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k, v)))
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let asked = rx.recv_timeout(WAIT);
    let _ = child.kill();
    let _ = child.wait();
    match asked {
        Ok(Some(at)) => Ok((at - started).as_secs_f64() * 1e3),
        _ => anyhow::bail!(
            "{} did not ask the runtime API for work within {WAIT:?}",
            binary.display()
        ),
    }
}

/// The environment Lambda gives a function, plus the function's own settings.
fn lambda_env(function: &str, settings: &[(String, String)]) -> Vec<(String, String)> {
    let lambda = [
        ("AWS_LAMBDA_FUNCTION_NAME", function),
        ("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"),
        ("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST"),
        ("AWS_LAMBDA_LOG_GROUP_NAME", "/aws/lambda/bench"),
        ("AWS_LAMBDA_LOG_STREAM_NAME", "bench"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
        ("RUST_LOG", "warn"),
    ];
    lambda
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .chain(settings.iter().filter(|(k, _)| k != "RUST_LOG").cloned())
        .collect()
}

/// Start time and binary size of each function binary found in `bin_dir`.
pub fn figures(
    bin_dir: &Path,
    settings: &[(String, String)],
    repeats: Repeats,
) -> anyhow::Result<Vec<Figure>> {
    let mut figures = Vec::new();
    for function in ["producer", "sink"] {
        let binary = bin_dir.join(function);
        anyhow::ensure!(
            binary.is_file(),
            "{} is missing: build the functions first",
            binary.display()
        );
        let env = lambda_env(function, settings);
        for _ in 0..repeats.warmup {
            start_once(&binary, &env)?;
        }
        let millis = (0..repeats.samples)
            .map(|_| start_once(&binary, &env))
            .collect::<anyhow::Result<Vec<_>>>()?;
        figures.push(Figure::of(
            &format!("cold start: {function} (exec -> first GET next)"),
            "ms",
            &millis,
        ));
        let mib = std::fs::metadata(&binary)?.len() as f64 / (1024.0 * 1024.0);
        figures.push(Figure::single(
            &format!("binary size: {function}"),
            "MiB",
            mib,
        ));
    }
    Ok(figures)
}
