//! The real assistants read what `codex-wrap install` writes: Claude Code, Codex and Gemini
//! CLI from npm (pinned in scripts/mcp-client.sh, installed once into
//! ~/.cache/codex-wrap-test/npm), each run as `<client> mcp list` with the sandbox's HOME,
//! offline. Claude Code and Gemini CLI start `codex-wrap mcp` and report the handshake
//! ("Connected"); Codex lists the server it parsed. Each test also checks the client's own
//! approval step that `install` names in its last line.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use crate::support::{Run, Sandbox, run, run_with};

/// The clients' bin folder (installs them the first time).
fn clients() -> PathBuf {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let setup = Command::new("bash")
        .arg(root.join("scripts/mcp-client.sh"))
        .arg("clients")
        .output()
        .expect("bash");
    assert!(
        setup.status.success(),
        "{}",
        String::from_utf8_lossy(&setup.stderr)
    );
    PathBuf::from(String::from_utf8(setup.stdout).unwrap().trim())
}

/// A PATH with node, the system's tools and, with `linked`, a `codex-wrap` that is this
/// binary.
fn path(sb: &Sandbox, linked: bool) -> String {
    let mut dirs = Vec::new();
    if linked {
        let dir = sb.dir.path().join("bin");
        std::fs::create_dir_all(&dir).unwrap();
        let link = dir.join("codex-wrap");
        if !link.exists() {
            std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_codex-wrap"), &link).unwrap();
        }
        dirs.push(dir);
    }
    let node = Command::new("sh")
        .args(["-c", "command -v node"])
        .output()
        .unwrap();
    let node = PathBuf::from(String::from_utf8_lossy(&node.stdout).trim());
    dirs.push(node.parent().expect("node on PATH").to_path_buf());
    dirs.extend(["/usr/local/bin", "/usr/bin", "/bin"].map(PathBuf::from));
    std::env::join_paths(dirs).unwrap().into_string().unwrap()
}

/// `codex-wrap install ARGS` with that PATH.
fn install(sb: &Sandbox, linked: bool, args: &[&str]) -> Run {
    let mut cmd = sb.cmd();
    cmd.env("PATH", path(sb, linked)).arg("install").args(args);
    let r = run(cmd);
    r.assert_code(0);
    r
}

/// `<client> mcp list` in the project, with the sandbox's environment.
fn mcp_list(sb: &Sandbox, client: &str, linked: bool) -> String {
    let mut cmd = Command::new(clients().join(client));
    for (k, v) in sb.cmd().get_envs() {
        if let Some(v) = v {
            cmd.env(k, v);
        }
    }
    cmd.env_remove("XDG_CONFIG_HOME")
        .env("PATH", path(sb, linked))
        .current_dir(sb.project())
        .args(["mcp", "list"]);
    let r = run_with(cmd, None, Duration::from_secs(120));
    let out = format!("{}{}", r.stdout(), r.stderr);
    eprintln!("{client} mcp list:\n{out}");
    out
}

fn home(sb: &Sandbox) -> PathBuf {
    let home = sb.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    home
}

#[test]
#[ignore = "real clients: Claude Code from npm (scripts/mcp-client.sh clients)"]
fn claude_code_connects_to_what_install_writes() {
    let sb = Sandbox::new();
    let r = install(&sb, true, &["claude"]);
    assert!(
        r.stdout().contains("approve the codex-wrap server"),
        "{}",
        r.stdout()
    );
    let out = mcp_list(&sb, "claude", true);
    assert!(
        out.contains("codex-wrap mcp") && out.contains("Pending approval"),
        "{out}"
    );

    // The approval the next step names, as a setting: the server connects.
    let settings = home(&sb).join(".claude/settings.json");
    std::fs::create_dir_all(settings.parent().unwrap()).unwrap();
    std::fs::write(&settings, "{\"enableAllProjectMcpServers\": true}\n").unwrap();
    let out = mcp_list(&sb, "claude", true);
    assert!(
        out.contains("codex-wrap: codex-wrap mcp - ✔ Connected"),
        "{out}"
    );

    install(&sb, true, &["claude", "--uninstall"]);
    let out = mcp_list(&sb, "claude", true);
    assert!(!out.contains("codex-wrap mcp"), "{out}");
}

