//! The `Backend` trait: what differs between providers, and nothing else.
//!
//! A backend builds one HTTP request and decodes one frame (an NDJSON line or an SSE
//! `data:` payload) at a time. Sending, framing, deadlines, retries and fallback live once,
//! in `stream.rs`, so a new provider (or a second endpoint of the same provider) is one
//! more value of this trait, not another copy of the loop.

pub mod command;
pub mod gemini;
pub mod ollama;
pub mod openai;

use std::borrow::Cow;
use std::path::Path;

use futures_util::future::BoxFuture;
use serde_json::{Map, Value};

use crate::error::{Error, Failure, FailureKind};
use crate::secret::Secret;

/// Which protocol an endpoint speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Provider {
    /// Ollama's native API.
    Ollama,
    /// Gemini.
    Gemini,
    /// An OpenAI-compatible server.
    OpenAi,
    /// A local command line: the prompt on stdin, the answer on stdout.
    Command,
}

impl Provider {
    /// `ollama`, `gemini`, `openai` or `command`, as in profiles.toml and the variables.
    pub fn as_str(self) -> &'static str {
        match self {
            Provider::Ollama => "ollama",
            Provider::Gemini => "gemini",
            Provider::OpenAi => "openai",
            Provider::Command => "command",
        }
    }

    /// Its base URL when none is configured (`None` for a command line).
    pub fn default_url(self) -> Option<&'static str> {
        match self {
            Provider::Ollama => Some(ollama::DEFAULT_URL),
            Provider::Gemini => Some(gemini::DEFAULT_URL),
            Provider::OpenAi => Some(openai::DEFAULT_URL),
            Provider::Command => None,
        }
    }

    /// The variables its key is read from unless an endpoint names one, the first one set
    /// winning; empty when it takes no key.
    pub fn key_envs(self) -> &'static [&'static str] {
        match self {
            Provider::Gemini => gemini::KEY_ENVS,
            Provider::OpenAi => openai::KEY_ENVS,
            Provider::Ollama | Provider::Command => &[],
        }
    }

    /// Whether a prompt longer than the request's window is cut silently, so the engine
    /// must fit the request to it (raise `num_ctx`, drop context): Ollama does; an
    /// OpenAI-compatible server answers such a request with an error, and a command line
    /// has no window the engine knows.
    pub fn cuts_to_window(self) -> bool {
        match self {
            Provider::Ollama => ollama::CUTS_TO_WINDOW,
            Provider::Gemini | Provider::OpenAi | Provider::Command => false,
        }
    }

    /// Parses a provider name; `what` names the setting in the error.
    pub fn parse(value: &str, what: &str) -> Result<Provider, Error> {
        match value.trim().to_ascii_lowercase().as_str() {
            "ollama" => Ok(Provider::Ollama),
            "gemini" => Ok(Provider::Gemini),
            "openai" => Ok(Provider::OpenAi),
            "command" => Ok(Provider::Command),
            _ => Err(Error::Config(format!(
                "{what} = '{value}': the provider is ollama, gemini, openai or command"
            ))),
        }
    }
}

/// One endpoint, ready to call: a provider at a URL (or a command line) with a model, an
/// optional key and the profile's options. The one unit a route is made of.
#[derive(Debug, Clone)]
pub struct Endpoint {
    /// Its name in profiles.toml (`ollama`, `box2`); built-in ones carry the provider's name.
    pub name: String,
    /// The protocol.
    pub provider: Provider,
    /// Base URL without trailing slash; for a command, the command line as shown.
    pub url: String,
    /// For `command`: the argv, `{root}` and `{model}` not yet substituted.
    pub command: Vec<String>,
    /// The model asked for.
    pub model: String,
    /// The key, when the provider takes one.
    pub key: Option<Secret>,
    /// The profile's options (temperature, num_ctx, ...).
    pub options: Map<String, Value>,
    /// Ollama's keep_alive, only when the profile sets it.
    pub keep_alive: Option<Value>,
}

impl Endpoint {
    /// The backend that speaks this endpoint's protocol: the one place a provider is chosen.
    pub fn backend(&self, root: &Path) -> Box<dyn Backend> {
        match self.provider {
            Provider::Ollama => Box::new(ollama::Ollama {
                url: self.url.clone(),
                model: self.model.clone(),
                options: self.options.clone(),
                keep_alive: self.keep_alive.clone(),
            }),
            Provider::Gemini => Box::new(gemini::Gemini {
                base_url: self.url.clone(),
                model: self.model.clone(),
                key: self.key.clone(),
                options: self.options.clone(),
            }),
            Provider::OpenAi => Box::new(openai::OpenAi {
                base_url: self.url.clone(),
                model: self.model.clone(),
                key: self.key.clone(),
                options: self.options.clone(),
            }),
            Provider::Command => {
                Box::new(command::CommandLine::new(&self.command, root, &self.model))
            }
        }
    }

