//! Streaming: the first chunk reaches stdout before the stream ends, keys stay in headers,
//! deadlines, closed pipes and signals.

use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{
    Backends, NO_CONTEXT, Sandbox, Server, Test, gemini, ollama, read_until, spawn_piped,
    wait_limited,
};

#[test]
fn ollama_first_chunk_reaches_stdout_while_the_stream_is_held_open() {
    let sb = Sandbox::new();
    let (release_tx, release_rx) = mpsc::channel::<()>();
    let release_rx = Arc::new(Mutex::new(release_rx));
    let server = Server::start(move |_, _, conn| {
        ollama::start(conn);
        conn.chunk(ollama::token_line(ollama::MODEL, "Hello").as_bytes());
        // Hold the stream open until the test has seen the first token.
        let _ = release_rx
            .lock()
            .unwrap()
            .recv_timeout(Duration::from_secs(10));
        conn.chunk(ollama::token_line(ollama::MODEL, ", world").as_bytes());
        conn.chunk(ollama::done_line(ollama::MODEL, 2, "stop").as_bytes());
        conn.end();
    });
    let mut cmd = sb.cmd();
    cmd.ollama(&server).args(["-l", "greet"]);
    let (mut child, mut stdout) = spawn_piped(cmd);
    let first = read_until(&mut stdout, b"Hello", Duration::from_secs(10));
    assert_eq!(first, b"Hello", "first token before the stream ended");
    release_tx.send(()).unwrap();
    let rest = read_until(&mut stdout, b"world", Duration::from_secs(10));
    assert_eq!(rest, b", world");
    assert_eq!(wait_limited(&mut child, Duration::from_secs(10)), Some(0));
}

#[test]
fn gemini_streams_with_the_key_in_the_header_only() {
    let sb = Sandbox::new();
    let server = gemini::fake().streaming(&["def ", "add(a, b):", "\n    return a + b\n"]);
    Test::new(&sb)
        .gemini(&server)
        .env("GEMINI_API_KEY", "canary-4f1e")
        .args(["--api", "-vv", "write add"])
        .trace()
        .stdout("def add(a, b):\n    return a + b\n")
        .stderr_lacks("canary-4f1e")
        .stderr_has(NO_CONTEXT)
        .run();
    let req = &server.requests()[0];
    assert_eq!(
        req.request_line,
        "POST /v1beta/models/gemini-flash-latest:streamGenerateContent?alt=sse HTTP/1.1"
    );
    assert_eq!(req.header("x-goog-api-key"), Some("canary-4f1e"));
    assert!(!req.request_line.contains("canary"));
    assert_eq!(req.json()["contents"][0]["parts"][0]["text"], "write add");
}

#[test]
fn utf8_split_across_writes_comes_out_whole() {
    let sb = Sandbox::new();
    let server = Server::start(|_, _, conn| {
        ollama::start(conn);
        let line = ollama::token_line(ollama::MODEL, "naïve 😀 ok");
        let bytes = line.as_bytes();
        let cut = line.find('😀').unwrap() + 2; // inside the 4-byte emoji
        conn.chunk(&bytes[..cut]);
        std::thread::sleep(Duration::from_millis(30));
        conn.chunk(&bytes[cut..]);
        conn.chunk(ollama::done_line(ollama::MODEL, 3, "stop").as_bytes());
        conn.end();
    });
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .stdout("naïve 😀 ok")
        .run();
}

#[test]
fn a_server_that_never_answers_trips_the_deadline() {
    let sb = Sandbox::new();
    let server = Server::start(|_, _, conn| {
        conn.wait_closed(Duration::from_secs(30));
    });
    let r = Test::new(&sb)
        .ollama(&server)
        .args(["-l", "--timeout", "1", "x"])
        .code(5)
        .stdout("")
        .stderr_has("deadline 1s")
        .run();
    assert!(r.elapsed < Duration::from_secs(5), "{:?}", r.elapsed);
}

#[test]
fn a_closed_stdout_ends_quietly_with_success() {
    let sb = Sandbox::new();
    let server = Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(ollama::token_line(ollama::MODEL, "line one\nline two\n").as_bytes());
        for _ in 0..200 {
            conn.chunk(ollama::token_line(ollama::MODEL, "more text\n").as_bytes());
            std::thread::sleep(Duration::from_millis(5));
        }
        conn.chunk(ollama::done_line(ollama::MODEL, 3, "stop").as_bytes());
        conn.end();
    });
    let mut cmd = sb.cmd();
    cmd.ollama(&server).args(["-l", "x"]);
    let (mut child, mut stdout) = spawn_piped(cmd);
    let got = read_until(&mut stdout, b"\n", Duration::from_secs(10));
    assert!(got.starts_with(b"line one\n"));
    drop(stdout); // like `| head -1`
    let mut stderr = child.stderr.take().unwrap();
    let code = wait_limited(&mut child, Duration::from_secs(10));
    let mut err = String::new();
    std::io::Read::read_to_string(&mut stderr, &mut err).unwrap();
    assert_eq!(code, Some(0), "{err}");
    assert!(
        !err.contains("panicked") && !err.to_lowercase().contains("broken pipe"),
        "{err}"
    );
}

