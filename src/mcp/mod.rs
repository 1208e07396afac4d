//! `codex-wrap mcp`: the Model Context Protocol face, on stdin/stdout, built on the
//! official Rust SDK (`rmcp`). stdout carries protocol messages only; logs go to stderr.
//!
//! - `tools`: the server and its tools (`delegate`, `job`, `route`, `context`, `status`).
//! - `delegate`: the `delegate` tool's request schema, reply capping, progress reporter and
//!   cancellation, behind the `Delegate` trait.
//! - `call`: `Delegate` on the call engine, in process.
//! - `jobs`: background `delegate` calls and the `job` tool; the per-root write lock.
//! - `continuation`: the store of earlier exchanges behind `continuation_id`.
//! - `stdio`: stdin and stdout between the terminal and the SDK's line transport; a line
//!   that is not JSON (or is over 8 MiB) gets a JSON-RPC Parse error (`-32700`, id null).
//!
//! Several calls run at once on one session, each in its own task; a failing call is a
//! tool error and the server stays up; JSON that is not a JSON-RPC message gets a
//! JSON-RPC error from the SDK, and a line that is not JSON at all a Parse error from
//! `stdio`.

mod call;
pub(crate) mod continuation;
pub(crate) mod delegate;
pub(crate) mod jobs;
mod stdio;
mod tools;

use std::path::PathBuf;

use anyhow::Context;
use rmcp::ServiceExt;

use crate::config::env::Env;
use crate::error::ExitStatus;

/// Where codex-wrap keeps state between calls (continuations, full replies):
/// `CODEX_WRAP_STATE_DIR`, else `$XDG_STATE_HOME/codex-wrap`, else the platform's state
/// (or data) folder.
pub(crate) fn state_dir(env: &Env) -> Option<PathBuf> {
    if let Some(dir) = env.get("CODEX_WRAP_STATE_DIR").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = env.get("XDG_STATE_HOME").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(xdg).join("codex-wrap"));
    }
    use etcetera::BaseStrategy;
    let base = etcetera::choose_base_strategy().ok()?;
    Some(
        base.state_dir()
            .unwrap_or_else(|| base.data_dir())
            .join("codex-wrap"),
    )
}

/// Serves MCP on stdin/stdout until the client closes stdin.
pub(crate) fn serve(env: Env, root: PathBuf) -> anyhow::Result<ExitStatus> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async move {
        let server = tools::Server::new(env, root);
        let jobs = server.jobs();
        let (streams, transport) =
            stdio::Streams::start(tokio::io::stdin(), tokio::io::stdout(), stdio::MAX_LINE);
        let session = async {
            let service = server
                .serve(transport)
                .await
                .context("the MCP session did not start")?;
            service.waiting().await.context("the MCP session failed")?;
            anyhow::Ok(())
        }
        .await;
        // The client is gone: running jobs are cancelled (their files put back).
        jobs.shutdown().await;
        // Every line already queued (a Parse error among them) reaches stdout either way.
        streams.finish().await.context("writing to stdout")?;
        session?;
        Ok(ExitStatus::Success)
    })
}
