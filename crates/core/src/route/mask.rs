//! Separating the request from what was pasted with it, and taking out what must not count.
//!
//! The rubric's first step: words inside pasted code, logs and quoted strings, and clauses
//! under a negation ("don't refactor anything else"), are not the request. The request keeps
//! its length (masked spans become spaces) so nothing shifts; the pasted lines are kept
//! apart for the structural signals (log length, diffs, code).

use std::sync::LazyLock;

use regex::bytes::Regex;

/// A prompt cut into the request (masked) and the pasted material.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Parts<'a> {
    /// The instruction text, with quotes and negated clauses blanked.
    pub(super) request: String,
    /// Lines of pasted code, logs or data.
    pub(super) pasted: Vec<&'a str>,
    /// Quoted spans that name a path or a glob (`src/**/*.ts`): blanked in the request, but
    /// they still tell the scope.
    pub(super) quoted_paths: Vec<String>,
}

/// Words of which every negation holds one (any case): a request without them skips
/// compiling [`NEGATION`] (about 0.3 ms, on every auto-routed call).
const NEGATION_WORDS: [&str; 8] = [
    "don",
    "do not",
    "doesn",
    "without",
    "never",
    "no need",
    "won",
    "nothing else",
];

static NEGATION_GUARD: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
    aho_corasick::AhoCorasick::builder()
        .ascii_case_insensitive(true)
        .build(NEGATION_WORDS)
        .expect("negation words")
});

static NEGATION: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i-u)\b(?:don'?t|do not|doesn'?t need to|without|never|no need to|won'?t|nothing else)\b[^.,;:!?\n]*")
        .expect("negation pattern")
});

/// Splits a prompt. Fenced blocks are always pasted; a paragraph is pasted when most of its
/// lines look like code or logs, or when it follows a line ending in `:` and has any such
/// line; inside a line, what follows `: ` is pasted when it is dense with code symbols.
pub(super) fn split(prompt: &str) -> Parts<'_> {
    let mut parts = Parts::default();
    let mut request_lines: Vec<&str> = Vec::new();
    let mut fence: Option<&str> = None;
    let mut after_colon: Option<char> = None;
    let mut paragraph: Vec<&str> = Vec::new();

    for line in prompt.lines() {
        let trimmed = line.trim_start();
        if let Some(open) = fence {
            if trimmed.starts_with(open) {
                fence = None;
            }
            parts.pasted.push(line);
            continue;
        }
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            flush_paragraph(
                &mut paragraph,
                &mut after_colon,
                &mut request_lines,
                &mut parts.pasted,
            );
            fence = Some(if trimmed.starts_with("```") {
                "```"
            } else {
                "~~~"
            });
            continue;
        }
        if line.trim().is_empty() {
            flush_paragraph(
                &mut paragraph,
                &mut after_colon,
                &mut request_lines,
                &mut parts.pasted,
            );
            continue;
        }
        paragraph.push(line);
    }
    flush_paragraph(
        &mut paragraph,
        &mut after_colon,
        &mut request_lines,
        &mut parts.pasted,
    );

    let mut request = String::with_capacity(prompt.len().min(4096));
    for line in request_lines {
        request.push_str(cut_inline_paste(line));
        request.push('\n');
    }
    parts.quoted_paths = mask_quotes(&mut request);
    mask_negations(&mut request);
    parts.request = request;
    parts
}

