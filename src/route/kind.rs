//! The routes: the one type the router decides, the planner orders and the run log names.

/// A route: which list of endpoints serves a call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route {
    /// The local model.
    Local,
    /// The remote API.
    Api,
    /// A coding agent's command line (`--codex`).
    Codex,
}

impl Route {
    /// `local`, `api` or `codex`.
    pub fn as_str(self) -> &'static str {
        match self {
            Route::Local => "local",
            Route::Api => "api",
            Route::Codex => "codex",
        }
    }
}
