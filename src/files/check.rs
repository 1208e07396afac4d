//! The check: the user's command (never the model's), run through `sh -c` in the project
//! root, in its own process group, with a deadline, under the sandbox when [`Confine`] says
//! so (`sandbox`: the project writable, the rest read-only, no network, a PID namespace).
//! On the deadline or on cancellation the whole group is killed; when the shell exits,
//! whatever it left running in its group is killed too, so no orphan outlives the check
//! (in the sandbox, `setsid` children too: they die with the PID namespace). The output
//! (stdout and stderr, in arrival order) is kept as a bounded tail: the last 200 lines and
//! at most 16 KiB.

use std::future::Future;
use std::io;
use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::io::{AsyncRead, AsyncReadExt};

/// `--check-timeout` when not given.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(120);
/// Most lines of output kept.
pub const TAIL_LINES: usize = 200;
/// Most bytes of output kept.
pub const TAIL_BYTES: usize = 16 * 1024;
/// How long the pipes are drained after the group is killed (a process that left the group
/// may still hold them).
const DRAIN: Duration = Duration::from_secs(2);

/// Where and with what environment a check runs.
#[derive(Debug, Clone, Default)]
pub struct Confine {
    /// Under bubblewrap (`sandbox::command`); `false`: as the user.
    pub sandbox: bool,
    /// Variables removed from the check's environment (the keys codex-wrap reads).
    pub unset: Vec<String>,
    /// Variables given another value (URLs with their password stripped).
    pub set: Vec<(String, String)>,
}

impl Confine {
    /// A check's confinement for a call with `settings`: sandboxed or not, and the
    /// environment without the key variables codex-wrap reads (every endpoint's `key_env`
    /// too) and without URL passwords.
    pub fn new(
        sandbox: bool,
        env: &crate::config::env::Env,
        settings: &crate::config::Settings,
    ) -> Self {
        let r = &settings.routes;
        let key_envs = r
            .local
            .iter()
            .chain(&r.api)
            .chain(&r.codex)
            .filter_map(|e| e.key_env.as_deref());
        let (unset, set) = crate::secrets::check_env(env, key_envs);
        Confine {
            sandbox,
            unset,
            set,
        }
    }
}

/// How the check ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum CheckEnd {
    /// The shell exited by itself.
    Exited,
    /// The deadline passed; the group was killed.
    TimedOut,
    /// Cancelled (Ctrl-C); the group was killed.
    Cancelled,
}

/// The result of one check run.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CheckOutcome {
    /// The command as given.
    pub command: String,
    /// How it ended.
    pub end: CheckEnd,
    /// The exit code, when the shell exited.
    pub exit_code: Option<i32>,
    /// The signal that ended the shell, if one did.
    pub signal: Option<i32>,
    /// Wall time.
    pub seconds: f64,
    /// The last lines of output (lossy UTF-8).
    pub tail: String,
    /// Whether output was left out of `tail`.
    pub truncated: bool,
}

impl CheckOutcome {
    /// Exited with 0.
    pub fn passed(&self) -> bool {
        self.end == CheckEnd::Exited && self.exit_code == Some(0)
    }

    /// `exit 1`, `timed out after 120 s`, `killed by signal 9`, `cancelled`.
    pub fn describe(&self) -> String {
        match (self.end, self.exit_code, self.signal) {
            (CheckEnd::TimedOut, ..) => format!("timed out after {:.0} s", self.seconds),
            (CheckEnd::Cancelled, ..) => "cancelled".to_owned(),
            (_, Some(code), _) => format!("exit {code}"),
            (_, None, Some(sig)) => format!("killed by signal {sig}"),
            (_, None, None) => "ended".to_owned(),
        }
    }
}

