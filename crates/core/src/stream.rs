//! The one send-and-stream loop: deadlines, the 429 retry, and fallback before the first
//! byte of output.
//!
//! Every backend goes through `run_attempts`; what differs between providers is behind the
//! `Backend` trait. Text is written as soon as each network read is decoded.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use futures_util::{FutureExt, StreamExt};
use reqwest::header::{CONTENT_TYPE, HeaderName, HeaderValue, RETRY_AFTER};
use tokio::time::{Instant, sleep, timeout_at};

use crate::backend::{Backend, Decoded, Finish, HttpRequest, Messages, Usage};
use crate::config::Timeouts;
use crate::error::{Failure, FailureKind};
use crate::frame::frames;
use crate::output::{Reporter, Sink};

pub use crate::deadline::{Deadlines, deliver};
pub use crate::route::Route;

/// One planned attempt: a route, an endpoint, its backend and its deadline.
pub struct Attempt {
    /// The route this attempt serves.
    pub route: Route,
    /// The endpoint's name in profiles.toml.
    pub endpoint: String,
    /// The endpoint's key in the shared health state.
    pub health_key: String,
    /// The endpoint to call.
    pub backend: Box<dyn Backend>,
    /// Deadline for the whole attempt.
    pub deadline: Duration,
}

impl Attempt {
    /// `local (ollama qwen2.5:14b)`; a named endpoint adds its name: `local box2 (ollama m)`.
    pub fn label(&self) -> String {
        let name = if self.endpoint == self.backend.name() {
            String::new()
        } else {
            format!(" {}", self.endpoint)
        };
        format!("{}{name} ({})", self.route.as_str(), self.what())
    }

    /// `ollama qwen2.5:14b`, or the provider alone when no model is named (a command).
    pub fn what(&self) -> String {
        match self.backend.model() {
            "" => self.backend.name().to_owned(),
            model => format!("{} {model}", self.backend.name()),
        }
    }
}

/// What a successful call did.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// Which of the planned attempts answered.
    pub index: usize,
    /// Label of the attempt that answered.
    pub attempt: String,
    /// Usage reported by the server.
    pub usage: Usage,
    /// Time from the start of the successful attempt to the first text.
    pub first_token: Option<Duration>,
    /// Time of the successful attempt.
    pub total: Duration,
    /// Bytes of text written.
    pub bytes: u64,
    /// Whether the model hit its token limit.
    pub truncated: bool,
    /// The model the server says served the answer, when that is not the one asked for.
    pub served_model: Option<String>,
}

impl Outcome {
    /// Generated tokens per second: the server's own timing when it reports one, else the
    /// time from the first text to the end.
    pub fn tokens_per_sec(&self) -> Option<f64> {
        let out = self.usage.completion_tokens?;
        let secs = self
            .usage
            .eval_seconds
            .unwrap_or_else(|| (self.total - self.first_token.unwrap_or_default()).as_secs_f64());
        speed(out, secs)
    }
}

/// The shortest time over which a speed means anything: an answer delivered in one read
/// takes a few microseconds from its first token to its last, and 4096 tokens over that
/// is no speed at all.
pub const MIN_SPEED_SECS: f64 = 0.001;

/// Tokens per second, or `None` when the time is too short to measure a speed.
pub fn speed(tokens: u64, secs: f64) -> Option<f64> {
    (secs >= MIN_SPEED_SECS).then(|| tokens as f64 / secs)
}

/// Runs one attempt (with its one 429 retry) into `out`: a command's stdout, or an HTTP
/// stream.
pub async fn attempt(
    client: &reqwest::Client,
    attempt: &Attempt,
    messages: Messages<'_>,
    timeouts: &Timeouts,
    out: &mut dyn Sink,
    report: Reporter,
) -> Result<Outcome, Failure> {
    let start = Instant::now();
    let deadlines = Deadlines::new(start, attempt.deadline, timeouts);
    if let Some(argv) = attempt.backend.argv() {
        let written_before = out.delivered();
        let input = crate::backend::command::stdin_text(messages);
        let first_token = crate::backend::command::stream(argv, input, &deadlines, out).await?;
        return Ok(Outcome {
            index: 0,
            attempt: attempt.label(),
            usage: Usage::default(),
            first_token,
            total: start.elapsed(),
            bytes: out.delivered() - written_before,
            truncated: false,
            served_model: None,
        });
    }
    let request = attempt.backend.build(messages);
    let result = match stream_once(client, attempt, &request, &deadlines, out).await {
        Err(f) if f.kind == FailureKind::RateLimited && out.delivered() == 0 => {
            let Some(wait) = f.retry_after.map(Duration::from_secs_f64) else {
                return Err(f);
            };
            let fits = Instant::now() + wait < deadlines.deadline();
            if wait > timeouts.retry_cap || !fits {
                return Err(f);
            }
            let retry = crate::event::Event::RetryAfter429 {
                endpoint: attempt.endpoint.clone(),
                wait_secs: wait.as_secs_f64(),
                attempt: attempt.label(),
            };
            report.event(&retry);
            out.event(&retry);
            sleep(wait).await;
            stream_once(
                client,
                attempt,
                &request,
                &deadlines.resend(Instant::now()),
                out,
            )
            .await
        }
        other => other,
    };
    if let Some(warning) = result
        .as_ref()
        .ok()
        .and_then(|o| attempt.backend.check_usage(&o.usage))
    {
        report.warn(&warning);
    }
    result
}

