//! The `delegate` plumbing against a scripted engine (the real one implements `Delegate`
//! when it lands): continuation, progress, cancellation, capping.

use std::sync::Mutex;
use std::sync::atomic::AtomicBool;

use super::*;

/// An engine that generates `chunks` deltas of 10 tokens, one every 2 s, and answers with
/// `text` (or echoes the prompt it was sent when `text` is empty). `open` is true while
/// its "connection" is alive; dropping the future closes it, as the real engine must.
struct Scripted {
    chunks: u64,
    text: String,
    open: Arc<AtomicBool>,
    seen: Arc<Mutex<Vec<String>>>,
}

struct Connection(Arc<AtomicBool>);

impl Drop for Connection {
    fn drop(&mut self) {
        self.0.store(false, Ordering::SeqCst);
    }
}

impl Scripted {
    fn new(chunks: u64, text: &str) -> Scripted {
        Scripted {
            chunks,
            text: text.to_owned(),
            open: Arc::new(AtomicBool::new(false)),
            seen: Arc::default(),
        }
    }
}

impl Delegate for Scripted {
    fn run(
        &self,
        request: DelegateRequest,
        progress: Progress,
        _cancel: CancellationToken,
    ) -> impl Future<Output = Result<Reply, String>> + Send {
        let open = self.open.clone();
        let seen = self.seen.clone();
        let chunks = self.chunks;
        let text = self.text.clone();
        async move {
            open.store(true, Ordering::SeqCst);
            let _connection = Connection(open);
            seen.lock().unwrap().push(request.prompt.clone());
            for _ in 0..chunks {
                tokio::time::sleep(Duration::from_secs(2)).await;
                progress.add_tokens(10);
            }
            Ok(Reply {
                text: if text.is_empty() {
                    request.prompt
                } else {
                    text
                },
                route: "local".into(),
                endpoint: "ollama test-model".into(),
                tokens: progress.tokens(),
                ..Reply::default()
            })
        }
    }
}

fn request(prompt: &str) -> DelegateRequest {
    serde_json::from_value(serde_json::json!({ "prompt": prompt })).unwrap()
}

type Log = Arc<Mutex<Vec<(f64, String, Duration)>>>;

/// A notifier that records (progress, message, time since the test began).
fn recorder(log: &Log) -> impl FnMut(f64, String) -> std::future::Ready<()> + Send + use<> {
    let log = log.clone();
    let start = tokio::time::Instant::now();
    move |p, m| {
        log.lock().unwrap().push((p, m, start.elapsed()));
        std::future::ready(())
    }
}

/// One call of `prompt` with default settings, its progress notifications recorded.
async fn logged(engine: &impl Delegate, prompt: &str, dir: &Path) -> (Outcome, Log) {
    let log = Log::default();
    let out = run(
        engine,
        request(prompt),
        Some(recorder(&log)),
        CancellationToken::new(),
        &McpSettings::default(),
        dir,
    )
    .await
    .unwrap();
    (out, log)
}

#[tokio::test(start_paused = true)]
async fn progress_comes_at_once_then_every_five_seconds_with_tokens() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Scripted::new(7, "done");
    let (out, log) = logged(&engine, "write slugify", dir.path()).await;
    assert_eq!(out.text, "done");
    assert_eq!(out.reply.tokens, 70);
    let log = log.lock().unwrap();
    let times: Vec<u64> = log.iter().map(|(_, _, t)| t.as_secs()).collect();
    assert_eq!(times, vec![0, 5, 10]);
    assert!(
        log.windows(2).all(|w| w[1].0 > w[0].0),
        "progress grows: {log:?}"
    );
    assert_eq!(log[0].1, "0 tokens so far");
    assert_eq!(log[1].1, "20 tokens so far");
    assert_eq!(log[2].1, "50 tokens so far");
}

/// An engine that emits `events` as it works, each after its delay in seconds, and then
/// answers at once (the last event just before the reply, as a cut answer is).
struct Eventful(Vec<(u64, crate::event::Event)>);

