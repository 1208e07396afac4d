//! codex-wrap: offload a coding prompt to a local model (Ollama) or Gemini.
//!
//! # Layout
//! - `cli`: the command line as typed; `config`: resolved `Settings` (flags > environment >
//!   project file > user file > built-in); `input`: where the prompt comes from.
//! - `route`: the keyword classifier; `prompt`: message assembly.
//! - `backend`: the `Backend` trait and one file per provider; `frame`: NDJSON and SSE
//!   framing; `stream`: the one send-and-stream loop with deadlines and fallback.
//! - `output`: the only writer of stdout, and the stderr status lines; `error`: exit codes.

pub mod backend;
pub mod cli;
pub mod config;
pub mod context;
pub mod error;
pub mod frame;
pub mod input;
pub mod logging;
pub mod output;
pub mod prompt;
pub mod route;
pub mod stream;

use std::path::PathBuf;

use anyhow::Context;
use serde_json::json;

use backend::gemini::Gemini;
use backend::ollama::Ollama;
use backend::{Backend, Messages};
use cli::{Cli, Command, GlobalArgs, RunArgs};
use config::env::{Env, names};
use config::{RouteMode, Settings};
use error::{Error, ExitStatus, Failure, FailureKind};
use output::{Output, Reporter};
use stream::{Attempt, Outcome, Route};

/// Runs one invocation and returns how the process should exit.
pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    logging::init(cli.global.verbose, cli.global.quiet);
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let mut env = Env::from_process();
    let root = project_root(&cli.global, &env, &cwd);
    env.load_dotenv(&root.join(".env.local"));
    if cwd != root {
        env.load_dotenv(&cwd.join(".env.local"));
    }
    let report = Reporter::new(cli.global.quiet);
    match &cli.command {
        Some(Command::Route(args)) => {
            let prompt = input::read_prompt(&args.prompt, args.file.as_deref())?;
            let decision = router(&cli.global, &env, &root)?.decide(&prompt);
            let text = if args.json {
                serde_json::to_string(&decision).unwrap_or_default()
            } else {
                format!(
                    "route: {}
confidence: {:.2}
profile: {}
score: {}
rules: {}",
                    decision.route,
                    decision.confidence,
                    decision.profile,
                    decision.score,
                    decision.rules.join(", ")
                )
            };
            Output::print_document(&text)?;
            Ok(ExitStatus::Success)
        }
        None => call(&cli.run, &cli.global, &env, &root, report),
    }
}

/// The router with the rules of every configuration layer.
fn router(
    _global: &GlobalArgs,
    env: &Env,
    root: &std::path::Path,
) -> anyhow::Result<route::Router> {
    let user = config::user_config_path(env);
    let layers = config::file::load_layers(user.as_deref(), Some(&root.join("profiles.toml")))?;
    let cfg = config::file::merge(&layers)?;
    Ok(route::Router::from_table(cfg.router.as_ref())?)
}

fn project_root(global: &GlobalArgs, env: &Env, cwd: &std::path::Path) -> PathBuf {
    match global
        .root
        .clone()
        .or_else(|| env.get(names::ROOT).map(PathBuf::from))
    {
        Some(root) => cwd.join(root),
        None => config::root::find_root(cwd),
    }
}

