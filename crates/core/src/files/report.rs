//! Renderers of the write results: the summary an assistant reads on stdout, the same as
//! JSON fields, and the `--dry-run` unified diff.

use serde_json::{Value, json};
use similar::TextDiff;

use super::blocks::SkippedBlock;
use super::write::{Action, FileResult, Planned};

/// One line per file, then one per block that was not written:
///
/// ```text
/// created app/main.py (42 lines)
/// updated src/lib.rs (120 lines)
/// skipped README.md (exists; use --force)
/// rejected ../../x (path leaves the project root (..))
/// not written: block at line 30 (bash, 2 lines): no path: ...
/// ```
///
/// With `dry_run` the verbs read `would create`, `would update`.
pub fn summary(files: &[FileResult], blocks: &[SkippedBlock], dry_run: bool) -> String {
    let mut out = String::new();
    for f in files {
        let verb = match (dry_run, f.action) {
            (true, Action::Created) => "would create",
            (true, Action::Updated) => "would update",
            (_, action) => action.as_str(),
        };
        out.push_str(verb);
        out.push(' ');
        if f.action == Action::Rejected {
            // A rejected name is the model's text: escaped, so control, bidirectional and
            // invisible characters show as what they are instead of acting on the terminal.
            out.extend(f.path.chars().flat_map(char::escape_debug));
        } else {
            out.push_str(&f.path);
        }
        match (&f.reason, f.action) {
            (Some(reason), _) => out.push_str(&format!(" ({reason})")),
            (None, Action::Created | Action::Updated) => {
                out.push_str(&format!(" ({} {})", f.lines, plural(f.lines, "line")));
            }
            (None, _) => {}
        }
        out.push('\n');
    }
    for b in blocks {
        out.push_str(&format!("not written: block at line {}", b.line));
        let mut what = Vec::new();
        if let Some(path) = &b.path {
            what.push(path.chars().flat_map(char::escape_debug).collect());
        }
        if let Some(lang) = &b.lang {
            what.push(lang.clone());
        }
        what.push(format!("{} {}", b.lines, plural(b.lines, "line")));
        out.push_str(&format!(" ({}): {}\n", what.join(", "), b.reason));
    }
    out
}

fn plural(n: usize, word: &str) -> String {
    if n == 1 {
        word.to_owned()
    } else {
        format!("{word}s")
    }
}

/// The JSON fields: `files: [{path, action, bytes, lines, sha256, reason?}]` and
/// `blocks_not_written: [{line, lang, lines, path, reason}]`.
pub fn json(files: &[FileResult], blocks: &[SkippedBlock]) -> Value {
    json!({ "files": files, "blocks_not_written": blocks })
}

/// The unified diff of what would be written (created and updated files only), paths as
/// `a/PATH` and `b/PATH`, `/dev/null` for a new file.
pub fn diff(planned: &[Planned]) -> String {
    let mut out = String::new();
    for p in planned {
        if !matches!(p.result.action, Action::Created | Action::Updated) {
            continue;
        }
        let old = p.old.as_deref().unwrap_or("");
        let (a, b) = match p.old {
            Some(_) => (
                format!("a/{}", p.result.path),
                format!("b/{}", p.result.path),
            ),
            None => ("/dev/null".to_owned(), format!("b/{}", p.result.path)),
        };
        let diff = TextDiff::from_lines(old, p.new.as_str());
        out.push_str(
            &diff
                .unified_diff()
                .context_radius(3)
                .header(&a, &b)
                .to_string(),
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::files::blocks::{self, FileBlock};
    use crate::files::write::{self, WriteOptions};

    fn planned(root: &std::path::Path) -> Vec<Planned> {
        std::fs::write(root.join("old.txt"), "one\ntwo\n").unwrap();
        std::fs::write(root.join("keep.txt"), "mine\n").unwrap();
        let files = [
            FileBlock::named("app/main.py", "a\nb\n"),
            FileBlock::named("old.txt", "one\nthree\n"),
            FileBlock::named("keep.txt", "theirs\n"),
            FileBlock::named("../x", "x\n"),
        ];
        write::plan(root, &files, &["old.txt".into()], &WriteOptions::default()).unwrap()
    }

    #[test]
    fn the_summary_has_one_line_per_file_and_block() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let planned = planned(&root);
        let results = write::apply(&root, &planned).unwrap();
        let skipped = blocks::parse("```bash\nmake\n```", &[]).skipped;
        assert_eq!(
            summary(&results, &skipped, false),
            "created app/main.py (2 lines)\n\
             updated old.txt (2 lines)\n\
             skipped keep.txt (exists; use --force)\n\
             rejected ../x (path leaves the project root (..))\n\
             not written: block at line 1 (bash, 1 line): no path: name the file in the fence info, on the line before, or in a first-line comment\n"
        );
        assert!(
            summary(&results, &[], true)
                .starts_with("would create app/main.py (2 lines)\nwould update old.txt")
        );
        let j = json(&results, &skipped);
        assert_eq!(j["files"][0]["action"], "created");
        assert_eq!(j["files"][0]["lines"], 2);
        assert_eq!(j["files"][0]["bytes"], 4);
        assert!(j["files"][0].get("reason").is_none());
        assert_eq!(j["files"][2]["reason"], "exists; use --force");
        assert_eq!(j["blocks_not_written"][0]["lang"], "bash");
    }

    #[test]
    fn a_dry_run_diff_shows_new_and_changed_files_and_writes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let d = diff(&planned(&root));
        assert_eq!(
            d,
            "--- /dev/null\n+++ b/app/main.py\n@@ -0,0 +1,2 @@\n+a\n+b\n\
             --- a/old.txt\n+++ b/old.txt\n@@ -1,2 +1,2 @@\n one\n-two\n+three\n"
        );
        assert!(!root.join("app").exists());
        assert_eq!(
            std::fs::read_to_string(root.join("old.txt")).unwrap(),
            "one\ntwo\n"
        );
    }
}
