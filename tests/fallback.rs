//! Fallback between routes before the first byte, and never after it.

use crate::support::{GeminiCmd, Sandbox, Server, gemini, ollama, run};

#[test]
fn local_refused_falls_back_to_the_api() {
    let sb = Sandbox::new();
    let api = Server::start(|_, _, conn| gemini::stream(conn, &["from ", "gemini"]));
    let mut cmd = sb.cmd();
    cmd.gemini(&api).arg("write a haiku");
    run(cmd)
        .assert_code(0)
        .assert_stdout("from gemini")
        .assert_stderr_has("falling back to api (gemini gemini-flash-latest)")
        .assert_stderr_has("Connection refused");
}

#[test]
fn local_model_not_found_falls_back_and_says_ollama_pull() {
    let sb = Sandbox::new();
    let local = Server::start(|_, req, conn| {
        let model = req.json()["model"].as_str().unwrap().to_owned();
        ollama::not_found(conn, &model);
    });
    let api = Server::start(|_, _, conn| gemini::stream(conn, &["api answer"]));
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", local.url()).gemini(&api).arg("x");
    run(cmd)
        .assert_code(0)
        .assert_stdout("api answer")
        .assert_stderr_has("ollama pull qwen2.5:14b-instruct-q4_K_M");
}

#[test]
fn forced_local_does_not_fall_back() {
    let sb = Sandbox::new();
    let api = Server::start(|_, _, conn| gemini::stream(conn, &["nope"]));
    let mut cmd = sb.cmd();
    cmd.gemini(&api).args(["--local", "x"]);
    run(cmd)
        .assert_code(4)
        .assert_stdout("")
        .assert_stderr_has("ollama serve");
    assert_eq!(api.hits(), 0);
}

#[test]
fn no_fallback_after_partial_output() {
    let sb = Sandbox::new();
    let local = Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(ollama::token_line(ollama::MODEL, "half an ans").as_bytes());
        std::thread::sleep(std::time::Duration::from_millis(50));
        // No final line, no terminating chunk: the server dies mid-stream.
    });
    let api = Server::start(|_, _, conn| gemini::stream(conn, &["second answer"]));
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", local.url()).gemini(&api).arg("x");
    run(cmd)
        .assert_code(6)
        .assert_stdout("half an ans")
        .assert_stderr_has("stream interrupted after 11 bytes");
    assert_eq!(api.hits(), 0);
}

#[test]
fn without_a_key_the_start_line_says_there_is_no_api_fallback() {
    let sb = Sandbox::new();
    let mut cmd = sb.cmd();
    cmd.arg("write a function");
    run(cmd)
        .assert_code(4)
        .assert_stderr_has("(no api fallback: no Gemini API key (set GEMINI_API_KEY))")
        .assert_stderr_has("ollama serve");
}

#[test]
fn api_without_key_is_unavailable_with_a_hint() {
    let sb = Sandbox::new();
    let mut cmd = sb.cmd();
    cmd.args(["--api", "x"]);
    run(cmd)
        .assert_code(4)
        .assert_stderr_has("set GEMINI_API_KEY");
}

#[test]
fn disabled_local_goes_straight_to_the_api() {
    let sb = Sandbox::new();
    let api = Server::start(|_, _, conn| gemini::stream(conn, &["api"]));
    let mut cmd = sb.cmd();
    cmd.gemini(&api)
        .env("LLM_GATEWAY_DISABLE_LOCAL", "1")
        .arg("x");
    run(cmd).assert_code(0).assert_stdout("api");
    let mut cmd = sb.cmd();
    cmd.env("LLM_GATEWAY_DISABLE_LOCAL", "1")
        .args(["--local", "x"]);
    run(cmd)
        .assert_code(4)
        .assert_stderr_has("disabled by LLM_GATEWAY_DISABLE_LOCAL");
}

#[test]
fn json_carries_the_fallback_and_every_attempt_as_typed_events() {
    let sb = Sandbox::new();
    let api = Server::start(|_, _, conn| gemini::stream(conn, &["from ", "gemini"]));
    let mut cmd = sb.cmd();
    cmd.gemini(&api).args(["--json", "write a haiku"]);
    let out = run(cmd);
    out.assert_code(0)
        .assert_stderr_has("falling back to api (gemini gemini-flash-latest)");
    let doc: serde_json::Value = serde_json::from_str(&out.stdout()).unwrap();
    assert_eq!(doc["text"], "from gemini");
    assert_eq!(doc["truncated"], false);
    let events = doc["events"].as_array().expect("events");
    let types: Vec<&str> = events.iter().map(|e| e["type"].as_str().unwrap()).collect();
    assert_eq!(
        types,
        ["attempt_started", "fallback", "attempt_started"],
        "{doc}"
    );
    assert_eq!(events[0]["route"], "local");
    assert_eq!(events[1]["from"], events[0]["endpoint"]);
    assert_eq!(events[1]["to"], events[2]["endpoint"]);
    assert!(
        events[1]["reason"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{doc}"
    );
}
