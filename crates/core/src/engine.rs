//! The engine: one pipeline that several faces drive.
//!
//! `prepare` turns resolved settings and a prompt into a [`Plan`]: the route, the context
//! slice, the assembled prompt and the attempts in order (it reads the project's docs and
//! the pool's small state file, nothing else). [`execute`] runs a plan into any [`Sink`]
//! until an attempt answers, every attempt has failed, or `shutdown` resolves, and returns
//! the [`Transcript`] of every attempt. Faces are renderers of a transcript plus a sink:
//! stdout streaming and the `--json` document (`call.rs`), the run-log record (`runlog`),
//! and next the file-writing and MCP faces, none of which runs its own pipeline.
//!
//! ```text
//! let plan = engine::prepare(settings, decision.as_ref(), &request, report, &|| None)?;
//! let transcript = engine::execute(&mut plan, &client, &mut sink, report, engine::signals()).await;
//! ```

use std::future::Future;
use std::time::Duration;

use tokio::time::Instant;

use crate::backend::Messages;
use crate::backend::ollama::{self, Fit};
use crate::config::{DEFAULT_NUM_CTX_MAX, RouteMode, Settings};
use crate::context::{self, Selection};
use crate::error::{Error, ExitStatus, Failure, FailureKind};
use crate::event::Event;
use crate::output::{Reporter, Sink, Watched, Watcher};
use crate::plan::plan;
use crate::pool::Pool;
use crate::prompt;
use crate::route::Decision;
use crate::stream::{self, Attempt, Outcome, Route};

/// What a face asks for.
#[derive(Debug, Clone, Default)]
pub struct Request {
    /// The user's prompt as read.
    pub prompt: String,
    /// Print the routing decision on stderr (`--explain`).
    pub explain: bool,
    /// Nothing will be sent (`--dry-run`, `context`): show every context warning.
    pub dry_run: bool,
    /// Files sent whole with their paths (`-i`), ahead of the project's docs and within
    /// the route's context budget (never cut: a file that does not fit is an error).
    pub inputs: Vec<crate::files::inputs::InputFile>,
    /// Ask for the answer as files (`--write`): adds `files::DIRECTIVE` to the system prompt.
    pub write: bool,
    /// A buffered face (`--write`, `--json`, MCP): an answer that is a refusal is asked
    /// again once on the same endpoint as "Generate code for: …", then falls back.
    pub retry_refusal: bool,
}

/// Everything decided before the first byte is sent.
pub struct Plan {
    /// The settings, with the router's profile suggestion applied.
    pub settings: Settings,
    /// The route tried first.
    pub route: Route,
    /// The messages to send.
    pub prompt: prompt::Prompt,
    /// The context sections chosen, and why.
    pub selection: Selection,
    /// Every attempt, in the order they will be tried.
    pub attempts: Vec<Attempt>,
    /// The shared endpoint health, as read when planning.
    pub pool: Pool,
    /// The user's prompt as read.
    pub prompt_text: String,
    /// The router's confidence when it chose the route (`None`: a flag did).
    pub confidence: Option<f64>,
    /// The `-i` files as context blocks, sent ahead of the docs.
    pub inputs: Vec<prompt::ContextBlock>,
    /// The request rephrased as "Generate code for: …", sent once when an answer is a
    /// refusal (`Request::retry_refusal`).
    pub rephrased: Option<prompt::Prompt>,
    /// What happened while planning (context dropped to fit, routed to the API), in order.
    pub events: Vec<Event>,
}

