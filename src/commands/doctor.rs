//! `codex-wrap doctor`: is the set-up able to answer, and if not, what to do.
//!
//! Every network probe runs at once under a short limit, so the whole check answers in
//! well under a second when nothing is up. Exit 0 when the default route can work, 4 when
//! it cannot, 3 when the configuration does not load.

use std::path::Path;
use std::time::Duration;

use serde::Serialize;
use serde_json::json;

use crate::admin::{self, LocalModel};
use crate::cli::{DoctorArgs, RunArgs};
use crate::config::env::{Env, names};
use crate::config::{self, BackendKind, Settings};
use crate::error::{ExitStatus, Failure};
use crate::output::Output;

/// Longest wait for each probe.
const PROBE_LIMIT: Duration = Duration::from_millis(800);
const PROBE_CONNECT: Duration = Duration::from_millis(500);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
enum Status {
    Ok,
    Warn,
    Fail,
    Skip,
}

impl Status {
    fn mark(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warn => "warn",
            Status::Fail => "FAIL",
            Status::Skip => "skip",
        }
    }
}

#[derive(Debug, Serialize)]
struct Check {
    check: &'static str,
    status: Status,
    detail: String,
}

struct Report {
    checks: Vec<Check>,
}

impl Report {
    fn add(&mut self, check: &'static str, status: Status, detail: impl Into<String>) {
        self.checks.push(Check {
            check,
            status,
            detail: detail.into(),
        });
    }
}

/// What the network said.
struct Probes {
    local: Result<String, Failure>,
    models: Option<Result<Vec<LocalModel>, Failure>>,
    api: Option<Result<String, Failure>>,
}

async fn probe(settings: &Settings, online: bool) -> Probes {
    let client = admin::client(PROBE_LIMIT, PROBE_CONNECT);
    let local = async {
        match settings.local_backend {
            BackendKind::OpenAi => admin::openai_models(
                &client,
                &settings.openai.base_url,
                settings.openai.key.as_ref(),
            )
            .await
            .map(|models| {
                let names: Vec<String> = models.into_iter().map(|m| m.name).collect();
                format!("answers; serves {}", names.join(", "))
            }),
            _ => admin::ollama_version(&client, &settings.ollama_url)
                .await
                .map(|v| format!("Ollama {v}")),
        }
    };
    let models = async {
        match settings.local_backend {
            BackendKind::Ollama => Some(admin::ollama_models(&client, &settings.ollama_url).await),
            _ => None,
        }
    };
    let api = async {
        if !online {
            return None;
        }
        Some(match settings.api_backend {
            BackendKind::OpenAi => admin::openai_models(
                &client,
                &settings.openai.base_url,
                settings.openai.key.as_ref(),
            )
            .await
            .map(|m| format!("{} models listed", m.len())),
            _ => match &settings.gemini.key {
                Some(key) => {
                    admin::gemini_model(
                        &client,
                        &settings.gemini.base_url,
                        &settings.gemini.model,
                        key,
                    )
                    .await
                }
                None => return None,
            },
        })
    };
    let (local, models, api) = tokio::join!(local, models, api);
    Probes { local, models, api }
}

