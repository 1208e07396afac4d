//! The `delegate` tool on the call engine, in process: the same resolve → route →
//! `engine::prepare` → `engine::execute` as the command line, into a buffer sink that
//! counts tokens and passes each event on for progress notifications (the write task's
//! listener does the same), with the request's cancellation token as the shutdown future,
//! and the call appended to the run log like a CLI call.
//!
//! The engine's future borrows a `dyn Sink` (not `Send`), so each call runs on a blocking
//! thread that drives it with the server runtime's handle: sockets and timers stay on the
//! one runtime, the tool's own future stays `Send`, and calls stay independent.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use tokio_util::sync::CancellationToken;

use super::delegate::{Delegate, DelegateRequest, Progress, Reply};
use super::tools::RouteChoice;
use crate::config::Overrides;
use crate::config::env::{Env, names};
use crate::engine;
use crate::error::ExitStatus;
use crate::event::Summary;
use crate::files::inputs;
use crate::output::{Output, Reporter, Watched, Watcher};
use crate::session::Session;

/// The engine face: the project, its environment, and what a server shares between calls
/// (one HTTP client per connect timeout, so connections are reused). The configuration
/// and the router are read anew for each call: a project file changed between two calls
/// counts at once (building the router costs about 0.1 ms).
#[derive(Clone)]
pub(crate) struct EngineFace {
    env: Arc<Env>,
    root: PathBuf,
    clients: Arc<Mutex<HashMap<Duration, reqwest::Client>>>,
}

