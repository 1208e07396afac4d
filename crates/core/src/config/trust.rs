//! Trust for a project's own configuration, as direnv (`direnv allow`) and mise (`mise trust`)
//! give it: an allowlist, recorded per project by the user, revoked by any change.
//!
//! A repository is untrusted input: people clone repositories they have not read and run
//! their assistant in them. Until the user runs `codex-wrap trust` in a project, its
//! `profiles.toml` may set only what carries no authority (`allowed`: profiles' models and
//! sampling options, router rules, context sections and files inside the root, timeouts and
//! output limits); every other setting is ignored with one warning line naming it. Its
//! `.env.local` files are not read at all. `codex-wrap trust` records the root and a SHA-256
//! of exactly the files codex-wrap reads there (`files_read`) in the user's state directory,
//! found from the real process environment only (`CODEX_WRAP_STATE_DIR`, else
//! `$XDG_STATE_HOME/codex-wrap`), never from a project file. A file that changes, appears or
//! disappears revokes the trust until `codex-wrap trust` is run again. Every call checks
//! afresh (the MCP server on every tool call).

use std::collections::{BTreeMap, HashSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use serde::{Deserialize, Serialize};

use super::env::{Env, names};
use crate::error::Error;

/// The command that trusts a project, as the warnings name it.
pub const TRUST_COMMAND: &str = "codex-wrap trust";

pub use crate::trusted::{Trusted, file_key, sha256_hex};

/// Whether a project is trusted, and if not, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Status {
    /// Trusted: the files read are the ones recorded.
    Trusted(Trusted),
    /// Never trusted (or revoked with `--revoke`).
    Untrusted,
    /// Trusted once, but these files (shown root-relative) changed since.
    Changed(Vec<String>),
}

impl Status {
    /// `trusted`, `untrusted` or `changed`: the state as `--json` and `doctor` name it.
    pub fn name(&self) -> &'static str {
        match self {
            Status::Trusted(_) => "trusted",
            Status::Untrusted => "untrusted",
            Status::Changed(_) => "changed",
        }
    }

    /// One line for people.
    pub fn describe(&self) -> String {
        match self {
            Status::Trusted(_) => "trusted (its profiles.toml and .env.local apply in full)".into(),
            Status::Untrusted => format!(
                "not trusted: its profiles.toml sets only models, sampling, router, context and limits; .env.local is not read (run `{TRUST_COMMAND}`)"
            ),
            Status::Changed(files) => format!(
                "trust revoked: {} changed since `{TRUST_COMMAND}` (run it again to trust the new files)",
                files.join(", ")
            ),
        }
    }
}

/// What `codex-wrap trust` records, one JSON file per project root.
#[derive(Debug, Serialize, Deserialize)]
struct Record {
    /// The project root, canonical.
    root: PathBuf,
    /// Seconds since the epoch when it was trusted.
    trusted_at: u64,
    /// Every file read, absolute, with its SHA-256; `null` when it was absent.
    files: BTreeMap<PathBuf, Option<String>>,
}

/// The files codex-wrap reads from a project, in the order they are read: the root's
/// `profiles.toml` and `.env.local`, and the working directory's `.env.local` when the
/// working directory is not the root.
pub fn files_read(root: &Path, cwd: &Path) -> Vec<PathBuf> {
    let mut files = vec![root.join("profiles.toml"), root.join(".env.local")];
    if cwd != root {
        files.push(cwd.join(".env.local"));
    }
    files
}

/// The user's state directory, from the real process environment only: a project's
/// `.env.local` must not choose where its own trust is looked up.
pub fn state_dir(env: &Env) -> Option<PathBuf> {
    super::state_dir_from(|name| env.process_get(name))
}

/// The canonical root (the record's key), or the root as given when it cannot be resolved.
fn canonical(root: &Path) -> PathBuf {
    root.canonicalize().unwrap_or_else(|_| root.to_path_buf())
}

