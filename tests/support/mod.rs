//! Test support: fake provider servers and a runner for the real binary.
//!
//! - A provider server answering a fixed text: `ollama::fake().answering("ok")`, likewise
//!   `openai::fake()` and `gemini::fake()` ([`server::Fake`]); anything else (per-request
//!   answers, pacing, faults mid-stream) is a handler given to [`Server::start`].
//! - A run of the binary: [`Test`], pointed at those servers with `.ollama(&server)`,
//!   `.gemini(&server)`, `.openai(&server)`, with its exit code, stdout and stderr checked
//!   strictly. A raw command (`Sandbox::cmd`, with [`Backends`] for the same pointing) is
//!   only for what needs the process itself: reading its stream while the server holds it,
//!   signals, a terminal, process groups.

#![allow(dead_code)]

pub mod engine;
pub mod gemini;
pub mod ollama;
pub mod openai;
pub mod server;

use std::io::{Read, Write};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

pub use server::{Calls, Server};

/// The warning of a call on the API route (and of `context`) in a project with no context
/// files, as the sandbox is unless a test writes one.
pub const NO_CONTEXT: &str = "no CONTRACTS.md, AGENTS.md in";

/// An isolated place to run the binary: empty HOME and XDG config, its own working
/// directory (a project root with a `.git` marker), and no inherited variables.
pub struct Sandbox {
    pub dir: tempfile::TempDir,
}

impl Sandbox {
    pub fn new() -> Sandbox {
        let dir = tempfile::tempdir().expect("tempdir");
        std::fs::create_dir_all(dir.path().join("project/.git")).unwrap();
        std::fs::create_dir_all(dir.path().join("home/.config")).unwrap();
        Sandbox { dir }
    }

    /// The project root the binary runs in.
    pub fn project(&self) -> PathBuf {
        self.dir.path().join("project")
    }

    /// The user config dir (`XDG_CONFIG_HOME`).
    pub fn config_home(&self) -> PathBuf {
        self.dir.path().join("home/.config")
    }

    /// Writes a file under the project root.
    pub fn write(&self, rel: &str, text: &str) -> PathBuf {
        let path = self.project().join(rel);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap();
        }
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Writes the user's own `profiles.toml` (`$XDG_CONFIG_HOME/codex-wrap/`): trusted, as
    /// every setting there is.
    pub fn user_config(&self, text: &str) -> PathBuf {
        let path = self.config_home().join("codex-wrap/profiles.toml");
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, text).unwrap();
        path
    }

    /// Runs `codex-wrap trust` in the project: its profiles.toml and .env.local apply in full
    /// until one of them changes.
    pub fn trust(&self) {
        // Strict: `trust` does not warn about the .env.local it is trusting.
        Test::new(self).arg("trust").run();
    }

    /// A command for the real binary with a clean environment.
    pub fn cmd(&self) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_codex-wrap"));
        cmd.env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self.dir.path().join("home"))
            .env("XDG_CONFIG_HOME", self.config_home())
            // Nothing listens here: a test that forgets to point a backend at its server
            // fails fast instead of reaching a real service.
            .env("OLLAMA_URL", "http://127.0.0.1:9")
            .env("GEMINI_BASE_URL", "http://127.0.0.1:9")
            .current_dir(self.project())
            .stdin(Stdio::null());
        cmd
    }
}

/// A temporary directory outside /tmp, where the sandboxed check sees the host's file
/// system read-only (its /tmp is a private tmpfs): under the build's target directory, or
/// /var/tmp (else `$HOME`) when that is under /tmp itself (a checkout cloned into /tmp).
pub fn outside_tmp() -> tempfile::TempDir {
    let target = std::path::Path::new(env!("CARGO_TARGET_TMPDIR"));
    let base = if !target.starts_with("/tmp") {
        target.to_path_buf()
    } else if std::path::Path::new("/var/tmp").is_dir() {
        PathBuf::from("/var/tmp")
    } else {
        PathBuf::from(std::env::var_os("HOME").expect("HOME"))
    };
    tempfile::Builder::new()
        .prefix("codex-wrap-test-")
        .tempdir_in(base)
        .unwrap()
}

