//! SEARCH/REPLACE edit blocks, in aider's format: the file's path on its own line, then a
//! fence holding
//!
//! ```text
//! <<<<<<< SEARCH
//! the old lines
//! =======
//! the new lines
//! >>>>>>> REPLACE
//! ```
//!
//! (several per fence, several fences per answer). Each block's SEARCH text must match the
//! file exactly once: exactly first, then ignoring white space at the ends of lines. A block
//! that matches nowhere or more than once is an error naming it, never a guess. An empty
//! SEARCH appends. Big input files are asked for edit blocks ([`directive`]); they are
//! accepted for any file.

use super::inputs::InputFile;

/// Why edit blocks could not be applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EditError {
    /// No place matches.
    #[error("edit block {0}'s SEARCH text matches nowhere in the file; copy the lines exactly")]
    Nowhere(usize),
    /// Several places match.
    #[error(
        "edit block {0}'s SEARCH text matches {1} places in the file; include more lines so it matches one"
    )]
    Ambiguous(usize, usize),
    /// Markers out of order or unclosed.
    #[error("edit block {0} is malformed: {1}")]
    Malformed(usize, &'static str),
}

/// The extra directive for inputs over `above` lines: change them with edit blocks.
pub fn directive(inputs: &[InputFile], above: usize) -> String {
    let big: Vec<&str> = inputs
        .iter()
        .filter(|f| f.text.lines().count() > above)
        .map(|f| f.rel.as_str())
        .collect();
    if big.is_empty() {
        return String::new();
    }
    format!(
        "These files are long: change them with SEARCH/REPLACE edit blocks, never by writing \
         them whole: {}. For each change, write the file's path on its own line, then a fenced \
         block holding `<<<<<<< SEARCH`, the exact current lines to change (a few, unique in \
         the file), `=======`, the new lines, `>>>>>>> REPLACE`. Example:\n\n{}\n```python\n\
         <<<<<<< SEARCH\ndef area(r):\n    return 3.14 * r * r\n=======\ndef area(r):\n    \
         return math.pi * r * r\n>>>>>>> REPLACE\n```",
        big.join(", "),
        big[0]
    )
}

fn is_search(line: &str) -> bool {
    let t = line.trim();
    t.len() > 7 && t.starts_with("<<<<<<<") && t.trim_start_matches('<').trim() == "SEARCH"
}

fn is_divider(line: &str) -> bool {
    let t = line.trim();
    t.len() >= 7 && t.bytes().all(|b| b == b'=')
}

fn is_replace(line: &str) -> bool {
    let t = line.trim();
    t.len() > 7 && t.starts_with(">>>>>>>") && t.trim_start_matches('>').trim() == "REPLACE"
}

/// Whether a block's content holds edit blocks.
pub fn has_blocks(content: &str) -> bool {
    content.lines().any(is_search) && content.lines().any(is_replace)
}

/// One edit: the SEARCH lines and the REPLACE lines.
type Hunk<'a> = (Vec<&'a str>, Vec<&'a str>);

/// The hunks of a block's content.
fn hunks(content: &str) -> Result<Vec<Hunk<'_>>, EditError> {
    let mut out = Vec::new();
    let mut lines = content.lines();
    while let Some(line) = lines.next() {
        if !is_search(line) {
            continue;
        }
        let n = out.len() + 1;
        let mut search = Vec::new();
        let mut found = false;
        for l in lines.by_ref() {
            if is_divider(l) {
                found = true;
                break;
            }
            if is_search(l) || is_replace(l) {
                return Err(EditError::Malformed(n, "no ======= line after SEARCH"));
            }
            search.push(l);
        }
        if !found {
            return Err(EditError::Malformed(n, "no ======= line after SEARCH"));
        }
        let mut replace = Vec::new();
        found = false;
        for l in lines.by_ref() {
            if is_replace(l) {
                found = true;
                break;
            }
            if is_search(l) {
                return Err(EditError::Malformed(n, "no >>>>>>> REPLACE line"));
            }
            replace.push(l);
        }
        if !found {
            return Err(EditError::Malformed(n, "no >>>>>>> REPLACE line"));
        }
        out.push((search, replace));
    }
    Ok(out)
}

