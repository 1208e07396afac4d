//! OpenAI chat-completions streaming as the API reference shows it: `text/event-stream`,
//! `data: {chat.completion.chunk}` events separated by a blank line, a role chunk first, a
//! `finish_reason` chunk, a usage chunk with empty `choices`, then `data: [DONE]`.

use super::server::Conn;

fn chunk(delta: &str, finish: Option<&str>) -> String {
    let finish = finish.map_or("null".to_owned(), |f| format!("\"{f}\""));
    format!(
        "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1764000000,\"model\":\"tiny\",\"choices\":[{{\"index\":0,\"delta\":{delta},\"finish_reason\":{finish}}}]}}\n\n"
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
    chunk("{}", Some(reason))
        + &format!(
            "data: {{\"id\":\"chatcmpl-1\",\"object\":\"chat.completion.chunk\",\"created\":1764000000,\"model\":\"tiny\",\"choices\":[],\"usage\":{{\"prompt_tokens\":12,\"completion_tokens\":{tokens},\"total_tokens\":{}}}}}\n\n",
            12 + tokens
        )
        + "data: [DONE]\n\n"
}

/// A whole stream.
pub fn stream(conn: &mut Conn, tokens: &[&str], reason: &str) {
    conn.start_chunked(200, "text/event-stream");
    conn.chunk(role().as_bytes());
    for t in tokens {
        conn.chunk(token(t).as_bytes());
    }
    conn.chunk(finish(reason, tokens.len()).as_bytes());
    conn.end();
}
