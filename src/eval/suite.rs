//! A suite of programming tasks in HumanEval's format: one JSON object a line with
//! `task_id`, `prompt` (the function's signature and docstring), `entry_point` (its name),
//! `test` (Python defining `check(candidate)`) and optionally `canonical_solution`.

use std::path::Path;

use serde::Deserialize;

use crate::error::Error;

/// One task.
#[derive(Debug, Clone, Deserialize, PartialEq)]
pub(crate) struct EvalTask {
    /// `HumanEval/0`.
    pub(crate) task_id: String,
    /// The code to complete.
    pub(crate) prompt: String,
    /// The function the test calls.
    pub(crate) entry_point: String,
    /// Python that defines `check(candidate)`.
    pub(crate) test: String,
    /// A known answer (the prompt's body), unused by the eval itself.
    #[serde(default)]
    pub(crate) canonical_solution: Option<String>,
}

impl EvalTask {
    /// The test file: the solution's names, the suite's test, the call of `check`.
    pub(crate) fn test_file(&self) -> String {
        format!(
            "from solution import *  # noqa: F401,F403\n\n{}\n\ncheck({})\n",
            self.test.trim_end(),
            self.entry_point
        )
    }

    /// What the model is asked: the task, with the prompt as the `-i` file it replaces.
    pub(crate) fn request(&self) -> String {
        format!(
            "Complete the Python function `{}` in solution.py so that it does what its \
             docstring says. Keep the signature and the imports; answer with the whole file.",
            self.entry_point
        )
    }
}

/// Reads a suite from JSON lines; a line that is not a task is an error naming the file
/// and the line.
pub(crate) fn parse(text: &str, origin: &Path) -> Result<Vec<EvalTask>, Error> {
    let mut tasks = Vec::new();
    for (n, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let task: EvalTask = serde_json::from_str(line).map_err(|e| {
            Error::Usage(format!(
                "--suite {}:{}: not a task ({e}); each line needs task_id, prompt, entry_point and test",
                origin.display(),
                n + 1
            ))
        })?;
        let name_ok = !task.entry_point.is_empty()
            && task
                .entry_point
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !name_ok {
            return Err(Error::Usage(format!(
                "--suite {}:{}: entry_point {:?} is not a Python function name",
                origin.display(),
                n + 1,
                task.entry_point
            )));
        }
        tasks.push(task);
    }
    if tasks.is_empty() {
        return Err(Error::Usage(format!(
            "--suite {}: no tasks in it",
            origin.display()
        )));
    }
    Ok(tasks)
}

/// The tasks `--tasks` and `--limit` choose, in the suite's order. A bare number `N` in
/// `--tasks` matches an id ending in `/N`; an id that matches nothing is an error.
pub(crate) fn choose(
    tasks: Vec<EvalTask>,
    ids: &[String],
    limit: Option<u32>,
) -> Result<Vec<EvalTask>, Error> {
    let wanted: Vec<&str> = ids
        .iter()
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .collect();
    let matches = |t: &EvalTask, id: &str| {
        t.task_id == id
            || (id.chars().all(|c| c.is_ascii_digit()) && t.task_id.rsplit('/').next() == Some(id))
    };
    for id in &wanted {
        if !tasks.iter().any(|t| matches(t, id)) {
            return Err(Error::Usage(format!("--tasks: no task {id} in the suite")));
        }
    }
    let chosen = tasks
        .into_iter()
        .filter(|t| wanted.is_empty() || wanted.iter().any(|id| matches(t, id)))
        .take(limit.map_or(usize::MAX, |n| n as usize))
        .collect();
    Ok(chosen)
}

/// The first fenced code block of an answer (the plain baseline: what a naive script would
/// take from the text), or `None`.
pub(crate) fn first_code_block(text: &str) -> Option<String> {
    let mut lines = text.lines();
    let (fence, indent) = loop {
        let line = lines.next()?;
        let trimmed = line.trim_start();
        let ticks = trimmed.chars().take_while(|&c| c == '`').count();
        if ticks >= 3 {
            break ("`".repeat(ticks), line.len() - trimmed.len());
        }
    };
    let mut body = String::new();
    for line in lines {
        if line.trim_start().starts_with(&fence) && line.trim().chars().all(|c| c == '`') {
            return Some(body);
        }
        let cut = line.len() - line.trim_start().len();
        body.push_str(&line[cut.min(indent)..]);
        body.push('\n');
    }
    // An answer cut at the token limit: the open block is what there is.
    Some(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(id: &str) -> EvalTask {
        EvalTask {
            task_id: id.into(),
            prompt: "def f():\n".into(),
            entry_point: "f".into(),
            test: "def check(c):\n    assert c() == 1\n".into(),
            canonical_solution: None,
        }
    }

    #[test]
    fn a_suite_is_read_and_bad_lines_are_named() {
        let ok = "{\"task_id\":\"T/0\",\"prompt\":\"def f():\\n\",\"entry_point\":\"f\",\"test\":\"def check(c): pass\"}\n\n";
        let tasks = parse(ok, Path::new("s.jsonl")).unwrap();
        assert_eq!(tasks.len(), 1);
        assert_eq!(tasks[0].canonical_solution, None);
        let err = parse(&format!("{ok}{{\"task_id\":1}}\n"), Path::new("s.jsonl")).unwrap_err();
        assert!(
            err.to_string().starts_with("--suite s.jsonl:3: not a task"),
            "{err}"
        );
        let bad = ok.replace("\"f\",\"test", "\"os.system('x')\",\"test");
        assert!(
            parse(&bad, Path::new("s.jsonl"))
                .unwrap_err()
                .to_string()
                .contains("not a Python function name")
        );
        assert!(parse("\n", Path::new("e.jsonl")).is_err());
    }

    #[test]
    fn tasks_are_chosen_by_id_number_and_limit() {
        let all = || vec![task("H/0"), task("H/1"), task("H/2"), task("H/10")];
        let ids = |v: Vec<EvalTask>| v.into_iter().map(|t| t.task_id).collect::<Vec<_>>();
        assert_eq!(ids(choose(all(), &[], Some(2)).unwrap()), ["H/0", "H/1"]);
        assert_eq!(
            ids(choose(all(), &["H/2".into(), "0".into()], None).unwrap()),
            ["H/0", "H/2"]
        );
        assert!(choose(all(), &["H/9".into()], None).is_err());
    }

    #[test]
    fn the_first_code_block_is_the_baseline() {
        assert_eq!(
            first_code_block("Sure:\n```python\ndef f():\n    return 1\n```\nmore\n```x\n```"),
            Some("def f():\n    return 1\n".into())
        );
        assert_eq!(first_code_block("no code"), None);
        assert_eq!(
            first_code_block("```\ncut short"),
            Some("cut short\n".into())
        );
    }
}
