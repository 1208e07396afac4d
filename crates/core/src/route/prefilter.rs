//! Which rules a request can match, before any automaton is built: each rule's pattern
//! yields a set of literals of which every match holds at least one, and one Aho-Corasick
//! scan of the request finds the rules whose literals occur. Only those are compiled, so a
//! call pays for the few rules its words can fire instead of all of them (compiling the
//! whole set cost about 6 ms a process, most of the auto route's cost over `--local`).
//!
//! A pattern with no such set (a bare class, `\w+`, an empty branch) is always compiled.

use aho_corasick::AhoCorasick;
use regex_syntax::hir::{Class, Hir, HirKind};

/// Sets with more literals than this are not worth scanning for; the rule is always
/// compiled instead.
const MAX_LITERALS: usize = 256;
/// A byte class becomes a literal set only when it has at most this many bytes.
const MAX_CLASS_BYTES: usize = 8;

/// The literal index of a rule set.
pub(super) struct Prefilter {
    /// Every rule's literals, deduplicated; `None` when no rule has any.
    scanner: Option<AhoCorasick>,
    /// For each literal of `scanner`, the patterns it stands for.
    owners: Vec<Vec<u32>>,
    /// Patterns that are candidates for every request.
    always: Vec<u32>,
    /// How many patterns there are.
    len: usize,
}

impl Prefilter {
    /// Indexes the patterns' required literals (the patterns as parsed HIR, in order).
    pub(super) fn new(hirs: &[Hir]) -> Prefilter {
        let mut literals: Vec<Vec<u8>> = Vec::new();
        let mut owners: Vec<Vec<u32>> = Vec::new();
        let mut index = std::collections::HashMap::new();
        let mut always = Vec::new();
        for (id, hir) in hirs.iter().enumerate() {
            let id = id as u32;
            match required(hir) {
                Some(set) if set.len() <= MAX_LITERALS => {
                    for lit in set {
                        let slot = *index.entry(lit.clone()).or_insert_with(|| {
                            literals.push(lit);
                            owners.push(Vec::new());
                            owners.len() - 1
                        });
                        if owners[slot].last() != Some(&id) {
                            owners[slot].push(id);
                        }
                    }
                }
                _ => always.push(id),
            }
        }
        // Building fails only past its own size limits; then every rule is a candidate.
        let scanner = if literals.is_empty() {
            None
        } else {
            AhoCorasick::new(&literals).ok()
        };
        if scanner.is_none() {
            always = (0..hirs.len() as u32).collect();
        }
        Prefilter {
            scanner,
            owners,
            always,
            len: hirs.len(),
        }
    }

    /// The patterns that can match somewhere in `text`, in ascending order.
    pub(super) fn candidates(&self, text: &[u8]) -> Vec<u32> {
        let mut hit = vec![false; self.len];
        for &id in &self.always {
            hit[id as usize] = true;
        }
        if let Some(scanner) = &self.scanner {
            for m in scanner.find_overlapping_iter(text) {
                for &id in &self.owners[m.pattern().as_usize()] {
                    hit[id as usize] = true;
                }
            }
        }
        (0..self.len as u32).filter(|&i| hit[i as usize]).collect()
    }
}

/// A set of non-empty literals of which every match of `hir` contains at least one, or
/// `None` when there is none worth using.
fn required(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => None,
        HirKind::Literal(lit) => Some(vec![lit.0.to_vec()]),
        HirKind::Class(class) => class_bytes(class),
        HirKind::Repetition(rep) if rep.min > 0 => required(&rep.sub),
        HirKind::Repetition(_) => None,
        HirKind::Capture(cap) => required(&cap.sub),
        // Every match holds a match of each part: the best part's set will do.
        HirKind::Concat(parts) => parts.iter().filter_map(required).max_by_key(|s| rank(s)),
        // A match is a match of one branch: every branch must have a set.
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for branch in branches {
                all.extend(required(branch)?);
                if all.len() > MAX_LITERALS {
                    return None;
                }
            }
            all.sort_unstable();
            all.dedup();
            Some(all)
        }
    }
}

/// Longer shortest literal first (fewer false candidates), then fewer literals.
fn rank(set: &[Vec<u8>]) -> (usize, std::cmp::Reverse<usize>) {
    let shortest = set.iter().map(Vec::len).min().unwrap_or(0);
    (shortest, std::cmp::Reverse(set.len()))
}

/// The bytes of a small class, each as a one-byte literal.
fn class_bytes(class: &Class) -> Option<Vec<Vec<u8>>> {
    let mut out = Vec::new();
    match class {
        Class::Bytes(c) => {
            for r in c.iter() {
                for b in r.start()..=r.end() {
                    out.push(vec![b]);
                    if out.len() > MAX_CLASS_BYTES {
                        return None;
                    }
                }
            }
        }
        Class::Unicode(c) => {
            for r in c.iter() {
                for ch in r.start()..=r.end() {
                    let mut buf = [0u8; 4];
                    out.push(ch.encode_utf8(&mut buf).as_bytes().to_vec());
                    if out.len() > MAX_CLASS_BYTES {
                        return None;
                    }
                }
            }
        }
    }
    (!out.is_empty()).then_some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hir(p: &str) -> Hir {
        regex_syntax::ParserBuilder::new()
            .unicode(false)
            .utf8(false)
            .build()
            .parse(p)
            .unwrap()
    }

    fn lits(p: &str) -> Option<Vec<String>> {
        required(&hir(p)).map(|s| {
            s.into_iter()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .collect()
        })
    }

    #[test]
    fn alternations_give_their_words_and_concatenations_their_best_part() {
        assert_eq!(
            lits(r"\b(refactor|migrate)\b").unwrap(),
            ["migrate", "refactor"]
        );
        assert_eq!(
            lits(r"\bour ([\w/-]+ ){0,2}(app|service)\b").unwrap(),
            ["our "]
        );
        // The optional part says nothing; the alternation after it does.
        assert_eq!(lits(r"^\s*(plan|audit)\s*[:-]").unwrap(), ["audit", "plan"]);
        assert_eq!(
            lits(r"([\w-]+\s*(→|->)\s*){2,}[\w-]+").unwrap(),
            ["->", "→"]
        );
    }

    #[test]
    fn patterns_without_a_required_literal_have_no_set() {
        assert_eq!(lits(r"\w+"), None);
        assert_eq!(lits(r"(foo|\w+)"), None);
        assert_eq!(lits(r"(foo)?bar?"), Some(vec!["ba".to_owned()]));
        assert_eq!(lits(r"x*"), None);
    }

    #[test]
    fn candidates_are_the_rules_whose_literals_occur_plus_those_without_any() {
        let hirs: Vec<Hir> = [r"\bdesign\b", r"\b(port|migrate)\b", r"\w+\d", r"\bour\b"]
            .iter()
            .map(|p| hir(p))
            .collect();
        let pf = Prefilter::new(&hirs);
        assert_eq!(pf.candidates(b"migrate our db"), [1, 2, 3]);
        assert_eq!(pf.candidates(b"write a function"), [2]);
        // A literal inside a word still makes the rule a candidate (the DFA decides).
        assert_eq!(pf.candidates(b"a report"), [1, 2]);
    }
}
