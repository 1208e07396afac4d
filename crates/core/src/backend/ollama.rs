//! Ollama's `/api/chat`, streamed as NDJSON (docs/api.md in the ollama repository).
//!
//! Each line is a JSON object with `message.content`; the last one has `done: true`,
//! `done_reason` and the counters (`prompt_eval_count`, `eval_count`, durations in ns).
//! Errors come as `{"error": "..."}`, as the whole body of a non-200 answer or as a line
//! after a 200.

use std::borrow::Cow;

use serde::Deserialize;
use serde_json::{Map, Value, json};

use futures_util::future::BoxFuture;

use super::{
    Backend, Decoded, Finish, Framing, HttpRequest, Messages, ModelInfo, Usage, Warmed,
    chat_messages, one_line, status_kind,
};
use crate::error::{Failure, FailureKind};
use crate::http;

/// Ollama cuts a prompt longer than `num_ctx` without a word (its server log says
/// "truncating input prompt"): requests must be fitted to the window.
pub const CUTS_TO_WINDOW: bool = true;

/// Where Ollama listens unless told otherwise (its own default).
pub const DEFAULT_URL: &str = "http://localhost:11434";

/// One Ollama server and model.
#[derive(Debug, Clone)]
pub struct Ollama {
    /// Base URL, e.g. `http://localhost:11434`.
    pub url: String,
    /// Model name.
    pub model: String,
    /// `options` passed through.
    pub options: Map<String, Value>,
    /// `keep_alive`, only when the profile sets it.
    pub keep_alive: Option<Value>,
}

#[derive(Deserialize)]
struct Line<'a> {
    #[serde(borrow, default)]
    model: Option<Cow<'a, str>>,
    #[serde(borrow, default)]
    message: Option<Message<'a>>,
    #[serde(default)]
    done: bool,
    #[serde(default)]
    done_reason: Option<Cow<'a, str>>,
    #[serde(default)]
    error: Option<Value>,
    prompt_eval_count: Option<u64>,
    eval_count: Option<u64>,
    eval_duration: Option<u64>,
    load_duration: Option<u64>,
}

#[derive(Deserialize)]
struct Message<'a> {
    #[serde(borrow, default)]
    content: Cow<'a, str>,
}

