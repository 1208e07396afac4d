//! The tool commands, run as a user would: doctor, profiles, models, warm, stats; against the
//! in-process servers and with nothing running.

use std::time::Duration;

use serde_json::{Value, json};

use crate::support::{Sandbox, Test, gemini, ollama};
use crate::support::{Server, blackhole};

const ALL: &[&str] = &[
    "qwen2.5:14b-instruct-q4_K_M",
    "deepseek-coder:6.7b",
    "gpt-oss:20b",
];
const ONLY_CODE: &[&str] = &["qwen2.5:14b-instruct-q4_K_M", "llama3:latest"];

fn doc(stdout: &str) -> Value {
    serde_json::from_str(stdout).unwrap_or_else(|e| panic!("{e}: {stdout}"))
}

/// The `doctor --json` check named `name`.
pub(crate) fn check<'a>(doc: &'a Value, name: &str) -> &'a Value {
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["check"] == name)
        .unwrap_or_else(|| panic!("no {name} check in {doc}"))
}

#[test]
fn doctor_with_nothing_up_fails_in_under_a_second() {
    // Ollama's address takes connections and never answers; no API key.
    let (addr, _held) = blackhole();
    let sb = Sandbox::new();
    let r = Test::new(&sb)
        .env("OLLAMA_URL", format!("http://{addr}"))
        .arg("doctor")
        .code(4)
        .run();
    assert!(r.elapsed < Duration::from_secs(1), "took {:?}", r.elapsed);
    let out = r.stdout();
    assert!(out.contains("local    FAIL"), "{out}");
    assert!(out.contains("ollama serve"), "{out}");
    assert!(out.contains("no key: set GEMINI_API_KEY"), "{out}");
    assert!(
        out.contains("the default route (local) cannot work"),
        "{out}"
    );

    // With a key the API fallback would answer, but the default route is still down.
    Test::new(&sb)
        .env("GEMINI_API_KEY", "k")
        .arg("doctor")
        .code(4)
        .stdout_has(
            "the default route (local) cannot work; calls will only succeed through the fallback",
        )
        .run();
}

#[test]
fn doctor_lists_pulled_and_missing_models_and_passes_when_the_default_is_there() {
    let server = ollama::admin(ONLY_CODE);
    let sb = Sandbox::new();
    sb.write(
        "CONTRACTS.md",
        "# Contracts\n## Auth\ntext\n## Billing\ntext\n",
    );
    let r = Test::new(&sb)
        .ollama(&server)
        .env("GEMINI_API_KEY", "k")
        .args(["doctor", "--json"])
        .run();
    let d = doc(&r.stdout());
    assert_eq!(check(&d, "local")["status"], "ok");
    assert!(
        check(&d, "local")["detail"]
            .as_str()
            .unwrap()
            .contains("Ollama 0.12.6")
    );
    let models = check(&d, "models");
    assert_eq!(models["status"], "warn", "{models}");
    let detail = models["detail"].as_str().unwrap();
    assert!(
        detail.contains("qwen2.5:14b-instruct-q4_K_M (code)"),
        "{detail}"
    );
    assert!(
        detail.contains("ollama pull deepseek-coder:6.7b"),
        "{detail}"
    );
    assert!(detail.contains("ollama pull gpt-oss:20b"), "{detail}");
    assert!(
        check(&d, "context")["detail"]
            .as_str()
            .unwrap()
            .contains("CONTRACTS.md (3 sections)")
    );
    assert!(
        check(&d, "api")["detail"]
            .as_str()
            .unwrap()
            .contains("key set (GEMINI_API_KEY)")
    );
    assert_eq!(d["ok"], true);

    // The default profile's model missing: the default route cannot work.
    Test::new(&sb)
        .ollama(&server)
        .env("OLLAMA_PROFILE", "fast")
        .arg("doctor")
        .code(4)
        .stdout_has("models   FAIL")
        .run();
}

