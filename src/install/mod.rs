//! `codex-wrap install <assistant>`: registers `codex-wrap mcp` in the assistant's own MCP
//! configuration, in the place and format its documentation gives, and writes a bounded
//! guidance block into the project's instructions file.
//!
//! | assistant | project scope          | user scope                 | format | guidance  |
//! |-----------|------------------------|----------------------------|--------|-----------|
//! | claude    | `.mcp.json`            | `~/.claude.json`           | JSON   | CLAUDE.md |
//! | codex     | `.codex/config.toml`   | `~/.codex/config.toml` (*) | TOML   | AGENTS.md |
//! | cursor    | `.cursor/mcp.json`     | `~/.cursor/mcp.json`       | JSON   | AGENTS.md |
//! | gemini    | `.gemini/settings.json`| `~/.gemini/settings.json`  | JSONC  | GEMINI.md |
//!
//! (*) the default for Codex, which reads a project's file only in trusted projects.
//!
//! Every file is read and edited in memory first; a file that does not parse stops the
//! command (exit 3) before anything is written. A changed file is first copied to
//! `FILE.codex-wrap.bak`, then replaced atomically (a temporary file renamed over it).

mod guidance;
mod json;
mod toml_config;

use std::path::{Path, PathBuf};

use serde_json::json;

use crate::cli::{Assistant, InstallArgs};
use crate::config::env::Env;
use crate::error::{Error, ExitStatus};
use crate::output::Output;

/// The server's name in every assistant's configuration.
pub(crate) const SERVER_NAME: &str = "codex-wrap";

/// The format of an assistant's MCP configuration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    Json,
    Toml,
    Markdown,
}

/// One file `install` edits.
#[derive(Debug)]
struct Target {
    path: PathBuf,
    format: Format,
}

/// One file's content before and after (`None`: no file).
#[derive(Debug)]
struct Change {
    path: PathBuf,
    before: Option<String>,
    after: Option<String>,
}

/// Where an assistant's MCP configuration lives, and its guidance file.
fn targets(assistant: Assistant, user: bool, env: &Env, root: &Path) -> Result<Vec<Target>, Error> {
    let home = || {
        env.get("HOME")
            .filter(|h| !h.is_empty())
            .map(PathBuf::from)
            .ok_or_else(|| Error::Config("HOME is not set: cannot find the user's config".into()))
    };
    let (config, format, guidance) = match (assistant, user) {
        (Assistant::Claude, false) => (root.join(".mcp.json"), Format::Json, "CLAUDE.md"),
        (Assistant::Claude, true) => (home()?.join(".claude.json"), Format::Json, "CLAUDE.md"),
        (Assistant::Codex, false) => (root.join(".codex/config.toml"), Format::Toml, "AGENTS.md"),
        (Assistant::Codex, true) => {
            let dir = match env.get("CODEX_HOME").filter(|h| !h.is_empty()) {
                Some(dir) => PathBuf::from(dir),
                None => home()?.join(".codex"),
            };
            (dir.join("config.toml"), Format::Toml, "AGENTS.md")
        }
        (Assistant::Cursor, false) => (root.join(".cursor/mcp.json"), Format::Json, "AGENTS.md"),
        (Assistant::Cursor, true) => (home()?.join(".cursor/mcp.json"), Format::Json, "AGENTS.md"),
        (Assistant::Gemini, false) => (
            root.join(".gemini/settings.json"),
            Format::Json,
            "GEMINI.md",
        ),
        (Assistant::Gemini, true) => (
            home()?.join(".gemini/settings.json"),
            Format::Json,
            "GEMINI.md",
        ),
    };
    Ok(vec![
        Target {
            path: config,
            format,
        },
        Target {
            path: root.join(guidance),
            format: Format::Markdown,
        },
    ])
}

/// The server entry each assistant documents for a stdio server.
fn entry(assistant: Assistant) -> Vec<(String, serde_json::Value)> {
    let mut entry = Vec::new();
    if assistant == Assistant::Claude {
        // What `claude mcp add` writes for a stdio server.
        entry.push(("type".to_owned(), json!("stdio")));
    }
    entry.push(("command".to_owned(), json!("codex-wrap")));
    entry.push(("args".to_owned(), json!(["mcp"])));
    if assistant == Assistant::Codex {
        // Codex ends a tool call after 60 s by default; a cold local model takes longer.
        entry.push(("tool_timeout_sec".to_owned(), json!(600)));
    }
    entry
}

