//! Every environment variable the tool reads, in one place, and the `.env.local` overlay.
//!
//! The process environment is never modified: `.env.local` values fill only the names the
//! process does not already have, as the old scripts did.

use std::collections::HashMap;
use std::path::Path;

/// Names of the variables, old scripts' names included.
pub mod names {
    pub const OLLAMA_PROFILE: &str = "OLLAMA_PROFILE";
    pub const OLLAMA_MODEL: &str = "OLLAMA_MODEL";
    pub const OLLAMA_URL: &str = "OLLAMA_URL";
    pub const OLLAMA_HOST: &str = "OLLAMA_HOST";
    pub const GEMINI_API_KEY: &str = "GEMINI_API_KEY";
    pub const GOOGLE_API_KEY: &str = "GOOGLE_API_KEY";
    pub const GEMINI_MODEL: &str = "GEMINI_MODEL";
    pub const GEMINI_BASE_URL: &str = "GEMINI_BASE_URL";
    pub const DISABLE_LOCAL: &str = "LLM_GATEWAY_DISABLE_LOCAL";
    pub const DISABLE_API: &str = "LLM_GATEWAY_DISABLE_API";
    pub const LLM_DISABLED: &str = "LLM_DISABLED";
    pub const ROOT: &str = "CODEX_WRAP_ROOT";
    pub const TIMEOUT: &str = "CODEX_WRAP_TIMEOUT";
    pub const LOG_FILE: &str = "CODEX_LOG_FILE";
    pub const ENABLE_LOGGING: &str = "CODEX_WRAP_ENABLE_LOGGING";
    pub const XDG_CONFIG_HOME: &str = "XDG_CONFIG_HOME";
    pub const XDG_CACHE_HOME: &str = "XDG_CACHE_HOME";
    pub const XDG_STATE_HOME: &str = "XDG_STATE_HOME";
    pub const ENGINE_CACHE: &str = "CODEX_WRAP_ENGINE_CACHE";
    pub const PATH: &str = "PATH";
    pub const FORCE_CODEX: &str = "FORCE_CODEX";
    pub const NO_COLOR: &str = "NO_COLOR";
    pub const OPENAI_BASE_URL: &str = "OPENAI_BASE_URL";
    pub const OPENAI_API_KEY: &str = "OPENAI_API_KEY";
    pub const LOCAL_BACKEND: &str = "CODEX_WRAP_LOCAL_BACKEND";
    pub const API_BACKEND: &str = "CODEX_WRAP_API_BACKEND";
    pub const CONTRACT_SECTIONS: &str = "CONTRACT_SECTIONS";
    pub const AGENTS_SECTIONS: &str = "AGENTS_SECTIONS";
    pub const CONTEXT_HINTS: &str = "CONTEXT_HINTS";
    pub const INCLUDE_AGENTS: &str = "INCLUDE_AGENTS";
    pub const CONTRACT_SUMMARY_LINES: &str = "CONTRACT_SUMMARY_LINES";
    pub const AGENTS_SUMMARY_LINES: &str = "AGENTS_SUMMARY_LINES";
    pub const SYNC_REMOTE: &str = "CODEX_WRAP_SYNC_REMOTE";
    pub const MAX_MCP_OUTPUT_TOKENS: &str = "MAX_MCP_OUTPUT_TOKENS";
    pub const STATE_DIR: &str = "CODEX_WRAP_STATE_DIR";
    pub const SANDBOX: &str = "CODEX_WRAP_SANDBOX";
}

/// A read-only view of the environment: the process's variables over `.env.local` files.
///
/// `.env.local` files are project files: they are read only for a trusted project
/// (`config::trust::apply`), which also records here the hashes the trust was given for,
/// so that the project's `profiles.toml` is read with its authority only when its bytes
/// are the ones the user trusted.
#[derive(Debug, Default, Clone)]
pub struct Env {
    process: HashMap<String, String>,
    files: HashMap<String, String>,
    trusted: Option<std::sync::Arc<crate::trusted::Trusted>>,
}

impl Env {
    /// The current process environment, with no files loaded yet.
    pub fn from_process() -> Self {
        Env {
            process: std::env::vars_os()
                .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
                .collect(),
            files: HashMap::new(),
            trusted: None,
        }
    }

