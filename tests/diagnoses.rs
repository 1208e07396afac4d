//! Issue 15: what real servers that are not quite Ollama taught us. Each test drives the real
//! binary against an in-process server that answers the way such a server does.

use crate::support::{Calls, Sandbox, Server, Test, ollama};

/// A llama-server (or any OpenAI-compatible server) at `OLLAMA_URL`: `/api/chat` is a 404
/// with an error object, `/v1/models` lists its model.
fn openai_style_server() -> Server {
    Server::start(|_, req, conn| {
        match req.path.as_str() {
        "/v1/models" => conn.respond(
            200,
            "application/json; charset=utf-8",
            &[],
            br#"{"object":"list","data":[{"id":"smollm2","object":"model","created":1764000000,"owned_by":"llamacpp"}]}"#,
        ),
        _ => conn.respond(
            404,
            "application/json; charset=utf-8",
            &[],
            br#"{"error":{"code":404,"message":"File Not Found","type":"not_found_error"}}"#,
        ),
    }
    })
}

#[test]
fn item_1_a_404_from_a_server_that_is_not_ollama_suggests_the_openai_backend() {
    let sb = Sandbox::new();
    let server = openai_style_server().expect(Calls::Exactly(2));
    let r = Test::new(&sb)
        .env("OLLAMA_URL", server.url())
        .args(["--local", "write a function"])
        .code(4)
        .stderr_has("HTTP 404: File Not Found")
        .run();
    assert!(!r.stderr.contains("ollama pull"), "{}", r.stderr);
    assert!(
        r.stderr.contains(&format!(
            "has no /api/chat and is probably not Ollama, but it answers /v1/models: try CODEX_WRAP_LOCAL_BACKEND=openai OPENAI_BASE_URL={}/v1",
            server.url()
        )),
        "{}",
        r.stderr
    );
}

#[test]
fn item_1_ollamas_own_model_not_found_still_says_pull_and_a_bare_404_says_not_ollama() {
    let sb = Sandbox::new();
    let missing = Server::start(|_, req, conn| {
        let model = req.json()["model"].as_str().unwrap_or_default().to_owned();
        ollama::not_found(conn, &model);
    })
    .expect(Calls::Exactly(1));
    Test::new(&sb)
        .env("OLLAMA_URL", missing.url())
        .args(["--local", "x"])
        .code(4)
        .stderr_has("run `ollama pull qwen2.5:14b-instruct-q4_K_M`")
        .run();
    let proxy = Server::start(|_, _, conn| {
        conn.respond(404, "text/plain", &[], b"404 page not found");
    })
    .expect(Calls::Exactly(2));
    let r = Test::new(&sb)
        .env("OLLAMA_URL", proxy.url())
        .args(["--local", "x"])
        .code(4)
        .stderr_has(&format!(
            "the server at {} has no /api/chat: it is probably not Ollama",
            proxy.url()
        ))
        .run();
    assert!(!r.stderr.contains("ollama pull"), "{}", r.stderr);
}

#[test]
fn item_3_a_chat_stream_in_generate_shape_is_a_protocol_error_naming_what_is_missing() {
    let sb = Sandbox::new();
    let server = Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(br#"{"model":"m","created_at":"2026-11-23T12:00:00Z","response":"Hi","done":false}
"#);
        conn.chunk(br#"{"model":"m","created_at":"2026-11-23T12:00:01Z","response":"","done":true,"done_reason":"stop","eval_count":1}
"#);
        conn.end();
    })
    .expect(Calls::Exactly(1));
    let r = Test::new(&sb)
        .env("OLLAMA_URL", server.url())
        .args(["--local", "x"])
        .code(4)
        .stderr_has("has neither `message` nor `error` (it has: created_at, done, model, response)")
        .run();
    assert!(!r.stderr.contains("token limit"), "{}", r.stderr);
}

#[test]
fn item_14_an_invalid_url_in_a_variable_is_a_configuration_error_naming_it() {
    let sb = Sandbox::new();
    let r = Test::new(&sb)
        .env("OLLAMA_URL", "http://[::1")
        .args(["--local", "x"])
        .code(3)
        .stderr_has("OLLAMA_URL = 'http://[::1' is not a valid URL")
        .run();
    assert!(!r.stderr.contains("builder error"), "{}", r.stderr);
    Test::new(&sb)
        .env("OPENAI_BASE_URL", "http://user:pw@[::1/v1")
        .args(["--local", "x"])
        .code(3)
        .stderr_has("OPENAI_BASE_URL = 'http://(redacted)@[::1/v1' is not a valid URL")
        .run();
}

