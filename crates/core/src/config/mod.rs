//! Resolved settings: flags > environment > project file > user file > built-in.
//!
//! After `resolve`, the rest of the program sees only `Settings`; no other module reads
//! the environment or a configuration file.

pub use crate::env;
pub mod file;
mod pick;
pub mod provenance;
pub mod root;
pub mod trust;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

pub use crate::backend::Provider;
use crate::backend::{gemini, ollama, openai};
use crate::context::{ContextSettings, label_alias, parse_hints};
pub use crate::deadline::Timeouts;
use crate::error::Error;
use crate::pool::{PoolSettings, Strategy};
pub use crate::secret::Secret;
use env::{Env, names};
use file::{ConfigFile, ProfileConfig, Source};
use pick::Picker;
pub use provenance::{Origin, Provenance};

/// Which route the caller asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RouteMode {
    /// The classifier decides; fallback both ways.
    Auto,
    /// `--local`: Ollama only.
    Local,
    /// `--api`: Gemini only.
    Api,
    /// `--codex` or `FORCE_CODEX=1`: the codex route only.
    Codex,
}

/// One resolved profile.
#[derive(Debug, Clone)]
pub struct Profile {
    /// Its name in profiles.toml.
    pub name: String,
    /// Ollama model.
    pub model: String,
    /// One line describing it.
    pub description: String,
    /// Ollama options, passed through as JSON.
    pub options: serde_json::Map<String, serde_json::Value>,
    /// Ollama keep_alive, only when set.
    pub keep_alive: Option<serde_json::Value>,
    /// This profile's attempt deadline.
    pub timeout: Option<Duration>,
    /// System prompt placed before the directive.
    pub system: Option<String>,
    /// `false`: warn that guardrails are off.
    pub guardrails: bool,
    /// Ceiling for raising `num_ctx`; `None`: the model's own context length, as the
    /// local server reports it (Ollama `/api/show`), else `DEFAULT_NUM_CTX_MAX`.
    pub num_ctx_max: Option<u64>,
}

/// `[files] edit_blocks_above` when not set: inputs with more lines are changed by edits.
pub const EDIT_BLOCKS_ABOVE: usize = 150;

/// The globs of the user's `[files] allow_write` (root-relative, gitignore-like `*`, `**`).
pub fn allow_write_set(globs: &[String]) -> Result<globset::GlobSet, String> {
    let mut set = globset::GlobSetBuilder::new();
    for g in globs {
        let glob = globset::GlobBuilder::new(g)
            .literal_separator(true)
            .build()
            .map_err(|e| format!("[files] allow_write {g:?}: {e}"))?;
        set.add(glob);
    }
    set.build().map_err(|e| e.to_string())
}

/// The `num_ctx` ceiling when neither the profile nor the server says.
pub const DEFAULT_NUM_CTX_MAX: u64 = 32_768;

/// The built-in `gemini` endpoint's settings, while they are resolved.
#[derive(Debug, Clone)]
struct GeminiSettings {
    /// Base URL without trailing slash.
    base_url: String,
    /// Model name.
    model: String,
    /// The API key, if any.
    key: Option<Secret>,
}

/// One endpoint as configured: its model may still come from the profile in use, which
/// is known only once the router has spoken (see `plan`).
#[derive(Debug, Clone)]
pub struct EndpointSpec {
    /// Its name: `ollama`, `box2`; `ollama-2` for the second URL of a comma list.
    pub name: String,
    /// The protocol.
    pub provider: Provider,
    /// Base URL without trailing slash; for a command, the command line as shown.
    pub url: String,
    /// For `command`: the argv template.
    pub command: Vec<String>,
    /// A model named for this endpoint, if any.
    pub model: Option<String>,
    /// Its key, if any.
    pub key: Option<Secret>,
    /// The variable the key is read from (where it came from, for `doctor`).
    pub key_env: Option<String>,
}

/// The endpoints of each route, in the order they are listed.
#[derive(Debug, Clone, Default)]
pub struct Routes {
    /// `local`.
    pub local: Vec<EndpointSpec>,
    /// `api`.
    pub api: Vec<EndpointSpec>,
    /// `codex`.
    pub codex: Vec<EndpointSpec>,
}

/// The built-in `openai` endpoint's settings, while they are resolved.
#[derive(Debug, Clone)]
struct OpenAiSettings {
    /// Base URL with the version path.
    base_url: String,
    /// Model name, when set.
    model: Option<String>,
    /// The bearer key, if any.
    key: Option<Secret>,
}

/// Everything a call needs, resolved.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Project root.
    pub root: PathBuf,
    /// Configuration layers that were loaded, lowest first.
    pub sources: Vec<Source>,
    /// Route requested on the command line.
    pub mode: RouteMode,
    /// The profile in use.
    pub profile: Profile,
    /// Whether the profile was named by flag or environment (the router may not change it).
    pub profile_explicit: bool,
    /// All profiles, by name.
    pub profiles: BTreeMap<String, Profile>,
    /// Model that replaces the profile's Ollama model (`OLLAMA_MODEL`, `--model`).
    pub local_model_override: Option<String>,
    /// Execution directive.
    pub directive: String,
    /// `--write`: input files with more lines than this are changed with edit blocks
    /// (`[files] edit_blocks_above`, default 150).
    pub edit_blocks_above: usize,
    /// The API route's model where an endpoint names none: `--model` with `--api`, else
    /// `GEMINI_MODEL`, else `[gemini] model`.
    pub api_model: String,
    /// Timeouts.
    pub timeouts: Timeouts,
    /// `--timeout` or `CODEX_WRAP_TIMEOUT`: replaces every profile's deadline.
    pub deadline_override: Option<Duration>,
    /// Whether a failed route may fall back to the other one.
    pub fallback: bool,
    /// `LLM_GATEWAY_DISABLE_LOCAL`.
    pub local_disabled: bool,
    /// `LLM_GATEWAY_DISABLE_API`.
    pub api_disabled: bool,
    /// Context slicer settings.
    pub context: ContextSettings,
    /// The endpoints of each route, in order.
    pub routes: Routes,
    /// `[pool]`: strategy, cooldown, the shared health state.
    pub pool: PoolSettings,
    /// `--model` with `--api`: replaces the model of every API endpoint.
    pub api_model_override: Option<String>,
    /// `--model` with `--codex`.
    pub codex_model_override: Option<String>,
    /// The run log.
    pub log: LogSettings,
    /// Where every resolved value came from (built-in, user file, project file,
    /// environment variable, flag, router, default), by dotted key: see `Provenance`.
    pub provenance: Provenance,
    /// `codex-wrap engine`: where it lives and when it stops.
    pub engine: EngineSettings,
    /// `[files] allow_write` of the user's own profiles.toml: protected assistant files that
    /// answers may write (globs, root-relative).
    pub allow_write: Vec<String>,
}

/// Where `codex-wrap engine` keeps its build, models and state, and its idle limit.
#[derive(Debug, Clone, PartialEq)]
pub struct EngineSettings {
    /// The built llama-server, the build venv and models: `CODEX_WRAP_ENGINE_CACHE`, else
    /// `$XDG_CACHE_HOME/codex-wrap/engine`.
    pub cache: PathBuf,
    /// The running engine's record and log: `CODEX_WRAP_STATE_DIR/engine`, else
    /// `$XDG_STATE_HOME/codex-wrap/engine`.
    pub state: PathBuf,
    /// `[engine] idle_stop` (default 30 minutes); `None` never stops it.
    pub idle_stop: Option<Duration>,
    /// `[engine] threads`: llama-server's generation threads (`None`: the default, one
    /// core left free).
    pub threads: Option<u32>,
}

