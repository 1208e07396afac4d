//! The MCP server and its tools. Each tool is a face over code the command line already
//! has: `route` calls the router in process; `context` and `status` run this same binary's
//! `context --json`, `doctor --json` and `stats --json`, so what the assistant sees is
//! exactly what a person at the terminal sees (and the call engine stays the only place
//! that prepares a request).

use std::path::PathBuf;
use std::process::Stdio;
use std::sync::Arc;

use rmcp::handler::server::wrapper::Parameters;
use rmcp::model::{CallToolResult, ContentBlock as Content};
use rmcp::service::RequestContext;
use rmcp::{ErrorData, RoleServer, ServerHandler, schemars, tool, tool_handler, tool_router};
use serde::Deserialize;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use super::call::EngineFace;
use super::delegate::{self, DelegateRequest, McpSettings};
use super::jobs::Jobs;
use crate::config::env::Env;

/// The server: the environment and project root it was started with.
#[derive(Clone)]
pub(crate) struct Server {
    env: Arc<Env>,
    root: PathBuf,
    engine: EngineFace,
    jobs: Jobs,
}

/// `route` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct RouteParams {
    /// The request, as it would be delegated.
    prompt: String,
}

/// `context` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
pub(crate) struct ContextParams {
    /// The request, as it would be delegated.
    prompt: String,
    /// `auto` (the router decides, default), `local` or `api`.
    #[serde(default)]
    route: Option<RouteChoice>,
    /// A profile from profiles.toml (default: the router's suggestion).
    #[serde(default)]
    profile: Option<String>,
}

/// Which route a call takes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, schemars::JsonSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum RouteChoice {
    /// The router decides.
    #[default]
    Auto,
    /// The local model only.
    Local,
    /// The API only.
    Api,
}

/// `job` arguments.
#[derive(Debug, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct JobParams {
    /// The id a `background` delegate returned.
    job_id: String,
    /// Stop the job (files it wrote are put back).
    #[serde(default)]
    cancel: bool,
}

/// `status` arguments.
#[derive(Debug, Default, Deserialize, schemars::JsonSchema)]
pub(crate) struct StatusParams {
    /// Only run-log calls in this window: `7d`, `24h`, or a date (default: all).
    #[serde(default)]
    since: Option<String>,
}

#[tool_router]
impl Server {
    /// A server for the project at `root`.
    pub(crate) fn new(env: Env, root: PathBuf) -> Server {
        let env = Arc::new(env);
        Server {
            engine: EngineFace::new(env.clone(), root.clone()),
            env,
            root,
            jobs: Jobs::default(),
        }
    }

    /// The server's jobs (shared with every clone of the server).
    pub(crate) fn jobs(&self) -> Jobs {
        self.jobs.clone()
    }

    /// Writes files and runs a check (`destructive`), sends the prompt to servers that may be
    /// outside the machine (`open world`).
    #[tool(
        description = delegate::DESCRIPTION,
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = false,
            open_world_hint = true
        )
    )]
    async fn delegate(
        &self,
        Parameters(request): Parameters<DelegateRequest>,
        ctx: RequestContext<RoleServer>,
    ) -> Result<CallToolResult, ErrorData> {
        if request.check.is_some() && !request.write {
            return Ok(CallToolResult::error(vec![Content::text(
                "`check` runs after writing: set `write` too",
            )]));
        }
        let env = crate::config::trust::refresh(&self.env, &self.root);
        let Some(state_dir) = super::state_dir(&env) else {
            return Ok(CallToolResult::error(vec![Content::text(
                "no state directory: set CODEX_WRAP_STATE_DIR",
            )]));
        };
        let settings = match crate::config::load(&env, &self.root) {
            Ok((cfg, _)) => McpSettings::resolve(cfg.mcp.as_ref(), &env),
            Err(e) => return Ok(CallToolResult::error(vec![Content::text(e.to_string())])),
        };
        if request.background {
            return Ok(self
                .jobs
                .start(self.engine.clone(), request, settings, state_dir));
        }
        let outcome = delegate::run(
            &self.engine,
            request,
            delegate::notifier(&ctx),
            ctx.ct.clone(),
            &settings,
            &state_dir,
        )
        .await;
        Ok(delegate::tool_result(outcome))
    }

    #[tool(
        description = "A background `delegate` job: its status and progress while it runs, then the reply `delegate` would have given. `cancel: true` stops it (files it wrote are put back).",
        annotations(
            read_only_hint = false,
            destructive_hint = true,
            idempotent_hint = true,
            open_world_hint = false
        )
    )]
    async fn job(&self, Parameters(p): Parameters<JobParams>) -> Result<CallToolResult, ErrorData> {
        Ok(self.jobs.job(&p.job_id, p.cancel).await)
    }

    #[tool(
        description = "Where codex-wrap's router sends a prompt: `local` (one bounded artifact) or `api` (needs the project). Returns route, confidence, profile and the rules that fired. Sends nothing.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn route(
        &self,
        Parameters(p): Parameters<RouteParams>,
    ) -> Result<CallToolResult, ErrorData> {
        // Read anew each call, like `delegate`: a changed rule counts at once.
        Ok(match crate::router(&self.env, &self.root) {
            Ok(router) => {
                json_result(&serde_json::to_value(router.decide(&p.prompt)).unwrap_or_default())
            }
            Err(e) => CallToolResult::error(vec![Content::text(format!("{e:#}"))]),
        })
    }

    #[tool(
        description = "What codex-wrap would send for a prompt: route, profile, the project-context sections chosen (with scores and token counts), system and user messages. Sends nothing.",
        annotations(read_only_hint = true, open_world_hint = false)
    )]
    async fn context(
        &self,
        Parameters(p): Parameters<ContextParams>,
        cancel: CancellationToken,
    ) -> Result<CallToolResult, ErrorData> {
        let mut args = vec!["context".to_owned(), "--json".to_owned()];
        match p.route.unwrap_or_default() {
            RouteChoice::Auto => {}
            RouteChoice::Local => args.push("--local".to_owned()),
            RouteChoice::Api => args.push("--api".to_owned()),
        }
        if let Some(profile) = p.profile {
            args.extend(["--profile".to_owned(), profile]);
        }
        Ok(match self.run_self(&args, Some(&p.prompt), &cancel).await {
            Ok(doc) => json_result(&doc),
            Err(e) => CallToolResult::error(vec![Content::text(e)]),
        })
    }

    #[tool(
        description = "codex-wrap's health: config and endpoint checks (as `codex-wrap doctor`), the run-log summary (calls, success, fallbacks, tokens kept local, cost) and the background jobs.",
        annotations(read_only_hint = true)
    )]
    async fn status(
        &self,
        Parameters(p): Parameters<StatusParams>,
        cancel: CancellationToken,
    ) -> Result<CallToolResult, ErrorData> {
        let mut stats = vec!["stats".to_owned(), "--json".to_owned()];
        if let Some(since) = p.since {
            stats.extend(["--since".to_owned(), since]);
        }
        let doctor = ["doctor".to_owned(), "--json".to_owned()];
        let (doctor, stats) = tokio::join!(
            self.run_self(&doctor, None, &cancel),
            self.run_self(&stats, None, &cancel)
        );
        let part = |r: Result<serde_json::Value, String>| {
            r.unwrap_or_else(|e| serde_json::json!({"error": e}))
        };
        Ok(json_result(&serde_json::json!({
            "doctor": part(doctor),
            "stats": part(stats),
            "jobs": self.jobs.list(),
        })))
    }
}

