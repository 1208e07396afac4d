//! The fault matrix: each fault a real server produces, for each backend, asserting the exit
//! code, the exact stdout, the stderr message and whether a fallback was taken.

use std::sync::Arc;
use std::time::Duration;

use crate::support::{NO_CONTEXT, Sandbox, Server, Test, blackhole, gemini, ollama, openai};

const CANARY: &str = "canary-key-3b9f0c";

#[derive(Debug, Clone, Copy, PartialEq)]
enum Backend {
    Ollama,
    Gemini,
    /// An OpenAI-compatible server on the local route.
    OpenAi,
}

/// A fault, as the server plays it.
#[derive(Debug, Clone, Copy)]
enum Fault {
    /// 500 with the provider's error body.
    ServerError,
    /// 429 with a short retry hint; the retry succeeds.
    RateLimitShort,
    /// 429 with a retry hint longer than the cap: no retry, fallback.
    RateLimitLong,
    /// A good first chunk, then silence longer than the idle timeout.
    StallMidStream,
    /// Headers never come.
    StallBeforeHeaders,
    /// A token, then the connection drops without the terminating chunk.
    ResetMidStream,
    /// A malformed line after a good one.
    MalformedAfterOutput,
    /// A malformed line first.
    MalformedBeforeOutput,
    /// One token of 4 MiB.
    HugeToken,
    /// One byte every 100 ms: kept alive by the idle timeout, ended by the deadline.
    SlowDrip,
}

/// What the call must do.
struct Expect {
    code: i32,
    stdout: &'static str,
    stderr: &'static str,
    fallback: bool,
}

fn ok_line(b: Backend, text: &str) -> String {
    match b {
        Backend::Ollama => ollama::token_line(ollama::MODEL, text),
        Backend::Gemini => gemini::text_event(text),
        Backend::OpenAi => openai::token(text),
    }
}

fn final_line(b: Backend, text: &str) -> String {
    match b {
        Backend::Ollama => {
            ollama::token_line(ollama::MODEL, text) + &ollama::done_line(ollama::MODEL, 2, "stop")
        }
        Backend::Gemini => gemini::final_event(text, "STOP", 2),
        Backend::OpenAi => openai::token(text) + &openai::finish("stop", 2),
    }
}

fn start(b: Backend, conn: &mut crate::support::server::Conn) {
    match b {
        Backend::Ollama => ollama::start(conn),
        Backend::Gemini => gemini::start(conn),
        Backend::OpenAi => {
            conn.start_chunked(200, "text/event-stream");
            conn.chunk(openai::role().as_bytes());
        }
    }
}

