//! End-to-end benchmark of `codex-wrap sync --wait` against a bare `rclone sync` of the same
//! tree with the same filter rules, to a local folder remote, runs alternating so machine
//! noise hits both alike: an unchanged tree, then one changed file per run. Also the time
//! `codex-wrap sync --background` takes to return to its caller.
//!
//! `cargo bench --bench sync` (needs rclone; optional: `SYNC_RUNS=20`).
#![allow(clippy::print_stdout, clippy::print_stderr, unreachable_pub)]

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Instant;

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("sync: benchmark");
        return;
    }
    let runs: usize = std::env::var("SYNC_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(10);
    let bin = env!("CARGO_BIN_EXE_codex-wrap");
    let work = tempfile::tempdir().unwrap();
    let project = work.path().join("project");
    // A tree like a small project: 60 source files of 4 KiB in a few folders.
    for i in 0..60 {
        let path = project.join(format!("src/m{}/f{i}.rs", i % 6));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, format!("// {i}\n{}", "x".repeat(4096))).unwrap();
    }
    std::fs::create_dir_all(project.join(".git")).unwrap();
    let ours = work.path().join("ours");
    let bare = work.path().join("bare");
    let filter = work.path().join("filter");
    // The rules codex-wrap writes for the defaults (the project has no .gitignore).
    let rules: String = [".git", ".git/**", "target/**", "node_modules/**", "logs/**"]
        .iter()
        .chain(&[".env*", "*.pem", "*.key", "/.last_sync", "/.last_sync.*"])
        .map(|r| format!("- {r}\n"))
        .collect();
    std::fs::write(&filter, rules).unwrap();
    let state = work.path().join("state");
    let codex = |wait: bool| {
        let mut c = Command::new(bin);
        c.arg("sync").arg("--remote").arg(&ours);
        if wait {
            c.arg("--wait");
        } else {
            c.arg("--background");
        }
        c.current_dir(&project)
            .env("XDG_STATE_HOME", &state)
            .env("RCLONE_CONFIG", "/dev/null");
        c
    };
    let rclone = || {
        let mut c = Command::new("rclone");
        c.arg("sync")
            .arg(&project)
            .arg(&bare)
            .arg("--filter-from")
            .arg(&filter)
            .env("RCLONE_CONFIG", "/dev/null");
        c
    };
    timed(codex(true));
    timed(rclone());
    let touch = |i: usize| {
        std::fs::write(project.join("src/m0/f0.rs"), format!("// changed {i}\n")).unwrap();
    };
    for (label, change) in [("unchanged tree", false), ("one file changed", true)] {
        let (mut a, mut b) = (Vec::new(), Vec::new());
        for i in 0..runs {
            if change {
                touch(2 * i);
            }
            a.push(timed(codex(true)));
            if change {
                touch(2 * i + 1);
            }
            b.push(timed(rclone()));
        }
        let (a, b) = (median(a), median(b));
        println!(
            "{label}: codex-wrap sync --wait {a:.0} ms, rclone sync {b:.0} ms, ratio {:.2}",
            a / b
        );
    }
    let mut returns = Vec::new();
    for _ in 0..runs {
        let before = std::fs::read_to_string(project.join(".last_sync")).unwrap();
        returns.push(timed(codex(false)));
        wait_for_new_last_sync(&project, &before);
    }
    println!(
        "codex-wrap sync (background): returns to its caller in {:.0} ms",
        median(returns)
    );
}

/// Wall time of one run to its end, in milliseconds; the run must succeed.
fn timed(mut cmd: Command) -> f64 {
    let start = Instant::now();
    let status = cmd
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .expect("spawn");
    assert!(status.success(), "{cmd:?}");
    start.elapsed().as_secs_f64() * 1e3
}

/// Waits until the background sync has written a new `.last_sync` (every sync that
/// succeeds does, changed tree or not), so the next run does not meet its lock.
fn wait_for_new_last_sync(project: &Path, before: &str) {
    for _ in 0..1000 {
        let now = std::fs::read_to_string(project.join(".last_sync")).unwrap_or_default();
        if !now.is_empty() && now != before {
            // The lock is released just after; give it a moment.
            std::thread::sleep(std::time::Duration::from_millis(20));
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(10));
    }
    panic!("the background sync did not finish");
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
