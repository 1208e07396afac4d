//! `codex-wrap mcp`, run as an assistant runs it: a child process speaking JSON-RPC on
//! stdin/stdout. The quick loop writes the protocol's bytes itself (the harness in
//! `mcp/live.rs`); the slow step drives the server with the official MCP Python SDK (an
//! independent implementation).
//!
//! Fake providers answering a fixed text are `ollama::fake()` and `gemini::fake()`; the
//! handlers written here are the ones a fake cannot be: an answer that changes per request
//! (`chatty`, the scripted ones) or a server that holds the connection to time its close.

use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Backends, Calls, Sandbox, Server, Test, gemini, ollama};
use live::{INIT, INITIALIZED, Live, call, call_with_progress, cancelled, session};

mod jobs;
mod live;

fn answer(got: &[Value], id: u64) -> &Value {
    got.iter().find(|m| m["id"] == json!(id)).unwrap()
}

/// The JSON document a tool returned as text.
fn tool_doc(message: &Value) -> Value {
    assert_eq!(message["result"]["isError"], false, "{message}");
    let text = message["result"]["content"][0]["text"].as_str().unwrap();
    serde_json::from_str(text).unwrap()
}

#[test]
fn the_server_lists_its_tools_and_answers_bad_requests_with_json_rpc_errors() {
    let sb = Sandbox::new();
    let lines = [
        INIT.to_owned(),
        INITIALIZED.to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/list"}"#.to_owned(),
        // Well-formed JSON, not a JSON-RPC message: Invalid Request (no id to answer to).
        r#"{"jsonrpc":"2.0","id":2,"method":42}"#.to_owned(),
        r#"{"jsonrpc":"2.0","id":3,"method":"no/such/method"}"#.to_owned(),
        call(4, "route", json!({"prompt": 5})),
        call(5, "nope", json!({})),
        call(
            6,
            "route",
            json!({"prompt": "write a function that reverses a string"}),
        ),
    ];
    let got = session(
        sb.cmd(),
        &lines,
        &[json!(1), json!(3), json!(4), json!(5), json!(6)],
    );

    let tools: Vec<&str> = answer(&got, 1)["result"]["tools"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["name"].as_str().unwrap())
        .collect();
    assert_eq!(tools, ["context", "delegate", "job", "route", "status"]);
    // A client that auto-approves read-only tools must not auto-approve `delegate`.
    for tool in answer(&got, 1)["result"]["tools"].as_array().unwrap() {
        let hints = &tool["annotations"];
        if tool["name"] == "job" {
            // `cancel` stops a job and puts back what it wrote.
            assert_eq!(hints["readOnlyHint"], false, "{tool}");
            assert_eq!(hints["openWorldHint"], false, "{tool}");
        } else if tool["name"] == "delegate" {
            assert_eq!(hints["readOnlyHint"], false, "{tool}");
            assert_eq!(hints["destructiveHint"], true, "{tool}");
            assert_eq!(hints["openWorldHint"], true, "{tool}");
        } else {
            assert_eq!(hints["readOnlyHint"], true, "{tool}");
        }
    }
    // Idle tool definitions cost the assistant context on every turn: the target is under
    // 1,500 tokens (about four bytes each; real tokenizers count about 480 for these three).
    let bytes = answer(&got, 1)["result"].to_string().len();
    assert!(bytes / 4 < 1_500, "tools/list is {bytes} bytes");
    let invalid = got
        .iter()
        .find(|m| m["error"]["code"] == -32600)
        .expect("an Invalid Request error");
    assert_eq!(invalid["id"], Value::Null);
    assert_eq!(answer(&got, 3)["error"]["code"], -32601);
    assert_eq!(
        answer(&got, 4)["result"]["isError"],
        true,
        "bad arguments are a tool error"
    );
    assert!(
        answer(&got, 5)["error"]["code"].is_i64(),
        "an unknown tool is an error"
    );
    let decision = tool_doc(answer(&got, 6));
    assert_eq!(decision["route"], "local");
    assert_eq!(decision["profile"], "code");
}

#[test]
fn a_line_that_is_not_json_gets_a_parse_error_and_the_session_goes_on() {
    let sb = Sandbox::new();
    // Over the 8 MiB line limit, though JSON: dropped with a Parse error, never answered.
    let long = json!({"jsonrpc": "2.0", "id": 9, "method": "tools/list",
                      "params": {"pad": "x".repeat(8 * 1024 * 1024)}})
    .to_string();
    let lines = [
        INIT.to_owned(),
        INITIALIZED.to_owned(),
        "this is not json".to_owned(),
        r#"{"jsonrpc":"2.0","id":1,"method":"tools/li"#.to_owned(),
        long,
        r#"{"jsonrpc":"2.0","id":2,"method":"tools/list"}"#.to_owned(),
    ];
    let got = session(sb.cmd(), &lines, &[json!(0), json!(2)]);

    let errors: Vec<&Value> = got.iter().filter(|m| m.get("error").is_some()).collect();
    assert_eq!(errors.len(), 3, "one error per bad line: {errors:?}");
    for error in &errors {
        assert_eq!(error.get("id"), Some(&Value::Null), "{error}");
        assert_eq!(error["error"]["code"], -32700, "{error}");
        let message = error["error"]["message"].as_str().unwrap();
        assert!(message.starts_with("Parse error: "), "{message}");
    }
    assert!(
        errors[2]["error"]["message"]
            .as_str()
            .unwrap()
            .contains("8388608 bytes"),
        "{}",
        errors[2]
    );
    assert!(
        !got.iter().any(|m| m["id"] == 9),
        "the long line is dropped"
    );
    assert!(answer(&got, 2)["result"]["tools"].is_array());
}

