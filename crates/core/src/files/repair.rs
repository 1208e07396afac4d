//! The repair request: what the model is sent when the check fails: the original task, the
//! current content of the files written, and the tail of the check's output.

use serde_json::{Map, Value};

use super::check::CheckOutcome;
use super::fence_for;

/// What a round after a failed one sends (`--repair`, `[files] repair`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// The repair request: the task, the files as they are now and the check's output
    /// (or why the answer was not written), for a model that can use them.
    #[default]
    Feedback,
    /// The task asked again as in round 1, sampled anew ([`resample_options`]): several
    /// independent answers with the check as the judge, for a model too small to repair
    /// its own code (measured in docs/eval.md).
    Resample,
}

impl Strategy {
    /// What `--repair` and `[files] repair` may be, as an error message says it.
    pub const NAMES: &'static str = "feedback or resample";

    /// `feedback` or `resample`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Feedback => "feedback",
            Strategy::Resample => "resample",
        }
    }

    /// A strategy by its name (surrounding spaces ignored).
    pub fn parse(name: &str) -> Option<Strategy> {
        match name.trim() {
            "feedback" => Some(Strategy::Feedback),
            "resample" => Some(Strategy::Resample),
            _ => None,
        }
    }
}

/// The temperature of a resampled round when the profile's is lower (greedy decoding
/// would give the same answer again). Chosen on SmolLM2-135M, HumanEval 0-59: at 0.8 its
/// answers wander off (no task rescued); at 0.4 round 2 rescued a task.
pub const RESAMPLE_TEMPERATURE: f64 = 0.4;

/// The sampling of resampled round `round` (2 for the first repair), from round 1's
/// options: a temperature of at least [`RESAMPLE_TEMPERATURE`] when the profile sets a
/// lower one (none set: the server's default, which samples), and a seed moved on by the
/// round when the profile pins one (none: the server picks one per request).
pub fn resample_options(first: &Map<String, Value>, round: usize) -> Map<String, Value> {
    let mut options = first.clone();
    if let Some(t) = first.get("temperature").and_then(Value::as_f64)
        && t < RESAMPLE_TEMPERATURE
    {
        options.insert("temperature".into(), RESAMPLE_TEMPERATURE.into());
    }
    if let Some(seed) = first.get("seed").and_then(Value::as_i64) {
        let step = i64::try_from(round.saturating_sub(1)).unwrap_or(i64::MAX);
        options.insert("seed".into(), seed.wrapping_add(step).into());
    }
    options
}

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

    #[test]
    fn a_resampled_round_samples_and_moves_the_pinned_seed_on() {
        let first: Map<String, Value> =
            serde_json::from_str(r#"{"temperature": 0, "seed": 42, "num_predict": 512}"#).unwrap();
        let r2 = resample_options(&first, 2);
        assert_eq!(r2["temperature"], 0.4);
        assert_eq!(r2["seed"], 43);
        assert_eq!(r2["num_predict"], 512);
        assert_eq!(resample_options(&first, 3)["seed"], 44);
        // A profile that already samples keeps its temperature; none set stays unset, and
        // so does the seed.
        let warm: Map<String, Value> = serde_json::from_str(r#"{"temperature": 0.7}"#).unwrap();
        assert_eq!(resample_options(&warm, 2), warm);
        assert!(resample_options(&Map::new(), 2).is_empty());
        assert_eq!(Strategy::parse(" resample "), Some(Strategy::Resample));
        assert_eq!(Strategy::parse("feedback"), Some(Strategy::Feedback));
        assert_eq!(Strategy::parse("retry"), None);
    }
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
