//! The check's sandbox: code a model wrote runs under bubblewrap (`bwrap`, the Debian
//! package `bubblewrap`) with the project writable, a private writable `/tmp`, the rest of
//! the file system read-only (HOME included), no network (a network namespace with only its
//! own loopback), and a PID namespace: when the check's shell exits or its deadline passes,
//! every process it started dies with it, `setsid` children included.
//!
//! `[files] sandbox = "auto" | "bwrap" | "off"` (or `CODEX_WRAP_SANDBOX`) loosens a defence,
//! so it is read only from the user's own profiles.toml and the process environment, never
//! from the project's file or a project `.env.local`. Whether bwrap works is probed once per
//! process (many containers forbid the namespaces it needs): [`available`].
//!
//! Faces call [`available`] ("is a working sandbox here") and run a check with
//! `check::run_check(.., &Confine { sandbox: true, .. }, ..)`; [`for_command_line`] and
//! [`for_mcp`] are the two policies built on them.

use std::path::Path;
use std::sync::OnceLock;

use crate::config::env::{Env, names};
use crate::error::Error;
use crate::output::Reporter;

/// The Debian (and Ubuntu, Fedora, Arch) package that provides `bwrap`.
pub const PACKAGE: &str = "bubblewrap";

/// `[files] sandbox`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Sandboxed when bwrap works here; else the command line runs the check as the user,
    /// with a warning, and MCP refuses.
    #[default]
    Auto,
    /// Always sandboxed: a call whose check cannot be sandboxed fails (exit 4).
    Bwrap,
    /// Never sandboxed (the user's own config said so).
    Off,
}

impl Mode {
    /// Reads `auto`, `bwrap`, `off` (any case).
    pub fn parse(value: &str) -> Option<Mode> {
        match value.trim().to_ascii_lowercase().as_str() {
            "auto" => Some(Mode::Auto),
            "bwrap" => Some(Mode::Bwrap),
            "off" => Some(Mode::Off),
            _ => None,
        }
    }
}

/// The user's `[files] sandbox`: `CODEX_WRAP_SANDBOX` in the process environment, else the
/// user-level profiles.toml, else `auto`. Never the project's profiles.toml nor a
/// `.env.local` (a repository must not switch its own sandbox off); the user file is found
/// through the process's `XDG_CONFIG_HOME` for the same reason.
pub fn mode(env: &Env) -> Result<Mode, Error> {
    if let Some(value) = env.process_get(names::SANDBOX) {
        return Mode::parse(value).ok_or_else(|| {
            Error::Config(format!(
                "{}={value}: must be auto, bwrap or off",
                names::SANDBOX
            ))
        });
    }
    let user = crate::config::user_files(env)?;
    match user.files.as_ref().and_then(|f| f.sandbox.as_deref()) {
        None => Ok(Mode::Auto),
        Some(value) => Mode::parse(value).ok_or_else(|| {
            Error::Config(format!(
                "[files] sandbox = \"{value}\": must be \"auto\", \"bwrap\" or \"off\""
            ))
        }),
    }
}

/// Whether a working sandbox is available here: `Ok` when bwrap ran a trivial command with
/// every namespace the check uses, else why not (one line naming the package). Probed once
/// per process (about 30 ms), then remembered.
pub fn available() -> Result<(), &'static str> {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    PROBE
        .get_or_init(probe)
        .as_ref()
        .map(|_| ())
        .map_err(String::as_str)
}

