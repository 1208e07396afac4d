//! The running engine: its record in the state directory, and the operating-system facts
//! about its process (alive, start time, memory), never trusted without checking.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use nix::sys::signal::{Signal, kill};
use nix::unistd::Pid;
use serde::{Deserialize, Serialize};

/// What `engine up` wrote about the server it started.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct Record {
    /// The llama-server process.
    pub(crate) pid: u32,
    /// Its start time as the kernel counts it (Linux), so a reused pid is not mistaken
    /// for it.
    pub(crate) proc_start: Option<u64>,
    /// Loopback port and OpenAI base URL.
    pub(crate) port: u16,
    pub(crate) base_url: String,
    /// The model's name (as served) and file.
    pub(crate) model: String,
    pub(crate) model_path: PathBuf,
    /// The binary that serves it.
    pub(crate) binary: PathBuf,
    /// Unix seconds when it became healthy.
    pub(crate) started: u64,
    /// The server's log file.
    pub(crate) log: PathBuf,
    /// Stop after this many idle seconds (`None`: never).
    pub(crate) idle_stop_secs: Option<u64>,
    /// The idle watcher, when there is one.
    pub(crate) watcher: Option<u32>,
    pub(crate) watcher_start: Option<u64>,
    /// llama-server's generation threads (`--threads`).
    #[serde(default)]
    pub(crate) threads: Option<u32>,
}

impl Record {
    /// Reads a record; a file that does not parse is not a record.
    pub(crate) fn read(path: &Path) -> Option<Record> {
        let text = std::fs::read_to_string(path).ok()?;
        serde_json::from_str(&text).ok()
    }

    /// Writes the record whole or not at all.
    pub(crate) fn write(&self, path: &Path) -> std::io::Result<()> {
        let tmp = path.with_extension(format!("tmp-{}", std::process::id()));
        std::fs::write(&tmp, serde_json::to_vec_pretty(self).unwrap_or_default())?;
        std::fs::rename(&tmp, path)
    }

    /// Whether the recorded server is still this process.
    pub(crate) fn alive(&self) -> bool {
        alive(self.pid, self.proc_start)
    }

    /// How long it has been up.
    pub(crate) fn uptime(&self) -> Duration {
        Duration::from_secs(unix_now().saturating_sub(self.started))
    }

    /// Time since the server last wrote to its log (it logs every request it serves,
    /// never a health check), or since it started.
    pub(crate) fn idle(&self) -> Duration {
        let last = std::fs::metadata(&self.log)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map_or(0, |d| d.as_secs());
        Duration::from_secs(unix_now().saturating_sub(last.max(self.started)))
    }

    /// Completion requests the server has handled, counted from its log.
    /// The generation speed of the last answer, from the server's own timing line
    /// (`eval time = ... ms / N tokens (... ms per token, X tokens per second)`).
    pub(crate) fn tokens_per_sec(&self) -> Option<f64> {
        let text = std::fs::read(&self.log).ok()?;
        last_tokens_per_sec(&String::from_utf8_lossy(&text))
    }

    pub(crate) fn requests(&self) -> Option<u64> {
        let text = std::fs::read(&self.log).ok()?;
        let needle = b"processing task";
        Some(
            text.windows(needle.len())
                .filter(|w| *w == needle.as_slice())
                .count() as u64,
        )
    }
}

/// The generation speed on the last `eval time` line of llama-server's log (not the
/// `prompt eval time` line: that is the prompt's processing).
pub(crate) fn last_tokens_per_sec(log: &str) -> Option<f64> {
    log.lines()
        .rev()
        .filter(|l| l.contains("eval time") && !l.contains("prompt eval time"))
        .find_map(|l| {
            let before = l.split("tokens per second").next()?;
            before.rsplit([',', '(']).next()?.trim().parse::<f64>().ok()
        })
}