/// `sleep` processes whose arguments contain `marker`, after waiting up to 3 s for them to
/// go (zombies do not count). By command line, not pid: a sandboxed check's `$!` is a pid
/// in its own namespace.
pub fn survivors(marker: &str) -> Vec<String> {
    let deadline = Instant::now() + Duration::from_secs(3);
    loop {
        let mut found = Vec::new();
        for entry in std::fs::read_dir("/proc").unwrap().flatten() {
            let Ok(cmd) = std::fs::read(entry.path().join("cmdline")) else {
                continue;
            };
            let cmd = String::from_utf8_lossy(&cmd).replace('\0', " ");
            let stat = std::fs::read_to_string(entry.path().join("stat")).unwrap_or_default();
            let zombie = stat.split(") ").nth(1).is_some_and(|r| r.starts_with('Z'));
            // The marker as sleep's own argument: not the shells and bwraps that carry it
            // inside their command text.
            if !zombie && cmd.starts_with("sleep ") && cmd.contains(marker) {
                found.push(format!("{}: {cmd}", entry.file_name().to_string_lossy()));
            }
        }
        if found.is_empty() || Instant::now() > deadline {
            return found;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// What a finished run left.
#[derive(Debug)]
pub struct Run {
    pub code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: String,
    pub elapsed: Duration,
}

impl Run {
    pub fn stdout(&self) -> String {
        String::from_utf8(self.stdout.clone()).expect("stdout is UTF-8")
    }

    #[track_caller]
    pub fn assert_code(&self, code: i32) -> &Self {
        assert_eq!(
            self.code,
            Some(code),
            "exit code; stdout={:?} stderr={}",
            String::from_utf8_lossy(&self.stdout),
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn assert_stdout(&self, want: &str) -> &Self {
        assert_eq!(self.stdout(), want, "stdout; stderr={}", self.stderr);
        self
    }

    #[track_caller]
    pub fn assert_stdout_has(&self, needle: &str) -> &Self {
        assert!(
            self.stdout().contains(needle),
            "stdout lacks {needle:?}:\n{}",
            self.stdout()
        );
        self
    }

    #[track_caller]
    pub fn assert_stdout_lacks(&self, needle: &str) -> &Self {
        let out = String::from_utf8_lossy(&self.stdout);
        assert!(!out.contains(needle), "stdout holds {needle:?}:\n{out}");
        self
    }

    #[track_caller]
    pub fn assert_stderr_lacks(&self, needle: &str) -> &Self {
        assert!(
            !self.stderr.contains(needle),
            "stderr holds {needle:?}:\n{}",
            self.stderr
        );
        self
    }

    #[track_caller]
    pub fn assert_stderr_has(&self, needle: &str) -> &Self {
        assert!(
            self.stderr.contains(needle),
            "stderr lacks {needle:?}:\n{}",
            self.stderr
        );
        self
    }
}

/// Runs a command to the end with an optional stdin, killing it after `limit`.
pub fn run_with(cmd: Command, stdin: Option<&[u8]>, limit: Duration) -> Run {
    run_to(cmd, stdin, None, limit)
}

/// `run_with`, stdout going to `stdout` when given (then the run's stdout is empty).
fn run_to(
    mut cmd: Command,
    stdin: Option<&[u8]>,
    stdout: Option<std::fs::File>,
    limit: Duration,
) -> Run {
    let start = Instant::now();
    if stdin.is_some() {
        cmd.stdin(Stdio::piped());
    }
    let mut child = cmd
        .stdout(stdout.map_or_else(Stdio::piped, Stdio::from))
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn codex-wrap");
    if let Some(input) = stdin {
        let mut pipe = child.stdin.take().unwrap();
        pipe.write_all(input).unwrap();
    }
    let (stdout, stderr) = drain(&mut child);
    let code = wait_limited(&mut child, limit);
    Run {
        code,
        stdout: stdout.join().unwrap(),
        stderr: String::from_utf8_lossy(&stderr.join().unwrap()).into_owned(),
        elapsed: start.elapsed(),
    }
}

/// Runs with no stdin and a 20 s limit.
pub fn run(cmd: Command) -> Run {
    run_with(cmd, None, Duration::from_secs(20))
}

fn drain(
    child: &mut Child,
) -> (
    std::thread::JoinHandle<Vec<u8>>,
    std::thread::JoinHandle<Vec<u8>>,
) {
    let out = child.stdout.take();
    let mut err = child.stderr.take().unwrap();
    (
        std::thread::spawn(move || {
            let mut v = Vec::new();
            if let Some(mut out) = out {
                let _ = out.read_to_end(&mut v);
            }
            v
        }),
        std::thread::spawn(move || {
            let mut v = Vec::new();
            let _ = err.read_to_end(&mut v);
            v
        }),
    )
}

/// Waits for the child, killing it after `limit` (then the code is `None`).
pub fn wait_limited(child: &mut Child, limit: Duration) -> Option<i32> {
    let start = Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status.code().or_else(|| {
                use std::os::unix::process::ExitStatusExt;
                status.signal().map(|s| 128 + s)
            });
        }
        if start.elapsed() > limit {
            let _ = child.kill();
            let _ = child.wait();
            return None;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// Starts a command with stdout and stderr piped; returns the child and its stdout, for
/// tests that read the stream while the server still holds it open.
pub fn spawn_piped(mut cmd: Command) -> (Child, std::process::ChildStdout) {
    let mut child = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn codex-wrap");
    let stdout = child.stdout.take().expect("piped stdout");
    (child, stdout)
}

/// Reads from a pipe until `needle` has arrived (or the limit passes); returns what was read.
pub fn read_until(pipe: &mut impl Read, needle: &[u8], limit: Duration) -> Vec<u8> {
    let start = Instant::now();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    while start.elapsed() < limit && !got.windows(needle.len()).any(|w| w == needle) {
        match pipe.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    got
}

/// A listener whose accept queue is full: connections to it neither succeed nor fail,
/// like a host that drops SYNs. Keep the returned value alive while it is used.
pub fn blackhole() -> (std::net::SocketAddr, impl Drop) {
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    sock.bind(
        &"127.0.0.1:0"
            .parse::<std::net::SocketAddr>()
            .unwrap()
            .into(),
    )
    .unwrap();
    sock.listen(0).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let held: Vec<_> = (0..4)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        })
        .collect();
    let probe = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(300));
    assert!(
        probe.is_err(),
        "the full accept queue should leave new connections hanging"
    );
    (addr, Held(sock, held))
}

struct Held(socket2::Socket, Vec<std::net::TcpStream>);

impl Drop for Held {
    fn drop(&mut self) {}
}

/// Pointing a raw command (from `Sandbox::cmd`) at fake provider servers, as the
/// `Test` methods of the same names do.
pub trait Backends {
    /// Sets `OLLAMA_URL` to the server.
    fn ollama(&mut self, server: &Server) -> &mut Self;
    /// Sets `GEMINI_BASE_URL` to the server and `GEMINI_API_KEY` to `k`.
    fn gemini(&mut self, server: &Server) -> &mut Self;
    /// Makes the local route the OpenAI-compatible backend at the server's `/v1`.
    fn openai(&mut self, server: &Server) -> &mut Self;
}

impl Backends for Command {
    fn ollama(&mut self, server: &Server) -> &mut Self {
        self.env("OLLAMA_URL", server.url())
    }

    fn gemini(&mut self, server: &Server) -> &mut Self {
        self.env("GEMINI_BASE_URL", server.url())
            .env("GEMINI_API_KEY", "k")
    }

    fn openai(&mut self, server: &Server) -> &mut Self {
        self.env("CODEX_WRAP_LOCAL_BACKEND", "openai")
            .env("OPENAI_BASE_URL", format!("{}/v1", server.url()))
    }
}

/// A run of the real binary and what it must leave, checked together: the short test is
/// the right one. Unset expectations mean the strict default: exit 0, and stderr holding
/// only codex-wrap's own status lines (no warning, no error, no panic) besides the
/// fragments the test declares with `stderr_has` (a declared fragment may be a warning).
///
/// ```ignore
/// let server = ollama::fake().answering("ok");
/// Test::new(&sb).ollama(&server).args(["-l", "x"]).stdout("ok").run();
/// ```
#[must_use = "a Test does nothing until .run()"]
pub struct Test {
    cmd: Command,
    stdin: Option<Vec<u8>>,
    stdout_to: Option<std::fs::File>,
    limit: Duration,
    code: i32,
    stdout: Option<String>,
    stdout_has: Vec<String>,
    stdout_lacks: Vec<String>,
    stderr: Option<String>,
    stderr_has: Vec<String>,
    stderr_lacks: Vec<String>,
    trace: bool,
}

impl Test {
    /// The binary in `sb` with its clean environment.
    pub fn new(sb: &Sandbox) -> Test {
        Test::command(sb.cmd())
    }

    /// A command built elsewhere (as `EngineBox::cmd`, the sandbox's command with more set),
    /// checked the same way.
    pub fn command(cmd: Command) -> Test {
        Test {
            cmd,
            stdin: None,
            stdout_to: None,
            limit: Duration::from_secs(20),
            code: 0,
            stdout: None,
            stdout_has: Vec::new(),
            stdout_lacks: Vec::new(),
            stderr: None,
            stderr_has: Vec::new(),
            stderr_lacks: Vec::new(),
            trace: false,
        }
    }

    /// The local route at a fake Ollama (`OLLAMA_URL`).
    pub fn ollama(mut self, server: &Server) -> Test {
        self.cmd.ollama(server);
        self
    }

    /// The API route at a fake Gemini (`GEMINI_BASE_URL`, and the key `k`).
    pub fn gemini(mut self, server: &Server) -> Test {
        self.cmd.gemini(server);
        self
    }

    /// The local route at a fake OpenAI-compatible server (`CODEX_WRAP_LOCAL_BACKEND` and
    /// `OPENAI_BASE_URL`).
    pub fn openai(mut self, server: &Server) -> Test {
        self.cmd.openai(server);
        self
    }

    pub fn args<I, S>(mut self, args: I) -> Test
    where
        I: IntoIterator<Item = S>,
        S: AsRef<std::ffi::OsStr>,
    {
        self.cmd.args(args);
        self
    }

    pub fn arg(mut self, arg: impl AsRef<std::ffi::OsStr>) -> Test {
        self.cmd.arg(arg);
        self
    }

    pub fn env(mut self, key: &str, value: impl AsRef<std::ffi::OsStr>) -> Test {
        self.cmd.env(key, value);
        self
    }

    pub fn env_remove(mut self, key: &str) -> Test {
        self.cmd.env_remove(key);
        self
    }

    /// The working directory (the sandbox's project root by default).
    pub fn dir(mut self, dir: impl AsRef<std::path::Path>) -> Test {
        self.cmd.current_dir(dir);
        self
    }

    pub fn stdin(self, text: &str) -> Test {
        self.stdin_bytes(text.as_bytes())
    }

    pub fn stdin_bytes(mut self, bytes: &[u8]) -> Test {
        self.stdin = Some(bytes.to_vec());
        self
    }

    /// stdout goes to this file, not to a pipe (as `/dev/full`); the run's stdout is empty.
    pub fn stdout_to(mut self, file: std::fs::File) -> Test {
        self.stdout_to = Some(file);
        self
    }

    /// How long the run may take before it is killed (20 s by default; a killed run has no
    /// exit code, so it fails the code check).
    pub fn limit(mut self, limit: Duration) -> Test {
        self.limit = limit;
        self
    }

    /// The exit code (default 0).
    pub fn code(mut self, code: i32) -> Test {
        self.code = code;
        self
    }

    /// stdout exactly.
    pub fn stdout(mut self, text: &str) -> Test {
        self.stdout = Some(text.to_owned());
        self
    }

    /// stdout contains this.
    pub fn stdout_has(mut self, text: &str) -> Test {
        self.stdout_has.push(text.to_owned());
        self
    }

    /// stdout does not contain this.
    pub fn stdout_lacks(mut self, text: &str) -> Test {
        self.stdout_lacks.push(text.to_owned());
        self
    }

    /// stderr exactly (for output that is not codex-wrap's own lines, as clap's usage
    /// errors).
    pub fn stderr(mut self, text: &str) -> Test {
        self.stderr = Some(text.to_owned());
        self
    }

    /// stderr contains this; lines holding it may be warnings or errors.
    pub fn stderr_has(mut self, text: &str) -> Test {
        self.stderr_has.push(text.to_owned());
        self
    }

    /// stderr may hold the tracing log that `-v`/`-vv` turn on (lines starting with a level:
    /// `TRACE`, `DEBUG`, `INFO`); a `WARN` or `ERROR` line still fails unless declared.
    pub fn trace(mut self) -> Test {
        self.trace = true;
        self
    }

    /// stderr does not contain this, not even on a status line.
    pub fn stderr_lacks(mut self, text: &str) -> Test {
        self.stderr_lacks.push(text.to_owned());
        self
    }

    /// Runs and checks everything declared; returns the run for anything more.
    #[track_caller]
    pub fn run(self) -> Run {
        let r = run_to(self.cmd, self.stdin.as_deref(), self.stdout_to, self.limit);
        r.assert_code(self.code);
        if let Some(want) = &self.stdout {
            r.assert_stdout(want);
        }
        for needle in &self.stdout_has {
            r.assert_stdout_has(needle);
        }
        for needle in &self.stdout_lacks {
            r.assert_stdout_lacks(needle);
        }
        if let Some(want) = &self.stderr {
            assert_eq!(&r.stderr, want, "stderr");
        }
        for needle in &self.stderr_has {
            r.assert_stderr_has(needle);
        }
        for needle in &self.stderr_lacks {
            r.assert_stderr_lacks(needle);
        }
        let unexpected: Vec<&str> = r
            .stderr
            .lines()
            .filter(|_| self.stderr.is_none())
            .filter(|l| {
                !(self.trace
                    && ["TRACE ", "DEBUG ", " INFO ", "INFO "]
                        .iter()
                        .any(|level| l.starts_with(level)))
            })
            .filter(|l| !self.stderr_has.iter().any(|n| l.contains(n.as_str())))
            .filter(|l| {
                !l.starts_with("codex-wrap: ")
                    || l.starts_with("codex-wrap: warning:")
                    || l.starts_with("codex-wrap: error:")
            })
            .collect();
        assert!(
            unexpected.is_empty(),
            "unexpected stderr lines: {unexpected:#?}\nstderr:\n{}",
            r.stderr
        );
        r
    }
}
