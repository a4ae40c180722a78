//! Starting and stopping the local stack for a test run, and running the emulators.

use std::{
    path::{Path, PathBuf},
    process::{Command, Output},
};

use crate::env_file::{local_env, repo_root};

/// The stack, started with its state and lake under `dir`; stopped when dropped.
pub struct Stack {
    pub dir: PathBuf,
    pub lake_root: PathBuf,
}

fn script(dir: &Path, action: &str) -> Command {
    let mut command = Command::new(repo_root().join("infra/local/stack.sh"));
    command
        .arg(action)
        .env("USER_LAKE_STACK_DIR", dir.join("stack"))
        .env("USER_LAKE_OUTPUT", dir.join("output"));
    command
}

impl Stack {
    /// Starts every service, fresh, under `dir`.
    pub fn up(dir: &Path) -> anyhow::Result<Self> {
        let _ = std::fs::remove_dir_all(dir);
        std::fs::create_dir_all(dir)?;
        let status = script(dir, "up").status()?;
        let stack = Stack {
            dir: dir.to_path_buf(),
            lake_root: dir.join("output"),
        };
        anyhow::ensure!(
            status.success(),
            "infra/local/stack.sh up failed ({status}); logs in {}",
            dir.display()
        );
        Ok(stack)
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

/// Runs an emulator binary with the local env, from the repository root (for template.yaml).
pub fn emulator(name: &str, args: &[&str]) -> Output {
    let output = Command::new(bin_dir().join(name))
        .args(args)
        .envs(local_env())
        .env("RUST_LOG", "warn")
        .current_dir(repo_root())
        .output()
        .unwrap_or_else(|e| panic!("cannot run {name}: {e}"));
    eprint!("{}", String::from_utf8_lossy(&output.stderr));
    output
}

/// The last line of an emulator's stdout that is a JSON object: its summary.
pub fn summary(output: &Output) -> serde_json::Value {
    String::from_utf8_lossy(&output.stdout)
        .lines()
        .rev()
        .find_map(|l| {
            serde_json::from_str::<serde_json::Value>(l)
                .ok()
                .filter(|v| v.is_object())
        })
        .unwrap_or_else(|| {
            panic!(
                "no JSON summary in: {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
}