    /// What identifies the server for the shared health state: provider and URL (a model
    /// does not make a dead host alive).
    pub fn health_key(&self) -> String {
        format!(
            "{} {}",
            self.provider.as_str(),
            crate::http::redact(&self.url)
        )
    }
}

/// How the response body is cut into frames.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Framing {
    /// One JSON object per `\n`-terminated line (Ollama).
    Ndjson,
    /// Server-sent events; each event's `data` is one frame (Gemini, OpenAI).
    Sse,
}

/// One header of a request. Secret values are marked so they are never shown.
#[derive(Debug, Clone)]
pub struct Header {
    /// Header name, lower case.
    pub name: &'static str,
    /// Header value.
    pub value: String,
    /// Shown as `(redacted)` in `--dry-run` and never logged.
    pub secret: bool,
}

/// A request ready to send.
#[derive(Debug, Clone)]
pub struct HttpRequest {
    /// Full URL; never holds a secret.
    pub url: String,
    /// Extra headers (content-type is always JSON).
    pub headers: Vec<Header>,
    /// JSON body.
    pub body: serde_json::Value,
}

/// Token counts and timings a server reports at the end of a stream.
#[derive(Debug, Default, Clone, Copy, PartialEq)]
pub struct Usage {
    /// Tokens in the prompt.
    pub prompt_tokens: Option<u64>,
    /// Tokens generated.
    pub completion_tokens: Option<u64>,
    /// Generation time reported by the server, for tokens/s.
    pub eval_seconds: Option<f64>,
    /// Model load time reported by the server.
    pub load_seconds: Option<f64>,
}

/// Why the model stopped.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finish {
    /// Natural end.
    Stop,
    /// The token limit was reached.
    Length,
    /// A safety filter stopped it; the provider's reason.
    Blocked(String),
}

/// What one frame carried.
#[derive(Debug, Default, PartialEq)]
pub struct Decoded<'a> {
    /// Text to write to stdout (may be empty).
    pub text: Cow<'a, str>,
    /// Set on the frame that ends the answer.
    pub finish: Option<Finish>,
    /// Set when the frame reports usage.
    pub usage: Option<Usage>,
    /// This frame is the protocol's last one (Ollama `done`, OpenAI `[DONE]`).
    pub done: bool,
    /// The model the frame says served it (Ollama and OpenAI `model`, Gemini
    /// `modelVersion`), which may not be the one asked for.
    pub model: Option<Cow<'a, str>>,
}

/// The prompt as chat messages.
#[derive(Debug, Clone, Copy)]
pub struct Messages<'a> {
    /// Context and directive; may be empty.
    pub system: &'a str,
    /// The user's prompt.
    pub user: &'a str,
}

