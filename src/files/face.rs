//! The write face: the engine's answer lands on disk, checked, and what the caller reads is
//! a summary. One face-neutral function, [`run_task`], runs a whole task (engine rounds into
//! a buffer sink, writes, checks, repair requests) and returns a [`TaskReport`]; [`call`]
//! renders it for the command line (`--write`), the MCP `delegate` tool can render it as a
//! tool result. Nothing here runs a second pipeline: every round is one `engine::execute`.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use serde_json::json;
use tokio::sync::watch;

use super::answer::{WriteReport, write_answer};
use super::check::{CheckOutcome, run_check};
use super::write::{Action, FileResult, WriteOptions};
use super::{check, repair};
use crate::cli::RunArgs;
use crate::config::env::Env;
use crate::engine::{self, Plan, Transcript};
use crate::error::{ExitStatus, exit_status};
use crate::output::{Output, Reporter};
use crate::runlog::RoundRecord;

/// What to do with the answers.
#[derive(Debug, Clone)]
pub struct Task {
    /// The canonical project root: nothing is written outside it; the check runs in it.
    pub root: PathBuf,
    /// Root-relative paths of the `-i` files: they may be replaced.
    pub inputs: Vec<String>,
    /// Root-relative paths named literally with `-i` on the command line: the only inputs
    /// that may replace an assistant's configuration (never a glob, never MCP `files`).
    pub literal_inputs: Vec<String>,
    /// The user's `[files] allow_write`.
    pub allow_write: Option<globset::GlobSet>,
    /// Replace existing files that were not inputs.
    pub force: bool,
    /// Write nothing; diff what would be written (no check is run).
    pub dry_run: bool,
    /// The user's check command (never anything from the model's text).
    pub check: Option<String>,
    /// Deadline of each check run.
    pub check_timeout: Duration,
    /// Where the check runs (sandboxed or not) and with what environment.
    pub confine: check::Confine,
    /// Most rounds, the first answer included (at least 1).
    pub rounds: usize,
}

/// What a task did, round by round.
#[derive(Debug, Default)]
pub struct TaskReport {
    /// Every round: files changed, check exit, seconds.
    pub rounds: Vec<RoundRecord>,
    /// Each round's write results.
    pub writes: Vec<WriteReport>,
    /// The engine's transcript of each round.
    pub transcripts: Vec<Transcript>,
    /// The last check run.
    pub check: Option<CheckOutcome>,
    /// The last answer's text.
    pub text: String,
    /// Why the task stopped early (a write that failed, a check that could not start), as
    /// one line; `None` when it ran to its end.
    pub error: Option<String>,
    /// How it ends: 0, 8 (check still failing), 10 (write failed), the engine's codes.
    pub status: ExitStatus,
}

impl TaskReport {
    /// One result per file over all rounds: the latest, except that a file created or
    /// updated in an earlier round and unchanged since keeps that action.
    pub fn files(&self) -> Vec<FileResult> {
        let mut files: Vec<FileResult> = Vec::new();
        for f in self.writes.iter().flat_map(|w| &w.files) {
            match files.iter_mut().find(|e| e.path == f.path) {
                Some(e) => {
                    // Created in round 1 and rewritten later is still "created".
                    let kept = matches!(e.action, Action::Created | Action::Updated)
                        && matches!(f.action, Action::Updated | Action::Unchanged);
                    let action = if kept { e.action } else { f.action };
                    *e = f.clone();
                    e.action = action;
                }
                None => files.push(f.clone()),
            }
        }
        files
    }

    /// Files created or updated over all rounds.
    pub fn changed(&self) -> usize {
        self.files()
            .iter()
            .filter(|f| matches!(f.action, Action::Created | Action::Updated))
            .count()
    }

    /// The summary: one line per file, the blocks not written, then the check's result.
    pub fn summary(&self, dry_run: bool) -> String {
        let not_written = self
            .writes
            .last()
            .map(|w| w.not_written.as_slice())
            .unwrap_or_default();
        let mut out = super::report::summary(&self.files(), not_written, dry_run);
        if let Some(c) = &self.check {
            let round = self.rounds.len();
            if c.passed() {
                out.push_str(&format!(
                    "check passed: {} (round {round}, {:.1} s)\n",
                    c.command, c.seconds
                ));
            } else {
                out.push_str(&format!(
                    "check failed: {} ({}) after {round} round{}; the files are left as the last round wrote them\n",
                    c.command,
                    c.describe(),
                    if round == 1 { "" } else { "s" }
                ));
                let lines: Vec<&str> = c.tail.lines().collect();
                for line in &lines[lines.len().saturating_sub(20)..] {
                    out.push_str(&format!("  | {line}\n"));
                }
            }
        }
        out
    }
}

