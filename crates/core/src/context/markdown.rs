//! Markdown sections: ATX headings outside fenced code blocks.
//!
//! A section is its heading line and everything up to the next heading of the same or a
//! higher level, nested subsections included. Text before the first heading is a level-0
//! preamble. Setext headings (`Title` over `===`) are not sections: context files use ATX
//! headings, and a `---` rule under a paragraph is far more often a separator.

/// One section, by byte offsets into the parsed text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Section {
    /// 1..=6 for headings, 0 for the preamble.
    pub level: u8,
    /// Byte range of the heading text (trailing `#`s removed) in the parsed text.
    pub title: std::ops::Range<usize>,
    /// Start of the heading line.
    pub start: usize,
    /// Start of the next heading of any level (end of this section's own text).
    pub own_end: usize,
    /// Start of the next heading of the same or higher level (end with subsections).
    pub end: usize,
}

impl Section {
    /// The level-0 section holding the text before the first heading.
    fn preamble() -> Section {
        Section {
            level: 0,
            title: 0..0,
            start: 0,
            own_end: 0,
            end: 0,
        }
    }

    /// The heading text.
    pub fn title<'a>(&self, text: &'a str) -> &'a str {
        text.get(self.title.clone()).unwrap_or("")
    }
}

/// Parses `text` into sections in document order. Never panics; any text parses.
pub fn parse(text: &str) -> Vec<Section> {
    parse_with_code(text).0
}

/// Parses `text` into sections, and also returns the byte ranges of its fenced code blocks
/// (fence lines included; an unclosed fence runs to the end).
pub fn parse_with_code(text: &str) -> (Vec<Section>, Vec<std::ops::Range<usize>>) {
    let mut sections: Vec<Section> = Vec::with_capacity(64);
    let mut code: Vec<std::ops::Range<usize>> = Vec::new();
    let mut fence: Option<(u8, usize)> = None;
    let mut fence_start = 0;
    let bytes = text.as_bytes();
    // Only a line whose first byte after at most three spaces is `#`, a backtick or `~` can
    // open or close a fence or be a heading: jump from one such byte to the next, and past
    // the rest of its line.
    let mut pos = 0;
    while let Some(found) = memchr::memchr3(b'#', b'`', b'~', &bytes[pos..]) {
        let hit = pos + found;
        let line_end = memchr::memchr(b'\n', &bytes[hit..]).map_or(bytes.len(), |i| hit + i);
        pos = (line_end + 1).min(bytes.len());
        let indent = bytes[hit.saturating_sub(3)..hit]
            .iter()
            .rev()
            .take_while(|&&b| b == b' ')
            .count();
        let line_start = hit - indent;
        if line_start > 0 && bytes[line_start - 1] != b'\n' {
            continue;
        }
        let line = text[line_start..line_end].trim_end_matches('\r');
        if let Some((ch, len)) = fence {
            if is_fence_close(line, ch, len) {
                fence = None;
                code.push(fence_start..line_end);
            }
            continue;
        }
        if let Some(open) = fence_open(line) {
            fence = Some(open);
            fence_start = line_start;
            continue;
        }
        if let Some((level, title)) = atx_heading(line) {
            let title = line_start + title.start..line_start + title.end;
            if sections.is_empty() && line_start > 0 {
                sections.push(Section::preamble());
            }
            sections.push(Section {
                level,
                title,
                start: line_start,
                own_end: 0,
                end: 0,
            });
        }
    }
    if sections.is_empty() {
        sections.push(Section::preamble());
    }
    // Close each section: own text ends at the next heading; the whole section at the next
    // heading of the same or higher level. One pass with a stack of open sections.
    let n = sections.len();
    for i in 0..n {
        sections[i].own_end = sections.get(i + 1).map_or(text.len(), |s| s.start);
    }
    let mut open: Vec<usize> = Vec::new();
    for i in 0..n {
        let level = sections[i].level;
        while let Some(&top) = open.last() {
            if sections[top].level >= level && level > 0 {
                sections[top].end = sections[i].start;
                open.pop();
            } else {
                break;
            }
        }
        if level == 0 {
            sections[i].end = sections[i].own_end;
        } else {
            open.push(i);
        }
    }
    for i in open {
        sections[i].end = text.len();
    }
    if fence.is_some() {
        code.push(fence_start..text.len());
    }
    (sections, code)
}

/// `###  Title ##` → (3, range of "Title"). Up to three spaces of indent; a `#` run of
/// 1..=6 followed by a space, a tab or the end of the line.
fn atx_heading(line: &str) -> Option<(u8, std::ops::Range<usize>)> {
    let indent = line.len() - line.trim_start_matches(' ').len();
    if indent > 3 {
        return None;
    }
    let rest = &line[indent..];
    let hashes = rest.len() - rest.trim_start_matches('#').len();
    if !(1..=6).contains(&hashes) {
        return None;
    }
    let after = &rest[hashes..];
    if !(after.is_empty() || after.starts_with([' ', '\t'])) {
        return None;
    }
    let mut title = after.trim();
    // A closing run of #s, preceded by a space (or the whole title), is not part of it.
    let stripped = title.trim_end_matches('#');
    if stripped.is_empty() || stripped.ends_with([' ', '\t']) {
        title = stripped.trim_end();
    }
    let start = if title.is_empty() {
        line.len()
    } else {
        title.as_ptr() as usize - line.as_ptr() as usize
    };
    Some((hashes as u8, start..start + title.len()))
}

