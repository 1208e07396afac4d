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
    /// Deliverables the request enumerates (a comma / "and" list, or bullet lines).
    pub(super) deliverables: usize,
    /// A folder or glob named together with a quantity (`every`, `all`, `12 classes`), or a
    /// glob alone.
    pub(super) folder_scope: bool,
    /// Words in the request.
    pub(super) words: usize,
}

/// Relative paths that are directories (`src/`, `app/db/`) or files with an extension
/// (`utils/text.py`); `async/await`, `/api/orders` and `~/Documents` are not project paths.
static PATH: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?-u)(?:^|[\s(,])((?:[A-Za-z0-9_.-]+/)+(?:[A-Za-z0-9_-]+\.[A-Za-z0-9]{1,5})?|(?:apps|packages|services|src|lib|libs|app|cmd|internal|pkg|modules|crates|tests|web|api)/[A-Za-z0-9_-]+)(?:$|[\s),.;:])",
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

/// A glob over files: `*.ts`, `src/**/*.py`, `app/*/`.
static GLOB: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?-u)(?:^|[\s(,])[\w./-]*\*[\w.*/-]*[./][\w.*/-]*").expect("glob pattern")
});

/// A folder named as a place: `in app/Repositories`, `under src/`, `from packages/*`.
static FOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i-u)\b(?:in|under|inside|within|from|across|throughout|of|to)\s+(?:the\s+)?[\w.-]+/[\w./*-]*")
        .expect("folder pattern")
});

/// A quantity over units: `every`, `all`, `each`, or a count of things (`12 classes`).
static QUANTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i-u)\b(?:every|all|each)\b|\b(?:[2-9]|[1-9]\d+)\s+(?:[a-z-]+\s+)?[a-z]+s\b")
        .expect("quantity pattern")
});

pub(super) use super::layers::LAYER_PATTERNS;

/// Measures the signals of a split prompt.
pub(super) fn measure(parts: &Parts<'_>, cfg: &SignalsConfig, layers: usize) -> Found {
    let mut found = Found::default();
    // Each regex below needs a `/` (or `*`) to match: without one it is not compiled.
    let slash = memchr::memchr(b'/', parts.request.as_bytes()).is_some();
    let paths: BTreeSet<&[u8]> = if slash {
        PATH.captures_iter(parts.request.as_bytes())
            .filter_map(|c| c.get(1).map(|m| m.as_bytes()))
            .filter(|p| {
                p.ends_with(b"/")
                    || p.iter().all(|&b| b != b'.')
                    || p.rsplit(|&b| b == b'/')
                        .next()
                        .is_some_and(|f| f.contains(&b'.'))
            })
            .collect()
    } else {
        BTreeSet::new()
    };
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
    found.deliverables = deliverables(&parts.request);
    found.words = parts.request.split_whitespace().count();
    let request = parts.request.as_bytes();
    let quoted_glob = parts.quoted_paths.iter().any(|p| p.contains('*'));
    let glob = quoted_glob || (memchr::memchr(b'*', request).is_some() && GLOB.is_match(request));
    let folder = (slash && FOLDER.is_match(request))
        || !parts.quoted_paths.is_empty()
        || paths.iter().any(|p| p.ends_with(b"/"));
    found.folder_scope = (glob || folder) && QUANTITY.is_match(request);
    found
}

/// The deliverables a request enumerates: its bullet or numbered lines, or the longest list
/// in one sentence (items split by commas, the last one also by "and"/"or"), whichever is
/// more. An item must hold a word and at most eight of them; a sentence is cut at `. `,
/// `;`, `: `, `?`, `!` and line ends, in any script.
pub(super) fn deliverables(request: &str) -> usize {
    let bullets = request.lines().filter(|l| is_bullet(l)).count();
    let mut best = 0;
    for sentence in sentences(request) {
        let items: Vec<&str> = sentence.split([',', '、', '，']).collect();
        let last = items.len() - 1;
        let mut count = 0;
        for (i, item) in items.iter().enumerate() {
            let lower = item.to_ascii_lowercase();
            let parts: Vec<&str> = if i == last && i > 0 {
                lower
                    .split(" and ")
                    .flat_map(|p| p.split(" or "))
                    .flat_map(|p| p.split(" y "))
                    .flat_map(|p| p.split(" und "))
                    .flat_map(|p| p.split(" et "))
                    .flat_map(|p| p.split(" e "))
                    .collect()
            } else {
                vec![lower.as_str()]
            };
            count += parts
                .iter()
                .filter(|p| {
                    let words = p.split_whitespace().count();
                    (1..=8).contains(&words) && p.chars().any(char::is_alphabetic)
                })
                .count();
        }
        best = best.max(count);
    }
    if bullets >= 2 {
        best.max(bullets)
    } else {
        best
    }
}

fn is_bullet(line: &str) -> bool {
    let t = line.trim_start();
    t.starts_with("- ")
        || t.starts_with("* ")
        || t.starts_with("• ")
        || t.split_once([')', '.']).is_some_and(|(n, rest)| {
            !n.is_empty()
                && n.len() <= 2
                && n.bytes().all(|b| b.is_ascii_digit())
                && rest.starts_with(' ')
        })
}

/// Sentences of a request: cut at `. `, `;`, `: `, `?`, `!`, `。` and line ends.
fn sentences(text: &str) -> impl Iterator<Item = &str> {
    let bytes = text.as_bytes();
    let mut start = 0;
    let mut out = Vec::new();
    for (i, c) in text.char_indices() {
        let next = bytes.get(i + c.len_utf8()).copied();
        let cut = match c {
            ';' | '?' | '!' | '\n' | '。' | '；' | '？' | '！' => true,
            '.' | ':' | '：' => next.is_none_or(|b| b.is_ascii_whitespace()),
            _ => false,
        };
        if cut {
            out.push(&text[start..i]);
            start = i + c.len_utf8();
        }
    }
    out.push(&text[start..]);
    out.into_iter()
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
        if self.deliverables >= cfg.deliverables_min {
            out.push(("deliverables", cfg.deliverables));
        }
        if self.folder_scope {
            out.push(("folder-scope", cfg.folder_scope));
        }
        if self.words >= cfg.long_request_words {
            out.push(("long-request", cfg.long_request));
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