/// Seconds since the Unix epoch.
pub(crate) fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Whether `pid` is a live process (not a zombie) and, when `start` is known, the same
/// process that was recorded.
pub(crate) fn alive(pid: u32, start: Option<u64>) -> bool {
    let Ok(raw) = i32::try_from(pid) else {
        return false;
    };
    if raw <= 0 {
        return false;
    }
    if let Some((state, started)) = proc_stat(pid) {
        if matches!(state, 'Z' | 'X' | 'x') {
            return false;
        }
        return start.is_none_or(|s| s == started);
    }
    if Path::new("/proc/self/stat").exists() {
        // /proc works here and has no entry for the pid: it is gone.
        return false;
    }
    match kill(Pid::from_raw(raw), None) {
        Ok(()) => true,
        Err(e) => e == nix::errno::Errno::EPERM,
    }
}

/// The process's start time in clock ticks since boot (Linux), to tell a reused pid apart.
pub(crate) fn start_time(pid: u32) -> Option<u64> {
    proc_stat(pid).map(|(_, start)| start)
}

/// State letter and start time from `/proc/PID/stat`.
fn proc_stat(pid: u32) -> Option<(char, u64)> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after
    // the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let state = fields.first()?.chars().next()?;
    let start = fields.get(19)?.parse().ok()?;
    Some((state, start))
}

/// Resident memory in bytes.
pub(crate) fn rss_bytes(pid: u32) -> Option<u64> {
    if let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) {
        let kb = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .split_whitespace()
            .next()?
            .parse::<u64>()
            .ok()?;
        return Some(kb * 1024);
    }
    let out = std::process::Command::new("ps")
        .args(["-o", "rss=", "-p", &pid.to_string()])
        .output()
        .ok()?;
    let kb: u64 = String::from_utf8_lossy(&out.stdout).trim().parse().ok()?;
    Some(kb * 1024)
}

/// Stops the recorded process: SIGTERM, then SIGKILL after `grace`. Returns whether it is
/// gone. A pid that is no longer the recorded process is left alone.
pub(crate) fn terminate(pid: u32, start: Option<u64>, grace: Duration) -> bool {
    if !alive(pid, start) {
        return true;
    }
    let Ok(raw) = i32::try_from(pid) else {
        return true;
    };
    let target = Pid::from_raw(raw);
    let _ = kill(target, Signal::SIGTERM);
    let until = Instant::now() + grace;
    while Instant::now() < until {
        if !alive(pid, start) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    let _ = kill(target, Signal::SIGKILL);
    let until = Instant::now() + Duration::from_secs(2);
    while Instant::now() < until {
        if !alive(pid, start) {
            return true;
        }
        std::thread::sleep(Duration::from_millis(25));
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_last_generation_speed_is_read_from_the_log() {
        let log = "prompt eval time =      35.24 ms /    20 tokens (    1.76 ms per token,   567.54 tokens per second)\n\
                   \x20      eval time =     212.62 ms /    16 tokens (   13.29 ms per token,    75.25 tokens per second)\n\
                   prompt eval time =      10.00 ms /    10 tokens (    1.00 ms per token,  1000.00 tokens per second)\n";
        assert_eq!(last_tokens_per_sec(log), Some(75.25));
        assert_eq!(last_tokens_per_sec("no timings\n"), None);
    }

    #[test]
    fn this_process_is_alive_and_a_wrong_start_time_is_not() {
        let me = std::process::id();
        assert!(alive(me, None));
        if let Some(start) = start_time(me) {
            assert!(alive(me, Some(start)));
            assert!(!alive(me, Some(start + 1)));
        }
        assert!(!alive(0, None));
        assert!(!alive(u32::MAX, None));
    }

    #[test]
    fn a_record_survives_a_round_trip_and_garbage_is_no_record() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("engine.json");
        let r = Record {
            pid: 1,
            proc_start: Some(2),
            port: 3,
            base_url: "http://127.0.0.1:3/v1".into(),
            model: "m".into(),
            model_path: "m.gguf".into(),
            binary: "llama-server".into(),
            started: 4,
            log: dir.path().join("log"),
            idle_stop_secs: Some(5),
            watcher: None,
            watcher_start: None,
            threads: Some(1),
        };
        r.write(&path).unwrap();
        assert_eq!(Record::read(&path), Some(r));
        std::fs::write(&path, "{not json").unwrap();
        assert_eq!(Record::read(&path), None);
    }
}
