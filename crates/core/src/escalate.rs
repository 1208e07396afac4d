//! Escalation: where a `--write --check` task goes on when its check still fails after the
//! local rounds. `--escalate[=ROUTE]` on the command line applies even with a forced route;
//! `[files] escalate` in the configuration applies only when no flag forces a route, fallback
//! is allowed and `LLM_GATEWAY_DISABLE_API` is not set. The escalation's plan is the same
//! request prepared for that route (or endpoint), with no fallback.

use std::path::Path;

use crate::config::env::{Env, names};
use crate::config::file::ConfigFile;
use crate::config::{self, Overrides};
use crate::engine::{self, Plan};
use crate::error::Error;
use crate::output::Reporter;
use crate::stream::Route;

/// `[files] escalate_rounds` when not set.
pub const DEFAULT_ROUNDS: usize = 2;

/// The escalation that applies, if any: `(route or endpoint, rounds)`.
pub fn choose(
    flag: Option<&str>,
    cfg: &ConfigFile,
    overrides: &Overrides,
    env: &Env,
) -> Option<(String, usize)> {
    let files = cfg.files.as_ref();
    let rounds = files
        .and_then(|f| f.escalate_rounds)
        .map_or(DEFAULT_ROUNDS, |n| n.clamp(1, 20) as usize);
    if let Some(route) = flag {
        return Some((route.trim().to_owned(), rounds));
    }
    let forced =
        overrides.local || overrides.api || overrides.codex || env.flag(names::FORCE_CODEX);
    if forced || overrides.no_fallback || env.flag(names::DISABLE_API) {
        return None;
    }
    files
        .and_then(|f| f.escalate.clone())
        .map(|r| r.trim().to_owned())
        .filter(|r| !r.is_empty())
        .map(|r| (r, rounds))
}

/// The plan on the escalation route `target` (`api`, `codex`, `local` or an endpoint's
/// name) for `prompt`, with no fallback. The settings come from the configuration of
/// `root`; the task runs in `task_root` (its context, a command endpoint's directory). An unknown name is a configuration error; a route
/// that cannot be planned (disabled) is an error the caller reports as "cannot escalate".
pub fn prepare(
    target: &str,
    base: &Overrides,
    env: &Env,
    root: &Path,
    task_root: &Path,
    prompt: &str,
    report: Reporter,
) -> Result<Plan, Error> {
    let mut o = Overrides {
        local: false,
        api: false,
        codex: false,
        // `--model` named the local model; the escalation route uses its own.
        model: None,
        no_fallback: true,
        suggested_profile: None,
        ..base.clone()
    };
    let mut endpoint = None;
    match target {
        "api" => o.api = true,
        "local" => o.local = true,
        "codex" => o.codex = true,
        name => {
            let settings = config::resolve(&o, env, root)?;
            let route = [Route::Local, Route::Api, Route::Codex]
                .into_iter()
                .find(|r| settings.routes.get(*r).iter().any(|e| e.name == name))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "escalate = \"{name}\": no such route or endpoint (api, codex, local, or an endpoint named in profiles.toml)"
                    ))
                })?;
            match route {
                Route::Local => o.local = true,
                Route::Api => o.api = true,
                Route::Codex => o.codex = true,
            }
            endpoint = Some(name.to_owned());
        }
    }
    let mut settings = config::resolve(&o, env, root)?;
    settings.root = task_root.to_path_buf();
    let request = engine::Request {
        prompt: prompt.to_owned(),
        write: true,
        retry_refusal: true,
        ..engine::Request::default()
    };
    let mut plan = engine::prepare(settings, None, &request, report, &|| None)?;
    if let Some(name) = endpoint {
        plan.attempts.retain(|a| a.endpoint == name);
        if plan.attempts.is_empty() {
            return Err(Error::Config(format!(
                "escalate = \"{name}\": the endpoint is not usable on its route"
            )));
        }
    }
    Ok(plan)
}
