//! Errors that change the exit code, and the one function that maps an error to it.
//!
//! Everything else is an `anyhow::Error` with context; `exit_status` downcasts to find the
//! typed cause. The exit codes are a contract with scripts and assistants: docs/exit-codes.md and
//! `--help` list them, and the integration tests check each one.

use std::fmt;
use std::process::ExitCode;

/// How the process ends. The numbers are part of the public interface.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ExitStatus {
    /// The answer was streamed in full (or there was nothing to do).
    #[default]
    Success = 0,
    /// Anything not covered below.
    Failure = 1,
    /// Bad command line or empty prompt.
    Usage = 2,
    /// A configuration file or value is wrong.
    Config = 3,
    /// Every attempt failed before any output (refused, 404, 5xx, 429, no key).
    Unavailable = 4,
    /// The last attempt ran out of time before any output.
    Timeout = 5,
    /// The stream broke after some text had reached stdout.
    Interrupted = 6,
    /// The model's safety filter blocked the answer, or the answer was empty.
    Blocked = 7,
    /// `--write --check CMD`: the check still fails after the last round (what the task
    /// wrote is put back, unless `--keep-failed`).
    CheckFailed = 8,
    /// The prompt cannot fit the forced route's model window; nothing was sent.
    TooLarge = 11,
    /// `codex-wrap sync` failed: rclone's error, or the deletion guard refused.
    SyncFailed = 9,
    /// `--write` could not write the answer's files: a write failed (disk full, file size
    /// limit, permission; that file is left as it was), or the answer is over the limits
    /// (nothing written).
    WriteFailed = 10,
    /// Ctrl-C.
    Sigint = 130,
    /// SIGTERM.
    Sigterm = 143,
}

impl ExitStatus {
    /// The outcome's name in the run log and `--json`: `ok`, `unavailable`, `timeout`, ...
    pub fn name(self) -> &'static str {
        match self {
            ExitStatus::Success => "ok",
            ExitStatus::Failure => "error",
            ExitStatus::Usage => "usage",
            ExitStatus::Config => "config",
            ExitStatus::Unavailable => "unavailable",
            ExitStatus::Timeout => "timeout",
            ExitStatus::Interrupted => "interrupted",
            ExitStatus::Blocked => "blocked",
            ExitStatus::CheckFailed => "check_failed",
            ExitStatus::TooLarge => "too_large",
            ExitStatus::SyncFailed => "sync_failed",
            ExitStatus::WriteFailed => "write_failed",
            ExitStatus::Sigint => "sigint",
            ExitStatus::Sigterm => "sigterm",
        }
    }
}

impl From<ExitStatus> for ExitCode {
    fn from(status: ExitStatus) -> Self {
        ExitCode::from(status as u8)
    }
}

/// The exit-code table shown in `--help`; docs/exit-codes.md carries the same table.
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0    success (also: stdout closed early by the reader, LLM_DISABLED set)
  1    other error
  2    usage error (bad flags, empty prompt)
  3    configuration error (profiles.toml, unknown profile, bad variable, no sync remote)
  4    no route available: every attempt failed before any output (sync: rclone missing;
       --check: [files] sandbox = bwrap and no working bwrap)
  5    timeout: the last attempt hit its deadline before any output (sync: its deadline)
  6    stream interrupted after output had started (stdout holds a partial answer;
       --json: an answer over 17 MiB, stopped there)
  7    blocked by the model's safety filter, an empty answer, or (--write, --json) a refusal
       that was still a refusal when asked again, on every route
  8    --check still fails after the last --rounds round (what it wrote is put back)
  9    sync failed: rclone's error, or the deletion guard (--max-delete) refused
  10   --write could not write: a write failed (disk full, ulimit -f; that file is left as it
       was), or the answer is over the limits (256 files, 16 MiB: nothing written), or
       refused (cut at the token limit, elided, short, edit blocks not matching once)
  11   the prompt cannot fit the forced route's model window (nothing was sent)
  130  interrupted by Ctrl-C (SIGINT)
  143  terminated (SIGTERM)";

/// Why one attempt on one backend failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FailureKind {
    /// Connection refused, DNS failure, connect timeout, reset before any text.
    Unreachable,
    /// The server answered with an error status (4xx other than 429, 5xx).
    Http,
    /// 429: rate limited.
    RateLimited,
    /// The attempt deadline (or the idle timeout) passed.
    Timeout,
    /// The stream did not follow the protocol (malformed line, missing end).
    Protocol,
    /// The backend cannot be used as configured (no API key, disabled).
    NotConfigured,
    /// A safety filter stopped the answer.
    Blocked,
    /// The model answered with no text.
    Empty,
    /// The connection broke after part of the answer arrived.
    Interrupted,
}

