//! The sync's files in the project root: `.last_sync` (what the last successful sync did,
//! replaced atomically) and `.last_sync.lock` (held while a sync runs).
//!
//! The lock is an advisory `flock` on a file that stays in place: the kernel drops it when
//! the process ends however it ends, so a crashed sync never leaves a stale lock, and the
//! file is never deleted (deleting it would let two processes lock two different files).

use std::fs::{File, OpenOptions};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg};
use serde::{Deserialize, Serialize};

/// `.last_sync`, in the root.
pub const LAST_SYNC: &str = ".last_sync";
/// The lock file, in the root.
pub(crate) const LOCK: &str = ".last_sync.lock";
const TEMP: &str = ".last_sync.tmp";

/// What `.last_sync` holds: one JSON object.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
#[serde(default)]
pub struct LastSync {
    /// When the sync ended, RFC 3339 UTC.
    pub ts: String,
    /// The remote, as displayed (no connection-string parameters).
    pub remote: String,
    /// Files transferred.
    pub transferred: u64,
    /// Files deleted on the remote.
    pub deleted: u64,
    /// Bytes transferred.
    pub bytes: u64,
    /// Wall time of the sync, in seconds.
    pub seconds: f64,
    /// The rclone version that did it.
    pub rclone: String,
}

/// Path of `.last_sync` under `root`.
pub(crate) fn last_sync_path(root: &Path) -> PathBuf {
    root.join(LAST_SYNC)
}

/// Reads `.last_sync`; `None` when missing or unreadable.
pub(crate) fn read_last_sync(root: &Path) -> Option<LastSync> {
    let bytes = crate::ownfile::read_nofollow(&last_sync_path(root)).ok()??;
    serde_json::from_slice(&bytes).ok()
}

/// Replaces `.last_sync` atomically: a temporary file, flushed to disk, renamed over it.
/// Only called with the lock held, so the temporary file's fixed name is safe.
pub(crate) fn write_last_sync(root: &Path, last: &LastSync) -> std::io::Result<()> {
    let temp = root.join(TEMP);
    let mut text = serde_json::to_string(last).map_err(std::io::Error::other)?;
    text.push('\n');
    // Never through a symlink the repository planted (`.last_sync.tmp -> ~/.bashrc`); the
    // rename replaces a symlink at `.last_sync` itself instead of following it.
    let mut file = crate::ownfile::open_with(
        root,
        &temp,
        OpenOptions::new().write(true).create(true).truncate(true),
    )?;
    file.write_all(text.as_bytes())?;
    file.sync_all()?;
    drop(file);
    std::fs::rename(&temp, last_sync_path(root))
}

/// The held lock; dropping it releases it.
#[derive(Debug)]
pub(crate) struct Lock {
    _file: Flock<File>,
}

/// Another sync holds the lock.
#[derive(Debug)]
pub(crate) struct Busy {
    /// Its process id, as it wrote it.
    pub pid: Option<u32>,
}

/// Takes the lock without waiting. `Ok(Err(Busy))` when another sync holds it.
pub(crate) fn try_lock(root: &Path) -> std::io::Result<Result<Lock, Busy>> {
    let file = crate::ownfile::open_with(
        root,
        &root.join(LOCK),
        OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false),
    )?;
    match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(mut locked) => {
            // The pid is only for the "already running" message.
            locked.set_len(0)?;
            locked.rewind()?;
            write!(locked, "{}", std::process::id())?;
            Ok(Ok(Lock { _file: locked }))
        }
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut text = String::new();
            let _ = file.read_to_string(&mut text);
            Ok(Err(Busy {
                pid: text.trim().parse().ok(),
            }))
        }
        Err((_, errno)) => Err(std::io::Error::from(errno)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_lock_excludes_a_second_holder_until_dropped() {
        let dir = tempfile::tempdir().unwrap();
        let first = try_lock(dir.path()).unwrap().unwrap();
        let busy = try_lock(dir.path()).unwrap().unwrap_err();
        assert_eq!(busy.pid, Some(std::process::id()));
        drop(first);
        assert!(try_lock(dir.path()).unwrap().is_ok());
    }

    #[test]
    fn last_sync_round_trips_and_leaves_no_temporary_file() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(read_last_sync(dir.path()), None);
        let last = LastSync {
            ts: "2026-11-30T06:00:00.000Z".into(),
            remote: "gdrive:app".into(),
            transferred: 3,
            deleted: 1,
            bytes: 42,
            seconds: 1.5,
            rclone: "v1.60.1".into(),
        };
        write_last_sync(dir.path(), &last).unwrap();
        assert_eq!(read_last_sync(dir.path()), Some(last));
        assert!(!dir.path().join(TEMP).exists());
    }
}
