//! A sync's settings, resolved once: flags > environment > `[sync]` > defaults; and how a
//! remote is shown.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::cli::SyncArgs;
use crate::config;
use crate::config::env::{Env, names};
use crate::config::file::ConfigFile;
use crate::error::Error;

use super::{Rclone, filter, rclone};

/// Most files a sync may delete unless told otherwise.
pub const DEFAULT_MAX_DELETE: u64 = 50;
/// Deadline of one sync unless told otherwise.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(600);

/// A sync's settings: flags > environment > `[sync]` > defaults.
#[derive(Debug, Clone)]
pub struct SyncSettings {
    /// The rclone destination.
    pub remote: String,
    /// Extra excludes, gitignore syntax.
    pub exclude: Vec<String>,
    /// Deletion guard.
    pub max_delete: u64,
    /// Deadline of the whole sync.
    pub timeout: Duration,
    /// Whether the root `.gitignore` is applied.
    pub gitignore: bool,
    /// Where the run log is (`None`: logging off).
    pub log: Option<PathBuf>,
    /// The folder the run log must stay under.
    pub log_base: PathBuf,
    /// Files under the root to leave out besides the lists (state directory, run log).
    pub extra_excludes: Vec<String>,
}

impl SyncSettings {
    /// Resolves the settings; no remote anywhere is exit 3 naming the three places.
    pub fn resolve(args: &SyncArgs, env: &Env, root: &Path) -> Result<SyncSettings, Error> {
        let (cfg, _) = config::load(env, root)?;
        let section = cfg.sync.clone().unwrap_or_default();
        let remote = args
            .remote
            .clone()
            .filter(|r| !r.trim().is_empty())
            .or_else(|| env.get(names::SYNC_REMOTE).map(str::to_owned))
            .or_else(|| section.remote.clone().filter(|r| !r.trim().is_empty()))
            .ok_or_else(|| {
                Error::Config(format!(
                    "no sync remote: give --remote REMOTE:PATH, set {}, or set remote in the [sync] section of profiles.toml (e.g. remote = \"gdrive:projects/app\"; create the remote with `rclone config`)",
                    names::SYNC_REMOTE
                ))
            })?;
        let timeout = match (args.timeout, section.timeout) {
            (Some(t), _) => t.0,
            (None, Some(secs)) => config::seconds(secs).ok_or_else(|| {
                Error::Config(format!(
                    "[sync] timeout = {secs}: must be a positive number of seconds"
                ))
            })?,
            (None, None) => DEFAULT_TIMEOUT,
        };
        Ok(SyncSettings {
            remote: remote.trim().to_owned(),
            exclude: section.exclude.clone().unwrap_or_default(),
            max_delete: args
                .max_delete
                .or(section.max_delete)
                .unwrap_or(DEFAULT_MAX_DELETE),
            timeout,
            gitignore: section.gitignore.unwrap_or(true),
            log: config::log_settings(&cfg, env, root).file,
            log_base: config::log_settings(&cfg, env, root).base,
            extra_excludes: extra_excludes(&cfg, env, root),
        })
    }
}

/// The state directory and the run log, when they lie inside the root.
fn extra_excludes(cfg: &ConfigFile, env: &Env, root: &Path) -> Vec<String> {
    let mut out = Vec::new();
    if let Some(state) = config::state_dir(env) {
        out.extend(filter::inside(root, &state));
    }
    out.extend(filter::inside(root, &config::log_path(cfg, env, root)));
    out
}

/// `:webdav,url='…',pass='…':dir` → `:webdav:dir`; `name,opt=x:dir` → `name:dir`: a
/// connection-string remote can carry credentials, so only its name is ever shown.
pub fn display_remote(remote: &str) -> String {
    let (lead, rest) = match remote.strip_prefix(':') {
        Some(rest) => (":", rest),
        None => ("", remote),
    };
    match (rest.find(','), rest.rfind(':')) {
        (Some(comma), Some(colon)) if comma < colon => {
            format!("{lead}{}{}", &rest[..comma], &rest[colon..])
        }
        _ => remote.to_owned(),
    }
}

/// rclone on the `PATH`, its version cached in the state directory.
pub fn find_rclone(env: &Env) -> Result<Rclone, Error> {
    let cache = config::state_dir(env).map(|d| d.join("rclone-version.json"));
    rclone::locate(env.get(names::PATH), cache.as_deref())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_string_remotes_show_only_their_name() {
        for (input, want) in [
            ("gdrive:projects/app", "gdrive:projects/app"),
            (":webdav,url='http://h',pass='x':dir", ":webdav:dir"),
            ("dav,pass=x:dir", "dav:dir"),
            ("/mnt/backup", "/mnt/backup"),
        ] {
            assert_eq!(display_remote(input), want, "{input}");
        }
    }
}
