//! Several endpoints per route: order, spread, and the cooldown shared between calls.

use std::time::Duration;

use crate::support::{Calls, NO_CONTEXT, Sandbox, Server, Test, blackhole, gemini, ollama};

const REFUSED: &str = "http://127.0.0.1:9";

fn state_file(sb: &Sandbox) -> std::path::PathBuf {
    sb.dir
        .path()
        .join("home/.local/state/codex-wrap/health.json")
}

#[test]
fn a_route_tries_its_endpoints_in_order_before_the_other_route() {
    let sb = Sandbox::new();
    let box2 = ollama::fake()
        .answering("from box2")
        .expect(Calls::Exactly(1));
    // The other route waits until this one is exhausted.
    let api = gemini::fake().answering("api").expect(Calls::Never);
    sb.user_config(&format!(
            "[endpoints.box2]\nprovider = \"ollama\"\nurl = \"{}\"\n[routes]\nlocal = [\"ollama\", \"box2\"]\n",
            box2.url()
        ),
    );
    Test::new(&sb)
        .env("OLLAMA_URL", REFUSED)
        .gemini(&api)
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
    let second = ollama::fake().answering("second").expect(Calls::Exactly(1));
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
    let servers: Vec<Server> = (0..3).map(|_| ollama::fake().answering("ok")).collect();
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
            let call = Test::new(&sb).args(["--local", "x"]).stdout("ok");
            std::thread::spawn(move || call.run())
        })
        .collect();
    for call in calls {
        call.join().unwrap();
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
    // doctor asks the live server what it is: an Ollama that also answers the management
    // requests.
    let live = ollama::live("live");
    let call = || Test::new(&sb).env("OLLAMA_URL", format!("{REFUSED},{}", live.url()));
    call()
        .args(["--local", "x"])
        .stdout("live")
        .stderr_has("Connection refused")
        .run();
    call()
        .args(["--local", "x"])
        .stdout("live")
        .stderr_lacks("falling back")
        .run();
    call()
        .args(["--dry-run", "--local", "x"])
        .stdout_has("cooling down")
        // NOTE: a dry run of a forced-local call warns that the project has no context
        // files, which the real call does not (a local request carries no context).
        .stderr_has(NO_CONTEXT)
        .run();
    assert!(state_file(&sb).exists());
    call()
        .arg("doctor")
        .stdout_has("ollama (ollama http://127.0.0.1:9): cooling down")
        .stdout_has("code (built-in); model qwen2.5:14b-instruct-q4_K_M (built-in)")
        .stdout_has("ollama-2 (ollama http://127.0.0.1:")
        .stdout_has("local    warn  ollama (http://127.0.0.1:9) not running:")
        .stdout_has(&format!(
            "; using ollama-2: ready: {}: Ollama 0.12.6",
            live.url()
        ))
        .stdout_has("the default route (local) is ready")
        .run();
}

#[test]
fn doctor_judges_a_route_by_the_endpoint_that_would_answer() {
    let sb = Sandbox::new();
    let live = ollama::live("live");
    let r = Test::new(&sb)
        .env("OLLAMA_URL", format!("{REFUSED},{}", live.url()))
        .args(["doctor", "--json"])
        .run();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    let check = |name: &str| crate::commands::check(&doc, name).clone();
    let local = check("local");
    let detail = local["detail"].as_str().unwrap();
    assert_eq!(local["status"], "warn", "{doc}");
    assert!(
        detail.starts_with("ollama (http://127.0.0.1:9) not running: "),
        "{detail}"
    );
    assert!(
        detail.ends_with(&format!(
            "; using ollama-2: ready: {}: Ollama 0.12.6, {} present",
            live.url(),
            ollama::MODEL
        )),
        "{detail}"
    );
    // The models are those of the endpoint that answers.
    let models = check("models");
    assert!(
        models["detail"]
            .as_str()
            .unwrap()
            .starts_with(&format!("pulled: {} (code)", ollama::MODEL)),
        "{doc}"
    );
    assert_eq!(doc["exit_code"], 0, "{doc}");

    // Nothing answers: the first endpoint's failure and hint, then the others'; every
    // probe runs at once, so two black holes cost one probe's wait.
    let (hole, _held) = blackhole();
    let (hole2, _held2) = blackhole();
    let r = Test::new(&sb)
        .env("OLLAMA_URL", format!("http://{hole},http://{hole2}"))
        .arg("doctor")
        .code(4)
        .stdout_has(&format!(
            "local    FAIL  not running: http://{hole} does not answer"
        ))
        .stdout_has("ollama serve")
        .stdout_has(&format!("; ollama-2 (http://{hole2}) not running: "))
        .stdout_has("the default route (local) cannot work, nor any other")
        .run();
    assert!(r.elapsed < Duration::from_secs(1), "took {:?}", r.elapsed);
    Test::new(&sb)
        .env("OLLAMA_URL", format!("{REFUSED},{REFUSED}"))
        .arg("doctor")
        .code(4)
        .stdout_has("local    FAIL  not running: http://127.0.0.1:9 does not answer")
        .stdout_has("; ollama-2 (http://127.0.0.1:9) not running: ")
        .run();
}