impl Backend for Ollama {
    fn name(&self) -> &'static str {
        "ollama"
    }

    fn model(&self) -> &str {
        &self.model
    }

    fn endpoint(&self) -> &str {
        &self.url
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
        });
        if !self.options.is_empty() {
            body["options"] = Value::Object(self.options.clone());
        }
        if let Some(keep_alive) = &self.keep_alive {
            body["keep_alive"] = keep_alive.clone();
        }
        HttpRequest {
            url: format!("{}/api/chat", self.url),
            headers: Vec::new(),
            body,
        }
    }

    fn framing(&self) -> Framing {
        Framing::Ndjson
    }

    fn decode<'a>(&self, frame: &'a str) -> Result<Decoded<'a>, Failure> {
        let line: Line<'a> = serde_json::from_str(frame).map_err(|e| {
            Failure::new(
                FailureKind::Protocol,
                format!(
                    "malformed NDJSON line from Ollama ({e}): {}",
                    one_line(frame)
                ),
            )
        })?;
        if let Some(error) = line.error {
            let msg = error
                .as_str()
                .map_or_else(|| error.to_string(), str::to_owned);
            return Err(Failure::new(
                FailureKind::Http,
                format!("Ollama error: {msg}"),
            ));
        }
        let Some(message) = line.message else {
            // `/api/generate` lines carry `response`, not `message`: a server answering the
            // chat route in another shape is a protocol error, as the official client says.
            let keys = serde_json::from_str::<Map<String, Value>>(frame)
                .map(|m| m.keys().cloned().collect::<Vec<_>>().join(", "))
                .unwrap_or_default();
            return Err(Failure::new(
                FailureKind::Protocol,
                format!(
                    "a line of the /api/chat stream has neither `message` nor `error` (it has: {keys}); the server at {} does not answer as Ollama does",
                    crate::http::redact(&self.url)
                ),
            ));
        };
        let mut decoded = Decoded {
            text: message.content,
            model: line.model,
            ..Decoded::default()
        };
        if line.done {
            decoded.done = true;
            decoded.finish = Some(match line.done_reason.as_deref() {
                Some("length") => Finish::Length,
                _ => Finish::Stop,
            });
            decoded.usage = Some(Usage {
                prompt_tokens: line.prompt_eval_count,
                completion_tokens: line.eval_count,
                eval_seconds: line.eval_duration.map(|ns| ns as f64 / 1e9),
                load_seconds: line.load_duration.map(|ns| ns as f64 / 1e9),
            });
        }
        Ok(decoded)
    }

    fn http_error(&self, status: u16, body: &str) -> Failure {
        let parsed = serde_json::from_str::<Value>(body).ok();
        let message = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(crate::http::error_message)
            .unwrap_or_else(|| one_line(body));
        let failure = Failure::new(status_kind(status), format!("HTTP {status}: {message}"));
        if status != 404 {
            return failure;
        }
        // Ollama's own answer for a missing model: `{"error": "model \"m\" not found, ...}`
        // with `error` a string. Anything else is a server without Ollama's chat route.
        let model_missing = parsed
            .as_ref()
            .and_then(|v| v.get("error"))
            .and_then(Value::as_str)
            .is_some_and(|e| e.contains("not found"));
        if model_missing {
            failure.with_hint(format!(
                "model '{}' is not pulled: run `ollama pull {}`",
                self.model, self.model
            ))
        } else {
            failure.with_hint(not_ollama_hint(&self.url))
        }
    }

    /// A 404 that is not Ollama's model-not-found: when the server answers
    /// `GET {url}/v1/models`, it is an OpenAI-compatible server and the hint says how to use it.
    fn diagnose<'a>(
        &'a self,
        client: &'a reqwest::Client,
        failure: Failure,
    ) -> BoxFuture<'a, Failure> {
        Box::pin(async move {
            if failure.status != Some(404)
                || failure.hint.as_deref() != Some(&*not_ollama_hint(&self.url))
            {
                return failure;
            }
            match openai_models(client, &self.url).await {
                Some(hint) => failure.with_hint(hint),
                None => failure,
            }
        })
    }
    fn unreachable_hint(&self) -> Option<String> {
        Some(unreachable_hint(&self.url))
    }

    /// `GET /api/version`. A server that answers it with an error status is up but is not
    /// Ollama (a llama-server, a proxy): said so, with the OpenAI advice when it fits.
    fn probe<'a>(&'a self, client: &'a reqwest::Client) -> BoxFuture<'a, Result<String, Failure>> {
        Box::pin(async move {
            let v = match http::json(client.get(format!("{}/api/version", self.url))).await {
                Err(f) if f.status.is_some() => {
                    let mut not_ollama = Failure::new(
                        FailureKind::Http,
                        format!(
                            "not an Ollama server: GET /api/version answered {}",
                            f.message
                        ),
                    );
                    not_ollama.status = f.status;
                    return Err(match openai_models(client, &self.url).await {
                        Some(hint) => not_ollama.with_hint(hint),
                        None => not_ollama,
                    });
                }
                other => other?,
            };
            Ok(format!(
                "Ollama {}",
                v["version"].as_str().unwrap_or("unknown")
            ))
        })
    }

    /// `GET /api/tags`: the models pulled.
    fn list_models<'a>(
        &'a self,
        client: &'a reqwest::Client,
    ) -> BoxFuture<'a, Result<Vec<ModelInfo>, Failure>> {
        #[derive(Deserialize)]
        struct Tags {
            #[serde(default)]
            models: Vec<ModelInfo>,
        }
        Box::pin(async move {
            let v = http::json(client.get(format!("{}/api/tags", self.url))).await?;
            serde_json::from_value::<Tags>(v)
                .map(|t| t.models)
                .map_err(|e| Failure::new(FailureKind::Protocol, format!("/api/tags: {e}")))
        })
    }

    /// Loads the model: `POST /api/chat` with no messages (docs/api.md, "Load a model"),
    /// with `keep_alive` when given.
    fn warm<'a>(
        &'a self,
        client: &'a reqwest::Client,
        keep_alive: Option<&'a Value>,
    ) -> BoxFuture<'a, Result<Option<Warmed>, Failure>> {
        Box::pin(async move {
            let mut body = json!({"model": self.model, "messages": [], "stream": false});
            if let (Some(ka), Some(map)) = (keep_alive, body.as_object_mut()) {
                map.insert("keep_alive".to_owned(), ka.clone());
            }
            let request = client
                .post(format!("{}/api/chat", self.url))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(body.to_string());
            let v = http::json(request).await.map_err(|f| match f.status {
                Some(404) => f.with_hint(format!("run: ollama pull {}", self.model)),
                _ => f,
            })?;
            Ok(Some(Warmed {
                load_seconds: v["load_duration"].as_f64().map(|ns| ns / 1e9),
                done_reason: v["done_reason"].as_str().map(str::to_owned),
            }))
        })
    }

    /// `POST /api/show`: `model_info` holds `<architecture>.context_length`.
    fn context_length<'a>(&'a self, client: &'a reqwest::Client) -> BoxFuture<'a, Option<u64>> {
        Box::pin(async move {
            let request = client
                .post(format!("{}/api/show", self.url))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json!({"model": self.model}).to_string());
            let v = http::json(request).await.ok()?;
            v["model_info"]
                .as_object()?
                .iter()
                .find(|(k, _)| k.ends_with(".context_length"))
                .and_then(|(_, n)| n.as_u64())
        })
    }

    fn has_own_model<'a>(
        &'a self,
        client: &'a reqwest::Client,
    ) -> BoxFuture<'a, Option<Result<bool, Failure>>> {
        Box::pin(async move {
            let request = client
                .post(format!("{}/api/show", self.url))
                .header(reqwest::header::CONTENT_TYPE, "application/json")
                .body(json!({"model": self.model}).to_string());
            Some(match http::json(request).await {
                Ok(_) => Ok(true),
                Err(f) if f.status == Some(404) && f.message.contains("not found") => Ok(false),
                Err(f) => Err(f),
            })
        })
    }

    fn check_usage(&self, usage: &Usage) -> Option<String> {
        check_prompt_fit(&self.options, usage.prompt_tokens)
    }

    fn pull_hint(&self, model: &str) -> Option<String> {
        Some(format!("ollama pull {model}"))
    }
}

