//! Where every resolved value came from, recorded once by resolution and read by
//! `profiles` and `doctor`.
//!
//! Keys are dotted paths. A value a file can set keeps the file's path
//! (`timeouts.idle`, `profiles.code.options.num_ctx`, `endpoints.box2.url`); values only
//! the command line or the environment set have their own short keys (`profile` for the
//! profile in use, `model` for the local model override, `timeout` for the deadline
//! override, `mode`, `fallback`). A key's origin never holds a secret: a key read from the
//! environment is recorded as the variable's name.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use serde::{Serialize, Serializer};

use super::file::Source;

/// The layer a value came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Origin {
    /// The profiles.toml compiled into the binary.
    Builtin,
    /// The user's profiles.toml.
    User(PathBuf),
    /// The project's profiles.toml.
    Project(PathBuf),
    /// An environment variable (its name).
    Env(String),
    /// A command-line flag (`--connect-timeout`).
    Flag(&'static str),
    /// The router's profile suggestion.
    Router,
    /// Set nowhere: the program's default.
    Default,
}

impl Origin {
    /// A value from the environment variable `var`.
    pub fn env(var: &str) -> Self {
        Origin::Env(var.to_owned())
    }
}

impl From<&Source> for Origin {
    fn from(source: &Source) -> Self {
        match source {
            Source::Builtin => Origin::Builtin,
            Source::User(p) => Origin::User(p.clone()),
            Source::Project(p) => Origin::Project(p.clone()),
        }
    }
}

impl fmt::Display for Origin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Origin::Builtin => f.write_str("built-in"),
            Origin::User(p) => write!(f, "user file {}", p.display()),
            Origin::Project(p) => write!(f, "project file {}", p.display()),
            Origin::Env(var) => write!(f, "environment {var}"),
            Origin::Flag(flag) => write!(f, "flag {flag}"),
            Origin::Router => f.write_str("router"),
            Origin::Default => f.write_str("default"),
        }
    }
}

impl Serialize for Origin {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// The origin of every resolved value, by dotted key.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
#[serde(transparent)]
pub struct Provenance(BTreeMap<String, Origin>);

impl Provenance {
    /// Every value the files set, each attributed to the highest layer that sets it (the
    /// layers merge table by table, anything else is replaced: see `file::merge`).
    pub fn from_layers(layers: &[(Source, toml::Table)]) -> Self {
        fn walk(out: &mut Provenance, prefix: &str, table: &toml::Table, origin: &Origin) {
            for (key, value) in table {
                let path = if prefix.is_empty() {
                    key.clone()
                } else {
                    format!("{prefix}.{key}")
                };
                match value {
                    toml::Value::Table(t) => walk(out, &path, t, origin),
                    _ => {
                        // A value replaces whatever a lower layer had below it.
                        let below = format!("{path}.");
                        out.0.retain(|k, _| !k.starts_with(&below));
                        out.0.insert(path, origin.clone());
                    }
                }
            }
        }
        let mut out = Provenance::default();
        for (source, table) in layers {
            walk(&mut out, "", table, &Origin::from(source));
        }
        out
    }

    /// Records that `key` came from `origin`, replacing a lower layer.
    pub fn set(&mut self, key: impl Into<String>, origin: Origin) {
        self.0.insert(key.into(), origin);
    }

    /// Records `Env(var)` when a variable supplied the value, else `Default` unless a file
    /// already set it.
    pub fn env_or_file(&mut self, key: impl Into<String>, var: Option<&str>) {
        match var {
            Some(var) => self.set(key, Origin::env(var)),
            None => self.default_unless_set(key),
        }
    }

    /// Records `Default` for a key no layer set.
    pub fn default_unless_set(&mut self, key: impl Into<String>) {
        self.0.entry(key.into()).or_insert(Origin::Default);
    }

    /// Where `key` came from, if resolution recorded it.
    pub fn get(&self, key: &str) -> Option<&Origin> {
        self.0.get(key)
    }

    /// Where `key` came from; `Default` for a key nothing set.
    pub fn of(&self, key: &str) -> &Origin {
        self.0.get(key).unwrap_or(&Origin::Default)
    }

    /// Every recorded key and its origin, sorted by key.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Origin)> {
        self.0.iter().map(|(k, o)| (k.as_str(), o))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn layer(text: &str) -> toml::Table {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn the_highest_layer_that_sets_a_value_owns_it() {
        let layers = vec![
            (
                Source::Builtin,
                layer("[timeouts]\nidle = 30\nconnect = 3\n[context]\nfiles = [\"A.md\"]\n"),
            ),
            (
                Source::User("u.toml".into()),
                layer("[timeouts]\nidle = 5\n"),
            ),
            (
                Source::Project("p.toml".into()),
                layer("[context]\nfiles = [\"B.md\"]\n[profiles.code.options]\nnum_ctx = 1\n"),
            ),
        ];
        let p = Provenance::from_layers(&layers);
        assert_eq!(p.of("timeouts.connect"), &Origin::Builtin);
        assert_eq!(p.of("timeouts.idle").to_string(), "user file u.toml");
        assert_eq!(p.of("context.files").to_string(), "project file p.toml");
        assert_eq!(
            p.of("profiles.code.options.num_ctx").to_string(),
            "project file p.toml"
        );
        assert_eq!(p.of("timeouts.first_byte"), &Origin::Default);
    }

    #[test]
    fn a_value_replacing_a_table_drops_the_keys_below_it() {
        let layers = vec![
            (Source::Builtin, layer("[routes.local]\nx = 1\n")),
            (
                Source::User("u".into()),
                layer("[routes]\nlocal = \"openai\"\n"),
            ),
        ];
        let p = Provenance::from_layers(&layers);
        assert_eq!(p.get("routes.local.x"), None);
        assert_eq!(p.of("routes.local"), &Origin::User("u".into()));
    }

    #[test]
    fn origins_read_as_the_layer_names() {
        assert_eq!(
            Origin::env("OLLAMA_URL").to_string(),
            "environment OLLAMA_URL"
        );
        assert_eq!(
            Origin::Flag("--connect-timeout").to_string(),
            "flag --connect-timeout"
        );
        assert_eq!(Origin::Router.to_string(), "router");
        assert_eq!(
            serde_json::to_value(Origin::Default).unwrap(),
            serde_json::json!("default")
        );
    }
}
