//! End-to-end benchmark: codex-wrap against plain `curl -sN`, posting the same request to
//! the same local server streaming 2,000 tokens with no delay. Runs alternate between the
//! two so machine noise hits both alike; we report medians and the ratio codex-wrap/curl of
//! the time to the first stdout byte, the total time and the peak RSS, plus
//! `codex-wrap --version`.
//!
//! Each run is measured by a fresh copy of this binary (the "probe", selected by an
//! environment variable) that spawns the command, timestamps its stdout and reads the
//! child's peak RSS from `getrusage(RUSAGE_CHILDREN)`, which then covers that one child.
//!
//! `cargo bench --bench e2e` (optional: `E2E_RUNS=50`).
#![allow(clippy::print_stdout, clippy::print_stderr, unreachable_pub)]

#[allow(dead_code)]
#[path = "../tests/support/server.rs"]
mod server;

#[allow(dead_code)]
#[path = "../tests/support/ollama.rs"]
mod ollama;

use std::io::Read;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

const TOKENS: usize = 2_000;
const PROBE: &str = "CODEX_WRAP_E2E_PROBE";
const BIG_TOKENS: usize = 100_000;

/// One measured run.
#[derive(Debug, Clone, Copy)]
struct Sample {
    first_byte: Duration,
    total: Duration,
    rss_kb: u64,
    bytes: u64,
}

