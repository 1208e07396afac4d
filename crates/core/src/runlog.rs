//! The run log: one JSON object per call, appended to `logs/codex-wrap.jsonl`.
//!
//! Each record is written with a single `write` on a file opened with `O_APPEND`, so
//! parallel calls never interleave their lines. A record holds the prompt's length and a
//! hash, never its text unless `[log] log_prompts = true`, and never a secret: keys live
//! only in request headers. A log that cannot be written is a warning, not a failure.
//!
//! `codex-wrap sync` appends its own lines (`"event": "sync"`, see `SyncRecord`) to the same
//! log; readers of calls skip them.

use std::fs::OpenOptions;
use std::io::Write;
use std::path::Path;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// The record format's version, bumped when a field changes meaning.
pub const VERSION: u32 = 1;

/// One call, as the log keeps it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct Record {
    /// Record format version.
    pub v: u32,
    /// Absent for a call; `sync` on a sync's line (a `SyncRecord`), which is not a call.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub event: Option<String>,
    /// When the call started, RFC 3339 UTC.
    pub ts: String,
    /// codex-wrap's version.
    pub version: String,
    /// The route tried first: `local` or `api`.
    pub route: String,
    /// How it was chosen: `flag` (`--local` / `--api`) or `router`.
    pub route_by: String,
    /// The router's confidence, when it decided.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub confidence: Option<f64>,
    /// The profile used.
    pub profile: String,
    /// The route that answered (`local` / `api`), if any did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub served_by: Option<String>,
    /// The endpoint that answered (its name in profiles.toml), if any did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    /// Backend of the answering (or last tried) attempt: `ollama`, `gemini`, `openai`.
    pub backend: String,
    /// Model of the answering (or last tried) attempt: the one the server said served the
    /// answer, else the one asked for.
    pub model: String,
    /// The model asked for, when the server named another one as served.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub requested_model: Option<String>,
    /// Every attempt made, in order.
    pub attempts: Vec<AttemptRecord>,
    /// Attempts that failed before another one was tried.
    pub fallbacks: u32,
    /// Time to the first text of the answering attempt, in milliseconds.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ttft_ms: Option<f64>,
    /// Wall time of the whole call, in milliseconds.
    pub total_ms: f64,
    /// Prompt tokens (server-reported, else estimated at 4 characters a token).
    pub tokens_in: u64,
    /// Generated tokens (server-reported, else estimated).
    pub tokens_out: u64,
    /// Whether the token counts are estimates.
    pub tokens_estimated: bool,
    /// Generation speed of the answering attempt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tokens_per_sec: Option<f64>,
    /// Bytes of text written.
    pub bytes_out: u64,
    /// The process exit code.
    pub exit: u8,
    /// `ok`, or the failure class: `unavailable`, `timeout`, `interrupted`, `blocked`, ...
    pub outcome: String,
    /// The prompt's length in characters (the user's prompt, without context).
    pub prompt_chars: u64,
    /// The first 16 hex digits of the prompt's SHA-256, to spot repeats.
    pub prompt_hash: String,
    /// The prompt itself, only with `log_prompts = true`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub prompt: Option<String>,
    /// `--write`: every round (files changed, the check's exit code, seconds).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub rounds: Vec<RoundRecord>,
    /// `--write --check`: whether the task ended with its check failing (absent: no check
    /// ran). With `route_by = "router"`, the router's feedback from real use.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub check_failed: Option<bool>,
    /// Whether the call was retried on the API route after the local route's rounds failed
    /// (escalation). Absent means false.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub escalated: bool,
    /// What happened during the call, in order, as the `--json` document and the MCP reply
    /// list them (fallback, retry after 429, context dropped, answer cut short, ...).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<serde_json::Value>,
}

impl Record {
    /// Keeps the rounds of a `--write` call and whether its check failed in the end:
    /// `check_failed` (the call ended as `check_failed`, a check killed at its deadline
    /// included), else the last round that ran the check decides; no check, no verdict.
    pub fn set_rounds(&mut self, rounds: &[RoundRecord], check_failed: bool) {
        self.rounds = rounds.to_vec();
        self.check_failed = if check_failed {
            Some(true)
        } else {
            rounds
                .iter()
                .rev()
                .find_map(|r| r.check_exit)
                .map(|code| code != 0)
        };
    }
}