#[test]
fn item_5_every_command_with_json_prints_its_error_object() {
    let sb = Sandbox::new();
    for args in [
        vec!["warm", "--json"],
        vec!["models", "--json"],
        vec!["--json", "--local", "x"],
    ] {
        let r = Test::new(&sb)
            .env("OLLAMA_URL", "http://127.0.0.1:9")
            .args(&args)
            .code(4)
            .stderr_has("is Ollama running at http://127.0.0.1:9")
            .run();
        let doc: serde_json::Value = serde_json::from_str(r.stdout().trim()).unwrap_or_else(|e| {
            panic!(
                "{args:?}: stdout is not one JSON object ({e}): {:?}",
                r.stdout()
            )
        });
        assert_eq!(doc["ok"], false, "{args:?}: {doc}");
        assert_eq!(doc["exit_code"], 4, "{args:?}: {doc}");
        assert!(
            doc["error"]
                .as_str()
                .unwrap_or_default()
                .contains("127.0.0.1:9"),
            "{args:?}: {doc}"
        );
    }
    // A configuration error too.
    let r = Test::new(&sb)
        .env("OLLAMA_URL", "http://[::1")
        .args(["models", "--json"])
        .code(3)
        .stderr_has("is not a valid URL")
        .run();
    let doc: serde_json::Value = serde_json::from_str(r.stdout().trim()).unwrap();
    assert_eq!(doc["exit_code"], 3, "{doc}");
}

#[test]
fn item_4_a_connection_broken_mid_answer_is_said_plainly_and_logged_as_interrupted() {
    let sb = Sandbox::new();
    let server = Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(ollama::token_line(ollama::MODEL, "partial").as_bytes());
        std::thread::sleep(std::time::Duration::from_millis(50));
        // Dropped without the terminating chunk.
    })
    .expect(Calls::Exactly(1));
    let r = Test::new(&sb)
        .env("OLLAMA_URL", server.url())
        .args(["--local", "x"])
        .code(6)
        .stdout("partial")
        .stderr_has("the server closed the connection mid-answer after 7 bytes")
        .run();
    assert!(
        !r.stderr.contains("error decoding response body"),
        "{}",
        r.stderr
    );
    let log = std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(log.trim_end()).unwrap();
    assert_eq!(record["attempts"][0]["result"], "interrupted", "{record}");
    assert!(record["ttft_ms"].as_f64().is_some(), "{record}");
    assert_eq!(record["tokens_out"], 2, "{record}");
    assert_eq!(record["tokens_estimated"], true, "{record}");
}

#[test]
fn item_2_doctor_tells_not_running_not_ollama_model_missing_and_ready_apart() {
    let sb = Sandbox::new();
    let not_ollama = openai_style_server();
    let missing = ollama::admin(&["llama3:8b"]);
    let ready = ollama::admin(&[ollama::MODEL]);
    for (url, code, want) in [
        (
            "http://127.0.0.1:9".to_owned(),
            4,
            "not running: http://127.0.0.1:9 does not answer".to_owned(),
        ),
        (
            not_ollama.url(),
            4,
            format!(
                "answers, but not an Ollama server: GET /api/version answered HTTP 404: File Not Found (the server at {0} has no /api/chat and is probably not Ollama, but it answers /v1/models: try CODEX_WRAP_LOCAL_BACKEND=openai OPENAI_BASE_URL={0}/v1)",
                not_ollama.url()
            ),
        ),
        (
            missing.url(),
            4,
            format!(
                "model missing: {}: Ollama 0.12.6 has no {} (run `ollama pull {}`)",
                missing.url(),
                ollama::MODEL,
                ollama::MODEL
            ),
        ),
        (
            ready.url(),
            0,
            format!(
                "ready: {}: Ollama 0.12.6, {} present",
                ready.url(),
                ollama::MODEL
            ),
        ),
    ] {
        let r = Test::new(&sb)
            .env("OLLAMA_URL", &url)
            .env("GEMINI_API_KEY", "k")
            .args(["doctor"])
            .code(code)
            .run();
        let local = r
            .stdout()
            .lines()
            .find(|l| l.starts_with("local "))
            .unwrap_or_default()
            .to_owned();
        assert!(local.contains(&want), "{url}: {local}\n{}", r.stdout());
    }
}