#[test]
fn doctor_online_checks_the_key_and_model_with_the_key_in_a_header() {
    let local = ollama::admin(ALL);
    let good = Server::start(|_, _, conn| gemini::model_info(conn));
    let bad = Server::start(|_, _, conn| gemini::bad_key(conn));
    let sb = Sandbox::new();
    for (api, code, status, needle) in [
        (&good, 0, "ok", "Gemini Flash Latest (checked online)"),
        (&bad, 0, "fail", "API key not valid"),
    ] {
        let r = Test::new(&sb)
            .ollama(&local)
            .gemini(api)
            .env("GEMINI_API_KEY", "canary-doctor-1")
            .args(["doctor", "--online", "--json"])
            .code(code)
            .stdout_lacks("canary")
            .stderr_lacks("canary")
            .run();
        let d = doc(&r.stdout());
        let c = check(&d, "api");
        assert_eq!(c["status"], status, "{c}");
        assert!(c["detail"].as_str().unwrap().contains(needle), "{c}");
        let req = &api.requests()[0];
        assert_eq!(
            req.request_line,
            "GET /v1beta/models/gemini-flash-latest HTTP/1.1"
        );
        assert_eq!(req.header("x-goog-api-key"), Some("canary-doctor-1"));
    }
}

#[test]
fn doctor_reports_a_broken_config_with_exit_3() {
    let sb = Sandbox::new();
    sb.write("profiles.toml", "[profiles.code]\nmodle = \"x\"\n");
    Test::new(&sb)
        .arg("doctor")
        .code(3)
        .stdout_has("config   FAIL")
        .stdout_has("profiles.toml:2:1")
        .run();
}

