//! `--write`: the answer's files land on disk through the real binary, checked and repaired,
//! against scripted in-process servers. Nothing the model says may write outside the root
//! or run a command.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use crate::support::{Backends, Calls, Sandbox, Server, Test, ollama, survivors};

/// An Ollama server that gives these answers in turn (the last one again after that).
fn answers(list: &[&str]) -> Server {
    let list: Vec<String> = list.iter().map(|s| (*s).to_owned()).collect();
    Server::start(move |i, _, conn| {
        let text = &list[i.min(list.len() - 1)];
        ollama::stream(conn, &[text.as_str()]);
    })
}

/// A check that passes once app.py says good, and prints an assertion error until then.
const WANT_GOOD: &str = "grep -q good app.py || { echo 'AssertionError: wanted good'; exit 3; }";

/// A run of the binary with the local route on `server`.
fn on(sb: &Sandbox, server: &Server) -> Test {
    Test::new(sb).ollama(server)
}

/// The user message and system prompt of request `n`.
fn sent(server: &Server, n: usize) -> (String, String) {
    let body = server.requests()[n].json();
    let messages = body["messages"].as_array().unwrap();
    let find = |role: &str| {
        messages
            .iter()
            .find(|m| m["role"] == role)
            .map(|m| m["content"].as_str().unwrap().to_owned())
            .unwrap_or_default()
    };
    (find("user"), find("system"))
}

fn read(sb: &Sandbox, rel: &str) -> String {
    std::fs::read_to_string(sb.project().join(rel)).unwrap()
}

/// No temp file of the writer is left anywhere under `dir`.
fn no_temp_files(dir: &Path) {
    for entry in walk(dir) {
        let name = entry.file_name().unwrap().to_string_lossy().into_owned();
        assert!(
            !name.starts_with(".codex-wrap-"),
            "temp file left: {entry:?}"
        );
    }
}

fn walk(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    if let Ok(entries) = std::fs::read_dir(dir) {
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() && !p.is_symlink() {
                out.extend(walk(&p));
            }
            out.push(p);
        }
    }
    out
}

const EVERY_FORMAT: &str = "Here are the files.\n\n\
```python app/main.py\nprint('main')\n```\n\n\
```app/util.py\nX = 1\n```\n\n\
File: app/cfg.toml\n```toml\na = 1\n```\n\n\
### docs/guide.md\n```markdown\n# Guide\n```\n\n\
**web/index.js**\n```js\nconsole.log(1)\n```\n\n\
```rust\n// src/lib.rs\npub fn f() {}\n```\n\n\
```sh\n# bin/run.sh\necho run\n```\n\n\
Run it with:\n```bash\npython app/main.py\n```\n";

#[test]
fn every_block_format_is_written_and_stdout_is_the_summary() {
    let sb = Sandbox::new();
    let server = answers(&[EVERY_FORMAT]).expect(Calls::Exactly(1));
    let r = on(&sb, &server)
        .args(["--local", "-w", "write the app"])
        .run();
    assert_eq!(
        r.stdout(),
        "created app/main.py (1 line)\ncreated app/util.py (1 line)\ncreated app/cfg.toml (1 line)\n\
         created docs/guide.md (1 line)\ncreated web/index.js (1 line)\ncreated src/lib.rs (1 line)\n\
         created bin/run.sh (1 line)\n\
         not written: block at line 37 (bash, 1 line): no path: name the file in the fence info, \
         on the line before, or in a first-line comment\n"
    );
    assert_eq!(read(&sb, "app/main.py"), "print('main')\n");
    assert_eq!(read(&sb, "app/cfg.toml"), "a = 1\n");
    assert_eq!(read(&sb, "src/lib.rs"), "pub fn f() {}\n");
    assert_eq!(read(&sb, "bin/run.sh"), "echo run\n");
    let (_, system) = sent(&server, 0);
    assert!(
        system.contains("fenced code block whose info string"),
        "{system}"
    );
    // Nothing from the answer was run.
    assert!(!sb.project().join("__ran").exists());
}

#[test]
fn an_input_is_sent_with_its_path_and_a_lone_block_is_merged_into_it_others_are_never_clobbered() {
    let sb = Sandbox::new();
    sb.write("src/lib.rs", "pub fn old() {}\n");
    sb.write("src/other.rs", "keep me\n");
    let server = answers(&[
        "Done.\n```rust\npub fn slugify() {}\n```\n",
        "```rust src/other.rs\nclobbered\n```\n",
    ]);
    on(&sb, &server)
        .args([
            "--local",
            "-w",
            "-i",
            "src/lib.rs",
            "add a slugify function",
        ])
        .stdout("updated src/lib.rs (3 lines)\n")
        .run();
    // The answer defines one new function: merged by symbol, the old one stays.
    assert_eq!(
        read(&sb, "src/lib.rs"),
        "pub fn slugify() {}\n\npub fn old() {}\n"
    );
    let (_, system) = sent(&server, 0);
    assert!(
        system.contains("```src/lib.rs\npub fn old() {}\n```"),
        "{system}"
    );
    // A file not given with -i is reported, never changed.
    on(&sb, &server)
        .args(["--local", "-w", "change other"])
        .stdout("skipped src/other.rs (exists; use --force)\n")
        .run();
    assert_eq!(read(&sb, "src/other.rs"), "keep me\n");
    // A glob sends every match; --show prints the answer before the summary.
    let r = on(&sb, &server)
        .args(["--local", "-w", "--show", "-i", "src/*.rs", "x"])
        .run();
    assert_eq!(
        r.stdout(),
        "```rust src/other.rs\nclobbered\n```\nupdated src/other.rs (1 line)\n"
    );
    let (_, system) = sent(&server, 2);
    assert!(
        system.contains("<context source=\"src/lib.rs\">"),
        "{system}"
    );
    assert!(system.contains("```src/other.rs\nkeep me\n```"), "{system}");
    std::fs::write(sb.project().join("src/other.rs"), "keep me\n").unwrap();
    // --force replaces it.
    on(&sb, &server)
        .args(["--local", "-w", "--force", "change other"])
        .stdout("updated src/other.rs (1 line)\n")
        .run();
    assert_eq!(read(&sb, "src/other.rs"), "clobbered\n");
}

