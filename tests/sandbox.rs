//! The check's sandbox (bubblewrap), through the real binary: code the model wrote runs with
//! the project writable and nothing else, no network, and every process it starts dies at
//! the deadline. These tests need a working `bwrap` (`.ci/run` installs the bubblewrap
//! package); without one they fail rather than pass unsandboxed.

use std::net::TcpListener;
use std::path::Path;
use std::time::{Duration, Instant};

use crate::support::{Sandbox, Server, Test, ollama, outside_tmp, survivors};

/// `--local -w --rounds 1 --check CHECK x` against `server`.
fn checked(sb: &Sandbox, server: &Server, check: &str) -> Test {
    Test::new(sb).ollama(server).args([
        "--local",
        "-w",
        "--rounds",
        "1",
        "--check-timeout",
        "5",
        "--check",
        check,
        "x",
    ])
}

/// A PATH holding only `sh` (no bwrap).
fn path_without_bwrap(sb: &Sandbox) -> std::path::PathBuf {
    let bin = sb.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).unwrap();
    bin
}

#[test]
fn the_normal_check_passes_in_the_sandbox_with_the_project_and_tmp_writable() {
    let sb = Sandbox::new();
    let server = ollama::fake()
        .answering("```sh t.sh\necho ok > made.txt && echo tmp > /tmp/x && cat /tmp/x\n```\n");
    let r = checked(&sb, &server, "sh t.sh").run();
    assert!(
        r.stdout().contains("check passed: sh t.sh"),
        "{}",
        r.stdout()
    );
    assert_eq!(
        std::fs::read_to_string(sb.project().join("made.txt")).unwrap(),
        "ok\n"
    );
    // The check's /tmp was its own.
    assert!(!Path::new("/tmp/x").exists() || std::fs::read_to_string("/tmp/x").unwrap() != "tmp\n");
}

#[test]
fn a_check_that_writes_outside_the_project_or_into_home_fails_and_writes_nothing() {
    let sb = Sandbox::new();
    let home = outside_tmp();
    // A sibling of the project in the host's /tmp: the check's /tmp is its own.
    let sibling = sb.dir.path().join("outside.txt");
    let script = format!(
        "```sh t.sh\necho a > {} ; echo b > \"$HOME/pwned\" || exit 7\n```\n",
        sibling.display()
    );
    let server = ollama::fake().answering(&script);
    let r = checked(&sb, &server, "sh t.sh")
        .env("HOME", home.path())
        .code(8)
        .stderr_has("check `sh t.sh`: exit 7")
        .stderr_has("the check still fails")
        .run();
    assert!(
        r.stdout().contains("Read-only file system"),
        "{}",
        r.stdout()
    );
    assert!(!sibling.exists(), "the check wrote outside the project");
    assert!(
        !home.path().join("pwned").exists(),
        "the check wrote into HOME"
    );
    // Unsandboxed, the same script writes both: the test can fail.
    checked(&sb, &server, "sh t.sh")
        .env("HOME", home.path())
        .env("CODEX_WRAP_SANDBOX", "off")
        .run();
    assert!(sibling.exists() && home.path().join("pwned").exists());
}

#[test]
fn a_check_cannot_reach_a_loopback_listener() {
    let sb = Sandbox::new();
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    // Bash's /dev/tcp: a plain TCP connect from the check.
    let script = format!("```sh t.sh\nbash -c 'echo hi > /dev/tcp/127.0.0.1/{port}'\n```\n");
    let server = ollama::fake().answering(&script);
    // The same command outside the sandbox reaches the listener: the test can fail.
    let direct = std::process::Command::new("bash")
        .args(["-c", &format!("echo hi > /dev/tcp/127.0.0.1/{port}")])
        .status()
        .unwrap();
    assert!(direct.success());
    let first = listener.accept();
    assert!(first.is_ok(), "the listener works");
    let r = checked(&sb, &server, "sh t.sh")
        .code(8)
        .stderr_has("the check still fails")
        .stderr_has("check `sh t.sh`: exit 1")
        .run();
    assert!(r.stdout().contains("Connection refused"), "{}", r.stdout());
    assert!(
        listener.accept().is_err(),
        "the check connected to the host's loopback"
    );
}