    /// An environment made of exactly these pairs (tests).
    pub fn from_pairs<'a>(pairs: impl IntoIterator<Item = (&'a str, &'a str)>) -> Self {
        Env {
            process: pairs
                .into_iter()
                .map(|(k, v)| (k.to_owned(), v.to_owned()))
                .collect(),
            files: HashMap::new(),
            trusted: None,
        }
    }

    /// The same process environment with no project file read and no trust: what the MCP
    /// server starts every call from.
    pub fn process_only(&self) -> Env {
        Env {
            process: self.process.clone(),
            files: HashMap::new(),
            trusted: None,
        }
    }

    /// The trust given to this project's files, when it is trusted.
    pub fn trusted(&self) -> Option<&crate::trusted::Trusted> {
        self.trusted.as_deref()
    }

    /// Marks the project trusted (only `trust::apply` does this).
    pub(crate) fn set_trusted(&mut self, trusted: crate::trusted::Trusted) {
        self.trusted = Some(std::sync::Arc::new(trusted));
    }

    /// Reads dotenv text already read from `path` (and checked against its trusted hash);
    /// names already known win.
    pub(crate) fn load_dotenv_bytes(&mut self, path: &Path, bytes: &[u8]) {
        self.load_dotenv_iter(path, dotenvy::from_read_iter(bytes));
    }

    /// Reads a dotenv file; names already known (from the process or an earlier file) win.
    /// A missing file is fine; a malformed one is skipped with a warning.
    pub fn load_dotenv(&mut self, path: &Path) {
        let Ok(iter) = dotenvy::from_path_iter(path) else {
            return;
        };
        self.load_dotenv_iter(path, iter);
    }

    fn load_dotenv_iter<R: std::io::Read>(&mut self, path: &Path, iter: dotenvy::Iter<R>) {
        for item in iter {
            match item {
                Ok((key, value)) => {
                    if !self.process.contains_key(&key) {
                        self.files.entry(key).or_insert(value);
                    }
                }
                Err(err) => {
                    tracing::warn!(file = %path.display(), "skipping the rest of .env.local: {err}");
                    break;
                }
            }
        }
    }

    /// The value of a variable, trimmed; `None` when unset or blank.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.process
            .get(name)
            .or_else(|| self.files.get(name))
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// The value of a variable in the process environment only, trimmed; `None` when unset
    /// or blank. For settings that loosen a defence: a project's `.env.local` cannot set them.
    pub fn process_get(&self, name: &str) -> Option<&str> {
        self.process
            .get(name)
            .map(|v| v.trim())
            .filter(|v| !v.is_empty())
    }

    /// Every variable, the process's over the files' (for finding secrets in values).
    pub fn pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.process
            .iter()
            .chain(
                self.files
                    .iter()
                    .filter(|(k, _)| !self.process.contains_key(*k)),
            )
            .map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// The process's own variables (what a child process inherits).
    pub fn process_pairs(&self) -> impl Iterator<Item = (&str, &str)> {
        self.process.iter().map(|(k, v)| (k.as_str(), v.as_str()))
    }

    /// Whether a variable is set to a truthy value (1, true, yes, on).
    pub fn flag(&self, name: &str) -> bool {
        self.get(name).is_some_and(is_truthy)
    }

    /// The first of `names` that is set (for recording where a value came from).
    pub fn first_set<'n>(&self, names: &[&'n str]) -> Option<&'n str> {
        names.iter().copied().find(|n| self.get(n).is_some())
    }
}

/// `1`, `true`, `yes`, `on`, in any case.
pub fn is_truthy(value: &str) -> bool {
    matches!(
        value.trim().to_ascii_lowercase().as_str(),
        "1" | "true" | "yes" | "on"
    )
}

/// Turns `OLLAMA_HOST`-style values into a base URL: the scheme and port may be omitted
/// (`0.0.0.0`, `localhost:11434`, `https://ollama.example`).
pub fn ollama_base_url(value: &str) -> String {
    let value = value.trim().trim_end_matches('/');
    let (scheme, rest) = match value.split_once("://") {
        Some((scheme, rest)) => (scheme, rest),
        None => ("http", value),
    };
    let host_has_port = rest
        .rsplit_once(':')
        .is_some_and(|(_, port)| !port.is_empty() && port.chars().all(|c| c.is_ascii_digit()))
        && !rest.ends_with(']');
    let has_path = rest.contains('/');
    if host_has_port || has_path {
        format!("{scheme}://{rest}")
    } else {
        let port = if scheme == "https" { 443 } else { 11434 };
        format!("{scheme}://{rest}:{port}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn host(input: &str, want: &str) {
        assert_eq!(ollama_base_url(input), want);
    }

    #[test]
    fn ollama_host_forms() {
        host("0.0.0.0", "http://0.0.0.0:11434");
        host("localhost:1234", "http://localhost:1234");
        host("http://127.0.0.1:11434/", "http://127.0.0.1:11434");
        host("https://ollama.example", "https://ollama.example:443");
        host("[::1]", "http://[::1]:11434");
        host("[::1]:8080", "http://[::1]:8080");
    }

    #[test]
    fn process_wins_over_files_and_blank_is_unset() {
        let dir = std::env::temp_dir().join(format!("cw-env-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let file = dir.join(".env.local");
        std::fs::write(
            &file,
            "OLLAMA_MODEL=from-file\nGEMINI_MODEL=\"g\"\nLLM_DISABLED=\n",
        )
        .unwrap();
        let mut env = Env::from_pairs([("OLLAMA_MODEL", "from-process")]);
        env.load_dotenv(&file);
        assert_eq!(env.get("OLLAMA_MODEL"), Some("from-process"));
        assert_eq!(env.get("GEMINI_MODEL"), Some("g"));
        assert_eq!(env.get("LLM_DISABLED"), None);
        assert!(!env.flag("LLM_DISABLED"));
        std::fs::remove_dir_all(dir).ok();
    }

    #[test]
    fn truthy_values() {
        for v in ["1", "true", "TRUE", "yes", "on", " On "] {
            assert!(is_truthy(v), "{v}");
        }
        for v in ["0", "false", "no", "off", "", "2"] {
            assert!(!is_truthy(v), "{v}");
        }
    }
}