fn main() {
    if std::env::var_os(PROBE).is_some() {
        probe();
        return;
    }
    let args: Vec<String> = std::env::args().collect();
    if args.iter().any(|a| a == "--list") {
        println!("e2e: benchmark");
        return;
    }
    let runs: usize = std::env::var("E2E_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(30);
    let server = server::Server::start(|_, _, conn| {
        ollama::start(conn);
        for i in 0..TOKENS {
            conn.chunk(ollama::token_line(ollama::MODEL, &format!("tok{i} ")).as_bytes());
        }
        conn.chunk(ollama::done_line(ollama::MODEL, TOKENS, "stop").as_bytes());
        conn.end();
    });
    // Throughput: 100,000 tokens of 512 bytes (51.2 MB of text), unthrottled.
    let big = server::Server::start(|_, _, conn| {
        ollama::start(conn);
        let token = "y".repeat(511) + "\n";
        let line = ollama::token_line(ollama::MODEL, &token);
        let mut batch = String::new();
        for i in 0..BIG_TOKENS {
            batch.push_str(&line);
            if i % 64 == 63 {
                conn.chunk(batch.as_bytes());
                batch.clear();
            }
        }
        batch.push_str(&ollama::done_line(ollama::MODEL, BIG_TOKENS, "stop"));
        conn.chunk(batch.as_bytes());
        conn.end();
    });
    let bin = env!("CARGO_BIN_EXE_codex-wrap");
    let work = std::env::temp_dir().join(format!("codex-wrap-e2e-{}", std::process::id()));
    std::fs::create_dir_all(work.join(".git")).unwrap();

    // The exact body codex-wrap sends, for curl.
    let dry = Command::new(bin)
        .args(["--local", "--dry-run", "write a function"])
        .env("OLLAMA_URL", server.url())
        .current_dir(&work)
        .output()
        .unwrap();
    let plan: serde_json::Value = serde_json::from_slice(&dry.stdout).unwrap();
    let body_path = work.join("body.json");
    std::fs::write(&body_path, plan["attempts"][0]["body"].to_string()).unwrap();
    let url = format!("{}/api/chat", server.url());

    // The shared health state lives in the work dir; a cooled endpoint stays cooled for
    // the whole run.
    std::fs::write(work.join("profiles.toml"), "[pool]\ncooldown = 3600\n").unwrap();
    let wrap = |extra: &[&str]| {
        let mut c = Command::new(bin);
        c.args(extra)
            .arg("write a function")
            .env("OLLAMA_URL", server.url())
            .env("GEMINI_BASE_URL", "http://127.0.0.1:9")
            .env("XDG_STATE_HOME", work.join("state"))
            .current_dir(&work);
        c
    };
    // A black-holed address at the head of the local route, cooled down by one call that
    // pays its connect timeout before the measured runs.
    let (hole, _held) = blackhole();
    let dead_head = || {
        let mut c = wrap(&["--local", "-q", "--connect-timeout", "1"]);
        c.env("OLLAMA_URL", format!("http://{hole},{}", server.url()));
        c
    };
    let first = measure(dead_head());
    assert!(
        first.total >= Duration::from_secs(1),
        "the first call pays the connect timeout"
    );
    let curl = || curl_post(&body_path, &url);
    let version = || {
        let mut c = Command::new(bin);
        c.arg("--version");
        c
    };

    let mut rows: Vec<(&str, Vec<Sample>)> = vec![
        ("curl -sN", Vec::new()),
        ("codex-wrap --local", Vec::new()),
        ("codex-wrap (auto route)", Vec::new()),
        ("codex-wrap --version", Vec::new()),
        ("codex-wrap --local, no log", Vec::new()),
        ("--local, cooled dead head", Vec::new()),
    ];
    for _ in 0..runs {
        rows[0].1.push(measure(curl()));
        rows[1].1.push(measure(wrap(&["--local", "-q"])));
        rows[2].1.push(measure(wrap(&["-q"])));
        rows[3].1.push(measure(version()));
        let mut no_log = wrap(&["--local", "-q"]);
        no_log.env("CODEX_WRAP_ENABLE_LOGGING", "0");
        rows[4].1.push(measure(no_log));
        rows[5].1.push(measure(dead_head()));
    }
    let real = real_engine_rows(bin, &work, runs.min(15));
    let engine = engine_rows(bin, &work, runs.min(15));
    let mut big_runs = Vec::new();
    for _ in 0..5 {
        let mut c = Command::new(bin);
        c.args(["--local", "-q", "stream a lot"])
            .env("OLLAMA_URL", big.url())
            .current_dir(&work);
        big_runs.push(measure(c));
    }
    let _ = std::fs::remove_dir_all(&work);

    println!(
        "\nend-to-end, {TOKENS} tokens from a local NDJSON server, {runs} alternating runs (medians)"
    );
    println!(
        "{:<26} {:>14} {:>12} {:>10} {:>10}",
        "command", "first byte ms", "total ms", "RSS MB", "bytes"
    );
    let med = |s: &[Sample], f: fn(&Sample) -> f64| median(s.iter().map(f).collect());
    let mut medians = Vec::new();
    for (name, samples) in &rows {
        let fb = med(samples, |s| s.first_byte.as_secs_f64() * 1e3);
        let total = med(samples, |s| s.total.as_secs_f64() * 1e3);
        let rss = med(samples, |s| s.rss_kb as f64 / 1024.0);
        let bytes = med(samples, |s| s.bytes as f64);
        println!("{name:<26} {fb:>14.2} {total:>12.2} {rss:>10.1} {bytes:>10.0}");
        medians.push((fb, total, rss));
    }
    let (c, w, a) = (medians[0], medians[1], medians[2]);
    println!(
        "ratio codex-wrap/curl: first byte {:.2} ({:+.2} ms), total {:.2}, RSS {:.2}",
        w.0 / c.0,
        w.0 - c.0,
        w.1 / c.1,
        w.2 / c.2
    );
    println!(
        "auto route vs --local: first byte {:+.2} ms (router compile and classify)",
        a.0 - w.0
    );
    let n = medians[4];
    println!(
        "run log on vs off (--local): total {:+.2} ms ({:.3}x)",
        w.1 - n.1,
        w.1 / n.1
    );
    let d = medians[5];
    println!(
        "cooled-down black-holed endpoint at the head of the route vs none: first byte {:+.2} ms, total {:+.2} ms (the first, uncooled call took {:.0} ms)",
        d.0 - w.0,
        d.1 - w.1,
        first.total.as_secs_f64() * 1e3
    );
    if let Some((curl_s, wrap_s)) = &real {
        let fb =
            |s: &[Sample]| median(s.iter().map(|x| x.first_byte.as_secs_f64() * 1e3).collect());
        let tot = |s: &[Sample]| median(s.iter().map(|x| x.total.as_secs_f64() * 1e3).collect());
        let rss = |s: &[Sample]| median(s.iter().map(|x| x.rss_kb as f64 / 1024.0).collect());
        println!(
            "\nreal llama-server (tiny model, 200 tokens, temperature 0), {} alternating runs",
            curl_s.len()
        );
        println!(
            "{:<26} {:>14.2} {:>12.2} {:>10.1}",
            "curl -sN (openai)",
            fb(curl_s),
            tot(curl_s),
            rss(curl_s)
        );
        println!(
            "{:<26} {:>14.2} {:>12.2} {:>10.1}",
            "codex-wrap (openai)",
            fb(wrap_s),
            tot(wrap_s),
            rss(wrap_s)
        );
        println!(
            "ratio codex-wrap/curl on the real engine: first byte {:.2} ({:+.2} ms), total {:.2}",
            fb(wrap_s) / fb(curl_s),
            fb(wrap_s) - fb(curl_s),
            tot(wrap_s) / tot(curl_s)
        );
    } else {
        println!("\nreal llama-server row skipped: run scripts/llama-server.sh build first");
    }
    if let Some(e) = &engine {
        let fb =
            |s: &[Sample]| median(s.iter().map(|x| x.first_byte.as_secs_f64() * 1e3).collect());
        let tot = |s: &[Sample]| median(s.iter().map(|x| x.total.as_secs_f64() * 1e3).collect());
        println!(
            "\ncodex-wrap engine (SmolLM2-135M, temperature 0, at most {ENGINE_TOKENS} tokens), {} alternating runs",
            e.curl.len()
        );
        println!(
            "{:<26} {:>14.2} {:>12.2}",
            "curl -sN (engine URL)",
            fb(&e.curl),
            tot(&e.curl)
        );
        println!(
            "{:<26} {:>14.2} {:>12.2}",
            "codex-wrap --local",
            fb(&e.wrap),
            tot(&e.wrap)
        );
        println!(
            "ratio engine path/curl: first byte {:.2} ({:+.2} ms), total {:.2} (the path includes the refused Ollama attempt)",
            fb(&e.wrap) / fb(&e.curl),
            fb(&e.wrap) - fb(&e.curl),
            tot(&e.wrap) / tot(&e.curl)
        );
        let max = e.warm_up.iter().copied().fold(0.0, f64::max);
        println!(
            "warm `codex-wrap engine up` (built, model cached) until healthy: median {:.2} s, max {max:.2} s ({} runs)",
            median(e.warm_up.clone()),
            e.warm_up.len()
        );
    } else {
        println!("codex-wrap engine rows skipped: run `codex-wrap engine build` first");
    }
    let secs = median(big_runs.iter().map(|s| s.total.as_secs_f64()).collect());
    let mb = big_runs[0].bytes as f64 / 1e6;
    let rss = median(big_runs.iter().map(|s| s.rss_kb as f64 / 1024.0).collect());
    println!(
        "throughput: {BIG_TOKENS} tokens, {mb:.1} MB of text to stdout in {secs:.2} s = {:.0} MB/s, peak RSS {rss:.1} MB (median of 5)",
        mb / secs
    );
}

/// A listener whose accept queue is full: connections neither succeed nor fail, like a
/// host that drops SYNs. Keep the returned value alive while it is used.
fn blackhole() -> (std::net::SocketAddr, impl Drop) {
    struct Held(
        #[allow(dead_code)] socket2::Socket,
        #[allow(dead_code)] Vec<std::net::TcpStream>,
    );
    impl Drop for Held {
        fn drop(&mut self) {}
    }
    let sock = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    let any: std::net::SocketAddr = "127.0.0.1:0".parse().unwrap();
    sock.bind(&any.into()).unwrap();
    sock.listen(0).unwrap();
    let addr = sock.local_addr().unwrap().as_socket().unwrap();
    let held = (0..4)
        .filter_map(|_| {
            std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(200)).ok()
        })
        .collect();
    (addr, Held(sock, held))
}

