//! Which paths an answer may write: checked first as text, then against the file system.
//!
//! A model's output is untrusted input. A path is written only inside the project root:
//! relative, no `..`, no `.git` component, no control or bidirectional-text characters, no
//! component through a symlink that resolves outside the root, no symlink, directory or
//! special file as the target. The file-system checks are made when the write is planned and
//! again right before the rename (`Target::recheck`).

use std::fs::Metadata;
use std::io;
use std::path::{Component, Path, PathBuf};

/// Longest path accepted, in bytes.
pub const MAX_PATH_BYTES: usize = 1024;
/// Most components (directories plus the file) in a path.
pub const MAX_DEPTH: usize = 32;
/// Longest component, in bytes (the usual file-system limit).
pub const MAX_COMPONENT_BYTES: usize = 255;

/// Checks a path as text and returns it normalised: `/`-separated (a `\` is read as a
/// separator), no `.` or empty components. The error is a short reason.
pub fn check_relative(raw: &str) -> Result<String, String> {
    if raw.is_empty() {
        return Err("empty path".into());
    }
    if raw.len() > MAX_PATH_BYTES {
        return Err(format!("path longer than {MAX_PATH_BYTES} bytes"));
    }
    if raw.contains('\0') {
        return Err("path contains a NUL byte".into());
    }
    if raw.chars().any(char::is_control) {
        return Err("path contains a control character".into());
    }
    if raw.chars().any(is_bidi_control) {
        return Err("path contains a bidirectional-text control character".into());
    }
    if raw.chars().any(is_invisible) {
        return Err("path contains an invisible character".into());
    }
    let path = raw.replace('\\', "/");
    let bytes = path.as_bytes();
    if path.starts_with('/') || (bytes.len() >= 2 && bytes[1] == b':') {
        return Err("absolute path".into());
    }
    if path.starts_with('~') {
        return Err("path starts with ~".into());
    }
    if path.ends_with('/') {
        return Err("path names a directory".into());
    }
    let mut parts = Vec::new();
    for part in path.split('/') {
        match part {
            "" | "." => {}
            ".." => return Err("path leaves the project root (..)".into()),
            p if p.eq_ignore_ascii_case(".git") => {
                return Err("paths inside .git are never written".into());
            }
            p if p.len() > MAX_COMPONENT_BYTES => {
                return Err(format!(
                    "a path component is longer than {MAX_COMPONENT_BYTES} bytes"
                ));
            }
            p => parts.push(p),
        }
    }
    if parts.is_empty() {
        return Err("empty path".into());
    }
    if parts.len() > MAX_DEPTH {
        return Err(format!("path deeper than {MAX_DEPTH} components"));
    }
    Ok(parts.join("/"))
}

fn is_bidi_control(c: char) -> bool {
    matches!(c, '\u{200e}' | '\u{200f}' | '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{061c}')
}

/// Characters that show as nothing: zero-width spaces and joiners, word joiner, soft hyphen,
/// byte-order mark, invisible operators. A name holding one looks like another name.
fn is_invisible(c: char) -> bool {
    matches!(c, '\u{00ad}' | '\u{034f}' | '\u{115f}' | '\u{1160}' | '\u{17b4}' | '\u{17b5}'
        | '\u{180e}' | '\u{200b}'..='\u{200d}' | '\u{2060}'..='\u{2064}' | '\u{3164}'
        | '\u{fe00}'..='\u{fe0f}' | '\u{feff}' | '\u{ffa0}')
}

/// A checked place to write: its directory resolved inside the root.
#[derive(Debug, Clone)]
pub struct Target {
    /// The normalised root-relative path, for reports.
    pub rel: String,
    /// The directory the file goes in (symlinks resolved); it may not exist yet.
    pub dir: PathBuf,
    /// The file name.
    pub name: String,
    /// The file as it is now, when it exists (a regular file).
    pub existing: Option<Metadata>,
}

impl Target {
    /// Where the file is written.
    pub fn path(&self) -> PathBuf {
        self.dir.join(&self.name)
    }
}

