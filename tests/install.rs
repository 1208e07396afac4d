//! `codex-wrap install`: golden files for each assistant's configuration, fresh and
//! pre-existing (comments, other servers, the file's own indentation); idempotence;
//! `--uninstall` giving back the original bytes; an unparsable file left alone.
//!
//! Golden files live in tests/data/install/; `UPDATE_GOLDEN=1 cargo test install` rewrites
//! them (review the diff).

use std::path::{Path, PathBuf};

use crate::support::{Sandbox, Test};

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
fn install(sb: &Sandbox, case: &Case, extra: &[&str]) -> Test {
    on_path(sb)
        .args(["install", case.assistant, "--project"])
        .args(extra)
}

/// The binary with its own folder first on PATH, as after `cargo install`: else every
/// install warns that the assistant cannot start `codex-wrap` by name.
fn on_path(sb: &Sandbox) -> Test {
    let exe = Path::new(env!("CARGO_BIN_EXE_codex-wrap"));
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs = vec![exe.parent().unwrap().to_path_buf()];
    dirs.extend(std::env::split_paths(&path));
    Test::new(sb).env("PATH", std::env::join_paths(dirs).unwrap())
}

fn read(sb: &Sandbox, rel: &str) -> Option<String> {
    std::fs::read_to_string(sb.project().join(rel)).ok()
}

