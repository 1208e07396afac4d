//! Inputs by path: `-i/--input PATH` values (repeatable) resolved inside the project root,
//! read, and rendered as context with their paths.
//!
//! A plain path is looked up relative to the working directory, then to the project root; a
//! glob (`*`, `?`, `[...]`, `{a,b}`) is expanded by codex-wrap the same way, walking from its
//! literal prefix and skipping what git ignores and hidden entries below that prefix. A
//! directory is refused unless given as a glob; a path outside the root is refused; every
//! error is a usage error (exit 2) naming the value.

use std::path::{Path, PathBuf};

use globset::GlobBuilder;

use crate::context::estimate_tokens;
use crate::error::Error;
use crate::prompt::ContextBlock;

use super::fence_for;

/// Most files all `-i` values together may name.
pub const MAX_INPUTS: usize = 256;
/// Largest input file read, in bytes.
pub const MAX_INPUT_BYTES: u64 = 8 << 20;

/// One input file, read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputFile {
    /// Root-relative, `/`-separated: the path the model sees and may write back.
    pub rel: String,
    /// The file (symlinks resolved).
    pub path: PathBuf,
    /// Its text.
    pub text: String,
}

impl InputFile {
    /// The context block: the file's text fenced with its path as the info string, the
    /// format the model is asked to answer in.
    pub fn context_block(&self) -> ContextBlock {
        let fence = fence_for(&self.text);
        let mut text = format!("{fence}{}\n{}", self.rel, self.text);
        if !self.text.ends_with('\n') {
            text.push('\n');
        }
        text.push_str(&fence);
        ContextBlock {
            label: self.rel.clone(),
            text,
        }
    }

    /// Estimated tokens of the context block.
    pub fn tokens(&self) -> usize {
        estimate_tokens(&self.context_block().text)
    }
}

/// Resolves and reads the `-i` values. `root` is the canonical project root.
pub fn resolve(specs: &[String], root: &Path, cwd: &Path) -> Result<Vec<InputFile>, Error> {
    let mut bases = vec![cwd.to_path_buf()];
    if cwd != root {
        bases.push(root.to_path_buf());
    }
    let mut files: Vec<InputFile> = Vec::new();
    for spec in specs {
        let found = if is_glob(spec) {
            expand(spec, &bases)?
        } else {
            vec![literal(spec, &bases)?]
        };
        for path in found {
            let real = std::fs::canonicalize(&path).map_err(|e| {
                usage(format!(
                    "input {spec}: cannot resolve {}: {e}",
                    path.display()
                ))
            })?;
            let Ok(rel) = real.strip_prefix(root) else {
                return Err(usage(format!(
                    "input {spec} is outside the project root {}",
                    root.display()
                )));
            };
            if files.iter().any(|f| f.path == real) {
                continue;
            }
            if files.len() == MAX_INPUTS {
                return Err(usage(format!(
                    "the inputs name more than {MAX_INPUTS} files; give fewer or narrower globs"
                )));
            }
            let rel = rel
                .components()
                .map(|c| c.as_os_str().to_string_lossy())
                .collect::<Vec<_>>()
                .join("/");
            let text = read(&real, &rel)?;
            files.push(InputFile {
                rel,
                path: real,
                text,
            });
        }
    }
    Ok(files)
}

/// The root-relative paths of the `-i` values given literally (no glob): the only inputs
/// that may replace a protected assistant file. `root` is the project root.
pub fn literal_rels(specs: &[String], root: &Path) -> Result<Vec<String>, Error> {
    let plain: Vec<String> = specs.iter().filter(|s| !is_glob(s)).cloned().collect();
    if plain.is_empty() {
        return Ok(Vec::new());
    }
    let root = root
        .canonicalize()
        .map_err(|e| usage(format!("cannot resolve the project root: {e}")))?;
    let cwd = std::env::current_dir().unwrap_or_else(|_| root.clone());
    Ok(resolve(&plain, &root, &cwd)?
        .into_iter()
        .map(|f| f.rel)
        .collect())
}

/// Fails, naming the file and the budget, when the inputs do not fit in `budget` tokens
/// with `used` already taken by the rest of the context. Nothing is ever cut.
pub fn check_budget(
    inputs: &[InputFile],
    budget: usize,
    used: usize,
    route: &str,
) -> Result<(), Error> {
    let mut total = used;
    for input in inputs {
        let tokens = input.tokens();
        total += tokens;
        if total > budget {
            let left = budget.saturating_sub(total - tokens);
            return Err(usage(format!(
                "input {} needs about {tokens} tokens but only {left} of the {route} route's \
                 {budget}-token context budget are left; give fewer or smaller files",
                input.rel
            )));
        }
    }
    Ok(())
}

