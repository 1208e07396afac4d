//! What a sync leaves out: the default exclude list, `[sync] exclude` and the project's
//! `.gitignore`, all in gitignore syntax, turned into one rclone `--filter-from` file.
//!
//! # How gitignore lines become rclone rules
//! rclone's filters are first-match-wins globs; gitignore is last-match-wins. So the lines
//! are read in gitignore order (`.gitignore`, then `[sync] exclude`, then the defaults, so
//! that nothing can re-include a default) and written in reverse. Each line maps so:
//! - blank lines and `#` comments are dropped; `\#` and `\!` start a literal `#` / `!`;
//!   unescaped trailing spaces are dropped;
//! - `!pat` re-includes (`+` rule), anything else excludes (`-` rule);
//! - a slash at the start or in the middle anchors to the root (`/pat`); no slash matches
//!   at any depth (rclone matches such a rule against the end of the path); a leading
//!   `**/` is dropped (any depth already);
//! - `pat/` (a directory) becomes `pat/**`; `pat` becomes `pat` and `pat/**` (a file, or
//!   a directory and everything in it);
//! - `a/**/b` also gets `a/b` (rclone's `**` needs at least one character there);
//! - `[!x]` becomes `[^x]`; `{` and `}` (literal in gitignore, alternation in rclone) are
//!   escaped; an escaped space becomes `[ ]` (rclone trims a rule's trailing spaces).
//!
//! Known difference: git never re-includes a file whose parent directory is excluded
//! (`build/` then `!build/keep.txt` keeps `keep.txt` ignored); rclone does, so such a file
//! is synced. Only the root `.gitignore` is read (not nested ones, nor `.git/info/exclude`).

use std::path::Path;

/// Left out of every sync, in gitignore syntax: version control, build output, the run
/// log, secrets. (`.git` without the slash also covers a submodule's `.git` file.) rclone
/// runs with `--ignore-case`, so `.ENV` and `ID_RSA` are left out too.
pub const DEFAULT_EXCLUDES: [&str; 12] = [
    ".git",
    "target/",
    "node_modules/",
    "logs/",
    ".env*",
    "*.pem",
    "*.key",
    "id_rsa*",
    ".npmrc",
    ".netrc",
    "credentials.json",
    "*.p12",
];

/// The sync's own files in the root (`.last_sync`, its lock and temporary file).
pub(crate) const OWN_FILES: [&str; 2] = ["/.last_sync", "/.last_sync.*"];

/// The rules for one gitignore-syntax line, in rclone filter syntax (`- pat` / `+ pat`);
/// empty for blanks and comments.
pub(crate) fn rules_for(line: &str) -> Vec<String> {
    let line = line.trim_end_matches(['\r', '\n']);
    if line.is_empty() || line.starts_with('#') {
        return Vec::new();
    }
    let (sign, rest) = match line.strip_prefix('!') {
        Some(rest) => ('+', rest),
        None => ('-', line),
    };
    let rest = rest
        .strip_prefix("\\#")
        .map(|r| format!("#{r}"))
        .or_else(|| rest.strip_prefix("\\!").map(|r| format!("!{r}")))
        .unwrap_or_else(|| rest.to_owned());
    let mut pat = trim_trailing_spaces(&rest);
    let dir_only = pat.ends_with('/');
    while pat.ends_with('/') {
        pat.pop();
    }
    let mut anchored = pat.contains('/');
    if let Some(tail) = pat.strip_prefix("**/") {
        pat = tail.to_owned();
        anchored = false;
    }
    let pat = pat.trim_start_matches('/');
    if pat.is_empty() {
        return Vec::new();
    }
    let body = escape(pat);
    let prefix = if anchored { "/" } else { "" };
    let mut out = Vec::new();
    for variant in double_star_variants(&body) {
        if !dir_only {
            out.push(format!("{sign} {prefix}{variant}"));
        }
        out.push(format!("{sign} {prefix}{variant}/**"));
    }
    out
}

/// Drops trailing spaces unless the last one is escaped (`foo\ ` keeps one, escaped).
fn trim_trailing_spaces(s: &str) -> String {
    let trimmed = s.trim_end_matches(' ');
    if trimmed.len() < s.len() && trimmed.ends_with('\\') {
        format!("{trimmed} ")
    } else {
        trimmed.to_owned()
    }
}

/// gitignore glob → rclone glob: `[!` → `[^`, braces escaped; backslash escapes kept.
fn escape(pat: &str) -> String {
    let mut out = String::with_capacity(pat.len());
    let mut chars = pat.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            // rclone trims a rule's trailing spaces, so an escaped space is a class.
            '\\' if chars.peek() == Some(&' ') => {
                chars.next();
                out.push_str("[ ]");
            }
            '\\' => {
                out.push('\\');
                if let Some(next) = chars.next() {
                    out.push(next);
                }
            }
            '[' if chars.peek() == Some(&'!') => {
                chars.next();
                out.push_str("[^");
            }
            '{' | '}' => {
                out.push('\\');
                out.push(c);
            }
            _ => out.push(c),
        }
    }
    out
}

