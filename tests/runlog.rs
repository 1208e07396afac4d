//! The run log and `--json`: what each call records, where, and what a programmatic caller
//! reads on stdout.

use serde_json::Value;

use crate::support::{Backends, Sandbox, Server, Test, gemini, ollama};

const LOG: &str = "logs/codex-wrap.jsonl";

fn records(sb: &Sandbox, rel: &str) -> Vec<Value> {
    let text = std::fs::read_to_string(sb.project().join(rel)).unwrap_or_default();
    text.lines()
        .map(|l| serde_json::from_str(l).expect("each line is one JSON object"))
        .collect()
}

fn ollama_ok() -> Server {
    ollama::fake().streaming(&["Hello", " there"])
}

#[test]
fn a_call_leaves_one_record_with_timings_and_no_prompt_text() {
    let sb = Sandbox::new();
    let server = ollama_ok();
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "secret plan for the parser"])
        .stdout("Hello there")
        .run();
    let text = std::fs::read_to_string(sb.project().join(LOG)).unwrap();
    assert!(!text.contains("secret plan"), "prompt text logged: {text}");
    let recs = records(&sb, LOG);
    assert_eq!(recs.len(), 1);
    let r = &recs[0];
    for (key, want) in [
        ("v", Value::from(1)),
        ("route", "local".into()),
        ("route_by", "flag".into()),
        ("profile", "code".into()),
        ("backend", "ollama".into()),
        ("model", ollama::MODEL.into()),
        ("served_by", "local".into()),
        ("fallbacks", 0.into()),
        ("tokens_in", 26.into()),
        ("tokens_out", 2.into()),
        ("tokens_estimated", false.into()),
        ("bytes_out", 11.into()),
        ("exit", 0.into()),
        ("outcome", "ok".into()),
        ("prompt_chars", 26.into()),
    ] {
        assert_eq!(r[key], want, "{key} in {r}");
    }
    let ts = r["ts"].as_str().unwrap();
    assert!(
        ts.len() == 24 && ts.ends_with('Z') && ts.as_bytes()[10] == b'T',
        "{ts}"
    );
    assert_eq!(r["prompt_hash"].as_str().unwrap().len(), 16);
    assert!(r.get("prompt").is_none());
    let (ttft, total) = (
        r["ttft_ms"].as_f64().unwrap(),
        r["total_ms"].as_f64().unwrap(),
    );
    assert!(ttft > 0.0 && ttft <= total, "{ttft} {total}");
    // Ollama's eval_count 2 over eval_duration 4.5356 s.
    assert_eq!(r["tokens_per_sec"], 0.4);
    assert_eq!(r["attempts"][0]["result"], "ok");
}

#[test]
fn log_prompts_and_the_old_variables_keep_their_meaning() {
    let server = ollama_ok();

    let sb = Sandbox::new();
    sb.user_config("[log]\nlog_prompts = true\n");
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "keep me"])
        .stdout("Hello there")
        .run();
    assert_eq!(records(&sb, LOG)[0]["prompt"], "keep me");

    let sb = Sandbox::new();
    Test::new(&sb)
        .ollama(&server)
        .env("CODEX_LOG_FILE", "elsewhere/calls.jsonl")
        .args(["-l", "x"])
        .stdout("Hello there")
        .run();
    assert_eq!(records(&sb, "elsewhere/calls.jsonl").len(), 1);
    assert!(!sb.project().join(LOG).exists());

    let sb = Sandbox::new();
    Test::new(&sb)
        .ollama(&server)
        .env("CODEX_WRAP_ENABLE_LOGGING", "0")
        .args(["-l", "x"])
        .stdout("Hello there")
        .run();
    assert!(!sb.project().join("logs").exists(), "logging is off");
}

#[test]
fn a_log_that_cannot_be_written_is_a_warning_not_a_failure() {
    let sb = Sandbox::new();
    let server = ollama_ok();
    Test::new(&sb)
        .ollama(&server)
        // A directory where the file should be.
        .env("CODEX_LOG_FILE", sb.project())
        .args(["-l", "x"])
        .stdout("Hello there")
        .stderr_has("warning: cannot write the run log")
        .run();
}

