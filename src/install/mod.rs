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
use crate::output::{Output, Reporter};

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
    // Claude Code and Gemini CLI read a user-level memory file in every project; Codex's
    // and Cursor's user scope still leave the guidance in the project's AGENTS.md.
    let guidance = match (assistant, user) {
        (Assistant::Claude, true) => home()?.join(".claude").join(guidance),
        (Assistant::Gemini, true) => home()?.join(".gemini").join(guidance),
        _ => root.join(guidance),
    };
    Ok(vec![
        Target {
            path: config,
            format,
        },
        Target {
            path: guidance,
            format: Format::Markdown,
        },
    ])
}

/// The server entry each assistant documents for a stdio server, running `command`.
fn entry(assistant: Assistant, command: &str) -> Vec<(String, serde_json::Value)> {
    let mut entry = Vec::new();
    if assistant == Assistant::Claude {
        // What `claude mcp add` writes for a stdio server.
        entry.push(("type".to_owned(), json!("stdio")));
    }
    entry.push(("command".to_owned(), json!(command)));
    entry.push(("args".to_owned(), json!(["mcp"])));
    if assistant == Assistant::Codex {
        // Codex ends a tool call after 60 s by default; a cold local model takes longer.
        entry.push(("tool_timeout_sec".to_owned(), json!(600)));
    }
    entry
}

/// Whether an entry is one `install` writes: `codex-wrap mcp` (by name or by an absolute
/// path to a `codex-wrap`), with nothing of the user's (`env`, other arguments).
fn is_ours(entry: &serde_json::Value) -> bool {
    let Some(map) = entry.as_object() else {
        return false;
    };
    let command = map.get("command").and_then(|c| c.as_str()).unwrap_or("");
    let by_name = command == SERVER_NAME
        || (Path::new(command).is_absolute()
            && Path::new(command)
                .file_name()
                .is_some_and(|n| n == SERVER_NAME));
    by_name
        && map.get("args") == Some(&json!(["mcp"]))
        && map.iter().all(|(k, v)| match k.as_str() {
            "command" | "args" => true,
            "type" => v == "stdio",
            "tool_timeout_sec" => v == 600,
            _ => false,
        })
}

/// What happened to one file, for the report.
#[derive(Debug)]
enum Note {
    /// A `codex-wrap` entry of the user's own, kept as it is.
    Kept(serde_json::Value),
    /// A `codex-wrap` entry of the user's own, replaced with `--force`.
    Replaced(serde_json::Value),
    /// The file's earlier bytes (or entry) given back from its backup.
    Restored,
}

/// One file's planned change and its backup.
#[derive(Debug)]
struct Planned {
    change: Change,
    note: Option<Note>,
    /// Write `FILE.codex-wrap.bak` with the bytes before (install only).
    backup: bool,
    /// The backup to delete once the file is restored (uninstall only).
    drop_backup: Option<PathBuf>,
}

fn backup_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".codex-wrap.bak");
    path.with_file_name(name)
}

/// The server entry in a config file (`None` for the guidance file, or no entry).
fn current_entry(target: &Target, text: &str) -> Result<Option<serde_json::Value>, String> {
    match target.format {
        Format::Json => json::entry(text, SERVER_NAME),
        Format::Toml => toml_config::entry(text, SERVER_NAME),
        Format::Markdown => Ok(None),
    }
}

/// Whether a file holds nothing `install` wrote: no entry of ours, no guidance block.
fn pristine(target: &Target, text: &str) -> bool {
    match target.format {
        Format::Markdown => !guidance::present(text),
        _ => !current_entry(target, text)
            .ok()
            .flatten()
            .is_some_and(|e| is_ours(&e)),
    }
}

/// Whether two texts of a target's format say the same thing.
fn same(target: &Target, a: &str, b: &str) -> bool {
    match target.format {
        Format::Json => json::same(a, b),
        Format::Toml => toml_config::same(a, b),
        Format::Markdown => a == b,
    }
}

