//! The context slicer: the sections of the project's CONTRACTS.md and AGENTS.md that matter
//! to this prompt, within the route's token budget.
//!
//! Order of what is sent: sections listed as `always`, then sections named explicitly
//! (`--sections`, `CONTRACT_SECTIONS`, `AGENTS_SECTIONS`, `CONTEXT_HINTS`), then, when
//! nothing was named, what the route's depth asks for:
//! - `Depth::Minimal` (the local route): only sections that clearly match the prompt (a
//!   floor twice `min_score`, and at least half the best score); a self-contained request
//!   ("write hello world in python") matches nothing and gets no context at all.
//! - `Depth::Full` (the API route): every file whole, most relevant first, when they all
//!   fit the budget; else each file's preamble (the text before its first heading) and the
//!   best-scoring sections.
//!
//! A budget is never exceeded. A section too long for what is left gives way to its
//! best-scoring subsections that fit; only when none does is it cut at a line boundary with
//! a marker.

pub mod markdown;
mod score;

use std::path::{Path, PathBuf};

use markdown::Section;

use crate::prompt::ContextBlock;

/// Largest part of a context file that is read.
pub const MAX_FILE_BYTES: usize = 8 * 1024 * 1024;

/// Resolved context settings.
#[derive(Debug, Clone)]
pub struct ContextSettings {
    /// Files to draw from, relative to the project root, with their labels
    /// (`contract` for CONTRACTS.md, `agents` for AGENTS.md, else the lower-case stem).
    pub files: Vec<PathBuf>,
    /// Sections always sent first (`Title` or `label:Title`).
    pub always: Vec<String>,
    /// Sections named explicitly, as (label or `*` for any file, section name).
    pub named: Vec<(String, String)>,
    /// Lines sent from the top of a file whose named sections match nothing.
    pub summary_lines: Vec<(String, usize)>,
    /// Token budget of the local route.
    pub local_budget: usize,
    /// Token budget of the API route.
    pub api_budget: usize,
    /// Lowest score for an automatically chosen section.
    pub min_score: f64,
}

/// Lines sent from the top of a file whose named sections match nothing (the old scripts'
/// `*_SUMMARY_LINES` default).
pub const DEFAULT_SUMMARY_LINES: usize = 60;

impl Default for ContextSettings {
    /// The built-in defaults: CONTRACTS.md and AGENTS.md, 800 tokens locally, 8,000 for the
    /// API, nothing named.
    fn default() -> Self {
        ContextSettings {
            files: vec!["CONTRACTS.md".into(), "AGENTS.md".into()],
            always: Vec::new(),
            named: Vec::new(),
            summary_lines: Vec::new(),
            local_budget: 800,
            api_budget: 8000,
            min_score: 2.0,
        }
    }
}

/// One chosen section and why.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Chosen {
    /// File name.
    pub file: String,
    /// Section title (empty for a file summary).
    pub section: String,
    /// `always`, `named`, `summary`, `auto`, `whole` (the file entire) or `preamble` (the
    /// text before its first heading).
    pub reason: &'static str,
    /// The automatic score (0 for the others).
    pub score: f64,
    /// Estimated tokens sent.
    pub tokens: usize,
    /// Whether it was cut to fit the budget.
    pub cut: bool,
}

impl Chosen {
    /// What was sent, for people: the section's title, or what part of the file.
    pub fn what(&self) -> &str {
        match self.reason {
            "whole" => "(whole file)",
            "preamble" => "(preamble)",
            _ if self.section.is_empty() => "(first lines)",
            _ => &self.section,
        }
    }
}

/// The slicer's result.
#[derive(Debug, Default, Clone)]
pub struct Selection {
    /// The blocks to send, in order.
    pub blocks: Vec<ContextBlock>,
    /// What was chosen.
    pub chosen: Vec<Chosen>,
    /// One-line warnings for stderr.
    pub warnings: Vec<String>,
    /// The budget that applied.
    pub budget: usize,
}

/// Tokens of a text, estimated from its characters (about four per token).
pub fn estimate_tokens(text: &str) -> usize {
    text.len().div_ceil(4)
}

