//! The default command: resolve, route, slice context, plan the attempts, stream.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use serde_json::json;

use crate::cli::RunArgs;
use crate::config::env::{Env, names};
use crate::config::{self, Overrides, RouteMode};
use crate::engine::{self, Plan, Transcript};
use crate::error::ExitStatus;
use crate::output::{Output, Reporter};
use crate::plan::{dry_run, end_line, start_line};
use crate::stream::{Attempt, Outcome};
use crate::{input, route, runlog};

/// Resolves the settings, reads the prompt and prepares the plan. The router is compiled
/// on the second core while the prompt is read and the HTTP client built: it is the
/// largest fixed cost of an auto-routed call.
pub(crate) fn prepare(
    run: &RunArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
    send: bool,
    terminal: bool,
) -> anyhow::Result<(Plan, Option<reqwest::Client>)> {
    let mut overrides = Overrides::from(run);
    let (cfg, sources) = config::load(env, root)?;
    let router = (config::route_mode(&overrides, env) == RouteMode::Auto).then(|| {
        let table = cfg.router.clone();
        let (root, files) = (root.to_path_buf(), config::doc_files(&cfg));
        std::thread::spawn(move || {
            route::Router::from_table(table.as_ref()).map(|r| r.with_docs(&root, &files))
        })
    });
    let prompt = input::read_prompt(&run.prompt, run.file.as_deref())?;
    let router = router
        .map(|handle| handle.join())
        .transpose()
        .map_err(|_| anyhow::anyhow!("the router thread panicked"))?
        .transpose()?;
    let decision = router.map(|r| r.decide(&prompt));
    overrides.suggested_profile = decision.as_ref().map(|d| d.profile.to_owned());
    let settings = config::resolve_from(cfg, sources, &overrides, env, root)?;
    if run.engine && send {
        // `--engine`: bring codex-wrap's own engine up when nothing else can serve.
        let local_planned = settings.fallback
            || match settings.mode {
                RouteMode::Local => true,
                RouteMode::Auto => decision
                    .as_ref()
                    .is_some_and(|d| d.route == route::Route::Local),
                RouteMode::Api | RouteMode::Codex => false,
            };
        crate::llama::ensure_for_call(&settings, local_planned, report, terminal)?;
    }
    let client = send
        .then(|| crate::http::client(settings.timeouts.connect, None))
        .transpose()?;
    let request = engine::Request {
        prompt,
        explain: run.explain,
        dry_run: !send,
        inputs: match run.input.is_empty() {
            true => Vec::new(),
            false => {
                let cwd = std::env::current_dir().context("cannot read the working directory")?;
                let root = root
                    .canonicalize()
                    .context("cannot resolve the project root")?;
                crate::files::inputs::resolve(&run.input, &root, &cwd)?
            }
        },
        write: run.write,
        retry_refusal: run.write || run.json,
    };
    // The local model's context length, asked only when a request outgrows the profile's
    // window and the profile sets no ceiling; bounded so a dead server costs little.
    let local = crate::plan::endpoints(&settings, crate::stream::Route::Local)
        .into_iter()
        .next()
        .map(|e| e.backend(&settings.root));
    let limit = settings
        .timeouts
        .connect
        .min(std::time::Duration::from_secs(1));
    let context_length = move || {
        let backend = local.as_ref()?;
        let client = crate::http::client(limit, Some(limit)).ok()?;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .ok()?;
        runtime.block_on(backend.context_length(&client))
    };
    let plan = engine::prepare(
        settings,
        decision.as_ref(),
        &request,
        report,
        &context_length,
    )?;
    Ok((plan, client))
}

