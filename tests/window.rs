//! Fitting a request to the local model's window: the ceiling from the server when the
//! profile sets none.

use crate::support::{Sandbox, Server, Test, ollama, openai};

#[test]
fn without_num_ctx_max_the_ceiling_is_the_models_context_length_from_api_show() {
    let sb = Sandbox::new();
    let local = Server::start(|_, req, conn| {
        if req.path == "/api/show" {
            let body = r#"{"modelfile":"","parameters":"","template":"","details":{"family":"qwen2"},"model_info":{"general.architecture":"qwen2","qwen2.context_length":131072,"qwen2.embedding_length":5120}}"#;
            conn.respond(200, "application/json", &[], body.as_bytes());
        } else {
            ollama::stream(conn, &["ok"]);
        }
    });
    sb.write(
        "profiles.toml",
        "[profiles.mine]\nmodel = \"m\"\n[profiles.mine.options]\nnum_ctx = 8192\n",
    );
    let long = "word ".repeat(40_000); // 50,000 tokens: over the default ceiling of 32768
    let path = sb.write("big.txt", &long);
    Test::new(&sb)
        .ollama(&local)
        .args(["--local", "-p", "mine", "-f"])
        .arg(&path)
        .stdout("ok")
        .stderr_lacks("num_ctx_max")
        .run();
    let requests = local.requests();
    assert_eq!(requests[0].path, "/api/show");
    assert_eq!(requests[0].json()["model"], "m");
    let num_ctx = requests[1].json()["options"]["num_ctx"].as_u64().unwrap();
    assert!(
        num_ctx > 32_768 && num_ctx <= 131_072 && num_ctx.is_multiple_of(1024),
        "{num_ctx}"
    );

    // A short prompt fits the profile's window: the server is not asked.
    Test::new(&sb)
        .ollama(&local)
        .args(["--local", "-p", "mine", "hi"])
        .stdout("ok")
        .run();
    assert_eq!(local.hits(), 3);
}

/// Only Ollama cuts a long prompt silently: a local route of an OpenAI-compatible server
/// gets the request as it is (that server answers an over-long one with an error), with no
/// window arithmetic, no context-length question and no detour to the API.
#[test]
fn an_openai_compatible_local_route_is_not_fitted_to_ollamas_window() {
    let sb = Sandbox::new();
    let local = openai::fake().answering("ok");
    let long = "word ".repeat(40_000); // 50,000 tokens: far over the profile's num_ctx
    let path = sb.write("big.txt", &long);
    Test::new(&sb)
        .openai(&local)
        .args(["--local", "-f"])
        .arg(&path)
        .stdout("ok")
        .run();
    let requests = local.requests();
    assert_eq!(requests.len(), 1, "no context-length question");
    assert_eq!(requests[0].path, "/v1/chat/completions");
    let sent = requests[0].json()["messages"].to_string();
    assert!(
        sent.len() > 200_000,
        "the whole prompt: {} bytes",
        sent.len()
    );

    // The same request on Ollama is refused up front: it could not fit num_ctx_max.
    let ollama = ollama::fake().answering("ok");
    Test::new(&sb)
        .ollama(&ollama)
        .args(["--local", "-f"])
        .arg(&path)
        .code(11)
        .stderr_has("more than the local model's window")
        .run();
}
