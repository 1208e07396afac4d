//! Planning the attempts of a call (route order, disabled routes, backends) and describing
//! them: the `--dry-run` document and the stderr start and end lines.

use serde_json::json;

use crate::backend::gemini::Gemini;
use crate::backend::ollama::Ollama;
use crate::backend::openai::OpenAi;
use crate::backend::{Backend, Messages};
use crate::config::env::names;
use crate::config::{BackendKind, Settings};
use crate::context::Selection;
use crate::error::{Error, Failure, FailureKind};
use crate::stream::{Attempt, Outcome, Route};

/// The attempts for a route, in order: the route itself, then the other one when fallback
/// is allowed. Disabled routes are left out; a route with nothing left is an error.
pub(crate) fn plan(settings: &Settings, route: Route) -> Result<Vec<Attempt>, Error> {
    let other = match route {
        Route::Local => Route::Api,
        Route::Api => Route::Local,
    };
    let mut order = vec![route];
    if settings.fallback {
        order.push(other);
    }
    let mut skipped = Vec::new();
    let mut attempts = Vec::new();
    for (i, r) in order.into_iter().enumerate() {
        let disabled = match r {
            Route::Local => settings.local_disabled.then_some(names::DISABLE_LOCAL),
            Route::Api => settings.api_disabled.then_some(names::DISABLE_API),
        };
        if let Some(var) = disabled {
            skipped.push(Failure::new(
                FailureKind::NotConfigured,
                format!("the {} route is disabled by {var}", r.as_str()),
            ));
            continue;
        }
        let backend = backend_for(settings, r);
        // A fallback to the API needs a key; without one it is not worth an attempt.
        if i > 0 && backend.check_ready().is_err() {
            continue;
        }
        attempts.push(Attempt {
            route: r,
            backend,
            deadline: settings.deadline(&settings.profile),
        });
        if r == Route::Local {
            attempts.extend(engine_attempt(settings, attempts.last()));
        }
    }
    if attempts.is_empty() {
        return Err(Error::NoRoute(skipped));
    }
    Ok(attempts)
}

/// `codex-wrap engine`, while it runs: one more endpoint of the local route, after the
/// configured one (unless that is the engine itself).
fn engine_attempt(settings: &Settings, configured: Option<&Attempt>) -> Option<Attempt> {
    let engine = crate::llama::running(&settings.engine.state)?;
    if configured.is_some_and(|a| a.backend.endpoint() == engine.base_url) {
        return None;
    }
    Some(Attempt {
        route: Route::Local,
        backend: Box::new(OpenAi {
            base_url: engine.base_url,
            model: engine.model,
            key: None,
            options: settings.profile.options.clone(),
        }),
        deadline: settings.deadline(&settings.profile),
    })
}

fn backend_for(settings: &Settings, route: Route) -> Box<dyn Backend> {
    let profile = &settings.profile;
    let kind = match route {
        Route::Local => settings.local_backend,
        Route::Api => settings.api_backend,
    };
    if kind == BackendKind::OpenAi {
        let model = match route {
            Route::Local => settings
                .local_model_override
                .clone()
                .or_else(|| settings.openai.model.clone())
                .unwrap_or_else(|| profile.model.clone()),
            Route::Api => settings
                .openai
                .model
                .clone()
                .unwrap_or_else(|| settings.gemini.model.clone()),
        };
        return Box::new(OpenAi {
            base_url: settings.openai.base_url.clone(),
            model,
            key: settings.openai.key.clone(),
            options: profile.options.clone(),
        });
    }
    match route {
        Route::Local => Box::new(Ollama {
            url: settings.ollama_url.clone(),
            model: settings
                .local_model_override
                .clone()
                .unwrap_or_else(|| profile.model.clone()),
            options: profile.options.clone(),
            keep_alive: profile.keep_alive.clone(),
        }),
        Route::Api => Box::new(Gemini {
            base_url: settings.gemini.base_url.clone(),
            model: settings.gemini.model.clone(),
            key: settings.gemini.key.clone(),
            options: profile.options.clone(),
        }),
    }
}

pub(crate) fn dry_run(
    settings: &Settings,
    route: Route,
    attempts: &[Attempt],
    m: Messages<'_>,
    context: &Selection,
) -> String {
    let attempts: Vec<_> = attempts
        .iter()
        .map(|a| {
            let req = a.backend.build(m);
            let headers: serde_json::Map<String, serde_json::Value> = req
                .headers
                .iter()
                .map(|h| {
                    let shown = if h.secret {
                        "(redacted)"
                    } else {
                        h.value.as_str()
                    };
                    (h.name.to_owned(), json!(shown))
                })
                .collect();
            json!({
                "route": a.route.as_str(),
                "backend": a.backend.name(),
                "model": a.backend.model(),
                "endpoint": a.backend.endpoint(),
                "url": req.url,
                "deadline_secs": a.deadline.as_secs_f64(),
                "headers": headers,
                "body": req.body,
            })
        })
        .collect();
    let doc = json!({
        "route": route.as_str(),
        "profile": settings.profile.name,
        "model": attempts.first().map(|a| a["model"].clone()),
        "endpoint": attempts.first().map(|a| a["url"].clone()),
        "context": {
            "budget": context.budget,
            "sections": context.chosen,
        },
        "attempts": attempts,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

pub(crate) fn start_line(settings: &Settings, attempts: &[Attempt]) -> String {
    let mut line = String::new();
    if let Some(first) = attempts.first() {
        line = format!(
            "{} · profile {} · {} {} · {}",
            first.route.as_str(),
            settings.profile.name,
            first.backend.name(),
            first.backend.model(),
            first.backend.endpoint()
        );
    }
    let engine = crate::llama::running(&settings.engine.state);
    if let Some(next) = attempts.get(1) {
        match &engine {
            Some(e) if next.backend.endpoint() == e.base_url => line.push_str(&format!(
                " (then codex-wrap engine: {} at {})",
                e.model, e.base_url
            )),
            _ => line.push_str(&format!(" (fallback: {})", next.label())),
        }
    } else if let (true, Some(first)) = (settings.fallback, attempts.first()) {
        // The fallback was planned out because it cannot work: say why, once, up front.
        let other = match first.route {
            Route::Local => Route::Api,
            Route::Api => Route::Local,
        };
        if let Err(f) = backend_for(settings, other).check_ready() {
            line.push_str(&format!(" (no {} fallback: {f})", other.as_str()));
        }
    }
    line
}

pub(crate) fn end_line(o: &Outcome) -> String {
    let mut parts = vec![format!("done via {}", o.attempt)];
    if let Some(t) = o.first_token {
        parts.push(format!("first token {:.2}s", t.as_secs_f64()));
    }
    parts.push(format!("total {:.2}s", o.total.as_secs_f64()));
    if let (Some(i), Some(out)) = (o.usage.prompt_tokens, o.usage.completion_tokens) {
        parts.push(format!("{i} in / {out} out"));
        if let Some(rate) = o.tokens_per_sec() {
            parts.push(format!("{rate:.1} tok/s"));
        }
    } else {
        parts.push(format!("{} bytes", o.bytes));
    }
    parts.join(" · ")
}
