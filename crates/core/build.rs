//! Works out, ahead of time, the literals every match of each built-in router rule holds
//! (`src/route/literals.rs`, shared with the crate), so a call neither parses nor indexes
//! the rules its request cannot fire. A rule that does not parse is left out here; the
//! router reports it when it is built.

#[allow(dead_code)]
#[path = "src/route/literals.rs"]
mod literals;

#[path = "src/route/layers.rs"]
mod layers;

use std::fmt::Write as _;

fn main() {
    let profiles = "../../profiles.toml";
    println!("cargo:rerun-if-changed={profiles}");
    println!("cargo:rerun-if-changed=src/route/literals.rs");
    println!("cargo:rerun-if-changed=src/route/layers.rs");
    let text = std::fs::read_to_string(profiles).expect("profiles.toml beside the workspace");
    let table: toml::Table = text.parse().expect("profiles.toml parses");
    let mut patterns: Vec<String> = layers::LAYER_PATTERNS
        .iter()
        .map(|p| (*p).to_owned())
        .collect();
    if let Some(rules) = table
        .get("router")
        .and_then(|r| r.get("rules"))
        .and_then(toml::Value::as_table)
    {
        for rule in rules.values() {
            if let Some(p) = rule.get("pattern").and_then(toml::Value::as_str) {
                patterns.push(p.to_owned());
            }
        }
    }
    let mut rows: Vec<(String, Option<Vec<Vec<u8>>>)> = patterns
        .iter()
        .map(|p| literals::prepare(p))
        .filter_map(|prepared| {
            let hir = literals::parse(&prepared).ok()?;
            let set = literals::required(&hir);
            Some((prepared, set))
        })
        .collect();
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows.dedup_by(|a, b| a.0 == b.0);
    let mut out = String::from(
        "/// Built-in patterns (prepared, sorted) and their required literals; `build.rs`.\n\
         pub(super) static BUILTIN: &[(&str, Option<&[&[u8]]>)] = &[\n",
    );
    for (prepared, set) in rows {
        let _ = write!(out, "    ({prepared:?}, ");
        match set {
            None => out.push_str("None"),
            Some(set) => {
                out.push_str("Some(&[");
                for lit in set {
                    let _ = write!(out, "&{lit:?}, ");
                }
                out.push_str("])");
            }
        }
        out.push_str("),\n");
    }
    out.push_str("];\n");
    let dest = std::path::Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR"))
        .join("builtin_literals.rs");
    std::fs::write(dest, out).expect("write the literal table");
}
