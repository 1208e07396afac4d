//! The TOML face of `install` (Codex's `config.toml`): adds, updates or removes the table
//! `[mcp_servers.NAME]` through `toml_edit`, which keeps comments, order and spacing of
//! everything else in the document.

use toml_edit::{Array, DocumentMut, Item, Table, value};

/// Codex's key for its servers (TOML spelling; the JSON clients say `mcpServers`).
pub(super) const SERVERS_KEY: &str = "mcp_servers";

/// A server entry, as ordered key/value pairs.
pub(super) type Entry = Vec<(String, serde_json::Value)>;

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
        let item = match v {
            serde_json::Value::String(s) => value(s.as_str()),
            serde_json::Value::Number(n) => match n.as_i64() {
                Some(i) => value(i),
                None => value(n.as_f64().unwrap_or_default()),
            },
            serde_json::Value::Bool(b) => value(*b),
            serde_json::Value::Array(items) => {
                let mut a = Array::new();
                for i in items {
                    a.push(i.as_str().ok_or("only arrays of strings are written")?);
                }
                value(a)
            }
            _ => return Err(format!("cannot write `{k}` as TOML")),
        };
        t.insert(k, item);
    }
    if spaced {
        t.decor_mut().set_prefix("\n");
    }
    Ok(t)
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