/// The default command: send the prompt and stream the answer (or, with `--json`, print
/// one JSON object at the end), then append the call to the run log.
pub(crate) fn call(
    run: &RunArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
    spinner: bool,
) -> anyhow::Result<ExitStatus> {
    if env.flag(names::LLM_DISABLED) {
        report.status("LLM calls are disabled (LLM_DISABLED is set); nothing sent");
        if run.json {
            Output::print_document(
                &json!({"ok": true, "exit_code": 0, "outcome": "disabled", "text": ""}).to_string(),
            )?;
        }
        return Ok(ExitStatus::Success);
    }
    let started = SystemTime::now();
    let clock = std::time::Instant::now();
    let send = !run.dry_run || run.write;
    let (mut p, client) = prepare(run, env, root, report, send, spinner)?;
    if run.write {
        return crate::files::face::call(run, env, root, report, spinner, p, client, started);
    }
    let messages = p.messages();
    if run.dry_run {
        Output::print_document(&dry_run(
            &p.settings,
            p.route,
            &p.attempts,
            messages,
            &p.selection,
            &p.pool,
        ))?;
        return Ok(ExitStatus::Success);
    }
    let (runtime, client) = start(&p, client, spinner, report)?;
    let mut out = if run.json {
        Output::buffered()
    } else {
        Output::new()
    };
    let transcript = runtime.block_on(engine::execute(
        &mut p,
        &client,
        &mut out,
        report,
        engine::signals(),
    ));
    crate::spinner::stop();
    runtime.shutdown_background();
    let result = &transcript.result;

    let write_error = out.take_error();
    let status = match &write_error {
        Some(_) => ExitStatus::Failure,
        None => transcript.exit_status(),
    };
    let record = log_record(&p, &transcript, clock.elapsed(), status, started);
    append_log(&p, &record, report);

    if run.json {
        let text = out.take_text();
        let error = match (&write_error, &result) {
            (Some(e), _) => Some(format!("cannot write the answer to stdout: {e}")),
            (None, Err(e)) => Some(e.to_string()),
            (None, Ok(_)) => None,
        };
        if let Some(e) = &error {
            Reporter::error(e);
        }
        let truncated = result.as_ref().is_ok_and(|o| o.truncated);
        if let Ok(outcome) = &result {
            report.status(&end_line(outcome));
        }
        Output::print_document(
            &json_document(&record, &text, error.as_deref(), truncated).to_string(),
        )?;
        return Ok(status);
    }
    if let Some(e) = write_error {
        return Err(anyhow::Error::new(e).context("cannot write the answer to stdout"));
    }
    let outcome = transcript.result?;
    out.finish()?;
    if !out.is_closed() {
        report.status(&end_line(&outcome));
        if outcome.truncated {
            report.warn("the answer was cut at the model's token limit");
        }
    }
    Ok(ExitStatus::Success)
}

/// What every face that sends needs before `engine::execute`: the start line (and the
/// guardrails warning) on stderr, the runtime, the HTTP client and the spinner.
pub(crate) fn start(
    p: &Plan,
    client: Option<reqwest::Client>,
    spinner: bool,
    report: Reporter,
) -> anyhow::Result<(tokio::runtime::Runtime, reqwest::Client)> {
    let settings = &p.settings;
    if !settings.profile.guardrails {
        report.warn(&format!(
            "profile '{}' runs with guardrails off",
            settings.profile.name
        ));
    }
    report.status(&start_line(settings, &p.attempts));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let client = match client {
        Some(client) => client,
        None => crate::http::client(settings.timeouts.connect, None)?,
    };
    if spinner {
        let model = p.attempts.first().map(Attempt::what).unwrap_or_default();
        crate::spinner::start(format!("{model}: waiting for the first token"));
    }
    Ok((runtime, client))
}

/// Appends a call's record to the run log, if there is one; a failure is a warning.
pub(crate) fn append_log(p: &Plan, record: &runlog::Record, report: Reporter) {
    if let Some(path) = &p.settings.log.file
        && let Err(e) = runlog::append(&p.settings.log.base, path, record)
    {
        report.warn(&format!("cannot write the run log {}: {e}", path.display()));
    }
}

/// The run-log record of a call that was sent, from its transcript (also the MCP
/// `delegate` tool's record).
pub(crate) fn log_record(
    p: &Plan,
    t: &Transcript,
    elapsed: std::time::Duration,
    status: ExitStatus,
    started: SystemTime,
) -> runlog::Record {
    let attempts: Vec<runlog::AttemptRecord> = t
        .tried
        .iter()
        .map(|a| runlog::AttemptRecord {
            route: a.route.as_str().to_owned(),
            backend: a.backend.to_owned(),
            endpoint: a.endpoint.clone(),
            model: a.model.clone(),
            result: a
                .failure
                .as_ref()
                .map_or("ok", |f| f.kind.as_str())
                .to_owned(),
            error: a.failure.as_ref().map(|f| f.message.clone()),
        })
        .collect();
    let outcome = t.result.as_ref().ok();
    let delivered = t.delivered;
    let answered = t.answered();
    let last = answered.or(t.tried.last());
    let usage = outcome.map(|o| o.usage).unwrap_or_default();
    let estimate_in = (p.prompt.system.chars().count() + p.prompt.user.chars().count()) as u64 / 4;
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    runlog::Record {
        v: runlog::VERSION,
        event: None,
        ts: runlog::timestamp(started),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        route: p.route.as_str().to_owned(),
        route_by: if p.confidence.is_some() {
            "router"
        } else {
            "flag"
        }
        .to_owned(),
        confidence: p.confidence.map(|c| (c * 100.0).round() / 100.0),
        profile: p.settings.profile.name.clone(),
        served_by: answered.map(|a| a.route.as_str().to_owned()),
        endpoint: answered.map(|a| a.endpoint.clone()),
        backend: last.map(|a| a.backend.to_owned()).unwrap_or_default(),
        model: outcome
            .and_then(|o| o.served_model.clone())
            .or_else(|| last.map(|a| a.model.clone()))
            .unwrap_or_default(),
        requested_model: outcome
            .filter(|o| o.served_model.is_some())
            .and_then(|_| last.map(|a| a.model.clone())),
        // Every attempt after the first was a fallback.
        fallbacks: u32::try_from(attempts.len().saturating_sub(1)).unwrap_or(u32::MAX),
        attempts,
        ttft_ms: outcome
            .and_then(|o| o.first_token)
            .or_else(|| last.and_then(|a| a.failure.as_ref()?.first_token))
            .map(ms),
        total_ms: ms(elapsed),
        // Tokens count only for an attempt that answered: they are what was served.
        tokens_in: outcome.map_or(if delivered > 0 { estimate_in } else { 0 }, |_| {
            usage.prompt_tokens.unwrap_or(estimate_in)
        }),
        // An answer cut short still cost what it delivered: estimated from its bytes.
        tokens_out: outcome.map_or(delivered.div_ceil(4), |_| {
            usage.completion_tokens.unwrap_or(delivered / 4)
        }),
        tokens_estimated: (outcome.is_none() && delivered > 0)
            || (outcome.is_some()
                && (usage.prompt_tokens.is_none() || usage.completion_tokens.is_none())),
        tokens_per_sec: outcome
            .and_then(Outcome::tokens_per_sec)
            .map(|r| (r * 10.0).round() / 10.0),
        bytes_out: delivered,
        exit: status as u8,
        outcome: status.name().to_owned(),
        prompt_chars: p.prompt_text.chars().count() as u64,
        prompt_hash: runlog::prompt_hash(&p.prompt_text),
        prompt: p.settings.log.prompts.then(|| p.prompt_text.clone()),
        rounds: Vec::new(),
        check_failed: None,
        escalated: false,
    }
}

