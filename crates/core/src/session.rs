//! What every face does before the first byte is sent, written once: load the
//! configuration layers, route the prompt when the route is automatic (the router's
//! profile suggestion goes into the settings), resolve the settings, then plan, with the
//! local model's context length asked at most once and bounded. The command line, `--json`,
//! the files task and MCP each open a session and differ only in what they do with the plan.
//!
//! ```ignore
//! let session = Session::open(&env, &root)?;
//! let router = session.wants_router(&overrides).then(|| session.router()).transpose()?;
//! let resolved = session.resolve(overrides, &prompt, router.as_ref())?;
//! let plan = resolved.plan(&request, report)?;
//! ```

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::config::file::{ConfigFile, Source};
use crate::config::{self, Overrides, RouteMode, Settings, env::Env};
use crate::engine::{self, Plan, Request};
use crate::error::Error;
use crate::output::Reporter;
use crate::route::{Decision, Router};

/// The longest the local model's context-length question may take (less when the connect
/// timeout is shorter): it is asked only when a request outgrows the profile's window.
pub const CONTEXT_LENGTH_LIMIT: Duration = Duration::from_secs(1);

/// The configuration of one project root, as loaded for one call (a long-running face
/// opens one per call, so a changed project file counts at once).
pub struct Session {
    env: Env,
    root: PathBuf,
    cfg: ConfigFile,
    sources: Vec<Source>,
}

/// A prompt routed and its settings resolved: ready to plan (or to look at first, as
/// `--engine` does).
pub struct Resolved {
    /// The settings, with the router's profile suggestion applied.
    pub settings: Settings,
    /// The router's decision, when the route was automatic.
    pub decision: Option<Decision>,
}

impl Session {
    /// Loads the configuration layers of `root`.
    pub fn open(env: &Env, root: &Path) -> Result<Session, Error> {
        let (cfg, sources) = config::load(env, root)?;
        Ok(Session {
            env: env.clone(),
            root: root.to_path_buf(),
            cfg,
            sources,
        })
    }

    /// Whether these overrides leave the route to the router.
    pub fn wants_router(&self, overrides: &Overrides) -> bool {
        config::route_mode(overrides, &self.env) == RouteMode::Auto
    }

    /// Builds the router of every layer's rules, with the project's doc headings.
    pub fn router(&self) -> Result<Router, Error> {
        self.router_builder()()
    }

    /// The same, as a job for another thread (the command line builds it while the prompt
    /// is read).
    pub fn router_builder(&self) -> impl FnOnce() -> Result<Router, Error> + Send + 'static {
        let table = self.cfg.router.clone();
        let (root, files) = (self.root.clone(), config::doc_files(&self.cfg));
        move || Ok(Router::from_table(table.as_ref())?.with_docs(&root, &files))
    }

    /// Routes `prompt` when the route is automatic (`router` is then required) and
    /// resolves the settings with the router's profile suggestion.
    pub fn resolve(
        self,
        mut overrides: Overrides,
        prompt: &str,
        router: Option<&Router>,
    ) -> Result<Resolved, Error> {
        let decision = match self.wants_router(&overrides) {
            true => router.map(|r| r.decide(prompt)),
            false => None,
        };
        overrides.suggested_profile = decision.as_ref().map(|d| d.profile.to_owned());
        let settings =
            config::resolve_from(self.cfg, self.sources, &overrides, &self.env, &self.root)?;
        Ok(Resolved { settings, decision })
    }
}

impl Resolved {
    /// Plans the call: context chosen and fitted, attempts listed. The local model's
    /// context length is asked only when the request outgrows the profile's window, within `CONTEXT_LENGTH_LIMIT`. Call it off any async task (a blocking
    /// thread, or before a runtime starts).
    pub fn plan(self, request: &Request, report: Reporter) -> Result<Plan, Error> {
        let local = crate::plan::endpoints(&self.settings, crate::stream::Route::Local)
            .into_iter()
            .next()
            .map(|e| e.backend(&self.settings.root));
        let limit = self.settings.timeouts.connect.min(CONTEXT_LENGTH_LIMIT);
        let context_length = move || {
            let backend = local.as_ref()?;
            let client = crate::http::client(limit, Some(limit)).ok()?;
            let ask = backend.context_length(&client);
            // A face on a runtime's blocking thread (MCP) uses that runtime; the command
            // line has none yet.
            match tokio::runtime::Handle::try_current() {
                Ok(handle) => handle.block_on(ask),
                Err(_) => tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .ok()?
                    .block_on(ask),
            }
        };
        engine::prepare(
            self.settings,
            self.decision.as_ref(),
            request,
            report,
            &context_length,
        )
    }
}
