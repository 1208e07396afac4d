//! The eval's results: one row per task, the totals, the text table and the `--json`
//! document, the run-log record, and the last eval of each endpoint, kept in the state
//! directory (`eval.json`) for `stats` and `doctor`.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::{Duration, SystemTime};

use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use serde::{Deserialize, Serialize};
use serde_json::json;

use super::suite::EvalTask;
use crate::cli::EvalArgs;
use crate::error::ExitStatus;
use crate::files::face::TaskReport;
use crate::files::repair::Strategy as RepairStrategy;
use crate::output::Reporter;
use crate::runlog;

/// One task's result.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct TaskResult {
    /// The task's id.
    pub(crate) id: String,
    /// The check passed in the end.
    pub(crate) passed: bool,
    /// Rounds run (escalated ones included).
    pub(crate) rounds: usize,
    /// The round the check first passed in.
    pub(crate) passed_at: Option<usize>,
    /// The exit code `-w --check` would have ended with.
    pub(crate) exit_code: u8,
    /// Prompt tokens over every round.
    pub(crate) tokens_in: u64,
    /// Generated tokens over every round.
    pub(crate) tokens_out: u64,
    /// Wall time of the task, its checks included.
    pub(crate) seconds: f64,
    /// What the assistant reads without --write: every answer's text.
    pub(crate) bytes_read_without_write: u64,
    /// What it reads with it: the summary.
    pub(crate) bytes_read_with_write: u64,
    /// The first code block of the round-1 answer passed the same test.
    pub(crate) baseline_passed: bool,
    /// Whether rounds ran on the escalation route, and whether one of them passed.
    pub(crate) escalated: bool,
    /// The endpoint and model that answered the first round.
    pub(crate) endpoint: Option<String>,
    pub(crate) model: Option<String>,
    /// Generation speed (median over the rounds).
    pub(crate) tokens_per_sec: Option<f64>,
    /// Why the task stopped without a check result, if it did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) error: Option<String>,
    #[serde(skip)]
    pub(crate) status: ExitStatus,
    /// The task's run-log record.
    #[serde(skip)]
    pub(crate) record: Option<runlog::Record>,
}

fn round_to(v: f64, places: i32) -> f64 {
    let f = 10f64.powi(places);
    (v * f).round() / f
}

fn median(mut v: Vec<f64>) -> Option<f64> {
    v.retain(|x| x.is_finite());
    v.sort_by(f64::total_cmp);
    let n = v.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => Some(v[n / 2]),
        _ => Some((v[n / 2 - 1] + v[n / 2]) / 2.0),
    }
}

impl TaskResult {
    /// A task that never reached the model (no route, a bad endpoint).
    pub(crate) fn unanswered(t: &EvalTask, error: &str, status: ExitStatus) -> Self {
        TaskResult {
            id: t.task_id.clone(),
            passed: false,
            rounds: 0,
            passed_at: None,
            exit_code: status as u8,
            tokens_in: 0,
            tokens_out: 0,
            seconds: 0.0,
            bytes_read_without_write: 0,
            bytes_read_with_write: 0,
            baseline_passed: false,
            escalated: false,
            endpoint: None,
            model: None,
            tokens_per_sec: None,
            error: Some(error.to_owned()),
            status,
            record: None,
        }
    }

    /// From the write face's report of the task.
    pub(crate) fn from_report(
        t: &EvalTask,
        done: &TaskReport,
        baseline_passed: bool,
        elapsed: Duration,
    ) -> Self {
        let passed =
            done.status == ExitStatus::Success && done.check.as_ref().is_some_and(|c| c.passed());
        let outcomes: Vec<_> = done
            .transcripts
            .iter()
            .filter_map(|t| t.result.as_ref().ok())
            .collect();
        let first = done.transcripts.iter().find_map(|t| t.answered());
        let error = match (&done.error, done.transcripts.last().map(|t| &t.result)) {
            (Some(e), _) => Some(e.clone()),
            (None, Some(Err(e))) => Some(e.to_string()),
            _ => None,
        };
        TaskResult {
            id: t.task_id.clone(),
            passed,
            rounds: done.rounds.len(),
            passed_at: passed.then_some(done.rounds.len()),
            exit_code: done.status as u8,
            tokens_in: outcomes.iter().filter_map(|o| o.usage.prompt_tokens).sum(),
            tokens_out: outcomes
                .iter()
                .filter_map(|o| o.usage.completion_tokens)
                .sum(),
            seconds: round_to(elapsed.as_secs_f64(), 2),
            bytes_read_without_write: done.answers.iter().map(|a| a.len() as u64).sum(),
            bytes_read_with_write: match done.writes.is_empty() {
                true => 0,
                false => done.summary(false).len() as u64,
            },
            baseline_passed,
            escalated: done.escalated(),
            endpoint: first.map(|a| a.endpoint.clone()),
            model: first.map(|a| a.model.clone()),
            tokens_per_sec: median(outcomes.iter().filter_map(|o| o.tokens_per_sec()).collect())
                .map(|v| round_to(v, 1)),
            error,
            status: done.status,
            record: None,
        }
    }
}

