//! The `delegate` tool: its request schema, the `Delegate` trait the call engine implements
//! (`call::EngineFace`), and everything around a call that is the MCP face's own job —
//! continuation, progress notifications (tokens so far and the engine's events), cancellation,
//! and capping the reply.
//! `DESCRIPTION` is the tool's description.

use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime};

use rmcp::model::{CallToolResult, ContentBlock, ProgressNotificationParam};
use rmcp::service::RequestContext;
use rmcp::{RoleServer, schemars};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::continuation::{self, Store};
use super::tools::RouteChoice;
use crate::event::Event;

/// The tool's description.
pub(crate) const DESCRIPTION: &str = "Hand a bounded coding task (one function, script, test, \
regex, conversion) to a local model or Gemini and get the answer. Give a self-contained prompt; \
`files` (project paths) are sent as input. Returns a JSON summary (route, endpoint, tokens, \
seconds, continuation_id), then the text; a reply over the cap is cut and its full text saved \
to the file named in `full_text`. Pass `continuation_id` to follow up without resending the code. \
With `write`, the answer's files land in the project and the reply is a summary; `check` runs a \
command after writing, sandboxed (project writable, no network), and the model repairs failures. \
With `background`, the reply is at once a `job_id`: poll `job` until it gives the reply.";

/// Default cap on the text of a reply, in tokens.
pub(crate) const DEFAULT_MAX_REPLY_TOKENS: usize = 8_000;

/// Longest gap between progress notifications.
pub(crate) const PROGRESS_EVERY: Duration = Duration::from_secs(5);

/// `delegate` arguments.
#[derive(Debug, Clone, Deserialize, schemars::JsonSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct DelegateRequest {
    /// The task, self-contained: paste the code it works on.
    pub(crate) prompt: String,
    /// Project files sent as input, by path relative to the project root.
    #[serde(default)]
    pub(crate) files: Vec<String>,
    /// Write the answer's files into the project (as `codex-wrap --write`); the reply is
    /// then a summary of the files, not the code.
    #[serde(default)]
    pub(crate) write: bool,
    /// With `write`: a shell command run in the project root after writing (e.g.
    /// `cargo test`), in the sandbox (or as the user when listed in the user's `[mcp]
    /// checks`); on failure the model repairs, up to 3 rounds.
    #[serde(default)]
    pub(crate) check: Option<String>,
    /// `auto` (default), `local` or `api`.
    #[serde(default)]
    pub(crate) route: Option<RouteChoice>,
    /// A profile from profiles.toml (default: the router's suggestion).
    #[serde(default)]
    pub(crate) profile: Option<String>,
    /// Continue an earlier exchange: the id a previous reply returned.
    #[serde(default)]
    pub(crate) continuation_id: Option<String>,
    /// Run as a job: the reply is at once `{"job_id": …}`; poll the `job` tool for the
    /// status, then the reply.
    #[serde(default)]
    pub(crate) background: bool,
}

/// What the engine reports for one call.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub(crate) struct Reply {
    /// The answer.
    #[serde(skip)]
    pub(crate) text: String,
    /// `local` or `api`.
    pub(crate) route: String,
    /// The endpoint that answered (`ollama qwen2.5-coder:14b`), never with a key.
    pub(crate) endpoint: String,
    /// Files written, relative to the project root.
    pub(crate) files_written: Vec<String>,
    /// The check's outcome, when one ran.
    pub(crate) check: Option<CheckOutcome>,
    /// Tokens generated.
    pub(crate) tokens: u64,
    /// Wall time of the call.
    pub(crate) seconds: f64,
    /// Whether the answer was cut at the model's token limit, the first fallback
    /// (`null` when the first endpoint answered) and every event in order.
    #[serde(flatten)]
    pub(crate) summary: crate::event::Summary,
}

/// A check command's result.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct CheckOutcome {
    /// The command.
    pub(crate) command: String,
    /// Whether it exited 0.
    pub(crate) passed: bool,
    /// Its last lines of output.
    pub(crate) tail: String,
}

/// What the engine reports while it works, shared between its sink and the progress
/// reporter: the tokens generated so far, and each event the moment it happens (when the
/// client asked for progress).
#[derive(Debug, Clone, Default)]
pub(crate) struct Progress {
    tokens: Arc<AtomicU64>,
    events: Option<mpsc::UnboundedSender<Event>>,
}

impl Progress {
    /// A counter whose events go to `events`.
    pub(crate) fn with_events(events: mpsc::UnboundedSender<Event>) -> Progress {
        Progress {
            tokens: Arc::default(),
            events: Some(events),
        }
    }

    /// Counts `n` more generated tokens.
    pub(crate) fn add_tokens(&self, n: u64) {
        self.tokens.fetch_add(n, Ordering::Relaxed);
    }

    /// Tokens so far.
    pub(crate) fn tokens(&self) -> u64 {
        self.tokens.load(Ordering::Relaxed)
    }