#[test]
fn ctrl_c_and_sigterm_close_the_connection_and_exit_130_143() {
    for (signal, want) in [("-INT", 130), ("-TERM", 143)] {
        let sb = Sandbox::new();
        let (closed_tx, closed_rx) = mpsc::channel::<Option<Instant>>();
        let closed_tx = Arc::new(Mutex::new(closed_tx));
        let server = Server::start(move |_, _, conn| {
            ollama::start(conn);
            conn.chunk(ollama::token_line(ollama::MODEL, "partial").as_bytes());
            let closed = conn
                .wait_closed(Duration::from_secs(10))
                .map(|_| Instant::now());
            let _ = closed_tx.lock().unwrap().send(closed);
        });
        let mut cmd = sb.cmd();
        cmd.ollama(&server).args(["-l", "x"]);
        let (mut child, mut stdout) = spawn_piped(cmd);
        assert_eq!(
            read_until(&mut stdout, b"partial", Duration::from_secs(10)),
            b"partial"
        );
        let sent = Instant::now();
        let killed = std::process::Command::new("kill")
            .args([signal, &child.id().to_string()])
            .status()
            .unwrap();
        assert!(killed.success());
        let closed = closed_rx.recv_timeout(Duration::from_secs(10)).unwrap();
        let code = wait_limited(&mut child, Duration::from_secs(10));
        assert_eq!(code, Some(want));
        let closed = closed.expect("server saw the connection close");
        let latency = closed.duration_since(sent);
        assert!(
            latency < Duration::from_millis(200),
            "closed after {latency:?}"
        );
        // The interrupted call is in the run log with its exit code and the bytes shown.
        let log = std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap();
        let record: serde_json::Value = serde_json::from_str(log.trim_end()).unwrap();
        assert_eq!(record["exit"], want);
        assert_eq!(record["bytes_out"], 7);
    }
}

#[test]
fn gemini_safety_block_exits_7_without_fallback() {
    let sb = Sandbox::new();
    let server = Server::start(|_, _, conn| {
        gemini::start(conn);
        conn.chunk(gemini::safety_event().as_bytes());
        conn.end();
    });
    let local = ollama::fake().answering("should not");
    Test::new(&sb)
        .gemini(&server)
        .ollama(&local)
        .args(["--api", "x"])
        .code(7)
        .stdout("")
        .stderr_has("SAFETY")
        .stderr_has(NO_CONTEXT)
        .run();
    assert_eq!(local.hits(), 0);
}

#[test]
fn gemini_prompt_block_exits_7() {
    let sb = Sandbox::new();
    let server = Server::start(|_, _, conn| {
        gemini::start(conn);
        conn.chunk(b"data: {\"promptFeedback\": {\"blockReason\": \"PROHIBITED_CONTENT\"},\"usageMetadata\": {\"promptTokenCount\": 9,\"totalTokenCount\": 9},\"modelVersion\": \"gemini-2.5-flash\"}\r\n\r\n");
        conn.end();
    });
    Test::new(&sb)
        .gemini(&server)
        .args(["--api", "x"])
        .code(7)
        .stdout("")
        .stderr_has("PROHIBITED_CONTENT")
        .stderr_has(NO_CONTEXT)
        .run();
}

#[test]
fn an_empty_answer_exits_7() {
    let sb = Sandbox::new();
    let server = Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(ollama::done_line(ollama::MODEL, 0, "stop").as_bytes());
        conn.end();
    });
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .code(7)
        .stdout("")
        .stderr_has("empty answer")
        .run();
}

#[test]
fn quiet_prints_nothing_on_success_and_status_lines_otherwise() {
    let sb = Sandbox::new();
    let server = ollama::fake().streaming(&["a", "b"]);
    Test::new(&sb)
        .ollama(&server)
        .args(["-q", "-l", "x"])
        .stdout("ab")
        .stderr("")
        .run();
    let r = Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .stdout("ab")
        .stderr_lacks("\u{1b}")
        .run();
    let lines: Vec<&str> = r.stderr.lines().collect();
    assert_eq!(lines.len(), 2, "{}", r.stderr);
    assert!(
        lines[0].contains("local · profile code · ollama"),
        "{}",
        lines[0]
    );
    assert!(lines[1].contains("26 in / 2 out"), "{}", lines[1]);
}
