//! codex-wrap: offload a coding prompt to a local model (Ollama) or Gemini.
//!
//! This crate is the binary's faces over the core (`codex-wrap-core`, re-exported here by
//! module): the core holds configuration, routing, context, the backends, the engine and
//! the write/check/repair task, and depends on no face's crates.
//!
//! # Layout
//! - `cli`: the command line as typed (clap), converted into the core's plain types.
//! - `call`: the call's face (stdout streaming and `--json`); `files::face`: `--write`.
//! - `eval`: `codex-wrap eval`, the write face run over a suite of tasks and scored.
//! - `mcp`: the MCP server face (`codex-wrap mcp`); `install`: wiring it into assistants.
//! - `commands`: doctor, profiles, models, warm, stats; `sync`: the sync command.
//! - `llama`: `codex-wrap engine`, a llama-server of its own built from PyPI.
//! - `logging`: the tracing subscriber.

mod call;
pub mod cli;
mod commands;
mod eval;
mod install;
pub mod llama;
pub mod logging;
mod mcp;
mod send;
mod shared;
pub mod sync;

pub use codex_wrap_core::{
    backend, config, context, deadline, engine, error, escalate, event, frame, http, input, output,
    ownfile, plan, pool, prompt, record, route, runlog, secret, secrets, session, spinner, status,
    stream,
};

/// The core's write/check/repair task, and the face that runs it from the command line and
/// MCP (`face`).
pub mod files {
    pub use codex_wrap_core::files::*;
    pub mod face;
}

use std::path::{Path, PathBuf};

use anyhow::Context;
use clap::CommandFactory;

use cli::{Cli, Command, GlobalArgs};
use config::env::{Env, names};
use error::ExitStatus;
use output::{Output, Reporter};

/// Runs one invocation and returns how the process should exit.
pub fn run(cli: Cli) -> anyhow::Result<ExitStatus> {
    logging::init(cli.global.verbose, cli.global.quiet);
    let cwd = std::env::current_dir().context("cannot read the working directory")?;
    let mut env = Env::from_process();
    let root = project_root(&cli.global, &env, &cwd)?;
    // The project's .env.local files are read only when the project is trusted. `trust`
    // reports the trust state itself (and must not warn about the file it is trusting).
    if !matches!(cli.command, Some(Command::Trust(_))) {
        config::trust::apply(&mut env, &root, &cwd);
    }
    secrets::learn(&env);
    let report = Reporter::new(cli.global.quiet);
    match &cli.command {
        Some(Command::Route(args)) => {
            let prompt = input::read_prompt(&args.prompt, args.file.as_deref())?;
            let decision = router(&env, &root)?.decide(&prompt);
            let text = if args.json {
                serde_json::to_string(&decision).unwrap_or_default()
            } else {
                format!(
                    "route: {}\nconfidence: {:.2}\nprofile: {}\nscore: {}\nrules: {}",
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
        Some(Command::Context(run)) => call::show_context(run, &env, &root, report),
        Some(Command::Completions { shell }) => {
            let mut out = Vec::new();
            clap_complete::generate(*shell, &mut cli::Cli::command(), "codex-wrap", &mut out);
            Output::print_document(&String::from_utf8_lossy(&out))?;
            Ok(ExitStatus::Success)
        }
        Some(Command::Man) => {
            let mut out = Vec::new();
            clap_mangen::Man::new(cli::Cli::command()).render(&mut out)?;
            Output::print_document(&String::from_utf8_lossy(&out))?;
            Ok(ExitStatus::Success)
        }
        Some(Command::Doctor(args)) => commands::doctor::doctor(args, &env, &root),
        Some(Command::Profiles(args)) => commands::profiles::profiles(args, &env, &root),
        Some(Command::Models(args)) => commands::models::models(args.json, &env, &root, report),
        Some(Command::Warm(args)) => commands::models::warm(args, &env, &root, report),
        Some(Command::Stats(args)) => commands::stats::stats(args, &env, &root),
        Some(Command::Sync(args)) => sync::command(args, &env, &root, report),
        Some(Command::Install(args)) => install::install(args, &env, &root, report),
        Some(Command::Mcp) => mcp::serve(env, root),
        Some(Command::Trust(args)) => Ok(config::trust::command(
            &config::trust::TrustCommand {
                revoke: args.revoke,
                status: args.status,
                json: args.json,
            },
            &env,
            &root,
            &cwd,
        )?),
        Some(Command::Eval(args)) => {
            eval::command(args, &env, &root, report, drawable(&cli.global, &env))
        }
        Some(Command::Engine(args)) => {
            llama::command(args, &env, &root, report, drawable(&cli.global, &env))
        }
        None => call::call(&cli.run, &env, &root, report, drawable(&cli.global, &env)),
    }
}

/// Whether stderr may carry a spinner or progress bar: a terminal, not `-q`/`-v`, not
/// `TERM=dumb`, no `RUST_LOG`.
fn drawable(global: &GlobalArgs, env: &Env) -> bool {
    use std::io::IsTerminal;
    !global.quiet
        && global.verbose == 0
        && std::io::stderr().is_terminal()
        && env.get("TERM") != Some("dumb")
        && env.get("RUST_LOG").is_none()
}

/// The `--json` document for an error that ended the call before it was sent (bad flags,
/// empty prompt, configuration).
pub fn error_json(message: &str, status: ExitStatus) -> String {
    serde_json::json!({
        "ok": false,
        "exit_code": status as u8,
        "outcome": status.name(),
        "error": message,
        "text": "",
    })
    .to_string()
}

/// The router with the rules of every configuration layer.
fn router(env: &Env, root: &Path) -> anyhow::Result<route::Router> {
    Ok(session::Session::open(env, root)?.router()?)
}

/// The project root: `--root`, else `CODEX_WRAP_ROOT`, else the nearest folder up with a
/// marker. A root given by name must be an existing folder (nothing is ever created outside
/// one): a usage error for the flag, a configuration error for the variable.
fn project_root(global: &GlobalArgs, env: &Env, cwd: &Path) -> Result<PathBuf, error::Error> {
    let (given, from_flag) = match (&global.root, env.get(names::ROOT)) {
        (Some(flag), _) => (flag.clone(), true),
        (None, Some(var)) => (PathBuf::from(var), false),
        (None, None) => return Ok(config::root::find_root(cwd)),
    };
    let root = cwd.join(&given);
    let problem = match std::fs::metadata(&root) {
        Ok(meta) if meta.is_dir() => return Ok(root),
        Ok(_) => "is not a folder",
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => "does not exist",
        Err(_) => "cannot be read",
    };
    Err(if from_flag {
        error::Error::Usage(format!(
            "--root {}: {problem}; give the project's folder",
            given.display()
        ))
    } else {
        error::Error::Config(format!(
            "{}={}: {problem}; set it to the project's folder",
            names::ROOT,
            given.display()
        ))
    })
}