#[test]
fn models_lists_every_endpoint_of_a_route_that_answers() {
    let sb = Sandbox::new();
    let live = ollama::live("live");
    let route = || Test::new(&sb).env("OLLAMA_URL", format!("{REFUSED},{}", live.url()));
    // The first endpoint is down: the second's models, by endpoint, and one warning.
    route()
        .arg("models")
        .stdout(
            "ENDPOINT  NAME                         SIZE    MODIFIED          PROFILES\n\
             ollama-2  qwen2.5:14b-instruct-q4_K_M  9.0 GB  2026-11-20 09:32  code\n",
        )
        .stderr_has(
            "codex-wrap: warning: ollama (ollama http://127.0.0.1:9): cannot connect to http://127.0.0.1:9/api/tags",
        )
        .stderr_has("profile 'fast' uses deepseek-coder:6.7b, which is not pulled: ollama pull deepseek-coder:6.7b")
        .stderr_has("profile 'uncensored' uses gpt-oss:20b, which is not pulled: ollama pull gpt-oss:20b")
        .run();
    let r = route()
        .args(["models", "--json"])
        .stderr_has("ollama (ollama http://127.0.0.1:9): cannot connect")
        .stderr_has("which is not pulled")
        .run();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(
        doc["models"],
        serde_json::json!([{
            "name": ollama::MODEL,
            "size": 9001211363u64,
            "modified_at": "2026-11-20T09:32:18.757212583-08:00",
            "profiles": ["code"],
            "endpoint": "ollama-2",
        }]),
        "{doc}"
    );
    assert_eq!(doc["endpoints"][0]["endpoint"], "ollama", "{doc}");
    assert!(
        doc["endpoints"][0]["error"]
            .as_str()
            .unwrap()
            .contains("Connection refused"),
        "{doc}"
    );
    assert_eq!(doc["endpoints"][1]["endpoint"], "ollama-2", "{doc}");
    assert_eq!(doc["endpoints"][1]["models"], 1, "{doc}");

    // Both answer: each one's models under its name; a profile model that only some of
    // them have is named with the endpoints that lack it.
    let other = ollama::admin(&["deepseek-coder:6.7b"]);
    Test::new(&sb)
        .env("OLLAMA_URL", format!("{},{}", other.url(), live.url()))
        .arg("models")
        .stdout(
            "ENDPOINT  NAME                         SIZE    MODIFIED          PROFILES\n\
             ollama    deepseek-coder:6.7b          9.0 GB  2026-11-20 09:32  fast\n\
             ollama-2  qwen2.5:14b-instruct-q4_K_M  9.0 GB  2026-11-20 09:32  code\n",
        )
        .stderr_has("profile 'code' uses qwen2.5:14b-instruct-q4_K_M, which is not pulled on ollama: ollama pull qwen2.5:14b-instruct-q4_K_M")
        .stderr_has("profile 'fast' uses deepseek-coder:6.7b, which is not pulled on ollama-2: ollama pull deepseek-coder:6.7b")
        .stderr_has("profile 'uncensored' uses gpt-oss:20b, which is not pulled: ollama pull gpt-oss:20b")
        .run();

    // None answers: exit 4 as with one endpoint, one line naming each.
    let r = Test::new(&sb)
        .env("OLLAMA_URL", format!("{REFUSED},{REFUSED}"))
        .arg("models")
        .code(4)
        .stdout("")
        .stderr_has("ollama (ollama http://127.0.0.1:9): cannot connect")
        .stderr_has("; ollama-2 (ollama http://127.0.0.1:9): cannot connect")
        .run();
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
    let r = Test::new(&sb)
        .env("OLLAMA_URL", format!("{REFUSED},{REFUSED}"))
        .args(["models", "--json"])
        .code(4)
        .stderr_has("ollama-2 (ollama http://127.0.0.1:9)")
        .run();
    let doc: serde_json::Value = serde_json::from_str(r.stdout().trim()).unwrap();
    assert_eq!(doc["exit_code"], 4, "{doc}");
}