/// The engine's default thread count: every core but one, so the machine stays usable
/// (on a 2-core machine shared with other work, one thread generated 39-44 tok/s where
/// llama.cpp's own default gave 0.8-4.9).
pub fn default_engine_threads() -> u32 {
    let cores = std::thread::available_parallelism().map_or(1, usize::from);
    u32::try_from(cores.saturating_sub(1).max(1)).unwrap_or(1)
}

/// Default `[engine] idle_stop`.
pub const ENGINE_IDLE_STOP: Duration = Duration::from_secs(30 * 60);

/// The engine's directories (XDG) and `[engine]` settings.
pub fn engine_settings(cfg: &ConfigFile, env: &Env) -> Result<EngineSettings, Error> {
    engine_settings_picked(cfg, &mut Picker::new(env))
}

fn engine_settings_picked(
    cfg: &ConfigFile,
    pick: &mut Picker<'_>,
) -> Result<EngineSettings, Error> {
    use etcetera::BaseStrategy;
    let env = pick.env;
    let base = etcetera::choose_base_strategy()
        .ok()
        .map(|b| (b.cache_dir(), b.state_dir().unwrap_or_else(|| b.data_dir())));
    // An XDG variable counts only when it is an absolute path, as the spec says.
    let xdg = |var: &str| {
        env.get(var)
            .filter(|v| Path::new(v).is_absolute())
            .map(PathBuf::from)
    };
    let no_home = || Error::Config("cannot find the home directory (HOME is not set)".into());
    let cache = match env.get(names::ENGINE_CACHE).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir),
        None => xdg(names::XDG_CACHE_HOME)
            .or_else(|| base.as_ref().map(|b| b.0.clone()))
            .ok_or_else(no_home)?
            .join("codex-wrap/engine"),
    };
    let state = match env.get(names::STATE_DIR).filter(|v| !v.is_empty()) {
        Some(dir) => PathBuf::from(dir).join("engine"),
        None => xdg(names::XDG_STATE_HOME)
            .or_else(|| base.as_ref().map(|b| b.1.clone()))
            .ok_or_else(no_home)?
            .join("codex-wrap/engine"),
    };
    let cache_var = env.first_set(&[names::ENGINE_CACHE]).or_else(|| {
        env.get(names::XDG_CACHE_HOME)
            .filter(|v| Path::new(v).is_absolute())
            .map(|_| names::XDG_CACHE_HOME)
    });
    pick.origins.env_or_file("engine.cache", cache_var);
    let idle_stop = pick
        .value("engine.idle_stop")
        .file(|| {
            let Some(v) = cfg.engine.as_ref().and_then(|e| e.idle_stop.as_deref()) else {
                return Ok(None);
            };
            if matches!(v.trim(), "off" | "never" | "0") {
                return Ok(Some(None));
            }
            humantime::parse_duration(v.trim())
                .ok()
                .filter(|d| !d.is_zero())
                .map(|d| Some(Some(d)))
                .ok_or_else(|| {
                    Error::Config(format!(
                        "[engine] idle_stop = \"{v}\": must be a duration such as \"30m\" or \"off\""
                    ))
                })
        })
        .or(Some(ENGINE_IDLE_STOP))?;
    let threads = match cfg.engine.as_ref().and_then(|e| e.threads) {
        Some(0) => {
            return Err(Error::Config(
                "[engine] threads = 0: give at least 1 (or leave it out for the default)".into(),
            ));
        }
        t => t,
    };
    Ok(EngineSettings {
        cache,
        state,
        idle_stop,
        threads,
    })
}

/// Where and what the run log records.
#[derive(Debug, Clone, PartialEq)]
pub struct LogSettings {
    /// The file; `None` when logging is off.
    pub file: Option<PathBuf>,
    /// The folder the file must stay under (every folder between them real, not a
    /// symlink): the project root, or the folder the user's own `CODEX_LOG_FILE` names.
    pub base: PathBuf,
    /// Whether records carry the prompt text.
    pub prompts: bool,
}

/// The run log's settings: `CODEX_WRAP_ENABLE_LOGGING=0` or `[log] enabled = false` turn it
/// off; the file is `log_path`.
pub fn log_settings(cfg: &ConfigFile, env: &Env, root: &Path) -> LogSettings {
    log_settings_picked(cfg, &mut Picker::new(env), root)
}

fn log_settings_picked(cfg: &ConfigFile, pick: &mut Picker<'_>, root: &Path) -> LogSettings {
    let log = cfg.log.clone().unwrap_or_default();
    let off = |v: &str| {
        matches!(
            v.to_ascii_lowercase().as_str(),
            "0" | "false" | "no" | "off"
        )
    };
    let enabled = pick
        .value("log.enabled")
        .env(&[names::ENABLE_LOGGING], |_, v| Ok(!off(v)))
        .file(|| Ok(log.enabled))
        .or(true)
        .unwrap_or(true);
    let prompts = pick
        .value("log.log_prompts")
        .file(|| Ok(log.log_prompts))
        .or(false)
        .unwrap_or(false);
    // The file's place has rules of its own (`log_location`); its origin is recorded here.
    let env = pick.env;
    pick.origins
        .env_or_file("log.file", env.first_set(&[names::LOG_FILE]));
    let (file, base) = log_location(cfg, env, root);
    LogSettings {
        file: enabled.then_some(file),
        base,
        prompts,
    }
}

/// Default run log, under the project root.
const DEFAULT_LOG: &str = "logs/codex-wrap.jsonl";

/// Where the run log is, whether or not logging is on: `CODEX_LOG_FILE` (relative to the
/// working directory, as in codex_wrap.sh), else `[log] file` under the project root, default
/// `logs/codex-wrap.jsonl`.
pub fn log_path(cfg: &ConfigFile, env: &Env, root: &Path) -> PathBuf {
    log_location(cfg, env, root).0
}

/// The run log and the folder it must stay under. The user's own `CODEX_LOG_FILE` (the
/// process environment) may name any place; one from a project's `.env.local` and
/// `[log] file` must name a place inside the root, else the default is used (one warning).
fn log_location(cfg: &ConfigFile, env: &Env, root: &Path) -> (PathBuf, PathBuf) {
    let inside = |p: &Path| {
        !p.is_absolute()
            && p.components().all(|c| {
                matches!(
                    c,
                    std::path::Component::Normal(_) | std::path::Component::CurDir
                )
            })
    };
    let cwd = std::env::current_dir().unwrap_or_else(|_| root.to_path_buf());
    if let Some(value) = env.process_get(names::LOG_FILE) {
        let path = cwd.join(value);
        let base = if inside(Path::new(value)) {
            cwd
        } else {
            path.parent().map_or_else(|| cwd.clone(), Path::to_path_buf)
        };
        return (path, base);
    }
    if let Some(value) = env.get(names::LOG_FILE) {
        let path = cwd.join(value);
        if path.starts_with(root) && inside(Path::new(value)) {
            return (path, root.to_path_buf());
        }
        trust::warn_once(&format!(
            "{}={value} from .env.local ignored: a project's run log stays inside its root",
            names::LOG_FILE
        ));
    } else if let Some(file) = cfg.log.as_ref().and_then(|l| l.file.as_deref()) {
        if inside(Path::new(file)) {
            return (root.join(file), root.to_path_buf());
        }
        trust::warn_once(&format!(
            "[log] file = {file:?} ignored: the run log stays inside the project root"
        ));
    }
    (root.join(DEFAULT_LOG), root.to_path_buf())
}

impl Settings {
    /// The attempt deadline for a profile: `--timeout` > profile > `[timeouts] deadline`.
    pub fn deadline(&self, profile: &Profile) -> Duration {
        self.deadline_override
            .or(profile.timeout)
            .unwrap_or(self.timeouts.deadline)
    }

