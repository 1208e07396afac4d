//! The run log: one JSON object per call, appended to `logs/codex-wrap.jsonl`.
//!
//! Each record is written with a single `write` on a file opened with `O_APPEND`, so
//! parallel calls never interleave their lines. A record holds the prompt's length and a
//! hash, never its text unless `[log] log_prompts = true`, and never a secret: keys live
//! only in request headers. A log that cannot be written is a warning, not a failure.

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
    /// Model of the answering (or last tried) attempt.
    pub model: String,
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

/// `2026-11-24T01:40:36.123Z`.
pub fn timestamp(at: SystemTime) -> String {
    humantime::format_rfc3339_millis(at).to_string()
}

/// The short hash recorded instead of the prompt.
pub fn prompt_hash(prompt: &str) -> String {
    let digest = Sha256::digest(prompt.as_bytes());
    digest[..8].iter().map(|b| format!("{b:02x}")).collect()
}

/// Appends one record as one line with a single write. Creates the folder and the file
/// (mode 0600) when missing.
pub fn append(path: &Path, record: &Record) -> std::io::Result<()> {
    let mut line = serde_json::to_vec(record).map_err(std::io::Error::other)?;
    line.push(b'\n');
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir)?;
    }
    let mut options = OpenOptions::new();
    options.append(true).create(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(path)?;
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

/// Reads a log line by line, handing each record to `each`, which returns `None` when it
/// finds the record malformed. Returns how many lines were malformed. The file is never
/// held in memory whole.
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
        append(&path, &rec).unwrap();
        append(&path, &rec).unwrap();
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
