//! The repair request: what the model is sent when the check fails: the original task, the
//! current content of the files written, and the tail of the check's output.

use super::check::CheckOutcome;
use super::fence_for;

/// A written file as it is on disk now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrentFile {
    /// Root-relative path.
    pub rel: String,
    /// Its text now.
    pub text: String,
}

/// Reads the files written so far (root-relative paths) as they are now; a file that is
/// gone or unreadable is left out.
pub fn current_files<'a>(
    root: &std::path::Path,
    paths: impl IntoIterator<Item = &'a str>,
) -> Vec<CurrentFile> {
    let mut files: Vec<CurrentFile> = Vec::new();
    for rel in paths {
        if files.iter().any(|f| f.rel == rel) {
            continue;
        }
        if let Ok(bytes) = std::fs::read(root.join(rel)) {
            files.push(CurrentFile {
                rel: rel.to_owned(),
                text: String::from_utf8_lossy(&bytes).into_owned(),
            });
        }
    }
    files
}

/// The user message of repair round `round` (2 for the first repair) of `rounds`.
pub fn repair_request(
    task: &str,
    files: &[CurrentFile],
    check: &CheckOutcome,
    round: usize,
    rounds: usize,
) -> String {
    let mut out = format!(
        "The check `{}` failed ({}) after your files were written (round {} of {rounds}). \
         Fix the files so that it passes.\n\n## Original task\n\n{}\n\n## Current files\n\n",
        check.command,
        check.describe(),
        round - 1,
        task.trim()
    );
    for f in files {
        let fence = fence_for(&f.text);
        out.push_str(&format!("{fence}{}\n{}", f.rel, f.text));
        if !f.text.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&fence);
        out.push_str("\n\n");
    }
    let what = if check.truncated {
        "last lines"
    } else {
        "all of it"
    };
    let fence = fence_for(&check.tail);
    out.push_str(&format!(
        "## Check output ({what})\n\n{fence}text\n{}",
        check.tail
    ));
    if !check.tail.ends_with('\n') {
        out.push('\n');
    }
    out.push_str(&fence);
    out.push_str(
        "\n\nAnswer with every file you change in full, each as a fenced block whose info \
         string is the language and the file's path.\n",
    );
    // Sent to a model: no known secret in it, whatever put it in a file or the output.
    crate::secrets::mask(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::blocks;
    use crate::files::check::CheckEnd;

    #[test]
    fn the_request_carries_task_files_and_output() {
        let check = CheckOutcome {
            command: "cargo test".into(),
            end: CheckEnd::Exited,
            exit_code: Some(101),
            signal: None,
            seconds: 2.5,
            tail: "test slug ... FAILED\nassertion failed".into(),
            truncated: true,
        };
        let files = [CurrentFile {
            rel: "src/lib.rs".into(),
            text: "/// ```\n/// slug(\"a\")\n/// ```\npub fn slug() {}\n".into(),
        }];
        let req = repair_request("add a slugify function", &files, &check, 2, 3);
        assert!(req.starts_with(
            "The check `cargo test` failed (exit 101) after your files were written (round 1 of 3)."
        ));
        assert!(req.contains("## Original task\n\nadd a slugify function\n"));
        assert!(req.contains(
            "## Check output (last lines)\n\n```text\ntest slug ... FAILED\nassertion failed\n```"
        ));
        // The file survives a round trip through the parser, inner fences included.
        let parsed = blocks::parse(&req, &[]);
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("a.rs"), "a\n").unwrap();
        let now = current_files(dir.path(), ["a.rs", "gone.rs", "a.rs"]);
        assert_eq!(
            now,
            [CurrentFile {
                rel: "a.rs".into(),
                text: "a\n".into()
            }]
        );
        assert_eq!(parsed.files.len(), 1);
        assert_eq!(parsed.files[0].path, "src/lib.rs");
        assert_eq!(parsed.files[0].content, files[0].text);
    }
}
