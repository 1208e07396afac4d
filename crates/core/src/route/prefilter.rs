//! Which rules a request can match, before any automaton is built: each rule's pattern
//! yields a set of literals of which every match holds at least one (`literals.rs`), and a
//! rule is compiled only when one of them occurs in the request. A call pays for the few
//! rules its words can fire instead of all of them: parsing and compiling the whole set
//! cost about 6 ms a process, most of the auto route's cost over `--local`.
//!
//! The built-in rules' literals are worked out by the build script; only a rule the user
//! or project changed is parsed when the router is built. A pattern with no such set (a
//! bare class, `\w+`, an empty branch) is a candidate for every request.

use memchr::memmem;

mod builtin {
    include!(concat!(env!("OUT_DIR"), "/builtin_literals.rs"));
}

/// Past this many bytes, a request is likely to name most rules' words anyway, and
/// searching for every literal would cost more than it saves: every rule is a candidate.
const LONG_REQUEST: usize = 4096;

/// The literals of one pattern.
#[derive(Debug)]
pub(super) enum Literals {
    /// Worked out by the build script.
    Builtin(&'static [&'static [u8]]),
    /// Worked out when the router was built.
    Owned(Vec<Vec<u8>>),
    /// None worth searching for: always a candidate.
    Any,
}

impl Literals {
    /// The built-in pattern's literals, when `prepared` is a built-in pattern (`None`: it is
    /// not; parse it).
    pub(super) fn builtin(prepared: &str) -> Option<Literals> {
        let at = builtin::BUILTIN
            .binary_search_by(|(p, _)| (*p).cmp(prepared))
            .ok()?;
        Some(match builtin::BUILTIN[at].1 {
            Some(set) => Literals::Builtin(set),
            None => Literals::Any,
        })
    }

    /// Whether one of the literals occurs in `text` (whose byte pairs are `pairs`).
    fn occur_in(&self, text: &[u8], pairs: &Pairs) -> bool {
        let found = |l: &[u8]| pairs.may_hold(l) && memmem::find(text, l).is_some();
        match self {
            Literals::Builtin(set) => set.iter().any(|l| found(l)),
            Literals::Owned(set) => set.iter().any(|l| found(l)),
            Literals::Any => true,
        }
    }
}

/// Which bytes and adjacent byte pairs a text holds: a literal one of whose pairs is
/// missing cannot occur, which rules out most literals in a few nanoseconds each (a
/// substring search costs more to set up than to run on a short request).
struct Pairs {
    bytes: [u64; 4],
    pairs: Vec<u64>,
}

impl Pairs {
    fn of(text: &[u8]) -> Pairs {
        let mut out = Pairs {
            bytes: [0; 4],
            pairs: vec![0; 65_536 / 64],
        };
        for &b in text {
            out.bytes[usize::from(b) / 64] |= 1 << (b % 64);
        }
        for w in text.windows(2) {
            let i = usize::from(w[0]) << 8 | usize::from(w[1]);
            out.pairs[i / 64] |= 1 << (i % 64);
        }
        out
    }

    fn may_hold(&self, literal: &[u8]) -> bool {
        match literal {
            [] => true,
            [b] => self.bytes[usize::from(*b) / 64] & (1 << (b % 64)) != 0,
            _ => literal.windows(2).all(|w| {
                let i = usize::from(w[0]) << 8 | usize::from(w[1]);
                self.pairs[i / 64] & (1 << (i % 64)) != 0
            }),
        }
    }
}

/// The patterns that can match somewhere in `text` (lower-cased, as the automaton sees
/// it), in ascending order.
pub(super) fn candidates(literals: &[Literals], text: &[u8]) -> Vec<u32> {
    if text.len() > LONG_REQUEST {
        return (0..literals.len() as u32).collect();
    }
    let pairs = Pairs::of(text);
    (0..literals.len() as u32)
        .filter(|&i| literals[i as usize].occur_in(text, &pairs))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::literals::{parse, prepare, required};
    use super::*;

    fn lits(p: &str) -> Option<Vec<String>> {
        required(&parse(&prepare(p)).unwrap()).map(|s| {
            s.into_iter()
                .map(|l| String::from_utf8_lossy(&l).into_owned())
                .collect()
        })
    }

    fn owned(p: &str) -> Literals {
        required(&parse(&prepare(p)).unwrap()).map_or(Literals::Any, Literals::Owned)
    }

    #[test]
    fn alternations_give_their_words_and_concatenations_their_best_part() {
        assert_eq!(
            lits(r"\b(Refactor|migrate)\b").unwrap(),
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
        let set: Vec<Literals> = [r"\bdesign\b", r"\b(port|migrate)\b", r"\w+\d", r"\bour\b"]
            .iter()
            .map(|p| owned(p))
            .collect();
        assert_eq!(candidates(&set, b"migrate our db"), [1, 2, 3]);
        assert_eq!(candidates(&set, b"write a function"), [2]);
        // A literal inside a word still makes the rule a candidate (the DFA decides).
        assert_eq!(candidates(&set, b"a report"), [1, 2]);
        // A long request makes every rule a candidate.
        let long = vec![b'x'; LONG_REQUEST + 1];
        assert_eq!(candidates(&set, &long), [0, 1, 2, 3]);
    }

    #[test]
    fn byte_pairs_rule_out_only_literals_that_cannot_occur() {
        let pairs = Pairs::of(b"migrate our db");
        for yes in [&b"migrate"[..], b"our db", b"m", b"", b"te o"] {
            assert!(pairs.may_hold(yes), "{yes:?}");
        }
        for no in [&b"port"[..], b"x", b"dbm", b"rr"] {
            assert!(!pairs.may_hold(no), "{no:?}");
        }
    }

    #[test]
    fn the_build_scripts_table_is_what_the_crate_works_out() {
        let layers = super::super::layers::LAYER_PATTERNS;
        for p in layers {
            let prepared = prepare(p);
            let want = required(&parse(&prepared).unwrap());
            match (Literals::builtin(&prepared), want) {
                (Some(Literals::Builtin(got)), Some(want)) => assert_eq!(got, want, "{p}"),
                (Some(Literals::Any), None) => {}
                (got, want) => panic!("{p}: {got:?} vs {want:?}"),
            }
        }
        assert!(builtin::BUILTIN.len() > 60, "{}", builtin::BUILTIN.len());
        assert!(builtin::BUILTIN.is_sorted_by(|a, b| a.0 < b.0));
    }
}
