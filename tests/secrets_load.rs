//! Secrets never leave the header, at any verbosity; parallel calls get their own answers.

use std::time::Duration;

use crate::support::{NO_CONTEXT, Sandbox, Server, Test, gemini, ollama, openai};

const CANARY: &str = "canary-AIzaSy-7f3e9b1d";

#[test]
fn the_key_appears_nowhere_but_the_header_at_full_verbosity() {
    // Paths: success, 429, 500, refused fallback, dry-run.
    let ok = gemini::fake().answering("fine");
    let limited = Server::start(|_, _, conn| gemini::rate_limited(conn, "60s"));
    let broken = gemini::fake().failing(
        500,
        r#"{"error":{"code":500,"message":"internal","status":"INTERNAL"}}"#,
    );
    for (url, extra, code, error) in [
        (ok.url(), vec!["--api"], 0, None),
        (
            limited.url(),
            vec!["--api"],
            4,
            Some("HTTP 429: You exceeded"),
        ),
        (broken.url(), vec!["--api"], 4, Some("HTTP 500")),
        (
            "http://127.0.0.1:9".to_owned(),
            vec!["--api"],
            4,
            Some("cannot connect to"),
        ),
        (ok.url(), vec!["--api", "--dry-run"], 0, None),
    ] {
        let sb = Sandbox::new();
        let mut t = Test::new(&sb)
            .env("GEMINI_BASE_URL", &url)
            .env("GEMINI_API_KEY", CANARY)
            .env("RUST_LOG", "trace")
            .arg("-vv")
            .args(&extra)
            .arg("hello")
            .trace()
            .code(code)
            .stderr_has(NO_CONTEXT)
            .stderr_lacks(CANARY)
            .stdout_lacks(CANARY);
        if let Some(error) = error {
            t = t.stderr_has(error);
        }
        let r = t.run();
        assert!(!r.stderr.is_empty(), "trace output expected");
        let log =
            std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap_or_default();
        assert!(!log.contains(CANARY), "{url} {extra:?}: key in the run log");
        assert_eq!(
            log.lines().count(),
            usize::from(!extra.contains(&"--dry-run")),
            "{url} {extra:?}: one record per call sent, none for a dry run"
        );
    }
    for server in [&ok, &limited, &broken] {
        for req in server.requests() {
            assert!(!req.request_line.contains(CANARY), "key in request line");
            assert_eq!(req.header("x-goog-api-key"), Some(CANARY));
        }
    }
}

#[test]
fn thirty_two_parallel_calls_each_get_their_own_answer() {
    let sb = Sandbox::new();
    let server = Server::start(|_, req, conn| {
        let prompt = req.json()["messages"]
            .as_array()
            .and_then(|m| m.last())
            .and_then(|m| m["content"].as_str())
            .unwrap_or_default()
            .to_owned();
        ollama::start(conn);
        for word in prompt.split(' ') {
            conn.chunk(ollama::token_line(ollama::MODEL, &format!("{word}|")).as_bytes());
            std::thread::sleep(Duration::from_millis(2));
        }
        conn.chunk(ollama::done_line(ollama::MODEL, 3, "stop").as_bytes());
        conn.end();
    });
    let calls: Vec<_> = (0..32)
        .map(|i| {
            let call = Test::new(&sb)
                .ollama(&server)
                .args(["-l", "-q", &format!("call {i} of thirtytwo")])
                .limit(Duration::from_secs(30))
                .stdout(&format!("call|{i}|of|thirtytwo|"))
                .stderr("");
            std::thread::spawn(move || call.run())
        })
        .collect();
    for call in calls {
        call.join().unwrap();
    }
    assert_eq!(server.hits(), 32);
    // 32 appends to the same run log: 32 whole lines, one per call, none torn.
    let log = std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap();
    assert_eq!(log.lines().count(), 32, "{log}");
    let mut hashes: Vec<String> = log
        .lines()
        .map(|line| {
            let r: serde_json::Value = serde_json::from_str(line).expect("a whole JSON line");
            assert_eq!(r["exit"], 0);
            r["prompt_hash"].as_str().unwrap().to_owned()
        })
        .collect();
    hashes.sort();
    hashes.dedup();
    assert_eq!(hashes.len(), 32, "each call logged once");
}