/// Resolves a checked relative path against the canonical `root`: every existing directory
/// on the way must be a directory, or a symlink that resolves inside the root; the target
/// must be absent or a regular file (not a symlink).
pub fn resolve(root: &Path, rel: &str) -> Result<Target, String> {
    let (dirs, name) = rel.rsplit_once('/').unwrap_or(("", rel));
    let mut dir = root.to_path_buf();
    let mut shown = String::new();
    let mut missing = false;
    for part in dirs.split('/').filter(|p| !p.is_empty()) {
        if !shown.is_empty() {
            shown.push('/');
        }
        shown.push_str(part);
        let next = dir.join(part);
        if missing {
            dir = next;
            continue;
        }
        match std::fs::symlink_metadata(&next) {
            Ok(m) if m.is_dir() => dir = next,
            Ok(m) if m.file_type().is_symlink() => {
                let real = std::fs::canonicalize(&next)
                    .map_err(|e| format!("{shown} is a symlink that cannot be resolved: {e}"))?;
                if !real.starts_with(root) {
                    return Err(format!("{shown} is a symlink that leaves the project root"));
                }
                if !real.is_dir() {
                    return Err(format!("{shown} is not a directory"));
                }
                dir = real;
            }
            Ok(_) => return Err(format!("{shown} is not a directory")),
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                missing = true;
                dir = next;
            }
            Err(e) => return Err(format!("cannot inspect {shown}: {e}")),
        }
    }
    if inside_git(root, &dir) {
        return Err("paths inside .git are never written".into());
    }
    let existing = if missing {
        None
    } else {
        existing_file(&dir.join(name))?
    };
    Ok(Target {
        rel: rel.to_owned(),
        dir,
        name: name.to_owned(),
        existing,
    })
}

/// The target's metadata when it exists and is a regular file; an error for anything else.
fn existing_file(path: &Path) -> Result<Option<Metadata>, String> {
    match std::fs::symlink_metadata(path) {
        Ok(m) if m.file_type().is_symlink() => Err("the target is a symlink".into()),
        Ok(m) if m.is_dir() => Err("the target is a directory".into()),
        Ok(m) if m.is_file() => Ok(Some(m)),
        Ok(_) => Err("the target is not a regular file (device, FIFO or socket)".into()),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot inspect the target: {e}")),
    }
}

fn inside_git(root: &Path, dir: &Path) -> bool {
    dir.strip_prefix(root).is_ok_and(|rel| {
        rel.components()
            .any(|c| matches!(c, Component::Normal(n) if n.eq_ignore_ascii_case(".git")))
    })
}

impl Target {
    /// Creates the missing directories one at a time, refusing any that turns out not to be
    /// a plain directory inside the root.
    pub fn create_dir(&self, root: &Path) -> io::Result<()> {
        let rel = self.dir.strip_prefix(root).map_err(|_| escape())?;
        let mut dir = root.to_path_buf();
        for part in rel.components() {
            dir.push(part);
            match std::fs::create_dir(&dir) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                Err(e) => return Err(e),
            }
            let m = std::fs::symlink_metadata(&dir)?;
            if !m.is_dir() {
                return Err(io::Error::other(format!(
                    "{} is not a plain directory",
                    dir.display()
                )));
            }
        }
        Ok(())
    }

    /// Checks again, right before the rename, that the directory still resolves to itself
    /// inside the root and the target is still absent or a regular file.
    pub fn recheck(&self, root: &Path) -> io::Result<()> {
        let real = std::fs::canonicalize(&self.dir)?;
        if real != self.dir || !real.starts_with(root) || inside_git(root, &real) {
            return Err(escape());
        }
        existing_file(&self.path()).map_err(io::Error::other)?;
        Ok(())
    }
}

fn escape() -> io::Error {
    io::Error::new(
        io::ErrorKind::PermissionDenied,
        "the directory changed and now leaves the project root",
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn ok(raw: &str, want: &str) {
        assert_eq!(check_relative(raw).as_deref(), Ok(want));
    }

    #[track_caller]
    fn bad(raw: &str, why: &str) {
        let err = check_relative(raw).unwrap_err();
        assert!(err.contains(why), "{raw:?}: {err}");
    }

    #[test]
    fn relative_paths_are_normalised() {
        ok("app/main.py", "app/main.py");
        ok("./app//main.py", "app/main.py");
        ok("src\\lib.rs", "src/lib.rs");
        ok(".github/workflows/ci.yml", ".github/workflows/ci.yml");
        ok(".gitignore", ".gitignore");
    }

    #[test]
    fn hostile_paths_are_refused_with_a_reason() {
        bad("/etc/passwd", "absolute");
        bad("C:\\x.txt", "absolute");
        bad("\\\\server\\share", "absolute");
        bad("../../x", "leaves the project root");
        bad("a/../../x", "leaves the project root");
        bad("a/..", "leaves");
        bad(".git/config", ".git");
        bad("sub/.GIT/hooks/pre-commit", ".git");
        bad("a\0b", "NUL");
        bad("a\nb", "control");
        bad("a\rb", "control");
        bad("evil\u{202e}txt.sh", "bidirectional");
        bad("main\u{200b}.py", "invisible");
        bad("\u{feff}app.py", "invisible");
        bad("a\u{00ad}b.py", "invisible");
        bad("~/x", "~");
        bad("", "empty");
        bad("./", "directory");
        bad(".", "empty");
        bad("a/".repeat(40).trim_end_matches('/'), "deeper");
        bad(&"x".repeat(300), "component");
        bad(&"ab/".repeat(400), "longer");
    }
}