impl Delegate for Eventful {
    fn run(
        &self,
        _request: DelegateRequest,
        progress: Progress,
        _cancel: CancellationToken,
    ) -> impl Future<Output = Result<Reply, String>> + Send {
        let events = self.0.clone();
        async move {
            for (delay, event) in events {
                tokio::time::sleep(Duration::from_secs(delay)).await;
                progress.add_tokens(10);
                progress.event(&event);
            }
            Ok(Reply {
                text: "done".into(),
                ..Reply::default()
            })
        }
    }
}

#[tokio::test(start_paused = true)]
async fn each_event_is_a_progress_notification_in_order_between_the_ticks() {
    use crate::event::Event;
    let dir = tempfile::tempdir().unwrap();
    let engine = Eventful(vec![
        (
            0,
            Event::AttemptStarted {
                route: "local".into(),
                endpoint: "ollama".into(),
                model: "m".into(),
                number: 1,
                attempt: "local (ollama m)".into(),
            },
        ),
        (
            7,
            Event::Fallback {
                from: "ollama".into(),
                to: "gemini".into(),
                reason: "local (ollama m): connection refused".into(),
                next: "api (gemini g)".into(),
            },
        ),
        (
            1,
            Event::Truncated {
                endpoint: "gemini".into(),
            },
        ),
    ]);
    let (out, log) = logged(&engine, "go", dir.path()).await;
    assert_eq!(out.text, "done");
    let log = log.lock().unwrap();
    let seen: Vec<(u64, &str)> = log
        .iter()
        .map(|(_, m, t)| (t.as_secs(), m.as_str()))
        .collect();
    assert_eq!(
        seen,
        [
            (0, "attempt 1 on local (ollama m)"),
            (0, "10 tokens so far"),
            (5, "10 tokens so far"),
            (
                7,
                "falling back to api (gemini g) after: local (ollama m): connection refused"
            ),
            // Emitted the instant before the reply: still sent, before it.
            (8, "the answer was cut at the model's token limit"),
        ]
    );
    assert!(
        log.windows(2).all(|w| w[1].0 > w[0].0),
        "progress grows: {log:?}"
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_drops_the_engine_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let engine = Scripted::new(100, "never");
    let cancel = CancellationToken::new();
    let open = engine.open.clone();
    let trigger = cancel.clone();
    let watcher = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_secs(3)).await;
        trigger.cancel();
        tokio::time::Instant::now()
    });
    let result = run(
        &engine,
        request("long task"),
        None::<fn(f64, String) -> std::future::Ready<()>>,
        cancel,
        &McpSettings::default(),
        dir.path(),
    )
    .await;
    let cancelled_at = watcher.await.unwrap();
    assert_eq!(result.unwrap_err(), "cancelled");
    assert_eq!(
        tokio::time::Instant::now(),
        cancelled_at,
        "no wait after the cancel"
    );
    assert!(!open.load(Ordering::SeqCst), "the connection was closed");
}

/// One call without progress or cancellation.
async fn quietly(
    engine: &Scripted,
    request: DelegateRequest,
    settings: &McpSettings,
    dir: &Path,
) -> Result<Outcome, String> {
    let none = None::<fn(f64, String) -> std::future::Ready<()>>;
    run(
        engine,
        request,
        none,
        CancellationToken::new(),
        settings,
        dir,
    )
    .await
}

#[tokio::test]
async fn a_continuation_sends_the_earlier_exchange_first() {
    let dir = tempfile::tempdir().unwrap();
    let settings = McpSettings::default();
    let first = Scripted::new(0, "def slugify(s): return s.lower()");
    let out = quietly(&first, request("write slugify"), &settings, dir.path())
        .await
        .unwrap();
    let id = out.continuation_id.expect("an id");

    let second = Scripted::new(0, "tests");
    let mut follow = request("now add tests");
    follow.continuation_id = Some(id);
    quietly(&second, follow, &settings, dir.path())
        .await
        .unwrap();
    let sent = second.seen.lock().unwrap()[0].clone();
    assert!(sent.contains("write slugify"), "{sent}");
    assert!(sent.contains("def slugify(s): return s.lower()"), "{sent}");
    assert!(sent.ends_with("Now: now add tests"), "{sent}");

    let mut unknown = request("more");
    unknown.continuation_id = Some("0".repeat(32));
    let err = quietly(&second, unknown, &settings, dir.path())
        .await
        .unwrap_err();
    assert!(err.contains("unknown or expired"), "{err}");
}

