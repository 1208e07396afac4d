//! The safe writer: plans what an answer's files would do, then writes them atomically.
//!
//! `plan` is read-only: it checks each path (`path::check_relative`, `path::resolve`),
//! normalises the text and decides the action: a new file is created; an existing one is
//! updated only when it was an input (`-i`) or `force` is set, else skipped; a path that may
//! not be written is rejected. `apply` writes the planned files: an anonymous file
//! (`O_TMPFILE`) in the target's directory, or a named temporary file where the file system
//! has no anonymous files; fsync; a re-check of the directory; link or rename into place;
//! fsync of the directory. A kill at any moment leaves the old file or the new one, whole.
//! A failed write (full disk, file size limit) leaves the old file as it was and stops.
//!
//! Protected paths (`protect`): codex-wrap's own configuration and `.git/` are never written;
//! an assistant's configuration is replaced only when named literally with `-i`
//! (`WriteOptions::literal_inputs`; `--force` is not enough), never created.
//!
//! Limits against hostile or runaway answers (`Limits::default`): at most 256 files per
//! answer and 16 MiB in all (beyond either, nothing is written), and 4 MiB per file (a
//! larger file is rejected).

use std::fmt;
use std::fs::Permissions;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use serde::Serialize;
use sha2::{Digest, Sha256};

use super::blocks::FileBlock;
use super::path::{self, Target};
use super::protect;

/// Caps on what one answer may write.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Most files one answer may write; more and nothing is written.
    pub max_files: usize,
    /// Largest file, in bytes after normalisation; a larger one is rejected.
    pub max_file_bytes: usize,
    /// Most bytes in all; more and nothing is written.
    pub max_total_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_files: 256,
            max_file_bytes: 4 << 20,
            max_total_bytes: 16 << 20,
        }
    }
}

/// How to write.
#[derive(Debug, Clone, Default)]
pub struct WriteOptions {
    /// Replace existing files that were not inputs.
    pub force: bool,
    /// The caps.
    pub limits: Limits,
    /// Set (by a Ctrl-C) to stop after the file being written: the rest are reported as
    /// skipped, "interrupted before it was written".
    pub stop: Option<std::sync::Arc<std::sync::atomic::AtomicBool>>,
    /// Root-relative paths named literally with `-i` on the command line (no glob, not MCP
    /// `files`): the only inputs that may replace an assistant's configuration.
    pub literal_inputs: Vec<String>,
    /// The user's `[files] allow_write`: protected assistant files they let answers write.
    pub allow_write: Option<globset::GlobSet>,
    /// The answer was cut at the model's token limit: no existing input is written.
    pub truncated: bool,
}

/// What happened (or, in a dry run, would happen) to one file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Action {
    /// A new file.
    Created,
    /// An existing file replaced.
    Updated,
    /// An existing file whose content is already the same: not touched.
    Unchanged,
    /// An existing file that was not an input, without `force`: not touched.
    Skipped,
    /// A path or file that may not be written.
    Rejected,
}

impl Action {
    /// The word in the summary.
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Created => "created",
            Action::Updated => "updated",
            Action::Unchanged => "unchanged",
            Action::Skipped => "skipped",
            Action::Rejected => "rejected",
        }
    }
}

/// The result for one file, as data.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct FileResult {
    /// The path, normalised and root-relative when it passed the checks, else as given.
    pub path: String,
    /// What was done.
    pub action: Action,
    /// Bytes of the (normalised) new text.
    pub bytes: usize,
    /// Lines of the new text.
    pub lines: usize,
    /// SHA-256 of the new text, lower-case hex.
    pub sha256: String,
    /// Why it was skipped or rejected.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

/// One planned file: its result and, for the diff and the write, the texts.
#[derive(Debug, Clone)]
pub struct Planned {
    /// What will happen.
    pub result: FileResult,
    /// The file's current text (lossy UTF-8), when it exists.
    pub old: Option<String>,
    /// The normalised new text.
    pub new: String,
    target: Option<Target>,
    mode: u32,
}

/// An answer over the limits: nothing is written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LimitError {
    /// Too many files.
    #[error(
        "the answer names {files} files; at most {max} are written per answer (nothing written)"
    )]
    TooManyFiles {
        /// Files named.
        files: usize,
        /// The cap.
        max: usize,
    },
    /// Too many bytes.
    #[error(
        "the answer's files add up to {bytes} bytes; at most {max} are written per answer (nothing written)"
    )]
    TooManyBytes {
        /// Bytes named.
        bytes: usize,
        /// The cap.
        max: usize,
    },
}

/// A write that failed: the file named is left as it was, files after it are not written.
#[derive(Debug)]
pub struct WriteError {
    /// The file that failed.
    pub path: String,
    /// Why.
    pub source: io::Error,
    /// The files written before it.
    pub done: Vec<FileResult>,
}

impl fmt::Display for WriteError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot write {}: {} (the old file is left as it was)",
            self.path, self.source
        )
    }
}

impl std::error::Error for WriteError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.source)
    }
}

