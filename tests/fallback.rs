//! Fallback between routes before the first byte, and never after it.

use crate::support::{NO_CONTEXT, Sandbox, Server, Test, gemini, ollama};

#[test]
fn local_refused_falls_back_to_the_api() {
    let sb = Sandbox::new();
    let api = gemini::fake().streaming(&["from ", "gemini"]);
    Test::new(&sb)
        .gemini(&api)
        .arg("write a haiku")
        .stdout("from gemini")
        .stderr_has("falling back to api (gemini gemini-flash-latest)")
        .stderr_has("Connection refused")
        .run();
}

#[test]
fn local_model_not_found_falls_back_and_says_ollama_pull() {
    let sb = Sandbox::new();
    let local = Server::start(|_, req, conn| {
        let model = req.json()["model"].as_str().unwrap().to_owned();
        ollama::not_found(conn, &model);
    });
    let api = gemini::fake().answering("api answer");
    Test::new(&sb)
        .ollama(&local)
        .gemini(&api)
        .arg("x")
        .stdout("api answer")
        .stderr_has("ollama pull qwen2.5:14b-instruct-q4_K_M")
        .run();
}

#[test]
fn forced_local_does_not_fall_back() {
    let sb = Sandbox::new();
    let api = gemini::fake().answering("nope");
    Test::new(&sb)
        .gemini(&api)
        .args(["--local", "x"])
        .code(4)
        .stdout("")
        .stderr_has("ollama serve")
        .run();
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
    let api = gemini::fake().answering("second answer");
    Test::new(&sb)
        .ollama(&local)
        .gemini(&api)
        .arg("x")
        .code(6)
        .stdout("half an ans")
        .stderr_has("stream interrupted after 11 bytes")
        .run();
    assert_eq!(api.hits(), 0);
}

#[test]
fn without_a_key_the_start_line_says_there_is_no_api_fallback() {
    let sb = Sandbox::new();
    Test::new(&sb)
        .arg("write a function")
        .code(4)
        .stdout("")
        .stderr_has("(no api fallback: no Gemini API key (set GEMINI_API_KEY))")
        .stderr_has("ollama serve")
        .run();
}

#[test]
fn api_without_key_is_unavailable_with_a_hint() {
    let sb = Sandbox::new();
    Test::new(&sb)
        .args(["--api", "x"])
        .code(4)
        .stdout("")
        // NOTE: the context files are looked for (and their absence warned about) before
        // the missing key makes the call impossible; the warning is noise here.
        .stderr_has(NO_CONTEXT)
        .stderr_has("set GEMINI_API_KEY")
        .run();
}

#[test]
fn disabled_local_goes_straight_to_the_api() {
    let sb = Sandbox::new();
    let api = gemini::fake().answering("api");
    Test::new(&sb)
        .gemini(&api)
        .env("LLM_GATEWAY_DISABLE_LOCAL", "1")
        .arg("x")
        .stdout("api")
        .run();
    Test::new(&sb)
        .env("LLM_GATEWAY_DISABLE_LOCAL", "1")
        .args(["--local", "x"])
        .code(4)
        .stdout("")
        .stderr_has("disabled by LLM_GATEWAY_DISABLE_LOCAL")
        .run();
}

#[test]
fn json_carries_the_fallback_and_every_attempt_as_typed_events() {
    let sb = Sandbox::new();
    let api = gemini::fake().streaming(&["from ", "gemini"]);
    let out = Test::new(&sb)
        .gemini(&api)
        .args(["--json", "write a haiku"])
        .stderr_has("falling back to api (gemini gemini-flash-latest)")
        .run();
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