fn play(b: Backend, fault: Fault, n: usize, conn: &mut crate::support::server::Conn) {
    match fault {
        Fault::ServerError => {
            let body = match b {
                Backend::Ollama => {
                    r#"{"error":"llama runner process has terminated: exit status 2"}"#
                }
                Backend::Gemini => {
                    r#"{"error": {"code": 500,"message": "An internal error has occurred. Please retry or report in https://developers.generativeai.google/guide/troubleshooting","status": "INTERNAL"}}"#
                }
                Backend::OpenAi => {
                    r#"{"error":{"code":500,"message":"Internal server error","type":"server_error"}}"#
                }
            };
            conn.respond(500, "application/json; charset=utf-8", &[], body.as_bytes());
        }
        Fault::RateLimitShort if n == 0 => match b {
            Backend::Ollama => conn.respond(
                429,
                "application/json; charset=utf-8",
                &[("Retry-After", "1")],
                br#"{"error":"server busy, please try again. maximum pending requests exceeded"}"#,
            ),
            Backend::Gemini => gemini::rate_limited(conn, "0.3s"),
            Backend::OpenAi => conn.respond(
                429,
                "application/json",
                &[("Retry-After", "1")],
                br#"{"error":{"message":"Rate limit reached","type":"rate_limit_error"}}"#,
            ),
        },
        Fault::RateLimitLong => match b {
            Backend::Ollama => conn.respond(
                429,
                "application/json; charset=utf-8",
                &[("Retry-After", "60")],
                br#"{"error":"server busy, please try again. maximum pending requests exceeded"}"#,
            ),
            Backend::Gemini => gemini::rate_limited(conn, "60s"),
            Backend::OpenAi => conn.respond(
                429,
                "application/json",
                &[("Retry-After", "60")],
                br#"{"error":{"message":"Rate limit reached","type":"rate_limit_error"}}"#,
            ),
        },
        Fault::RateLimitShort => {
            start(b, conn);
            conn.chunk(final_line(b, "after retry").as_bytes());
            conn.end();
        }
        Fault::StallMidStream => {
            start(b, conn);
            conn.chunk(ok_line(b, "first").as_bytes());
            conn.wait_closed(Duration::from_secs(10));
        }
        Fault::StallBeforeHeaders => {
            conn.wait_closed(Duration::from_secs(10));
        }
        Fault::ResetMidStream => {
            start(b, conn);
            conn.chunk(ok_line(b, "partial").as_bytes());
            std::thread::sleep(Duration::from_millis(50));
            // Dropped without the terminating chunk.
        }
        Fault::MalformedAfterOutput => {
            start(b, conn);
            conn.chunk(ok_line(b, "good").as_bytes());
            let bad: &[u8] = match b {
                Backend::Ollama => b"{\"model\":\"m\",\"message\":{\"content\":\"oops\"\n",
                Backend::Gemini => b"data: {\"candidates\": [{\"content\"\r\n\r\n",
                Backend::OpenAi => b"data: {\"choices\": [{\"delta\"\n\n",
            };
            conn.chunk(bad);
            conn.chunk(final_line(b, " never").as_bytes());
            conn.end();
        }
        Fault::MalformedBeforeOutput => {
            start(b, conn);
            let bad: &[u8] = match b {
                Backend::Ollama => b"not json at all\n",
                Backend::Gemini => b"data: <html>502 Bad Gateway</html>\r\n\r\n",
                Backend::OpenAi => b"data: <html>502 Bad Gateway</html>\n\n",
            };
            conn.chunk(bad);
            conn.end();
        }
        Fault::HugeToken => {
            start(b, conn);
            let big = "x".repeat(4 << 20);
            conn.chunk(final_line(b, &big).as_bytes());
            conn.end();
        }
        Fault::SlowDrip => {
            start(b, conn);
            conn.chunk(ok_line(b, "first").as_bytes());
            let line = ok_line(b, "drip");
            for byte in line.as_bytes() {
                conn.chunk(std::slice::from_ref(byte));
                std::thread::sleep(Duration::from_millis(100));
            }
            conn.wait_closed(Duration::from_secs(10));
        }
    }
}

fn expect(fault: Fault) -> Expect {
    match fault {
        Fault::ServerError => Expect {
            code: 0,
            stdout: "fallback answer",
            stderr: "HTTP 500",
            fallback: true,
        },
        Fault::RateLimitShort => Expect {
            code: 0,
            stdout: "after retry",
            stderr: "retrying in",
            fallback: false,
        },
        Fault::RateLimitLong => Expect {
            code: 0,
            stdout: "fallback answer",
            stderr: "HTTP 429",
            fallback: true,
        },
        Fault::StallMidStream => Expect {
            code: 6,
            stdout: "first",
            stderr: "idle timeout",
            fallback: false,
        },
        Fault::StallBeforeHeaders => Expect {
            code: 0,
            stdout: "fallback answer",
            stderr: "no answer from the server in time",
            fallback: true,
        },
        Fault::ResetMidStream => Expect {
            code: 6,
            stdout: "partial",
            stderr: "stream interrupted after 7 bytes",
            fallback: false,
        },
        Fault::MalformedAfterOutput => Expect {
            code: 6,
            stdout: "good",
            stderr: "malformed",
            fallback: false,
        },
        Fault::MalformedBeforeOutput => Expect {
            code: 0,
            stdout: "fallback answer",
            stderr: "malformed",
            fallback: true,
        },
        Fault::HugeToken => Expect {
            code: 0,
            stdout: "",
            stderr: "done via",
            fallback: false,
        },
        // The cell's profiles.toml gives a 1.5 s deadline: the message says so exactly.
        Fault::SlowDrip => Expect {
            code: 6,
            stdout: "first",
            stderr: "did not finish in time (deadline 1.5s)",
            fallback: false,
        },
    }
}

