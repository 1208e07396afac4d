//! The default command: resolve, route, slice context, plan the attempts, stream.

use std::path::Path;
use std::time::SystemTime;

use anyhow::Context;
use serde_json::json;

use crate::cli::RunArgs;
use crate::config::env::{Env, names};
use crate::config::{Overrides, RouteMode};
use crate::engine::{self, Plan};
use crate::error::ExitStatus;
use crate::event::Event;
use crate::output::{Output, Reporter};
use crate::plan::{dry_run, end_line};
use crate::record::{append_log, log_record};
use crate::send::{call_events, json_document, start};
use crate::session::Session;
use crate::{input, route};

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
    let overrides = Overrides::from(run);
    let session = Session::open(env, root)?;
    let router = session
        .wants_router(&overrides)
        .then(|| std::thread::spawn(session.router_builder()));
    let prompt = input::read_prompt(&run.prompt, run.file.as_deref())?;
    let router = router
        .map(|handle| handle.join())
        .transpose()
        .map_err(|_| anyhow::anyhow!("the router thread panicked"))?
        .transpose()?;
    let resolved = session.resolve(overrides, &prompt, router.as_ref())?;
    let settings = &resolved.settings;
    if run.engine && send {
        // `--engine`: bring codex-wrap's own engine up when nothing else can serve.
        let local_planned = settings.fallback
            || match settings.mode {
                RouteMode::Local => true,
                RouteMode::Auto => resolved
                    .decision
                    .as_ref()
                    .is_some_and(|d| d.route == route::Route::Local),
                RouteMode::Api | RouteMode::Codex => false,
            };
        crate::llama::ensure_for_call(settings, local_planned, report, terminal)?;
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
    let plan = resolved.plan(&request, report)?;
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
        // Held for one document: bounded while it streams, like the write face's answer.
        Output::buffered_limited(crate::files::MAX_ANSWER_BYTES)
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
    let over_limit = out.over_limit();
    let status = match &write_error {
        Some(_) => ExitStatus::Failure,
        None if over_limit => ExitStatus::Interrupted,
        None => transcript.exit_status(),
    };
    let record = log_record(&p, &transcript, clock.elapsed(), status, started);
    append_log(&p, &record, report);

    if run.json {
        let text = out.take_text();
        let error = match (&write_error, &result) {
            (Some(e), _) => Some(format!("cannot write the answer to stdout: {e}")),
            (None, _) if over_limit => Some(format!(
                "the answer is over {} MiB; the stream was stopped there (`text` holds its start)",
                crate::files::MAX_ANSWER_BYTES >> 20
            )),
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
            &json_document(
                &record,
                &text,
                error.as_deref(),
                truncated,
                &call_events(&p, &transcript),
            )
            .to_string(),
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
        // The engine's events were shown as they came, but the cut answer: after the end line.
        for event in &transcript.events {
            if matches!(event, Event::Truncated { .. }) {
                report.event(event);
            }
        }
    }
    Ok(ExitStatus::Success)
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