    /// Where the model a call with `profile` sends came from: the override's flag or
    /// variable, else the profile's `model` key.
    pub fn model_origin(&self, profile: &Profile) -> &Origin {
        match (&self.local_model_override, self.provenance.get("model")) {
            (Some(_), Some(origin)) => origin,
            _ => self
                .provenance
                .of(&format!("profiles.{}.model", profile.name)),
        }
    }

    /// Where `deadline(profile)` came from, as `profiles` and `doctor` show it:
    /// `flag --timeout`, `user file P`, `built-in [timeouts] deadline`, `default`.
    pub fn deadline_origin(&self, profile: &Profile) -> String {
        if self.deadline_override.is_some()
            && let Some(origin) = self.provenance.get("timeout")
        {
            return origin.to_string();
        }
        if profile.timeout.is_some() {
            return self
                .provenance
                .of(&format!("profiles.{}.timeout", profile.name))
                .to_string();
        }
        match self.provenance.of("timeouts.deadline") {
            Origin::Default => Origin::Default.to_string(),
            origin => format!("{origin} [timeouts] deadline"),
        }
    }
}

/// Where the user's own profiles.toml lives: `$XDG_CONFIG_HOME/codex-wrap/profiles.toml`.
pub fn user_config_path(env: &Env) -> Option<PathBuf> {
    if let Some(xdg) = env.get(names::XDG_CONFIG_HOME) {
        return Some(Path::new(xdg).join("codex-wrap/profiles.toml"));
    }
    use etcetera::BaseStrategy;
    etcetera::choose_base_strategy()
        .ok()
        .map(|s| s.config_dir().join("codex-wrap/profiles.toml"))
}

/// The state directory: `CODEX_WRAP_STATE_DIR`, else `$XDG_STATE_HOME/codex-wrap` (usually
/// `~/.local/state/codex-wrap`).
pub fn state_dir(env: &Env) -> Option<PathBuf> {
    state_dir_from(|name| env.get(name))
}

/// [`state_dir`] from the variables `get` gives: the one place its precedence is written
/// (trust reads it from the process environment alone). An empty variable or a relative
/// `XDG_STATE_HOME` (the XDG spec says to ignore one) counts as unset.
pub fn state_dir_from<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Option<PathBuf> {
    if let Some(dir) = get(names::STATE_DIR).filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir));
    }
    if let Some(xdg) = get(names::XDG_STATE_HOME).filter(|v| Path::new(v).is_absolute()) {
        return Some(Path::new(xdg).join("codex-wrap"));
    }
    use etcetera::BaseStrategy;
    let base = etcetera::choose_base_strategy().ok()?;
    Some(
        base.state_dir()
            .unwrap_or_else(|| base.data_dir())
            .join("codex-wrap"),
    )
}

/// Loads and merges every configuration layer that applies to `root`: built-in, the
/// user's file, the project's file. Returns the merged file and where its layers came from.
pub fn load(env: &Env, root: &Path) -> Result<(ConfigFile, Vec<Source>), Error> {
    let layers = layers(env, root)?;
    let cfg = file::merge(&layers)?;
    Ok((cfg, layers.into_iter().map(|(s, _)| s).collect()))
}

/// The project docs the context draws from (`[context] files`), relative to the root: the
/// router reads their headings.
pub fn doc_files(cfg: &ConfigFile) -> Vec<PathBuf> {
    cfg.context
        .as_ref()
        .and_then(|c| c.files.as_ref())
        .map(|files| files.iter().map(PathBuf::from).collect())
        .unwrap_or_default()
}

/// The configuration layers that exist for `root`, lowest first, each as its own table.
///
/// The project's layer carries authority only when the project is trusted and the bytes
/// read are the ones trusted (`trust`); otherwise the settings that carry authority are
/// dropped from it, each named in one warning line. Its `[context] files` outside the root
/// are dropped either way.
pub fn layers(env: &Env, root: &Path) -> Result<Vec<(Source, toml::Table)>, Error> {
    let user = user_config_path(env);
    let mut layers = file::load_layers(user.as_deref(), None)?;
    let path = root.join("profiles.toml");
    let bytes = match std::fs::read(&path) {
        Ok(bytes) => bytes,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(layers),
        Err(err) => return Err(Error::Config(format!("{}: {err}", path.display()))),
    };
    let source = Source::Project(path.clone());
    let text = String::from_utf8(bytes.clone())
        .map_err(|_| Error::Config(format!("{}: not UTF-8", path.display())))?;
    let mut table = file::parse_layer(&text, &source)?;
    let shown = "profiles.toml";
    if !env.trusted().is_some_and(|t| t.covers(&path, Some(&bytes))) {
        // A setting that only repeats what the built-in and the user's file already say
        // changes nothing: it is neither a risk nor worth a warning (codex-wrap's own
        // checkout holds the built-in file at its root).
        file::drop_unchanged(&mut table, &file::merged_table(&layers));
        for setting in trust::restrict(&mut table) {
            trust::warn_once(&format!(
                "{shown}: {setting} ignored: the project is not trusted (run `{}` to allow it)",
                trust::TRUST_COMMAND
            ));
        }
    }
    if let Some(files) = table.get_mut("files").and_then(toml::Value::as_table_mut)
        && files.remove("allow_write").is_some()
    {
        trust::warn_once(&format!(
            "{shown}: files.allow_write ignored: only your own profiles.toml may let answers write protected files"
        ));
    }
    for refused in trust::restrict_context_files(&mut table) {
        trust::warn_once(&format!(
            "{shown}: [context] files {refused:?} ignored: a project names only files inside its root"
        ));
    }
    layers.push((source, table));
    Ok(layers)
}

/// The user's own profiles.toml alone (no built-in, no project layer), found through the
/// process environment only: where settings that loosen a defence are read (`[files]
/// sandbox`, `[mcp] checks`). Empty when there is no such file.
pub fn user_files(env: &Env) -> Result<ConfigFile, Error> {
    let Some(path) = user_config_path(&env.process_only()) else {
        return Ok(ConfigFile::default());
    };
    let source = Source::User(path.clone());
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let table = file::parse_layer(&text, &source)?;
            use serde::Deserialize;
            ConfigFile::deserialize(toml::Value::Table(table))
                .map_err(|e| Error::Config(format!("{}: {}", path.display(), e.message())))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(ConfigFile::default()),
        Err(e) => Err(Error::Config(format!("{}: {e}", path.display()))),
    }
}

/// What a command line overrides: a call's flags, or the few a subcommand takes. Every
/// command resolves its settings from one of these (`Overrides::default()` for none).
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    /// `--local`.
    pub local: bool,
    /// `--api`.
    pub api: bool,
    /// `--codex`.
    pub codex: bool,
    /// `--profile`.
    pub profile: Option<String>,
    /// `--model`.
    pub model: Option<String>,
    /// `--timeout`.
    pub timeout: Option<Duration>,
    /// `--connect-timeout`.
    pub connect_timeout: Option<Duration>,
    /// `--idle-timeout`.
    pub idle_timeout: Option<Duration>,
    /// `--first-byte-timeout`.
    pub first_byte_timeout: Option<Duration>,
    /// `--no-fallback`.
    pub no_fallback: bool,
    /// `--sections`.
    pub sections: Option<String>,
    /// The router's profile suggestion: used when neither flag nor environment names one.
    pub suggested_profile: Option<String>,
}

/// Parses `"2"`, `"0.5"` or `"90s"` as a positive duration.
pub fn parse_seconds(s: &str) -> Result<Duration, String> {
    let trimmed = s.trim();
    let number = trimmed.strip_suffix('s').unwrap_or(trimmed);
    match number.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 86_400.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!(
            "'{s}' is not accepted: give a number of seconds more than 0 and at most 86400 \
             (e.g. 30, 2.5 or 90s)"
        )),
    }
}

