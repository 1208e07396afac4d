//! `codex-wrap models` (what the local server has) and `codex-wrap warm` (load a profile's
//! model now, so the next call has no cold start).

use std::time::{Duration, Instant};

use serde_json::json;

use crate::admin;
use std::path::Path;

use crate::backend::Provider as BackendKind;
use crate::cli::{RunArgs, WarmArgs};
use crate::config::env::Env;
use crate::config::{self, Settings};
use crate::error::{Error, ExitStatus, Failure};
use crate::output::{Output, Reporter};

use super::{block_on, secs, table};

/// Longest wait for `models`.
const LIST_LIMIT: Duration = Duration::from_secs(10);
/// Default longest wait for `warm`: a cold load of a large model from disk can take minutes.
const WARM_LIMIT: Duration = Duration::from_secs(300);

fn local_failure(settings: &Settings, mut f: Failure) -> Error {
    f.attempt = match settings.local_backend {
        BackendKind::OpenAi => format!("openai {}", settings.openai.base_url),
        _ => format!("ollama {}", settings.ollama_url),
    };
    if f.kind == crate::error::FailureKind::Unreachable
        && settings.local_backend != BackendKind::OpenAi
    {
        f = f.with_hint(crate::backend::ollama::unreachable_hint(
            &settings.ollama_url,
        ));
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
    let settings = &config::resolve(&RunArgs::default(), env, root)?;
    let client = admin::client(LIST_LIMIT, settings.timeouts.connect);
    let listed = block_on(async {
        match settings.local_backend {
            BackendKind::OpenAi => {
                admin::openai_models(
                    &client,
                    &settings.openai.base_url,
                    settings.openai.key.as_ref(),
                )
                .await
            }
            _ => admin::ollama_models(&client, &settings.ollama_url).await,
        }
    })?;
    let mut models = listed.map_err(|f| local_failure(settings, f))?;
    models.sort_by(|a, b| a.name.cmp(&b.name));
    let used_by = |name: &str| -> Vec<String> {
        settings
            .profiles
            .values()
            .filter(|p| admin::same_model(name, &p.model))
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
                admin::human_size(m.size)
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
    if settings.local_backend == BackendKind::Ollama {
        for p in settings.profiles.values() {
            if !admin::has_model(&models, &p.model) {
                report.warn(&format!(
                    "profile '{}' uses {}, which is not pulled: ollama pull {}",
                    p.name, p.model, p.model
                ));
            }
        }
    }
    Ok(ExitStatus::Success)
}

/// `codex-wrap warm`.
pub(crate) fn warm(args: &WarmArgs, env: &Env, root: &Path) -> anyhow::Result<ExitStatus> {
    let run = RunArgs {
        profile: args.profile.clone(),
        local: true,
        ..RunArgs::default()
    };
    let settings = &config::resolve(&run, env, root)?;
    let profile = &settings.profile;
    let model = settings
        .local_model_override
        .clone()
        .unwrap_or_else(|| profile.model.clone());
    let limit = args.timeout.map_or(WARM_LIMIT, |t| t.0);
    let client = admin::client(limit, settings.timeouts.connect);
    if settings.local_backend == BackendKind::OpenAi {
        let base = &settings.openai.base_url;
        block_on(admin::openai_models(
            &client,
            base,
            settings.openai.key.as_ref(),
        ))?
        .map_err(|f| local_failure(settings, f))?;
        let text = format!(
            "the local route is an OpenAI-compatible server at {base}; it loads its model when it starts, so there is nothing to warm (it answers)"
        );
        let doc = if args.json {
            json!({"backend": "openai", "endpoint": base, "warmed": false, "ready": true})
                .to_string()
        } else {
            text
        };
        Output::print_document(&doc)?;
        return Ok(ExitStatus::Success);
    }
    let keep_alive = match &args.keep_alive {
        Some(v) => Some(match v.trim().parse::<i64>() {
            Ok(n) => json!(n),
            Err(_) => json!(v.trim()),
        }),
        None => profile.keep_alive.clone(),
    };
    let started = Instant::now();
    let loaded = block_on(admin::ollama_load(
        &client,
        &settings.ollama_url,
        &model,
        keep_alive.as_ref(),
    ))?
    .map_err(|mut f| {
        if f.message.contains("HTTP 404") {
            f = f.with_hint(format!("run: ollama pull {model}"));
        }
        local_failure(settings, f)
    })?;
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