/// codex-wrap's OpenAI backend and curl against a real llama-server with the tiny model,
/// when scripts/llama-server.sh has built it.
fn real_engine_rows(
    bin: &str,
    work: &std::path::Path,
    runs: usize,
) -> Option<(Vec<Sample>, Vec<Sample>)> {
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/scripts/llama-server.sh");
    let path = Command::new("bash")
        .args([script, "path"])
        .env("CODEX_WRAP_BIN", bin)
        .output()
        .ok()?;
    if !path.status.success() {
        return None;
    }
    let model = work.join("tiny.gguf");
    Command::new("bash")
        .args([script, "model"])
        .arg(&model)
        .output()
        .ok()?;
    let started = Command::new("bash")
        .args([script, "start"])
        .arg(&model)
        .env("CODEX_WRAP_BIN", bin)
        .output()
        .ok()?;
    // "OPENAI_BASE_URL=http://127.0.0.1:PORT/v1  # pid N"
    let line = String::from_utf8(started.stdout).ok()?;
    let base = line
        .trim()
        .strip_prefix("OPENAI_BASE_URL=")?
        .split_whitespace()
        .next()?
        .to_owned();
    let pid = line.rsplit(' ').next()?.trim().to_owned();
    std::fs::write(
        work.join("profiles.toml"),
        "[profiles.code.options]\ntemperature = 0\nnum_predict = 200\n",
    )
    .ok()?;
    let wrap = || {
        let mut c = Command::new(bin);
        c.args(["--local", "-q", "write hello"])
            .env("CODEX_WRAP_LOCAL_BACKEND", "openai")
            .env("OPENAI_BASE_URL", &base)
            .current_dir(work);
        c
    };
    let dry = wrap().arg("--dry-run").output().ok()?;
    let plan: serde_json::Value = serde_json::from_slice(&dry.stdout).ok()?;
    let body = work.join("openai-body.json");
    std::fs::write(&body, plan["attempts"][0]["body"].to_string()).ok()?;
    let url = format!("{base}/chat/completions");
    let curl = || curl_post(&body, &url);
    let (mut c_s, mut w_s) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        c_s.push(measure(curl()));
        w_s.push(measure(wrap()));
    }
    let _ = Command::new("kill").arg(&pid).status();
    let _ = std::fs::remove_file(work.join("profiles.toml"));
    Some((c_s, w_s))
}

