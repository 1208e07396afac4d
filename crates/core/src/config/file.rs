//! `profiles.toml`: the file format, loading with located errors, and layering.
//!
//! Each layer is checked on its own against the typed format (so an error names its file,
//! line and column), then the layers are merged as TOML tables, key by key, the higher
//! layer winning, and the merged table is read once more into the typed format.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::error::Error;

/// The built-in defaults, compiled in.
pub const BUILTIN: &str = include_str!("../../../../profiles.toml");

/// One `profiles.toml`, every field optional so that a layer names only what it changes.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfigFile {
    /// Profile used when none is named.
    pub default_profile: Option<String>,
    /// Text placed between the context and the user's prompt.
    pub directive: Option<String>,
    /// Ollama server.
    pub ollama: Option<OllamaConfig>,
    /// Gemini API.
    pub gemini: Option<GeminiConfig>,
    /// Timeouts in seconds.
    pub timeouts: Option<TimeoutsConfig>,
    /// Named profiles.
    #[serde(default)]
    pub profiles: BTreeMap<String, ProfileConfig>,
    /// Router rules (see `route`); checked by the router.
    pub router: Option<toml::Table>,
    /// Context slicer.
    pub context: Option<ContextConfig>,
    /// An OpenAI-compatible server.
    pub openai: Option<OpenAiConfig>,
    /// Which endpoints serve each route, in order.
    pub routes: Option<RoutesConfig>,
    /// Named endpoints (`[endpoints.box2]`).
    #[serde(default)]
    pub endpoints: BTreeMap<String, EndpointConfig>,
    /// How a route's endpoints share calls, and how long a failed one waits.
    pub pool: Option<PoolConfig>,
    /// The run log.
    pub log: Option<LogConfig>,
    /// API prices by model, in currency units per million tokens (for `stats`).
    #[serde(default)]
    pub prices: BTreeMap<String, PriceConfig>,
    /// `codex-wrap sync`: the rclone remote and what to leave out.
    pub sync: Option<SyncConfig>,
    /// `codex-wrap engine`, the built-in llama-server.
    pub engine: Option<EngineConfig>,
    /// Which layer set each value (filled by `merge`, never read from a file).
    #[serde(skip)]
    pub provenance: super::provenance::Provenance,
    /// `codex-wrap mcp`: the `delegate` tool's reply cap and continuation lifetime.
    pub mcp: Option<McpConfig>,
    /// `--write`: how the check runs, and where a task escalates when its rounds fail.
    pub files: Option<FilesConfig>,
}

/// `[files]`: the write -> check -> repair task. `sandbox` and `allow_write` are read from
/// the user's own file only (see `files::sandbox`, `files::protect`).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FilesConfig {
    /// `auto` (default), `bwrap` or `off`: whether the check runs under bubblewrap.
    pub sandbox: Option<String>,
    /// Protected assistant files (`.vscode/*.json`, `.github/workflows/*.yml`) that answers
    /// may create or replace.
    pub allow_write: Option<Vec<String>>,
    /// An input file with more lines than this is changed with SEARCH/REPLACE edit blocks
    /// instead of being written whole (default 150).
    pub edit_blocks_above: Option<usize>,
    /// What a round after a failed one sends: `feedback` (default: the files and the
    /// check's output) or `resample` (the task asked again, sampled anew).
    pub repair: Option<String>,
    /// Where a task goes on when the check still fails after its rounds: `api`, `codex`,
    /// `local` or an endpoint's name. Applies only when no flag forces a route and
    /// fallback is allowed.
    pub escalate: Option<String>,
    /// The escalation's own round budget (default 2).
    pub escalate_rounds: Option<u32>,
}

/// `[mcp]`: the MCP server's `delegate` tool.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct McpConfig {
    /// Cap on the text of a reply, in tokens (default 8000); a longer answer is cut and
    /// saved whole under the state directory.
    pub max_reply_tokens: Option<usize>,
    /// How long a `continuation_id` stays usable, in seconds (default 10800, 3 h).
    pub continuation_ttl_secs: Option<u64>,
    /// Check commands `delegate` may run without the sandbox (read from the user's own
    /// file only).
    pub checks: Option<Vec<String>>,
}

/// `[sync]`: copying the project to a remote with rclone.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncConfig {
    /// The rclone destination, `REMOTE:PATH` (e.g. `gdrive:projects/app`).
    pub remote: Option<String>,
    /// More to leave out, gitignore syntax, on top of the defaults and `.gitignore`.
    pub exclude: Option<Vec<String>>,
    /// Sync after every call that wrote files (in the background).
    pub after_write: Option<bool>,
    /// Most files a sync may delete on the remote (default 50).
    pub max_delete: Option<u64>,
    /// Deadline of one sync, in seconds (default 600).
    pub timeout: Option<f64>,
    /// Also leave out what the root `.gitignore` ignores (default true).
    pub gitignore: Option<bool>,
}