const FAULTS: [Fault; 10] = [
    Fault::ServerError,
    Fault::RateLimitShort,
    Fault::RateLimitLong,
    Fault::StallMidStream,
    Fault::StallBeforeHeaders,
    Fault::ResetMidStream,
    Fault::MalformedAfterOutput,
    Fault::MalformedBeforeOutput,
    Fault::HugeToken,
    Fault::SlowDrip,
];

fn cell(b: Backend, fault: Fault) {
    let sb = Sandbox::new();
    // Small timeouts keep the suite fast: idle 0.5 s, deadline 1.5 s.
    sb.write(
        "profiles.toml",
        "[timeouts]\nidle = 0.5\ndeadline = 1.5\nretry_cap = 2\n",
    );
    let faulty = Server::start(move |n, _, conn| play(b, fault, n, conn));
    let other_backend = match b {
        Backend::Ollama | Backend::OpenAi => Backend::Gemini,
        Backend::Gemini => Backend::Ollama,
    };
    let other = Arc::new(Server::start(move |_, _, conn| {
        start(other_backend, conn);
        conn.chunk(final_line(other_backend, "fallback answer").as_bytes());
        conn.end();
    }));
    let (faulty_url, other_url) = (faulty.url(), other.url());
    let (ollama_url, gemini_url, prompt) = match b {
        Backend::Ollama => (
            faulty_url,
            other_url,
            "write a function that adds two numbers",
        ),
        Backend::Gemini => (
            other_url,
            faulty_url,
            "Design the architecture for a multi-tenant billing system",
        ),
        Backend::OpenAi => (
            faulty_url,
            other_url,
            "write a function that adds two numbers",
        ),
    };
    let want = expect(fault);
    let label = format!("{b:?} × {fault:?}");
    // Every cell runs at full verbosity with a canary key: it must never show.
    let mut t = Test::new(&sb);
    if b == Backend::OpenAi {
        t = t
            .env("CODEX_WRAP_LOCAL_BACKEND", "openai")
            .env("OPENAI_BASE_URL", format!("{ollama_url}/v1"));
    }
    t = t
        .env("OLLAMA_URL", ollama_url)
        .env("GEMINI_BASE_URL", gemini_url)
        .env("GEMINI_API_KEY", CANARY)
        .env("RUST_LOG", "trace")
        .env("OPENAI_API_KEY", CANARY)
        .args(["-vv", prompt])
        .trace()
        .code(want.code)
        .stderr_has(want.stderr)
        .stderr_lacks(CANARY)
        .stdout_lacks(CANARY)
        .stderr_lacks("panicked");
    if b == Backend::Gemini {
        // The prompt routes to the API, which says the project has no context files.
        t = t.stderr_has(NO_CONTEXT);
    }
    match fault {
        // 4 MiB: compared below without printing it.
        Fault::HugeToken => {}
        _ => t = t.stdout(want.stdout),
    }
    // Names the cell in the output of a failing run.
    eprintln!("{label}");
    let r = t.run();
    for server in [&faulty, &*other] {
        for req in server.requests() {
            assert!(
                !req.request_line.contains(CANARY),
                "{label}: key in request line"
            );
        }
    }
    if let Fault::HugeToken = fault {
        assert_eq!(r.stdout.len(), 4 << 20, "{label}: the whole token");
        assert!(r.stdout.iter().all(|&c| c == b'x'));
    }
    assert_eq!(
        other.hits() > 0,
        want.fallback,
        "{label}: fallback; stderr:\n{}",
        r.stderr
    );
    // The run log: one record for the call, with its exit code and fallbacks, no key.
    let log = std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl"))
        .unwrap_or_else(|e| panic!("{label}: run log: {e}"));
    assert!(!log.contains(CANARY), "{label}: key in the run log");
    assert_eq!(log.lines().count(), 1, "{label}: one record:\n{log}");
    let record: serde_json::Value = serde_json::from_str(log.trim_end()).unwrap();
    assert_eq!(record["exit"], want.code, "{label}: logged exit");
    if want.code == 0 {
        let fell_back = record["fallbacks"] == 1;
        assert_eq!(fell_back, want.fallback, "{label}: logged fallback: {log}");
    }
}

#[test]
fn ollama_fault_matrix() {
    for fault in FAULTS {
        cell(Backend::Ollama, fault);
    }
}

#[test]
fn openai_fault_matrix() {
    for fault in FAULTS {
        cell(Backend::OpenAi, fault);
    }
}

