//! The project's own docs as a signal: a request whose words cover a section heading of
//! CONTRACTS.md / AGENTS.md ("what are the testing requirements?" against `## Testing
//! requirements`) asks about something the project's docs specify, which the rubric sends to
//! the API ("anything whose spec lives in the project's docs").
//!
//! The index is built once, off the critical path, from the context module's parsed
//! sections: each heading of two to six content words, stemmed, with a posting list per
//! word. A decision looks up only the request's own words.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use crate::context::{self, Doc};

/// Headings of the project's docs, indexed by their content words.
#[derive(Debug, Default, Clone)]
pub struct Headings {
    /// Stemmed word → headings holding it.
    postings: HashMap<String, Vec<u32>>,
    /// Content words per heading.
    sizes: Vec<u8>,
    /// Normalised titles, for `--explain`.
    titles: Vec<String>,
}

/// Words too common in headings and questions to tell anything.
const STOP: [&str; 40] = [
    "the", "and", "for", "with", "our", "how", "what", "when", "where", "which", "why", "who",
    "does", "this", "that", "from", "into", "are", "was", "its", "your", "you", "use", "using",
    "all", "any", "about", "can", "not", "per", "via", "one", "new", "add", "get", "set", "make",
    "write", "code", "file",
];

impl Headings {
    /// Reads and indexes the context files (problems are the context module's to report;
    /// here a missing file just means no headings).
    pub fn load(root: &Path, files: &[PathBuf]) -> Headings {
        let mut warnings = Vec::new();
        Headings::from_docs(&context::load(root, files, &mut warnings))
    }

    /// Indexes the headings of parsed docs.
    pub fn from_docs(docs: &[Doc]) -> Headings {
        let mut index = Headings::default();
        for doc in docs {
            for section in doc.sections.iter().filter(|s| s.level > 0) {
                let title = context::normalize(section.title(&doc.text));
                let mut words: Vec<String> = title.split(' ').filter_map(content_word).collect();
                words.sort();
                words.dedup();
                if !(2..=6).contains(&words.len()) {
                    continue;
                }
                let id = index.sizes.len() as u32;
                index.sizes.push(words.len() as u8);
                index.titles.push(title);
                for w in words {
                    index.postings.entry(w).or_default().push(id);
                }
            }
        }
        index
    }

    /// The first heading all of whose content words are in `request`.
    pub(super) fn matching(&self, request: &str) -> Option<&str> {
        if self.sizes.is_empty() {
            return None;
        }
        let lower = request.to_lowercase();
        let mut words: Vec<String> = lower
            .split(|c: char| !c.is_alphanumeric())
            .filter_map(content_word)
            .collect();
        words.sort();
        words.dedup();
        let mut hits = vec![0u8; self.sizes.len()];
        for w in &words {
            for &id in self.postings.get(w).map_or(&[][..], Vec::as_slice) {
                let n = &mut hits[id as usize];
                *n += 1;
                if *n == self.sizes[id as usize] {
                    return Some(&self.titles[id as usize]);
                }
            }
        }
        None
    }
}

/// A word that carries meaning, crudely stemmed (`routing`, `routes` → `rout`).
fn content_word(word: &str) -> Option<String> {
    if word.chars().count() < 3 || STOP.contains(&word) || word.bytes().all(|b| b.is_ascii_digit())
    {
        return None;
    }
    let mut w = word;
    for suffix in ["ing", "ies", "es", "ed", "s", "e"] {
        if w.len() > suffix.len() + 3
            && let Some(stem) = w.strip_suffix(suffix)
        {
            w = stem;
            break;
        }
    }
    Some(w.to_owned())
}
