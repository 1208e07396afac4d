//! Running rclone: finding it and its version, one `rclone sync` (or its dry run) with
//! JSON logs read as they come, a deadline, and the one line that says why it failed.
//!
//! Nothing from rclone reaches the user unread: its log lines are parsed (`--use-json-log`)
//! and only file names, counts and its last error line are kept, the last with anything
//! that looks like a credential masked. rclone's config is never read or passed here.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, BufReader};

use crate::error::Error;

/// The oldest rclone whose JSON log carries the final stats object this module reads.
pub(crate) const MIN_VERSION: (u32, u32) = (1, 53);

/// How to install rclone, for the error when it is missing or too old.
pub(crate) const INSTALL_HINT: &str = "install it with the Debian/Ubuntu package (`sudo apt-get install rclone`) or rclone's own installer (https://rclone.org/install/), then set up the remote with `rclone config`";

/// The rclone found on the PATH.
#[derive(Debug, Clone)]
pub struct Rclone {
    /// The program to run.
    pub program: PathBuf,
    /// Its version, e.g. `v1.60.1-DEV`.
    pub version: String,
}

/// Finds rclone on `path` (the `PATH` value) and checks its version: exit 4
/// (`Error::Unavailable`) when it is missing or older than `MIN_VERSION`.
///
/// `rclone version` costs about as much as a small sync (rclone is a large program to
/// start), so the answer is kept in `cache` (a file in the state directory) keyed by the
/// program's path, size and modification time; a changed or replaced rclone is asked again.
pub(crate) fn locate(path: Option<&str>, cache: Option<&Path>) -> Result<Rclone, Error> {
    let program = path.and_then(|p| on_path(p, "rclone")).ok_or_else(|| {
        Error::Unavailable(format!(
            "rclone is not installed (not on PATH): {INSTALL_HINT}"
        ))
    })?;
    let key = cache_key(&program);
    let cached = cache
        .and_then(|c| std::fs::read_to_string(c).ok())
        .and_then(|t| serde_json::from_str::<CachedVersion>(&t).ok())
        .filter(|c| key.as_ref() == Some(&c.key));
    let version = match cached {
        Some(c) => c.version,
        None => {
            let version = ask_version(&program)?;
            if let (Some(cache), Some(key)) = (cache, key) {
                store(
                    cache,
                    &CachedVersion {
                        key,
                        version: version.clone(),
                    },
                );
            }
            version
        }
    };
    let numbers = version_numbers(&version);
    if numbers.is_none_or(|n| n < MIN_VERSION) {
        return Err(Error::Unavailable(format!(
            "rclone {version} is too old: codex-wrap sync needs v{}.{} or newer; {INSTALL_HINT}",
            MIN_VERSION.0, MIN_VERSION.1
        )));
    }
    Ok(Rclone { program, version })
}

/// The first executable `name` in a `PATH` value.
fn on_path(path: &str, name: &str) -> Option<PathBuf> {
    use std::os::unix::fs::PermissionsExt;
    std::env::split_paths(path)
        .map(|dir| dir.join(name))
        .find(|p| {
            std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
        })
}

/// What identifies one rclone binary: its path, size and modification time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct CacheKey {
    program: PathBuf,
    size: u64,
    modified_ns: u128,
}

#[derive(Debug, Serialize, Deserialize)]
struct CachedVersion {
    key: CacheKey,
    version: String,
}

fn cache_key(program: &Path) -> Option<CacheKey> {
    let meta = std::fs::metadata(program).ok()?;
    let modified = meta
        .modified()
        .ok()?
        .duration_since(std::time::UNIX_EPOCH)
        .ok()?;
    Some(CacheKey {
        program: program.to_path_buf(),
        size: meta.len(),
        modified_ns: modified.as_nanos(),
    })
}

/// Best effort: a unique temporary file renamed into place, so readers never see half.
fn store(cache: &Path, value: &CachedVersion) {
    let Some(dir) = cache.parent() else { return };
    let temp = dir.join(format!(".rclone-version.{}", std::process::id()));
    let write = || -> std::io::Result<()> {
        std::fs::create_dir_all(dir)?;
        std::fs::write(
            &temp,
            serde_json::to_vec(value).map_err(std::io::Error::other)?,
        )?;
        std::fs::rename(&temp, cache)
    };
    if write().is_err() {
        let _ = std::fs::remove_file(&temp);
    }
}

