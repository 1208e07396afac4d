//! What a new user types wrong, and what they are told: the project root, the deadline
//! flags, a prompt file given with words.

use serde_json::Value;

use crate::support::{Sandbox, Server, ollama, run};

fn ok_server() -> Server {
    Server::start(|_, _, conn| ollama::stream(conn, &["ok"]))
}

#[test]
fn a_root_that_is_not_a_folder_is_a_usage_error_and_nothing_is_created() {
    let sb = Sandbox::new();
    let server = ok_server();
    let missing = sb.dir.path().join("nowhere");
    let file = sb.write("notes.txt", "x");
    for (root, why) in [(&missing, "does not exist"), (&file, "is not a folder")] {
        for args in [
            &["-l", "hi"][..],
            &["doctor"],
            &["context", "hi"],
            &["stats"],
        ] {
            let mut cmd = sb.cmd();
            cmd.env("OLLAMA_URL", server.url())
                .arg("--root")
                .arg(root)
                .args(args);
            let r = run(cmd);
            r.assert_code(2).assert_stdout("").assert_stderr_has(why);
            assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
            assert!(r.stderr.contains("--root"), "{}", r.stderr);
        }
    }
    // The same from the environment is a configuration error naming the variable.
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .env("CODEX_WRAP_ROOT", &missing)
        .args(["-l", "hi"]);
    run(cmd).assert_code(3).assert_stderr_has("CODEX_WRAP_ROOT");
    assert!(!missing.exists(), "a folder was created outside the root");
    assert_eq!(server.hits(), 0);

    // --json still gets its error object.
    let mut cmd = sb.cmd();
    cmd.arg("--root").arg(&missing).args(["--json", "-l", "hi"]);
    let r = run(cmd);
    r.assert_code(2);
    let doc: Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["exit_code"], 2);

    // An existing folder given as --root works and holds the run log.
    let other = sb.dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .arg("--root")
        .arg(&other)
        .args(["-l", "hi"]);
    run(cmd).assert_code(0).assert_stdout("ok");
    assert!(other.join("logs/codex-wrap.jsonl").is_file());
}

#[test]
fn doctor_checks_that_the_run_log_can_be_written() {
    let sb = Sandbox::new();
    let check = |cmd: std::process::Command| -> Value {
        let r = run(cmd);
        let doc: Value = serde_json::from_str(&r.stdout()).unwrap();
        doc["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["check"] == "run log")
            .cloned()
            .unwrap()
    };
    // Fresh project: the log folder does not exist yet but can be made.
    let mut cmd = sb.cmd();
    cmd.args(["doctor", "--json"]);
    let row = check(cmd);
    assert_eq!(row["status"], "ok", "{row}");
    assert!(!sb.project().join("logs").exists(), "doctor created logs/");

    // The log's folder is a file: no call could ever log.
    sb.write("blocked", "a file where a folder should be");
    let mut cmd = sb.cmd();
    cmd.env("CODEX_LOG_FILE", sb.project().join("blocked/run.jsonl"))
        .args(["doctor", "--json"]);
    let row = check(cmd);
    assert_eq!(row["status"], "warn", "{row}");
    assert!(
        row["detail"]
            .as_str()
            .unwrap()
            .contains("cannot be written"),
        "{row}"
    );

    // The log itself is a folder.
    std::fs::create_dir_all(sb.project().join("logs/codex-wrap.jsonl")).unwrap();
    let mut cmd = sb.cmd();
    cmd.args(["doctor", "--json"]);
    let row = check(cmd);
    assert_eq!(row["status"], "warn", "{row}");
}

#[test]
fn a_bad_timeout_says_what_is_accepted() {
    let sb = Sandbox::new();
    for flag in [
        "--timeout",
        "--connect-timeout",
        "--idle-timeout",
        "--first-byte-timeout",
    ] {
        for bad in ["-1", "0", "abc", "100000"] {
            let mut cmd = sb.cmd();
            cmd.args([flag, bad, "x"]);
            let r = run(cmd);
            r.assert_code(2)
                .assert_stdout("")
                .assert_stderr_has(&format!("'{bad}'"))
                .assert_stderr_has("more than 0 and at most 86400");
            // Never the advice to write `-- -1`, which would make it part of the prompt.
            assert!(!r.stderr.contains("'-- "), "{flag} {bad}: {}", r.stderr);
        }
    }
    let mut cmd = sb.cmd();
    cmd.args(["warm", "--timeout", "-5"]);
    run(cmd)
        .assert_code(2)
        .assert_stderr_has("more than 0 and at most 86400");
}

#[test]
fn a_prompt_file_with_words_is_the_material_and_the_words_the_instruction() {
    let sb = Sandbox::new();
    let server = ok_server();
    let path = sb.write("src/slug.py", "def slug(s):\n    return s\n");
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .args(["-l", "add", "type", "hints", "-f"])
        .arg(&path);
    run(cmd).assert_code(0).assert_stdout("ok");
    let sent = server.requests()[0].json()["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sent.starts_with("add type hints\n\n"), "{sent}");
    assert!(sent.contains("slug.py"), "{sent}");
    assert!(sent.contains("def slug(s):\n    return s\n"), "{sent}");

    // `context` shows the same user message.
    let mut cmd = sb.cmd();
    cmd.args(["context", "--json", "-f"])
        .arg(&path)
        .args(["add", "type", "hints"]);
    let r = run(cmd);
    r.assert_code(0).assert_stdout_has("add type hints");
    assert!(r.stdout().contains("def slug"), "{}", r.stdout());

    // A file holding a fence is still fenced whole.
    let md = sb.write("README.md", "# T\n```sh\nls\n```\n");
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .args(["-l", "-f"])
        .arg(&md)
        .args(["summarise", "this"]);
    run(cmd).assert_code(0);
    let sent = server.requests()[1].json()["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(
        sent.starts_with("summarise this\n\nREADME.md:\n````\n"),
        "{sent}"
    );
    assert!(sent.ends_with("\n````"), "{sent}");
}

#[test]
fn a_deadline_after_text_is_5_with_json_and_6_without_as_the_readme_says() {
    let sb = Sandbox::new();
    let server = Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(ollama::token_line(ollama::MODEL, "half").as_bytes());
        std::thread::sleep(std::time::Duration::from_secs(4));
    });
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .args(["--json", "-l", "--timeout", "1", "x"]);
    let r = run(cmd);
    r.assert_code(5);
    let doc: Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["text"], "", "{doc}");
    assert_eq!(doc["outcome"], "timeout", "{doc}");
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", server.url())
        .args(["-l", "--timeout", "1", "x"]);
    run(cmd).assert_code(6).assert_stdout("half");

    // docs/usage.md says so plainly, in the --json paragraph.
    let readme = include_str!("../docs/usage.md");
    let json = &readme[readme
        .find("On failure: `\"ok\":false`")
        .expect("--json paragraph")..];
    let json = &json[..json.find("\n\n").unwrap()];
    let said = json.split_whitespace().collect::<Vec<_>>().join(" ");
    assert!(
        said.contains("a deadline after some text is exit 5 (`timeout`) with `--json` and exit 6 (`interrupted`) without"),
        "{said}"
    );
}
