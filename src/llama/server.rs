//! The server process: starting llama-server in the background and waiting until it is
//! ready, and the idle watcher that stops it when unused.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::process::{self, Record};
use super::{Layout, RECORD, provision};
use crate::config::EngineSettings;
use crate::error::{Error, ExitStatus};

/// The longest wait for a started server to load its model and answer `/health`.
const START_LIMIT: Duration = Duration::from_secs(120);

/// Starts llama-server in the background, waits until it answers `/health`, writes the
/// record and starts the idle watcher.
pub(super) fn start(
    layout: &Layout,
    bin: &Path,
    model: &Path,
    name: &str,
    port: Option<u16>,
    threads: u32,
    settings: &EngineSettings,
) -> anyhow::Result<Record> {
    use std::os::unix::process::CommandExt;
    let port = match port {
        Some(p) => p,
        None => std::net::TcpListener::bind(("127.0.0.1", 0))
            .and_then(|l| l.local_addr())
            .context("cannot find a free port on 127.0.0.1")?
            .port(),
    };
    let log_path = layout.log();
    let log = std::fs::File::create(&log_path)
        .with_context(|| format!("cannot write {}", log_path.display()))?;
    let mut child = Command::new(bin)
        .arg("-m")
        .arg(model)
        .args(["--alias", name, "--host", "127.0.0.1", "--port"])
        .arg(port.to_string())
        .args(["-c", "4096", "-np", "1", "--jinja", "--threads"])
        .arg(threads.to_string())
        .stdin(Stdio::null())
        .stdout(log.try_clone()?)
        .stderr(log)
        // Its own process group: Ctrl-C in the terminal that started it, or closing that
        // terminal, does not stop it; `down` and the idle watcher do.
        .process_group(0)
        .spawn()
        .with_context(|| format!("cannot start {}", bin.display()))?;
    if let Err(e) = wait_healthy(&mut child, port, &log_path) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e);
    }
    let pid = child.id();
    let mut record = Record {
        pid,
        proc_start: process::start_time(pid),
        port,
        base_url: format!("http://127.0.0.1:{port}/v1"),
        model: name.to_owned(),
        model_path: model.to_path_buf(),
        binary: bin.to_path_buf(),
        started: process::unix_now(),
        log: log_path,
        idle_stop_secs: settings.idle_stop.map(|d| d.as_secs().max(1)),
        watcher: None,
        watcher_start: None,
        threads: Some(threads),
    };
    if let Err(e) = record.write(&layout.record()) {
        let _ = child.kill();
        let _ = child.wait();
        return Err(e).context("cannot write the engine's record");
    }
    if record.idle_stop_secs.is_some() {
        let exe = std::env::current_exe().context("cannot find codex-wrap's own binary")?;
        let watcher = Command::new(exe)
            .args(["engine", "watch", "--pid", &pid.to_string(), "--state"])
            .arg(&layout.state)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .process_group(0)
            .spawn()
            .context("cannot start the idle watcher")?;
        record.watcher = Some(watcher.id());
        record.watcher_start = process::start_time(watcher.id());
        record.write(&layout.record())?;
    }
    Ok(record)
}

/// Polls `/health` until the model is loaded. Fails when the server exits, when it takes
/// longer than `START_LIMIT`, or on Ctrl-C.
fn wait_healthy(child: &mut Child, port: u16, log: &Path) -> anyhow::Result<()> {
    let url = format!("http://127.0.0.1:{port}/health");
    let client = crate::http::client(Duration::from_millis(200), Some(Duration::from_secs(2)))?;
    let until = Instant::now() + START_LIMIT;
    crate::commands::block_on(async {
        let interrupted = tokio::signal::ctrl_c();
        tokio::pin!(interrupted);
        loop {
            if let Some(status) = child.try_wait()? {
                let text = std::fs::read_to_string(log).unwrap_or_default();
                bail!(
                    "llama-server exited while starting ({status}): {} (log: {})",
                    provision::last_error_line(&text),
                    log.display()
                );
            }
            if let Ok(r) = client.get(&url).send().await
                && r.status().is_success()
            {
                return Ok(());
            }
            if Instant::now() > until {
                bail!(
                    "llama-server did not become ready within {}s (log: {})",
                    START_LIMIT.as_secs(),
                    log.display()
                );
            }
            tokio::select! {
                _ = &mut interrupted => return Err(Error::Signal(ExitStatus::Sigint).into()),
                () = tokio::time::sleep(Duration::from_millis(40)) => {}
            }
        }
    })?
}

/// The idle watcher: stops the server after `idle_stop_secs` without a request, and exits
/// when the server is gone or replaced.
pub(super) fn watch(pid: u32, state: &Path) {
    let path = state.join(RECORD);
    loop {
        let Some(record) = Record::read(&path).filter(|r| r.pid == pid) else {
            return;
        };
        if !record.alive() {
            let _ = std::fs::remove_file(&path);
            return;
        }
        let Some(limit) = record.idle_stop_secs.map(Duration::from_secs) else {
            return;
        };
        let idle = record.idle();
        if idle >= limit {
            if process::terminate(record.pid, record.proc_start, Duration::from_secs(10))
                && Record::read(&path).is_some_and(|r| r.pid == pid)
            {
                let _ = std::fs::remove_file(&path);
            }
            return;
        }
        let left = limit - idle;
        let tick = (limit / 5).clamp(Duration::from_millis(200), Duration::from_secs(30));
        std::thread::sleep(tick.min(left + Duration::from_millis(50)));
    }
}