impl Plan {
    /// The assembled prompt as chat messages.
    pub fn messages(&self) -> Messages<'_> {
        Messages {
            system: &self.prompt.system,
            user: &self.prompt.user,
        }
    }

    /// Replaces the request for the next round on the same route and endpoints (a repair
    /// request): the `-i` files are dropped (the new text carries the current files), the
    /// project's docs and the directive stay.
    pub fn reprompt(&mut self, text: &str) {
        self.inputs.clear();
        let assemble = |user: &str| {
            prompt::assemble(
                &self.selection.blocks,
                self.settings.profile.system.as_deref(),
                &self.settings.directive,
                user,
            )
        };
        if self.rephrased.is_some() {
            self.rephrased = Some(assemble(&crate::files::refusal::rephrase(text)));
        }
        self.prompt = assemble(text);
    }

    /// What round 1 asks, kept to ask it again (`--repair resample`): take it before the
    /// first round (`&mut`: the backends lend their options only that way).
    pub fn first_ask(&mut self) -> FirstAsk {
        FirstAsk {
            prompt: self.prompt.clone(),
            inputs: self.inputs.clone(),
            rephrased: self.rephrased.clone(),
            options: self
                .attempts
                .iter_mut()
                .map(|a| a.backend.options_mut().map(|o| o.clone()))
                .collect(),
        }
    }

    /// Round `round` asks round 1's question again, sampled anew on every attempt
    /// ([`crate::files::repair::resample_options`]).
    pub fn ask_again(&mut self, first: &FirstAsk, round: usize) {
        self.prompt = first.prompt.clone();
        self.inputs = first.inputs.clone();
        self.rephrased = first.rephrased.clone();
        for (attempt, options) in self.attempts.iter_mut().zip(&first.options) {
            if let (Some(now), Some(first)) = (attempt.backend.options_mut(), options) {
                *now = crate::files::repair::resample_options(first, round);
            }
        }
    }
}

/// Round 1's question as a plan asks it: the messages and each attempt's sampling options.
#[derive(Debug, Clone)]
pub struct FirstAsk {
    prompt: prompt::Prompt,
    inputs: Vec<prompt::ContextBlock>,
    rephrased: Option<prompt::Prompt>,
    options: Vec<Option<serde_json::Map<String, serde_json::Value>>>,
}

/// Takes the route (the router's decision when no flag forced one), slices the context,
/// fits it to the model's window and plans the attempts. The settings are not changed: the
/// router's profile suggestion was applied when they were resolved
/// (`Overrides::suggested_profile`), and a raised `num_ctx` lives in the plan's attempts.
///
/// `context_length` is asked, at most once and only when a local request does not fit the
/// profile's `num_ctx` and the profile sets no `num_ctx_max`, for the model's own context
/// length (the face asks the server; `&|| None` for none).
pub fn prepare(
    mut settings: Settings,
    decision: Option<&Decision>,
    request: &Request,
    report: Reporter,
    context_length: &dyn Fn() -> Option<u64>,
) -> Result<Plan, Error> {
    let route = match (settings.mode, decision) {
        (RouteMode::Local, _) | (RouteMode::Auto, None) => Route::Local,
        (RouteMode::Api, _) => Route::Api,
        (RouteMode::Codex, _) => Route::Codex,
        (RouteMode::Auto, Some(d)) => d.route(),
    };
    let confidence = match (settings.mode, decision) {
        (RouteMode::Auto, Some(d)) => {
            if request.explain {
                report.status(&format!(
                    "router: {} (confidence {:.2}, profile {}; rules: {})",
                    d.route,
                    d.confidence,
                    d.profile,
                    d.rules.join(", ")
                ));
            }
            Some(d.confidence)
        }
        _ => None,
    };
    if request.write {
        // The write face's directive is part of this call's request, not a setting.
        let edits = crate::files::edits::directive(&request.inputs, settings.edit_blocks_above);
        if !edits.is_empty() && settings.repair == crate::files::repair::Strategy::Resample {
            // Asking again sends the inputs as they were, and edit blocks written against
            // them stop matching once a round has changed the file: such a task gets the
            // feedback, which carries the file as it is.
            // Said only with -v: a call without --check has no round to repair.
            settings.repair = crate::files::repair::Strategy::Feedback;
            tracing::debug!(
                "--repair resample: inputs over {} lines are changed by edit blocks, so a \
                 failed round gets the feedback instead",
                settings.edit_blocks_above
            );
        }
        settings.directive = [settings.directive.trim(), crate::files::DIRECTIVE, &edits]
            .join("\n\n")
            .trim()
            .to_owned();
    }
    let inputs: Vec<prompt::ContextBlock> = request
        .inputs
        .iter()
        .map(crate::files::inputs::InputFile::context_block)
        .collect();
    let mut events = Vec::new();
    let slice = |route, events: &mut Vec<Event>| {
        slice_and_fit(
            &settings,
            route,
            request,
            &inputs,
            report,
            context_length,
            events,
        )
    };
    let (mut prompt, mut selection, mut num_ctx, over) = slice(route, &mut events)?;
    // A prompt that cannot fit the local model's window is never sent there (it would be
    // cut, or ground through until the deadline): an automatic route takes it to the API,
    // a forced one refuses up front, and no other route falls back to the local one.
    let mut route = route;
    if let Some(too_large) = over.as_ref().filter(|_| route == Route::Local) {
        if settings.mode != RouteMode::Auto || settings.api_disabled {
            return Err(Error::TooLarge(format!(
                "{too_large}; nothing was sent: use --api, or shorten the prompt"
            )));
        }
        let routed = Event::RoutedToApi {
            reason: too_large.clone(),
        };
        report.event(&routed);
        events.push(routed);
        route = Route::Api;
        (prompt, selection, num_ctx, _) = slice(route, &mut events)?;
    }
    let rephrased = request.retry_refusal.then(|| {
        let blocks: Vec<prompt::ContextBlock> =
            inputs.iter().chain(&selection.blocks).cloned().collect();
        prompt::assemble(
            &blocks,
            settings.profile.system.as_deref(),
            &settings.directive,
            &crate::files::refusal::rephrase(&request.prompt),
        )
    });
    let mut pool = Pool::load(settings.pool.state_file.as_deref());
    let mut attempts = plan(&settings, route, &mut pool, num_ctx)?;
    if over.is_some() {
        attempts.retain(|a| a.route != Route::Local);
    }
    if let Some(w) = pool.take_warning() {
        report.warn(&w);
    }
    Ok(Plan {
        settings,
        route,
        prompt,
        selection,
        attempts,
        pool,
        prompt_text: request.prompt.clone(),
        confidence,
        inputs,
        rephrased,
        events,
    })
}