/// Ollama's window for a request: the profile's `num_ctx` (Ollama's own default 2048) and
/// the room the answer needs (`num_predict`, else 1024).
pub fn window(options: &Map<String, Value>) -> (u64, u64) {
    let current = options
        .get("num_ctx")
        .and_then(Value::as_u64)
        .unwrap_or(2048);
    let reserve = options
        .get("num_predict")
        .and_then(Value::as_u64)
        .filter(|n| *n > 0)
        .unwrap_or(1024);
    (current, reserve)
}

/// A conservative count of the tokens a real tokenizer makes of `text`, for fitting it to a
/// window. Characters / 4 undercounts real BPE tokenizers by about 1.2x on prose and up to
/// 1.9x on code and logs, where punctuation, digits and indentation are tokens of their own.
/// So: a run of letters is one token per 4 letters (at least one), a run of digits one per
/// 2, every other visible ASCII character one, a run of spaces one per 4 (a single space
/// joins the next word), a line break one,
/// any non-ASCII character one; then 10% on top.
pub fn fit_tokens(text: &str) -> u64 {
    #[derive(PartialEq, Clone, Copy)]
    enum Run {
        None,
        Letters,
        Digits,
        Spaces,
    }
    let mut tokens = 0u64;
    let mut run = Run::None;
    let mut len = 0u64;
    let close = |run: Run, len: u64| match run {
        Run::Letters => len.div_ceil(4),
        Run::Digits => len.div_ceil(2),
        Run::Spaces if len > 1 => len.div_ceil(4),
        Run::Spaces | Run::None => 0,
    };
    for c in text.chars() {
        let class = if c.is_ascii_alphabetic() {
            Run::Letters
        } else if c.is_ascii_digit() {
            Run::Digits
        } else if c == ' ' || c == '\t' {
            Run::Spaces
        } else {
            Run::None
        };
        if class != run {
            tokens += close(run, len);
            run = class;
            len = 0;
        }
        if class == Run::None {
            tokens += 1;
        } else {
            len += 1;
        }
    }
    tokens += close(run, len);
    tokens + tokens.div_ceil(10)
}

