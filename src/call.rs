//! The default command: resolve, route, slice context, plan the attempts, stream.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use serde_json::json;

use crate::backend::Messages;
use crate::cli::RunArgs;
use crate::config::env::{Env, names};
use crate::config::{self, RouteMode, Settings};
use crate::context::{self, Selection};
use crate::error::{Error, ExitStatus, Failure};
use crate::output::{Output, Reporter};
use crate::plan::{dry_run, end_line, plan, start_line};
use crate::stream::Attempt;
use crate::stream::{self, Outcome, Route};
use crate::{input, prompt, route, runlog};

/// Everything decided before the first byte is sent.
struct Prepared {
    settings: Settings,
    route: Route,
    prompt: prompt::Prompt,
    selection: Selection,
    attempts: Vec<Attempt>,
    client: Option<reqwest::Client>,
    /// The user's prompt as read.
    prompt_text: String,
    /// The router's confidence when it chose the route (`None`: a flag did).
    confidence: Option<f64>,
}

/// Resolves settings, routes the prompt, slices the context, fits it to the model's
/// window and plans the attempts. `send` says whether a request will follow; `terminal`,
/// whether stderr may show a progress bar (`--engine` building the engine).
fn prepare(
    run: &RunArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
    send: bool,
    terminal: bool,
) -> anyhow::Result<Prepared> {
    let mut settings = config::resolve(run, env, root)?;
    // Compile the router on the second core while the prompt is read and the HTTP client
    // is built: it is the largest fixed cost of an auto-routed call.
    let router = (settings.mode == RouteMode::Auto).then(|| {
        let table = settings.router.clone();
        std::thread::spawn(move || route::Router::from_table(table.as_ref()))
    });
    let prompt_text = input::read_prompt(&run.prompt, run.file.as_deref())?;
    let client = send.then(|| stream::client(&settings.timeouts));

    let mut confidence = None;
    let route = match settings.mode {
        RouteMode::Local => Route::Local,
        RouteMode::Api => Route::Api,
        RouteMode::Auto => {
            let router = router
                .map(|handle| handle.join())
                .transpose()
                .map_err(|_| anyhow::anyhow!("the router thread panicked"))?
                .transpose()?
                .context("the router was not started")?;
            let decision = router.decide(&prompt_text);
            if run.explain {
                report.status(&format!(
                    "router: {} (confidence {:.2}, profile {}; rules: {})",
                    decision.route,
                    decision.confidence,
                    decision.profile,
                    decision.rules.join(", ")
                ));
            }
            if !settings.profile_explicit {
                settings.use_profile(decision.profile);
            }
            confidence = Some(decision.confidence);
            decision.route()
        }
    };

    let (prompt, selection) = slice_and_fit(&mut settings, route, &prompt_text, report, !send);
    if run.engine && send {
        let local_planned = route == Route::Local || settings.fallback;
        crate::llama::ensure_for_call(&settings, local_planned, report, terminal)?;
    }
    let attempts = plan(&settings, route)?;
    Ok(Prepared {
        settings,
        route,
        prompt,
        selection,
        attempts,
        client,
        prompt_text,
        confidence,
    })
}