/// The totals.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Summary {
    pub(crate) suite: String,
    /// The endpoint that answered most tasks, and its model.
    pub(crate) endpoint: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) seed: u64,
    pub(crate) rounds: u32,
    /// What the rounds after a failed one sent: `feedback` or `resample`.
    pub(crate) repair: &'static str,
    pub(crate) tasks: usize,
    /// Tasks passed by round k (k = 1..rounds), on the measured route.
    pub(crate) passed_by_round: Vec<usize>,
    /// Tasks passed in the end (escalated rounds included).
    pub(crate) passed: usize,
    /// Tasks that passed only on the escalation route.
    pub(crate) passed_escalated: usize,
    /// Tasks that escalated.
    pub(crate) escalated: usize,
    /// The plain baseline: the first code block of the round-1 answer.
    pub(crate) baseline_passed: usize,
    pub(crate) seconds: f64,
    pub(crate) seconds_per_task: f64,
    pub(crate) tokens_in: u64,
    pub(crate) tokens_out: u64,
    pub(crate) tokens_per_sec: Option<f64>,
    pub(crate) bytes_read_without_write: u64,
    pub(crate) bytes_read_with_write: u64,
    /// When the eval started, RFC 3339 UTC.
    pub(crate) ts: String,
}

impl Summary {
    pub(crate) fn new(
        suite: &str,
        args: &EvalArgs,
        repair: RepairStrategy,
        results: &[TaskResult],
        started: SystemTime,
    ) -> Self {
        let mut endpoints: BTreeMap<(&str, &str), usize> = BTreeMap::new();
        for r in results {
            if let (Some(e), Some(m)) = (&r.endpoint, &r.model) {
                *endpoints.entry((e, m)).or_default() += 1;
            }
        }
        let top = endpoints
            .into_iter()
            .max_by_key(|(_, n)| *n)
            .map(|(k, _)| k);
        let k = args.rounds as usize;
        let local_pass = |r: &TaskResult| r.passed_at.filter(|&at| at <= k);
        let seconds: f64 = results.iter().map(|r| r.seconds).sum();
        Summary {
            suite: suite.to_owned(),
            endpoint: top.map(|(e, _)| e.to_owned()),
            model: top.map(|(_, m)| m.to_owned()),
            seed: args.seed,
            rounds: args.rounds,
            repair: repair.as_str(),
            tasks: results.len(),
            passed_by_round: (1..=k)
                .map(|round| {
                    results
                        .iter()
                        .filter(|r| local_pass(r).is_some_and(|at| at <= round))
                        .count()
                })
                .collect(),
            passed: results.iter().filter(|r| r.passed).count(),
            passed_escalated: results
                .iter()
                .filter(|r| r.passed && local_pass(r).is_none())
                .count(),
            escalated: results.iter().filter(|r| r.escalated).count(),
            baseline_passed: results.iter().filter(|r| r.baseline_passed).count(),
            seconds: round_to(seconds, 2),
            seconds_per_task: round_to(seconds / results.len().max(1) as f64, 2),
            tokens_in: results.iter().map(|r| r.tokens_in).sum(),
            tokens_out: results.iter().map(|r| r.tokens_out).sum(),
            tokens_per_sec: median(results.iter().filter_map(|r| r.tokens_per_sec).collect())
                .map(|v| round_to(v, 1)),
            bytes_read_without_write: results.iter().map(|r| r.bytes_read_without_write).sum(),
            bytes_read_with_write: results.iter().map(|r| r.bytes_read_with_write).sum(),
            ts: runlog::timestamp(started),
        }
    }

