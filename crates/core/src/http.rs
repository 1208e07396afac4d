//! HTTP shared by calls and management commands: the client, the one classifier from a
//! reqwest error to a failure kind, the error-chain formatter, and short JSON requests.

use std::time::Duration;

use reqwest::header::HeaderValue;

use crate::error::{Error, Failure, FailureKind};

/// Makes the one client of a process: connect timeout, no Nagle, our user agent, and for
/// management requests a limit on the whole request. A client that cannot be built (no TLS
/// roots, say) is an error, never a silently different default.
pub fn client(connect: Duration, limit: Option<Duration>) -> Result<reqwest::Client, Error> {
    let mut builder = reqwest::Client::builder()
        .connect_timeout(limit.map_or(connect, |l| connect.min(l)))
        .tcp_nodelay(true)
        .user_agent(concat!("codex-wrap/", env!("CARGO_PKG_VERSION")));
    if let Some(limit) = limit {
        builder = builder.timeout(limit);
    }
    builder
        .build()
        .map_err(|e| Error::Config(format!("cannot set up HTTP: {}", error_chain(&e))))
}

/// Classifies an error from sending a request or reading its answer, in one short line.
/// A connect timeout is `unreachable` (the server is not there), any other timeout
/// `timeout` (it is there but slow).
pub fn classify(err: &reqwest::Error) -> Failure {
    let url = err
        .url()
        .map_or_else(String::new, |u| format!(" {}", redact(u.as_str())));
    let mut failure = if err.is_connect() && err.is_timeout() {
        Failure::new(
            FailureKind::Unreachable,
            format!("connect to{url} timed out"),
        )
    } else if err.is_connect() {
        Failure::new(
            FailureKind::Unreachable,
            format!("cannot connect to{url}: {}", root_cause(err)),
        )
    } else if err.is_timeout() {
        Failure::new(FailureKind::Timeout, format!("request to{url} timed out"))
    } else {
        Failure::new(
            FailureKind::Unreachable,
            format!("request to{url} failed: {}", error_chain(err)),
        )
    };
    failure.message = redact_all(&failure.message);
    failure
}

/// An error and its causes on one line.
pub fn error_chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut parts = vec![err.to_string()];
    let mut source = err.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !parts.iter().any(|p| p.contains(&text)) {
            parts.push(text);
        }
        source = cause.source();
    }
    parts.join(": ")
}

/// The innermost cause of an error, e.g. `Connection refused (os error 111)`.
pub fn root_cause(err: &(dyn std::error::Error + 'static)) -> String {
    let mut cause = err;
    while let Some(next) = cause.source() {
        cause = next;
    }
    cause.to_string()
}

/// Sends a management request and reads a JSON answer; failures are one line with a kind.
pub async fn json(request: reqwest::RequestBuilder) -> Result<serde_json::Value, Failure> {
    let response = request.send().await.map_err(|e| classify(&e))?;
    let status = response.status();
    let body = response.text().await.map_err(|e| classify(&e))?;
    if !status.is_success() {
        let message = serde_json::from_str::<serde_json::Value>(&body)
            .ok()
            .and_then(|v| v.get("error").and_then(error_message))
            .unwrap_or_else(|| one_line(&body));
        let mut failure = Failure::new(
            status_kind(status.as_u16()),
            format!("HTTP {}: {message}", status.as_u16()),
        );
        failure.status = Some(status.as_u16());
        return Err(failure);
    }
    serde_json::from_str(&body).map_err(|e| {
        Failure::new(
            FailureKind::Protocol,
            format!("the answer is not the expected JSON: {e}"),
        )
    })
}

/// A header value marked sensitive (never shown by reqwest's Debug).
pub fn sensitive(value: &str) -> Result<HeaderValue, Failure> {
    let mut v = HeaderValue::from_str(value).map_err(|_| {
        Failure::new(
            FailureKind::NotConfigured,
            "the API key is not a valid header value",
        )
    })?;
    v.set_sensitive(true);
    Ok(v)
}

/// The message of a provider's `error` field: the string itself, or `error.message` when it
/// is an object (OpenAI, Gemini, many proxies).
pub fn error_message(error: &serde_json::Value) -> Option<String> {
    error
        .as_str()
        .or_else(|| error.get("message").and_then(serde_json::Value::as_str))
        .map(one_line)
}

/// A URL as shown or logged: any `user:password@` is replaced by `(redacted)@`, so a
/// password in `OLLAMA_URL` or a base URL never reaches a message, a log or `--json`.
pub fn redact(url: &str) -> std::borrow::Cow<'_, str> {
    let userinfo = redact_userinfo(url);
    match redact_query(&userinfo) {
        std::borrow::Cow::Borrowed(_) => userinfo,
        std::borrow::Cow::Owned(s) => s.into(),
    }
}

fn redact_userinfo(url: &str) -> std::borrow::Cow<'_, str> {
    let Some(scheme_end) = url.find("://") else {
        return url.into();
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => format!("{}(redacted)@{}", &url[..scheme_end + 3], &rest[at + 1..]).into(),
        None => url.into(),
    }
}

/// The values of query parameters that carry credentials (`?key=`, `&token=`, and their
/// percent-encoded forms such as `%3Ftoken%3D`): a value runs to the next `&`, `#` or space.
fn redact_query(text: &str) -> std::borrow::Cow<'_, str> {
    static QUERY: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = QUERY.get_or_init(|| {
        regex::Regex::new(
            r"(?i)((?:\?|&|%3F|%26)(?:key|api[_-]?key|token|access[_-]?token|auth|secret|password|passwd|sig|signature)(?:=|%3D))[^&#\s]*",
        )
        .expect("a valid pattern")
    });
    re.replace_all(text, "${1}(redacted)")
}

/// Redacts the userinfo of every URL inside a text (an error chain names its URL).
pub fn redact_all(text: &str) -> String {
    text.split(' ')
        .map(|w| redact(w).into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}

/// The kind of failure for an HTTP status.
pub fn status_kind(status: u16) -> FailureKind {
    match status {
        429 => FailureKind::RateLimited,
        408 | 504 => FailureKind::Timeout,
        _ => FailureKind::Http,
    }
}

/// Shortens a server's error body for a one-line message.
pub fn one_line(text: &str) -> String {
    let flat: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if flat.chars().count() > 300 {
        let cut: String = flat.chars().take(300).collect();
        format!("{cut}…")
    } else {
        flat
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn userinfo_is_redacted_and_nothing_else_changes() {
        assert_eq!(
            redact("http://user:secret@host:11434/api"),
            "http://(redacted)@host:11434/api"
        );
        assert_eq!(redact("http://host:1/a@b"), "http://host:1/a@b");
        assert_eq!(redact("no url"), "no url");
        assert_eq!(
            redact("https://h/v1/models?key=AIzaSECRET&alt=sse"),
            "https://h/v1/models?key=(redacted)&alt=sse"
        );
        assert_eq!(
            redact("https://h/cb?next=https%3A%2F%2Fx%2Fy%3Ftoken%3Dabc123"),
            "https://h/cb?next=https%3A%2F%2Fx%2Fy%3Ftoken%3D(redacted)"
        );
        assert_eq!(redact("https://h/a?monkey=1"), "https://h/a?monkey=1");
        assert_eq!(
            redact_all("request to http://u:p@h/x failed"),
            "request to http://(redacted)@h/x failed"
        );
    }
}
