use super::*;

const CONTRACTS: &str = "\u{feff}# Contracts\r\n\r\nIntro text.\r\n\r\n## 1. Error handling\r\n\r\nAll errors are problem+json.\r\n\r\n```bash\r\n# not a heading: retry policy\r\n```\r\n\r\n## 2. Retry policy\r\n\r\nThe billing webhook retries 5 times with exponential backoff.\r\n\r\n### Retry limits\r\n\r\nAt most 5 attempts.\r\n\r\n## 3. Logging\r\n\r\nUse structured logs with request ids.\r\n";
const AGENTS: &str = "# 🤖 Codex Orchestration Template\n\nAgents run in order.\n\n## Testing Protocol\n\nRun cargo test before you stop.\n\n## Style **Guide**\n\nPrefer small functions.\n";

fn settings() -> ContextSettings {
    ContextSettings::default()
}

fn docs() -> Vec<Doc> {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("CONTRACTS.md"), CONTRACTS).unwrap();
    std::fs::write(dir.path().join("AGENTS.md"), AGENTS).unwrap();
    let mut w = Vec::new();
    let docs = load(dir.path(), &settings().files, &mut w);
    assert!(w.is_empty(), "{w:?}");
    docs
}

#[test]
fn normalisation_ignores_emoji_numbering_and_markup() {
    assert_eq!(
        normalize("🤖 Codex Orchestration Template"),
        "codex orchestration template"
    );
    assert_eq!(normalize("2. Retry *policy*"), "retry policy");
    assert_eq!(
        normalize("Style **Guide** [link](http://x)"),
        "style guide link"
    );
    assert_eq!(normalize("4.2 `API` rules"), "api rules");
}

#[test]
fn explicit_names_match_exactly_then_by_unique_prefix() {
    let d = docs();
    let agents = &d[1];
    assert_eq!(
        find_section(agents, "codex orchestration template")
            .unwrap()
            .map(|i| agents.sections[i].title(&agents.text).to_owned()),
        Some("🤖 Codex Orchestration Template".to_owned())
    );
    assert_eq!(
        find_section(agents, "testing")
            .unwrap()
            .map(|i| agents.sections[i].title(&agents.text).to_owned()),
        Some("Testing Protocol".to_owned())
    );
    let contracts = &d[0];
    // "retry" is a prefix of "retry policy" and "retry limits": ambiguous.
    assert!(find_section(contracts, "retry").is_err());
    assert_eq!(find_section(contracts, "nothing").unwrap(), None);
}

#[test]
fn named_sections_include_subsections_and_skip_code_fences() {
    let d = docs();
    let mut s = settings();
    s.named = parse_hints("contract:Retry Policy;agents:Testing Protocol");
    let sel = select(&d, &s, "anything", 8000, Depth::Full);
    let labels: Vec<&str> = sel.blocks.iter().map(|b| b.label.as_str()).collect();
    assert_eq!(
        labels,
        [
            "CONTRACTS.md § 2. Retry policy",
            "AGENTS.md § Testing Protocol"
        ]
    );
    assert!(
        sel.blocks[0].text.contains("At most 5 attempts"),
        "subsection kept"
    );
    assert!(!sel.blocks[0].text.contains("Logging"));
}

#[test]
fn unmatched_names_fall_back_to_the_first_lines_with_a_warning() {
    let d = docs();
    let mut s = settings();
    s.named = parse_hints("contract:Nope");
    s.summary_lines = vec![("contract".into(), 3)];
    let sel = select(&d, &s, "x", 8000, Depth::Full);
    assert_eq!(sel.warnings.len(), 1, "{:?}", sel.warnings);
    assert!(sel.warnings[0].contains("first 3 lines"));
    assert_eq!(sel.chosen[0].reason, "summary");
    assert_eq!(sel.blocks[0].text.lines().count(), 3);
}

