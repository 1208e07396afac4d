//! Job mode: `delegate` with `background: true` starts the call as a job and answers at
//! once with its `job_id`; the `job` tool reports the job's status and progress while it
//! runs and, once it has ended, gives the reply `delegate` would have given. Clients cut
//! tool calls at their own limits (often 60 s), and a local model with repair rounds can
//! take minutes: a job outlives any one tool call.
//!
//! Jobs live in the server's memory, as long as the server: at most [`MAX_RUNNING`] run at
//! once, and the [`MAX_KEPT`] newest finished jobs keep their replies (older ones are
//! forgotten). Cancelling a job fires the call's shutdown, as Ctrl-C does, and waits for it
//! to end: the model connection closes, a check is killed, the writer stops between files,
//! and the files face puts back what a failed task wrote.
//!
//! Two tasks that write into one project root take turns: [`write_turn`] is a per-root
//! lock, in process (a tokio mutex per canonical root) and between processes (an exclusive
//! `flock` on a file under the state directory), held from reading the inputs to the end of
//! the last check.

use std::collections::HashMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, Instant};

use rmcp::model::{CallToolResult, ContentBlock};
use serde_json::{Value, json};
use tokio_util::sync::CancellationToken;

use super::delegate::{self, Delegate, DelegateRequest, McpSettings, Outcome, Progress, Reply};

/// Most jobs running at once in one server; a `background` call beyond it is a tool error.
pub(crate) const MAX_RUNNING: usize = 4;
/// Finished jobs whose replies are kept; past it, the oldest finished job is forgotten.
pub(crate) const MAX_KEPT: usize = 32;
/// How long `cancel` waits for the job to end before answering with its status.
const CANCEL_WAIT: Duration = Duration::from_secs(10);
/// How long the server, at its end, waits for cancelled jobs to put their files back.
const SHUTDOWN_WAIT: Duration = Duration::from_secs(10);
/// How much of the prompt a job's status shows.
const PROMPT_SHOWN: usize = 60;

/// The server's jobs (cheap to clone: one shared table).
#[derive(Clone, Default)]
pub(crate) struct Jobs(Arc<Mutex<Table>>);

#[derive(Default)]
struct Table {
    /// In the order they started.
    jobs: Vec<Job>,
}

struct Job {
    id: String,
    prompt: String,
    write: bool,
    started: Instant,
    progress: Progress,
    cancel: CancellationToken,
    /// Fires when the job has ended (its state is then `Ended`).
    ended: CancellationToken,
    state: State,
}

enum State {
    Running,
    Ended {
        /// Boxed: a finished job's reply is large beside a running one.
        outcome: Box<Result<Outcome, String>>,
        seconds: f64,
        cancelled: bool,
    },
}

impl Job {
    fn status(&self) -> &'static str {
        match &self.state {
            State::Running if self.cancel.is_cancelled() => "cancelling",
            State::Running => "running",
            State::Ended {
                cancelled: true, ..
            } => "cancelled",
            State::Ended { outcome, .. } if outcome.is_ok() => "done",
            State::Ended { .. } => "failed",
        }
    }

    /// The job as `job` and `status` show it.
    fn view(&self) -> Value {
        let (seconds, tokens) = match &self.state {
            State::Running => (self.started.elapsed().as_secs_f64(), self.progress.tokens()),
            State::Ended {
                seconds, outcome, ..
            } => (
                *seconds,
                (**outcome)
                    .as_ref()
                    .map_or(self.progress.tokens(), |o| o.reply.tokens),
            ),
        };
        let mut view = json!({
            "job_id": self.id,
            "status": self.status(),
            "seconds": (seconds * 10.0).round() / 10.0,
            "tokens": tokens,
            "write": self.write,
            "prompt": self.prompt,
        });
        // A cancelled call's error ("interrupted") says nothing the status does not.
        if let State::Ended {
            outcome,
            cancelled: false,
            ..
        } = &self.state
            && let Err(e) = &**outcome
        {
            view["error"] = json!(e);
        }
        view
    }
}

