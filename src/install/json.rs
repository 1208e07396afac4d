//! The JSON face of `install`: adds, updates or removes one entry of an `mcpServers` object
//! in a JSON (or JSONC) file through a concrete syntax tree, so every comment, key order,
//! indentation style and trailing comma of the rest of the file stays as it was.
//!
//! `jsonc-parser`'s CST keeps each token and its trivia; edits touch only the nodes they
//! name, and removing what was appended gives back the original bytes.

use jsonc_parser::ParseOptions;
use jsonc_parser::cst::{CstInputValue, CstObject, CstRootNode};

/// The key under which every supported assistant lists its servers.
pub(super) const SERVERS_KEY: &str = "mcpServers";

/// A server entry, as ordered key/value pairs.
pub(super) type Entry = Vec<(String, serde_json::Value)>;

/// The entry `servers[name]` of `text`, if there is one.
pub(super) fn entry(text: &str, name: &str) -> Result<Option<serde_json::Value>, String> {
    let root = parse(text)?;
    let Some(servers) = servers(&root, false)? else {
        return Ok(None);
    };
    Ok(servers
        .get(name)
        .map(|prop| prop.value().and_then(|v| v.to_serde_value()))
        .map(|v| v.unwrap_or(serde_json::Value::Null)))
}

/// Whether two texts hold the same JSON value, formatting and comments aside.
pub(super) fn same(a: &str, b: &str) -> bool {
    let value = |t: &str| parse(t).ok().and_then(|r| r.value()?.to_serde_value());
    value(a).is_some() && value(a) == value(b)
}

/// `text` with `servers[name] = entry` (created when missing, replaced when different).
/// `None` text means the file does not exist yet.
pub(super) fn install(text: Option<&str>, name: &str, entry: &Entry) -> Result<String, String> {
    let root = parse(text.unwrap_or(""))?;
    let servers = servers(&root, true)?.ok_or("no servers object")?;
    let wanted = serde_json::Value::Object(entry.iter().cloned().collect());
    match servers.get(name) {
        Some(prop) => {
            let current = prop.value().and_then(|v| v.to_serde_value());
            if current.as_ref() != Some(&wanted) {
                prop.set_value(entry_input(entry));
            }
        }
        None => {
            servers.append(name, entry_input(entry));
        }
    }
    let mut out = root.to_string();
    if text.is_none() && !out.ends_with('\n') {
        out.push('\n');
    }
    Ok(out)
}

/// `text` without `servers[name]`; the servers object goes too when nothing else is in it.
/// `None`: nothing but an empty object is left, so the file can go.
pub(super) fn uninstall(text: &str, name: &str) -> Result<Option<String>, String> {
    let root = parse(text)?;
    let Some(servers) = servers(&root, false)? else {
        return Ok(Some(text.to_owned()));
    };
    let Some(prop) = servers.get(name) else {
        return Ok(Some(text.to_owned()));
    };
    prop.remove();
    if servers.properties().is_empty()
        && let Some(outer) = root.object_value().and_then(|o| o.get(SERVERS_KEY))
    {
        outer.remove();
    }
    let out = root.to_string();
    // What `install` makes of a missing file: `{}` and white space, nothing of the user's.
    let empty = out.split_whitespace().collect::<String>() == "{}";
    Ok((!empty).then_some(out))
}

fn parse(text: &str) -> Result<CstRootNode, String> {
    CstRootNode::parse(text, &ParseOptions::default()).map_err(|e| e.to_string())
}

/// The `mcpServers` object, created (with the top-level object) when `create` is set.
fn servers(root: &CstRootNode, create: bool) -> Result<Option<CstObject>, String> {
    let top = match root.value() {
        None if create => root.object_value_or_set(),
        None => return Ok(None),
        Some(_) => root
            .object_value()
            .ok_or("the top level is not a JSON object")?,
    };
    match top.get(SERVERS_KEY) {
        Some(prop) => prop
            .object_value()
            .map(Some)
            .ok_or_else(|| format!("`{SERVERS_KEY}` is not an object")),
        None if create => Ok(Some(top.object_value_or_set(SERVERS_KEY))),
        None => Ok(None),
    }
}

/// The entry as a CST object, in its own key order.
fn entry_input(entry: &Entry) -> CstInputValue {
    CstInputValue::Object(entry.iter().map(|(k, v)| (k.clone(), input(v))).collect())
}

/// A CST value from JSON.
fn input(value: &serde_json::Value) -> CstInputValue {
    match value {
        serde_json::Value::Null => CstInputValue::Null,
        serde_json::Value::Bool(b) => CstInputValue::Bool(*b),
        serde_json::Value::Number(n) => CstInputValue::Number(n.to_string()),
        serde_json::Value::String(s) => CstInputValue::String(s.clone()),
        serde_json::Value::Array(items) => CstInputValue::Array(items.iter().map(input).collect()),
        serde_json::Value::Object(map) => {
            CstInputValue::Object(map.iter().map(|(k, v)| (k.clone(), input(v))).collect())
        }
    }
}