#[test]
fn a_fresh_project_gets_each_assistants_documented_config() {
    for case in &CASES {
        let sb = Sandbox::new();
        install(&sb, case, &[]).stdout_has("created").run();
        let config = read(&sb, case.config).expect("config written");
        golden(&format!("{}.fresh.{}", case.golden, ext(case)), &config);
        golden("guidance.fresh.md", &read(&sb, case.guidance).unwrap());

        // Twice changes nothing.
        install(&sb, case, &[]).run();
        assert_eq!(
            read(&sb, case.config).unwrap(),
            config,
            "{}",
            case.assistant
        );

        // Uninstall removes the files it created.
        install(&sb, case, &["--uninstall"]).run();
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

        install(&sb, case, &[]).stdout_has("updated").run();
        let after = read(&sb, case.config).unwrap();
        golden(&format!("{}.after.{}", case.golden, ext(case)), &after);
        let guidance = read(&sb, case.guidance).unwrap();
        golden("guidance.after.md", &guidance);
        // The backup holds the bytes before the change.
        assert_eq!(
            read(&sb, &format!("{}.codex-wrap.bak", case.config)).unwrap(),
            before
        );

        install(&sb, case, &[]).stdout_lacks("updated").run();
        assert_eq!(read(&sb, case.config).unwrap(), after);
        assert_eq!(read(&sb, case.guidance).unwrap(), guidance);

        install(&sb, case, &["--uninstall"]).run();
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
        let r = install(&sb, case, &[])
            .code(3)
            .stderr_has(case.config.rsplit('/').next().unwrap())
            .run();
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
        .code(3)
        .stderr_has("`mcpServers` is not an object")
        .run();
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
    install(&sb, &CASES[0], &["--dry-run"])
        .stdout_has("--- a/.mcp.json\n+++ b/.mcp.json\n")
        .stdout_has("+    \"codex-wrap\": {")
        .stdout_has("--- /dev/null\n+++ b/CLAUDE.md\n")
        .run();
    assert_eq!(read(&sb, ".mcp.json").unwrap(), before);
    assert_eq!(read(&sb, "CLAUDE.md"), None);
}

#[test]
fn user_scope_writes_the_users_config() {
    let sb = Sandbox::new();
    let home = sb.dir.path().join("home");
    on_path(&sb).args(["install", "claude", "--user"]).run();
    let config = std::fs::read_to_string(home.join(".claude.json")).unwrap();
    assert!(config.contains("\"codex-wrap\""), "{config}");
    assert_eq!(read(&sb, ".mcp.json"), None);

    // Codex's default is the user's config, under CODEX_HOME when set.
    let codex_home = sb.dir.path().join("codex-home");
    on_path(&sb)
        .env("CODEX_HOME", &codex_home)
        .args(["install", "codex"])
        .run();
    let toml = std::fs::read_to_string(codex_home.join("config.toml")).unwrap();
    assert!(toml.contains("[mcp_servers.codex-wrap]"), "{toml}");
}

/// A `codex-wrap` entry of the user's own, in each assistant's format: their path, `--root`
/// and an `env` with OLLAMA_URL.
fn users_own(case: &Case) -> String {
    if ext(case) == "toml" {
        "# mine\n[mcp_servers.codex-wrap]\ncommand = \"/opt/bin/codex-wrap\"\nargs = [\"--root\", \"/src/app\", \"mcp\"]\nenv = { OLLAMA_URL = \"http://box:11434\" }\n".to_owned()
    } else {
        "{\n  // mine\n  \"mcpServers\": {\n    \"codex-wrap\": {\n      \"command\": \"/opt/bin/codex-wrap\",\n      \"args\": [\"--root\", \"/src/app\", \"mcp\"],\n      \"env\": { \"OLLAMA_URL\": \"http://box:11434\" }\n    }\n  }\n}\n".to_owned()
    }
}

/// The files under a folder, relative, sorted (`.git` left out).
fn tree(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(base).unwrap().display().to_string();
            if rel == ".git" {
                continue;
            }
            if p.is_dir() {
                out.push(format!("{rel}/"));
                walk(base, &p, out);
            } else {
                out.push(rel);
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[test]
fn a_users_own_entry_is_kept_and_force_replaces_it_until_uninstall_gives_it_back() {
    for case in &CASES {
        let sb = Sandbox::new();
        let mine = users_own(case);
        sb.write(case.config, &mine);

        // Kept, and said so with the entry itself.
        install(&sb, case, &[])
            .stdout_has(&format!(
                "kept: it has a codex-wrap entry of its own; --force replaces it: {}",
                case.config
            ))
            .stdout_has("/opt/bin/codex-wrap")
            .run();
        assert_eq!(read(&sb, case.config).unwrap(), mine, "{}", case.assistant);
        assert_eq!(read(&sb, &format!("{}.codex-wrap.bak", case.config)), None);

        // Uninstall leaves an entry it did not write.
        install(&sb, case, &["--uninstall"])
            .stdout_has("left as it is")
            .run();
        assert_eq!(read(&sb, case.config).unwrap(), mine, "{}", case.assistant);
        install(&sb, case, &[]).run();

        // --force replaces it, showing what it replaced; the backup holds it.
        install(&sb, case, &["--force"])
            .stdout_has(&format!(
                "updated {}, replacing its codex-wrap entry {{",
                case.config
            ))
            .stdout_has("http://box:11434")
            .run();
        let forced = read(&sb, case.config).unwrap();
        assert!(!forced.contains("/opt/bin"), "{forced}");
        assert_eq!(
            read(&sb, &format!("{}.codex-wrap.bak", case.config)).unwrap(),
            mine
        );
        // A second install keeps the first backup.
        install(&sb, case, &["--force"]).run();
        assert_eq!(
            read(&sb, &format!("{}.codex-wrap.bak", case.config)).unwrap(),
            mine
        );

        // Uninstall gives back the user's entry, byte for byte, and drops the backup.
        install(&sb, case, &["--uninstall"])
            .stdout_has(&format!("restored {}", case.config))
            .run();
        assert_eq!(read(&sb, case.config).unwrap(), mine, "{}", case.assistant);
        assert_eq!(read(&sb, &format!("{}.codex-wrap.bak", case.config)), None);
    }
}

#[test]
fn force_then_an_edit_then_uninstall_puts_the_users_entry_back_and_keeps_the_edit() {
    let case = &CASES[0];
    let sb = Sandbox::new();
    sb.write(case.config, &users_own(case));
    install(&sb, case, &["--force"]).run();
    // The user adds a server after install.
    let edited = read(&sb, case.config).unwrap().replacen(
        "\"mcpServers\": {",
        "\"mcpServers\": {\n    \"fs\": { \"command\": \"fs\" },",
        1,
    );
    sb.write(case.config, &edited);
    install(&sb, case, &["--uninstall"]).run();
    let after: serde_json::Value =
        serde_json::from_str(&strip_comment(&read(&sb, case.config).unwrap())).unwrap();
    assert_eq!(after["mcpServers"]["fs"]["command"], "fs");
    assert_eq!(
        after["mcpServers"]["codex-wrap"]["command"],
        "/opt/bin/codex-wrap"
    );
    assert_eq!(
        after["mcpServers"]["codex-wrap"]["env"]["OLLAMA_URL"],
        "http://box:11434"
    );
}

fn strip_comment(text: &str) -> String {
    text.lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn compact_json_comes_back_byte_for_byte() {
    for case in CASES.iter().filter(|c| ext(c) == "json") {
        let sb = Sandbox::new();
        let compact = "{\"mcpServers\":{\"fs\":{\"command\":\"fs-server\",\"args\":[\"/data\"]}}}";
        sb.write(case.config, compact);
        install(&sb, case, &[]).run();
        assert!(read(&sb, case.config).unwrap().contains("\"codex-wrap\""));
        install(&sb, case, &["--uninstall"])
            .stdout_has(&format!("restored {}", case.config))
            .run();
        assert_eq!(
            read(&sb, case.config).unwrap(),
            compact,
            "{}",
            case.assistant
        );
    }
}

#[test]
fn install_then_uninstall_leaves_a_fresh_project_as_it_was() {
    for case in &CASES {
        let sb = Sandbox::new();
        let before = tree(&sb.project());
        install(&sb, case, &[]).run();
        assert!(
            !tree(&sb.project()).iter().any(|f| f.ends_with(".bak")),
            "{}: a backup of a file install created",
            case.assistant
        );
        install(&sb, case, &["--uninstall"]).run();
        assert_eq!(tree(&sb.project()), before, "{}", case.assistant);

        // A second uninstall has nothing to do, and says so without calling a missing
        // file unchanged.
        let r = install(&sb, case, &["--uninstall"])
            .stdout_has(&format!("nothing to remove: no {}", case.config))
            .run();
        assert!(!r.stdout().contains("unchanged"), "{}", r.stdout());
    }
}

#[test]
fn uninstall_never_deletes_a_file_that_existed_before() {
    let sb = Sandbox::new();
    for (file, text) in [(".mcp.json", "{}\n"), ("CLAUDE.md", "")] {
        sb.write(file, text);
    }
    install(&sb, &CASES[0], &[]).run();
    install(&sb, &CASES[0], &["--uninstall"]).run();
    assert_eq!(read(&sb, ".mcp.json").as_deref(), Some("{}\n"));
    assert_eq!(read(&sb, "CLAUDE.md").as_deref(), Some(""));
    assert_eq!(tree(&sb.project()), [".mcp.json", "CLAUDE.md"]);
}

#[cfg(unix)]
#[test]
fn a_backup_keeps_the_originals_mode() {
    use std::os::unix::fs::PermissionsExt;
    let sb = Sandbox::new();
    let home = sb.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let config = home.join(".claude.json");
    std::fs::write(&config, "{\n  \"numStartups\": 3\n}\n").unwrap();
    std::fs::set_permissions(&config, std::fs::Permissions::from_mode(0o600)).unwrap();
    on_path(&sb)
        .args(["install", "claude", "--user"])
        .stdout_has("(backup: ")
        .run();
    let mode = |p: &Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&config), 0o600);
    assert_eq!(mode(&home.join(".claude.json.codex-wrap.bak")), 0o600);
}

#[test]
fn user_scope_puts_the_guidance_in_the_users_memory_file() {
    for (assistant, memory) in [
        ("claude", ".claude/CLAUDE.md"),
        ("gemini", ".gemini/GEMINI.md"),
    ] {
        let sb = Sandbox::new();
        on_path(&sb).args(["install", assistant, "--user"]).run();
        let home = sb.dir.path().join("home");
        let text = std::fs::read_to_string(home.join(memory)).unwrap();
        assert!(text.starts_with("<!-- codex-wrap:begin"), "{text}");
        assert_eq!(tree(&sb.project()), Vec::<String>::new(), "{assistant}");
        on_path(&sb)
            .args(["install", assistant, "--user", "--uninstall"])
            .run();
        assert!(!home.join(memory).exists());
    }
}

#[test]
fn absolute_writes_this_binarys_path_and_path_is_checked() {
    let sb = Sandbox::new();
    let bin = std::fs::canonicalize(env!("CARGO_BIN_EXE_codex-wrap")).unwrap();

    // Not on PATH: said, with the way out.
    let empty = sb.dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    Test::new(&sb)
        .env("PATH", &empty)
        .args(["install", "claude", "--project", "--dry-run"])
        .stderr_has("codex-wrap is not on PATH")
        .stderr_has("install --absolute")
        .run();

    // Another codex-wrap on PATH: named.
    let other = sb.dir.path().join("other-bin");
    std::fs::create_dir_all(&other).unwrap();
    std::fs::write(other.join("codex-wrap"), "#!/bin/sh\n").unwrap();
    Test::new(&sb)
        .env("PATH", &other)
        .args(["install", "claude", "--project", "--dry-run"])
        .stderr_has(&format!(
            "`codex-wrap` on PATH is {}",
            other.join("codex-wrap").display()
        ))
        .run();

    // This binary on PATH (through a link): nothing to say.
    let linked = sb.dir.path().join("linked-bin");
    std::fs::create_dir_all(&linked).unwrap();
    #[cfg(unix)]
    std::os::unix::fs::symlink(&bin, linked.join("codex-wrap")).unwrap();
    Test::new(&sb)
        .env("PATH", &linked)
        .args(["install", "claude", "--project", "--dry-run"])
        .stderr_lacks("PATH")
        .run();

    // --absolute: the entry runs this binary; a later plain install goes back to the name.
    Test::new(&sb)
        .env("PATH", &empty)
        .args(["install", "claude", "--project", "--absolute"])
        .stderr_lacks("PATH")
        .run();
    let config: serde_json::Value = serde_json::from_str(&read(&sb, ".mcp.json").unwrap()).unwrap();
    assert_eq!(
        config["mcpServers"]["codex-wrap"]["command"],
        bin.display().to_string()
    );
    install(&sb, &CASES[0], &[]).run();
    let config: serde_json::Value = serde_json::from_str(&read(&sb, ".mcp.json").unwrap()).unwrap();
    assert_eq!(config["mcpServers"]["codex-wrap"]["command"], "codex-wrap");
}

#[test]
fn install_ends_with_the_clients_own_approval_step() {
    for (case, step) in CASES.iter().zip([
        "approve the codex-wrap server",
        "trust this project in Codex",
        "Settings → MCP",
        "trust this folder in Gemini CLI",
    ]) {
        let sb = Sandbox::new();
        let r = install(&sb, case, &[]).run();
        let last = r.stdout().lines().last().unwrap_or_default().to_owned();
        assert!(last.starts_with("next: ") && last.contains(step), "{last}");
    }
}

#[test]
fn without_a_project_marker_install_warns_and_names_the_home_folder() {
    let sb = Sandbox::new();
    let home = sb.dir.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    on_path(&sb)
        .dir(&home)
        .args(["install", "claude", "--project", "--dry-run"])
        .stderr_has("no project marker")
        .stderr_has("your home folder")
        .run();
    // In a project: no such warning.
    install(&sb, &CASES[0], &["--dry-run"])
        .stderr_lacks("marker")
        .run();
}

#[test]
fn the_guidance_block_is_not_sent_as_project_context() {
    let sb = Sandbox::new();
    sb.write(
        "AGENTS.md",
        "# Agents\n\n## Testing\n\nRun cargo test before you stop.\n",
    );
    install(&sb, &CASES[2], &[]).run();
    assert!(read(&sb, "AGENTS.md").unwrap().contains("codex-wrap:begin"));
    let r = Test::new(&sb)
        .args([
            "context",
            "--json",
            "--api",
            "how do I delegate to codex-wrap and run the tests?",
        ])
        // The project has an AGENTS.md but no CONTRACTS.md, and the API route says so.
        .stderr_has("no CONTRACTS.md in")
        .run();
    let out = r.stdout();
    assert!(out.contains("Run cargo test"), "{out}");
    assert!(!out.contains("Delegating to codex-wrap"), "{out}");
    assert!(!out.contains("codex-wrap:begin"), "{out}");
}