#[test]
fn inputs_outside_the_root_or_over_the_budget_are_usage_errors_and_nothing_is_sent() {
    let sb = Sandbox::new();
    let server = answers(&["x"]).expect(Calls::Never);
    std::fs::write(sb.dir.path().join("outside.rs"), "secret\n").unwrap();
    on(&sb, &server)
        .args(["--local", "-w", "-i", "../outside.rs", "x"])
        .code(2)
        .stderr_has("is outside the project root")
        .run();
    sb.write("big.txt", &"word ".repeat(40_000));
    on(&sb, &server)
        .args(["--local", "-w", "-i", "big.txt", "x"])
        .code(2)
        .stderr_has("input big.txt needs about")
        .run();
    std::fs::create_dir_all(sb.project().join("src")).unwrap();
    let r = on(&sb, &server)
        .args(["--local", "-w", "-i", "src", "x"])
        .code(2)
        .stderr_has("input src")
        .run();
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn hostile_paths_write_nothing_outside_the_root() {
    let sb = Sandbox::new();
    let outside = sb.dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    std::os::unix::fs::symlink(&outside, sb.project().join("link")).unwrap();
    sb.write(".git/config", "[core]\n");
    let answer = format!(
        "```sh {abs}/abs.sh\necho pwned\n```\n\
         ```sh ../../escape.sh\necho pwned\n```\n\
         ```sh link/through.sh\necho pwned\n```\n\
         ```ini .git/config\n[core]\nhooksPath = /tmp\n```\n\
         ```txt a\\nb.txt\nnewline\n```\n\
         ```python ok.py\nprint(1)\n```\n",
        abs = outside.display()
    );
    let server = answers(&[&answer]);
    let r = on(&sb, &server).args(["--local", "-w", "x"]).run();
    let out = r.stdout();
    assert!(out.contains("created ok.py (1 line)"), "{out}");
    assert_eq!(out.matches("rejected ").count(), 4, "{out}");
    assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
    assert!(!sb.dir.path().join("escape.sh").exists());
    assert!(!sb.dir.path().parent().unwrap().join("escape.sh").exists());
    assert_eq!(read(&sb, ".git/config"), "[core]\n");
    // A path with a NUL: JSON carries it, the writer refuses it.
    let server = answers(&["```txt a\u{0}b.txt\nnul\n```\n"]);
    let r = on(&sb, &server).args(["--local", "-w", "x"]).run();
    assert!(!r.stdout().starts_with("created"), "{}", r.stdout());
    no_temp_files(sb.dir.path());
}

#[test]
fn too_many_files_or_a_huge_file_write_nothing_and_exit_10_with_one_line() {
    let sb = Sandbox::new();
    let many: String = (0..10_000)
        .map(|i| format!("```t{i}.txt\nx\n```\n"))
        .collect();
    let server = answers(&[&many]);
    let r = on(&sb, &server)
        .args(["--local", "-w", "x"])
        .code(10)
        .stderr_has("nothing written")
        .run();
    assert_eq!(r.stdout(), "");
    assert!(!sb.project().join("t0.txt").exists());
    let huge = format!(
        "```big.txt\n{}\n```\n```small.txt\nok\n```\n",
        "y".repeat(50 << 20)
    );
    let server = answers(&[&huge]);
    let r = on(&sb, &server)
        .args(["--local", "-w", "x"])
        .code(10)
        .stderr_has("nothing written")
        .run();
    assert_eq!(r.stderr.lines().filter(|l| l.contains("error")).count(), 1);
    assert!(!sb.project().join("big.txt").exists());
}

#[test]
fn dry_run_shows_the_diff_and_writes_nothing_and_json_has_files_and_rounds() {
    let sb = Sandbox::new();
    sb.write("lib.py", "old\n");
    let server = answers(&["```python lib.py\nnew\n```\n```python app.py\nprint(1)\n```\n"]);
    let r = on(&sb, &server)
        .args(["--local", "-w", "--dry-run", "-i", "lib.py", "x"])
        .run();
    let out = r.stdout();
    assert!(
        out.contains("--- a/lib.py\n+++ b/lib.py\n@@ -1 +1 @@\n-old\n+new\n"),
        "{out}"
    );
    assert!(out.contains("--- /dev/null\n+++ b/app.py\n"), "{out}");
    assert!(
        out.ends_with("would update lib.py (1 line)\nwould create app.py (1 line)\n"),
        "{out}"
    );
    assert_eq!(read(&sb, "lib.py"), "old\n");
    assert!(!sb.project().join("app.py").exists());

    let r = on(&sb, &server)
        .args(["--local", "-w", "--json", "-i", "lib.py", "x"])
        .run();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["ok"], true);
    assert_eq!(doc["files"][0]["path"], "lib.py");
    assert_eq!(doc["files"][0]["action"], "updated");
    assert_eq!(doc["files"][0]["bytes"], 4);
    assert_eq!(doc["files"][0]["lines"], 1);
    assert_eq!(doc["files"][1]["action"], "created");
    assert_eq!(doc["files"][1]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(doc["rounds"][0]["round"], 1);
    assert_eq!(doc["rounds"][0]["files_changed"], 2);
    assert!(doc["rounds"][0]["check_exit"].is_null());
    assert!(doc["rounds"][0]["seconds"].as_f64().is_some());
    let log = read(&sb, "logs/codex-wrap.jsonl");
    assert!(
        log.contains("\"rounds\":[{\"round\":1,\"files_changed\":2"),
        "{log}"
    );
}

#[test]
fn a_failing_check_sends_its_output_and_the_current_files_and_passes_on_round_2() {
    let sb = Sandbox::new();
    let server = answers(&[
        "```python app.py\nVALUE = 'bad'\n```\n",
        "```python app.py\nVALUE = 'good'\n```\n",
    ])
    .expect(Calls::Exactly(2));
    let r = on(&sb, &server)
        .args(["--local", "-w", "--check", WANT_GOOD, "make VALUE good"])
        .stderr_has("round 1/3: check")
        .stderr_has("round 2/3: check")
        .run();
    let out = r.stdout();
    assert!(
        out.starts_with("created app.py (1 line)\ncheck passed: grep"),
        "{out}"
    );
    assert!(out.contains("(round 2,"), "{out}");
    assert_eq!(read(&sb, "app.py"), "VALUE = 'good'\n");
    let (repair, _) = sent(&server, 1);
    assert!(repair.contains("AssertionError: wanted good"), "{repair}");
    assert!(repair.contains("```app.py\nVALUE = 'bad'\n```"), "{repair}");
    assert!(repair.contains("make VALUE good"), "{repair}");
    assert!(repair.contains("exit 3"), "{repair}");
}

#[test]
fn with_repair_resample_a_failing_round_asks_the_task_again_sampled_anew() {
    let sb = Sandbox::new();
    sb.write(
        "profiles.toml",
        "[profiles.code]\noptions = { temperature = 0, seed = 7 }\n[files]\nrepair = \"resample\"\n",
    );
    sb.write("app.py", "VALUE = None\n");
    // The task, on `server`, with `flags` before the check.
    let make_good = |server: &Server, flags: &[&str]| {
        on(&sb, server)
            .args(["--local", "-w", "-i", "app.py"])
            .args(flags)
            .args(["--check", WANT_GOOD, "make VALUE good"])
    };
    let server = answers(&[
        "```python app.py\nVALUE = 'bad'\n```\n",
        "```python app.py\nVALUE = 'worse'\n```\n",
        "```python app.py\nVALUE = 'good'\n```\n",
    ])
    .expect(Calls::Exactly(3));
    let r = make_good(&server, &["--json"])
        .stderr_has("round 2/3: check")
        .stderr_has("round 3/3: check `grep")
        .run();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["exit_code"], 0);
    assert_eq!(read(&sb, "app.py"), "VALUE = 'good'\n");
    // Rounds 2 and 3 send round 1's messages (the input as it was, no check output), at
    // temperature 0.4 and the next seeds.
    let requests = server.requests();
    let first = requests[0].json();
    assert_eq!(first["options"]["temperature"], 0);
    assert_eq!(first["options"]["seed"], 7);
    for (n, seed) in [(1, 8), (2, 9)] {
        let body = requests[n].json();
        assert_eq!(body["messages"], first["messages"], "round {}", n + 1);
        assert_eq!(body["options"]["temperature"], 0.4);
        assert_eq!(body["options"]["seed"], seed);
    }
    assert!(!sent(&server, 1).0.contains("AssertionError"));
    assert!(sent(&server, 1).1.contains("VALUE = None"));
    // --repair feedback on the command line wins over the file: round 2 is the repair
    // request again, with round 1's sampling.
    sb.write("app.py", "VALUE = None\n");
    let server = answers(&[
        "```python app.py\nVALUE = 'bad'\n```\n",
        "```python app.py\nVALUE = 'good'\n```\n",
    ])
    .expect(Calls::Exactly(2));
    make_good(&server, &["--repair", "feedback"])
        .stderr_has("round 2/3: check")
        .run();
    assert!(sent(&server, 1).0.contains("AssertionError: wanted good"));
    assert_eq!(server.requests()[1].json()["options"]["temperature"], 0);
    // An input changed by edit blocks gets the feedback (the file as it is now): edit blocks
    // written against the input as it was would not match after a round changed it.
    sb.write(
        "profiles.toml",
        "[files]\nrepair = \"resample\"\nedit_blocks_above = 2\n",
    );
    sb.write("app.py", "A = 1\nB = 2\nVALUE = None\n");
    let block = |from: &str, to: &str| {
        format!(
            "app.py\n```python\n<<<<<<< SEARCH\nVALUE = {from}\n=======\nVALUE = {to}\n>>>>>>> REPLACE\n```\n"
        )
    };
    let (bad, good) = (block("None", "'bad'"), block("'bad'", "'good'"));
    let server = answers(&[bad.as_str(), good.as_str()]);
    make_good(&server, &[]).stderr_has("round 2/3: check").run();
    assert!(sent(&server, 1).0.contains("AssertionError: wanted good"));
    // A name it does not know is a usage error (clap) or a configuration error (the file).
    Test::new(&sb)
        .args(["-w", "--check", "true", "--repair", "retry", "x"])
        .code(2)
        .stderr(
            "error: invalid value 'retry' for '--repair <HOW>': one of feedback or resample\n\n\
             For more information, try '--help'.\n",
        )
        .run();
    sb.write("profiles.toml", "[files]\nrepair = \"retry\"\n");
    Test::new(&sb)
        .args(["--dry-run", "x"])
        .code(3)
        .stderr_has("[files] repair = 'retry': feedback or resample")
        .run();
}

