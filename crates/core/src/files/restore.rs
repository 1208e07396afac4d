//! Putting back what a task wrote. A [`Ledger`] records, per file, what it held before the
//! task first wrote it (its bytes and mode, or that it did not exist) and the bytes the task
//! last left in it. When the task ends in failure, [`Ledger::restore`] puts every file back:
//! a created file is removed (with the directories created for it, when empty), a changed
//! file gets its earlier bytes and mode, each only when it still holds the bytes the task
//! left, so another writer's later change is never undone. [`Ledger::patch`] is the failed
//! attempt as a unified diff, kept aside before the files are put back.

use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use similar::TextDiff;

use super::write::{Action, FileResult, Planned};

/// What one file held before the task and what the task left in it.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Entry {
    rel: String,
    /// Bytes and mode before the task's first write; `None`: the file did not exist.
    before: Option<(Vec<u8>, u32)>,
    /// The highest directory created for a new file (removed again when empty).
    created_dir: Option<PathBuf>,
    /// The bytes the task's last write left; `None` until a write landed.
    left: Option<Vec<u8>>,
}

/// The files a task wrote, with what they held before.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ledger {
    entries: Vec<Entry>,
}

/// What putting back did to one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Restored {
    /// Root-relative path.
    pub path: String,
    /// `removed`, `restored`, or why it was left as it is.
    pub outcome: String,
    /// Whether the file now holds what it held before the task.
    pub ok: bool,
}

impl Ledger {
    /// Whether the task wrote nothing (so far).
    pub fn is_empty(&self) -> bool {
        self.entries.iter().all(|e| e.left.is_none())
    }

    /// Root-relative paths the task wrote.
    pub fn paths(&self) -> impl Iterator<Item = &str> {
        self.entries
            .iter()
            .filter(|e| e.left.is_some())
            .map(|e| e.rel.as_str())
    }

    /// Before an answer's files are written: reads what each file to be created or updated
    /// holds now, the first time the task is about to write it.
    pub fn before_write(&mut self, root: &Path, planned: &[Planned]) {
        for p in planned {
            if !matches!(p.result.action, Action::Created | Action::Updated)
                || self.entries.iter().any(|e| e.rel == p.result.path)
            {
                continue;
            }
            let path = root.join(&p.result.path);
            let before = match std::fs::symlink_metadata(&path) {
                Ok(meta) => match std::fs::read(&path) {
                    Ok(bytes) => Some((bytes, meta.permissions().mode() & 0o7777)),
                    // Unreadable: it will not be written either (the plan read it).
                    Err(_) => continue,
                },
                Err(_) => None,
            };
            let created_dir = match before {
                Some(_) => None,
                None => highest_missing_dir(root, &path),
            };
            self.entries.push(Entry {
                rel: p.result.path.clone(),
                before,
                created_dir,
                left: None,
            });
        }
    }

    /// After the writes: the files that landed (created or updated) now hold their new text.
    pub fn written(&mut self, planned: &[Planned], results: &[FileResult]) {
        for r in results {
            if !matches!(r.action, Action::Created | Action::Updated) {
                continue;
            }
            let Some(p) = planned.iter().find(|p| p.result.path == r.path) else {
                continue;
            };
            if let Some(e) = self.entries.iter_mut().find(|e| e.rel == r.path) {
                e.left = Some(p.new.as_bytes().to_vec());
            }
        }
    }

    /// The failed attempt as a unified diff: each file from what it held before the task to
    /// what the task left (`/dev/null` for a created file).
    pub fn patch(&self) -> String {
        let mut out = String::new();
        for e in &self.entries {
            let Some(left) = &e.left else { continue };
            let old = e
                .before
                .as_ref()
                .map(|(b, _)| String::from_utf8_lossy(b).into_owned());
            let new = String::from_utf8_lossy(left);
            let a = match old {
                Some(_) => format!("a/{}", e.rel),
                None => "/dev/null".to_owned(),
            };
            let b = format!("b/{}", e.rel);
            let diff = TextDiff::from_lines(old.as_deref().unwrap_or(""), &*new);
            out.push_str(
                &diff
                    .unified_diff()
                    .context_radius(3)
                    .header(&a, &b)
                    .to_string(),
            );
        }
        out
    }

