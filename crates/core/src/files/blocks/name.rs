//! How a block is named: the path in a fence's info string, on the line before the fence,
//! or in a comment on its first line, and what counts as a path at all.

/// The language and path of an info string.
pub(super) fn info_path(info: &str) -> (Option<String>, Option<String>) {
    let mut tokens = info.split_whitespace();
    let Some(first) = tokens.next() else {
        return (None, None);
    };
    let mut lang = None;
    let mut path = None;
    let lang_path = first.split_once(':').filter(|(l, p)| {
        l.len() > 1 && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'+') && is_path_like(p)
    });
    if let Some((l, p)) = lang_path {
        lang = Some(l.to_owned());
        path = Some(p.to_owned());
    } else if is_path_like(first) {
        path = Some(first.to_owned());
    } else {
        let l = first.trim_start_matches('{').trim_start_matches('.');
        let l = l.trim_end_matches('}');
        lang = Some(l.to_owned()).filter(|l| !l.is_empty() && !l.contains('='));
    }
    for token in tokens {
        if path.is_some() {
            break;
        }
        let token = token.trim_end_matches('}');
        let value = match token.split_once('=') {
            Some((key, value)) => {
                let key = key.to_ascii_lowercase();
                if !matches!(
                    key.as_str(),
                    "title" | "file" | "filename" | "path" | "name" | "filepath"
                ) {
                    continue;
                }
                value.trim_matches(['"', '\''])
            }
            None => token,
        };
        if is_path_like(value) {
            path = Some(value.to_owned());
        }
    }
    (lang, path)
}

/// Labels that may precede a path on a header or first line.
const LABELS: &[&str] = &[
    "file path",
    "filepath",
    "filename",
    "file name",
    "file",
    "path",
];

fn strip_label(s: &str) -> &str {
    let lower = s.get(..12.min(s.len())).unwrap_or(s).to_ascii_lowercase();
    for label in LABELS {
        if lower.starts_with(label) {
            let rest = &s[label.len()..];
            if let Some(r) = rest.strip_prefix(':') {
                return r.trim();
            }
            if rest.starts_with(' ') {
                return rest.trim();
            }
        }
    }
    s
}

/// The path named by a line just before a fence: `File: a.py`, `### a.py`, `**a.py**`.
pub(super) fn header_path(line: &str) -> Option<String> {
    let mut s = line.trim();
    if let Some(rest) = s.strip_prefix('#') {
        let rest = rest.trim_start_matches('#');
        if !rest.starts_with(' ') {
            return None;
        }
        s = rest.trim();
    }
    let cleaned: String = s.chars().filter(|&c| c != '*' && c != '`').collect();
    let mut s = cleaned.trim();
    s = s.trim_end_matches(':').trim();
    s = strip_label(s);
    // `1. app/main.py`, `app/main.py (new file)`
    if let Some((num, rest)) = s.split_once(' ')
        && num
            .trim_end_matches(['.', ')'])
            .bytes()
            .all(|b| b.is_ascii_digit())
        && num.len() > 1
        && num.ends_with(['.', ')'])
    {
        s = rest.trim();
    }
    if s.ends_with(')')
        && let Some(open) = s.rfind(" (")
    {
        s = s[..open].trim();
    }
    let s = s.trim_end_matches(':').trim();
    let s = s.trim_matches(['_', '"']);
    is_path_like(s).then(|| s.to_owned())
}

/// The path named by a first-line comment, and the content without that line. After a
/// `#!` line the second line is looked at.
pub(super) fn first_line_path(content: &str) -> Option<(String, String)> {
    let (head, candidate, rest) = match content.split_once('\n') {
        Some((first, rest)) if first.starts_with("#!") => {
            let (second, tail) = rest.split_once('\n').unwrap_or((rest, ""));
            (Some(first), second, tail)
        }
        Some((first, rest)) => (None, first, rest),
        None => (None, content, ""),
    };
    let path = comment_path(candidate)?;
    let mut without = String::with_capacity(content.len());
    if let Some(head) = head {
        without.push_str(head);
        without.push('\n');
    }
    without.push_str(rest);
    Some((path, without))
}

fn comment_path(line: &str) -> Option<String> {
    let t = line.trim();
    let body = if let Some(r) = t.strip_prefix("//") {
        r
    } else if t.starts_with("#!") {
        return None;
    } else if let Some(r) = t.strip_prefix('#') {
        r
    } else if let Some(r) = t.strip_prefix("--") {
        r
    } else if let Some(r) = t.strip_prefix("/*") {
        r.strip_suffix("*/")?
    } else if let Some(r) = t.strip_prefix("<!--") {
        r.strip_suffix("-->")?
    } else if let Some(r) = t.strip_prefix(';') {
        r.trim_start_matches(';')
    } else {
        return None;
    };
    let body = strip_label(body.trim());
    let body = body.trim_matches('`').trim();
    is_path_like(body).then(|| body.to_owned())
}

/// Whether a token reads as a file path: it has a directory separator or a file extension
/// (or is a dot-file), no white space, and is not a URL or a version number.
pub fn is_path_like(s: &str) -> bool {
    if s.is_empty()
        || s.len() > 4096
        || s.contains(char::is_whitespace)
        || s.contains("://")
        || s.contains("...")
        || s.contains(['`', '*', '<', '>', '|', '{', '}', '"'])
        || s.ends_with(['/', '.', ':', ','])
    {
        return false;
    }
    if s.bytes().all(|b| b.is_ascii_digit() || b == b'.') {
        return false;
    }
    if s.contains('/') || s.contains('\\') {
        return true;
    }
    match s.rfind('.') {
        Some(0) => s.len() > 1 && s[1..].bytes().all(is_ext_byte),
        Some(dot) => {
            let ext = &s[dot + 1..];
            (1..=12).contains(&ext.len()) && ext.bytes().all(is_ext_byte)
        }
        None => false,
    }
}

fn is_ext_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_' || b == b'-' || b == b'+'
}
