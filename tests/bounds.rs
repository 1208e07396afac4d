//! Bounded by construction: an answer is cut off while it streams, not after it is held
//! whole; a huge prompt is scored in linear time.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::support::{Backends, Sandbox, Server, Test, ollama};

/// A server streaming a 256 MiB answer (one file block) as Ollama NDJSON, 64 KiB a line.
fn streaming_256_mib() -> Server {
    Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(ollama::token_line(ollama::MODEL, "```txt big.txt\n").as_bytes());
        let line = ollama::token_line(ollama::MODEL, &("y".repeat(1023) + "\n").repeat(64));
        for _ in 0..(256 << 20) / (64 << 10) {
            conn.chunk(line.as_bytes());
        }
        conn.chunk(ollama::token_line(ollama::MODEL, "```\n").as_bytes());
        conn.end();
    })
}

/// Runs `cmd` under Python to read its peak RSS apart from other tests, its stderr checked
/// by `check` as the strict builder does: (exit code, peak RSS in KiB, its stdout, its
/// stderr).
fn measured(
    sb: &Sandbox,
    cmd: &Command,
    check: impl FnOnce(Test) -> Test,
) -> (i32, u64, String, String) {
    let out_file = sb.dir.path().join("child-stdout");
    let measure = "import resource, subprocess, sys\n\
        r = subprocess.run(sys.argv[2:], capture_output=True)\n\
        open(sys.argv[1], 'wb').write(r.stdout)\n\
        sys.stderr.write(r.stderr.decode())\n\
        print(r.returncode, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)\n";
    let mut py = Command::new("python3");
    py.arg("-c")
        .arg(measure)
        .arg(&out_file)
        .arg(cmd.get_program())
        .args(cmd.get_args());
    py.env_clear()
        .envs(cmd.get_envs().filter_map(|(k, v)| Some((k, v?))))
        .current_dir(sb.project());
    let out = check(Test::command(py)).run();
    let stdout = out.stdout();
    let mut fields = stdout.split_whitespace();
    let code: i32 = fields.next().unwrap().parse().unwrap();
    let peak_kib: u64 = fields.next().unwrap().parse().unwrap();
    let child = String::from_utf8_lossy(&std::fs::read(&out_file).unwrap()).into_owned();
    (code, peak_kib, child, out.stderr)
}

#[test]
fn a_256_mib_answer_is_stopped_at_the_limit_with_exit_10_and_memory_near_it() {
    let sb = Sandbox::new();
    let server = streaming_256_mib();
    let mut cmd = sb.cmd();
    cmd.ollama(&server)
        .env("CODEX_WRAP_ENABLE_LOGGING", "0")
        .args(["--local", "-w", "x"]);
    let started = Instant::now();
    let (code, peak_kib, _, stderr) = measured(&sb, &cmd, |t| {
        t.stderr_has("the answer is over 17 MiB; the stream was stopped there (nothing written)")
    });
    assert_eq!(code, 10, "{stderr}");
    assert!(!sb.project().join("big.txt").exists());
    // Held whole, 256 MiB takes over 500 MB; stopped at 17 MiB it stays under 100 MB.
    assert!(peak_kib < 100 * 1024, "peak RSS {peak_kib} KiB");
    assert!(
        started.elapsed() < Duration::from_secs(20),
        "{:?}",
        started.elapsed()
    );
}

#[test]
fn a_256_mib_answer_under_json_is_stopped_at_the_limit_with_exit_6_and_memory_near_it() {
    // --json holds the answer for one document: it is bounded while it streams too.
    let sb = Sandbox::new();
    let server = streaming_256_mib();
    let mut cmd = sb.cmd();
    cmd.ollama(&server)
        .env("CODEX_WRAP_ENABLE_LOGGING", "0")
        .args(["--local", "--json", "x"]);
    let (code, peak_kib, stdout, stderr) =
        measured(&sb, &cmd, |t| t.stderr_has("the answer is over 17 MiB"));
    assert_eq!(code, 6, "{stderr}");
    let doc: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(doc["ok"], false);
    assert_eq!(doc["exit_code"], 6);
    let error = doc["error"].as_str().unwrap();
    assert!(
        error.contains("the answer is over 17 MiB; the stream was stopped there"),
        "{error}"
    );
    let text = doc["text"].as_str().unwrap();
    assert!(
        text.starts_with("```txt big.txt\nyyy") && text.len() <= 17 << 20,
        "{}",
        text.len()
    );
    assert!(peak_kib < 150 * 1024, "peak RSS {peak_kib} KiB");
}