/// Normalises a heading for matching: lower case, markup, emoji and punctuation removed,
/// leading numbering dropped, white space folded. `## 🤖 2. Codex *Orchestration* Template`
/// → `codex orchestration template`.
pub fn normalize(title: &str) -> String {
    let mut cleaned = String::with_capacity(title.len());
    let mut chars = title.chars().peekable();
    while let Some(c) = chars.next() {
        // Drop the target of a link: `[text](url)` keeps `text`.
        if c == ']' && chars.peek() == Some(&'(') {
            for d in chars.by_ref() {
                if d == ')' {
                    break;
                }
            }
            cleaned.push(' ');
            continue;
        }
        if c.is_alphanumeric() {
            cleaned.extend(c.to_lowercase());
        } else {
            cleaned.push(' ');
        }
    }
    let words: Vec<&str> = cleaned.split_whitespace().collect();
    let skip = words
        .iter()
        .take_while(|w| w.chars().all(|c| c.is_ascii_digit()))
        .count();
    words[skip..].join(" ")
}

/// How much context a route gets when nothing is named.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Depth {
    /// The local route: the few sections that clearly matter, or nothing.
    Minimal,
    /// The API route: the whole docs when they fit, else preambles and the best sections.
    Full,
}

/// A parsed context file.
#[derive(Debug, Clone)]
pub struct Doc {
    /// File name as shown in labels.
    pub name: String,
    /// Short label used in hints (`contract`, `agents`).
    pub label: String,
    /// The text (BOM removed, at most `MAX_FILE_BYTES`).
    pub text: String,
    /// Its sections.
    pub sections: Vec<Section>,
    /// Byte ranges of its fenced code blocks, in order.
    pub code: Vec<std::ops::Range<usize>>,
}

impl Doc {
    /// Parses a document held in memory; `path` gives its name and label.
    pub fn new(path: &Path, text: String) -> Doc {
        let (sections, code) = markdown::parse_with_code(&text);
        Doc {
            name: path.display().to_string(),
            label: label_of(path),
            text,
            sections,
            code,
        }
    }
}

/// The label of a context file: `contract` for CONTRACTS.md, `agents` for AGENTS.md, else
/// the lower-case file stem.
pub fn label_of(path: &Path) -> String {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().to_lowercase())
        .unwrap_or_default();
    match stem.as_str() {
        "contracts" | "contract" => "contract".to_owned(),
        _ => stem,
    }
}

/// Reads and parses the context files; problems become warnings, never errors.
pub fn load(root: &Path, files: &[PathBuf], warnings: &mut Vec<String>) -> Vec<Doc> {
    let mut docs = Vec::new();
    let mut missing = Vec::new();
    for rel in files {
        let path = root.join(rel);
        let bytes = match read_prefix(&path, MAX_FILE_BYTES) {
            Ok((bytes, truncated)) => {
                if truncated {
                    warnings.push(format!(
                        "{} is over 8 MB; only its first 8 MB are used",
                        rel.display()
                    ));
                }
                bytes
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                missing.push(rel.display().to_string());
                continue;
            }
            Err(e) => {
                warnings.push(format!("cannot read {}: {e}", rel.display()));
                continue;
            }
        };
        let mut text = match String::from_utf8(bytes) {
            Ok(t) => t,
            Err(e) => {
                let valid = e.utf8_error().valid_up_to();
                let bytes = e.into_bytes();
                // A read cut inside a character is not an encoding problem.
                if bytes.len() - valid < 4
                    && std::str::from_utf8(&bytes[valid..]).is_err()
                    && bytes.len() == MAX_FILE_BYTES
                {
                    String::from_utf8_lossy(&bytes[..valid]).into_owned()
                } else {
                    warnings.push(format!(
                        "{} is not valid UTF-8; invalid bytes were replaced",
                        rel.display()
                    ));
                    String::from_utf8_lossy(&bytes).into_owned()
                }
            }
        };
        if text.starts_with('\u{feff}') {
            text.drain(..3);
        }
        without_install_block(&mut text);
        docs.push(Doc::new(rel, text));
    }
    if !missing.is_empty() {
        warnings.push(format!(
            "no {} in {}; no context from {}",
            missing.join(", "),
            root.display(),
            if missing.len() == 1 { "it" } else { "them" }
        ));
    }
    docs
}