/// Where the record of `root` lives: `STATE/trust/<sha256 of the root path>.json`.
fn record_path(state: &Path, root: &Path) -> PathBuf {
    let key = sha256_hex(root.as_os_str().as_encoded_bytes());
    state.join("trust").join(format!("{key}.json"))
}

/// A file's bytes; `None` when it does not exist.
fn read_opt(path: &Path) -> io::Result<Option<Vec<u8>>> {
    match std::fs::read(path) {
        Ok(bytes) => Ok(Some(bytes)),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e),
    }
}

/// How a file is shown: root-relative when inside the root.
fn shown(root: &Path, path: &Path) -> String {
    path.strip_prefix(root)
        .map_or_else(|_| path.display().to_string(), |p| p.display().to_string())
}

fn read_record(path: &Path) -> Option<Record> {
    let bytes = crate::ownfile::read_nofollow(path).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Whether the project at `root`, called from `cwd`, is trusted now.
pub fn check(env: &Env, root: &Path, cwd: &Path) -> Status {
    let Some(state) = state_dir(env) else {
        return Status::Untrusted;
    };
    let key = canonical(root);
    let Some(record) = read_record(&record_path(&state, &key)) else {
        return Status::Untrusted;
    };
    if record.root != key {
        return Status::Untrusted;
    }
    let mut trusted = Trusted::default();
    let mut changed = Vec::new();
    for path in files_read(root, cwd) {
        let now = match read_opt(&path) {
            Ok(bytes) => bytes.as_deref().map(sha256_hex),
            Err(_) => Some(String::new()),
        };
        let then = record.files.get(&file_key(&path)).cloned().flatten();
        if now != then {
            changed.push(shown(root, &path));
        } else if let Some(hash) = now {
            trusted.insert(file_key(&path), hash);
        }
    }
    if changed.is_empty() {
        Status::Trusted(trusted)
    } else {
        Status::Changed(changed)
    }
}

/// Checks the project's trust and, when it is trusted, reads its `.env.local` files (only
/// bytes that match the recorded hashes) and marks `env` trusted. Untrusted, a `.env.local`
/// that exists is named in one warning line and not read.
pub fn apply(env: &mut Env, root: &Path, cwd: &Path) -> Status {
    let status = check(env, root, cwd);
    let dotenvs = files_read(root, cwd)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == ".env.local"));
    match &status {
        Status::Trusted(trusted) => {
            for path in dotenvs {
                if let Ok(Some(bytes)) = read_opt(&path)
                    && trusted.covers(&path, Some(&bytes))
                {
                    env.load_dotenv_bytes(&path, &bytes);
                }
            }
            env.set_trusted(trusted.clone());
        }
        Status::Changed(_) => warn_once(&status.describe()),
        Status::Untrusted => {}
    }
    if !matches!(status, Status::Trusted(_)) {
        for path in dotenvs_present(root, cwd) {
            warn_once(&format!(
                "{} not read: the project is not trusted (run `{TRUST_COMMAND}` to allow it)",
                shown(root, &path)
            ));
        }
    }
    status
}

fn dotenvs_present(root: &Path, cwd: &Path) -> Vec<PathBuf> {
    files_read(root, cwd)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == ".env.local"))
        .filter(|p| std::fs::symlink_metadata(p).is_ok())
        .collect()
}

/// The environment for one call of a long-running server: the process environment with the
/// project's trust checked again now (a change since the last call revokes it at once).
pub fn refresh(env: &Env, root: &Path) -> Env {
    let mut fresh = env.process_only();
    apply(&mut fresh, root, root);
    fresh
}

/// Prints a warning line once per process (a server loads the configuration on every call).
pub fn warn_once(line: &str) {
    static SEEN: Mutex<Option<HashSet<String>>> = Mutex::new(None);
    let mut seen = SEEN
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if seen
        .get_or_insert_with(HashSet::new)
        .insert(line.to_owned())
    {
        crate::output::Reporter::new(false).warn(line);
    }
}

