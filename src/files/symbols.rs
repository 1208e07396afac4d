//! The top-level outline of a Python or Rust file, read with tree-sitter: each definition
//! (function, class, assignment; fn, struct, enum, trait, mod, impl, const, static, type)
//! with its name and its line range, the imports, and the other statements. A class or an
//! `impl` also has the outline of its body (methods). Comments, decorators and attributes
//! just above an item belong to it. Ranges are whole lines, so an item's text carries its
//! indentation and its final newline.

use std::ops::Range;

use tree_sitter::{Node, Parser};

/// A language the outline reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lang {
    /// `.py`, `.pyi`.
    Python,
    /// `.rs`.
    Rust,
}

impl Lang {
    /// The language of a path, by its extension.
    pub fn of(path: &str) -> Option<Lang> {
        let ext = path.rsplit_once('.')?.1;
        match ext {
            "py" | "pyi" => Some(Lang::Python),
            "rs" => Some(Lang::Rust),
            _ => None,
        }
    }

    /// What separates two top-level items.
    pub fn gap(self) -> &'static str {
        match self {
            Lang::Python => "\n\n",
            Lang::Rust => "\n",
        }
    }
}

/// What an item is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// A named definition.
    Def,
    /// A named definition with members merged one by one: a Python class, a Rust `impl`.
    Container,
    /// `import`, `from … import`, `use`, `extern crate`.
    Import,
    /// Any other statement (a call, a print, `if __name__ == "__main__":`, a docstring).
    Other,
}

/// One item of an outline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Item {
    /// What it is.
    pub kind: Kind,
    /// The name it defines (`impl Trait for Type` for an impl).
    pub name: Option<String>,
    /// Its lines, byte offsets into the text: from the start of its first line (its
    /// comments and decorators included) to after its last line's newline.
    pub range: Range<usize>,
    /// A container's members, and where a new member goes (after the last line of the
    /// last member).
    pub body: Option<(Vec<Item>, usize)>,
}

/// Reads the outline of `text`; `None` when it does not parse cleanly.
pub fn outline(lang: Lang, text: &str) -> Option<Vec<Item>> {
    let mut parser = Parser::new();
    let language: tree_sitter::Language = match lang {
        Lang::Python => tree_sitter_python::LANGUAGE.into(),
        Lang::Rust => tree_sitter_rust::LANGUAGE.into(),
    };
    parser.set_language(&language).ok()?;
    let tree = parser.parse(text, None)?;
    let root = tree.root_node();
    if root.has_error() {
        return None;
    }
    Some(items(lang, text, root, true))
}

/// Top-level names defined (definitions and containers).
pub fn names(items: &[Item]) -> Vec<&str> {
    items
        .iter()
        .filter(|i| matches!(i.kind, Kind::Def | Kind::Container))
        .filter_map(|i| i.name.as_deref())
        .collect()
}

fn items(lang: Lang, text: &str, parent: Node<'_>, top: bool) -> Vec<Item> {
    let mut out: Vec<Item> = Vec::new();
    // Start of a run of comments or attributes waiting for the item they belong to.
    let mut pending: Option<usize> = None;
    let mut cursor = parent.walk();
    for node in parent.named_children(&mut cursor) {
        let range = lines(text, node.start_byte(), node.end_byte());
        if is_leading(lang, &node) {
            pending = Some(pending.unwrap_or(range.start));
            continue;
        }
        let start = match pending.take() {
            // Attached only when no blank line separates them.
            Some(p) if !text[p..range.start].contains("\n\n") => p,
            _ => range.start,
        };
        let (kind, name, body) = classify(lang, text, &node, top);
        out.push(Item {
            kind,
            name,
            range: start..range.end,
            body,
        });
    }
    out
}

fn is_leading(lang: Lang, node: &Node<'_>) -> bool {
    match lang {
        Lang::Python => node.kind() == "comment",
        Lang::Rust => matches!(
            node.kind(),
            "line_comment" | "block_comment" | "attribute_item"
        ),
    }
}

type Classified = (Kind, Option<String>, Option<(Vec<Item>, usize)>);

