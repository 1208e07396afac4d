//! `codex-wrap eval` and escalation: a suite of tasks run through the write face against
//! servers answering canned code, with the tests really run by python3.

use crate::support::{Sandbox, Server, Test, gemini, ollama};

const SUITE: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/eval/mini.jsonl");

const ADD_RIGHT: &str = "```python\ndef add(a: int, b: int) -> int:\n    return a + b\n```\n";
const ADD_WRONG: &str = "```python\ndef add(a: int, b: int) -> int:\n    return a - b\n```\n";
const EVEN_WRONG: &str =
    "Here:\n```python\ndef is_even(n: int) -> bool:\n    return n % 2 == 1\n```\n";

/// What the request's user message holds.
fn user(req: &crate::support::server::Request) -> String {
    let body = req.json();
    if let Some(messages) = body["messages"].as_array() {
        return messages
            .iter()
            .filter(|m| m["role"] == "user")
            .filter_map(|m| m["content"].as_str())
            .collect();
    }
    body["contents"].to_string()
}

/// A local server answering `add` right and `is_even` wrong.
fn canned() -> Server {
    Server::start(|_, req, conn| {
        let text = if user(req).contains("is_even") {
            EVEN_WRONG
        } else {
            ADD_RIGHT
        };
        ollama::stream(conn, &[text]);
    })
}

#[test]
fn a_right_answer_passes_its_test_and_a_wrong_one_fails_every_round() {
    let sb = Sandbox::new();
    let server = canned();
    let r = Test::new(&sb)
        .ollama(&server)
        .args(["eval", "--suite", SUITE, "--rounds", "2", "--json"])
        .stderr_has("eval [")
        .run();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["suite"], SUITE);
    let tasks = doc["tasks"].as_array().unwrap();
    assert_eq!(tasks.len(), 2);
    let (add, even) = (&tasks[0], &tasks[1]);
    assert_eq!(add["id"], "Mini/0");
    assert_eq!(add["passed"], true, "{add}");
    assert_eq!(add["rounds"], 1);
    assert_eq!(add["exit_code"], 0);
    assert_eq!(add["baseline_passed"], true);
    assert_eq!(add["escalated"], false);
    assert!(add["bytes_read_with_write"].as_u64().unwrap() > 0);
    assert_eq!(
        add["bytes_read_without_write"].as_u64().unwrap(),
        ADD_RIGHT.len() as u64
    );
    assert_eq!(even["passed"], false, "{even}");
    assert_eq!(even["rounds"], 2);
    assert_eq!(even["exit_code"], 8);
    assert_eq!(even["baseline_passed"], false);
    assert!(even["tokens_out"].as_u64().unwrap() > 0);
    let summary = &doc["summary"];
    assert_eq!(summary["passed_by_round"], serde_json::json!([1, 1]));
    assert_eq!(summary["baseline_passed"], 1);
    assert_eq!(summary["tasks"], 2);
    // 1 answer for add, 2 for is_even: the second carried the test's failure.
    let requests = server.requests();
    assert_eq!(requests.len(), 3);
    let repair = user(&requests[2]);
    assert!(repair.contains("python3 -B test_solution.py"), "{repair}");
    assert!(repair.contains("AssertionError"), "{repair}");
    // The options pin the sampling.
    let options = &requests[0].json()["options"];
    assert_eq!(options["temperature"], 0);
    assert_eq!(options["seed"], 42);

    // The text table, and the last eval for stats and doctor.
    let r = Test::new(&sb)
        .ollama(&server)
        .args([
            "eval", "--suite", SUITE, "--tasks", "Mini/0", "--seed", "7", "-q",
        ])
        .run();
    assert!(
        r.stdout().contains(
            "1/1 first round, 1/1 after 3 rounds (feedback repair); plain first code block 1/1"
        ),
        "{}",
        r.stdout()
    );
    assert_eq!(
        server.requests().last().unwrap().json()["options"]["seed"],
        7
    );
    let stats = Test::new(&sb).arg("stats").run();
    assert!(
        stats.stdout().contains("last eval on ollama: qwen")
            && stats
                .stdout()
                .contains("1/1 first round, 1/1 after 3 rounds (plain 1/1; ")
            && stats.stdout().contains("; feedback repair), "),
        "{}",
        stats.stdout()
    );
}

