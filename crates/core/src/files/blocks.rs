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
//! With exactly one input file and one unnamed code block, the block is for that file; with
//! several, they are its fragments (see `guard`). Blocks without a path are reported, not
//! written. The parser is pure and does not judge
//! paths: the writer decides what may be written.

use serde::Serialize;

use crate::context::markdown::{closes_fence, fence_start};

mod name;

pub use name::is_path_like;
use name::{first_line_path, header_path, info_path};

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

#[cfg(test)]
impl FileBlock {
    /// A block named in its fence's info string, at line 1: what the writer's tests feed it.
    pub(crate) fn named(path: &str, content: &str) -> FileBlock {
        FileBlock {
            path: path.into(),
            lang: None,
            content: content.into(),
            line: 1,
            named_by: NamedBy::InfoString,
        }
    }
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
    /// With exactly one input, several unnamed code blocks: each may hold part of that file
    /// (merged by symbol where the language allows, else reported as unnamed).
    pub fragments: Vec<FileBlock>,
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
    } else if let [input] = inputs
        && code.len() > 1
        && !parsed
            .files
            .iter()
            .any(|f| strip_dot(&f.path) == strip_dot(input))
    {
        for i in code.into_iter().rev() {
            let block = unnamed.remove(i);
            parsed.fragments.insert(
                0,
                FileBlock {
                    path: strip_dot(input).to_owned(),
                    lang: block.lang,
                    content: block.content,
                    line: block.line,
                    named_by: NamedBy::SoleInput,
                },
            );
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
        // Edit blocks for the same file add up.
        if super::edits::has_blocks(&old.content) && super::edits::has_blocks(&file.content) {
            old.content.push_str(&file.content);
            return;
        }
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
        if path.is_none()
            && let Some((p, without)) = first_line_path(&content)
        {
            path = Some((p, NamedBy::FirstLine));
            content = without;
            count -= 1;
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

#[cfg(test)]
mod tests;