#[test]
fn automatic_selection_picks_the_obvious_section() {
    let d = docs();
    let s = settings();
    for (prompt, want) in [
        (
            "Per CONTRACTS.md, what is the retry policy for the billing webhook?",
            "2. Retry policy",
        ),
        (
            "how should errors be returned to clients",
            "1. Error handling",
        ),
        ("add structured logging with request ids", "3. Logging"),
        (
            "what must I run before I stop, per the testing protocol",
            "Testing Protocol",
        ),
    ] {
        let sel = select(&d, &s, prompt, 800, Depth::Minimal);
        assert_eq!(
            sel.chosen.first().map(|c| c.section.as_str()),
            Some(want),
            "{prompt}: {:?}",
            sel.chosen
        );
    }
    assert!(
        select(&d, &s, "write a haiku about cats", 800, Depth::Minimal)
            .blocks
            .is_empty()
    );
}

#[test]
fn the_budget_is_never_exceeded_and_long_sections_are_cut() {
    let mut big = String::from("# Huge\n");
    for i in 0..2000 {
        big.push_str(&format!(
            "retry line {i} with some words about the retry policy\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("CONTRACTS.md"), &big).unwrap();
    let mut w = Vec::new();
    let docs = load(dir.path(), &["CONTRACTS.md".into()], &mut w);
    for budget in [40, 100, 800] {
        let sel = select(&docs, &settings(), "retry policy", budget, Depth::Full);
        let total: usize = sel.blocks.iter().map(|b| estimate_tokens(&b.text)).sum();
        assert!(total <= budget, "{total} > {budget}");
        assert!(sel.chosen[0].cut);
        assert!(
            sel.blocks[0]
                .text
                .ends_with("[… cut to fit the context budget]\n")
        );
        assert!(sel.blocks[0].text.starts_with("# Huge\nretry line 0"));
    }
}

#[test]
fn bad_files_warn_and_carry_on() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("CONTRACTS.md"), b"# A\n\xff\xfe bad\n").unwrap();
    let mut w = Vec::new();
    let docs = load(
        dir.path(),
        &["CONTRACTS.md".into(), "AGENTS.md".into()],
        &mut w,
    );
    assert_eq!(docs.len(), 1);
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(w[0].contains("not valid UTF-8"));
    assert!(w[1].contains("no AGENTS.md"));
}

#[test]
fn a_file_over_8_mb_is_read_in_part() {
    let dir = tempfile::tempdir().unwrap();
    let line = "# Section\nsome text here\n";
    let text = line.repeat(MAX_FILE_BYTES / line.len() + 10);
    std::fs::write(dir.path().join("CONTRACTS.md"), &text).unwrap();
    let mut w = Vec::new();
    let docs = load(dir.path(), &["CONTRACTS.md".into()], &mut w);
    assert_eq!(docs[0].text.len(), MAX_FILE_BYTES);
    assert!(w[0].contains("over 8 MB"));
}

#[test]
fn hints_parse_like_the_old_script() {
    assert_eq!(
        parse_hints("contract:A,B;agents:C"),
        [
            ("contract".to_owned(), "A".to_owned()),
            ("contract".to_owned(), "B".to_owned()),
            ("agents".to_owned(), "C".to_owned())
        ]
    );
    assert_eq!(
        parse_hints("A, B"),
        [
            ("*".to_owned(), "A".to_owned()),
            ("*".to_owned(), "B".to_owned())
        ]
    );
}

/// A big section whose 120-token subsection holds the answer (issue: the routing question
/// got the parent's first 797 tokens, cut).
fn big_parent_doc() -> String {
    let mut doc = String::from("# Routing\n\n");
    for i in 0..90 {
        doc.push_str(&format!(
            "Routing note {i}: the router reads the prompt and weighs its signals.\n"
        ));
    }
    doc.push_str("\n## Thresholds\n\n");
    doc.push_str(
        "A request goes local when it is under 2,000 tokens, names no more than two files \
         and asks for code, not a design. Everything else goes to the API route, unless \
         --local is given. A local request that fails before any output falls back to the \
         API; one that fails after output does not, so stdout never holds two answers. \
         The router's confidence is logged with each call for later tuning.\n",
    );
    doc.push_str("\n# Deployment\n\nShip it.\n");
    doc
}

#[test]
fn a_subsection_that_fits_beats_its_parent_cut_to_fit() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("CONTRACTS.md"), big_parent_doc()).unwrap();
    let mut w = Vec::new();
    let docs = load(dir.path(), &["CONTRACTS.md".into()], &mut w);
    let prompt = "routing: when does a request go local?";
    for depth in [Depth::Minimal, Depth::Full] {
        let sel = select(&docs, &settings(), prompt, 800, depth);
        assert_eq!(sel.chosen[0].section, "Thresholds", "{:?}", sel.chosen);
        assert!(sel.chosen.iter().all(|c| !c.cut), "{:?}", sel.chosen);
        assert!(sel.blocks[0].text.contains("under 2,000 tokens"));
    }
    // With nothing smaller inside it that matches, a long section is still cut to fit.
    let sel = select(&docs, &settings(), "routing notes", 800, Depth::Minimal);
    assert_eq!(sel.chosen[0].section, "Routing");
    assert!(sel.chosen[0].cut);
}

