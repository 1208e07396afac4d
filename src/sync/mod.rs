//! `codex-wrap sync`: copy the project root to a remote with rclone, as the original
//! tool's `sync_to_drive.sh` did after a task.
//!
//! One sync: take the lock (`state`), write the filter file (`filter`), find rclone and its
//! version (`rclone`), count what would change with a dry run, refuse if that deletes more
//! than `max_delete` files, run the real sync under one deadline, and on success only
//! replace `.last_sync`. Every sync that ran (not a dry run, not one stopped by the lock)
//! appends a line to the run log.
//!
//! Two ways to run it: `run_foreground` (`--wait`, `--dry-run`) and `start_background`,
//! which starts `codex-wrap sync --wait --detached` in its own process group with no
//! terminal and returns at once. `after_write` is the hook the write mode calls.

mod filter;
mod rclone;
mod state;

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use crate::admin::human_size;
use crate::cli::SyncArgs;
use crate::config;
use crate::config::env::{Env, names};
use crate::config::file::{ConfigFile, SyncConfig};
use crate::error::{Error, ExitStatus};
use crate::output::{Output, Reporter};
use crate::runlog;

pub use filter::DEFAULT_EXCLUDES;
pub use rclone::Rclone;
pub use state::{LAST_SYNC, LastSync};

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

/// `codex-wrap sync`.
pub(crate) fn command(
    args: &SyncArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
) -> anyhow::Result<ExitStatus> {
    let settings = SyncSettings::resolve(args, env, root)?;
    let rclone = find_rclone(env)?;
    if args.wait || args.dry_run {
        return run_foreground(
            root,
            &settings,
            &rclone,
            args.dry_run,
            args.detached,
            report,
        );
    }
    if let Err(busy) = state::try_lock(root).with_context(|| lock_error(root))? {
        report.status(&busy_message(&busy));
        return Ok(ExitStatus::Success);
    }
    let pid = start_background(root, &settings)?;
    report.status(&format!(
        "sync to {} started in the background (pid {pid}, rclone {}); the result goes to the run log and {LAST_SYNC}",
        display_remote(&settings.remote),
        rclone.version
    ));
    Ok(ExitStatus::Success)
}

fn lock_error(root: &Path) -> String {
    format!("cannot lock {}", root.join(state::LOCK).display())
}

fn busy_message(busy: &state::Busy) -> String {
    let pid = busy.pid.map(|p| format!(" (pid {p})")).unwrap_or_default();
    format!("another sync of this project is running{pid}; this one does nothing")
}

/// The hook the write mode calls after a call that wrote files: when `[sync] after_write`
/// is on, starts a sync (detached, or in the foreground when `wait`). Never fails the
/// call: a sync that cannot start is a warning.
pub fn after_write(env: &Env, root: &Path, wait: bool, report: Reporter) {
    let on = config::load(env, root)
        .ok()
        .and_then(|(cfg, _)| cfg.sync)
        .and_then(|s: SyncConfig| s.after_write)
        .unwrap_or(false);
    if !on {
        return;
    }
    let args = SyncArgs {
        remote: None,
        dry_run: false,
        wait,
        max_delete: None,
        timeout: None,
        detached: false,
    };
    if let Err(err) = command(&args, env, root, report) {
        report.warn(&format!("sync after write: {err:#}"));
    }
}

/// Starts `codex-wrap sync --wait --detached` for `root` in a new process group with no
/// terminal, so the caller can exit (or be interrupted) without ending it. Returns its
/// pid. The remote travels in the environment, never on a command line `ps` shows.
pub fn start_background(root: &Path, settings: &SyncSettings) -> std::io::Result<u32> {
    use std::os::unix::process::CommandExt;
    let exe = std::env::current_exe()?;
    let child = std::process::Command::new(exe)
        .args(["sync", "--quiet", "--wait", "--detached", "--root"])
        .arg(root)
        .arg("--max-delete")
        .arg(settings.max_delete.to_string())
        .arg("--timeout")
        .arg(format!("{}", settings.timeout.as_secs_f64()))
        .env(names::SYNC_REMOTE, &settings.remote)
        .current_dir(root)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .process_group(0)
        .spawn()?;
    // Not waited for: it outlives this process (and is reaped by init then).
    Ok(child.id())
}

