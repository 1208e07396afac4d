//! How a rule's pattern is read, and the literals every match of it holds. Shared with the
//! build script (`build.rs` includes this file), which works the literals of the built-in
//! rules out ahead of time, so a call parses only the rules its request can fire and
//! those the user changed. Depends on nothing of the crate.

use regex_syntax::hir::{Class, Hir, HirKind};

/// Sets with more literals than this are not worth searching for; the rule is always
/// compiled instead.
pub(crate) const MAX_LITERALS: usize = 256;
/// A byte class becomes a literal set only when it has at most this many bytes.
const MAX_CLASS_BYTES: usize = 8;

/// The pattern as the router compiles it: ASCII letters lower-cased outside escapes (the
/// request is lower-cased too, so matching is case-insensitive without case-folding
/// classes in the automaton), and each non-ASCII character as its UTF-8 bytes.
pub(crate) fn prepare(pattern: &str) -> String {
    utf8_literals(&lowercase_literals(pattern))
}

/// Parses a prepared pattern. ASCII-only, so `\b`, `\w` and `\s` take their ASCII meanings
/// (what the rules mean; it also lets the DFA handle word boundaries and compiles several
/// times faster than Unicode classes). Non-ASCII literals (`función`, `迁移`) match as
/// their UTF-8 bytes, case-sensitively.
pub(crate) fn parse(prepared: &str) -> Result<Hir, Box<regex_syntax::Error>> {
    regex_syntax::ParserBuilder::new()
        .unicode(false)
        .utf8(false)
        .build()
        .parse(prepared)
        .map_err(Box::new)
}

/// Lower-cases the ASCII letters of a pattern outside escapes (`\S`, `\W` keep their case).
pub(crate) fn lowercase_literals(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    let mut escaped = false;
    for c in pattern.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            out.push(c);
            escaped = true;
        } else {
            out.push(c.to_ascii_lowercase());
        }
    }
    out
}

/// Writes each non-ASCII character as a group of `\xNN` byte escapes.
pub(crate) fn utf8_literals(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() * 2);
    for c in pattern.chars() {
        if c.is_ascii() {
            out.push(c);
        } else {
            out.push_str("(?:");
            let mut buf = [0u8; 4];
            for b in c.encode_utf8(&mut buf).bytes() {
                out.push_str(&format!("\\x{b:02X}"));
            }
            out.push(')');
        }
    }
    out
}

/// A set of non-empty literals of which every match of `hir` contains at least one, or
/// `None` when there is none worth using (at most [`MAX_LITERALS`], sorted, deduplicated).
pub(crate) fn required(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    let set = required_in(hir)?;
    (set.len() <= MAX_LITERALS).then_some(set)
}

fn required_in(hir: &Hir) -> Option<Vec<Vec<u8>>> {
    match hir.kind() {
        HirKind::Empty | HirKind::Look(_) => None,
        HirKind::Literal(lit) => Some(vec![lit.0.to_vec()]),
        HirKind::Class(class) => class_bytes(class),
        HirKind::Repetition(rep) if rep.min > 0 => required_in(&rep.sub),
        HirKind::Repetition(_) => None,
        HirKind::Capture(cap) => required_in(&cap.sub),
        // Every match holds a match of each part: the best part's set will do.
        HirKind::Concat(parts) => parts.iter().filter_map(required_in).max_by_key(|s| rank(s)),
        // A match is a match of one branch: every branch must have a set.
        HirKind::Alternation(branches) => {
            let mut all = Vec::new();
            for branch in branches {
                all.extend(required_in(branch)?);
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
