//! Gemini's `streamGenerateContent?alt=sse` (Google AI for Developers API reference).
//!
//! Each SSE `data:` is a `GenerateContentResponse`: text in
//! `candidates[0].content.parts[].text` (parts marked `thought` are skipped), the last one
//! with `finishReason` and `usageMetadata`. There is no `[DONE]`: the stream ends. A prompt
//! blocked outright has `promptFeedback.blockReason` and no candidates. Errors are
//! `{"error": {"code", "message", "status", "details"}}`; a 429 may carry a
//! `google.rpc.RetryInfo` detail with `retryDelay` ("37s").

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{
    Backend, Decoded, Finish, Framing, Header, HttpRequest, Messages, Usage, one_line, status_kind,
};
use crate::error::{Failure, FailureKind};
use crate::http;
use crate::secret::Secret;
use futures_util::future::BoxFuture;
use reqwest::header::HeaderName;

/// The Gemini API.
pub const DEFAULT_URL: &str = "https://generativelanguage.googleapis.com";
/// The model asked for unless one is configured.
pub const DEFAULT_MODEL: &str = "gemini-flash-latest";
/// The variables the key is read from, the first one set winning (Google's client
/// libraries read both).
pub const KEY_ENVS: &[&str] = &[
    crate::env::names::GEMINI_API_KEY,
    crate::env::names::GOOGLE_API_KEY,
];

/// One Gemini endpoint and model.
#[derive(Debug, Clone)]
pub struct Gemini {
    /// Base URL, e.g. `https://generativelanguage.googleapis.com`.
    pub base_url: String,
    /// Model name, e.g. `gemini-flash-latest`.
    pub model: String,
    /// API key, sent as `x-goog-api-key`.
    pub key: Option<Secret>,
    /// Profile options mapped to `generationConfig` (temperature, top_p, top_k, num_predict).
    pub options: Map<String, Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response<'a> {
    #[serde(borrow, default)]
    model_version: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    candidates: Vec<Candidate<'a>>,
    #[serde(default)]
    prompt_feedback: Option<PromptFeedback>,
    #[serde(default)]
    usage_metadata: Option<UsageMetadata>,
    #[serde(default)]
    error: Option<Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Candidate<'a> {
    #[serde(borrow, default)]
    content: Option<Content<'a>>,
    #[serde(default)]
    finish_reason: Option<String>,
}

#[derive(Deserialize)]
struct Content<'a> {
    #[serde(borrow, default)]
    parts: Vec<Part<'a>>,
}

