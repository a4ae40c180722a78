//! Finding, pausing and killing the stack's processes, from `/proc`, so that a test can crash a
//! function the way an out-of-memory kill or a hardware fault would, at a moment it chose.

use std::collections::BTreeMap;

/// `(parent pid, command name)` of a process, from `/proc/<pid>/stat`.
fn stat(pid: u32) -> Option<(u32, String)> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // pid (comm) state ppid ...: the name may hold spaces and parentheses
    let open = text.find('(')?;
    let close = text.rfind(')')?;
    let name = text[open + 1..close].to_string();
    let fields: Vec<&str> = text[close + 2..].split_whitespace().collect();
    let ppid = fields.get(1)?.parse().ok()?;
    Some((ppid, name))
}

/// Processes named `name` that descend from `root`.
pub fn descendants_named(root: u32, name: &str) -> Vec<u32> {
    let mut processes = BTreeMap::new();
    for entry in std::fs::read_dir("/proc").into_iter().flatten().flatten() {
        if let Some(pid) = entry
            .file_name()
            .to_str()
            .and_then(|s| s.parse::<u32>().ok())
            && let Some((ppid, comm)) = stat(pid)
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

/// Whether a process exists.
pub fn alive(pid: u32) -> bool {
    std::path::Path::new(&format!("/proc/{pid}")).exists()
}

fn signal(pid: u32, name: &str) {
    let status = std::process::Command::new("kill")
        .args([&format!("-{name}"), &pid.to_string()])
        .status()
        .unwrap();
    assert!(status.success(), "kill -{name} {pid} failed");
}

/// Sends SIGKILL to a process.
pub fn kill_9(pid: u32) {
    signal(pid, "KILL");
}

/// Freezes a process (SIGSTOP): it keeps its sockets, but reads and answers nothing.
pub fn pause(pid: u32) {
    signal(pid, "STOP");
}

/// Lets a frozen process run again (SIGCONT).
pub fn resume(pid: u32) {
    signal(pid, "CONT");
}

/// Whether some connection accepted on 127.0.0.1:`port` holds bytes its server has not read:
/// a request sent to a frozen server. Read from `/proc/net/tcp`, whose `rx_queue` column is
/// the bytes waiting in a socket's receive buffer.
pub fn unread_request_on(port: u16) -> bool {
    let table = std::fs::read_to_string("/proc/net/tcp").unwrap_or_default();
    table.lines().skip(1).any(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // sl local_address rem_address st tx_queue:rx_queue ...; 01 is ESTABLISHED
        let (Some(local), Some(state), Some(queues)) =
            (fields.get(1), fields.get(3), fields.get(4))
        else {
            return false;
        };
        let local_port = local
            .rsplit_once(':')
            .and_then(|(_, p)| u16::from_str_radix(p, 16).ok());
        let rx_queue = queues
            .split_once(':')
            .and_then(|(_, rx)| u64::from_str_radix(rx, 16).ok());
        local_port == Some(port) && *state == "01" && rx_queue.is_some_and(|n| n > 0)
    })
}
