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

use super::answer::{WriteReport, write_answer_into};
use super::check::{CheckOutcome, run_check};
use super::guard::{self, Refused};
use super::restore::{Ledger, Restored};
use super::write::{Action, FileResult, WriteOptions};
use super::{check, repair};
use crate::cli::RunArgs;
use crate::config::env::Env;
use crate::engine::{self, Plan, Transcript};
use crate::error::ExitStatus;
use crate::event::Event;
use crate::output::{Output, Reporter, Watched, Watcher};
use crate::runlog::RoundRecord;
use crate::status::exit_status;

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
    /// On failure, leave the files as the last round wrote them instead of putting back
    /// what the task wrote.
    pub keep_failed: bool,
    /// Where a failed attempt is kept aside as a patch before its files are put back (the
    /// state directory's `failed/`); `None`: not kept.
    pub attempts_dir: Option<PathBuf>,
    /// Told of each event the moment it happens (the engine's, files written, check
    /// rounds), for a face that reports progress (MCP); `None`: nobody listens.
    pub on_event: Option<OnEvent>,
}

/// A listener for a task's events as they happen.
#[derive(Clone)]
pub struct OnEvent(pub Arc<dyn Fn(&Event) + Send + Sync>);

impl std::fmt::Debug for OnEvent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("OnEvent")
    }
}

impl OnEvent {
    fn tell(listener: Option<&OnEvent>, event: &Event) {
        if let Some(l) = listener {
            (l.0)(event);
        }
    }
}

/// Tells the task's listener of a round's events (the round's buffer is a
/// [`Watched`] output).
struct Told<'a>(Option<&'a OnEvent>);

