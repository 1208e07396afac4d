//! Secrets never leave the header, at any verbosity; parallel calls get their own answers.

use std::process::Stdio;
use std::time::Duration;

use crate::support::{Sandbox, Server, gemini, ollama, run, wait_limited};

const CANARY: &str = "canary-AIzaSy-7f3e9b1d";

#[test]
fn the_key_appears_nowhere_but_the_header_at_full_verbosity() {
    // Paths: success, 429, 500, refused fallback, dry-run.
    let ok = Server::start(|_, _, conn| gemini::stream(conn, &["fine"]));
    let limited = Server::start(|_, _, conn| gemini::rate_limited(conn, "60s"));
    let broken = Server::start(|_, _, conn| {
        conn.respond(
            500,
            "application/json",
            &[],
            br#"{"error":{"code":500,"message":"internal","status":"INTERNAL"}}"#,
        );
    });
    for (url, extra) in [
        (ok.url(), vec!["--api"]),
        (limited.url(), vec!["--api"]),
        (broken.url(), vec!["--api"]),
        ("http://127.0.0.1:9".to_owned(), vec!["--api"]),
        (ok.url(), vec!["--api", "--dry-run"]),
    ] {
        let sb = Sandbox::new();
        let mut cmd = sb.cmd();
        cmd.env("GEMINI_BASE_URL", &url)
            .env("GEMINI_API_KEY", CANARY)
            .env("RUST_LOG", "trace")
            .arg("-vv")
            .args(&extra)
            .arg("hello");
        let r = run(cmd);
        assert!(!r.stderr.is_empty(), "trace output expected");
        assert!(
            !r.stderr.contains(CANARY),
            "{url} {extra:?}: key in stderr:\n{}",
            r.stderr
        );
        assert!(
            !r.stdout().contains(CANARY),
            "{url} {extra:?}: key in stdout"
        );
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
    let children: Vec<_> = (0..32)
        .map(|i| {
            let mut cmd = sb.cmd();
            cmd.env("OLLAMA_URL", server.url())
                .args(["-l", "-q", &format!("call {i} of thirtytwo")])
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            cmd.spawn().unwrap()
        })
        .collect();
    for (i, mut child) in children.into_iter().enumerate() {
        let mut out = String::new();
        std::io::Read::read_to_string(child.stdout.as_mut().unwrap(), &mut out).unwrap();
        assert_eq!(wait_limited(&mut child, Duration::from_secs(30)), Some(0));
        assert_eq!(out, format!("call|{i}|of|thirtytwo|"));
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
    let openai_ok =
        Server::start(|_, _, conn| crate::support::openai::stream(conn, &["fine"], "stop"));
    let gemini_ok = Server::start(|_, _, conn| gemini::stream(conn, &["fine"]));
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
        let mut cmd = sb.cmd();
        cmd.env(var, with_password(&url))
            .env("GEMINI_API_KEY", "k")
            .env("RUST_LOG", "trace");
        if var == "OPENAI_BASE_URL" {
            cmd.env("CODEX_WRAP_LOCAL_BACKEND", "openai");
        }
        cmd.args(&args);
        if args[0] != "doctor" {
            cmd.args(["-vv", "hello"]);
        }
        let r = run(cmd);
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
        if url != refused && !args.contains(&"--dry-run") && args[0] != "doctor" {
            r.assert_code(0);
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