#[derive(Deserialize)]
struct Part<'a> {
    #[serde(borrow, default)]
    text: Option<Cow<'a, str>>,
    #[serde(default)]
    thought: bool,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct PromptFeedback {
    block_reason: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct UsageMetadata {
    prompt_token_count: Option<u64>,
    candidates_token_count: Option<u64>,
}

/// Finish reasons that mean a filter stopped the answer.
const BLOCKING: [&str; 6] = [
    "SAFETY",
    "RECITATION",
    "PROHIBITED_CONTENT",
    "BLOCKLIST",
    "SPII",
    "IMAGE_SAFETY",
];

impl Gemini {
    fn generation_config(&self) -> Map<String, Value> {
        let mut config = Map::new();
        for (ours, theirs) in [
            ("temperature", "temperature"),
            ("top_p", "topP"),
            ("top_k", "topK"),
            ("num_predict", "maxOutputTokens"),
        ] {
            if let Some(v) = self.options.get(ours) {
                config.insert(theirs.to_owned(), v.clone());
            }
        }
        config
    }
}

impl Backend for Gemini {
    fn name(&self) -> &'static str {
        "gemini"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn endpoint(&self) -> &str {
        &self.base_url
    }

    /// `GET /v1beta/models/{model}` with the key: the key and the model work.
    fn probe<'a>(&'a self, client: &'a reqwest::Client) -> BoxFuture<'a, Result<String, Failure>> {
        Box::pin(async move {
            self.check_ready()?;
            let key = self.key.as_ref().map(|k| k.expose()).unwrap_or_default();
            let v = http::json(
                client
                    .get(format!("{}/v1beta/models/{}", self.base_url, self.model))
                    .header(
                        HeaderName::from_static("x-goog-api-key"),
                        http::sensitive(key)?,
                    ),
            )
            .await?;
            Ok(v["displayName"]
                .as_str()
                .or(v["name"].as_str())
                .unwrap_or(&self.model)
                .to_owned())
        })
    }

    fn check_ready(&self) -> Result<(), Failure> {
        match &self.key {
            Some(_) => Ok(()),
            None => Err(
                Failure::new(FailureKind::NotConfigured, "no Gemini API key")
                    .with_hint("set GEMINI_API_KEY"),
            ),
        }
    }

    fn options_mut(&mut self) -> Option<&mut Map<String, Value>> {
        Some(&mut self.options)
    }
    fn build(&self, m: Messages<'_>) -> HttpRequest {
        let mut body = json!({
            "contents": [{"role": "user", "parts": [{"text": m.user}]}],
        });
        if !m.system.is_empty() {
            body["systemInstruction"] = json!({"parts": [{"text": m.system}]});
        }
        let config = self.generation_config();
        if !config.is_empty() {
            body["generationConfig"] = Value::Object(config);
        }
        let headers = self
            .key
            .iter()
            .map(|k| Header {
                name: "x-goog-api-key",
                value: k.expose().to_owned(),
                secret: true,
            })
            .collect();
        HttpRequest {
            url: format!(
                "{}/v1beta/models/{}:streamGenerateContent?alt=sse",
                self.base_url, self.model
            ),
            headers,
            body,
        }
    }

    fn framing(&self) -> Framing {
        Framing::Sse
    }

    fn decode<'a>(&self, frame: &'a str) -> Result<Decoded<'a>, Failure> {
        let resp: Response<'a> = serde_json::from_str(frame).map_err(|e| {
            Failure::new(
                FailureKind::Protocol,
                format!("malformed SSE event from Gemini ({e}): {}", one_line(frame)),
            )
        })?;
        if let Some(error) = resp.error {
            return Err(error_failure(&error, None));
        }
        let mut decoded = Decoded {
            model: resp.model_version,
            ..Decoded::default()
        };
        if let Some(reason) = resp.prompt_feedback.and_then(|p| p.block_reason) {
            decoded.finish = Some(Finish::Blocked(format!("prompt blocked: {reason}")));
        }
        if let Some(candidate) = resp.candidates.into_iter().next() {
            let mut texts = candidate
                .content
                .into_iter()
                .flat_map(|c| c.parts)
                .filter(|p| !p.thought)
                .filter_map(|p| p.text);
            decoded.text = match (texts.next(), texts.next()) {
                (None, _) => Cow::Borrowed(""),
                (Some(one), None) => one,
                (Some(a), Some(b)) => {
                    Cow::Owned([a, b].into_iter().chain(texts).collect::<Vec<_>>().concat())
                }
            };
            decoded.finish = match candidate.finish_reason.as_deref() {
                None | Some("FINISH_REASON_UNSPECIFIED") => decoded.finish,
                Some("MAX_TOKENS") => Some(Finish::Length),
                Some(r) if BLOCKING.contains(&r) => Some(Finish::Blocked(r.to_owned())),
                Some(_) => Some(Finish::Stop),
            };
        }
        if let Some(u) = resp.usage_metadata {
            decoded.usage = Some(Usage {
                prompt_tokens: u.prompt_token_count,
                completion_tokens: u.candidates_token_count,
                ..Usage::default()
            });
        }
        Ok(decoded)
    }

    fn http_error(&self, status: u16, body: &str) -> Failure {
        match serde_json::from_str::<Value>(body)
            .ok()
            .and_then(|v| v.get("error").cloned())
        {
            Some(error) => {
                let mut failure = error_failure(&error, Some(status));
                if status == 404 {
                    failure = failure.with_hint(format!(
                        "check the model name '{}' (GEMINI_MODEL)",
                        self.model
                    ));
                } else if matches!(status, 400 | 401 | 403)
                    && failure.message.to_ascii_lowercase().contains("api key")
                {
                    failure = failure.with_hint("check GEMINI_API_KEY");
                }
                failure
            }
            None => Failure::new(
                status_kind(status),
                format!("HTTP {status}: {}", one_line(body)),
            ),
        }
    }

    fn unreachable_hint(&self) -> Option<String> {
        Some(format!(
            "cannot reach {}",
            crate::http::redact(&self.base_url)
        ))
    }
}