#[test]
fn warm_loads_the_endpoint_that_would_answer() {
    let sb = Sandbox::new();
    let live = ollama::live("live");
    let r = Test::new(&sb)
        .env("OLLAMA_URL", format!("{REFUSED},{}", live.url()))
        .arg("warm")
        .stderr_has(&format!(
            "codex-wrap: warming ollama-2 ({}), the endpoint of the local route a call would use; skipped ollama (http://127.0.0.1:9): cannot connect",
            live.url()
        ))
        .run();
    assert!(
        r.stdout()
            .starts_with(&format!("warmed {} (profile code) in ", ollama::MODEL)),
        "{}",
        r.stdout()
    );
    let loads = |s: &Server| {
        s.requests()
            .iter()
            .filter(|r| r.request_line == "POST /api/chat HTTP/1.1")
            .map(|r| r.json())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        loads(&live),
        [serde_json::json!({"model": ollama::MODEL, "messages": [], "stream": false})]
    );

    // An endpoint that answers but lacks the model is passed over too, as a call would
    // pass it; --json names the endpoint.
    let lacking = ollama::admin(&["llama3:8b"]);
    let r = Test::new(&sb)
        .env("OLLAMA_URL", format!("{},{}", lacking.url(), live.url()))
        .args(["warm", "--json"])
        .stderr_has(&format!(
            "warming ollama-2 ({}), the endpoint of the local route a call would use; skipped ollama ({}) has no {}",
            live.url(),
            lacking.url(),
            ollama::MODEL
        ))
        .run();
    let doc: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(doc["endpoint_name"], "ollama-2", "{doc}");
    assert_eq!(doc["done_reason"], "load", "{doc}");
    assert!(loads(&lacking).is_empty());
    assert_eq!(loads(&live).len(), 2);

    // None answers: exit 4 with the advice, as with one endpoint.
    Test::new(&sb)
        .env("OLLAMA_URL", format!("{REFUSED},{REFUSED}"))
        .arg("warm")
        .code(4)
        .stdout("")
        .stderr_has("ollama-2 (ollama http://127.0.0.1:9): cannot connect")
        .stderr_has("is Ollama running at http://127.0.0.1:9")
        .run();
}

#[test]
fn a_black_holed_endpoint_costs_its_connect_timeout_once() {
    let sb = Sandbox::new();
    let live = ollama::fake().answering("live");
    let (hole, _held) = blackhole();
    let call = || {
        Test::new(&sb)
            .env("OLLAMA_URL", format!("http://{hole},{}", live.url()))
            .args(["--connect-timeout", "1", "--local", "x"])
            .stdout("live")
    };
    let first = call().stderr_has("timed out").run();
    assert!(
        first.elapsed >= Duration::from_secs(1),
        "{:?}",
        first.elapsed
    );
    let second = call().stderr_lacks("falling back").run();
    assert!(
        second.elapsed < Duration::from_millis(800),
        "the cooled endpoint is not waited for: {:?}",
        second.elapsed
    );
}

#[test]
fn a_corrupt_state_file_is_one_warning() {
    let sb = Sandbox::new();
    let live = ollama::fake().answering("fine");
    let path = state_file(&sb);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(&path, "{ half a json").unwrap();
    let r = Test::new(&sb)
        .env("OLLAMA_URL", format!("{REFUSED},{}", live.url()))
        .args(["--local", "x"])
        .stdout("fine")
        .stderr_has("health state")
        .stderr_has("corrupt")
        .stderr_has("falling back to local ollama-2")
        .run();
    assert_eq!(r.stderr.matches("health state").count(), 1, "{}", r.stderr);
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(text.contains("cooldown_until_ms"), "replaced: {text}");
}

#[test]
fn an_unwritable_state_file_is_one_warning() {
    let sb = Sandbox::new();
    let live = ollama::fake().answering("fine");
    let blocker = sb.dir.path().join("not-a-dir");
    std::fs::write(&blocker, "").unwrap();
    let r = Test::new(&sb)
        .env("XDG_STATE_HOME", &blocker)
        .env("OLLAMA_URL", format!("{REFUSED},{}", live.url()))
        .args(["--local", "x"])
        .stdout("fine")
        .stderr_has("cannot read the health state")
        .stderr_has("falling back to local ollama-2")
        .run();
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
    let live = ollama::fake().answering("fine");
    let state = sb.dir.path().join("state");
    Test::new(&sb)
        .env("CODEX_WRAP_STATE_DIR", &state)
        .env("OLLAMA_URL", format!("{REFUSED},{}", live.url()))
        .args(["--local", "x"])
        .stdout("fine")
        .stderr_has("falling back to local ollama-2")
        .run();
    let text = std::fs::read_to_string(state.join("health.json")).unwrap();
    assert!(text.contains("cooldown_until_ms"), "{text}");
    assert!(!state_file(&sb).exists(), "the default place was used too");
}
