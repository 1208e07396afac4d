//! `codex-wrap install`: golden files for each assistant's configuration, fresh and
//! pre-existing (comments, other servers, the file's own indentation); idempotence;
//! `--uninstall` giving back the original bytes; an unparsable file left alone.
//!
//! Golden files live in tests/data/install/; `UPDATE_GOLDEN=1 cargo test install` rewrites
//! them (review the diff).

use std::path::{Path, PathBuf};

use crate::support::{Sandbox, run};

/// One assistant: its name for the command line, where its project config lives, the
/// golden files' stem and extension, and its guidance file.
struct Case {
    assistant: &'static str,
    config: &'static str,
    golden: &'static str,
    guidance: &'static str,
}

const CASES: [Case; 4] = [
    Case {
        assistant: "claude",
        config: ".mcp.json",
        golden: "claude",
        guidance: "CLAUDE.md",
    },
    Case {
        assistant: "codex",
        config: ".codex/config.toml",
        golden: "codex",
        guidance: "AGENTS.md",
    },
    Case {
        assistant: "cursor",
        config: ".cursor/mcp.json",
        golden: "cursor",
        guidance: "AGENTS.md",
    },
    Case {
        assistant: "gemini",
        config: ".gemini/settings.json",
        golden: "gemini",
        guidance: "GEMINI.md",
    },
];

fn data(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/install")
        .join(name)
}

fn ext(case: &Case) -> &'static str {
    if case.config.ends_with(".toml") {
        "toml"
    } else {
        "json"
    }
}

/// Compares `got` with a golden file (or writes it with UPDATE_GOLDEN=1).
#[track_caller]
fn golden(name: &str, got: &str) {
    let path = data(name);
    if std::env::var_os("UPDATE_GOLDEN").is_some() {
        std::fs::write(&path, got).unwrap();
    }
    let want = std::fs::read_to_string(&path).unwrap_or_else(|_| panic!("missing {name}"));
    assert_eq!(got, want, "{name} differs from the golden file");
}

/// `codex-wrap install ASSISTANT ARGS --project` (codex defaults to the user's config).
fn install(sb: &Sandbox, case: &Case, extra: &[&str]) -> crate::support::Run {
    let mut cmd = sb.cmd();
    cmd.args(["install", case.assistant, "--project"])
        .args(extra);
    run(cmd)
}

fn read(sb: &Sandbox, rel: &str) -> Option<String> {
    std::fs::read_to_string(sb.project().join(rel)).ok()
}

#[test]
fn a_fresh_project_gets_each_assistants_documented_config() {
    for case in &CASES {
        let sb = Sandbox::new();
        install(&sb, case, &[])
            .assert_code(0)
            .assert_stdout_has("created");
        let config = read(&sb, case.config).expect("config written");
        golden(&format!("{}.fresh.{}", case.golden, ext(case)), &config);
        golden("guidance.fresh.md", &read(&sb, case.guidance).unwrap());

        // Twice changes nothing.
        install(&sb, case, &[]).assert_code(0);
        assert_eq!(
            read(&sb, case.config).unwrap(),
            config,
            "{}",
            case.assistant
        );

        // Uninstall removes the files it created.
        install(&sb, case, &["--uninstall"]).assert_code(0);
        assert_eq!(read(&sb, case.config), None, "{}", case.assistant);
        assert_eq!(read(&sb, case.guidance), None, "{}", case.assistant);
    }
}