/// A failure from a Gemini `error` object, with its retry hint when it has one.
fn error_failure(error: &Value, status: Option<u16>) -> Failure {
    let code = status.or_else(|| error.get("code").and_then(Value::as_u64).map(|c| c as u16));
    let message = error
        .get("message")
        .and_then(Value::as_str)
        .map_or_else(|| one_line(&error.to_string()), one_line);
    let kind = code.map_or(FailureKind::Http, status_kind);
    let prefix = code.map_or_else(|| "Gemini error".to_owned(), |c| format!("HTTP {c}"));
    let mut failure = Failure::new(kind, format!("{prefix}: {message}"));
    failure.retry_after = error
        .get("details")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|d| d.get("retryDelay").and_then(Value::as_str))
        .find_map(parse_delay);
    failure
}

/// Parses a protobuf duration such as `"37s"` or `"1.5s"`.
fn parse_delay(s: &str) -> Option<f64> {
    s.strip_suffix('s')?
        .parse::<f64>()
        .ok()
        .filter(|v| v.is_finite() && *v >= 0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn gemini() -> Gemini {
        Gemini {
            base_url: "http://g".into(),
            model: "gemini-flash-latest".into(),
            key: None,
            options: Map::new(),
        }
    }

    #[test]
    fn request_has_no_key_in_url() {
        let mut g = gemini();
        g.options.insert("temperature".into(), json!(0.2));
        g.options.insert("num_ctx".into(), json!(8192));
        let req = g.build(Messages {
            system: "s",
            user: "u",
        });
        assert_eq!(
            req.url,
            "http://g/v1beta/models/gemini-flash-latest:streamGenerateContent?alt=sse"
        );
        assert_eq!(req.body["systemInstruction"]["parts"][0]["text"], "s");
        assert_eq!(req.body["contents"][0]["parts"][0]["text"], "u");
        assert_eq!(req.body["generationConfig"], json!({"temperature": 0.2}));
        assert!(req.headers.is_empty());
        assert_eq!(
            g.check_ready().unwrap_err().kind,
            FailureKind::NotConfigured
        );
    }

    #[test]
    fn decodes_text_finish_and_usage() {
        let g = gemini();
        let d = g.decode(r#"{"candidates": [{"content": {"parts": [{"text": "Hel"}],"role": "model"},"index": 0}],"usageMetadata": {"promptTokenCount": 9,"totalTokenCount": 9},"modelVersion": "gemini-2.5-flash"}"#).unwrap();
        assert_eq!(d.text, "Hel");
        assert_eq!(d.finish, None);
        let d = g.decode(r#"{"candidates": [{"content": {"parts": [{"text": "think","thought":true},{"text": "lo"}],"role": "model"},"finishReason": "STOP","index": 0}],"usageMetadata": {"promptTokenCount": 9,"candidatesTokenCount": 2,"totalTokenCount": 11}}"#).unwrap();
        assert_eq!(d.text, "lo");
        assert_eq!(d.finish, Some(Finish::Stop));
        assert_eq!(d.usage.unwrap().completion_tokens, Some(2));
    }

    #[test]
    fn safety_and_prompt_blocks() {
        let g = gemini();
        let d = g.decode(r#"{"candidates": [{"finishReason": "SAFETY","index": 0,"safetyRatings": [{"category": "HARM_CATEGORY_DANGEROUS_CONTENT","probability": "HIGH"}]}]}"#).unwrap();
        assert_eq!(d.finish, Some(Finish::Blocked("SAFETY".into())));
        let d = g
            .decode(r#"{"promptFeedback": {"blockReason": "PROHIBITED_CONTENT"}}"#)
            .unwrap();
        assert!(matches!(d.finish, Some(Finish::Blocked(r)) if r.contains("PROHIBITED_CONTENT")));
    }

    #[test]
    fn error_bodies_with_retry_info() {
        let body = r#"{"error": {"code": 429,"message": "Resource has been exhausted (e.g. check quota).","status": "RESOURCE_EXHAUSTED","details": [{"@type": "type.googleapis.com/google.rpc.RetryInfo","retryDelay": "1.5s"}]}}"#;
        let f = gemini().http_error(429, body);
        assert_eq!(f.kind, FailureKind::RateLimited);
        assert_eq!(f.retry_after, Some(1.5));
        assert!(f.message.contains("Resource has been exhausted"));
        let f = gemini().http_error(400, r#"{"error":{"code":400,"message":"API key not valid. Please pass a valid API key.","status":"INVALID_ARGUMENT"}}"#);
        assert_eq!(f.hint.as_deref(), Some("check GEMINI_API_KEY"));
    }
}
