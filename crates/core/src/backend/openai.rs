//! OpenAI-compatible `POST {base}/chat/completions` with `stream: true` (llama.cpp's
//! llama-server, LM Studio, vLLM, LiteLLM, OpenRouter).
//!
//! SSE events carry `chat.completion.chunk` objects: a first chunk with the role and null
//! content, one chunk per token in `choices[0].delta.content`, a chunk with
//! `finish_reason`, a usage chunk with empty `choices` (with `stream_options.include_usage`),
//! then `data: [DONE]`. Errors are `{"error": {"message": ...}}`, as a body or as an event.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    Backend, Decoded, Finish, Framing, Header, HttpRequest, Messages, ModelInfo, Usage,
    chat_messages, one_line, status_kind,
};
use crate::error::{Failure, FailureKind};
use crate::http;
use crate::secret::Secret;
use futures_util::future::BoxFuture;

/// llama.cpp's llama-server on its default port: the OpenAI-compatible server assumed
/// when none is configured.
pub const DEFAULT_URL: &str = "http://127.0.0.1:8080/v1";
/// The variable the bearer key is read from unless an endpoint names another.
pub const KEY_ENVS: &[&str] = &[crate::env::names::OPENAI_API_KEY];

/// One OpenAI-compatible endpoint and model.
#[derive(Debug, Clone)]
pub struct OpenAi {
    /// Base URL including the version path, e.g. `http://127.0.0.1:8080/v1`.
    pub base_url: String,
    /// Model name.
    pub model: String,
    /// Bearer key, when the server wants one.
    pub key: Option<Secret>,
    /// Profile options: `temperature`, `top_p`, `num_predict` (as `max_tokens`), `seed`.
    pub options: Map<String, Value>,
}

#[derive(Deserialize)]
struct Chunk<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    choices: Vec<Choice<'a>>,
    #[serde(default)]
    usage: Option<ChunkUsage>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
struct Choice<'a> {
    #[serde(borrow, default)]
    delta: Option<Delta<'a>>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Delta<'a> {
    #[serde(borrow, default)]
    content: Option<Cow<'a, str>>,
}

#[derive(Deserialize)]
struct ChunkUsage {
    prompt_tokens: Option<u64>,
    completion_tokens: Option<u64>,
}

impl Backend for OpenAi {
    fn name(&self) -> &'static str {
        "openai"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn endpoint(&self) -> &str {
        &self.base_url
    }

    fn options_mut(&mut self) -> Option<&mut Map<String, Value>> {
        Some(&mut self.options)
    }
    fn build(&self, m: Messages<'_>) -> HttpRequest {
        let messages = chat_messages(m);
        let mut body = json!({
            "model": self.model,
            "messages": messages,
            "stream": true,
            "stream_options": {"include_usage": true},
        });
        for (ours, theirs) in [
            ("temperature", "temperature"),
            ("top_p", "top_p"),
            ("num_predict", "max_tokens"),
            ("seed", "seed"),
        ] {
            if let Some(v) = self.options.get(ours) {
                body[theirs] = v.clone();
            }
        }
        let headers = self
            .key
            .iter()
            .map(|k| Header {
                name: "authorization",
                value: format!("Bearer {}", k.expose()),
                secret: true,
            })
            .collect();
        HttpRequest {
            url: format!("{}/chat/completions", self.base_url),
            headers,
            body,
        }
    }

    fn framing(&self) -> Framing {
        Framing::Sse
    }