/// Normalises text for writing: LF line endings (CRLF when `crlf`), a final newline. The
/// empty text stays empty.
pub fn normalize(text: &str, crlf: bool) -> String {
    let mut out = if memchr::memchr(b'\r', text.as_bytes()).is_some() {
        text.replace("\r\n", "\n")
    } else {
        text.to_owned()
    };
    if !out.is_empty() && !out.ends_with('\n') {
        out.push('\n');
    }
    if crlf { out.replace('\n', "\r\n") } else { out }
}

/// Whether a text uses CRLF line endings (most of its line ends are CRLF).
pub fn uses_crlf(text: &str) -> bool {
    let lf = memchr::memchr_iter(b'\n', text.as_bytes()).count();
    let crlf = text.matches("\r\n").count();
    lf > 0 && crlf * 2 >= lf
}

/// Plans the writes of an answer's files under the canonical `root`. `inputs` are the
/// root-relative paths given with `-i`: those may be replaced.
pub fn plan(
    root: &Path,
    files: &[FileBlock],
    inputs: &[String],
    opts: &WriteOptions,
) -> Result<Vec<Planned>, LimitError> {
    let limits = opts.limits;
    if files.len() > limits.max_files {
        return Err(LimitError::TooManyFiles {
            files: files.len(),
            max: limits.max_files,
        });
    }
    let total: usize = files.iter().map(|f| f.content.len()).sum();
    if total > limits.max_total_bytes {
        return Err(LimitError::TooManyBytes {
            bytes: total,
            max: limits.max_total_bytes,
        });
    }
    let mut planned: Vec<Planned> = files
        .iter()
        .map(|f| plan_one(root, f, inputs, opts))
        .collect();
    // Two spellings of one path (`app/x.py`, `./app//x.py`): the last block is the file;
    // the earlier ones are reported, not written twice.
    for i in 0..planned.len() {
        let rel = &planned[i].result.path;
        let again = planned[i].target.is_some()
            && planned[i + 1..]
                .iter()
                .any(|later| later.target.is_some() && later.result.path == *rel);
        if again {
            let p = &mut planned[i];
            p.result.action = Action::Skipped;
            p.result.reason =
                Some("named again later in the answer; the last block is written".into());
            p.target = None;
        }
    }
    Ok(planned)
}

fn plan_one(root: &Path, file: &FileBlock, inputs: &[String], opts: &WriteOptions) -> Planned {
    let rejected = |path: &str, reason: String| Planned {
        result: result(path, Action::Rejected, &file.content, Some(reason)),
        old: None,
        new: String::new(),
        target: None,
        mode: 0,
    };
    let rel = match path::check_relative(&file.path) {
        Ok(rel) => rel,
        Err(reason) => return rejected(&file.path, reason),
    };
    if protect::protection(&rel) == protect::Protection::Never {
        return rejected(&rel, protect::check(&rel, false, false, false).unwrap_err());
    }
    let target = match path::resolve(root, &rel) {
        Ok(t) => t,
        Err(reason) => return rejected(&rel, reason),
    };
    let allowed = opts.allow_write.as_ref().is_some_and(|s| s.is_match(&rel));
    let literal = opts.literal_inputs.contains(&rel);
    if let Err(reason) = protect::check(&rel, target.existing.is_some(), literal, allowed) {
        return rejected(&rel, reason);
    }
    let old = match &target.existing {
        Some(_) => match std::fs::read(target.path()) {
            Ok(bytes) => Some(String::from_utf8_lossy(&bytes).into_owned()),
            Err(e) => return rejected(&rel, format!("cannot read the existing file: {e}")),
        },
        None => None,
    };
    let crlf = old.as_deref().is_some_and(uses_crlf);
    let new = normalize(&file.content, crlf);
    if let Err(reason) = protect::keeps_own_block(&rel, old.as_deref(), &new) {
        return rejected(&rel, reason);
    }
    if new.len() > opts.limits.max_file_bytes {
        let reason = format!(
            "{} bytes is over the {} bytes limit per file",
            new.len(),
            opts.limits.max_file_bytes
        );
        return rejected(&rel, reason);
    }
    let old_mode = target
        .existing
        .as_ref()
        .map(|m| m.permissions().mode() & 0o7777);
    let mut mode = old_mode.unwrap_or(0o644);
    if new.starts_with("#!") {
        // Execute wherever read is allowed: 644 → 755, 600 → 700.
        mode |= (mode & 0o444) >> 2;
    }
    let (action, reason) = match &old {
        None => (Action::Created, None),
        Some(old) if *old == new && old_mode == Some(mode) => (Action::Unchanged, None),
        Some(_) if opts.force || inputs.contains(&rel) => (Action::Updated, None),
        Some(_) => (Action::Skipped, Some("exists; use --force".to_owned())),
    };
    Planned {
        result: result(&rel, action, &new, reason),
        old,
        new,
        target: Some(target),
        mode,
    }
}

