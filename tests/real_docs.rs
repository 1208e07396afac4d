//! Context from real project docs: "--local: minimal context, --api: full context".
//!
//! tests/data/llmc holds CONTRACTS.md and AGENTS.md exactly as they are in the first commit
//! (d3a8419da9b80a06c20503c57c1642db024377fd, "Initial commit - LLMC public release") of the
//! public repository github.com/vmlinuzx/llmc, the original tool this one replaces, MIT
//! licensed, (c) 2024-2025 David Carroll. They are not ours and are kept unchanged: real
//! docs, with a preamble before the first heading, emoji-free but typographic headings, and
//! code blocks that quote commands.

use std::path::PathBuf;

use serde_json::Value;

use crate::support::{Sandbox, run};

/// A request that needs nothing from the docs.
const HELLO: &str = "write hello world in python";
/// A question about routing work, answered by AGENTS.md § 2. Agent Profile.
const ROUTING: &str = "when should I route a task to the local model instead of the API?";
/// A question about testing, answered by both files' testing sections.
const TESTS: &str = "how do I run the tests before I respond?";

fn fixture() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/data/llmc")
}

/// A project holding the real docs, with `profiles` as its profiles.toml.
fn project(profiles: &str) -> Sandbox {
    let sb = Sandbox::new();
    for name in ["CONTRACTS.md", "AGENTS.md"] {
        std::fs::copy(fixture().join(name), sb.project().join(name)).unwrap();
    }
    sb.write("profiles.toml", profiles);
    sb
}

/// `codex-wrap context --json <route> <prompt>` in the project.
fn context(sb: &Sandbox, route: &str, prompt: &str) -> Value {
    let mut cmd = sb.cmd();
    cmd.args(["context", "--json", route, prompt]);
    let r = run(cmd);
    r.assert_code(0);
    serde_json::from_str(&r.stdout()).unwrap()
}

fn sections(doc: &Value) -> Vec<(String, String, String)> {
    doc["sections"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["file"].as_str().unwrap().to_owned(),
                c["section"].as_str().unwrap().to_owned(),
                c["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn used(doc: &Value) -> u64 {
    doc["used"].as_u64().unwrap()
}

#[test]
fn local_context_is_minimal_and_a_self_contained_request_gets_none() {
    let sb = project("");
    let doc = context(&sb, "--local", HELLO);
    assert_eq!(sections(&doc), [], "{doc}");
    assert!(!doc["system"].as_str().unwrap().contains("<context"));
    assert_eq!(doc["user"], HELLO);

    let doc = context(&sb, "--local", ROUTING);
    let got = sections(&doc);
    assert_eq!(got[0].1, "2. Agent Profile (ALL AGENTS)", "{got:?}");
    // "local" is not "Localhost": the MCP notes have nothing to do with it.
    assert!(!got.iter().any(|s| s.1.contains("Localhost")), "{got:?}");
    assert!(got.len() <= 2 && used(&doc) <= 300, "{got:?}");

    let doc = context(&sb, "--local", TESTS);
    let got = sections(&doc);
    let titles: Vec<&str> = got.iter().map(|s| s.1.as_str()).collect();
    for want in ["testing", "6. Testing Requirements", "8. Testing Rules"] {
        assert!(titles.contains(&want), "{titles:?}");
    }
    // Only clear matches: no cut section, no tail of weak ones, well inside the budget.
    assert!(
        !doc["sections"].to_string().contains("\"cut\":true"),
        "{doc}"
    );
    assert!(got.len() <= 5 && used(&doc) <= 600, "{got:?}");
}

#[test]
fn api_context_is_the_whole_docs_by_relevance_when_they_fit() {
    let sb = project("");
    let contracts = std::fs::read_to_string(fixture().join("CONTRACTS.md")).unwrap();
    let agents = std::fs::read_to_string(fixture().join("AGENTS.md")).unwrap();
    for (prompt, first) in [
        (HELLO, "AGENTS.md"),
        (ROUTING, "AGENTS.md"),
        (TESTS, "CONTRACTS.md"),
    ] {
        let doc = context(&sb, "--api", prompt);
        let got = sections(&doc);
        assert_eq!(got.len(), 2, "{prompt}: {got:?}");
        assert!(got.iter().all(|s| s.2 == "whole"), "{prompt}: {got:?}");
        assert_eq!(got[0].0, first, "{prompt}: {got:?}");
        let system = doc["system"].as_str().unwrap();
        // Both files, whole: the contract's preamble with its key rules included.
        assert!(system.contains(contracts.trim_end()), "{prompt}");
        assert!(system.contains(agents.trim_end()), "{prompt}");
        assert!(system.contains("If `AGENTS.md` is missing"), "{prompt}");
        assert_eq!(doc["user"], prompt);
    }
}

#[test]
fn api_context_over_budget_is_the_preambles_and_the_best_sections() {
    let sb = project("[context]\napi_budget = 1200\n");
    for (prompt, want) in [
        (HELLO, &[][..]),
        (ROUTING, &["2. Agent Profile (ALL AGENTS)"][..]),
        (
            TESTS,
            &["testing", "6. Testing Requirements", "8. Testing Rules"][..],
        ),
    ] {
        let doc = context(&sb, "--api", prompt);
        let got = sections(&doc);
        assert!(used(&doc) <= 1200, "{prompt}: {got:?}");
        // The contract's preamble always: it holds the rules every section relies on.
        assert_eq!(
            got[0],
            ("CONTRACTS.md".into(), String::new(), "preamble".into()),
            "{prompt}: {got:?}"
        );
        assert!(
            doc["system"]
                .as_str()
                .unwrap()
                .contains("If `AGENTS.md` is missing")
        );
        for w in want {
            assert!(
                got.iter().any(|s| s.1 == *w),
                "{prompt}: {w} not in {got:?}"
            );
        }
        if want.is_empty() {
            assert_eq!(got.len(), 1, "{prompt}: {got:?}");
        }
    }
    // `context` shows what was sent, for people too.
    let mut cmd = sb.cmd();
    cmd.args(["context", "--api", TESTS]);
    run(cmd)
        .assert_code(0)
        .assert_stdout_has("CONTRACTS.md § (preamble)  [preamble]");
    let sb = project("");
    let mut cmd = sb.cmd();
    cmd.args(["context", "--api", TESTS]);
    run(cmd)
        .assert_code(0)
        .assert_stdout_has("AGENTS.md § (whole file)  [whole]");
}