/// `[engine]`: the local model server `codex-wrap engine up` starts.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EngineConfig {
    /// Stop the engine after this long without a request (`"30m"`, `"2h"`; `"off"`).
    pub idle_stop: Option<String>,
    /// llama-server's generation threads (default: one core left free).
    pub threads: Option<u32>,
}

/// `[log]`: the run log, one JSON line per call.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogConfig {
    /// `false` turns the log off (as `CODEX_WRAP_ENABLE_LOGGING=0` does).
    pub enabled: Option<bool>,
    /// The log file, relative to the project root (`CODEX_LOG_FILE` overrides).
    pub file: Option<String>,
    /// Also record the prompt text (off by default: only its length and hash).
    pub log_prompts: Option<bool>,
}

/// `[prices.MODEL]`: what a million tokens cost on the API.
#[derive(Debug, Default, Clone, Copy, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PriceConfig {
    /// Per million prompt tokens.
    pub input: f64,
    /// Per million generated tokens.
    pub output: f64,
}

/// `[openai]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OpenAiConfig {
    /// Base URL with the version path, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: Option<String>,
    /// Model name (default: the profile's model on the local route).
    pub model: Option<String>,
    /// The environment variable holding the bearer key.
    pub key_env: Option<String>,
}

/// `[routes]`: each route is one endpoint name or a list tried in order:
/// `local = "openai"`, `local = ["ollama", "box2"]`, `codex = ["codex"]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RoutesConfig {
    /// Endpoints of the local route.
    pub local: Option<RouteList>,
    /// Endpoints of the API route.
    pub api: Option<RouteList>,
    /// Endpoints of the codex route (`--codex`).
    pub codex: Option<RouteList>,
}

/// One endpoint name or several.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum RouteList {
    /// `local = "openai"`.
    One(String),
    /// `local = ["ollama", "box2"]`.
    Many(Vec<String>),
}

impl RouteList {
    /// The names, in order.
    pub fn names(&self) -> Vec<String> {
        match self {
            RouteList::One(name) => vec![name.clone()],
            RouteList::Many(names) => names.clone(),
        }
    }
}

/// `[endpoints.NAME]`: a provider at a URL (or a command line) with an optional model.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EndpointConfig {
    /// `ollama`, `gemini`, `openai` or `command`.
    pub provider: String,
    /// Base URL (not for `command`).
    pub url: Option<String>,
    /// Model (default: the profile's model on the local route, the Gemini model on the API).
    pub model: Option<String>,
    /// The environment variable holding its key.
    pub key_env: Option<String>,
    /// For `command`: the argv, `{root}` and `{model}` substituted; no shell.
    pub command: Option<Vec<String>>,
}

/// `[pool]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PoolConfig {
    /// `order` (default) or `spread`.
    pub strategy: Option<String>,
    /// Seconds a failed endpoint is tried last (default 30).
    pub cooldown: Option<f64>,
}

/// `[context]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContextConfig {
    /// Files to draw from, relative to the project root.
    pub files: Option<Vec<String>>,
    /// Sections always sent first (`Title` or `label:Title`).
    pub always: Option<Vec<String>>,
    /// Token budget of the local route.
    pub local_budget: Option<usize>,
    /// Token budget of the API route.
    pub api_budget: Option<usize>,
    /// Lowest score for an automatically chosen section.
    pub min_score: Option<f64>,
    /// Lines sent from the top of a file whose named sections match nothing.
    pub summary_lines: Option<usize>,
}

/// `[ollama]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OllamaConfig {
    /// Base URL, e.g. `http://localhost:11434`.
    pub url: Option<String>,
}

/// `[gemini]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GeminiConfig {
    /// Base URL, e.g. `https://generativelanguage.googleapis.com`.
    pub base_url: Option<String>,
    /// Model name, e.g. `gemini-flash-latest`.
    pub model: Option<String>,
}

/// `[timeouts]`, in seconds.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TimeoutsConfig {
    /// TCP (and TLS) connect.
    pub connect: Option<f64>,
    /// One attempt, from sending to the last byte.
    pub deadline: Option<f64>,
    /// Longest silence between chunks once the answer flows.
    pub idle: Option<f64>,
    /// Longest wait for the first byte (default: the deadline; a cold model load counts).
    pub first_byte: Option<f64>,
    /// Longest 429 retry hint honoured with one retry.
    pub retry_cap: Option<f64>,
}

