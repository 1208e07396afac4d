//! Prompt sources, profiles, configuration errors and the kill switch.

use crate::support::{Sandbox, Test, ollama};
use std::time::Duration;

#[test]
fn prompt_from_words_is_joined_with_spaces() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "build", "auth", "system"])
        .stdout("ok")
        .run();
    let body = server.requests()[0].json();
    assert_eq!(body["messages"][1]["content"], "build auth system");
    assert_eq!(body["stream"], true);
}

#[test]
fn prompt_from_stdin() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    Test::new(&sb)
        .ollama(&server)
        .arg("--local")
        .stdin("explain recursion\n")
        .stdout("ok")
        .run();
    assert_eq!(
        server.requests()[0].json()["messages"][1]["content"],
        "explain recursion"
    );
}

#[test]
fn prompt_from_file_flag_and_from_a_lone_file_word() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    let path = sb.write("task.md", "write a slugify function\n");
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "-f"])
        .arg(&path)
        .stdout("ok")
        .run();
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "task.md"])
        .stdout("ok")
        .run();
    for r in server.requests() {
        assert_eq!(
            r.json()["messages"][1]["content"],
            "write a slugify function"
        );
    }
}

#[test]
fn empty_prompt_is_a_usage_error_without_waiting() {
    let sb = Sandbox::new();
    let r = Test::new(&sb)
        .stdin("  \n\t\n")
        .limit(Duration::from_secs(10))
        .code(2)
        .stdout("")
        .stderr_has("the prompt is empty")
        .run();
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    Test::new(&sb)
        .arg("   ")
        .code(2)
        .stdout("")
        .stderr_has("the prompt is empty")
        .run();
}

#[test]
fn profile_by_flag_and_by_ollama_profile() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "--profile", "fast", "x"])
        .stdout("ok")
        .run();
    Test::new(&sb)
        .ollama(&server)
        .env("OLLAMA_PROFILE", "uncensored")
        .args(["-l", "x"])
        .stdout("ok")
        .stderr_has("guardrails off")
        .run();
    let models: Vec<String> = server
        .requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(models, ["deepseek-coder:6.7b", "gpt-oss:20b"]);
}

#[test]
fn ollama_model_overrides_the_profile_model() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    Test::new(&sb)
        .ollama(&server)
        .env("OLLAMA_MODEL", "llama3.2:3b")
        .args(["-l", "x"])
        .stdout("ok")
        .run();
    assert_eq!(server.requests()[0].json()["model"], "llama3.2:3b");
}

#[test]
fn unknown_profile_is_a_config_error_listing_known_ones() {
    let sb = Sandbox::new();
    Test::new(&sb)
        .env("OLLAMA_PROFILE", "turbo")
        .arg("x")
        .code(3)
        .stdout("")
        .stderr_has("unknown profile 'turbo'; known profiles: code, fast, uncensored")
        .run();
}

#[test]
fn broken_profiles_toml_names_file_line_and_column() {
    let sb = Sandbox::new();
    sb.write(
        "profiles.toml",
        "[profiles.code]\nmodel = \"x\"\ntimeout = \n",
    );
    let r = Test::new(&sb)
        .arg("x")
        .code(3)
        .stdout("")
        .stderr_has("profiles.toml:3:")
        .run();
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn project_file_overrides_user_file_overrides_builtin() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    sb.user_config("[profiles.code]\nmodel = \"user-model\"\nkeep_alive = \"30m\"\n");
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .stdout("ok")
        .run();
    sb.write(
        "profiles.toml",
        "[profiles.code]\nmodel = \"project-model\"\n",
    );
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .stdout("ok")
        .run();
    let reqs = server.requests();
    assert_eq!(reqs[0].json()["model"], "user-model");
    assert_eq!(reqs[0].json()["keep_alive"], "30m");
    assert_eq!(reqs[1].json()["model"], "project-model");
    assert_eq!(
        reqs[1].json()["keep_alive"],
        "30m",
        "kept from the user file"
    );
}

#[test]
fn keep_alive_is_not_sent_unless_a_profile_sets_it() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .stdout("ok")
        .run();
    assert!(server.requests()[0].json().get("keep_alive").is_none());
}

