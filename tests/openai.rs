//! The OpenAI-compatible backend against an in-process server speaking its SSE format.

use crate::support::{NO_CONTEXT, Sandbox, Server, Test, gemini, openai};

#[test]
fn the_local_route_can_be_an_openai_server_with_a_bearer_key() {
    let sb = Sandbox::new();
    let server = openai::fake().streaming(&["Hello", ", ", "world"]);
    Test::new(&sb)
        .openai(&server)
        .env("OPENAI_API_KEY", "sk-canary-91ab")
        .args(["-l", "-vv", "greet"])
        .trace()
        .stdout("Hello, world")
        .stderr_has("12 in / 3 out")
        .stderr_lacks("sk-canary-91ab")
        .run();
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
    let server = openai::fake().answering("routed");
    sb.user_config(&format!(
        "[routes]\napi = \"openai\"\n[openai]\nbase_url = \"{}/v1\"\nmodel = \"router-model\"\n",
        server.url()
    ));
    Test::new(&sb)
        .args(["--api", "x"])
        .stdout("routed")
        .stderr_has(NO_CONTEXT)
        .run();
    assert_eq!(server.requests()[0].json()["model"], "router-model");
    assert!(server.requests()[0].header("authorization").is_none());
}

#[test]
fn length_is_reported_content_filter_blocks_and_errors_carry_their_message() {
    let sb = Sandbox::new();
    let length = openai::fake().finish("length").answering("cut");
    Test::new(&sb)
        .openai(&length)
        .args(["-l", "x"])
        .stdout("cut")
        .stderr_has("token limit")
        .run();

    let filtered = openai::fake().finish("content_filter").streaming(&[]);
    Test::new(&sb)
        .openai(&filtered)
        .args(["-l", "x"])
        .code(7)
        .stdout("")
        .stderr_has("content_filter")
        .run();

    let mid = Server::start(|_, _, conn| {
        conn.start_chunked(200, "text/event-stream");
        conn.chunk(openai::token("part").as_bytes());
        conn.chunk(
            b"data: {\"error\":{\"message\":\"the model crashed\",\"type\":\"server_error\"}}\n\n",
        );
        conn.end();
    });
    Test::new(&sb)
        .openai(&mid)
        .args(["-l", "x"])
        .code(6)
        .stdout("part")
        .stderr_has("the model crashed")
        .run();

    let bad = openai::fake().failing(
        400,
        r#"{"error":{"message":"model 'nope' not found","type":"invalid_request_error"}}"#,
    );
    let api = gemini::fake().answering("fallback");
    Test::new(&sb)
        .openai(&bad)
        .gemini(&api)
        .arg("write a function")
        .stdout("fallback")
        .stderr_has("HTTP 400: model 'nope' not found")
        .run();
}

#[test]
fn an_unknown_backend_name_is_a_config_error() {
    let sb = Sandbox::new();
    Test::new(&sb)
        .env("CODEX_WRAP_API_BACKEND", "ollama")
        .arg("x")
        .code(3)
        .stdout("")
        .stderr_has("CODEX_WRAP_API_BACKEND = 'ollama'")
        .run();
}
