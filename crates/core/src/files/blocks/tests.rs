use super::*;

#[track_caller]
fn one(answer: &str, path: &str, content: &str, by: NamedBy) {
    let parsed = parse(answer, &[]);
    assert_eq!(parsed.files.len(), 1, "{parsed:#?}");
    let f = &parsed.files[0];
    assert_eq!(f.path, path, "{parsed:#?}");
    assert_eq!(f.content, content, "{parsed:#?}");
    assert_eq!(f.named_by, by, "{parsed:#?}");
}

#[test]
fn info_string_with_language_and_path() {
    one(
        "Here it is:\n\n```python app/main.py\nprint('hi')\n```\nDone.",
        "app/main.py",
        "print('hi')\n",
        NamedBy::InfoString,
    );
    one(
        "```app/main.py\nx = 1\n```\n",
        "app/main.py",
        "x = 1\n",
        NamedBy::InfoString,
    );
    one(
        "```rust:src/lib.rs\nfn a() {}\n```",
        "src/lib.rs",
        "fn a() {}\n",
        NamedBy::InfoString,
    );
    one(
        "```js title=\"web/app.js\"\nlet a;\n```",
        "web/app.js",
        "let a;\n",
        NamedBy::InfoString,
    );
    one(
        "```toml filename=Cargo.toml\n[a]\n```",
        "Cargo.toml",
        "[a]\n",
        NamedBy::InfoString,
    );
    one(
        "```.gitignore\ntarget/\n```",
        ".gitignore",
        "target/\n",
        NamedBy::InfoString,
    );
}

#[test]
fn header_lines_before_the_fence() {
    for header in [
        "File: app/main.py",
        "file: app/main.py",
        "Filename: `app/main.py`",
        "### app/main.py",
        "## File: app/main.py",
        "### `app/main.py`",
        "**app/main.py**",
        "**app/main.py:**",
        "**File:** `app/main.py`",
        "`app/main.py`",
        "`app/main.py`:",
        "### 2. app/main.py",
        "### app/main.py (new file)",
        "app/main.py:",
    ] {
        let answer = format!("Intro.\n\n{header}\n\n```python\nprint(1)\n```\n");
        let parsed = parse(&answer, &[]);
        assert_eq!(parsed.files.len(), 1, "{header}: {parsed:#?}");
        assert_eq!(parsed.files[0].path, "app/main.py", "{header}");
        assert_eq!(parsed.files[0].named_by, NamedBy::HeaderLine);
        assert_eq!(parsed.files[0].content, "print(1)\n");
    }
}

#[test]
fn prose_and_headings_that_are_not_paths_name_nothing() {
    for header in [
        "### Usage",
        "Here is the code:",
        "Run it with python app/main.py like this:",
        "**Note**",
        "#include <stdio.h>",
        "See https://example.com/a.py",
        "Version 3.11",
    ] {
        let answer = format!("{header}\n```python\nprint(1)\n```\n");
        let parsed = parse(&answer, &[]);
        assert!(parsed.files.is_empty(), "{header}: {parsed:#?}");
        assert_eq!(parsed.skipped[0].reason, reason::UNNAMED);
    }
}

#[test]
fn the_line_before_belongs_to_the_next_fence_only() {
    let answer = "File: a.py\n```python\na\n```\n```python\nb\n```\n";
    let parsed = parse(answer, &[]);
    assert_eq!(parsed.files.len(), 1);
    assert_eq!(parsed.files[0].path, "a.py");
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parsed.skipped[0].line, 5);
}

