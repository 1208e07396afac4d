//! The block parser: a model's answer in, the files it names out.
//!
//! Formats recognised, in order of precedence for one fenced block:
//! 1. the fence's info string: ```` ```python app/main.py ````, ```` ```app/main.py ````,
//!    ```` ```rust:src/lib.rs ````, ```` ```js title="web/app.js" ```` (`title=`, `file=`,
//!    `filename=`, `path=`, `name=`);
//! 2. the nearest non-blank line before the fence: `File: app/main.py`,
//!    `### app/main.py`, `**app/main.py**`, `` `app/main.py` ``, `**File:** app/main.py`;
//! 3. the block's first line (second after a `#!` line) as a comment naming the path:
//!    `// app/main.js`, `# app/main.py`, `-- db/schema.sql`, `/* a.css */`, `<!-- a.html -->`;
//!    that line is a label and is not written.
//!
//! Fences follow CommonMark: three or more backticks or tildes, closed by a fence of the same
//! character at least as long, so a Markdown file holding ```` ``` ```` blocks is sent inside
//! a ```` ```` ```` fence. CRLF answers parse like LF ones (content comes out with LF). A block
//! the answer ends inside is never written: the answer was cut off.
//!
//! With exactly one input file and one unnamed code block, the block replaces that file.
//! Blocks without a path are reported, not written. The parser is pure and does not judge
//! paths: the writer decides what may be written.

use serde::Serialize;

use crate::context::markdown::{closes_fence, fence_start};

/// How a block's path was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum NamedBy {
    /// The fence's info string.
    InfoString,
    /// A `File:` / heading / bold line just before the fence.
    HeaderLine,
    /// A comment on the block's first line.
    FirstLine,
    /// The only unnamed block, given to the only input file.
    SoleInput,
}

/// A fenced block that names a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileBlock {
    /// The path as the model wrote it (not yet checked).
    pub path: String,
    /// The fence's language, if any.
    pub lang: Option<String>,
    /// The text, LF line endings, each line ending in `\n`.
    pub content: String,
    /// 1-based line of the opening fence in the answer.
    pub line: usize,
    /// Where the path came from.
    pub named_by: NamedBy,
}

/// A fenced block that is not written, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SkippedBlock {
    /// 1-based line of the opening fence in the answer.
    pub line: usize,
    /// The fence's language, if any.
    pub lang: Option<String>,
    /// Lines of content.
    pub lines: usize,
    /// The path, when it had one.
    pub path: Option<String>,
    /// Why it is not written.
    pub reason: &'static str,
}

/// Why a block is not written.
pub mod reason {
    /// No path found.
    pub const UNNAMED: &str =
        "no path: name the file in the fence info, on the line before, or in a first-line comment";
    /// The answer ended inside the block.
    pub const UNTERMINATED: &str = "unterminated block: the answer ended inside it";
    /// A later block names the same path.
    pub const SUPERSEDED: &str = "superseded by a later block for the same path";
}

/// The files of an answer and the blocks left out.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Parsed {
    /// One block per path, in the order the paths first appear; the last block for a path
    /// wins.
    pub files: Vec<FileBlock>,
    /// Blocks not written.
    pub skipped: Vec<SkippedBlock>,
}

/// Languages of blocks that show output, not a file: they never count as "the" unnamed block.
const OUTPUT_LANGS: &[&str] = &[
    "console",
    "output",
    "log",
    "shell-session",
    "terminal",
    "text",
    "plaintext",
    "txt",
];

/// Parses an answer. `inputs` are the paths given with `-i` (root-relative, `/`-separated):
/// with exactly one, a single unnamed code block replaces it.
pub fn parse(answer: &str, inputs: &[&str]) -> Parsed {
    let raw = scan(answer);
    let mut parsed = Parsed::default();
    let mut unnamed: Vec<RawBlock> = Vec::new();
    for block in raw {
        if !block.closed {
            parsed.skipped.push(block.skipped(reason::UNTERMINATED));
        } else if let Some((path, named_by)) = block.path.clone() {
            add_file(&mut parsed, block, path, named_by);
        } else {
            unnamed.push(block);
        }
    }
    let code: Vec<usize> = unnamed
        .iter()
        .enumerate()
        .filter(|(_, b)| !b.is_output())
        .map(|(i, _)| i)
        .collect();
    if let ([input], [only]) = (inputs, code.as_slice()) {
        let input = strip_dot(input);
        if !parsed.files.iter().any(|f| strip_dot(&f.path) == input) {
            let block = unnamed.remove(*only);
            add_file(&mut parsed, block, input.to_owned(), NamedBy::SoleInput);
        }
    }
    for block in unnamed {
        parsed.skipped.push(block.skipped(reason::UNNAMED));
    }
    parsed.skipped.sort_by_key(|s| s.line);
    parsed
}