/// After an answer: when the prompt Ollama read (`prompt_eval_count`) and the room kept for
/// the answer do not fit the window the call asked for, the prompt filled it and Ollama
/// probably cut it (it does so silently). The warning to give, if any.
pub fn check_prompt_fit(
    options: &Map<String, Value>,
    prompt_tokens: Option<u64>,
) -> Option<String> {
    let read = prompt_tokens?;
    let (num_ctx, reserve) = window(options);
    (read + reserve.min(num_ctx / 2) > num_ctx).then(|| {
        format!(
            "Ollama read {read} prompt tokens with num_ctx {num_ctx}: the prompt filled the window and was probably cut; raise num_ctx (or num_ctx_max) in the profile"
        )
    })
}

/// How a request of `need` tokens fits a window of `current` that may grow to `ceiling`.
/// Ollama silently cuts a prompt longer than `num_ctx`, so the window is raised for the call
/// (to a multiple of 1024) rather than left to cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fit {
    /// It fits as configured.
    Fits,
    /// Raise `num_ctx` to this for the call.
    Raise(u64),
    /// Even the ceiling is too small; raise to the ceiling anyway.
    Over(u64),
}

/// See [`Fit`].
pub fn fit(current: u64, ceiling: u64, need: u64) -> Fit {
    let ceiling = ceiling.max(current);
    if need <= current {
        Fit::Fits
    } else if need <= ceiling {
        Fit::Raise((need.div_ceil(1024) * 1024).min(ceiling))
    } else {
        Fit::Over(ceiling)
    }
}

/// What a 404 that is not Ollama's model-not-found means.
pub fn not_ollama_hint(url: &str) -> String {
    format!(
        "the server at {} has no /api/chat: it is probably not Ollama",
        crate::http::redact(url)
    )
}

/// When `GET {url}/v1/models` answers with a model list, the advice to use the server as the
/// OpenAI-compatible server it is.
pub async fn openai_models(client: &reqwest::Client, url: &str) -> Option<String> {
    let v = http::json(client.get(format!("{url}/v1/models")))
        .await
        .ok()?;
    v.get("data")?.as_array()?;
    Some(format!(
        "the server at {shown} has no /api/chat and is probably not Ollama, but it answers /v1/models: try CODEX_WRAP_LOCAL_BACKEND=openai OPENAI_BASE_URL={shown}/v1",
        shown = crate::http::redact(url)
    ))
}

