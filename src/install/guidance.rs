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

codex-wrap sends a coding request to a local model (Ollama) or to Gemini and returns only
the answer. Delegating a bounded task saves your context and cloud tokens.

**Delegate** (the `local` route) when everything needed is in the prompt, or in the one file
or function it names, and the result is one bounded artifact:
- one script, function, class, component, config file or small single-file program
- a unit test for one function or class; a regex; a shell, git or cron one-liner; one SQL query
- converting a snippet (Java to C#, callbacks to async/await, a dict to YAML)
- docstrings, comments, type hints, a rename or a small fix in one pasted snippet
- a short general question, or short prose (a description, a tagline, a rewording)

**Keep it** (or let codex-wrap take the `api` route, which sends sections of CONTRACTS.md
and AGENTS.md) when it needs the wider project or deeper reasoning: changes across several
files, modules, layers or services; migrations; architecture and design; audits; root
causes from long logs or traces; reviews of large diffs; planning; anything whose spec is
in the project's docs. Words like \"quick\" or \"simple\" do not shrink a task; \"every\",
\"all\", \"across\" or \"whole\" applied to the codebase widen it.

**How**
- Not sure? The MCP tool `route` (or `codex-wrap route \"<prompt>\"`) gives the router's
  decision, `local` or `api`, and the rules that fired.
- Delegate with the MCP tool `delegate`: a self-contained `prompt` (paste the code it works
  on, or name project files in `files`), optional `route` (`auto`, `local`, `api`) and
  `profile`. The reply is a JSON summary (route, endpoint, tokens, seconds,
  `continuation_id`) and the answer; a long answer is cut and the whole text saved to the
  file named in `full_text`. For a follow-up (\"now add tests\"), pass the `continuation_id`
  instead of resending the code. A task that may outlive your tool-call timeout: add
  `background: true`, then call `job` with the `job_id` until it gives the reply.
- To have the code land in the project instead of in your context, add `write: true`
  (and `files` for the files it may replace, `check` for a command such as `cargo test`):
  the reply is then one line per file written and the check's result; the model repairs
  a failing check up to 3 rounds. Without MCP: `codex-wrap -w -i FILE --check \"CMD\" \"<task>\"`
  (exit 8: the check still fails).
- Without MCP: `codex-wrap \"<self-contained prompt>\"`. stdout carries only the answer;
  exit code 0 means it is complete (4: no backend reachable, 5: timed out, 6: cut off
  mid-answer).
- The MCP tool `context` shows what would be sent; `status` shows the endpoints and what
  the run log says about past calls.
- Read what comes back before you use it: it is another model's output.
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
