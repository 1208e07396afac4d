//! Merging an answer into a Python or Rust file by symbol. Small models answer with the
//! function they changed, not the file; written as the file, that deletes everything else.
//! So each definition in the answer replaces the definition of the same name in the file;
//! a class (an `impl`) given with some methods has those replaced or added and the rest
//! stays; a new definition goes after the last definition it follows in the answer (before
//! the file's first definition when it follows none); imports the answer adds are added
//! after the file's imports, imports it leaves out stay; other top-level statements of the
//! answer (usage examples: calls, prints, `if __name__ == "__main__":`) are dropped.
//! Deletions are never expressed by omission. An answer is the whole file only when it
//! defines every top-level name of the file.

use std::collections::BTreeMap;

use super::symbols::{self, Item, Kind, Lang};

/// How an answer lands on an existing file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Merged {
    /// One block defines every top-level name of the file: it is the whole file.
    Whole(String),
    /// The file with the answer's definitions merged in.
    Merged(String),
}

/// Merges `fragments` (the answer's blocks for the file, in order) into `file`. `None` when
/// the file or every fragment fails to parse, or the fragments define nothing: today's
/// rules apply. A fragment that does not parse (an explanation, another language) is left
/// out.
pub fn merge(lang: Lang, file: &str, fragments: &[&str]) -> Option<Merged> {
    let base = symbols::outline(lang, file)?;
    let parsed: Vec<(&str, Vec<Item>)> = fragments
        .iter()
        .filter_map(|f| symbols::outline(lang, f).map(|o| (*f, o)))
        .filter(|(_, o)| {
            o.iter()
                .any(|i| matches!(i.kind, Kind::Def | Kind::Container | Kind::Import))
        })
        .collect();
    if parsed.is_empty() {
        return None;
    }
    let wanted = symbols::names(&base);
    if let Some((text, outline)) = parsed.iter().find(|(_, o)| {
        let have = symbols::names(o);
        wanted.iter().all(|n| have.contains(n))
    }) {
        return Some(Merged::Whole(keep_imports(file, &base, text, outline)));
    }
    if !parsed
        .iter()
        .flat_map(|(_, o)| o)
        .any(|i| matches!(i.kind, Kind::Def | Kind::Container))
    {
        // Imports alone: not a change to merge by symbol.
        return None;
    }
    let mut edits = Edits::default();
    let first_def = base
        .iter()
        .find(|i| matches!(i.kind, Kind::Def | Kind::Container))
        .map_or(file.len(), |i| i.range.start);
    // Where the next new definition goes: after the last known one it follows.
    let mut anchor: Option<usize> = None;
    for (text, outline) in &parsed {
        for item in outline {
            let piece = with_newline(&text[item.range.clone()]);
            match item.kind {
                Kind::Def | Kind::Container => {
                    let same = base.iter().find(|b| {
                        b.name == item.name && matches!(b.kind, Kind::Def | Kind::Container)
                    });
                    match same {
                        Some(b) if b.kind == Kind::Container && item.kind == Kind::Container => {
                            merge_members(&mut edits, b, item, text);
                            anchor = Some(b.range.end);
                        }
                        Some(b) => {
                            edits.replace(b.range.clone(), piece);
                            anchor = Some(b.range.end);
                        }
                        None => match anchor {
                            Some(at) => edits.insert(at, format!("{}{piece}", lang.gap())),
                            None => edits.insert(first_def, format!("{piece}{}", lang.gap())),
                        },
                    }
                }
                Kind::Import => {
                    let norm = normalise(&piece);
                    let known = base
                        .iter()
                        .filter(|b| b.kind == Kind::Import)
                        .any(|b| normalise(&file[b.range.clone()]) == norm)
                        || edits.imports.contains(&norm);
                    if !known {
                        edits.imports.push(norm);
                        match base.iter().rev().find(|b| b.kind == Kind::Import) {
                            Some(last) => edits.insert_import(last.range.end, piece),
                            None => edits.insert_import(first_def, format!("{piece}\n")),
                        }
                    }
                }
                Kind::Other => {}
            }
        }
    }
    Some(Merged::Merged(edits.apply(file)))
}

/// A whole-file answer with the file's imports it leaves out put back (small models drop
/// `from typing import List` and then use `List`): after the answer's last import, or
/// before its first definition when it has none. Imports are never deleted by omission.
fn keep_imports(file: &str, base: &[Item], text: &str, outline: &[Item]) -> String {
    let have: Vec<String> = outline
        .iter()
        .filter(|i| i.kind == Kind::Import)
        .map(|i| normalise(&text[i.range.clone()]))
        .collect();
    let missing: String = base
        .iter()
        .filter(|b| b.kind == Kind::Import)
        .filter(|b| !have.contains(&normalise(&file[b.range.clone()])))
        .map(|b| with_newline(&file[b.range.clone()]))
        .collect();
    if missing.is_empty() {
        return text.to_owned();
    }
    // `from __future__` must come first: then everything missing goes before the answer's
    // own imports.
    let future = missing.starts_with("from __future__") || missing.contains("\nfrom __future__");
    let last_import = outline
        .iter()
        .rev()
        .find(|i| i.kind == Kind::Import)
        .filter(|_| !future);
    let at = match last_import {
        Some(i) => i.range.end,
        None => outline
            .iter()
            .find(|i| i.kind != Kind::Other)
            .map_or(0, |i| i.range.start),
    };
    let gap = if last_import.is_some() { "" } else { "\n" };
    format!("{}{missing}{gap}{}", &text[..at], &text[at..])
}