/// Decides whether a finished paragraph is pasted material or part of the request.
fn flush_paragraph<'a>(
    paragraph: &mut Vec<&'a str>,
    after_colon: &mut Option<char>,
    request: &mut Vec<&'a str>,
    pasted: &mut Vec<&'a str>,
) {
    if paragraph.is_empty() {
        return;
    }
    let code = paragraph.iter().filter(|l| is_code_like(l)).count();
    let is_material = code * 2 > paragraph.len()
        || *after_colon == Some(':')
        || (*after_colon == Some('?') && code > 0);
    if is_material && !request.is_empty() {
        pasted.append(paragraph);
    } else {
        // Within a paragraph, lines after one that ends with ':' and look like code are
        // pasted too ("add comments:\ndef f(): ...").
        let mut colon = false;
        for line in paragraph.drain(..) {
            if colon && is_code_like(line) {
                pasted.push(line);
            } else {
                colon = line.trim_end().ends_with(':');
                request.push(line);
            }
        }
    }
    *after_colon = request
        .last()
        .and_then(|l| l.trim_end().chars().last())
        .filter(|c| matches!(c, ':' | '?'));
}

/// `Pretty-print this JSON: {"a": [1, 2]}` → the part before the pasted data.
fn cut_inline_paste(line: &str) -> &str {
    if let Some(i) = line.find(": ") {
        let rest = &line[i + 2..];
        let symbols = rest.bytes().filter(|b| b"{}[]();=<>\"".contains(b)).count();
        if symbols >= 4 {
            return &line[..i + 1];
        }
    }
    line
}

/// Whether a line looks like code, a log line or data rather than prose.
pub(super) fn is_code_like(line: &str) -> bool {
    let t = line.trim_end();
    if t.is_empty() {
        return false;
    }
    if line.starts_with("  ") || line.starts_with('\t') {
        return true;
    }
    let s = t.trim_start();
    const STARTS: [&str; 27] = [
        "--- a/",
        "+++ b/",
        "def ",
        "class ",
        "function ",
        "import ",
        "from ",
        "const ",
        "let ",
        "var ",
        "public ",
        "private ",
        "return ",
        "export ",
        "#include",
        "select ",
        "SELECT ",
        "INSERT ",
        "diff --git",
        "@@ ",
        "}",
        "{",
        "<",
        ">",
        "$ ",
        "at ",
        "//",
    ];
    if STARTS.iter().any(|p| s.starts_with(p)) {
        return true;
    }
    let symbols = s.bytes().filter(|b| b"{}();=<>[]".contains(b)).count();
    let ends_like_code = s.ends_with(['{', '}', ';', ')', ']', ',']);
    let starts_with_digit_stamp = s.len() > 10 && s.as_bytes()[..4].iter().all(u8::is_ascii_digit);
    symbols >= 3 || (symbols >= 1 && ends_like_code) || starts_with_digit_stamp
}

/// Blanks "double", “curly”, `backtick` and 'single' quoted spans; returns the spans that
/// look like a path or a glob (no spaces, a `/` or a `*`, and a letter or digit: a quoted
/// `'*'` is a character, not a glob).
fn mask_quotes(text: &mut String) -> Vec<String> {
    let mut paths = Vec::new();
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    let mut prev: Option<char> = None;
    while let Some(c) = chars.next() {
        let close = match c {
            '"' => Some('"'),
            '`' => Some('`'),
            '“' => Some('”'),
            '\'' if prev.is_none_or(|p| !p.is_alphanumeric()) => Some('\''),
            _ => None,
        };
        let Some(close) = close else {
            out.push(c);
            prev = Some(c);
            continue;
        };
        // Find the closing quote on the same line; if none, keep the character.
        let rest: String = chars.clone().take_while(|&n| n != '\n').collect();
        match rest.find(close) {
            Some(end) if close != '\'' || !rest[end + 1..].starts_with(char::is_alphanumeric) => {
                let span = &rest[..end];
                if !span.contains(char::is_whitespace)
                    && span.contains(['/', '*'])
                    && span.contains(char::is_alphanumeric)
                {
                    paths.push(span.to_owned());
                }
                out.push(' ');
                for _ in rest[..end].chars() {
                    chars.next();
                    out.push(' ');
                }
                chars.next();
                out.push(' ');
                prev = Some(' ');
            }
            _ => {
                out.push(c);
                prev = Some(c);
            }
        }
    }
    *text = out;
    paths
}