/// Most tokens per answer in the engine rows.
const ENGINE_TOKENS: u32 = 64;

/// The engine rows: the engine path against curl, and warm start-up times.
struct EngineRows {
    curl: Vec<Sample>,
    wrap: Vec<Sample>,
    warm_up: Vec<f64>,
}

/// `codex-wrap engine` with SmolLM2 from the machine's engine cache and a private state
/// directory: warm `engine up` times (up and down five times), then, with it up, the call a
/// user without Ollama makes (`--local`: the refused Ollama attempt, then the engine)
/// against curl posting the same body to the same server, alternating.
fn engine_rows(bin: &str, work: &std::path::Path, runs: usize) -> Option<EngineRows> {
    let state = work.join("engine-state");
    let engine = |args: &[&str]| {
        let mut c = Command::new(bin);
        c.arg("engine")
            .args(args)
            .env("XDG_STATE_HOME", &state)
            .current_dir(work);
        c
    };
    let status = engine(&["status", "--json"]).output().ok()?;
    let status: serde_json::Value = serde_json::from_slice(&status.stdout).ok()?;
    if status["built"] != true {
        return None;
    }
    let mut warm_up = Vec::new();
    for _ in 0..5 {
        let started = Instant::now();
        let up = engine(&["up", "-q"]).output().ok()?;
        if !up.status.success() {
            return None;
        }
        warm_up.push(started.elapsed().as_secs_f64());
        engine(&["down", "-q"]).output().ok()?;
    }
    let up = engine(&["up", "-q"]).output().ok()?;
    let base = String::from_utf8(up.stdout).ok()?.trim().to_owned();
    std::fs::write(
        work.join("profiles.toml"),
        format!("[profiles.code.options]\ntemperature = 0\nnum_predict = {ENGINE_TOKENS}\n"),
    )
    .ok()?;
    let wrap = || {
        let mut c = Command::new(bin);
        c.args(["--local", "-q", "write hello world in python"])
            .env("XDG_STATE_HOME", &state)
            .env("OLLAMA_URL", "http://127.0.0.1:9")
            .current_dir(work);
        c
    };
    let dry = wrap().arg("--dry-run").output().ok()?;
    let plan: serde_json::Value = serde_json::from_slice(&dry.stdout).ok()?;
    let body = work.join("engine-body.json");
    std::fs::write(&body, plan["attempts"][1]["body"].to_string()).ok()?;
    let url = format!("{base}/chat/completions");
    let (mut curl, mut wrapped) = (Vec::new(), Vec::new());
    for _ in 0..runs {
        curl.push(measure(curl_post(&body, &url)));
        wrapped.push(measure(wrap()));
    }
    let _ = engine(&["down", "-q"]).output();
    let _ = std::fs::remove_file(work.join("profiles.toml"));
    Some(EngineRows {
        curl,
        wrap: wrapped,
        warm_up,
    })
}

