//! The guidance block in the project's instructions file (CLAUDE.md, AGENTS.md, GEMINI.md):
//! when to delegate to codex-wrap and how, between two marker lines. Nothing outside the
//! markers is ever changed; removing the block gives back the file's original bytes.

/// First line of the block.
const BEGIN: &str = "<!-- codex-wrap:begin (written by `codex-wrap install`; `codex-wrap install --uninstall` removes it) -->";
/// Last line of the block.
const END: &str = "<!-- codex-wrap:end -->";

/// What the assistant is told: the router's rubric in short, and how to call.
const BODY: &str = "\
## Delegating to codex-wrap

codex-wrap hands a coding task to a local model (or Gemini) and returns only the result,
saving your context and cloud tokens.

**Delegate** one bounded artifact the prompt fully describes: a script, function, class,
component, config file, unit test, regex, one-liner or SQL query; converting or documenting
one snippet; a short general question. **Keep** work that needs the wider project or deeper
reasoning: changes across files or layers, migrations, design, audits, long logs, large
diffs, planning, anything specified in the project's docs. Not sure: the tool `route`.

Use the MCP tool `delegate` with a self-contained `prompt` (paste the code, or name files in
`files`); `write: true` lands the files in the project and `check` (e.g. `cargo test`) has
the model repair a failing check. Follow up with `continuation_id` instead of resending the
code. A task that may outlive your tool-call timeout: `background: true`, then poll `job`
with the `job_id` until it gives the reply. Without MCP: `codex-wrap \"<prompt>\"` (stdout
is the answer; exit 0 means complete) or `codex-wrap -w -i FILE --check \"CMD\" \"<task>\"`.
Review what comes back: it is another model's output.
";

/// The whole block, markers included, ending with a newline.
fn block() -> String {
    format!("{BEGIN}\n{BODY}{END}\n")
}

/// Where the block is: from the start of the begin marker's line to the end of the end
/// marker's line (its newline included).
fn span(text: &str) -> Result<Option<(usize, usize)>, String> {
    let begin = line_starting(text, "<!-- codex-wrap:begin");
    let end = line_starting(text, END);
    match (begin, end) {
        (None, None) => Ok(None),
        (Some(b), Some(e)) if e > b => {
            let stop = text[e..].find('\n').map_or(text.len(), |n| e + n + 1);
            Ok(Some((b, stop)))
        }
        _ => Err("the codex-wrap markers are unbalanced; fix or remove them by hand".to_owned()),
    }
}

/// The offset of the first line that starts with `prefix`.
fn line_starting(text: &str, prefix: &str) -> Option<usize> {
    let mut offset = 0;
    for line in text.split_inclusive('\n') {
        if line.starts_with(prefix) {
            return Some(offset);
        }
        offset += line.len();
    }
    None
}

/// Whether `text` holds the block (its begin marker).
pub(super) fn present(text: &str) -> bool {
    line_starting(text, "<!-- codex-wrap:begin").is_some()
}

/// `text` with the block in place: replaced between existing markers, or appended after
/// one newline (a new file holds the block alone). `None`: no file yet.
pub(super) fn install(text: Option<&str>) -> Result<String, String> {
    let Some(text) = text else {
        return Ok(block());
    };
    Ok(match span(text)? {
        Some((b, e)) => format!("{}{}{}", &text[..b], block(), &text[e..]),
        None => format!("{text}\n{}", block()),
    })
}

/// `text` without the block and the one newline `install` put before it. `None`: the file
/// held the block alone (as `install` creates it), so it can go.
pub(super) fn uninstall(text: &str) -> Result<Option<String>, String> {
    let Some((b, e)) = span(text)? else {
        return Ok(Some(text.to_owned()));
    };
    if b == 0 && e == text.len() {
        return Ok(None);
    }
    let b = if text[..b].ends_with('\n') { b - 1 } else { b };
    Ok(Some(format!("{}{}", &text[..b], &text[e..])))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn round_trip(original: &str) {
        let with = install(Some(original)).unwrap();
        assert!(
            with.starts_with(original),
            "nothing before the block changes"
        );
        assert_eq!(install(Some(&with)).unwrap(), with, "idempotent");
        assert_eq!(uninstall(&with).unwrap().as_deref(), Some(original));
    }

    #[test]
    fn uninstall_gives_back_the_original_bytes() {
        round_trip("# Notes\n\nSome text.\n");
        round_trip("no trailing newline");
        round_trip("");
        round_trip("\n\n");
    }

    #[test]
    fn a_new_file_holds_the_block_alone_and_goes_on_uninstall() {
        let fresh = install(None).unwrap();
        assert!(fresh.starts_with("<!-- codex-wrap:begin"));
        assert_eq!(uninstall(&fresh).unwrap(), None);
    }

    #[test]
    fn an_old_block_is_replaced_in_place() {
        let text = format!("top\n{BEGIN}\nold words\n{END}\nbottom\n");
        let updated = install(Some(&text)).unwrap();
        assert_eq!(updated, format!("top\n{}bottom\n", block()));
    }

    #[test]
    fn unbalanced_markers_are_an_error() {
        assert!(install(Some(&format!("{END}\n{BEGIN}\n"))).is_err());
        assert!(uninstall(&format!("{BEGIN}\n")).is_err());
    }
}
