//! The `delegate` tool on the call engine, in process: the same resolve → route →
//! `engine::prepare` → `engine::execute` as the command line, into a buffer sink that
//! counts tokens for the progress ticker, with the request's cancellation token as the
//! shutdown future, and the call appended to the run log like a CLI call.
//!
//! The engine's future borrows a `dyn Sink` (not `Send`), so each call runs on a blocking
//! thread that drives it with the server runtime's handle: sockets and timers stay on the
//! one runtime, the tool's own future stays `Send`, and calls stay independent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::delegate::{Delegate, DelegateRequest, Progress, Reply};
use super::tools::RouteChoice;
use crate::config::env::{Env, names};
use crate::config::{self, Overrides, RouteMode};
use crate::engine;
use crate::error::ExitStatus;
use crate::files::inputs::{self, InputFile};
use crate::output::{Output, Reporter, Sink};
use crate::route::Router;
use crate::runlog;

/// The router, compiled once per session (or why it cannot be).
pub(crate) type SharedRouter = Arc<OnceLock<Result<Router, String>>>;

/// The engine face: the project, its environment, and what a session shares between
/// calls (the router, and one HTTP client per connect timeout, so connections are reused).
#[derive(Clone)]
pub(crate) struct EngineFace {
    env: Arc<Env>,
    root: PathBuf,
    router: SharedRouter,
    clients: Arc<Mutex<HashMap<Duration, reqwest::Client>>>,
}

impl EngineFace {
    /// A face for the project at `root` (made canonical: inputs are checked against it).
    pub(crate) fn new(env: Arc<Env>, root: PathBuf, router: SharedRouter) -> EngineFace {
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        EngineFace {
            env,
            root,
            router,
            clients: Arc::default(),
        }
    }

    fn client(&self, connect: Duration) -> Result<reqwest::Client, String> {
        let mut clients = self.clients.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(c) = clients.get(&connect) {
            return Ok(c.clone());
        }
        let c = crate::http::client(connect, None).map_err(|e| e.to_string())?;
        clients.insert(connect, c.clone());
        Ok(c)
    }