/// Runs `rclone version`.
fn ask_version(program: &Path) -> Result<String, Error> {
    let out = std::process::Command::new(program)
        .arg("version")
        .stdin(Stdio::null())
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Error::Unavailable(format!("cannot run {}: {e}", program.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).ok_or_else(|| {
        Error::Unavailable(format!(
            "`rclone version` did not print a version (exit {:?}): {INSTALL_HINT}",
            out.status.code()
        ))
    })
}

/// `rclone v1.60.1-DEV\n- os/...` → `v1.60.1-DEV`.
pub(crate) fn parse_version(text: &str) -> Option<String> {
    let first = text.lines().next()?.trim();
    let v = first.strip_prefix("rclone ")?.trim();
    v.starts_with('v').then(|| v.to_owned())
}

/// `v1.60.1-DEV` → `(1, 60)`.
fn version_numbers(v: &str) -> Option<(u32, u32)> {
    let mut parts = v.trim_start_matches('v').split(['.', '-']);
    Some((parts.next()?.parse().ok()?, parts.next()?.parse().ok()?))
}

/// One change rclone made or, in a dry run, would make.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Change {
    /// The path relative to the root.
    pub path: String,
    /// Its size in bytes, when rclone said.
    pub size: Option<u64>,
}

/// rclone's final accounting (the `stats` object of its JSON log).
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
#[serde(default)]
pub(crate) struct Stats {
    /// Bytes transferred.
    pub bytes: u64,
    /// Files transferred.
    pub transfers: u64,
    /// Files deleted.
    pub deletes: u64,
    /// Errors counted.
    pub errors: u64,
    /// The last error's text.
    #[serde(rename = "lastError")]
    pub last_error: Option<String>,
}

/// What one rclone run did.
#[derive(Debug, Default)]
pub(crate) struct Report {
    /// Files copied (dry run: would be).
    pub copies: Vec<Change>,
    /// Files deleted (dry run: would be).
    pub deletes: Vec<Change>,
    /// The last stats object seen.
    pub stats: Option<Stats>,
    /// rclone's last error line, masked.
    pub last_error: Option<String>,
    /// rclone's exit code (`None` when killed).
    pub code: Option<i32>,
    /// Wall time.
    pub elapsed: Duration,
}

impl Report {
    /// Whether rclone ended with exit 0.
    pub(crate) fn ok(&self) -> bool {
        self.code == Some(0)
    }
}

/// How one run ended.
pub(crate) enum Ended {
    /// rclone exited (successfully or not).
    Exited(Report),
    /// The deadline passed; rclone was killed.
    TimedOut,
}

/// One JSON log line of rclone, the fields read here.
#[derive(Debug, Deserialize)]
struct LogLine {
    #[serde(default)]
    level: String,
    #[serde(default)]
    msg: String,
    object: Option<String>,
    size: Option<u64>,
    skipped: Option<String>,
    stats: Option<Stats>,
}

impl Report {
    /// Takes one stderr line of rclone into account.
    fn take(&mut self, line: &str, dry_run: bool) {
        let Ok(log) = serde_json::from_str::<LogLine>(line) else {
            // The fatal "Failed to sync: ..." line is printed without JSON, after a
            // timestamp; it is the best one-line reason.
            let text = strip_log_time(line.trim());
            if !text.is_empty() {
                self.last_error = Some(mask(text));
            }
            return;
        };
        if let Some(stats) = log.stats {
            self.stats = Some(stats);
            return;
        }
        let change = || Change {
            path: log.object.clone().unwrap_or_default(),
            size: log.size,
        };
        match (dry_run, log.skipped.as_deref(), log.msg.as_str()) {
            (true, Some("copy"), _) => self.copies.push(change()),
            (true, Some("delete"), _) => self.deletes.push(change()),
            (false, _, m) if m.starts_with("Copied") => self.copies.push(change()),
            (false, _, "Deleted") => self.deletes.push(change()),
            _ if log.level == "error" || log.level == "critical" => {
                self.last_error = Some(mask(&log.msg));
            }
            _ => {}
        }
    }