#[tokio::test]
async fn a_long_reply_is_capped_and_saved_whole() {
    let dir = tempfile::tempdir().unwrap();
    let long: String = (0..2_000)
        .map(|i| format!("line {i} of the answer\n"))
        .collect();
    let engine = Scripted::new(0, &long);
    let settings = McpSettings {
        max_reply_tokens: 1_000,
        ..McpSettings::default()
    };
    let out = quietly(&engine, request("big"), &settings, dir.path())
        .await
        .unwrap();
    let path = out.full_text.clone().expect("saved");
    assert!(path.starts_with(dir.path().join("replies")));
    assert_eq!(std::fs::read_to_string(&path).unwrap(), long);
    assert!(
        crate::context::estimate_tokens(&out.text) <= 1_000 + 40,
        "{}",
        out.text.len()
    );
    assert!(out.text.contains(&path.display().to_string()));
    let result = tool_result(Ok(out));
    let summary: serde_json::Value = serde_json::from_str(
        result.content[0]
            .as_text()
            .map(|t| t.text.as_str())
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["route"], "local");
    assert_eq!(summary["endpoint"], "ollama test-model");
    assert_eq!(summary["full_text"], path.display().to_string());
}

#[test]
fn a_short_reply_is_returned_whole() {
    let dir = tempfile::tempdir().unwrap();
    let (text, path) = cap(
        "fn main() {}\n",
        8_000,
        dir.path(),
        continuation::DEFAULT_TTL,
    )
    .unwrap();
    assert_eq!(text, "fn main() {}\n");
    assert_eq!(path, None);
    assert!(!dir.path().join("replies").exists());
}

#[test]
fn the_mcp_section_sets_the_cap() {
    let section: crate::config::file::McpConfig =
        toml::from_str("max_reply_tokens = 2000").unwrap();
    let s = McpSettings::from_config(Some(&section));
    assert_eq!(s.max_reply_tokens, 2_000);
    assert_eq!(s.continuation_ttl_secs, 3 * 3600);
    assert_eq!(McpSettings::from_config(None).max_reply_tokens, 8_000);
    assert!(toml::from_str::<crate::config::file::McpConfig>("max_reply = 1").is_err());
}

#[test]
fn max_mcp_output_tokens_lowers_the_cap_and_never_raises_it() {
    use crate::config::env::Env;
    let section: crate::config::file::McpConfig =
        toml::from_str("max_reply_tokens = 2000").unwrap();
    #[track_caller]
    fn case(section: Option<&crate::config::file::McpConfig>, value: &str, want: usize) {
        let env = Env::from_pairs([("MAX_MCP_OUTPUT_TOKENS", value)]);
        assert_eq!(
            McpSettings::resolve(section, &env).max_reply_tokens,
            want,
            "{value}"
        );
    }
    case(Some(&section), "500", 500);
    case(Some(&section), "25000", 2_000);
    case(None, "25000", 8_000);
    case(None, "4000", 4_000);
    // Not a positive number: ignored.
    case(Some(&section), "lots", 2_000);
    case(Some(&section), "0", 2_000);
    case(Some(&section), "", 2_000);
}

#[test]
fn the_request_schema_has_the_documented_fields_and_is_small() {
    let schema = rmcp::handler::server::common::schema_for_type::<DelegateRequest>();
    let props = schema["properties"].as_object().unwrap();
    let names: Vec<&str> = props.keys().map(String::as_str).collect();
    for field in [
        "prompt",
        "files",
        "write",
        "check",
        "route",
        "profile",
        "continuation_id",
        "background",
    ] {
        assert!(names.contains(&field), "{field} in {names:?}");
    }
    assert_eq!(schema["required"], serde_json::json!(["prompt"]));
    let tool = rmcp::model::Tool::new("delegate", DESCRIPTION, schema);
    let size = serde_json::to_string(&tool).unwrap().len();
    // About four characters a token: the tool must stay a small part of the list.
    assert!(size / 4 < 700, "delegate tool is about {} tokens", size / 4);
}
