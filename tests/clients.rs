//! The in-process servers checked against the providers' own official clients: the `ollama`,
//! `google-genai` and `openai` Python packages parse every non-fault response our fake
//! Ollama, Gemini and OpenAI servers produce (tests/support/clients.py drives each client at
//! each server), and read our error bodies (a model Ollama lacks, Gemini's 429 and bad key)
//! as they read the real ones. Where a client rejects our bytes, the server is wrong, not
//! the client.
//!
//! The clients are installed from PyPI into a cached venv (`$CODEX_WRAP_TEST_CACHE/py`,
//! default `~/.cache/codex-wrap-test/py`; about 15 s the first time), so this runs in the
//! real-engine step with the other tests that need more than cargo.

use std::path::PathBuf;
use std::process::Command;

use serde_json::Value;

use crate::support::{Server, gemini, ollama, openai};

/// The client versions the servers are checked against.
const CLIENTS: [(&str, &str); 3] = [
    ("ollama", "0.6.3"),
    ("google-genai", "3.6.1"),
    ("openai", "3.57.0"),
];

const TOKENS: &[&str] = &["Hello", ", world", "!"];

/// The venv's python with the pinned clients, created or fixed up when needed.
fn python() -> PathBuf {
    let cache = std::env::var_os("CODEX_WRAP_TEST_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").expect("HOME")).join(".cache/codex-wrap-test")
        });
    let venv = cache.join("py");
    let python = venv.join("bin/python");
    let check = CLIENTS
        .iter()
        .map(|(name, version)| format!("m.version({name:?}) == {version:?}"))
        .collect::<Vec<_>>()
        .join(" and ");
    let ready = Command::new(&python)
        .args([
            "-c",
            &format!("import importlib.metadata as m, sys; sys.exit(0 if {check} else 1)"),
        ])
        .status()
        .is_ok_and(|s| s.success());
    if ready {
        return python;
    }
    std::fs::create_dir_all(&cache).unwrap();
    if !python.exists() {
        let made = Command::new("python3")
            .args(["-m", "venv"])
            .arg(&venv)
            .status()
            .expect("python3 is needed for the official-client tests");
        assert!(made.success(), "python3 -m venv {} failed", venv.display());
    }
    let pins: Vec<String> = CLIENTS.iter().map(|(n, v)| format!("{n}=={v}")).collect();
    let installed = Command::new(venv.join("bin/pip"))
        .args(["install", "--quiet", "--disable-pip-version-check"])
        .args(&pins)
        .status()
        .unwrap();
    assert!(installed.success(), "pip install {pins:?} failed");
    python
}

fn ollama_server() -> Server {
    Server::start(|_, req, conn| match req.path.as_str() {
        "/api/tags" => ollama::tags(conn, &[ollama::MODEL, "llama3:latest"]),
        "/api/chat" if req.json()["messages"].as_array().is_some_and(Vec::is_empty) => {
            ollama::loaded(conn, ollama::MODEL)
        }
        "/api/chat" if req.json()["model"] == "missing" => ollama::not_found(conn, "missing"),
        "/api/chat" => ollama::stream(conn, TOKENS),
        _ => conn.respond(404, "text/plain", &[], b"404 page not found"),
    })
}

fn gemini_server() -> Server {
    Server::start(|_, req, conn| {
        let path = req.path.as_str();
        if path.contains("gemini-limited:") {
            gemini::rate_limited(conn, "60s");
        } else if path.contains("gemini-badkey:") {
            gemini::bad_key(conn);
        } else if path.contains("gemini-blocked:streamGenerateContent") {
            gemini::start(conn);
            conn.chunk(gemini::safety_event().as_bytes());
            conn.end();
        } else if path.contains(":streamGenerateContent") {
            gemini::stream(conn, TOKENS);
        } else if path.starts_with("/v1beta/models/") {
            gemini::model_info(conn);
        } else {
            conn.respond(404, "text/plain", &[], b"not found");
        }
    })
}

fn openai_server() -> Server {
    Server::start(|_, req, conn| match req.path.as_str() {
        "/v1/chat/completions" => openai::stream(conn, TOKENS, "stop"),
        _ => conn.respond(404, "text/plain", &[], b"not found"),
    })
}

#[test]
#[ignore = "real engine: cargo test -- --ignored (installs the official clients from PyPI)"]
fn the_official_clients_parse_every_answer_of_our_servers() {
    let python = python();
    let (local, api, compatible) = (ollama_server(), gemini_server(), openai_server());
    let script = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/support/clients.py");
    let out = Command::new(&python)
        .arg(&script)
        .args([local.url(), api.url(), compatible.url()])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "a client rejected our server's bytes:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Value = serde_json::from_slice(&out.stdout).unwrap();
    let text = TOKENS.concat();

    let o = &got["ollama"];
    assert_eq!(o["chat_text"], text, "{o}");
    assert_eq!(o["chat_done_reason"], "stop");
    assert_eq!(o["chat_eval_count"], TOKENS.len());
    assert_eq!(o["chat_model"], ollama::MODEL);
    assert_eq!(
        o["tags"],
        serde_json::json!([ollama::MODEL, "llama3:latest"])
    );
    assert_eq!(o["tags_size"], 9001211363u64);
    assert_eq!(o["tags_family"], "qwen2");
    assert_eq!(o["load_done_reason"], "load");
    assert_eq!(o["missing_status"], 404);
    assert_eq!(
        o["missing_error"],
        "model \"missing\" not found, try pulling it first"
    );

    let g = &got["gemini"];
    assert_eq!(g["stream_text"], text, "{g}");
    assert_eq!(g["stream_finish"], "STOP");
    assert_eq!(g["stream_out_tokens"], TOKENS.len());
    assert_eq!(g["stream_model_version"], "gemini-2.5-flash");
    assert_eq!(g["blocked_finish"], "SAFETY");
    assert_eq!(g["blocked_category"], "HARM_CATEGORY_DANGEROUS_CONTENT");
    assert_eq!(g["limited_code"], 429, "{g}");
    assert_eq!(g["limited_status"], "RESOURCE_EXHAUSTED");
    assert_eq!(g["badkey_code"], 400);
    assert_eq!(g["badkey_status"], "INVALID_ARGUMENT");
    assert_eq!(g["model_name"], "models/gemini-flash-latest");
    assert_eq!(g["model_output_limit"], 65536);

    let a = &got["openai"];
    assert_eq!(a["stream_text"], text, "{a}");
    assert_eq!(a["stream_finish"], "stop");
    assert_eq!(a["stream_completion_tokens"], TOKENS.len());

    // Every request the clients made was answered by a route of ours (none fell to a 404).
    assert_eq!(local.hits(), 4);
    assert_eq!(api.hits(), 5);
    assert_eq!(compatible.hits(), 1);
}