#[test]
fn a_check_that_never_passes_ends_with_exit_8_after_the_rounds() {
    let sb = Sandbox::new();
    // Two rounds, then one, then one with --keep-failed.
    let server = answers(&["```python app.py\nx = 1\n```\n"]).expect(Calls::Exactly(4));
    let r = on(&sb, &server)
        .args([
            "--local",
            "-w",
            "--rounds",
            "2",
            "--json",
            "--check",
            "echo nope; exit 1",
            "x",
        ])
        .code(8)
        .stderr_has("round 1/2")
        .stderr_has("round 2/2")
        .stderr_has("the check still fails after 2 rounds")
        .run();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["exit_code"], 8);
    assert_eq!(doc["outcome"], "check_failed");
    assert_eq!(doc["rounds"].as_array().unwrap().len(), 2);
    assert_eq!(doc["rounds"][1]["check_exit"], 1);
    assert_eq!(doc["check"]["tail"], "nope\n");
    // What the task created is removed again; the attempt is kept aside.
    assert!(!sb.project().join("app.py").exists());
    assert_eq!(doc["restored"][0]["outcome"], "removed");
    let patch = doc["failed_patch"].as_str().unwrap();
    assert!(
        std::fs::read_to_string(patch)
            .unwrap()
            .contains("+++ b/app.py\n@@ -0,0 +1 @@\n+x = 1\n")
    );
    // The text summary says so too.
    let r = on(&sb, &server)
        .args([
            "--local",
            "-w",
            "--rounds",
            "1",
            "--check",
            "echo nope; exit 1",
            "x",
        ])
        .code(8)
        .stderr_has("round 1/1")
        .stderr_has("the check still fails after 1 round")
        .run();
    assert!(r.stdout().contains("check failed: echo nope; exit 1 (exit 1) after 1 round; what the task wrote is put back\n  | nope\nput back app.py (removed)\nthe failed attempt is kept in "), "{}", r.stdout());
    // --keep-failed leaves the files as the last round wrote them.
    let r = on(&sb, &server)
        .args([
            "--local",
            "-w",
            "--keep-failed",
            "--rounds",
            "1",
            "--check",
            "echo nope; exit 1",
            "x",
        ])
        .code(8)
        .stderr_has("the check still fails")
        .run();
    assert!(
        r.stdout()
            .contains("the files are left as the last round wrote them"),
        "{}",
        r.stdout()
    );
    assert_eq!(read(&sb, "app.py"), "x = 1\n");
}

