//! Where the prompt comes from: words, `-f FILE`, a lone word naming a file, or stdin.

use std::io::{IsTerminal, Read};
use std::path::Path;

use crate::error::Error;

/// Reads the prompt. Empty or blank is a usage error, and a terminal on stdin is never
/// waited on.
pub fn read_prompt(words: &[String], file: Option<&Path>) -> Result<String, Error> {
    let text = if let Some(path) = file {
        read_file(path)?
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
