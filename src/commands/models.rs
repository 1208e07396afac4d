//! `codex-wrap models` (what the local route's servers have) and `codex-wrap warm` (load a
//! profile's model now, on the endpoint a call would use, so the next call has no cold
//! start). A route of several endpoints is asked all at once, as `doctor` asks it.

use std::time::{Duration, Instant};

use futures_util::future::join_all;
use serde_json::json;

use std::path::Path;

use crate::backend::{Backend, ModelInfo, has_model, same_model};
use crate::cli::WarmArgs;
use crate::config::env::Env;
use crate::config::{self, Overrides, Settings};
use crate::error::{Error, ExitStatus, Failure, FailureKind};
use crate::output::{Output, Reporter, human_size};
use crate::stream::Route;

use super::reach::{Said, at};
use super::{block_on, secs, table};

/// Longest wait for `models`, and for `warm`'s look at which endpoint answers.
const LIST_LIMIT: Duration = Duration::from_secs(10);
/// Default longest wait for `warm`: a cold load of a large model from disk can take minutes.
const WARM_LIMIT: Duration = Duration::from_secs(300);

/// One endpoint of the local route, with its backend.
struct Local {
    name: String,
    backend: Box<dyn Backend>,
}

/// The local route's endpoints, in route order: what `models` and `warm` talk to.
fn local_endpoints(settings: &Settings) -> Result<Vec<Local>, Error> {
    let locals: Vec<Local> = crate::plan::endpoints(settings, Route::Local)
        .into_iter()
        .map(|e| Local {
            backend: e.backend(&settings.root),
            name: e.name,
        })
        .collect();
    if locals.is_empty() {
        return Err(Error::Config(
            "the local route lists no endpoint".to_owned(),
        ));
    }
    Ok(locals)
}

/// `f`, labelled with the endpoint it came from (`ollama http://…`; with its name first,
/// `ollama-2 (ollama http://…)`, when the route has several) and the advice for a server
/// that does not answer.
fn labelled(local: &Local, several: bool, mut f: Failure) -> Failure {
    let at = format!(
        "{} {}",
        local.backend.name(),
        crate::http::redact(local.backend.endpoint())
    );
    f.attempt = if several {
        format!("{} ({at})", local.name)
    } else {
        at
    };
    if f.kind == FailureKind::Unreachable
        && let Some(hint) = local
            .backend
            .unreachable_hint()
            .filter(|_| f.hint.is_none())
    {
        f = f.with_hint(hint);
    }
    f
}

/// `codex-wrap models`: every endpoint of the local route is asked at once; those that
/// answer are listed (by endpoint when there are several), those that do not are one
/// warning each. Fails only when none answers.
pub(crate) fn models(
    json: bool,
    env: &Env,
    root: &Path,
    report: Reporter,
) -> anyhow::Result<ExitStatus> {
    let settings = &config::resolve(Overrides::default(), env, root)?;
    let client = &crate::http::client(settings.timeouts.connect, Some(LIST_LIMIT))?;
    let locals = local_endpoints(settings)?;
    let several = locals.len() > 1;
    let listed = block_on(join_all(
        locals.iter().map(|l| l.backend.list_models(client)),
    ))?;
    let mut answered: Vec<(&Local, Vec<ModelInfo>)> = Vec::new();
    let mut failures = Vec::new();
    for (local, result) in locals.iter().zip(listed) {
        match result {
            Ok(mut models) => {
                models.sort_by(|a, b| a.name.cmp(&b.name));
                answered.push((local, models));
            }
            Err(f) => failures.push((local, labelled(local, several, f))),
        }
    }
    if answered.is_empty() {
        let failures = failures.into_iter().map(|(_, f)| f).collect();
        return Err(Error::NoRoute(failures).into());
    }
    for (_, f) in &failures {
        report.warn(&f.to_string());
    }
    let used_by = |name: &str| -> Vec<String> {
        settings
            .profiles
            .values()
            .filter(|p| same_model(name, &p.model))
            .map(|p| p.name.clone())
            .collect()
    };
    let entries = answered
        .iter()
        .flat_map(|(l, models)| models.iter().map(move |m| (l.name.as_str(), m)));
    if json {
        let list: Vec<_> = entries
            .map(|(endpoint, m)| {
                let mut entry = json!({
                    "name": m.name,
                    "size": m.size,
                    "modified_at": m.modified_at,
                    "profiles": used_by(&m.name),
                });
                if several {
                    entry["endpoint"] = json!(endpoint);
                }
                entry
            })
            .collect();
        let mut doc = json!({ "models": list });
        if several {
            // Every endpoint in route order: how many models it listed, or why it did not.
            let endpoints: Vec<_> = locals
                .iter()
                .map(|l| {
                    let mut e = json!({
                        "endpoint": l.name,
                        "url": crate::http::redact(l.backend.endpoint()),
                    });
                    match answered.iter().find(|(a, _)| std::ptr::eq(*a, l)) {
                        Some((_, models)) => e["models"] = json!(models.len()),
                        None => {
                            if let Some((_, f)) = failures.iter().find(|(a, _)| std::ptr::eq(*a, l))
                            {
                                e["error"] = json!(f.to_string());
                            }
                        }
                    }
                    e
                })
                .collect();
            doc["endpoints"] = json!(endpoints);
        }
        Output::print_document(&doc.to_string())?;
    } else {
        let mut header = vec![
            "NAME".to_owned(),
            "SIZE".to_owned(),
            "MODIFIED".to_owned(),
            "PROFILES".to_owned(),
        ];
        if several {
            header.insert(0, "ENDPOINT".to_owned());
        }
        let mut rows = vec![header];
        for (endpoint, m) in entries {
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
            let mut row = vec![m.name.clone(), size, modified, used_by(&m.name).join(", ")];
            if several {
                row.insert(0, endpoint.to_owned());
            }
            rows.push(row);
        }
        Output::print_document(&table(&rows))?;
    }
    // A profile model missing from every endpoint that answered (and pulls its models) is
    // named as today; missing from some of them, with the endpoints that lack it.
    for p in settings.profiles.values() {
        let pulls: Vec<_> = answered
            .iter()
            .filter_map(|(l, models)| Some((l, models, l.backend.pull_hint(&p.model)?)))
            .collect();
        let missing: Vec<_> = pulls
            .iter()
            .filter(|(_, models, _)| !has_model(models, &p.model))
            .collect();
        let Some((_, _, hint)) = missing.first() else {
            continue;
        };
        let on = if missing.len() < pulls.len() {
            let names: Vec<&str> = missing.iter().map(|(l, _, _)| l.name.as_str()).collect();
            format!(" on {}", names.join(", "))
        } else {
            String::new()
        };
        report.warn(&format!(
            "profile '{}' uses {}, which is not pulled{on}: {hint}",
            p.name, p.model
        ));
    }
    Ok(ExitStatus::Success)
}

