//! Answers that would destroy an existing file are refused before anything is written:
//! one cut at the token limit (in any shape; nothing lets it through), a whole-file answer
//! with fewer than half the file's lines that does not define all its top-level names, and
//! one that elides code with the usual placeholders (`... rest of the code`, `// existing
//! code`, `# unchanged`). `--force` lets a short or elided answer through.
//!
//! Before that, an answer for an existing Python or Rust input is merged by symbol
//! (`merge`), and edit blocks are applied (`edits`).

use std::sync::LazyLock;

use regex::Regex;

use super::blocks::{Parsed, SkippedBlock, reason};
use super::edits;
use super::merge::{self, Merged};
use super::symbols::{self, Lang};

/// Why an answer was not written.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{path} not written: {reason} (nothing written)")]
pub struct Refused {
    /// The file it was for.
    pub path: String,
    /// Why, as one clause.
    pub reason: String,
    /// Whether `--force` would let it through.
    pub forceable: bool,
}

/// A placeholder line: a comment (or a bare `...` line) saying code was left out.
static PLACEHOLDER: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)^\s*(?:#|//+|/\*+|\*|--|<!--|;+)?\s*(?:\.\.\.|…)?\s*\(?\s*(?:the\s+)?(?:rest\s+of(?:\s+the)?\s+(?:code|file|class|function|methods?|implementation)|existing\s+(?:code|methods?|functions?|implementation|imports)|(?:code|everything|rest|all)\s+(?:else\s+)?(?:unchanged|stays?\s+the\s+same|as\s+before)|unchanged|remaining\s+(?:code|methods?|functions?)|same\s+as\s+before|previous\s+code|other\s+(?:methods?|functions?|code)|code\s+omitted|omitted\s+for\s+brevity|\.\.\.)",
    )
    .expect("placeholder pattern compiles")
});

/// The first placeholder line of `new` that `old` does not hold, with its 1-based number.
pub fn elision(new: &str, old: &str) -> Option<(usize, String)> {
    new.lines().enumerate().find_map(|(n, line)| {
        let t = line.trim();
        let comment_or_dots = t.starts_with(['#', '/', '*', '-', '<', ';', '.', '…']);
        (comment_or_dots
            && t.len() > 3
            && PLACEHOLDER.is_match(line)
            && !old.lines().any(|o| o.trim() == t))
        .then(|| (n + 1, t.to_owned()))
    })
}

