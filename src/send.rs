//! What the faces that send share: the start of a call (start line, runtime, client,
//! spinner) and the `--json` document.

use anyhow::Context;
use serde_json::json;

use crate::engine::Plan;
use crate::event::Event;
use crate::output::Reporter;
use crate::plan::start_line;
use crate::runlog;
use crate::stream::Attempt;

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

/// The `--json` document: the text and what produced it, or the error.
pub(crate) fn json_document(
    r: &runlog::Record,
    text: &str,
    error: Option<&str>,
    truncated: bool,
    events: &[Event],
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
        "events": events,
        "fallbacks": r.fallbacks,
        "attempts": attempts,
    });
    if let (Some(e), Some(map)) = (error, doc.as_object_mut()) {
        map.insert("error".to_owned(), json!(e));
    }
    doc
}

pub(crate) use crate::record::call_events;
