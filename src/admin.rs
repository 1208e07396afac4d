//! The servers' management endpoints, for `doctor`, `models` and `warm`: short JSON
//! requests under one time limit, not streamed completions.
//!
//! Ollama (docs/api.md): `GET /api/version`, `GET /api/tags`, and loading a model with
//! `POST /api/chat` and an empty `messages` list. OpenAI-compatible servers: `GET /models`.
//! Gemini: `GET /v1beta/models/{model}` with the key in `x-goog-api-key`.

use std::time::Duration;

use reqwest::header::{HeaderName, HeaderValue};
use serde::{Deserialize, Serialize};

use crate::config::Secret;
use crate::error::{Failure, FailureKind};

/// A model the Ollama server has pulled (`/api/tags`).
#[derive(Debug, Clone, Deserialize, Serialize)]
pub(crate) struct LocalModel {
    /// `qwen2.5:14b-instruct-q4_K_M`.
    pub(crate) name: String,
    /// Bytes on disk.
    #[serde(default)]
    pub(crate) size: u64,
    /// RFC 3339, as the server wrote it.
    #[serde(default)]
    pub(crate) modified_at: String,
}

/// Makes a client whose every request ends within `limit`.
pub(crate) fn client(limit: Duration, connect: Duration) -> reqwest::Client {
    crate::stream::client_builder(connect.min(limit))
        .timeout(limit)
        .build()
        .unwrap_or_default()
}

/// Sends a request and reads a JSON answer; failures are one line with a kind.
async fn json(request: reqwest::RequestBuilder) -> Result<serde_json::Value, Failure> {
    let response = request.send().await.map_err(|e| failure(&e))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| failure(&e))?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| {
                v["error"]["message"]
                    .as_str()
                    .or(v["error"].as_str())
                    .map(str::to_owned)
            })
            .unwrap_or_else(|| crate::backend::one_line(&body));
        return Err(Failure::new(
            crate::backend::status_kind(status.as_u16()),
            format!("HTTP {}: {message}", status.as_u16()),
        ));
    }
    serde_json::from_str(&body).map_err(|e| {
        Failure::new(
            FailureKind::Protocol,
            format!("the answer is not the expected JSON: {e}"),
        )
    })
}

fn failure(e: &reqwest::Error) -> Failure {
    let kind = if e.is_timeout() {
        FailureKind::Timeout
    } else {
        FailureKind::Unreachable
    };
    let what = if e.is_timeout() {
        "timed out".to_owned()
    } else {
        crate::stream::root_cause(e)
    };
    let path = e
        .url()
        .map_or_else(String::new, |u| format!("{}: ", u.path()));
    Failure::new(kind, format!("{path}{what}"))
}

/// Ollama's version (`GET /api/version`).
pub(crate) async fn ollama_version(
    client: &reqwest::Client,
    base: &str,
) -> Result<String, Failure> {
    let v = json(client.get(format!("{base}/api/version"))).await?;
    Ok(v["version"].as_str().unwrap_or("unknown").to_owned())
}

/// The models Ollama has pulled (`GET /api/tags`).
pub(crate) async fn ollama_models(
    client: &reqwest::Client,
    base: &str,
) -> Result<Vec<LocalModel>, Failure> {
    #[derive(Deserialize)]
    struct Tags {
        #[serde(default)]
        models: Vec<LocalModel>,
    }
    let v = json(client.get(format!("{base}/api/tags"))).await?;
    serde_json::from_value::<Tags>(v)
        .map(|t| t.models)
        .map_err(|e| Failure::new(FailureKind::Protocol, format!("/api/tags: {e}")))
}

/// The model ids an OpenAI-compatible server lists (`GET /models`).
pub(crate) async fn openai_models(
    client: &reqwest::Client,
    base: &str,
    key: Option<&Secret>,
) -> Result<Vec<LocalModel>, Failure> {
    let mut request = client.get(format!("{base}/models"));
    if let Some(key) = key {
        request = request.header(
            reqwest::header::AUTHORIZATION,
            sensitive(&format!("Bearer {}", key.expose()))?,
        );
    }
    let v = json(request).await?;
    Ok(v["data"]
        .as_array()
        .map(|models| {
            models
                .iter()
                .filter_map(|m| m["id"].as_str())
                .map(|id| LocalModel {
                    name: id.to_owned(),
                    size: 0,
                    modified_at: String::new(),
                })
                .collect()
        })
        .unwrap_or_default())
}

/// What loading a model reported.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Loaded {
    /// Ollama's `load_duration`, when it reports one, in seconds.
    pub(crate) load_seconds: Option<f64>,
    /// Ollama's `done_reason` (`load`).
    pub(crate) done_reason: Option<String>,
}

/// Loads a model into memory: `POST /api/chat` with no messages (docs/api.md, "Load a
/// model"), with `keep_alive` when given.
pub(crate) async fn ollama_load(
    client: &reqwest::Client,
    base: &str,
    model: &str,
    keep_alive: Option<&serde_json::Value>,
) -> Result<Loaded, Failure> {
    let mut body = serde_json::json!({"model": model, "messages": [], "stream": false});
    if let (Some(ka), Some(map)) = (keep_alive, body.as_object_mut()) {
        map.insert("keep_alive".to_owned(), ka.clone());
    }
    let v = json(
        client
            .post(format!("{base}/api/chat"))
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_string()),
    )
    .await?;
    Ok(Loaded {
        load_seconds: v["load_duration"].as_f64().map(|ns| ns / 1e9),
        done_reason: v["done_reason"].as_str().map(str::to_owned),
    })
}

/// Checks that the Gemini key and model work (`GET /v1beta/models/{model}`).
pub(crate) async fn gemini_model(
    client: &reqwest::Client,
    base: &str,
    model: &str,
    key: &Secret,
) -> Result<String, Failure> {
    let v = json(client.get(format!("{base}/v1beta/models/{model}")).header(
        HeaderName::from_static("x-goog-api-key"),
        sensitive(key.expose())?,
    ))
    .await?;
    Ok(v["displayName"]
        .as_str()
        .or(v["name"].as_str())
        .unwrap_or(model)
        .to_owned())
}

fn sensitive(value: &str) -> Result<HeaderValue, Failure> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Failure::new(
            FailureKind::NotConfigured,
            "the API key is not a valid header value",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// Whether a listed model is the one a profile names: names without a tag mean `:latest`.
pub(crate) fn same_model(listed: &str, wanted: &str) -> bool {
    listed == wanted
        || (!wanted.contains(':')
            && listed
                .strip_suffix(":latest")
                .is_some_and(|base| base == wanted))
}

/// Whether Ollama's list holds `model`.
pub(crate) fn has_model(models: &[LocalModel], model: &str) -> bool {
    models.iter().any(|m| same_model(&m.name, model))
}

/// `9.0 GB`, as `ollama list` prints sizes (powers of 1000).
pub(crate) fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn untagged_names_mean_latest() {
        let models = vec![LocalModel {
            name: "llama3:latest".into(),
            size: 1,
            modified_at: String::new(),
        }];
        assert!(has_model(&models, "llama3"));
        assert!(has_model(&models, "llama3:latest"));
        assert!(!has_model(&models, "llama3:8b"));
    }

    #[test]
    fn sizes_read_like_ollama_list() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(3_825_819_519), "3.8 GB");
        assert_eq!(human_size(522_000_000), "522.0 MB");
    }
}