/// Issue 15 item 12: a password in any base URL (`http://user:PASSWORD@host`) reaches the
/// server as the URL's credentials and is shown nowhere: start line, hints, doctor,
/// `--dry-run`, `--json`, the run log, at full verbosity.
#[test]
fn a_password_in_any_base_url_appears_nowhere() {
    const PASSWORD: &str = "urlpass-canary-5d1c";
    let ollama_ok = Server::start(|_, req, conn| match req.path.as_str() {
        "/api/version" => ollama::version(conn),
        "/api/tags" => ollama::tags(conn, &[ollama::MODEL]),
        _ => ollama::stream(conn, &["fine"]),
    });
    let openai_ok = openai::fake().answering("fine");
    let gemini_ok = gemini::fake().answering("fine");
    let with_password = |url: &str| url.replacen("http://", &format!("http://user:{PASSWORD}@"), 1);
    let refused = "http://127.0.0.1:9".to_owned();
    let cases: Vec<(&str, String, Vec<&str>)> = [
        ("OLLAMA_URL", ollama_ok.url(), vec!["--local"]),
        ("OPENAI_BASE_URL", openai_ok.url() + "/v1", vec!["--local"]),
        ("GEMINI_BASE_URL", gemini_ok.url(), vec!["--api"]),
    ]
    .into_iter()
    .flat_map(|(var, url, route)| {
        [
            (var, url.clone(), route.clone()),
            (var, url.clone(), [route.clone(), vec!["--json"]].concat()),
            (
                var,
                url.clone(),
                [route.clone(), vec!["--dry-run"]].concat(),
            ),
            (var, refused.clone(), route.clone()),
            (
                var,
                refused.clone(),
                [route.clone(), vec!["--json"]].concat(),
            ),
            (var, url.clone(), vec!["doctor"]),
            (var, refused.clone(), vec!["doctor", "--json"]),
        ]
    })
    .collect();
    for (var, url, args) in cases {
        let sb = Sandbox::new();
        let doctor = args[0] == "doctor";
        let down = url == refused;
        let mut t = Test::new(&sb)
            .env(var, with_password(&url))
            .env("GEMINI_API_KEY", "k")
            .env("RUST_LOG", "trace")
            .trace()
            .args(&args);
        if var == "OPENAI_BASE_URL" {
            t = t.env("CODEX_WRAP_LOCAL_BACKEND", "openai");
        }
        if !doctor {
            t = t.args(["-vv", "hello"]);
        }
        // doctor passes only with Ollama up: the fake OpenAI server answers /v1/models with
        // a chat stream, and with Gemini set nothing listens at OLLAMA_URL.
        if down || (doctor && var != "OLLAMA_URL") {
            t = t.code(4);
        }
        if down && !doctor {
            t = t.stderr_has("cannot connect to");
        }
        // NOTE: a forced-local dry run warns about missing context files (see pool.rs).
        if !doctor && (var == "GEMINI_BASE_URL" || args.contains(&"--dry-run")) {
            t = t.stderr_has(NO_CONTEXT);
        }
        let r = t.run();
        let log =
            std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap_or_default();
        for (what, text) in [
            ("stderr", &r.stderr),
            ("stdout", &r.stdout()),
            ("run log", &log),
        ] {
            assert!(
                !text.contains(PASSWORD),
                "{var}={url} {args:?}: the password is in {what}:\n{text}"
            );
        }
        if !down && !args.contains(&"--dry-run") && !doctor {
            assert!(
                r.stderr.contains("(redacted)@") || args.contains(&"--json"),
                "{var} {args:?}: {}",
                r.stderr
            );
        }
    }
    for server in [&ollama_ok, &openai_ok, &gemini_ok] {
        let req = server
            .requests()
            .into_iter()
            .find(|r| r.request_line.starts_with("POST"));
        let auth = req
            .as_ref()
            .and_then(|r| r.header("authorization"))
            .unwrap_or_default();
        assert!(
            auth.starts_with("Basic "),
            "the URL's credentials reach the server: {auth:?}"
        );
    }
}
