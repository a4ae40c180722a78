//! Finding and killing the functions' processes under `cargo lambda watch`, from `/proc`, so
//! that a test can crash a function the way an out-of-memory kill or a hardware fault would.

use std::collections::BTreeMap;

/// `(parent pid, command name, CPU ticks used)` of a process, from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, String, u64)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ... utime(14) stime(15): the name may hold spaces and parentheses
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some((ppid, name, utime + stime))
}

/// Processes named `name` that descend from `root`.
pub fn descendants_named(root: u32, name: &str) -> Vec<u32> {
    let mut processes = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
            && let Some((ppid, comm, _)) = stat(pid)
        {
            processes.insert(pid, (ppid, comm));
        }
    }
    processes
        .iter()
        .filter(|(_, (_, comm))| comm == name)
        .filter(|(pid, _)| {
            let mut at = **pid;
            while let Some((ppid, _)) = processes.get(&at) {
                if *ppid == root {
                    return true;
                }
                at = *ppid;
            }
            false
        })
        .map(|(pid, _)| *pid)
        .collect()
}

/// CPU time (user + system, in clock ticks) a process has used; `None` once it is gone.
pub fn cpu_ticks(pid: u32) -> Option<u64> {
    stat(pid).map(|(_, _, ticks)| ticks)
}

/// Whether a process exists.
pub fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

/// Sends SIGKILL to a process.
pub fn kill_9(pid: u32) {
    let status = std::process::Command::new("kill")
        .args(["-KILL", &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -9 {pid} failed");
}