/// One attempt as it went.
#[derive(Debug, Clone)]
pub struct Tried {
    /// The route it served.
    pub route: Route,
    /// The endpoint's name.
    pub endpoint: String,
    /// The provider: `ollama`, `gemini`, `openai`, `command`.
    pub backend: &'static str,
    /// The model asked for.
    pub model: String,
    /// `None` when it answered; else why it failed.
    pub failure: Option<Failure>,
    /// How long it took.
    pub elapsed: Duration,
}

/// What `execute` did: every attempt in order, and how the call ended.
#[derive(Debug)]
pub struct Transcript {
    /// Every attempt made, in order (an interrupted call holds those finished before).
    pub tried: Vec<Tried>,
    /// The answer's outcome, or why there is none.
    pub result: Result<Outcome, Error>,
    /// Bytes of text the sink took.
    pub delivered: u64,
    /// What happened while it ran (attempts, retries, fallbacks, a cut answer), in order;
    /// the plan's own events come before them (`Plan::events`).
    pub events: Vec<Event>,
}

impl Transcript {
    /// The attempt that answered.
    pub fn answered(&self) -> Option<&Tried> {
        self.tried.iter().find(|t| t.failure.is_none())
    }

    /// The exit status this call ends with (a sink's own write error aside).
    pub fn exit_status(&self) -> ExitStatus {
        match &self.result {
            Ok(_) => ExitStatus::Success,
            Err(e) => e.exit_status(),
        }
    }
}

/// Runs the plan's attempts in order into `sink` until one answers. A failure before any
/// text reached the sink falls back to the next attempt (a sink that can take text back,
/// like a buffer, rolls a failed attempt's text back and falls back too); after text was
/// shown it is final. `shutdown` (Ctrl-C, SIGTERM, a client gone) ends the call at once,
/// dropping the attempt in flight (a command's process group is killed with it).
pub async fn execute(
    plan: &mut Plan,
    client: &reqwest::Client,
    sink: &mut dyn Sink,
    report: Reporter,
    shutdown: impl Future<Output = ExitStatus>,
) -> Transcript {
    let mut tried = Vec::new();
    let mut sink = Watched {
        inner: sink,
        watcher: Recorder::default(),
    };
    let result = {
        let work = attempts(plan, client, &mut sink, report, &mut tried);
        tokio::select! {
            r = work => r,
            status = shutdown => Err(Error::Signal(status)),
        }
    };
    if let (Ok(outcome), Some(answered)) = (&result, tried.last())
        && outcome.truncated
    {
        // Into the sink and the transcript; the command line renders it after its end line.
        sink.event(&Event::Truncated {
            endpoint: answered.endpoint.clone(),
        });
    }
    Transcript {
        tried,
        result,
        delivered: sink.inner.delivered(),
        events: sink.watcher.events,
    }
}

/// Emits an event: its stderr line, the sink, the transcript.
pub fn emit(sink: &mut dyn Sink, report: Reporter, event: Event) {
    report.event(&event);
    sink.event(&event);
}

