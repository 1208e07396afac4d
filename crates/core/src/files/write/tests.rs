use std::os::unix::fs::{PermissionsExt, symlink};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use super::*;
use crate::files::blocks::{FileBlock, NamedBy};

/// A project root and a sibling directory that must stay empty.
struct Sandbox {
    _dir: tempfile::TempDir,
    root: PathBuf,
    outside: PathBuf,
}

impl Sandbox {
    fn new() -> Sandbox {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir(&root).unwrap();
        std::fs::create_dir(&outside).unwrap();
        Sandbox {
            _dir: dir,
            root,
            outside,
        }
    }

    fn put(&self, rel: &str, text: &str) -> PathBuf {
        let p = self.root.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, text).unwrap();
        p
    }

    fn read(&self, rel: &str) -> String {
        std::fs::read_to_string(self.root.join(rel)).unwrap()
    }

    fn write(&self, files: &[(&str, &str)], inputs: &[&str], force: bool) -> Vec<FileResult> {
        let blocks = blocks(files);
        let inputs: Vec<String> = inputs.iter().map(|s| s.to_string()).collect();
        let opts = WriteOptions {
            force,
            ..WriteOptions::default()
        };
        let planned = plan(&self.root, &blocks, &inputs, &opts).unwrap();
        apply(&self.root, &planned).unwrap()
    }

    fn outside_is_empty(&self) -> bool {
        std::fs::read_dir(&self.outside).unwrap().next().is_none()
    }
}

fn blocks(files: &[(&str, &str)]) -> Vec<FileBlock> {
    files
        .iter()
        .map(|(path, content)| FileBlock {
            path: path.to_string(),
            lang: None,
            content: content.to_string(),
            line: 1,
            named_by: NamedBy::InfoString,
        })
        .collect()
}

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o777
}

#[test]
fn new_files_are_created_with_their_directories() {
    let sb = Sandbox::new();
    let r = sb.write(&[("app/deep/main.py", "print(1)\r\nprint(2)")], &[], false);
    assert_eq!(r[0].action, Action::Created);
    assert_eq!(r[0].path, "app/deep/main.py");
    assert_eq!(r[0].lines, 2);
    assert_eq!(r[0].bytes, 18);
    assert_eq!(r[0].sha256.len(), 64);
    assert_eq!(sb.read("app/deep/main.py"), "print(1)\nprint(2)\n");
    assert_eq!(mode(&sb.root.join("app/deep/main.py")), 0o644);
    // No temporary file is left behind.
    let names: Vec<_> = std::fs::read_dir(sb.root.join("app/deep"))
        .unwrap()
        .collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn a_shebang_gets_the_executable_bit() {
    let sb = Sandbox::new();
    sb.write(&[("run.sh", "#!/bin/sh\necho hi\n")], &[], false);
    assert_eq!(mode(&sb.root.join("run.sh")), 0o755);
    let p = sb.put("tool.py", "old\n");
    std::fs::set_permissions(&p, std::fs::Permissions::from_mode(0o600)).unwrap();
    sb.write(
        &[("tool.py", "#!/usr/bin/env python3\n")],
        &["tool.py"],
        false,
    );
    assert_eq!(mode(&p), 0o700);
}

#[test]
fn an_existing_file_is_replaced_only_as_an_input_or_with_force() {
    let sb = Sandbox::new();
    sb.put("a.txt", "old a\n");
    sb.put("b.txt", "old b\n");
    sb.put("c.txt", "old c\n");
    let r = sb.write(&[("a.txt", "new a"), ("b.txt", "new b")], &["b.txt"], false);
    assert_eq!(r[0].action, Action::Skipped);
    assert_eq!(r[0].reason.as_deref(), Some("exists; use --force"));
    assert_eq!(r[1].action, Action::Updated);
    assert_eq!(sb.read("a.txt"), "old a\n");
    assert_eq!(sb.read("b.txt"), "new b\n");
    let r = sb.write(&[("c.txt", "new c")], &[], true);
    assert_eq!(r[0].action, Action::Updated);
    assert_eq!(sb.read("c.txt"), "new c\n");
    let r = sb.write(&[("c.txt", "new c\n")], &[], false);
    assert_eq!(r[0].action, Action::Unchanged);
}

#[test]
fn a_crlf_file_stays_crlf() {
    let sb = Sandbox::new();
    sb.put("win.bat", "echo a\r\necho b\r\n");
    sb.write(&[("win.bat", "echo c\necho d")], &["win.bat"], false);
    assert_eq!(sb.read("win.bat"), "echo c\r\necho d\r\n");
    assert!(uses_crlf("a\r\nb\r\n"));
    assert!(!uses_crlf("a\nb\r\nc\nd\n"));
    assert_eq!(normalize("", false), "");
}

#[track_caller]
fn rejected(sb: &Sandbox, path: &str, why: &str) {
    let r = sb.write(&[(path, "pwned\n")], &[], true);
    assert_eq!(r[0].action, Action::Rejected, "{path:?}: {r:?}");
    let reason = r[0].reason.clone().unwrap();
    assert!(reason.contains(why), "{path:?}: {reason}");
    assert!(sb.outside_is_empty());
}

#[test]
fn hostile_paths_are_rejected_and_nothing_leaves_the_root() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.root.join(".git")).unwrap();
    symlink(&sb.outside, sb.root.join("out")).unwrap();
    symlink(sb.root.join(".git"), sb.root.join("gitlink")).unwrap();
    symlink(sb.outside.join("f.txt"), sb.root.join("dangling.txt")).unwrap();
    rejected(&sb, "/etc/passwd", "absolute");
    rejected(&sb, &format!("{}/x.txt", sb.outside.display()), "absolute");
    rejected(&sb, "../../x", "leaves the project root");
    rejected(&sb, "../outside/x", "leaves the project root");
    rejected(&sb, ".git/config", ".git");
    rejected(&sb, "gitlink/config", ".git");
    rejected(&sb, "out/x.txt", "symlink that leaves the project root");
    rejected(
        &sb,
        "out/deeper/x.txt",
        "symlink that leaves the project root",
    );
    rejected(&sb, "dangling.txt", "symlink");
    rejected(&sb, "a\0b", "NUL");
    rejected(&sb, "a\nb.txt", "control");
    assert!(!sb.root.join(".git/config").exists());
}

