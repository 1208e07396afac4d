//! Planning the attempts of a call (route order, disabled routes, backends) and describing
//! them: the `--dry-run` document and the stderr start and end lines.

use serde_json::json;

use crate::backend::{Endpoint, Messages, Provider};
use crate::config::env::names;
use crate::config::{EndpointSpec, Settings};
use crate::context::Selection;
use crate::error::{Error, Failure, FailureKind};
use crate::pool::Pool;
use crate::stream::{Attempt, Outcome, Route};

/// The attempts for a route, in order: the route's endpoints (healthy ones first, as the
/// pool orders them), then the other route's when fallback is allowed. Disabled routes are
/// left out; a route with nothing left is an error. `num_ctx`: the window this request
/// needs, when larger than the profile's.
pub fn plan(
    settings: &Settings,
    route: Route,
    pool: &mut Pool,
    num_ctx: Option<u64>,
) -> Result<Vec<Attempt>, Error> {
    let mut order = vec![route];
    if let (true, Some(other)) = (settings.fallback, other_route(route)) {
        order.push(other);
    }
    let mut skipped = Vec::new();
    let mut attempts = Vec::new();
    for (i, r) in order.into_iter().enumerate() {
        let disabled = match r {
            Route::Local => settings.local_disabled.then_some(names::DISABLE_LOCAL),
            Route::Api => settings.api_disabled.then_some(names::DISABLE_API),
            Route::Codex => None,
        };
        if let Some(var) = disabled {
            skipped.push(Failure::new(
                FailureKind::NotConfigured,
                format!("the {} route is disabled by {var}", r.as_str()),
            ));
            continue;
        }
        let mut endpoints = endpoints(settings, r);
        if let Some(n) = num_ctx {
            // The window this request needs (see `ollama::fit`), for this call only.
            for e in &mut endpoints {
                e.options.insert("num_ctx".to_owned(), serde_json::json!(n));
            }
        }
        let keys: Vec<String> = endpoints.iter().map(Endpoint::health_key).collect();
        for index in pool.order(r.as_str(), &keys, settings.pool.strategy) {
            let endpoint = &endpoints[index];
            let backend = endpoint.backend(&settings.root);
            // A fallback to the API needs a key; without one it is not worth an attempt.
            if i > 0 && backend.check_ready().is_err() {
                continue;
            }
            attempts.push(Attempt {
                route: r,
                endpoint: endpoint.name.clone(),
                health_key: keys[index].clone(),
                backend,
                deadline: settings.deadline(&settings.profile),
            });
        }
        if r == Route::Local {
            attempts.extend(engine_attempt(settings, &endpoints));
        }
    }
    if attempts.is_empty() {
        return Err(Error::NoRoute(skipped));
    }
    Ok(attempts)
}

/// The name of `codex-wrap engine`'s endpoint in plans, start lines and the run log.
pub const ENGINE_ENDPOINT: &str = "engine";

/// `codex-wrap engine`, while it runs: one more endpoint of the local route, after the
/// configured ones (unless one of them is the engine itself).
fn engine_attempt(settings: &Settings, configured: &[Endpoint]) -> Option<Attempt> {
    let engine = crate::llama::running(&settings.engine.state)?;
    let same = |url: &str| url.trim_end_matches('/') == engine.base_url.trim_end_matches('/');
    if configured.iter().any(|e| same(&e.url)) {
        return None;
    }
    let endpoint = Endpoint {
        name: ENGINE_ENDPOINT.to_owned(),
        provider: Provider::OpenAi,
        url: engine.base_url,
        command: Vec::new(),
        model: engine.model,
        key: None,
        options: settings.profile.options.clone(),
        keep_alive: None,
    };
    Some(Attempt {
        route: Route::Local,
        endpoint: endpoint.name.clone(),
        health_key: endpoint.health_key(),
        backend: endpoint.backend(&settings.root),
        deadline: settings.deadline(&settings.profile),
    })
}