/// Chooses the context for the route, then makes the request fit the local model's
/// window: Ollama silently cuts a prompt longer than `num_ctx`, so `num_ctx` is raised for
/// this call up to the profile's `num_ctx_max`, and past that context sections are dropped
/// (never the user's prompt), each with a stderr line.
fn slice_and_fit(
    settings: &mut Settings,
    route: Route,
    prompt_text: &str,
    report: Reporter,
    show_all_warnings: bool,
) -> (prompt::Prompt, Selection) {
    let ctx = &settings.context;
    let budget = match route {
        Route::Local => ctx.local_budget,
        Route::Api => ctx.api_budget,
    };
    let mut warnings = Vec::new();
    let docs = context::load(&settings.root, &ctx.files, &mut warnings);
    // A project without CONTRACTS.md is normal for quick local calls: say so only when
    // context was asked for or the API route expects it.
    if route == Route::Local && ctx.named.is_empty() && !show_all_warnings {
        warnings.retain(|w| !w.starts_with("no "));
    }
    let mut selection = context::select(&docs, ctx, prompt_text, budget);
    for w in warnings.iter().chain(&selection.warnings) {
        report.warn(w);
    }

    let options = &settings.profile.options;
    let current = options
        .get("num_ctx")
        .and_then(serde_json::Value::as_u64)
        .unwrap_or(2048);
    let reserve = options
        .get("num_predict")
        .and_then(serde_json::Value::as_u64)
        .filter(|n| *n > 0)
        .unwrap_or(1024);
    let ceiling = settings.profile.num_ctx_max.max(current);
    loop {
        let assembled = prompt::assemble(
            &selection.blocks,
            settings.profile.system.as_deref(),
            &settings.directive,
            prompt_text,
        );
        let need = (context::estimate_tokens(&assembled.system)
            + context::estimate_tokens(&assembled.user)) as u64
            + reserve
            + 32;
        if need <= current {
            return (assembled, selection);
        }
        if need <= ceiling || selection.blocks.is_empty() || route == Route::Api {
            let raised = need.div_ceil(1024) * 1024;
            let raised = raised.min(ceiling);
            if need > ceiling {
                report.warn(&format!(
                    "the request needs about {need} tokens, more than num_ctx_max {ceiling}; the model may cut it"
                ));
            } else {
                tracing::debug!(from = current, to = raised, "raising num_ctx for this call");
            }
            settings
                .profile
                .options
                .insert("num_ctx".to_owned(), serde_json::json!(raised));
            return (assembled, selection);
        }
        if let Some(dropped) = selection.blocks.pop() {
            selection.chosen.pop();
            report.warn(&format!(
                "dropped context '{}' to fit num_ctx_max {ceiling}",
                dropped.label
            ));
        }
    }
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
    let p = prepare(run, env, root, report, !run.dry_run, spinner)?;
    let messages = Messages {
        system: &p.prompt.system,
        user: &p.prompt.user,
    };
    if run.dry_run {
        Output::print_document(&dry_run(
            &p.settings,
            p.route,
            &p.attempts,
            messages,
            &p.selection,
        ))?;
        return Ok(ExitStatus::Success);
    }
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
    let mut out = if run.json {
        Output::buffered()
    } else {
        Output::new()
    };
    let client = p
        .client
        .clone()
        .unwrap_or_else(|| stream::client(&settings.timeouts));
    if spinner {
        let model = p.attempts.first().map_or("", |a| a.backend.model());
        crate::spinner::start(format!("{model}: waiting for the first token"));
    }
    let mut failures = Vec::new();
    let result = runtime.block_on(async {
        let work = stream::run_attempts(
            &client,
            &p.attempts,
            messages,
            &settings.timeouts,
            &mut out,
            report,
            &mut failures,
        );
        with_signals(work).await
    });
    crate::spinner::stop();
    runtime.shutdown_background();

    let write_error = out.take_error();
    let status = match (&write_error, &result) {
        (Some(_), _) => ExitStatus::Failure,
        (None, Ok(_)) => ExitStatus::Success,
        (None, Err(e)) => e.exit_status(),
    };
    let record = log_record(
        &p,
        result.as_ref().ok(),
        &failures,
        out.delivered(),
        clock.elapsed(),
        status,
        started,
    );
    if let Some(path) = &settings.log.file {
        if let Err(e) = runlog::append(path, &record) {
            report.warn(&format!("cannot write the run log {}: {e}", path.display()));
        }
    }

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
        Output::print_document(&json_document(&record, &text, error.as_deref(), truncated))?;
        return Ok(status);
    }
    if let Some(e) = write_error {
        return Err(anyhow::Error::new(e).context("cannot write the answer to stdout"));
    }
    let outcome = result?;
    out.finish()?;
    if !out.is_closed() {
        report.status(&end_line(&outcome));
        if outcome.truncated {
            report.warn("the answer was cut at the model's token limit");
        }
    }
    Ok(ExitStatus::Success)
}

