//! The router against the labelled sets (tests/data/routing_dev.jsonl, routing_dev2.jsonl and
//! routing_dev3.jsonl, copied from the routing rubric's dev sets, and our own routing_extra,
//! routing_extra2 and routing_rubric3), the router's feedback in `stats`, and
//! `codex-wrap route` / `--explain` / auto-routing end to end. The weights were learned from
//! these sets (scripts/route_train.py), so these tests catch regressions; the honest,
//! held-out figures are the script's leave-one-set-out and cross-validation.

use codex_wrap::config::file;
use codex_wrap::route::Router;

use crate::support::{NO_CONTEXT, Sandbox, Test, gemini, ollama};

fn builtin_router() -> Router {
    let layers = file::load_layers(None, None).unwrap();
    let cfg = file::merge(&layers).unwrap();
    Router::from_table(cfg.router.as_ref()).unwrap()
}

// Each set pins its own figures: route agreement (at least), api→local error (at most), as
// measured with the shipped weights, which were trained on all six sets. In-sample figures:
// the held-out ones are the leave-one-set-out figures of scripts/route_train.py.

#[test]
fn agreement_with_the_labelled_set_meets_the_targets() {
    agreement(
        "routing_dev.jsonl",
        include_str!("data/routing_dev.jsonl"),
        PIN_DEV,
    );
}

/// The rubric's second dev set (300 prompts written independently of the first).
#[test]
fn agreement_with_the_second_labelled_set_meets_the_targets() {
    agreement(
        "routing_dev2.jsonl",
        include_str!("data/routing_dev2.jsonl"),
        PIN_DEV2,
    );
}

/// The rubric's third dev set (300 prompts, first scored as a hidden set, then released).
#[test]
fn agreement_with_the_third_labelled_set_meets_the_targets() {
    agreement(
        "routing_dev3.jsonl",
        include_str!("data/routing_dev3.jsonl"),
        PIN_DEV3,
    );
}

/// Our own set of 139 prompts labelled by the rubric, written to check that the rules
/// generalise beyond the dev set.
#[test]
fn agreement_with_the_extra_set_meets_the_targets() {
    agreement(
        "routing_extra.jsonl",
        include_str!("data/routing_extra.jsonl"),
        PIN_EXTRA,
    );
}

/// A second set of ours (40 prompts) aimed at the scope signals: enumerated deliverables,
/// folders and globs with counts, terse design / plan / upgrade asks, "our" questions, other
/// languages, and the local look-alikes (one Dockerfile or script with a listed spec).
#[test]
fn agreement_with_the_second_extra_set_meets_the_targets() {
    agreement(
        "routing_extra2.jsonl",
        include_str!("data/routing_extra2.jsonl"),
        PIN_EXTRA2,
    );
}

/// A third set of ours (103 prompts), written from the rubric alone before any router error
/// on dev3 was read: the rubric's borderline kinds, other languages, pasted logs and code.
#[test]
fn agreement_with_the_rubric_written_set_meets_the_targets() {
    agreement(
        "routing_rubric3.jsonl",
        include_str!("data/routing_rubric3.jsonl"),
        PIN_RUBRIC3,
    );
}

/// Route agreement at least, api→local error at most (percent), profile agreement at least.
struct Pin(f64, f64, f64);

// Measured with the shipped weights (scripts/route_eval.py and this test print them); a
// twentieth of a point of slack for rounding.
const PIN_DEV: Pin = Pin(99.95, 0.05, 99.95);
const PIN_DEV2: Pin = Pin(93.95, 4.77, 97.25);
const PIN_DEV3: Pin = Pin(96.65, 3.75, 98.65);
const PIN_EXTRA: Pin = Pin(97.75, 1.87, 99.25);
const PIN_EXTRA2: Pin = Pin(99.95, 0.05, 99.95);
const PIN_RUBRIC3: Pin = Pin(98.95, 2.18, 98.05);

