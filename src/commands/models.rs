//! `codex-wrap models` (what the local server has) and `codex-wrap warm` (load a profile's
//! model now, so the next call has no cold start).

use std::time::{Duration, Instant};

use serde_json::json;

use std::path::Path;

use crate::backend::{Backend, has_model, same_model};
use crate::cli::WarmArgs;
use crate::config::env::Env;
use crate::config::{self, Overrides, Settings};
use crate::error::{Error, ExitStatus, Failure};
use crate::output::{Output, Reporter, human_size};

use super::{block_on, secs, table};

/// Longest wait for `models`.
const LIST_LIMIT: Duration = Duration::from_secs(10);
/// Default longest wait for `warm`: a cold load of a large model from disk can take minutes.
const WARM_LIMIT: Duration = Duration::from_secs(300);

/// The local route's first endpoint: what `models` and `warm` talk to.
fn local_backend(settings: &Settings) -> Result<Box<dyn Backend>, Error> {
    crate::plan::endpoints(settings, crate::stream::Route::Local)
        .first()
        .map(|e| e.backend(&settings.root))
        .ok_or_else(|| Error::Config("the local route lists no endpoint".to_owned()))
}

fn local_failure(backend: &dyn Backend, mut f: Failure) -> Error {
    f.attempt = format!(
        "{} {}",
        backend.name(),
        crate::http::redact(backend.endpoint())
    );
    if f.kind == crate::error::FailureKind::Unreachable
        && let Some(hint) = backend.unreachable_hint().filter(|_| f.hint.is_none())
    {
        f = f.with_hint(hint);
    }
    Error::NoRoute(vec![f])
}

/// `codex-wrap models`.
pub(crate) fn models(
    json: bool,
    env: &Env,
    root: &Path,
    report: Reporter,
) -> anyhow::Result<ExitStatus> {
    let settings = &config::resolve(Overrides::default(), env, root)?;
    let client = crate::http::client(settings.timeouts.connect, Some(LIST_LIMIT))?;
    let backend = local_backend(settings)?;
    let listed = block_on(backend.list_models(&client))?;
    let mut models = listed.map_err(|f| local_failure(backend.as_ref(), f))?;
    models.sort_by(|a, b| a.name.cmp(&b.name));
    let used_by = |name: &str| -> Vec<String> {
        settings
            .profiles
            .values()
            .filter(|p| same_model(name, &p.model))
            .map(|p| p.name.clone())
            .collect()
    };
    if json {
        let list: Vec<_> = models
            .iter()
            .map(|m| {
                json!({
                    "name": m.name,
                    "size": m.size,
                    "modified_at": m.modified_at,
                    "profiles": used_by(&m.name),
                })
            })
            .collect();
        Output::print_document(&json!({ "models": list }).to_string())?;
    } else {
        let mut rows = vec![vec![
            "NAME".to_owned(),
            "SIZE".to_owned(),
            "MODIFIED".to_owned(),
            "PROFILES".to_owned(),
        ]];
        for m in &models {
            let modified = m
                .modified_at
                .get(..16)
                .unwrap_or(&m.modified_at)
                .replace('T', " ");
            let size = if m.size > 0 {
                human_size(m.size)
            } else {
                "-".to_owned()
            };
            rows.push(vec![
                m.name.clone(),
                size,
                modified,
                used_by(&m.name).join(", "),
            ]);
        }
        Output::print_document(&table(&rows))?;
    }
    for p in settings.profiles.values() {
        if let (false, Some(hint)) = (has_model(&models, &p.model), backend.pull_hint(&p.model)) {
            report.warn(&format!(
                "profile '{}' uses {}, which is not pulled: {hint}",
                p.name, p.model
            ));
        }
    }
    Ok(ExitStatus::Success)
}

/// `codex-wrap warm`.
pub(crate) fn warm(args: &WarmArgs, env: &Env, root: &Path) -> anyhow::Result<ExitStatus> {
    let overrides = Overrides {
        profile: args.profile.clone(),
        local: true,
        ..Overrides::default()
    };
    let settings = &config::resolve(&overrides, env, root)?;
    let profile = &settings.profile;
    let model = settings
        .local_model_override
        .clone()
        .unwrap_or_else(|| profile.model.clone());
    let limit = args.timeout.map_or(WARM_LIMIT, |t| t.0);
    let client = crate::http::client(settings.timeouts.connect, Some(limit))?;
    let backend = local_backend(settings)?;
    let keep_alive = match &args.keep_alive {
        Some(v) => Some(match v.trim().parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => json!(v.trim()),
        }),
        None => profile.keep_alive.clone(),
    };
    let started = Instant::now();
    let warmed = block_on(backend.warm(&client, keep_alive.as_ref()))?
        .map_err(|f| local_failure(backend.as_ref(), f))?;
    let Some(loaded) = warmed else {
        let (name, base) = (backend.name(), crate::http::redact(backend.endpoint()));
        let doc = if args.json {
            json!({"backend": name, "endpoint": base, "warmed": false, "ready": true}).to_string()
        } else {
            format!(
                "the local route is a {name} endpoint at {base}; it loads its model when it starts, so there is nothing to warm (it answers)"
            )
        };
        Output::print_document(&doc)?;
        return Ok(ExitStatus::Success);
    };
    let took = started.elapsed();
    let keep = keep_alive.as_ref().map_or_else(
        || "Ollama's default (5m)".to_owned(),
        |v| match v {
            serde_json::Value::String(s) => s.clone(),
            other => other.to_string(),
        },
    );
    let doc = if args.json {
        json!({
            "profile": profile.name,
            "model": model,
            "seconds": (took.as_secs_f64() * 1000.0).round() / 1000.0,
            "load_seconds": loaded.load_seconds,
            "done_reason": loaded.done_reason,
            "keep_alive": keep_alive,
        })
        .to_string()
    } else {
        let server = loaded
            .load_seconds
            .map(|s| format!(" (load_duration {s:.2}s)"))
            .unwrap_or_default();
        format!(
            "warmed {model} (profile {}) in {}{server}; kept loaded for {keep}",
            profile.name,
            secs(took)
        )
    };
    Output::print_document(&doc)?;
    Ok(ExitStatus::Success)
}
