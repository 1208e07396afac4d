//! The router: prompt in, decision out. Pure; no I/O.

use crate::stream::Route;

/// The router's decision.
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    /// Where to run the prompt.
    pub route: Route,
    /// How sure, 0..1.
    pub confidence: f64,
    /// Suggested profile: `fast` or `code`.
    pub profile: &'static str,
    /// Names of the rules that fired.
    pub rules: Vec<String>,
}

/// Classifies a prompt. Until the classifier lands, everything is local.
pub fn decide(_prompt: &str) -> Decision {
    Decision {
        route: Route::Local,
        confidence: 0.5,
        profile: "code",
        rules: Vec::new(),
    }
}