#[test]
fn codex_wraps_own_configuration_is_never_written_and_assistant_files_only_as_literal_inputs() {
    let sb = Sandbox::new();
    rejected(&sb, ".env.local", "never written");
    rejected(&sb, "web/.env.local", "never written");
    rejected(&sb, "profiles.toml", "never written");
    rejected(&sb, "tools/profiles.toml", "never written");
    rejected(&sb, ".mcp.json", "never created");
    rejected(&sb, ".github/workflows/ci.yml", "never created");
    sb.put(".env.local", "A=1\n");
    sb.put("profiles.toml", "[ollama]\n");
    // Given with -i (even literally) and --force: still never written.
    let r = sb.write(
        &[(".env.local", "A=2"), ("profiles.toml", "x")],
        &[".env.local", "profiles.toml"],
        true,
    );
    assert!(r.iter().all(|f| f.action == Action::Rejected), "{r:?}");
    assert_eq!(sb.read(".env.local"), "A=1\n");
    // An assistant's file is replaced only when it was named literally with -i.
    sb.put(".mcp.json", "{}\n");
    let r = sb.write(&[(".mcp.json", "{\"x\": 1}")], &[".mcp.json"], true);
    assert_eq!(r[0].action, Action::Rejected, "a glob or MCP input");
    let opts = WriteOptions {
        literal_inputs: vec![".mcp.json".into()],
        ..WriteOptions::default()
    };
    let planned = plan(
        &sb.root,
        &blocks(&[(".mcp.json", "{\"x\": 1}")]),
        &[".mcp.json".into()],
        &opts,
    )
    .unwrap();
    assert_eq!(
        apply(&sb.root, &planned).unwrap()[0].action,
        Action::Updated
    );
    // The user may allow more in their own configuration.
    let opts = WriteOptions {
        allow_write: Some(crate::config::allow_write_set(&[".vscode/*.json".into()]).unwrap()),
        ..WriteOptions::default()
    };
    let planned = plan(
        &sb.root,
        &blocks(&[(".vscode/tasks.json", "{}")]),
        &[],
        &opts,
    )
    .unwrap();
    assert_eq!(
        apply(&sb.root, &planned).unwrap()[0].action,
        Action::Created
    );
}