    /// Something happened (an attempt, a fallback, a cut answer, a check round, ...).
    pub(crate) fn event(&self, event: &Event) {
        if let Some(events) = &self.events {
            // The reporter is gone only when the call is.
            let _ = events.send(event.clone());
        }
    }
}

/// The call engine, as the MCP face sees it. Dropping the future must close the backend
/// connection at once (the same guarantee Ctrl-C has); `cancel` fires first, so an engine
/// that holds other resources can release them in order.
pub(crate) trait Delegate: Send + Sync {
    /// Runs one request (its prompt already carries any continued exchange).
    fn run(
        &self,
        request: DelegateRequest,
        progress: Progress,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<Reply, String>> + Send;
}

/// `[mcp]` in profiles.toml, defaults applied.
#[derive(Debug, Clone)]
pub(crate) struct McpSettings {
    /// Cap on a reply's text, in tokens.
    pub(crate) max_reply_tokens: usize,
    /// How long a continuation is kept, in seconds.
    pub(crate) continuation_ttl_secs: u64,
}

impl Default for McpSettings {
    fn default() -> Self {
        McpSettings {
            max_reply_tokens: DEFAULT_MAX_REPLY_TOKENS,
            continuation_ttl_secs: continuation::DEFAULT_TTL.as_secs(),
        }
    }
}

impl McpSettings {
    /// The settings for a server in `env`: `[mcp]` from the merged profiles.toml, the reply
    /// cap lowered to `MAX_MCP_OUTPUT_TOKENS` (the client's own limit) when that is smaller.
    pub(crate) fn resolve(
        section: Option<&crate::config::file::McpConfig>,
        env: &crate::config::env::Env,
    ) -> McpSettings {
        let mut settings = McpSettings::from_config(section);
        if let Some(client) = env
            .get(crate::config::env::names::MAX_MCP_OUTPUT_TOKENS)
            .and_then(|v| v.trim().parse::<usize>().ok())
            .filter(|&n| n > 0)
        {
            settings.max_reply_tokens = settings.max_reply_tokens.min(client);
        }
        settings
    }

    /// The `[mcp]` section of the merged profiles.toml (absent keys: the defaults).
    pub(crate) fn from_config(section: Option<&crate::config::file::McpConfig>) -> McpSettings {
        let default = McpSettings::default();
        let Some(c) = section else { return default };
        McpSettings {
            max_reply_tokens: c.max_reply_tokens.unwrap_or(default.max_reply_tokens),
            continuation_ttl_secs: c
                .continuation_ttl_secs
                .unwrap_or(default.continuation_ttl_secs),
        }
    }
}

/// The outcome of one `delegate` call, ready to render.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub(crate) struct Outcome {
    /// The engine's report.
    #[serde(flatten)]
    pub(crate) reply: Reply,
    /// Id for a follow-up call.
    pub(crate) continuation_id: Option<String>,
    /// Where the full text is, when the reply was cut.
    pub(crate) full_text: Option<PathBuf>,
    /// The text sent back (the whole answer, or its start).
    #[serde(skip)]
    pub(crate) text: String,
}

/// Runs one `delegate` call: the continued exchange first, progress notifications while
/// the engine works (when the client asked for progress), the engine dropped the moment
/// `cancel` fires, then the reply kept for continuation and capped.
pub(crate) async fn run<D, N, F>(
    engine: &D,
    mut request: DelegateRequest,
    notify: Option<N>,
    cancel: CancellationToken,
    settings: &McpSettings,
    state_dir: &Path,
) -> Result<Outcome, String>
where
    D: Delegate,
    N: FnMut(f64, String) -> F + Send,
    F: Future<Output = ()> + Send,
{
    let store = Store::new(
        state_dir,
        Duration::from_secs(settings.continuation_ttl_secs),
    );
    if let Some(id) = request.continuation_id.as_deref() {
        let earlier = store.load(id, SystemTime::now()).ok_or_else(|| {
            format!("continuation_id {id} is unknown or expired; send the full request")
        })?;
        request.prompt = continuation::continued_prompt(&earlier, &request.prompt);
    }
    let sent = request.prompt.clone();
    let (progress, events) = match notify.is_some() {
        true => {
            let (tx, rx) = mpsc::unbounded_channel();
            (Progress::with_events(tx), Some(rx))
        }
        false => (Progress::default(), None),
    };
    // Set once the engine has returned: every event it emitted is in the channel by then.
    let finished = CancellationToken::new();
    let reporter = async {
        if let (Some(notify), Some(events)) = (notify, events) {
            report(
                progress.clone(),
                events,
                PROGRESS_EVERY,
                finished.clone(),
                notify,
            )
            .await;
        }
    };
    let work = async {
        let reply = engine.run(request, progress.clone(), cancel.clone()).await;
        finished.cancel();
        reply
    };
    // The reporter sends the last events before the reply goes.
    let both = async { tokio::join!(work, reporter).0 };
    let reply = tokio::select! {
        biased;
        () = cancel.cancelled() => return Err("cancelled".to_owned()),
        reply = both => reply?,
    };
    let continuation_id = store.save(&sent, &reply.text, SystemTime::now()).ok();
    let ttl = Duration::from_secs(settings.continuation_ttl_secs);
    let (text, full_text) = cap(&reply.text, settings.max_reply_tokens, state_dir, ttl)
        .map_err(|e| format!("cannot save the full reply: {e}"))?;
    Ok(Outcome {
        reply,
        continuation_id,
        full_text,
        text,
    })
}