#[test]
fn an_existing_config_keeps_its_comments_servers_and_layout() {
    for case in &CASES {
        let sb = Sandbox::new();
        let before =
            std::fs::read_to_string(data(&format!("{}.before.{}", case.golden, ext(case))))
                .unwrap();
        let notes = std::fs::read_to_string(data("guidance.before.md")).unwrap();
        sb.write(case.config, &before);
        sb.write(case.guidance, &notes);

        install(&sb, case, &[])
            .assert_code(0)
            .assert_stdout_has("updated");
        let after = read(&sb, case.config).unwrap();
        golden(&format!("{}.after.{}", case.golden, ext(case)), &after);
        let guidance = read(&sb, case.guidance).unwrap();
        golden("guidance.after.md", &guidance);
        // The backup holds the bytes before the change.
        assert_eq!(
            read(&sb, &format!("{}.codex-wrap.bak", case.config)).unwrap(),
            before
        );

        let again = install(&sb, case, &[]);
        again.assert_code(0);
        assert!(
            !again.stdout().contains("updated"),
            "{}: {}",
            case.assistant,
            again.stdout()
        );
        assert_eq!(read(&sb, case.config).unwrap(), after);
        assert_eq!(read(&sb, case.guidance).unwrap(), guidance);

        install(&sb, case, &["--uninstall"]).assert_code(0);
        assert_eq!(
            read(&sb, case.config).unwrap(),
            before,
            "{}: bytes restored",
            case.assistant
        );
        assert_eq!(
            read(&sb, case.guidance).unwrap(),
            notes,
            "{}: bytes restored",
            case.assistant
        );
    }
}

#[test]
fn an_unparsable_config_is_named_and_nothing_is_written() {
    for case in &CASES {
        let sb = Sandbox::new();
        let broken = if ext(case) == "toml" {
            "[mcp_servers.docs\ncommand = \"x\"\n"
        } else {
            "{ \"mcpServers\": { \"a\": [1, }\n"
        };
        sb.write(case.config, broken);
        let r = install(&sb, case, &[]);
        r.assert_code(3)
            .assert_stderr_has(case.config.rsplit('/').next().unwrap());
        assert!(r.stderr.contains("left unchanged"), "{}", r.stderr);
        assert_eq!(read(&sb, case.config).unwrap(), broken);
        assert_eq!(read(&sb, case.guidance), None, "no partial install");
    }
}

#[test]
fn servers_must_be_an_object_or_table() {
    let sb = Sandbox::new();
    sb.write(".mcp.json", "{\"mcpServers\": [1, 2]}\n");
    install(&sb, &CASES[0], &[])
        .assert_code(3)
        .assert_stderr_has("`mcpServers` is not an object");
    assert_eq!(
        read(&sb, ".mcp.json").unwrap(),
        "{\"mcpServers\": [1, 2]}\n"
    );
}

#[test]
fn dry_run_prints_a_diff_and_writes_nothing() {
    let sb = Sandbox::new();
    let before = std::fs::read_to_string(data("claude.before.json")).unwrap();
    sb.write(".mcp.json", &before);
    let r = install(&sb, &CASES[0], &["--dry-run"]);
    r.assert_code(0)
        .assert_stdout_has("--- a/.mcp.json\n+++ b/.mcp.json\n")
        .assert_stdout_has("+    \"codex-wrap\": {")
        .assert_stdout_has("--- /dev/null\n+++ b/CLAUDE.md\n");
    assert_eq!(read(&sb, ".mcp.json").unwrap(), before);
    assert_eq!(read(&sb, "CLAUDE.md"), None);
}

#[test]
fn user_scope_writes_the_users_config() {
    let sb = Sandbox::new();
    let home = sb.dir.path().join("home");
    let mut cmd = sb.cmd();
    cmd.args(["install", "claude", "--user"]);
    run(cmd).assert_code(0);
    let config = std::fs::read_to_string(home.join(".claude.json")).unwrap();
    assert!(config.contains("\"codex-wrap\""), "{config}");
    assert_eq!(read(&sb, ".mcp.json"), None);

    // Codex's default is the user's config, under CODEX_HOME when set.
    let codex_home = sb.dir.path().join("codex-home");
    let mut cmd = sb.cmd();
    cmd.env("CODEX_HOME", &codex_home)
        .args(["install", "codex"]);
    run(cmd).assert_code(0);
    let toml = std::fs::read_to_string(codex_home.join("config.toml")).unwrap();
    assert!(toml.contains("[mcp_servers.codex-wrap]"), "{toml}");
}