fn classify(lang: Lang, text: &str, node: &Node<'_>, top: bool) -> Classified {
    let src = text.as_bytes();
    let field_name = |n: &Node<'_>| {
        n.child_by_field_name("name")
            .and_then(|x| x.utf8_text(src).ok())
            .map(str::to_owned)
    };
    match lang {
        Lang::Python => {
            let def = if node.kind() == "decorated_definition" {
                node.child_by_field_name("definition")
            } else {
                Some(*node)
            };
            match def.as_ref().map(Node::kind) {
                Some("function_definition") => (Kind::Def, def.as_ref().and_then(field_name), None),
                Some("class_definition") => {
                    let def = def.expect("matched");
                    let body = def.child_by_field_name("body").map(|b| {
                        let members = items(lang, text, b, false);
                        let end = lines(text, b.start_byte(), b.end_byte()).end;
                        (members, end)
                    });
                    let kind = if top { Kind::Container } else { Kind::Def };
                    (kind, field_name(&def), body)
                }
                _ => match node.kind() {
                    "import_statement" | "import_from_statement" | "future_import_statement" => {
                        (Kind::Import, None, None)
                    }
                    "expression_statement" => {
                        let assigned = node
                            .named_child(0)
                            .filter(|c| c.kind() == "assignment")
                            .and_then(|a| a.child_by_field_name("left"))
                            .filter(|l| l.kind() == "identifier")
                            .and_then(|l| l.utf8_text(src).ok())
                            .map(str::to_owned);
                        match assigned {
                            Some(name) => (Kind::Def, Some(name), None),
                            None => (Kind::Other, None, None),
                        }
                    }
                    _ => (Kind::Other, None, None),
                },
            }
        }
        Lang::Rust => match node.kind() {
            "function_item"
            | "function_signature_item"
            | "struct_item"
            | "enum_item"
            | "union_item"
            | "trait_item"
            | "mod_item"
            | "const_item"
            | "static_item"
            | "type_item"
            | "macro_definition" => (Kind::Def, field_name(node), None),
            "impl_item" if top => {
                let body = node.child_by_field_name("body");
                let head_end = body.map_or(node.end_byte(), |b| b.start_byte());
                let head = text[node.start_byte()..head_end]
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ");
                let members = body.map(|b| {
                    let members = items(lang, text, b, false);
                    // New members go before the line of the closing brace.
                    let close = b.end_byte().saturating_sub(1);
                    let end = text[..close].rfind('\n').map_or(close, |i| i + 1);
                    (
                        members,
                        end.max(lines(text, b.start_byte(), b.start_byte()).end),
                    )
                });
                (Kind::Container, Some(head), members)
            }
            "use_declaration" | "extern_crate_declaration" => (Kind::Import, None, None),
            _ => (Kind::Other, None, None),
        },
    }
}

/// The whole lines holding `start..end`.
fn lines(text: &str, start: usize, end: usize) -> Range<usize> {
    let s = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let e = match text[end..].find('\n') {
        Some(i) => end + i + 1,
        None => text.len(),
    };
    s..e
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn python_outline_has_defs_classes_imports_and_statements() {
        let text = "import os\nfrom x import y\n\nX = 1\n\n# helps\n@cache\ndef helper(a):\n    return a\n\n\nclass C:\n    def m(self):\n        pass\n\n    def n(self):\n        pass\n\nprint(helper(1))\n";
        let items = outline(Lang::Python, text).unwrap();
        let kinds: Vec<_> = items.iter().map(|i| (i.kind, i.name.as_deref())).collect();
        assert_eq!(
            kinds,
            [
                (Kind::Import, None),
                (Kind::Import, None),
                (Kind::Def, Some("X")),
                (Kind::Def, Some("helper")),
                (Kind::Container, Some("C")),
                (Kind::Other, None),
            ]
        );
        assert_eq!(
            &text[items[3].range.clone()],
            "# helps\n@cache\ndef helper(a):\n    return a\n"
        );
        let (members, end) = items[4].body.clone().unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(
            &text[members[1].range.clone()],
            "    def n(self):\n        pass\n"
        );
        assert_eq!(end, members[1].range.end);
        assert!(outline(Lang::Python, "def f(:\n").is_none());
    }

    #[test]
    fn rust_outline_has_items_and_impl_members() {
        let text = "use std::fmt;\n\n/// A thing.\n#[derive(Debug)]\npub struct S;\n\nimpl S {\n    fn a(&self) {}\n\n    fn b(&self) {}\n}\n\nfn main() {}\n";
        let items = outline(Lang::Rust, text).unwrap();
        let kinds: Vec<_> = items.iter().map(|i| (i.kind, i.name.as_deref())).collect();
        assert_eq!(
            kinds,
            [
                (Kind::Import, None),
                (Kind::Def, Some("S")),
                (Kind::Container, Some("impl S")),
                (Kind::Def, Some("main")),
            ]
        );
        assert!(text[items[1].range.clone()].starts_with("/// A thing.\n#[derive"));
        let (members, end) = items[2].body.clone().unwrap();
        assert_eq!(members.len(), 2);
        assert_eq!(&text[end..], "}\n\nfn main() {}\n");
    }
}