/// `codex-wrap install`.
pub(crate) fn install(args: &InstallArgs, env: &Env, root: &Path) -> anyhow::Result<ExitStatus> {
    let user = args.user || (args.assistant == Assistant::Codex && !args.project);
    let entry = entry(args.assistant);
    let mut changes = Vec::new();
    for target in targets(args.assistant, user, env, root)? {
        let before = read(&target.path)?;
        let after = edit(&target, before.as_deref(), &entry, args.uninstall).map_err(|e| {
            Error::Config(format!("{}: {e}; left unchanged", target.path.display()))
        })?;
        changes.push(Change {
            path: target.path,
            before,
            after,
        });
    }
    let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let mut report = String::new();
    for change in &changes {
        if change.before == change.after {
            report.push_str(&format!("unchanged {}\n", shown(&change.path)));
            continue;
        }
        if args.dry_run {
            report.push_str(&diff(change, &shown(&change.path)));
            continue;
        }
        let backup = apply(change)?;
        let verb = match (&change.before, &change.after) {
            (None, _) => "created",
            (_, None) => "removed",
            _ => "updated",
        };
        match backup {
            Some(b) => report.push_str(&format!(
                "{verb} {} (backup: {})\n",
                shown(&change.path),
                shown(&b)
            )),
            None => report.push_str(&format!("{verb} {}\n", shown(&change.path))),
        }
    }
    Output::print_document(&report)?;
    Ok(ExitStatus::Success)
}

/// The file's text; `None` when it does not exist.
fn read(path: &Path) -> Result<Option<String>, Error> {
    match std::fs::read(path) {
        Ok(bytes) => String::from_utf8(bytes).map(Some).map_err(|_| {
            Error::Config(format!(
                "{}: not UTF-8 text; left unchanged",
                path.display()
            ))
        }),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(Error::Config(format!(
            "cannot read {}: {e}",
            path.display()
        ))),
    }
}

/// The new content of one target.
fn edit(
    target: &Target,
    before: Option<&str>,
    entry: &[(String, serde_json::Value)],
    uninstall: bool,
) -> Result<Option<String>, String> {
    let entry = entry.to_vec();
    match (target.format, uninstall, before) {
        (_, true, None) => Ok(None),
        (Format::Json, false, _) => json::install(before, SERVER_NAME, &entry).map(Some),
        (Format::Json, true, Some(text)) => json::uninstall(text, SERVER_NAME),
        (Format::Toml, false, _) => toml_config::install(before, SERVER_NAME, &entry).map(Some),
        (Format::Toml, true, Some(text)) => toml_config::uninstall(text, SERVER_NAME),
        (Format::Markdown, false, _) => guidance::install(before).map(Some),
        (Format::Markdown, true, Some(text)) => guidance::uninstall(text),
    }
}

/// A unified diff of one change, paths as `a/…` and `b/…`.
fn diff(change: &Change, name: &str) -> String {
    let before = change.before.as_deref().unwrap_or("");
    let after = change.after.as_deref().unwrap_or("");
    // `a/` and `b/` prefix paths inside the project, as git prints them.
    let side = |present: bool, prefix: &str| match (present, name.starts_with('/')) {
        (false, _) => "/dev/null".to_owned(),
        (true, true) => name.to_owned(),
        (true, false) => format!("{prefix}{name}"),
    };
    let old = side(change.before.is_some(), "a/");
    let new = side(change.after.is_some(), "b/");
    similar::TextDiff::from_lines(before, after)
        .unified_diff()
        .context_radius(3)
        .header(&old, &new)
        .to_string()
}

/// Writes one change: backup of the old bytes, then the new file renamed into place (or
/// the file removed). Returns the backup's path.
fn apply(change: &Change) -> Result<Option<PathBuf>, Error> {
    let path = &change.path;
    let fail = |what: &str, e: std::io::Error| {
        Error::Config(format!("cannot {what} {}: {e}", path.display()))
    };
    let backup = match &change.before {
        Some(before) => {
            let mut name = path.file_name().unwrap_or_default().to_os_string();
            name.push(".codex-wrap.bak");
            let backup = path.with_file_name(name);
            std::fs::write(&backup, before).map_err(|e| fail("back up", e))?;
            Some(backup)
        }
        None => None,
    };
    match &change.after {
        None => std::fs::remove_file(path).map_err(|e| fail("remove", e))?,
        Some(after) => {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir).map_err(|e| fail("create the folder of", e))?;
            }
            let mut name = std::ffi::OsString::from(".");
            name.push(path.file_name().unwrap_or_default());
            name.push(".codex-wrap.tmp");
            let temp = path.with_file_name(name);
            std::fs::write(&temp, after).map_err(|e| fail("write", e))?;
            if let Ok(meta) = std::fs::metadata(path) {
                // Keep the file's mode (~/.claude.json is private to its user).
                let _ = std::fs::set_permissions(&temp, meta.permissions());
            }
            std::fs::rename(&temp, path).map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                fail("replace", e)
            })?;
        }
    }
    Ok(backup)
}

#[cfg(test)]
mod tests;