/// Runs `command` through `sh -c` in `root`, confined as `confine` says. Returns when the
/// shell exits, the deadline passes, or `cancel` completes; in every case the process group
/// is killed before it returns. An error only when the shell (or bwrap) cannot be started.
pub async fn run_check(
    command: &str,
    root: &Path,
    timeout: Duration,
    confine: &Confine,
    cancel: impl Future<Output = ()>,
) -> io::Result<CheckOutcome> {
    let start = Instant::now();
    let mut cmd = if confine.sandbox {
        tokio::process::Command::from(super::sandbox::command(&["sh", "-c", command], root))
    } else {
        let mut cmd = tokio::process::Command::new("sh");
        cmd.arg("-c").arg(command);
        cmd
    };
    for name in &confine.unset {
        cmd.env_remove(name);
    }
    for (name, value) in &confine.set {
        cmd.env(name, value);
    }
    let mut child = cmd
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()?;
    let group = child.id().map(|id| Pid::from_raw(id as i32));
    let (out, err) = (child.stdout.take(), child.stderr.take());
    let reader = collect(out, err);
    tokio::pin!(reader, cancel);
    let deadline = tokio::time::sleep(timeout);
    tokio::pin!(deadline);
    let mut tail = None;
    let (end, status) = loop {
        tokio::select! {
            t = &mut reader, if tail.is_none() => tail = Some(t),
            s = child.wait() => break (CheckEnd::Exited, Some(s?)),
            () = &mut deadline => break (CheckEnd::TimedOut, None),
            () = &mut cancel => break (CheckEnd::Cancelled, None),
        }
    };
    if let Some(group) = group {
        // ESRCH when the group is already empty: nothing to do. While any member lives the
        // id cannot be reused for another group; after a normal exit with an empty group
        // the kill comes microseconds after the reap, too soon for the id to be handed out.
        let _ = killpg(group, Signal::SIGKILL);
    }
    let status = match status {
        Some(s) => s,
        None => child.wait().await?,
    };
    let tail = match tail {
        Some(t) => t,
        None => tokio::time::timeout(DRAIN, reader)
            .await
            .unwrap_or_else(|_| Tail::default()),
    };
    use std::os::unix::process::ExitStatusExt;
    let (text, truncated) = tail.finish();
    Ok(CheckOutcome {
        command: command.to_owned(),
        end,
        exit_code: if end == CheckEnd::Exited {
            status.code()
        } else {
            None
        },
        signal: if end == CheckEnd::Exited {
            status.signal()
        } else {
            None
        },
        seconds: start.elapsed().as_secs_f64(),
        // Shown, logged and sent back to the model: no known secret in it.
        tail: crate::secrets::mask(&text).into_owned(),
        truncated,
    })
}

/// Reads both pipes to their end into one bounded tail.
async fn collect(out: Option<impl AsyncRead + Unpin>, err: Option<impl AsyncRead + Unpin>) -> Tail {
    let mut tail = Tail::default();
    let (mut out, mut err) = (out, err);
    let (mut a, mut b) = ([0u8; 8192], [0u8; 8192]);
    while out.is_some() || err.is_some() {
        tokio::select! {
            n = read_some(&mut out, &mut a) => match n {
                Some(n) => tail.push(&a[..n]),
                None => out = None,
            },
            n = read_some(&mut err, &mut b) => match n {
                Some(n) => tail.push(&b[..n]),
                None => err = None,
            },
        }
    }
    tail
}

/// Some bytes, or `None` at the end (or on an error); pends forever on a closed pipe.
async fn read_some(pipe: &mut Option<impl AsyncRead + Unpin>, buf: &mut [u8]) -> Option<usize> {
    match pipe {
        Some(p) => match p.read(buf).await {
            Ok(0) | Err(_) => None,
            Ok(n) => Some(n),
        },
        None => std::future::pending().await,
    }
}

/// The last bytes of the output, kept within a few times `TAIL_BYTES`.
#[derive(Debug, Default)]
struct Tail {
    buf: Vec<u8>,
    dropped: bool,
}