/// Drops the block `codex-wrap install` writes into AGENTS.md (and CLAUDE.md, GEMINI.md),
/// its marker lines included: it tells the assistant how to call codex-wrap and is no
/// context for the model codex-wrap calls. Unbalanced markers leave the text as it is.
fn without_install_block(text: &mut String) {
    let mut offset = 0;
    let mut begin = None;
    for line in text.split_inclusive('\n') {
        if begin.is_none() && line.starts_with("<!-- codex-wrap:begin") {
            begin = Some(offset);
        } else if let Some(b) = begin
            && line.starts_with("<!-- codex-wrap:end -->")
        {
            text.replace_range(b..offset + line.len(), "");
            return without_install_block(text);
        }
        offset += line.len();
    }
}

fn read_prefix(path: &Path, limit: usize) -> std::io::Result<(Vec<u8>, bool)> {
    use std::io::Read;
    let file = std::fs::File::open(path)?;
    let mut bytes = Vec::new();
    file.take(limit as u64 + 1).read_to_end(&mut bytes)?;
    let truncated = bytes.len() > limit;
    bytes.truncate(limit);
    Ok((bytes, truncated))
}

/// Finds a section by name in one document: an exact normalised match wins, then a unique
/// prefix. Returns the index, or `Err` with the candidates when a prefix is ambiguous.
pub fn find_section(doc: &Doc, name: &str) -> Result<Option<usize>, Vec<String>> {
    let want = normalize(name);
    if want.is_empty() {
        return Ok(None);
    }
    let norms: Vec<String> = doc
        .sections
        .iter()
        .map(|s| normalize(s.title(&doc.text)))
        .collect();
    if let Some(i) = norms.iter().position(|n| *n == want) {
        return Ok(Some(i));
    }
    let prefixed: Vec<usize> = norms
        .iter()
        .enumerate()
        .filter(|(_, n)| n.starts_with(&want))
        .map(|(i, _)| i)
        .collect();
    match prefixed.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(many
            .iter()
            .map(|&i| doc.sections[i].title(&doc.text).to_owned())
            .collect()),
    }
}

/// What has been chosen so far, against one budget.
struct Picker<'a> {
    docs: &'a [Doc],
    budget: usize,
    used: usize,
    /// (doc, start, end) already sent, to skip overlaps.
    taken: Vec<(usize, usize, usize)>,
    sel: Selection,
}

impl Picker<'_> {
    /// Tokens left.
    fn left(&self) -> usize {
        self.budget.saturating_sub(self.used)
    }

    /// Whether any text of `start..end` in doc `d` was sent already.
    fn overlaps(&self, d: usize, start: usize, end: usize) -> bool {
        self.taken
            .iter()
            .any(|&(td, ts, te)| td == d && start < te && ts < end)
    }

    /// Sends `start..end` of doc `d`, cut to `cap` tokens (and what is left) when longer.
    /// Returns false when nothing was sent because too little is left.
    fn take(
        &mut self,
        d: usize,
        span: (usize, usize),
        cap: usize,
        why: (&str, &'static str, f64),
    ) -> bool {
        let (start, end) = span;
        let (title, reason, score) = why;
        let doc = &self.docs[d];
        if self.overlaps(d, start, end) {
            return true;
        }
        let text = &doc.text[start..end];
        let left = self.left().min(cap);
        let (text, cut) = if estimate_tokens(text) <= left {
            (text.to_owned(), false)
        } else if left >= 32 {
            (cut_to(text, left), true)
        } else {
            return false;
        };
        let tokens = estimate_tokens(&text);
        self.used += tokens;
        self.taken.push((d, start, end));
        let label = if title.is_empty() {
            doc.name.clone()
        } else {
            format!("{} § {}", doc.name, title)
        };
        self.sel.blocks.push(ContextBlock { label, text });
        self.sel.chosen.push(Chosen {
            file: doc.name.clone(),
            section: title.to_owned(),
            reason,
            score,
            tokens,
            cut,
        });
        true
    }

    /// Sends section `i` of doc `d` whole or cut to what is left.
    fn take_section(&mut self, d: usize, i: usize, reason: &'static str, score: f64) -> bool {
        let docs = self.docs;
        let sec = &docs[d].sections[i];
        self.take(
            d,
            (sec.start, sec.end),
            usize::MAX,
            (sec.title(&docs[d].text), reason, score),
        )
    }
}

