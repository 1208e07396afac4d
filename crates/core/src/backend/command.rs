//! The `command` provider: a local command line (`codex exec -C {root} -`, `claude -p`,
//! `llm`, any script) that reads the assembled prompt on stdin and writes the answer on
//! stdout.
//!
//! The argv is run as given, with `{root}` and `{model}` substituted, never through a shell.
//! The command runs in its own process group; when the attempt ends early (deadline, Ctrl-C,
//! SIGTERM) the whole group is killed, so nothing it started survives the call. A non-zero
//! exit before any output is a failed attempt whose reason is the last line the command wrote
//! on stderr; a missing executable is named.

use std::path::Path;
use std::process::Stdio;
use std::time::Duration;

use futures_util::future::BoxFuture;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::time::{Instant, timeout_at};

use super::{Backend, Decoded, Framing, HttpRequest, Messages};
use crate::deadline::Deadlines;
use crate::error::{Failure, FailureKind};
use crate::output::Sink;

/// A command line with its placeholders filled in.
#[derive(Debug, Clone)]
pub struct CommandLine {
    argv: Vec<String>,
    model: String,
    shown: String,
}

impl CommandLine {
    /// Substitutes `{root}` and `{model}` in every argument.
    pub fn new(template: &[String], root: &Path, model: &str) -> Self {
        let root = root.display().to_string();
        let argv: Vec<String> = template
            .iter()
            .map(|a| a.replace("{root}", &root).replace("{model}", model))
            .collect();
        CommandLine {
            shown: template.join(" "),
            argv,
            model: model.to_owned(),
        }
    }
}

impl Backend for CommandLine {
    fn name(&self) -> &'static str {
        "command"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn endpoint(&self) -> &str {
        &self.shown
    }

    fn check_ready(&self) -> Result<(), Failure> {
        if self.argv.is_empty() {
            return Err(Failure::new(
                FailureKind::NotConfigured,
                "the command line is empty",
            ));
        }
        Ok(())
    }

    /// What `--dry-run` shows: the argv and the text that goes to stdin.
    fn build(&self, m: Messages<'_>) -> HttpRequest {
        HttpRequest {
            url: self.shown.clone(),
            headers: Vec::new(),
            body: json!({"argv": self.argv, "stdin": stdin_text(m)}),
        }
    }

    fn framing(&self) -> Framing {
        Framing::Ndjson
    }

    fn decode<'a>(&self, frame: &'a str) -> Result<Decoded<'a>, Failure> {
        Ok(Decoded {
            text: frame.into(),
            ..Decoded::default()
        })
    }

    fn http_error(&self, status: u16, body: &str) -> Failure {
        Failure::new(FailureKind::Http, format!("status {status}: {body}"))
    }

    fn argv(&self) -> Option<&[String]> {
        Some(&self.argv)
    }

    /// The executable is found on PATH (or at the path given); nothing is run.
    fn probe<'a>(&'a self, _client: &'a reqwest::Client) -> BoxFuture<'a, Result<String, Failure>> {
        Box::pin(async move {
            self.check_ready()?;
            let program = &self.argv[0];
            find_program(program)
                .map(|p| format!("runs {}", p.display()))
                .ok_or_else(|| {
                    Failure::new(
                        FailureKind::NotConfigured,
                        format!("command not found: {program}"),
                    )
                })
        })
    }
}

/// Where `program` would be run from: itself when it names a path, else the first match on
/// PATH that is a file.
fn find_program(program: &str) -> Option<std::path::PathBuf> {
    if program.contains('/') {
        let p = std::path::PathBuf::from(program);
        return p.is_file().then_some(p);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(program))
        .find(|p| p.is_file())
}

/// The prompt as one text: the context and directive, a blank line, the request.
pub fn stdin_text(m: Messages<'_>) -> String {
    if m.system.is_empty() {
        m.user.to_owned()
    } else {
        format!("{}\n\n{}", m.system, m.user)
    }
}

/// Kills the command's whole process group when dropped: on success (stragglers), on a
/// failure, and when the attempt's future is dropped by a signal.
struct Group(Option<nix::unistd::Pid>);

impl Drop for Group {
    fn drop(&mut self) {
        if let Some(pgid) = self.0 {
            let _ = nix::sys::signal::killpg(pgid, nix::sys::signal::Signal::SIGKILL);
        }
    }
}