fn agreement(name: &str, data: &str, pin: Pin) {
    let router = builtin_router();
    let (mut n, mut route_ok, mut profile_ok) = (0usize, 0usize, 0usize);
    let mut confusion = [[0usize; 2]; 2]; // [label][predicted], 0 = local, 1 = api
    let mut misses = Vec::new();
    for line in data.lines().filter(|l| !l.trim().is_empty()) {
        let item: serde_json::Value = serde_json::from_str(line).unwrap();
        let prompt = item["prompt"].as_str().unwrap();
        let want_route = item["route"].as_str().unwrap();
        let want_profile = match item["profile"].as_str().unwrap() {
            "uncensored" => "code",
            p => p,
        };
        let d = router.decide(prompt);
        n += 1;
        let idx = |r: &str| usize::from(r == "api");
        confusion[idx(want_route)][idx(d.route.as_str())] += 1;
        if d.route == want_route {
            route_ok += 1;
        }
        if d.profile == want_profile {
            profile_ok += 1;
        }
        if d.route != want_route || d.profile != want_profile {
            let short: String = prompt.chars().take(90).collect();
            misses.push(format!(
                "  want {want_route}/{want_profile} got {}/{} {:?} [{}]",
                d.route,
                d.profile,
                short,
                d.rules.join(" ")
            ));
        }
    }
    let route_pct = 100.0 * route_ok as f64 / n as f64;
    let profile_pct = 100.0 * profile_ok as f64 / n as f64;
    eprintln!(
        "{name}: n={n} route {route_pct:.1}% profile {profile_pct:.1}%\n\
         confusion (rows label, cols predicted): local→local {} local→api {} api→local {} api→api {}\n{}",
        confusion[0][0],
        confusion[0][1],
        confusion[1][0],
        confusion[1][1],
        misses.join("\n")
    );
    let api = confusion[1][0] + confusion[1][1];
    let api_to_local = 100.0 * confusion[1][0] as f64 / api.max(1) as f64;
    let Pin(min_route, max_api_to_local, min_profile) = pin;
    assert!(
        route_pct >= min_route,
        "route agreement {route_pct:.1}% < {min_route}%"
    );
    assert!(
        profile_pct >= min_profile,
        "profile agreement {profile_pct:.1}% < {min_profile}%"
    );
    assert!(
        api_to_local <= max_api_to_local,
        "api→local error {api_to_local:.1}% > {max_api_to_local}%"
    );
}