impl EngineFace {
    /// A face for the project at `root` (made canonical: inputs are checked against it).
    pub(crate) fn new(env: Arc<Env>, root: PathBuf) -> EngineFace {
        let root = std::fs::canonicalize(&root).unwrap_or(root);
        EngineFace {
            env,
            root,
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
        // Trust is checked on every call: a project file changed since the last one revokes
        // it now, and an untrusted project's .env.local is never in this environment.
        let env = &crate::config::trust::refresh(&self.env, &self.root);
        if env.flag(names::LLM_DISABLED) {
            return Err("LLM calls are disabled (LLM_DISABLED is set); nothing sent".to_owned());
        }
        let started = SystemTime::now();
        let clock = Instant::now();
        let choice = request.route.unwrap_or_default();
        let overrides = Overrides {
            local: choice == RouteChoice::Local,
            api: choice == RouteChoice::Api,
            profile: request.profile.clone(),
            ..Overrides::default()
        };
        let session = Session::open(env, &self.root).map_err(|e| e.to_string())?;
        let router = match session.wants_router(&overrides) {
            true => Some(session.router().map_err(|e| format!("{e:#}"))?),
            false => None,
        };
        let resolved = session
            .resolve(overrides, &request.prompt, router.as_ref())
            .map_err(|e| e.to_string())?;
        // Checked as text first, the same way for every such path: the answer must not tell
        // whether a file outside the root exists, and `/**` must not walk the disk.
        if let Some(outside) = request.files.iter().find(|f| {
            let p = std::path::Path::new(f.as_str());
            p.is_absolute()
                || f.starts_with('~')
                || p.components()
                    .any(|c| matches!(c, std::path::Component::ParentDir))
        }) {
            return Err(format!(
                "files: {outside:?} is not a path inside the project root; give root-relative paths"
            ));
        }
        // A task that writes waits for its turn in this root before it reads its inputs.
        let _turn = match request.write {
            true => Some(
                handle
                    .block_on(super::jobs::write_turn(
                        &self.root,
                        super::state_dir(env).as_deref(),
                        &cancel,
                    ))
                    .ok_or("cancelled while another task was writing in this root")?,
            ),
            false => None,
        };
        let files =
            inputs::resolve(&request.files, &self.root, &self.root).map_err(|e| e.to_string())?;
        let report = Reporter::new(true);
        let client = self.client(resolved.settings.timeouts.connect)?;
        let input_paths: Vec<String> = files.iter().map(|f| f.rel.clone()).collect();
        let mut plan = resolved
            .plan(
                &engine::Request {
                    prompt: request.prompt,
                    explain: false,
                    dry_run: false,
                    inputs: files,
                    write: request.write,
                    retry_refusal: true,
                },
                report,
            )
            .map_err(|e| e.to_string())?;
        // What planning did (context dropped to fit, routed to the API) comes first.
        for event in &plan.events {
            progress.event(event);
        }

        let shutdown = async move {
            cancel.cancelled().await;
            ExitStatus::Sigint
        };
        if request.write {
            // The check runs only in the sandbox or when the user listed it: decided before
            // the model is asked, so a refused check costs nothing.
            let sandbox = match &request.check {
                Some(command) => crate::files::sandbox::for_mcp(env, command)?,
                None => false,
            };
            let confine = crate::files::check::Confine::new(sandbox, env, &plan.settings);
            // The files face: write the answer's files, run the check, repair.
            let task = crate::files::face::Task {
                root: self.root.clone(),
                inputs: input_paths,
                // MCP `files` never unlock a protected assistant file.
                literal_inputs: Vec::new(),
                allow_write: crate::config::allow_write_set(&plan.settings.allow_write).ok(),
                force: false,
                dry_run: false,
                check: request.check.clone(),
                check_timeout: crate::files::check::DEFAULT_TIMEOUT,
                confine,
                rounds: 3,
                keep_failed: false,
                attempts_dir: super::state_dir(&self.env).map(|d| d.join("failed")),
                on_event: Some(crate::files::face::OnEvent(Arc::new({
                    let progress = progress.clone();
                    move |event| progress.event(event)
                }))),
            };
            let done = handle.block_on(crate::files::face::run_task(
                &mut plan, &task, &client, report, shutdown,
            ));
            // One record for the call, as the command line writes it, with every round.
            if let Some(last) = done.transcripts.last() {
                let mut record =
                    crate::record::log_record(&plan, last, clock.elapsed(), done.status, started);
                record.set_rounds(&done.rounds, done.status == ExitStatus::CheckFailed);
                crate::record::append_log(&plan, &record, report);
            }
            if let Some(error) = &done.error {
                return Err(error.clone());
            }
            if let Some(Err(e)) = done.transcripts.last().map(|t| &t.result) {
                return Err(e.to_string());
            }
            let answered = done.transcripts.last().and_then(|t| t.answered());
            let files_written = done
                .files()
                .into_iter()
                .filter(|f| {
                    matches!(
                        f.action,
                        crate::files::write::Action::Created | crate::files::write::Action::Updated
                    )
                })
                .map(|f| f.path)
                .collect();
            let tokens = done
                .transcripts
                .iter()
                .filter_map(|t| t.result.as_ref().ok())
                .map(|o| o.usage.completion_tokens.unwrap_or(o.bytes.div_ceil(4)))
                .sum();
            return Ok(Reply {
                text: done.summary(false),
                route: answered.map_or_else(String::new, |a| a.route.as_str().to_owned()),
                endpoint: answered.map(endpoint_label).unwrap_or_default(),
                files_written,
                check: done.check.as_ref().map(|c| super::delegate::CheckOutcome {
                    command: c.command.clone(),
                    passed: c.passed(),
                    tail: c.tail.clone(),
                }),
                tokens,
                seconds: (clock.elapsed().as_secs_f64() * 100.0).round() / 100.0,
                summary: Summary::of(crate::files::face::task_events(&plan, &done)),
            });
        }

        // Bounded while it streams, as the write face is: a reply is held (and saved) whole.
        // The answer in a buffer; the engine reads it to tell a refusal, asked again once.
        let mut out = Output::buffered_limited(crate::files::MAX_ANSWER_BYTES);
        let mut sink = Watched {
            inner: &mut out,
            watcher: Counting { progress, bytes: 0 },
        };
        let transcript = handle.block_on(engine::execute(
            &mut plan, &client, &mut sink, report, shutdown,
        ));
        let status = transcript.exit_status();
        let record =
            crate::record::log_record(&plan, &transcript, clock.elapsed(), status, started);
        crate::record::append_log(&plan, &record, report);
        if out.over_limit() {
            return Err(format!(
                "the answer is over {} MiB; the stream was stopped there",
                crate::files::MAX_ANSWER_BYTES >> 20
            ));
        }
        if let Err(e) = transcript.result {
            return Err(e.to_string());
        }
        let answered = transcript.answered();
        Ok(Reply {
            text: out.take_text(),
            route: answered.map_or(record.route.clone(), |a| a.route.as_str().to_owned()),
            endpoint: answered.map(endpoint_label).unwrap_or_default(),
            files_written: Vec::new(),
            check: None,
            tokens: record.tokens_out,
            seconds: (clock.elapsed().as_secs_f64() * 100.0).round() / 100.0,
            summary: Summary::of(crate::send::call_events(&plan, &transcript)),
        })
    }
}

/// The endpoint that answered, as a reply names it (`ollama qwen2.5-coder:14b`).
fn endpoint_label(a: &engine::Tried) -> String {
    match a.endpoint == a.backend {
        true => format!("{} {}", a.backend, a.model),
        false => format!("{} ({} {})", a.endpoint, a.backend, a.model),
    }
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

/// Feeds the answer's size to the progress reporter as tokens (about four characters
/// each, the estimate the run log uses when a server reports none) and passes each event on.
struct Counting {
    progress: Progress,
    bytes: u64,
}

impl Watcher<Output> for Counting {
    fn pushed(&mut self, text: &str) {
        let before = self.bytes / 4;
        self.bytes += text.len() as u64;
        self.progress.add_tokens(self.bytes / 4 - before);
    }
    /// To the progress notifications, as it happens.
    fn event(&mut self, event: &crate::event::Event) {
        self.progress.event(event);
    }
    /// Only past the buffer's limit: the engine then stops the stream.
    fn is_closed(&self, out: &Output) -> bool {
        out.over_limit()
    }
}
