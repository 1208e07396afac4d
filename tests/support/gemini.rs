//! Gemini's `streamGenerateContent?alt=sse` as the API reference shows it:
//! `text/event-stream`, each event `data: {GenerateContentResponse}` followed by a blank
//! line (CRLF CRLF, as Google's servers send), the last one with `finishReason` and
//! `usageMetadata`; no `[DONE]`.

use super::server::Conn;

/// The model version the fake server reports.
pub const MODEL: &str = "gemini-2.5-flash";

/// One SSE event carrying a text part.
pub fn text_event(text: &str) -> String {
    text_event_as(MODEL, text)
}

fn text_event_as(model: &str, text: &str) -> String {
    format!(
        "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": {}}}],\"role\": \"model\"}},\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 9,\"totalTokenCount\": 9}},\"modelVersion\": {},\"responseId\": \"abc\"}}\r\n\r\n",
        serde_json::to_string(text).unwrap(),
        serde_json::to_string(model).unwrap()
    )
}

/// The last event: text (may be empty), a finish reason and usage.
pub fn final_event(text: &str, reason: &str, out_tokens: usize) -> String {
    final_event_as(MODEL, text, reason, out_tokens)
}

fn final_event_as(model: &str, text: &str, reason: &str, out_tokens: usize) -> String {
    format!(
        "data: {{\"candidates\": [{{\"content\": {{\"parts\": [{{\"text\": {}}}],\"role\": \"model\"}},\"finishReason\": \"{reason}\",\"index\": 0}}],\"usageMetadata\": {{\"promptTokenCount\": 9,\"candidatesTokenCount\": {out_tokens},\"totalTokenCount\": {}}},\"modelVersion\": {},\"responseId\": \"abc\"}}\r\n\r\n",
        serde_json::to_string(text).unwrap(),
        9 + out_tokens,
        serde_json::to_string(model).unwrap()
    )
}

/// A candidate stopped by the safety filter, with no text.
pub fn safety_event() -> String {
    "data: {\"candidates\": [{\"finishReason\": \"SAFETY\",\"index\": 0,\"safetyRatings\": [{\"category\": \"HARM_CATEGORY_DANGEROUS_CONTENT\",\"probability\": \"HIGH\"}]}],\"usageMetadata\": {\"promptTokenCount\": 9,\"totalTokenCount\": 9},\"modelVersion\": \"gemini-2.5-flash\"}\r\n\r\n".to_owned()
}

/// Starts a 200 SSE response.
pub fn start(conn: &mut Conn) {
    conn.start_chunked(200, "text/event-stream");
}

/// A whole stream: all tokens but the last as text events, the last with STOP.
pub fn stream(conn: &mut Conn, tokens: &[&str]) {
    stream_as(conn, MODEL, tokens, "STOP");
}

/// A whole stream from `model`, the last token with finish reason `reason`.
pub fn stream_as(conn: &mut Conn, model: &str, tokens: &[&str], reason: &str) {
    start(conn);
    let (last, rest) = tokens.split_last().expect("tokens");
    for t in rest {
        conn.chunk(text_event_as(model, t).as_bytes());
    }
    conn.chunk(final_event_as(model, last, reason, tokens.len()).as_bytes());
    conn.end();
}

/// A fake Gemini API answering every request the same way: `gemini::fake().answering("ok")`;
/// point the API route at it with `Test::gemini`.
pub fn fake() -> super::server::Fake {
    super::server::Fake::new(MODEL, "STOP", stream_as)
}

/// A 429 with a RetryInfo detail, as the API sends when a quota is exhausted.
pub fn rate_limited(conn: &mut Conn, retry_delay: &str) {
    let body = format!(
        "{{\n  \"error\": {{\n    \"code\": 429,\n    \"message\": \"You exceeded your current quota, please check your plan and billing details.\",\n    \"status\": \"RESOURCE_EXHAUSTED\",\n    \"details\": [\n      {{\n        \"@type\": \"type.googleapis.com/google.rpc.RetryInfo\",\n        \"retryDelay\": \"{retry_delay}\"\n      }}\n    ]\n  }}\n}}\n"
    );
    conn.respond(429, "application/json; charset=UTF-8", &[], body.as_bytes());
}

/// `GET /v1beta/models/{model}`: the Model resource.
pub fn model_info(conn: &mut Conn) {
    conn.respond(
        200,
        "application/json; charset=UTF-8",
        &[],
        br#"{"name": "models/gemini-flash-latest","version": "2.5","displayName": "Gemini Flash Latest","inputTokenLimit": 1048576,"outputTokenLimit": 65536,"supportedGenerationMethods": ["generateContent","countTokens"]}"#,
    );
}

/// 400 for a key the API rejects.
pub fn bad_key(conn: &mut Conn) {
    conn.respond(
        400,
        "application/json; charset=UTF-8",
        &[],
        br#"{"error": {"code": 400,"message": "API key not valid. Please pass a valid API key.","status": "INVALID_ARGUMENT"}}"#,
    );
}