impl Tail {
    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
        if self.buf.len() > 4 * TAIL_BYTES {
            let cut = self.buf.len() - 2 * TAIL_BYTES;
            self.buf.drain(..cut);
            self.dropped = true;
        }
    }

    /// The last `TAIL_LINES` lines within `TAIL_BYTES`, and whether anything was left out.
    fn finish(self) -> (String, bool) {
        let mut start = self.buf.len().saturating_sub(TAIL_BYTES);
        let mut truncated = self.dropped || start > 0;
        let body = self.buf.strip_suffix(b"\n").unwrap_or(&self.buf);
        if let Some(pos) = memchr::memrchr_iter(b'\n', body).nth(TAIL_LINES - 1)
            && pos + 1 > start
        {
            start = pos + 1;
            truncated = true;
        }
        let text = String::from_utf8_lossy(&self.buf[start..]);
        (text.trim_start_matches('\u{fffd}').to_owned(), truncated)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(command: &str, timeout: Duration) -> CheckOutcome {
        let root = std::env::temp_dir();
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_check(
                command,
                &root,
                timeout,
                &Confine::default(),
                std::future::pending(),
            ))
            .unwrap()
    }

    /// Processes whose command line contains `marker`.
    fn alive(marker: &str) -> Vec<String> {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            if let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) {
                let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
                if cmd.contains(marker) && !cmd.contains("sh -c") {
                    found.push(format!("{}: {cmd}", entry.file_name().to_string_lossy()));
                }
            }
        }
        found
    }

    fn wait_gone(marker: &str) -> Vec<String> {
        let start = Instant::now();
        loop {
            let left = alive(marker);
            if left.is_empty() || start.elapsed() > Duration::from_secs(5) {
                return left;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    #[test]
    fn a_passing_and_a_failing_check() {
        let ok = run("echo hello; echo oops >&2", Duration::from_secs(30));
        assert!(ok.passed(), "{ok:?}");
        assert!(
            ok.tail.contains("hello\n") && ok.tail.contains("oops\n"),
            "{ok:?}"
        );
        assert!(!ok.truncated);
        let bad = run("echo failing; exit 3", Duration::from_secs(30));
        assert!(!bad.passed());
        assert_eq!(bad.exit_code, Some(3));
        assert_eq!(bad.describe(), "exit 3");
        assert_eq!(bad.tail, "failing\n");
    }

    #[test]
    fn it_runs_in_the_given_directory() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("marker.txt"), "here").unwrap();
        let out = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(run_check(
                "cat marker.txt",
                dir.path(),
                DEFAULT_TIMEOUT,
                &Confine::default(),
                std::future::pending(),
            ))
            .unwrap();
        assert!(out.passed(), "{out:?}");
        assert_eq!(out.tail, "here");
    }

    #[test]
    fn the_deadline_kills_the_whole_group() {
        let marker = "1000.4242";
        let out = run(
            &format!("sleep {marker} & sleep {marker} & echo started; wait"),
            Duration::from_secs(1),
        );
        assert_eq!(out.end, CheckEnd::TimedOut);
        assert_eq!(out.describe(), "timed out after 1 s");
        assert!(!out.passed());
        assert_eq!(out.tail, "started\n");
        assert!(out.seconds < 5.0, "{out:?}");
        assert_eq!(wait_gone(marker), Vec::<String>::new());
    }

    #[test]
    fn what_the_shell_leaves_running_is_killed_when_it_exits() {
        let marker = "1000.4343";
        let out = run(&format!("sleep {marker} & exit 0"), Duration::from_secs(30));
        assert!(out.passed(), "{out:?}");
        assert!(out.seconds < 5.0, "{out:?}");
        assert_eq!(wait_gone(marker), Vec::<String>::new());
    }

    #[test]
    fn cancellation_kills_the_group() {
        let marker = "1000.4444";
        let out = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(async {
                let cancel = tokio::time::sleep(Duration::from_millis(300));
                run_check(
                    &format!("sleep {marker}"),
                    &std::env::temp_dir(),
                    DEFAULT_TIMEOUT,
                    &Confine::default(),
                    cancel,
                )
                .await
            })
            .unwrap();
        assert_eq!(out.end, CheckEnd::Cancelled);
        assert_eq!(wait_gone(marker), Vec::<String>::new());
    }

    #[test]
    fn the_tail_is_bounded_in_lines_and_bytes() {
        let out = run("seq 1 100000", Duration::from_secs(30));
        assert!(out.passed());
        assert!(out.truncated);
        assert_eq!(out.tail.lines().count(), TAIL_LINES);
        assert_eq!(out.tail.lines().next(), Some("99801"));
        assert!(out.tail.ends_with("100000\n"));
        let wide = run(
            "head -c 100000 /dev/zero | tr '\\0' x",
            Duration::from_secs(30),
        );
        assert_eq!(wide.tail.len(), TAIL_BYTES);
        assert!(wide.truncated);
    }

    #[test]
    fn a_command_that_cannot_be_found_fails_like_a_shell() {
        let out = run("no-such-command-codex-wrap", Duration::from_secs(30));
        assert_eq!(out.exit_code, Some(127));
        assert!(out.tail.contains("not found"), "{out:?}");
    }
}
