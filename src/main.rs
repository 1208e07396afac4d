//! Entry point: parse the command line, run, report the error once, exit with its code.
//!
//! With `--json`, an error is also printed on stdout as one JSON object.

use std::process::ExitCode;

use clap::Parser;
use codex_wrap::cli::Cli;
use codex_wrap::error::ExitStatus;
use codex_wrap::output::{Output, Reporter};
use codex_wrap::status::exit_status;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            if !err.use_stderr() {
                return ExitStatus::Success.into();
            }
            if wants_json() {
                let rendered = err.render().to_string();
                let first = rendered.lines().next().unwrap_or_default();
                let message = first.strip_prefix("error: ").unwrap_or(first);
                let _ = Output::print_document(&codex_wrap::error_json(message, ExitStatus::Usage));
            }
            return ExitStatus::Usage.into();
        }
    };
    // Every command with `--json` (the call, `warm`, `models`, `doctor`, ...) answers an
    // error with its JSON object too.
    let json = cli.run.json || wants_json();
    match codex_wrap::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            let status = exit_status(&err);
            if status != ExitStatus::Success {
                Reporter::error(&format!("{err:#}"));
                if json {
                    let _ = Output::print_document(&codex_wrap::error_json(
                        &format!("{err:#}"),
                        status,
                    ));
                }
            }
            status.into()
        }
    }
}

/// Whether `--json` was among the arguments (before any `--`).
fn wants_json() -> bool {
    std::env::args_os()
        .skip(1)
        .take_while(|a| a != "--")
        .any(|a| a == "--json")
}