/// One round of a `--write` call: an answer written, then the check run on it.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct RoundRecord {
    /// 1 for the first answer, 2 for the first repair.
    pub round: u32,
    /// Files created or updated (in a dry run: that would be).
    pub files_changed: u32,
    /// The check's exit code (`None`: no check, or it was killed at its deadline).
    pub check_exit: Option<i32>,
    /// Wall time of the round: the call, the writes and the check.
    pub seconds: f64,
    /// Where the round ran when it was escalated (`api`, `codex`, an endpoint's name).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub route: Option<String>,
    /// Whether the round ran on the escalation route.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub escalated: bool,
}

/// One attempt of a call.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct AttemptRecord {
    /// `local` or `api`.
    pub route: String,
    /// Backend name.
    pub backend: String,
    /// The endpoint's name in profiles.toml.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub endpoint: String,
    /// Model asked for.
    pub model: String,
    /// `ok`, or the failure kind (`unreachable`, `http`, `rate_limited`, ...).
    pub result: String,
    /// The failure's one-line message (as printed on stderr).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One `codex-wrap sync`, as the log keeps it (`"event": "sync"`).
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct SyncRecord {
    /// Record format version.
    pub v: u32,
    /// Always `sync`.
    pub event: String,
    /// When the sync ended, RFC 3339 UTC.
    pub ts: String,
    /// codex-wrap's version.
    pub version: String,
    /// The remote, as displayed (no connection-string parameters).
    pub remote: String,
    /// Whether it ran detached (after a write, or `sync` without `--wait`).
    pub background: bool,
    /// Files transferred.
    pub transferred: u64,
    /// Files deleted on the remote.
    pub deleted: u64,
    /// Bytes transferred.
    pub bytes: u64,
    /// Wall time, in milliseconds.
    pub total_ms: f64,
    /// The process exit code.
    pub exit: u8,
    /// `ok`, `sync_failed`, `timeout`, ...
    pub outcome: String,
    /// The one-line reason of a failure.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// The last sync line in the log's final `window` bytes (a sync is rarely far from the
/// end; the log is not read whole).
pub fn last_sync(path: &Path, window: u64) -> Option<SyncRecord> {
    use std::io::{Read, Seek, SeekFrom};
    let mut file = std::fs::File::open(path).ok()?;
    let len = file.metadata().ok()?.len();
    file.seek(SeekFrom::Start(len.saturating_sub(window)))
        .ok()?;
    let mut tail = Vec::new();
    file.read_to_end(&mut tail).ok()?;
    tail.split(|b| *b == b'\n')
        .rev()
        .filter(|line| memchr::memmem::find(line, b"\"event\":\"sync\"").is_some())
        .find_map(|line| serde_json::from_slice::<SyncRecord>(line).ok())
}

/// `2026-11-24T01:40:36.123Z`.
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// The short hash recorded instead of the prompt.
pub fn prompt_hash(prompt: &str) -> String {
    let digest = Sha256::digest(prompt.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends one record as one line with a single write, masked for the known secrets.
/// Creates the folders and the file (mode 0600) when missing, under `base` only and never
/// through a symlink (`ownfile::open_append`): a repository's `logs -> ../outside` is
/// refused. A log folder it creates gets a `.gitignore` of `*`, as Python's venv does, so
/// the log never shows up in `git status`.
pub fn append<T: Serialize>(base: &Path, path: &Path, record: &T) -> std::io::Result<()> {
    let line = serde_json::to_string(record).map_err(std::io::Error::other)?;
    // No known secret in the log, whatever its source (a server's error body).
    let mut line = crate::secrets::mask(&line).into_owned().into_bytes();
    line.push(b'\n');
    let dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    let created = dir.is_some_and(|d| !d.is_dir());
    let mut file = crate::ownfile::open_append(base, path, 0o600)?;
    if let Some(dir) = dir.filter(|_| created) {
        // Best effort, never through a symlink: the log matters more than its ignore file.
        if let Ok(mut ignore) = crate::ownfile::open_append(base, &dir.join(".gitignore"), 0o644) {
            let _ = ignore.write_all(b"# created by codex-wrap automatically\n*\n");
        }
    }
    // One write: with O_APPEND the kernel places the whole line at the end atomically
    // with respect to other appenders. A short write (disk full) is reported, not retried,
    // so a torn line is never completed by a second write landing elsewhere.
    let written = file.write(&line)?;
    if written != line.len() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::WriteZero,
            format!("short write ({written} of {} bytes)", line.len()),
        ));
    }
    Ok(())
}