#[test]
fn a_fallback_is_logged_with_both_attempts_and_the_router_decision() {
    let sb = Sandbox::new();
    let api = gemini::fake().answering("from the API");
    Test::new(&sb)
        .gemini(&api)
        .arg("write a function that adds two numbers")
        .stdout("from the API")
        .stderr_has("falling back to api (gemini gemini-flash-latest) after: local")
        .run();
    let r = &records(&sb, LOG)[0];
    assert_eq!(r["route"], "local");
    assert_eq!(r["route_by"], "router");
    assert!(r["confidence"].as_f64().is_some());
    assert_eq!(r["served_by"], "api");
    assert_eq!(r["backend"], "gemini");
    assert_eq!(r["fallbacks"], 1);
    let attempts = r["attempts"].as_array().unwrap();
    assert_eq!(attempts.len(), 2);
    assert_eq!(attempts[0]["result"], "unreachable");
    assert_eq!(attempts[1]["result"], "ok");
    // The events, as `--json` and MCP list them: two attempts and the fallback between.
    let events: Vec<&str> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .collect();
    assert_eq!(
        events,
        ["attempt_started", "fallback", "attempt_started"],
        "{r}"
    );
    assert_eq!(r["events"][1]["from"], "ollama", "{r}");
}

#[test]
fn json_mode_prints_one_object_with_the_text_usage_and_timings() {
    let sb = Sandbox::new();
    let server = ollama_ok();
    let r = Test::new(&sb)
        .ollama(&server)
        .args(["-l", "--json", "greet"])
        .run();
    let doc: Value = serde_json::from_str(&r.stdout()).expect("one JSON object");
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["text"], "Hello there");
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(doc["route"], "local");
    assert_eq!(doc["model"], ollama::MODEL);
    assert_eq!(doc["usage"]["completion_tokens"], 2);
    assert!(doc["timings"]["first_token_ms"].as_f64().is_some());
    assert_eq!(doc["fallbacks"], 0);
    assert_eq!(r.stdout().lines().count(), 1);
}

#[test]
fn json_mode_reports_errors_on_stdout_with_the_exit_code() {
    let sb = Sandbox::new();
    for (args, code, needle) in [
        (vec!["-l", "--json", "x"], 4, "cannot connect"),
        (vec!["--json", "-p", "turbo", "x"], 3, "unknown profile"),
        (vec!["--json", "--timeout", "soon", "x"], 2, "soon"),
    ] {
        let t = Test::new(&sb).args(&args).code(code);
        let r = if code == 2 {
            // clap's own usage error, whole.
            t.stderr("error: invalid value 'soon' for '--timeout <SECS>': 'soon' is not accepted: give a number of seconds more than 0 and at most 86400 (e.g. 30, 2.5 or 90s)\n\nFor more information, try '--help'.\n")
        } else {
            t.stderr_has(needle)
        }
        .run();
        let doc: Value = serde_json::from_str(&r.stdout())
            .unwrap_or_else(|e| panic!("{args:?}: {e}: {:?}", r.stdout()));
        assert_eq!(doc["ok"], false, "{args:?}");
        assert_eq!(doc["exit_code"], code, "{args:?}");
        assert!(
            doc["error"].as_str().unwrap().contains(needle),
            "{args:?}: {doc}"
        );
    }
    // An empty prompt on stdin.
    let r = Test::new(&sb)
        .arg("--json")
        .stdin("  \n")
        .limit(std::time::Duration::from_secs(10))
        .code(2)
        .stderr_has("the prompt is empty")
        .run();
    assert_eq!(
        serde_json::from_str::<Value>(&r.stdout()).unwrap()["outcome"],
        "usage"
    );
}

#[test]
fn json_mode_retries_a_broken_stream_on_the_other_route() {
    // Streaming, a reset after text is final (exit 6). With --json nothing has been shown
    // yet, so the partial text is dropped and the API answers instead.
    let sb = Sandbox::new();
    let local = Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(ollama::token_line(ollama::MODEL, "half an ans").as_bytes());
        conn.reset();
    });
    let api = gemini::fake().answering("whole answer");
    let r = Test::new(&sb)
        .ollama(&local)
        .gemini(&api)
        .args(["--json", "write a function that adds two numbers"])
        .stderr_has("falling back to api (gemini gemini-flash-latest) after: local")
        .run();
    let doc: Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["text"], "whole answer");
    assert_eq!(doc["route"], "api");
    assert_eq!(doc["fallbacks"], 1);
    assert!(
        doc["attempts"][0]["error"]
            .as_str()
            .unwrap()
            .contains("discarded"),
        "{doc}"
    );

    // Without --json the same fault is exit 6 with the partial text on stdout.
    Test::new(&sb)
        .ollama(&local)
        .gemini(&api)
        .arg("write a function that adds two numbers")
        .code(6)
        .stdout("half an ans")
        .stderr_has("stream interrupted after 11 bytes of output: local (ollama qwen2.5:14b-instruct-q4_K_M): the server closed the connection mid-answer")
        .run();
}