fn add_file(parsed: &mut Parsed, block: RawBlock, path: String, named_by: NamedBy) {
    let key = strip_dot(&path).to_owned();
    let file = FileBlock {
        path,
        lang: block.lang.clone(),
        content: block.content,
        line: block.line,
        named_by,
    };
    if let Some(old) = parsed.files.iter_mut().find(|f| strip_dot(&f.path) == key) {
        let old = std::mem::replace(old, file);
        parsed.skipped.push(SkippedBlock {
            line: old.line,
            lang: old.lang,
            lines: old.content.lines().count(),
            path: Some(old.path),
            reason: reason::SUPERSEDED,
        });
    } else {
        parsed.files.push(file);
    }
}

fn strip_dot(path: &str) -> &str {
    let mut p = path;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    p
}

/// One fenced block as scanned.
#[derive(Debug)]
struct RawBlock {
    line: usize,
    lang: Option<String>,
    path: Option<(String, NamedBy)>,
    content: String,
    lines: usize,
    closed: bool,
}

impl RawBlock {
    fn is_output(&self) -> bool {
        self.lang
            .as_deref()
            .is_some_and(|l| OUTPUT_LANGS.iter().any(|o| o.eq_ignore_ascii_case(l)))
    }

    fn skipped(self, reason: &'static str) -> SkippedBlock {
        SkippedBlock {
            line: self.line,
            lang: self.lang,
            lines: self.lines,
            path: self.path.map(|(p, _)| p),
            reason,
        }
    }
}

/// An opening fence.
struct Fence<'a> {
    ch: u8,
    len: usize,
    indent: usize,
    info: &'a str,
}

/// An opening fence at any indent: models indent fences inside list items.
fn open_fence(line: &str) -> Option<Fence<'_>> {
    let trimmed = line.trim_start_matches([' ', '\t']);
    let (ch, len) = fence_start(trimmed)?;
    Some(Fence {
        ch,
        len,
        indent: line.len() - trimmed.len(),
        info: trimmed[len..].trim(),
    })
}

fn closes(line: &str, fence: &Fence<'_>) -> bool {
    closes_fence(line.trim_start_matches([' ', '\t']), fence.ch, fence.len)
}

/// Splits the answer into fenced blocks and names them from the info string, the line
/// before, or the first line.
fn scan(answer: &str) -> Vec<RawBlock> {
    let mut blocks = Vec::new();
    let mut lines = answer.lines().enumerate();
    // The nearest non-blank line outside a block, since the last block.
    let mut before: Option<&str> = None;
    while let Some((n, line)) = lines.next() {
        let Some(fence) = open_fence(line) else {
            if !line.trim().is_empty() {
                before = Some(line);
            }
            continue;
        };
        let (lang, path) = info_path(fence.info);
        let mut path = path.map(|p| (p, NamedBy::InfoString));
        if path.is_none() {
            path = before
                .and_then(header_path)
                .map(|p| (p, NamedBy::HeaderLine));
        }
        before = None;
        let mut content = String::new();
        let mut count = 0usize;
        let mut closed = false;
        for (_, line) in lines.by_ref() {
            if closes(line, &fence) {
                closed = true;
                break;
            }
            content.push_str(strip_indent(line, fence.indent));
            content.push('\n');
            count += 1;
        }
        if path.is_none() {
            if let Some((p, without)) = first_line_path(&content) {
                path = Some((p, NamedBy::FirstLine));
                content = without;
                count -= 1;
            }
        }
        blocks.push(RawBlock {
            line: n + 1,
            lang,
            path,
            content,
            lines: count,
            closed,
        });
    }
    blocks
}

fn strip_indent(line: &str, indent: usize) -> &str {
    let spaces = line
        .bytes()
        .take(indent)
        .take_while(|&b| b == b' ' || b == b'\t')
        .count();
    &line[spaces..]
}

/// The language and path of an info string.
fn info_path(info: &str) -> (Option<String>, Option<String>) {
    let mut tokens = info.split_whitespace();
    let Some(first) = tokens.next() else {
        return (None, None);
    };
    let mut lang = None;
    let mut path = None;
    let lang_path = first.split_once(':').filter(|(l, p)| {
        l.len() > 1 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+') && is_path_like(p)
    });
    if let Some((l, p)) = lang_path {
        lang = Some(l.to_owned());
        path = Some(p.to_owned());
    } else if is_path_like(first) {
        path = Some(first.to_owned());
    } else {
        let l = first.trim_start_matches('{').trim_start_matches('.');
        let l = l.trim_end_matches('}');
        lang = Some(l.to_owned()).filter(|l| !l.is_empty() && !l.contains('='));
    }
    for token in tokens {
        if path.is_some() {
            break;
        }
        let token = token.trim_end_matches('}');
        let value = match token.split_once('=') {
            Some((key, value)) => {
                let key = key.to_ascii_lowercase();
                if !matches!(
                    key.as_str(),
                    "title" | "file" | "filename" | "path" | "name" | "filepath"
                ) {
                    continue;
                }
                value.trim_matches(['"', '\''])
            }
            None => token,
        };
        if is_path_like(value) {
            path = Some(value.to_owned());
        }
    }
    (lang, path)
}