/// Sends one request and streams its answer to `out`.
///
/// Longer than the usual limit on purpose: connect, status, first byte, the frame loop and
/// each deadline are one `select!` over one response, and every branch decides whether the
/// attempt may still fall back (no byte written yet), so they read best together.
async fn stream_once(
    client: &reqwest::Client,
    attempt: &Attempt,
    request: &HttpRequest,
    deadlines: &Deadlines,
    out: &mut dyn Sink,
) -> Result<Outcome, Failure> {
    let backend = attempt.backend.as_ref();
    let start = Instant::now();
    let deadline = deadlines.deadline();

    let mut builder = client
        .post(&request.url)
        .header(CONTENT_TYPE, "application/json")
        .body(serde_json::to_vec(&request.body).unwrap_or_default());
    for h in &request.headers {
        let Ok(mut value) = HeaderValue::from_str(&h.value) else {
            return Err(Failure::new(
                FailureKind::NotConfigured,
                format!("the value for header {} is not valid", h.name),
            ));
        };
        value.set_sensitive(h.secret);
        builder = builder.header(HeaderName::from_static(h.name), value);
    }
    tracing::debug!(url = %crate::http::redact(&request.url), backend = backend.name(), "sending");

    let response = match timeout_at(deadlines.limit(false, start), builder.send()).await {
        Err(_) => return Err(deadlines.expired("no answer from the server in time")),
        Ok(Err(e)) => return Err(send_failure(&e, backend)),
        Ok(Ok(r)) => r,
    };
    let status = response.status();
    if !status.is_success() {
        let header_hint = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<f64>().ok());
        let body: String = timeout_at(deadline, read_limited(response, 64 * 1024))
            .await
            .unwrap_or_default();
        let mut failure = backend.http_error(status.as_u16(), &body);
        failure.status = Some(status.as_u16());
        if failure.retry_after.is_none() {
            failure.retry_after = header_hint;
        }
        let failure = match timeout_at(deadline, backend.diagnose(client, failure.clone())).await {
            Ok(diagnosed) => diagnosed,
            Err(_) => failure,
        };
        return Err(failure);
    }

    // Any bytes from the server count as activity for the idle timeout, even when they do
    // not complete a frame yet (a slow drip stays alive; a silent server does not).
    let activity = Arc::new(AtomicU64::new(0));
    let seen = activity.clone();
    let body = response.bytes_stream().inspect(move |_| {
        seen.store(micros_since(start), Ordering::Relaxed);
    });
    let mut frames = frames(body, backend.framing());
    let mut answer = Answer::default();
    let written_before = out.delivered();
    loop {
        let next = loop {
            let flowing = out.delivered() > written_before;
            let last = start + Duration::from_micros(activity.load(Ordering::Relaxed));
            let limit = deadlines.limit(flowing, last);
            match timeout_at(limit, frames.next()).await {
                Ok(next) => break next,
                Err(_) => {
                    let last = start + Duration::from_micros(activity.load(Ordering::Relaxed));
                    if let Some(mut failure) = deadlines.on_elapsed(limit, flowing, last) {
                        failure.first_token = answer.first_token;
                        return Err(failure);
                    }
                }
            }
        };
        let mut ended = next.is_none();
        // Decode this frame and every frame already buffered, then write once.
        let mut item = next;
        while let Some(frame) = item {
            let bytes = out.delivered() - written_before;
            let frame = frame.map_err(|f| answer.broken(f, bytes))?;
            let decoded = backend
                .decode(&frame)
                .map_err(|f| answer.broken(f, bytes))?;
            out.push(&decoded.text);
            if answer.take(&decoded, start.elapsed()) {
                ended = true;
                break;
            }
            item = match frames.next().now_or_never() {
                Some(Some(frame)) => Some(frame),
                Some(None) => {
                    ended = true;
                    None
                }
                None => None,
            };
        }
        deliver(out)?;
        if out.is_closed() {
            break;
        }
        answer.check_blocked()?;
        if ended {
            break;
        }
    }
    let bytes = out.delivered() - written_before;
    if !out.is_closed() {
        answer.check_end(bytes)?;
    }
    Ok(Outcome {
        index: 0,
        attempt: attempt.label(),
        usage: answer.usage,
        first_token: answer.first_token,
        total: start.elapsed(),
        bytes,
        truncated: answer.finish == Some(Finish::Length),
        served_model: answer
            .served
            .filter(|s| !crate::backend::same_model(s, backend.model())),
    })
}

