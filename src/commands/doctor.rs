//! `codex-wrap doctor`: is the set-up able to answer, and if not, what to do.
//!
//! Every network probe, for every endpoint of the local and api routes, runs at once under
//! a short limit, so the whole check answers in well under a second when nothing is up. A
//! route can work when any of its endpoints can (a call falls back before any output); its
//! line names the endpoint that would answer. Exit 0 when the default route can work, 4
//! when it cannot, 3 when the configuration does not load.

use std::path::Path;
use std::time::Duration;

use futures_util::future::join_all;
use serde::Serialize;
use serde_json::json;

use super::reach::{Said, at};
use crate::backend::{Backend, ModelInfo, has_model};
use crate::cli::DoctorArgs;
use crate::config::env::{Env, names};
use crate::config::{self, Overrides, Settings};
use crate::error::{ExitStatus, Failure, FailureKind};
use crate::output::Output;
use crate::plan::endpoints;
use crate::pool::Pool;
use crate::stream::Route;

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

/// What one endpoint of the local route said.
struct LocalProbe {
    name: String,
    backend: Box<dyn Backend>,
    /// Whether it answers and has its model.
    said: Said,
    /// The models it offers, for servers whose models must be pulled first (Ollama).
    models: Option<Result<Vec<ModelInfo>, Failure>>,
}

impl LocalProbe {
    /// Whether a call would get its answer here.
    fn usable(&self) -> bool {
        self.said.usable()
    }

    /// What is wrong with it, in a few words, when it is not usable.
    fn problem(&self) -> Option<String> {
        let at = at(&self.name, self.backend.as_ref());
        match (&self.said.reach, &self.said.model) {
            (Err(f), _) if unreachable(f) => Some(format!("{at} not running: {}", f.message)),
            (Err(f), _) => Some(format!("{at} answers, but {}", f.message)),
            (Ok(_), Some(Ok(false))) => Some(format!("{at} has no {}", self.backend.model())),
            (Ok(_), _) => None,
        }
    }
}

/// What one endpoint of the api route said.
struct ApiProbe {
    name: String,
    backend: Box<dyn Backend>,
    /// Whether it can be tried at all (a key is set).
    ready: Result<(), Failure>,
    /// With `--online`, for a ready endpoint: whether its key and model work.
    online: Option<Result<String, Failure>>,
}

impl ApiProbe {
    fn usable(&self) -> bool {
        self.ready.is_ok() && !matches!(self.online, Some(Err(_)))
    }

    /// What is wrong with it, in a few words, when it is not usable.
    fn problem(&self) -> Option<String> {
        match (&self.ready, &self.online) {
            (Err(f), _) => Some(format!(
                "{}: {}{}",
                self.name,
                f.message,
                f.hint
                    .as_ref()
                    .map(|h| format!(" ({h})"))
                    .unwrap_or_default()
            )),
            (Ok(()), Some(Err(f))) => Some(format!(
                "{} ({}): {}",
                self.name,
                crate::http::redact(self.backend.endpoint()),
                f.message
            )),
            (Ok(()), _) => None,
        }
    }
}

/// What the network said, for every endpoint of the local and api routes in route order.
struct Probes {
    local: Vec<LocalProbe>,
    api: Vec<ApiProbe>,
}

fn unreachable(f: &Failure) -> bool {
    matches!(f.kind, FailureKind::Unreachable | FailureKind::Timeout)
}

/// Every endpoint of both routes at once, each with all its questions at once: the whole
/// takes one probe's time (the client's limit), however many endpoints there are.
async fn probe(settings: &Settings, client: &reqwest::Client, online: bool) -> Probes {
    let local = join_all(
        endpoints(settings, Route::Local)
            .into_iter()
            .map(|e| async move {
                let backend = e.backend(&settings.root);
                let models = async {
                    match backend.pull_hint(backend.model()) {
                        Some(_) => Some(backend.list_models(client).await),
                        None => None,
                    }
                };
                let (said, models) = tokio::join!(Said::ask(backend.as_ref(), client), models);
                LocalProbe {
                    name: e.name,
                    backend,
                    said,
                    models,
                }
            }),
    );
    let api = join_all(
        endpoints(settings, Route::Api)
            .into_iter()
            .map(|e| async move {
                let backend = e.backend(&settings.root);
                let ready = backend.check_ready();
                let online = match ready {
                    Ok(()) if online => Some(backend.probe(client).await),
                    _ => None,
                };
                ApiProbe {
                    name: e.name,
                    backend,
                    ready,
                    online,
                }
            }),
    );
    let (local, api) = tokio::join!(local, api);
    Probes { local, api }
}

