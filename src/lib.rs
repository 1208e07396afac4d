//! codex-wrap: offload a coding prompt to a local model (Ollama) or Gemini.
//!
//! # Layout
//! - `cli`: the command line as typed; `config`: resolved `Settings` (flags > environment >
//!   project file > user file > built-in); `input`: where the prompt comes from.
//! - `route`: the keyword classifier and the `Route` type; `prompt`: message assembly.
//! - `engine`: `prepare` → `Plan`, `execute(plan, sink, shutdown)` → `Transcript`: the one
//!   pipeline that every face (stdout and `--json` in `call`, next files and MCP) drives.
//! - `backend`: `Endpoint`, `Provider` and the `Backend` trait, one file per provider
//!   (streaming and management); `http`: the client and the one error classifier; `frame`:
//!   NDJSON and SSE framing; `stream`: one attempt (deadlines, 429 retry, the pump);
//!   `pool`: endpoint order and the health state shared between processes.
//! - `output`: the `Sink` trait, the only writer of stdout, and the stderr status lines;
//!   `error`: exit codes; `secrets`: the secret values known, masked out of every text.
//! - `llama`: `codex-wrap engine`, a llama-server of its own built from PyPI.
//! - `eval`: `codex-wrap eval`, the write face run over a suite of tasks and scored.
//! - `mcp`: the MCP server face (`codex-wrap mcp`); `install`: wiring it into assistants.

pub mod backend;
mod call;
pub mod cli;
mod commands;
pub mod config;
pub mod context;
pub mod engine;
pub mod error;
mod eval;
pub mod files;
pub mod frame;
pub mod http;
pub mod input;
mod install;
pub mod llama;
pub mod logging;
mod mcp;
pub mod output;
pub mod ownfile;
mod plan;
pub mod pool;
pub mod prompt;
pub mod route;
pub mod runlog;
pub mod secrets;
mod spinner;
pub mod stream;
pub mod sync;

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
    // The project's .env.local files are read only when the project is trusted.
    config::trust::apply(&mut env, &root, &cwd);
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
        Some(Command::Warm(args)) => commands::models::warm(args, &env, &root),
        Some(Command::Stats(args)) => commands::stats::stats(args, &env, &root),
        Some(Command::Sync(args)) => sync::command(args, &env, &root, report),
        Some(Command::Install(args)) => install::install(args, &env, &root, report),
        Some(Command::Mcp) => mcp::serve(env, root),
        Some(Command::Trust(args)) => Ok(config::trust::command(args, &env, &root, &cwd)?),
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
    let (cfg, _) = config::load(env, root)?;
    let files = config::doc_files(&cfg);
    Ok(route::Router::from_table(cfg.router.as_ref())?.with_docs(root, &files))
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
