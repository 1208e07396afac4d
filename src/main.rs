//! Entry point: parse the command line, run, report the error once, exit with its code.

use std::process::ExitCode;

use clap::Parser;
use codex_wrap::cli::Cli;
use codex_wrap::error::{ExitStatus, exit_status};
use codex_wrap::output::Reporter;

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(err) => {
            let _ = err.print();
            return if err.use_stderr() {
                ExitStatus::Usage.into()
            } else {
                ExitStatus::Success.into()
            };
        }
    };
    match codex_wrap::run(cli) {
        Ok(status) => status.into(),
        Err(err) => {
            let status = exit_status(&err);
            if status != ExitStatus::Success {
                Reporter::error(&format!("{err:#}"));
            }
            status.into()
        }
    }
}
