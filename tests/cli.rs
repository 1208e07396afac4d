//! Prompt sources, profiles, configuration errors and the kill switch.

use crate::support::{Sandbox, Server, ollama, run, run_with};
use std::time::Duration;

fn ok_server() -> Server {
    Server::start(|_, _, conn| ollama::stream(conn, &["ok"]))
}

#[test]
fn prompt_from_words_is_joined_with_spaces() {
    let sb = Sandbox::new();
    let server = ok_server();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .args(["-l", "build", "auth", "system"]);
    run(cmd).assert_code(0).assert_stdout("ok");
    let body = server.requests()[0].json();
    assert_eq!(body["messages"][1]["content"], "build auth system");
    assert_eq!(body["stream"], true);
}

#[test]
fn prompt_from_stdin() {
    let sb = Sandbox::new();
    let server = ok_server();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url()).arg("--local");
    run_with(cmd, Some(b"explain recursion\n"), Duration::from_secs(20))
        .assert_code(0)
        .assert_stdout("ok");
    assert_eq!(
        server.requests()[0].json()["messages"][1]["content"],
        "explain recursion"
    );
}

#[test]
fn prompt_from_file_flag_and_from_a_lone_file_word() {
    let sb = Sandbox::new();
    let server = ok_server();
    let path = sb.write("task.md", "write a slugify function\n");
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .args(["-l", "-f"])
        .arg(&path);
    run(cmd).assert_code(0);
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url()).args(["-l", "task.md"]);
    run(cmd).assert_code(0);
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
    let r = run_with(sb.cmd(), Some(b"  \n\t\n"), Duration::from_secs(10));
    r.assert_code(2)
        .assert_stdout("")
        .assert_stderr_has("the prompt is empty");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    let mut cmd = sb.cmd();
    cmd.arg("   ");
    run(cmd).assert_code(2);
}

#[test]
fn profile_by_flag_and_by_ollama_profile() {
    let sb = Sandbox::new();
    let server = ok_server();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .args(["-l", "--profile", "fast", "x"]);
    run(cmd).assert_code(0);
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .env("OLLAMA_PROFILE", "uncensored")
        .args(["-l", "x"]);
    run(cmd).assert_code(0).assert_stderr_has("guardrails off");
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
    let server = ok_server();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .env("OLLAMA_MODEL", "llama3.2:3b")
        .args(["-l", "x"]);
    run(cmd).assert_code(0);
    assert_eq!(server.requests()[0].json()["model"], "llama3.2:3b");
}

#[test]
fn unknown_profile_is_a_config_error_listing_known_ones() {
    let sb = Sandbox::new();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_PROFILE", "turbo").arg("x");
    run(cmd)
        .assert_code(3)
        .assert_stdout("")
        .assert_stderr_has("unknown profile 'turbo'; known profiles: code, fast, uncensored");
}

#[test]
fn broken_profiles_toml_names_file_line_and_column() {
    let sb = Sandbox::new();
    sb.write(
        "profiles.toml",
        "[profiles.code]\nmodel = \"x\"\ntimeout = \n",
    );
    let r = run({
        let mut c = sb.cmd();
        c.arg("x");
        c
    });
    r.assert_code(3).assert_stderr_has("profiles.toml:3:");
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn project_file_overrides_user_file_overrides_builtin() {
    let sb = Sandbox::new();
    let server = ok_server();
    std::fs::create_dir_all(sb.config_home().join("codex-wrap")).unwrap();
    std::fs::write(
        sb.config_home().join("codex-wrap/profiles.toml"),
        "[profiles.code]\nmodel = \"user-model\"\nkeep_alive = \"30m\"\n",
    )
    .unwrap();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url()).args(["-l", "x"]);
    run(cmd).assert_code(0);
    sb.write(
        "profiles.toml",
        "[profiles.code]\nmodel = \"project-model\"\n",
    );
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url()).args(["-l", "x"]);
    run(cmd).assert_code(0);
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
    let server = ok_server();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url()).args(["-l", "x"]);
    run(cmd).assert_code(0);
    assert!(server.requests()[0].json().get("keep_alive").is_none());
}