#[test]
fn profiles_say_where_each_setting_came_from() {
    let sb = Sandbox::new();
    sb.user_config(
        "[profiles.code]\nmodel = \"my-coder:7b\"\nkeep_alive = \"30m\"\n[pool]\nstrategy = \"spread\"\n",
    );
    sb.write(
        "profiles.toml",
        "[profiles.code.options]\nnum_ctx = 16384\n[profiles.fast]\ntimeout = 20\n[timeouts]\nidle = 12\n",
    );
    let r = Test::new(&sb)
        .env("GEMINI_API_KEY", "sekrit-key")
        .args(["profiles", "--json"])
        .stdout_lacks("sekrit")
        .run();
    let d = doc(&r.stdout());
    assert_eq!(d["default"], json!({"value": "code", "source": "built-in"}));
    let setting = |profile: &str, key: &str| -> (String, String) {
        let p = d["profiles"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == profile)
            .unwrap();
        let s = p["settings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["key"] == key)
            .unwrap_or_else(|| panic!("{profile}.{key} in {p}"));
        (
            s["value"].as_str().unwrap().to_owned(),
            s["source"].as_str().unwrap().to_owned(),
        )
    };
    let (model, source) = setting("code", "model");
    assert_eq!(model, "my-coder:7b");
    assert!(
        source.starts_with("user file ") && source.ends_with("codex-wrap/profiles.toml"),
        "{source}"
    );
    assert_eq!(setting("code", "keep_alive").0, "30m");
    let (ctx, source) = setting("code", "options.num_ctx");
    assert_eq!(ctx, "16384");
    assert!(source.starts_with("project file "), "{source}");
    assert_eq!(setting("code", "options.temperature").1, "built-in");
    assert_eq!(
        setting("code", "timeout"),
        ("60s".into(), "built-in [timeouts] deadline".into())
    );
    assert!(setting("fast", "timeout").1.starts_with("project file "));
    assert_eq!(setting("fast", "guardrails").1, "default");

    // Every other resolved value, from each layer; a key by its variable's name only.
    let origin = |key: &str| {
        d["provenance"][key]
            .as_str()
            .unwrap_or_else(|| panic!("{key} in {}", d["provenance"]))
            .to_owned()
    };
    assert!(
        origin("timeouts.idle").starts_with("project file "),
        "{}",
        origin("timeouts.idle")
    );
    assert!(origin("pool.strategy").starts_with("user file "));
    assert_eq!(origin("timeouts.connect"), "built-in");
    assert_eq!(origin("timeouts.first_byte"), "default");
    assert_eq!(origin("pool.cooldown"), "default");
    assert_eq!(origin("ollama.url"), "environment OLLAMA_URL");
    assert_eq!(origin("gemini.key"), "environment GEMINI_API_KEY");
    assert_eq!(origin("gemini.base_url"), "environment GEMINI_BASE_URL");
    assert_eq!(origin("gemini.model"), "built-in");
    assert_eq!(origin("routes.local"), "default");
    assert_eq!(origin("profile"), "built-in");

    // doctor reads the same record.
    // Nothing listens at OLLAMA_URL: doctor fails, and its profile row is what is read.
    let out = Test::new(&sb).arg("doctor").code(4).run().stdout();
    let row = out
        .lines()
        .find(|l| l.starts_with("profile "))
        .unwrap_or_else(|| panic!("{out}"));
    assert!(
        row.contains("code (built-in); model my-coder:7b (user file ")
            && row.ends_with("deadline 60s (built-in [timeouts] deadline)"),
        "{row}"
    );

    // Environment and flags.
    let out = Test::new(&sb)
        .env("OLLAMA_PROFILE", "fast")
        .env("OLLAMA_MODEL", "llama3")
        .env_remove("OLLAMA_URL")
        .env("OLLAMA_HOST", "127.0.0.1:9")
        .args(["profiles", "--timeout", "5"])
        .run()
        .stdout();
    assert!(
        out.starts_with("default profile: fast (environment OLLAMA_PROFILE)"),
        "{out}"
    );
    assert!(out.contains("model                llama3"), "{out}");
    assert!(out.contains("environment OLLAMA_MODEL"), "{out}");
    assert!(
        out.contains("5s                      flag --timeout"),
        "{out}"
    );
    assert!(
        out.contains("fast — Short answers: concepts, one-liners  [default]"),
        "{out}"
    );
    let other = out
        .split_once("other settings not from the built-in defaults:\n")
        .unwrap_or_else(|| panic!("{out}"))
        .1;
    let row = |key: &str| {
        other
            .lines()
            .find(|l| l.trim_start().starts_with(&format!("{key} ")))
            .unwrap_or_else(|| panic!("{key} in {other}"))
            .split_whitespace()
            .skip(1)
            .collect::<Vec<_>>()
            .join(" ")
    };
    assert_eq!(row("ollama.url"), "environment OLLAMA_HOST");
    assert!(row("timeouts.idle").starts_with("project file "), "{other}");
    assert!(row("pool.strategy").starts_with("user file "), "{other}");
    assert!(!other.contains("timeouts.connect"), "{other}");
}

#[test]
fn models_lists_the_server_and_names_what_to_pull() {
    let server = ollama::admin(ONLY_CODE);
    let sb = Sandbox::new();
    Test::new(&sb)
        .ollama(&server)
        .arg("models")
        .stdout(
            "NAME                         SIZE    MODIFIED          PROFILES\n\
             llama3:latest                9.0 GB  2026-11-20 09:32\n\
             qwen2.5:14b-instruct-q4_K_M  9.0 GB  2026-11-20 09:32  code\n",
        )
        .stderr_has("profile 'fast' uses deepseek-coder:6.7b, which is not pulled: ollama pull deepseek-coder:6.7b")
        .stderr_has("profile 'uncensored' uses gpt-oss:20b, which is not pulled: ollama pull gpt-oss:20b")
        .run();

    let d = doc(&Test::new(&sb)
        .ollama(&server)
        .args(["models", "--json"])
        .stderr_has("profile 'fast' uses deepseek-coder:6.7b, which is not pulled")
        .stderr_has("profile 'uncensored' uses gpt-oss:20b, which is not pulled")
        .run()
        .stdout());
    assert_eq!(d["models"][1]["name"], "qwen2.5:14b-instruct-q4_K_M");
    assert_eq!(d["models"][1]["size"], 9001211363u64);
    assert_eq!(d["models"][1]["profiles"], json!(["code"]));

    // Nothing running: exit 4, one line.
    let r = Test::new(&sb)
        .arg("models")
        .code(4)
        .stdout("")
        .stderr_has("ollama serve")
        .run();
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}

#[test]
fn warm_loads_the_profile_model_with_its_keep_alive() {
    let server = ollama::admin(ALL);
    let sb = Sandbox::new();
    sb.write("profiles.toml", "[profiles.fast]\nkeep_alive = \"30m\"\n");
    let r = Test::new(&sb)
        .ollama(&server)
        .args(["warm", "--profile", "fast"])
        .stdout_has("kept loaded for 30m")
        .run();
    assert!(
        r.stdout()
            .starts_with("warmed deepseek-coder:6.7b (profile fast) in "),
        "{}",
        r.stdout()
    );
    let req = &server.requests()[0];
    assert_eq!(req.request_line, "POST /api/chat HTTP/1.1");
    assert_eq!(
        req.json(),
        json!({"model": "deepseek-coder:6.7b", "messages": [], "stream": false, "keep_alive": "30m"})
    );

    // --keep-alive -1 keeps it for ever (a number, as Ollama expects); --json.
    let r = Test::new(&sb)
        .ollama(&server)
        .args(["warm", "--keep-alive", "-1", "--json"])
        .run();
    let d = doc(&r.stdout());
    assert_eq!(d["model"], "qwen2.5:14b-instruct-q4_K_M");
    assert_eq!(d["done_reason"], "load");
    assert!(d["seconds"].as_f64().unwrap() >= 0.0);
    assert_eq!(server.requests()[1].json()["keep_alive"], -1);
}

#[test]
fn warm_a_model_that_is_not_pulled_says_how_to_pull_it() {
    let server = ollama::admin(ONLY_CODE);
    let sb = Sandbox::new();
    Test::new(&sb)
        .ollama(&server)
        .args(["warm", "-p", "fast"])
        .code(4)
        .stdout("")
        .stderr_has("ollama pull deepseek-coder:6.7b")
        .run();
}

fn record(
    ts: &str,
    route: &str,
    served: Option<&str>,
    backend: &str,
    model: &str,
    n: [u64; 5],
) -> Value {
    let [exit, fallbacks, tokens_in, tokens_out, ttft] = n;
    let mut r = json!({
        "v": 1, "ts": ts, "version": "0.1.0", "route": route, "route_by": "router",
        "profile": "code", "backend": backend, "model": model, "attempts": [],
        "fallbacks": fallbacks, "total_ms": 1000.0, "tokens_in": tokens_in,
        "tokens_out": tokens_out, "tokens_estimated": false, "bytes_out": 10,
        "exit": exit, "outcome": if exit == 0 { "ok" } else { "unavailable" },
        "prompt_chars": 10, "prompt_hash": "0011223344556677",
    });
    if let Some(s) = served {
        r["served_by"] = json!(s);
        r["ttft_ms"] = json!(ttft as f64);
        r["tokens_per_sec"] = json!(ttft as f64 / 10.0);
    } else {
        r["attempts"] =
            json!([{"route": route, "backend": backend, "model": model, "result": "unreachable"}]);
    }
    r
}

#[test]
fn stats_on_a_fixture_log() {
    let sb = Sandbox::new();
    let q = "qwen2.5:14b-instruct-q4_K_M";
    let lines = [
        record(
            "2026-10-15T08:00:00.000Z",
            "local",
            Some("local"),
            "ollama",
            q,
            [0, 0, 99999, 99999, 100],
        ),
        record(
            "2026-11-20T08:00:00.000Z",
            "local",
            Some("local"),
            "ollama",
            q,
            [0, 0, 100, 300, 200],
        ),
        record(
            "2026-11-20T09:00:00.000Z",
            "local",
            Some("local"),
            "ollama",
            q,
            [0, 0, 50, 150, 400],
        ),
        record(
            "2026-11-20T10:00:00.000Z",
            "local",
            None,
            "ollama",
            q,
            [4, 0, 0, 0, 0],
        ),
        record(
            "2026-11-21T08:00:00.000Z",
            "local",
            Some("api"),
            "gemini",
            "gemini-flash-latest",
            [0, 1, 1000, 2000, 900],
        ),
        record(
            "2026-11-22T08:00:00.000Z",
            "api",
            Some("api"),
            "gemini",
            "gemini-exp",
            [0, 0, 3000, 1000, 700],
        ),
    ];
    let mut text: String = lines.iter().map(|l| format!("{l}\n")).collect();
    text.push_str("{oops\n[]\n{\"v\":1,\"ts\":\"yesterday\"}\n");
    sb.write("logs/codex-wrap.jsonl", &text);
    sb.write(
        "profiles.toml",
        "[prices.\"gemini-flash-latest\"]\ninput = 1.0\noutput = 2.0\n[prices.cloud]\ninput = 3.0\noutput = 15.0\n",
    );

    let r = Test::new(&sb)
        .args(["stats", "--since", "2026-11-01", "--json"])
        .run();
    let d = doc(&r.stdout());
    assert_eq!(d["since"], "2026-11-01T00:00:00Z");
    assert_eq!((d["calls"].clone(), d["ok"].clone()), (json!(5), json!(4)));
    assert_eq!(d["success_rate"], 80.0);
    assert_eq!(d["fell_back"], 1);
    assert_eq!(d["malformed_lines"], 3);
    assert_eq!(
        d["routes"],
        json!([
            {"route": "api", "backend": "gemini", "calls": 2, "ok": 2, "success_rate": 100.0},
            {"route": "local", "backend": "ollama", "calls": 3, "ok": 2, "success_rate": 66.7},
        ])
    );
    assert_eq!(
        d["models"],
        json!([
            {"model": "gemini-exp", "backend": "gemini", "answered": 1, "first_token_ms_p50": 700.0, "tokens_per_sec_p50": 70.0},
            {"model": "gemini-flash-latest", "backend": "gemini", "answered": 1, "first_token_ms_p50": 900.0, "tokens_per_sec_p50": 90.0},
            {"model": q, "backend": "ollama", "answered": 2, "first_token_ms_p50": 300.0, "tokens_per_sec_p50": 30.0},
        ])
    );
    assert_eq!(
        d["tokens"],
        json!({"local_in": 150, "local_out": 450, "api_in": 4000, "api_out": 3000, "local_share": 7.9, "some_estimated": false})
    );
    assert_eq!(d["api_cost"], 0.005);
    assert_eq!(d["api_cost_by_model"][0]["cost"], Value::Null);
    assert_eq!(d["api_cost_by_model"][1]["cost"], 0.005);
    // 150 in × 3 + 450 out × 15, per million.
    assert_eq!(d["local_at_cloud_prices"], 0.0072);

    // The text report; without --since the old record counts too.
    let out = Test::new(&sb).arg("stats").run().stdout();
    assert!(out.contains("all time: 6 calls, 5 answered (83.3%), 1 answered after a fallback; 3 malformed lines skipped"), "{out}");
    assert!(out.contains("local  ollama   4      3   75.0%"), "{out}");
    assert!(
        out.contains(
            "tokens served locally: 100,149 in + 100,449 out = 200,598 (96.6% of all tokens)"
        ),
        "{out}"
    );
    assert!(
        out.contains(
            "API cost: 0.0050 (gemini-exp (no price in [prices]), gemini-flash-latest 0.0050)"
        ),
        "{out}"
    );
    assert!(
        out.contains("the local tokens at cloud prices ([prices.cloud]): 1.8072\n"),
        "{out}"
    );

    // A bad window is a usage error.
    Test::new(&sb)
        .args(["stats", "--since", "last tuesday"])
        .code(2)
        .stdout("")
        .stderr_has("--since 'last tuesday'")
        .run();
}

#[test]
fn stats_counts_real_calls_end_to_end() {
    let sb = Sandbox::new();
    let local = ollama::fake().streaming(&["a", "b"]);
    for _ in 0..3 {
        Test::new(&sb)
            .ollama(&local)
            .args(["-l", "x"])
            .stdout("ab")
            .run();
    }
    // Nothing listens: exit 4.
    Test::new(&sb)
        .args(["-l", "x"])
        .code(4)
        .stdout("")
        .stderr_has("cannot connect to http://127.0.0.1:9/api/chat")
        .run();
    let d = doc(&Test::new(&sb)
        .args(["stats", "--since", "1h", "--json"])
        .run()
        .stdout());
    assert_eq!(d["calls"], 4);
    assert_eq!(d["ok"], 3);
    assert_eq!(d["tokens"]["local_out"], 6);
    assert_eq!(d["models"][0]["answered"], 3);

    // Logging turned off later: the calls already logged still count.
    let d = doc(&Test::new(&sb)
        .env("CODEX_WRAP_ENABLE_LOGGING", "0")
        .args(["stats", "--json"])
        .run()
        .stdout());
    assert_eq!(d["calls"], 4);
}

#[test]
fn stats_ignores_a_speed_measured_over_less_than_a_millisecond() {
    let sb = Sandbox::new();
    let q = "qwen2.5:14b-instruct-q4_K_M";
    let mut absurd = record(
        "2026-11-20T08:00:00.000Z",
        "local",
        Some("local"),
        "ollama",
        q,
        [0, 0, 10, 4096, 5],
    );
    // An answer delivered in one read: 4096 tokens "in" a microsecond.
    absurd["tokens_per_sec"] = json!(4_096_000_000_000.0);
    let mut real = record(
        "2026-11-20T09:00:00.000Z",
        "local",
        Some("local"),
        "ollama",
        q,
        [0, 0, 10, 100, 5],
    );
    real["tokens_per_sec"] = json!(50.0);
    sb.write("logs/codex-wrap.jsonl", &format!("{absurd}\n{real}\n"));
    let r = Test::new(&sb)
        .args(["stats", "--json", "--since", "2026-11-01"])
        .run();
    let doc: Value = serde_json::from_str(&r.stdout()).unwrap();
    let models = doc["models"].as_array().unwrap();
    assert_eq!(models.len(), 1, "{doc}");
    assert_eq!(models[0]["answered"], 2, "{doc}");
    assert_eq!(models[0]["tokens_per_sec_p50"], 50.0, "{doc}");
    Test::new(&sb)
        .args(["stats", "--since", "2026-11-01"])
        .stdout_lacks("4096000000000")
        .run();
}

#[test]
fn doctor_does_not_call_gemini_healthy_without_a_key() {
    let server = ollama::admin(ONLY_CODE);
    let sb = Sandbox::new();
    let pool = |key: Option<&str>| {
        let mut t = Test::new(&sb).ollama(&server).args(["doctor", "--json"]);
        if let Some(k) = key {
            t = t.env("GEMINI_API_KEY", k);
        }
        let d = doc(&t.run().stdout());
        check(&d, "pool")["detail"].as_str().unwrap().to_owned()
    };
    let without = pool(None);
    assert!(
        without.contains("gemini (gemini http://127.0.0.1:9): no key (GEMINI_API_KEY)"),
        "{without}"
    );
    let with = pool(Some("k"));
    assert!(
        with.contains("gemini (gemini http://127.0.0.1:9): healthy"),
        "{with}"
    );
}