/// Applies the edit blocks in `content` to `old`, in order; the text with LF endings.
pub fn apply(old: &str, content: &str) -> Result<String, EditError> {
    let mut text = old.replace("\r\n", "\n");
    for (i, (search, replace)) in hunks(content)?.into_iter().enumerate() {
        let n = i + 1;
        let mut lines: Vec<String> = text.lines().map(str::to_owned).collect();
        if search.iter().all(|l| l.trim().is_empty()) {
            lines.extend(replace.iter().map(|l| (*l).to_owned()));
        } else {
            let at = find(&lines, &search, |a, b| a == b, n)?;
            let (start, new) = match at {
                Some(start) => (start, replace.iter().map(|l| (*l).to_owned()).collect()),
                None => {
                    let start = find(&lines, &search, |a, b| a.trim() == b.trim(), n)?
                        .ok_or(EditError::Nowhere(n))?;
                    (start, reindent(&lines[start], search[0], &replace))
                }
            };
            lines.splice(start..start + search.len(), new);
        }
        text = lines.join("\n");
        text.push('\n');
    }
    Ok(text)
}

/// Where `search` matches `lines` once; `None` when nowhere; an error when several times.
fn find(
    lines: &[String],
    search: &[&str],
    eq: impl Fn(&str, &str) -> bool,
    n: usize,
) -> Result<Option<usize>, EditError> {
    if search.len() > lines.len() {
        return Ok(None);
    }
    let hits: Vec<usize> = (0..=lines.len() - search.len())
        .filter(|&s| search.iter().enumerate().all(|(k, l)| eq(&lines[s + k], l)))
        .collect();
    match hits.as_slice() {
        [] => Ok(None),
        [one] => Ok(Some(*one)),
        many => Err(EditError::Ambiguous(n, many.len())),
    }
}

/// The replacement lines moved to the file's indentation when the SEARCH text was
/// indented differently.
fn reindent(file_line: &str, search_line: &str, replace: &[&str]) -> Vec<String> {
    let indent = |s: &str| s.len() - s.trim_start().len();
    let (have, given) = (
        &file_line[..indent(file_line)],
        &search_line[..indent(search_line)],
    );
    replace
        .iter()
        .map(|l| match l.strip_prefix(given) {
            Some(rest) if !l.trim().is_empty() => format!("{have}{rest}"),
            _ => (*l).to_owned(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const FILE: &str =
        "def a():\n    return 1\n\ndef b():\n    return 2\n\ndef c():\n    return 2\n";

    #[test]
    fn a_block_changes_exactly_its_hunk() {
        let out = apply(
            FILE,
            "<<<<<<< SEARCH\ndef b():\n    return 2\n=======\ndef b():\n    return 20\n>>>>>>> REPLACE\n<<<<<<< SEARCH\n=======\n\ndef d():\n    pass\n>>>>>>> REPLACE\n",
        )
        .unwrap();
        assert_eq!(
            out,
            FILE.replacen("return 2\n", "return 20\n", 1) + "\ndef d():\n    pass\n"
        );
    }

    #[test]
    fn white_space_tolerant_then_never_a_guess() {
        let out = apply(
            FILE,
            "<<<<<<< SEARCH\n  def a():  \n      return 1\n=======\n  def a():\n      return 10\n>>>>>>> REPLACE\n",
        )
        .unwrap();
        assert!(out.starts_with("def a():\n    return 10\n\n"), "{out}");
        assert_eq!(
            apply(
                FILE,
                "<<<<<<< SEARCH\n    return 2\n=======\n    return 3\n>>>>>>> REPLACE\n"
            ),
            Err(EditError::Ambiguous(1, 2))
        );
        assert_eq!(
            apply(
                FILE,
                "<<<<<<< SEARCH\nnothing\n=======\nx\n>>>>>>> REPLACE\n"
            ),
            Err(EditError::Nowhere(1))
        );
        assert!(matches!(
            apply(FILE, "<<<<<<< SEARCH\nx\n>>>>>>> REPLACE\n"),
            Err(EditError::Malformed(1, _))
        ));
        assert!(has_blocks("<<<<<<< SEARCH\n=======\n>>>>>>> REPLACE\n"));
        assert!(!has_blocks("=======\n"));
    }
}