/// What the decoded frames of one answer said, apart from its text: pure, no I/O.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Answer {
    /// The last usage a frame reported.
    pub usage: Usage,
    /// Why the model stopped, once a frame said so.
    pub finish: Option<Finish>,
    /// When the first text arrived, from the start of the attempt.
    pub first_token: Option<Duration>,
    /// The model the first frame naming one said served the answer.
    pub served: Option<String>,
}

impl Answer {
    /// Takes one decoded frame that arrived `at`; returns whether it was the protocol's last.
    pub fn take(&mut self, d: &Decoded<'_>, at: Duration) -> bool {
        if !d.text.is_empty() {
            self.first_token.get_or_insert(at);
        }
        if let Some(u) = d.usage {
            self.usage = u;
        }
        if self.served.is_none()
            && let Some(model) = d.model.as_deref().filter(|m| !m.is_empty())
        {
            self.served = Some(model.to_owned());
        }
        if d.finish.is_some() {
            self.finish.clone_from(&d.finish);
        }
        d.done
    }

    /// A failure while reading the answer after `bytes` of text, with the first-token time:
    /// a transport error once text has arrived is the server closing the connection
    /// mid-answer (`interrupted`), said plainly rather than as the HTTP library's words.
    pub fn broken(&self, mut failure: Failure, bytes: u64) -> Failure {
        failure.first_token = self.first_token;
        if failure.kind == FailureKind::Unreachable && (bytes > 0 || self.first_token.is_some()) {
            tracing::debug!(cause = %failure.message, "connection broke mid-answer");
            failure.kind = FailureKind::Interrupted;
            failure.message =
                format!("the server closed the connection mid-answer after {bytes} bytes");
        }
        failure
    }

    /// A safety block ends the answer at once.
    pub fn check_blocked(&self) -> Result<(), Failure> {
        match &self.finish {
            Some(Finish::Blocked(reason)) => Err(Failure::new(
                FailureKind::Blocked,
                format!("blocked by the model's safety filter: {reason}"),
            )),
            _ => Ok(()),
        }
    }

    /// Whether a stream that ended after `bytes` of text is a whole answer.
    pub fn check_end(&self, bytes: u64) -> Result<(), Failure> {
        match &self.finish {
            None => Err(Failure::new(
                FailureKind::Protocol,
                "the stream ended before the model finished (no final message)",
            )),
            Some(Finish::Length) if bytes == 0 => Err(Failure::new(
                FailureKind::Empty,
                "the model hit its token limit before writing any text",
            )),
            _ if bytes == 0 => Err(Failure::new(
                FailureKind::Empty,
                "the model returned an empty answer",
            )),
            _ => Ok(()),
        }
    }
}

fn micros_since(start: Instant) -> u64 {
    u64::try_from(start.elapsed().as_micros()).unwrap_or(u64::MAX)
}

/// The failure for an error sending the request, with the provider's advice when the
/// server could not be reached.
fn send_failure(err: &reqwest::Error, backend: &dyn Backend) -> Failure {
    let failure = crate::http::classify(err);
    match backend.unreachable_hint() {
        Some(hint) if err.is_connect() => failure.with_hint(hint),
        _ => failure,
    }
}

/// Reads at most `limit` bytes of an error body, lossily decoded.
async fn read_limited(response: reqwest::Response, limit: usize) -> String {
    let mut body = Vec::new();
    let mut chunks = response.bytes_stream();
    while let Some(Ok(chunk)) = chunks.next().await {
        body.extend_from_slice(&chunk);
        if body.len() >= limit {
            body.truncate(limit);
            break;
        }
    }
    String::from_utf8_lossy(&body).into_owned()
}

#[cfg(test)]
mod tests {

    #[test]
    fn no_speed_over_less_than_a_millisecond() {
        assert_eq!(speed(4096, 0.000_001), None);
        assert_eq!(speed(4096, 0.0), None);
        assert_eq!(speed(100, 2.0), Some(50.0));
    }

    use super::*;