/// The run-log record of a call that was sent.
fn log_record(
    p: &Prepared,
    outcome: Option<&Outcome>,
    failures: &[Failure],
    delivered: u64,
    elapsed: std::time::Duration,
    status: ExitStatus,
    started: SystemTime,
) -> runlog::Record {
    let mut attempts: Vec<runlog::AttemptRecord> = p
        .attempts
        .iter()
        .zip(failures)
        .map(|(a, f)| runlog::AttemptRecord {
            route: a.route.as_str().to_owned(),
            backend: a.backend.name().to_owned(),
            model: a.backend.model().to_owned(),
            result: f.kind.as_str().to_owned(),
            error: Some(f.message.clone()),
        })
        .collect();
    let answered = outcome.and_then(|o| p.attempts.get(o.index));
    if let Some(a) = answered {
        attempts.push(runlog::AttemptRecord {
            route: a.route.as_str().to_owned(),
            backend: a.backend.name().to_owned(),
            model: a.backend.model().to_owned(),
            result: "ok".to_owned(),
            error: None,
        });
    }
    let last = answered.or_else(|| p.attempts.get(failures.len().saturating_sub(1)));
    let usage = outcome.map(|o| o.usage).unwrap_or_default();
    let estimate_in = (p.prompt.system.chars().count() + p.prompt.user.chars().count()) as u64 / 4;
    let ms = |d: std::time::Duration| (d.as_secs_f64() * 1e6).round() / 1e3;
    runlog::Record {
        v: runlog::VERSION,
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
        backend: last
            .map(|a| a.backend.name().to_owned())
            .unwrap_or_default(),
        model: last
            .map(|a| a.backend.model().to_owned())
            .unwrap_or_default(),
        // Every attempt after the first was a fallback.
        fallbacks: u32::try_from(attempts.len().saturating_sub(1)).unwrap_or(u32::MAX),
        attempts,
        ttft_ms: outcome.and_then(|o| o.first_token).map(ms),
        total_ms: ms(elapsed),
        // Tokens count only for an attempt that answered: they are what was served.
        tokens_in: outcome.map_or(0, |_| usage.prompt_tokens.unwrap_or(estimate_in)),
        tokens_out: outcome.map_or(0, |_| usage.completion_tokens.unwrap_or(delivered / 4)),
        tokens_estimated: outcome.is_some()
            && (usage.prompt_tokens.is_none() || usage.completion_tokens.is_none()),
        tokens_per_sec: outcome
            .and_then(Outcome::tokens_per_sec)
            .map(|r| (r * 10.0).round() / 10.0),
        bytes_out: delivered,
        exit: status as u8,
        outcome: status.name().to_owned(),
        prompt_chars: p.prompt_text.chars().count() as u64,
        prompt_hash: runlog::prompt_hash(&p.prompt_text),
        prompt: p.settings.log.prompts.then(|| p.prompt_text.clone()),
    }
}

/// The `--json` document: the text and what produced it, or the error.
fn json_document(r: &runlog::Record, text: &str, error: Option<&str>, truncated: bool) -> String {
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
    doc.to_string()
}

/// `codex-wrap context`: what would be sent, and why.
pub(crate) fn show_context(
    run: &RunArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
) -> anyhow::Result<ExitStatus> {
    let p = prepare(run, env, root, report, false, false)?;
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
            let what = if c.section.is_empty() {
                "(first lines)"
            } else {
                &c.section
            };
            doc.push_str(&format!(
                "  {} § {}  [{}{}] score {:.2} · {} tokens\n",
                c.file,
                what,
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

/// Runs `work` until it ends or a SIGINT / SIGTERM arrives; dropping `work` closes the
/// connection at once.
async fn with_signals<F>(work: F) -> Result<Outcome, Error>
where
    F: std::future::Future<Output = Result<Outcome, Error>>,
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return work.await;
        };
        tokio::select! {
            r = work => r,
            _ = int.recv() => Err(Error::Signal(ExitStatus::Sigint)),
            _ = term.recv() => Err(Error::Signal(ExitStatus::Sigterm)),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err(Error::Signal(ExitStatus::Sigint)),
        }
    }
}
