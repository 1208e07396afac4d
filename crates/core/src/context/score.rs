//! Scoring sections against a prompt: heading matches weigh more than body matches, rare
//! words more than common ones (IDF over the sections), repeated words saturate (BM25-like).
//!
//! The prompt's few terms are found in the whole document in one Aho-Corasick scan, so the
//! cost is one pass over the bytes, not a tokenisation of every section.

use aho_corasick::{AhoCorasickBuilder, MatchKind};

use super::markdown::Section;

/// Words too common in prompts to say anything about which section matters.
const STOPWORDS: &[&str] = &[
    "the",
    "and",
    "for",
    "with",
    "that",
    "this",
    "from",
    "into",
    "our",
    "your",
    "you",
    "are",
    "was",
    "were",
    "will",
    "would",
    "should",
    "could",
    "can",
    "not",
    "all",
    "any",
    "every",
    "each",
    "what",
    "which",
    "when",
    "where",
    "how",
    "why",
    "who",
    "does",
    "did",
    "has",
    "have",
    "had",
    "its",
    "it's",
    "use",
    "using",
    "make",
    "write",
    "create",
    "add",
    "update",
    "fix",
    "please",
    "just",
    "only",
    "new",
    "get",
    "set",
    "per",
    "about",
    "before",
    "after",
    "instead",
    "must",
    "there",
    "their",
    "then",
    "than",
    "also",
    "but",
    "out",
    "one",
    "two",
    "more",
    "most",
    "some",
    "like",
    "need",
    "want",
    "code",
    "file",
    "files",
    "function",
    "implement",
    "follow",
    "following",
    "according",
    "section",
    "md",
    "contracts",
    "agents",
    "project",
    "repo",
];

/// Words common to coding requests that say nothing about which part of a project's docs
/// applies ("write hello world in python"): their matches count a quarter.
const GENERIC: &[&str] = &[
    "hello",
    "world",
    "python",
    "javascript",
    "typescript",
    "java",
    "rust",
    "golang",
    "ruby",
    "php",
    "kotlin",
    "swift",
    "program",
    "example",
    "simple",
    "quick",
    "small",
    "print",
    "string",
    "number",
    "list",
    "array",
    "loop",
    "class",
    "method",
    "snippet",
    "script",
];

/// What a match inside a fenced code block counts: an example that quotes a word is weak
/// evidence that the section is about it.
const IN_CODE: f64 = 0.25;

/// Endings a match may run on into (`retr` in "retries", `webhook` in "webhooks"), besides
/// digits ("python3"). Any other letters make it part of another word ("local" in
/// "Localhost").
const ENDINGS: &[&str] = &[
    "s", "es", "ed", "d", "ing", "ies", "ied", "y", "e", "er", "ers", "ion", "ions",
];

/// How much a term counts: a quarter for generic words, else 1.
pub(super) fn weight(term: &str) -> f64 {
    if GENERIC.iter().any(|g| stem(g) == term) {
        0.25
    } else {
        1.0
    }
}

/// Longest word taken as a term, in bytes. Longer ones are not words a heading holds
/// (a hash, a run of one letter) and would make the automaton's construction cost grow
/// with their length: a 40,000-letter word took 32 s to score. Bounded, scoring is linear
/// in the prompt.
pub(super) const MAX_TERM_BYTES: usize = 40;

/// Query terms: lower-case word stems of 3 to `MAX_TERM_BYTES`, no stop words, at most 32.
pub(super) fn terms(prompt: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in prompt
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.len() <= MAX_TERM_BYTES && w.chars().count() >= 3)
    {
        let lower = word.to_lowercase();
        if STOPWORDS.contains(&lower.as_str()) {
            continue;
        }
        let stem = stem(&lower);
        if !out.contains(&stem) {
            out.push(stem);
        }
        if out.len() == 32 {
            break;
        }
    }
    out
}

/// A light English stemmer: enough for "retries"/"retry", "billing"/"bill".
fn stem(word: &str) -> String {
    let n = word.chars().count();
    if !word.is_ascii() || n <= 4 {
        return word.to_owned();
    }
    for suffix in ["ies", "ing", "ed", "es", "s", "y"] {
        if let Some(base) = word.strip_suffix(suffix) {
            // "string" stays whole: a three-letter stem matches too much.
            if base.len() >= 4 {
                return base.to_owned();
            }
        }
    }
    word.to_owned()
}