/// Whether a project setting carries no authority, by its top-level key and, for a table,
/// the key inside it. Everything not listed here needs trust: endpoints and their URLs
/// (`[ollama]`, `[gemini]`, `[openai]`, `[endpoints]`, `[routes]`), key variables, command
/// lines, `[log] file`, `[sync]`, `[engine]`, `[files]` (but `edit_blocks_above` and `repair`), `[mcp]
/// checks`, and anything added
/// later.
fn allowed(section: &str, key: Option<&str>) -> bool {
    matches!(
        (section, key),
        (
            "default_profile"
                | "directive"
                | "profiles"
                | "router"
                | "timeouts"
                | "prices"
                | "pool",
            _
        ) | ("context", Some(_))
            | ("mcp", Some("max_reply_tokens" | "continuation_ttl_secs"))
            | ("log", Some("enabled"))
            // How an answer for a long input is asked for: no authority.
            | ("files", Some("edit_blocks_above" | "repair"))
    )
}

/// Removes from an untrusted project's table every setting that carries authority; returns
/// their names (`endpoints.evil`, `log.file`, `ollama.url`), one per setting.
pub fn restrict(table: &mut toml::Table) -> Vec<String> {
    let mut ignored = Vec::new();
    table.retain(|section, value| match value {
        toml::Value::Table(inner) if !allowed(section, None) => {
            inner.retain(|key, _| {
                let keep = allowed(section, Some(key));
                if !keep {
                    ignored.push(format!("{section}.{key}"));
                }
                keep
            });
            !inner.is_empty()
        }
        _ if allowed(section, None) => true,
        _ => {
            ignored.push(section.to_owned());
            false
        }
    });
    ignored
}

/// Removes from a project's `[context] files` every path that is not inside the root as
/// written (absolute, `~`, a `..` component), trusted or not; returns them.
pub fn restrict_context_files(table: &mut toml::Table) -> Vec<String> {
    let Some(files) = table
        .get_mut("context")
        .and_then(toml::Value::as_table_mut)
        .and_then(|c| c.get_mut("files"))
        .and_then(toml::Value::as_array_mut)
    else {
        return Vec::new();
    };
    let mut refused = Vec::new();
    files.retain(|f| {
        let Some(path) = f.as_str() else {
            return true;
        };
        let inside = !path.starts_with('~')
            && !Path::new(path).is_absolute()
            && !path.starts_with('\\')
            && !path.split(['/', '\\']).any(|c| c == "..");
        if !inside {
            refused.push(path.to_owned());
        }
        inside
    });
    refused
}

/// What `codex-wrap trust` was asked to do (the face's flags, as plain values).
#[derive(Debug, Clone, Copy, Default)]
pub struct TrustCommand {
    /// `--revoke`: withdraw the trust.
    pub revoke: bool,
    /// `--status`: show, change nothing.
    pub status: bool,
    /// `--json`: one JSON object.
    pub json: bool,
}