    /// The one line that says why the run failed.
    pub(crate) fn reason(&self) -> String {
        self.last_error
            .clone()
            .or_else(|| {
                self.stats
                    .as_ref()
                    .and_then(|s| s.last_error.as_deref())
                    .map(mask)
            })
            .unwrap_or_else(|| format!("rclone exited with {:?}", self.code))
    }
}

/// `2026/11/30 05:58:22 Failed to sync: x` → `Failed to sync: x`.
fn strip_log_time(line: &str) -> &str {
    let b = line.as_bytes();
    let stamped = b.len() > 20
        && b[4] == b'/'
        && b[7] == b'/'
        && b[10] == b' '
        && b[13] == b':'
        && b[19] == b' ';
    let rest = if stamped { &line[20..] } else { line };
    rest.strip_prefix("ERROR : ")
        .or_else(|| rest.strip_prefix("CRITICAL: "))
        .unwrap_or(rest)
}

/// Masks what could be a credential in a line from rclone: URL user info, bearer
/// tokens, `key=value` secrets of a connection-string remote, OAuth token JSON.
pub(crate) fn mask(line: &str) -> String {
    static RULES: LazyLock<Vec<(regex::Regex, &'static str)>> = LazyLock::new(|| {
        [
            (r"([A-Za-z][A-Za-z0-9+.-]*://)[^/\s@]+@", "${1}***@"),
            (r"(?i)(bearer\s+)[^\s,;]+", "${1}***"),
            (
                r#"(?i)("?(?:access_token|refresh_token|id_token|client_secret)"?\s*[:=]\s*)("[^"]*"|[^\s,}]+)"#,
                "${1}***",
            ),
            (
                r#"(?i)\b((?:pass|password|token|secret|key|bearer_token|user|client_id)\s*=\s*)('[^']*'|"[^"]*"|[^\s,:]+)"#,
                "${1}***",
            ),
        ]
        .into_iter()
        .map(|(re, to)| (regex::Regex::new(re).expect("valid mask"), to))
        .collect()
    });
    let mut out = line.trim().to_owned();
    for (re, to) in RULES.iter() {
        out = re.replace_all(&out, *to).into_owned();
    }
    out
}

/// What to run.
pub(crate) struct Job<'a> {
    /// The project root (the source).
    pub root: &'a Path,
    /// The destination as rclone takes it.
    pub remote: &'a str,
    /// The `--filter-from` file.
    pub filter_file: &'a Path,
    /// Pass `--dry-run`.
    pub dry_run: bool,
    /// rclone's own `--max-delete` on the real run, a second guard behind the counted dry
    /// run (rclone stops only after deleting that many).
    pub max_delete: u64,
}

