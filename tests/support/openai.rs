//! OpenAI chat-completions streaming as the API reference shows it: `text/event-stream`,
//! `data: {chat.completion.chunk}` events separated by a blank line, a role chunk first, a
//! `finish_reason` chunk, a usage chunk with empty `choices`, then `data: [DONE]`.

use super::server::Conn;

/// The model name the fake server reports.
pub const MODEL: &str = "tiny";

fn chunk(delta: &str, finish: Option<&str>) -> String {
    chunk_as(MODEL, delta, finish)
}

fn chunk_as(model: &str, delta: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
    let model = serde_json::to_string(model).unwrap();
    format!(
        "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1764000000,\"model\":{model},\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
    )
}

/// The role chunk with null content.
pub fn role() -> String {
    chunk("{\"role\":\"assistant\",\"content\":null}", None)
}

/// One token.
pub fn token(text: &str) -> String {
    chunk(
        &format!("{{\"content\":{}}}", serde_json::to_string(text).unwrap()),
        None,
    )
}

/// The finish chunk, the usage chunk and `[DONE]`.
pub fn finish(reason: &str, tokens: usize) -> String {
    finish_as(MODEL, reason, tokens)
}

fn finish_as(model: &str, reason: &str, tokens: usize) -> String {
    chunk_as(model, "{}", Some(reason))
        + &format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1764000000,\"model\":{},\"choices\":[],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":{tokens},\"total_tokens\":{}}}}}\n\n",
            serde_json::to_string(model).unwrap(),
            12 + tokens
        )
        + "data: [DONE]\n\n"
}

/// A whole stream.
pub fn stream(conn: &mut Conn, tokens: &[&str], reason: &str) {
    stream_as(conn, MODEL, tokens, reason);
}

/// A whole stream from `model`.
pub fn stream_as(conn: &mut Conn, model: &str, tokens: &[&str], reason: &str) {
    conn.start_chunked(200, "text/event-stream");
    conn.chunk(chunk_as(model, "{\"role\":\"assistant\",\"content\":null}", None).as_bytes());
    for t in tokens {
        let delta = format!("{{\"content\":{}}}", serde_json::to_string(t).unwrap());
        conn.chunk(chunk_as(model, &delta, None).as_bytes());
    }
    conn.chunk(finish_as(model, reason, tokens.len()).as_bytes());
    conn.end();
}

/// A fake OpenAI-compatible server answering every request the same way:
/// `openai::fake().answering("ok")`; point the local route at it with `Test::openai`.
pub fn fake() -> super::server::Fake {
    super::server::Fake::new(MODEL, "stop", stream_as)
}