#[test]
fn a_request_nested_too_deeply_gets_an_error_with_its_id_and_the_session_goes_on() {
    let sb = Sandbox::new();
    let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
    let call = |id: u64, n: usize| {
        format!(
            r#"{{"jsonrpc":"2.0","id":{id},"method":"tools/call","params":{{"name":"route","arguments":{{"prompt":{}}}}}}}"#,
            deep(n)
        )
    };
    let lines = [
        INIT.to_owned(),
        INITIALIZED.to_owned(),
        call(3, 127),
        call(4, 100_000),
        r#"{"jsonrpc":"2.0","id":5,"method":"tools/list"}"#.to_owned(),
    ];
    let got = session(sb.cmd(), &lines, &[json!(3), json!(4), json!(5)]);
    for id in [3, 4] {
        let error = &answer(&got, id)["error"];
        assert_eq!(error["code"], -32600, "{error}");
        assert!(
            error["message"].as_str().unwrap().contains("nested deeper"),
            "{error}"
        );
    }
    assert!(answer(&got, 5)["result"]["tools"].is_array());
}

#[test]
fn calls_run_concurrently_and_each_answers_for_itself() {
    let server = ollama::admin(&["qwen2.5:14b-instruct-q4_K_M"]);
    let sb = Sandbox::new();
    sb.write(
        "CONTRACTS.md",
        "# Contracts\n## Billing\nInvoices go out on the 1st.\n",
    );
    let mut cmd = sb.cmd();
    cmd.ollama(&server);
    let lines = [
        INIT.to_owned(),
        INITIALIZED.to_owned(),
        call(1, "status", json!({})),
        call(
            2,
            "context",
            json!({"prompt": "explain the billing flow", "route": "api"}),
        ),
        call(
            3,
            "route",
            json!({"prompt": "migrate the whole app from REST to gRPC"}),
        ),
        call(
            4,
            "context",
            json!({"prompt": "x", "profile": "no-such-profile"}),
        ),
    ];
    let got = session(cmd, &lines, &[json!(1), json!(2), json!(3), json!(4)]);

    let status = tool_doc(answer(&got, 1));
    let checks = status["doctor"]["checks"].as_array().unwrap();
    let local = checks.iter().find(|c| c["check"] == "local").unwrap();
    assert_eq!(local["status"], "ok", "{local}");
    assert_eq!(status["stats"]["calls"], 0, "{}", status["stats"]);

    let context = tool_doc(answer(&got, 2));
    assert_eq!(context["route"], "api");
    // Docs that fit the API budget go whole (the "full context" of the API route).
    assert_eq!(context["sections"][0]["file"], "CONTRACTS.md");
    assert_eq!(context["sections"][0]["reason"], "whole");
    assert!(
        context["system"]
            .as_str()
            .unwrap()
            .contains("Invoices go out on the 1st.")
    );

    assert_eq!(tool_doc(answer(&got, 3))["route"], "api");

    // One failing call is its own tool error; the others were answered.
    let failed = answer(&got, 4);
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    let text = failed["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("no-such-profile"), "{text}");
}

/// Installs an official SDK once (scripts/mcp-client.sh, cached) and returns what it prints:
/// the venv's python, or the node_modules folder.
fn sdk(which: &str) -> String {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let setup = Command::new("bash")
        .arg(root.join("scripts/mcp-client.sh"))
        .arg(which)
        .output()
        .expect("bash");
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    String::from_utf8(setup.stdout).unwrap().trim().to_owned()
}

/// `program` with the sandbox's clean environment (the one `sb.cmd()` gives the binary).
fn with_sandbox_env(sb: &Sandbox, program: &str) -> Command {
    let mut cmd = Command::new(program);
    for (k, v) in sb.cmd().get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd
}

/// Runs tests/support/mcp_client.py (the official MCP Python SDK, installed once into a
/// cached venv) against `codex-wrap mcp` in the sandbox, Ollama at `ollama`; its report.
fn python_client(sb: &Sandbox, ollama: &Server, scenario: &[&str]) -> Value {
    python_client_with(sb, ollama, scenario, &[])
}

fn python_client_with(
    sb: &Sandbox,
    ollama: &Server,
    scenario: &[&str],
    env: &[(&str, &std::path::Path)],
) -> Value {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let python = sdk("python");
    let cmd = sb.cmd();
    let mut py = with_sandbox_env(sb, &python);
    py.env_remove("PYTHONPATH")
        .ollama(ollama)
        .arg(root.join("tests/support/mcp_client.py"))
        .arg(cmd.get_program())
        .arg(sb.project())
        .args(scenario)
        .envs(env.iter().copied())
        .current_dir(sb.project());
    let out = py.output().expect("python");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
#[ignore = "real engine: cargo test -- --ignored"]
fn the_official_python_sdk_drives_the_server() {
    let server = ollama::admin(&["qwen2.5:14b-instruct-q4_K_M"]);
    let sb = Sandbox::new();
    sb.write(
        "CONTRACTS.md",
        "# Contracts\n## Billing\nThe billing flow: webhook, ledger, invoice.\n",
    );
    let report = python_client(&sb, &server, &[]);

    assert_eq!(report["server"], "codex-wrap");
    assert_eq!(
        report["tools"],
        json!(["context", "delegate", "job", "route", "status"])
    );
    let tokens = report["tools_chars"].as_u64().unwrap() / 4;
    eprintln!(
        "tools/list: {} characters, about {tokens} tokens",
        report["tools_chars"]
    );
    assert!(tokens < 1_500, "the tool list is about {tokens} tokens");

    let doc = |key: &str| -> Value {
        assert_eq!(report[key]["error"], false, "{key}: {}", report[key]);
        serde_json::from_str(report[key]["text"][0].as_str().unwrap()).unwrap()
    };
    assert_eq!(doc("route_local")["route"], "local");
    assert_eq!(doc("route_api")["route"], "api");
    let context = doc("context");
    // Docs that fit the API budget go whole (the "full context" of the API route).
    assert_eq!(context["sections"][0]["file"], "CONTRACTS.md");
    assert_eq!(context["sections"][0]["reason"], "whole");
    let status = doc("status");
    assert!(status["doctor"]["checks"].is_array());
    assert_eq!(status["stats"]["calls"], 0);

    assert_eq!(
        report["concurrent"]["errors"],
        json!([false, false, false, false])
    );
    assert_eq!(report["bad_arguments"]["error"], true);
    assert_eq!(report["unknown_method"]["code"], -32601);
    assert_eq!(report["still_up"], true);
}

#[test]
fn a_cancelled_call_closes_its_backend_connection_at_once() {
    // The doctor behind `status` asks Ollama for its version; this server never answers
    // and reports when the request is here and when the client hangs up. The doctor asks
    // /api/tags and /api/show at the same time (answered with a close at once): only the
    // version request says the call is in flight.
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::start(move |_, req, conn| {
        if req.path == "/api/version" {
            let _ = tx
                .lock()
                .unwrap()
                .send(("asked", std::time::Instant::now()));
            conn.wait_closed(Duration::from_secs(20));
            let _ = tx
                .lock()
                .unwrap()
                .send(("closed", std::time::Instant::now()));
        }
    });
    let sb = Sandbox::new();
    let mut cmd = sb.cmd();
    cmd.ollama(&server);
    let mut live = Live::start(cmd);
    live.send(&call(1, "status", json!({})));
    let (what, _) = rx
        .recv_timeout(Duration::from_secs(10))
        .expect("the doctor never asked");
    assert_eq!(what, "asked");
    let at = std::time::Instant::now();
    live.send(&cancelled(1));
    let (what, closed) = rx.recv_timeout(Duration::from_secs(20)).expect("closed");
    assert_eq!(what, "closed");
    let after = closed.saturating_duration_since(at);
    assert!(
        after < Duration::from_millis(500),
        "closed {after:?} after the cancel"
    );

    // The session goes on.
    live.send(&call(2, "route", json!({"prompt": "a regex for dates"})));
    assert_eq!(tool_doc(&live.answer(2))["route"], "local");
    live.end();
}

#[test]
#[ignore = "real engine: cargo test -- --ignored"]
fn a_call_the_python_sdk_abandons_closes_its_backend_connection() {
    // The doctor behind `status` gives up on Ollama after 800 ms by itself; the client
    // cancels as soon as the request is here, so only the cancel closes it sooner.
    let sb = Sandbox::new();
    let marker = sb.dir.path().join("asked");
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let flag = marker.clone();
    let server = Server::start(move |_, req, conn| {
        if req.path == "/api/version" {
            std::fs::write(&flag, "").unwrap();
            conn.wait_closed(Duration::from_secs(20));
            let _ = tx.lock().unwrap().send(std::time::SystemTime::now());
        }
    });
    let report = python_client_with(&sb, &server, &["cancel"], &[("MCP_TEST_MARKER", &marker)]);
    assert_eq!(report["abandoned"], true, "{report}");
    assert_eq!(report["still_up"], true, "{report}");
    let closed = rx.recv_timeout(Duration::from_secs(5)).expect("closed");
    let abandoned =
        std::time::UNIX_EPOCH + Duration::from_secs_f64(report["abandoned_at"].as_f64().unwrap());
    let after = closed.duration_since(abandoned).unwrap_or_default();
    assert!(
        after < Duration::from_millis(500),
        "closed {after:?} after the cancel"
    );
}

#[test]
#[ignore = "real engine: cargo test -- --ignored"]
fn the_official_typescript_sdk_drives_the_server() {
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let modules = sdk("node");

    let server = ollama::admin(&["qwen2.5:14b-instruct-q4_K_M"]);
    let sb = Sandbox::new();
    sb.write(
        "CONTRACTS.md",
        "# Contracts\n## Billing\nThe billing flow: webhook, ledger, invoice.\n",
    );
    let cmd = sb.cmd();
    let mut node = with_sandbox_env(&sb, "node");
    node.ollama(&server)
        .env("MCP_TS_MODULES", &modules)
        .arg(root.join("tests/support/mcp_client.mjs"))
        .arg(cmd.get_program())
        .arg(sb.project())
        .current_dir(sb.project());
    let out = node.output().expect("node");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["server"], "codex-wrap");
    assert_eq!(
        report["tools"],
        json!(["context", "delegate", "job", "route", "status"])
    );
    assert_eq!(report["route"]["error"], false);
    let decision: Value =
        serde_json::from_str(report["route"]["text"][0].as_str().unwrap()).unwrap();
    assert_eq!(decision["route"], "local");
    assert_eq!(report["concurrent"], json!([false, false, false, false]));
    let context: Value = serde_json::from_str(report["context"][0].as_str().unwrap()).unwrap();
    // Docs that fit the API budget go whole (the "full context" of the API route).
    assert_eq!(context["sections"][0]["file"], "CONTRACTS.md");
    assert_eq!(context["sections"][0]["reason"], "whole");
    assert_eq!(report["unknown_method"]["code"], -32601);
}

/// A fake Ollama that answers the n-th `/api/chat` with `answer(n)` split in words, and
/// keeps every chat body it received. A handler of its own, not `ollama::fake()`: the
/// answer changes from one request to the next.
fn chatty(answer: fn(usize) -> String) -> Server {
    Server::start(move |n, req, conn| match req.path.as_str() {
        "/api/chat" => {
            ollama::stream(conn, &words(&answer(n)));
        }
        "/api/version" => ollama::version(conn),
        _ => conn.respond(404, "text/plain", &[], b"404 page not found"),
    })
}

/// `text` as streamed tokens: its words, each with the space after it.
fn words(text: &str) -> Vec<&str> {
    text.split_inclusive(' ').collect()
}

/// The summary JSON and the text of a `delegate` result.
fn delegated(message: &Value) -> (Value, String) {
    assert_eq!(message["result"]["isError"], false, "{message}");
    let content = &message["result"]["content"];
    let summary = serde_json::from_str(content[0]["text"].as_str().unwrap()).unwrap();
    (summary, content[1]["text"].as_str().unwrap().to_owned())
}

/// The binary in `sb` with the local route at `ollama` and its own state dir.
fn delegate_cmd(sb: &Sandbox, ollama: &Server) -> Command {
    let mut cmd = state_cmd(sb);
    cmd.ollama(ollama);
    cmd
}

/// The binary in `sb` with its own state dir (continuations, jobs, trust).
fn state_cmd(sb: &Sandbox) -> Command {
    let mut cmd = sb.cmd();
    cmd.env("CODEX_WRAP_STATE_DIR", sb.dir.path().join("state"));
    cmd
}

#[test]
fn a_delegate_reply_cut_at_the_token_limit_says_truncated_lists_its_events_and_sends_no_progress_unasked()
 {
    let server = cut_short();
    let sb = Sandbox::new();
    let mut live = Live::start(delegate_cmd(&sb, &server));
    live.send(&call(
        1,
        "delegate",
        json!({"prompt": "write a long function", "route": "local"}),
    ));
    let (summary, text) = delegated(&live.answer(1));
    assert_eq!(text, "fn half(");
    assert_eq!(summary["truncated"], true, "{summary}");
    assert_eq!(summary["fallback"], Value::Null, "{summary}");
    let types: Vec<&str> = summary["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(types, ["attempt_started", "truncated"], "{summary}");
    // The call had no progress token: no notification, not even a late one (a quick call
    // after it: anything the first one sent late arrives before its answer).
    live.send(&call(2, "route", json!({"prompt": "a regex"})));
    live.answer(2);
    let progress = progress_of(&live.seen);
    assert!(progress.is_empty(), "{progress:?}");
    live.end();
}

#[test]
fn a_delegate_reply_names_the_fallback_that_answered() {
    let api = gemini::fake()
        .streaming(&["from ", "gemini"])
        .expect(Calls::Exactly(1));
    let sb = Sandbox::new();
    // The local route is unreachable: nothing listens on port 9.
    let mut cmd = state_cmd(&sb);
    cmd.env("OLLAMA_URL", "http://127.0.0.1:9").gemini(&api);
    let mut live = Live::start(cmd);
    live.send(&call(1, "delegate", json!({"prompt": "write a haiku"})));
    let (summary, text) = delegated(&live.answer(1));
    assert_eq!(text, "from gemini");
    assert_eq!(summary["truncated"], false, "{summary}");
    let fallback = &summary["fallback"];
    assert!(fallback["from"].is_string(), "{summary}");
    assert!(
        fallback["reason"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{summary}"
    );
    let events = summary["events"].as_array().unwrap();
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "fallback" && e["from"] == fallback["from"]),
        "{summary}"
    );
    live.end();
}

#[test]
fn delegate_answers_in_process_with_inputs_continuation_and_the_run_log() {
    let server = chatty(|n| format!("answer number {n} fn slug() {{}}"));
    let sb = Sandbox::new();
    sb.write("src/lib.rs", "pub fn old_slug() -> u8 { 7 }\n");
    let mut live = Live::start(delegate_cmd(&sb, &server));
    live.send(&call(
        1,
        "delegate",
        json!({"prompt": "write a slug function", "route": "local", "files": ["src/lib.rs"]}),
    ));
    let (summary, text) = delegated(&live.answer(1));
    assert_eq!(text, "answer number 0 fn slug() {}");
    assert_eq!(summary["route"], "local");
    assert!(
        summary["endpoint"].as_str().unwrap().contains("ollama"),
        "{summary}"
    );
    assert!(summary["tokens"].as_u64().unwrap() > 0, "{summary}");
    assert!(summary["seconds"].is_number(), "{summary}");
    assert_eq!(summary["full_text"], Value::Null);
    let id = summary["continuation_id"].as_str().unwrap().to_owned();
    // The input went as context, with its path.
    let first = server.requests()[0].json().to_string();
    assert!(
        first.contains("src/lib.rs") && first.contains("old_slug"),
        "{first}"
    );

    // The follow-up carries the first exchange before the new prompt.
    live.send(&call(
        2,
        "delegate",
        json!({"prompt": "now add tests", "route": "local", "continuation_id": id}),
    ));
    let (_, text) = delegated(&live.answer(2));
    assert_eq!(text, "answer number 1 fn slug() {}");
    let body = server.requests()[1].json();
    let user = body["messages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["role"] == "user")
        .unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    let earlier = user.find("write a slug function").expect("earlier prompt");
    let answer = user.find("answer number 0").expect("earlier answer");
    let new = user.find("now add tests").expect("new prompt");
    assert!(earlier < answer && answer < new, "{user}");

    // A check without `write` is a tool error; the session goes on.
    live.send(&call(
        3,
        "delegate",
        json!({"prompt": "x", "check": "true"}),
    ));
    let refused = live.answer(3);
    assert_eq!(refused["result"]["isError"], true, "{refused}");
    live.send(&call(
        4,
        "delegate",
        json!({"prompt": "x", "continuation_id": "nope"}),
    ));
    assert_eq!(live.answer(4)["result"]["isError"], true);
    live.end();

    // Each call was logged like a CLI call.
    let log = std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap();
    let records: Vec<Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(records.len(), 2, "{log}");
    assert_eq!(records[0]["route"], "local");
    assert_eq!(records[0]["outcome"], "ok");
    // No key or secret reaches the continuation store.
    for entry in std::fs::read_dir(sb.dir.path().join("state/continuations")).unwrap() {
        let saved = std::fs::read_to_string(entry.unwrap().path()).unwrap();
        assert!(
            !saved.contains("OLLAMA") && !saved.contains("key"),
            "{saved}"
        );
    }
}

#[test]
fn delegate_with_write_lands_the_files_runs_the_check_and_replies_with_a_summary() {
    let server = ollama::fake()
        .streaming(&words(
            "File: app/slug.py\n```python\ndef slug(s):\n    return s.lower()\n```\n",
        ))
        .expect(Calls::Exactly(1));
    let sb = Sandbox::new();
    let mut live = Live::start(delegate_cmd(&sb, &server));
    live.send(&call(
        1,
        "delegate",
        json!({
            "prompt": "write app/slug.py with a slug function",
            "route": "local",
            "write": true,
            "check": "python3 -c 'import app.slug as s; assert s.slug(\"AB\") == \"ab\"'"
        }),
    ));
    let (summary, text) = delegated(&live.answer(1));
    live.end();
    assert_eq!(
        summary["files_written"],
        json!(["app/slug.py"]),
        "{summary}"
    );
    assert_eq!(summary["check"]["passed"], true, "{summary}");
    // The reply is the summary, not the code.
    assert!(text.contains("created app/slug.py (2 lines)"), "{text}");
    assert!(!text.contains("return s.lower()"), "{text}");
    let written = std::fs::read_to_string(sb.project().join("app/slug.py")).unwrap();
    assert_eq!(written, "def slug(s):\n    return s.lower()\n");
    // The model was asked for files.
    let body = server.requests()[0].json().to_string();
    assert!(body.contains("app/slug.py"), "{body}");
}

/// A `delegate` with `write` and `check` on a fresh session: its tool result.
fn delegate_check(cmd: Command, check: &str) -> Value {
    let mut live = Live::start(cmd);
    live.send(&call(
        1,
        "delegate",
        json!({"prompt": "write t.sh", "route": "local", "write": true, "check": check}),
    ));
    let got = live.answer(1);
    live.end();
    got
}

#[test]
fn a_delegate_check_runs_only_in_the_sandbox_or_when_the_user_lists_it() {
    let server = ollama::fake().streaming(&words("```sh t.sh\necho b > \"$HOME/pwned\"\n```\n"));
    let sb = Sandbox::new();
    // HOME outside /tmp, so the sandbox shows it read-only rather than hidden.
    let home = crate::support::outside_tmp();
    let with = |path: Option<&std::path::Path>| {
        let mut cmd = delegate_cmd(&sb, &server);
        cmd.env("HOME", home.path());
        if let Some(p) = path {
            cmd.env("PATH", p);
        }
        cmd
    };
    // In the sandbox: the check runs, and cannot write HOME.
    let got = delegate_check(with(None), "sh t.sh");
    let (summary, _) = delegated(&got);
    assert_eq!(summary["check"]["passed"], false, "{summary}");
    assert!(
        summary["check"]["tail"]
            .as_str()
            .unwrap()
            .contains("Read-only file system"),
        "{summary}"
    );
    assert!(!home.path().join("pwned").exists());
    let asked = server.requests().len();

    // The task failed: the file it created was put back (removed).
    assert!(!sb.project().join("t.sh").exists());

    // No sandbox (no bwrap on PATH): refused before the model is asked, nothing written.
    let bin = sb.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).unwrap();
    let got = delegate_check(with(Some(&bin)), "sh t.sh");
    assert_eq!(got["result"]["isError"], true, "{got}");
    let text = got["result"]["content"][0]["text"].as_str().unwrap();
    assert!(text.contains("[mcp] checks"), "{text}");
    assert_eq!(server.requests().len(), asked, "the model was asked");
    assert!(!sb.project().join("t.sh").exists());
    // The project cannot list its own check, nor turn the sandbox off.
    sb.write(
        "profiles.toml",
        "[mcp]\nchecks = [\"sh t.sh\"]\n[files]\nsandbox = \"off\"\n",
    );
    let got = delegate_check(with(Some(&bin)), "sh t.sh");
    assert_eq!(got["result"]["isError"], true, "{got}");
    std::fs::remove_file(sb.project().join("profiles.toml")).unwrap();

    // The user's own list: it runs, as the user (no sandbox here).
    std::fs::create_dir_all(sb.config_home().join("codex-wrap")).unwrap();
    std::fs::write(
        sb.config_home().join("codex-wrap/profiles.toml"),
        "[mcp]\nchecks = [\"sh t.sh\"]\n",
    )
    .unwrap();
    let got = delegate_check(with(Some(&bin)), "sh t.sh");
    let (summary, _) = delegated(&got);
    assert_eq!(summary["check"]["passed"], true, "{summary}");
    assert!(home.path().join("pwned").exists());
    // Another command is still refused.
    let got = delegate_check(with(Some(&bin)), "sh t.sh; true");
    assert_eq!(got["result"]["isError"], true, "{got}");
}

#[test]
fn a_long_delegate_reply_is_capped_and_saved_whole() {
    let long = "line of the long answer\n".repeat(400);
    let server = ollama::fake()
        .streaming(&words(&long))
        .expect(Calls::Exactly(1));
    let sb = Sandbox::new();
    sb.write("profiles.toml", "[mcp]\nmax_reply_tokens = 200\n");
    let mut live = Live::start(delegate_cmd(&sb, &server));
    live.send(&call(
        1,
        "delegate",
        json!({"prompt": "a long list", "route": "local"}),
    ));
    let (summary, text) = delegated(&live.answer(1));
    live.end();
    let path = summary["full_text"].as_str().expect("capped");
    let whole = std::fs::read_to_string(path).unwrap();
    assert_eq!(whole, "line of the long answer\n".repeat(400));
    assert!(text.len() < 200 * 4 + 200, "{} bytes shown", text.len());
    assert!(text.contains(path), "{text}");
}

#[test]
fn delegate_calls_run_at_once_and_a_failing_one_is_its_own_error() {
    let server = chatty(|n| format!("answer {n}"));
    let sb = Sandbox::new();
    let mut live = Live::start(delegate_cmd(&sb, &server));
    for id in 1..=3 {
        live.send(&call(
            id,
            "delegate",
            json!({"prompt": format!("task {id}"), "route": "local"}),
        ));
    }
    live.send(&call(
        4,
        "delegate",
        json!({"prompt": "x", "profile": "no-such-profile"}),
    ));
    let mut texts: Vec<String> = (1..=3).map(|id| delegated(&live.answer(id)).1).collect();
    texts.sort();
    assert_eq!(texts, ["answer 0", "answer 1", "answer 2"]);
    let failed = live.answer(4);
    assert_eq!(failed["result"]["isError"], true, "{failed}");
    assert!(failed.to_string().contains("no-such-profile"), "{failed}");
    live.end();
}

#[test]
fn a_cancelled_delegate_call_closes_the_model_connection_at_once() {
    // The model streams two tokens, then stalls; it reports when the client hangs up.
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let server = Server::start(move |_, req, conn| {
        if req.path == "/api/chat" {
            ollama::start(conn);
            conn.chunk(ollama::token_line(ollama::MODEL, "fn ").as_bytes());
            conn.chunk(ollama::token_line(ollama::MODEL, "slug").as_bytes());
            let _ = tx
                .lock()
                .unwrap()
                .send(("streaming", std::time::Instant::now()));
            conn.wait_closed(Duration::from_secs(20));
            let _ = tx
                .lock()
                .unwrap()
                .send(("closed", std::time::Instant::now()));
        }
    });
    let sb = Sandbox::new();
    let mut live = Live::start(delegate_cmd(&sb, &server));
    live.send(&call_with_progress(
        1,
        "delegate",
        json!({"prompt": "write slug", "route": "local"}),
        "p1",
    ));
    let (what, _) = rx.recv_timeout(Duration::from_secs(10)).expect("streaming");
    assert_eq!(what, "streaming");
    let at = std::time::Instant::now();
    live.send(&cancelled(1));
    let (what, closed) = rx.recv_timeout(Duration::from_secs(20)).expect("closed");
    assert_eq!(what, "closed");
    let after = closed.saturating_duration_since(at);
    assert!(
        after < Duration::from_millis(200),
        "closed {after:?} after the cancel"
    );

    // The first progress notification came at once; the session goes on.
    live.send(&call(2, "route", json!({"prompt": "a regex for dates"})));
    assert_eq!(tool_doc(&live.answer(2))["route"], "local");
    let progress = live
        .seen
        .iter()
        .find(|m| m["method"] == "notifications/progress")
        .expect("a progress notification");
    assert_eq!(progress["params"]["progressToken"], "p1");
    live.end();
}

/// The user message of an Ollama chat body.
fn user_message(body: &Value) -> String {
    body["messages"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["role"] == "user"))
        .and_then(|m| m["content"].as_str())
        .unwrap_or_default()
        .to_owned()
}

