//! Job mode: `delegate` with `background: true`, the `job` tool, cancelling, the per-root
//! write lock, `MAX_MCP_OUTPUT_TOKENS`, and the `truncated` flag, through the raw protocol
//! (the quick loop) and through the official MCP Python SDK under a 2 s client timeout.

use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use super::live::{Live, call};
use super::{delegate_cmd, delegated, python_client_with, user_message};
use crate::support::{Sandbox, Server, ollama};

/// A scripted Ollama: what it does is in the prompt. SLOW streams a token a second for
/// 5 s; STALL streams two tokens, creates `marker` and waits for the client to hang up
/// (then sends the time on `closed`); WRITE name answers with a file block for `name`;
/// LONG answers at length; CUT stops at the token limit; anything else is echoed.
fn scripted(marker: std::path::PathBuf) -> (Server, mpsc::Receiver<Instant>) {
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::start(move |_, req, conn| {
        if req.path != "/api/chat" {
            return conn.respond(404, "text/plain", &[], b"404 page not found");
        }
        let user = user_message(&req.json());
        if user.contains("SLOW") {
            ollama::start(conn);
            for _ in 0..5 {
                std::thread::sleep(Duration::from_secs(1));
                conn.chunk(ollama::token_line(ollama::MODEL, "tick ").as_bytes());
            }
            conn.chunk(ollama::done_line(ollama::MODEL, 5, "stop").as_bytes());
            conn.end();
        } else if user.contains("STALL") {
            ollama::start(conn);
            conn.chunk(ollama::token_line(ollama::MODEL, "fn ").as_bytes());
            conn.chunk(ollama::token_line(ollama::MODEL, "slug").as_bytes());
            std::fs::write(&marker, "").unwrap();
            conn.wait_closed(Duration::from_secs(20));
            let _ = tx.lock().unwrap().send(Instant::now());
        } else if let Some(at) = user.find("WRITE ") {
            let name = user[at + 6..].split_whitespace().next().unwrap_or("x.py");
            let text = format!("File: {name}\n```python\nVALUE = 1\n```\n");
            ollama::stream(conn, &[&text]);
        } else if user.contains("LONG") {
            ollama::stream(conn, &[&"line of the long answer\n".repeat(400)]);
        } else if user.contains("CUT") {
            ollama::start(conn);
            conn.chunk(ollama::token_line(ollama::MODEL, "def half(").as_bytes());
            conn.chunk(ollama::done_line(ollama::MODEL, 2, "length").as_bytes());
            conn.end();
        } else {
            let last = user.lines().last().unwrap_or_default().to_owned();
            ollama::stream(conn, &["done: ", &last]);
        }
    });
    (server, rx)
}

/// The JSON document of a tool result's first block.
fn doc(message: &Value) -> Value {
    let text = message["result"]["content"][0]["text"].as_str().unwrap();
    serde_json::from_str(text).unwrap_or_else(|e| panic!("{text}: {e}"))
}

/// Polls `job` until the job has ended; the statuses seen and the final message.
fn poll(live: &mut Live, next_id: &mut u64, job_id: &str) -> (Vec<Value>, Value) {
    let mut seen = Vec::new();
    let deadline = Instant::now() + Duration::from_secs(30);
    while Instant::now() < deadline {
        *next_id += 1;
        live.send(&call(*next_id, "job", json!({"job_id": job_id})));
        let message = live.answer(*next_id);
        if message["result"]["isError"] != true {
            let view = doc(&message);
            if view["status"] == "running" || view["status"] == "cancelling" {
                seen.push(view);
                std::thread::sleep(Duration::from_millis(200));
                continue;
            }
        }
        return (seen, message);
    }
    panic!("job {job_id} never ended; saw {seen:?}");
}

#[test]
fn a_background_delegate_answers_at_once_and_job_gives_its_reply_once_done() {
    let sb = Sandbox::new();
    let (server, _) = scripted(sb.dir.path().join("stalled"));
    let mut live = Live::start(delegate_cmd(&sb, &server));
    let started = Instant::now();
    live.send(&call(
        1,
        "delegate",
        json!({"prompt": "SLOW count", "route": "local", "background": true}),
    ));
    let begun = live.answer(1);
    let at_once = started.elapsed();
    assert!(at_once < Duration::from_secs(1), "{at_once:?}");
    let view = doc(&begun);
    assert_eq!(view["status"], "running", "{view}");
    let job_id = view["job_id"].as_str().unwrap().to_owned();

    let mut id = 1;
    let (seen, done) = poll(&mut live, &mut id, &job_id);
    assert!(!seen.is_empty(), "running while the model streams");
    assert!(
        seen.iter().any(|v| v["tokens"].as_u64().unwrap() > 0),
        "progress: {seen:?}"
    );
    // Once done: the reply delegate gives, summary then text.
    let (summary, text) = delegated(&done);
    assert_eq!(text, "tick ".repeat(5));
    assert_eq!(summary["route"], "local");
    assert_eq!(summary["truncated"], false, "{summary}");
    assert!(summary["continuation_id"].is_string(), "{summary}");
    // Asked again: the same reply.
    live.send(&call(50, "job", json!({"job_id": job_id})));
    assert_eq!(delegated(&live.answer(50)).1, text);

    // `status` lists it.
    live.send(&call(51, "status", json!({})));
    let jobs = doc(&live.answer(51))["jobs"].clone();
    assert_eq!(jobs[0]["job_id"], job_id.as_str(), "{jobs}");
    assert_eq!(jobs[0]["status"], "done", "{jobs}");

    live.send(&call(52, "job", json!({"job_id": "0123"})));
    let unknown = live.answer(52);
    assert_eq!(unknown["result"]["isError"], true, "{unknown}");
    live.end();
}