/// `codex-wrap doctor`.
pub(crate) fn doctor(args: &DoctorArgs, env: &Env, root: &Path) -> anyhow::Result<ExitStatus> {
    let mut r = Report { checks: Vec::new() };
    let user = config::user_config_path(env);
    let project = root.join("profiles.toml");
    let mut layers = vec!["built-in".to_owned()];
    for (what, path) in [
        ("user", user.as_deref()),
        ("project", Some(project.as_path())),
    ] {
        if let Some(path) = path {
            let found = if path.is_file() {
                "loaded"
            } else {
                "not found"
            };
            layers.push(format!("{what} {} ({found})", path.display()));
        }
    }
    r.add("root", Status::Ok, root.display().to_string());
    let settings = match config::resolve(&RunArgs::default(), env, root) {
        Ok(s) => {
            r.add("config", Status::Ok, layers.join(" < "));
            s
        }
        Err(e) => {
            r.add("config", Status::Fail, e.to_string());
            return finish(
                r,
                args.json,
                ExitStatus::Config,
                "the configuration does not load",
            );
        }
    };
    context_checks(&mut r, &settings);

    let probes = super::block_on(probe(&settings, args.online))?;
    let local_ok = local_checks(&mut r, &settings, &probes);
    // The engine serves the local route when the configured endpoint does not.
    let (engine_up, engine) = crate::llama::doctor_row(&settings.engine);
    let engine_status = if engine_up { Status::Ok } else { Status::Skip };
    r.add("engine", engine_status, engine);
    let local_ok = local_ok || (engine_up && !settings.local_disabled);
    let api_ok = api_checks(&mut r, &settings, env, &probes);

    r.add(
        "routes",
        Status::Ok,
        format!(
            "local → {}, api → {}; an unflagged call falls back between them",
            settings.local_backend.as_str(),
            settings.api_backend.as_str()
        ),
    );
    log_check(&mut r, &settings);

    let default_route = if settings.local_disabled {
        "api"
    } else {
        "local"
    };
    let default_ok = if settings.local_disabled {
        api_ok
    } else {
        local_ok
    };
    let verdict = match (default_ok, local_ok || api_ok) {
        (true, _) => format!(
            "the default route ({default_route}) is ready{}",
            if local_ok && api_ok {
                ", with the other as fallback"
            } else {
                ""
            }
        ),
        (false, true) => format!(
            "the default route ({default_route}) cannot work; calls will only succeed through the fallback"
        ),
        (false, false) => format!("the default route ({default_route}) cannot work, nor any other"),
    };
    let status = if default_ok {
        ExitStatus::Success
    } else {
        ExitStatus::Unavailable
    };
    finish(r, args.json, status, &verdict)
}

fn context_checks(r: &mut Report, settings: &Settings) {
    let mut warnings = Vec::new();
    let docs = crate::context::load(&settings.root, &settings.context.files, &mut warnings);
    let found: Vec<String> = docs
        .iter()
        .map(|d| {
            let sections = d.sections.iter().filter(|s| s.level > 0).count();
            format!("{} ({sections} sections)", d.name)
        })
        .collect();
    let mut detail = if found.is_empty() {
        "none found".to_owned()
    } else {
        found.join(", ")
    };
    for w in &warnings {
        detail.push_str(&format!("; {w}"));
    }
    let status = if found.is_empty() {
        Status::Warn
    } else {
        Status::Ok
    };
    r.add("context", status, detail);
}

fn local_checks(r: &mut Report, settings: &Settings, probes: &Probes) -> bool {
    let endpoint = match settings.local_backend {
        BackendKind::OpenAi => settings.openai.base_url.clone(),
        _ => settings.ollama_url.clone(),
    };
    if settings.local_disabled {
        r.add(
            "local",
            Status::Skip,
            format!("disabled by {}", names::DISABLE_LOCAL),
        );
        return false;
    }
    let up = match &probes.local {
        Ok(what) => {
            r.add("local", Status::Ok, format!("{endpoint}: {what}"));
            true
        }
        Err(f) => {
            let hint = if settings.local_backend == BackendKind::Ollama {
                " (start it with `ollama serve`, or set OLLAMA_URL)"
            } else {
                " (start the server, or set OPENAI_BASE_URL)"
            };
            r.add(
                "local",
                Status::Fail,
                format!("{endpoint} does not answer: {}{hint}", f.message),
            );
            false
        }
    };
    let Some(models) = &probes.models else {
        return up;
    };
    let wanted = settings
        .local_model_override
        .clone()
        .unwrap_or_else(|| settings.profile.model.clone());
    match models {
        Err(_) if !up => {
            r.add("models", Status::Skip, "the server is down");
            false
        }
        Err(f) => {
            r.add(
                "models",
                Status::Fail,
                format!("cannot list them: {}", f.message),
            );
            false
        }
        Ok(list) => {
            let mut pulled = Vec::new();
            let mut missing = Vec::new();
            let mut seen = std::collections::BTreeSet::new();
            let mut wanted_list: Vec<(String, String)> = settings
                .profiles
                .values()
                .map(|p| (p.model.clone(), p.name.clone()))
                .collect();
            if settings.local_model_override.is_some() {
                wanted_list.push((wanted.clone(), "OLLAMA_MODEL / --model".to_owned()));
            }
            for (model, who) in wanted_list {
                if !seen.insert((model.clone(), who.clone())) {
                    continue;
                }
                if admin::has_model(list, &model) {
                    pulled.push(format!("{model} ({who})"));
                } else {
                    missing.push(format!("{model} ({who}): ollama pull {model}"));
                }
            }
            let default_pulled = admin::has_model(list, &wanted);
            let status = match (default_pulled, missing.is_empty()) {
                (false, _) => Status::Fail,
                (true, false) => Status::Warn,
                (true, true) => Status::Ok,
            };
            let mut detail = format!(
                "pulled: {}",
                if pulled.is_empty() {
                    "none".to_owned()
                } else {
                    pulled.join(", ")
                }
            );
            if !missing.is_empty() {
                detail.push_str(&format!("; missing: {}", missing.join("; ")));
            }
            r.add("models", status, detail);
            up && default_pulled
        }
    }
}