/// What to do when Ollama at `url` does not answer.
pub fn unreachable_hint(url: &str) -> String {
    format!(
        "is Ollama running at {}? start it with `ollama serve`",
        crate::http::redact(url)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ollama() -> Ollama {
        Ollama {
            url: "http://h:1".into(),
            model: "m".into(),
            options: Map::new(),
            keep_alive: None,
        }
    }

    #[test]
    fn a_request_too_big_for_num_ctx_raises_it_up_to_the_ceiling() {
        assert_eq!(fit(8192, 32768, 8000), Fit::Fits);
        assert_eq!(fit(8192, 32768, 9000), Fit::Raise(9216));
        assert_eq!(fit(8192, 32768, 40000), Fit::Over(32768));
        assert_eq!(fit(8192, 4096, 9000), Fit::Over(8192));
        assert_eq!(window(&Map::new()), (2048, 1024));
    }

    #[test]
    fn the_fit_estimate_is_conservative_on_code_and_close_on_words() {
        // 8,000 plain words: a real tokenizer makes about 8,000 tokens.
        let words = "word ".repeat(8_000);
        assert_eq!(fit_tokens(&words), 8_800);
        // A log line: chars/4 says 13; real tokenizers make up to 1.9x that, and the fit
        // estimate stays above it.
        let log = "2026-11-23T12:00:01.123Z ERROR [db] conn=42 timeout";
        assert!(fit_tokens(log) as f64 >= 1.9 * log.len().div_ceil(4) as f64);
        assert!(fit_tokens("") == 0);
        let mut o = Map::new();
        o.insert("num_ctx".into(), json!(8192));
        o.insert("num_predict".into(), json!(1024));
        assert!(check_prompt_fit(&o, Some(7000)).is_none());
        assert!(
            check_prompt_fit(&o, Some(8100))
                .unwrap()
                .contains("probably cut")
        );
    }

    #[test]
    fn request_omits_keep_alive_and_options_unless_set() {
        let req = ollama().build(Messages {
            system: "",
            user: "hi",
        });
        assert_eq!(req.url, "http://h:1/api/chat");
        assert_eq!(
            req.body,
            json!({"model": "m", "messages": [{"role": "user", "content": "hi"}], "stream": true})
        );
        let mut o = ollama();
        o.keep_alive = Some(json!("30m"));
        o.options.insert("num_ctx".into(), json!(8192));
        let req = o.build(Messages {
            system: "sys",
            user: "hi",
        });
        assert_eq!(req.body["keep_alive"], "30m");
        assert_eq!(req.body["options"]["num_ctx"], 8192);
        assert_eq!(req.body["messages"][0]["role"], "system");
    }

    #[test]
    fn decodes_tokens_and_the_final_line() {
        let o = ollama();
        let d = o
            .decode(r#"{"model":"m","created_at":"2023-08-04T08:52:19.385406455-07:00","message":{"role":"assistant","content":"The"},"done":false}"#)
            .unwrap();
        assert_eq!(d.text, "The");
        assert!(!d.done);
        let d = o
            .decode(r#"{"model":"m","created_at":"x","message":{"role":"assistant","content":""},"done":true,"done_reason":"length","total_duration":4883583458,"load_duration":1334875,"prompt_eval_count":26,"prompt_eval_duration":342546000,"eval_count":282,"eval_duration":4535599000}"#)
            .unwrap();
        assert!(d.done);
        assert_eq!(d.finish, Some(Finish::Length));
        let u = d.usage.unwrap();
        assert_eq!(
            (u.prompt_tokens, u.completion_tokens),
            (Some(26), Some(282))
        );
    }

    #[test]
    fn error_lines_and_bodies() {
        let o = ollama();
        let f = o
            .decode(r#"{"error":"an error was encountered while running the model"}"#)
            .unwrap_err();
        assert!(f.message.contains("an error was encountered"));
        assert_eq!(
            o.decode("{not json").unwrap_err().kind,
            FailureKind::Protocol
        );
        let f = o.http_error(404, r#"{"error":"model 'm' not found"}"#);
        assert!(f.message.contains("model 'm' not found"));
        assert!(f.hint.unwrap().contains("ollama pull m"));
    }
}