impl FailureKind {
    /// The kind's name in the run log and `--json`.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::Unreachable => "unreachable",
            FailureKind::Http => "http",
            FailureKind::RateLimited => "rate_limited",
            FailureKind::Timeout => "timeout",
            FailureKind::Protocol => "protocol",
            FailureKind::NotConfigured => "not_configured",
            FailureKind::Blocked => "blocked",
            FailureKind::Empty => "empty",
            FailureKind::Interrupted => "interrupted",
        }
    }

    /// The exit status when this is the last attempt's cause and nothing was written.
    pub fn exit_status(self) -> ExitStatus {
        match self {
            FailureKind::Timeout => ExitStatus::Timeout,
            FailureKind::Blocked | FailureKind::Empty => ExitStatus::Blocked,
            _ => ExitStatus::Unavailable,
        }
    }

    /// Whether another route may be tried after this failure (before any output).
    ///
    /// A safety block is final: sending the same prompt elsewhere to get around a filter is
    /// not this tool's call to make.
    pub fn may_fall_back(self) -> bool {
        !matches!(self, FailureKind::Blocked)
    }
}

/// One failed attempt: which backend, why, and what the user can do about it.
#[derive(Debug, Clone)]
pub struct Failure {
    /// Short label of the attempt, e.g. `local (ollama qwen2.5:14b)`.
    pub attempt: String,
    /// The cause class, which decides fallback and exit code.
    pub kind: FailureKind,
    /// One line, no secrets.
    pub message: String,
    /// Advice, e.g. `run: ollama pull MODEL`.
    pub hint: Option<String>,
    /// A server retry hint (429), in seconds.
    pub retry_after: Option<f64>,
    /// The HTTP status, when the server answered with one.
    pub status: Option<u16>,
    /// When the first text of the failed attempt arrived, if any did.
    pub first_token: Option<std::time::Duration>,
}

impl Failure {
    /// A failure without hint or retry hint.
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            attempt: String::new(),
            kind,
            message: message.into(),
            hint: None,
            retry_after: None,
            status: None,
            first_token: None,
        }
    }

    /// Adds advice shown after the message.
    pub fn with_hint(mut self, hint: impl Into<String>) -> Self {
        self.hint = Some(hint.into());
        self
    }
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.attempt.is_empty() {
            write!(f, "{}: ", self.attempt)?;
        }
        f.write_str(&self.message)?;
        if let Some(hint) = &self.hint {
            write!(f, " ({hint})")?;
        }
        Ok(())
    }
}

/// The errors that decide the exit code.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Bad input from the command line or stdin.
    #[error("{0}")]
    Usage(String),
    /// A configuration file or variable is wrong.
    #[error("{0}")]
    Config(String),
    /// Every attempt failed before output; the last one decides the code.
    #[error("{}", summarize(.0))]
    NoRoute(Vec<Failure>),
    /// A stream broke after `delivered` bytes of text reached stdout.
    #[error("stream interrupted after {delivered} bytes of output: {cause}")]
    Interrupted {
        /// Bytes of model text already written to stdout.
        delivered: u64,
        /// What broke it.
        cause: Failure,
    },
    /// Blocked or empty: final, no fallback.
    #[error("{0}")]
    Blocked(Failure),
    /// A tool the command needs (rclone) is missing or unusable.
    #[error("{0}")]
    Unavailable(String),
    /// A command's own deadline passed (`sync --timeout`).
    #[error("{0}")]
    Timeout(String),
    /// A sync failed or was refused.
    #[error("{0}")]
    Sync(String),
    /// The prompt cannot fit the model window of a route that was forced; nothing was sent.
    #[error("{0}")]
    TooLarge(String),
    /// A signal arrived.
    #[error("interrupted by {}", if *.0 == ExitStatus::Sigint { "Ctrl-C" } else { "SIGTERM" })]
    Signal(ExitStatus),
}

impl Error {
    /// The exit status this error ends the process with.
    pub fn exit_status(&self) -> ExitStatus {
        match self {
            Error::Usage(_) => ExitStatus::Usage,
            Error::Config(_) => ExitStatus::Config,
            Error::NoRoute(failures) => failures
                .last()
                .map_or(ExitStatus::Unavailable, |f| f.kind.exit_status()),
            Error::Interrupted { .. } => ExitStatus::Interrupted,
            Error::Blocked(_) => ExitStatus::Blocked,
            Error::Unavailable(_) => ExitStatus::Unavailable,
            Error::Timeout(_) => ExitStatus::Timeout,
            Error::Sync(_) => ExitStatus::SyncFailed,
            Error::TooLarge(_) => ExitStatus::TooLarge,
            Error::Signal(status) => *status,
        }
    }
}

fn summarize(failures: &[Failure]) -> String {
    match failures {
        [] => "no route available".to_owned(),
        [one] => one.to_string(),
        many => {
            let parts: Vec<String> = many.iter().map(ToString::to_string).collect();
            format!("no route available: {}", parts.join("; "))
        }
    }
}