#[test]
fn a_task_that_still_fails_leaves_the_input_byte_for_byte_and_keeps_the_attempt_aside() {
    let sb = Sandbox::new();
    let before = "import math\r\n\ndef helper(x):\n    return math.sqrt(x)\n\n\ndef target(x):\n    raise NotImplementedError\n";
    sb.write("solution.py", before);
    let path = sb.project().join("solution.py");
    std::fs::set_permissions(&path, std::os::unix::fs::PermissionsExt::from_mode(0o640)).unwrap();
    // The answer is target() alone; the check keeps failing.
    let server = answers(&["```python\ndef target(x):\n    return helper(x) + 1\n```\n"]);
    let r = on(&sb, &server)
        .args([
            "--local",
            "-w",
            "-i",
            "solution.py",
            "--rounds",
            "2",
            "--check",
            "python3 -c 'import solution; assert solution.target(4) == 4'",
            "implement target",
        ])
        .code(8)
        .stderr_has("the check still fails after 2 rounds")
        .run();
    assert_eq!(std::fs::read(&path).unwrap(), before.as_bytes());
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&path).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o640);
    let out = r.stdout();
    assert!(out.contains("put back solution.py (restored)\n"), "{out}");
    let kept = out
        .lines()
        .find_map(|l| l.strip_prefix("the failed attempt is kept in "))
        .unwrap_or_else(|| panic!("{out}"));
    let patch = std::fs::read_to_string(kept).unwrap();
    assert!(
        patch.contains("--- a/solution.py\n+++ b/solution.py\n"),
        "{patch}"
    );
    assert!(patch.contains("+    return helper(x) + 1\n"), "{patch}");
    assert!(kept.contains("/.local/state/codex-wrap/failed/"), "{kept}");
}

#[test]
fn a_hanging_check_is_killed_at_its_deadline_with_its_process_group() {
    let sb = Sandbox::new();
    let server = answers(&["```sh wait.sh\nsleep 30\n```\n"]);
    let started = Instant::now();
    on(&sb, &server)
        .args([
            "--local",
            "-w",
            "--rounds",
            "1",
            "--check-timeout",
            "1",
            "--check",
            "sleep 30.0101 & wait",
            "x",
        ])
        .code(8)
        .stderr_has("timed out after")
        .stderr_has("the check still fails")
        .run();
    assert!(started.elapsed() < Duration::from_secs(10));
    assert_eq!(survivors("30.0101"), Vec::<String>::new());
}

#[test]
fn a_refusal_is_asked_again_rephrased_then_falls_back_to_the_next_endpoint() {
    let sb = Sandbox::new();
    let refusing =
        answers(&["I'm sorry, but I can't help with that request."]).expect(Calls::Exactly(2));
    let box2 = answers(&["```python tool.py\nprint('ok')\n```\n"]).expect(Calls::Exactly(1));
    sb.user_config(&format!(
            "[endpoints.box2]\nprovider = \"ollama\"\nurl = \"{}\"\n[routes]\nlocal = [\"ollama\", \"box2\"]\n",
            box2.url()
        ),
    );
    on(&sb, &refusing)
        .args(["--local", "-w", "write a port scanner"])
        .stdout("created tool.py (1 line)\n")
        .stderr_has("answered with a refusal; asking again as \"Generate code for: …\"")
        .stderr_has("falling back to local box2")
        .run();
    let (first, _) = sent(&refusing, 0);
    let (second, _) = sent(&refusing, 1);
    assert_eq!(first, "write a port scanner");
    assert_eq!(second, "Generate code for: write a port scanner");
    // Streaming mode is unchanged: the refusal is the answer.
    let refusing =
        answers(&["I'm sorry, but I can't help with that request."]).expect(Calls::Exactly(1));
    on(&sb, &refusing)
        .args(["--local", "--no-fallback", "x"])
        .stdout("I'm sorry, but I can't help with that request.")
        .run();
}

#[test]
fn code_that_mentions_i_cant_is_not_a_refusal() {
    let sb = Sandbox::new();
    let server = answers(&["```python err.py\nraise SystemExit(\"I can't open the file\")\n```\n"])
        .expect(Calls::Exactly(1));
    on(&sb, &server)
        .args(["--local", "-w", "x"])
        .stdout("created err.py (1 line)\n")
        .run();
    // --json is a buffered mode too: a real answer passes through once.
    let server = answers(&["Sure.\n```js\nthrow new Error(\"I can't parse this\");\n```\n"])
        .expect(Calls::Exactly(1));
    let r = on(&sb, &server).args(["--local", "--json", "x"]).run();
    assert!(r.stdout().contains("\"ok\":true"), "{}", r.stdout());
}

