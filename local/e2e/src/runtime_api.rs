//! A function's binary run for one invocation against a loopback stand-in of the Lambda runtime
//! API, as Lambda runs it: the binary asks `GET /2018-06-01/runtime/invocation/next`, gets the
//! event with the request id and deadline headers, and posts its response or error; its stdout
//! (what Lambda ships to CloudWatch Logs) is kept. Once it asks for the next event it is stopped.

use std::{
    io::{BufRead, BufReader, Read, Write},
    net::{TcpListener, TcpStream},
    path::Path,
    process::{Command, Stdio},
    sync::mpsc,
    time::{Duration, SystemTime, UNIX_EPOCH},
};

/// The time left the function is told it has: the longest a Lambda function may run (the
/// compactor's timeout in the template), so that a function keeping a reserve before its
/// deadline (the compactor's 2 minutes) starts its work. The answer is still awaited 60 s only.
const DEADLINE: Duration = Duration::from_secs(900);

/// What the function answered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// The body it posted to `/invocation/<id>/response`.
    Response(String),
    /// The error document it posted to `/invocation/<id>/error` or `/init/error`.
    Error(String),
}

/// One invocation's outcome.
#[derive(Debug, Clone)]
pub struct Invocation {
    pub answer: Answer,
    /// Every line the function wrote to stdout.
    pub stdout: Vec<String>,
    /// Its peak resident set when it answered (`VmHWM`), in KiB, where the kernel reports it.
    pub peak_rss_kib: Option<u64>,
    /// The CPU time its threads had used when it answered (user + system), in seconds, where
    /// the kernel reports it.
    pub cpu_seconds: Option<f64>,
}

/// Clock ticks per second of `/proc/<pid>/stat`'s times (`USER_HZ`, 100 on Linux).
const USER_HZ: f64 = 100.0;

/// User + system CPU time of process `pid`, from `/proc/<pid>/stat` (fields 14 and 15).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces; the fields after it are counted from its ')'.
    let mut fields = stat.rsplit_once(')')?.1.split_whitespace().skip(11);
    let user: u64 = fields.next()?.parse().ok()?;
    let system: u64 = fields.next()?.parse().ok()?;
    Some((user + system) as f64 / USER_HZ)
}

const REQUEST_ID: &str = "8476a536-e9f4-11e8-9739-2dfe598c3fcd";

/// One HTTP request: its request line and body.
fn read_request(reader: &mut BufReader<TcpStream>) -> Option<(String, Vec<u8>)> {
    let mut line = String::new();
    if reader.read_line(&mut line).ok()? == 0 {
        return None;
    }
    let mut length = 0usize;
    loop {
        let mut header = String::new();
        reader.read_line(&mut header).ok()?;
        let header = header.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse().ok()?;
        }
    }
    let mut body = vec![0; length];
    reader.read_exact(&mut body).ok()?;
    Some((line.trim_end().to_string(), body))
}

fn respond(stream: &mut TcpStream, status: &str, headers: &[(&str, String)], body: &[u8]) {
    let mut head = format!("HTTP/1.1 {status}\r\nContent-Length: {}\r\n", body.len());
    for (name, value) in headers {
        head.push_str(&format!("{name}: {value}\r\n"));
    }
    head.push_str("\r\n");
    let _ = stream.write_all(head.as_bytes());
    let _ = stream.write_all(body);
    let _ = stream.flush();
}

/// Serves one connection until the function has answered and asks for more work.
fn serve(stream: TcpStream, event: &[u8], served: &mut bool, done: &mpsc::Sender<Answer>) {
    let mut writer = stream.try_clone().unwrap();
    let mut reader = BufReader::new(stream);
    while let Some((line, body)) = read_request(&mut reader) {
        let text = String::from_utf8_lossy(&body).into_owned();
        if line.starts_with("GET /2018-06-01/runtime/invocation/next") {
            if *served {
                // The second request for work: the invocation is over. Leave it waiting.
                return;
            }
            *served = true;
            let deadline = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap()
                .as_millis()
                + DEADLINE.as_millis();
            let headers = [
                ("Content-Type", "application/json".to_string()),
                ("Lambda-Runtime-Aws-Request-Id", REQUEST_ID.to_string()),
                ("Lambda-Runtime-Deadline-Ms", deadline.to_string()),
                (
                    "Lambda-Runtime-Invoked-Function-Arn",
                    "arn:aws:lambda:us-east-1:000000000000:function:test".to_string(),
                ),
                (
                    "Lambda-Runtime-Trace-Id",
                    "Root=1-5bef4de7-ad49b0e87f6ef6c87fc2e700".to_string(),
                ),
            ];
            respond(&mut writer, "200 OK", &headers, event);
        } else if line.contains("/response ") {
            respond(&mut writer, "202 Accepted", &[], b"{}");
            let _ = done.send(Answer::Response(text));
        } else if line.contains("/error ") {
            respond(&mut writer, "202 Accepted", &[], b"{}");
            let _ = done.send(Answer::Error(text));
        } else {
            respond(&mut writer, "404 Not Found", &[], b"{}");
        }
    }
}

/// Runs `binary` with `env` (and nothing else of this process's environment) for one
/// invocation with `event`.
pub fn invoke_once(
    binary: &Path,
    env: &[(&str, &str)],
    event: &[u8],
) -> anyhow::Result<Invocation> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let api = listener.local_addr()?.to_string();
    let (tx, rx) = mpsc::channel();
    let event = event.to_vec();
    std::thread::spawn(move || {
        let mut served = false;
        for stream in listener.incoming().flatten() {
            serve(stream, &event, &mut served, &tx);
        }
    });
    let mut child = Command::new(binary)
        .env_clear()
        .envs(env.iter().copied())
        .env("AWS_LAMBDA_RUNTIME_API", &api)
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()?;
    // Both pipes are drained while the function runs, so that neither can fill and stall it.
    let drain = |pipe: Option<Box<dyn Read + Send>>| {
        std::thread::spawn(move || {
            let mut text = String::new();
            if let Some(mut pipe) = pipe {
                let _ = pipe.read_to_string(&mut text);
            }
            text
        })
    };
    let stdout = drain(
        child
            .stdout
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let stderr = drain(
        child
            .stderr
            .take()
            .map(|p| Box::new(p) as Box<dyn Read + Send>),
    );
    let answer = rx.recv_timeout(Duration::from_secs(60));
    // The function has answered (or never will): its peak memory and CPU time so far, then
    // stop it and read what it printed.
    let cpu_seconds = cpu_seconds(child.id());
    let peak_rss_kib = std::fs::read_to_string(format!("/proc/{}/status", child.id()))
        .ok()
        .and_then(|status| {
            status
                .lines()
                .find_map(|l| l.strip_prefix("VmHWM:"))
                .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        });
    let _ = child.kill();
    let _ = child.wait();
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    let answer = answer.map_err(|_| {
        anyhow::anyhow!(
            "{} did not answer within 60 s; it printed:\n{stdout}{stderr}",
            binary.display()
        )
    })?;
    Ok(Invocation {
        answer,
        peak_rss_kib,
        cpu_seconds,
        stdout: stdout.lines().map(str::to_string).collect(),
    })
}