/// Runs a write task on a prepared plan (`engine::Request { write: true, retry_refusal:
/// true, inputs, .. }`): each round executes the plan into a buffer, writes the answer's
/// files (or diffs them), runs the check; when it fails and rounds are left, the plan is
/// re-prompted with the repair request (the task, the current files, the check's output).
/// `shutdown` (Ctrl-C, SIGTERM, a client gone) ends the call in flight or kills the check's
/// process group; a write in progress is finished first (each file is atomic).
pub async fn run_task(
    plan: &mut Plan,
    task: &Task,
    client: &reqwest::Client,
    report: Reporter,
    shutdown: impl Future<Output = ExitStatus>,
) -> TaskReport {
    let (tx, rx) = watch::channel(None::<ExitStatus>);
    // Read between files by the writer, which runs on a blocking thread.
    let stop_writes = Arc::new(AtomicBool::new(false));
    let stop = || {
        let mut rx = rx.clone();
        async move {
            match rx.wait_for(Option::is_some).await {
                Ok(s) => s.unwrap_or(ExitStatus::Sigint),
                Err(_) => std::future::pending().await,
            }
        }
    };
    let body = rounds(plan, task, client, report, &stop, &rx, &stop_writes);
    tokio::pin!(body);
    tokio::select! {
        biased;
        r = &mut body => r,
        s = shutdown => {
            stop_writes.store(true, Ordering::SeqCst);
            let _ = tx.send(Some(s));
            body.await
        }
    }
}

async fn rounds<F: Future<Output = ExitStatus>>(
    plan: &mut Plan,
    task: &Task,
    client: &reqwest::Client,
    report: Reporter,
    stop: &impl Fn() -> F,
    stopped: &watch::Receiver<Option<ExitStatus>>,
    stop_writes: &Arc<AtomicBool>,
) -> TaskReport {
    let mut out = TaskReport::default();
    let mut replaceable = task.inputs.clone();
    let opts = WriteOptions {
        force: task.force,
        stop: Some(stop_writes.clone()),
        literal_inputs: task.literal_inputs.clone(),
        allow_write: task.allow_write.clone(),
        ..WriteOptions::default()
    };
    let rounds = task.rounds.max(1);
    for round in 1..=rounds {
        let started = Instant::now();
        let mut sink = Output::buffered_limited(super::MAX_ANSWER_BYTES);
        let t = engine::execute(plan, client, &mut sink, report, stop()).await;
        let text = sink.take_text();
        let status = t.exit_status();
        out.transcripts.push(t);
        if sink.over_limit() {
            // Stopped while it streamed: the answer is never held whole.
            out.status = ExitStatus::WriteFailed;
            out.error = Some(format!(
                "the answer is over {} MiB; the stream was stopped there (nothing written)",
                super::MAX_ANSWER_BYTES >> 20
            ));
            out.rounds.push(RoundRecord {
                round: round as u32,
                seconds: secs(started),
                ..RoundRecord::default()
            });
            break;
        }
        if status != ExitStatus::Success {
            out.status = status;
            break;
        }
        out.text = text;
        if let Some(s) = *stopped.borrow() {
            out.status = s;
            break;
        }
        let mut record = RoundRecord {
            round: round as u32,
            ..RoundRecord::default()
        };
        // On a blocking thread, so a Ctrl-C is seen between files (each file is atomic).
        let (root, text, inputs, opts) = (
            task.root.clone(),
            std::mem::take(&mut out.text),
            replaceable.clone(),
            opts.clone(),
        );
        let dry_run = task.dry_run;
        let joined = tokio::task::spawn_blocking(move || {
            let r = write_answer(&root, &text, &inputs, &opts, dry_run);
            (r, text)
        })
        .await;
        let written = match joined {
            Ok((r, text)) => {
                out.text = text;
                r
            }
            Err(e) => Err(anyhow::anyhow!("the writer stopped: {e}")),
        };
        let written = match written {
            Ok(w) => w,
            Err(e) => {
                out.status = exit_status(&e);
                out.error = Some(format!("{e:#}"));
                record.seconds = secs(started);
                out.rounds.push(record);
                break;
            }
        };
        record.files_changed = written.changed() as u32;
        for path in written.written() {
            if !replaceable.iter().any(|p| p == path) {
                replaceable.push(path.to_owned());
            }
        }
        out.writes.push(written);
        let command = match (&task.check, task.dry_run, *stopped.borrow()) {
            (_, _, Some(s)) => {
                out.status = s;
                None
            }
            (Some(c), false, None) => Some(c),
            _ => None,
        };
        let Some(command) = command else {
            record.seconds = secs(started);
            out.rounds.push(record);
            break;
        };
        let cancel = async {
            stop().await;
        };
        let check = match run_check(
            command,
            &task.root,
            task.check_timeout,
            &task.confine,
            cancel,
        )
        .await
        {
            Ok(c) => c,
            Err(e) => {
                out.status = ExitStatus::Failure;
                out.error = Some(format!("cannot run the check `{command}`: {e}"));
                record.seconds = secs(started);
                out.rounds.push(record);
                break;
            }
        };
        record.check_exit = check.exit_code;
        record.seconds = secs(started);
        out.rounds.push(record);
        report.status(&format!(
            "round {round}/{rounds}: check `{command}`: {}",
            if check.passed() {
                "passed".to_owned()
            } else {
                check.describe()
            }
        ));
        let passed = check.passed();
        let cancelled = check.end == check::CheckEnd::Cancelled;
        let repair = (!passed && !cancelled && round < rounds).then(|| {
            let files = repair::current_files(&task.root, replaceable.iter().map(String::as_str));
            repair::repair_request(&plan.prompt_text, &files, &check, round + 1, rounds)
        });
        out.check = Some(check);
        if passed {
            out.status = ExitStatus::Success;
            break;
        }
        if cancelled {
            out.status = stopped.borrow().unwrap_or(ExitStatus::Sigint);
            break;
        }
        match repair {
            Some(text) => plan.reprompt(&text),
            None => {
                out.status = ExitStatus::CheckFailed;
                break;
            }
        }
    }
    out
}