fn result(path: &str, action: Action, text: &str, reason: Option<String>) -> FileResult {
    FileResult {
        path: path.to_owned(),
        action,
        bytes: text.len(),
        lines: memchr::memchr_iter(b'\n', text.as_bytes()).count(),
        sha256: hex(&Sha256::digest(text.as_bytes())),
        reason,
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes the planned files that are created or updated; the others are reported as
/// planned. Stops at the first failed write.
pub fn apply(root: &Path, planned: &[Planned]) -> Result<Vec<FileResult>, WriteError> {
    apply_until(root, planned, None)
}

/// `apply`, checking `stop` before each file: once it is set, the files left are not
/// written and are reported as skipped.
pub fn apply_until(
    root: &Path,
    planned: &[Planned],
    stop: Option<&std::sync::atomic::AtomicBool>,
) -> Result<Vec<FileResult>, WriteError> {
    let mut done = Vec::with_capacity(planned.len());
    for p in planned {
        let action = p.result.action;
        if matches!(action, Action::Created | Action::Updated)
            && stop.is_some_and(|s| s.load(std::sync::atomic::Ordering::SeqCst))
        {
            done.push(FileResult {
                action: Action::Skipped,
                reason: Some("interrupted before it was written".to_owned()),
                ..p.result.clone()
            });
            continue;
        }
        if let (Action::Created | Action::Updated, Some(target)) = (action, &p.target)
            && let Err(source) = write_atomic(root, target, p)
        {
            return Err(WriteError {
                path: p.result.path.clone(),
                source,
                done,
            });
        }
        done.push(p.result.clone());
    }
    Ok(done)
}

/// Prefix of the temporary names (in the target's directory) that become the new files.
pub const TEMP_PREFIX: &str = ".codex-wrap-";

fn write_atomic(root: &Path, target: &Target, p: &Planned) -> io::Result<()> {
    target.create_dir(root)?;
    if !write_anonymous(root, target, p)? {
        write_named(root, target, p)?;
    }
    std::fs::File::open(&target.dir)?.sync_all()
}

/// Writes through an anonymous file (`O_TMPFILE`) that gets a name only once it is whole
/// and synced, so a kill at any moment leaves no partial file. A new file is linked straight
/// to its name (failing if one appeared since the plan); an update is linked to a temporary
/// name and renamed over the old file. `Ok(false)` when the file system cannot do this.
fn write_anonymous(root: &Path, target: &Target, p: &Planned) -> io::Result<bool> {
    use rustix::fs::{AtFlags, CWD, Mode, OFlags};
    use rustix::io::Errno;
    use std::os::fd::AsRawFd;

    let flags = OFlags::TMPFILE | OFlags::WRONLY | OFlags::CLOEXEC;
    let fd = match rustix::fs::openat(CWD, &target.dir, flags, Mode::from_raw_mode(0o600)) {
        Ok(fd) => fd,
        Err(Errno::OPNOTSUPP | Errno::ISDIR | Errno::INVAL | Errno::NOSYS) => return Ok(false),
        Err(e) => return Err(e.into()),
    };
    let mut file = std::fs::File::from(fd);
    file.write_all(p.new.as_bytes())?;
    file.set_permissions(Permissions::from_mode(p.mode))?;
    file.sync_all()?;
    let anonymous = format!("/proc/self/fd/{}", file.as_raw_fd());
    let link = |to: &Path| rustix::fs::linkat(CWD, &anonymous, CWD, to, AtFlags::SYMLINK_FOLLOW);
    target.recheck(root)?;
    let dest = target.path();
    let result = if p.result.action == Action::Created {
        link(&dest).map(Ok)
    } else {
        let tmp = target.dir.join(temp_name());
        link(&tmp).map(|()| {
            if let Err(e) = std::fs::rename(&tmp, &dest) {
                let _ = std::fs::remove_file(&tmp);
                return Err(e);
            }
            Ok(())
        })
    };
    match result {
        Ok(renamed) => renamed.map(|()| true),
        // No /proc: fall back to a named temporary file.
        Err(Errno::NOENT) if !Path::new("/proc/self/fd").is_dir() => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// A temporary name unlikely to be taken: prefix, process id, nanoseconds.
fn temp_name() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    format!("{TEMP_PREFIX}{}-{nanos}.tmp", std::process::id())
}

/// The portable way: a named temporary file beside the target, renamed over it. A kill in
/// the middle may leave a `.codex-wrap-*.tmp` file, never a partial target.
fn write_named(root: &Path, target: &Target, p: &Planned) -> io::Result<()> {
    let mut tmp = tempfile::Builder::new()
        .prefix(TEMP_PREFIX)
        .suffix(".tmp")
        .tempfile_in(&target.dir)?;
    tmp.write_all(p.new.as_bytes())?;
    tmp.as_file()
        .set_permissions(Permissions::from_mode(p.mode))?;
    tmp.as_file().sync_all()?;
    target.recheck(root)?;
    let dest: PathBuf = target.path();
    if p.result.action == Action::Created {
        // A file that appeared since the plan is not clobbered.
        tmp.persist_noclobber(&dest).map_err(|e| e.error)?;
    } else {
        tmp.persist(&dest).map_err(|e| e.error)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests;