use proptest::strategy::Strategy as _;

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig::with_cases(64))]

    /// Whatever paths a model writes, the writer never touches a protected path or anything
    /// outside the root, even with every path given as an input and --force.
    #[test]
    fn the_writer_never_touches_a_protected_or_outside_path(
        paths in proptest::collection::vec(
            proptest::collection::vec(
                proptest::prop_oneof![
                    proptest::strategy::Just("profiles.toml"),
                    proptest::strategy::Just("PROFILES.TOML"),
                    proptest::strategy::Just(".env"),
                    proptest::strategy::Just(".env.local"),
                    proptest::strategy::Just(".envrc"),
                    proptest::strategy::Just(".git"),
                    proptest::strategy::Just(".GIT"),
                    proptest::strategy::Just(".mcp.json"),
                    proptest::strategy::Just(".claude"),
                    proptest::strategy::Just(".vscode"),
                    proptest::strategy::Just(".github"),
                    proptest::strategy::Just("workflows"),
                    proptest::strategy::Just(".cargo"),
                    proptest::strategy::Just("config.toml"),
                    proptest::strategy::Just(".."),
                    proptest::strategy::Just("."),
                    proptest::strategy::Just("out"),
                    proptest::strategy::Just("tools"),
                    proptest::strategy::Just("a.py"),
                    proptest::strategy::Just("/etc"),
                    proptest::strategy::Just("~"),
                ],
                1..5,
            ).prop_map(|parts: Vec<&str>| parts.join("/")),
            1..6,
        ),
    ) {
        use proptest::prelude::*;
        let sb = Sandbox::new();
        symlink(&sb.outside, sb.root.join("out")).unwrap();
        std::fs::create_dir_all(sb.root.join(".git")).unwrap();
        for f in ["profiles.toml", ".env.local", ".mcp.json", ".git/config", "tools/profiles.toml"] {
            sb.put(f, "original\n");
        }
        let files: Vec<(&str, &str)> = paths.iter().map(|p| (p.as_str(), "pwned")).collect();
        let blocks = blocks(&files);
        let inputs: Vec<String> = paths.clone();
        let opts = WriteOptions { force: true, ..WriteOptions::default() };
        let planned = plan(&sb.root, &blocks, &inputs, &opts).unwrap();
        // A file and a folder of one name in one answer stop the write: fine, it is safe.
        let done = apply(&sb.root, &planned).unwrap_or_else(|e| e.done);
        for r in &done {
            if matches!(r.action, Action::Created | Action::Updated) {
                prop_assert_eq!(super::protect::protection(&r.path), super::protect::Protection::Open, "{:?}", r);
            }
        }
        prop_assert!(sb.outside_is_empty());
        for f in ["profiles.toml", ".env.local", ".mcp.json", ".git/config", "tools/profiles.toml"] {
            prop_assert_eq!(sb.read(f), "original\n");
        }
    }
}

#[test]
fn two_spellings_of_one_path_write_the_last_block_once() {
    let sb = Sandbox::new();
    let r = sb.write(&[("app/x.py", "one"), ("./app//x.py", "two")], &[], false);
    assert_eq!(r[0].action, Action::Skipped, "{r:?}");
    assert_eq!(r[1].action, Action::Created, "{r:?}");
    assert_eq!(r[1].path, "app/x.py");
    assert_eq!(sb.read("app/x.py"), "two\n");
}

#[test]
fn a_symlink_inside_the_root_may_be_written_through() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.root.join("real")).unwrap();
    symlink(sb.root.join("real"), sb.root.join("alias")).unwrap();
    let r = sb.write(&[("alias/x.txt", "x")], &[], false);
    assert_eq!(r[0].action, Action::Created);
    assert_eq!(sb.read("real/x.txt"), "x\n");
}

#[test]
fn special_files_and_directories_are_never_targets() {
    let sb = Sandbox::new();
    let fifo = sb.root.join("pipe");
    assert!(
        Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    rejected(&sb, "pipe", "not a regular file");
    std::fs::create_dir(sb.root.join("dir")).unwrap();
    rejected(&sb, "dir", "directory");
    sb.put("file.txt", "x");
    rejected(&sb, "file.txt/below.txt", "not a directory");
}

#[test]
fn ten_thousand_tiny_files_write_nothing() {
    let sb = Sandbox::new();
    let names: Vec<String> = (0..10_000).map(|i| format!("f{i}.txt")).collect();
    let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "x")).collect();
    let err = plan(&sb.root, &blocks(&files), &[], &WriteOptions::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the answer names 10000 files; at most 256 are written per answer (nothing written)"
    );
    assert!(std::fs::read_dir(&sb.root).unwrap().next().is_none());
}

#[test]
fn a_50_mb_file_is_refused_and_a_5_mb_one_rejected() {
    let sb = Sandbox::new();
    let big = "x".repeat(50 << 20);
    let err = plan(
        &sb.root,
        &blocks(&[("big.txt", &big)]),
        &[],
        &WriteOptions::default(),
    );
    assert!(
        matches!(err, Err(LimitError::TooManyBytes { .. })),
        "{err:?}"
    );
    let five = "x".repeat(5 << 20);
    let r = sb.write(&[("five.txt", &five), ("small.txt", "ok")], &[], false);
    assert_eq!(r[0].action, Action::Rejected);
    assert!(r[0].reason.as_ref().unwrap().contains("limit per file"));
    assert_eq!(r[1].action, Action::Created);
    assert!(!sb.root.join("five.txt").exists());
}