#[test]
fn first_line_comments_name_the_file_and_are_dropped() {
    one(
        "```js\n// web/app.js\nlet a;\n```",
        "web/app.js",
        "let a;\n",
        NamedBy::FirstLine,
    );
    one(
        "```python\n# app/main.py\nx = 1\n```",
        "app/main.py",
        "x = 1\n",
        NamedBy::FirstLine,
    );
    one(
        "```python\n# File: app/main.py\nx = 1\n```",
        "app/main.py",
        "x = 1\n",
        NamedBy::FirstLine,
    );
    one(
        "```sql\n-- db/schema.sql\ncreate table t();\n```",
        "db/schema.sql",
        "create table t();\n",
        NamedBy::FirstLine,
    );
    one(
        "```css\n/* web/a.css */\na{}\n```",
        "web/a.css",
        "a{}\n",
        NamedBy::FirstLine,
    );
    one(
        "```html\n<!-- web/index.html -->\n<p>\n```",
        "web/index.html",
        "<p>\n",
        NamedBy::FirstLine,
    );
    one(
        "```bash\n#!/usr/bin/env bash\n# scripts/run.sh\necho hi\n```",
        "scripts/run.sh",
        "#!/usr/bin/env bash\necho hi\n",
        NamedBy::FirstLine,
    );
}

#[test]
fn ordinary_first_line_comments_are_kept() {
    let parsed = parse("```python\n# compute the total\nx = 1\n```", &[]);
    assert!(parsed.files.is_empty());
    let parsed = parse("```bash\n#!/bin/sh\necho hi\n```", &[]);
    assert!(parsed.files.is_empty());
}

#[test]
fn info_string_wins_over_header_and_first_line() {
    let answer = "File: other.py\n```python app/main.py\n# third.py\nx\n```";
    one(
        answer,
        "app/main.py",
        "# third.py\nx\n",
        NamedBy::InfoString,
    );
}

#[test]
fn longer_fences_hold_shorter_ones() {
    let answer = "````markdown README.md\n# Title\n\n```bash\nmake\n```\n\nEnd.\n````\nAfter.\n";
    one(
        answer,
        "README.md",
        "# Title\n\n```bash\nmake\n```\n\nEnd.\n",
        NamedBy::InfoString,
    );
    let tildes = "~~~markdown docs/a.md\n```\ncode\n```\n~~~\n";
    one(tildes, "docs/a.md", "```\ncode\n```\n", NamedBy::InfoString);
    // A closing fence may be longer than the opening one, never shorter.
    one(
        "```a.txt\nx\n``\n`````\n",
        "a.txt",
        "x\n``\n",
        NamedBy::InfoString,
    );
}

#[test]
fn crlf_answers_parse_like_lf_ones() {
    let answer = "File: app/main.py\r\n```python\r\nprint(1)\r\nprint(2)\r\n```\r\n";
    one(
        answer,
        "app/main.py",
        "print(1)\nprint(2)\n",
        NamedBy::HeaderLine,
    );
}

#[test]
fn indented_fences_lose_their_indent() {
    let answer = "1. Create it:\n\n   ```python app.py\n   def f():\n       return 1\n   ```\n";
    one(
        answer,
        "app.py",
        "def f():\n    return 1\n",
        NamedBy::InfoString,
    );
}

#[test]
fn an_unterminated_block_is_never_written() {
    let parsed = parse("```python app.py\nprint(1)\n", &[]);
    assert!(parsed.files.is_empty());
    assert_eq!(parsed.skipped[0].reason, reason::UNTERMINATED);
    assert_eq!(parsed.skipped[0].path.as_deref(), Some("app.py"));
}

#[test]
fn one_input_and_one_unnamed_block_replace_that_input() {
    let answer =
        "Here is the fixed file:\n```python\nx = 2\n```\nRun:\n```console\n$ python a.py\n```";
    let parsed = parse(answer, &["src/a.py"]);
    assert_eq!(parsed.files.len(), 1, "{parsed:#?}");
    assert_eq!(parsed.files[0].path, "src/a.py");
    assert_eq!(parsed.files[0].named_by, NamedBy::SoleInput);
    assert_eq!(parsed.skipped.len(), 1);
}

