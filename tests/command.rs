//! The `command` provider and `--codex`: a local command line as an endpoint.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::support::{Sandbox, Test, read_until, spawn_piped, wait_limited};

/// Puts an executable script named `name` on the sandbox's PATH.
fn script(sb: &Sandbox, name: &str, body: &str) -> PathBuf {
    let dir = sb.dir.path().join("bin");
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join(name);
    std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    path
}

/// The binary in `sb` with the scripts of `script` first on its PATH.
fn with_bin(sb: &Sandbox) -> Test {
    let path = std::env::var("PATH").unwrap_or_default();
    Test::new(sb).env(
        "PATH",
        format!("{}:{path}", sb.dir.path().join("bin").display()),
    )
}

/// Whether a process is gone (or a zombie waiting to be reaped).
fn is_dead(pid: &str) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Err(_) => true,
        Ok(stat) => stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z')),
    }
}

#[track_caller]
fn assert_no_orphans(pids_file: &Path) {
    let pids = std::fs::read_to_string(pids_file).expect("the command wrote its pids");
    let pids: Vec<&str> = pids.split_whitespace().collect();
    assert_eq!(pids.len(), 2, "{pids:?}");
    let start = Instant::now();
    while !pids.iter().all(|p| is_dead(p)) && start.elapsed() < Duration::from_secs(3) {
        std::thread::sleep(Duration::from_millis(20));
    }
    for pid in pids {
        assert!(is_dead(pid), "process {pid} survived the call");
    }
}

/// A command line that records its pid and a child's, then waits for ever.
const HANG: &str =
    r#"["sh", "-c", "echo $$ > {root}/pids; sleep 300 & echo $! >> {root}/pids; wait"]"#;

#[test]
fn codex_runs_codex_exec_in_the_root_with_the_prompt_on_stdin() {
    let sb = Sandbox::new();
    script(&sb, "codex", r#"echo "args: $*"; cat"#);
    with_bin(&sb)
        .args(["--codex", "write a haiku"])
        .stdout_has(&format!("args: exec -C {} -", sb.project().display()))
        .stdout_has("write a haiku")
        .stderr_has("codex · profile code · command")
        .run();
    with_bin(&sb)
        .env("FORCE_CODEX", "1")
        .arg("again")
        .stdout_has("args: exec -C")
        .run();
}

#[test]
fn a_command_that_fails_before_output_falls_back_with_its_last_stderr_line() {
    let sb = Sandbox::new();
    sb.user_config(
        r#"[endpoints.broken]
provider = "command"
command = ["sh", "-c", "echo starting >&2; echo 'error: not logged in' >&2; exit 3"]
[endpoints.echo]
provider = "command"
command = ["sh", "-c", "printf 'model {model}: '; cat"]
model = "m1"
[routes]
codex = ["broken", "echo"]
"#,
    );
    Test::new(&sb)
        .args(["-c", "hello"])
        .stdout_has("model m1: ")
        .stdout_has("hello")
        .stderr_has("falling back to codex echo (command m1)")
        .stderr_has("sh exited with status 3: error: not logged in")
        .run();
}

#[test]
fn a_command_that_fails_after_output_is_exit_6() {
    let sb = Sandbox::new();
    sb.user_config("[endpoints.half]\nprovider = \"command\"\ncommand = [\"sh\", \"-c\", \"printf partial; exit 2\"]\n[routes]\ncodex = [\"half\", \"codex\"]\n",
    );
    Test::new(&sb)
        .args(["--codex", "x"])
        .code(6)
        .stdout("partial")
        .stderr_has("stream interrupted after 7 bytes")
        .run();
}

#[test]
fn a_missing_executable_is_named_and_exit_4() {
    let sb = Sandbox::new();
    Test::new(&sb)
        .env("PATH", sb.dir.path())
        .args(["--codex", "x"])
        .code(4)
        .stdout("")
        .stderr_has("command not found: codex")
        .run();
}

#[test]
fn a_command_endpoint_can_serve_the_local_route() {
    let sb = Sandbox::new();
    sb.write(
        "profiles.toml",
        "[endpoints.llm]\nprovider = \"command\"\ncommand = [\"sh\", \"-c\", \"cat >/dev/null; printf 'local says hi'\"]\n[routes]\nlocal = \"llm\"\n",
    );
    // A project's own command endpoint runs once the user trusts the project.
    sb.trust();
    Test::new(&sb)
        .args(["--local", "x"])
        .stdout("local says hi")
        .run();
}

#[test]
fn a_deadline_kills_the_whole_process_group() {
    let sb = Sandbox::new();
    sb.user_config(&format!(
        "[endpoints.hang]\nprovider = \"command\"\ncommand = {HANG}\n[routes]\ncodex = \"hang\"\n"
    ));
    let r = Test::new(&sb)
        .args(["--codex", "-t", "1", "x"])
        .limit(Duration::from_secs(10))
        .code(5)
        .stdout("")
        .stderr_has("deadline 1s")
        .run();
    assert!(r.elapsed < Duration::from_secs(5), "{:?}", r.elapsed);
    assert_no_orphans(&sb.project().join("pids"));
}

#[test]
fn ctrl_c_and_sigterm_kill_the_whole_process_group() {
    for (signal, code) in [
        (nix::sys::signal::Signal::SIGINT, 130),
        (nix::sys::signal::Signal::SIGTERM, 143),
    ] {
        let sb = Sandbox::new();
        sb.user_config(&format!(
            "[endpoints.hang]\nprovider = \"command\"\ncommand = {}\n[routes]\ncodex = \"hang\"\n",
            HANG.replace("wait", "printf started; wait")
        ));
        let mut cmd = sb.cmd();
        cmd.args(["--codex", "x"]);
        let (mut child, mut stdout) = spawn_piped(cmd);
        let got = read_until(&mut stdout, b"started", Duration::from_secs(10));
        assert_eq!(got, b"started");
        let pid = nix::unistd::Pid::from_raw(i32::try_from(child.id()).unwrap());
        nix::sys::signal::kill(pid, signal).unwrap();
        assert_eq!(
            wait_limited(&mut child, Duration::from_secs(10)),
            Some(code)
        );
        assert_no_orphans(&sb.project().join("pids"));
    }
}