/// `[profiles.NAME]`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProfileConfig {
    /// Ollama model.
    pub model: Option<String>,
    /// One line for `--help`-style listings.
    pub description: Option<String>,
    /// Ollama options passed through (temperature, num_ctx, ...).
    pub options: Option<toml::Table>,
    /// Ollama keep_alive (`"30m"`, `-1`); sent only when set.
    pub keep_alive: Option<toml::Value>,
    /// Attempt deadline in seconds for this profile.
    pub timeout: Option<f64>,
    /// A system prompt placed before the directive.
    pub system: Option<String>,
    /// `false` prints a one-line warning that guardrails are off.
    pub guardrails: Option<bool>,
    /// Ceiling for raising Ollama's `num_ctx` when a request does not fit.
    pub num_ctx_max: Option<u64>,
}

/// Where a layer came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    /// Compiled into the binary.
    Builtin,
    /// `$XDG_CONFIG_HOME/codex-wrap/profiles.toml`.
    User(PathBuf),
    /// `profiles.toml` in the project root.
    Project(PathBuf),
}

impl Source {
    /// `built-in`, `user file PATH`, `project file PATH`: where a setting came from.
    pub fn describe(&self) -> String {
        match self {
            Source::Builtin => "built-in".to_owned(),
            Source::User(p) => format!("user file {}", p.display()),
            Source::Project(p) => format!("project file {}", p.display()),
        }
    }

    fn label(&self) -> String {
        match self {
            Source::Builtin => "built-in profiles.toml".to_owned(),
            Source::User(p) | Source::Project(p) => p.display().to_string(),
        }
    }
}

/// Parses and checks one layer; errors name the file, line and column.
pub fn parse_layer(text: &str, source: &Source) -> Result<toml::Table, Error> {
    let located = |err: toml::de::Error| {
        let (line, col) = err.span().map_or((1, 1), |span| line_col(text, span.start));
        Error::Config(format!(
            "{}:{line}:{col}: {}",
            source.label(),
            err.message().trim_end()
        ))
    };
    let table: toml::Table = toml::from_str(text).map_err(located)?;
    // Check the types now, while the error can still point into this file.
    toml::from_str::<ConfigFile>(text).map_err(located)?;
    Ok(table)
}

/// Loads the layers that exist, lowest first: built-in, user, project.
pub fn load_layers(
    user: Option<&Path>,
    project: Option<&Path>,
) -> Result<Vec<(Source, toml::Table)>, Error> {
    let mut layers = vec![(Source::Builtin, parse_layer(BUILTIN, &Source::Builtin)?)];
    let candidates = [
        user.map(|p| Source::User(p.to_path_buf())),
        project.map(|p| Source::Project(p.to_path_buf())),
    ];
    for source in candidates.into_iter().flatten() {
        let (Source::User(path) | Source::Project(path)) = &source else {
            continue;
        };
        let text = match std::fs::read_to_string(path) {
            Ok(text) => text,
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
            Err(err) => {
                return Err(Error::Config(format!("{}: {err}", path.display())));
            }
        };
        let table = parse_layer(&text, &source)?;
        layers.push((source, table));
    }
    Ok(layers)
}

/// Merges the layers (lowest first) into one typed configuration.
pub fn merge(layers: &[(Source, toml::Table)]) -> Result<ConfigFile, Error> {
    let mut merged = toml::Table::new();
    for (_, table) in layers {
        merge_into(&mut merged, table);
    }
    let mut cfg = ConfigFile::deserialize(toml::Value::Table(merged))
        .map_err(|err| Error::Config(format!("merged profiles.toml: {}", err.message())))?;
    cfg.provenance = super::provenance::Provenance::from_layers(layers);
    Ok(cfg)
}

/// The layers merged into one table (no deserialising): what a further layer lands on.
pub fn merged_table(layers: &[(Source, toml::Table)]) -> toml::Table {
    let mut merged = toml::Table::new();
    for (_, table) in layers {
        merge_into(&mut merged, table);
    }
    merged
}

/// Removes from `top` every value that `base` already holds at the same place (tables
/// compared key by key; a table left empty goes too): merging what is left on `base` gives
/// the same table, and what is left is what `top` changes.
pub fn drop_unchanged(top: &mut toml::Table, base: &toml::Table) {
    top.retain(|key, value| match (value, base.get(key)) {
        (toml::Value::Table(t), Some(toml::Value::Table(b))) => {
            drop_unchanged(t, b);
            !t.is_empty()
        }
        (v, Some(b)) => v != b,
        (_, None) => true,
    });
}