/// A server whose first token comes after `delay`.
fn slow_first_token(delay: std::time::Duration) -> Server {
    Server::start(move |_, _, conn| {
        ollama::start(conn);
        std::thread::sleep(delay);
        conn.chunk(ollama::token_line(ollama::MODEL, "late").as_bytes());
        conn.chunk(ollama::done_line(ollama::MODEL, 1, "stop").as_bytes());
        conn.end();
    })
}

#[test]
fn no_spinner_bytes_reach_a_stderr_that_is_not_a_terminal() {
    let sb = Sandbox::new();
    let server = slow_first_token(std::time::Duration::from_millis(600));
    let r = Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .stdout("late")
        .stderr_lacks("waiting for the first token")
        .run();
    assert!(
        !r.stderr.contains(['\r', '\x1b', '⠋', '⠙', '⠹']),
        "spinner bytes in a pipe: {:?}",
        r.stderr
    );
}

/// Runs the binary with stderr on a pseudo-terminal; returns stdout and what the terminal
/// received.
fn with_terminal_stderr(mut cmd: std::process::Command) -> (String, String) {
    use std::io::Read;
    let pty = nix::pty::openpty(None, None).expect("openpty");
    cmd.stderr(std::process::Stdio::from(pty.slave))
        .stdout(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawn");
    let mut stdout = String::new();
    child
        .stdout
        .take()
        .unwrap()
        .read_to_string(&mut stdout)
        .unwrap();
    let status = crate::support::wait_limited(&mut child, std::time::Duration::from_secs(20));
    assert_eq!(status, Some(0));
    drop(cmd); // the parent's copy of the terminal's other end
    let mut terminal = Vec::new();
    let mut master = std::fs::File::from(pty.master);
    let mut buf = [0u8; 4096];
    // The child is gone; read what it wrote until the terminal reports its end.
    while let Ok(n) = master.read(&mut buf) {
        if n == 0 {
            break;
        }
        terminal.extend_from_slice(&buf[..n]);
    }
    (stdout, String::from_utf8_lossy(&terminal).into_owned())
}

#[test]
fn on_a_terminal_the_spinner_runs_and_is_erased_before_the_text() {
    let sb = Sandbox::new();
    let server = slow_first_token(std::time::Duration::from_millis(700));
    let mut cmd = sb.cmd();
    cmd.ollama(&server).args(["-l", "x"]);
    let (stdout, terminal) = with_terminal_stderr(cmd);
    assert_eq!(stdout, "late");
    let last_frame = terminal
        .rfind("waiting for the first token")
        .unwrap_or_else(|| panic!("no spinner on the terminal: {terminal:?}"));
    let erase = terminal
        .rfind("\r\x1b[K")
        .expect("the spinner line is erased");
    let done = terminal.find("codex-wrap: done via").expect("end line");
    assert!(last_frame < erase && erase < done, "{terminal:?}");

    // -q: nothing at all on the terminal.
    let mut cmd = sb.cmd();
    cmd.ollama(&server).args(["-l", "-q", "x"]);
    let (stdout, terminal) = with_terminal_stderr(cmd);
    assert_eq!(stdout, "late");
    assert_eq!(terminal, "", "-q prints nothing");
}

#[test]
fn the_log_folder_it_creates_is_ignored_by_git() {
    let sb = Sandbox::new();
    // A real repository, not just the marker folder.
    std::fs::remove_dir_all(sb.project().join(".git")).unwrap();
    let git = |args: &[&str]| {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(sb.project())
            .output()
            .unwrap();
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q"]);
    let server = ollama_ok();
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .stdout("Hello there")
        .run();
    assert_eq!(records(&sb, LOG).len(), 1);
    assert_eq!(git(&["status", "--porcelain", "--untracked-files=all"]), "");
    assert_eq!(
        std::fs::read_to_string(sb.project().join("logs/.gitignore")).unwrap(),
        "# created by codex-wrap automatically\n*\n"
    );
}

#[test]
fn a_log_folder_that_exists_gets_no_gitignore() {
    let sb = Sandbox::new();
    std::fs::create_dir_all(sb.project().join("logs")).unwrap();
    let server = ollama_ok();
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .stdout("Hello there")
        .run();
    assert!(!sb.project().join("logs/.gitignore").exists());
}