/// One provider endpoint with its model and settings.
pub trait Backend: Send + Sync {
    /// Short provider name: `ollama`, `gemini`, `openai`.
    fn name(&self) -> &'static str;
    /// The model this endpoint will be asked for.
    fn model(&self) -> &str;
    /// Base URL, for messages (never holds a secret).
    fn endpoint(&self) -> &str;
    /// Whether the backend can be tried at all (e.g. a key is set).
    fn check_ready(&self) -> Result<(), Failure> {
        Ok(())
    }
    /// The sampling options sent with each request (temperature, seed, ...), for a caller
    /// that asks the same question again with other sampling; `None`: the backend has none
    /// (a command line).
    fn options_mut(&mut self) -> Option<&mut Map<String, Value>> {
        None
    }
    /// Builds the streaming request.
    fn build(&self, messages: Messages<'_>) -> HttpRequest;
    /// How the body is framed.
    fn framing(&self) -> Framing;
    /// Decodes one frame. An error frame or a frame that does not parse is a `Failure`.
    fn decode<'a>(&self, frame: &'a str) -> Result<Decoded<'a>, Failure>;
    /// Turns an error status and its body into a failure with the provider's message.
    fn http_error(&self, status: u16, body: &str) -> Failure;
    /// A second look at a failed answer's status when one more cheap request can tell the
    /// user what the server really is (Ollama: a 404 from a server that is not Ollama).
    fn diagnose<'a>(
        &'a self,
        _client: &'a reqwest::Client,
        failure: Failure,
    ) -> BoxFuture<'a, Failure> {
        Box::pin(async move { failure })
    }
    /// Advice when the server cannot be reached.
    fn unreachable_hint(&self) -> Option<String> {
        None
    }
    /// For a local command instead of an HTTP server: the argv to run (no shell).
    fn argv(&self) -> Option<&[String]> {
        None
    }

    // Management (`doctor`, `models`, `warm`): short requests under the client's limit.

    /// Checks that the endpoint answers; one line saying what it is (`Ollama 0.12.6`).
    fn probe<'a>(&'a self, client: &'a reqwest::Client) -> BoxFuture<'a, Result<String, Failure>>;
    /// The models the server offers.
    fn list_models<'a>(
        &'a self,
        _client: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<Vec<ModelInfo>, Failure>> {
        let what = format!("{} endpoints list no models", self.name());
        Box::pin(async move { Err(Failure::new(FailureKind::NotConfigured, what)) })
    }
    /// Loads the model now so the next call has no cold start; `None` when the server has
    /// nothing to load on request (it answers, and that is all there is to check).
    fn warm<'a>(
        &'a self,
        client: &'a reqwest::Client,
        _keep_alive: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<Option<Warmed>, Failure>> {
        Box::pin(async move { self.probe(client).await.map(|_| None) })
    }
    /// The model's own context length, when the server reports one (Ollama `/api/show`).
    fn context_length<'a>(&'a self, _client: &'a reqwest::Client) -> BoxFuture<'a, Option<u64>> {
        Box::pin(async { None })
    }
    /// Whether the server has this endpoint's model, asked cheaply (Ollama `POST /api/show`:
    /// 200 present, Ollama's own 404 missing); `None` when the server has no such question.
    fn has_own_model<'a>(
        &'a self,
        _client: &'a reqwest::Client,
    ) -> BoxFuture<'a, Option<Result<bool, Failure>>> {
        Box::pin(async { None })
    }
    /// After an answer: a warning the usage it reported calls for (Ollama: the prompt filled
    /// the window and was probably cut).
    fn check_usage(&self, _usage: &Usage) -> Option<String> {
        None
    }
    /// For servers whose models must be pulled first (Ollama): the advice for a missing one.
    fn pull_hint(&self, _model: &str) -> Option<String> {
        None
    }
}

/// A model a server offers.
#[derive(Debug, Clone, serde::Deserialize, serde::Serialize)]
pub struct ModelInfo {
    /// `qwen2.5:14b-instruct-q4_K_M`.
    pub name: String,
    /// Bytes on disk, when the server says.
    #[serde(default)]
    pub size: u64,
    /// RFC 3339, as the server wrote it.
    #[serde(default)]
    pub modified_at: String,
}

/// What loading a model reported.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Warmed {
    /// The server's load time, when it reports one, in seconds.
    pub load_seconds: Option<f64>,
    /// The server's reason (`load`).
    pub done_reason: Option<String>,
}

/// Whether a listed model is the one asked for: names without a tag mean `:latest`.
pub fn same_model(listed: &str, wanted: &str) -> bool {
    listed == wanted
        || (!wanted.contains(':')
            && listed
                .strip_suffix(":latest")
                .is_some_and(|base| base == wanted))
}

/// Whether a list holds `model`.
pub fn has_model(models: &[ModelInfo], model: &str) -> bool {
    models.iter().any(|m| same_model(&m.name, model))
}

/// Chat messages in the shape Ollama's `/api/chat` and OpenAI's chat completions share:
/// a system message when there is one, then the user's.
pub fn chat_messages(m: Messages<'_>) -> Vec<serde_json::Value> {
    let mut messages = Vec::with_capacity(2);
    if !m.system.is_empty() {
        messages.push(serde_json::json!({"role": "system", "content": m.system}));
    }
    messages.push(serde_json::json!({"role": "user", "content": m.user}));
    messages
}

pub use crate::http::{one_line, status_kind};

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_names_mean_latest() {
        let models = vec![ModelInfo {
            name: "llama3:latest".into(),
            size: 1,
            modified_at: String::new(),
        }];
        assert!(has_model(&models, "llama3"));
        assert!(has_model(&models, "llama3:latest"));
        assert!(!has_model(&models, "llama3:8b"));
    }

    #[test]
    fn a_secret_never_shows_itself() {
        let key = Secret::new("sekrit");
        assert_eq!(format!("{key} {key:?}"), "(redacted) (redacted)");
    }
}
