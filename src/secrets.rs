//! The secret values codex-wrap knows, and masking them out of every text it shows, logs or
//! sends back to a model, whatever the text's source (a server's error body that echoes the
//! key, a check's output, a model's answer printed as a document).
//!
//! Secrets are learned once per process from the environment ([`learn`]: the key variables
//! codex-wrap reads and passwords in URL values) and whenever a key is read for an endpoint
//! (`config::Secret::new`, so a `key_env` variable is covered too). [`mask`] replaces each
//! known value with `[redacted]`. Values shorter than [`MIN_LEN`] are not masked: a one-letter
//! "key" would otherwise blank that letter everywhere.
//!
//! [`check_env`] is what a check's environment loses: the key variables removed and URL
//! passwords stripped.

use std::borrow::Cow;
use std::sync::RwLock;

use crate::config::env::{Env, names};

/// Shortest value that is masked.
pub const MIN_LEN: usize = 6;

/// What a masked value reads as.
pub const MASK: &str = "[redacted]";

/// The key variables codex-wrap reads by name (a `key_env` adds its own).
pub const KEY_VARS: &[&str] = &[
    names::GEMINI_API_KEY,
    names::GOOGLE_API_KEY,
    names::OPENAI_API_KEY,
];

static KNOWN: RwLock<Vec<String>> = RwLock::new(Vec::new());

/// Remembers `value` as a secret for the life of the process.
pub fn register(value: &str) {
    let value = value.trim();
    if value.len() < MIN_LEN {
        return;
    }
    let mut known = KNOWN.write().unwrap_or_else(|e| e.into_inner());
    if !known.iter().any(|k| k == value) {
        known.push(value.to_owned());
        // Longest first, so a secret that contains another is masked whole.
        known.sort_by_key(|k| std::cmp::Reverse(k.len()));
    }
}

/// Learns the secrets in `env`: the key variables' values and every URL password.
pub fn learn(env: &Env) {
    for name in KEY_VARS {
        if let Some(v) = env.get(name) {
            register(v);
        }
    }
    for (_, value) in env.pairs() {
        for password in url_passwords(value) {
            register(password);
        }
    }
}

/// Learns the passwords in the URLs of `value` (an endpoint's URL from a file).
pub fn learn_url(value: &str) {
    for password in url_passwords(value) {
        register(password);
    }
}

/// `text` with every known secret replaced by [`MASK`].
pub fn mask(text: &str) -> Cow<'_, str> {
    let known = KNOWN.read().unwrap_or_else(|e| e.into_inner());
    let mut out = Cow::Borrowed(text);
    for secret in known.iter() {
        if out.contains(secret.as_str()) {
            out = Cow::Owned(out.replace(secret.as_str(), MASK));
        }
    }
    out
}

/// The passwords in the `scheme://user:password@host` URLs of `value`.
fn url_passwords(value: &str) -> Vec<&str> {
    let mut found = Vec::new();
    let mut rest = value;
    while let Some(at) = rest.find("://") {
        let after = &rest[at + 3..];
        let authority_end = after.find(['/', '?', '#', ' ', ',']).unwrap_or(after.len());
        let authority = &after[..authority_end];
        if let Some((userinfo, _)) = authority.rsplit_once('@')
            && let Some((_, password)) = userinfo.split_once(':')
            && !password.is_empty()
        {
            found.push(password);
        }
        rest = after;
    }
    found
}

/// `value` with the password of each URL in it removed (`https://u:p@h` → `https://u@h`).
pub fn strip_url_passwords(value: &str) -> Cow<'_, str> {
    let passwords = url_passwords(value);
    if passwords.is_empty() {
        return Cow::Borrowed(value);
    }
    let mut out = value.to_owned();
    for p in passwords {
        out = out.replace(&format!(":{p}@"), "@");
    }
    Cow::Owned(out)
}

/// What a check's environment loses: the key variables codex-wrap reads (and `key_envs`,
/// the `key_env` of every configured endpoint) are removed, and every variable whose value
/// holds a URL with a password gets it without (the process environment, which the check
/// inherits). Returns (names to unset, names to set).
pub fn check_env<'a>(
    env: &Env,
    key_envs: impl IntoIterator<Item = &'a str>,
) -> (Vec<String>, Vec<(String, String)>) {
    let mut unset: Vec<String> = KEY_VARS.iter().map(|s| (*s).to_owned()).collect();
    for name in key_envs {
        if !unset.iter().any(|u| u == name) {
            unset.push(name.to_owned());
        }
    }
    let set = env
        .process_pairs()
        .filter(|(name, _)| !unset.iter().any(|u| u == name))
        .filter_map(|(name, value)| match strip_url_passwords(value) {
            Cow::Owned(v) => Some((name.to_owned(), v)),
            Cow::Borrowed(_) => None,
        })
        .collect();
    (unset, set)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_values_are_masked_short_ones_are_not() {
        register("sk-test-0123456789");
        register("abc");
        let text = "key sk-test-0123456789 and abc";
        assert_eq!(mask(text), "key [redacted] and abc");
        assert!(matches!(mask("nothing here"), Cow::Borrowed(_)));
    }

    #[test]
    fn url_passwords_are_found_and_stripped() {
        let v = "https://user:hunter2pw@proxy.example:8080/x, http://nopass@h/ ftp://a:b@c";
        assert_eq!(url_passwords(v), ["hunter2pw", "b"]);
        assert_eq!(
            strip_url_passwords(v),
            "https://user@proxy.example:8080/x, http://nopass@h/ ftp://a@c"
        );
        assert!(matches!(
            strip_url_passwords("http://h:80/"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn the_check_loses_keys_and_url_passwords() {
        let env = Env::from_pairs([
            ("GEMINI_API_KEY", "g-secret-value"),
            ("MY_KEY", "mine-secret"),
            ("HTTPS_PROXY", "http://me:pa55word@proxy:3128"),
            ("PLAIN", "http://example.com"),
        ]);
        let (unset, set) = check_env(&env, ["MY_KEY"]);
        assert!(unset.contains(&"GEMINI_API_KEY".to_owned()));
        assert!(unset.contains(&"MY_KEY".to_owned()));
        assert_eq!(
            set,
            [("HTTPS_PROXY".to_owned(), "http://me@proxy:3128".to_owned())]
        );
        learn(&env);
        assert_eq!(mask("pa55word g-secret-value"), "[redacted] [redacted]");
    }
}