#[test]
fn a_file_that_appears_after_the_plan_is_not_clobbered() {
    let sb = Sandbox::new();
    let planned = plan(
        &sb.root,
        &blocks(&[("late.txt", "model")]),
        &[],
        &WriteOptions::default(),
    )
    .unwrap();
    sb.put("late.txt", "user\n");
    let err = apply(&sb.root, &planned).unwrap_err();
    assert_eq!(err.path, "late.txt");
    assert_eq!(sb.read("late.txt"), "user\n");
}

#[test]
fn a_directory_swapped_for_an_outward_symlink_is_caught_before_the_rename() {
    let sb = Sandbox::new();
    std::fs::create_dir(sb.root.join("d")).unwrap();
    let planned = plan(
        &sb.root,
        &blocks(&[("d/x.txt", "x")]),
        &[],
        &WriteOptions::default(),
    )
    .unwrap();
    std::fs::remove_dir(sb.root.join("d")).unwrap();
    symlink(&sb.outside, sb.root.join("d")).unwrap();
    let err = apply(&sb.root, &planned).unwrap_err();
    assert!(
        err.to_string().starts_with("cannot write d/x.txt: "),
        "{err}"
    );
    assert!(sb.outside_is_empty());
}

/// Runs this test binary again as a child that writes a 1 MiB file over `victim.txt` in the
/// root named by `CODEX_WRAP_TEST_WRITER`, once, or forever with `CODEX_WRAP_TEST_LOOP`.
#[test]
#[ignore = "the child process of the ulimit and SIGKILL tests, not a test on its own"]
#[allow(clippy::print_stdout)] // the child's report to its parent
fn child_writer() {
    let Ok(root) = std::env::var("CODEX_WRAP_TEST_WRITER") else {
        return;
    };
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async { crate::files::catch_file_size_signal().unwrap() });
    let root = PathBuf::from(root);
    let looping = std::env::var_os("CODEX_WRAP_TEST_LOOP").is_some();
    let mut round = 0u8;
    loop {
        let fill = char::from(b'a' + round % 26).to_string().repeat(1023) + "\n";
        let text = fill.repeat(1024);
        let files = blocks(&[("victim.txt", &text)]);
        let planned = plan(
            &root,
            &files,
            &["victim.txt".into()],
            &WriteOptions::default(),
        )
        .unwrap();
        match apply(&root, &planned) {
            Ok(_) => println!("CHILD-OK"),
            Err(e) => {
                println!("CHILD-ERR {e}");
                return;
            }
        }
        if !looping {
            return;
        }
        round = round.wrapping_add(1);
    }
}

fn child(root: &Path, shell_prefix: &str) -> Command {
    let exe = std::env::current_exe().unwrap();
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(format!("{shell_prefix} exec \"$0\" \"$@\""))
        .arg(exe)
        .args([
            "--exact",
            "files::write::tests::child_writer",
            "--nocapture",
            "--ignored",
            "--test-threads=1",
        ])
        .env("CODEX_WRAP_TEST_WRITER", root);
    cmd
}

/// The file holds one whole version: the original, or one full round of the child.
#[track_caller]
fn assert_whole(sb: &Sandbox) {
    let text = sb.read("victim.txt");
    if text == "original\n" {
        return;
    }
    assert_eq!(text.len(), 1 << 20);
    let first = text.as_bytes()[0];
    assert!(
        text.bytes().all(|b| b == first || b == b'\n'),
        "a mixed file"
    );
}

#[test]
fn a_file_size_limit_leaves_the_old_file_and_returns_an_error() {
    let sb = Sandbox::new();
    sb.put("victim.txt", "original\n");
    // 64 blocks of 512 bytes: far below the 1 MiB the child writes.
    let out = child(&sb.root, "ulimit -f 64;").output().unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(
        stdout.contains("CHILD-ERR cannot write victim.txt: File too large"),
        "{stdout}"
    );
    assert_eq!(sb.read("victim.txt"), "original\n");
    // The temporary file went with the error.
    let names: Vec<_> = std::fs::read_dir(&sb.root).unwrap().collect();
    assert_eq!(names.len(), 1);
}