fn set(target: &Target, text: Option<&str>, entry: &json::Entry) -> Result<String, String> {
    match target.format {
        Format::Json => json::install(text, SERVER_NAME, entry),
        Format::Toml => toml_config::install(text, SERVER_NAME, entry),
        Format::Markdown => guidance::install(text),
    }
}

fn as_entry(value: &serde_json::Value) -> json::Entry {
    value
        .as_object()
        .map(|m| m.iter().map(|(k, v)| (k.clone(), v.clone())).collect())
        .unwrap_or_default()
}

/// The plan for one file when installing.
fn plan_install(
    target: &Target,
    before: Option<&str>,
    entry: &json::Entry,
    force: bool,
) -> Result<Planned, String> {
    let mut note = None;
    let after = match before
        .map(|t| current_entry(target, t))
        .transpose()?
        .flatten()
    {
        Some(existing) if !is_ours(&existing) && !force => {
            note = Some(Note::Kept(existing));
            before.map(str::to_owned)
        }
        existing => {
            if let Some(e) = existing.filter(|e| !is_ours(e)) {
                note = Some(Note::Replaced(e));
            }
            Some(set(target, before, entry)?)
        }
    };
    let changed = before != after.as_deref();
    // The backup holds the file as it was before codex-wrap was first installed: an
    // existing backup is kept while the file still carries what install wrote.
    let backup = changed
        && before.is_some_and(|b| pristine(target, b) || !backup_path(&target.path).exists());
    Ok(Planned {
        change: Change {
            path: target.path.clone(),
            before: before.map(str::to_owned),
            after,
        },
        note,
        backup,
        drop_backup: None,
    })
}

/// The plan for one file when uninstalling: remove what install wrote, put back an entry
/// of the user's that `--force` replaced, and give back the earlier bytes when nothing
/// else changed since (or the file would be left empty).
fn plan_uninstall(
    target: &Target,
    before: Option<&str>,
    backup: Option<&str>,
) -> Result<Planned, String> {
    let backup_file = backup_path(&target.path);
    let mut planned = Planned {
        change: Change {
            path: target.path.clone(),
            before: before.map(str::to_owned),
            after: before.map(str::to_owned),
        },
        note: None,
        backup: false,
        drop_backup: None,
    };
    let Some(text) = before else {
        return Ok(planned);
    };
    let after = match target.format {
        Format::Markdown => guidance::uninstall(text)?,
        _ => match current_entry(target, text)? {
            None => return Ok(planned),
            Some(e) if !is_ours(&e) => {
                planned.note = Some(Note::Kept(e));
                return Ok(planned);
            }
            Some(_) => {
                let earlier = backup
                    .map(|b| current_entry(target, b))
                    .transpose()?
                    .flatten()
                    .filter(|e| !is_ours(e));
                match earlier {
                    Some(e) => Some(set(target, Some(text), &as_entry(&e))?),
                    None => match target.format {
                        Format::Json => json::uninstall(text, SERVER_NAME)?,
                        _ => toml_config::uninstall(text, SERVER_NAME)?,
                    },
                }
            }
        },
    };
    planned.change.after = after;
    if planned.change.after.as_deref() == before {
        return Ok(planned);
    }
    if let Some(b) = backup {
        let restores = match &planned.change.after {
            None => true,
            Some(a) => same(target, a, b),
        };
        if restores {
            planned.change.after = Some(b.to_owned());
            planned.note = Some(Note::Restored);
        }
        planned.drop_backup = Some(backup_file);
    }
    Ok(planned)
}