fn probe() -> Result<(), String> {
    let root = std::env::temp_dir();
    let out = command(&["true"], &root)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .output();
    match out {
        Ok(o) if o.status.success() => Ok(()),
        Ok(o) => {
            let why = String::from_utf8_lossy(&o.stderr);
            let why = why.lines().next().unwrap_or("").trim();
            Err(format!(
                "bwrap cannot create its sandbox here ({}): user namespaces may be disabled",
                if why.is_empty() {
                    "no reason given"
                } else {
                    why
                }
            ))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(format!(
            "bwrap is not installed (install the {PACKAGE} package)"
        )),
        Err(e) => Err(format!("cannot run bwrap: {e} (the {PACKAGE} package)")),
    }
}

/// `argv` under bwrap, run in `root`: the whole file system read-only, `root` writable,
/// fresh `/dev`, `/proc` and `/tmp`, no network, its own PID namespace and session, killed
/// when codex-wrap dies.
pub fn command(argv: &[&str], root: &Path) -> std::process::Command {
    let mut cmd = std::process::Command::new("bwrap");
    cmd.args(["--ro-bind", "/", "/", "--dev", "/dev", "--proc", "/proc"])
        .args(["--tmpfs", "/tmp"])
        // After the tmpfs, so a project under /tmp is the real one, writable.
        .arg("--bind")
        .arg(root)
        .arg(root)
        .arg("--chdir")
        .arg(root)
        .args([
            "--unshare-net",
            "--unshare-pid",
            "--unshare-ipc",
            "--unshare-uts",
        ])
        .args(["--die-with-parent", "--new-session", "--"])
        .args(argv);
    cmd
}

/// The command line's policy for `--check`: sandboxed when it can be; `auto` without a
/// working bwrap runs the check as the user after one stderr line saying so; `bwrap`
/// without one is an error (exit 4) naming the package.
pub fn for_command_line(env: &Env, report: Reporter) -> Result<bool, Error> {
    match (mode(env)?, available()) {
        (Mode::Off, _) => Ok(false),
        (_, Ok(())) => Ok(true),
        (Mode::Auto, Err(why)) => {
            report.warn(&format!(
                "the check runs without a sandbox: {why}; set [files] sandbox = \"off\" in your profiles.toml to silence this"
            ));
            Ok(false)
        }
        (Mode::Bwrap, Err(why)) => Err(unavailable(why)),
    }
}

/// `eval`'s policy: it runs code a model wrote, task after task, so only in the sandbox,
/// unless the user's own config (or `CODEX_WRAP_SANDBOX`) says `off`. Without a working
/// sandbox it refuses (exit 4) naming the package.
pub fn for_eval(env: &Env) -> Result<bool, Error> {
    match (mode(env)?, available()) {
        (Mode::Off, _) => Ok(false),
        (_, Ok(())) => Ok(true),
        (_, Err(why)) => Err(Error::Unavailable(format!(
            "eval runs the model's code only in the sandbox, and {why}; install the {PACKAGE} \
             package, or set [files] sandbox = \"off\" in your own profiles.toml"
        ))),
    }
}

/// The MCP `delegate` tool's policy for its `check`: sandboxed when a sandbox works (and
/// the user did not turn it off); otherwise only a command listed in the user's `[mcp]
/// checks` runs, as the user. `Err` is the tool error to return.
pub fn for_mcp(env: &Env, command: &str) -> Result<bool, String> {
    let mode = mode(env).map_err(|e| e.to_string())?;
    let listed = || {
        crate::config::user_files(env).is_ok_and(|u| {
            u.mcp
                .as_ref()
                .and_then(|m| m.checks.as_ref())
                .is_some_and(|list| list.iter().any(|c| c.trim() == command.trim()))
        })
    };
    match (mode, available()) {
        (Mode::Bwrap | Mode::Auto, Ok(())) => Ok(true),
        (Mode::Bwrap, Err(why)) => Err(unavailable(why).to_string()),
        (_, _) if listed() => Ok(false),
        (Mode::Off, _) => Err(format!(
            "the check `{command}` was not run: the sandbox is off in your config and the command is not in your [mcp] checks list"
        )),
        (Mode::Auto, Err(why)) => Err(format!(
            "the check `{command}` was not run: {why}; an MCP check runs only in the sandbox or when the command is in [mcp] checks in your own profiles.toml"
        )),
    }
}

fn unavailable(why: &str) -> Error {
    Error::Unavailable(format!(
        "[files] sandbox = \"bwrap\" but {why}; install the {PACKAGE} package or set sandbox = \"auto\""
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_probe_runs_once_and_finds_a_working_bwrap() {
        // CI installs bubblewrap (.ci/run): a machine without a working one fails here.
        let start = std::time::Instant::now();
        assert_eq!(available(), Ok(()));
        let first = start.elapsed();
        let again = std::time::Instant::now();
        assert_eq!(available(), Ok(()));
        assert!(
            again.elapsed() < std::time::Duration::from_millis(1),
            "not remembered"
        );
        assert!(
            first < std::time::Duration::from_secs(5),
            "probe took {first:?}"
        );
    }

    #[test]
    fn modes_parse() {
        assert_eq!(Mode::parse(" BWRAP "), Some(Mode::Bwrap));
        assert_eq!(Mode::parse("auto"), Some(Mode::Auto));
        assert_eq!(Mode::parse("off"), Some(Mode::Off));
        assert_eq!(Mode::parse("on"), None);
    }

    #[test]
    fn the_environment_wins_and_a_bad_value_is_a_config_error() {
        let env = Env::from_pairs([(names::SANDBOX, "off")]);
        assert_eq!(mode(&env).unwrap(), Mode::Off);
        let env = Env::from_pairs([(names::SANDBOX, "maybe")]);
        let err = mode(&env).unwrap_err().to_string();
        assert!(err.contains("must be auto, bwrap or off"), "{err}");
    }

    #[test]
    fn only_the_user_file_sets_it() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("conf");
        std::fs::create_dir_all(conf.join("codex-wrap")).unwrap();
        let xdg = conf.to_str().unwrap();
        let env = Env::from_pairs([(names::XDG_CONFIG_HOME, xdg)]);
        assert_eq!(mode(&env).unwrap(), Mode::Auto);
        std::fs::write(
            conf.join("codex-wrap/profiles.toml"),
            "[files]\nsandbox = \"off\"\n",
        )
        .unwrap();
        assert_eq!(mode(&env).unwrap(), Mode::Off);
        // XDG_CONFIG_HOME from a .env.local (a project's file) does not count.
        let mut env = Env::default();
        let dotenv = dir.path().join(".env.local");
        std::fs::write(
            &dotenv,
            format!("XDG_CONFIG_HOME={xdg}\nCODEX_WRAP_SANDBOX=off\n"),
        )
        .unwrap();
        env.load_dotenv(&dotenv);
        assert_eq!(mode(&env).unwrap(), Mode::Auto);
    }
}