impl From<&Overrides> for Overrides {
    fn from(o: &Overrides) -> Self {
        o.clone()
    }
}

/// Which route a command line asks for, before any setting is read: flags, then
/// `FORCE_CODEX`. `Auto` means the router decides.
pub fn route_mode(o: &Overrides, env: &Env) -> RouteMode {
    match (o.local, o.api, o.codex) {
        (true, _, _) => RouteMode::Local,
        (_, true, _) => RouteMode::Api,
        (_, _, true) => RouteMode::Codex,
        _ if env.flag(names::FORCE_CODEX) => RouteMode::Codex,
        _ => RouteMode::Auto,
    }
}

/// Resolves the settings from the command line, the environment and the files.
pub fn resolve(overrides: impl Into<Overrides>, env: &Env, root: &Path) -> Result<Settings, Error> {
    let (cfg, sources) = load(env, root)?;
    resolve_from(cfg, sources, &overrides.into(), env, root)
}

/// Resolves from configuration files already loaded (`load`).
pub fn resolve_from(
    cfg: ConfigFile,
    sources: Vec<Source>,
    run: &Overrides,
    env: &Env,
    root: &Path,
) -> Result<Settings, Error> {
    let profiles = cfg
        .profiles
        .iter()
        .map(|(name, p)| Ok((name.clone(), profile(name, p)?)))
        .collect::<Result<BTreeMap<_, _>, Error>>()?;

    let mut pick = Picker {
        env,
        origins: cfg.provenance.clone(),
    };
    for name in profiles.keys() {
        for key in [
            "model",
            "description",
            "timeout",
            "keep_alive",
            "system",
            "guardrails",
            "num_ctx_max",
        ] {
            pick.origins
                .default_unless_set(format!("profiles.{name}.{key}"));
        }
    }
    let name = pick
        .value("profile")
        .flag(run.profile.clone(), "--profile")
        .env(&[names::OLLAMA_PROFILE], pick::text)
        .router(
            run.suggested_profile
                .clone()
                .filter(|p| profiles.contains_key(p)),
        )
        .file_at("default_profile", cfg.default_profile.clone())
        .or("code".to_owned())?;
    let profile_explicit = run.profile.is_some() || env.get(names::OLLAMA_PROFILE).is_some();
    let profile = profiles.get(&name).cloned().ok_or_else(|| {
        let known: Vec<&str> = profiles.keys().map(String::as_str).collect();
        Error::Config(format!(
            "unknown profile '{name}'; known profiles: {}",
            known.join(", ")
        ))
    })?;
    let mode = route_mode(run, env);
    record_mode(&mut pick.origins, run, mode);
    let models = Models::pick(&mut pick, run, mode);
    let built_in = BuiltIn::pick(&mut pick, &cfg, &models)?;
    let timeouts = timeouts(&mut pick, &cfg, run)?;
    let deadline_override = pick
        .value("timeout")
        .flag(run.timeout, "--timeout")
        .env(&[names::TIMEOUT], |var, v| {
            parse_seconds(v).map_err(|e| Error::Config(format!("{var}: {e}")))
        })
        .or_unset()?;
    let mut origins = pick.origins;
    let (ollama_url, gemini, openai) = (built_in.ollama_url, built_in.gemini, built_in.openai);
    let local_model_override = models.local;
    let (api_model_override, codex_model_override) = (models.api, models.codex);
    let endpoints = endpoint_table(&cfg, env, &ollama_url, &gemini, &openai, &mut origins)?;
    let routes = route_table(&cfg, env, &endpoints)?;
    // A password in an endpoint's URL is a secret too: masked wherever the URL is shown.
    for spec in routes.local.iter().chain(&routes.api).chain(&routes.codex) {
        crate::secrets::learn_url(&spec.url);
    }
    for (key, var) in [("local", names::LOCAL_BACKEND), ("api", names::API_BACKEND)] {
        origins.env_or_file(format!("routes.{key}"), env.first_set(&[var]));
    }
    origins.default_unless_set("routes.codex");

    let mut pick = Picker { env, origins };
    let log = log_settings_picked(&cfg, &mut pick, root);
    let pool = pool_settings(&cfg, &mut pick)?;
    let engine = engine_settings_picked(&cfg, &mut pick)?;
    let mut origins = pick.origins;
    record_read_elsewhere(&mut origins, run, env);
    let context = context_settings(cfg.context.clone().unwrap_or_default(), run, env)?;
    context_origins(&mut origins, run, env);
    let allow_write = cfg
        .files
        .as_ref()
        .and_then(|f| f.allow_write.clone())
        .unwrap_or_default();
    allow_write_set(&allow_write).map_err(Error::Config)?;
    Ok(Settings {
        provenance: origins,
        root: root.to_path_buf(),
        sources,
        mode,
        profile,
        profile_explicit,
        profiles,
        local_model_override,
        directive: cfg.directive.unwrap_or_default(),
        edit_blocks_above: cfg
            .files
            .as_ref()
            .and_then(|f| f.edit_blocks_above)
            .unwrap_or(EDIT_BLOCKS_ABOVE),
        api_model: gemini.model,
        timeouts,
        deadline_override,
        fallback: !run.no_fallback && mode == RouteMode::Auto,
        local_disabled: env.flag(names::DISABLE_LOCAL),
        api_disabled: env.flag(names::DISABLE_API),
        context,
        routes,
        pool,
        api_model_override,
        codex_model_override,
        log,
        engine,
        allow_write,
    })
}

/// Every URL of a comma list must parse: a bad one is a configuration error naming where it
/// came from and the value (its password redacted), not a failed request later.
fn check_urls(what: &str, list: &str) -> Result<(), Error> {
    for url in urls(list) {
        if let Err(e) = reqwest::Url::parse(&url) {
            return Err(Error::Config(format!(
                "{what} = '{}' is not a valid URL ({e}); give e.g. http://localhost:11434",
                crate::http::redact(&url)
            )));
        }
    }
    Ok(())
}

/// The URLs of a comma-separated list (`OLLAMA_URL=http://a:11434,http://b:11434`).
fn urls(list: &str) -> impl Iterator<Item = String> + '_ {
    list.split(',')
        .map(|u| u.trim().trim_end_matches('/'))
        .filter(|u| !u.is_empty())
        .map(str::to_owned)
}

/// Records where the values read by their own faces (sync, mcp) came from, and the
/// switches.
fn record_read_elsewhere(origins: &mut Provenance, run: &Overrides, env: &Env) {
    // `sync` reads the rest of [sync] itself; its remote may come from the environment.
    origins.env_or_file("sync.remote", env.first_set(&[names::SYNC_REMOTE]));
    origins.default_unless_set("directive");
    origins.default_unless_set("files.edit_blocks_above");
    // `mcp` reads [mcp] itself (the delegate tool's reply cap and continuation lifetime).
    origins.default_unless_set("mcp.max_reply_tokens");
    origins.default_unless_set("mcp.continuation_ttl_secs");
    if run.no_fallback {
        origins.set("fallback", Origin::Flag("--no-fallback"));
    }
    for (key, var) in [
        ("local_disabled", names::DISABLE_LOCAL),
        ("api_disabled", names::DISABLE_API),
    ] {
        if env.get(var).is_some() {
            origins.set(key, Origin::env(var));
        }
    }
}