/// Where `codex-wrap` on PATH leads, and whether it is this binary: a warning when a client
/// starting `codex-wrap` by name would not start this one.
fn path_warning(env: &Env, this: &Path) -> Option<String> {
    let found = env.get("PATH").and_then(|path| {
        std::env::split_paths(path)
            .map(|dir| dir.join(SERVER_NAME))
            .find(|p| p.is_file())
    });
    let this_real = std::fs::canonicalize(this).unwrap_or_else(|_| this.to_path_buf());
    let absolute = format!(
        "`install --absolute` registers this binary ({}) by its path",
        this_real.display()
    );
    match found {
        None => Some(format!(
            "codex-wrap is not on PATH, so the assistant cannot start it by name: put it \
             there (`cargo install --path .`), or {absolute}"
        )),
        Some(p) => {
            let real = std::fs::canonicalize(&p).unwrap_or(p.clone());
            (real != this_real).then(|| {
                format!(
                    "`codex-wrap` on PATH is {}, not this binary: the assistant will start \
                     that one; {absolute}",
                    p.display()
                )
            })
        }
    }
}

/// The step each client still needs before it uses the server.
fn next_step(assistant: Assistant, user: bool, root: &Path) -> String {
    let gemini = "next: trust this folder in Gemini CLI (its prompt when `gemini` starts here, or \
                  /permissions): in an untrusted folder it disables every MCP server, and \
                  `gemini -p` offers the tools only in a trusted folder or with --yolo";
    match (assistant, user) {
        (Assistant::Claude, false) => "next: run `claude` in this project, trust the folder \
                                       and approve the codex-wrap server when it asks (until \
                                       then `claude mcp list` shows \"Pending approval\")"
            .to_owned(),
        (Assistant::Claude, true) => "next: run `claude` in your project and trust the folder \
                                      when it asks (until then `claude mcp list` shows \"Not \
                                      checked\")"
            .to_owned(),
        (Assistant::Codex, false) => format!(
            "next: trust this project in Codex (its prompt when `codex` starts here, or \
             [projects.\"{}\"] trust_level = \"trusted\" in ~/.codex/config.toml); until then \
             Codex ignores .codex/config.toml",
            root.display()
        ),
        (Assistant::Codex, true) => "next: start a new `codex` session".to_owned(),
        (Assistant::Cursor, _) => {
            "next: in Cursor, open Settings → MCP and turn codex-wrap on".to_owned()
        }
        (Assistant::Gemini, _) => gemini.to_owned(),
    }
}

