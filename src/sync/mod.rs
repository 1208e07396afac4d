//! `codex-wrap sync`: copy the project root to a remote with rclone, as the original
//! tool's `sync_to_drive.sh` did after a task.
//!
//! One sync: take the lock (`state`), write the filter file (`filter`), find rclone and its
//! version (`rclone`), count what would change with a dry run, refuse if that deletes more
//! than `max_delete` files, run the real sync under one deadline, and on success only
//! replace `.last_sync`. Every sync that ran (not a dry run, not one stopped by the lock)
//! appends a line to the run log.
//!
//! `settings` resolves the remote and limits once; `status` reads back the last sync for
//! `doctor` and `stats`.
//!
//! Two ways to run it: `run_foreground` (the command as typed: its exit code is the
//! sync's) and `start_background` (`--background`, and the sync after `--write`), which
//! starts `codex-wrap sync --wait --detached` in its own process group with no terminal and
//! returns at once. `after_write` is the hook the write mode calls.

mod filter;
mod rclone;
mod settings;
mod state;
mod status;

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;

use crate::cli::SyncArgs;
use crate::config;
use crate::config::env::{Env, names};
use crate::config::file::SyncConfig;
use crate::error::{Error, ExitStatus};
use crate::output::human_size;
use crate::output::{Output, Reporter};
use crate::runlog;

pub use filter::DEFAULT_EXCLUDES;
pub use rclone::Rclone;
pub use settings::{
    DEFAULT_MAX_DELETE, DEFAULT_TIMEOUT, SyncSettings, display_remote, find_rclone,
};
pub use state::{LAST_SYNC, LastSync};
pub use status::{describe, doctor_row};

/// `codex-wrap sync`.
pub(crate) fn command(
    args: &SyncArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
) -> anyhow::Result<ExitStatus> {
    let settings = SyncSettings::resolve(args, env, root)?;
    let rclone = find_rclone(env)?;
    if !args.background || args.dry_run {
        return run_foreground(
            root,
            &settings,
            &rclone,
            args.dry_run,
            args.detached,
            args.summary_on_stderr,
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
        wait,
        background: !wait,
        summary_on_stderr: true,
        ..SyncArgs::default()
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
/// `dry_run`, what would change), on stderr the status lines. `summary_on_stderr`: the
/// caller owns stdout (a `--write` call), so the summary is a status line too.
pub fn run_foreground(
    root: &Path,
    settings: &SyncSettings,
    rclone: &Rclone,
    dry_run: bool,
    background: bool,
    summary_on_stderr: bool,
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
    let summary = format!(
        "synced {} to {shown}: {} transferred, {} deleted, {} in {:.2}s",
        root.display(),
        done.transferred,
        done.deleted,
        human_size(done.bytes),
        elapsed.as_secs_f64()
    );
    if summary_on_stderr {
        report.status(&summary);
    } else {
        Output::print_document(&summary)?;
    }
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
    crate::ownfile::open_with(
        root,
        &filter_path,
        std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true),
    )
    .and_then(|mut f| std::io::Write::write_all(&mut f, rules.as_bytes()))
    .map_err(|e| {
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
    if let Err(e) = runlog::append(&settings.log_base, path, &record) {
        report.warn(&format!(
            "cannot append to the run log {}: {e}",
            path.display()
        ));
    }
}
