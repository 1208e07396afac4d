//! The run-log record of a call that was sent, built from its plan and transcript, and its
//! append: one place for every face (the command line, `--write`, MCP `delegate`).

use std::time::SystemTime;

use crate::engine::{Plan, Transcript};
use crate::error::ExitStatus;
use crate::output::Reporter;
use crate::runlog;
use crate::stream::Outcome;

/// Appends a call's record to the run log, if there is one; a failure is a warning.
pub fn append_log(p: &Plan, record: &runlog::Record, report: Reporter) {
    if let Some(path) = &p.settings.log.file
        && let Err(e) = runlog::append(&p.settings.log.base, path, record)
    {
        report.warn(&format!("cannot write the run log {}: {e}", path.display()));
    }
}

/// Every event of a call: planning's (context dropped, routed to the API), then the
/// engine's, in order.
pub fn call_events(p: &Plan, t: &Transcript) -> Vec<crate::event::Event> {
    p.events.iter().chain(&t.events).cloned().collect()
}

/// The run-log record of a call that was sent, from its transcript (also the MCP
/// `delegate` tool's record).
pub fn log_record(
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
        events: call_events(p, t)
            .iter()
            .filter_map(|e| serde_json::to_value(e).ok())
            .collect(),
    }
}