/// The endpoints of a route with their models, in the listed order (`doctor`, `models`
/// and `warm` ask them all at once; `warm` loads the first that answers).
pub fn endpoints(settings: &Settings, route: Route) -> Vec<Endpoint> {
    settings
        .routes
        .get(route)
        .iter()
        .map(|spec| endpoint(settings, route, spec))
        .collect()
}

/// The route tried after this one when fallback is allowed.
fn other_route(route: Route) -> Option<Route> {
    match route {
        Route::Local => Some(Route::Api),
        Route::Api => Some(Route::Local),
        Route::Codex => None,
    }
}

/// An endpoint with its model and the profile's options: `--model` for the route taken
/// (or `OLLAMA_MODEL` on the local route) > the endpoint's own model > the profile's model
/// (local route), the Gemini model (API route) or none (codex route: `{model}` is empty).
pub fn endpoint(settings: &Settings, route: Route, spec: &EndpointSpec) -> Endpoint {
    let profile = &settings.profile;
    let model = match route {
        Route::Local => settings
            .local_model_override
            .clone()
            .or_else(|| spec.model.clone())
            .unwrap_or_else(|| profile.model.clone()),
        Route::Api => settings
            .api_model_override
            .clone()
            .or_else(|| spec.model.clone())
            .unwrap_or_else(|| settings.api_model.clone()),
        // A coding agent picks its own model unless one is named.
        Route::Codex => settings
            .codex_model_override
            .clone()
            .or_else(|| spec.model.clone())
            .unwrap_or_default(),
    };
    Endpoint {
        name: spec.name.clone(),
        provider: spec.provider,
        url: spec.url.clone(),
        command: spec.command.clone(),
        model,
        key: spec.key.clone(),
        options: profile.options.clone(),
        keep_alive: profile.keep_alive.clone(),
    }
}

pub fn dry_run(
    settings: &Settings,
    route: Route,
    attempts: &[Attempt],
    m: Messages<'_>,
    context: &Selection,
    pool: &Pool,
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
                "endpoint_name": a.endpoint,
                "health": pool.health(&a.health_key).describe(),
                "backend": a.backend.name(),
                "model": a.backend.model(),
                "endpoint": crate::http::redact(a.backend.endpoint()),
                "url": crate::http::redact(&req.url),
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
        "pool": settings.pool.strategy.as_str(),
        "attempts": attempts,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

pub fn start_line(settings: &Settings, attempts: &[Attempt]) -> String {
    let mut line = String::new();
    if let Some(first) = attempts.first() {
        line = format!(
            "{} · profile {} · {} · {}",
            first.route.as_str(),
            settings.profile.name,
            first.what(),
            crate::http::redact(first.backend.endpoint())
        );
    }
    if let Some(next) = attempts.get(1) {
        if next.endpoint == ENGINE_ENDPOINT {
            line.push_str(&format!(
                " (then codex-wrap engine: {} at {})",
                next.backend.model(),
                next.backend.endpoint()
            ));
        } else {
            line.push_str(&format!(" (fallback: {})", next.label()));
        }
    } else if let (true, Some(first)) = (settings.fallback, attempts.first()) {
        // The fallback was planned out because it cannot work: say why, once, up front.
        if let Some(other) = other_route(first.route) {
            let why = settings.routes.get(other).iter().find_map(|spec| {
                endpoint(settings, other, spec)
                    .backend(&settings.root)
                    .check_ready()
                    .err()
            });
            if let Some(f) = why {
                line.push_str(&format!(" (no {} fallback: {f})", other.as_str()));
            }
        }
    }
    line
}

pub fn end_line(o: &Outcome) -> String {
    let mut parts = vec![format!("done via {}", o.attempt)];
    if let Some(served) = &o.served_model {
        parts.push(format!(
            "served by {served} (the server's name for the model)"
        ));
    }
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

/// The route table is the configuration's; which route is which is the planner's.
impl crate::config::Routes {
    /// The endpoints of a route.
    pub fn get(&self, route: Route) -> &[EndpointSpec] {
        match route {
            Route::Local => &self.local,
            Route::Api => &self.api,
            Route::Codex => &self.codex,
        }
    }
}