fn usage(message: String) -> Error {
    Error::Usage(message)
}

fn is_glob(spec: &str) -> bool {
    spec.contains(['*', '?', '[', '{'])
}

fn literal(spec: &str, bases: &[PathBuf]) -> Result<PathBuf, Error> {
    let found = bases
        .iter()
        .map(|b| b.join(spec))
        .find(|p| std::fs::symlink_metadata(p).is_ok());
    let Some(path) = found else {
        return Err(usage(format!(
            "input {spec}: no such file (looked in the working directory and the project root)"
        )));
    };
    let meta = std::fs::metadata(&path).map_err(|e| usage(format!("input {spec}: {e}")))?;
    if meta.is_dir() {
        let glob = format!("{}/**/*", spec.trim_end_matches('/'));
        return Err(usage(format!(
            "input {spec} is a directory; give files, or a glob such as '{glob}'"
        )));
    }
    if !meta.is_file() {
        return Err(usage(format!("input {spec} is not a regular file")));
    }
    Ok(path)
}

/// Expands a glob from the first base where it matches anything.
fn expand(spec: &str, bases: &[PathBuf]) -> Result<Vec<PathBuf>, Error> {
    let matcher = GlobBuilder::new(spec)
        .literal_separator(true)
        .build()
        .map_err(|e| usage(format!("input {spec}: bad glob: {e}")))?
        .compile_matcher();
    // Walk from the part before the first component with a glob character.
    let prefix: PathBuf = Path::new(spec)
        .components()
        .take_while(|c| !is_glob(&c.as_os_str().to_string_lossy()))
        .collect();
    let absolute = Path::new(spec).is_absolute();
    for base in bases {
        let start = base.join(&prefix);
        if !start.is_dir() {
            continue;
        }
        let mut found = Vec::new();
        for entry in ignore::WalkBuilder::new(&start)
            .follow_links(false)
            .build()
            .flatten()
        {
            let is_file = entry.file_type().is_some_and(|t| t.is_file());
            // An absolute glob matches whole paths; a relative one, paths below the base.
            let Ok(candidate) =
                entry
                    .path()
                    .strip_prefix(if absolute { Path::new("") } else { base })
            else {
                continue;
            };
            if is_file && matcher.is_match(candidate) {
                found.push(entry.into_path());
                if found.len() > MAX_INPUTS {
                    return Err(usage(format!(
                        "input {spec} matches more than {MAX_INPUTS} files; narrow the glob"
                    )));
                }
            }
        }
        if !found.is_empty() {
            found.sort();
            return Ok(found);
        }
    }
    Err(usage(format!("input {spec} matches no file")))
}