    fn first_round(&self) -> usize {
        self.passed_by_round.first().copied().unwrap_or(0)
    }

    fn after_rounds(&self) -> usize {
        self.passed_by_round.last().copied().unwrap_or(0)
    }

    /// The run log's record of the eval (`"event": "eval"`; readers of calls skip it).
    pub(crate) fn log_record(&self) -> serde_json::Value {
        json!({
            "v": runlog::VERSION,
            "event": "eval",
            "ts": self.ts,
            "version": env!("CARGO_PKG_VERSION"),
            "eval": self,
        })
    }
}

/// The `--json` document.
pub(crate) fn json(s: &Summary, results: &[TaskResult]) -> serde_json::Value {
    json!({
        "suite": s.suite,
        "endpoint": s.endpoint,
        "model": s.model,
        "tasks": results,
        "summary": s,
    })
}

fn yes(b: bool) -> &'static str {
    if b { "yes" } else { "no" }
}

/// The text table and the totals.
pub(crate) fn table(s: &Summary, results: &[TaskResult]) -> String {
    let mut rows = vec![
        [
            "TASK",
            "PASSED",
            "ROUND",
            "EXIT",
            "PLAIN",
            "TOK IN",
            "TOK OUT",
            "TOK/S",
            "SECONDS",
            "READ W/O -w",
            "READ WITH -w",
        ]
        .map(str::to_owned)
        .to_vec(),
    ];
    for r in results {
        rows.push(vec![
            r.id.clone(),
            yes(r.passed).to_owned(),
            match r.passed_at {
                Some(at) if r.escalated && at > s.rounds as usize => format!("{at} (escalated)"),
                Some(at) => at.to_string(),
                None => "-".to_owned(),
            },
            r.exit_code.to_string(),
            yes(r.baseline_passed).to_owned(),
            r.tokens_in.to_string(),
            r.tokens_out.to_string(),
            r.tokens_per_sec
                .map_or_else(|| "-".to_owned(), |v| format!("{v:.1}")),
            format!("{:.1}", r.seconds),
            r.bytes_read_without_write.to_string(),
            r.bytes_read_with_write.to_string(),
        ]);
    }
    let mut out = crate::shared::table(&rows);
    let n = s.tasks;
    out.push('\n');
    out.push_str(&format!(
        "{}: {}/{n} first round, {}/{n} after {} round{} ({} repair); plain first code block {}/{n}\n",
        describe(s.endpoint.as_deref(), s.model.as_deref()),
        s.first_round(),
        s.after_rounds(),
        s.rounds,
        if s.rounds == 1 { "" } else { "s" },
        s.repair,
        s.baseline_passed
    ));
    if s.escalated > 0 {
        out.push_str(&format!(
            "escalated: {} task{}, {} passed there; {}/{n} in the end\n",
            s.escalated,
            if s.escalated == 1 { "" } else { "s" },
            s.passed_escalated,
            s.passed
        ));
    }
    out.push_str(&format!(
        "time: {:.1} s, {:.1} s per task; tokens: {} in, {} out{}\n",
        s.seconds,
        s.seconds_per_task,
        s.tokens_in,
        s.tokens_out,
        s.tokens_per_sec
            .map_or_else(String::new, |v| format!(", {v:.1} tok/s"))
    ));
    out.push_str(&format!(
        "an assistant reads {} bytes without --write, {} with it (the summaries)\n",
        s.bytes_read_without_write, s.bytes_read_with_write
    ));
    out
}

fn describe(endpoint: Option<&str>, model: Option<&str>) -> String {
    match (model, endpoint) {
        (Some(m), Some(e)) if m != e => format!("{m} on {e}"),
        (Some(m), _) => m.to_owned(),
        (None, Some(e)) => e.to_owned(),
        (None, None) => "no endpoint answered".to_owned(),
    }
}