/// A class's (an impl's) members: each one replaces the member of the same name or is
/// added after the last member.
fn merge_members(edits: &mut Edits, base: &Item, item: &Item, text: &str) {
    let (Some((have, end)), Some((given, _))) = (&base.body, &item.body) else {
        edits.replace(base.range.clone(), with_newline(&text[item.range.clone()]));
        return;
    };
    for m in given {
        if m.name.is_none() {
            continue;
        }
        let piece = with_newline(&text[m.range.clone()]);
        match have.iter().find(|h| h.name == m.name && h.name.is_some()) {
            Some(h) => edits.replace(h.range.clone(), piece),
            None => edits.insert(*end, format!("\n{piece}")),
        }
    }
}

fn with_newline(s: &str) -> String {
    let mut s = s.to_owned();
    if !s.ends_with('\n') {
        s.push('\n');
    }
    s
}

fn normalise(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Replacements and insertions on the file, applied from the end.
#[derive(Default)]
struct Edits {
    replace: BTreeMap<usize, (usize, String)>,
    insert: BTreeMap<usize, String>,
    insert_imports: BTreeMap<usize, String>,
    imports: Vec<String>,
}

impl Edits {
    fn replace(&mut self, range: std::ops::Range<usize>, text: String) {
        // A later definition of the same name wins.
        self.replace.insert(range.start, (range.end, text));
    }

    fn insert(&mut self, at: usize, text: String) {
        self.insert.entry(at).or_default().push_str(&text);
    }

    fn insert_import(&mut self, at: usize, text: String) {
        self.insert_imports.entry(at).or_default().push_str(&text);
    }

    fn apply(self, file: &str) -> String {
        let mut out = String::with_capacity(file.len() + 256);
        let mut pos = 0;
        let mut points: Vec<usize> = self
            .replace
            .keys()
            .chain(self.insert.keys())
            .chain(self.insert_imports.keys())
            .copied()
            .collect();
        points.sort_unstable();
        points.dedup();
        for at in points {
            if at < pos {
                continue;
            }
            out.push_str(&file[pos..at]);
            pos = at;
            if let Some(t) = self.insert_imports.get(&at) {
                out.push_str(t);
            }
            if let Some(t) = self.insert.get(&at) {
                out.push_str(t);
            }
            if let Some((end, t)) = self.replace.get(&at) {
                out.push_str(t);
                pos = *end;
            }
        }
        out.push_str(&file[pos.min(file.len())..]);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str = "import math\n\n\ndef helper(x):\n    return math.sqrt(x)\n\n\ndef target(x):\n    raise NotImplementedError\n\n\nclass Box:\n    def get(self):\n        return 1\n\n    def put(self, v):\n        pass\n";

    fn merged(fragments: &[&str]) -> String {
        match merge(Lang::Python, FILE, fragments).unwrap() {
            Merged::Merged(t) => t,
            Merged::Whole(t) => panic!("whole: {t}"),
        }
    }

    #[test]
    fn a_function_alone_replaces_only_its_definition() {
        let out = merged(&["def target(x):\n    return helper(x) + 1\n\n\nprint(target(4))\n"]);
        assert_eq!(
            out,
            FILE.replace(
                "    raise NotImplementedError\n",
                "    return helper(x) + 1\n"
            )
        );
    }

    #[test]
    fn new_definitions_and_imports_are_added_and_methods_merged() {
        let out = merged(&[
            "pip install nothing\n",
            "import os\nimport math\n\ndef target(x):\n    return 2\n\ndef extra():\n    return os.sep\n\nclass Box:\n    def put(self, v):\n        self.v = v\n\n    def size(self):\n        return 0\n\nif __name__ == \"__main__\":\n    print(extra())\n",
        ]);
        assert_eq!(
            out,
            "import math\nimport os\n\n\ndef helper(x):\n    return math.sqrt(x)\n\n\ndef target(x):\n    return 2\n\n\ndef extra():\n    return os.sep\n\n\nclass Box:\n    def get(self):\n        return 1\n\n    def put(self, v):\n        self.v = v\n\n    def size(self):\n        return 0\n"
        );
    }

    #[test]
    fn an_answer_defining_every_name_is_the_whole_file() {
        let whole = "def helper(x):\n    return x\n\ndef target(x):\n    return 1\n\nclass Box:\n    pass\n";
        assert_eq!(
            merge(Lang::Python, FILE, &[whole]),
            Some(Merged::Whole(format!("import math\n\n{whole}")))
        );
        assert_eq!(merge(Lang::Python, FILE, &["print(1)\n"]), None);
        assert_eq!(merge(Lang::Python, "def f(:\n", &["def f(): pass\n"]), None);
    }

    #[test]
    fn a_whole_file_answer_keeps_the_imports_it_leaves_out() {
        let file = "from typing import List\nimport math\n\n\ndef f(xs: List[float]) -> bool:\n    \"\"\"Doc.\"\"\"\n";
        let answer = "def f(xs: List[float]) -> bool:\n    return bool(xs)\n";
        assert_eq!(
            merge(Lang::Python, file, &[answer]),
            Some(Merged::Whole(
                "from typing import List\nimport math\n\ndef f(xs: List[float]) -> bool:\n    return bool(xs)\n"
                    .to_owned()
            ))
        );
        let answer = "import math\nimport os\n\ndef f(xs):\n    return os.sep\n";
        assert_eq!(
            merge(Lang::Python, file, &[answer]),
            Some(Merged::Whole(
                "import math\nimport os\nfrom typing import List\n\ndef f(xs):\n    return os.sep\n"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn a_left_out_future_import_goes_before_the_answers_own_imports() {
        let file = "from __future__ import annotations\nimport os\n\n\ndef f():\n    pass\n";
        let answer = "import sys\n\ndef f():\n    return sys.argv\n";
        assert_eq!(
            merge(Lang::Python, file, &[answer]),
            Some(Merged::Whole(
                "from __future__ import annotations\nimport os\n\nimport sys\n\ndef f():\n    return sys.argv\n"
                    .to_owned()
            ))
        );
    }

    #[test]
    fn a_new_definition_that_follows_none_goes_before_the_first() {
        let out = merged(&["def first():\n    return 0\n\ndef helper(x):\n    return x\n"]);
        assert!(
            out.starts_with("import math\n\n\ndef first():\n    return 0\n\n\ndef helper(x):\n    return x\n\n\ndef target"),
            "{out}"
        );
    }

    #[test]
    fn rust_impl_methods_merge_like_class_methods() {
        let file = "use std::fmt;\n\npub struct S;\n\nimpl S {\n    pub fn a(&self) -> u8 {\n        1\n    }\n\n    pub fn b(&self) -> u8 {\n        2\n    }\n}\n\npub fn free() {}\n";
        let answer = "impl S {\n    pub fn b(&self) -> u8 {\n        20\n    }\n\n    pub fn c(&self) -> u8 {\n        3\n    }\n}\n\nfn main() {\n    println!(\"{}\", S.b());\n}\n";
        let Some(Merged::Merged(out)) = merge(Lang::Rust, file, &[answer]) else {
            panic!()
        };
        assert_eq!(
            out,
            "use std::fmt;\n\npub struct S;\n\nimpl S {\n    pub fn a(&self) -> u8 {\n        1\n    }\n\n    pub fn b(&self) -> u8 {\n        20\n    }\n\n    pub fn c(&self) -> u8 {\n        3\n    }\n}\n\nfn main() {\n    println!(\"{}\", S.b());\n}\n\npub fn free() {}\n"
        );
    }

    proptest::proptest! {
        #[test]
        fn random_fragments_never_lose_a_top_level_definition(
            n in 1usize..12,
            picks in proptest::collection::vec((0usize..20, 0u8..4), 1..8),
        ) {
            let file: String = (0..n)
                .map(|i| format!("def f{i}(x):\n    return x + {i}\n\n\n"))
                .chain(["class K:\n    def m(self):\n        return 1\n".to_owned()])
                .collect();
            let mut fragment = String::new();
            for (i, shape) in &picks {
                match shape {
                    0 => fragment.push_str(&format!("def f{i}(x):\n    return {i}\n\n")),
                    1 => fragment.push_str(&format!("print(f{i}(1))\n")),
                    2 => fragment.push_str(&format!("class K:\n    def m{i}(self):\n        return {i}\n\n")),
                    _ => fragment.push_str(&format!("import mod{i}\n")),
                }
            }
            let out = match merge(Lang::Python, &file, &[&fragment]) {
                Some(Merged::Merged(t)) => t,
                _ => file.clone(),
            };
            let before = symbols::outline(Lang::Python, &file).unwrap();
            let after = symbols::outline(Lang::Python, &out).expect("the merge parses");
            let have = symbols::names(&after);
            for name in symbols::names(&before) {
                proptest::prop_assert!(have.contains(&name), "{name} lost:\n{out}");
            }
            proptest::prop_assert!(out.contains("    def m(self):\n"), "{out}");
        }
    }
}