/// Records which flag or variable asked for the route.
fn record_mode(origins: &mut Provenance, run: &Overrides, mode: RouteMode) {
    let origin = match (run.local, run.api, run.codex) {
        (true, _, _) => Origin::Flag("--local"),
        (_, true, _) => Origin::Flag("--api"),
        (_, _, true) => Origin::Flag("--codex"),
        _ if mode == RouteMode::Codex => Origin::env(names::FORCE_CODEX),
        _ => Origin::Default,
    };
    origins.set("mode", origin);
}

/// `--model` and `OLLAMA_MODEL`: `--model` replaces the model of the route asked for.
struct Models {
    /// The local route's model (`--model` on it, else `OLLAMA_MODEL`).
    local: Option<String>,
    /// `--model` with `--api`.
    api: Option<String>,
    /// `--model` with `--codex`.
    codex: Option<String>,
}

impl Models {
    fn pick(pick: &mut Picker<'_>, run: &Overrides, mode: RouteMode) -> Models {
        let from_env = pick.env.get(names::OLLAMA_MODEL).map(str::to_owned);
        // Recorded under `model` whichever route the flag is for (as `doctor` shows it).
        let origin = match (&run.model, &from_env) {
            (Some(_), _) => Some(Origin::Flag("--model")),
            (None, Some(_)) => Some(Origin::env(names::OLLAMA_MODEL)),
            (None, None) => None,
        };
        if let Some(origin) = origin {
            pick.origins.set("model", origin);
        }
        let on = |route: RouteMode| run.model.clone().filter(|_| mode == route);
        Models {
            local: match mode {
                RouteMode::Api | RouteMode::Codex => from_env,
                RouteMode::Local | RouteMode::Auto => run.model.clone().or(from_env),
            },
            api: on(RouteMode::Api),
            codex: on(RouteMode::Codex),
        }
    }
}

/// The built-in `ollama`, `gemini` and `openai` endpoints' settings, each URL checked.
struct BuiltIn {
    /// A comma list: one endpoint per URL.
    ollama_url: String,
    gemini: GeminiSettings,
    openai: OpenAiSettings,
}

impl BuiltIn {
    fn pick(pick: &mut Picker<'_>, cfg: &ConfigFile, models: &Models) -> Result<BuiltIn, Error> {
        // The variables may hold a comma list; each entry is read the way Ollama reads
        // OLLAMA_HOST (scheme and port optional).
        let ollama_url = pick
            .value("ollama.url")
            .env(&[names::OLLAMA_URL, names::OLLAMA_HOST], |_, list| {
                Ok(list
                    .split(',')
                    .map(str::trim)
                    .filter(|u| !u.is_empty())
                    .map(env::ollama_base_url)
                    .collect::<Vec<_>>()
                    .join(","))
            })
            .file(|| Ok(cfg.ollama.as_ref().and_then(|o| o.url.clone())))
            .or(ollama::DEFAULT_URL.to_owned())?;
        check_urls(&pick.named("ollama.url", "[ollama] url"), &ollama_url)?;

        let file = cfg.gemini.clone().unwrap_or_default();
        let gemini = GeminiSettings {
            model: pick
                .value("gemini.model")
                .flag(models.api.clone(), "--model")
                .env(&[names::GEMINI_MODEL], pick::text)
                .file(|| Ok(file.model.clone()))
                .or(gemini::DEFAULT_MODEL.to_owned())?,
            base_url: pick
                .value("gemini.base_url")
                .env(&[names::GEMINI_BASE_URL], pick::text)
                .file(|| Ok(file.base_url.clone()))
                .or(gemini::DEFAULT_URL.to_owned())?
                .trim_end_matches('/')
                .to_owned(),
            key: pick
                .value("gemini.key")
                .env(gemini::KEY_ENVS, |_, v| Ok(Secret::new(v)))
                .or_unset()?,
        };
        check_urls(
            &pick.named("gemini.base_url", "[gemini] base_url"),
            &gemini.base_url,
        )?;

        let file = cfg.openai.clone().unwrap_or_default();
        let key_env = file.key_env.as_deref().unwrap_or(names::OPENAI_API_KEY);
        let openai = OpenAiSettings {
            model: pick
                .value("openai.model")
                .flag(models.api.clone(), "--model")
                .file(|| Ok(file.model.clone()))
                .or_none()?,
            base_url: pick
                .value("openai.base_url")
                .env(&[names::OPENAI_BASE_URL], pick::text)
                .file(|| Ok(file.base_url.clone()))
                .or(openai::DEFAULT_URL.to_owned())?,
            key: pick
                .value("openai.key")
                .env(&[key_env], |_, v| Ok(Secret::new(v)))
                .or_unset()?,
        };
        check_urls(
            &pick.named("openai.base_url", "[openai] base_url"),
            &openai.base_url,
        )?;
        Ok(BuiltIn {
            ollama_url,
            gemini,
            openai,
        })
    }
}

/// `[timeouts]` under the timeout flags, each a positive number of seconds.
fn timeouts(pick: &mut Picker<'_>, cfg: &ConfigFile, run: &Overrides) -> Result<Timeouts, Error> {
    let t = cfg.timeouts.clone().unwrap_or_default();
    let secs = |v: Option<f64>, what: &str| -> Result<Option<Duration>, Error> {
        v.map(|v| {
            seconds(v).ok_or_else(|| {
                Error::Config(format!(
                    "[timeouts] {what} = {v}: must be a positive number of seconds"
                ))
            })
        })
        .transpose()
    };
    Ok(Timeouts {
        connect: pick
            .value("timeouts.connect")
            .flag(run.connect_timeout, "--connect-timeout")
            .file(|| secs(t.connect, "connect"))
            .or(Duration::from_secs(3))?,
        deadline: pick
            .value("timeouts.deadline")
            .file(|| secs(t.deadline, "deadline"))
            .or(Duration::from_secs(60))?,
        idle: pick
            .value("timeouts.idle")
            .flag(run.idle_timeout, "--idle-timeout")
            .file(|| secs(t.idle, "idle"))
            .or(Duration::from_secs(30))?,
        first_byte: pick
            .value("timeouts.first_byte")
            .flag(run.first_byte_timeout, "--first-byte-timeout")
            .file(|| secs(t.first_byte, "first_byte"))
            .or_none()?,
        retry_cap: pick
            .value("timeouts.retry_cap")
            .file(|| match t.retry_cap {
                Some(v) if v.is_finite() && v >= 0.0 => {
                    Ok(Some(Duration::from_secs_f64(v.min(3600.0))))
                }
                Some(v) => Err(Error::Config(format!(
                    "[timeouts] retry_cap = {v}: must be zero or a positive number of seconds"
                ))),
                None => Ok(None),
            })
            .or(Duration::from_secs(5))?,
    })
}

/// The variable a provider's key is read from when the endpoint names none: the first of
/// its variables that is set, else the last (the name shown when none is).
fn default_key_env(provider: Provider, env: &Env) -> Option<&'static str> {
    let vars = provider.key_envs();
    vars.iter()
        .find(|v| env.get(v).is_some())
        .or(vars.last())
        .copied()
}

