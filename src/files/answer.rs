//! One answer's files end to end, for the `--write` sink: parse the answer, plan the writes,
//! write them (or, in a dry run, diff them), and report.

use std::path::Path;

use serde_json::Value;

use super::blocks::{self, SkippedBlock};
use super::guard;
use super::report;
use super::restore::Ledger;
use super::write::{self, Action, FileResult, WriteOptions};

/// What one answer did to the project.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WriteReport {
    /// One result per file the answer named.
    pub files: Vec<FileResult>,
    /// Blocks that were not written (no path, cut off, superseded).
    pub not_written: Vec<SkippedBlock>,
    /// In a dry run, the unified diff of what would be written; nothing was written.
    pub diff: Option<String>,
}

impl WriteReport {
    /// The summary for stdout: one line per file and per block not written.
    pub fn summary(&self) -> String {
        report::summary(&self.files, &self.not_written, self.diff.is_some())
    }

    /// The JSON fields `files` and `blocks_not_written`.
    pub fn json(&self) -> Value {
        report::json(&self.files, &self.not_written)
    }

    /// Files created or updated (or, in a dry run, that would be).
    pub fn changed(&self) -> usize {
        self.files
            .iter()
            .filter(|f| matches!(f.action, Action::Created | Action::Updated))
            .count()
    }

    /// The paths now holding the answer's text: created, updated or already the same.
    pub fn written(&self) -> impl Iterator<Item = &str> {
        self.files
            .iter()
            .filter(|f| {
                matches!(
                    f.action,
                    Action::Created | Action::Updated | Action::Unchanged
                )
            })
            .map(|f| f.path.as_str())
    }
}

/// Parses `answer` and writes its files under the canonical `root`. `inputs` are the
/// root-relative `-i` paths (they may be replaced; with exactly one, a lone unnamed block
/// replaces it). Errors: the answer is over the limits (nothing written), or a write failed
/// (`write::WriteError`: that file is left as it was, later ones not written).
pub fn write_answer(
    root: &Path,
    answer: &str,
    inputs: &[String],
    opts: &WriteOptions,
    dry_run: bool,
) -> anyhow::Result<WriteReport> {
    write_answer_into(root, answer, inputs, opts, dry_run, &mut Ledger::default())
}

/// [`write_answer`], recording in `ledger` what each file held before the task first wrote
/// it and what it holds now, so a failed task can put it back.
pub fn write_answer_into(
    root: &Path,
    answer: &str,
    inputs: &[String],
    opts: &WriteOptions,
    dry_run: bool,
    ledger: &mut Ledger,
) -> anyhow::Result<WriteReport> {
    let input_refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
    let mut parsed = blocks::parse(answer, &input_refs);
    let read = |rel: &str| -> Option<String> {
        // Inputs only: resolved inside the root when they were given.
        inputs.iter().any(|i| i == rel).then_some(())?;
        let bytes = std::fs::read(root.join(rel)).ok()?;
        String::from_utf8(bytes).ok()
    };
    guard::shape(&mut parsed, inputs, &read, opts.force, opts.truncated)?;
    let planned = write::plan(root, &parsed.files, inputs, opts)?;
    let (files, diff) = if dry_run {
        let files = planned.iter().map(|p| p.result.clone()).collect();
        (files, Some(report::diff(&planned)))
    } else {
        ledger.before_write(root, &planned);
        match write::apply_until(root, &planned, opts.stop.as_deref()) {
            Ok(files) => {
                ledger.written(&planned, &files);
                (files, None)
            }
            Err(e) => {
                ledger.written(&planned, &e.done);
                return Err(e.into());
            }
        }
    };
    Ok(WriteReport {
        files,
        not_written: parsed.skipped,
        diff,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const ANSWER: &str = "Here you go.\n\n**app/main.py**\n```python\nprint('hi')\n```\n\n\
        ```python\n# tests/test_main.py\nimport app.main\n```\n\nRun:\n```bash\npython app/main.py\n```\n";

    #[test]
    fn an_answer_lands_on_disk_and_is_summarised() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let r = write_answer(&root, ANSWER, &[], &WriteOptions::default(), false).unwrap();
        assert_eq!(
            r.summary(),
            "created app/main.py (1 line)\ncreated tests/test_main.py (1 line)\n\
             not written: block at line 14 (bash, 1 line): no path: name the file in the fence \
             info, on the line before, or in a first-line comment\n"
        );
        assert_eq!(r.changed(), 2);
        assert_eq!(
            r.written().collect::<Vec<_>>(),
            ["app/main.py", "tests/test_main.py"]
        );
        assert_eq!(
            std::fs::read_to_string(root.join("tests/test_main.py")).unwrap(),
            "import app.main\n"
        );
        assert_eq!(r.json()["files"][1]["path"], "tests/test_main.py");
        // The same answer again changes nothing.
        let again = write_answer(&root, ANSWER, &[], &WriteOptions::default(), false).unwrap();
        assert!(again.summary().starts_with("unchanged app/main.py\n"));
        assert_eq!(again.changed(), 0);
    }

    #[test]
    fn a_dry_run_writes_nothing_and_diffs() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let r = write_answer(&root, ANSWER, &[], &WriteOptions::default(), true).unwrap();
        assert!(
            r.summary()
                .starts_with("would create app/main.py (1 line)\n")
        );
        let diff = r.diff.unwrap();
        assert!(
            diff.starts_with("--- /dev/null\n+++ b/app/main.py\n@@ -0,0 +1 @@\n+print('hi')\n")
        );
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 0);
    }

    #[test]
    fn the_sole_input_is_replaced_and_over_limit_answers_write_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        std::fs::write(root.join("lib.py"), "old\n").unwrap();
        let r = write_answer(
            &root,
            "Fixed:\n```python\nnew\n```",
            &["lib.py".into()],
            &WriteOptions::default(),
            false,
        )
        .unwrap();
        assert_eq!(r.summary(), "updated lib.py (1 line)\n");
        let many: String = (0..300).map(|i| format!("```f{i}.txt\nx\n```\n")).collect();
        let err = write_answer(&root, &many, &[], &WriteOptions::default(), false).unwrap_err();
        assert!(err.to_string().contains("nothing written"), "{err}");
        assert_eq!(std::fs::read_dir(&root).unwrap().count(), 1);
    }

    #[test]
    fn the_summary_of_a_300_line_file_is_under_5_percent_of_it() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().canonicalize().unwrap();
        let body: String = (0..300)
            .map(|i| format!("def handler_{i}(request):\n"))
            .collect();
        let answer = format!("Here it is.\n\n```python app/handlers.py\n{body}```\n");
        let r = write_answer(&root, &answer, &[], &WriteOptions::default(), false).unwrap();
        let summary = r.summary();
        assert_eq!(summary, "created app/handlers.py (300 lines)\n");
        let written = r.files[0].bytes;
        // 36 bytes for 7,690: 0.47%.
        assert_eq!((summary.len(), written), (36, 7690));
        assert!(summary.len() * 20 <= written);
    }
}