    /// Writes [`Ledger::patch`] to a new file in `dir` (created when missing), named after
    /// the time and the process: `failed-<unix seconds>-<pid>.patch`.
    pub fn keep_aside(&self, dir: &Path) -> io::Result<PathBuf> {
        std::fs::create_dir_all(dir)?;
        let secs = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let mut n = 0;
        loop {
            let name = match n {
                0 => format!("failed-{secs}-{}.patch", std::process::id()),
                n => format!("failed-{secs}-{}-{n}.patch", std::process::id()),
            };
            let path = dir.join(name);
            match std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .open(&path)
            {
                Ok(mut f) => {
                    f.write_all(self.patch().as_bytes())?;
                    f.sync_all()?;
                    return Ok(path);
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists && n < 100 => n += 1,
                Err(e) => return Err(e),
            }
        }
    }

    /// Puts back everything the task wrote, last written first: a created file is removed,
    /// a changed one gets its earlier bytes and mode; each only when it still holds the bytes
    /// the task left. The ledger is emptied.
    pub fn restore(&mut self, root: &Path) -> Vec<Restored> {
        let mut out = Vec::new();
        for e in std::mem::take(&mut self.entries).into_iter().rev() {
            let Some(left) = &e.left else { continue };
            let path = root.join(&e.rel);
            let now = std::fs::read(&path).ok();
            let before_bytes = e.before.as_ref().map(|(b, _)| b);
            let (outcome, ok) = if now.as_ref() == before_bytes {
                ("already as before".to_owned(), true)
            } else if now.as_ref() != Some(left) {
                (
                    "changed since the task wrote it; left as it is".to_owned(),
                    false,
                )
            } else {
                match put_back(root, &path, &e) {
                    Ok(word) => (word.to_owned(), true),
                    Err(err) => (format!("cannot put it back: {err}"), false),
                }
            };
            out.push(Restored {
                path: e.rel.clone(),
                outcome,
                ok,
            });
        }
        out
    }
}

fn put_back(root: &Path, path: &Path, e: &Entry) -> io::Result<&'static str> {
    match &e.before {
        None => {
            std::fs::remove_file(path)?;
            if let Some(top) = &e.created_dir {
                let mut dir = path.parent();
                while let Some(d) = dir {
                    if !d.starts_with(top) || d == root || std::fs::remove_dir(d).is_err() {
                        break;
                    }
                    dir = d.parent();
                }
            }
            Ok("removed")
        }
        Some((bytes, mode)) => {
            let dir = path.parent().unwrap_or(root);
            let mut tmp = tempfile::Builder::new()
                .prefix(super::write::TEMP_PREFIX)
                .suffix(".tmp")
                .tempfile_in(dir)?;
            tmp.write_all(bytes)?;
            tmp.as_file()
                .set_permissions(std::fs::Permissions::from_mode(*mode))?;
            tmp.as_file().sync_all()?;
            tmp.persist(path).map_err(|e| e.error)?;
            std::fs::File::open(dir)?.sync_all()?;
            Ok("restored")
        }
    }
}

/// The highest ancestor of `path` under `root` that does not exist yet.
fn highest_missing_dir(root: &Path, path: &Path) -> Option<PathBuf> {
    let mut top = None;
    let mut dir = path.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || d.exists() {
            break;
        }
        top = Some(d.to_path_buf());
        dir = d.parent();
    }
    top
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::blocks::FileBlock;
    use crate::files::write::{self, WriteOptions};

    fn write_round(root: &Path, ledger: &mut Ledger, files: &[FileBlock]) {
        let opts = WriteOptions {
            force: true,
            ..WriteOptions::default()
        };
        let planned = write::plan(root, files, &[], &opts).unwrap();
        ledger.before_write(root, &planned);
        let results = write::apply(root, &planned).unwrap();
        ledger.written(&planned, &results);
    }

    #[test]
    fn restore_puts_back_bytes_and_mode_and_removes_created_files() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("lib.py"), "def helper():\n    pass\r\n").unwrap();
        std::fs::set_permissions(root.join("lib.py"), std::fs::Permissions::from_mode(0o600))
            .unwrap();
        let mut ledger = Ledger::default();
        write_round(
            &root,
            &mut ledger,
            &[
                FileBlock::named("lib.py", "one\n"),
                FileBlock::named("new/deep/a.py", "a\n"),
            ],
        );
        write_round(&root, &mut ledger, &[FileBlock::named("lib.py", "two\n")]);
        assert_eq!(
            ledger.paths().collect::<Vec<_>>(),
            ["lib.py", "new/deep/a.py"]
        );
        let patch = ledger.patch();
        assert!(patch.contains("+++ b/lib.py\n"), "{patch}");
        assert!(patch.contains("+two"), "{patch}");
        assert!(
            patch.contains("--- /dev/null\n+++ b/new/deep/a.py\n"),
            "{patch}"
        );
        let kept = ledger.keep_aside(&root.join("state")).unwrap();
        assert_eq!(std::fs::read_to_string(&kept).unwrap(), patch);
        let done = ledger.restore(&root);
        assert!(done.iter().all(|r| r.ok), "{done:?}");
        assert_eq!(
            std::fs::read(root.join("lib.py")).unwrap(),
            b"def helper():\n    pass\r\n"
        );
        let mode = std::fs::metadata(root.join("lib.py"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(!root.join("new").exists());
        assert!(ledger.is_empty());
    }

    #[test]
    fn a_later_change_by_another_writer_is_never_undone() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("a.txt"), "old\n").unwrap();
        let mut ledger = Ledger::default();
        write_round(
            &root,
            &mut ledger,
            &[
                FileBlock::named("a.txt", "task\n"),
                FileBlock::named("b.txt", "b\n"),
            ],
        );
        std::fs::write(root.join("a.txt"), "someone else\n").unwrap();
        std::fs::write(root.join("b.txt"), "theirs\n").unwrap();
        let done = ledger.restore(&root);
        assert!(done.iter().all(|r| !r.ok), "{done:?}");
        assert_eq!(
            std::fs::read_to_string(root.join("a.txt")).unwrap(),
            "someone else\n"
        );
        assert_eq!(
            std::fs::read_to_string(root.join("b.txt")).unwrap(),
            "theirs\n"
        );
    }
}