fn secs(since: Instant) -> f64 {
    (since.elapsed().as_secs_f64() * 1000.0).round() / 1000.0
}

/// `--write` on the command line: runs the task, prints the summary (or, with `--json`,
/// one document with `files` and `rounds`), appends the call to the run log, and starts the
/// `[sync] after_write` sync when files changed.
#[allow(clippy::too_many_arguments)]
pub(crate) fn call(
    run: &RunArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
    spinner: bool,
    mut plan: Plan,
    client: Option<reqwest::Client>,
    started: SystemTime,
) -> anyhow::Result<ExitStatus> {
    let clock = Instant::now();
    let task = Task {
        root: root
            .canonicalize()
            .context("cannot resolve the project root")?,
        inputs: plan.inputs.iter().map(|b| b.label.clone()).collect(),
        literal_inputs: super::inputs::literal_rels(&run.input, root)?,
        allow_write: super::protect::allow_set(&plan.settings.allow_write).ok(),
        force: run.force,
        dry_run: run.dry_run,
        check: run.check.clone(),
        check_timeout: run.check_timeout.map_or(check::DEFAULT_TIMEOUT, |s| s.0),
        confine: check::Confine::new(
            run.check.is_some() && !run.dry_run && super::sandbox::for_command_line(env, report)?,
            env,
            &plan.settings,
        ),
        rounds: run.rounds.map_or(3, |n| n as usize),
    };
    let (runtime, client) = crate::call::start(&plan, client, spinner, report)?;
    let done = runtime.block_on(async {
        if let Err(e) = super::catch_file_size_signal() {
            report.warn(&format!("cannot catch SIGXFSZ: {e}"));
        }
        run_task(&mut plan, &task, &client, report, engine::signals()).await
    });
    crate::spinner::stop();
    runtime.shutdown_background();

    let status = done.status;
    let Some(last) = done.transcripts.last() else {
        anyhow::bail!("no round was run");
    };
    let mut record = crate::call::log_record(&plan, last, clock.elapsed(), status, started);
    record.set_rounds(&done.rounds, status == ExitStatus::CheckFailed);
    crate::call::append_log(&plan, &record, report);
    let error = match (&done.error, &last.result) {
        (Some(e), _) => Some(e.clone()),
        (None, Err(e)) => Some(e.to_string()),
        (None, Ok(_)) if status == ExitStatus::CheckFailed => Some(format!(
            "the check still fails after {} rounds",
            done.rounds.len()
        )),
        (None, Ok(_)) => None,
    };
    if let Some(e) = &error {
        Reporter::error(e);
    }
    if let Ok(outcome) = &last.result {
        report.status(&crate::plan::end_line(outcome));
    }
    if run.json {
        let truncated = last.result.as_ref().is_ok_and(|o| o.truncated);
        let mut doc = crate::call::json_document(&record, &done.text, error.as_deref(), truncated);
        let files = done.files();
        let not_written = done
            .writes
            .last()
            .map(|w| w.json()["blocks_not_written"].clone());
        if let Some(map) = doc.as_object_mut() {
            map.insert("files".into(), json!(files));
            map.insert(
                "blocks_not_written".into(),
                not_written.unwrap_or_else(|| json!([])),
            );
            map.insert("rounds".into(), json!(done.rounds));
            map.insert("check".into(), json!(done.check));
            if run.dry_run {
                let diff: String = done.writes.iter().filter_map(|w| w.diff.clone()).collect();
                map.insert("diff".into(), json!(diff));
            }
        }
        Output::print_document(&doc.to_string())?;
    } else {
        let mut text = String::new();
        if run.show && !done.text.is_empty() {
            text.push_str(&done.text);
            if !done.text.ends_with('\n') {
                text.push('\n');
            }
        }
        if run.dry_run {
            for diff in done.writes.iter().filter_map(|w| w.diff.as_deref()) {
                text.push_str(diff);
            }
        }
        if !done.writes.is_empty() {
            text.push_str(&done.summary(run.dry_run));
        }
        if !text.is_empty() {
            Output::print_document(&text)?;
        }
    }
    if !run.dry_run && done.changed() > 0 {
        crate::sync::after_write(env, root, run.wait, report);
    }
    Ok(status)
}
