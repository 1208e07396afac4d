//! One fake server per provider, started in one line: `ollama::fake().answering("ok")`,
//! `openai::fake().finish("length").answering("cut")`, `gemini::fake().failing(503, "{}")`.
//!
//! Every request the server receives is answered the same way (whatever its path), in the
//! provider's real wire format (see ollama.rs, openai.rs, gemini.rs), and recorded:
//! [`Server::requests`] and [`Server::hits`] read them, [`Server::expect`] declares how often
//! it must be called. Tests that need a server that changes its answer per request, paces
//! its bytes or breaks the connection write their own handler with [`Server::start`].

use super::server::Server;
use super::{gemini, ollama, openai};

#[derive(Debug, Clone, Copy)]
enum Provider {
    Ollama,
    OpenAi,
    Gemini,
}

/// A fake provider server not started yet: set the model and the finish reason, then start
/// it with `answering`, `streaming` or `failing`.
#[must_use = "a Fake serves nothing until answering, streaming or failing starts it"]
pub struct Fake {
    provider: Provider,
    model: String,
    finish: String,
}

impl Fake {
    pub(super) fn ollama() -> Fake {
        Fake {
            provider: Provider::Ollama,
            model: ollama::MODEL.to_owned(),
            finish: "stop".to_owned(),
        }
    }

    pub(super) fn openai() -> Fake {
        Fake {
            provider: Provider::OpenAi,
            model: openai::MODEL.to_owned(),
            finish: "stop".to_owned(),
        }
    }

    pub(super) fn gemini() -> Fake {
        Fake {
            provider: Provider::Gemini,
            model: gemini::MODEL.to_owned(),
            finish: "STOP".to_owned(),
        }
    }

    /// The model name the stream reports (each provider module's `MODEL` by default).
    pub fn model(mut self, name: &str) -> Fake {
        self.model = name.to_owned();
        self
    }

    /// The reason the stream ends with: Ollama's `done_reason`, OpenAI's `finish_reason`,
    /// Gemini's `finishReason` (`stop`, `stop`, `STOP` by default).
    pub fn finish(mut self, reason: &str) -> Fake {
        self.finish = reason.to_owned();
        self
    }

    /// Starts the server: every request is answered with `text`, streamed as one token.
    pub fn answering(self, text: &str) -> Server {
        self.streaming(&[text])
    }

    /// Starts the server: every request is answered with these tokens, one chunk each
    /// (none for OpenAI's content filter; Gemini needs at least one).
    pub fn streaming(self, tokens: &[&str]) -> Server {
        let tokens: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
        let Fake {
            provider,
            model,
            finish,
        } = self;
        Server::start(move |_, _, conn| {
            let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
            match provider {
                Provider::Ollama => ollama::stream_as(conn, &model, &tokens, &finish),
                Provider::OpenAi => openai::stream_as(conn, &model, &tokens, &finish),
                Provider::Gemini => gemini::stream_as(conn, &model, &tokens, &finish),
            }
        })
    }

    /// Starts the server: every request is answered with this HTTP status and JSON body.
    pub fn failing(self, status: u16, body: &str) -> Server {
        let body = body.to_owned();
        Server::start(move |_, _, conn| {
            conn.respond(status, "application/json", &[], body.as_bytes());
        })
    }
}
