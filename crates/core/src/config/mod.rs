//! Resolved settings: flags > environment > project file > user file > built-in.
//!
//! After `resolve`, the rest of the program sees only `Settings`; no other module reads
//! the environment or a configuration file.

pub use crate::env;
pub mod file;
mod pick;
pub mod provenance;
mod resolve;
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
pub use resolve::{resolve, resolve_from};

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
    /// `--write --check`: what a round after a failed one sends (`--repair`,
    /// `[files] repair`, default feedback).
    pub repair: crate::files::repair::Strategy,
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
    /// `--repair`.
    pub repair: Option<crate::files::repair::Strategy>,
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
    fn a_choice_the_file_names_wrongly_is_an_error_naming_the_setting_and_the_choices() {
        let resolve = |edit: &dyn Fn(&mut ConfigFile)| {
            let layers = file::load_layers(None, None).unwrap();
            let mut cfg = file::merge(&layers).unwrap();
            edit(&mut cfg);
            let env = Env::from_pairs([]);
            resolve_from(
                cfg,
                vec![Source::Builtin],
                &overrides(&["x"]),
                &env,
                Path::new("."),
            )
            .unwrap_err()
            .to_string()
        };
        let pool = resolve(&|c| {
            c.pool.get_or_insert_default().strategy = Some("rr".into());
        });
        assert!(
            pool.contains("[pool] strategy = 'rr': order or spread"),
            "{pool}"
        );
        let files = resolve(&|c| {
            c.files.get_or_insert_default().repair = Some("retry".into());
        });
        assert!(
            files.contains("[files] repair = 'retry': feedback or resample"),
            "{files}"
        );
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