impl Watcher<Output> for Told<'_> {
    fn event(&mut self, event: &Event) {
        OnEvent::tell(self.0, event);
    }
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
    /// Every answer's text, round by round (`eval` scores the first one as a plain
    /// answer, without the files loop).
    pub answers: Vec<String>,
    /// Where the task went after the local rounds, when it escalated.
    pub escalation: Option<EscalationNote>,
    /// Why the task stopped early (a write that failed, a check that could not start), as
    /// one line; `None` when it ran to its end.
    pub error: Option<String>,
    /// How it ends: 0, 8 (check still failing), 10 (write failed), the engine's codes.
    pub status: ExitStatus,
    /// What the task wrote, with what each file held before.
    pub ledger: Ledger,
    /// What putting back did, file by file, once the task failed.
    pub restored: Vec<Restored>,
    /// The failed attempt's patch, or why it could not be kept.
    pub kept_aside: Option<Result<PathBuf, String>>,
    /// The rounds that ran out of time.
    pub timed_out: Vec<usize>,
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

    /// Whether rounds ran on the escalation route.
    pub fn escalated(&self) -> bool {
        self.escalation.as_ref().is_some_and(|n| n.error.is_none())
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
        if let Some(n) = self.escalation.as_ref().filter(|n| n.error.is_none()) {
            let local = n.first_round - 1;
            out.push_str(&format!(
                "escalated to {} after {local} local round{}: rounds {}-{} ran there\n",
                n.label,
                if local == 1 { "" } else { "s" },
                n.first_round,
                self.rounds.len().max(n.first_round)
            ));
        }
        if let Some(c) = &self.check {
            let round = self.rounds.len();
            let on = self
                .rounds
                .last()
                .and_then(|r| r.route.as_deref())
                .map(|r| format!(", on {r}"))
                .unwrap_or_default();
            if c.passed() {
                out.push_str(&format!(
                    "check passed: {} (round {round}{on}, {:.1} s)\n",
                    c.command, c.seconds
                ));
            } else {
                let files = if self.restored.is_empty() {
                    "the files are left as the last round wrote them"
                } else {
                    "what the task wrote is put back"
                };
                out.push_str(&format!(
                    "check failed: {} ({}) after {round} round{}; {files}\n",
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
        out.push_str(&self.restore_summary());
        out
    }

    /// The lines on putting back: one per file, then where the failed attempt was kept.
    pub fn restore_summary(&self) -> String {
        let mut out = String::new();
        for round in &self.timed_out {
            out.push_str(&format!("round {round} ran out of time\n"));
        }
        for r in &self.restored {
            let verb = if r.ok { "put back" } else { "not put back" };
            out.push_str(&format!("{verb} {} ({})\n", r.path, r.outcome));
        }
        match &self.kept_aside {
            Some(Ok(path)) => out.push_str(&format!(
                "the failed attempt is kept in {}\n",
                path.display()
            )),
            Some(Err(e)) => out.push_str(&format!("the failed attempt was not kept: {e}\n")),
            None => {}
        }
        out
    }

    /// Puts back what this task wrote: keeps the attempt aside as a patch in `attempts_dir`
    /// (when given), then restores each file it created or changed (see `restore`). Does
    /// nothing when the task wrote nothing; may be called again after more rounds.
    pub fn put_back(&mut self, root: &Path, attempts_dir: Option<&Path>) {
        if self.ledger.is_empty() {
            return;
        }
        if let Some(dir) = attempts_dir {
            self.kept_aside = Some(
                self.ledger
                    .keep_aside(dir)
                    .map_err(|e| format!("{}: {e}", dir.display())),
            );
        }
        self.restored.extend(self.ledger.restore(root));
    }
}

/// A second route for a task whose check still fails after its rounds: the task goes on
/// there with the current files and the last failing output, with its own round budget.
pub struct Escalation {
    /// The plan on the escalation route (the same request, prepared for that route).
    pub plan: Plan,
    /// Its rounds (at least 1).
    pub rounds: usize,
    /// What it is called in the summary: `api`, `codex` or an endpoint's name.
    pub label: String,
}

/// What an escalation did.
#[derive(Debug, Clone, Default)]
pub struct EscalationNote {
    /// The route or endpoint escalated to.
    pub label: String,
    /// The first escalated round's number (the local rounds + 1).
    pub first_round: usize,
    /// Why it could not run (no key, unreachable): the local outcome stands.
    pub error: Option<String>,
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
    run_task_escalating(plan, None, task, client, report, shutdown).await
}

/// [`run_task`], and when the check still fails after the task's rounds (exit 8), the task
/// goes on on `escalation` (before anything else happens to the files): its first round is
/// the repair request built from the current files and the last check's output. When the
/// escalation route cannot answer at all (no key, unreachable), the local outcome stands
/// and the note says why.
pub async fn run_task_escalating(
    plan: &mut Plan,
    escalation: Option<&mut Escalation>,
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
    let body = async {
        let mut out = TaskReport::default();
        let mut replaceable = task.inputs.clone();
        let ctx = RoundsCtx {
            task,
            client,
            report,
            stop: &stop,
            stopped: &rx,
            stop_writes: &stop_writes,
        };
        let local = task.rounds.max(1);
        rounds(plan, &ctx, &mut out, &mut replaceable, 1, local, "").await;
        if let Some(esc) = escalation
            && out.status == ExitStatus::CheckFailed
            && rx.borrow().is_none()
            && let Some(check) = out.check.clone()
        {
            escalate(plan, esc, &ctx, &mut out, &mut replaceable, local, &check).await;
        }
        out
    };
    tokio::pin!(body);
    let mut out = tokio::select! {
        biased;
        r = &mut body => r,
        s = shutdown => {
            stop_writes.store(true, Ordering::SeqCst);
            let _ = tx.send(Some(s));
            body.await
        }
    };
    put_back_failed(task, &mut out, report).await;
    out
}

/// The task goes on on `esc` after `local` rounds ended with `check` failing: its first
/// round is the repair request built from the current files and that check's output.
async fn escalate<F: Future<Output = ExitStatus>, S: Fn() -> F>(
    plan: &Plan,
    esc: &mut Escalation,
    ctx: &RoundsCtx<'_, S>,
    out: &mut TaskReport,
    replaceable: &mut Vec<String>,
    local: usize,
    check: &CheckOutcome,
) {
    let total = local + esc.rounds.max(1);
    let files = repair::current_files(&ctx.task.root, replaceable.iter().map(String::as_str));
    esc.plan.reprompt(&repair::repair_request(
        &plan.prompt_text,
        &files,
        check,
        local + 1,
        total,
    ));
    ctx.report.status(&format!(
        "the check still fails after {local} round{}: escalating to {}",
        if local == 1 { "" } else { "s" },
        esc.label
    ));
    let answered = out.transcripts.len();
    let mut note = EscalationNote {
        label: esc.label.clone(),
        first_round: local + 1,
        error: None,
    };
    rounds(
        &mut esc.plan,
        ctx,
        out,
        replaceable,
        local + 1,
        total,
        &esc.label,
    )
    .await;
    // Not one escalated answer: the route cannot run; the local outcome stands.
    let first = out.transcripts.get(answered);
    if let Some(t) = first
        && let Err(e) = &t.result
        && !matches!(e, crate::error::Error::Signal(_))
    {
        note.error = Some(e.to_string());
        out.transcripts.truncate(answered);
        out.status = ExitStatus::CheckFailed;
    }
    out.escalation = Some(note);
}

/// After a task that did not succeed (unless its files are kept, or nothing was written):
/// keeps the attempt aside and puts back what it wrote.
async fn put_back_failed(task: &Task, out: &mut TaskReport, report: Reporter) {
    if out.status != ExitStatus::Success && !task.keep_failed && !task.dry_run {
        let root = task.root.clone();
        let dir = task.attempts_dir.clone();
        let ledger = std::mem::take(&mut out.ledger);
        let mut part = TaskReport {
            ledger,
            ..TaskReport::default()
        };
        // Blocking file work, off the runtime's threads.
        let joined = tokio::task::spawn_blocking(move || {
            part.put_back(&root, dir.as_deref());
            part
        })
        .await;
        if let Ok(part) = joined {
            out.restored = part.restored;
            out.kept_aside = part.kept_aside;
        }
        for r in &out.restored {
            if !r.ok {
                report.warn(&format!("{} not put back: {}", r.path, r.outcome));
            }
        }
    }
}

/// What every round needs besides the plan.
struct RoundsCtx<'a, S> {
    task: &'a Task,
    client: &'a reqwest::Client,
    report: Reporter,
    stop: &'a S,
    stopped: &'a watch::Receiver<Option<ExitStatus>>,
    stop_writes: &'a Arc<AtomicBool>,
}

/// Rounds `first..=last` on `plan` into `out`; `route` names where they run when it is not
/// the plan's first route (an escalation), for the round records.
async fn rounds<F: Future<Output = ExitStatus>, S: Fn() -> F>(
    plan: &mut Plan,
    ctx: &RoundsCtx<'_, S>,
    out: &mut TaskReport,
    replaceable: &mut Vec<String>,
    first: usize,
    last: usize,
    route: &str,
) {
    let task = ctx.task;
    let mut stretch = Stretch {
        ctx,
        plan,
        out,
        replaceable,
        opts: WriteOptions {
            force: task.force,
            stop: Some(ctx.stop_writes.clone()),
            literal_inputs: task.literal_inputs.clone(),
            allow_write: task.allow_write.clone(),
            ..WriteOptions::default()
        },
        route,
        last,
    };
    // `--repair resample` asks the local rounds' first question again, sampled anew; an
    // escalation always gets the feedback (a bigger model can use it).
    let resample = (route.is_empty() && stretch.plan.settings.repair == repair::Strategy::Resample)
        .then(|| stretch.plan.first_ask());
    for round in first..=last {
        match (stretch.round(round).await, &resample) {
            (Next::Again(_), Some(first)) => stretch.plan.ask_again(first, round + 1),
            (Next::Again(text), None) => stretch.plan.reprompt(&text),
            (Next::Stop, _) => break,
        }
    }
}

/// What the round loop does after a round.
enum Next {
    /// Another round, asked with this user message (a repair request, or the task again
    /// after a refusal or a round that ran out of time).
    Again(String),
    /// No more rounds: the task's status is set (left as it is when nothing was checked).
    Stop,
}

/// One stretch of rounds on one plan (the local rounds, or an escalation's) and what they
/// share.
struct Stretch<'a, 'c, S> {
    ctx: &'a RoundsCtx<'c, S>,
    plan: &'a mut Plan,
    out: &'a mut TaskReport,
    /// The files an answer may replace: the inputs and every file a round wrote.
    replaceable: &'a mut Vec<String>,
    /// How every round's answer is written (each round sets `truncated`).
    opts: WriteOptions,
    /// Where the rounds run when it is not the plan's first route (an escalation); `""`
    /// otherwise.
    route: &'a str,
    /// The last round's number, the `of` of the status lines.
    last: usize,
}

impl<F: Future<Output = ExitStatus>, S: Fn() -> F> Stretch<'_, '_, S> {
    /// Round `round`: asks the model, writes its answer, runs the check.
    async fn round(&mut self, round: usize) -> Next {
        let started = Instant::now();
        let truncated = match self.ask(round, started).await {
            Ok(truncated) => truncated,
            Err(next) => return next,
        };
        let mut record = RoundRecord {
            round: round as u32,
            route: match self.route {
                "" => None,
                r => Some(r.to_owned()),
            },
            escalated: !self.route.is_empty(),
            ..RoundRecord::default()
        };
        let written = match self.write(truncated).await {
            Ok(w) => w,
            Err(e) => {
                close_round(self.out, record, started);
                return self.write_failed(round, &e);
            }
        };
        if let Some(event) = files_written(&written) {
            OnEvent::tell(self.ctx.task.on_event.as_ref(), &event);
        }
        record.files_changed = written.changed() as u32;
        for path in written.written() {
            if !self.replaceable.iter().any(|p| p == path) {
                self.replaceable.push(path.to_owned());
            }
        }
        self.out.writes.push(written);
        self.check(round, started, record).await
    }

    /// Asks the model for round `round`'s answer into a buffer. `Ok(truncated)`: there is
    /// an answer to write (in `out.text`); otherwise what the loop does next.
    async fn ask(&mut self, round: usize, started: Instant) -> Result<bool, Next> {
        let RoundsCtx {
            task,
            client,
            report,
            stop,
            stopped,
            ..
        } = *self.ctx;
        let (last, out) = (self.last, &mut *self.out);
        let mut sink = Output::buffered_limited(super::MAX_ANSWER_BYTES);
        let mut told = Watched {
            inner: &mut sink,
            watcher: Told(task.on_event.as_ref()),
        };
        let t = engine::execute(self.plan, client, &mut told, report, stop()).await;
        let text = sink.take_text();
        let status = t.exit_status();
        let truncated = t.result.as_ref().is_ok_and(|o| o.truncated);
        out.transcripts.push(t);
        if sink.over_limit() {
            // Stopped while it streamed: the answer is never held whole.
            out.status = ExitStatus::WriteFailed;
            out.error = Some(format!(
                "the answer is over {} MiB; the stream was stopped there (nothing written)",
                super::MAX_ANSWER_BYTES >> 20
            ));
            close_round(out, bare_record(round), started);
            return Err(Next::Stop);
        }
        if status == ExitStatus::Timeout
            && task.check.is_some()
            && round < last
            && stopped.borrow().is_none()
        {
            // Each round has its own deadline: one that runs out is a failed round, and the
            // task goes on while rounds are left.
            report.status(&format!("round {round}/{last}: ran out of time"));
            out.timed_out.push(round);
            close_round(out, bare_record(round), started);
            let again = timed_out_request(&self.plan.prompt_text, round + 1, last);
            return Err(Next::Again(again));
        }
        if status != ExitStatus::Success {
            if status == ExitStatus::Timeout {
                out.timed_out.push(round);
            }
            out.status = status;
            return Err(Next::Stop);
        }
        out.answers.push(text.clone());
        out.text = text;
        if let Some(s) = *stopped.borrow() {
            out.status = s;
            return Err(Next::Stop);
        }
        Ok(truncated)
    }

    /// Writes the answer in `out.text` (or diffs it, in a dry run).
    async fn write(&mut self, truncated: bool) -> anyhow::Result<WriteReport> {
        let task = self.ctx.task;
        let out = &mut *self.out;
        // On a blocking thread, so a Ctrl-C is seen between files (each file is atomic).
        let (root, text, inputs, opts, mut ledger) = (
            task.root.clone(),
            std::mem::take(&mut out.text),
            self.replaceable.clone(),
            WriteOptions {
                truncated,
                ..self.opts.clone()
            },
            std::mem::take(&mut out.ledger),
        );
        let dry_run = task.dry_run;
        let joined = tokio::task::spawn_blocking(move || {
            let r = write_answer_into(&root, &text, &inputs, &opts, dry_run, &mut ledger);
            (r, text, ledger)
        })
        .await;
        match joined {
            Ok((r, text, ledger)) => {
                out.text = text;
                out.ledger = ledger;
                r
            }
            Err(e) => Err(anyhow::anyhow!("the writer stopped: {e}")),
        }
    }

    /// After round `round`'s answer could not be written: a refusal, under a check with
    /// rounds left, is asked again with the reason; anything else ends the task.
    fn write_failed(&mut self, round: usize, e: &anyhow::Error) -> Next {
        let (task, last) = (self.ctx.task, self.last);
        let refused = e.downcast_ref::<Refused>();
        if let (Some(r), Some(_), true) = (refused, &task.check, round < last) {
            // Nothing was written: the model is told why and asked again.
            self.ctx
                .report
                .status(&format!("round {round}/{last}: {r}"));
            let files =
                repair::current_files(&task.root, self.replaceable.iter().map(String::as_str));
            let prompt = &self.plan.prompt_text;
            return Next::Again(guard::refused_request(prompt, &files, r, round + 1, last));
        }
        self.out.status = exit_status(e);
        self.out.error = Some(format!("{e:#}"));
        Next::Stop
    }

    /// Runs the check on what round `round` wrote (none in a dry run, without a check, or
    /// once stopped), records the round, and decides what comes next: the repair request
    /// while it fails and rounds are left.
    async fn check(&mut self, round: usize, started: Instant, mut record: RoundRecord) -> Next {
        let RoundsCtx {
            task,
            report,
            stop,
            stopped,
            ..
        } = *self.ctx;
        let out = &mut *self.out;
        let command = match (&task.check, task.dry_run, *stopped.borrow()) {
            (_, _, Some(s)) => {
                out.status = s;
                None
            }
            (Some(c), false, None) => Some(c),
            _ => None,
        };
        let Some(command) = command else {
            close_round(out, record, started);
            return Next::Stop;
        };
        let cancel = async {
            stop().await;
        };
        let ran = run_check(
            command,
            &task.root,
            task.check_timeout,
            &task.confine,
            cancel,
        );
        let check = match ran.await {
            Ok(c) => c,
            Err(e) => {
                out.status = ExitStatus::Failure;
                out.error = Some(format!("cannot run the check `{command}`: {e}"));
                close_round(out, record, started);
                return Next::Stop;
            }
        };
        record.check_exit = check.exit_code;
        close_round(out, record, started);
        report.status(&format!(
            "round {round}/{}: check `{command}`: {}",
            self.last,
            if check.passed() {
                "passed".to_owned()
            } else {
                check.describe()
            }
        ));
        let passed = check.passed();
        let round_event = Event::CheckRound {
            round: round as u32,
            passed,
        };
        OnEvent::tell(task.on_event.as_ref(), &round_event);
        self.after_check(round, check)
    }

    /// What comes after round `round`'s check: the task ends when it passed or was
    /// cancelled; while it fails, the repair request (the task, the current files, the
    /// check's output) if rounds are left.
    fn after_check(&mut self, round: usize, check: CheckOutcome) -> Next {
        let (task, last) = (self.ctx.task, self.last);
        let passed = check.passed();
        let cancelled = check.end == check::CheckEnd::Cancelled;
        let repair = (!passed && !cancelled && round < last).then(|| {
            let files =
                repair::current_files(&task.root, self.replaceable.iter().map(String::as_str));
            repair::repair_request(&self.plan.prompt_text, &files, &check, round + 1, last)
        });
        self.out.check = Some(check);
        if passed {
            self.out.status = ExitStatus::Success;
            return Next::Stop;
        }
        if cancelled {
            self.out.status = self.ctx.stopped.borrow().unwrap_or(ExitStatus::Sigint);
            return Next::Stop;
        }
        match repair {
            Some(text) => Next::Again(text),
            None => {
                self.out.status = ExitStatus::CheckFailed;
                Next::Stop
            }
        }
    }
}

/// The record of a round that ended without an answer to write.
fn bare_record(round: usize) -> RoundRecord {
    RoundRecord {
        round: round as u32,
        ..RoundRecord::default()
    }
}

/// Ends a round's record: its time so far, into the report.
fn close_round(out: &mut TaskReport, mut record: RoundRecord, started: Instant) {
    record.seconds = secs(started);
    out.rounds.push(record);
}

/// The escalation of a `--write --check` call, if one applies: its plan, or why it cannot
/// run (reported only if the local rounds fail). An unknown route or endpoint name is a
/// configuration error before anything is sent.
pub(crate) fn escalation(
    run: &RunArgs,
    env: &Env,
    root: &Path,
    prompt: &str,
    report: Reporter,
) -> anyhow::Result<Option<Result<Escalation, String>>> {
    let overrides = crate::config::Overrides::from(run);
    let (cfg, _) = crate::config::load(env, root)?;
    let Some((target, rounds)) =
        crate::escalate::choose(run.escalate.as_deref(), &cfg, &overrides, env)
    else {
        return Ok(None);
    };
    // Its context warnings were said by the call's own plan.
    let _ = report;
    match crate::escalate::prepare(
        &target,
        &overrides,
        env,
        root,
        root,
        prompt,
        Reporter::new(true),
    ) {
        Ok(plan) => Ok(Some(Ok(Escalation {
            plan,
            rounds,
            label: target,
        }))),
        Err(e @ crate::error::Error::Config(_)) => Err(e.into()),
        Err(e) => Ok(Some(Err(format!("cannot escalate to {target}: {e}")))),
    }
}

/// The user message of round `round` of `rounds` after the previous one ran out of time.
fn timed_out_request(task: &str, round: usize, rounds: usize) -> String {
    format!(
        "Your previous answer ran out of time (round {} of {rounds}). Answer again, shorter: \
         only the definitions you change, each in full.\n\n## Original task\n\n{}\n",
        round - 1,
        task.trim()
    )
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
    let task = command_line_task(run, env, root, report, &plan)?;
    let mut escalation = match task.check.is_some() && !task.dry_run {
        true => escalation(run, env, root, &plan.prompt_text, report)?,
        false => None,
    };
    let (runtime, client) = crate::send::start(&plan, client, spinner, report)?;
    let done = runtime.block_on(async {
        if let Err(e) = super::catch_file_size_signal() {
            report.warn(&format!("cannot catch SIGXFSZ: {e}"));
        }
        let esc = escalation.as_mut().and_then(|e| e.as_mut().ok());
        run_task_escalating(&mut plan, esc, &task, &client, report, engine::signals()).await
    });
    warn_not_escalated(escalation.as_ref(), &done);
    crate::spinner::stop();
    runtime.shutdown_background();

    let status = done.status;
    let Some(last) = done.transcripts.last() else {
        anyhow::bail!("no round was run");
    };
    let mut record = crate::record::log_record(&plan, last, clock.elapsed(), status, started);
    record.set_rounds(&done.rounds, status == ExitStatus::CheckFailed);
    record.escalated = done.escalated();
    crate::record::append_log(&plan, &record, report);
    let error = match (&done.error, &last.result) {
        (Some(e), _) => Some(e.clone()),
        (None, Err(e)) => Some(e.to_string()),
        (None, Ok(_)) if status == ExitStatus::CheckFailed => Some(format!(
            "the check still fails after {} round{}",
            done.rounds.len(),
            if done.rounds.len() == 1 { "" } else { "s" }
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
        let doc = json_report(run, &plan, &done, &record, error.as_deref(), last);
        Output::print_document(&doc.to_string())?;
    } else {
        let text = text_report(run, &done);
        if !text.is_empty() {
            Output::print_document(&text)?;
        }
    }
    if !run.dry_run && done.changed() > 0 && done.restored.is_empty() {
        crate::sync::after_write(env, root, run.wait, report);
    }
    Ok(status)
}

/// The task of a `--write` call on the command line.
fn command_line_task(
    run: &RunArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
    plan: &Plan,
) -> anyhow::Result<Task> {
    Ok(Task {
        root: root
            .canonicalize()
            .context("cannot resolve the project root")?,
        inputs: plan.inputs.iter().map(|b| b.label.clone()).collect(),
        literal_inputs: super::inputs::literal_rels(&run.input, root)?,
        allow_write: crate::config::allow_write_set(&plan.settings.allow_write).ok(),
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
        keep_failed: run.keep_failed,
        attempts_dir: crate::config::state_dir(env).map(|d| d.join("failed")),
        on_event: None,
    })
}

/// When the check still fails and the call could not escalate (the route cannot run), the
/// one line that says why the local outcome stands.
fn warn_not_escalated(escalation: Option<&Result<Escalation, String>>, done: &TaskReport) {
    if done.status == ExitStatus::CheckFailed {
        let why = match (escalation, &done.escalation) {
            (Some(Err(e)), _) => Some(e.clone()),
            (
                _,
                Some(EscalationNote {
                    label,
                    error: Some(e),
                    ..
                }),
            ) => Some(format!("cannot escalate to {label}: {e}")),
            _ => None,
        };
        if let Some(why) = why {
            Reporter::warning(&format!("{why}; the local outcome stands"));
        }
    }
}

/// The `--json` document of a `--write` call: the call's, with `files` and `rounds`.
fn json_report(
    run: &RunArgs,
    plan: &Plan,
    done: &TaskReport,
    record: &crate::runlog::Record,
    error: Option<&str>,
    last: &Transcript,
) -> serde_json::Value {
    let truncated = last.result.as_ref().is_ok_and(|o| o.truncated);
    let events = task_events(plan, done);
    let mut doc = crate::send::json_document(record, &done.text, error, truncated, &events);
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
        let restored: Vec<_> = done
            .restored
            .iter()
            .map(|r| json!({"path": r.path, "outcome": r.outcome, "ok": r.ok}))
            .collect();
        map.insert("restored".into(), json!(restored));
        map.insert("timed_out_rounds".into(), json!(done.timed_out));
        if let Some(Ok(p)) = &done.kept_aside {
            map.insert("failed_patch".into(), json!(p.display().to_string()));
        }
        if run.dry_run {
            let diff: String = done.writes.iter().filter_map(|w| w.diff.clone()).collect();
            map.insert("diff".into(), json!(diff));
        }
    }
    doc
}

/// What a `--write` call prints without `--json`: the answer (`--show`), the diffs (dry
/// run), the summary.
fn text_report(run: &RunArgs, done: &TaskReport) -> String {
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
    } else if !done.timed_out.is_empty() || !done.restored.is_empty() {
        text.push_str(&done.restore_summary());
    }
    text
}

/// A write task's events in order: the plan's, then per round the engine's, the files it
/// wrote and the check's result.
pub(crate) fn task_events(p: &Plan, done: &TaskReport) -> Vec<Event> {
    let mut events = p.events.clone();
    for (i, t) in done.transcripts.iter().enumerate() {
        events.extend(t.events.iter().cloned());
        if let Some(event) = done.writes.get(i).and_then(files_written) {
            events.push(event);
        }
        if let Some(r) = done.rounds.get(i).filter(|_| done.check.is_some()) {
            events.push(Event::CheckRound {
                round: r.round,
                passed: r.check_exit == Some(0),
            });
        }
    }
    events
}

/// The files a round created or updated, as an event (`None` when it changed none).
fn files_written(w: &WriteReport) -> Option<Event> {
    let files: Vec<String> = w
        .files
        .iter()
        .filter(|f| matches!(f.action, Action::Created | Action::Updated))
        .map(|f| f.path.clone())
        .collect();
    (!files.is_empty()).then_some(Event::FilesWritten { files })
}