    /// One call, start to end, on a blocking thread: `handle` drives the engine.
    fn call(
        &self,
        request: DelegateRequest,
        progress: Progress,
        cancel: CancellationToken,
        handle: &tokio::runtime::Handle,
    ) -> Result<Reply, String> {
        let env = &*self.env;
        if env.flag(names::LLM_DISABLED) {
            return Err("LLM calls are disabled (LLM_DISABLED is set); nothing sent".to_owned());
        }
        let started = SystemTime::now();
        let clock = Instant::now();
        let choice = request.route.unwrap_or_default();
        let mut overrides = Overrides {
            local: choice == RouteChoice::Local,
            api: choice == RouteChoice::Api,
            profile: request.profile.clone(),
            ..Overrides::default()
        };
        let (cfg, sources) = config::load(env, &self.root).map_err(|e| e.to_string())?;
        let decision = if config::route_mode(&overrides, env) == RouteMode::Auto {
            let router = self
                .router
                .get_or_init(|| Router::from_table(cfg.router.as_ref()).map_err(|e| e.to_string()));
            Some(
                router
                    .as_ref()
                    .map_err(Clone::clone)?
                    .decide(&request.prompt),
            )
        } else {
            None
        };
        overrides.suggested_profile = decision.as_ref().map(|d| d.profile.to_owned());
        let settings = config::resolve_from(cfg, sources, &overrides, env, &self.root)
            .map_err(|e| e.to_string())?;
        let files =
            inputs::resolve(&request.files, &self.root, &self.root).map_err(|e| e.to_string())?;
        let report = Reporter::new(true);
        let client = self.client(settings.timeouts.connect)?;
        let local = crate::plan::endpoints(&settings, crate::stream::Route::Local)
            .into_iter()
            .next()
            .map(|e| e.backend(&settings.root));
        // The local model's context length, asked only when the request outgrows the
        // profile's window (as the command line does), bounded so a dead server costs little.
        let context_length = || {
            let backend = local.as_ref()?;
            let limit = Duration::from_secs(1);
            let client = crate::http::client(limit, Some(limit)).ok()?;
            handle.block_on(backend.context_length(&client))
        };
        let mut plan = engine::prepare(
            settings,
            decision.as_ref(),
            &engine::Request {
                prompt: request.prompt,
                explain: false,
                dry_run: false,
            },
            report,
            &context_length,
        )
        .map_err(|e| e.to_string())?;
        add_inputs(&mut plan, &files)?;

        let mut sink = Counting {
            out: Output::buffered(),
            progress,
            bytes: 0,
        };
        let shutdown = async move {
            cancel.cancelled().await;
            ExitStatus::Sigint
        };
        let transcript = handle.block_on(engine::execute(
            &mut plan, &client, &mut sink, report, shutdown,
        ));
        let status = transcript.exit_status();
        let record = crate::call::log_record(&plan, &transcript, clock.elapsed(), status, started);
        if let Some(path) = &plan.settings.log.file
            && let Err(e) = runlog::append(path, &record)
        {
            report.warn(&format!("cannot write the run log {}: {e}", path.display()));
        }
        if let Err(e) = transcript.result {
            return Err(e.to_string());
        }
        let answered = transcript.answered();
        Ok(Reply {
            text: sink.out.take_text(),
            route: answered.map_or(record.route.clone(), |a| a.route.as_str().to_owned()),
            endpoint: answered
                .map(|a| match a.endpoint == a.backend {
                    true => format!("{} {}", a.backend, a.model),
                    false => format!("{} ({} {})", a.endpoint, a.backend, a.model),
                })
                .unwrap_or_default(),
            files_written: Vec::new(),
            check: None,
            tokens: record.tokens_out,
            seconds: (clock.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        })
    }
}

/// Adds the input files to the context, after the sections the slicer chose, when they fit
/// the route's budget (nothing is ever cut: too large is an error naming the file).
fn add_inputs(plan: &mut engine::Plan, files: &[InputFile]) -> Result<(), String> {
    if files.is_empty() {
        return Ok(());
    }
    let used = plan.selection.chosen.iter().map(|c| c.tokens).sum();
    inputs::check_budget(files, plan.selection.budget, used, plan.route.as_str())
        .map_err(|e| e.to_string())?;
    plan.selection
        .blocks
        .extend(files.iter().map(InputFile::context_block));
    plan.prompt = crate::prompt::assemble(
        &plan.selection.blocks,
        plan.settings.profile.system.as_deref(),
        &plan.settings.directive,
        &plan.prompt_text,
    );
    Ok(())
}

impl Delegate for EngineFace {
    fn run(
        &self,
        request: DelegateRequest,
        progress: Progress,
        cancel: CancellationToken,
    ) -> impl Future<Output = Result<Reply, String>> + Send {
        let face = self.clone();
        async move {
            // The call ends when the request is cancelled or this future is dropped.
            let call = cancel.child_token();
            let _dropped = call.clone().drop_guard();
            let handle = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || face.call(request, progress, call, &handle))
                .await
                .map_err(|e| format!("the delegate call failed: {e}"))?
        }
    }
}

/// The answer in a buffer, its size fed to the progress ticker as tokens (about four
/// characters each, the estimate the run log uses when a server reports none).
struct Counting {
    out: Output,
    progress: Progress,
    bytes: u64,
}

impl Sink for Counting {
    fn push(&mut self, text: &str) {
        let before = self.bytes / 4;
        self.bytes += text.len() as u64;
        self.progress.add_tokens(self.bytes / 4 - before);
        self.out.push(text);
    }
    fn flush(&mut self) -> std::io::Result<()> {
        self.out.flush()
    }
    fn delivered(&self) -> u64 {
        self.out.delivered()
    }
    fn rollback(&mut self) -> bool {
        self.out.rollback()
    }
    fn is_closed(&self) -> bool {
        false
    }
}