/// One section's score.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(super) struct Score {
    /// The relevance, 0 when no term matched.
    pub(super) total: f64,
    /// Whether a term that is not generic matched the section's own heading.
    pub(super) heading: bool,
}

/// The scores of every section, in the order of `sections`. Matches inside `code` (sorted
/// byte ranges of fenced blocks) count `IN_CODE`; generic terms count a quarter.
pub(super) fn score(
    text: &str,
    sections: &[Section],
    code: &[std::ops::Range<usize>],
    terms: &[String],
) -> Vec<Score> {
    if terms.is_empty() || sections.is_empty() {
        return vec![Score::default(); sections.len()];
    }
    let t = terms.len();
    let s = sections.len();
    // One scan finds every term; each is searched as written in lower case, Capitalised and
    // UPPER case, which keeps the fast packed (SIMD) search that an ASCII-case-insensitive
    // automaton loses, and copies nothing. A match on a section's heading line is a heading
    // match.
    let mut patterns: Vec<String> = Vec::with_capacity(t * 3);
    let mut term_of: Vec<usize> = Vec::with_capacity(t * 3);
    for (i, term) in terms.iter().enumerate() {
        let mut capital = term.clone();
        if let Some(first) = capital.get_mut(..1) {
            first.make_ascii_uppercase();
        }
        for variant in [term.clone(), capital, term.to_ascii_uppercase()] {
            if !patterns.contains(&variant) {
                patterns.push(variant);
                term_of.push(i);
            }
        }
    }
    let Ok(ac) = AhoCorasickBuilder::new()
        .match_kind(MatchKind::LeftmostLongest)
        .build(&patterns)
    else {
        return vec![Score::default(); s];
    };
    let weights: Vec<f64> = terms.iter().map(|term| weight(term)).collect();
    let bytes = text.as_bytes();
    // counts[seg * t + term]: weighted matches of each term in each section's own text.
    let mut counts = vec![0f64; s * t];
    let mut in_heading = vec![false; s * t];
    let starts: Vec<usize> = sections.iter().map(|x| x.start).collect();
    // Matches come in text order, so the section and the code block they fall in only
    // move forward.
    let mut seg = 0;
    let mut block = 0;
    for m in ac.find_iter(bytes) {
        let at = m.start();
        if at > 0 && bytes[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        if !ends_a_word(&text[m.end()..]) {
            continue;
        }
        while seg + 1 < s && starts[seg + 1] <= at {
            seg += 1;
        }
        while block < code.len() && code[block].end <= at {
            block += 1;
        }
        let in_code = code.get(block).is_some_and(|r| r.start <= at);
        let cell = seg * t + term_of[m.pattern().as_usize()];
        counts[cell] += if in_code { IN_CODE } else { 1.0 };
        if at < sections[seg].title.end {
            in_heading[cell] = true;
        }
    }
    let df: Vec<f64> = (0..t)
        .map(|term| (0..s).filter(|&g| counts[g * t + term] > 0.0).count() as f64)
        .collect();
    let idf: Vec<f64> = df
        .iter()
        .map(|&d| {
            if d == 0.0 {
                0.0
            } else {
                (1.0 + s as f64 / d).ln()
            }
        })
        .collect();
    let avg_len = text.len().max(1) as f64 / s as f64;

    let mut scores = Vec::with_capacity(s);
    for (i, sec) in sections.iter().enumerate() {
        // The section's segments: itself and its subsections.
        let last = starts.partition_point(|&st| st < sec.end);
        let len = (sec.end - sec.start).max(1) as f64;
        let k = 1.2 * (0.25 + 0.75 * len / avg_len);
        let mut total = 0.0;
        let mut heading = false;
        for term in 0..t {
            let tf: f64 = (i..last).map(|g| counts[g * t + term]).sum();
            if tf > 0.0 {
                total += weights[term] * idf[term] * tf * 2.2 / (tf + k);
            }
            if in_heading[i * t + term] {
                total += weights[term] * 3.0 * idf[term].max(1.0);
                heading |= weights[term] >= 1.0;
            }
        }
        scores.push(Score {
            total: (total * 100.0).round() / 100.0,
            heading,
        });
    }
    scores
}

/// Whether the text after a match ends the word: nothing alphanumeric follows, or digits,
/// or one of `ENDINGS`.
fn ends_a_word(after: &str) -> bool {
    let rest = after
        .find(|c: char| !c.is_alphanumeric())
        .map_or(after, |n| &after[..n]);
    rest.is_empty()
        || rest.bytes().all(|b| b.is_ascii_digit())
        || ENDINGS.iter().any(|e| rest.eq_ignore_ascii_case(e))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::context::markdown::parse;

    #[test]
    fn terms_drop_stopwords_and_stem() {
        assert_eq!(
            terms("Per CONTRACTS.md, what is the retry policy for the billing webhooks?"),
            ["retr", "polic", "bill", "webhook"]
        );
    }

    #[test]
    fn a_megabyte_run_of_one_letter_is_no_term_and_scores_at_once() {
        let prompt = "a".repeat(1 << 20);
        let start = std::time::Instant::now();
        assert!(terms(&prompt).is_empty());
        let doc = "# Retry policy\nBilling webhooks retry 5 times.\n";
        let sections = parse(doc);
        let long = format!("{prompt} retry");
        let t = terms(&long);
        assert_eq!(t, ["retr"]);
        assert!(score(doc, &sections, &[], &t)[0].heading);
        // Unbounded, 40,000 letters took 32 s; bounded, a megabyte is milliseconds (a
        // debug build under load gets room).
        let took = start.elapsed();
        assert!(took < std::time::Duration::from_secs(2), "{took:?}");
        let edge = "b".repeat(MAX_TERM_BYTES);
        assert_eq!(terms(&edge).len(), 1);
        assert!(terms(&format!("{edge}b")).is_empty());
    }

    /// Any megabyte prompt: one letter, 40-letter words, stop words, distinct words.
    #[test]
    fn any_megabyte_prompt_is_scored_in_linear_time() {
        let n = 1 << 20;
        let mut words = String::new();
        let mut x: u32 = 1;
        while words.len() < n {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            let len = 3 + (x >> 16) as usize % 10;
            words.extend((0..len).map(|i| (b'a' + ((x >> i) % 26) as u8) as char));
            words.push(' ');
        }
        let doc = "# Retry policy\nBilling webhooks retry 5 times.\n# Errors\nUse problem+json.\n";
        let (sections, code) = crate::context::markdown::parse_with_code(doc);
        for prompt in [
            "a".repeat(n),
            ("x".repeat(MAX_TERM_BYTES) + " ").repeat(n / (MAX_TERM_BYTES + 1)),
            "the ".repeat(n / 4),
            words,
        ] {
            let start = std::time::Instant::now();
            let t = terms(&prompt);
            let _ = score(doc, &sections, &code, &t);
            let took = start.elapsed();
            assert!(took < std::time::Duration::from_secs(2), "{took:?}");
        }
    }

    #[test]
    fn heading_matches_beat_body_mentions_and_rare_beats_common() {
        let doc = "# Overview\nThe webhook, the webhook, the webhook.\n\
                   # Retry policy\nBilling webhooks retry 5 times.\n\
                   # Errors\nUse problem+json.\n";
        let sections = parse(doc);
        let scores: Vec<f64> = score(
            doc,
            &sections,
            &[],
            &terms("what is the retry policy for webhooks"),
        )
        .iter()
        .map(|s| s.total)
        .collect();
        let best = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(sections[best].title(doc), "Retry policy", "{scores:?}");
        assert_eq!(scores[2], 0.0);
    }

    #[test]
    fn a_term_inside_another_word_does_not_match_and_code_counts_little() {
        let doc = "# Localhost notes\nport 80\n# Local model\nruns here\n\
                   # Flows\n```bash\npython3 -m tool\n```\n# Tools\npython3 -m tool\n";
        let (sections, code) = crate::context::markdown::parse_with_code(doc);
        let scores = score(doc, &sections, &code, &terms("local python"));
        assert_eq!(scores[0].total, 0.0, "{scores:?}");
        assert!(scores[1].heading);
        assert!(scores[2].total > 0.0 && scores[2].total < scores[3].total);
        assert!(!scores[2].heading && !scores[3].heading);
    }
}
