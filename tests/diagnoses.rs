//! Issue 15: what real servers that are not quite Ollama taught us. Each test drives the real
//! binary against an in-process server that answers the way such a server does.

use crate::support::{Calls, Sandbox, Server, Test, gemini, ollama, openai};

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
        .ollama(&server)
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
        .ollama(&missing)
        .args(["--local", "x"])
        .code(4)
        .stderr_has("run `ollama pull qwen2.5:14b-instruct-q4_K_M`")
        .run();
    let proxy = Server::start(|_, _, conn| {
        conn.respond(404, "text/plain", &[], b"404 page not found");
    })
    .expect(Calls::Exactly(2));
    let r = Test::new(&sb)
        .ollama(&proxy)
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
        .ollama(&server)
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
        .ollama(&server)
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

#[test]
fn item_7_every_profile_bounds_the_answer_in_each_providers_field_and_a_cut_is_said() {
    let sb = Sandbox::new();
    let openai = openai::fake()
        .finish("length")
        .streaming(&["long", " answer"])
        .expect(Calls::Exactly(3));
    for (profile, limit) in [("code", 4096), ("uncensored", 4096), ("fast", 1024)] {
        let mut t = Test::new(&sb)
            .env("CODEX_WRAP_LOCAL_BACKEND", "openai")
            .env("OPENAI_BASE_URL", openai.url())
            .args(["--local", "--profile", profile, "x"])
            .stdout("long answer")
            .stderr_has("the answer was cut at the model's token limit");
        if profile == "uncensored" {
            t = t.stderr_has("guardrails");
        }
        t.run();
        let sent = openai.requests().last().unwrap().json();
        assert_eq!(sent["max_tokens"], limit, "{profile}: {sent}");
    }
    let local = ollama::fake().answering("ok").expect(Calls::Exactly(1));
    Test::new(&sb)
        .ollama(&local)
        .args(["--local", "x"])
        .stdout("ok")
        .run();
    assert_eq!(local.requests()[0].json()["options"]["num_predict"], 4096);
    let api = gemini::fake().answering("ok").expect(Calls::Exactly(1));
    Test::new(&sb)
        .gemini(&api)
        .args(["--api", "x"])
        .stdout("ok")
        .stderr_has("no context from them")
        .run();
    assert_eq!(
        api.requests()[0].json()["generationConfig"]["maxOutputTokens"],
        4096
    );
}

#[test]
fn item_8_the_window_fit_counts_code_and_logs_conservatively_and_a_cut_prompt_is_warned() {
    let sb = Sandbox::new();
    let local = ollama::fake().answering("ok").expect(Calls::Exactly(1));
    // 14 KB of log lines: characters / 4 is 3,500 tokens, which with the answer's 4,096
    // seemed to fit num_ctx 8192; a real tokenizer makes nearly twice that.
    let log = "2026-11-23T12:00:01.123Z ERROR [db] conn=42 timeout after 30000ms\n".repeat(210);
    let path = sb.write("app.log", &log);
    Test::new(&sb)
        .ollama(&local)
        .args(["--local", "summarize the errors", "-f"])
        .arg(&path)
        .stdout("ok")
        .run();
    let num_ctx = local.requests()[0].json()["options"]["num_ctx"]
        .as_u64()
        .unwrap();
    assert!(num_ctx > 8192, "num_ctx was not raised: {num_ctx}");

    // The server says it read a prompt that filled the window: Ollama cut it.
    let cut = Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(ollama::token_line(ollama::MODEL, "ok").as_bytes());
        conn.chunk(
            ollama::done_line(ollama::MODEL, 1, "stop")
                .replace("\"prompt_eval_count\":26", "\"prompt_eval_count\":8192")
                .as_bytes(),
        );
        conn.end();
    })
    .expect(Calls::Exactly(1));
    Test::new(&sb)
        .ollama(&cut)
        .args(["--local", "x"])
        .stdout("ok")
        .stderr_has("Ollama read 8192 prompt tokens with num_ctx 8192: the prompt filled the window and was probably cut")
        .run();
}

#[test]
fn item_17_a_prompt_too_big_for_the_local_window_goes_to_the_api_or_is_refused_when_forced() {
    let sb = Sandbox::new();
    let local = ollama::fake().answering("local").expect(Calls::Never);
    let api = gemini::fake()
        .answering("from the API")
        .expect(Calls::Exactly(1));
    // A long unfenced log: 300 KB, far over the local ceiling (32,768), well within Gemini's.
    let log = "2026-11-23T12:00:01.123Z ERROR [db] conn=42 timeout after 30000ms\n".repeat(4_600);
    let path = sb.write("big.log", &log);
    // Forced local: refused up front, its own exit code, nothing sent.
    Test::new(&sb)
        .ollama(&local)
        .args(["--local", "why does this fail", "-f"])
        .arg(&path)
        .code(11)
        .stderr_has(
            "more than the local model's window (num_ctx_max 32768); nothing was sent: use --api",
        )
        .run();
    // Automatic, a request the router would keep local (plain words): the API route takes
    // it, and the local one is not tried after it either.
    let words = sb.write("notes.txt", &"word ".repeat(60_000));
    Test::new(&sb)
        .ollama(&local)
        .gemini(&api)
        .args(["-f"])
        .arg(&words)
        .stdout("from the API")
        .stderr_has("routing to api")
        .stderr_has("no context from them")
        .run();
}

#[test]
fn item_6_the_model_the_server_names_is_recorded_as_served_and_both_shown_when_they_differ() {
    let sb = Sandbox::new();
    // llama-server names its GGUF file in every chunk, whatever model was asked for; the
    // in-process OpenAI server names `tiny`.
    let server = openai::fake()
        .model("tiny")
        .answering("hello")
        .expect(Calls::Exactly(2));
    let r = Test::new(&sb)
        .env("CODEX_WRAP_LOCAL_BACKEND", "openai")
        .env("OPENAI_BASE_URL", server.url())
        .args(["--local", "x"])
        .stdout("hello")
        .stderr_has("served by tiny (the server's name for the model)")
        .run();
    assert!(
        r.stderr
            .contains("done via local (openai qwen2.5:14b-instruct-q4_K_M)"),
        "{}",
        r.stderr
    );
    let r = Test::new(&sb)
        .env("CODEX_WRAP_LOCAL_BACKEND", "openai")
        .env("OPENAI_BASE_URL", server.url())
        .args(["--local", "--json", "x"])
        .run();
    let doc: serde_json::Value = serde_json::from_str(r.stdout().trim()).unwrap();
    assert_eq!(doc["model"], "tiny", "{doc}");
    assert_eq!(
        doc["requested_model"], "qwen2.5:14b-instruct-q4_K_M",
        "{doc}"
    );
    let log = std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap();
    for line in log.lines() {
        let record: serde_json::Value = serde_json::from_str(line).unwrap();
        assert_eq!(record["model"], "tiny", "{record}");
        assert_eq!(
            record["requested_model"], "qwen2.5:14b-instruct-q4_K_M",
            "{record}"
        );
    }
    let stats = Test::new(&sb).args(["stats"]).run();
    assert!(
        stats
            .stdout()
            .contains("tiny (asked for qwen2.5:14b-instruct-q4_K_M)"),
        "{}",
        stats.stdout()
    );

    // The same name (Ollama echoes the model asked for): nothing extra.
    let ollama_server = ollama::fake().answering("ok");
    let r = Test::new(&sb)
        .ollama(&ollama_server)
        .args(["--local", "x"])
        .stdout("ok")
        .run();
    assert!(!r.stderr.contains("served by"), "{}", r.stderr);
}