fn read(path: &Path, rel: &str) -> Result<String, Error> {
    let meta = std::fs::metadata(path).map_err(|e| usage(format!("input {rel}: {e}")))?;
    if meta.len() > MAX_INPUT_BYTES {
        return Err(usage(format!(
            "input {rel} is {} bytes, over the {MAX_INPUT_BYTES}-byte limit",
            meta.len()
        )));
    }
    let bytes = std::fs::read(path).map_err(|e| usage(format!("cannot read input {rel}: {e}")))?;
    String::from_utf8(bytes).map_err(|_| usage(format!("input {rel} is not UTF-8 text")))
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Project {
        _dir: tempfile::TempDir,
        base: PathBuf,
        root: PathBuf,
    }

    fn project() -> Project {
        let dir = tempfile::tempdir().unwrap();
        let base = dir.path().canonicalize().unwrap();
        let root = base.join("proj");
        for (rel, text) in [
            ("src/lib.rs", "pub fn a() {}\n"),
            ("src/main.rs", "fn main() {}\n"),
            ("src/util/mod.rs", "// util\n"),
            ("src/notes.txt", "notes"),
            ("target/debug/gen.rs", "// ignored\n"),
            (".gitignore", "target/\n"),
        ] {
            let p = root.join(rel);
            std::fs::create_dir_all(p.parent().unwrap()).unwrap();
            std::fs::write(p, text).unwrap();
        }
        std::fs::create_dir(root.join(".git")).unwrap();
        std::fs::write(base.join("secret.txt"), "outside").unwrap();
        Project {
            _dir: dir,
            base,
            root,
        }
    }

    fn rels(specs: &[&str], p: &Project, cwd: &Path) -> Result<Vec<String>, String> {
        let specs: Vec<String> = specs.iter().map(|s| s.to_string()).collect();
        resolve(&specs, &p.root, cwd)
            .map(|f| f.into_iter().map(|f| f.rel).collect())
            .map_err(|e| e.to_string())
    }

    #[test]
    fn paths_are_found_from_the_working_directory_or_the_root() {
        let p = project();
        let src = p.root.join("src");
        assert_eq!(rels(&["src/lib.rs"], &p, &p.root).unwrap(), ["src/lib.rs"]);
        assert_eq!(rels(&["lib.rs"], &p, &src).unwrap(), ["src/lib.rs"]);
        assert_eq!(rels(&["src/main.rs"], &p, &src).unwrap(), ["src/main.rs"]);
        let abs = p.root.join("src/lib.rs").display().to_string();
        assert_eq!(
            rels(&[&abs, "src/lib.rs"], &p, &src).unwrap(),
            ["src/lib.rs"]
        );
    }

    #[test]
    fn globs_are_expanded_in_order_without_ignored_files() {
        let p = project();
        assert_eq!(
            rels(&["src/**/*.rs"], &p, &p.root).unwrap(),
            ["src/lib.rs", "src/main.rs", "src/util/mod.rs"]
        );
        assert_eq!(
            rels(&["src/*.rs"], &p, &p.root).unwrap(),
            ["src/lib.rs", "src/main.rs"]
        );
        assert_eq!(rels(&["**/*.rs"], &p, &p.root).unwrap().len(), 3);
        assert_eq!(rels(&["*.rs"], &p, &p.root.join("src")).unwrap().len(), 2);
        assert_eq!(rels(&["src/{lib,main}.rs"], &p, &p.root).unwrap().len(), 2);
        let abs = format!("{}/src/*.rs", p.root.display());
        assert_eq!(
            rels(&[&abs], &p, &p.base).unwrap(),
            ["src/lib.rs", "src/main.rs"]
        );
        let outside = format!("{}/*.txt", p.base.display());
        let err = rels(&[&outside], &p, &p.root).unwrap_err();
        assert!(err.contains("outside the project root"), "{err}");
    }

    #[test]
    fn bad_inputs_are_usage_errors_naming_the_value() {
        let p = project();
        let err = rels(&["src"], &p, &p.root).unwrap_err();
        assert_eq!(
            err,
            "input src is a directory; give files, or a glob such as 'src/**/*'"
        );
        let err = rels(&["nope.rs"], &p, &p.root).unwrap_err();
        assert!(err.starts_with("input nope.rs: no such file"), "{err}");
        let err = rels(&["src/*.py"], &p, &p.root).unwrap_err();
        assert_eq!(err, "input src/*.py matches no file");
        let err = rels(&["../secret.txt"], &p, &p.root).unwrap_err();
        assert!(
            err.starts_with("input ../secret.txt is outside the project root"),
            "{err}"
        );
        let outside = p.base.join("secret.txt").display().to_string();
        assert!(
            rels(&[&outside], &p, &p.root)
                .unwrap_err()
                .contains("outside the project root")
        );
        std::os::unix::fs::symlink(p.base.join("secret.txt"), p.root.join("link.txt")).unwrap();
        assert!(
            rels(&["link.txt"], &p, &p.root)
                .unwrap_err()
                .contains("outside")
        );
        std::fs::write(p.root.join("bin.dat"), [0xff, 0xfe, 0]).unwrap();
        assert_eq!(
            rels(&["bin.dat"], &p, &p.root).unwrap_err(),
            "input bin.dat is not UTF-8 text"
        );
        let e = resolve(&["src".into()], &p.root, &p.root).unwrap_err();
        assert_eq!(e.exit_status(), crate::error::ExitStatus::Usage);
    }

    #[test]
    fn the_context_block_carries_the_path_and_a_long_enough_fence() {
        let f = InputFile {
            rel: "README.md".into(),
            path: PathBuf::from("/x/README.md"),
            text: "# T\n```sh\nmake\n```".into(),
        };
        let b = f.context_block();
        assert_eq!(b.label, "README.md");
        assert_eq!(b.text, "````README.md\n# T\n```sh\nmake\n```\n````");
        let parsed = crate::files::blocks::parse(&b.text, &[]);
        assert_eq!(parsed.files[0].content, "# T\n```sh\nmake\n```\n");
    }

    #[test]
    fn a_file_over_the_budget_is_named_never_cut() {
        let p = project();
        let files = resolve(
            &["src/lib.rs".into(), "src/main.rs".into()],
            &p.root,
            &p.root,
        )
        .unwrap();
        check_budget(&files, 100, 0, "local").unwrap();
        let err = check_budget(&files, 20, 5, "local")
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "input src/main.rs needs about 8 tokens but only 7 of the local route's 20-token \
             context budget are left; give fewer or smaller files"
        );
    }
}