#[test]
fn a_setsid_child_dies_at_the_deadline_and_when_the_check_exits() {
    let sb = Sandbox::new();
    // A child in a session of its own, then the check hangs past its deadline.
    let server =
        ollama::fake().answering("```sh t.sh\nsetsid sleep 1000.5151 &\nsleep 1000.5252\n```\n");
    let started = Instant::now();
    Test::new(&sb)
        .ollama(&server)
        .args([
            "--local",
            "-w",
            "--rounds",
            "1",
            "--check-timeout",
            "2",
            "--check",
            "sh t.sh",
            "x",
        ])
        .code(8)
        .stderr_has("timed out after")
        .stderr_has("the check still fails")
        .run();
    assert!(started.elapsed() < Duration::from_secs(15));
    assert_eq!(survivors("1000.5151"), Vec::<String>::new());
    assert_eq!(survivors("1000.5252"), Vec::<String>::new());
    // A check that passes at once and leaves a detached child behind: it dies too.
    let server = ollama::fake().answering("```sh u.sh\nsetsid -f sleep 1000.5353\nexit 0\n```\n");
    checked(&sb, &server, "sh u.sh").run();
    assert_eq!(survivors("1000.5353"), Vec::<String>::new());
    // Unsandboxed, a process group cannot hold it: the test can fail.
    // It says when it has left the check's process group (setsid ran before `touch`), so
    // the check's exit cannot race it while it is still in the group.
    let server = ollama::fake().answering(
        "```sh v.sh\nsetsid -f sh -c 'touch left; exec sleep 1000.5454'\nwhile [ ! -e left ]; do sleep 0.05; done\nexit 0\n```\n",
    );
    checked(&sb, &server, "sh v.sh")
        .env("CODEX_WRAP_SANDBOX", "off")
        .run();
    // The detached sleep may not have started yet when the call returns: wait for it.
    let until = Instant::now() + Duration::from_secs(5);
    let mut escaped = survivors("1000.5454");
    while escaped.is_empty() && Instant::now() < until {
        std::thread::sleep(Duration::from_millis(50));
        escaped = survivors("1000.5454");
    }
    for p in &escaped {
        let pid = p.split(':').next().unwrap().parse().unwrap();
        let _ = nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(pid),
            nix::sys::signal::Signal::SIGKILL,
        );
    }
    assert_eq!(escaped.len(), 1, "{escaped:?}");
}

#[test]
fn sandbox_bwrap_without_bwrap_is_exit_4_naming_the_package_before_any_call() {
    let sb = Sandbox::new();
    let bin = path_without_bwrap(&sb);
    std::fs::create_dir_all(sb.config_home().join("codex-wrap")).unwrap();
    std::fs::write(
        sb.config_home().join("codex-wrap/profiles.toml"),
        "[files]\nsandbox = \"bwrap\"\n",
    )
    .unwrap();
    let server = ollama::fake()
        .answering("```sh t.sh\nexit 0\n```\n")
        .expect(crate::support::Calls::Exactly(0));
    let r = checked(&sb, &server, "sh t.sh")
        .env("PATH", &bin)
        .code(4)
        .stderr_has("install the bubblewrap package")
        .run();
    assert_eq!(r.stdout(), "");
    assert!(!sb.project().join("t.sh").exists());
    // The environment says the same.
    std::fs::remove_file(sb.config_home().join("codex-wrap/profiles.toml")).unwrap();
    checked(&sb, &server, "sh t.sh")
        .env("PATH", &bin)
        .env("CODEX_WRAP_SANDBOX", "bwrap")
        .code(4)
        .stderr_has("bubblewrap")
        .run();
}

#[test]
fn auto_without_bwrap_runs_the_check_unsandboxed_with_one_line_saying_so() {
    let sb = Sandbox::new();
    let bin = path_without_bwrap(&sb);
    let server = ollama::fake().answering("```sh t.sh\necho ran > ran.txt\n```\n");
    let r = checked(&sb, &server, "sh t.sh")
        .env("PATH", &bin)
        .stderr_has("the check runs without a sandbox: bwrap is not installed (install the bubblewrap package)")
        .run();
    assert_eq!(
        r.stderr.matches("without a sandbox").count(),
        1,
        "{}",
        r.stderr
    );
    assert!(sb.project().join("ran.txt").exists());
    // `off` in the user's config: no line, no sandbox.
    let r = checked(&sb, &server, "sh t.sh")
        .env("PATH", &bin)
        .env("CODEX_WRAP_SANDBOX", "off")
        .run();
    assert!(!r.stderr.contains("sandbox"), "{}", r.stderr);
}

#[test]
fn a_project_cannot_turn_its_own_sandbox_off() {
    let sb = Sandbox::new();
    sb.write("profiles.toml", "[files]\nsandbox = \"off\"\n");
    sb.write(".env.local", "CODEX_WRAP_SANDBOX=off\n");
    let home = outside_tmp();
    let server = ollama::fake().answering("```sh t.sh\necho b > \"$HOME/pwned\"\n```\n");
    let r = checked(&sb, &server, "sh t.sh")
        .env("HOME", home.path())
        .code(8)
        .stderr_has(".env.local not read: the project is not trusted")
        .stderr_has("files.sandbox ignored: the project is not trusted")
        .stderr_has("check `sh t.sh`: exit")
        .stderr_has("the check still fails")
        .stderr_has("profiles.toml: files.sandbox ignored: the project is not trusted")
        .stderr_has(".env.local not read: the project is not trusted")
        .run();
    assert!(
        r.stdout().contains("Read-only file system"),
        "{}",
        r.stdout()
    );
    assert!(
        !home.path().join("pwned").exists(),
        "the project's `off` was obeyed"
    );
}