/// Labels that may precede a path on a header or first line.
const LABELS: &[&str] = &[
    "file path",
    "filepath",
    "filename",
    "file name",
    "file",
    "path",
];

fn strip_label(s: &str) -> &str {
    let lower = s.get(..12.min(s.len())).unwrap_or(s).to_ascii_lowercase();
    for label in LABELS {
        if lower.starts_with(label) {
            let rest = &s[label.len()..];
            if let Some(r) = rest.strip_prefix(':') {
                return r.trim();
            }
            if rest.starts_with(' ') {
                return rest.trim();
            }
        }
    }
    s
}

/// The path named by a line just before a fence: `File: a.py`, `### a.py`, `**a.py**`.
fn header_path(line: &str) -> Option<String> {
    let mut s = line.trim();
    if let Some(rest) = s.strip_prefix('#') {
        let rest = rest.trim_start_matches('#');
        if !rest.starts_with(' ') {
            return None;
        }
        s = rest.trim();
    }
    let cleaned: String = s.chars().filter(|&c| c != '*' && c != '`').collect();
    let mut s = cleaned.trim();
    s = s.trim_end_matches(':').trim();
    s = strip_label(s);
    // `1. app/main.py`, `app/main.py (new file)`
    if let Some((num, rest)) = s.split_once(' ') {
        if num
            .trim_end_matches(['.', ')'])
            .bytes()
            .all(|b| b.is_ascii_digit())
            && num.len() > 1
            && num.ends_with(['.', ')'])
        {
            s = rest.trim();
        }
    }
    if s.ends_with(')') {
        if let Some(open) = s.rfind(" (") {
            s = s[..open].trim();
        }
    }
    let s = s.trim_end_matches(':').trim();
    let s = s.trim_matches(['_', '"']);
    is_path_like(s).then(|| s.to_owned())
}

/// The path named by a first-line comment, and the content without that line. After a
/// `#!` line the second line is looked at.
fn first_line_path(content: &str) -> Option<(String, String)> {
    let (head, candidate, rest) = match content.split_once('\n') {
        Some((first, rest)) if first.starts_with("#!") => {
            let (second, tail) = rest.split_once('\n').unwrap_or((rest, ""));
            (Some(first), second, tail)
        }
        Some((first, rest)) => (None, first, rest),
        None => (None, content, ""),
    };
    let path = comment_path(candidate)?;
    let mut without = String::with_capacity(content.len());
    if let Some(head) = head {
        without.push_str(head);
        without.push('\n');
    }
    without.push_str(rest);
    Some((path, without))
}

fn comment_path(line: &str) -> Option<String> {
    let t = line.trim();
    let body = if let Some(r) = t.strip_prefix("//") {
        r
    } else if t.starts_with("#!") {
        return None;
    } else if let Some(r) = t.strip_prefix('#') {
        r
    } else if let Some(r) = t.strip_prefix("--") {
        r
    } else if let Some(r) = t.strip_prefix("/*") {
        r.strip_suffix("*/")?
    } else if let Some(r) = t.strip_prefix("<!--") {
        r.strip_suffix("-->")?
    } else if let Some(r) = t.strip_prefix(';') {
        r.trim_start_matches(';')
    } else {
        return None;
    };
    let body = strip_label(body.trim());
    let body = body.trim_matches('`').trim();
    is_path_like(body).then(|| body.to_owned())
}

/// Whether a token reads as a file path: it has a directory separator or a file extension
/// (or is a dot-file), no white space, and is not a URL or a version number.
pub fn is_path_like(s: &str) -> bool {
    if s.is_empty()
        || s.len() > 4096
        || s.contains(char::is_whitespace)
        || s.contains("://")
        || s.contains("...")
        || s.contains(['`', '*', '<', '>', '|', '{', '}', '"'])
        || s.ends_with(['/', '.', ':', ','])
    {
        return false;
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return false;
    }
    if s.contains('/') || s.contains('\\') {
        return true;
    }
    match s.rfind('.') {
        Some(0) => s.len() > 1 && s[1..].bytes().all(is_ext_byte),
        Some(dot) => {
            let ext = &s[dot + 1..];
            (1..=12).contains(&ext.len()) && ext.bytes().all(is_ext_byte)
        }
        None => false,
    }
}

fn is_ext_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'+'
}

#[cfg(test)]
mod tests;