/// What `warm` learnt of one endpoint before loading anything.
/// The endpoint `warm` loads: the one a call would get its answer from, the first in
/// route order that answers and does not say the model is missing (else the first that
/// answers, whose load then says what is missing). Every endpoint is asked at once;
/// which one, and what is wrong with those before it, goes to stderr. `None` of them
/// answering is the error of each.
fn answering(
    locals: Vec<Local>,
    client: &reqwest::Client,
    report: Reporter,
) -> anyhow::Result<Local> {
    let probes = block_on(join_all(
        locals.iter().map(|l| Said::ask(l.backend.as_ref(), client)),
    ))?;
    let chosen = probes
        .iter()
        .position(Said::usable)
        .or_else(|| probes.iter().position(|p| p.reach.is_ok()));
    let Some(chosen) = chosen else {
        let failures = locals
            .iter()
            .zip(probes)
            .filter_map(|(l, p)| p.reach.err().map(|f| labelled(l, true, f)))
            .collect();
        return Err(Error::NoRoute(failures).into());
    };
    let skipped: Vec<String> = locals
        .iter()
        .zip(&probes)
        .take(chosen)
        .map(|(l, p)| {
            let at = at(&l.name, l.backend.as_ref());
            match &p.reach {
                Err(f) => format!("{at}: {}", f.message),
                Ok(_) => format!("{at} has no {}", l.backend.model()),
            }
        })
        .collect();
    let local = locals
        .into_iter()
        .nth(chosen)
        .expect("the chosen endpoint is one of them");
    let mut line = format!(
        "warming {}, the endpoint of the local route a call would use",
        at(&local.name, local.backend.as_ref())
    );
    if !skipped.is_empty() {
        line.push_str(&format!("; skipped {}", skipped.join("; ")));
    }
    report.status(&line);
    Ok(local)
}

/// `codex-wrap warm`.
pub(crate) fn warm(
    args: &WarmArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
) -> anyhow::Result<ExitStatus> {
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
    let mut locals = local_endpoints(settings)?;
    let several = locals.len() > 1;
    let local = if several {
        let probe = crate::http::client(settings.timeouts.connect, Some(limit.min(LIST_LIMIT)))?;
        answering(locals, &probe, report)?
    } else {
        locals.remove(0)
    };
    let backend = &local.backend;
    let keep_alive = match &args.keep_alive {
        Some(v) => Some(match v.trim().parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => json!(v.trim()),
        }),
        None => profile.keep_alive.clone(),
    };
    let started = Instant::now();
    let warmed = block_on(backend.warm(&client, keep_alive.as_ref()))?
        .map_err(|f| Error::NoRoute(vec![labelled(&local, several, f)]))?;
    let Some(loaded) = warmed else {
        let (name, base) = (backend.name(), crate::http::redact(backend.endpoint()));
        let doc = if args.json {
            let mut doc =
                json!({"backend": name, "endpoint": base, "warmed": false, "ready": true});
            if several {
                doc["endpoint_name"] = json!(local.name);
            }
            doc.to_string()
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
        let mut doc = json!({
            "profile": profile.name,
            "model": model,
            "seconds": (took.as_secs_f64() * 1000.0).round() / 1000.0,
            "load_seconds": loaded.load_seconds,
            "done_reason": loaded.done_reason,
            "keep_alive": keep_alive,
        });
        if several {
            doc["endpoint_name"] = json!(local.name);
        }
        doc.to_string()
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