/// Whether a record could be appended to `path`, found without writing to the log or
/// creating anything that stays: `Ok(true)` when the log exists and opens for appending,
/// `Ok(false)` when it does not exist yet and its nearest existing folder takes a new file
/// (probed with a file that is removed at once), else the reason it cannot be written.
pub fn writable(path: &Path) -> std::io::Result<bool> {
    match std::fs::metadata(path) {
        Ok(meta) if meta.is_dir() => {
            return Err(std::io::Error::other("it is a folder"));
        }
        Ok(_) => {
            OpenOptions::new().append(true).open(path)?;
            return Ok(true);
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e),
    }
    let mut dir = path.parent().filter(|d| !d.as_os_str().is_empty());
    while let Some(d) = dir {
        match std::fs::metadata(d) {
            Ok(meta) if meta.is_dir() => break,
            Ok(_) => {
                return Err(std::io::Error::other(format!(
                    "{} is not a folder",
                    d.display()
                )));
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                dir = d.parent().filter(|p| !p.as_os_str().is_empty());
            }
            Err(e) => return Err(e),
        }
    }
    let dir = dir.unwrap_or(Path::new("."));
    let probe = dir.join(format!(".codex-wrap-probe-{}", std::process::id()));
    OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    std::fs::remove_file(&probe)?;
    Ok(false)
}

/// Reads a log line by line, handing each call's record to `each`, which returns `None`
/// when it finds the record malformed; other events (syncs) are skipped. Returns how many
/// lines were malformed. The file is never held in memory whole.
pub fn read(
    reader: impl std::io::BufRead,
    mut each: impl FnMut(Record) -> Option<()>,
) -> std::io::Result<usize> {
    let mut malformed = 0;
    for line in reader.split(b'\n') {
        let line = line?;
        if line.iter().all(u8::is_ascii_whitespace) {
            continue;
        }
        let parsed = serde_json::from_slice::<Record>(&line)
            .ok()
            .filter(|r| !r.ts.is_empty());
        if parsed.as_ref().is_some_and(|r| r.event.is_some()) {
            continue;
        }
        if parsed.and_then(&mut each).is_none() {
            malformed += 1;
        }
    }
    Ok(malformed)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_short_stable_and_not_the_prompt() {
        let h = prompt_hash("write a parser");
        assert_eq!(h.len(), 16);
        assert_eq!(h, prompt_hash("write a parser"));
        assert_ne!(h, prompt_hash("write a parser."));
    }

    #[test]
    fn records_round_trip_and_bad_lines_are_counted() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("logs/run.jsonl");
        let rec = Record {
            v: VERSION,
            ts: timestamp(SystemTime::UNIX_EPOCH),
            outcome: "ok".into(),
            ..Record::default()
        };
        append(dir.path(), &path, &rec).unwrap();
        append(dir.path(), &path, &rec).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        assert_eq!(text.lines().count(), 2);
        text.push_str("{not json\n{\"v\":1}\n\n");
        let mut records = Vec::new();
        let malformed = read(text.as_bytes(), |r| {
            records.push(r);
            Some(())
        })
        .unwrap();
        assert_eq!(records, vec![rec.clone(), rec]);
        assert_eq!(malformed, 2);
        assert_eq!(read(text.as_bytes(), |_| None).unwrap(), 4);
    }
}
