//! `--write` end to end against a local Ollama-speaking server, the real binary:
//!
//! 1. Tokens reaching the assistant: a scripted answer that writes a 300-line file; the
//!    bytes on stdout (the summary) against the bytes written.
//! 2. Last answer byte to summary: a 1 MB answer (10 files of 100 KB) streamed in 16 KB
//!    chunks; the time from the server's write of the final frame to the first byte of the
//!    summary on stdout (parse, checks, normalise, SHA-256, atomic writes with fsync, the
//!    summary), next to the same answer streamed to stdout without `--write` (last byte to
//!    the end of stdout).
//!
//! `cargo bench --bench write` (optional: `WRITE_RUNS=50`).
#![allow(clippy::print_stdout, clippy::print_stderr, unreachable_pub)]

#[allow(dead_code)]
#[path = "../tests/support/server.rs"]
mod server;

#[allow(dead_code)]
#[path = "../tests/support/ollama.rs"]
mod ollama;

use std::io::Read;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

fn main() {
    if std::env::args().any(|a| a == "--list") {
        println!("write: benchmark");
        return;
    }
    let runs: usize = std::env::var("WRITE_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20);
    let bin = env!("CARGO_BIN_EXE_codex-wrap");
    let work = std::env::temp_dir().join(format!("codex-wrap-write-{}", std::process::id()));

    // 1. The 300-line file.
    let body: String = (0..300)
        .map(|i| format!("    let value_{i} = compute_{i}(&input, {i});\n"))
        .collect();
    let answer = format!("Here it is.\n\n```rust src/handlers.rs\n{body}```\n");
    let small = server::Server::start(move |_, _, conn| ollama::stream(conn, &[&answer]));
    let dir = fresh(&work, "ratio");
    let out = wrap(bin, &dir, &small.url(), &["-w"])
        .stderr(Stdio::null())
        .output()
        .unwrap();
    let written = std::fs::metadata(dir.join("src/handlers.rs"))
        .unwrap()
        .len();
    println!(
        "300-line file: {} bytes on stdout ({:?}) for {written} bytes written: {:.2}%",
        out.stdout.len(),
        String::from_utf8_lossy(&out.stdout).trim_end(),
        out.stdout.len() as f64 * 100.0 / written as f64
    );

    // 2. 1 MB of answer.
    let last = Arc::new(Mutex::new(None::<Instant>));
    let mark = last.clone();
    let big = server::Server::start(move |_, _, conn| {
        let line = "x".repeat(99) + "\n";
        let mut answer = String::new();
        for f in 0..10 {
            answer.push_str(&format!("```txt out/f{f}.txt\n"));
            for _ in 0..1000 {
                answer.push_str(&line);
            }
            answer.push_str("```\n");
        }
        ollama::start(conn);
        let bytes = answer.as_bytes();
        for piece in bytes.chunks(16 * 1024) {
            let text = std::str::from_utf8(piece).unwrap();
            conn.chunk(ollama::token_line(ollama::MODEL, text).as_bytes());
        }
        conn.chunk(ollama::done_line(ollama::MODEL, 64, "stop").as_bytes());
        *mark.lock().unwrap() = Some(Instant::now());
        conn.end();
    });
    let mut rows: Vec<(&str, Vec<f64>, Vec<f64>)> = vec![
        ("--write (summary)", Vec::new(), Vec::new()),
        ("stream to stdout", Vec::new(), Vec::new()),
    ];
    for i in 0..runs {
        for (row, extra) in [(0usize, &["-w"][..]), (1, &[][..])] {
            let dir = fresh(&work, &format!("big{i}-{row}"));
            *last.lock().unwrap() = None;
            let mut child = wrap(bin, &dir, &big.url(), extra)
                .stdout(Stdio::piped())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            let mut stdout = child.stdout.take().unwrap();
            let mut buf = vec![0u8; 64 * 1024];
            let mut out_at = None;
            let mut total = 0usize;
            loop {
                let n = stdout.read(&mut buf).unwrap();
                if n == 0 {
                    break;
                }
                total += n;
                // With --write the first stdout byte is the summary; streamed, the text
                // ends when stdout does.
                if row == 0 && out_at.is_none() {
                    out_at = Some(Instant::now());
                }
            }
            let ended = Instant::now();
            child.wait().unwrap();
            let sent = last.lock().unwrap().expect("the server finished");
            let shown = if row == 0 { out_at.unwrap() } else { ended };
            rows[row].1.push(ms(shown.saturating_duration_since(sent)));
            rows[row].2.push(ms(ended.saturating_duration_since(sent)));
            assert!(total > 0);
            if row == 0 {
                assert_eq!(
                    std::fs::metadata(dir.join("out/f9.txt")).unwrap().len(),
                    100_000
                );
            }
        }
    }
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "\n1 MB answer (10 files x 100 KB, 16 KB chunks), {runs} alternating runs, ms after the server wrote the last frame"
    );
    println!(
        "{:<22} {:>12} {:>12} {:>12}",
        "mode", "output med", "output p90", "exit med"
    );
    for (name, shown, ended) in &rows {
        println!(
            "{name:<22} {:>12.2} {:>12.2} {:>12.2}",
            pct(shown, 50),
            pct(shown, 90),
            pct(ended, 50)
        );
    }
}

fn fresh(work: &std::path::Path, name: &str) -> std::path::PathBuf {
    let dir = work.join(name);
    std::fs::create_dir_all(dir.join(".git")).unwrap();
    dir
}

fn wrap(bin: &str, dir: &std::path::Path, url: &str, extra: &[&str]) -> Command {
    let mut cmd = Command::new(bin);
    cmd.env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .env("HOME", dir)
        .env("XDG_CONFIG_HOME", dir)
        .env("XDG_STATE_HOME", dir)
        .env("OLLAMA_URL", url)
        .env("CODEX_WRAP_ENABLE_LOGGING", "0")
        .current_dir(dir)
        .stdin(Stdio::null())
        .args(["--local", "-q"])
        .args(extra)
        .arg("write the files");
    cmd
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

fn pct(v: &[f64], p: usize) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(f64::total_cmp);
    v[(v.len() * p / 100).min(v.len() - 1)]
}