/// `curl -sN` posting a JSON body file, as the baseline for codex-wrap.
fn curl_post(body: &std::path::Path, url: &str) -> Command {
    let mut c = Command::new("curl");
    c.args([
        "-sN",
        "-X",
        "POST",
        "-H",
        "Content-Type: application/json",
        "--data-binary",
    ])
    .arg(format!("@{}", body.display()))
    .arg(url);
    c
}

/// Runs one command through a fresh probe process and reads its sample.
fn measure(cmd: Command) -> Sample {
    let mut probe = Command::new(std::env::current_exe().unwrap());
    probe.env(PROBE, "1").arg(cmd.get_program());
    probe.args(cmd.get_args());
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            probe.env(k, v);
        }
    }
    if let Some(dir) = cmd.get_current_dir() {
        probe.current_dir(dir);
    }
    let out = probe.output().unwrap();
    let text = String::from_utf8_lossy(&out.stdout);
    let f: Vec<u64> = text
        .split_whitespace()
        .map(|v| v.parse().unwrap())
        .collect();
    Sample {
        first_byte: Duration::from_micros(f[0]),
        total: Duration::from_micros(f[1]),
        rss_kb: f[2],
        bytes: f[3],
    }
}

/// The probe: spawn argv, time the first stdout byte and the exit, report peak RSS.
fn probe() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let start = Instant::now();
    let mut child = Command::new(&args[0])
        .args(&args[1..])
        .env_remove(PROBE)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdout = child.stdout.take().unwrap();
    let mut buf = vec![0u8; 64 * 1024];
    let mut first = None;
    let mut bytes = 0u64;
    loop {
        let n = stdout.read(&mut buf).unwrap();
        if n == 0 {
            break;
        }
        first.get_or_insert_with(|| start.elapsed());
        bytes += n as u64;
    }
    let status = child.wait().unwrap();
    let total = start.elapsed();
    assert!(status.success(), "{args:?} failed: {status}");
    let usage =
        nix::sys::resource::getrusage(nix::sys::resource::UsageWho::RUSAGE_CHILDREN).unwrap();
    println!(
        "{} {} {} {bytes}",
        first.unwrap_or(total).as_micros(),
        total.as_micros(),
        usage.max_rss()
    );
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        return f64::NAN;
    }
    v[v.len() / 2]
}
