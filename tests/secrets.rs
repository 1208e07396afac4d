//! No secret handed on: a check runs without the keys codex-wrap reads, and every text
//! shown, logged or sent back to a model is masked for the secret values codex-wrap knows,
//! whatever their source (a model-written script, a server's error body).

use crate::support::{Sandbox, Server, Test, ollama};

const KEY: &str = "AIzaSyTest-0123456789-secret";

#[test]
fn a_model_written_check_echoing_the_key_reaches_neither_stdout_nor_the_repair_request() {
    let sb = Sandbox::new();
    // The key also sits in a project file the script prints: masked whatever its source.
    sb.write("notes.txt", &format!("token {KEY}\n"));
    let server = ollama::fake().answering(
        "```sh t.sh\necho \"env=[$GEMINI_API_KEY] url=[$HTTPS_PROXY]\"\ncat notes.txt\nexit 1\n```\n",
    );
    let r = Test::new(&sb)
        .ollama(&server)
        .env("GEMINI_API_KEY", KEY)
        .env("HTTPS_PROXY", "http://me:proxy-pa55word@127.0.0.1:9")
        .args(["--local", "-w", "--rounds", "2", "--check", "sh t.sh", "x"])
        .code(8)
        .stderr_has("round 1/2")
        .stderr_has("round 2/2")
        .stderr_has("the check still fails")
        .run();
    let out = r.stdout();
    assert!(out.contains("env=[] url=[http://me@127.0.0.1:9]"), "{out}");
    assert!(out.contains("token [redacted]"), "{out}");
    let repair = server.requests()[1].json().to_string();
    assert!(
        repair.contains("env=[] url=[http://me@127.0.0.1:9]"),
        "{repair}"
    );
    assert!(repair.contains("token [redacted]"), "{repair}");
    let log = std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap();
    for text in [&out, &r.stderr, &repair, &log] {
        assert!(!text.contains(KEY), "the key leaked: {text}");
        assert!(
            !text.contains("proxy-pa55word"),
            "the password leaked: {text}"
        );
    }
}

#[test]
fn a_server_error_body_echoing_the_key_is_masked_on_stderr_and_in_the_run_log() {
    let sb = Sandbox::new();
    let server = Server::start(|_, req, conn| {
        let key = req.header("x-goog-api-key").unwrap_or("none").to_owned();
        let body = format!(
            "{{\"error\": {{\"code\": 400, \"message\": \"API key not valid: {key}\", \"status\": \"INVALID_ARGUMENT\"}}}}"
        );
        conn.respond(400, "application/json; charset=UTF-8", &[], body.as_bytes());
    });
    let r = Test::new(&sb)
        .env("GEMINI_BASE_URL", server.url())
        .env("GEMINI_API_KEY", KEY)
        .args(["--api", "--json", "x"])
        .code(4)
        .stderr_has("no CONTRACTS.md")
        .stderr_has("API key not valid: [redacted]")
        .run();
    // The server did receive the key: the test can fail.
    assert_eq!(server.requests()[0].header("x-goog-api-key"), Some(KEY));
    let log = std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap();
    assert!(log.contains("[redacted]"), "{log}");
    for text in [&r.stdout(), &r.stderr, &log] {
        assert!(!text.contains(KEY), "the key leaked: {text}");
    }
}
