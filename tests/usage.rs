//! What a new user types wrong, and what they are told: the project root, the deadline
//! flags, a prompt file given with words.

use serde_json::Value;

use crate::support::{Sandbox, Server, Test, ollama};

#[test]
fn a_root_that_is_not_a_folder_is_a_usage_error_and_nothing_is_created() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    let missing = sb.dir.path().join("nowhere");
    let file = sb.write("notes.txt", "x");
    for (root, why) in [(&missing, "does not exist"), (&file, "is not a folder")] {
        for args in [
            &["-l", "hi"][..],
            &["doctor"],
            &["context", "hi"],
            &["stats"],
        ] {
            let r = Test::new(&sb)
                .ollama(&server)
                .arg("--root")
                .arg(root)
                .args(args)
                .code(2)
                .stdout("")
                .stderr_has(why)
                .stderr_has("--root")
                .run();
            assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
        }
    }
    // The same from the environment is a configuration error naming the variable.
    Test::new(&sb)
        .ollama(&server)
        .env("CODEX_WRAP_ROOT", &missing)
        .args(["-l", "hi"])
        .code(3)
        .stdout("")
        .stderr_has("CODEX_WRAP_ROOT")
        .run();
    assert!(!missing.exists(), "a folder was created outside the root");
    assert_eq!(server.hits(), 0);

    // --json still gets its error object.
    let r = Test::new(&sb)
        .arg("--root")
        .arg(&missing)
        .args(["--json", "-l", "hi"])
        .code(2)
        .stderr_has("--root")
        .stderr_has("does not exist")
        .run();
    let doc: Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["exit_code"], 2);

    // An existing folder given as --root works and holds the run log.
    let other = sb.dir.path().join("other");
    std::fs::create_dir(&other).unwrap();
    Test::new(&sb)
        .ollama(&server)
        .arg("--root")
        .arg(&other)
        .args(["-l", "hi"])
        .stdout("ok")
        .run();
    assert!(other.join("logs/codex-wrap.jsonl").is_file());
}

#[test]
fn doctor_checks_that_the_run_log_can_be_written() {
    let sb = Sandbox::new();
    // Nothing listens at OLLAMA_URL: doctor exits 4 whatever the run log's row says.
    let check = |t: Test| -> Value {
        let r = t.args(["doctor", "--json"]).code(4).run();
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
    let row = check(Test::new(&sb));
    assert_eq!(row["status"], "ok", "{row}");
    assert!(!sb.project().join("logs").exists(), "doctor created logs/");

    // The log's folder is a file: no call could ever log.
    sb.write("blocked", "a file where a folder should be");
    let row = check(Test::new(&sb).env("CODEX_LOG_FILE", sb.project().join("blocked/run.jsonl")));
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
    let row = check(Test::new(&sb));
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
            Test::new(&sb)
                .args([flag, bad, "x"])
                .code(2)
                .stdout("")
                .stderr(&bad_seconds(flag, bad))
                // Never the advice to write `-- -1`, which would make it part of the prompt.
                .stderr_lacks("'-- ")
                .run();
        }
    }
    Test::new(&sb)
        .args(["warm", "--timeout", "-5"])
        .code(2)
        .stdout("")
        .stderr(&bad_seconds("--timeout", "-5"))
        .run();
}

/// clap's usage error for a duration flag given `bad`.
fn bad_seconds(flag: &str, bad: &str) -> String {
    format!(
        "error: invalid value '{bad}' for '{flag} <SECS>': '{bad}' is not accepted: give a number of seconds more than 0 and at most 86400 (e.g. 30, 2.5 or 90s)\n\nFor more information, try '--help'.\n"
    )
}

#[test]
fn a_prompt_file_with_words_is_the_material_and_the_words_the_instruction() {
    let sb = Sandbox::new();
    let server = ollama::fake().answering("ok");
    let path = sb.write("src/slug.py", "def slug(s):\n    return s\n");
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "add", "type", "hints", "-f"])
        .arg(&path)
        .stdout("ok")
        .run();
    let sent = server.requests()[0].json()["messages"][1]["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(sent.starts_with("add type hints\n\n"), "{sent}");
    assert!(sent.contains("slug.py"), "{sent}");
    assert!(sent.contains("def slug(s):\n    return s\n"), "{sent}");

    // `context` shows the same user message.
    Test::new(&sb)
        .args(["context", "--json", "-f"])
        .arg(&path)
        .args(["add", "type", "hints"])
        // The sandbox project has no context files, and `context` says so.
        .stderr_has("no CONTRACTS.md, AGENTS.md in")
        .stdout_has("add type hints")
        .stdout_has("def slug")
        .run();

    // A file holding a fence is still fenced whole.
    let md = sb.write("README.md", "# T\n```sh\nls\n```\n");
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "-f"])
        .arg(&md)
        .args(["summarise", "this"])
        .stdout("ok")
        .run();
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
    let r = Test::new(&sb)
        .ollama(&server)
        .args(["--json", "-l", "--timeout", "1", "x"])
        .code(5)
        .stderr_has("the answer did not finish in time (deadline 1s) (after 4 bytes, discarded)")
        .run();
    let doc: Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["text"], "", "{doc}");
    assert_eq!(doc["outcome"], "timeout", "{doc}");
    Test::new(&sb)
        .ollama(&server)
        .args(["-l", "--timeout", "1", "x"])
        .code(6)
        .stdout("half")
        .stderr_has("the answer did not finish in time (deadline 1s)")
        .run();

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
