//! Several endpoints per route: order, spread, and the cooldown shared between calls.

use std::time::Duration;

use crate::support::{Calls, Sandbox, Server, Test, blackhole, gemini, ollama, run};

const REFUSED: &str = "http://127.0.0.1:9";

fn answering(text: &'static str) -> Server {
    Server::start(move |_, _, conn| ollama::stream(conn, &[text]))
}

fn state_file(sb: &Sandbox) -> std::path::PathBuf {
    sb.dir
        .path()
        .join("home/.local/state/codex-wrap/health.json")
}

#[test]
fn a_route_tries_its_endpoints_in_order_before_the_other_route() {
    let sb = Sandbox::new();
    let box2 = answering("from box2").expect(Calls::Exactly(1));
    // The other route waits until this one is exhausted.
    let api = Server::start(|_, _, conn| gemini::stream(conn, &["api"])).expect(Calls::Never);
    sb.user_config(&format!(
            "[endpoints.box2]\nprovider = \"ollama\"\nurl = \"{}\"\n[routes]\nlocal = [\"ollama\", \"box2\"]\n",
            box2.url()
        ),
    );
    Test::new(&sb)
        .env("OLLAMA_URL", REFUSED)
        .env("GEMINI_BASE_URL", api.url())
        .env("GEMINI_API_KEY", "k")
        .args(["write a function"])
        .stdout("from box2")
        .stderr_has("falling back to local box2 (ollama qwen2.5:14b-instruct-q4_K_M)")
        .run();
    let log = std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap();
    assert!(log.contains(r#""endpoint":"box2""#), "{log}");
}

#[test]
fn a_comma_list_in_ollama_url_is_one_route() {
    let sb = Sandbox::new();
    let second = answering("second").expect(Calls::Exactly(1));
    Test::new(&sb)
        .env("OLLAMA_URL", format!("{REFUSED},{}", second.url()))
        .args(["--local", "x"])
        .stdout("second")
        .stderr_has("falling back to local ollama-2")
        .run();
}

#[test]
fn spread_shares_parallel_calls_over_every_endpoint() {
    let sb = Sandbox::new();
    let servers: Vec<Server> = (0..3).map(|_| answering("ok")).collect();
    let mut toml =
        String::from("[pool]\nstrategy = \"spread\"\n[routes]\nlocal = [\"a\", \"b\", \"c\"]\n");
    for (name, s) in ["a", "b", "c"].iter().zip(&servers) {
        toml.push_str(&format!(
            "[endpoints.{name}]\nprovider = \"ollama\"\nurl = \"{}\"\n",
            s.url()
        ));
    }
    sb.user_config(&toml);
    let calls: Vec<_> = (0..32)
        .map(|_| {
            let mut cmd = sb.cmd();
            cmd.args(["--local", "x"]);
            std::thread::spawn(move || run(cmd))
        })
        .collect();
    for call in calls {
        call.join().unwrap().assert_code(0).assert_stdout("ok");
    }
    let hits: Vec<usize> = servers.iter().map(Server::hits).collect();
    assert_eq!(hits.iter().sum::<usize>(), 32, "{hits:?}");
    assert!(
        hits.iter().all(|&h| h > 0),
        "every endpoint is used: {hits:?}"
    );
}

#[test]
fn a_refused_endpoint_cools_down_and_the_next_call_skips_it() {
    let sb = Sandbox::new();
    let live = answering("live");
    let call = || {
        let mut cmd = sb.cmd();
        cmd.env("OLLAMA_URL", format!("{REFUSED},{}", live.url()))
            .args(["--local", "x"]);
        run(cmd)
    };
    call()
        .assert_code(0)
        .assert_stderr_has("Connection refused");
    let second = call();
    second.assert_code(0).assert_stdout("live");
    assert!(!second.stderr.contains("falling back"), "{}", second.stderr);
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", format!("{REFUSED},{}", live.url()))
        .args(["--dry-run", "--local", "x"]);
    let dry = run(cmd);
    dry.assert_code(0).assert_stdout_has("cooling down");
    assert!(state_file(&sb).exists());
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", format!("{REFUSED},{}", live.url()))
        .arg("doctor");
    let doctor = run(cmd);
    doctor
        .assert_stdout_has("ollama (ollama http://127.0.0.1:9): cooling down")
        .assert_stdout_has("code (built-in); model qwen2.5:14b-instruct-q4_K_M (built-in)")
        .assert_stdout_has("ollama-2 (ollama http://127.0.0.1:");
}

#[test]
fn a_black_holed_endpoint_costs_its_connect_timeout_once() {
    let sb = Sandbox::new();
    let live = answering("live");
    let (hole, _held) = blackhole();
    let call = || {
        let mut cmd = sb.cmd();
        cmd.env("OLLAMA_URL", format!("http://{hole},{}", live.url()))
            .args(["--connect-timeout", "1", "--local", "x"]);
        run(cmd)
    };
    let first = call();
    first.assert_code(0).assert_stderr_has("timed out");
    assert!(
        first.elapsed >= Duration::from_secs(1),
        "{:?}",
        first.elapsed
    );
    let second = call();
    second.assert_code(0).assert_stdout("live");
    assert!(
        second.elapsed < Duration::from_millis(800),
        "the cooled endpoint is not waited for: {:?}",
        second.elapsed
    );
    assert!(!second.stderr.contains("falling back"), "{}", second.stderr);
}

#[test]
fn a_corrupt_state_file_is_one_warning() {
    let sb = Sandbox::new();
    let live = answering("fine");
    let path = state_file(&sb);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{ half a json").unwrap();
    let mut cmd = sb.cmd();
    cmd.env("OLLAMA_URL", format!("{REFUSED},{}", live.url()))
        .args(["--local", "x"]);
    let r = run(cmd);
    r.assert_code(0).assert_stdout("fine");
    assert_eq!(r.stderr.matches("health state").count(), 1, "{}", r.stderr);
    assert!(r.stderr.contains("corrupt"), "{}", r.stderr);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("cooldown_until_ms"), "replaced: {text}");
}

#[test]
fn an_unwritable_state_file_is_one_warning() {
    let sb = Sandbox::new();
    let live = answering("fine");
    let blocker = sb.dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let mut cmd = sb.cmd();
    cmd.env("XDG_STATE_HOME", &blocker)
        .env("OLLAMA_URL", format!("{REFUSED},{}", live.url()))
        .args(["--local", "x"]);
    let r = run(cmd);
    r.assert_code(0).assert_stdout("fine");
    assert_eq!(r.stderr.matches("health state").count(), 1, "{}", r.stderr);
}

#[test]
fn when_every_endpoint_is_cooling_they_are_still_tried() {
    let sb = Sandbox::new();
    let flaky = Server::start(|n, _, conn| {
        if n == 0 {
            conn.respond(503, "application/json", &[], br#"{"error":"overloaded"}"#);
        } else {
            ollama::stream(conn, &["back"]);
        }
    })
    .expect(Calls::Exactly(2));
    let call = || {
        Test::new(&sb)
            .env("OLLAMA_URL", format!("{},{REFUSED}", flaky.url()))
            .args(["--local", "x"])
    };
    call()
        .code(4)
        .stderr_has("HTTP 503")
        .stderr_has("Connection refused")
        .run();
    call().stdout("back").run();
}

#[test]
fn codex_wrap_state_dir_holds_the_health_state() {
    let sb = Sandbox::new();
    let live = answering("fine");
    let state = sb.dir.path().join("state");
    let mut cmd = sb.cmd();
    cmd.env("CODEX_WRAP_STATE_DIR", &state)
        .env("OLLAMA_URL", format!("{REFUSED},{}", live.url()))
        .args(["--local", "x"]);
    run(cmd).assert_code(0).assert_stdout("fine");
    let text = std::fs::read_to_string(state.join("health.json")).unwrap();
    assert!(text.contains("cooldown_until_ms"), "{text}");
    assert!(!state_file(&sb).exists(), "the default place was used too");
}