/// Blanks a negated clause up to the next punctuation: "don't refactor anything else, ...".
/// The clause ends at an ASCII byte or the end, so blanking it never splits a character.
fn mask_negations(text: &mut String) {
    if !NEGATION_GUARD.is_match(text.as_bytes()) || !NEGATION.is_match(text.as_bytes()) {
        return;
    }
    let masked = NEGATION.replace_all(text.as_bytes(), |c: &regex::bytes::Captures<'_>| {
        vec![b' '; c[0].len()]
    });
    *text = String::from_utf8_lossy(&masked).into_owned();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_negation_holds_a_guard_word() {
        for n in [
            "don't",
            "dont",
            "DO NOT",
            "doesn't need to",
            "doesnt need to",
            "Without",
            "never",
            "no need to",
            "won't",
            "wont",
            "nothing else",
        ] {
            let text = format!("fix it, {n} touch the tests");
            assert!(NEGATION.is_match(text.as_bytes()), "{n}");
            assert!(NEGATION_GUARD.is_match(text.as_bytes()), "{n}");
        }
    }

    #[test]
    fn pasted_code_after_a_colon_is_not_the_request() {
        let p = split(
            "add comments explaining each step:\n\ndef bubble_sort(xs):\n    n = len(xs)\n    return xs",
        );
        assert_eq!(p.request.trim(), "add comments explaining each step:");
        assert_eq!(p.pasted.len(), 3);
    }

    #[test]
    fn fenced_blocks_are_pasted_anywhere() {
        let p = split("translate this\n```js\n// TODO: redesign the architecture\n```\nthanks");
        assert!(!p.request.contains("architecture"));
        assert!(p.request.contains("thanks"));
    }

    #[test]
    fn unfenced_comment_block_after_colon_is_pasted() {
        let p = split(
            "translate the comments:\n\n// TODO: rediseñar la arquitectura\nfunction tax(a) {\n  return a;\n}",
        );
        assert!(!p.request.contains("arquitectura"));
    }

    #[test]
    fn quotes_and_backticks_are_blanked() {
        let p = split("Fix the typo: 'seperate' should be \"separate\" in `migrate_db`");
        assert!(!p.request.contains("seperate"));
        assert!(!p.request.contains("separate"));
        assert!(!p.request.contains("migrate"));
        assert_eq!(
            p.request.len(),
            "Fix the typo: 'seperate' should be \"separate\" in `migrate_db`\n".len()
        );
        let p = split("what's the user's name");
        assert!(p.request.contains("what's the user's"));
    }

    #[test]
    fn a_quoted_symbol_is_not_a_glob() {
        let p = split("The list mixes '*' and '-'. Make them all '-'.");
        assert!(p.quoted_paths.is_empty(), "{:?}", p.quoted_paths);
        let p = split("Lint every file matching 'src/**/*.ts'");
        assert_eq!(p.quoted_paths, ["src/**/*.ts"]);
    }

    #[test]
    fn negated_clauses_are_blanked() {
        let p = split("Don't refactor anything else, just fix the off-by-one");
        assert!(!p.request.contains("refactor"));
        assert!(p.request.contains("just fix the off-by-one"));
        let p = split("Don't just patch this one handler: apply it to every handler");
        assert!(!p.request.contains("this one handler"));
        assert!(p.request.contains("every handler"));
    }

    #[test]
    fn inline_json_after_a_colon_is_pasted() {
        let p = split("Pretty-print this JSON: {\"architecture\":[1,2],\"x\":{\"y\":3}}");
        assert!(!p.request.contains("architecture"));
    }

    #[test]
    fn prose_paragraphs_stay_in_the_request() {
        let p = split("Plan a roadmap for our app.\n\nInclude milestones and risks.");
        assert!(p.request.contains("Include milestones"));
        assert!(p.pasted.is_empty());
    }
}
