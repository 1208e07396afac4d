//! The record of a running `codex-wrap engine` (the binary provisions and starts it): its
//! file in the state directory (`process`) and `running`, which hands its endpoint to the
//! call planner.

pub mod process;

use std::path::Path;

use process::Record;

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

/// The record's file name in the state directory.
pub const RECORD: &str = "engine.json";
