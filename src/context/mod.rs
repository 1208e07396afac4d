//! The context slicer: the sections of the project's CONTRACTS.md and AGENTS.md that matter
//! to this prompt, within the route's token budget.
//!
//! Order of what is sent: sections listed as `always`, then sections named explicitly
//! (`--sections`, `CONTRACT_SECTIONS`, `AGENTS_SECTIONS`, `CONTEXT_HINTS`), then, when
//! nothing was named, the best-scoring sections. A budget is never exceeded: a section too
//! long for what is left is cut at a line boundary with a marker.

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
    /// `always`, `named`, `summary` or `auto`.
    pub reason: &'static str,
    /// The automatic score (0 for the others).
    pub score: f64,
    /// Estimated tokens sent.
    pub tokens: usize,
    /// Whether it was cut to fit the budget.
    pub cut: bool,
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
}

impl Doc {
    /// Parses a document held in memory; `path` gives its name and label.
    pub fn new(path: &Path, text: String) -> Doc {
        let sections = markdown::parse(&text);
        Doc {
            name: path.display().to_string(),
            label: label_of(path),
            text,
            sections,
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

/// Chooses the context for a prompt on a route with `budget` tokens.
pub fn select(docs: &[Doc], settings: &ContextSettings, prompt: &str, budget: usize) -> Selection {
    let mut sel = Selection {
        budget,
        ..Selection::default()
    };
    let mut used = 0usize;
    // (doc, section) already sent, to skip overlaps.
    let mut taken: Vec<(usize, usize, usize)> = Vec::new();

    let mut take = |sel: &mut Selection,
                    d: usize,
                    start: usize,
                    end: usize,
                    title: &str,
                    reason: &'static str,
                    score: f64,
                    used: &mut usize|
     -> bool {
        let doc = &docs[d];
        if taken
            .iter()
            .any(|&(td, ts, te)| td == d && start < te && ts < end)
        {
            return true;
        }
        let text = &doc.text[start..end];
        let left = budget.saturating_sub(*used);
        let (text, cut) = if estimate_tokens(text) <= left {
            (text.to_owned(), false)
        } else if left >= 32 {
            (cut_to(text, left), true)
        } else {
            return false;
        };
        let tokens = estimate_tokens(&text);
        *used += tokens;
        taken.push((d, start, end));
        let label = if title.is_empty() {
            doc.name.clone()
        } else {
            format!("{} § {}", doc.name, title)
        };
        sel.blocks.push(ContextBlock { label, text });
        sel.chosen.push(Chosen {
            file: doc.name.clone(),
            section: title.to_owned(),
            reason,
            score,
            tokens,
            cut,
        });
        !cut
    };

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
                        let s = &doc.sections[i];
                        take(
                            &mut sel,
                            d,
                            s.start,
                            s.end,
                            s.title(&doc.text),
                            reason,
                            0.0,
                            &mut used,
                        );
                    }
                    Ok(None) => {}
                    Err(candidates) => sel.warnings.push(format!(
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
                sel.warnings.push(format!(
                    "no section of {} matches {}; sending its first {lines} lines",
                    doc.name,
                    list.iter()
                        .filter(|(l, _)| l == "*" || *l == doc.label)
                        .map(|(_, n)| format!("'{n}'"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ));
                let end = nth_line_end(&doc.text, lines);
                take(&mut sel, d, 0, end, "", "summary", 0.0, &mut used);
            }
        }
    }
    if named_any {
        return sel;
    }

    // 3. Automatic: the best sections by score, no overlaps, within the budget.
    let terms = score::terms(prompt);
    let mut candidates: Vec<(f64, usize, usize)> = Vec::new();
    for (d, doc) in docs.iter().enumerate() {
        let scores = score::score(&doc.text, &doc.sections, &terms);
        for (i, s) in scores.into_iter().enumerate() {
            if s >= settings.min_score && doc.sections[i].level > 0 {
                candidates.push((s, d, i));
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
    for (s, d, i) in candidates {
        if used >= budget {
            break;
        }
        let sec = &docs[d].sections[i];
        if !take(
            &mut sel,
            d,
            sec.start,
            sec.end,
            sec.title(&docs[d].text),
            "auto",
            s,
            &mut used,
        ) {
            break;
        }
    }
    sel
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
