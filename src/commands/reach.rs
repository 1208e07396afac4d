//! Whether an endpoint of a route can answer: what `doctor` and `warm` ask every endpoint at
//! once to find the one a call would get its answer from.

use crate::backend::Backend;
use crate::error::Failure;

/// What one endpoint said.
pub(super) struct Said {
    /// What the server is (`Ollama 0.12.6`), or why it cannot answer.
    pub(super) reach: Result<String, Failure>,
    /// Whether it has its model (`POST /api/show` on Ollama); `None` when it cannot say.
    pub(super) model: Option<Result<bool, Failure>>,
}

impl Said {
    /// Asks `backend` both questions at once.
    pub(super) async fn ask(backend: &dyn Backend, client: &reqwest::Client) -> Said {
        let (reach, model) = tokio::join!(backend.probe(client), backend.has_own_model(client));
        Said { reach, model }
    }

    /// Whether a call would get its answer here: the server answers as what it should be
    /// and does not say the model is missing.
    pub(super) fn usable(&self) -> bool {
        self.reach.is_ok() && !matches!(self.model, Some(Ok(false)))
    }
}

/// An endpoint as the lines name it: `ollama-2 (http://127.0.0.1:11435)`, its URL redacted.
pub(super) fn at(name: &str, backend: &dyn Backend) -> String {
    format!("{name} ({})", crate::http::redact(backend.endpoint()))
}
