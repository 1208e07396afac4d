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

/// Query terms: lower-case word stems of 3+ letters, no stop words, at most 32.
pub(super) fn terms(prompt: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for word in prompt
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| w.chars().count() >= 3)
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

/// The scores of every section, in the order of `sections`.
pub(super) fn score(text: &str, sections: &[Section], terms: &[String]) -> Vec<f64> {
    if terms.is_empty() || sections.is_empty() {
        return vec![0.0; sections.len()];
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
        return vec![0.0; s];
    };
    let bytes = text.as_bytes();
    // counts[seg * t + term]: matches of each term in each section's own text.
    let mut counts = vec![0u32; s * t];
    let mut in_heading = vec![false; s * t];
    let starts: Vec<usize> = sections.iter().map(|x| x.start).collect();
    // Matches come in text order, so the section they fall in only moves forward.
    let mut seg = 0;
    for m in ac.find_iter(bytes) {
        let at = m.start();
        if at > 0 && bytes[at - 1].is_ascii_alphanumeric() {
            continue;
        }
        while seg + 1 < s && starts[seg + 1] <= at {
            seg += 1;
        }
        let cell = seg * t + term_of[m.pattern().as_usize()];
        counts[cell] += 1;
        if at < sections[seg].title.end {
            in_heading[cell] = true;
        }
    }
    let df: Vec<f64> = (0..t)
        .map(|term| (0..s).filter(|&g| counts[g * t + term] > 0).count() as f64)
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
        for term in 0..t {
            let tf: u32 = (i..last).map(|g| counts[g * t + term]).sum();
            if tf > 0 {
                let tf = f64::from(tf);
                total += idf[term] * tf * 2.2 / (tf + k);
            }
            if in_heading[i * t + term] {
                total += 3.0 * idf[term].max(1.0);
            }
        }
        scores.push((total * 100.0).round() / 100.0);
    }
    scores
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
    fn heading_matches_beat_body_mentions_and_rare_beats_common() {
        let doc = "# Overview\nThe webhook, the webhook, the webhook.\n\
                   # Retry policy\nBilling webhooks retry 5 times.\n\
                   # Errors\nUse problem+json.\n";
        let sections = parse(doc);
        let scores = score(
            doc,
            &sections,
            &terms("what is the retry policy for webhooks"),
        );
        let best = scores
            .iter()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(b.1))
            .unwrap()
            .0;
        assert_eq!(sections[best].title(doc), "Retry policy", "{scores:?}");
        assert_eq!(scores[2], 0.0);
    }
}