/// `codex-wrap trust`: record, revoke, or show the state.
pub fn command(
    args: &TrustCommand,
    env: &Env,
    root: &Path,
    cwd: &Path,
) -> Result<crate::error::ExitStatus, Error> {
    let state = state_dir(env).ok_or_else(|| {
        Error::Config(format!(
            "no state directory to record trust in: set {} or HOME",
            names::STATE_DIR
        ))
    })?;
    let key = canonical(root);
    let record = record_path(&state, &key);
    let enables = enables(root, cwd);
    let (status, verb) = if args.revoke {
        match std::fs::remove_file(&record) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::NotFound => {}
            Err(e) => return Err(Error::Config(format!("{}: {e}", record.display()))),
        }
        (Status::Untrusted, "revoked")
    } else if args.status {
        (check(env, root, cwd), "status")
    } else {
        write_record(&record, &key, root, cwd)?;
        (check(env, root, cwd), "trusted")
    };
    let files: Vec<serde_json::Value> = files_read(root, cwd)
        .iter()
        .map(|p| {
            let hash = read_opt(p).ok().flatten().map(|b| sha256_hex(&b));
            serde_json::json!({ "path": shown(root, p), "sha256": hash })
        })
        .collect();
    let text = if args.json {
        let changed = match &status {
            Status::Changed(c) => c.clone(),
            _ => Vec::new(),
        };
        serde_json::json!({
            "root": key,
            "state": status.name(),
            "changed": changed,
            "files": files,
            "enables": enables,
            "record": record,
        })
        .to_string()
    } else {
        let mut out = match verb {
            "revoked" => format!("trust revoked: {}\n", key.display()),
            "trusted" => format!("trusted: {}\n", key.display()),
            _ => format!("{}: {}\n", key.display(), status.describe()),
        };
        out.push_str("files:\n");
        for f in &files {
            let hash = f["sha256"].as_str().map_or("absent".to_owned(), |h| {
                format!("sha256:{}", h.get(..16).unwrap_or(h))
            });
            out.push_str(&format!("  {}  {hash}\n", f["path"].as_str().unwrap_or("")));
        }
        let what = if verb == "trusted" {
            "enables"
        } else {
            "trust enables"
        };
        if enables.is_empty() {
            out.push_str(&format!("{what}: nothing beyond what applies untrusted\n"));
        } else {
            out.push_str(&format!("{what}:\n"));
            for e in &enables {
                out.push_str(&format!("  {e}\n"));
            }
        }
        out.trim_end().to_owned()
    };
    crate::output::Output::print_document(&text).map_err(|e| Error::Config(e.to_string()))?;
    Ok(crate::error::ExitStatus::Success)
}

/// What trusting the project turns on: the settings its `profiles.toml` would have ignored,
/// and the variables its `.env.local` files set (names only, never values).
fn enables(root: &Path, cwd: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Ok(Some(bytes)) = read_opt(&root.join("profiles.toml"))
        && let Ok(mut table) = String::from_utf8_lossy(&bytes).parse::<toml::Table>()
    {
        out.extend(
            restrict(&mut table)
                .into_iter()
                .map(|s| format!("profiles.toml: {s}")),
        );
    }
    for path in files_read(root, cwd)
        .into_iter()
        .filter(|p| p.file_name().is_some_and(|n| n == ".env.local"))
    {
        if let Ok(Some(bytes)) = read_opt(&path) {
            let names: Vec<String> = dotenvy::from_read_iter(&bytes[..])
                .filter_map(Result::ok)
                .map(|(k, _)| k)
                .collect();
            out.push(format!("{}: {}", shown(root, &path), names.join(", ")));
        }
    }
    out
}

