//! Finding the project root: the folder whose CONTRACTS.md, AGENTS.md, `.env.local` and
//! `profiles.toml` apply.

use std::path::{Path, PathBuf};

/// Files or folders whose presence marks a project root.
const MARKERS: [&str; 3] = ["CONTRACTS.md", "AGENTS.md", ".git"];

/// The nearest folder at or above `start` that holds a marker, or `start` itself.
pub fn find_root(start: &Path) -> PathBuf {
    start
        .ancestors()
        .find(|dir| MARKERS.iter().any(|m| dir.join(m).exists()))
        .unwrap_or(start)
        .to_path_buf()
}

/// Whether `dir` itself holds a project marker.
pub fn is_marked(dir: &Path) -> bool {
    MARKERS.iter().any(|m| dir.join(m).exists())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn walks_up_to_the_first_marker() {
        let base = std::env::temp_dir().join(format!("cw-root-{}", std::process::id()));
        let deep = base.join("proj/src/deep");
        std::fs::create_dir_all(&deep).unwrap();
        std::fs::write(base.join("proj/AGENTS.md"), "# a").unwrap();
        assert_eq!(find_root(&deep), base.join("proj"));
        std::fs::remove_dir_all(&base).ok();
    }
}