#[test]
fn a_cancelled_job_closes_the_model_connection_and_says_cancelled() {
    let sb = Sandbox::new();
    let marker = sb.dir.path().join("stalled");
    let (server, closed) = scripted(marker.clone());
    let mut live = Live::start(delegate_cmd(&sb, &server));
    live.send(&call(
        1,
        "delegate",
        json!({"prompt": "STALL forever", "route": "local", "background": true}),
    ));
    let job_id = doc(&live.answer(1))["job_id"].as_str().unwrap().to_owned();
    let waited = Instant::now();
    while !marker.exists() {
        assert!(waited.elapsed() < Duration::from_secs(10), "never streamed");
        std::thread::sleep(Duration::from_millis(5));
    }
    let cancelled_at = Instant::now();
    live.send(&call(2, "job", json!({"job_id": job_id, "cancel": true})));
    let answer = live.answer(2);
    let view = doc(&answer);
    assert_eq!(view["status"], "cancelled", "{view}");
    let closed = closed.recv_timeout(Duration::from_secs(5)).expect("closed");
    let after = closed.saturating_duration_since(cancelled_at);
    assert!(after < Duration::from_millis(500), "closed {after:?} after");
    live.send(&call(3, "status", json!({})));
    assert_eq!(doc(&live.answer(3))["jobs"][0]["status"], "cancelled");
    live.end();
}

#[test]
fn two_write_jobs_in_one_root_take_turns() {
    let sb = Sandbox::new();
    let (server, _) = scripted(sb.dir.path().join("stalled"));
    let mut live = Live::start(delegate_cmd(&sb, &server));
    let mut jobs = Vec::new();
    for (id, name) in [(1, "first"), (2, "second")] {
        live.send(&call(
            id,
            "delegate",
            json!({
                "prompt": format!("WRITE {name}.py"), "route": "local", "write": true,
                "check": format!("echo start {name} >> turns.log; sleep 1; echo end {name} >> turns.log"),
                "background": true,
            }),
        ));
        jobs.push(doc(&live.answer(id))["job_id"].as_str().unwrap().to_owned());
    }
    let mut id = 10;
    for (job, name) in jobs.iter().zip(["first", "second"]) {
        let (summary, _) = delegated(&poll(&mut live, &mut id, job).1);
        assert_eq!(summary["files_written"], json!([format!("{name}.py")]));
        assert_eq!(summary["check"]["passed"], true, "{summary}");
    }
    live.end();
    let turns = std::fs::read_to_string(sb.project().join("turns.log")).unwrap();
    let lines: Vec<&str> = turns.lines().collect();
    assert_eq!(lines.len(), 4, "{turns}");
    // Each check ran whole before the other began.
    assert_eq!(lines[0].replace("start", "end"), lines[1], "{turns}");
    assert_eq!(lines[2].replace("start", "end"), lines[3], "{turns}");
}

#[test]
fn max_mcp_output_tokens_below_the_config_cap_wins() {
    let sb = Sandbox::new();
    sb.write("profiles.toml", "[mcp]\nmax_reply_tokens = 500\n");
    let (server, _) = scripted(sb.dir.path().join("stalled"));
    let mut cmd = delegate_cmd(&sb, &server);
    cmd.env("MAX_MCP_OUTPUT_TOKENS", "100");
    let mut live = Live::start(cmd);
    live.send(&call(
        1,
        "delegate",
        json!({"prompt": "LONG list", "route": "local"}),
    ));
    let (summary, text) = delegated(&live.answer(1));
    live.end();
    assert!(summary["full_text"].is_string(), "{summary}");
    assert!(text.contains("[cut at 100 of about"), "{text}");
    assert!(text.len() < 100 * 4 + 200, "{} bytes", text.len());
}