/// Every endpoint by name: the built-in `ollama`, `gemini`, `openai` and `codex` (from
/// their sections and variables; a comma list of URLs makes `ollama`, `ollama-2`, ...),
/// then `[endpoints.NAME]`, which may replace a built-in one.
fn endpoint_table(
    cfg: &ConfigFile,
    env: &Env,
    ollama_url: &str,
    gemini: &GeminiSettings,
    openai: &OpenAiSettings,
    origins: &mut Provenance,
) -> Result<BTreeMap<String, Vec<EndpointSpec>>, Error> {
    let group = |name: &str,
                 provider,
                 list: &str,
                 key: Option<Secret>,
                 key_env: Option<&str>|
     -> Vec<EndpointSpec> {
        urls(list)
            .enumerate()
            .map(|(i, url)| EndpointSpec {
                name: if i == 0 {
                    name.to_owned()
                } else {
                    format!("{name}-{}", i + 1)
                },
                provider,
                url,
                command: Vec::new(),
                model: None,
                key: key.clone(),
                key_env: key_env.map(str::to_owned),
            })
            .collect()
    };
    let mut table = BTreeMap::new();
    table.insert(
        "ollama".to_owned(),
        group("ollama", Provider::Ollama, ollama_url, None, None),
    );
    let mut gemini_group = group(
        "gemini",
        Provider::Gemini,
        &gemini.base_url,
        gemini.key.clone(),
        default_key_env(Provider::Gemini, env),
    );
    gemini_group
        .iter_mut()
        .for_each(|e| e.model = Some(gemini.model.clone()));
    table.insert("gemini".to_owned(), gemini_group);
    let openai_env = cfg
        .openai
        .as_ref()
        .and_then(|o| o.key_env.as_deref())
        .unwrap_or(names::OPENAI_API_KEY);
    let mut openai_group = group(
        "openai",
        Provider::OpenAi,
        &openai.base_url,
        openai.key.clone(),
        Some(openai_env),
    );
    openai_group
        .iter_mut()
        .for_each(|e| e.model.clone_from(&openai.model));
    table.insert("openai".to_owned(), openai_group);
    let codex = ["codex", "exec", "-C", "{root}", "-"]
        .map(str::to_owned)
        .to_vec();
    table.insert(
        "codex".to_owned(),
        vec![EndpointSpec {
            name: "codex".to_owned(),
            provider: Provider::Command,
            url: codex.join(" "),
            command: codex,
            model: None,
            key: None,
            key_env: None,
        }],
    );
    for (name, e) in &cfg.endpoints {
        let spec = configured_endpoint(name, e, env, gemini, origins)?;
        table.insert(name.clone(), vec![spec]);
    }
    Ok(table)
}

/// `[endpoints.NAME]`: its provider's defaults where it sets nothing (a Gemini endpoint
/// shares the configured Gemini API's address and model).
fn configured_endpoint(
    name: &str,
    e: &file::EndpointConfig,
    env: &Env,
    gemini: &GeminiSettings,
    origins: &mut Provenance,
) -> Result<EndpointSpec, Error> {
    let what = format!("[endpoints.{name}]");
    let provider = Provider::parse(&e.provider, &format!("{what} provider"))?;
    let command = e.command.clone().unwrap_or_default();
    let url = match provider {
        Provider::Command if command.is_empty() => {
            return Err(Error::Config(format!(
                "{what}: a command endpoint needs `command = [\"program\", \"arg\", ...]`"
            )));
        }
        Provider::Command => command.join(" "),
        // A Gemini endpoint shares the configured Gemini API's address.
        Provider::Gemini => e.url.clone().unwrap_or_else(|| gemini.base_url.clone()),
        _ => e
            .url
            .clone()
            .or_else(|| provider.default_url().map(str::to_owned))
            .unwrap_or_default(),
    };
    let key_env = e
        .key_env
        .clone()
        .or_else(|| default_key_env(provider, env).map(str::to_owned));
    let key = key_env.as_deref().and_then(|v| env.get(v)).map(Secret::new);
    // Recorded by the variable's name, never the key.
    if let Some(var) = key_env.as_deref().filter(|v| env.get(v).is_some()) {
        origins.set(format!("endpoints.{name}.key"), Origin::env(var));
    }
    if e.url.is_none() && provider != Provider::Command {
        origins.default_unless_set(format!("endpoints.{name}.url"));
    }
    let model = match provider {
        Provider::Gemini => e.model.clone().or_else(|| Some(gemini.model.clone())),
        _ => e.model.clone(),
    };
    if provider != Provider::Command {
        check_urls(&format!("{what} url"), &url)?;
    }
    Ok(EndpointSpec {
        name: name.to_owned(),
        provider,
        url: url.trim_end_matches('/').to_owned(),
        command,
        model,
        key,
        key_env,
    })
}

/// The endpoints of each route: `CODEX_WRAP_LOCAL_BACKEND` / `CODEX_WRAP_API_BACKEND` (a
/// name or a comma list) > `[routes]` > `ollama`, `gemini`, `codex`.
fn route_table(
    cfg: &ConfigFile,
    env: &Env,
    endpoints: &BTreeMap<String, Vec<EndpointSpec>>,
) -> Result<Routes, Error> {
    let routes = cfg.routes.clone().unwrap_or_default();
    let pick = |var: Option<&str>,
                key: &str,
                file: Option<&file::RouteList>,
                default: &str,
                wrong: &str| {
        let (names, what) = match (var.and_then(|v| env.get(v)), file) {
            (Some(v), _) => (
                v.split(',')
                    .map(|n| n.trim().to_owned())
                    .collect::<Vec<_>>(),
                var.unwrap_or_default().to_owned(),
            ),
            (None, Some(list)) => (list.names(), format!("[routes] {key}")),
            (None, None) => (vec![default.to_owned()], format!("[routes] {key}")),
        };
        let mut list = Vec::new();
        for name in names.iter().filter(|n| !n.is_empty()) {
            let lower = name.to_ascii_lowercase();
            if lower == wrong && !cfg.endpoints.contains_key(&lower) {
                return Err(Error::Config(format!(
                    "{what} = '{name}': the local route takes ollama or openai, the api route gemini or openai (or endpoints named in [endpoints])"
                )));
            }
            let found = endpoints.get(name).or_else(|| endpoints.get(&lower));
            let Some(group) = found else {
                let known: Vec<&str> = endpoints.keys().map(String::as_str).collect();
                return Err(Error::Config(format!(
                    "{what} = '{name}': no endpoint of that name; known: {}",
                    known.join(", ")
                )));
            };
            list.extend(group.iter().cloned());
        }
        if list.is_empty() {
            return Err(Error::Config(format!(
                "{what}: the route lists no endpoint"
            )));
        }
        Ok(list)
    };
    Ok(Routes {
        local: pick(
            Some(names::LOCAL_BACKEND),
            "local",
            routes.local.as_ref(),
            "ollama",
            "gemini",
        )?,
        api: pick(
            Some(names::API_BACKEND),
            "api",
            routes.api.as_ref(),
            "gemini",
            "ollama",
        )?,
        codex: pick(None, "codex", routes.codex.as_ref(), "codex", "")?,
    })
}

/// `[pool]`, and the health state under `CODEX_WRAP_STATE_DIR`, else
/// `$XDG_STATE_HOME/codex-wrap/` (else `~/.local/state/codex-wrap/`).
fn pool_settings(cfg: &ConfigFile, pick: &mut Picker<'_>) -> Result<PoolSettings, Error> {
    let env = pick.env;
    let pool = cfg.pool.clone().unwrap_or_default();
    let strategy = pick
        .value("pool.strategy")
        .file(|| {
            pool.strategy
                .as_deref()
                .map(|name| {
                    Strategy::parse(name).ok_or_else(|| {
                        Error::Config(format!("[pool] strategy = '{name}': {}", Strategy::NAMES))
                    })
                })
                .transpose()
        })
        .or(Strategy::default())?;
    let cooldown = pick
        .value("pool.cooldown")
        .file(|| {
            pool.cooldown
                .map(|v| {
                    (v.is_finite() && (0.0..=86_400.0).contains(&v))
                        .then(|| Duration::from_secs_f64(v))
                        .ok_or_else(|| {
                            Error::Config(format!(
                                "[pool] cooldown = {v}: must be 0 to 86400 seconds"
                            ))
                        })
                })
                .transpose()
        })
        .or(Duration::from_secs(30))?;
    pick.origins.env_or_file(
        "pool.state_file",
        env.first_set(&[names::STATE_DIR, names::XDG_STATE_HOME]),
    );
    let state_dir = match env.get(names::STATE_DIR).filter(|v| !v.is_empty()) {
        Some(dir) => Some(PathBuf::from(dir)),
        None => env
            .get(names::XDG_STATE_HOME)
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .or_else(|| env.get("HOME").map(|h| Path::new(h).join(".local/state")))
            .map(|d| d.join("codex-wrap")),
    };
    Ok(PoolSettings {
        strategy,
        cooldown,
        state_file: state_dir.map(|d| d.join("health.json")),
    })
}

