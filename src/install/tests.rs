//! Edge cases of the JSON and TOML edits; the golden files in tests/data/install cover the
//! usual files of each assistant.

use super::{json, toml_config};

fn entry() -> Vec<(String, serde_json::Value)> {
    vec![
        ("command".to_owned(), serde_json::json!("codex-wrap")),
        ("args".to_owned(), serde_json::json!(["mcp"])),
    ]
}

#[track_caller]
fn toml_round_trip(original: &str) -> String {
    let with = toml_config::install(Some(original), "codex-wrap", &entry()).unwrap();
    assert_eq!(
        toml_config::install(Some(&with), "codex-wrap", &entry()).unwrap(),
        with,
        "idempotent"
    );
    let doc: toml::Table = toml::from_str(&with).unwrap();
    assert_eq!(
        doc["mcp_servers"]["codex-wrap"]["args"][0].as_str(),
        Some("mcp")
    );
    assert_eq!(
        toml_config::uninstall(&with, "codex-wrap")
            .unwrap()
            .as_deref(),
        Some(original),
        "{with}"
    );
    with
}

#[test]
fn toml_edits_give_back_the_original_bytes() {
    toml_round_trip("model = \"o3\"\n");
    toml_round_trip("model = \"o3\"\n\n\n");
    toml_round_trip("[mcp_servers]\n");
    toml_round_trip("mcp_servers.docs.command = \"npx\"\n");
    toml_round_trip("[mcp_servers.docs]\ncommand = \"npx\"\n\n[other]\nx = 1 # note\n");
}

#[test]
fn a_toml_file_without_a_final_newline_keeps_the_one_it_gained() {
    // toml_edit ends every key/value line with a newline once a table follows it; the
    // only byte `--uninstall` cannot give back.
    let with = toml_config::install(Some("model = \"o3\""), "codex-wrap", &entry()).unwrap();
    assert!(
        with.starts_with("model = \"o3\"\n\n[mcp_servers.codex-wrap]\n"),
        "{with}"
    );
    assert_eq!(
        toml_config::uninstall(&with, "codex-wrap")
            .unwrap()
            .as_deref(),
        Some("model = \"o3\"\n")
    );
}

#[test]
fn an_outdated_toml_entry_is_replaced_in_place() {
    let old = "[mcp_servers.codex-wrap]\ncommand = \"/old/path\"\nargs = []\n\n[z]\nk = 1\n";
    let new = toml_config::install(Some(old), "codex-wrap", &entry()).unwrap();
    assert_eq!(
        new,
        "[mcp_servers.codex-wrap]\ncommand = \"codex-wrap\"\nargs = [\"mcp\"]\n\n[z]\nk = 1\n"
    );
}

#[test]
fn toml_servers_must_be_a_table() {
    let err = toml_config::install(Some("mcp_servers = 3\n"), "codex-wrap", &entry()).unwrap_err();
    assert!(err.contains("not a table"), "{err}");
}

#[test]
fn an_outdated_json_entry_is_replaced_in_place() {
    let old = "{\n  \"mcpServers\": {\n    \"codex-wrap\": { \"command\": \"/old\" },\n    \"b\": {}\n  }\n}\n";
    let new = json::install(Some(old), "codex-wrap", &entry()).unwrap();
    let value: serde_json::Value = serde_json::from_str(&new).unwrap();
    assert_eq!(value["mcpServers"]["codex-wrap"]["args"][0], "mcp");
    assert!(
        new.find("codex-wrap").unwrap() < new.find("\"b\"").unwrap(),
        "keeps its place: {new}"
    );
    assert_eq!(
        json::install(Some(&new), "codex-wrap", &entry()).unwrap(),
        new
    );
}

#[test]
fn json_that_is_not_an_object_is_refused() {
    assert!(json::install(Some("[1, 2]"), "codex-wrap", &entry()).is_err());
    assert!(json::install(Some("{\"mcpServers\": 1}"), "codex-wrap", &entry()).is_err());
    assert!(json::install(Some("{\"a\": "), "codex-wrap", &entry()).is_err());
}

#[test]
fn json_uninstall_leaves_other_files_alone() {
    let text = "{ \"theme\": \"x\" }\n";
    assert_eq!(
        json::uninstall(text, "codex-wrap").unwrap().as_deref(),
        Some(text)
    );
    let only_ours = json::install(None, "codex-wrap", &entry()).unwrap();
    assert_eq!(json::uninstall(&only_ours, "codex-wrap").unwrap(), None);
}
