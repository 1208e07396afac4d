//! codex-wrap: offload a coding prompt to a local model (Ollama) or Gemini.
//!
//! # Layout
//! - `cli`: the command line as typed; `config`: resolved `Settings` (flags > environment >
//!   project file > user file > built-in); `input`: where the prompt comes from.
//! - `route`: the keyword classifier; `prompt`: message assembly.
//! - `backend`: the `Backend` trait and one file per provider; `frame`: NDJSON and SSE
//!   framing; `stream`: the one send-and-stream loop with deadlines and fallback.
//! - `llama`: `codex-wrap engine`, a llama-server of its own built from PyPI.
//! - `output`: the only writer of stdout, and the stderr status lines; `error`: exit codes.

mod admin;
pub mod backend;
mod call;
pub mod cli;
mod commands;
pub mod config;
pub mod context;
pub mod error;
pub mod frame;
pub mod input;
pub mod llama;
pub mod logging;
pub mod output;
mod plan;
pub mod prompt;
pub mod route;
pub mod runlog;
mod spinner;
pub mod stream;

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
    let root = project_root(&cli.global, &env, &cwd);
    env.load_dotenv(&root.join(".env.local"));
    if cwd != root {
        env.load_dotenv(&cwd.join(".env.local"));
    }
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
    Ok(route::Router::from_table(cfg.router.as_ref())?)
}

fn project_root(global: &GlobalArgs, env: &Env, cwd: &Path) -> PathBuf {
    match global
        .root
        .clone()
        .or_else(|| env.get(names::ROOT).map(PathBuf::from))
    {
        Some(root) => cwd.join(root),
        None => config::root::find_root(cwd),
    }
}