#[test]
#[ignore = "real engine: cargo test -- --ignored"]
fn the_official_python_sdk_delegates_to_the_in_process_engine() {
    let sb = Sandbox::new();
    sb.write("profiles.toml", "[mcp]\nmax_reply_tokens = 500\n");
    let marker = sb.dir.path().join("streaming");
    let (tx, rx) = mpsc::channel();
    let tx = std::sync::Mutex::new(tx);
    let flag = marker.clone();
    // A scripted Ollama: what it does is in the prompt.
    let server = Server::start(move |_, req, conn| {
        if req.path != "/api/chat" {
            return conn.respond(404, "text/plain", &[], b"404 page not found");
        }
        let user = user_message(&req.json());
        if user.contains("SLOW") {
            ollama::start(conn);
            for _ in 0..11 {
                std::thread::sleep(Duration::from_secs(1));
                conn.chunk(ollama::token_line(ollama::MODEL, "tick ").as_bytes());
            }
            conn.chunk(ollama::done_line(ollama::MODEL, 11, "stop").as_bytes());
            conn.end();
        } else if user.contains("STALL") {
            ollama::start(conn);
            conn.chunk(ollama::token_line(ollama::MODEL, "fn ").as_bytes());
            conn.chunk(ollama::token_line(ollama::MODEL, "slug").as_bytes());
            std::fs::write(&flag, "").unwrap();
            conn.wait_closed(Duration::from_secs(20));
            let _ = tx.lock().unwrap().send(std::time::SystemTime::now());
        } else if user.contains("LONG") {
            let text = "line of the long answer\n".repeat(400);
            ollama::stream(conn, &[&text]);
        } else {
            let last = user.lines().last().unwrap_or_default().to_owned();
            ollama::stream(conn, &["done: ", &last]);
        }
    });
    let state = sb.dir.path().join("state");
    let report = python_client_with(
        &sb,
        &server,
        &["delegate"],
        &[
            ("MCP_TEST_MARKER", &marker),
            ("CODEX_WRAP_STATE_DIR", &state),
        ],
    );

    assert_eq!(
        report["tools"],
        json!(["context", "delegate", "job", "route", "status"])
    );
    let tools_json = report["tools_json"].as_str().unwrap();
    eprintln!("tools/list with delegate: {} bytes", tools_json.len());
    assert!(tools_json.len() / 4 < 1_500, "{} bytes", tools_json.len());

    // Progress: the tokens at once, then every 5 s, growing; the engine's events between.
    assert_eq!(report["slow"]["error"], false, "{}", report["slow"]);
    assert_eq!(report["slow"]["text"], "tick ".repeat(11));
    let all = report["progress"].as_array().unwrap();
    eprintln!("progress: {all:?}");
    let message = |p: &Value| p["message"].as_str().unwrap().to_owned();
    assert!(
        all.iter()
            .any(|p| message(p).starts_with("attempt 1 on local (ollama ")),
        "{all:?}"
    );
    let progress: Vec<&Value> = all
        .iter()
        .filter(|p| message(p).ends_with(" tokens so far"))
        .collect();
    assert!(progress.len() >= 2, "{progress:?}");
    assert!(progress[0]["after"].as_f64().unwrap() < 1.0, "{progress:?}");
    let tokens = |p: &Value| -> u64 { message(p).split(' ').next().unwrap().parse().unwrap() };
    assert!(tokens(progress[1]) > tokens(progress[0]), "{progress:?}");
    let values: Vec<f64> = all
        .iter()
        .map(|p| p["progress"].as_f64().unwrap())
        .collect();
    assert!(values.windows(2).all(|w| w[1] > w[0]), "{all:?}");

    let concurrent = report["concurrent"].as_array().unwrap();
    let mut texts: Vec<&str> = concurrent
        .iter()
        .map(|c| c["text"].as_str().unwrap())
        .collect();
    texts.sort_unstable();
    assert_eq!(
        texts,
        [
            "done: task 0",
            "done: task 1",
            "done: task 2",
            "done: task 3"
        ]
    );

    // The follow-up's body carried the first exchange, then the new prompt.
    assert_eq!(report["continuation"]["follow"]["error"], false);
    let follow = server
        .requests()
        .iter()
        .map(|r| user_message(&r.json()))
        .find(|u| u.contains("now add tests"))
        .unwrap();
    let earlier = follow
        .find("write a slugify function")
        .expect("earlier prompt");
    let answer = follow
        .find("done: write a slugify function")
        .expect("earlier answer");
    let new = follow.rfind("now add tests").unwrap();
    assert!(earlier < answer && answer < new, "{follow}");

    // The long answer was capped; the saved file holds all of it.
    let long = &report["long"];
    for key in ["slow", "long"] {
        eprintln!(
            "{key} reply: summary {} bytes, text {} bytes",
            report[key]["summary"].to_string().len(),
            report[key]["text"].as_str().unwrap().len()
        );
    }
    let path = long["summary"]["full_text"].as_str().expect("capped");
    assert_eq!(
        std::fs::read_to_string(path).unwrap(),
        "line of the long answer\n".repeat(400)
    );
    assert!(long["text"].as_str().unwrap().len() < 500 * 4 + 200);

    // Abandoned mid-stream: the model saw the connection close within 200 ms.
    let closed = rx.recv_timeout(Duration::from_secs(5)).expect("closed");
    let abandoned =
        std::time::UNIX_EPOCH + Duration::from_secs_f64(report["abandoned_at"].as_f64().unwrap());
    let after = closed.duration_since(abandoned).unwrap_or_default();
    eprintln!("model connection closed {after:?} after the SDK abandoned the call");
    assert!(
        after < Duration::from_millis(200),
        "closed {after:?} after the cancel"
    );

    assert_eq!(report["bad_arguments"]["error"], true);
    assert_eq!(
        report["malformed"]["code"], -32601,
        "{}",
        report["malformed"]
    );
    assert_eq!(report["still_up"]["text"], "done: task after");
}

