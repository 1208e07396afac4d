use super::*;
use crate::config::file;

fn builtin() -> Router {
    let layers = file::load_layers(None, None).unwrap();
    let cfg = file::merge(&layers).unwrap();
    Router::from_table(cfg.router.as_ref()).unwrap()
}

#[track_caller]
fn case(prompt: &str, route: &str, profile: &str) {
    let d = builtin().decide(prompt);
    assert_eq!(
        (d.route.as_str(), d.profile),
        (route, profile),
        "{prompt:?}: {d:?}"
    );
}

#[test]
fn scope_words_pick_the_api() {
    case(
        "Move the retry helper into a shared module across the codebase",
        "api",
        "code",
    );
    case(
        "rename fetchUser to loadUser in every service",
        "api",
        "code",
    );
}

#[test]
fn single_units_stay_local() {
    case(
        "Write a Rust function that parses a semver string",
        "local",
        "code",
    );
    case("regex that matches an IPv6 address", "local", "fast");
    case("what is a monad", "local", "fast");
}

#[test]
fn negation_shrinks_the_scope() {
    case(
        "Don't refactor the whole codebase, just fix the off-by-one in this loop: for i in 0..=n {}",
        "local",
        "code",
    );
}

#[test]
fn keywords_in_pasted_code_do_not_fire() {
    case(
        "Add a docstring to this function:\n\ndef migrate_whole_codebase_across_services(x):\n    return x",
        "local",
        "code",
    );
}

#[test]
fn path_counting() {
    let parts = mask::split("Remove the cycle between models/, services/ and utils/helpers.py");
    let found = signals::measure(&parts, &SignalsConfig::default(), 0);
    assert_eq!(found.paths, 3);
    let parts = mask::split("back up ~/Documents to /mnt/backup with async/await");
    assert_eq!(
        signals::measure(&parts, &SignalsConfig::default(), 0).paths,
        0
    );
}

#[test]
fn long_logs_route_to_the_api_short_errors_do_not() {
    let mut log = String::from("Why does this fail?\n\n");
    for i in 0..14 {
        log.push_str(&format!(
            "2024-05-02T10:14:{i:02}Z ERROR worker {i} failed: timeout\n"
        ));
    }
    case(&log, "api", "code");
    case(
        "Why am I getting this?\n\nTypeError: x is undefined\n  at f (a.js:3)",
        "local",
        "code",
    );
}

#[test]
fn a_user_rule_flips_a_decision() {
    let layers = file::load_layers(None, None).unwrap();
    let mut cfg = file::merge(&layers).unwrap();
    let router = cfg.router.as_mut().unwrap();
    let extra: toml::Table = toml::from_str(
        "[rules.kubernetes]\nside = \"api\"\nweight = 5.0\npattern = 'helm chart'\n",
    )
    .unwrap();
    router["rules"]
        .as_table_mut()
        .unwrap()
        .extend(extra["rules"].as_table().unwrap().clone());
    let r = Router::from_table(Some(router)).unwrap();
    let d = r.decide("write a helm chart for the api");
    assert_eq!(d.route, "api", "{d:?}");
    assert!(d.rules.iter().any(|r| r.starts_with("kubernetes")));
    assert_eq!(
        builtin().decide("write a helm chart for the api").route,
        "local"
    );
}

#[test]
fn a_rule_that_does_not_compile_is_named() {
    let table: toml::Table =
        toml::from_str("[rules.broken]\nside = \"api\"\npattern = '(unclosed'\n").unwrap();
    let err = Router::from_table(Some(&table)).err().unwrap().to_string();
    assert!(
        err.contains("router rule 'broken' does not compile"),
        "{err}"
    );
}

#[test]
fn other_languages_do_not_crash_and_use_structure() {
    for p in [
        "Напиши функцию сортировки",
        "שלום עולם",
        "🙂🙂🙂",
        "",
        "   ",
    ] {
        let d = builtin().decide(p);
        assert!(d.route == "local" || d.route == "api");
    }
    case(
        "AGENTS.mdの規約に従って、リポジトリ全体を直してください",
        "api",
        "code",
    );
}

#[test]
fn decisions_are_deterministic() {
    let r = builtin();
    let p = "Design the architecture for a billing system";
    assert_eq!(r.decide(p), r.decide(p));
}

#[test]
fn non_ascii_literals_become_byte_escapes() {
    assert_eq!(literals::utf8_literals("fún"), r"f(?:\xC3\xBA)n");
    let table: toml::Table = toml::from_str(
        "[rules.es]\nside = \"local\"\npattern = 'funci(o|ó)n\\b'\n[rules.zh]\nside = \"api\"\npattern = '迁移'\n",
    )
    .unwrap();
    let r = Router::from_table(Some(&table)).unwrap();
    let fired = |p: &str| r.decide(p).rules;
    assert_eq!(fired("escribe una FUNCIÓN, una función"), ["es(-1)"]);
    assert_eq!(fired("把项目迁移到"), ["zh(+1)"]);
    assert!(fired("funciones").is_empty());
}