/// Runs one sync in this process and reports it: on stdout the summary (or, with
/// `dry_run`, what would change), on stderr the status lines.
pub fn run_foreground(
    root: &Path,
    settings: &SyncSettings,
    rclone: &Rclone,
    dry_run: bool,
    background: bool,
    report: Reporter,
) -> anyhow::Result<ExitStatus> {
    let lock = match state::try_lock(root).with_context(|| lock_error(root))? {
        Ok(lock) => lock,
        Err(busy) => {
            report.status(&busy_message(&busy));
            return Ok(ExitStatus::Success);
        }
    };
    let shown = display_remote(&settings.remote);
    report.status(&format!(
        "rclone {}: {}sync {} → {shown}",
        rclone.version,
        if dry_run { "dry-run " } else { "" },
        root.display()
    ));
    let started = Instant::now();
    let result = crate::commands::block_on(sync_once(root, settings, rclone, dry_run))?;
    drop(lock);
    let elapsed = started.elapsed();
    let (done, failure) = match result {
        Ok(done) => (done, None),
        Err((done, err)) => (done, Some(err)),
    };
    if dry_run && failure.is_none() {
        Output::print_document(&dry_run_document(&done, &shown, settings.max_delete))?;
        return Ok(ExitStatus::Success);
    }
    if !dry_run {
        let status = failure
            .as_ref()
            .map_or(ExitStatus::Success, Error::exit_status);
        log_sync(
            settings,
            &shown,
            background,
            &done,
            elapsed,
            status,
            failure.as_ref(),
            report,
        );
    }
    if let Some(err) = failure {
        return Err(err.into());
    }
    let last = LastSync {
        ts: runlog::timestamp(SystemTime::now()),
        remote: shown.clone(),
        transferred: done.transferred,
        deleted: done.deleted,
        bytes: done.bytes,
        seconds: (elapsed.as_secs_f64() * 100.0).round() / 100.0,
        rclone: rclone.version.clone(),
    };
    if let Err(e) = state::write_last_sync(root, &last) {
        report.warn(&format!("synced, but cannot write {LAST_SYNC}: {e}"));
    }
    Output::print_document(&format!(
        "synced {} to {shown}: {} transferred, {} deleted, {} in {:.2}s",
        root.display(),
        done.transferred,
        done.deleted,
        human_size(done.bytes),
        elapsed.as_secs_f64()
    ))?;
    Ok(ExitStatus::Success)
}

/// What a sync did (or, in a dry run, would do).
#[derive(Debug, Default)]
struct Done {
    transferred: u64,
    deleted: u64,
    bytes: u64,
    /// Dry run: the paths, for the listing.
    copies: Vec<rclone::Change>,
    deletes: Vec<rclone::Change>,
}

/// The dry run, the guard, and the real run, under one deadline.
async fn sync_once(
    root: &Path,
    settings: &SyncSettings,
    rclone: &Rclone,
    dry_run: bool,
) -> Result<Done, (Done, Error)> {
    let deadline = Instant::now() + settings.timeout;
    let fail = |e: Error| (Done::default(), e);
    let gitignore = if settings.gitignore {
        std::fs::read_to_string(root.join(".gitignore")).unwrap_or_default()
    } else {
        String::new()
    };
    let rules = filter::filter_file(&gitignore, &settings.exclude, &settings.extra_excludes);
    let filter_path = root.join(".last_sync.filter");
    std::fs::write(&filter_path, rules).map_err(|e| {
        fail(Error::Sync(format!(
            "cannot write {}: {e}",
            filter_path.display()
        )))
    })?;
    let mut job = rclone::Job {
        root,
        remote: &settings.remote,
        filter_file: &filter_path,
        dry_run: true,
        max_delete: settings.max_delete,
    };
    let result = async {
        // Count first: rclone's own --max-delete stops only after deleting that many.
        let plan = finished(rclone::sync(rclone, &job, deadline).await, settings, "dry run")?;
        let mut done = Done {
            transferred: plan.copies.len() as u64,
            deleted: plan.deletes.len() as u64,
            bytes: plan.copies.iter().filter_map(|c| c.size).sum(),
            copies: plan.copies,
            deletes: plan.deletes,
        };
        if dry_run {
            return Ok(done);
        }
        if done.deleted > settings.max_delete {
            return Err(Error::Sync(format!(
                "the sync would delete {} files on {} (more than --max-delete {}): nothing was changed; check the root ({}) and the remote, or raise --max-delete",
                done.deleted,
                display_remote(&settings.remote),
                settings.max_delete,
                root.display()
            )));
        }
        if done.transferred == 0 && done.deleted == 0 {
            return Ok(done);
        }
        job.dry_run = false;
        let ran = finished(rclone::sync(rclone, &job, deadline).await, settings, "sync")?;
        let stats = ran.stats.unwrap_or_default();
        done.transferred = stats.transfers;
        done.deleted = stats.deletes;
        done.bytes = stats.bytes;
        Ok(done)
    }
    .await;
    let _ = std::fs::remove_file(&filter_path);
    result.map_err(fail)
}