/// The last eval of one endpoint, as `stats` and `doctor` show it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub(crate) struct LastEval {
    pub(crate) model: String,
    pub(crate) suite: String,
    pub(crate) tasks: usize,
    pub(crate) rounds: u32,
    pub(crate) first_round: usize,
    pub(crate) after_rounds: usize,
    pub(crate) baseline: usize,
    #[serde(default)]
    pub(crate) escalated: usize,
    #[serde(default)]
    pub(crate) passed: usize,
    #[serde(default)]
    pub(crate) seconds_per_task: f64,
    /// `feedback` or `resample` (empty in files saved before it was kept).
    #[serde(default)]
    pub(crate) repair: String,
    pub(crate) ts: String,
}

impl LastEval {
    /// `smollm2: 4/40 first round, 5/40 after 3 rounds (plain 3/40; humaneval; feedback
    /// repair), 2026-12-08`.
    pub(crate) fn line(&self) -> String {
        let n = self.tasks;
        format!(
            "{}: {}/{n} first round, {}/{n} after {} rounds (plain {}/{n}; {}{}), {}",
            self.model,
            self.first_round,
            self.after_rounds,
            self.rounds,
            self.baseline,
            self.suite,
            match self.repair.as_str() {
                "" => String::new(),
                r => format!("; {r} repair"),
            },
            self.ts.get(..10).unwrap_or(&self.ts)
        )
    }
}

const STATE_FILE: &str = "eval.json";

/// The last eval of each endpoint, by endpoint name (empty when none was saved).
pub(crate) fn last_evals(state_dir: &Path) -> BTreeMap<String, LastEval> {
    std::fs::read(state_dir.join(STATE_FILE))
        .ok()
        .and_then(|b| serde_json::from_slice(&b).ok())
        .unwrap_or_default()
}

/// Saves this eval as its endpoint's last (atomically: a temporary file renamed).
pub(crate) fn save_last(state_dir: &Path, s: &Summary) -> std::io::Result<()> {
    let (Some(endpoint), Some(model)) = (&s.endpoint, &s.model) else {
        return Ok(());
    };
    let mut all = last_evals(state_dir);
    all.insert(
        endpoint.clone(),
        LastEval {
            model: model.clone(),
            suite: s.suite.clone(),
            tasks: s.tasks,
            rounds: s.rounds,
            first_round: s.first_round(),
            after_rounds: s.after_rounds(),
            baseline: s.baseline_passed,
            escalated: s.escalated,
            passed: s.passed,
            seconds_per_task: s.seconds_per_task,
            repair: s.repair.to_owned(),
            ts: s.ts.clone(),
        },
    );
    std::fs::create_dir_all(state_dir)?;
    let tmp = tempfile::NamedTempFile::new_in(state_dir)?;
    std::fs::write(tmp.path(), serde_json::to_vec_pretty(&all)?)?;
    tmp.persist(state_dir.join(STATE_FILE))
        .map_err(|e| e.error)?;
    Ok(())
}

/// Progress over the tasks: a bar on a terminal, else one status line per task.
pub(crate) struct Progress {
    bar: Option<ProgressBar>,
    report: Reporter,
    total: usize,
    done: std::cell::Cell<usize>,
}

impl Progress {
    pub(crate) fn new(total: usize, report: Reporter, terminal: bool) -> Self {
        let bar = terminal.then(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total as u64), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("eval [{elapsed_precise}] {bar:30} {pos}/{len} {msg}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar
        });
        Progress {
            bar,
            report,
            total,
            done: std::cell::Cell::new(0),
        }
    }

    pub(crate) fn start(&self, id: &str) {
        if let Some(bar) = &self.bar {
            bar.set_message(id.to_owned());
        }
    }

    pub(crate) fn done(&self, r: &TaskResult) {
        self.done.set(self.done.get() + 1);
        match &self.bar {
            Some(bar) => bar.inc(1),
            None => self.report.status(&format!(
                "eval [{}/{}] {}: {} ({:.1} s){}",
                self.done.get(),
                self.total,
                r.id,
                match (r.passed_at, &r.error) {
                    (Some(at), _) => format!("passed at round {at}"),
                    (None, Some(e)) if r.rounds == 0 => format!("not run: {e}"),
                    (None, _) => format!("failed after {} rounds (exit {})", r.rounds, r.exit_code),
                },
                r.seconds,
                if r.escalated { ", escalated" } else { "" }
            )),
        }
    }

    pub(crate) fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}
