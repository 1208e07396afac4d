//! The routes: the one type the router decides, the planner orders and the run log names.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A route: which list of endpoints serves a call. The router decides between `local`
/// and `api` (its rules vote for one of the two); `codex` is only ever asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Serialize)]
#[serde(rename_all = "lowercase")]
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

impl fmt::Display for Route {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl PartialEq<&str> for Route {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_route_reads_and_prints_as_its_name() {
        assert_eq!(Route::Codex.to_string(), "codex");
        assert_eq!(serde_json::to_string(&Route::Api).unwrap(), "\"api\"");
        assert!(Route::Local == "local");
    }

    #[test]
    fn a_router_rule_cannot_vote_for_codex() {
        let table: toml::Table =
            toml::from_str("[rules.x]\nside = \"codex\"\nweight = 1.0\npattern = 'x'\n").unwrap();
        let Err(err) = crate::route::Router::from_table(Some(&table)) else {
            panic!("a rule voting for codex was accepted");
        };
        assert!(err.to_string().contains("side is local or api"), "{err}");
    }
}