#[test]
fn a_suite_line_that_is_not_a_task_or_an_unknown_task_is_a_usage_error() {
    let sb = Sandbox::new();
    sb.write("bad.jsonl", "{\"task_id\": \"x\"}\n");
    Test::new(&sb)
        .args(["eval", "--suite", "bad.jsonl"])
        .code(2)
        .stderr_has("bad.jsonl:1: not a task")
        .run();
    Test::new(&sb)
        .args(["eval", "--suite", SUITE, "--tasks", "Mini/9"])
        .code(2)
        .stderr_has("--tasks: no task Mini/9 in the suite")
        .run();
}

/// A local server answering `add` wrong, every time.
fn wrong() -> Server {
    ollama::fake().answering(ADD_WRONG)
}

#[test]
fn a_task_failing_locally_escalates_to_the_api_and_ends_green_with_the_file_right() {
    let sb = Sandbox::new();
    let local = wrong();
    let api = gemini::fake().answering(ADD_RIGHT);
    sb.write("solution.py", "def add(a: int, b: int) -> int:\n    ...\n");
    sb.write(
        "test_add.py",
        "from solution import add\nassert add(2, 3) == 5\n",
    );
    let mut t = Test::new(&sb);
    t = t.ollama(&local);
    let r = t
        .gemini(&api)
        .args([
            "--local",
            "-w",
            "-i",
            "solution.py",
            "--check",
            "python3 -B test_add.py",
            "--rounds",
            "2",
            "--escalate",
            "make add add",
        ])
        .stderr_has("escalating to api")
        .run();
    assert_eq!(local.hits(), 2);
    assert_eq!(api.hits(), 1);
    let stdout = r.stdout();
    assert!(
        stdout.contains("escalated to api after 2 local rounds: rounds 3-3 ran there"),
        "{stdout}"
    );
    assert!(stdout.contains("(round 3, on api,"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(sb.project().join("solution.py")).unwrap(),
        "def add(a: int, b: int) -> int:\n    return a + b\n"
    );
    // The escalated round got the current files and the failing output.
    let asked = api.requests()[0].json().to_string();
    assert!(
        asked.contains("return a - b") && asked.contains("AssertionError"),
        "{asked}"
    );
    // The run log says the task escalated and where each round ran.
    let log = std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap();
    let record: serde_json::Value = serde_json::from_str(log.lines().last().unwrap()).unwrap();
    assert_eq!(record["escalated"], true);
    assert_eq!(record["rounds"][2]["route"], "api");
    assert_eq!(record["rounds"][2]["escalated"], true);
    let stats = Test::new(&sb).arg("stats").run();
    assert!(
        stats
            .stdout()
            .contains("checked write tasks: 0 passed locally, 1 needed escalation (1 passed there"),
        "{}",
        stats.stdout()
    );

    // The same through eval.
    let sb = Sandbox::new();
    let r = Test::new(&sb)
        .ollama(&local)
        .gemini(&api)
        .args([
            "eval",
            "--suite",
            SUITE,
            "--tasks",
            "0",
            "--rounds",
            "1",
            "--escalate",
            "--json",
        ])
        .stderr_has("eval [")
        .run();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    let task = &doc["tasks"][0];
    assert_eq!(
        task["passed"],
        true,
        "{doc}\n{:?}",
        api.requests().last().map(|r| r.json().to_string())
    );
    assert_eq!(task["escalated"], true);
    assert_eq!(task["rounds"], 2);
    assert_eq!(doc["summary"]["passed_by_round"], serde_json::json!([0]));
    assert_eq!(doc["summary"]["passed_escalated"], 1);
}

#[test]
fn an_escalation_route_without_a_key_leaves_exit_8_and_one_line() {
    let sb = Sandbox::new();
    let local = wrong();
    sb.write("solution.py", "def add(a, b):\n    ...\n");
    sb.write(
        "test_add.py",
        "from solution import add\nassert add(2, 3) == 5\n",
    );
    let r = Test::new(&sb)
        .ollama(&local)
        .args([
            "--local",
            "-w",
            "-i",
            "solution.py",
            "--check",
            "python3 -B test_add.py",
            "--rounds",
            "1",
            "--escalate=api",
            "make add add",
        ])
        .code(8)
        .stderr_has("cannot escalate to api")
        .stderr_has("the check still fails")
        .run();
    let lines: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.contains("cannot escalate"))
        .collect();
    assert_eq!(lines.len(), 1, "{}", r.stderr);
    assert!(
        lines[0].contains("the local outcome stands"),
        "{}",
        lines[0]
    );
    // The task failed in the end: what it wrote is put back.
    assert_eq!(
        std::fs::read_to_string(sb.project().join("solution.py")).unwrap(),
        "def add(a, b):\n    ...\n"
    );
}