/// Keeps every event the face's sink is told of, for the transcript.
#[derive(Default)]
struct Recorder {
    events: Vec<Event>,
}

impl Watcher<dyn Sink + '_> for Recorder {
    fn event(&mut self, event: &Event) {
        self.events.push(event.clone());
    }
}

/// Tries the plan's attempts in order until one answers: fallback only before any byte
/// reached `sink`, the 429 retry, the refusal retry and the pool's health records.
///
/// Longer than the usual limit on purpose: these decisions share the failures so far and
/// the sink's "anything written yet" state, and the order they are taken in is the
/// fallback contract; one loop keeps that order visible.
async fn attempts(
    plan: &mut Plan,
    client: &reqwest::Client,
    sink: &mut dyn Sink,
    report: Reporter,
    tried: &mut Vec<Tried>,
) -> Result<Outcome, Error> {
    let messages = Messages {
        system: &plan.prompt.system,
        user: &plan.prompt.user,
    };
    let timeouts = plan.settings.timeouts;
    let cooldown = plan.settings.pool.cooldown;
    let rephrased = plan.rephrased.as_ref().map(|p| Messages {
        system: &p.system,
        user: &p.user,
    });
    let mut failures: Vec<Failure> = Vec::new();
    for (index, attempt) in plan.attempts.iter().enumerate() {
        if let Some(last) = failures.last() {
            // codex-wrap's engine stands in for the local server that failed: advice to
            // start that server (`ollama serve`) is beside the point when it answers.
            let mut last = last.clone();
            if attempt.endpoint == crate::plan::ENGINE_ENDPOINT {
                last.hint = None;
            }
            let from = index
                .checked_sub(1)
                .map(|i| plan.attempts[i].endpoint.clone())
                .unwrap_or_default();
            let fallback = Event::Fallback {
                from,
                to: attempt.endpoint.clone(),
                reason: last.to_string(),
                next: attempt.label(),
            };
            emit(sink, report, fallback);
        }
        sink.event(&Event::AttemptStarted {
            route: attempt.route.as_str().to_owned(),
            endpoint: attempt.endpoint.clone(),
            model: attempt.backend.model().to_owned(),
            number: index + 1,
            attempt: attempt.label(),
        });
        let start = Instant::now();
        let mut asked = messages;
        let mut refused = false;
        let result = loop {
            let result = match attempt.backend.check_ready() {
                Ok(()) => stream::attempt(client, attempt, asked, &timeouts, sink, report).await,
                Err(f) => Err(f),
            };
            let Some(again) = rephrased.filter(|_| {
                result.is_ok() && sink.answer().is_some_and(crate::files::refusal::is_refusal)
            }) else {
                break result;
            };
            sink.rollback();
            if refused {
                break Err(Failure::new(
                    FailureKind::Empty,
                    "the answer is a refusal, also when asked as \"Generate code for: …\"",
                ));
            }
            refused = true;
            let retried = Event::RefusalRetried {
                endpoint: attempt.endpoint.clone(),
                attempt: attempt.label(),
            };
            emit(sink, report, retried);
            asked = again;
        };
        let mut record = Tried {
            route: attempt.route,
            endpoint: attempt.endpoint.clone(),
            backend: attempt.backend.name(),
            model: attempt.backend.model().to_owned(),
            failure: None,
            elapsed: start.elapsed(),
        };
        match result {
            Ok(mut outcome) => {
                plan.pool.record(&attempt.health_key, Ok(()), cooldown);
                tried.push(record);
                outcome.index = index;
                return Ok(outcome);
            }
            Err(mut failure) => {
                // A refusal says nothing about the endpoint's health.
                if sink.delivered() == 0 && !refused {
                    plan.pool
                        .record(&attempt.health_key, Err(&failure), cooldown);
                }
                failure.attempt = attempt.label();
                if failure.kind == FailureKind::Blocked {
                    record.failure = Some(failure.clone());
                    tried.push(record);
                    return Err(Error::Blocked(failure));
                }
                if sink.delivered() > 0 {
                    let delivered = sink.delivered();
                    if !sink.rollback() {
                        record.failure = Some(failure.clone());
                        tried.push(record);
                        return Err(Error::Interrupted {
                            delivered,
                            cause: failure,
                        });
                    }
                    failure.message =
                        format!("{} (after {delivered} bytes, discarded)", failure.message);
                }
                record.failure = Some(failure.clone());
                tried.push(record);
                failures.push(failure.clone());
                if !failure.kind.may_fall_back() {
                    break;
                }
            }
        }
    }
    Err(Error::NoRoute(failures))
}