#[test]
fn deliverables_are_counted_in_lists_and_bullets() {
    let count = |p: &str| signals::deliverables(&mask::split(p).request);
    assert_eq!(
        count(
            "Add referrals: referral codes, attribution at signup, rewards after the first purchase, an admin report and a share screen"
        ),
        5
    );
    assert_eq!(count("Plan the work:\n- schema\n- API\n- UI\n"), 3);
    assert_eq!(count("Write a function that reverses a string"), 1);
    assert_eq!(
        count("tela no painel, worker assíncrono, endpoint na API e notificação por e-mail"),
        4
    );
}

#[test]
fn a_folder_with_a_quantity_is_plural_scope() {
    let scope = |p: &str| {
        let parts = mask::split(p);
        signals::measure(&parts, &SignalsConfig::default(), 0).folder_scope
    };
    assert!(scope(
        "add tests for every repository class in app/Repositories (12 classes)"
    ));
    assert!(scope("convert all of `src/**/*.js` to TypeScript"));
    assert!(!scope("fix the bug in app/Repositories/UserRepository.php"));
}

#[test]
fn bias_moves_borderline_prompts_and_is_explained() {
    let layers = file::load_layers(None, None).unwrap();
    let cfg = file::merge(&layers).unwrap();
    let mut table = cfg.router.clone().unwrap();
    let prompt = "Write a Rust function that parses a semver string";
    let plain = Router::from_table(Some(&table)).unwrap().decide(prompt);
    assert_eq!(plain.route(), Route::Local);
    table.insert("bias".into(), toml::Value::Float(20.0));
    let biased = Router::from_table(Some(&table)).unwrap().decide(prompt);
    assert_eq!(biased.route(), Route::Api, "{biased:?}");
    assert!(biased.rules.iter().any(|r| r == "bias(+20)"), "{biased:?}");
    assert!((plain.score + 20.0 - biased.score).abs() < 0.011);
}

#[test]
fn confidence_grows_with_the_margin() {
    let r = builtin();
    let sure = r.decide("what is a monad");
    let unsure = r.decide("tidy up the helpers");
    assert!(sure.confidence > unsure.confidence, "{sure:?} {unsure:?}");
    assert!((0.5..=1.0).contains(&unsure.confidence));
}

/// The prefilter only skips work: on every labelled prompt, the patterns found through it
/// are exactly those found by one automaton of all patterns.
#[test]
fn the_prefilter_finds_what_the_whole_rule_set_finds() {
    let sets = [
        include_str!("../../../../tests/data/routing_dev.jsonl"),
        include_str!("../../../../tests/data/routing_dev2.jsonl"),
        include_str!("../../../../tests/data/routing_dev3.jsonl"),
        include_str!("../../../../tests/data/routing_extra.jsonl"),
        include_str!("../../../../tests/data/routing_extra2.jsonl"),
        include_str!("../../../../tests/data/routing_rubric3.jsonl"),
    ];
    let router = builtin();
    let all = router.compile_some((0..router.prepared.len() as u32).collect());
    let mut cache = all.dfa.create_cache();
    let (mut prompts, mut skipped) = (0, 0);
    for line in sets.iter().flat_map(|s| s.lines()) {
        let row: serde_json::Value = serde_json::from_str(line).unwrap();
        let text = mask::split(row["prompt"].as_str().unwrap())
            .request
            .to_ascii_lowercase();
        let mut set = PatternSet::new(all.dfa.pattern_len());
        all.dfa
            .try_which_overlapping_matches(&mut cache, &Input::new(text.as_bytes()), &mut set)
            .unwrap();
        let want: Vec<usize> = set.iter().map(|p| p.as_usize()).collect();
        let candidates = prefilter::candidates(&router.literals, text.as_bytes());
        assert!(
            want.iter().all(|&p| candidates.contains(&(p as u32))),
            "{text:?}: {want:?} not all in {candidates:?}"
        );
        // Now and then through `matches` with nothing compiled yet, so the candidates'
        // own automaton is what answers.
        if prompts % 40 == 0 {
            *router.compiled.lock().unwrap() = None;
            assert_eq!(router.matches(text.as_bytes()), want, "{text:?}");
        }
        prompts += 1;
        skipped += router.prepared.len() - candidates.len();
    }
    assert_eq!(prompts, 1032);
    // Most patterns are skipped for a typical prompt (else the prefilter is not working).
    assert!(
        skipped > prompts * router.prepared.len() / 2,
        "{skipped} of {}",
        prompts * router.prepared.len()
    );
}

/// Every built-in rule's literals come from the build script's table: a call parses none
/// of them until its request makes them candidates.
#[test]
fn no_built_in_rule_is_parsed_when_the_router_is_built() {
    let router = builtin();
    assert!(router.hirs.iter().all(|h| h.get().is_none()));
    let _ = router.decide("write a function");
    let parsed = router.hirs.iter().filter(|h| h.get().is_some()).count();
    assert!(parsed < router.prepared.len() / 4, "{parsed} parsed");
}