#[test]
fn llm_disabled_sends_nothing_and_exits_zero() {
    let sb = Sandbox::new();
    let server = ok_server();
    sb.write(".env.local", "LLM_DISABLED=true\n");
    sb.trust();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url()).arg("x");
    run(cmd)
        .assert_code(0)
        .assert_stdout("")
        .assert_stderr_has("disabled");
    assert_eq!(server.hits(), 0);
}

#[test]
fn env_local_fills_unset_variables_only() {
    let sb = Sandbox::new();
    let server = ok_server();
    sb.write(
        ".env.local",
        "OLLAMA_MODEL=from-dotenv\nOLLAMA_PROFILE=fast\n",
    );
    sb.trust();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .env("OLLAMA_MODEL", "from-env")
        .args(["-l", "x"]);
    run(cmd).assert_code(0).assert_stderr_has("profile fast");
    assert_eq!(server.requests()[0].json()["model"], "from-env");
}

#[test]
fn ollama_host_without_scheme_works() {
    let sb = Sandbox::new();
    let server = ok_server();
    let hostport = server.url().trim_start_matches("http://").to_owned();
    let mut cmd = sb.cmd();
    cmd.env_remove("OLLAMA_URL")
        .env("OLLAMA_HOST", hostport)
        .args(["-l", "x"]);
    run(cmd).assert_code(0).assert_stdout("ok");
}

#[test]
fn dry_run_sends_nothing_and_shows_the_body_with_the_key_redacted() {
    let sb = Sandbox::new();
    let server = ok_server();
    let mut cmd = sb.cmd();
    cmd.env("GEMINI_BASE_URL", server.url())
        .env("GEMINI_API_KEY", "canary-key-123")
        .args(["--api", "--dry-run", "design the system"]);
    let r = run(cmd);
    r.assert_code(0);
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
    assert!(!r.stdout().contains("canary-key-123") && !r.stderr.contains("canary-key-123"));
}

#[test]
fn version_and_help_exit_zero() {
    let sb = Sandbox::new();
    let mut cmd = sb.cmd();
    cmd.arg("--version");
    let r = run(cmd);
    r.assert_code(0);
    assert!(r.stdout().starts_with("codex-wrap "));
    let mut cmd = sb.cmd();
    cmd.arg("--help");
    let r = run(cmd);
    r.assert_code(0);
    assert!(r.stdout().contains("Exit codes:"));
    let mut cmd = sb.cmd();
    cmd.args(["--local", "--api", "x"]);
    run(cmd).assert_code(2);
}

#[test]
fn an_unwritable_stdout_is_exit_1_with_one_line() {
    let sb = Sandbox::new();
    let server = ok_server();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url()).args(["-l", "x"]);
    let full = std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .unwrap();
    let out = cmd
        .stdout(std::process::Stdio::from(full))
        .stderr(std::process::Stdio::piped())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("No space left on device"), "{stderr}");
}

#[test]
fn completions_for_each_shell_and_the_man_page() {
    let sb = Sandbox::new();
    for shell in ["bash", "zsh", "fish", "powershell", "elvish"] {
        let mut cmd = sb.cmd();
        cmd.args(["completions", shell]);
        let r = run(cmd);
        r.assert_code(0);
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
    let mut cmd = sb.cmd();
    cmd.args(["completions", "tcsh"]);
    run(cmd).assert_code(2);
    let mut cmd = sb.cmd();
    cmd.arg("man");
    let r = run(cmd);
    r.assert_code(0);
    assert!(r.stdout().contains(".TH codex-wrap 1"), "{}", r.stdout());
    assert!(r.stdout().contains("Exit codes:"));
}