    fn decode<'a>(&self, frame: &'a str) -> Result<Decoded<'a>, Failure> {
        if frame.trim() == "[DONE]" {
            return Ok(Decoded {
                done: true,
                ..Decoded::default()
            });
        }
        let chunk: Chunk<'a> = serde_json::from_str(frame).map_err(|e| {
            Failure::new(
                FailureKind::Protocol,
                format!("malformed SSE event ({e}): {}", one_line(frame)),
            )
        })?;
        if let Some(error) = chunk.error {
            return Err(Failure::new(
                FailureKind::Http,
                format!("server error: {}", message(&error)),
            ));
        }
        let mut decoded = Decoded {
            model: chunk.model,
            ..Decoded::default()
        };
        if let Some(choice) = chunk.choices.into_iter().next() {
            decoded.text = choice.delta.and_then(|d| d.content).unwrap_or_default();
            decoded.finish = match choice.finish_reason.as_deref() {
                None => None,
                Some("length") => Some(Finish::Length),
                Some("content_filter") => Some(Finish::Blocked("content_filter".to_owned())),
                Some(_) => Some(Finish::Stop),
            };
        }
        if let Some(u) = chunk.usage {
            decoded.usage = Some(Usage {
                prompt_tokens: u.prompt_tokens,
                completion_tokens: u.completion_tokens,
                ..Usage::default()
            });
        }
        Ok(decoded)
    }

    fn http_error(&self, status: u16, body: &str) -> Failure {
        let text = serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").map(message))
            .unwrap_or_else(|| one_line(body));
        Failure::new(status_kind(status), format!("HTTP {status}: {text}"))
    }

    fn unreachable_hint(&self) -> Option<String> {
        Some(format!(
            "is the OpenAI-compatible server running at {}?",
            crate::http::redact(&self.base_url)
        ))
    }

    /// `GET /models`: it answers, and what it serves.
    fn probe<'a>(&'a self, client: &'a reqwest::Client) -> BoxFuture<'a, Result<String, Failure>> {
        Box::pin(async move {
            let models = self.list_models(client).await?;
            let names: Vec<String> = models.into_iter().map(|m| m.name).collect();
            Ok(format!("answers; serves {}", names.join(", ")))
        })
    }

    /// The model ids the server lists (`GET /models`).
    fn list_models<'a>(
        &'a self,
        client: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<Vec<ModelInfo>, Failure>> {
        Box::pin(async move {
            let mut request = client.get(format!("{}/models", self.base_url));
            if let Some(key) = &self.key {
                request = request.header(
                    reqwest::header::AUTHORIZATION,
                    http::sensitive(&format!("Bearer {}", key.expose()))?,
                );
            }
            let v = http::json(request).await?;
            Ok(v["data"]
                .as_array()
                .map(|models| {
                    models
                        .iter()
                        .filter_map(|m| m["id"].as_str())
                        .map(|id| ModelInfo {
                            name: id.to_owned(),
                            size: 0,
                            modified_at: String::new(),
                        })
                        .collect()
                })
                .unwrap_or_default())
        })
    }
}

/// The message of an `error` value: an object with `message`, or a string.
fn message(error: &Value) -> String {
    error
        .get("message")
        .and_then(Value::as_str)
        .or_else(|| error.as_str())
        .map_or_else(|| one_line(&error.to_string()), one_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn openai() -> OpenAi {
        OpenAi {
            base_url: "http://h/v1".into(),
            model: "m".into(),
            key: None,
            options: Map::new(),
        }
    }

    #[test]
    fn request_streams_with_usage() {
        let mut o = openai();
        o.options.insert("num_predict".into(), json!(16));
        let req = o.build(Messages {
            system: "s",
            user: "u",
        });
        assert_eq!(req.url, "http://h/v1/chat/completions");
        assert_eq!(req.body["stream_options"]["include_usage"], true);
        assert_eq!(req.body["max_tokens"], 16);
        assert_eq!(req.body["messages"][0]["role"], "system");
        assert!(req.headers.is_empty());
    }

    #[test]
    fn decodes_the_chunk_sequence() {
        let o = openai();
        let first = o.decode(r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"role":"assistant","content":null},"finish_reason":null}]}"#).unwrap();
        assert_eq!(first.text, "");
        let tok = o.decode(r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{"content":"Hi"},"finish_reason":null}]}"#).unwrap();
        assert_eq!(tok.text, "Hi");
        let fin = o.decode(r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[{"index":0,"delta":{},"finish_reason":"length"}]}"#).unwrap();
        assert_eq!(fin.finish, Some(Finish::Length));
        let usage = o.decode(r#"{"id":"c","object":"chat.completion.chunk","created":1,"model":"m","choices":[],"usage":{"prompt_tokens":5,"completion_tokens":2,"total_tokens":7}}"#).unwrap();
        assert_eq!(usage.usage.unwrap().completion_tokens, Some(2));
        assert!(o.decode("[DONE]").unwrap().done);
        let f = o
            .decode(r#"{"error":{"message":"context overflow","type":"server_error"}}"#)
            .unwrap_err();
        assert!(f.message.contains("context overflow"));
    }
}