/// Context files, budgets and the sections named by flag or by the old variables.
fn context_settings(
    cfg: file::ContextConfig,
    run: &Overrides,
    env: &Env,
) -> Result<ContextSettings, Error> {
    let defaults = ContextSettings::default();
    let mut files: Vec<PathBuf> = match cfg.files {
        Some(files) => files.into_iter().map(PathBuf::from).collect(),
        None => defaults.files.clone(),
    };
    if env
        .get(names::INCLUDE_AGENTS)
        .is_some_and(|v| !env::is_truthy(v))
    {
        files.retain(|f| crate::context::label_of(f) != "agents");
    }
    // Flag > per-file variables > CONTEXT_HINTS, as codex_wrap.sh resolved them.
    let named = if let Some(flag) = &run.sections {
        parse_hints(flag)
    } else {
        let mut named = Vec::new();
        let hints = env
            .get(names::CONTEXT_HINTS)
            .map(parse_hints)
            .unwrap_or_default();
        for (label, var) in [
            ("contract", names::CONTRACT_SECTIONS),
            ("agents", names::AGENTS_SECTIONS),
        ] {
            match env.get(var) {
                Some(list) => named.extend(
                    list.split(',')
                        .map(str::trim)
                        .filter(|n| !n.is_empty())
                        .map(|n| (label.to_owned(), n.to_owned())),
                ),
                None => named.extend(hints.iter().filter(|(l, _)| l == label).cloned()),
            }
        }
        named.extend(
            hints
                .into_iter()
                .filter(|(l, _)| l != "contract" && l != "agents"),
        );
        named
    };
    let default_lines = cfg
        .summary_lines
        .unwrap_or(crate::context::DEFAULT_SUMMARY_LINES);
    let mut summary_lines = Vec::new();
    for (label, var) in [
        ("contract", names::CONTRACT_SUMMARY_LINES),
        ("agents", names::AGENTS_SUMMARY_LINES),
    ] {
        let lines = match env.get(var) {
            Some(v) => v
                .parse::<usize>()
                .map_err(|_| Error::Config(format!("{var}={v}: not a number of lines")))?,
            None => default_lines,
        };
        summary_lines.push((label_alias(label), lines));
    }
    for f in &files {
        let label = crate::context::label_of(f);
        if !summary_lines.iter().any(|(l, _)| *l == label) {
            summary_lines.push((label, default_lines));
        }
    }
    if let Some(v) = cfg.min_score.filter(|v| !v.is_finite() || *v < 0.0) {
        return Err(Error::Config(format!(
            "[context] min_score = {v}: must be zero or a positive number"
        )));
    }
    Ok(ContextSettings {
        files,
        always: cfg.always.unwrap_or_default(),
        named,
        summary_lines,
        local_budget: cfg.local_budget.unwrap_or(defaults.local_budget),
        api_budget: cfg.api_budget.unwrap_or(defaults.api_budget),
        min_score: cfg.min_score.unwrap_or(defaults.min_score),
    })
}

/// Where the context settings came from: the files, except what `--sections` and the
/// old variables (`CONTRACT_SECTIONS`, `CONTEXT_HINTS`, `INCLUDE_AGENTS`, ...) change.
fn context_origins(origins: &mut Provenance, run: &Overrides, env: &Env) {
    for key in [
        "files",
        "always",
        "local_budget",
        "api_budget",
        "min_score",
        "summary_lines",
    ] {
        origins.default_unless_set(format!("context.{key}"));
    }
    if env.get(names::INCLUDE_AGENTS).is_some() {
        origins.set("context.files", Origin::env(names::INCLUDE_AGENTS));
    }
    let sections = if run.sections.is_some() {
        Some(Origin::Flag("--sections"))
    } else {
        env.first_set(&[
            names::CONTRACT_SECTIONS,
            names::AGENTS_SECTIONS,
            names::CONTEXT_HINTS,
        ])
        .map(Origin::env)
    };
    origins.set("context.sections", sections.unwrap_or(Origin::Default));
    for (label, var) in [
        ("contract", names::CONTRACT_SUMMARY_LINES),
        ("agents", names::AGENTS_SUMMARY_LINES),
    ] {
        let origin = match env.first_set(&[var]) {
            Some(var) => Origin::env(var),
            None => origins.of("context.summary_lines").clone(),
        };
        origins.set(format!("context.summary_lines.{label}"), origin);
    }
}

/// A configured number of seconds, when positive, finite and at most a day.
pub fn seconds(v: f64) -> Option<Duration> {
    (v.is_finite() && v > 0.0 && v <= 86_400.0).then(|| Duration::from_secs_f64(v))
}

