//! `codex-wrap sync` with the real rclone (no mocks): a local-directory remote, and a
//! webdav remote served by `rclone serve webdav` on 127.0.0.1, configured in a temporary
//! rclone config (`RCLONE_CONFIG`) that holds canary credentials which must never show.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::{Run, Sandbox, Test};

/// The webdav password; it must never appear in anything codex-wrap prints or writes.
const CANARY_PASS: &str = "canary-pass-7Hq2";
/// A Google Drive token in the same rclone config, never used, never to be shown.
const CANARY_TOKEN: &str = "canary-token-Zx91";

/// A sandboxed project, a local remote folder and a temporary rclone config.
struct Rig {
    sb: Sandbox,
    conf: PathBuf,
    /// Extra environment for rclone (`RCLONE_BWLIMIT`, retries) and codex-wrap.
    env: Vec<(String, String)>,
}

impl Rig {
    fn new() -> Rig {
        assert!(
            Command::new("rclone").arg("version").output().is_ok(),
            "these tests need the real rclone: apt-get install rclone"
        );
        let sb = Sandbox::new();
        let conf = sb.dir.path().join("rclone.conf");
        std::fs::write(
            &conf,
            format!(
                "[gdrive]\ntype = drive\nscope = drive\ntoken = {{\"access_token\":\"{CANARY_TOKEN}\",\"token_type\":\"Bearer\",\"refresh_token\":\"{CANARY_TOKEN}\",\"expiry\":\"2026-01-01T00:00:00Z\"}}\n"
            ),
        )
        .unwrap();
        let rig = Rig {
            sb,
            conf,
            env: Vec::new(),
        };
        rig.sb.write("src/main.rs", "fn main() {}\n");
        rig.sb.write("README.md", "# app\n");
        rig
    }

    /// The local remote folder.
    fn remote(&self) -> PathBuf {
        self.sb.dir.path().join("remote")
    }

    fn remote_arg(&self) -> String {
        self.remote().display().to_string()
    }

    fn cmd(&self, args: &[&str]) -> Command {
        let mut cmd = self.sb.cmd();
        cmd.arg("sync").args(args).env("RCLONE_CONFIG", &self.conf);
        for (k, v) in &self.env {
            cmd.env(k, v);
        }
        cmd
    }

    /// `codex-wrap sync ARGS`, strict (60 s limit).
    fn sync(&self, args: &[&str]) -> Test {
        Test::command(self.cmd(args)).limit(Duration::from_secs(60))
    }

    fn last_sync(&self) -> Option<serde_json::Value> {
        let text = std::fs::read_to_string(self.sb.project().join(".last_sync")).ok()?;
        Some(serde_json::from_str(&text).expect(".last_sync is JSON"))
    }

    fn run_log(&self) -> String {
        std::fs::read_to_string(self.sb.project().join("logs/codex-wrap.jsonl")).unwrap_or_default()
    }
}

