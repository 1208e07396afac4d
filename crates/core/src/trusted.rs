//! What the user trusted of a project: its files, each with the SHA-256 it had (see
//! `config::trust`). A module of its own so the environment can carry it without
//! depending on the configuration.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sha2::{Digest, Sha256};

/// The files of a project a trust was given for, by absolute path, with their SHA-256
/// (lower-case hex). A file absent when trusted is not in the map.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trusted {
    files: BTreeMap<PathBuf, String>,
}

impl Trusted {
    /// Records that the file at `key` (see [`file_key`]) had the SHA-256 `hash`.
    pub fn insert(&mut self, key: PathBuf, hash: String) {
        self.files.insert(key, hash);
    }

    /// Whether `bytes` (`None`: the file is absent) are what `path` held when trusted.
    pub fn covers(&self, path: &Path, bytes: Option<&[u8]>) -> bool {
        self.files.get(&file_key(path)).map(String::as_str) == bytes.map(sha256_hex).as_deref()
    }
}

/// A file as records name it: its folder resolved (`/tmp/p` and `/private/tmp/p` are one).
pub fn file_key(path: &Path) -> PathBuf {
    match (path.parent(), path.file_name()) {
        (Some(dir), Some(name)) => dir
            .canonicalize()
            .map_or_else(|_| path.to_path_buf(), |d| d.join(name)),
        _ => path.to_path_buf(),
    }
}

/// SHA-256 in lower-case hex.
pub fn sha256_hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