#[test]
fn gemini_fault_matrix() {
    for fault in FAULTS {
        cell(Backend::Gemini, fault);
    }
}

/// A listener whose accept queue is full: SYNs are dropped, so connecting hangs until the
/// client's connect timeout, as with a firewalled or unreachable host.
#[test]
fn a_connect_timeout_falls_back_to_the_other_route() {
    let (addr, _held) = blackhole();
    let sb = Sandbox::new();
    let api = gemini::fake().answering("from the api");
    let r = Test::new(&sb)
        .env("OLLAMA_URL", format!("http://{addr}"))
        .gemini(&api)
        .args([
            "--connect-timeout",
            "0.5",
            "write a function that adds two numbers",
        ])
        .stdout("from the api")
        .stderr_has("timed out")
        .run();
    assert!(r.elapsed < Duration::from_secs(5), "{:?}", r.elapsed);
}

#[test]
fn idle_timeout_flag_overrides_the_file() {
    let sb = Sandbox::new();
    let server = Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(ollama::token_line(ollama::MODEL, "first").as_bytes());
        conn.wait_closed(Duration::from_secs(10));
    });
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "--idle-timeout", "0.3", "x"])
        .code(6)
        .stdout("first")
        .stderr_has("no data for 0.3s (idle timeout)")
        .run();
}

#[test]
fn gemini_empty_completion_and_split_utf8_through_the_binary() {
    let sb = Sandbox::new();
    let empty = Server::start(|_, _, conn| {
        gemini::start(conn);
        conn.chunk(gemini::final_event("", "STOP", 0).as_bytes());
        conn.end();
    });
    Test::new(&sb)
        .gemini(&empty)
        .args(["--api", "x"])
        .code(7)
        .stdout("")
        .stderr_has(NO_CONTEXT)
        .stderr_has("empty answer")
        .run();

    let split = Server::start(|_, _, conn| {
        gemini::start(conn);
        let event = gemini::final_event("naïve 😀 ok", "STOP", 3);
        let cut = event.find('😀').unwrap() + 1; // inside the emoji
        conn.chunk(&event.as_bytes()[..cut]);
        std::thread::sleep(Duration::from_millis(30));
        conn.chunk(&event.as_bytes()[cut..]);
        conn.end();
    });
    Test::new(&sb)
        .gemini(&split)
        .args(["--api", "x"])
        .stdout("naïve 😀 ok")
        .stderr_has(NO_CONTEXT)
        .run();
}

#[test]
fn a_server_that_accepts_and_never_reads_trips_the_first_byte_timeout() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        let held: Vec<_> = listener.incoming().take(2).collect();
        std::thread::sleep(Duration::from_secs(10));
        drop(held);
    });
    let sb = Sandbox::new();
    let api = gemini::fake().answering("api");
    let r = Test::new(&sb)
        .env("OLLAMA_URL", format!("http://{addr}"))
        .gemini(&api)
        .args([
            "--first-byte-timeout",
            "0.5",
            "write a function that adds two numbers",
        ])
        .stdout("api")
        .stderr_has("no answer from the server in time")
        .run();
    assert!(r.elapsed < Duration::from_secs(5), "{:?}", r.elapsed);

    // The same with nowhere to fall back: exit 5.
    Test::new(&sb)
        .env("OLLAMA_URL", format!("http://{addr}"))
        .args(["--local", "--first-byte-timeout", "0.5", "x"])
        .code(5)
        .stdout("")
        .stderr_has("no answer from the server in time")
        .run();
}

#[test]
fn gemini_refused_falls_back_to_local_and_forced_api_exits_4() {
    let sb = Sandbox::new();
    let local = ollama::fake().answering("local");
    Test::new(&sb)
        .ollama(&local)
        .env("GEMINI_API_KEY", "k")
        .arg("Design the architecture for a multi-tenant billing system")
        .stdout("local")
        .stderr_has(NO_CONTEXT)
        .stderr_has("cannot connect to http://127.0.0.1:9")
        .run();
    Test::new(&sb)
        .env("GEMINI_API_KEY", "k")
        .args(["--api", "x"])
        .code(4)
        .stdout("")
        .stderr_has(NO_CONTEXT)
        .stderr_has("cannot connect")
        .run();
}
