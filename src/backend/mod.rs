//! The `Backend` trait: what differs between providers, and nothing else.
//!
//! A backend builds one HTTP request and decodes one frame (an NDJSON line or an SSE
//! `data:` payload) at a time. Sending, framing, deadlines, retries and fallback live once,
//! in `stream.rs`, so a new provider (or a second endpoint of the same provider) is one
//! more value of this trait, not another copy of the loop.

pub mod gemini;
pub mod ollama;
pub mod openai;

use std::borrow::Cow;

use crate::error::Failure;

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
    /// Builds the streaming request.
    fn build(&self, messages: Messages<'_>) -> HttpRequest;
    /// How the body is framed.
    fn framing(&self) -> Framing;
    /// Decodes one frame. An error frame or a frame that does not parse is a `Failure`.
    fn decode<'a>(&self, frame: &'a str) -> Result<Decoded<'a>, Failure>;
    /// Turns an error status and its body into a failure with the provider's message.
    fn http_error(&self, status: u16, body: &str) -> Failure;
    /// Advice when the server cannot be reached.
    fn unreachable_hint(&self) -> Option<String> {
        None
    }
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

/// The kind of failure for an HTTP status.
pub fn status_kind(status: u16) -> crate::error::FailureKind {
    use crate::error::FailureKind;
    match status {
        429 => FailureKind::RateLimited,
        408 | 504 => FailureKind::Timeout,
        _ => FailureKind::Http,
    }
}

/// Shortens a server's error body for a one-line message.
pub fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 300 {
        let cut: String = flat.chars().take(300).collect();
        format!("{cut}…")
    } else {
        flat
    }
}