#[test]
fn minimal_depth_sends_nothing_for_a_self_contained_request_and_full_sends_all() {
    let d = docs();
    let s = settings();
    for prompt in ["write hello world in python", "reverse a string in rust"] {
        assert!(
            select(&d, &s, prompt, 800, Depth::Minimal)
                .blocks
                .is_empty()
        );
        let full = select(&d, &s, prompt, 8000, Depth::Full);
        assert_eq!(
            full.chosen.iter().map(|c| c.reason).collect::<Vec<_>>(),
            ["whole", "whole"]
        );
    }
    // The most relevant file first.
    let full = select(
        &d,
        &s,
        "what must I run per the testing protocol",
        8000,
        Depth::Full,
    );
    assert_eq!(full.chosen[0].file, "AGENTS.md");
    assert!(full.blocks[0].text.starts_with("# 🤖 Codex"));
}

#[test]
fn full_depth_over_budget_sends_each_preamble_then_the_best_sections() {
    let mut contracts = String::from("Key rule: never log secrets.\n\n");
    for i in 0..40 {
        contracts.push_str(&format!("# Part {i}\n\nfiller text for part {i}.\n\n"));
    }
    contracts.push_str("# Retry policy\n\nRetry 5 times.\n");
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("CONTRACTS.md"), &contracts).unwrap();
    let mut w = Vec::new();
    let docs = load(dir.path(), &["CONTRACTS.md".into()], &mut w);
    let sel = select(&docs, &settings(), "retry policy", 100, Depth::Full);
    assert_eq!(
        sel.chosen
            .iter()
            .map(|c| (c.reason, c.section.as_str()))
            .collect::<Vec<_>>(),
        [("preamble", ""), ("auto", "Retry policy")]
    );
    assert_eq!(sel.blocks[0].text, "Key rule: never log secrets.\n\n");
    // The local route never gets the preamble.
    let sel = select(&docs, &settings(), "retry policy", 100, Depth::Minimal);
    assert_eq!(sel.chosen.len(), 1);
}

#[test]
fn the_block_codex_wrap_install_writes_is_no_context() {
    let dir = tempfile::tempdir().unwrap();
    let text = "# Agents\n\nRun the tests.\n\n<!-- codex-wrap:begin (written by `codex-wrap install`) -->\n## Delegating to codex-wrap\n\nUse the delegate tool.\n<!-- codex-wrap:end -->\n\n## Style\n\nSmall functions.\n";
    std::fs::write(dir.path().join("AGENTS.md"), text).unwrap();
    let mut w = Vec::new();
    let docs = load(dir.path(), &["AGENTS.md".into()], &mut w);
    assert_eq!(
        docs[0].text,
        "# Agents\n\nRun the tests.\n\n\n## Style\n\nSmall functions.\n"
    );
    // Markers without an end leave the text alone.
    let open = "# A\n<!-- codex-wrap:begin -->\nkept\n";
    std::fs::write(dir.path().join("AGENTS.md"), open).unwrap();
    let docs = load(dir.path(), &["AGENTS.md".into()], &mut w);
    assert_eq!(docs[0].text, open);
}