/// Runs `rclone sync` to the end or to the deadline, reading its JSON log as it comes.
pub(crate) async fn sync(
    rclone: &Rclone,
    job: &Job<'_>,
    deadline: Instant,
) -> std::io::Result<Ended> {
    let mut cmd = tokio::process::Command::new(&rclone.program);
    cmd.arg("sync")
        .arg(job.root)
        .arg(job.remote)
        .arg("--filter-from")
        .arg(job.filter_file)
        // Excludes match in any case: `.ENV.local` or `ID_RSA` on a case-insensitive disk
        // are the same secrets.
        .arg("--ignore-case")
        .args(["--use-json-log", "-v", "--ask-password=false"]);
    if job.dry_run {
        // No --max-delete here: the dry run must count every deletion.
        cmd.arg("--dry-run");
    } else {
        cmd.arg("--max-delete").arg(job.max_delete.to_string());
    }
    cmd.stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let started = Instant::now();
    let mut child = cmd.spawn()?;
    let stderr = child.stderr.take().expect("piped stderr");
    let mut report = Report::default();
    let mut lines = BufReader::new(stderr).lines();
    let run = async {
        while let Some(line) = lines.next_line().await? {
            report.take(&line, job.dry_run);
        }
        child.wait().await
    };
    let outcome = tokio::time::timeout_at(deadline.into(), run).await;
    let ended = match outcome {
        Ok(status) => {
            let status = status?;
            report.code = status.code();
            report.elapsed = started.elapsed();
            Ended::Exited(report)
        }
        Err(_) => {
            let _ = child.kill().await;
            report.elapsed = started.elapsed();
            Ended::TimedOut
        }
    };
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_and_compared() {
        let v = parse_version("rclone v1.60.1-DEV\n- os/version: debian 12\n").unwrap();
        assert_eq!(v, "v1.60.1-DEV");
        assert_eq!(version_numbers(&v), Some((1, 60)));
        assert_eq!(version_numbers("v1.9.0"), Some((1, 9)));
        assert!(version_numbers("v1.9.0").unwrap() < MIN_VERSION);
        assert_eq!(parse_version("something else"), None);
    }

    /// A stand-in `rclone` that prints `version`; the size changes with the text.
    fn fake_rclone(dir: &Path, version: &str) {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("rclone");
        std::fs::write(&path, format!("#!/bin/sh\necho 'rclone {version}'\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    }

    #[test]
    fn the_version_is_cached_per_binary_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let bin = dir.path().join("bin");
        std::fs::create_dir_all(&bin).unwrap();
        let path = format!("{}:{}", dir.path().join("none").display(), bin.display());
        let cache = dir.path().join("state/rclone-version.json");
        let missing = locate(Some(&path), Some(&cache)).unwrap_err();
        assert!(missing.to_string().contains("not installed"), "{missing}");

        fake_rclone(&bin, "v1.61.0");
        let found = locate(Some(&path), Some(&cache)).unwrap();
        assert_eq!(
            (found.program, found.version.as_str()),
            (bin.join("rclone"), "v1.61.0")
        );
        assert!(std::fs::read_to_string(&cache).unwrap().contains("v1.61.0"));

        fake_rclone(&bin, "v1.62.10");
        assert_eq!(
            locate(Some(&path), Some(&cache)).unwrap().version,
            "v1.62.10"
        );
        fake_rclone(&bin, "v1.40.0-x");
        let old = locate(Some(&path), Some(&cache)).unwrap_err();
        assert!(old.to_string().contains("too old"), "{old}");
    }

    #[test]
    fn credentials_are_masked() {
        let cases = [
            (
                "Put \"https://bob:hunter2@dav.example/x\": EOF",
                "Put \"https://***@dav.example/x\": EOF",
            ),
            ("Authorization: Bearer abc.def", "Authorization: Bearer ***"),
            (
                r#"token {"access_token":"ya29.x","refresh_token":"1//y"}"#,
                r#"token {"access_token":***,"refresh_token":***}"#,
            ),
            (
                ":webdav,url='http://h',pass='secret',user=bob:dir not found",
                ":webdav,url='http://h',pass=***,user=***:dir not found",
            ),
            ("directory not found", "directory not found"),
        ];
        for (input, want) in cases {
            assert_eq!(mask(input), want, "{input}");
        }
    }

    #[test]
    fn log_lines_are_counted_and_the_last_error_kept() {
        let mut r = Report::default();
        for line in [
            r#"{"level":"warning","msg":"Skipped copy as --dry-run is set (size 3)","object":"a/x.txt","size":3,"skipped":"copy"}"#,
            r#"{"level":"warning","msg":"Skipped delete as --dry-run is set (size 5)","object":"old","size":5,"skipped":"delete"}"#,
            r#"{"level":"warning","msg":"Skipped remove directory as --dry-run is set","object":"d","skipped":"remove directory"}"#,
            r#"{"level":"error","msg":"Failed to copy: Put \"http://u:p@h/x\": refused","object":"x"}"#,
        ] {
            r.take(line, true);
        }
        assert_eq!(
            r.copies,
            [Change {
                path: "a/x.txt".into(),
                size: Some(3)
            }]
        );
        assert_eq!(r.deletes.len(), 1);
        assert_eq!(
            r.reason(),
            "Failed to copy: Put \"http://***@h/x\": refused"
        );
        r.take("2026/11/30 05:58:22 Failed to sync: not deleting", false);
        assert_eq!(r.reason(), "Failed to sync: not deleting");
        r.take(r#"{"level":"info","msg":"x","stats":{"bytes":6,"transfers":2,"deletes":1,"errors":0}}"#, false);
        assert_eq!(r.stats.as_ref().unwrap().transfers, 2);
    }
}
