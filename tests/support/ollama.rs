//! Ollama's `/api/chat` stream as docs/api.md shows it: `application/x-ndjson`, one JSON
//! object per line, a final line with `done: true`, `done_reason` and the counters.

use super::server::Conn;

/// The model name the fake server reports.
pub const MODEL: &str = "qwen2.5:14b-instruct-q4_K_M";

/// One streamed token line, newline included.
pub fn token_line(model: &str, text: &str) -> String {
    format!(
        "{{\"model\":{},\"created_at\":\"2026-11-23T12:00:00.000000Z\",\"message\":{{\"role\":\"assistant\",\"content\":{}}},\"done\":false}}\n",
        serde_json::to_string(model).unwrap(),
        serde_json::to_string(text).unwrap()
    )
}

/// The final line with statistics.
pub fn done_line(model: &str, eval_count: usize, reason: &str) -> String {
    format!(
        "{{\"model\":{},\"created_at\":\"2026-11-23T12:00:01.000000Z\",\"message\":{{\"role\":\"assistant\",\"content\":\"\"}},\"done\":true,\"done_reason\":\"{reason}\",\"total_duration\":4883583458,\"load_duration\":1334875,\"prompt_eval_count\":26,\"prompt_eval_duration\":342546000,\"eval_count\":{eval_count},\"eval_duration\":4535599000}}\n",
        serde_json::to_string(model).unwrap()
    )
}

/// Starts a 200 NDJSON response.
pub fn start(conn: &mut Conn) {
    conn.start_chunked(200, "application/x-ndjson");
}

/// A whole successful stream: one chunk per token, then the final line.
pub fn stream(conn: &mut Conn, tokens: &[&str]) {
    stream_as(conn, MODEL, tokens, "stop");
}

/// A whole stream from `model` ending with `done_reason` `reason`.
pub fn stream_as(conn: &mut Conn, model: &str, tokens: &[&str], reason: &str) {
    start(conn);
    for t in tokens {
        conn.chunk(token_line(model, t).as_bytes());
    }
    conn.chunk(done_line(model, tokens.len(), reason).as_bytes());
    conn.end();
}

/// A fake Ollama answering every request the same way: `ollama::fake().answering("ok")`.
pub fn fake() -> super::server::Fake {
    super::server::Fake::new(MODEL, "stop", stream_as)
}

/// Ollama's answer for a model that is not pulled.
pub fn not_found(conn: &mut Conn, model: &str) {
    let body = format!("{{\"error\":\"model \\\"{model}\\\" not found, try pulling it first\"}}");
    conn.respond(404, "application/json; charset=utf-8", &[], body.as_bytes());
}

/// `GET /api/version`.
pub fn version(conn: &mut Conn) {
    conn.respond(
        200,
        "application/json; charset=utf-8",
        &[],
        br#"{"version":"0.12.6"}"#,
    );
}

/// `GET /api/tags` listing these models, shaped as docs/api.md shows.
pub fn tags(conn: &mut Conn, models: &[&str]) {
    let list: Vec<String> = models
        .iter()
        .map(|name| {
            format!(
                r#"{{"name":"{name}","model":"{name}","modified_at":"2026-11-20T09:32:18.757212583-08:00","size":9001211363,"digest":"fe938a131f40e6f6d40083c9f0f430a515233eb2edaa6d72eb85c50d64f2300e","details":{{"parent_model":"","format":"gguf","family":"qwen2","families":["qwen2"],"parameter_size":"14.8B","quantization_level":"Q4_K_M"}}}}"#
            )
        })
        .collect();
    let body = format!(r#"{{"models":[{}]}}"#, list.join(","));
    conn.respond(200, "application/json; charset=utf-8", &[], body.as_bytes());
}

/// `POST /api/chat` with no messages: the model is loaded (docs/api.md, "Load a model").
pub fn loaded(conn: &mut Conn, model: &str) {
    let body = format!(
        r#"{{"model":"{model}","created_at":"2026-11-23T12:00:00.000000Z","message":{{"role":"assistant","content":""}},"done_reason":"load","done":true}}"#
    );
    conn.respond(200, "application/json; charset=utf-8", &[], body.as_bytes());
}

/// `POST /api/show` for a model: its details, or Ollama's 404 when it is not pulled.
pub fn show(conn: &mut Conn, models: &[&str], model: &str) {
    if models.contains(&model) {
        conn.respond(
            200,
            "application/json; charset=utf-8",
            &[],
            br#"{"license":"","modelfile":"","parameters":"","template":"{{ .Prompt }}","details":{"parent_model":"","format":"gguf","family":"qwen2","families":["qwen2"],"parameter_size":"14.8B","quantization_level":"Q4_K_M"},"model_info":{"general.architecture":"qwen2","qwen2.context_length":32768},"capabilities":["completion"],"modified_at":"2026-11-20T09:32:18.757212583-08:00"}"#,
        );
    } else {
        let body = format!("{{\"error\":\"model '{model}' not found\"}}");
        conn.respond(404, "application/json; charset=utf-8", &[], body.as_bytes());
    }
}

/// A fake Ollama for the management commands: version, tags (these models), show, load.
pub fn admin(models: &'static [&'static str]) -> super::server::Server {
    super::server::Server::start(move |_, req, conn| manage(req, conn, models))
}

/// A running Ollama with [`MODEL`] pulled, whole: the management requests answered as
/// [`admin`] answers them (so `doctor` sees it ready), and every chat with messages
/// streamed as `text`, as `fake().answering(text)` streams it.
pub fn live(text: &str) -> super::server::Server {
    let text = text.to_owned();
    super::server::Server::start(move |_, req, conn| {
        let chat = req.path == "/api/chat"
            && req.json()["messages"]
                .as_array()
                .is_some_and(|m| !m.is_empty());
        if chat {
            stream(conn, &[text.as_str()]);
        } else {
            manage(req, conn, &[MODEL]);
        }
    })
}

/// Ollama's management requests: version, tags (these models), show, load.
fn manage(req: &super::server::Request, conn: &mut Conn, models: &[&str]) {
    match req.path.as_str() {
        "/api/version" => version(conn),
        "/api/tags" => tags(conn, models),
        "/api/show" => {
            let model = req.json()["model"].as_str().unwrap_or_default().to_owned();
            show(conn, models, &model);
        }
        "/api/chat" => {
            let model = req.json()["model"].as_str().unwrap_or_default().to_owned();
            if models.contains(&model.as_str()) {
                loaded(conn, &model);
            } else {
                not_found(conn, &model);
            }
        }
        _ => conn.respond(404, "text/plain", &[], b"404 page not found"),
    }
}