/// The default command: send the prompt and stream the answer.
fn call(
    run: &RunArgs,
    global: &GlobalArgs,
    env: &Env,
    root: &std::path::Path,
    report: Reporter,
) -> anyhow::Result<ExitStatus> {
    if env.flag(names::LLM_DISABLED) {
        report.status("LLM calls are disabled (LLM_DISABLED is set); nothing sent");
        return Ok(ExitStatus::Success);
    }
    let mut settings = config::resolve(run, global, env, root)?;
    // Compile the router on the second core while the prompt is read and the HTTP client
    // is built: it is the largest fixed cost of an auto-routed call.
    let router = (settings.mode == RouteMode::Auto).then(|| {
        let table = settings.router.clone();
        std::thread::spawn(move || route::Router::from_table(table.as_ref()))
    });
    let prompt_text = input::read_prompt(&run.prompt, run.file.as_deref())?;
    let client = (!run.dry_run).then(|| stream::client(&settings.timeouts));

    let route = match settings.mode {
        RouteMode::Local => Route::Local,
        RouteMode::Api => Route::Api,
        RouteMode::Auto => {
            let router = router
                .map(|handle| handle.join())
                .transpose()
                .map_err(|_| anyhow::anyhow!("the router thread panicked"))?
                .transpose()?
                .context("the router was not started")?;
            let decision = router.decide(&prompt_text);
            if run.explain {
                report.status(&format!(
                    "router: {} (confidence {:.2}, profile {}; rules: {})",
                    decision.route,
                    decision.confidence,
                    decision.profile,
                    decision.rules.join(", ")
                ));
            }
            if !settings.profile_explicit {
                settings.use_profile(decision.profile);
            }
            decision.route()
        }
    };

    let assembled = prompt::assemble(
        &[],
        settings.profile.system.as_deref(),
        &settings.directive,
        &prompt_text,
    );
    let messages = Messages {
        system: &assembled.system,
        user: &assembled.user,
    };
    let attempts = plan(&settings, route)?;

    if run.dry_run {
        Output::print_document(&dry_run(&settings, route, &attempts, messages))?;
        return Ok(ExitStatus::Success);
    }
    if !settings.profile.guardrails {
        report.warn(&format!(
            "profile '{}' runs with guardrails off",
            settings.profile.name
        ));
    }
    report.status(&start_line(&settings, &attempts));

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    let mut out = Output::new();
    let client = client.unwrap_or_else(|| stream::client(&settings.timeouts));
    let result = runtime.block_on(async {
        let work = stream::run_attempts(
            &client,
            &attempts,
            messages,
            &settings.timeouts,
            &mut out,
            report,
        );
        with_signals(work).await
    });
    runtime.shutdown_background();
    let outcome = result?;
    out.finish()?;
    if !out.is_closed() {
        report.status(&end_line(&outcome));
        if outcome.truncated {
            report.warn("the answer was cut at the model's token limit");
        }
    }
    Ok(ExitStatus::Success)
}

/// Runs `work` until it ends or a SIGINT / SIGTERM arrives; dropping `work` closes the
/// connection at once.
async fn with_signals<F>(work: F) -> Result<Outcome, Error>
where
    F: std::future::Future<Output = Result<Outcome, Error>>,
{
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (Ok(mut int), Ok(mut term)) = (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) else {
            return work.await;
        };
        tokio::select! {
            r = work => r,
            _ = int.recv() => Err(Error::Signal(ExitStatus::Sigint)),
            _ = term.recv() => Err(Error::Signal(ExitStatus::Sigterm)),
        }
    }
    #[cfg(not(unix))]
    {
        tokio::select! {
            r = work => r,
            _ = tokio::signal::ctrl_c() => Err(Error::Signal(ExitStatus::Sigint)),
        }
    }
}

/// The attempts for a route, in order: the route itself, then the other one when fallback
/// is allowed. Disabled routes are left out; a route with nothing left is an error.
fn plan(settings: &Settings, route: Route) -> Result<Vec<Attempt>, Error> {
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
    }
    if attempts.is_empty() {
        return Err(Error::NoRoute(skipped));
    }
    Ok(attempts)
}

fn backend_for(settings: &Settings, route: Route) -> Box<dyn Backend> {
    let profile = &settings.profile;
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

fn dry_run(settings: &Settings, route: Route, attempts: &[Attempt], m: Messages<'_>) -> String {
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
        "attempts": attempts,
    });
    serde_json::to_string_pretty(&doc).unwrap_or_default()
}

fn start_line(settings: &Settings, attempts: &[Attempt]) -> String {
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
    if let Some(next) = attempts.get(1) {
        line.push_str(&format!(" (fallback: {})", next.label()));
    }
    line
}

fn end_line(o: &Outcome) -> String {
    let mut parts = vec![format!("done via {}", o.attempt)];
    if let Some(t) = o.first_token {
        parts.push(format!("first token {:.2}s", t.as_secs_f64()));
    }
    parts.push(format!("total {:.2}s", o.total.as_secs_f64()));
    if let (Some(i), Some(out)) = (o.usage.prompt_tokens, o.usage.completion_tokens) {
        parts.push(format!("{i} in / {out} out"));
        let gen_secs = o
            .usage
            .eval_seconds
            .unwrap_or_else(|| (o.total - o.first_token.unwrap_or_default()).as_secs_f64());
        if gen_secs > 0.0 {
            parts.push(format!("{:.1} tok/s", out as f64 / gen_secs));
        }
    } else {
        parts.push(format!("{} bytes", o.bytes));
    }
    parts.join(" · ")
}