/// `a/**/b` as itself and as `a/b`, for every such `/**/` (gitignore lets it match zero
/// directories).
fn double_star_variants(pat: &str) -> Vec<String> {
    let mut out = vec![pat.to_owned()];
    let mut i = 0;
    while i < out.len() {
        if let Some(at) = out[i].find("/**/") {
            let (a, b) = out[i].split_at(at);
            let zero = format!("{a}/{}", &b[4..]);
            let many = format!("{a}/\u{0}/{}", &b[4..]);
            out[i] = many;
            out.push(zero);
        } else {
            i += 1;
        }
    }
    out.into_iter().map(|p| p.replace('\u{0}', "**")).collect()
}

/// The whole filter file: own files and defaults first (they always win), then
/// `[sync] exclude`, then `.gitignore`, each list reversed (see the module doc).
/// `extra_anchored` are root-relative paths to leave out as well (the state directory,
/// a run log outside `logs/`).
pub(crate) fn filter_file(
    gitignore: &str,
    exclude: &[String],
    extra_anchored: &[String],
) -> String {
    let mut lines: Vec<String> = gitignore.lines().map(str::to_owned).collect();
    lines.extend(exclude.iter().cloned());
    lines.extend(DEFAULT_EXCLUDES.iter().map(|s| (*s).to_owned()));
    lines.extend(
        extra_anchored
            .iter()
            .map(|p| format!("/{}", p.trim_start_matches('/'))),
    );
    lines.extend(OWN_FILES.iter().map(|s| (*s).to_owned()));
    let mut out = String::from("# written by codex-wrap sync: first match wins\n");
    for line in lines.iter().rev() {
        for rule in rules_for(line) {
            out.push_str(&rule);
            out.push('\n');
        }
    }
    out
}

/// `path` relative to `root`, when it lies inside it (for anchored excludes).
pub(crate) fn inside(root: &Path, path: &Path) -> Option<String> {
    let rel = path.strip_prefix(root).ok()?;
    let rel = rel.to_str()?;
    (!rel.is_empty()).then(|| rel.replace('\\', "/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[track_caller]
    fn case(line: &str, want: &[&str]) {
        assert_eq!(rules_for(line), want, "{line:?}");
    }

    #[test]
    fn gitignore_lines_map_to_rclone_rules() {
        case("", &[]);
        case("# comment", &[]);
        case("   ", &[]);
        case("*.log", &["- *.log", "- *.log/**"]);
        case("build/", &["- build/**"]);
        case("/dist", &["- /dist", "- /dist/**"]);
        case("doc/frotz", &["- /doc/frotz", "- /doc/frotz/**"]);
        case("doc/frotz/", &["- /doc/frotz/**"]);
        case("**/foo", &["- foo", "- foo/**"]);
        case("**/foo/bar", &["- foo/bar", "- foo/bar/**"]);
        case(
            "a/**/b",
            &["- /a/**/b", "- /a/**/b/**", "- /a/b", "- /a/b/**"],
        );
        case("!keep.log", &["+ keep.log", "+ keep.log/**"]);
        case("\\!bang", &["- !bang", "- !bang/**"]);
        case("\\#hash", &["- #hash", "- #hash/**"]);
        case("trail   ", &["- trail", "- trail/**"]);
        case("space\\ ", &["- space[ ]", "- space[ ]/**"]);
        case("a\\ b", &["- a[ ]b", "- a[ ]b/**"]);
        case("[!a]*.txt", &["- [^a]*.txt", "- [^a]*.txt/**"]);
        case("{x}", &["- \\{x\\}", "- \\{x\\}/**"]);
        case("/", &[]);
    }

    #[test]
    fn defaults_come_first_and_gitignore_last_reversed() {
        let f = filter_file("a\n!b\n", &["c/".to_owned()], &["state/dir".to_owned()]);
        let rules: Vec<&str> = f.lines().skip(1).collect();
        assert_eq!(rules[..2], ["- /.last_sync.*", "- /.last_sync.*/**"]);
        let pos = |r: &str| rules.iter().position(|x| *x == r).unwrap();
        assert!(pos("- /state/dir") < pos("- *.key"));
        assert!(pos("- *.key") < pos("- c/**"));
        assert!(pos("- c/**") < pos("+ b"));
        assert!(pos("+ b") < pos("- a"));
    }
}