/// Shapes an answer's blocks for existing input files and refuses the destructive ones.
/// `read` gives an input's current text (`None` when it does not exist). With `truncated`,
/// no existing file is written.
pub fn shape(
    parsed: &mut Parsed,
    inputs: &[String],
    read: &dyn Fn(&str) -> Option<String>,
    force: bool,
    truncated: bool,
) -> Result<(), Refused> {
    // Several unnamed blocks with one input: merged into it when its language allows.
    if !parsed.fragments.is_empty() {
        let fragments = std::mem::take(&mut parsed.fragments);
        let input = inputs.first().cloned().unwrap_or_default();
        let merged = match (Lang::of(&input), read(&input)) {
            (Some(lang), Some(old)) => {
                let texts: Vec<&str> = fragments.iter().map(|f| f.content.as_str()).collect();
                merge::merge(lang, &old, &texts)
            }
            _ => None,
        };
        match merged {
            Some(Merged::Whole(text) | Merged::Merged(text)) => {
                let mut block = fragments[0].clone();
                block.content = text;
                parsed.files.push(block);
            }
            None => {
                for f in fragments {
                    parsed.skipped.push(SkippedBlock {
                        line: f.line,
                        lang: f.lang,
                        lines: f.content.lines().count(),
                        path: None,
                        reason: reason::UNNAMED,
                    });
                }
                parsed.skipped.sort_by_key(|s| s.line);
            }
        }
    }
    for block in &mut parsed.files {
        let rel = strip_dot(&block.path);
        let Some(input) = inputs.iter().find(|i| i.as_str() == rel) else {
            continue;
        };
        let Some(old) = read(input) else { continue };
        let refuse = |reason: String, forceable: bool| Refused {
            path: input.clone(),
            reason,
            forceable,
        };
        if truncated {
            return Err(refuse(
                "the answer was cut at the model's token limit".to_owned(),
                false,
            ));
        }
        if edits::has_blocks(&block.content) {
            block.content =
                edits::apply(&old, &block.content).map_err(|e| refuse(e.to_string(), false))?;
            continue;
        }
        if !force && let Some((line, text)) = elision(&block.content, &old) {
            return Err(refuse(
                format!(
                    "the answer leaves code out (line {line}: `{text}`); answer with the whole file, or only the definitions you change"
                ),
                true,
            ));
        }
        let lang = Lang::of(input);
        let mut whole = true;
        if let Some(lang) = lang
            && let Some(m) = merge::merge(lang, &old, &[&block.content])
        {
            match m {
                // The whole file, with the file's imports it left out put back.
                Merged::Whole(text) => block.content = text,
                Merged::Merged(text) => {
                    whole = false;
                    block.content = text;
                }
            }
        }
        let (old_lines, new_lines) = (old.lines().count(), block.content.lines().count());
        if whole && !force && new_lines * 2 < old_lines {
            let defines_all = lang
                .and_then(|l| {
                    Some((
                        symbols::outline(l, &old)?,
                        symbols::outline(l, &block.content)?,
                    ))
                })
                .is_some_and(|(o, n)| {
                    let have = symbols::names(&n);
                    symbols::names(&o).iter().all(|x| have.contains(x))
                });
            if !defines_all {
                return Err(refuse(
                    format!(
                        "the answer has {new_lines} of the file's {old_lines} lines and does not define all its top-level names; answer with the whole file, or only the definitions you change"
                    ),
                    true,
                ));
            }
        }
    }
    Ok(())
}

/// The user message of round `round` of `rounds` after an answer was refused: why, the
/// original task and the current files.
pub fn refused_request(
    task: &str,
    files: &[super::repair::CurrentFile],
    refused: &Refused,
    round: usize,
    rounds: usize,
) -> String {
    let mut out = format!(
        "Your answer was not written (round {} of {rounds}): {}: {}.\n\n## Original task\n\n{}\n\n## Current files\n\n",
        round - 1,
        refused.path,
        refused.reason,
        task.trim()
    );
    for f in files {
        let fence = super::fence_for(&f.text);
        out.push_str(&format!("{fence}{}\n{}", f.rel, f.text));
        if !f.text.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&fence);
        out.push_str("\n\n");
    }
    out.push_str(
        "Answer with only the definitions you change, each in full, in a fenced block whose \
         info string is the language and the file's path (or with SEARCH/REPLACE edit blocks).\n",
    );
    out
}

fn strip_dot(path: &str) -> &str {
    let mut p = path;
    while let Some(rest) = p.strip_prefix("./") {
        p = rest;
    }
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_are_elisions_code_is_not() {
        for line in [
            "# ... rest of the code unchanged",
            "// existing code",
            "# unchanged",
            "    # ... (rest of the class)",
            "/* ... existing methods ... */",
            "// ... other methods",
            "# Rest of the file remains the same",
            "<!-- rest of the file -->",
        ] {
            assert!(elision(line, "").is_some(), "{line}");
        }
        for line in [
            "    ...",
            "def f(): ...",
            "# compute the sum",
            "x = 1  # unchanged",
            "// TODO: handle errors",
            "print('rest of the code')",
        ] {
            assert!(elision(line, "").is_none(), "{line}");
        }
        // A placeholder the file already holds is not an elision.
        assert!(elision("# unchanged\n", "x\n# unchanged\n").is_none());
    }
}