#[test]
fn sigkill_in_the_middle_of_writing_leaves_a_whole_file() {
    use std::io::BufRead;
    let sb = Sandbox::new();
    sb.put("victim.txt", "original\n");
    for delay_us in [0u64, 300, 1500, 4000] {
        let mut c = child(&sb.root, "")
            .env("CODEX_WRAP_TEST_LOOP", "1")
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Wait for the first whole write, then kill it somewhere in a later one.
        let mut lines = std::io::BufReader::new(c.stdout.take().unwrap()).lines();
        assert!(lines.any(|l| l.unwrap() == "CHILD-OK"));
        std::thread::sleep(Duration::from_micros(delay_us));
        c.kill().unwrap();
        c.wait().unwrap();
        assert_ne!(sb.read("victim.txt"), "original\n");
        assert_whole(&sb);
    }
    // Nothing else, unless SIGKILL fell between linking a whole new version to its
    // temporary name and the rename: then that file is whole too.
    for entry in std::fs::read_dir(&sb.root).unwrap() {
        let name = entry.unwrap().file_name().into_string().unwrap();
        if name != "victim.txt" {
            assert!(name.starts_with(TEMP_PREFIX), "{name}");
            let text = std::fs::read_to_string(sb.root.join(&name)).unwrap();
            assert_eq!(text.len(), 1 << 20, "a partial temporary file");
        }
    }
}

#[test]
fn the_named_fallback_writes_whole_files_and_does_not_clobber() {
    let sb = Sandbox::new();
    sb.put("a.txt", "old\n");
    let files = blocks(&[("a.txt", "new"), ("b/c.txt", "c")]);
    let planned = plan(
        &sb.root,
        &files,
        &["a.txt".into()],
        &WriteOptions::default(),
    )
    .unwrap();
    for p in &planned {
        let t = p.target.as_ref().unwrap();
        t.create_dir(&sb.root).unwrap();
        write_named(&sb.root, t, p).unwrap();
    }
    assert_eq!(sb.read("a.txt"), "new\n");
    assert_eq!(sb.read("b/c.txt"), "c\n");
    let again = &planned[1];
    let err = write_named(&sb.root, again.target.as_ref().unwrap(), again);
    assert_eq!(err.unwrap_err().kind(), std::io::ErrorKind::AlreadyExists);
    assert_eq!(sb.read("b/c.txt"), "c\n");
    assert_eq!(std::fs::read_dir(sb.root.join("b")).unwrap().count(), 1);
}

#[test]
fn the_check_and_write_loop_finishes_quickly_for_a_big_answer() {
    // Not a benchmark: a guard that planning 200 files stays linear.
    let sb = Sandbox::new();
    let names: Vec<String> = (0..200).map(|i| format!("d{}/f{i}.rs", i % 10)).collect();
    let files: Vec<(&str, &str)> = names.iter().map(|n| (n.as_str(), "fn a() {}\n")).collect();
    let t = Instant::now();
    let r = sb.write(&files, &[], false);
    assert!(r.iter().all(|f| f.action == Action::Created));
    assert!(t.elapsed() < Duration::from_secs(30));
}

proptest::proptest! {
    #![proptest_config(proptest::prelude::ProptestConfig { cases: 64, ..Default::default() })]
    #[test]
    fn nothing_is_ever_written_outside_the_root(parts in proptest::collection::vec(
        proptest::sample::select(vec![
            "..", ".", "", "a", "b.txt", ".git", "GIT", ".GIT", "out", "in", "/", "\\", "~",
            "C:", "x\0", "x\n", "\u{202e}", "-", "..\\..", "out/..", "f.txt",
        ]),
        1..7,
    )) {
        let sb = Sandbox::new();
        symlink(&sb.outside, sb.root.join("out")).unwrap();
        std::fs::create_dir(sb.root.join("in")).unwrap();
        let path = parts.join("/");
        let files = blocks(&[(path.as_str(), "x"), (parts.concat().as_str(), "y")]);
        if let Ok(planned) = plan(&sb.root, &files, &[], &WriteOptions { force: true, ..WriteOptions::default() }) {
            let _ = apply(&sb.root, &planned);
        }
        proptest::prop_assert!(sb.outside_is_empty(), "{:?}", path);
        let base = sb.root.parent().unwrap();
        let mut top: Vec<_> = std::fs::read_dir(base).unwrap().map(|e| e.unwrap().file_name()).collect();
        top.sort();
        proptest::prop_assert_eq!(top, vec!["outside", "root"]);
        proptest::prop_assert!(!sb.root.join(".git").exists());
    }
}
