//! Starting and stopping the local stack for a test run, and running the emulators.

use std::{
    fs::File,
    path::{Path, PathBuf},
    process::{Command, Output},
};

use crate::env_file::{local_env, repo_root};

/// The stack, started with its state and lake under `dir`; stopped when dropped. It holds the
/// machine's stack lock for its whole life, since every stack listens on the same ports.
pub struct Stack {
    pub dir: PathBuf,
    pub lake_root: PathBuf,
    /// Settings given to every service on top of the local env file (the functions inherit
    /// them from `cargo lambda watch`).
    env: Vec<(String, String)>,
    _lock: File,
}

/// Takes the machine's stack lock (`USER_LAKE_STACK_LOCK`, default `/tmp/user-lake-stack.lock`:
/// the file `make load` and the benchmarks lock too), waiting for whoever holds it.
pub fn stack_lock() -> anyhow::Result<File> {
    let path = std::env::var("USER_LAKE_STACK_LOCK")
        .unwrap_or_else(|_| "/tmp/user-lake-stack.lock".into());
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)?;
    if file.try_lock().is_err() {
        eprintln!("[stack] waiting for the stack lock {path}, held by another stack");
        file.lock()?;
    }
    Ok(file)
}

fn script(dir: &Path, action: &str) -> Command {
    let mut command = Command::new(repo_root().join("infra/local/stack.sh"));
    command
        .arg(action)
        .env("USER_LAKE_STACK_DIR", dir.join("stack"))
        .env("USER_LAKE_OUTPUT", dir.join("output"))
        // The harness holds the stack lock for the stack's whole life (`Stack`).
        .env("USER_LAKE_STACK_LOCK_HELD", "1");
    command
}

impl Stack {
    /// Starts every service, fresh, under `dir`.
    pub fn up(dir: &Path) -> anyhow::Result<Self> {
        Self::up_with(dir, &[])
    }

    /// Starts every service, fresh, under `dir`, with `env` set for all of them (a variable the
    /// env file sets itself cannot be overridden this way).
    pub fn up_with(dir: &Path, env: &[(&str, &str)]) -> anyhow::Result<Self> {
        let lock = stack_lock()?;
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let stack = Stack {
            dir: dir.to_path_buf(),
            lake_root: dir.join("output"),
            env: env
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
            _lock: lock,
        };
        stack.run_up(true)?;
        Ok(stack)
    }

    /// Starts whatever service is not running, keeping the state and lake (`stack.sh up`
    /// without building again).
    pub fn start_stopped(&self) -> anyhow::Result<()> {
        self.run_up(false)
    }

    fn run_up(&self, build: bool) -> anyhow::Result<()> {
        let mut command = script(&self.dir, "up");
        command.envs(self.env.iter().map(|(k, v)| (k, v)));
        if !build {
            command.env("USER_LAKE_NO_BUILD", "1");
        }
        let status = command.status()?;
        anyhow::ensure!(
            status.success(),
            "infra/local/stack.sh up failed ({status}); logs in {}",
            self.dir.display()
        );
        Ok(())
    }

    /// Restarts the functions' server (and the users-API stand-in, if the URL calls for it)
    /// with `env` on top of the stack's own settings; an empty `env` restores them.
    pub fn restart_functions_with(&self, env: &[(&str, &str)]) -> anyhow::Result<()> {
        self.stop("functions")?;
        self.stop("users-api")?;
        let mut command = script(&self.dir, "up");
        command.envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        command.envs(env.iter().copied());
        command.env("USER_LAKE_NO_BUILD", "1");
        let status = command.status()?;
        anyhow::ensure!(status.success(), "stack.sh up failed ({status})");
        Ok(())
    }

    /// The functions restarted with `env` on top of the stack's settings until the guard drops,
    /// then restarted with the stack's own, whether the scenario passed or not.
    pub fn functions_with(&self, env: &[(&str, &str)]) -> FunctionsWith<'_> {
        self.restart_functions_with(env).unwrap();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(warm_functions());
        FunctionsWith { stack: self }
    }

    /// What `stack.sh up` last wrote about the stack (`stack.json`: the users API in use, the
    /// functions' environment file).
    pub fn state(&self) -> serde_json::Value {
        let path = self.dir.join("stack").join("stack.json");
        serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
    }

    /// Stops one service (`s3`, `kafka`, `users-api` or `functions`), as an outage would.
    pub fn stop(&self, service: &str) -> anyhow::Result<()> {
        let status = script(&self.dir, "stop").arg(service).status()?;
        anyhow::ensure!(
            status.success(),
            "stack.sh stop {service} failed ({status})"
        );
        Ok(())
    }

    /// The process id of a running service, from the stack's pid file.
    pub fn pid(&self, service: &str) -> Option<u32> {
        let file = self.dir.join("stack").join(format!("{service}.pid"));
        std::fs::read_to_string(file).ok()?.trim().parse().ok()
    }

    /// A service's log file.
    pub fn log(&self, service: &str) -> PathBuf {
        self.dir
            .join("stack")
            .join("logs")
            .join(format!("{service}.log"))
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        let _ = script(&self.dir, "down").status();
    }
}

/// The directory the emulator binaries were built into (beside this test binary).
fn bin_dir() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    exe.parent().and_then(Path::parent).unwrap().to_path_buf()
}

/// An emulator binary with the local env, from the repository root (for template.yaml).
fn emulator_command(name: &str, args: &[&str]) -> Command {
    let mut command = Command::new(bin_dir().join(name));
    command
        .args(args)
        .envs(local_env())
        .env("RUST_LOG", "warn")
        .current_dir(repo_root());
    command
}