#[test]
fn an_answer_cut_at_the_token_limit_says_so() {
    let sb = Sandbox::new();
    let (server, _) = scripted(sb.dir.path().join("stalled"));
    let mut live = Live::start(delegate_cmd(&sb, &server));
    live.send(&call(
        1,
        "delegate",
        json!({"prompt": "CUT", "route": "local"}),
    ));
    let (summary, text) = delegated(&live.answer(1));
    assert_eq!(text, "def half(");
    assert_eq!(summary["truncated"], true, "{summary}");
    live.send(&call(
        2,
        "delegate",
        json!({"prompt": "whole", "route": "local"}),
    ));
    assert_eq!(delegated(&live.answer(2)).0["truncated"], false);
    live.end();
}

#[test]
#[ignore = "real engine: cargo test -- --ignored"]
fn the_official_python_sdk_collects_a_job_that_outlives_its_timeout() {
    let sb = Sandbox::new();
    sb.write("profiles.toml", "[mcp]\nmax_reply_tokens = 500\n");
    let marker = sb.dir.path().join("stalled");
    let (server, closed) = scripted(marker.clone());
    let state = sb.dir.path().join("state");
    let cap = std::path::PathBuf::from("100");
    let report = python_client_with(
        &sb,
        &server,
        &["jobs"],
        &[
            ("MCP_TEST_MARKER", &marker),
            ("CODEX_WRAP_STATE_DIR", &state),
            ("MAX_MCP_OUTPUT_TOKENS", &cap),
        ],
    );
    eprintln!("{report:#}");
    assert_eq!(
        report["tools"],
        json!(["context", "delegate", "job", "route", "status"])
    );
    // The foreground call was cut by the client's 2 s timeout.
    let foreground = report["foreground"].as_str().unwrap();
    assert_ne!(foreground, "answered");
    assert!(report["foreground_seconds"].as_f64().unwrap() < 3.0);

    // In the background: the id at once, then running, then delegate's reply.
    assert!(report["start_seconds"].as_f64().unwrap() < 1.0, "{report}");
    assert_eq!(report["start"]["error"], false);
    let polled = report["polled"].as_array().unwrap();
    assert!(!polled.is_empty(), "{report}");
    assert!(
        polled.iter().all(|v| v["status"] == "running"),
        "{polled:?}"
    );
    assert_eq!(report["done"]["error"], false, "{}", report["done"]);
    assert_eq!(report["done"]["text"], "tick ".repeat(5));
    assert_eq!(report["done"]["summary"]["truncated"], false);
    assert!(report["done_seconds"].as_f64().unwrap() > 2.0, "{report}");
    let listed = report["status_jobs"].as_array().unwrap();
    assert_eq!(listed[0]["status"], "done", "{listed:?}");

    // Cancelled: the model connection closed, the job says so.
    let cancelled: Value =
        serde_json::from_str(report["cancelled"]["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(cancelled["status"], "cancelled", "{cancelled}");
    closed.recv_timeout(Duration::from_secs(5)).expect("closed");

    // Two write jobs took turns: each check ran whole before the other began.
    for done in report["pair"].as_array().unwrap() {
        assert_eq!(done["summary"]["check"]["passed"], true, "{done}");
    }
    let turns = std::fs::read_to_string(sb.project().join("turns.log")).unwrap();
    let lines: Vec<&str> = turns.lines().collect();
    assert_eq!(lines.len(), 4, "{turns}");
    assert_eq!(lines[0].replace("start", "end"), lines[1], "{turns}");
    assert_eq!(lines[2].replace("start", "end"), lines[3], "{turns}");

    // MAX_MCP_OUTPUT_TOKENS (100) under [mcp] max_reply_tokens (500) wins.
    let long = report["long"]["text"].as_str().unwrap();
    assert!(long.contains("[cut at 100 of about"), "{long}");
    assert_eq!(report["unknown"]["error"], true);
}

#[test]
fn cancelling_a_write_job_during_its_check_puts_back_what_it_wrote() {
    let sb = Sandbox::new();
    sb.write("kept.py", "KEPT = 1\n");
    let (server, _) = scripted(sb.dir.path().join("stalled"));
    let mut live = Live::start(delegate_cmd(&sb, &server));
    live.send(&call(
        1,
        "delegate",
        json!({
            "prompt": "WRITE made.py", "route": "local", "write": true,
            "check": "touch checking; sleep 30", "background": true,
        }),
    ));
    let job_id = doc(&live.answer(1))["job_id"].as_str().unwrap().to_owned();
    let checking = sb.project().join("checking");
    let waited = Instant::now();
    while !checking.exists() {
        assert!(
            waited.elapsed() < Duration::from_secs(20),
            "the check never ran"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    assert!(
        sb.project().join("made.py").exists(),
        "written before the check"
    );
    live.send(&call(2, "job", json!({"job_id": job_id, "cancel": true})));
    let view = doc(&live.answer(2));
    assert_eq!(view["status"], "cancelled", "{view}");
    assert!(
        !sb.project().join("made.py").exists(),
        "the file the job created is gone"
    );
    assert_eq!(
        std::fs::read_to_string(sb.project().join("kept.py")).unwrap(),
        "KEPT = 1\n"
    );
    live.end();
}