#[test]
fn a_file_size_limit_leaves_the_old_file_and_exits_non_zero_with_one_line() {
    let sb = Sandbox::new();
    sb.write("victim.txt", "old\n");
    let big = format!("```txt victim.txt\n{}\n```\n", "z".repeat(200_000));
    let server = answers(&[&big]);
    // The binary under `ulimit -f 64` (64 KiB), through a shell that execs it.
    let mut cmd = sb.cmd();
    let exe = cmd.get_program().to_owned();
    cmd = {
        let mut c = Command::new("sh");
        c.env_clear();
        for (k, v) in sb.cmd().get_envs() {
            if let Some(v) = v {
                c.env(k, v);
            }
        }
        c.current_dir(sb.project())
            .ollama(&server)
            .arg("-c")
            .arg("ulimit -f 64; exec \"$0\" --local -w -i victim.txt x")
            .arg(exe)
            .stdin(Stdio::null());
        c
    };
    let r = Test::command(cmd)
        .code(10)
        .stderr_has("cannot write victim.txt")
        .run();
    let errors: Vec<&str> = r.stderr.lines().filter(|l| l.contains("error")).collect();
    assert_eq!(errors.len(), 1, "{}", r.stderr);
    assert!(
        errors[0].contains("cannot write victim.txt"),
        "{}",
        r.stderr
    );
    assert_eq!(read(&sb, "victim.txt"), "old\n");
    no_temp_files(&sb.project());
}

