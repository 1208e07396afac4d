//! Files, not text: the model's work lands on disk, checked.
//!
//! - `inputs`: `-i PATH` values resolved (globs expanded) inside the project root, read, and
//!   rendered as context within a budget.
//! - `answer`: one answer end to end (parse, plan, write or diff, report): the `--write` sink's
//!   core.
//! - `blocks`: the answer parsed into file blocks.
//! - `path` and `write`: the safe writer (inside the root only, atomic, normalised, capped).
//! - `report`: the summary, JSON and `--dry-run` diff renderers of the write results.
//! - `check`: the user's check command with a deadline and its process group; the repair
//!   request built from its output.
//! - `sandbox`: bubblewrap around the check, the `[files] sandbox` setting and its probe.
//! - `refusal`: telling a refusal from an answer.
//! - `restore`: putting back what a failed task wrote.
//! - `guard`: answers for existing inputs shaped (merged by symbol with `merge` and
//!   `symbols`, edit blocks applied with `edits`) and destructive ones refused.
//! - `face`: the write face: a whole task (engine rounds, writes, checks, repairs) and its
//!   command-line rendering.

pub mod answer;
pub mod blocks;
pub mod check;
pub mod edits;
pub mod guard;
pub mod inputs;
pub mod merge;
pub mod path;
pub mod protect;
pub mod refusal;
pub mod repair;
pub mod report;
pub mod restore;
pub mod sandbox;
pub mod symbols;
pub mod write;

/// Most bytes of one answer the write face takes: the writer's 16 MiB of files plus 1 MiB
/// for fences and prose. Applied while the answer streams: past it the stream is stopped
/// and nothing is written (exit 10), so memory stays near this size whatever a server sends.
pub const MAX_ANSWER_BYTES: usize = (16 << 20) + (1 << 20);

/// Lets a write past the file size limit (`ulimit -f`) fail with an error instead of the
/// process being killed by SIGXFSZ, so the old file is kept and the error reported. Call
/// once, inside the tokio runtime; the handler stays for the life of the process.
pub fn catch_file_size_signal() -> std::io::Result<()> {
    use tokio::signal::unix::{SignalKind, signal};
    signal(SignalKind::from_raw(
        nix::sys::signal::Signal::SIGXFSZ as i32,
    ))
    .map(drop)
}

/// What the system prompt asks of the model in `--write` mode.
pub const DIRECTIVE: &str = "Write every file you create or change in full, each as one \
fenced code block whose info string is the language and the file's path relative to the \
project root, for example ```python app/main.py. Never abbreviate or leave out code. Outside \
the blocks, say at most one short sentence.";

/// A backtick fence longer than any backtick run in `text` (at least three), so the text
/// can be fenced whole.
pub fn fence_for(text: &str) -> String {
    let mut longest = 0;
    let mut run = 0;
    for b in text.bytes() {
        if b == b'`' {
            run += 1;
            longest = longest.max(run);
        } else {
            run = 0;
        }
    }
    "`".repeat((longest + 1).max(3))
}
