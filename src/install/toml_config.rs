//! The TOML face of `install` (Codex's `config.toml`): adds, updates or removes the table
//! `[mcp_servers.NAME]` through `toml_edit`, which keeps comments, order and spacing of
//! everything else in the document.

use toml_edit::{Array, DocumentMut, Item, Table};

/// Codex's key for its servers (TOML spelling; the JSON clients say `mcpServers`).
pub(super) const SERVERS_KEY: &str = "mcp_servers";

/// A server entry, as ordered key/value pairs.
pub(super) type Entry = Vec<(String, serde_json::Value)>;

/// The table `[mcp_servers.NAME]` of `text` as JSON, if there is one.
pub(super) fn entry(text: &str, name: &str) -> Result<Option<serde_json::Value>, String> {
    let doc: toml::Table = toml::from_str(text).map_err(|e| one_line_de(&e))?;
    let Some(servers) = doc.get(SERVERS_KEY) else {
        return Ok(None);
    };
    let servers = servers
        .as_table()
        .ok_or_else(|| format!("`{SERVERS_KEY}` is not a table"))?;
    Ok(servers
        .get(name)
        .map(|v| serde_json::to_value(v).unwrap_or(serde_json::Value::Null)))
}

/// Whether two texts hold the same TOML document, formatting and comments aside.
pub(super) fn same(a: &str, b: &str) -> bool {
    let value = |t: &str| toml::from_str::<toml::Table>(t).ok();
    value(a).is_some() && value(a) == value(b)
}

fn one_line_de(e: &toml::de::Error) -> String {
    e.to_string()
        .lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches(':')
        .to_owned()
}

/// `text` with `[mcp_servers.NAME]` holding exactly `entry`. `None`: no file yet.
pub(super) fn install(text: Option<&str>, name: &str, entry: &Entry) -> Result<String, String> {
    let source = text.unwrap_or("");
    let mut doc: DocumentMut = source
        .parse()
        .map_err(|e: toml_edit::TomlError| one_line(&e))?;
    let wanted = table(entry, !source.trim().is_empty())?;
    let servers = doc
        .entry(SERVERS_KEY)
        .or_insert_with(|| {
            let mut t = Table::new();
            t.set_implicit(true);
            Item::Table(t)
        })
        .as_table_mut()
        .ok_or_else(|| format!("`{SERVERS_KEY}` is not a table"))?;
    let same = servers
        .get(name)
        .and_then(Item::as_table)
        .is_some_and(|t| same_values(t, &wanted));
    if !same {
        match servers.get_mut(name).and_then(Item::as_table_mut) {
            // Keep the table's place and decoration; replace its keys.
            Some(existing) => {
                existing.clear();
                for (k, v) in wanted.iter() {
                    existing.insert(k, v.clone());
                }
            }
            None => {
                servers.insert(name, Item::Table(wanted));
            }
        }
    }
    Ok(doc.to_string())
}

/// `text` without `[mcp_servers.NAME]`; `mcp_servers` goes too when it was only a header
/// for it. `None`: nothing is left, so the file can go.
pub(super) fn uninstall(text: &str, name: &str) -> Result<Option<String>, String> {
    let mut doc: DocumentMut = text
        .parse()
        .map_err(|e: toml_edit::TomlError| one_line(&e))?;
    let Some(servers) = doc.get_mut(SERVERS_KEY).and_then(Item::as_table_mut) else {
        return Ok(Some(text.to_owned()));
    };
    if servers.remove(name).is_none() {
        return Ok(Some(text.to_owned()));
    }
    if servers.is_empty() && servers.is_implicit() {
        doc.remove(SERVERS_KEY);
    }
    let out = doc.to_string();
    Ok((!out.trim().is_empty()).then_some(out))
}

/// The entry as a TOML table; `spaced` puts a blank line before its header.
fn table(entry: &Entry, spaced: bool) -> Result<Table, String> {
    let mut t = Table::new();
    for (k, v) in entry {
        t.insert(k, Item::Value(toml_value(k, v)?));
    }
    if spaced {
        t.decor_mut().set_prefix("\n");
    }
    Ok(t)
}

/// One JSON value as TOML (objects as inline tables, as a user's `env = {…}` is).
fn toml_value(key: &str, v: &serde_json::Value) -> Result<toml_edit::Value, String> {
    Ok(match v {
        serde_json::Value::String(s) => s.as_str().into(),
        serde_json::Value::Number(n) => match n.as_i64() {
            Some(i) => i.into(),
            None => n.as_f64().unwrap_or_default().into(),
        },
        serde_json::Value::Bool(b) => (*b).into(),
        serde_json::Value::Array(items) => {
            let mut a = Array::new();
            for i in items {
                a.push(toml_value(key, i)?);
            }
            toml_edit::Value::Array(a)
        }
        serde_json::Value::Object(map) => {
            let mut t = toml_edit::InlineTable::new();
            for (k, v) in map {
                t.insert(k, toml_value(k, v)?);
            }
            toml_edit::Value::InlineTable(t)
        }
        serde_json::Value::Null => return Err(format!("cannot write `{key}` as TOML")),
    })
}

/// Whether a table holds the same keys and values as `wanted`, formatting aside.
fn same_values(t: &Table, wanted: &Table) -> bool {
    let text = |t: &Table| {
        t.iter()
            .map(|(k, v)| format!("{k}={}", v.to_string().trim()))
            .collect::<Vec<_>>()
    };
    text(t) == text(wanted)
}

fn one_line(e: &toml_edit::TomlError) -> String {
    let text = e.to_string();
    let line = e
        .span()
        .map(|_| text.lines().next().unwrap_or_default().to_owned())
        .unwrap_or_else(|| text.clone());
    let last = text
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or("");
    format!("{} ({})", line.trim_end_matches(':'), last.trim())
}