#[test]
#[ignore = "real clients: Claude Code from npm (scripts/mcp-client.sh clients)"]
fn claude_code_without_codex_wrap_on_path_needs_install_absolute() {
    let sb = Sandbox::new();
    // A user config Claude Code already uses, with the project trusted.
    let config = home(&sb).join(".claude.json");
    let trusted = serde_json::json!({
        "projects": { sb.project().display().to_string(): { "hasTrustDialogAccepted": true } }
    });
    std::fs::write(&config, format!("{trusted:#}\n")).unwrap();

    let r = install(&sb, false, &["claude", "--user"]);
    assert!(
        r.stderr.contains("codex-wrap is not on PATH"),
        "{}",
        r.stderr
    );
    let out = mcp_list(&sb, "claude", false);
    assert!(out.contains("Failed to connect"), "{out}");

    install(&sb, false, &["claude", "--user", "--absolute"]);
    let out = mcp_list(&sb, "claude", false);
    let bin = std::fs::canonicalize(env!("CARGO_BIN_EXE_codex-wrap")).unwrap();
    assert!(
        out.contains(&format!("codex-wrap: {} mcp - ✔ Connected", bin.display())),
        "{out}"
    );

    // Claude Code has written its own keys since; uninstall takes out only the server.
    install(&sb, false, &["claude", "--user", "--uninstall"]);
    let text = std::fs::read_to_string(&config).unwrap();
    let after: serde_json::Value = serde_json::from_str(&text).unwrap();
    assert!(after.get("mcpServers").is_none(), "{text}");
    assert!(after["projects"].is_object(), "{text}");
}

#[test]
#[ignore = "real clients: Gemini CLI from npm (scripts/mcp-client.sh clients)"]
fn gemini_cli_connects_to_what_install_writes_in_a_trusted_folder() {
    let sb = Sandbox::new();
    let r = install(&sb, true, &["gemini"]);
    assert!(
        r.stdout().contains("trust this folder in Gemini CLI"),
        "{}",
        r.stdout()
    );
    let out = mcp_list(&sb, "gemini", true);
    assert!(
        out.contains("codex-wrap") && out.contains("Disabled"),
        "{out}"
    );
    assert!(out.contains("untrusted"), "{out}");

    // Trusting the folder, as Gemini CLI's prompt does: the server connects.
    let trust = serde_json::json!({ sb.project().display().to_string(): "TRUST_FOLDER" });
    std::fs::write(
        home(&sb).join(".gemini/trustedFolders.json"),
        trust.to_string(),
    )
    .unwrap();
    let out = mcp_list(&sb, "gemini", true);
    assert!(
        out.contains("✓ codex-wrap: codex-wrap mcp (stdio) - Connected"),
        "{out}"
    );
}

#[test]
#[ignore = "real clients: Codex from npm (scripts/mcp-client.sh clients)"]
fn codex_lists_what_install_writes_for_the_user_and_for_a_trusted_project() {
    let sb = Sandbox::new();
    let listed = |out: &str| {
        out.lines().any(|l| {
            l.split_whitespace().collect::<Vec<_>>()[..]
                == [
                    "codex-wrap",
                    "codex-wrap",
                    "mcp",
                    "-",
                    "-",
                    "enabled",
                    "Unsupported",
                ][..]
        })
    };

    // The project's file: ignored until the project is trusted.
    let r = install(&sb, true, &["codex", "--project"]);
    assert!(
        r.stdout().contains("trust this project in Codex"),
        "{}",
        r.stdout()
    );
    let out = mcp_list(&sb, "codex", true);
    assert!(out.contains("No MCP servers configured yet"), "{out}");
    let config = home(&sb).join(".codex/config.toml");
    std::fs::create_dir_all(config.parent().unwrap()).unwrap();
    std::fs::write(
        &config,
        format!(
            "[projects.\"{}\"]\ntrust_level = \"trusted\"\n",
            sb.project().display()
        ),
    )
    .unwrap();
    let out = mcp_list(&sb, "codex", true);
    assert!(listed(&out), "{out}");
    install(&sb, true, &["codex", "--project", "--uninstall"]);

    // The default, the user's config (beside the trust table, which stays).
    install(&sb, true, &["codex"]);
    let out = mcp_list(&sb, "codex", true);
    assert!(listed(&out), "{out}");
    install(&sb, true, &["codex", "--uninstall"]);
    let text = std::fs::read_to_string(&config).unwrap();
    assert!(!text.contains("mcp_servers"), "{text}");
    assert!(text.contains("trust_level = \"trusted\""), "{text}");
}