#[test]
fn route_command_prints_json_with_the_rules() {
    let sb = Sandbox::new();
    let r = Test::new(&sb)
        .args([
            "route",
            "--json",
            "Migrate the whole codebase from Moment.js to date-fns.",
        ])
        .run();
    let d: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(d["route"], "api");
    assert_eq!(d["profile"], "code");
    let c = d["confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&c));
    let rules: Vec<&str> = d["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r.as_str().unwrap())
        .collect();
    assert!(rules.iter().any(|r| r.starts_with("migrate")), "{rules:?}");

    let r = Test::new(&sb)
        .args(["route", "what is recursion"])
        .stdout_has("profile: fast")
        .run();
    assert!(r.stdout().starts_with("route: local\n"), "{}", r.stdout());
}

#[test]
fn a_project_rule_flips_the_route_command() {
    let sb = Sandbox::new();
    sb.write(
        "profiles.toml",
        "[router.rules.helm]\nside = \"api\"\nweight = 5\npattern = 'helm chart'\n",
    );
    let r = Test::new(&sb)
        .args(["route", "--json", "write a helm chart for the api"])
        .run();
    let d: serde_json::Value = serde_json::from_slice(&r.stdout).unwrap();
    assert_eq!(d["route"], "api", "{d}");
    sb.write(
        "profiles.toml",
        "[router.rules.bad]\nside = \"api\"\npattern = '(oops'\n",
    );
    Test::new(&sb)
        .args(["route", "x"])
        .code(3)
        .stdout("")
        .stderr_has("router rule 'bad' does not compile")
        .run();
}

#[test]
fn auto_routing_sends_an_api_prompt_to_gemini_and_explains() {
    let sb = Sandbox::new();
    let api = gemini::fake().answering("plan");
    let local = ollama::fake().answering("local");
    Test::new(&sb)
        .gemini(&api)
        .ollama(&local)
        .args([
            "--explain",
            "Plan a 3-quarter roadmap for moving our monolith to microservices.",
        ])
        .stdout("plan")
        .stderr_has(NO_CONTEXT)
        .stderr_has("router: api")
        .stderr_has("planning")
        .run();
    assert_eq!((api.hits(), local.hits()), (1, 0));
}

#[test]
fn auto_routing_picks_the_fast_profile_for_a_concept_unless_one_is_named() {
    let sb = Sandbox::new();
    let local = ollama::fake().answering("ok");
    Test::new(&sb)
        .ollama(&local)
        .arg("what is a closure")
        .stdout("ok")
        .run();
    Test::new(&sb)
        .ollama(&local)
        .env("OLLAMA_PROFILE", "code")
        .arg("what is a closure")
        .stdout("ok")
        .run();
    let models: Vec<String> = local
        .requests()
        .iter()
        .map(|r| r.json()["model"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(
        models,
        ["deepseek-coder:6.7b", "qwen2.5:14b-instruct-q4_K_M"]
    );
}

#[test]
fn api_429_falls_back_to_local_on_an_auto_routed_prompt() {
    let sb = Sandbox::new();
    let api = crate::support::Server::start(|_, _, conn| gemini::rate_limited(conn, "40s"));
    let local = ollama::fake().answering("local answer");
    Test::new(&sb)
        .gemini(&api)
        .ollama(&local)
        .arg("Design the architecture for a multi-tenant SaaS billing system.")
        .stdout("local answer")
        .stderr_has(NO_CONTEXT)
        .stderr_has("HTTP 429")
        .stderr_has("falling back to local")
        .run();
    assert_eq!(api.hits(), 1, "40s exceeds the retry cap: no retry");
}

#[test]
fn a_question_matching_a_heading_of_the_project_docs_goes_to_the_api() {
    let sb = Sandbox::new();
    let ask = |sb: &Sandbox| {
        let r = Test::new(sb)
            .args(["route", "--json", "what are the testing requirements?"])
            .run();
        serde_json::from_slice::<serde_json::Value>(&r.stdout).unwrap()
    };
    let d = ask(&sb);
    assert_eq!(
        (d["route"].as_str(), d["profile"].as_str()),
        (Some("local"), Some("fast")),
        "{d}"
    );
    sb.write(
        "CONTRACTS.md",
        "# Contract\n\n## Overview\nx\n\n## 3. Testing Requirements\nEvery change ships with tests.\n",
    );
    let d = ask(&sb);
    assert_eq!(
        (d["route"].as_str(), d["profile"].as_str()),
        (Some("api"), Some("fast")),
        "{d}"
    );
    let rules = d["rules"].to_string();
    assert!(
        rules.contains("docs-heading[testing requirements]"),
        "{rules}"
    );
}

/// The router's feedback from real use: routed `--write --check` calls record whether their
/// check failed in the end, and `stats` counts them per route chosen; forced routes and calls
/// without a check do not count as the router's.
#[test]
fn stats_shows_how_the_routers_local_calls_fared_against_their_checks() {
    let sb = Sandbox::new();
    let local = ollama::fake().answering("```python app.py\nx = 1\n```\n");
    let call = |args: &[&str], code: i32, stderr: &[&str]| {
        let mut t = Test::new(&sb).ollama(&local).args(args).code(code);
        for s in stderr {
            t = t.stderr_has(s);
        }
        t.run();
    };
    let prompt = "write a python function that adds two numbers";
    // Routed local; the check passes.
    call(&["-w", "--check", "true", prompt], 0, &[]);
    // Routed local; the check fails on every round (exit 8).
    let still_fails = &["the check still fails after 1 round"][..];
    call(
        &["-w", "--rounds", "1", "--check", "exit 1", prompt],
        8,
        still_fails,
    );
    // Routed local, no check: counted, with no verdict.
    call(&["-w", prompt], 0, &[]);
    // Forced local with a failing check: not the router's.
    call(
        &[
            "--local", "-w", "--rounds", "1", "--check", "exit 1", prompt,
        ],
        8,
        still_fails,
    );

    let log = std::fs::read_to_string(sb.project().join("logs/codex-wrap.jsonl")).unwrap();
    let records: Vec<serde_json::Value> = log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let fields: Vec<(String, serde_json::Value, bool)> = records
        .iter()
        .map(|r| {
            (
                r["route_by"].as_str().unwrap().to_owned(),
                r["check_failed"].clone(),
                r.get("escalated").is_some(),
            )
        })
        .collect();
    use serde_json::Value::{Bool, Null};
    assert_eq!(
        fields,
        [
            ("router".to_owned(), Bool(false), false),
            ("router".to_owned(), Bool(true), false),
            ("router".to_owned(), Null, false),
            ("flag".to_owned(), Bool(true), false),
        ],
        "{log}"
    );

    let r = Test::new(&sb).args(["stats", "--json"]).run();
    let s: serde_json::Value = serde_json::from_str(&r.stdout()).unwrap();
    assert_eq!(
        s["router"],
        serde_json::json!([{"route": "local", "calls": 3, "checked": 2, "check_failed": 1, "escalated": 0}]),
        "{s}"
    );
    Test::new(&sb)
        .arg("stats")
        .stdout_has(
            "router: of 3 calls routed local, 2 ran a check, 1 failed its check, 0 escalated\n",
        )
        .run();

    // A record written by a version that escalates is read as such.
    let mut escalated = records[1].clone();
    escalated["escalated"] = Bool(true);
    let mut text = log.clone();
    text.push_str(&format!("{escalated}\n"));
    std::fs::write(sb.project().join("logs/codex-wrap.jsonl"), text).unwrap();
    Test::new(&sb)
        .arg("stats")
        .stdout_has(
            "router: of 4 calls routed local, 3 ran a check, 2 failed their check, 1 escalated\n",
        )
        .run();
}