/// Deep merge: tables merge key by key, anything else is replaced.
fn merge_into(base: &mut toml::Table, top: &toml::Table) {
    for (key, value) in top {
        match (base.get_mut(key), value) {
            (Some(toml::Value::Table(b)), toml::Value::Table(t)) => merge_into(b, t),
            _ => {
                base.insert(key.clone(), value.clone());
            }
        }
    }
}

/// 1-based line and column (in characters) of a byte offset.
fn line_col(text: &str, offset: usize) -> (usize, usize) {
    let offset = offset.min(text.len());
    let before = text.get(..offset).unwrap_or(text);
    let line = before.matches('\n').count() + 1;
    let col = before.rsplit('\n').next().unwrap_or("").chars().count() + 1;
    (line, col)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builtin_parses_with_three_profiles() {
        let layers = load_layers(None, None).unwrap();
        let cfg = merge(&layers).unwrap();
        let names: Vec<&str> = cfg.profiles.keys().map(String::as_str).collect();
        assert_eq!(names, ["code", "fast", "uncensored"]);
        assert_eq!(cfg.default_profile.as_deref(), Some("code"));
    }

    #[test]
    fn only_what_a_layer_changes_is_left_after_dropping_the_unchanged() {
        let base: toml::Table = toml::from_str(
            "[ollama]\nurl = \"http://a\"\n[log]\nfile = \"x\"\nenabled = true\n[sync]\nremote = \"r\"\n",
        )
        .unwrap();
        let mut top: toml::Table = toml::from_str(
            "[ollama]\nurl = \"http://a\"\n[log]\nfile = \"y\"\nenabled = true\n[sync]\nremote = \"r\"\n[gemini]\nmodel = \"m\"\n",
        )
        .unwrap();
        let mut merged = base.clone();
        merge_into(&mut merged, &top);
        drop_unchanged(&mut top, &base);
        let left: toml::Table =
            toml::from_str("[log]\nfile = \"y\"\n[gemini]\nmodel = \"m\"\n").unwrap();
        assert_eq!(top, left);
        let mut again = base.clone();
        merge_into(&mut again, &top);
        assert_eq!(again, merged, "merging what is left gives the same table");
    }

    #[test]
    fn a_higher_layer_changes_only_what_it_names() {
        let mut layers = load_layers(None, None).unwrap();
        let user = Source::User("u.toml".into());
        let text = "[profiles.code]\nmodel = \"mine\"\n[profiles.code.options]\nnum_ctx = 16384\n";
        layers.push((user.clone(), parse_layer(text, &user).unwrap()));
        let cfg = merge(&layers).unwrap();
        let code = &cfg.profiles["code"];
        assert_eq!(code.model.as_deref(), Some("mine"));
        let opts = code.options.as_ref().unwrap();
        assert_eq!(opts["num_ctx"].as_integer(), Some(16384));
        assert!(
            opts["temperature"].as_float().is_some(),
            "kept from built-in"
        );
    }

    proptest::proptest! {
        #[test]
        fn any_toml_text_is_accepted_or_rejected_with_a_location(text in "\\PC{0,200}") {
            let src = Source::Project("p.toml".into());
            if let Err(e) = parse_layer(&text, &src) {
                let msg = e.to_string();
                proptest::prop_assert!(msg.starts_with("p.toml:"), "{}", msg);
            }
        }

        #[test]
        fn toml_shaped_text_never_panics(
            lines in proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("[profiles.code]".to_owned()),
                    proptest::strategy::Just("[timeouts]".to_owned()),
                    proptest::strategy::Just("[router.rules.x]".to_owned()),
                    "[a-z_]{1,8} = [0-9\"'a-z.\\[\\]{}-]{0,10}",
                ],
                0..12,
            )
        ) {
            let text = lines.join("\n");
            let src = Source::User("u.toml".into());
            if let Ok(table) = parse_layer(&text, &src) {
                let mut layers = load_layers(None, None).unwrap();
                layers.push((src, table));
                let _ = merge(&layers);
            }
        }
    }

    #[test]
    fn errors_name_file_line_and_column() {
        let src = Source::Project("/p/profiles.toml".into());
        let err = parse_layer("[profiles.code]\nmodel = \n", &src).unwrap_err();
        let msg = err.to_string();
        assert!(msg.starts_with("/p/profiles.toml:2:"), "{msg}");
        let err = parse_layer("[profiles.code]\ntimeout = \"soon\"\n", &src).unwrap_err();
        assert!(err.to_string().starts_with("/p/profiles.toml:2:"), "{err}");
        let err = parse_layer("[profiles.code]\nmodle = \"x\"\n", &src).unwrap_err();
        assert!(err.to_string().contains("modle"), "{err}");
    }
}