impl Jobs {
    /// Starts `request` as a job on `engine` and answers with its id, or a tool error when
    /// [`MAX_RUNNING`] jobs are running already.
    pub(crate) fn start<D>(
        &self,
        engine: D,
        request: DelegateRequest,
        settings: McpSettings,
        state_dir: PathBuf,
    ) -> CallToolResult
    where
        D: Delegate + 'static,
    {
        let cancel = CancellationToken::new();
        let ended = CancellationToken::new();
        let progress = Progress::default();
        let id = uuid::Uuid::new_v4().simple().to_string();
        let view = {
            let mut table = self.lock();
            let running = table
                .jobs
                .iter()
                .filter(|j| matches!(j.state, State::Running))
                .count();
            if running >= MAX_RUNNING {
                return CallToolResult::error(vec![ContentBlock::text(format!(
                    "{running} jobs are running (at most {MAX_RUNNING}): collect or cancel one with `job` first"
                ))]);
            }
            let job = Job {
                id: id.clone(),
                prompt: super::continuation::head(&request.prompt, PROMPT_SHOWN).to_owned(),
                write: request.write,
                started: Instant::now(),
                progress: progress.clone(),
                cancel: cancel.clone(),
                ended: ended.clone(),
                state: State::Running,
            };
            let view = job.view();
            table.jobs.push(job);
            view
        };
        let jobs = self.clone();
        tokio::spawn(async move {
            let engine = InJob {
                engine,
                progress,
                cancel: cancel.clone(),
            };
            // The call's own token never fires: a cancel reaches the engine through
            // `InJob`, and the job waits for the engine to end (files put back) rather than
            // dropping it.
            let outcome = delegate::run(
                &engine,
                request,
                None::<fn(f64, String) -> std::future::Ready<()>>,
                CancellationToken::new(),
                &settings,
                &state_dir,
            )
            .await;
            jobs.finish(&id, outcome, cancel.is_cancelled());
            ended.cancel();
        });
        json_result(&view)
    }

    /// The `job` tool: the job's status while it runs (after cancelling it, when asked),
    /// its reply once it has ended.
    pub(crate) async fn job(&self, id: &str, cancel: bool) -> CallToolResult {
        let Some((token, ended)) = self.find(id, |j| (j.cancel.clone(), j.ended.clone())) else {
            return CallToolResult::error(vec![ContentBlock::text(format!(
                "no job {id}: jobs live as long as the server, and only the {MAX_KEPT} newest finished ones are kept"
            ))]);
        };
        if cancel && !ended.is_cancelled() {
            token.cancel();
            let _ = tokio::time::timeout(CANCEL_WAIT, ended.cancelled()).await;
        }
        self.find(id, |j| match &j.state {
            State::Ended {
                outcome,
                cancelled: false,
                ..
            } => delegate::tool_result((**outcome).clone()),
            _ => json_result(&j.view()),
        })
        .unwrap_or_else(|| CallToolResult::error(vec![ContentBlock::text("the job is gone")]))
    }

    /// Every job kept, oldest first, as `status` lists them.
    pub(crate) fn list(&self) -> Value {
        Value::Array(self.lock().jobs.iter().map(Job::view).collect())
    }

    /// Cancels every running job and waits (bounded) for them to end: the server is going.
    pub(crate) async fn shutdown(&self) {
        let ended: Vec<CancellationToken> = self
            .lock()
            .jobs
            .iter()
            .filter(|j| matches!(j.state, State::Running))
            .map(|j| {
                j.cancel.cancel();
                j.ended.clone()
            })
            .collect();
        let all = futures_util::future::join_all(ended.iter().map(|e| e.cancelled()));
        if tokio::time::timeout(SHUTDOWN_WAIT, all).await.is_err() {
            tracing::warn!("some jobs did not end within {SHUTDOWN_WAIT:?}");
        }
    }

    fn finish(&self, id: &str, outcome: Result<Outcome, String>, cancelled: bool) {
        let mut table = self.lock();
        if let Some(job) = table.jobs.iter_mut().find(|j| j.id == id) {
            let seconds = job.started.elapsed().as_secs_f64();
            job.state = State::Ended {
                outcome: Box::new(outcome),
                seconds,
                cancelled,
            };
        }
        // Keep the newest MAX_KEPT finished jobs.
        let finished = table
            .jobs
            .iter()
            .filter(|j| matches!(j.state, State::Ended { .. }))
            .count();
        let mut extra = finished.saturating_sub(MAX_KEPT);
        table.jobs.retain(|j| {
            let drop = extra > 0 && matches!(j.state, State::Ended { .. });
            extra -= usize::from(drop);
            !drop
        });
    }