/// Chooses the context for a prompt on a route with `budget` tokens and `depth`.
pub fn select(
    docs: &[Doc],
    settings: &ContextSettings,
    prompt: &str,
    budget: usize,
    depth: Depth,
) -> Selection {
    let mut p = Picker {
        docs,
        budget,
        used: 0,
        taken: Vec::new(),
        sel: Selection {
            budget,
            ..Selection::default()
        },
    };

    if take_named(&mut p, docs, settings) {
        return p.sel;
    }

    // 3. Automatic.
    let terms = score::terms(prompt);
    let scores: Vec<Vec<score::Score>> = docs
        .iter()
        .map(|doc| score::score(&doc.text, &doc.sections, &doc.code, &terms))
        .collect();
    let relevance = |d: usize| scores[d].iter().map(|s| s.total).fold(0.0, f64::max);

    if depth == Depth::Full {
        // The whole docs when they fit, most relevant file first.
        let whole: usize = docs.iter().map(|doc| estimate_tokens(&doc.text)).sum();
        if !docs.is_empty() && whole <= p.left() {
            let mut order: Vec<usize> = (0..docs.len()).collect();
            order.sort_by(|&a, &b| relevance(b).total_cmp(&relevance(a)));
            for d in order {
                let end = docs[d].text.len();
                p.take(d, (0, end), usize::MAX, ("", "whole", relevance(d)));
            }
            return p.sel;
        }
        // Else each file's preamble first (at most a quarter of the budget each): it holds
        // the rules that apply to every section.
        for (d, doc) in docs.iter().enumerate() {
            if let Some(pre) = doc.sections.first().filter(|s| s.level == 0)
                && !doc.text[pre.start..pre.end].trim().is_empty()
            {
                p.take(d, (pre.start, pre.end), budget / 4, ("", "preamble", 0.0));
            }
        }
    }

    take_best(&mut p, docs, &scores, settings, depth);
    p.sel
}