/// A finished rclone run, or the error that ends the sync.
fn finished(
    ended: std::io::Result<rclone::Ended>,
    settings: &SyncSettings,
    what: &str,
) -> Result<rclone::Report, Error> {
    match ended {
        Err(e) => Err(Error::Sync(format!("cannot run rclone: {e}"))),
        Ok(rclone::Ended::TimedOut) => Err(Error::Timeout(format!(
            "the {what} passed the {:.0}s deadline and was stopped ({LAST_SYNC} unchanged)",
            settings.timeout.as_secs_f64()
        ))),
        Ok(rclone::Ended::Exited(r)) if r.ok() => Ok(r),
        Ok(rclone::Ended::Exited(r)) => Err(Error::Sync(format!(
            "rclone {what} failed: {} ({LAST_SYNC} unchanged)",
            r.reason()
        ))),
    }
}

/// The dry run's listing: one line per change, then the totals.
fn dry_run_document(done: &Done, remote: &str, max_delete: u64) -> String {
    let mut out = String::new();
    for c in &done.copies {
        let size = c
            .size
            .map(|s| format!(" ({})", human_size(s)))
            .unwrap_or_default();
        out.push_str(&format!("copy    {}{size}\n", c.path));
    }
    for d in &done.deletes {
        out.push_str(&format!("delete  {}\n", d.path));
    }
    out.push_str(&format!(
        "dry run: would copy {} files ({}) and delete {} on {remote}; nothing changed",
        done.transferred,
        human_size(done.bytes),
        done.deleted
    ));
    if done.deleted > max_delete {
        out.push_str(&format!(
            "; a real sync would be refused (more than --max-delete {max_delete})"
        ));
    }
    out
}

#[allow(clippy::too_many_arguments)]
fn log_sync(
    settings: &SyncSettings,
    remote: &str,
    background: bool,
    done: &Done,
    elapsed: Duration,
    status: ExitStatus,
    failure: Option<&Error>,
    report: Reporter,
) {
    let Some(path) = &settings.log else {
        return;
    };
    let record = runlog::SyncRecord {
        v: runlog::VERSION,
        event: "sync".to_owned(),
        ts: runlog::timestamp(SystemTime::now()),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        remote: remote.to_owned(),
        background,
        transferred: if failure.is_none() {
            done.transferred
        } else {
            0
        },
        deleted: if failure.is_none() { done.deleted } else { 0 },
        bytes: if failure.is_none() { done.bytes } else { 0 },
        total_ms: (elapsed.as_secs_f64() * 1e6).round() / 1e3,
        exit: status as u8,
        outcome: status.name().to_owned(),
        error: failure.map(ToString::to_string),
    };
    if let Err(e) = runlog::append(path, &record) {
        report.warn(&format!(
            "cannot append to the run log {}: {e}",
            path.display()
        ));
    }
}

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
    let args = SyncArgs {
        remote: None,
        dry_run: false,
        wait: true,
        max_delete: None,
        timeout: None,
        detached: false,
    };
    let settings = SyncSettings::resolve(&args, env, root).ok()?;
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

    #[test]
    fn ages_read_short() {
        assert_eq!(short_age(Duration::from_secs(59)), "59s");
        assert_eq!(short_age(Duration::from_secs(7200)), "2h");
    }
}