#[test]
fn llm_disabled_sends_nothing_and_exits_zero() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    sb.write(".env.local", "LLM_DISABLED=true\n");
    sb.trust();
    Test::new(&sb)
        .ollama(&server)
        .arg("x")
        .stdout("")
        .stderr_has("disabled")
        .run();
    assert_eq!(server.hits(), 0);
}

#[test]
fn env_local_fills_unset_variables_only() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    sb.write(
        ".env.local",
        "OLLAMA_MODEL=from-dotenv\nOLLAMA_PROFILE=fast\n",
    );
    sb.trust();
    Test::new(&sb)
        .ollama(&server)
        .env("OLLAMA_MODEL", "from-env")
        .args(["-l", "x"])
        .stdout("ok")
        .stderr_has("profile fast")
        .run();
    assert_eq!(server.requests()[0].json()["model"], "from-env");
}

#[test]
fn ollama_host_without_scheme_works() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    let hostport = server.url().trim_start_matches("http://").to_owned();
    Test::new(&sb)
        .env_remove("OLLAMA_URL")
        .env("OLLAMA_HOST", hostport)
        .args(["-l", "x"])
        .stdout("ok")
        .run();
}

#[test]
fn dry_run_sends_nothing_and_shows_the_body_with_the_key_redacted() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    let r = Test::new(&sb)
        .gemini(&server)
        .env("GEMINI_API_KEY", "canary-key-123")
        .args(["--api", "--dry-run", "design the system"])
        // The API route says when the project gives it no context files.
        .stderr_has("no CONTRACTS.md, AGENTS.md in")
        .stdout_lacks("canary-key-123")
        .stderr_lacks("canary-key-123")
        .run();
    assert_eq!(server.hits(), 0);
    let doc: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(doc["route"], "api");
    assert_eq!(doc["profile"], "code");
    assert_eq!(doc["model"], "gemini-flash-latest");
    let attempt = &doc["attempts"][0];
    assert_eq!(attempt["headers"]["x-goog-api-key"], "(redacted)");
    assert_eq!(
        attempt["body"]["contents"][0]["parts"][0]["text"],
        "design the system"
    );
}

#[test]
fn version_and_help_exit_zero() {
    let sb = Sandbox::new();
    let r = Test::new(&sb).arg("--version").run();
    assert!(r.stdout().starts_with("codex-wrap "));
    Test::new(&sb).arg("--help").stdout_has("Exit codes:").run();
    Test::new(&sb)
        .args(["--local", "--api", "x"])
        .code(2)
        .stdout("")
        .stderr(
            "error: the argument '--local' cannot be used with '--api'\n\n\
             Usage: codex-wrap --local <PROMPT>...\n\n\
             For more information, try '--help'.\n",
        )
        .run();
}

#[test]
fn an_unwritable_stdout_is_exit_1_with_one_line() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let r = Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .stdout_to(full)
        .code(1)
        .stderr_has("No space left on device")
        .run();
    // Besides the status line, one error line.
    assert_eq!(r.stderr.matches("error:").count(), 1, "{}", r.stderr);
}

#[test]
fn completions_for_each_shell_and_the_man_page() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let r = Test::new(&sb).args(["completions", shell]).run();
        let out = r.stdout();
        // Every script names the command and offers the route flags and the subcommands.
        assert!(
            out.contains("codex-wrap") || out.contains("codex_wrap"),
            "{shell}: {out}"
        );
        assert!(
            out.contains("local") && out.contains("no-fallback") && out.contains("route"),
            "{shell}: {out}"
        );
    }
    Test::new(&sb)
        .args(["completions", "tcsh"])
        .code(2)
        .stdout("")
        .stderr(
            "error: invalid value 'tcsh' for '<SHELL>'\n  \
             [possible values: bash, elvish, fish, powershell, zsh]\n\n  \
             tip: a similar value exists: 'zsh'\n\n\
             For more information, try '--help'.\n",
        )
        .run();
    Test::new(&sb)
        .arg("man")
        .stdout_has(".TH codex-wrap 1")
        .stdout_has("Exit codes:")
        .run();
}
