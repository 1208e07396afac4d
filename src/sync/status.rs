//! The last sync's age and outcome, as `doctor` and `stats` show it: `.last_sync` for the
//! last success, the run log's last sync line for the last outcome.

use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cli::SyncArgs;
use crate::config::env::Env;
use crate::runlog;

use super::{SyncSettings, display_remote, find_rclone, state};

/// The last sync's age and outcome, for `doctor` and `stats`: `(ok, text)`, `None` when
/// no sync is on record.
pub fn describe(root: &Path, log: Option<&Path>, now: SystemTime) -> Option<(bool, String)> {
    let last_ok = state::read_last_sync(root);
    let last_run = log.and_then(|l| runlog::last_sync(l, 256 * 1024));
    let age = |ts: &str| {
        humantime::parse_rfc3339_weak(ts.trim_end_matches('Z'))
            .ok()
            .and_then(|t| now.duration_since(t).ok())
            .map_or_else(
                || "at an unknown time".to_owned(),
                |d| format!("{} ago", short_age(d)),
            )
    };
    let success = last_ok.as_ref().map(|l| {
        format!(
            "{} to {} ({} transferred, {} deleted)",
            age(&l.ts),
            l.remote,
            l.transferred,
            l.deleted
        )
    });
    match (last_run, success) {
        (Some(run), success) if run.exit != 0 => {
            let mut text = format!(
                "last sync {} {}: {}",
                run.outcome,
                age(&run.ts),
                run.error.unwrap_or_default()
            );
            text.push_str(&match success {
                Some(s) => format!("; last success {s}"),
                None => "; no successful sync yet".to_owned(),
            });
            Some((false, text))
        }
        (_, Some(s)) => Some((true, format!("last sync ok {s}"))),
        (Some(run), None) => Some((true, format!("last sync ok {}", age(&run.ts)))),
        (None, None) => None,
    }
}

/// `42s`, `5m`, `3h`, `2d`.
fn short_age(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s}s"),
        60..3600 => format!("{}m", s / 60),
        3600..86400 => format!("{}h", s / 3600),
        _ => format!("{}d", s / 86400),
    }
}

/// The doctor row: where syncs go, the rclone version, how the last sync went.
/// `None` when no remote is set up; `Some((false, _))` (a warning) when rclone is missing
/// or the last sync failed.
pub fn doctor_row(env: &Env, root: &Path, log: Option<&Path>) -> Option<(bool, String)> {
    let settings = SyncSettings::resolve(&SyncArgs::default(), env, root).ok()?;
    let remote = display_remote(&settings.remote);
    let rclone = match find_rclone(env) {
        Ok(r) => r,
        Err(e) => return Some((false, format!("{remote}: {e}"))),
    };
    let (ok, last) =
        describe(root, log, SystemTime::now()).unwrap_or((true, "no sync yet".to_owned()));
    Some((
        ok,
        format!("{remote} via rclone {}; {last}", rclone.version),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages_read_short() {
        assert_eq!(short_age(Duration::from_secs(59)), "59s");
        assert_eq!(short_age(Duration::from_secs(7200)), "2h");
    }
}