    fn timeouts(first_byte: Option<u64>, idle: u64) -> Timeouts {
        Timeouts {
            connect: Duration::from_secs(3),
            deadline: Duration::from_secs(60),
            idle: Duration::from_secs(idle),
            first_byte: first_byte.map(Duration::from_secs),
            retry_cap: Duration::from_secs(5),
        }
    }

    #[test]
    fn an_answer_keeps_the_first_text_time_the_last_usage_and_the_finish() {
        let mut a = Answer::default();
        let text = |t: &'static str| Decoded {
            text: t.into(),
            ..Decoded::default()
        };
        assert!(!a.take(&text(""), Duration::from_millis(5)));
        assert!(!a.take(&text("hi"), Duration::from_millis(9)));
        assert!(!a.take(&text("more"), Duration::from_millis(12)));
        assert_eq!(a.first_token, Some(Duration::from_millis(9)));
        assert_eq!(a.check_end(6).unwrap_err().kind, FailureKind::Protocol);
        let last = Decoded {
            finish: Some(Finish::Length),
            usage: Some(Usage {
                completion_tokens: Some(2),
                ..Usage::default()
            }),
            done: true,
            ..Decoded::default()
        };
        assert!(a.take(&last, Duration::from_millis(20)));
        assert_eq!(a.usage.completion_tokens, Some(2));
        assert!(a.check_end(6).is_ok());
        assert_eq!(a.check_end(0).unwrap_err().kind, FailureKind::Empty);
        a.finish = Some(Finish::Blocked("SAFETY".into()));
        assert_eq!(a.check_blocked().unwrap_err().kind, FailureKind::Blocked);
    }

    #[tokio::test(start_paused = true)]
    async fn before_text_the_first_byte_limit_applies_then_the_deadline() {
        let start = Instant::now();
        let d = Deadlines::new(start, Duration::from_secs(10), &timeouts(Some(4), 2));
        assert_eq!(d.limit(false, start), start + Duration::from_secs(4));
        tokio::time::advance(Duration::from_secs(4)).await;
        let f = d.on_elapsed(d.limit(false, start), false, start).unwrap();
        assert_eq!(f.kind, FailureKind::Timeout);
        assert!(
            f.message
                .starts_with("no text from the model in time (deadline 10s)"),
            "{}",
            f.message
        );
        let no_first_byte = Deadlines::new(start, Duration::from_secs(10), &timeouts(None, 2));
        assert_eq!(
            no_first_byte.limit(false, start),
            start + Duration::from_secs(10)
        );
        let capped = Deadlines::new(start, Duration::from_secs(3), &timeouts(Some(4), 2));
        assert_eq!(capped.limit(false, start), capped.deadline());
    }

    #[tokio::test(start_paused = true)]
    async fn once_text_flows_silence_is_measured_from_the_last_bytes() {
        let start = Instant::now();
        let d = Deadlines::new(start, Duration::from_secs(60), &timeouts(None, 5));
        tokio::time::advance(Duration::from_secs(3)).await;
        let last = Instant::now();
        assert_eq!(d.limit(true, last), last + Duration::from_secs(5));
        tokio::time::advance(Duration::from_secs(5)).await;
        // Bytes arrived meanwhile: the wait goes on.
        let later = Instant::now() - Duration::from_secs(1);
        assert!(
            d.on_elapsed(last + Duration::from_secs(5), true, later)
                .is_none()
        );
        // Nothing since `last`: the idle timeout.
        let f = d
            .on_elapsed(last + Duration::from_secs(5), true, last)
            .unwrap();
        assert_eq!(f.message, "no data for 5.0s (idle timeout)");
    }

    #[tokio::test(start_paused = true)]
    async fn the_deadline_caps_every_limit() {
        let start = Instant::now();
        let d = Deadlines::new(start, Duration::from_secs(6), &timeouts(None, 5));
        tokio::time::advance(Duration::from_secs(4)).await;
        let limit = d.limit(true, Instant::now());
        assert_eq!(limit, d.deadline());
        tokio::time::advance(Duration::from_secs(2)).await;
        let f = d.on_elapsed(limit, true, Instant::now()).unwrap();
        assert!(
            f.message.starts_with("the answer did not finish in time"),
            "{}",
            f.message
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_resend_gets_a_new_first_byte_limit_but_keeps_the_deadline() {
        let start = Instant::now();
        let d = Deadlines::new(start, Duration::from_secs(10), &timeouts(Some(4), 2));
        tokio::time::advance(Duration::from_secs(3)).await;
        let again = d.resend(Instant::now());
        assert_eq!(again.limit(false, start), start + Duration::from_secs(7));
        assert_eq!(again.deadline(), d.deadline());
        tokio::time::advance(Duration::from_secs(5)).await;
        let late = d.resend(Instant::now());
        assert_eq!(late.limit(false, start), d.deadline());
    }
}