/// Files under `dir`, relative, sorted.
fn files(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                walk(base, &p, out);
            } else {
                out.push(p.strip_prefix(base).unwrap().display().to_string());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

#[track_caller]
fn assert_no_canary(what: &str, text: &str) {
    for canary in [CANARY_PASS, CANARY_TOKEN] {
        assert!(!text.contains(canary), "{what} shows a credential:\n{text}");
    }
}

#[track_caller]
fn assert_clean(rig: &Rig, r: &Run) {
    assert_no_canary("stdout", &r.stdout());
    assert_no_canary("stderr", &r.stderr);
    assert_no_canary("run log", &rig.run_log());
    assert_no_canary(
        ".last_sync",
        &rig.last_sync().map(|v| v.to_string()).unwrap_or_default(),
    );
}

#[test]
fn sync_without_a_remote_is_exit_3_naming_the_three_places() {
    let rig = Rig::new();
    rig.sync(&["--wait"])
        .code(3)
        .stdout("")
        .stderr_has("--remote")
        .stderr_has("CODEX_WRAP_SYNC_REMOTE")
        .stderr_has("[sync]")
        .run();
}

#[test]
fn sync_without_rclone_is_exit_4_saying_how_to_install_it() {
    let rig = Rig::new();
    let empty = rig.sb.dir.path().join("empty-bin");
    std::fs::create_dir_all(&empty).unwrap();
    rig.sync(&["--wait", "--remote", "gdrive:app"])
        .env("PATH", &empty)
        .code(4)
        .stdout("")
        .stderr_has("rclone is not installed")
        .stderr_has("apt-get install rclone")
        .run();
}

#[test]
fn first_sync_copies_then_nothing_then_only_the_change() {
    let rig = Rig::new();
    let remote = rig.remote_arg();
    rig.sync(&["--wait", "--remote", &remote])
        .stdout_has("2 transferred, 0 deleted")
        .stderr_has("rclone v")
        .run();
    assert_eq!(files(&rig.remote()), ["README.md", "src/main.rs"]);
    let last = rig.last_sync().expect(".last_sync written");
    assert_eq!(last["remote"], remote.as_str());
    assert_eq!(last["transferred"], 2);
    assert_eq!(last["deleted"], 0);
    assert_eq!(last["bytes"], 19);
    assert!(last["seconds"].as_f64().unwrap() > 0.0);
    assert!(last["ts"].as_str().unwrap().ends_with('Z'));

    rig.sync(&["--wait", "--remote", &remote])
        .stdout_has("0 transferred, 0 deleted")
        .run();
    assert_eq!(rig.last_sync().unwrap()["transferred"], 0);

    rig.sb
        .write("src/main.rs", "fn main() { println!(\"hi\"); }\n");
    rig.sync(&["--wait", "--remote", &remote])
        .stdout_has("1 transferred")
        .run();
    let sent = std::fs::read_to_string(rig.remote().join("src/main.rs")).unwrap();
    assert!(sent.contains("hi"));

    let log: Vec<serde_json::Value> = rig
        .run_log()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(log.len(), 3, "one run-log line per sync");
    assert!(
        log.iter()
            .all(|l| l["event"] == "sync" && l["outcome"] == "ok")
    );
    assert_eq!(log[2]["transferred"], 1);
}

#[test]
fn excluded_files_never_arrive() {
    let rig = Rig::new();
    for f in [
        ".git/config",
        "target/debug/app",
        "web/node_modules/x/index.js",
        "logs/old.log",
        ".env",
        ".env.local",
        "deploy/server.pem",
        "id.key",
        "dist/bundle.js",
        "notes.tmp",
        "keep.tmp",
        "secret/plan.txt",
        "data/big.csv",
        ".state/codex-wrap/pool.json",
        ".ENV.production",
        "ID_RSA",
        "home/.ssh/id_rsa.pub",
        ".npmrc",
        ".netrc",
        "gcp/credentials.json",
        "certs/client.P12",
    ] {
        rig.sb.write(f, "x\n");
    }
    rig.sb.write(
        ".gitignore",
        "# build output\ndist/\n*.tmp\n!keep.tmp\n/data\n",
    );
    rig.sb.user_config(
        // [sync] exclude can re-include what .gitignore leaves out, never a default.
        "[sync]\nexclude = [\"secret/\", \"!dist/\", \"!.env\", \"!*.key\"]\nafter_write = false\n",
    );
    let remote = rig.remote_arg();
    rig.sync(&["--wait", "--remote", &remote])
        .env("XDG_STATE_HOME", rig.sb.project().join(".state"))
        // The .env.local planted to be excluded is also not read, untrusted, and said so.
        .stderr_has(".env.local not read: the project is not trusted")
        .run();
    assert_eq!(
        files(&rig.remote()),
        [
            ".gitignore",
            "README.md",
            "dist/bundle.js",
            "keep.tmp",
            "src/main.rs"
        ]
    );
}

#[test]
fn dry_run_prints_what_would_change_and_changes_nothing() {
    let rig = Rig::new();
    std::fs::create_dir_all(rig.remote()).unwrap();
    std::fs::write(rig.remote().join("stale.txt"), "old").unwrap();
    rig.sync(&["--dry-run", "--remote", &rig.remote_arg()])
        .stdout_has("copy    README.md (6 B)\n")
        .stdout_has("copy    src/main.rs (13 B)\n")
        .stdout_has("delete  stale.txt\n")
        .stdout_has("would copy 2 files (19 B) and delete 1")
        .run();
    assert_eq!(files(&rig.remote()), ["stale.txt"]);
    assert_eq!(rig.last_sync(), None);
    assert_eq!(rig.run_log(), "", "a dry run is not logged");
}

#[test]
fn the_deletion_guard_stops_a_sync_that_would_delete_too_much() {
    let rig = Rig::new();
    std::fs::create_dir_all(rig.remote()).unwrap();
    for i in 0..6 {
        std::fs::write(rig.remote().join(format!("other{i}.txt")), "x").unwrap();
    }
    let before = files(&rig.remote());
    rig.sync(&["--wait", "--max-delete", "5", "--remote", &rig.remote_arg()])
        .code(9)
        .stdout("")
        .stderr_has("would delete 6 files")
        .stderr_has("--max-delete 5")
        .stderr_has("nothing was changed")
        .run();
    assert_eq!(
        files(&rig.remote()),
        before,
        "nothing deleted, nothing copied"
    );
    assert_eq!(rig.last_sync(), None);
    assert!(rig.run_log().contains("\"outcome\":\"sync_failed\""));

    rig.sync(&["--wait", "--max-delete", "6", "--remote", &rig.remote_arg()])
        .stdout_has("2 transferred, 6 deleted")
        .run();
}

/// A project with a file big enough that a bandwidth-limited sync takes a while.
fn with_big_file(rig: &mut Rig, bytes: usize, limit: &str) {
    let data: Vec<u8> = (0..bytes).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(rig.sb.project().join("big.bin"), data).unwrap();
    rig.env.push(("RCLONE_BWLIMIT".into(), limit.into()));
}

/// Waits until `cond` holds, failing after `limit`.
#[track_caller]
fn wait_for(limit: Duration, what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < limit, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

#[test]
fn the_lock_stops_a_concurrent_sync() {
    let mut rig = Rig::new();
    with_big_file(&mut rig, 400_000, "200k");
    let remote = rig.remote_arg();
    let mut first = rig
        .cmd(&["--wait", "--remote", &remote])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let lock = rig.sb.project().join(".last_sync.lock");
    wait_for(Duration::from_secs(10), "the first sync's lock", || {
        std::fs::read_to_string(&lock).is_ok_and(|t| t.trim() == first.id().to_string())
    });
    rig.sync(&["--wait", "--remote", &remote])
        .stdout("")
        .stderr_has("another sync of this project is running")
        .stderr_has(&format!("pid {}", first.id()))
        .run();
    assert!(first.wait().unwrap().success());
    assert_eq!(rig.last_sync().unwrap()["transferred"], 3);
    assert_eq!(
        rig.run_log().lines().count(),
        1,
        "the stopped sync logs nothing"
    );
}

#[test]
fn the_deadline_stops_a_slow_sync_and_keeps_last_sync() {
    let mut rig = Rig::new();
    let remote = rig.remote_arg();
    rig.sync(&["--wait", "--remote", &remote]).run();
    let before = rig.last_sync().unwrap();
    with_big_file(&mut rig, 2_000_000, "100k");
    let r = rig
        .sync(&["--wait", "--timeout", "1", "--remote", &remote])
        .code(5)
        .stderr_has("deadline")
        .stderr_has(".last_sync unchanged")
        .run();
    assert!(r.elapsed < Duration::from_secs(10), "{:?}", r.elapsed);
    assert_eq!(rig.last_sync().unwrap(), before);
}

#[test]
fn with_background_the_caller_returns_and_the_detached_sync_finishes() {
    let mut rig = Rig::new();
    with_big_file(&mut rig, 300_000, "150k");
    let remote = rig.remote_arg();
    let mut cmd = rig.cmd(&["--background", "--remote", &remote]);
    // The caller in a process group of its own, killed whole once it has returned: the
    // detached sync must not be in it.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    let started = Instant::now();
    let caller = cmd
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let caller_group = nix::unistd::Pid::from_raw(caller.id() as i32);
    let out = caller.wait_with_output().unwrap();
    let returned = started.elapsed();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(out.stdout.is_empty());
    assert!(stderr.contains("started in the background"), "{stderr}");
    assert_eq!(rig.last_sync(), None, "the caller did not wait");
    let pid: i32 = stderr
        .split("(pid ")
        .nth(1)
        .and_then(|s| s.split(',').next())
        .and_then(|s| s.parse().ok())
        .expect("pid in the message");
    let group = nix::unistd::getpgid(Some(nix::unistd::Pid::from_raw(pid))).expect("it runs");
    assert_ne!(group, caller_group);
    let _ = nix::sys::signal::killpg(caller_group, nix::sys::signal::Signal::SIGKILL);
    wait_for(Duration::from_secs(30), "the background sync", || {
        rig.last_sync().is_some()
    });
    let done = started.elapsed();
    assert!(
        returned * 3 < done,
        "caller returned after {returned:?}, the sync ended after {done:?}"
    );
    assert_eq!(rig.last_sync().unwrap()["transferred"], 3);
    let log = rig.run_log();
    assert!(log.contains("\"background\":true"), "{log}");
    assert!(log.contains("\"outcome\":\"ok\""), "{log}");
}

/// The `sync` row of `codex-wrap doctor` with this remote.
fn doctor_sync_row(rig: &Rig, remote: &str) -> String {
    // Nothing listens at OLLAMA_URL: doctor fails; its sync row is what is read.
    let out = Test::new(&rig.sb)
        .arg("doctor")
        .env("CODEX_WRAP_SYNC_REMOTE", remote)
        .code(4)
        .run()
        .stdout();
    let row = out
        .lines()
        .find(|l| l.starts_with("sync"))
        .expect("a sync row");
    row.to_owned()
}

#[test]
fn doctor_and_stats_show_the_last_sync() {
    let rig = Rig::new();
    let remote = rig.remote_arg();
    let row = doctor_sync_row(&rig, &remote);
    assert!(
        row.contains("no sync yet") && row.contains("rclone v"),
        "{row}"
    );

    rig.sync(&["--wait", "--remote", &remote]).run();
    Test::new(&rig.sb)
        .arg("stats")
        .stdout_has("last sync ok ")
        .stdout_has(&format!("ago to {remote} (2 transferred, 0 deleted)"))
        .run();

    std::fs::create_dir_all(rig.remote().join("x")).unwrap();
    for i in 0..3 {
        std::fs::write(rig.remote().join(format!("x/{i}")), "x").unwrap();
    }
    rig.sync(&["--wait", "--max-delete", "1", "--remote", &remote])
        .code(9)
        .stderr_has("the sync would delete 3 files")
        .run();
    let row = doctor_sync_row(&rig, &remote);
    assert!(row.contains("warn"), "{row}");
    assert!(row.contains("last sync sync_failed"), "{row}");
    assert!(row.contains("last success"), "{row}");
}

#[test]
fn the_command_as_typed_runs_in_the_foreground_and_exits_with_the_syncs_code() {
    let mut rig = Rig::new();
    let served = rig.sb.dir.path().join("served");
    let mut dav = Dav::start(&served);
    add_dav_remote(&rig, dav.port);
    // No flag: the sync runs now, and its summary is the answer.
    rig.sync(&["--remote", "dav:proj"])
        .stdout_has("2 transferred")
        .run();
    let before = rig.last_sync().expect("recorded");

    // The server stopped: the sync's failure is the command's exit code, not a 0 for
    // "started".
    dav.stop();
    rig.env.push(("RCLONE_RETRIES".into(), "1".into()));
    rig.env
        .push(("RCLONE_LOW_LEVEL_RETRIES".into(), "1".into()));
    rig.sb.write("README.md", "# app, changed\n");
    let r = rig
        .sync(&["--remote", "dav:proj"])
        .code(9)
        .stderr_has("rclone dry run failed")
        .run();
    assert!(
        !r.stderr.contains("started in the background"),
        "{}",
        r.stderr
    );
    assert_eq!(rig.last_sync(), Some(before));

    // --background keeps the old behaviour: 0 once started, the failure in the run log.
    rig.sync(&["--background", "--remote", "dav:proj"])
        .stderr_has("started in the background")
        .run();
    wait_for(
        Duration::from_secs(30),
        "the background sync's log line",
        || rig.run_log().contains("\"background\":true"),
    );
    assert!(rig.run_log().contains("sync_failed"), "{}", rig.run_log());
}

/// `rclone serve webdav` on 127.0.0.1 with a password; stopped on drop.
struct Dav {
    child: Child,
    port: u16,
}

impl Dav {
    fn start(dir: &Path) -> Dav {
        std::fs::create_dir_all(dir).unwrap();
        let mut child = Command::new("rclone")
            .args([
                "serve",
                "webdav",
                "--addr",
                "127.0.0.1:0",
                "--user",
                "u",
                "--pass",
            ])
            .arg(CANARY_PASS)
            .arg(dir)
            .env("RCLONE_CONFIG", "/dev/null")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("rclone serve webdav");
        let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
        let port = loop {
            let line = lines
                .next()
                .expect("rclone serve said where it listens")
                .unwrap();
            if let Some(rest) = line.split("http://127.0.0.1:").nth(1) {
                break rest.trim_end_matches('/').parse().unwrap();
            }
        };
        std::thread::spawn(move || for _ in lines {});
        Dav { child, port }
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Dav {
    fn drop(&mut self) {
        self.stop();
    }
}

/// Adds a `dav` remote (and `davbad`, with a wrong password) to the rig's rclone config.
fn add_dav_remote(rig: &Rig, port: u16) {
    let obscure = |p: &str| {
        let out = Command::new("rclone")
            .args(["obscure", p])
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    let mut conf = std::fs::read_to_string(&rig.conf).unwrap();
    for (name, pass) in [("dav", CANARY_PASS), ("davbad", "wrong-canary-pass-7Hq2")] {
        conf.push_str(&format!(
            "\n[{name}]\ntype = webdav\nurl = http://127.0.0.1:{port}/\nvendor = other\nuser = u\npass = {}\n",
            obscure(pass)
        ));
    }
    std::fs::write(&rig.conf, conf).unwrap();
}

#[test]
fn webdav_first_unchanged_changed_and_excluded_without_showing_credentials() {
    let rig = Rig::new();
    let served = rig.sb.dir.path().join("served");
    let dav = Dav::start(&served);
    add_dav_remote(&rig, dav.port);
    rig.sb.write(".env", "OPENAI_API_KEY=x\n");
    rig.sb.write("target/x", "x\n");

    let dry = rig
        .sync(&["--dry-run", "--remote", "dav:proj"])
        .stdout_has("copy    src/main.rs")
        .run();
    assert_clean(&rig, &dry);
    assert!(files(&served).is_empty());

    let first = rig
        .sync(&["--wait", "--remote", "dav:proj"])
        .stdout_has("2 transferred")
        .run();
    assert_clean(&rig, &first);
    assert_eq!(files(&served.join("proj")), ["README.md", "src/main.rs"]);

    rig.sync(&["--wait", "--remote", "dav:proj"])
        .stdout_has("0 transferred, 0 deleted")
        .run();
    rig.sb.write("README.md", "# app, changed\n");
    rig.sync(&["--wait", "--remote", "dav:proj"])
        .stdout_has("1 transferred")
        .run();
    assert_eq!(
        std::fs::read_to_string(served.join("proj/README.md")).unwrap(),
        "# app, changed\n"
    );

    // A rejected password: a clear one-line error, exit 9, still no credential shown.
    let before = rig.last_sync();
    let bad = rig
        .sync(&["--wait", "-v", "--remote", "davbad:proj"])
        .code(9)
        .stderr_has("rclone dry run failed")
        .run();
    assert_clean(&rig, &bad);
    assert_eq!(rig.last_sync(), before);
    assert_clean(&rig, &Test::new(&rig.sb).arg("stats").run());
}

#[test]
fn the_server_stopped_mid_sync_gives_a_clear_error_and_keeps_last_sync() {
    let mut rig = Rig::new();
    let served = rig.sb.dir.path().join("served");
    let mut dav = Dav::start(&served);
    add_dav_remote(&rig, dav.port);
    rig.sync(&["--wait", "--remote", "dav:proj"]).run();
    let before = rig.last_sync().expect("first sync recorded");

    with_big_file(&mut rig, 1_500_000, "300k");
    rig.env.push(("RCLONE_RETRIES".into(), "1".into()));
    rig.env
        .push(("RCLONE_LOW_LEVEL_RETRIES".into(), "1".into()));
    let child = rig
        .cmd(&["--wait", "--remote", "dav:proj"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Stopped once the upload is under way (the transfer takes about five seconds).
    let partial = served.join("proj/big.bin");
    wait_for(Duration::from_secs(20), "the upload to start", || {
        std::fs::metadata(&partial).is_ok_and(|m| m.len() > 0)
    });
    dav.stop();
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(9), "{stderr}");
    let errors: Vec<&str> = stderr.lines().filter(|l| l.contains("error:")).collect();
    assert_eq!(errors.len(), 1, "one error line:\n{stderr}");
    assert!(errors[0].contains("rclone sync failed"), "{stderr}");
    assert!(
        errors[0].contains("127.0.0.1"),
        "rclone's own reason: {stderr}"
    );
    assert!(errors[0].contains(".last_sync unchanged"), "{stderr}");
    assert_no_canary("stderr", &stderr);
    assert_eq!(rig.last_sync().unwrap(), before);
}

/// The .gitignore mapping against git itself: the files a dry run would copy are exactly
/// the files `git ls-files --others --exclude-standard` does not ignore.
#[test]
fn gitignore_mapping_agrees_with_git() {
    let rig = Rig::new();
    let p = rig.sb.project();
    std::fs::remove_dir_all(p.join(".git")).unwrap();
    let git = |args: &[&str]| {
        let out = Command::new("git")
            .args(args)
            .current_dir(&p)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .env("HOME", rig.sb.dir.path().join("home"))
            .output()
            .expect("these tests need git");
        assert!(out.status.success(), "git {args:?}");
        String::from_utf8(out.stdout).unwrap()
    };
    git(&["init", "-q"]);
    rig.sb.write(
        ".gitignore",
        "# comment\n*.log\n!important.log\nbuild/\n/root-only.txt\ndocs/generated\n**/cache\na/**/deep.txt\n[!x]y.txt\nweird\\ name \nspace\\ \n\\#hash\n",
    );
    for f in [
        "app.log",
        "sub/app.log",
        "important.log",
        "build/out.o",
        "sub/build/out.o",
        "build.rs",
        "root-only.txt",
        "sub/root-only.txt",
        "docs/generated/index.html",
        "docs/guide.md",
        "sub/docs/generated/x",
        "cache/c1",
        "sub/cache/c2",
        "a/deep.txt",
        "a/b/c/deep.txt",
        "b/a/deep.txt",
        "ay.txt",
        "xy.txt",
        "weird name",
        "space ",
        "#hash",
        "{braces}.txt",
    ] {
        rig.sb.write(f, "x\n");
    }
    let mut want: Vec<String> = git(&["ls-files", "--others", "--exclude-standard"])
        .lines()
        .map(|l| l.trim_matches('"').to_owned())
        .collect();
    want.sort();
    let r = rig
        .sync(&["--dry-run", "--remote", &rig.remote_arg()])
        .run();
    let mut got: Vec<String> = r
        .stdout()
        .lines()
        .filter_map(|l| l.strip_prefix("copy    "))
        .map(|l| l.rsplit_once(" (").map_or(l, |(path, _)| path).to_owned())
        .collect();
    got.sort();
    assert_eq!(got, want);
}