fn profile(name: &str, p: &ProfileConfig) -> Result<Profile, Error> {
    let model = p
        .model
        .clone()
        .ok_or_else(|| Error::Config(format!("profile '{name}' has no model")))?;
    let options = match &p.options {
        Some(table) => match serde_json::to_value(table) {
            Ok(serde_json::Value::Object(map)) => map,
            _ => {
                return Err(Error::Config(format!(
                    "profile '{name}': options must be a table of values"
                )));
            }
        },
        None => serde_json::Map::new(),
    };
    let keep_alive = p
        .keep_alive
        .as_ref()
        .map(serde_json::to_value)
        .transpose()
        .map_err(|e| Error::Config(format!("profile '{name}': keep_alive: {e}")))?;
    let timeout = p
        .timeout
        .map(|v| {
            seconds(v).ok_or_else(|| {
                Error::Config(format!(
                    "profile '{name}': timeout = {v}: must be a positive number of seconds"
                ))
            })
        })
        .transpose()?;
    Ok(Profile {
        name: name.to_owned(),
        model,
        description: p.description.clone().unwrap_or_default(),
        options,
        keep_alive,
        timeout,
        system: p.system.clone(),
        guardrails: p.guardrails.unwrap_or(true),
        num_ctx_max: p.num_ctx_max,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The overrides of the few flags these tests give (the command line's parser is the
    /// binary's; its conversion is tested there).
    fn overrides(args: &[&str]) -> Overrides {
        let mut o = Overrides::default();
        let mut args = args.iter();
        while let Some(arg) = args.next() {
            let mut value = || args.next().map(|v| v.to_string());
            match *arg {
                "-l" | "--local" => o.local = true,
                "-a" | "--api" => o.api = true,
                "--no-fallback" => o.no_fallback = true,
                "-p" | "--profile" => o.profile = value(),
                "-m" | "--model" => o.model = value(),
                "-t" | "--timeout" => o.timeout = value().map(|v| parse_seconds(&v).unwrap()),
                "--connect-timeout" => {
                    o.connect_timeout = value().map(|v| parse_seconds(&v).unwrap())
                }
                "--idle-timeout" => o.idle_timeout = value().map(|v| parse_seconds(&v).unwrap()),
                "--first-byte-timeout" => {
                    o.first_byte_timeout = value().map(|v| parse_seconds(&v).unwrap())
                }
                "--sections" => o.sections = value(),
                "--codex" => o.codex = true,
                _ => {}
            }
        }
        o
    }

    fn settings(args: &[&str], env: &[(&str, &str)]) -> Result<Settings, Error> {
        let layers = file::load_layers(None, None).unwrap();
        let cfg = file::merge(&layers).unwrap();
        let env = Env::from_pairs(env.iter().copied());
        resolve_from(
            cfg,
            vec![Source::Builtin],
            &overrides(args),
            &env,
            Path::new("."),
        )
    }

    #[test]
    fn flag_beats_environment_beats_file() {
        let s = settings(&["x"], &[]).unwrap();
        assert_eq!(s.profile.name, "code");
        assert!(!s.profile_explicit);
        let s = settings(&["x"], &[("OLLAMA_PROFILE", "fast")]).unwrap();
        assert_eq!(s.profile.model, "deepseek-coder:6.7b");
        let s = settings(&["--profile", "code", "x"], &[("OLLAMA_PROFILE", "fast")]).unwrap();
        assert_eq!(s.profile.name, "code");
        assert!(s.profile_explicit);
    }

    #[test]
    fn unknown_profile_lists_known_ones() {
        let err = settings(&["-p", "turbo", "x"], &[])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("'turbo'") && err.contains("code, fast, uncensored"),
            "{err}"
        );
    }

    #[test]
    fn model_overrides_follow_the_route() {
        let s = settings(&["x"], &[("OLLAMA_MODEL", "llama3")]).unwrap();
        assert_eq!(s.local_model_override.as_deref(), Some("llama3"));
        let s = settings(&["--api", "--model", "gemini-pro", "x"], &[]).unwrap();
        assert_eq!(s.api_model, "gemini-pro");
        assert_eq!(s.routes.api[0].model.as_deref(), Some("gemini-pro"));
        assert_eq!(s.local_model_override, None);
    }

    #[test]
    fn deadline_layers() {
        let s = settings(&["x"], &[]).unwrap();
        assert_eq!(s.deadline(&s.profile), Duration::from_secs(60));
        assert_eq!(s.deadline(&s.profiles["fast"]), Duration::from_secs(30));
        let s = settings(&["-t", "2", "x"], &[("CODEX_WRAP_TIMEOUT", "9")]).unwrap();
        assert_eq!(s.deadline(&s.profiles["fast"]), Duration::from_secs(2));
        let s = settings(&["x"], &[("CODEX_WRAP_TIMEOUT", "9")]).unwrap();
        assert_eq!(s.deadline(&s.profile), Duration::from_secs(9));
        assert!(settings(&["x"], &[("CODEX_WRAP_TIMEOUT", "soon")]).is_err());
    }

    #[test]
    fn ollama_url_from_host_and_key_redacted() {
        let s = settings(
            &["x"],
            &[("OLLAMA_HOST", "127.0.0.1:9"), ("GOOGLE_API_KEY", "sekrit")],
        )
        .unwrap();
        assert_eq!(s.routes.local[0].url, "http://127.0.0.1:9");
        assert!(!format!("{s:?}").contains("sekrit"));
        let gemini = &s.routes.api[0];
        assert_eq!(gemini.key.as_ref().unwrap().expose(), "sekrit");
    }

    #[test]
    fn a_comma_list_of_hosts_is_one_route_of_several_endpoints() {
        let s = settings(&["x"], &[("OLLAMA_HOST", "a, b:1234,https://c/")]).unwrap();
        let urls: Vec<(&str, &str)> = s
            .routes
            .local
            .iter()
            .map(|e| (e.name.as_str(), e.url.as_str()))
            .collect();
        assert_eq!(
            urls,
            [
                ("ollama", "http://a:11434"),
                ("ollama-2", "http://b:1234"),
                ("ollama-3", "https://c:443")
            ]
        );
    }

    #[test]
    fn routes_name_endpoints_and_unknown_names_are_config_errors() {
        let s = settings(&["x"], &[("CODEX_WRAP_LOCAL_BACKEND", "openai,ollama")]).unwrap();
        let names: Vec<&str> = s.routes.local.iter().map(|e| e.name.as_str()).collect();
        assert_eq!(names, ["openai", "ollama"]);
        let err = settings(&["x"], &[("CODEX_WRAP_LOCAL_BACKEND", "box9")]).unwrap_err();
        assert!(
            err.to_string().contains("no endpoint of that name"),
            "{err}"
        );
        assert_eq!(
            s.routes.codex[0].command,
            ["codex", "exec", "-C", "{root}", "-"]
        );
    }

    #[test]
    fn every_resolved_value_records_its_origin() {
        let s = settings(
            &[
                "--connect-timeout",
                "5",
                "--idle-timeout",
                "7",
                "--sections",
                "contract:Auth",
                "--api",
                "--model",
                "gemini-pro",
                "x",
            ],
            &[
                ("OLLAMA_URL", "http://a:1"),
                ("CODEX_WRAP_LOCAL_BACKEND", "openai"),
                ("GOOGLE_API_KEY", "sekrit"),
                ("CODEX_LOG_FILE", "run.jsonl"),
                ("CODEX_WRAP_SYNC_REMOTE", "gdrive:app"),
            ],
        )
        .unwrap();
        let of = |key: &str| s.provenance.of(key).to_string();
        assert_eq!(of("timeouts.connect"), "flag --connect-timeout");
        assert_eq!(of("timeouts.idle"), "flag --idle-timeout");
        assert_eq!(of("timeouts.first_byte"), "default");
        assert_eq!(of("timeouts.deadline"), "built-in");
        assert_eq!(of("context.sections"), "flag --sections");
        assert_eq!(of("context.local_budget"), "built-in");
        assert_eq!(of("gemini.model"), "flag --model");
        assert_eq!(of("mode"), "flag --api");
        assert_eq!(of("ollama.url"), "environment OLLAMA_URL");
        assert_eq!(of("routes.local"), "environment CODEX_WRAP_LOCAL_BACKEND");
        assert_eq!(of("routes.api"), "default");
        assert_eq!(of("gemini.key"), "environment GOOGLE_API_KEY");
        assert_eq!(of("log.file"), "environment CODEX_LOG_FILE");
        assert_eq!(of("sync.remote"), "environment CODEX_WRAP_SYNC_REMOTE");
        assert_eq!(of("directive"), "built-in");
        assert_eq!(of("pool.strategy"), "default");
        assert_eq!(of("profiles.code.keep_alive"), "default");
        assert_eq!(of("profiles.fast.timeout"), "built-in");
        assert!(!format!("{:?}", s.provenance).contains("sekrit"));

        // The router's suggestion, and the files' default when nothing names one.
        let cfg = file::merge(&file::load_layers(None, None).unwrap()).unwrap();
        let run = Overrides {
            suggested_profile: Some("fast".into()),
            ..Overrides::default()
        };
        let env = Env::from_pairs([]);
        let s = resolve_from(cfg, vec![Source::Builtin], &run, &env, Path::new(".")).unwrap();
        assert_eq!(s.provenance.of("profile"), &Origin::Router);
        assert_eq!(s.deadline_origin(&s.profile), "built-in");
        assert_eq!(
            s.deadline_origin(&s.profiles["code"]),
            "built-in [timeouts] deadline"
        );
        assert_eq!(
            settings(&["x"], &[]).unwrap().provenance.of("profile"),
            &Origin::Builtin
        );
    }

    #[test]
    fn fallback_only_in_auto_mode() {
        assert!(settings(&["x"], &[]).unwrap().fallback);
        assert!(!settings(&["-l", "x"], &[]).unwrap().fallback);
        assert!(!settings(&["-a", "x"], &[]).unwrap().fallback);
        assert!(!settings(&["--no-fallback", "x"], &[]).unwrap().fallback);
    }
}