/// Runs an emulator binary to its end.
pub fn emulator(name: &str, args: &[&str]) -> Output {
    let output = emulator_command(name, args)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// Runs the compactor once through the schedule emulator, judging hours as of `now`; its
/// answer.
pub fn compact_as_of(now: chrono::DateTime<chrono::Utc>) -> serde_json::Value {
    compact_as_of_with(now, &[]).remove(0)
}

/// Runs the compactor's schedule once as of `now` with `extra` flags; the response of every
/// invocation (two with `--deliver-twice`).
pub fn compact_as_of_with(
    now: chrono::DateTime<chrono::Utc>,
    extra: &[&str],
) -> Vec<serde_json::Value> {
    let detail = serde_json::json!({ "now": now }).to_string();
    let mut args = vec![
        "--function",
        "compactor",
        "--times",
        "1",
        "--detail",
        &detail,
        "--fail-fast",
    ];
    args.extend_from_slice(extra);
    let output = emulator("schedule", &args);
    let lines = json_lines(&output.stdout);
    assert!(output.status.success(), "compactor failed: {lines:?}");
    lines
        .iter()
        .filter(|l| l["event"] == "invoked")
        .map(|l| l["response"].clone())
        .collect()
}

/// An emulator running in the background, its JSON lines (one per invocation) collected from
/// stdout as they come.
pub struct Background {
    child: std::process::Child,
    lines: std::sync::Arc<std::sync::Mutex<Vec<serde_json::Value>>>,
    reader: Option<std::thread::JoinHandle<()>>,
}

impl Background {
    /// Starts an emulator binary; its log goes to the test's stderr.
    pub fn start(name: &str, args: &[&str]) -> Self {
        use std::io::BufRead;
        let mut child = emulator_command(name, args)
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {name}: {e}"));
        let stdout = child.stdout.take().unwrap();
        let lines = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let sink = lines.clone();
        let reader = std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                if let Ok(value) = serde_json::from_str(&line) {
                    sink.lock().unwrap().push(value);
                }
            }
        });
        Background {
            child,
            lines,
            reader: Some(reader),
        }
    }

    /// The JSON lines so far whose `event` is `event`.
    pub fn events(&self, event: &str) -> Vec<serde_json::Value> {
        let lines = self.lines.lock().unwrap();
        lines
            .iter()
            .filter(|l| l["event"] == event)
            .cloned()
            .collect()
    }

    /// Records the trigger has had accepted so far (its `delivered` events).
    pub fn delivered(&self) -> u64 {
        self.events("delivered")
            .iter()
            .filter_map(|e| e["records"].as_u64())
            .sum()
    }

    /// Waits until `done` holds; false if it did not within `timeout`.
    pub fn wait_for(&self, timeout: std::time::Duration, done: impl Fn(&Self) -> bool) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if done(self) {
                return true;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        done(self)
    }

    /// Asks the emulator to stop (SIGTERM), as Ctrl-C would; its JSON lines, the summary last.
    pub fn stop(self) -> Vec<serde_json::Value> {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        self.wait()
    }

    /// Waits for the emulator's end; its JSON lines, the summary last.
    pub fn wait(mut self) -> Vec<serde_json::Value> {
        let _ = self.child.wait();
        if let Some(reader) = self.reader.take() {
            let _ = reader.join();
        }
        self.lines.lock().unwrap().clone()
    }
}

/// Every line of an emulator's stdout that is JSON.
pub fn json_lines(stdout: &[u8]) -> Vec<serde_json::Value> {
    String::from_utf8_lossy(stdout)
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The last line of an emulator's stdout that is a JSON object: its summary.
pub fn summary(output: &Output) -> serde_json::Value {
    json_lines(&output.stdout)
        .into_iter()
        .rev()
        .find(serde_json::Value::is_object)
        .unwrap_or_else(|| {
            panic!(
                "no JSON summary in: {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
}

/// Has `cargo lambda watch` start the functions before any scenario runs: the first
/// invocation of each may wait for a build, and an invocation abandoned by a client time-out
/// during that build leaves the function's process unable to serve. One request each, waited
/// for as long as a build takes; a refused connection (the server busy starting) is retried.
pub async fn warm_functions() {
    let endpoint = &local_env()["LAMBDA_ENDPOINT"];
    let events = [
        ("sink", r#"{"eventSource":"aws:kafka","records":{}}"#),
        // a count the producer refuses: it starts, produces nothing and answers with an error
        ("producer", r#"{"detail":{"count":0}}"#),
    ];
    let client = reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(1200))
        .build()
        .unwrap();
    for (function, event) in events {
        let url = format!("{endpoint}/2015-03-31/functions/{function}/invocations");
        let mut answered = false;
        for _ in 0..10 {
            match client.post(&url).body(event).send().await {
                Ok(response) => {
                    answered = response.text().await.is_ok();
                    break;
                }
                Err(error) if error.is_connect() => {
                    tokio::time::sleep(std::time::Duration::from_secs(5)).await
                }
                Err(_) => break,
            }
        }
        eprintln!("e2e: {function} warm: {answered}");
    }
}

/// Functions running with a scenario's own settings ([`Stack::functions_with`]).
pub struct FunctionsWith<'a> {
    stack: &'a Stack,
}

impl Drop for FunctionsWith<'_> {
    fn drop(&mut self) {
        if let Err(error) = self.stack.restart_functions_with(&[]) {
            eprintln!("e2e: cannot restore the functions' settings: {error:#}");
        }
    }
}
