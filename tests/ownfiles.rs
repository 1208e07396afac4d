//! codex-wrap's own files (the run log, `.last_sync*`) stay inside the project root: a
//! repository's settings and planted symlinks never move them outside (issue 21: M5).

use std::os::unix::fs::symlink;
use std::time::Duration;

use crate::support::{Sandbox, Test, ollama};

/// A folder beside the project that must stay empty.
fn outside(sb: &Sandbox) -> std::path::PathBuf {
    let dir = sb.dir.path().join("outside");
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn is_empty(dir: &std::path::Path) -> bool {
    std::fs::read_dir(dir).unwrap().next().is_none()
}

#[test]
fn a_projects_log_file_outside_the_root_is_refused_trusted_or_not() {
    let server = ollama::fake().answering("ok");
    let sb = Sandbox::new();
    let out = outside(&sb);
    sb.write("profiles.toml", "[log]\nfile = \"../outside/log.jsonl\"\n");
    let call = || Test::new(&sb).ollama(&server).args(["-l", "x"]);
    call()
        .stdout("ok")
        .stderr_has("log.file ignored: the project is not trusted")
        .run();
    sb.trust();
    call()
        .stdout("ok")
        .stderr_has("[log] file = \"../outside/log.jsonl\" ignored: the run log stays inside the project root")
        .run();
    assert!(is_empty(&out));
    assert!(sb.project().join("logs/codex-wrap.jsonl").is_file());

    // CODEX_LOG_FILE from a project's .env.local: not read untrusted, refused trusted.
    let sb = Sandbox::new();
    let out = outside(&sb);
    sb.write(".env.local", "CODEX_LOG_FILE=../outside/log.jsonl\n");
    let call = || Test::new(&sb).ollama(&server).args(["-l", "x"]);
    call().stdout("ok").stderr_has(".env.local not read").run();
    sb.trust();
    call()
        .stdout("ok")
        .stderr_has("CODEX_LOG_FILE=../outside/log.jsonl from .env.local ignored")
        .run();
    assert!(is_empty(&out));
}

#[test]
fn the_run_log_is_never_written_through_a_planted_symlink() {
    let server = ollama::fake().answering("ok");
    // logs -> ../outside
    let sb = Sandbox::new();
    let out = outside(&sb);
    symlink(&out, sb.project().join("logs")).unwrap();
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .stdout("ok")
        .stderr_has("is a symlink; codex-wrap does not write its files through one")
        .run();
    assert!(is_empty(&out));

    // logs/codex-wrap.jsonl -> ../../outside/target
    let sb = Sandbox::new();
    let out = outside(&sb);
    std::fs::create_dir_all(sb.project().join("logs")).unwrap();
    symlink(
        out.join("target"),
        sb.project().join("logs/codex-wrap.jsonl"),
    )
    .unwrap();
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "x"])
        .stdout("ok")
        .stderr_has("is a symlink; codex-wrap does not write its files through one")
        .run();
    assert!(is_empty(&out));
}

#[test]
fn the_syncs_own_files_are_never_written_through_a_planted_symlink() {
    // Each file refused: the lock stops the sync (1), the filter stops it before rclone
    // runs (9), the state file after it (synced, with a warning).
    for (name, code) in [
        (".last_sync.lock", 1),
        (".last_sync.tmp", 0),
        (".last_sync.filter", 9),
    ] {
        let sb = Sandbox::new();
        let out = outside(&sb);
        let remote = sb.dir.path().join("remote");
        std::fs::create_dir_all(&remote).unwrap();
        sb.write("src/main.rs", "fn main() {}\n");
        symlink(out.join("target"), sb.project().join(name)).unwrap();
        let conf = sb.dir.path().join("rclone.conf");
        std::fs::write(&conf, "").unwrap();
        Test::new(&sb)
            .env("RCLONE_CONFIG", &conf)
            .args(["sync", "--wait", "--remote"])
            .arg(&remote)
            .limit(Duration::from_secs(60))
            .code(code)
            .stderr_has(&format!(
                "{name} is a symlink; codex-wrap does not write its files through one"
            ))
            .run();
        assert!(is_empty(&out), "{name}");
    }
}