#[test]
fn configuration_alone_never_escalates_a_forced_route() {
    let sb = Sandbox::new();
    let local = wrong();
    let api = gemini::fake().answering(ADD_RIGHT);
    // The user's own configuration: a project's may not choose where its tasks go.
    let user = sb.config_home().join("codex-wrap");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(
        user.join("profiles.toml"),
        "[files]\nescalate = \"api\"\nescalate_rounds = 1\n",
    )
    .unwrap();
    sb.write("solution.py", "def add(a, b):\n    ...\n");
    sb.write(
        "test_add.py",
        "from solution import add\nassert add(2, 3) == 5\n",
    );
    let args = [
        "-w",
        "-i",
        "solution.py",
        "--check",
        "python3 -B test_add.py",
        "--rounds",
        "1",
        "make add add",
    ];
    Test::new(&sb)
        .ollama(&local)
        .gemini(&api)
        .arg("--local")
        .args(args)
        .code(8)
        .stderr_has("the check still fails")
        .run();
    assert_eq!(api.hits(), 0);
    // Not forced: the configuration escalates.
    Test::new(&sb)
        .ollama(&local)
        .gemini(&api)
        .args(["--profile", "code"])
        .args(args)
        .stderr_has("escalating to api")
        .run();
    assert_eq!(api.hits(), 1);
}

#[test]
fn without_a_working_sandbox_eval_refuses_naming_the_package_unless_the_user_turned_it_off() {
    let sb = Sandbox::new();
    let server = canned();
    // A PATH with sh and python3 but no bwrap.
    let bin = sb.dir.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    std::os::unix::fs::symlink("/bin/sh", bin.join("sh")).unwrap();
    // Python's own binary (a pyenv shim would need bash on the PATH).
    let python = std::process::Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .unwrap();
    let python = String::from_utf8_lossy(&python.stdout).trim().to_owned();
    std::os::unix::fs::symlink(&python, bin.join("python3")).unwrap();
    Test::new(&sb)
        .ollama(&server)
        .env("PATH", &bin)
        .args(["eval", "--suite", SUITE, "--tasks", "0"])
        .code(4)
        .stderr_has("install the bubblewrap package")
        .run();
    assert_eq!(server.hits(), 0, "nothing was asked");
    // A project's file cannot turn it off; the user's own can.
    sb.write("profiles.toml", "[files]\nsandbox = \"off\"\n");
    Test::new(&sb)
        .ollama(&server)
        .env("PATH", &bin)
        .args(["eval", "--suite", SUITE, "--tasks", "0"])
        .code(4)
        .stderr_has("install the bubblewrap package")
        .stderr_has("files.sandbox ignored: the project is not trusted")
        .run();
    let user = sb.config_home().join("codex-wrap");
    std::fs::create_dir_all(&user).unwrap();
    std::fs::write(user.join("profiles.toml"), "[files]\nsandbox = \"off\"\n").unwrap();
    let r = Test::new(&sb)
        .ollama(&server)
        .env("PATH", &bin)
        .args(["eval", "--suite", SUITE, "--tasks", "0", "-q"])
        // The project's line now only repeats the user's own: nothing to warn about.
        .run();
    assert!(r.stdout().contains("1/1 first round"), "{}", r.stdout());
}