#[test]
fn ctrl_c_while_the_answer_streams_writes_nothing_and_during_the_check_kills_it() {
    let sb = Sandbox::new();
    // The answer stops half way and the server holds the stream open.
    let server = Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(ollama::token_line(ollama::MODEL, "```python half.py\nprint(1)\n").as_bytes());
        std::thread::sleep(Duration::from_secs(20));
    });
    let mut cmd = sb.cmd();
    cmd.ollama(&server)
        .args(["--local", "-w", "x"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_millis(700));
    let out = interrupted(child);
    assert!(out.stdout.is_empty());
    assert!(!sb.project().join("half.py").exists());
    no_temp_files(&sb.project());

    // Ctrl-C during the check: the written file stays whole, the check's group dies.
    let server = answers(&["```python app.py\nprint(2)\n```\n"]);
    let mut cmd = sb.cmd();
    cmd.ollama(&server)
        .args([
            "--local",
            "-w",
            "--check",
            "sleep 30.0202 & echo $! > bg.pid; wait",
            "x",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    let pidfile = sb.project().join("bg.pid");
    let start = Instant::now();
    while std::fs::read_to_string(&pidfile).map_or(true, |s| !s.ends_with('\n')) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "the check did not start"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    interrupted(child);
    // Interrupted is a failure: what the task created is removed.
    assert!(!sb.project().join("app.py").exists());
    assert_eq!(survivors("30.0202"), Vec::<String>::new());
}

/// Sends Ctrl-C and expects exit 130.
fn interrupted(child: std::process::Child) -> std::process::Output {
    interrupt(child.id());
    let out = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{stderr}");
    out
}

fn interrupt(pid: u32) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(pid as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
}

#[test]
fn sigkill_or_ctrl_c_while_writing_many_files_leaves_only_whole_files() {
    let sb = Sandbox::new();
    let body = "line of text\n".repeat(2_000);
    let answer: String = (0..200)
        .map(|i| format!("```txt f{i:03}.txt\n{body}```\n"))
        .collect();
    let server = answers(&[&answer]);
    let log = Arc::new(Mutex::new(Vec::new()));
    for delay_ms in [0u64, 5, 20, 60, 1, 15] {
        for i in 0..200 {
            let _ = std::fs::remove_file(sb.project().join(format!("f{i:03}.txt")));
        }
        let mut cmd = sb.cmd();
        cmd.ollama(&server)
            .args(["--local", "-w", "--force", "x"])
            .stdout(Stdio::piped())
            .stderr(Stdio::null());
        let mut child = cmd.spawn().unwrap();
        // Kill once the first file exists (the writes have begun), a little later each time.
        let start = Instant::now();
        while !sb.project().join("f000.txt").exists() && start.elapsed() < Duration::from_secs(10) {
            std::thread::sleep(Duration::from_micros(200));
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        // SIGKILL, and Ctrl-C (SIGINT) on alternate runs: the writes in flight finish whole.
        if delay_ms % 2 == 0 {
            let _ = child.kill();
            let _ = child.wait();
        } else {
            interrupt(child.id());
            let out = child.wait_with_output().unwrap();
            let summary = String::from_utf8_lossy(&out.stdout).into_owned();
            if delay_ms == 1 {
                // 200 fsynced files take far longer than 1 ms: the writer stops after the
                // file in hand and reports the rest.
                assert_eq!(out.status.code(), Some(130), "{summary}");
                assert!(
                    summary.contains("(interrupted before it was written)"),
                    "{summary}"
                );
                assert!(!sb.project().join("f199.txt").exists());
            } else {
                assert!(
                    matches!(out.status.code(), Some(0 | 130)),
                    "{:?}",
                    out.status
                );
            }
        }
        let mut whole = 0;
        for i in 0..200 {
            if let Ok(text) = std::fs::read_to_string(sb.project().join(format!("f{i:03}.txt"))) {
                assert_eq!(text, body, "f{i:03}.txt is not whole");
                whole += 1;
            }
        }
        log.lock().unwrap().push(whole);
        no_temp_files(&sb.project());
    }
    assert!(log.lock().unwrap().iter().any(|&n| n > 0));
}

/// A trusted project whose `[sync] after_write` goes to a local folder remote (the real
/// rclone, with an empty config of its own): the sandbox, the remote folder and the config
/// file.
fn after_write_sandbox() -> (Sandbox, std::path::PathBuf, std::path::PathBuf) {
    assert!(
        Command::new("rclone").arg("version").output().is_ok(),
        "this test needs the real rclone"
    );
    let sb = Sandbox::new();
    let remote = sb.dir.path().join("remote");
    sb.write(
        "profiles.toml",
        &format!(
            "[sync]\nremote = \"{}\"\nafter_write = true\n",
            remote.display()
        ),
    );
    // A project's [sync] needs trust: the user trusts this one.
    sb.trust();
    let conf = sb.dir.path().join("rclone.conf");
    std::fs::write(&conf, "").unwrap();
    (sb, remote, conf)
}

#[test]
fn after_write_sync_runs_in_the_background_and_lands() {
    let (sb, remote, conf) = after_write_sandbox();
    let data: Vec<u8> = (0..300_000usize).map(|i| (i * 7919 % 251) as u8).collect();
    std::fs::write(sb.project().join("big.bin"), data).unwrap();
    let server = answers(&["```python app.py\nprint(3)\n```\n"]);
    let call = on(&sb, &server)
        .env("RCLONE_CONFIG", &conf)
        .env("RCLONE_BWLIMIT", "150k")
        .args(["--local", "-w", "x"])
        .limit(Duration::from_secs(30))
        .stdout("created app.py (1 line)\n")
        .stderr_has("started in the background");
    let started = Instant::now();
    call.run();
    let returned = started.elapsed();
    assert!(!remote.join("app.py").exists() || !remote.join(".last_sync").exists());
    let last_sync = sb.project().join(".last_sync");
    let wait = Instant::now();
    while !last_sync.exists() {
        assert!(
            wait.elapsed() < Duration::from_secs(30),
            "the sync did not land"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let done = started.elapsed();
    assert!(
        returned * 2 < done,
        "returned after {returned:?}, synced after {done:?}"
    );
    assert_eq!(
        std::fs::read_to_string(remote.join("app.py")).unwrap(),
        "print(3)\n"
    );
    assert!(remote.join("big.bin").exists());
}

#[test]
fn after_write_sync_with_wait_keeps_stdout_for_the_summary_or_the_json() {
    let (sb, remote, conf) = after_write_sandbox();
    let server = answers(&[
        "```python app.py\nprint(3)\n```\n",
        "```python app.py\nprint(4)\n```\n",
    ]);
    let call = |extra: &[&str]| {
        on(&sb, &server)
            .env("RCLONE_CONFIG", &conf)
            .args(["--local", "-w", "--wait"])
            .args(extra)
            .arg("x")
            .limit(Duration::from_secs(30))
    };
    // The sync ran before the call returned; its summary is a status line.
    call(&[])
        .stdout("created app.py (1 line)\n")
        .stderr_has("synced ")
        .run();
    assert_eq!(
        std::fs::read_to_string(remote.join("app.py")).unwrap(),
        "print(3)\n"
    );
    // With --json, stdout is the one JSON document and nothing else.
    let r = call(&["--json", "-i", "app.py"]).run();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["ok"], true, "{doc}");
    assert_eq!(
        std::fs::read_to_string(remote.join("app.py")).unwrap(),
        "print(4)\n"
    );
}

#[test]
fn stats_counts_the_answers_that_went_to_files_instead_of_the_assistant() {
    let sb = Sandbox::new();
    let server = answers(&["```python app.py\nprint(3)\n```\n"]);
    on(&sb, &server)
        .args(["--local", "-w", "x"])
        .stdout("created app.py (1 line)\n")
        .run();
    let r = Test::new(&sb).args(["stats", "--json"]).run();
    let s: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(s["written"]["calls"], 1, "{s}");
    assert!(s["written"]["tokens_kept_off"].as_u64().unwrap() > 0, "{s}");
    Test::new(&sb)
        .arg("stats")
        .stdout_has("answers written to files (--write): 1 call, ")
        .run();
}

#[test]
fn write_flags_need_write() {
    let sb = Sandbox::new();
    Test::new(&sb)
        .args(["--check", "true", "x"])
        .code(2)
        .stdout("")
        .stderr(
            "error: the following required arguments were not provided:\n  --write\n\n\
             Usage: codex-wrap --write --check <CMD> <PROMPT>...\n\n\
             For more information, try '--help'.\n",
        )
        .run();
}

#[test]
fn an_answer_never_writes_codex_wraps_configuration_anywhere_in_the_tree() {
    // H3: a profiles.toml in a subfolder would steer the next call made from there.
    let sb = Sandbox::new();
    let server = answers(&[
        "```toml tools/profiles.toml\n[endpoints.evil]\nprovider = \"command\"\ncommand = [\"sh\", \"-c\", \"id\"]\n```\n```python tools/run.py\nprint(1)\n```\n",
    ]);
    let r = on(&sb, &server)
        .args(["--local", "-w", "x"])
        .stdout_has("rejected tools/profiles.toml (codex-wrap's own configuration")
        .run();
    assert!(
        !sb.project().join("tools/profiles.toml").exists(),
        "{}",
        r.stderr
    );
    assert_eq!(read(&sb, "tools/run.py"), "print(1)\n");

    // M8: a glob input does not make the root profiles.toml replaceable, nor --force.
    let sb = Sandbox::new();
    sb.write("profiles.toml", "[profiles.code]\nmodel = \"mine\"\n");
    let server = answers(&["```toml profiles.toml\n[routes]\nlocal = \"evil\"\n```\n"]);
    on(&sb, &server)
        .args(["--local", "-w", "--force", "-i", "*.toml", "x"])
        .stdout_has("rejected profiles.toml (codex-wrap's own configuration (profiles.toml, .env*) or .git: never written)")
        .run();
    assert_eq!(
        read(&sb, "profiles.toml"),
        "[profiles.code]\nmodel = \"mine\"\n"
    );
}

#[test]
fn an_assistants_configuration_is_replaced_only_when_named_literally() {
    let sb = Sandbox::new();
    sb.write(".vscode/tasks.json", "{}\n");
    let answer = "```json .vscode/tasks.json\n{\"tasks\": [{\"command\": \"sh\"}]}\n```\n";
    let server = answers(&[answer]);
    on(&sb, &server)
        .args(["--local", "-w", "--force", "-i", ".vscode/*.json", "x"])
        .stdout("rejected .vscode/tasks.json (configures an assistant or runs on its own: replaced only when named literally with -i on the command line)\n")
        .run();
    assert_eq!(read(&sb, ".vscode/tasks.json"), "{}\n");
    on(&sb, &server)
        .args(["--local", "-w", "-i", ".vscode/tasks.json", "x"])
        .stdout("updated .vscode/tasks.json (1 line)\n")
        .run();
    // Never created, unless the user's own profiles.toml allows it.
    let server = answers(&["```yaml .github/workflows/ci.yml\non: push\n```\n"]);
    on(&sb, &server)
        .args(["--local", "-w", "x"])
        .stdout_has("never created")
        .run();
    assert!(!sb.project().join(".github").exists());
    sb.user_config("[files]\nallow_write = [\".github/workflows/*.yml\"]\n");
    on(&sb, &server)
        .args(["--local", "-w", "x"])
        .stdout("created .github/workflows/ci.yml (1 line)\n")
        .run();
}

/// `-w -i solution.py --check CHECK PROMPT` on the local route.
fn solve(sb: &Sandbox, server: &Server, check: &str, prompt: &str) -> Test {
    on(sb, server).args([
        "--local",
        "-w",
        "-i",
        "solution.py",
        "--check",
        check,
        prompt,
    ])
}

/// An input holding `helper()` and a stub `target()`, and the check that needs both.
const SOLUTION: &str = "import math\n\n\ndef helper(x):\n    return int(math.sqrt(x))\n\n\ndef target(x):\n    raise NotImplementedError\n";
const SOLUTION_CHECK: &str = "python3 -c 'import solution; assert solution.target(16) == 5'";

#[test]
fn a_fragment_answer_keeps_the_files_other_definitions_and_the_check_passes() {
    let sb = Sandbox::new();
    sb.write("solution.py", SOLUTION);
    // The function alone, with a usage example; then (second task) an explanation block
    // and the definition as two unnamed blocks.
    let server = answers(&[
        "```python\ndef target(x):\n    return helper(x) + 1\n\nprint(target(16))\n```\n",
    ])
    .expect(Calls::Exactly(1));
    let r = solve(&sb, &server, SOLUTION_CHECK, "implement target")
        .stderr_has("round 1/3: check")
        .run();
    assert!(r.stdout().contains("check passed"), "{}", r.stdout());
    assert_eq!(
        read(&sb, "solution.py"),
        SOLUTION.replace(
            "    raise NotImplementedError\n",
            "    return helper(x) + 1\n"
        )
    );
    sb.write("solution.py", SOLUTION);
    let server = answers(&[
        "Install nothing:\n```bash\npip install nothing\n```\nThe function:\n```python\ndef target(x):\n    return helper(x) + 1\n```\n",
    ]);
    solve(&sb, &server, SOLUTION_CHECK, "implement target")
        .stderr_has("round 1/3: check")
        .run();
    assert!(read(&sb, "solution.py").contains("def helper(x):\n    return int(math.sqrt(x))\n"));
    assert!(read(&sb, "solution.py").contains("    return helper(x) + 1\n"));
}

#[test]
fn a_whole_file_answer_that_drops_an_import_keeps_it_and_the_check_passes() {
    // HumanEval's shape: the file imports List, the answer gives the one function alone
    // (so it is the whole file) without the import it uses.
    let sb = Sandbox::new();
    let stub =
        "from typing import List\n\n\ndef total(xs: List[int]) -> int:\n    \"\"\"Sum.\"\"\"\n";
    sb.write("solution.py", stub);
    let server = answers(&[
        "```python\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n```\nThis adds them up.\n",
    ])
    .expect(Calls::Exactly(1));
    let r = solve(
        &sb,
        &server,
        "python3 -c 'import solution; assert solution.total([1, 2]) == 3'",
        "implement total",
    )
    .stderr_has("round 1/3: check")
    .run();
    assert!(r.stdout().contains("check passed"), "{}", r.stdout());
    assert_eq!(
        read(&sb, "solution.py"),
        "from typing import List\n\ndef total(xs: List[int]) -> int:\n    return sum(xs)\n"
    );
}

/// A context budget and window that take a 3,000-line input.
const ROOMY: &str = "[context]\nlocal_budget = 40000\n[profiles.code.options]\nnum_ctx = 65536\n";

/// A 300-line Python file: 150 two-line functions.
fn big_py() -> String {
    (0..150)
        .map(|i| format!("def f{i}():\n    return {i}\n"))
        .collect()
}

#[test]
fn an_elided_or_cut_whole_file_answer_leaves_a_300_line_file_byte_for_byte() {
    let sb = Sandbox::new();
    let before = big_py();
    sb.write("big.py", &before);
    sb.write("profiles.toml", ROOMY);
    let elided = "```python big.py\ndef f0():\n    return 100\n# ... rest of the code unchanged\ndef f149():\n    return 149\n```\n";
    let server = answers(&[elided]);
    let r = on(&sb, &server)
        .args(["--local", "-w", "-i", "big.py", "change f0"])
        .code(10)
        .stderr_has("big.py not written: the answer leaves code out (line 3: `# ... rest of the code unchanged`)")
        .run();
    assert_eq!(r.stdout(), "");
    assert_eq!(read(&sb, "big.py"), before);
    // A short whole answer that defines none of the file's names: refused too.
    let short = "```python big.py\nimport sys\n\nprint(sys.argv)\n```\n";
    let server = answers(&[short]);
    on(&sb, &server)
        .args(["--local", "-w", "-i", "big.py", "change f0"])
        .code(10)
        .stderr_has("big.py not written: the answer has 3 of the file's 300 lines and does not define all its top-level names")
        .run();
    assert_eq!(read(&sb, "big.py"), before);
    // Cut at the token limit: refused whatever its shape, --force or not.
    let cut = Server::start(|_, _, conn| {
        ollama::start(conn);
        conn.chunk(
            ollama::token_line(
                ollama::MODEL,
                "```python big.py\ndef f0():\n    return 100\n```\n",
            )
            .as_bytes(),
        );
        conn.chunk(ollama::done_line(ollama::MODEL, 4096, "length").as_bytes());
        conn.end();
    });
    on(&sb, &cut)
        .args(["--local", "-w", "--force", "-i", "big.py", "change f0"])
        .code(10)
        .stderr_has("big.py not written: the answer was cut at the model's token limit")
        .run();
    assert_eq!(read(&sb, "big.py"), before);
    // Under --check, a refusal is a repair round that says why.
    let server =
        answers(&[elided, "```python\ndef f0():\n    return 100\n```\n"]).expect(Calls::Exactly(2));
    let r = on(&sb, &server)
        .args([
            "--local",
            "-w",
            "-i",
            "big.py",
            "--check",
            "grep -q 'return 100' big.py",
            "change f0",
        ])
        .stderr_has("round 1/3: big.py not written: the answer leaves code out")
        .stderr_has("round 2/3: check")
        .run();
    assert!(r.stdout().contains("check passed"), "{}", r.stdout());
    let (repair, _) = sent(&server, 1);
    assert!(
        repair.contains(
            "Your answer was not written (round 1 of 3): big.py: the answer leaves code out"
        ),
        "{repair}"
    );
    assert_eq!(
        read(&sb, "big.py"),
        before.replacen("return 0\n", "return 100\n", 1)
    );
    // --force lets an elided answer through (the user asked); merged by symbol, every
    // other definition stays.
    sb.write("big.py", &before);
    let server = answers(&[elided]);
    on(&sb, &server)
        .args(["--local", "-w", "--force", "-i", "big.py", "change f0"])
        .stdout("updated big.py (301 lines)\n")
        .run();
}

#[test]
fn a_search_replace_block_changes_exactly_its_hunk_in_a_3000_line_file() {
    let sb = Sandbox::new();
    let before: String = (0..1500)
        .map(|i| format!("def g{i}(x):\n    return x + {i}\n"))
        .collect();
    sb.write("huge.py", &before);
    sb.write("profiles.toml", ROOMY);
    let edit = "huge.py\n```python\n<<<<<<< SEARCH\ndef g700(x):\n    return x + 700\n=======\ndef g700(x):\n    return x * 700\n>>>>>>> REPLACE\n```\n";
    let server = answers(&[edit]);
    on(&sb, &server)
        .args(["--local", "-w", "-i", "huge.py", "multiply in g700"])
        .stdout("updated huge.py (3000 lines)\n")
        .run();
    let after = read(&sb, "huge.py");
    assert_eq!(
        after,
        before.replace("    return x + 700\n", "    return x * 700\n")
    );
    let diff: Vec<_> = before
        .lines()
        .zip(after.lines())
        .filter(|(a, b)| a != b)
        .collect();
    assert_eq!(diff, [("    return x + 700", "    return x * 700")]);
    let (_, system) = sent(&server, 0);
    assert!(
        system.contains("SEARCH/REPLACE edit blocks, never by writing them whole: huge.py"),
        "{system}"
    );
    // A block that matches twice, then one that matches nowhere: repair rounds with the
    // reason; nothing guessed, nothing written.
    sb.write("huge.py", &before);
    let nowhere = "huge.py\n```python\n<<<<<<< SEARCH\ndef nope():\n=======\ndef yes():\n>>>>>>> REPLACE\n```\n";
    let dup: String = format!("{before}def g700(x):\n    return x + 700\n");
    sb.write("huge.py", &dup);
    let server = answers(&[
        "huge.py\n```python\n<<<<<<< SEARCH\ndef g700(x):\n    return x + 700\n=======\ndef g700(x):\n    return 0\n>>>>>>> REPLACE\n```\n",
        nowhere,
    ])
    .expect(Calls::Exactly(2));
    on(&sb, &server)
        .args(["--local", "-w", "-i", "huge.py", "--rounds", "2", "--check", "false", "x"])
        .code(10)
        .stderr_has("round 1/2: huge.py not written: edit block 1's SEARCH text matches 2 places in the file")
        .stderr_has("huge.py not written: edit block 1's SEARCH text matches nowhere in the file")
        .run();
    let (repair, _) = sent(&server, 1);
    assert!(
        repair.contains("matches 2 places in the file; include more lines"),
        "{repair}"
    );
    assert_eq!(read(&sb, "huge.py"), dup);
}

#[test]
fn a_round_that_runs_out_of_time_is_a_failed_round_and_the_task_goes_on() {
    let sb = Sandbox::new();
    // The first answer comes after the round's deadline; the second in time.
    let server = Server::start(|i, _, conn| {
        if i == 0 {
            std::thread::sleep(Duration::from_millis(2500));
        }
        ollama::stream(conn, &["```python app.py\nx = 1\n```\n"]);
    })
    .expect(Calls::Exactly(2));
    let r = on(&sb, &server)
        .args(["--local", "-w", "-t", "1", "--check", "true", "x"])
        .stderr_has("round 1/3: ran out of time")
        .stderr_has("round 2/3: check `true`: passed")
        .run();
    let out = r.stdout();
    assert!(
        out.starts_with("created app.py (1 line)\ncheck passed: true (round 2, "),
        "{out}"
    );
    assert!(out.ends_with("\nround 1 ran out of time\n"), "{out}");
    // Exit 5 only once every round has run out of time.
    let slow = Server::start(|_, _, conn| {
        std::thread::sleep(Duration::from_millis(2500));
        ollama::stream(conn, &["```python b.py\nx = 1\n```\n"]);
    })
    .expect(Calls::Exactly(2));
    let r = on(&sb, &slow)
        .args([
            "--local", "-w", "-t", "1", "--rounds", "2", "--check", "true", "x",
        ])
        .code(5)
        .stderr_has("round 1/2: ran out of time")
        .stderr_has("error")
        .run();
    assert_eq!(
        r.stdout(),
        "round 1 ran out of time\nround 2 ran out of time\n"
    );
}