impl Server {
    /// Runs this binary with `args` (and `stdin`) for the server's project, and reads the
    /// JSON document it prints. A document is read whatever the exit code (`doctor` exits
    /// 4 when the default route cannot work); without one, the error line is the answer.
    /// A `notifications/cancelled` for the call kills the child at once.
    async fn run_self(
        &self,
        args: &[String],
        stdin: Option<&str>,
        cancel: &CancellationToken,
    ) -> Result<serde_json::Value, String> {
        let exe =
            std::env::current_exe().map_err(|e| format!("cannot find codex-wrap itself: {e}"))?;
        // The subcommand first: before it, a word would be read as a prompt.
        let mut child = tokio::process::Command::new(exe)
            .args(args)
            .arg("--root")
            .arg(&self.root)
            .stdin(if stdin.is_some() {
                Stdio::piped()
            } else {
                Stdio::null()
            })
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| format!("cannot run codex-wrap {}: {e}", args[0]))?;
        if let (Some(text), Some(mut pipe)) = (stdin, child.stdin.take()) {
            pipe.write_all(text.as_bytes())
                .await
                .map_err(|e| format!("cannot pass the prompt: {e}"))?;
        }
        // Dropping the child (on cancel) kills it: `kill_on_drop`.
        let out = tokio::select! {
            out = child.wait_with_output() => out.map_err(|e| format!("codex-wrap {} failed: {e}", args[0]))?,
            () = cancel.cancelled() => return Err("cancelled".to_owned()),
        };
        let stderr = String::from_utf8_lossy(&out.stderr);
        for line in stderr.lines() {
            tracing::debug!("{}: {line}", args[0]);
        }
        // A command that failed prints its JSON error object (`{"ok": false, "error": ..}`):
        // that error is the tool's error.
        let doc = serde_json::from_slice::<serde_json::Value>(&out.stdout);
        if let Ok(doc) = &doc
            && doc.get("ok") == Some(&serde_json::Value::Bool(false))
            && let Some(error) = doc.get("error").and_then(serde_json::Value::as_str)
        {
            return Err(error.to_owned());
        }
        doc.map_err(|_| {
            stderr
                .lines()
                .rev()
                .find(|l| !l.trim().is_empty())
                .map(|l| {
                    l.trim_start_matches("codex-wrap: ")
                        .trim_start_matches("error: ")
                        .to_owned()
                })
                .unwrap_or_else(|| format!("codex-wrap {} printed no JSON", args[0]))
        })
    }
}

#[tool_handler(
    name = "codex-wrap",
    instructions = "codex-wrap offloads bounded coding tasks (one function, script, test, regex, snippet conversion) to a local model or Gemini: `delegate` sends one and returns the answer (`background: true` makes it a job that `job` collects). `route` says where a prompt would go, `context` what would be sent, `status` whether the endpoints are up."
)]
impl ServerHandler for Server {}

/// A tool result holding one JSON document as text (compact: every byte is the client's
/// context).
fn json_result(doc: &serde_json::Value) -> CallToolResult {
    CallToolResult::success(vec![Content::text(doc.to_string())])
}