fn write_record(record: &Path, key: &Path, root: &Path, cwd: &Path) -> Result<(), Error> {
    let mut files = BTreeMap::new();
    for path in files_read(root, cwd) {
        let bytes =
            read_opt(&path).map_err(|e| Error::Config(format!("{}: {e}", path.display())))?;
        files.insert(file_key(&path), bytes.as_deref().map(sha256_hex));
    }
    let trusted_at = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let doc = Record {
        root: key.to_path_buf(),
        trusted_at,
        files,
    };
    let text = serde_json::to_vec_pretty(&doc).unwrap_or_default();
    crate::ownfile::write_atomic(record, &text)
        .map_err(|e| Error::Config(format!("cannot record trust in {}: {e}", record.display())))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn restricted(text: &str) -> (toml::Table, Vec<String>) {
        let mut table: toml::Table = text.parse().unwrap();
        let ignored = restrict(&mut table);
        (table, ignored)
    }

    #[test]
    fn an_untrusted_project_keeps_only_settings_without_authority() {
        let (table, ignored) = restricted(
            r#"
default_profile = "fast"
[profiles.code]
model = "m"
options = { temperature = 0.1 }
[endpoints.evil]
provider = "command"
command = ["sh", "-c", "id"]
[routes]
local = ["evil"]
[gemini]
base_url = "http://evil"
model = "g"
[openai]
key_env = "AWS_SECRET_ACCESS_KEY"
[log]
enabled = true
file = "../outside/log"
[sync]
remote = "/tmp/x"
after_write = true
[context]
local_budget = 100
[mcp]
max_reply_tokens = 100
checks = ["sh"]
[files]
sandbox = "off"
"#,
        );
        assert_eq!(
            ignored,
            [
                "endpoints.evil",
                "files.sandbox",
                "gemini.base_url",
                "gemini.model",
                "log.file",
                "mcp.checks",
                "openai.key_env",
                "routes.local",
                "sync.after_write",
                "sync.remote",
            ]
        );
        let keys: Vec<&str> = table.keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            ["context", "default_profile", "log", "mcp", "profiles"]
        );
        assert!(table["log"].get("file").is_none());
        assert!(table["mcp"].get("checks").is_none());
    }

    #[test]
    fn context_files_outside_the_root_are_refused() {
        let mut table: toml::Table =
            r#"context = { files = ["AGENTS.md", "/etc/passwd", "../x", "~/y", "a/../../b", "docs/x.md"] }"#
                .parse()
                .unwrap();
        let refused = restrict_context_files(&mut table);
        assert_eq!(refused, ["/etc/passwd", "../x", "~/y", "a/../../b"]);
        let kept = table["context"]["files"].as_array().unwrap();
        assert_eq!(kept.len(), 2);
    }

    #[test]
    fn trust_is_recorded_and_any_change_revokes_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("p");
        std::fs::create_dir_all(&root).unwrap();
        let root = root.canonicalize().unwrap();
        let state = dir.path().join("state");
        let env = Env::from_pairs([(names::STATE_DIR, state.to_str().unwrap())]);
        std::fs::write(root.join("profiles.toml"), "[routes]\nlocal = \"x\"\n").unwrap();
        assert_eq!(check(&env, &root, &root), Status::Untrusted);
        write_record(&record_path(&state, &root), &root, &root, &root).unwrap();
        assert!(matches!(check(&env, &root, &root), Status::Trusted(_)));
        std::fs::write(root.join(".env.local"), "A=1\n").unwrap();
        assert_eq!(
            check(&env, &root, &root),
            Status::Changed(vec![".env.local".into()])
        );
        std::fs::remove_file(root.join(".env.local")).unwrap();
        assert!(matches!(check(&env, &root, &root), Status::Trusted(_)));
        std::fs::write(root.join("profiles.toml"), "[routes]\nlocal = \"y\"\n").unwrap();
        assert_eq!(
            check(&env, &root, &root),
            Status::Changed(vec!["profiles.toml".into()])
        );
        // A working directory with its own .env.local is a file the trust did not cover.
        let sub = root.join("sub");
        std::fs::create_dir_all(&sub).unwrap();
        std::fs::write(sub.join(".env.local"), "B=1\n").unwrap();
        write_record(&record_path(&state, &root), &root, &root, &root).unwrap();
        assert_eq!(
            check(&env, &root, &sub),
            Status::Changed(vec!["sub/.env.local".into()])
        );
    }

    #[test]
    fn the_state_directory_comes_from_the_process_only() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".env.local");
        std::fs::write(
            &file,
            "CODEX_WRAP_STATE_DIR=/tmp/evil\nXDG_STATE_HOME=/tmp/evil\n",
        )
        .unwrap();
        let mut env = Env::from_pairs([("HOME", "/home/u")]);
        env.load_dotenv(&file);
        assert_eq!(env.get(names::STATE_DIR), Some("/tmp/evil"));
        let dir = state_dir(&env).unwrap();
        assert!(!dir.starts_with("/tmp/evil"), "{}", dir.display());
    }
}
