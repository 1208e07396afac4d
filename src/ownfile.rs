//! codex-wrap's own files (the run log, `.last_sync*`, locks, trust records and other
//! state): opened without following symlinks, and only inside the place they belong.
//!
//! A repository may plant symlinks (`logs -> ../outside`, `logs/codex-wrap.jsonl ->
//! ~/.bashrc`, `.last_sync.lock -> /etc/x`); a file of ours must never be written through
//! one. Every component below the base directory (the project root or the user's state
//! directory) must be a real directory, and the file itself is opened with `O_NOFOLLOW`.

use std::fs::File;
use std::io::{self, Write};
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Component, Path, PathBuf};

/// `path` must lie under `base` as written (no `..`), and no component between them may be
/// a symlink or anything but a directory; missing directories are created (mode 0700 when
/// `private`). Returns the path checked.
pub fn prepare_dir(base: &Path, path: &Path, private: bool) -> io::Result<PathBuf> {
    let rel = path.strip_prefix(base).map_err(|_| {
        refused(format!(
            "{} is outside {}; codex-wrap's own files stay inside it",
            path.display(),
            base.display()
        ))
    })?;
    let mut dir = base.to_path_buf();
    let parts: Vec<Component<'_>> = rel.components().collect();
    let Some((_, dirs)) = parts.split_last() else {
        return Err(refused(format!("{} names no file", path.display())));
    };
    for part in dirs {
        let Component::Normal(name) = part else {
            return Err(refused(format!(
                "{} leaves {} (`..`)",
                path.display(),
                base.display()
            )));
        };
        dir.push(name);
        match std::fs::symlink_metadata(&dir) {
            Ok(m) if m.is_dir() => {}
            Ok(m) if m.file_type().is_symlink() => {
                return Err(refused(format!(
                    "{} is a symlink; codex-wrap does not write its files through one",
                    dir.display()
                )));
            }
            Ok(_) => {
                return Err(refused(format!("{} is not a directory", dir.display())));
            }
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                let mut builder = std::fs::DirBuilder::new();
                if private {
                    use std::os::unix::fs::DirBuilderExt;
                    builder.mode(0o700);
                }
                match builder.create(&dir) {
                    Ok(()) => {}
                    Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {}
                    Err(e) => return Err(e),
                }
                if !std::fs::symlink_metadata(&dir)?.is_dir() {
                    return Err(refused(format!("{} is not a directory", dir.display())));
                }
            }
            Err(e) => return Err(e),
        }
    }
    Ok(path.to_path_buf())
}

/// Opens (creating) `path` under `base` for appending, without following a symlink at the
/// file or on the way (`prepare_dir`).
pub fn open_append(base: &Path, path: &Path, mode: u32) -> io::Result<File> {
    prepare_dir(base, path, false)?;
    std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(mode)
        .custom_flags(nofollow())
        .open(path)
        .map_err(symlink_error(path))
}

/// Opens `path` under `base` with `options`, adding `O_NOFOLLOW` (and checking the
/// directories on the way).
pub fn open_with(base: &Path, path: &Path, options: &mut std::fs::OpenOptions) -> io::Result<File> {
    prepare_dir(base, path, false)?;
    options
        .custom_flags(nofollow())
        .open(path)
        .map_err(symlink_error(path))
}

/// Reads a file of ours without following a symlink; `None` when it does not exist.
pub fn read_nofollow(path: &Path) -> io::Result<Option<Vec<u8>>> {
    use std::io::Read;
    let opened = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(nofollow())
        .open(path);
    match opened {
        Ok(mut file) => {
            let mut bytes = Vec::new();
            file.read_to_end(&mut bytes)?;
            Ok(Some(bytes))
        }
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(symlink_error(path)(e)),
    }
}

/// Replaces `path` whole (a temporary file in its directory, renamed over it); the
/// directories on the way are created private (0700) under `path`'s grandparent when
/// missing, and none may be a symlink.
pub fn write_atomic(path: &Path, bytes: &[u8]) -> io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| refused(format!("{} names no file", path.display())))?;
    let base = dir.parent().unwrap_or(dir);
    if !base.exists() {
        std::fs::create_dir_all(base)?;
    }
    prepare_dir(base, path, true)?;
    let mut tmp = tempfile::Builder::new()
        .prefix(".codex-wrap-")
        .suffix(".tmp")
        .tempfile_in(dir)?;
    tmp.write_all(bytes)?;
    tmp.as_file().sync_all()?;
    tmp.persist(path).map_err(|e| e.error)?;
    Ok(())
}

fn nofollow() -> i32 {
    nix::fcntl::OFlag::O_NOFOLLOW.bits() | nix::fcntl::OFlag::O_CLOEXEC.bits()
}

/// `ELOOP` from `O_NOFOLLOW` says the file is a symlink: say so.
fn symlink_error(path: &Path) -> impl Fn(io::Error) -> io::Error + '_ {
    move |e| {
        if e.raw_os_error() == Some(nix::libc::ELOOP) {
            refused(format!(
                "{} is a symlink; codex-wrap does not write its files through one",
                path.display()
            ))
        } else {
            e
        }
    }
}

fn refused(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::PermissionDenied, message)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_symlinked_folder_or_file_is_never_written_through() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("logs")).unwrap();
        let err = open_append(&root, &root.join("logs/run.jsonl"), 0o600).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        std::fs::create_dir_all(root.join("state")).unwrap();
        std::os::unix::fs::symlink(outside.join("x"), root.join("state/f")).unwrap();
        let err = open_append(&root, &root.join("state/f"), 0o600).unwrap_err();
        assert!(err.to_string().contains("symlink"), "{err}");
        let err = open_append(&root, &dir.path().join("elsewhere"), 0o600).unwrap_err();
        assert!(err.to_string().contains("outside"), "{err}");
        let err = open_append(&root, &root.join("a/../../x"), 0o600).unwrap_err();
        assert!(err.to_string().contains(".."), "{err}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        open_append(&root, &root.join("logs2/deep/run.jsonl"), 0o600).unwrap();
        assert!(root.join("logs2/deep/run.jsonl").is_file());
    }
}