fn fence_open(line: &str) -> Option<(u8, usize)> {
    let t = line.trim_start_matches(' ');
    if line.len() - t.len() > 3 {
        return None;
    }
    fence_start(t)
}

fn is_fence_close(line: &str, ch: u8, len: usize) -> bool {
    let t = line.trim_start_matches(' ');
    line.len() - t.len() <= 3 && closes_fence(t, ch, len)
}

/// The fence character and length when `t` (a line without its indent) opens a CommonMark
/// code fence: three or more backticks or tildes, no backtick in a backtick fence's info.
pub fn fence_start(t: &str) -> Option<(u8, usize)> {
    let ch = *t.as_bytes().first()?;
    if ch != b'`' && ch != b'~' {
        return None;
    }
    let len = t.bytes().take_while(|&b| b == ch).count();
    if len < 3 {
        return None;
    }
    // A backtick fence's info string may not contain backticks.
    if ch == b'`' && t[len..].contains('`') {
        return None;
    }
    Some((ch, len))
}

/// Whether `t` (a line without its indent) closes a fence of `len` × `ch`: a run at least
/// as long, then only white space.
pub fn closes_fence(t: &str, ch: u8, len: usize) -> bool {
    let run = t.bytes().take_while(|&b| b == ch).count();
    run >= len && t[run..].trim().is_empty()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn titles(text: &str) -> Vec<(u8, String)> {
        parse(text)
            .into_iter()
            .map(|s| (s.level, s.title(text).to_owned()))
            .collect()
    }

    #[test]
    fn headings_in_fences_are_not_sections() {
        let doc = "# A\n```bash\n# not a heading\n```\n~~~~\n## nor this\n~~~\n~~~~\n## B\n";
        assert_eq!(titles(doc), [(1, "A".into()), (2, "B".into())]);
    }

    #[test]
    fn nested_sections_end_at_same_or_higher_level() {
        let doc = "intro\n# A\na\n## A1\nx\n### A1a\ny\n## A2\nz\n# B\nb\n";
        let s = parse(doc);
        let by = |t: &str| s.iter().find(|x| x.title(doc) == t).unwrap().clone();
        assert_eq!(s[0].level, 0);
        assert_eq!(&doc[s[0].start..s[0].end], "intro\n");
        assert_eq!(
            &doc[by("A").start..by("A").end],
            "# A\na\n## A1\nx\n### A1a\ny\n## A2\nz\n"
        );
        assert_eq!(&doc[by("A1").start..by("A1").end], "## A1\nx\n### A1a\ny\n");
        assert_eq!(&doc[by("A1").start..by("A1").own_end], "## A1\nx\n");
        assert_eq!(&doc[by("B").start..by("B").end], "# B\nb\n");
    }

    #[test]
    fn trailing_hashes_crlf_and_not_headings() {
        let doc = "## Title ##\r\n#NoSpace\r\n####### seven\r\n    # indented code\r\n#\r\n### C# notes\r\n";
        assert_eq!(
            titles(doc),
            [
                (2, "Title".into()),
                (1, String::new()),
                (3, "C# notes".into())
            ]
        );
    }

    #[test]
    fn setext_looking_lines_are_not_headings() {
        let doc = "# A\nTitle\n=====\n\nText\n---\n# B\n";
        assert_eq!(titles(doc), [(1, "A".into()), (1, "B".into())]);
    }

    #[test]
    fn code_blocks_are_found_with_their_fences() {
        let doc = "# A\n```bash\nls\n```\ntext\n~~~\nopen";
        let (_, code) = parse_with_code(doc);
        assert_eq!(
            code.iter().map(|r| &doc[r.clone()]).collect::<Vec<_>>(),
            ["```bash\nls\n```", "~~~\nopen"]
        );
    }

    #[test]
    fn unclosed_fence_swallows_the_rest() {
        assert_eq!(titles("# A\n```\n# B\n"), [(1, "A".into())]);
    }

    #[test]
    fn empty_and_headings_only() {
        assert_eq!(parse("").len(), 1);
        assert_eq!(
            titles("# A\n## B\n# C"),
            [(1, "A".into()), (2, "B".into()), (1, "C".into())]
        );
    }

    proptest! {
        #[test]
        fn any_text_parses_and_own_spans_cover_it_in_order(
            bytes in proptest::collection::vec(any::<u8>(), 0..400)
        ) {
            let text = String::from_utf8_lossy(&bytes);
            let sections = parse(&text);
            let mut at = 0;
            for s in &sections {
                prop_assert_eq!(s.start, at);
                prop_assert!(s.own_end >= s.start && s.end >= s.own_end && s.end <= text.len());
                at = s.own_end;
            }
            prop_assert_eq!(at, text.len());
        }

        #[test]
        fn markdown_like_text_parses_consistently(
            lines in proptest::collection::vec(
                prop_oneof![
                    Just("# A".to_owned()), Just("## B".to_owned()), Just("### C".to_owned()),
                    Just("```".to_owned()), Just("~~~".to_owned()), Just("text".to_owned()),
                    Just(String::new()), "[a-z #`~]{0,12}"
                ],
                0..40,
            )
        ) {
            let text = lines.join("\n");
            let sections = parse(&text);
            let mut at = 0;
            for s in &sections {
                prop_assert_eq!(s.start, at);
                at = s.own_end;
                prop_assert!(text.is_char_boundary(s.start) && text.is_char_boundary(s.end));
            }
            prop_assert_eq!(at, text.len());
        }
    }
}