#[test]
fn the_mcp_server_checks_the_projects_trust_on_every_call() {
    // Calls 1, 3 and 5 come here; 2 and 4 go to the trusted command endpoint.
    let server = ollama::fake()
        .streaming(&["from ", "ollama"])
        .expect(Calls::Exactly(3));
    let sb = Sandbox::new();
    let marker = sb.dir.path().join("pwned");
    let profiles = format!(
        "[endpoints.evil]\nprovider = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; touch '{}'; printf pwned\"]\n[routes]\nlocal = [\"evil\"]\n",
        marker.display()
    );
    sb.write("profiles.toml", &profiles);
    let trust = |args: &[&str]| {
        Test::command(state_cmd(&sb)).arg("trust").args(args).run();
    };
    let mut live = Live::start(delegate_cmd(&sb, &server));
    let delegate = |live: &mut Live, id: u64| {
        live.send(&call(
            id,
            "delegate",
            json!({"prompt": "write hello", "route": "local"}),
        ));
        delegated(&live.answer(id)).1
    };
    // Untrusted: the project's command endpoint is ignored.
    assert!(delegate(&mut live, 1).contains("from ollama"));
    assert!(!marker.exists());
    // Trusted while the server runs: the next call uses it.
    trust(&[]);
    assert!(delegate(&mut live, 2).contains("pwned"));
    assert!(marker.exists());
    std::fs::remove_file(&marker).unwrap();
    // Changed while the server runs: revoked at the next call.
    sb.write("profiles.toml", &format!("{profiles}# changed\n"));
    assert!(delegate(&mut live, 3).contains("from ollama"));
    assert!(!marker.exists());
    // Trusted again, then revoked with --revoke.
    trust(&[]);
    assert!(delegate(&mut live, 4).contains("pwned"));
    trust(&["--revoke"]);
    std::fs::remove_file(&marker).unwrap();
    assert!(delegate(&mut live, 5).contains("from ollama"));
    assert!(!marker.exists());
    live.end();
}