/// The `--json` document: the text and what produced it, or the error.
pub(crate) fn json_document(
    r: &runlog::Record,
    text: &str,
    error: Option<&str>,
    truncated: bool,
) -> serde_json::Value {
    let attempts: Vec<_> = r
        .attempts
        .iter()
        .map(|a| {
            json!({
                "route": a.route,
                "backend": a.backend,
                "model": a.model,
                "result": a.result,
                "error": a.error,
            })
        })
        .collect();
    let mut doc = json!({
        "ok": error.is_none(),
        "exit_code": r.exit,
        "outcome": r.outcome,
        "text": text,
        "route": r.served_by.as_deref().unwrap_or(&r.route),
        "route_by": r.route_by,
        "profile": r.profile,
        "backend": r.backend,
        "model": r.model,
        "requested_model": r.requested_model,
        "usage": {
            "prompt_tokens": r.tokens_in,
            "completion_tokens": r.tokens_out,
            "estimated": r.tokens_estimated,
        },
        "timings": {
            "first_token_ms": r.ttft_ms,
            "total_ms": r.total_ms,
            "tokens_per_sec": r.tokens_per_sec,
        },
        "truncated": truncated,
        "fallbacks": r.fallbacks,
        "attempts": attempts,
    });
    if let (Some(e), Some(map)) = (error, doc.as_object_mut()) {
        map.insert("error".to_owned(), json!(e));
    }
    doc
}

/// `codex-wrap context`: what would be sent, and why.
pub(crate) fn show_context(
    run: &RunArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
) -> anyhow::Result<ExitStatus> {
    let (p, _) = prepare(run, env, root, report, false, false)?;
    let used: usize = p.selection.chosen.iter().map(|c| c.tokens).sum();
    if run.json {
        let doc = json!({
            "route": p.route.as_str(),
            "profile": p.settings.profile.name,
            "budget": p.selection.budget,
            "used": used,
            "sections": p.selection.chosen,
            "system": p.prompt.system,
            "user": p.prompt.user,
        });
        Output::print_document(&doc.to_string())?;
        return Ok(ExitStatus::Success);
    }
    let mut doc = format!(
        "route: {} · profile {} · context budget {} tokens · {used} used\n",
        p.route.as_str(),
        p.settings.profile.name,
        p.selection.budget
    );
    if p.selection.chosen.is_empty() {
        doc.push_str("sections: none\n");
    } else {
        doc.push_str("sections:\n");
        for c in &p.selection.chosen {
            doc.push_str(&format!(
                "  {} § {}  [{}{}] score {:.2} · {} tokens\n",
                c.file,
                c.what(),
                c.reason,
                if c.cut { ", cut" } else { "" },
                c.score,
                c.tokens
            ));
        }
    }
    doc.push_str("\n=== system ===\n");
    doc.push_str(&p.prompt.system);
    doc.push_str("\n\n=== user ===\n");
    doc.push_str(&p.prompt.user);
    Output::print_document(&doc)?;
    Ok(ExitStatus::Success)
}
