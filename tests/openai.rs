//! The OpenAI-compatible backend against an in-process server speaking its SSE format.

use crate::support::{GeminiCmd, Sandbox, Server, gemini, openai, run};

#[test]
fn the_local_route_can_be_an_openai_server_with_a_bearer_key() {
    let sb = Sandbox::new();
    let server =
        Server::start(|_, _, conn| openai::stream(conn, &["Hello", ", ", "world"], "stop"));
    let mut cmd = sb.cmd();
    cmd.env("CODEX_WRAP_LOCAL_BACKEND", "openai")
        .env("OPENAI_BASE_URL", format!("{}/v1", server.url()))
        .env("OPENAI_API_KEY", "sk-canary-91ab")
        .args(["-l", "-vv", "greet"]);
    let r = run(cmd);
    r.assert_code(0)
        .assert_stdout("Hello, world")
        .assert_stderr_has("12 in / 3 out");
    assert!(!r.stderr.contains("sk-canary-91ab"));
    let req = &server.requests()[0];
    assert_eq!(req.request_line, "POST /v1/chat/completions HTTP/1.1");
    assert_eq!(req.header("authorization"), Some("Bearer sk-canary-91ab"));
    let body = req.json();
    assert_eq!(body["stream"], true);
    assert_eq!(body["stream_options"]["include_usage"], true);
    assert_eq!(body["messages"][1]["content"], "greet");
}

#[test]
fn the_api_route_can_be_openai_from_profiles_toml() {
    let sb = Sandbox::new();
    let server = Server::start(|_, _, conn| openai::stream(conn, &["routed"], "stop"));
    sb.user_config(&format!(
        "[routes]\napi = \"openai\"\n[openai]\nbase_url = \"{}/v1\"\nmodel = \"router-model\"\n",
        server.url()
    ));
    let mut cmd = sb.cmd();
    cmd.args(["--api", "x"]);
    run(cmd).assert_code(0).assert_stdout("routed");
    assert_eq!(server.requests()[0].json()["model"], "router-model");
    assert!(server.requests()[0].header("authorization").is_none());
}

#[test]
fn length_is_reported_content_filter_blocks_and_errors_carry_their_message() {
    let sb = Sandbox::new();
    let env = |cmd: &mut std::process::Command, url: String| {
        cmd.env("CODEX_WRAP_LOCAL_BACKEND", "openai")
            .env("OPENAI_BASE_URL", format!("{url}/v1"));
    };
    let length = Server::start(|_, _, conn| openai::stream(conn, &["cut"], "length"));
    let mut cmd = sb.cmd();
    env(&mut cmd, length.url());
    cmd.args(["-l", "x"]);
    run(cmd)
        .assert_code(0)
        .assert_stdout("cut")
        .assert_stderr_has("token limit");

    let filtered = Server::start(|_, _, conn| openai::stream(conn, &[], "content_filter"));
    let mut cmd = sb.cmd();
    env(&mut cmd, filtered.url());
    cmd.args(["-l", "x"]);
    run(cmd)
        .assert_code(7)
        .assert_stdout("")
        .assert_stderr_has("content_filter");

    let mid = Server::start(|_, _, conn| {
        conn.start_chunked(200, "text/event-stream");
        conn.chunk(openai::token("part").as_bytes());
        conn.chunk(
            b"data: {\"error\":{\"message\":\"the model crashed\",\"type\":\"server_error\"}}\n\n",
        );
        conn.end();
    });
    let mut cmd = sb.cmd();
    env(&mut cmd, mid.url());
    cmd.args(["-l", "x"]);
    run(cmd)
        .assert_code(6)
        .assert_stdout("part")
        .assert_stderr_has("the model crashed");

    let bad = Server::start(|_, _, conn| {
        conn.respond(
            400,
            "application/json",
            &[],
            br#"{"error":{"message":"model 'nope' not found","type":"invalid_request_error"}}"#,
        );
    });
    let api = Server::start(|_, _, conn| gemini::stream(conn, &["fallback"]));
    let mut cmd = sb.cmd();
    env(&mut cmd, bad.url());
    cmd.gemini(&api).arg("write a function");
    run(cmd)
        .assert_code(0)
        .assert_stdout("fallback")
        .assert_stderr_has("HTTP 400: model 'nope' not found");
}

#[test]
fn an_unknown_backend_name_is_a_config_error() {
    let sb = Sandbox::new();
    let mut cmd = sb.cmd();
    cmd.env("CODEX_WRAP_API_BACKEND", "ollama").arg("x");
    run(cmd)
        .assert_code(3)
        .assert_stderr_has("CODEX_WRAP_API_BACKEND = 'ollama'");
}