/// `codex-wrap install`.
pub(crate) fn install(
    args: &InstallArgs,
    env: &Env,
    root: &Path,
    report_to: Reporter,
) -> anyhow::Result<ExitStatus> {
    let user = args.user || (args.assistant == Assistant::Codex && !args.project);
    let this = std::env::current_exe()
        .ok()
        .and_then(|p| std::fs::canonicalize(&p).ok().or(Some(p)));
    let command = match (&this, args.absolute) {
        (Some(p), true) => p.display().to_string(),
        _ => SERVER_NAME.to_owned(),
    };
    let entry = entry(args.assistant, &command);
    let targets = targets(args.assistant, user, env, root)?;
    let mut plans = Vec::new();
    for target in &targets {
        let fail =
            |e: String| Error::Config(format!("{}: {e}; left unchanged", target.path.display()));
        let before = read(&target.path)?;
        let planned = if args.uninstall {
            let backup = read(&backup_path(&target.path))?;
            plan_uninstall(target, before.as_deref(), backup.as_deref()).map_err(fail)?
        } else {
            plan_install(target, before.as_deref(), &entry, args.force).map_err(fail)?
        };
        plans.push(planned);
    }
    if !args.uninstall {
        let writes_in_root = targets.iter().any(|t| t.path.starts_with(root));
        if writes_in_root && !crate::config::root::is_marked(root) {
            let home = env.get("HOME").map(Path::new);
            let mut warning = format!(
                "no project marker (CONTRACTS.md, AGENTS.md or .git) in {} or above: \
                 installing into this folder",
                root.display()
            );
            if home == Some(root) {
                warning.push_str(", your home folder; run it in a project, or pass --root");
            }
            report_to.warn(&warning);
        }
        if !args.absolute
            && let Some(this) = &this
            && let Some(w) = path_warning(env, this)
        {
            report_to.warn(&w);
        }
    }
    let shown = |p: &Path| p.strip_prefix(root).unwrap_or(p).display().to_string();
    let mut report = String::new();
    for planned in &plans {
        let change = &planned.change;
        let name = shown(&change.path);
        if let Some(Note::Kept(e)) = &planned.note {
            let how = if args.uninstall {
                "left as it is: its codex-wrap entry is not the one install writes"
            } else {
                "kept: it has a codex-wrap entry of its own; --force replaces it"
            };
            report.push_str(&format!("{how}: {name} {e}\n"));
        }
        if change.before.is_none() && change.after.is_none() {
            report.push_str(&format!("nothing to remove: no {name}\n"));
            continue;
        }
        if change.before == change.after {
            if !matches!(planned.note, Some(Note::Kept(_))) {
                report.push_str(&format!("unchanged {name}\n"));
            }
            continue;
        }
        if args.dry_run {
            report.push_str(&diff(change, &name));
            continue;
        }
        let backup = apply(change, planned.backup)?;
        if let Some(b) = &planned.drop_backup {
            let _ = std::fs::remove_file(b);
        }
        if change.after.is_none() {
            remove_empty_dirs(&change.path, root);
        }
        let verb = match (&change.before, &change.after, &planned.note) {
            (_, _, Some(Note::Restored)) => "restored",
            (None, _, _) => "created",
            (_, None, _) => "removed",
            _ => "updated",
        };
        let mut line = format!("{verb} {name}");
        if let Some(Note::Replaced(e)) = &planned.note {
            line.push_str(&format!(", replacing its codex-wrap entry {e}"));
        }
        if let Some(b) = backup {
            line.push_str(&format!(" (backup: {})", shown(&b)));
        }
        report.push_str(&line);
        report.push('\n');
    }
    if !args.uninstall && !args.dry_run {
        report.push_str(&next_step(args.assistant, user, root));
        report.push('\n');
    }
    Output::print_document(&report)?;
    Ok(ExitStatus::Success)
}

/// After install's file went: its folders inside the project (`.cursor/`, `.gemini/`,
/// `.codex/`) go too when nothing else is in them.
fn remove_empty_dirs(path: &Path, root: &Path) {
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || std::fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
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

/// Writes one change: with `backup`, a copy of the old bytes first (with the file's own
/// mode: ~/.claude.json is private to its user); then the new file renamed into place, or
/// the file removed. Returns the backup's path.
fn apply(change: &Change, backup: bool) -> Result<Option<PathBuf>, Error> {
    let path = &change.path;
    let fail = |what: &str, e: std::io::Error| {
        Error::Config(format!("cannot {what} {}: {e}", path.display()))
    };
    let mode = std::fs::metadata(path).ok().map(|m| m.permissions());
    let backup = match (&change.before, backup) {
        (Some(before), true) => {
            let backup = backup_path(path);
            write_private(&backup, before, mode.clone()).map_err(|e| fail("back up", e))?;
            Some(backup)
        }
        _ => None,
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
            write_private(&temp, after, mode).map_err(|e| fail("write", e))?;
            std::fs::rename(&temp, path).map_err(|e| {
                let _ = std::fs::remove_file(&temp);
                fail("replace", e)
            })?;
        }
    }
    Ok(backup)
}

/// Writes `text` to a new file created readable by its owner only, then given `mode` (the
/// original's), so its bytes are never readable by others in between.
fn write_private(
    path: &Path,
    text: &str,
    mode: Option<std::fs::Permissions>,
) -> std::io::Result<()> {
    use std::io::Write;
    let _ = std::fs::remove_file(path);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path)?;
    file.write_all(text.as_bytes())?;
    match mode {
        Some(mode) => file.set_permissions(mode)?,
        // A new file gets the usual mode (0644 under the usual umask).
        None => {
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                file.set_permissions(std::fs::Permissions::from_mode(0o644))?;
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests;