/// Steps 1 and 2: the `always` sections, then the sections the request names (a file
/// none of whose sections matches sends its first lines). Whether any were named.
fn take_named(p: &mut Picker<'_>, docs: &[Doc], settings: &ContextSettings) -> bool {
    // 1. `always`, then 2. named sections.
    let mut named_any = false;
    for (reason, list) in [
        ("always", parse_names(&settings.always)),
        ("named", settings.named.clone()),
    ] {
        for (d, doc) in docs.iter().enumerate() {
            let wanted: Vec<&String> = list
                .iter()
                .filter(|(label, _)| label == "*" || *label == doc.label)
                .map(|(_, name)| name)
                .collect();
            if wanted.is_empty() {
                continue;
            }
            if reason == "named" {
                named_any = true;
            }
            let mut found = 0;
            for name in wanted {
                match find_section(doc, name) {
                    Ok(Some(i)) => {
                        found += 1;
                        p.take_section(d, i, reason, 0.0);
                    }
                    Ok(None) => {}
                    Err(candidates) => p.sel.warnings.push(format!(
                        "section '{name}' is ambiguous in {}: {}",
                        doc.name,
                        candidates.join(", ")
                    )),
                }
            }
            if reason == "named" && found == 0 {
                let lines = settings
                    .summary_lines
                    .iter()
                    .find(|(l, _)| *l == doc.label)
                    .map_or(DEFAULT_SUMMARY_LINES, |(_, n)| *n);
                p.sel.warnings.push(format!(
                    "no section of {} matches {}; sending its first {lines} lines",
                    doc.name,
                    list.iter()
                        .filter(|(l, _)| l == "*" || *l == doc.label)
                        .map(|(_, n)| format!("'{n}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                let end = nth_line_end(&doc.text, lines);
                p.take(d, (0, end), usize::MAX, ("", "summary", 0.0));
            }
        }
    }
    named_any
}

/// The best sections by score, no overlaps, within what is left of the budget.
fn take_best(
    p: &mut Picker<'_>,
    docs: &[Doc],
    scores: &[Vec<score::Score>],
    settings: &ContextSettings,
    depth: Depth,
) {
    let floor = match depth {
        Depth::Minimal => settings.min_score * 2.0,
        Depth::Full => settings.min_score,
    };
    let mut candidates: Vec<(f64, usize, usize)> = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        for (i, sc) in scores[d].iter().enumerate() {
            if sc.total >= floor && doc.sections[i].level > 0 {
                candidates.push((sc.total, d, i));
            }
        }
    }
    // Best first; on a tie, the smaller (more specific) section. Only the best few hundred
    // can fit any budget, so only those are sorted.
    let key = |c: &(f64, usize, usize)| {
        let s = &docs[c.1].sections[c.2];
        (std::cmp::Reverse(OrdF64(c.0)), s.end - s.start)
    };
    const KEEP: usize = 512;
    if candidates.len() > KEEP {
        candidates.select_nth_unstable_by_key(KEEP, key);
        candidates.truncate(KEEP);
    }
    candidates.sort_unstable_by_key(key);
    if depth == Depth::Minimal {
        // Only what clearly matters, never a tail of weak matches.
        let best = candidates.first().map_or(0.0, |c| c.0);
        candidates.retain(|c| c.0 >= best / 2.0);
    }
    // A section too long for what is left waits: its subsections that fit go first, and it
    // is cut to fit only when nothing inside it was sent.
    let mut waiting: Option<(f64, usize, usize)> = None;
    for (s, d, i) in candidates {
        if p.left() == 0 {
            break;
        }
        let sec = &docs[d].sections[i];
        if estimate_tokens(&docs[d].text[sec.start..sec.end]) > p.left() {
            waiting = waiting.or(Some((s, d, i)));
            continue;
        }
        p.take_section(d, i, "auto", s);
    }
    if let Some((s, d, i)) = waiting {
        let sec = &docs[d].sections[i];
        if !p.overlaps(d, sec.start, sec.end) {
            p.take_section(d, i, "auto", s);
        }
    }
}

/// A total order on scores for sorting.
#[derive(Debug, Clone, Copy, PartialEq)]
struct OrdF64(f64);

impl Eq for OrdF64 {}

impl PartialOrd for OrdF64 {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for OrdF64 {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.0.total_cmp(&other.0)
    }
}

/// `["Title", "agents:Title"]` → `[("*", "Title"), ("agents", "Title")]`.
fn parse_names(list: &[String]) -> Vec<(String, String)> {
    list.iter()
        .map(|entry| match entry.split_once(':') {
            Some((label, name)) if !label.contains(' ') => {
                (label_alias(label), name.trim().to_owned())
            }
            _ => ("*".to_owned(), entry.trim().to_owned()),
        })
        .collect()
}

/// `contracts` is accepted for `contract`.
pub fn label_alias(label: &str) -> String {
    match label.trim().to_lowercase().as_str() {
        "contracts" | "contract" => "contract".to_owned(),
        other => other.to_owned(),
    }
}

/// Parses `CONTEXT_HINTS`-style text: `contract:A,B;agents:C`, or a plain `A,B` for any file.
pub fn parse_hints(hints: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    for part in hints.split(';').map(str::trim).filter(|p| !p.is_empty()) {
        let (label, list) = match part.split_once(':') {
            Some((label, list)) if !label.contains(',') && !label.contains(' ') => {
                (label_alias(label), list)
            }
            _ => ("*".to_owned(), part),
        };
        for name in list.split(',').map(str::trim).filter(|n| !n.is_empty()) {
            out.push((label.clone(), name.to_owned()));
        }
    }
    out
}

fn nth_line_end(text: &str, lines: usize) -> usize {
    if lines == 0 {
        return text.len();
    }
    text.match_indices('\n')
        .nth(lines - 1)
        .map_or(text.len(), |(i, _)| i + 1)
}

/// Cuts text at a line boundary to fit `tokens` (marker included).
fn cut_to(text: &str, tokens: usize) -> String {
    const MARKER: &str = "\n[… cut to fit the context budget]\n";
    let limit = (tokens * 4).saturating_sub(MARKER.len());
    let mut end = 0;
    for (i, _) in text.match_indices('\n') {
        if i + 1 > limit {
            break;
        }
        end = i + 1;
    }
    if end == 0 {
        // One long line: cut at a character boundary.
        end = limit.min(text.len());
        while !text.is_char_boundary(end) {
            end -= 1;
        }
    }
    format!("{}{MARKER}", &text[..end])
}

#[cfg(test)]
mod tests;