#[test]
fn delegate_files_neither_tell_whether_an_outside_path_exists_nor_walk_the_disk() {
    let server = ollama::fake().answering("never").expect(Calls::Never);
    let sb = Sandbox::new();
    let mut live = Live::start(delegate_cmd(&sb, &server));
    let mut errors = Vec::new();
    for (id, path) in [
        (1, "/etc/passwd"),
        (2, "/etc/no-such-file"),
        (3, "/**"),
        (4, "../x"),
        (5, "~/.ssh/id_rsa"),
    ] {
        live.send(&call(
            id,
            "delegate",
            json!({"prompt": "x", "route": "local", "files": [path]}),
        ));
        let m = live.answer(id);
        assert_eq!(m["result"]["isError"], true, "{m}");
        let text = m["result"]["content"][0]["text"]
            .as_str()
            .unwrap()
            .to_owned();
        errors.push(text.replace(path, "PATH"));
    }
    live.end();
    assert!(errors.iter().all(|e| e == &errors[0]), "{errors:#?}");
}

/// The progress notifications among `messages`, in order: (token, progress, message).
fn progress_of(messages: &[Value]) -> Vec<(Value, f64, String)> {
    messages
        .iter()
        .filter(|m| m["method"] == "notifications/progress")
        .map(|m| {
            let p = &m["params"];
            (
                p["progressToken"].clone(),
                p["progress"].as_f64().unwrap(),
                p["message"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

impl Live {
    /// A `delegate` call with these arguments and a progress token: its reply and its
    /// progress messages (see [`Live::answer_with_progress`]).
    fn delegate_with_progress(&mut self, arguments: Value) -> (Value, Vec<String>) {
        self.send(&call_with_progress(1, "delegate", arguments, "p"));
        self.answer_with_progress(1, "p")
    }

    /// The response to `id` and the progress messages for `token` that came before it (in
    /// order, their values checked to grow), then a quick `route` call as `id + 1000`, which
    /// must not be preceded by any more progress for `token`: none comes after the reply.
    fn answer_with_progress(&mut self, id: u64, token: &str) -> (Value, Vec<String>) {
        let before = self.seen.len();
        let reply = self.answer(id);
        let progress: Vec<(Value, f64, String)> = progress_of(&self.seen[before..])
            .into_iter()
            .filter(|(t, _, _)| t == token)
            .collect();
        assert!(
            progress.windows(2).all(|w| w[1].1 > w[0].1),
            "progress must grow: {progress:?}"
        );
        let after = self.seen.len();
        self.send(&call(id + 1000, "route", json!({"prompt": "a regex"})));
        self.answer(id + 1000);
        let late: Vec<_> = progress_of(&self.seen[after..])
            .into_iter()
            .filter(|(t, _, _)| t == token)
            .collect();
        assert!(late.is_empty(), "progress after the reply: {late:?}");
        (reply, progress.into_iter().map(|(_, _, m)| m).collect())
    }
}

/// The index of the first message that starts with `start`.
fn position(messages: &[String], start: &str) -> usize {
    messages
        .iter()
        .position(|m| m.starts_with(start))
        .unwrap_or_else(|| panic!("no progress message {start:?} in {messages:#?}"))
}

#[test]
fn delegate_progress_carries_the_fallback_as_it_happens_and_no_secret() {
    const KEY: &str = "AIza-progress-secret-4711";
    // The local server fails before any text, with the key in its error.
    let local = ollama::fake()
        .failing(
            500,
            &format!(r#"{{"error":"upstream rejected key {KEY}"}}"#),
        )
        .expect(Calls::Exactly(1));
    let api = gemini::fake()
        .streaming(&["from ", "gemini"])
        .expect(Calls::Exactly(1));
    let sb = Sandbox::new();
    let mut cmd = delegate_cmd(&sb, &local);
    // The key is the secret the local server's error carries.
    cmd.gemini(&api).env("GEMINI_API_KEY", KEY);
    let mut live = Live::start(cmd);
    let (reply, progress) = live.delegate_with_progress(json!({"prompt": "write a haiku"}));
    let (summary, text) = delegated(&reply);
    assert_eq!(text, "from gemini");
    assert!(summary["fallback"]["reason"].is_string(), "{summary}");

    // The attempts and the fallback between them, in the order they happened.
    let first = position(&progress, "attempt 1 on local");
    let fallback = position(&progress, "falling back to api");
    let second = position(&progress, "attempt 2 on api");
    assert!(first < fallback && fallback < second, "{progress:#?}");
    assert!(progress[fallback].contains("HTTP 500"), "{progress:#?}");
    // The ticker's own messages go on beside them.
    assert!(
        progress.iter().any(|m| m.ends_with(" tokens so far")),
        "{progress:#?}"
    );
    // The key in the server's error is masked in the notification, as in the reply.
    assert!(progress[fallback].contains("[redacted]"), "{progress:#?}");
    for message in live.seen.iter().chain([&reply]) {
        assert!(!message.to_string().contains(KEY), "{message}");
    }
    live.end();
}

/// A fake Ollama whose answer stops at the token limit, called once.
fn cut_short() -> Server {
    ollama::fake()
        .finish("length")
        .answering("fn half(")
        .expect(Calls::Exactly(1))
}

#[test]
fn an_answer_cut_at_the_token_limit_is_a_progress_notification_before_the_reply() {
    let server = cut_short();
    let sb = Sandbox::new();
    let mut live = Live::start(delegate_cmd(&sb, &server));
    let (reply, progress) =
        live.delegate_with_progress(json!({"prompt": "write a long function", "route": "local"}));
    let (summary, _) = delegated(&reply);
    assert_eq!(summary["truncated"], true, "{summary}");
    let attempt = position(&progress, "attempt 1 on local (ollama ");
    let cut = position(&progress, "the answer was cut at the model's token limit");
    assert!(attempt < cut, "{progress:#?}");
    live.end();
}

#[test]
fn delegate_write_progress_names_the_files_written_and_each_check_round() {
    // The first answer fails the check, the repair passes it (sizes differ: Python's
    // bytecode cache tells a rewritten file by its size and second).
    let server = chatty(|n| {
        let body = if n == 0 { "s" } else { "s.lower()" };
        format!("File: app/slug.py\n```python\ndef slug(s):\n    return {body}\n```\n")
    });
    let sb = Sandbox::new();
    let mut live = Live::start(delegate_cmd(&sb, &server));
    let (reply, progress) = live.delegate_with_progress(json!({
        "prompt": "write app/slug.py with a slug function",
        "route": "local",
        "write": true,
        "check": "python3 -c 'import app.slug as s; assert s.slug(\"AB\") == \"ab\"'"
    }));
    let (summary, _) = delegated(&reply);
    assert_eq!(summary["check"]["passed"], true, "{summary}");
    let events: Vec<&String> = progress
        .iter()
        .filter(|m| !m.ends_with(" tokens so far"))
        .collect();
    let starts: Vec<&str> = events
        .iter()
        .map(|m| m.split(" (").next().unwrap())
        .collect();
    assert_eq!(
        starts,
        [
            "attempt 1 on local",
            "wrote 1 file: app/slug.py",
            "check round 1 failed",
            "attempt 1 on local",
            "wrote 1 file: app/slug.py",
            "check round 2 passed",
        ],
        "{progress:#?}"
    );
    live.end();
}

#[test]
fn a_refusal_is_asked_again_once_and_the_retry_is_a_progress_notification() {
    // The first answer is a refusal; asked as "Generate code for: …", the model answers.
    let server = chatty(|n| match n {
        0 => "I'm sorry, but I can't help with that.".to_owned(),
        _ => "def slug(s): return s.lower()".to_owned(),
    });
    let sb = Sandbox::new();
    let mut live = Live::start(delegate_cmd(&sb, &server));
    let (reply, progress) =
        live.delegate_with_progress(json!({"prompt": "write a slug function", "route": "local"}));
    let (summary, text) = delegated(&reply);
    assert_eq!(text, "def slug(s): return s.lower()", "{summary}");
    let again = user_message(&server.requests()[1].json());
    assert!(again.contains("Generate code for: "), "{again}");
    let attempt = position(&progress, "attempt 1 on local");
    let retried = position(&progress, "local (ollama ");
    assert!(attempt < retried, "{progress:#?}");
    assert!(
        progress[retried].contains("answered with a refusal; asking again"),
        "{progress:#?}"
    );
    live.end();
}

/// The configuration is read anew for each call: a rule the user adds while the server
/// runs decides the next `route` (and `delegate`) call, without a restart.
#[test]
fn a_rule_added_while_the_server_runs_counts_at_the_next_call() {
    let sb = Sandbox::new();
    let mut live = Live::start(sb.cmd());
    let mut ask = |id: u64| -> Value {
        let prompt = "write a function that reverses a string";
        live.send(&call(id, "route", json!({ "prompt": prompt })));
        tool_doc(&live.answer(id))
    };
    assert_eq!(ask(1)["route"], "local");
    sb.user_config(
        "[router.rules.reverse]\nside = \"api\"\nweight = 9\npattern = '\\breverses\\b'\n",
    );
    let second = ask(2);
    assert_eq!(second["route"], "api", "{second}");
    assert!(
        second["rules"][0].as_str().unwrap().starts_with("reverse("),
        "{second}"
    );
    live.end();
}