/// Sends progress until `finished` fires and no event is left: at once and then every
/// `every` the tokens so far ("120 tokens so far"), and each event as it comes, in order
/// ("falling back to api (gemini …) after: …").
/// The progress value is the elapsed seconds, nudged so that it grows with every
/// notification (the protocol requires it).
async fn report<N, F>(
    progress: Progress,
    mut events: mpsc::UnboundedReceiver<Event>,
    every: Duration,
    finished: CancellationToken,
    mut notify: N,
) where
    N: FnMut(f64, String) -> F,
    F: Future<Output = ()>,
{
    let start = tokio::time::Instant::now();
    let mut last: Option<f64> = None;
    let mut value = || {
        let elapsed = start.elapsed().as_secs_f64();
        let v = last.map_or(elapsed, |l| elapsed.max(l + 1e-3));
        last = Some(v);
        v
    };
    let mut next_tick = start;
    loop {
        tokio::select! {
            // Queued events first: every one is sent before `finished` ends the loop.
            biased;
            Some(event) = events.recv() => notify(value(), event.message()).await,
            () = finished.cancelled() => return,
            () = tokio::time::sleep_until(next_tick) => {
                notify(value(), format!("{} tokens so far", progress.tokens())).await;
                next_tick += every;
            }
        }
    }
}

/// The reply's text within `max_tokens` (about four characters each). A longer text is
/// cut at a line boundary, saved whole under `STATE_DIR/replies/`, and its path returned.
/// Saved replies older than `ttl` are removed, and the oldest beyond
/// `continuation::MAX_KEPT_FILES`; a reply is at most `files::MAX_ANSWER_BYTES` (the engine
/// stops a longer stream), so the folder stays bounded.
pub(crate) fn cap(
    text: &str,
    max_tokens: usize,
    state_dir: &Path,
    ttl: Duration,
) -> std::io::Result<(String, Option<PathBuf>)> {
    let tokens = crate::context::estimate_tokens(text);
    if tokens <= max_tokens {
        return Ok((text.to_owned(), None));
    }
    let dir = state_dir.join("replies");
    std::fs::create_dir_all(&dir)?;
    let now = SystemTime::now();
    let expired =
        |_: &Path, modified: SystemTime| now.duration_since(modified).is_ok_and(|age| age > ttl);
    continuation::prune_dir(&dir, "md", expired, continuation::MAX_KEPT_FILES - 1);
    let path = dir.join(format!("{}.md", uuid::Uuid::new_v4().simple()));
    continuation::write_private(&path, text.as_bytes())?;
    let head = continuation::head(text, max_tokens * 4);
    let head = match head.rfind('\n') {
        Some(i) if i > head.len() / 2 => &head[..=i],
        _ => head,
    };
    let shown = format!(
        "{head}\n[cut at {max_tokens} of about {tokens} tokens; the full text is in {}]\n",
        path.display()
    );
    Ok((shown, Some(path)))
}

/// The tool result: one line of JSON (route, endpoint, files, check, tokens, seconds,
/// continuation id, full-text path), then the text.
pub(crate) fn tool_result(outcome: Result<Outcome, String>) -> CallToolResult {
    match outcome {
        // Read by a model: no known secret in it.
        Ok(o) => CallToolResult::success(vec![
            ContentBlock::text(crate::secrets::mask(
                &serde_json::to_string(&o).unwrap_or_default(),
            )),
            ContentBlock::text(crate::secrets::mask(&o.text)),
        ]),
        Err(e) => CallToolResult::error(vec![ContentBlock::text(crate::secrets::mask(&e))]),
    }
}

/// What a progress sender returns.
pub(crate) type Sent = std::pin::Pin<Box<dyn Future<Output = ()> + Send>>;

/// A progress sender for a request, when its client asked for progress (`_meta.progressToken`).
pub(crate) fn notifier(
    ctx: &RequestContext<RoleServer>,
) -> Option<impl FnMut(f64, String) -> Sent + Send + use<>> {
    let token = ctx.meta.get_progress_token()?;
    let peer = ctx.peer.clone();
    Some(move |progress: f64, message: String| {
        let peer = peer.clone();
        // Read by a model: no known secret in it.
        let message = crate::secrets::mask(&message).into_owned();
        let param = ProgressNotificationParam::new(token.clone(), progress).with_message(message);
        Box::pin(async move {
            if let Err(e) = peer.notify_progress(param).await {
                tracing::debug!("progress notification not sent: {e}");
            }
        }) as Sent
    })
}

#[cfg(test)]
mod tests;