/// The process's Ctrl-C and SIGTERM as a shutdown future for `execute`.
pub async fn signals() -> ExitStatus {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match (
            signal(SignalKind::interrupt()),
            signal(SignalKind::terminate()),
        ) {
            (Ok(mut int), Ok(mut term)) => tokio::select! {
                _ = int.recv() => ExitStatus::Sigint,
                _ = term.recv() => ExitStatus::Sigterm,
            },
            _ => std::future::pending().await,
        }
    }
    #[cfg(not(unix))]
    {
        match tokio::signal::ctrl_c().await {
            Ok(()) => ExitStatus::Sigint,
            Err(_) => std::future::pending().await,
        }
    }
}

/// Chooses the context for the route, then makes the request fit the local model's
/// window: Ollama silently cuts a prompt longer than `num_ctx`, so `num_ctx` is raised for
/// this call up to the profile's `num_ctx_max`, and past that context sections are dropped
/// (never the user's prompt), each with a stderr line.
fn slice_and_fit(
    settings: &Settings,
    route: Route,
    request: &Request,
    inputs: &[prompt::ContextBlock],
    report: Reporter,
    context_length: &dyn Fn() -> Option<u64>,
    events: &mut Vec<Event>,
) -> Result<(prompt::Prompt, Selection, Option<u64>, Option<String>), Error> {
    let prompt_text = request.prompt.as_str();
    let show_all_warnings = request.dry_run;
    let ctx = &settings.context;
    let budget = match route {
        Route::Local => ctx.local_budget,
        Route::Api | Route::Codex => ctx.api_budget,
    };
    // The `-i` files come first and whole; the docs get what they leave.
    crate::files::inputs::check_budget(&request.inputs, budget, 0, route.as_str())?;
    let input_tokens: usize = request
        .inputs
        .iter()
        .map(crate::files::inputs::InputFile::tokens)
        .sum();
    let budget = budget - input_tokens;
    let mut warnings = Vec::new();
    let docs = context::load(&settings.root, &ctx.files, &mut warnings);
    // A project without CONTRACTS.md is normal for quick local calls and for a coding
    // agent that reads the project itself: say so only when context was asked for or the
    // API route expects it.
    if route != Route::Api && ctx.named.is_empty() && !show_all_warnings {
        warnings.retain(|w| !w.starts_with("no "));
    }
    let depth = match route {
        Route::Local => context::Depth::Minimal,
        Route::Api | Route::Codex => context::Depth::Full,
    };
    let mut selection = context::select(&docs, ctx, prompt_text, budget, depth);
    for w in warnings.iter().chain(&selection.warnings) {
        report.warn(w);
    }

    let (current, reserve) = ollama::window(&settings.profile.options);
    let mut max = settings.profile.num_ctx_max;
    // Only a route with an endpoint that cuts a long prompt silently (Ollama) is fitted.
    let fitted = settings
        .routes
        .get(route)
        .iter()
        .any(|e| e.provider.cuts_to_window());
    loop {
        let blocks: Vec<prompt::ContextBlock> =
            inputs.iter().chain(&selection.blocks).cloned().collect();
        let assembled = prompt::assemble(
            &blocks,
            settings.profile.system.as_deref(),
            &settings.directive,
            prompt_text,
        );
        if !fitted {
            return Ok((assembled, selection, None, None));
        }
        // Conservative: a window too small is cut silently, one too large only costs memory.
        let need = ollama::fit_tokens(&assembled.system)
            + ollama::fit_tokens(&assembled.user)
            + reserve
            + 32;
        if need > current && max.is_none() && route == Route::Local {
            max = Some(context_length().unwrap_or(DEFAULT_NUM_CTX_MAX));
        }
        let ceiling = max.unwrap_or(DEFAULT_NUM_CTX_MAX).max(current);
        match ollama::fit(current, ceiling, need) {
            Fit::Fits => return Ok((assembled, selection, None, None)),
            Fit::Raise(raised) => {
                tracing::debug!(from = current, to = raised, "raising num_ctx for this call");
                return Ok((assembled, selection, Some(raised), None));
            }
            Fit::Over(_) if selection.blocks.is_empty() || route != Route::Local => {
                let too_large = format!(
                    "the prompt needs about {need} tokens with the answer's room, more than the local model's window (num_ctx_max {ceiling})"
                );
                return Ok((assembled, selection, Some(ceiling), Some(too_large)));
            }
            Fit::Over(_) => {
                if let Some(dropped) = selection.blocks.pop() {
                    selection.chosen.pop();
                    let event = Event::ContextDropped {
                        section: dropped.label,
                        num_ctx_max: ceiling,
                    };
                    report.event(&event);
                    events.push(event);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::Overrides;
    use crate::config::env::Env;
    use crate::output::Output;

    /// A plan for the codex route whose endpoint is `argv`, in a fresh project.
    fn plan(dir: &std::path::Path, argv: &str) -> Plan {
        plan_with(dir, argv, false)
    }

    fn plan_with(dir: &std::path::Path, argv: &str, retry_refusal: bool) -> Plan {
        // The user's own configuration: a project's may not define a command endpoint.
        std::fs::create_dir_all(dir.join("codex-wrap")).unwrap();
        std::fs::write(
            dir.join("codex-wrap/profiles.toml"),
            format!("[endpoints.cmd]\nprovider = \"command\"\ncommand = {argv}\n[routes]\ncodex = \"cmd\"\n"),
        )
        .unwrap();
        let run = Overrides {
            codex: true,
            ..Overrides::default()
        };
        let home = dir.display().to_string();
        let env = Env::from_pairs([("HOME", home.as_str()), ("XDG_CONFIG_HOME", home.as_str())]);
        let settings = crate::config::resolve(&run, &env, dir).unwrap();
        let request = Request {
            prompt: "say hi".into(),
            retry_refusal,
            ..Request::default()
        };
        prepare(settings, None, &request, Reporter::new(true), &|| None).unwrap()
    }

    #[tokio::test]
    async fn a_buffer_sink_gets_the_answer_and_the_transcript_names_the_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = plan(
            dir.path(),
            r#"["sh", "-c", "cat >/dev/null; printf hello"]"#,
        );
        let client = crate::http::client(Duration::from_secs(1), None).unwrap();
        let mut sink = Output::buffered();
        let t = execute(
            &mut plan,
            &client,
            &mut sink,
            Reporter::new(true),
            std::future::pending(),
        )
        .await;
        assert_eq!(sink.take_text(), "hello");
        assert_eq!(t.exit_status(), ExitStatus::Success);
        assert_eq!(t.answered().unwrap().endpoint, "cmd");
        assert_eq!(t.delivered, 5);
    }

    #[tokio::test]
    async fn a_refusal_is_asked_again_rephrased_in_a_buffered_face_only() {
        let dir = tempfile::tempdir().unwrap();
        let script = r#"["sh", "-c", "case \"$(cat)\" in *'Generate code for: say hi'*) printf 'ok: code';; *) printf 'I am sorry, but I cannot help with that.';; esac"]"#;
        let client = crate::http::client(Duration::from_secs(1), None).unwrap();
        // Without the flag (streaming faces) the refusal is the answer.
        for (retry, want) in [(true, "ok: code"), (false, "I am sorry")] {
            let mut plan = plan_with(dir.path(), script, retry);
            let mut sink = Output::buffered();
            let report = Reporter::new(true);
            let t = execute(
                &mut plan,
                &client,
                &mut sink,
                report,
                std::future::pending(),
            )
            .await;
            assert_eq!(t.exit_status(), ExitStatus::Success);
            assert!(sink.take_text().starts_with(want), "{retry}");
        }
    }

    #[tokio::test]
    async fn shutdown_ends_the_call_with_its_status() {
        let dir = tempfile::tempdir().unwrap();
        let mut plan = plan(dir.path(), r#"["sleep", "30"]"#);
        let client = crate::http::client(Duration::from_secs(1), None).unwrap();
        let mut sink = Output::buffered();
        let shutdown = async {
            tokio::time::sleep(Duration::from_millis(50)).await;
            ExitStatus::Sigterm
        };
        let started = std::time::Instant::now();
        let t = execute(&mut plan, &client, &mut sink, Reporter::new(true), shutdown).await;
        assert!(matches!(t.result, Err(Error::Signal(ExitStatus::Sigterm))));
        assert_eq!(t.exit_status(), ExitStatus::Sigterm);
        assert!(started.elapsed() < Duration::from_secs(5));
    }
}
