//! A scripted `codex-wrap mcp` session, the one harness of the MCP tests: lines in on stdin,
//! messages out on stdout (each checked to be JSON-RPC, in the test's own thread), every
//! message that is not yet asked for kept in `seen`, stderr kept for the failure messages.
//!
//! Two ways to drive it, because they differ in timing on purpose:
//! - [`session`] writes a whole script at once, `initialize`, `initialized` and the requests
//!   back to back without waiting for any reply (a burst the line reader must take in
//!   order), then collects until each wanted id has its response, within one deadline.
//! - [`Live::start`] shakes hands as a client does (`initialized` only after the
//!   `initialize` reply); the test then sends each line when it chooses: after an answer,
//!   once a fake server saw a request, after it changed the configuration.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex, mpsc};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::wait_limited;

pub(super) const INIT: &str = r#"{"jsonrpc":"2.0","id":0,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"test","version":"1"}}}"#;
pub(super) const INITIALIZED: &str = r#"{"jsonrpc":"2.0","method":"notifications/initialized"}"#;

/// How long a wait for responses may take.
const LIMIT: Duration = Duration::from_secs(20);

/// A `tools/call` request.
pub(super) fn call(id: u64, tool: &str, arguments: Value) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments}})
    .to_string()
}

/// `call`, asking for progress notifications (`_meta.progressToken`).
pub(super) fn call_with_progress(id: u64, tool: &str, arguments: Value, token: &str) -> String {
    json!({"jsonrpc": "2.0", "id": id, "method": "tools/call",
           "params": {"name": tool, "arguments": arguments,
                      "_meta": {"progressToken": token}}})
    .to_string()
}

/// The client's `notifications/cancelled` for request `id`.
pub(super) fn cancelled(id: u64) -> String {
    json!({"jsonrpc": "2.0", "method": "notifications/cancelled",
           "params": {"requestId": id, "reason": "user"}})
    .to_string()
}

/// Starts `codex-wrap mcp`, writes `lines` at once, and collects every message until each
/// id in `want` has its response (within 20 s). Then closes stdin and checks the server
/// exits 0.
pub(super) fn session(cmd: Command, lines: &[String], want: &[Value]) -> Vec<Value> {
    let mut live = Live::spawn(cmd);
    for line in lines {
        live.send(line);
    }
    let deadline = Instant::now() + LIMIT;
    while !want
        .iter()
        .all(|id| live.seen.iter().any(|m| is_response(m, id)))
    {
        let m = live.next(deadline, || format!("no answer for all of {want:?}"));
        live.seen.push(m);
    }
    let got = std::mem::take(&mut live.seen);
    live.end();
    got
}

fn is_response(message: &Value, id: &Value) -> bool {
    &message["id"] == id && message.get("method").is_none()
}

/// A running `codex-wrap mcp`.
pub(super) struct Live {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
    stderr: Arc<Mutex<Vec<u8>>>,
    /// The messages read and not yet returned by `answer`, in order.
    pub(super) seen: Vec<Value>,
}

impl Live {
    /// Starts `codex-wrap mcp` and completes the handshake.
    pub(super) fn start(cmd: Command) -> Live {
        let mut live = Live::spawn(cmd);
        live.send(INIT);
        live.answer(0);
        live.send(INITIALIZED);
        live
    }

    /// Starts `codex-wrap mcp`; nothing sent yet.
    pub(super) fn spawn(mut cmd: Command) -> Live {
        cmd.arg("mcp")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawn codex-wrap mcp");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().unwrap();
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let (mut pipe, kept) = (child.stderr.take().unwrap(), stderr.clone());
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = pipe.read(&mut buf) {
                kept.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        Live {
            child,
            stdin,
            lines,
            stderr,
            seen: Vec::new(),
        }
    }

    /// Writes one line.
    pub(super) fn send(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().unwrap();
        writeln!(stdin, "{line}").unwrap();
        stdin.flush().unwrap();
    }

    /// The response to request `id` (messages before it are kept in `seen`), within 20 s.
    pub(super) fn answer(&mut self, id: u64) -> Value {
        let id = json!(id);
        if let Some(i) = self.seen.iter().position(|m| is_response(m, &id)) {
            return self.seen.remove(i);
        }
        let deadline = Instant::now() + LIMIT;
        loop {
            let m = self.next(deadline, || format!("no answer for {id}"));
            if is_response(&m, &id) {
                return m;
            }
            self.seen.push(m);
        }
    }

    /// The next message, which must come before `deadline`.
    fn next(&mut self, deadline: Instant, waiting: impl Fn() -> String) -> Value {
        let left = deadline.saturating_duration_since(Instant::now());
        let line = self.lines.recv_timeout(left).unwrap_or_else(|e| {
            panic!(
                "{} ({e}); saw {:?}\nstderr:\n{}",
                waiting(),
                self.seen,
                self.stderr()
            )
        });
        let message: Value = serde_json::from_str(&line)
            .unwrap_or_else(|e| panic!("stdout carries only JSON-RPC, not {line:?}: {e}"));
        assert_eq!(message["jsonrpc"], "2.0", "{line}");
        message
    }

    /// What the server wrote on stderr so far.
    pub(super) fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// Closes stdin; the server must exit 0.
    pub(super) fn end(mut self) {
        drop(self.stdin.take());
        let code = wait_limited(&mut self.child, Duration::from_secs(10));
        assert_eq!(
            code,
            Some(0),
            "the server ends when stdin closes\nstderr:\n{}",
            self.stderr()
        );
    }
}
