//! Structural signals: project paths named, pasted logs and diffs, layers named.

use std::collections::BTreeSet;
use std::sync::LazyLock;

use regex::bytes::Regex;

use super::SignalsConfig;
use super::mask::Parts;

/// What the structure of a prompt shows.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Found {
    /// Distinct relative project paths in the request.
    pub(super) paths: usize,
    /// Non-empty pasted lines.
    pub(super) pasted_lines: usize,
    /// Pasted lines that look like log or trace lines.
    pub(super) log_lines: usize,
    /// Files touched by a pasted diff.
    pub(super) diff_files: usize,
    /// Distinct layers named in the request.
    pub(super) layers: usize,
}

/// Relative paths that are directories (`src/`, `app/db/`) or files with an extension
/// (`utils/text.py`); `async/await`, `/api/orders` and `~/Documents` are not project paths.
static PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?:^|[\s(,])((?:[A-Za-z0-9_.-]+/)+(?:[A-Za-z0-9_-]+\.[A-Za-z0-9]{1,5})?)(?:$|[\s),.;:])",
    )
    .expect("path pattern")
});

/// Lines of logs, traces and thread dumps.
static LOG_LINE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?im-u)^.*(?:\berror\b|\bwarn(?:ing)?\b|\bexception\b|\bfatal\b|traceback|^\s*at\s+[\w.$<>/]+[(:]|file ".*", line \d+|\d{4}-\d\d-\d\d[t ]\d|^\s*- (?:locked|waiting)|\(x\d+ over|goroutine \d+|panic:|\.(?:java|py|ts|tsx|js|go|rb|rs|kt):\d+).*$"#,
    )
    .expect("log pattern")
});

/// Layers of a system; three or more named means a feature across layers. They are
/// compiled into the router's DFA after its rules, so one scan finds both.
pub(super) const LAYER_PATTERNS: [&str; 10] = [
    r"\b(ui|frontend|front-end|react|vue|angular|page|screens?|spa|dashboard|web app|web client|web form|forms?|login ui|ios|android|storefront)\b",
    r"\b(api|endpoints?|routes?|server|backend|graphql|grpc|websocket|controllers?|middleware|handlers?)\b",
    r"\b(db|database|schema|tables?|postgres\w*|mysql|sqlite|prisma|persistence|orm|user db)\b",
    r"\b(deploy\w*|docker|kubernetes|k8s|helm|terraform|vercel|aws|lambda|s3|cdn)\b",
    r"\b(queue|kafka|event bus|jobs?|workers?|webhooks?|pub/?sub|events)\b",
    r"\b(email|smtp|sms|notifications?|email provider)\b",
    r"\b(auth|authn|authz|authentication|authorization|login|logout|sign-?up|sessions?|oauth|rbac|roles)\b",
    r"\b(cache|caching|redis|memcached)\b",
    r"\b(mobile|ios|android)\b",
    r"\b(analytics|warehouse|etl|backups?)\b",
];

/// Measures the signals of a split prompt.
pub(super) fn measure(parts: &Parts<'_>, cfg: &SignalsConfig, layers: usize) -> Found {
    let mut found = Found::default();
    let paths: BTreeSet<&[u8]> = PATH
        .captures_iter(parts.request.as_bytes())
        .filter_map(|c| c.get(1).map(|m| m.as_bytes()))
        .filter(|p| {
            p.ends_with(b"/")
                || p.rsplit(|&b| b == b'/')
                    .next()
                    .is_some_and(|f| f.contains(&b'.'))
        })
        .collect();
    found.paths = paths.len();
    found.pasted_lines = parts.pasted.iter().filter(|l| !l.trim().is_empty()).count();
    if found.pasted_lines >= cfg.long_log_lines.min(3) {
        found.log_lines = parts
            .pasted
            .iter()
            .filter(|l| LOG_LINE.is_match(l.as_bytes()))
            .count();
    }
    found.diff_files = parts
        .pasted
        .iter()
        .filter(|l| l.starts_with("diff --git ") || l.starts_with("+++ "))
        .count();
    if parts.pasted.iter().any(|l| l.starts_with("diff --git ")) {
        found.diff_files = parts
            .pasted
            .iter()
            .filter(|l| l.starts_with("diff --git "))
            .count();
    }
    found.layers = layers;
    found
}

impl Found {
    /// The signals that apply, with their weights.
    pub(super) fn weighted(&self, cfg: &SignalsConfig) -> Vec<(&'static str, f64)> {
        let mut out = Vec::new();
        if self.paths >= 2 {
            let extra = (self.paths - 1).min(2) as f64;
            out.push(("paths", cfg.paths * extra));
        }
        let long_log = self.pasted_lines >= cfg.long_log_lines && self.log_lines >= 3;
        if long_log {
            out.push(("long-log", cfg.long_log));
        }
        if self.diff_files >= 2 {
            out.push(("multi-file-diff", cfg.multi_file_diff));
        }
        if self.pasted_lines > 0 && !long_log && self.diff_files < 2 {
            out.push(("pasted-code", cfg.pasted_code));
        }
        if self.layers >= cfg.layers_min {
            out.push(("layers", cfg.layers));
        }
        out.retain(|(_, w)| *w != 0.0);
        out
    }
}

/// A short question ("Per CONTRACTS.md, what is the retry policy?").
pub(super) fn is_short_question(request: &str) -> bool {
    let t = request.trim();
    t.len() <= 200
        && (t.ends_with('?')
            || ["what ", "which ", "how ", "is ", "does ", "where ", "when "]
                .iter()
                .any(|w| t.to_ascii_lowercase().starts_with(w)))
}
