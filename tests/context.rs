//! The context slicer end to end: what the server receives for `--api` and `--local`, the
//! old variables, and `codex-wrap context`.

use crate::support::{NO_CONTEXT, Sandbox, Test, gemini, ollama};

const CONTRACTS: &str = "# Contracts\n\nGeneral intro.\n\n## Error handling\n\nAll errors are problem+json.\n\n## Retry policy\n\nThe billing webhook retries 5 times with exponential backoff.\n\n## Logging\n\nStructured JSON logs with request ids.\n";
const AGENTS: &str = "# 🤖 Codex Orchestration Template\n\nAgents run in order.\n\n## Testing Protocol\n\nRun cargo test before you stop.\n";

fn project() -> Sandbox {
    let sb = Sandbox::new();
    sb.write("CONTRACTS.md", CONTRACTS);
    sb.write("AGENTS.md", AGENTS);
    sb
}

fn system_of_gemini(req: &crate::support::server::Request) -> String {
    req.json()["systemInstruction"]["parts"][0]["text"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

fn system_of_ollama(req: &crate::support::server::Request) -> String {
    let body = req.json();
    let first = &body["messages"][0];
    if first["role"] == "system" {
        first["content"].as_str().unwrap().to_owned()
    } else {
        String::new()
    }
}

/// The system message Gemini receives for the retry-policy question in `sb`.
fn api_system_for_the_retry_question(sb: &Sandbox) -> String {
    let api = gemini::fake().answering("5 times");
    Test::new(sb)
        .gemini(&api)
        .args([
            "--api",
            "Per CONTRACTS.md, what is the retry policy for the billing webhook?",
        ])
        .stdout("5 times")
        .run();
    system_of_gemini(&api.requests()[0])
}

#[test]
fn api_requests_carry_the_whole_docs_when_they_fit_the_most_relevant_first() {
    let system = api_system_for_the_retry_question(&project());
    let contracts = format!(
        "<context source=\"CONTRACTS.md\">\n{}",
        CONTRACTS.trim_end()
    );
    let agents = format!("<context source=\"AGENTS.md\">\n{}", AGENTS.trim_end());
    assert!(system.contains(&contracts), "{system}");
    assert!(system.contains(&agents), "{system}");
    assert!(system.find(&contracts) < system.find(&agents), "{system}");
}

#[test]
fn api_requests_over_budget_carry_the_relevant_section_and_not_the_rest() {
    let sb = project();
    sb.write("profiles.toml", "[context]\napi_budget = 60\n");
    let system = api_system_for_the_retry_question(&sb);
    assert!(
        system.contains("<context source=\"CONTRACTS.md § Retry policy\">"),
        "{system}"
    );
    assert!(system.contains("retries 5 times"));
    assert!(
        !system.contains("problem+json"),
        "unrelated section sent:\n{system}"
    );
    assert!(
        system.ends_with("Answer with the result only."),
        "directive last:\n{system}"
    );
}

#[test]
fn local_requests_stay_minimal() {
    let sb = project();
    let local = ollama::fake().answering("ok");
    Test::new(&sb)
        .ollama(&local)
        .args(["--local", "write a python function that reverses a string"])
        .stdout("ok")
        .run();
    let system = system_of_ollama(&local.requests()[0]);
    assert!(!system.contains("<context"), "{system}");
}

#[test]
fn old_variables_name_sections_and_include_agents_0_drops_agents() {
    let sb = project();
    let api = gemini::fake().answering("ok");
    Test::new(&sb)
        .gemini(&api)
        .env("CONTRACT_SECTIONS", "Logging")
        .env(
            "CONTEXT_HINTS",
            "contract:Error handling;agents:codex orchestration template",
        )
        .args(["--api", "x"])
        .stdout("ok")
        .run();
    let system = system_of_gemini(&api.requests()[0]);
    assert!(
        system.contains("CONTRACTS.md § Logging"),
        "CONTRACT_SECTIONS wins over hints"
    );
    assert!(!system.contains("Error handling"));
    assert!(system.contains("AGENTS.md § 🤖 Codex Orchestration Template"));

    Test::new(&sb)
        .gemini(&api)
        .env(
            "CONTEXT_HINTS",
            "contract:Error handling;agents:Testing Protocol",
        )
        .env("INCLUDE_AGENTS", "0")
        .args(["--api", "x"])
        .stdout("ok")
        .run();
    let system = system_of_gemini(&api.requests()[1]);
    assert!(system.contains("CONTRACTS.md § Error handling"));
    assert!(!system.contains("AGENTS.md"), "{system}");
}

#[test]
fn unmatched_sections_send_the_first_lines_with_one_warning() {
    let sb = project();
    let api = gemini::fake().answering("ok");
    let r = Test::new(&sb)
        .gemini(&api)
        .env("CONTRACT_SECTIONS", "Nonexistent")
        .env("CONTRACT_SUMMARY_LINES", "3")
        .env("INCLUDE_AGENTS", "0")
        .args(["--api", "x"])
        .stdout("ok")
        .stderr_has("first 3 lines")
        .run();
    assert_eq!(r.stderr.matches("warning:").count(), 1, "{}", r.stderr);
    let system = system_of_gemini(&api.requests()[0]);
    assert!(
        system.contains("# Contracts\n\nGeneral intro.\n</context>"),
        "{system}"
    );
}

#[test]
fn sections_flag_and_the_context_command() {
    let sb = project();
    let context = |json: bool| {
        let mut t = Test::new(&sb).arg("context");
        if json {
            t = t.arg("--json");
        }
        t.args(["--local", "--sections", "agents:testing", "run the tests"])
            .run()
            .stdout()
    };
    let out = context(false);
    assert!(
        out.starts_with("route: local · profile code · context budget 800 tokens"),
        "{out}"
    );
    assert!(
        out.contains("AGENTS.md § Testing Protocol  [named]"),
        "{out}"
    );
    assert!(out.contains("=== user ===\nrun the tests"));

    let doc: serde_json::Value = serde_json::from_str(&context(true)).unwrap();
    assert_eq!(doc["route"], "local");
    assert_eq!(doc["budget"], 800);
    assert_eq!(doc["sections"][0]["section"], "Testing Protocol");
    assert_eq!(doc["sections"][0]["reason"], "named");
    assert!(doc["user"].as_str().unwrap().ends_with("run the tests"));
}

#[test]
fn a_missing_context_file_is_one_warning_on_the_api_route() {
    let sb = Sandbox::new();
    let api = gemini::fake().answering("ok");
    let r = Test::new(&sb)
        .gemini(&api)
        .args(["--api", "x"])
        .stdout("ok")
        .stderr_has(NO_CONTEXT)
        .run();
    assert_eq!(r.stderr.matches("warning:").count(), 1, "{}", r.stderr);
}

#[test]
fn num_ctx_is_raised_when_the_request_does_not_fit() {
    let sb = Sandbox::new();
    let local = ollama::fake().answering("ok");
    let long = "word ".repeat(40_000); // 200 KB: 50,000 tokens, over the ceiling
    let path = sb.write("big.txt", &long);
    // Forced local, it cannot fit even the ceiling: refused up front (issue 15 item 17).
    Test::new(&sb)
        .ollama(&local)
        .args(["--local", "-f"])
        .arg(&path)
        .code(11)
        .stdout("")
        .stderr_has("more than the local model's window (num_ctx_max 32768)")
        .run();
    assert_eq!(local.hits(), 0);

    // 8,000 words are about 8,000 tokens, counted as 8,800 for the fit (10% margin); with
    // the directive (~40), the answer's reserve (the profile's num_predict, 4,096) and the
    // template allowance (32), about 12,970, rounded up to a multiple of 1,024.
    let short = "word ".repeat(8_000);
    let path = sb.write("mid.txt", &short);
    Test::new(&sb)
        .ollama(&local)
        .args(["--local", "-f"])
        .arg(&path)
        .stdout("ok")
        .run();
    assert_eq!(local.requests()[0].json()["options"]["num_ctx"], 13312);
}