    fn find<T>(&self, id: &str, f: impl FnOnce(&Job) -> T) -> Option<T> {
        self.lock().jobs.iter().find(|j| j.id == id).map(f)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.0.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The engine as a job runs it: with the job's progress counter and cancellation token.
struct InJob<D> {
    engine: D,
    progress: Progress,
    cancel: CancellationToken,
}

impl<D: Delegate> Delegate for InJob<D> {
    fn run(
        &self,
        request: DelegateRequest,
        _progress: Progress,
        _cancel: CancellationToken,
    ) -> impl Future<Output = Result<Reply, String>> + Send {
        self.engine
            .run(request, self.progress.clone(), self.cancel.clone())
    }
}

fn json_result(doc: &Value) -> CallToolResult {
    CallToolResult::success(vec![ContentBlock::text(doc.to_string())])
}

/// The right to write into one project root until dropped.
pub(crate) struct WriteTurn {
    _in_process: tokio::sync::OwnedMutexGuard<()>,
    /// Holds the `flock`; closing it releases the lock.
    _file: Option<File>,
}

/// Waits for the turn to write into `root` (canonical): first among this process's tasks,
/// then among processes, through `state_dir/locks/`. `None` when `cancel` fires first. A
/// lock file that cannot be made (no state directory, a read-only one) leaves the
/// in-process lock alone.
pub(crate) async fn write_turn(
    root: &Path,
    state_dir: Option<&Path>,
    cancel: &CancellationToken,
) -> Option<WriteTurn> {
    static TURNS: LazyLock<Mutex<HashMap<PathBuf, Arc<tokio::sync::Mutex<()>>>>> =
        LazyLock::new(Mutex::default);
    let mutex = TURNS
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .entry(root.to_path_buf())
        .or_default()
        .clone();
    let in_process = tokio::select! {
        biased;
        () = cancel.cancelled() => return None,
        guard = mutex.lock_owned() => guard,
    };
    let file = match state_dir.map(|d| lock_file(d, root)) {
        Some(Ok(file)) => file,
        Some(Err(e)) => {
            tracing::debug!("no lock file for {}: {e}", root.display());
            return Some(WriteTurn {
                _in_process: in_process,
                _file: None,
            });
        }
        None => {
            return Some(WriteTurn {
                _in_process: in_process,
                _file: None,
            });
        }
    };
    // Another process's lock: polled, so a cancel still ends the wait at once.
    loop {
        use rustix::fs::{FlockOperation, flock};
        match flock(&file, FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => break,
            Err(rustix::io::Errno::WOULDBLOCK) | Err(rustix::io::Errno::INTR) => {}
            Err(e) => {
                tracing::debug!("cannot lock {}: {e}", root.display());
                return Some(WriteTurn {
                    _in_process: in_process,
                    _file: None,
                });
            }
        }
        tokio::select! {
            biased;
            () = cancel.cancelled() => return None,
            () = tokio::time::sleep(Duration::from_millis(50)) => {}
        }
    }
    Some(WriteTurn {
        _in_process: in_process,
        _file: Some(file),
    })
}

/// `state_dir/locks/<hash of the root>.lock`, open for locking.
fn lock_file(state_dir: &Path, root: &Path) -> std::io::Result<File> {
    use sha2::Digest;
    let dir = state_dir.join("locks");
    std::fs::create_dir_all(&dir)?;
    let hash = sha2::Sha256::digest(root.as_os_str().as_encoded_bytes());
    let name: String = hash[..8].iter().map(|b| format!("{b:02x}")).collect();
    std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(dir.join(format!("{name}.lock")))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An engine that answers `prompt` once `release` fires (or at once when it has), and
    /// ends with an error when cancelled.
    #[derive(Clone)]
    struct Held(CancellationToken);

    impl Delegate for Held {
        fn run(
            &self,
            request: DelegateRequest,
            progress: Progress,
            cancel: CancellationToken,
        ) -> impl Future<Output = Result<Reply, String>> + Send {
            let release = self.0.clone();
            async move {
                progress.add_tokens(3);
                tokio::select! {
                    () = release.cancelled() => Ok(Reply {
                        text: request.prompt,
                        tokens: 3,
                        ..Reply::default()
                    }),
                    () = cancel.cancelled() => Err("interrupted".to_owned()),
                }
            }
        }
    }

    fn request(prompt: &str) -> DelegateRequest {
        serde_json::from_value(json!({"prompt": prompt, "background": true})).unwrap()
    }

    fn text(result: &CallToolResult) -> Vec<String> {
        result
            .content
            .iter()
            .filter_map(|c| c.as_text().map(|t| t.text.clone()))
            .collect()
    }

    fn start(jobs: &Jobs, engine: &Held, prompt: &str, state: &Path) -> CallToolResult {
        jobs.start(
            engine.clone(),
            request(prompt),
            McpSettings::default(),
            state.to_path_buf(),
        )
    }

    fn id_of(result: &CallToolResult) -> String {
        let view: Value = serde_json::from_str(&text(result)[0]).unwrap();
        view["job_id"].as_str().unwrap().to_owned()
    }

    #[tokio::test]
    async fn at_most_max_running_jobs_run_and_finished_ones_are_kept_up_to_max_kept() {
        let state = tempfile::tempdir().unwrap();
        let jobs = Jobs::default();
        let held = Held(CancellationToken::new());
        let ids: Vec<String> = (0..MAX_RUNNING)
            .map(|i| id_of(&start(&jobs, &held, &format!("task {i}"), state.path())))
            .collect();
        let refused = start(&jobs, &held, "one too many", state.path());
        assert_eq!(refused.is_error, Some(true));
        assert!(
            text(&refused)[0].contains("at most 4"),
            "{:?}",
            text(&refused)
        );

        // Running: the status with progress; once released: delegate's reply.
        tokio::task::yield_now().await;
        let running: Value =
            serde_json::from_str(&text(&jobs.job(&ids[0], false).await)[0]).unwrap();
        assert_eq!(running["status"], "running");
        assert_eq!(running["tokens"], 3);
        held.0.cancel();
        let reply = loop {
            let r = jobs.job(&ids[0], false).await;
            if text(&r).len() == 2 {
                break r;
            }
            tokio::task::yield_now().await;
        };
        assert_eq!(text(&reply)[1], "task 0");
        let summary: Value = serde_json::from_str(&text(&reply)[0]).unwrap();
        assert!(summary["continuation_id"].is_string(), "{summary}");

        // Past MAX_KEPT finished jobs, the oldest are forgotten.
        let mut all = ids.clone();
        for i in 0..MAX_KEPT {
            all.push(id_of(&start(
                &jobs,
                &held,
                &format!("more {i}"),
                state.path(),
            )));
            tokio::task::yield_now().await;
        }
        for _ in 0..100 {
            tokio::task::yield_now().await;
        }
        let listed = jobs.list();
        assert_eq!(listed.as_array().unwrap().len(), MAX_KEPT, "{listed}");
        assert_eq!(jobs.job(&all[0], false).await.is_error, Some(true));
        assert_eq!(
            text(&jobs.job(all.last().unwrap(), false).await)[1],
            format!("more {}", MAX_KEPT - 1)
        );
    }

    #[tokio::test]
    async fn cancel_waits_for_the_job_to_end_and_shutdown_cancels_the_rest() {
        let state = tempfile::tempdir().unwrap();
        let jobs = Jobs::default();
        let held = Held(CancellationToken::new());
        let a = id_of(&start(&jobs, &held, "a", state.path()));
        let b = id_of(&start(&jobs, &held, "b", state.path()));
        let cancelled: Value = serde_json::from_str(&text(&jobs.job(&a, true).await)[0]).unwrap();
        assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
        assert!(cancelled.get("error").is_none(), "{cancelled}");
        jobs.shutdown().await;
        let b: Value = serde_json::from_str(&text(&jobs.job(&b, false).await)[0]).unwrap();
        assert_eq!(b["status"], "cancelled", "{b}");
    }

    #[tokio::test]
    async fn two_turns_in_one_root_wait_for_each_other_and_a_cancel_ends_the_wait() {
        let state = tempfile::tempdir().unwrap();
        let root = tempfile::tempdir().unwrap();
        let never = CancellationToken::new();
        let first = write_turn(root.path(), Some(state.path()), &never)
            .await
            .unwrap();
        assert!(first._file.is_some(), "the file lock is taken");

        // A second turn in the same root waits ...
        let waiting = CancellationToken::new();
        let second = tokio::spawn({
            let (root, state, waiting) = (
                root.path().to_path_buf(),
                state.path().to_path_buf(),
                waiting.clone(),
            );
            async move { write_turn(&root, Some(&state), &waiting).await.is_some() }
        });
        tokio::time::sleep(Duration::from_millis(200)).await;
        assert!(!second.is_finished(), "the second turn waits");
        // ... another root does not.
        let other = tempfile::tempdir().unwrap();
        assert!(
            write_turn(other.path(), Some(state.path()), &never)
                .await
                .is_some()
        );
        // A cancel ends the wait with no turn.
        waiting.cancel();
        assert!(!second.await.unwrap());

        // Once the first is dropped, the next one gets its turn.
        drop(first);
        assert!(
            write_turn(root.path(), Some(state.path()), &never)
                .await
                .is_some()
        );
    }

    #[test]
    fn the_file_lock_keeps_out_a_second_holder() {
        use rustix::fs::{FlockOperation, flock};
        let state = tempfile::tempdir().unwrap();
        let a = lock_file(state.path(), Path::new("/p")).unwrap();
        let b = lock_file(state.path(), Path::new("/p")).unwrap();
        flock(&a, FlockOperation::NonBlockingLockExclusive).unwrap();
        assert!(flock(&b, FlockOperation::NonBlockingLockExclusive).is_err());
        drop(a);
        flock(&b, FlockOperation::NonBlockingLockExclusive).unwrap();
    }
}
