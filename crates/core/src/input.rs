//! Where the prompt comes from: words, `-f FILE`, a lone word naming a file, or stdin.

use std::io::{IsTerminal, Read};
use std::path::Path;

use crate::error::Error;

/// Reads the prompt. Empty or blank is a usage error, and a terminal on stdin is never
/// waited on. `-f FILE` with words: the words are the instruction and the file the material
/// it works on, sent after it in a fence labelled with the file's name.
pub fn read_prompt(words: &[String], file: Option<&Path>) -> Result<String, Error> {
    let text = if let Some(path) = file {
        let material = read_file(path)?;
        let instruction = words.join(" ");
        if instruction.trim().is_empty() {
            material
        } else {
            with_material(instruction.trim(), path, &material)
        }
    } else if let [one] = words {
        let path = Path::new(one);
        // As codex_wrap.sh did: a lone argument naming a file is the prompt's file.
        if !one.contains('\n') && path.is_file() {
            read_file(path)?
        } else {
            one.clone()
        }
    } else if !words.is_empty() {
        words.join(" ")
    } else if std::io::stdin().is_terminal() {
        return Err(Error::Usage(
            "no prompt: pass it as arguments, with -f FILE, or on stdin (see --help)".to_owned(),
        ));
    } else {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::Usage(format!("cannot read the prompt from stdin: {e}")))?;
        decode(bytes, "stdin")
    };
    let trimmed = text.trim();
    if trimmed.is_empty() {
        return Err(Error::Usage(
            "the prompt is empty: give the task as arguments, with -f FILE, or on stdin".to_owned(),
        ));
    }
    Ok(trimmed.to_owned())
}

/// `instruction`, a blank line, the file's name, and its text in a fence longer than any
/// backtick run inside it, so a Markdown file's own fences stay whole.
fn with_material(instruction: &str, path: &Path, material: &str) -> String {
    let longest = material
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let name = path.file_name().map_or_else(
        || path.display().to_string(),
        |n| n.to_string_lossy().into_owned(),
    );
    let material = material.trim_end_matches(['\n', '\r']);
    format!("{instruction}\n\n{name}:\n{fence}\n{material}\n{fence}")
}

fn read_file(path: &Path) -> Result<String, Error> {
    let bytes = std::fs::read(path).map_err(|e| {
        Error::Usage(format!(
            "cannot read the prompt file {}: {e}",
            path.display()
        ))
    })?;
    Ok(decode(bytes, &path.display().to_string()))
}

fn decode(bytes: Vec<u8>, what: &str) -> String {
    match String::from_utf8(bytes) {
        Ok(s) => s,
        Err(e) => {
            tracing::warn!("the prompt from {what} is not valid UTF-8; invalid bytes replaced");
            String::from_utf8_lossy(e.as_bytes()).into_owned()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn material_is_fenced_longer_than_its_own_fences() {
        let p = Path::new("dir/notes.md");
        assert_eq!(
            with_material("fix it", p, "a\n"),
            "fix it\n\nnotes.md:\n```\na\n```"
        );
        assert_eq!(
            with_material("x", p, "```sh\nls\n```\n"),
            "x\n\nnotes.md:\n````\n```sh\nls\n```\n````"
        );
    }
}