#[test]
fn the_sole_input_rule_needs_exactly_one_of_each() {
    let two_blocks = "```python\na\n```\n```python\nb\n```";
    assert!(parse(two_blocks, &["a.py"]).files.is_empty());
    assert!(
        parse("```python\na\n```", &["a.py", "b.py"])
            .files
            .is_empty()
    );
    assert!(parse("```python\na\n```", &[]).files.is_empty());
    // The input is already named: the unnamed snippet does not replace it.
    let named = "```python a.py\nx\n```\n```bash\npip install x\n```";
    let parsed = parse(named, &["./a.py"]);
    assert_eq!(parsed.files.len(), 1);
    assert_eq!(parsed.files[0].content, "x\n");
    assert_eq!(parsed.skipped[0].reason, reason::UNNAMED);
}

#[test]
fn the_last_block_for_a_path_wins() {
    let answer = "```a.py\nold\n```\n```b.py\nb\n```\nFixed:\n```./a.py\nnew\n```";
    let parsed = parse(answer, &[]);
    assert_eq!(parsed.files.len(), 2);
    assert_eq!(parsed.files[0].content, "new\n");
    assert_eq!(parsed.files[1].path, "b.py");
    assert_eq!(parsed.skipped[0].reason, reason::SUPERSEDED);
    assert_eq!(parsed.skipped[0].line, 1);
}

#[test]
fn hostile_paths_are_parsed_for_the_writer_to_reject() {
    for p in ["/etc/passwd", "../../x.txt", ".git/config", "a/../../b.sh"] {
        let parsed = parse(&format!("```{p}\nx\n```"), &[]);
        assert_eq!(parsed.files[0].path, p, "{parsed:#?}");
    }
}

#[test]
fn path_like_tokens() {
    for yes in [
        "a.py",
        "src/lib.rs",
        ".env",
        "Makefile/x",
        "a.test.ts",
        "c++/x.h",
        "x.c++",
    ] {
        assert!(is_path_like(yes), "{yes}");
    }
    for no in [
        "python",
        "Dockerfile",
        "3.11",
        "",
        "a b.py",
        "https://x.io/a.py",
        "end.",
        "wait...",
        "dir/",
    ] {
        assert!(!is_path_like(no), "{no}");
    }
}

#[test]
fn empty_blocks_and_bare_fences() {
    one("```a.txt\n```", "a.txt", "", NamedBy::InfoString);
    let parsed = parse("``` \n```", &[]);
    assert_eq!(parsed.skipped.len(), 1);
    assert_eq!(parse("no code at all", &[]), Parsed::default());
}

proptest::proptest! {
    #[test]
    fn never_panics_and_lf_equals_crlf(s in "(```[a-z./ ]{0,12}\n|[a-z#/*`: .]{0,20}\n){0,20}") {
        let lf = parse(&s, &["x.py"]);
        let crlf = parse(&s.replace('\n', "\r\n"), &["x.py"]);
        proptest::prop_assert_eq!(lf.files.len(), crlf.files.len());
        for (a, b) in lf.files.iter().zip(&crlf.files) {
            proptest::prop_assert_eq!(&a.content, &b.content);
        }
    }
}

proptest::proptest! {
    /// What codex-wrap sends (a file fenced by `fence_for` with its path) parses back to the
    /// same text, whatever fences the text holds.
    #[test]
    fn a_fenced_file_round_trips(lines in proptest::collection::vec("[ a-z`~#/*:.-]{0,12}", 0..12)) {
        let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
        let fence = crate::files::fence_for(&text);
        let answer = format!("Intro\n{fence}python src/app.py\n{text}{fence}\nOutro\n");
        let parsed = parse(&answer, &[]);
        proptest::prop_assert_eq!(parsed.files.len(), 1, "{}", answer);
        proptest::prop_assert_eq!(&parsed.files[0].path, "src/app.py");
        proptest::prop_assert_eq!(&parsed.files[0].content, &text);
    }
}