/// One check line for a route of several endpoints: the line of the endpoint that would
/// answer (`answering`, the first usable one in route order: a call falls back before any
/// output) marked `using NAME:`, with what is wrong with each of the others in route order;
/// when none would answer, the first endpoint's line, then what is wrong with the others.
/// A route of one endpoint keeps its line as it is.
fn route_line(
    names: &[&str],
    answering: Option<usize>,
    (status, line): (Status, String),
    problems: &[Option<String>],
) -> (Status, String) {
    if names.len() < 2 {
        return (status, line);
    }
    let chosen = answering.unwrap_or(0);
    let mut parts = Vec::new();
    let mut others_fail = false;
    for (i, problem) in problems.iter().enumerate() {
        if i == chosen {
            parts.push(match answering {
                Some(_) => format!("using {}: {line}", names[i]),
                None => line.clone(),
            });
        } else if let Some(p) = problem {
            others_fail = true;
            parts.push(p.clone());
        }
    }
    let status = if status == Status::Ok && others_fail {
        Status::Warn
    } else {
        status
    };
    (status, parts.join("; "))
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
    let cwd = std::env::current_dir().unwrap_or_else(|_| root.to_path_buf());
    let trust = config::trust::check(env, root, &cwd);
    let has_files = config::trust::files_read(root, &cwd)
        .iter()
        .any(|p| p.symlink_metadata().is_ok());
    let trust_status = match (&trust, has_files) {
        (config::trust::Status::Trusted(_), _) | (_, false) => Status::Ok,
        (config::trust::Status::Changed(_), true) => Status::Warn,
        (config::trust::Status::Untrusted, true) => Status::Skip,
    };
    r.add("trust", trust_status, trust.describe());
    let settings = match config::resolve(Overrides::default(), env, root) {
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
    profile_check(&mut r, &settings);

    let client = crate::http::client(PROBE_CONNECT, Some(PROBE_LIMIT))?;
    let probes = super::block_on(probe(&settings, &client, args.online))?;
    let local_ok = local_checks(&mut r, &settings, &probes.local);
    // The engine serves the local route when the configured endpoint does not.
    let (engine_up, engine) = crate::llama::doctor_row(&settings.engine);
    let engine_status = if engine_up { Status::Ok } else { Status::Skip };
    r.add("engine", engine_status, engine);
    let local_ok = local_ok || (engine_up && !settings.local_disabled);
    // What `codex-wrap eval` last measured, per endpoint.
    if let Some(state) = settings.engine.state.parent() {
        for (endpoint, last) in crate::eval::last_evals(state) {
            r.add("eval", Status::Ok, format!("{endpoint}: {}", last.line()));
        }
    }
    let api_ok = api_checks(&mut r, &settings, &probes.api);

    let names = |route| {
        endpoints(&settings, route)
            .iter()
            .map(|e| e.name.clone())
            .collect::<Vec<_>>()
            .join(", ")
    };
    r.add(
        "routes",
        Status::Ok,
        format!(
            "local → {}, api → {}, codex → {}; an unflagged call falls back between local and api",
            names(Route::Local),
            names(Route::Api),
            names(Route::Codex)
        ),
    );
    pool_check(&mut r, &settings);
    log_check(&mut r, &settings);
    sync_check(&mut r, env, &settings);

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

/// The profile, model and deadline a call would use, and where each came from, as
/// resolution recorded it (`Settings::provenance`).
fn profile_check(r: &mut Report, settings: &Settings) {
    let p = &settings.profile;
    let model = settings
        .local_model_override
        .clone()
        .unwrap_or_else(|| p.model.clone());
    r.add(
        "profile",
        Status::Ok,
        format!(
            "{} ({}); model {model} ({}); deadline {}s ({})",
            p.name,
            settings.provenance.of("profile"),
            settings.model_origin(p),
            settings.deadline(p).as_secs_f64(),
            settings.deadline_origin(p),
        ),
    );
}

/// Each endpoint of every route and its health in the shared state.
fn pool_check(r: &mut Report, settings: &Settings) {
    let mut pool = Pool::load(settings.pool.state_file.as_deref());
    let mut seen = std::collections::BTreeSet::new();
    let mut parts = Vec::new();
    let mut status = Status::Ok;
    for route in [Route::Local, Route::Api, Route::Codex] {
        for e in endpoints(settings, route) {
            if !seen.insert(e.name.clone()) {
                continue;
            }
            let health = pool.health(&e.health_key());
            if health != crate::pool::Health::Healthy {
                status = Status::Warn;
            }
            // Without its key a Gemini endpoint is not healthy, only never tried.
            let state = if e.provider == crate::backend::Provider::Gemini && e.key.is_none() {
                "no key (GEMINI_API_KEY)".to_owned()
            } else {
                health.describe()
            };
            parts.push(format!(
                "{} ({} {}): {state}",
                e.name,
                e.provider.as_str(),
                crate::http::redact(&e.url),
            ));
        }
    }
    if let Some(w) = pool.take_warning() {
        status = Status::Warn;
        parts.push(w);
    }
    let state = settings.pool.state_file.as_ref().map_or_else(
        || "no state directory".to_owned(),
        |p| p.display().to_string(),
    );
    r.add(
        "pool",
        status,
        format!(
            "{}; strategy {}, state {state}",
            parts.join("; "),
            settings.pool.strategy.as_str()
        ),
    );
}

fn local_checks(r: &mut Report, settings: &Settings, probes: &[LocalProbe]) -> bool {
    if settings.local_disabled {
        r.add(
            "local",
            Status::Skip,
            format!("disabled by {}", names::DISABLE_LOCAL),
        );
        return false;
    }
    let Some(first) = probes.first() else {
        r.add("local", Status::Fail, "the local route lists no endpoint");
        return false;
    };
    // The endpoint a call would get its answer from; the models are judged there.
    let answering = probes.iter().position(LocalProbe::usable);
    let chosen = answering.map_or(first, |i| &probes[i]);
    let local = chosen.backend.as_ref();
    let (status, line, up) = local_line(chosen);
    let names: Vec<&str> = probes.iter().map(|p| p.name.as_str()).collect();
    let problems: Vec<Option<String>> = probes.iter().map(LocalProbe::problem).collect();
    let (status, line) = route_line(&names, answering, (status, line), &problems);
    r.add("local", status, line);
    let Some(models) = &chosen.models else {
        return up;
    };
    let wanted = settings
        .local_model_override
        .clone()
        .unwrap_or_else(|| settings.profile.model.clone());
    match models {
        Err(_) if !up => {
            r.add("models", Status::Skip, "the local endpoint is not usable");
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
                if has_model(list, &model) {
                    pulled.push(format!("{model} ({who})"));
                } else {
                    let hint = local.pull_hint(&model).unwrap_or_default();
                    missing.push(format!("{model} ({who}): {hint}"));
                }
            }
            let default_pulled = has_model(list, &wanted);
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

/// One local endpoint's line: not running, not the server it should be, model missing,
/// ready; and whether a call can get its answer there.
fn local_line(p: &LocalProbe) -> (Status, String, bool) {
    let b = p.backend.as_ref();
    let endpoint = crate::http::redact(b.endpoint());
    let model = b.model();
    match (&p.said.reach, &p.said.model) {
        (Ok(what), Some(Ok(false))) => {
            let hint = b
                .pull_hint(model)
                .map(|h| format!(" (run `{h}`)"))
                .unwrap_or_default();
            (
                Status::Fail,
                format!("model missing: {endpoint}: {what} has no {model}{hint}"),
                false,
            )
        }
        (Ok(what), Some(Ok(true))) => (
            Status::Ok,
            format!("ready: {endpoint}: {what}, {model} present"),
            true,
        ),
        (Ok(what), _) => (Status::Ok, format!("{endpoint}: {what}"), true),
        (Err(f), _) if unreachable(f) => {
            let hint = b
                .unreachable_hint()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            (
                Status::Fail,
                format!(
                    "not running: {endpoint} does not answer: {}{hint}",
                    f.message
                ),
                false,
            )
        }
        (Err(f), _) => {
            let hint = f
                .hint
                .as_ref()
                .map(|h| format!(" ({h})"))
                .unwrap_or_default();
            (
                Status::Fail,
                format!("{endpoint} answers, but {}{hint}", f.message),
                false,
            )
        }
    }
}

fn api_checks(r: &mut Report, settings: &Settings, probes: &[ApiProbe]) -> bool {
    if settings.api_disabled {
        r.add(
            "api",
            Status::Skip,
            format!("disabled by {}", names::DISABLE_API),
        );
        return false;
    }
    // The probes are the route's endpoints, one per spec, in the same order.
    let specs = settings.routes.get(Route::Api);
    if probes.is_empty() {
        r.add("api", Status::Skip, "the api route lists no endpoint");
        return false;
    }
    let answering = probes.iter().position(ApiProbe::usable);
    let i = answering.unwrap_or(0);
    let (status, line, ok) = api_line(&probes[i], &specs[i]);
    let names: Vec<&str> = probes.iter().map(|p| p.name.as_str()).collect();
    let problems: Vec<Option<String>> = probes.iter().map(ApiProbe::problem).collect();
    let (status, line) = route_line(&names, answering, (status, line), &problems);
    r.add("api", status, line);
    ok
}

/// One api endpoint's line: no key, key and model checked online (working or not), key
/// set; and whether a call can get its answer there.
fn api_line(p: &ApiProbe, spec: &config::EndpointSpec) -> (Status, String, bool) {
    let model = p.backend.model();
    if let Err(f) = &p.ready {
        let what = f.hint.clone().unwrap_or_else(|| f.message.clone());
        return (
            Status::Warn,
            format!("no key: {what} to enable the {model} fallback"),
            false,
        );
    }
    let key = match (&spec.key, &spec.key_env) {
        (Some(_), Some(var)) => format!("key set ({var})"),
        (Some(_), None) => "key set".to_owned(),
        (None, _) => "no key".to_owned(),
    };
    match &p.online {
        Some(Ok(what)) => (
            Status::Ok,
            format!("{key}; model {model}: {what} (checked online)"),
            true,
        ),
        Some(Err(f)) => (
            Status::Fail,
            format!("{key}; model {model}: {}", f.message),
            false,
        ),
        None => (
            Status::Ok,
            format!("{key}; model {model} (not checked: add --online to call the API)"),
            true,
        ),
    }
}

fn log_check(r: &mut Report, settings: &Settings) {
    match &settings.log.file {
        None => r.add(
            "run log",
            Status::Skip,
            format!("off ({}=0 or [log] enabled = false)", names::ENABLE_LOGGING),
        ),
        Some(path) => match crate::runlog::writable(path) {
            Err(e) => r.add(
                "run log",
                Status::Warn,
                format!("{} cannot be written: {e}", path.display()),
            ),
            Ok(false) => r.add(
                "run log",
                Status::Ok,
                format!("{} (created on the first call)", path.display()),
            ),
            Ok(true) => {
                let n = std::fs::read(path)
                    .map(|b| b.iter().filter(|&&c| c == b'\n').count())
                    .unwrap_or(0);
                let calls = if n == 1 { "call" } else { "calls" };
                r.add(
                    "run log",
                    Status::Ok,
                    format!("{} ({n} {calls} logged)", path.display()),
                );
            }
        },
    }
}

/// Sync is optional: it never changes the verdict, only warns.
fn sync_check(r: &mut Report, env: &Env, settings: &Settings) {
    match crate::sync::doctor_row(env, &settings.root, settings.log.file.as_deref()) {
        None => r.add(
            "sync",
            Status::Skip,
            format!("no remote ([sync] remote or {})", names::SYNC_REMOTE),
        ),
        Some((ok, detail)) => r.add("sync", if ok { Status::Ok } else { Status::Warn }, detail),
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