fn api_checks(r: &mut Report, settings: &Settings, env: &Env, probes: &Probes) -> bool {
    if settings.api_disabled {
        r.add(
            "api",
            Status::Skip,
            format!("disabled by {}", names::DISABLE_API),
        );
        return false;
    }
    let (set, which, model) = match settings.api_backend {
        BackendKind::OpenAi => (
            settings.openai.key.is_some(),
            names::OPENAI_API_KEY,
            settings
                .openai
                .model
                .clone()
                .unwrap_or_else(|| settings.gemini.model.clone()),
        ),
        _ => {
            let which = if env.get(names::GEMINI_API_KEY).is_some() {
                names::GEMINI_API_KEY
            } else {
                names::GOOGLE_API_KEY
            };
            (
                settings.gemini.key.is_some(),
                which,
                settings.gemini.model.clone(),
            )
        }
    };
    if !set && settings.api_backend != BackendKind::OpenAi {
        r.add(
            "api",
            Status::Warn,
            format!(
                "no key: set {} to enable the {model} fallback",
                names::GEMINI_API_KEY
            ),
        );
        return false;
    }
    let key = if set {
        format!("key set ({which})")
    } else {
        "no key".to_owned()
    };
    match &probes.api {
        Some(Ok(what)) => {
            r.add(
                "api",
                Status::Ok,
                format!("{key}; model {model}: {what} (checked online)"),
            );
            true
        }
        Some(Err(f)) => {
            r.add(
                "api",
                Status::Fail,
                format!("{key}; model {model}: {}", f.message),
            );
            false
        }
        None => {
            r.add(
                "api",
                Status::Ok,
                format!("{key}; model {model} (not checked: add --online to call the API)"),
            );
            true
        }
    }
}

fn log_check(r: &mut Report, settings: &Settings) {
    match &settings.log.file {
        None => r.add(
            "run log",
            Status::Skip,
            format!("off ({}=0 or [log] enabled = false)", names::ENABLE_LOGGING),
        ),
        Some(path) => {
            let detail = match std::fs::read_to_string(path) {
                Ok(text) => {
                    let n = text.lines().count();
                    let calls = if n == 1 { "call" } else { "calls" };
                    format!("{} ({n} {calls} logged)", path.display())
                }
                Err(_) => format!("{} (created on the first call)", path.display()),
            };
            r.add("run log", Status::Ok, detail);
        }
    }
}

fn finish(
    mut r: Report,
    json: bool,
    status: ExitStatus,
    verdict: &str,
) -> anyhow::Result<ExitStatus> {
    let doc = if json {
        json!({
            "ok": status == ExitStatus::Success,
            "exit_code": status as u8,
            "verdict": verdict,
            "checks": r.checks,
        })
        .to_string()
    } else {
        r.add(
            "verdict",
            if status == ExitStatus::Success {
                Status::Ok
            } else {
                Status::Fail
            },
            verdict,
        );
        let rows: Vec<Vec<String>> = r
            .checks
            .iter()
            .map(|c| {
                vec![
                    c.check.to_owned(),
                    c.status.mark().to_owned(),
                    c.detail.clone(),
                ]
            })
            .collect();
        super::table(&rows)
    };
    Output::print_document(&doc)?;
    Ok(status)
}