/// Runs the command and streams its stdout to `out`. Returns the time to the first text.
///
/// Longer than the usual limit on purpose: spawning, feeding stdin, the read loop with its
/// deadlines and the process group's kill on every exit path are one `select!` over one
/// child; split, each piece would need the child and its guards passed around.
pub async fn stream(
    argv: &[String],
    input: String,
    deadlines: &Deadlines,
    out: &mut dyn Sink,
) -> Result<Option<Duration>, Failure> {
    let (program, args) = argv
        .split_first()
        .ok_or_else(|| Failure::new(FailureKind::NotConfigured, "the command line is empty"))?;
    let mut child = tokio::process::Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true)
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => Failure::new(
                FailureKind::NotConfigured,
                format!("command not found: {program}"),
            )
            .with_hint("install it or fix the endpoint's `command` in profiles.toml"),
            _ => Failure::new(
                FailureKind::Unreachable,
                format!("cannot run {program}: {e}"),
            ),
        })?;
    let _group = Group(
        child
            .id()
            .and_then(|id| i32::try_from(id).ok())
            .map(nix::unistd::Pid::from_raw),
    );
    tracing::debug!(program = %program, "command started");
    if let Some(mut stdin) = child.stdin.take() {
        tokio::spawn(async move {
            // A command that exits without reading its input is not an error here.
            let _ = stdin.write_all(input.as_bytes()).await;
        });
    }
    let stderr = child.stderr.take().map(|mut pipe| {
        tokio::spawn(async move {
            let mut all = Vec::new();
            let _ = pipe.read_to_end(&mut all).await;
            last_line(&all)
        })
    });
    let mut stdout = child
        .stdout
        .take()
        .ok_or_else(|| Failure::new(FailureKind::Unreachable, "the command has no stdout"))?;

    let written_before = out.delivered();
    let mut first_token = None;
    let mut pending = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let mut last = deadlines.start();
    loop {
        let flowing = out.delivered() > written_before;
        let limit = deadlines.limit(flowing, last);
        let n = match timeout_at(limit, stdout.read(&mut buf)).await {
            Ok(Ok(n)) => n,
            Ok(Err(e)) => {
                return Err(Failure::new(
                    FailureKind::Protocol,
                    format!("cannot read the command's output: {e}"),
                ));
            }
            Err(_) => match deadlines.on_elapsed(limit, flowing, last) {
                Some(failure) => return Err(failure),
                None => continue,
            },
        };
        if n == 0 {
            break;
        }
        last = Instant::now();
        pending.extend_from_slice(&buf[..n]);
        let text = take_text(&mut pending, false);
        if !text.is_empty() {
            first_token.get_or_insert_with(|| deadlines.start().elapsed());
            out.push(&text);
            crate::deadline::deliver(out)?;
            if out.is_closed() {
                return Ok(first_token);
            }
        }
    }
    let rest = take_text(&mut pending, true);
    if !rest.is_empty() {
        first_token.get_or_insert_with(|| deadlines.start().elapsed());
        out.push(&rest);
        let _ = out.flush();
    }
    let status = match timeout_at(deadlines.deadline(), child.wait()).await {
        Ok(Ok(status)) => status,
        Ok(Err(e)) => {
            return Err(Failure::new(
                FailureKind::Unreachable,
                format!("cannot wait for {program}: {e}"),
            ));
        }
        Err(_) => return Err(deadlines.expired("the command did not exit in time")),
    };
    let reason = match stderr {
        Some(task) => task.await.unwrap_or_default(),
        None => String::new(),
    };
    if !status.success() {
        let code = status
            .code()
            .map_or_else(|| "a signal".to_owned(), |c| format!("status {c}"));
        let why = if reason.is_empty() {
            String::new()
        } else {
            format!(": {reason}")
        };
        return Err(Failure::new(
            FailureKind::Unreachable,
            format!("{program} exited with {code}{why}"),
        ));
    }
    if out.delivered() == written_before {
        return Err(Failure::new(
            FailureKind::Empty,
            format!("{program} wrote nothing on stdout"),
        ));
    }
    Ok(first_token)
}

/// The decodable text at the front of `pending`; a UTF-8 character cut across reads waits
/// for its other bytes unless this is the end.
fn take_text(pending: &mut Vec<u8>, end: bool) -> String {
    match std::str::from_utf8(pending) {
        Ok(s) => {
            let text = s.to_owned();
            pending.clear();
            text
        }
        Err(e) if e.error_len().is_none() && !end => {
            let valid = e.valid_up_to();
            let text = String::from_utf8_lossy(&pending[..valid]).into_owned();
            pending.drain(..valid);
            text
        }
        Err(_) => {
            let text = String::from_utf8_lossy(pending).into_owned();
            pending.clear();
            text
        }
    }
}

/// The last non-empty line of a command's stderr, shortened.
fn last_line(bytes: &[u8]) -> String {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .rev()
        .map(str::trim)
        .find(|l| !l.is_empty())
        .map(super::one_line)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_substituted_in_every_argument() {
        let c = CommandLine::new(
            &[
                "codex".into(),
                "exec".into(),
                "-C".into(),
                "{root}".into(),
                "-m={model}".into(),
            ],
            Path::new("/p"),
            "m1",
        );
        assert_eq!(c.argv().unwrap(), ["codex", "exec", "-C", "/p", "-m=m1"]);
        assert_eq!(c.endpoint(), "codex exec -C {root} -m={model}");
    }

    #[test]
    fn a_character_cut_across_reads_waits_for_its_bytes() {
        let mut pending = "é".as_bytes()[..1].to_vec();
        assert_eq!(take_text(&mut pending, false), "");
        pending.extend_from_slice(&"é".as_bytes()[1..]);
        assert_eq!(take_text(&mut pending, false), "é");
        let mut cut = vec![b'a', 0xC3];
        assert_eq!(take_text(&mut cut, true), "a\u{FFFD}");
    }

    #[test]
    fn the_reason_is_the_last_stderr_line() {
        assert_eq!(
            last_line(b"warming up\nerror: not logged in\n\n"),
            "error: not logged in"
        );
        assert_eq!(last_line(b""), "");
    }
}
