//! The endpoints of a route as a pool: which one to try first, and the health state that
//! separate processes share.
//!
//! A CLI is a new process per call, so what one call learns (this server refused, that
//! one never answered the SYN) is written to a small JSON file under the XDG state
//! directory. An endpoint that failed before its first byte (refused, connect timeout, 5xx,
//! 429) cools down for `[pool] cooldown` seconds: later calls try it last, not never.
//! Writes hold an exclusive lock on a sibling `.lock` file and replace the file atomically
//! (a temporary file renamed over it), so concurrent callers neither lose the file nor read
//! half of it. A corrupt or unwritable file is one warning; the call goes on.

use std::collections::BTreeMap;
use std::fs::File;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::{Failure, FailureKind};

/// How a route's endpoints share the calls.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Strategy {
    /// Always in the listed order (healthy ones first).
    #[default]
    Order,
    /// Each call starts at the next healthy endpoint (a turn counter in the state file),
    /// so sequential and parallel callers spread over the pool.
    Spread,
}

impl Strategy {
    /// What `[pool] strategy` may be, as an error message says it.
    pub const NAMES: &'static str = "order or spread";

    /// `order` or `spread`.
    pub fn as_str(self) -> &'static str {
        match self {
            Strategy::Order => "order",
            Strategy::Spread => "spread",
        }
    }

    /// A strategy by its name in `[pool] strategy` (surrounding spaces ignored).
    pub fn parse(name: &str) -> Option<Strategy> {
        match name.trim() {
            "order" => Some(Strategy::Order),
            "spread" => Some(Strategy::Spread),
            _ => None,
        }
    }
}

/// `[pool]`, resolved.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolSettings {
    /// How calls are spread.
    pub strategy: Strategy,
    /// How long a failed endpoint is tried last.
    pub cooldown: Duration,
    /// The shared state file; `None` when no state directory is known.
    pub state_file: Option<PathBuf>,
}

/// One endpoint's record in the state file.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct Entry {
    /// Milliseconds since the Unix epoch until which the endpoint is tried last.
    #[serde(default)]
    pub cooldown_until_ms: u64,
    /// Failures in a row.
    #[serde(default)]
    pub failures: u32,
    /// The last failure, one line.
    #[serde(default)]
    pub last_error: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct State {
    #[serde(default)]
    endpoints: BTreeMap<String, Entry>,
    /// Per route: how many calls have started, for `spread`.
    #[serde(default)]
    turns: BTreeMap<String, u64>,
}

/// An endpoint's health as a call sees it.
#[derive(Debug, Clone, PartialEq)]
pub enum Health {
    /// Nothing against it.
    Healthy,
    /// Tried last for this much longer; the last error.
    CoolingDown(Duration, String),
}

impl Health {
    /// `healthy` or `cooling down 12s (last: ...)`.
    pub fn describe(&self) -> String {
        match self {
            Health::Healthy => "healthy".to_owned(),
            Health::CoolingDown(left, why) => {
                format!("cooling down {}s (last: {why})", left.as_secs().max(1))
            }
        }
    }
}

/// The shared state, read once at the start of a call.
#[derive(Debug, Default)]
pub struct Pool {
    path: Option<PathBuf>,
    state: State,
    warning: Option<String>,
}

fn now_ms() -> u64 {
    let since = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    u64::try_from(since.as_millis()).unwrap_or(u64::MAX)
}

impl Pool {
    /// Reads the state file; a missing file is an empty state, a corrupt one a warning.
    pub fn load(path: Option<&Path>) -> Pool {
        let Some(path) = path else {
            return Pool::default();
        };
        let (state, warning) = match read(path) {
            Ok(state) => (state, None),
            Err(e) => (State::default(), Some(e)),
        };
        Pool {
            path: Some(path.to_path_buf()),
            state,
            warning,
        }
    }

    /// A problem met reading or writing the state file, once.
    pub fn take_warning(&mut self) -> Option<String> {
        self.warning.take()
    }

    /// An endpoint's health now.
    pub fn health(&self, key: &str) -> Health {
        match self.state.endpoints.get(key) {
            Some(e) if e.cooldown_until_ms > now_ms() => Health::CoolingDown(
                Duration::from_millis(e.cooldown_until_ms - now_ms()),
                e.last_error.clone(),
            ),
            _ => Health::Healthy,
        }
    }

    /// The order in which to try endpoints (given by their health keys): healthy ones in
    /// the listed order (rotated by the route's turn with `spread`), then cooling ones,
    /// the one that recovers first first.
    pub fn order(&mut self, route: &str, keys: &[String], strategy: Strategy) -> Vec<usize> {
        let now = now_ms();
        let until = |k: &String| {
            self.state
                .endpoints
                .get(k)
                .map_or(0, |e| e.cooldown_until_ms)
        };
        let mut healthy: Vec<usize> = (0..keys.len())
            .filter(|&i| until(&keys[i]) <= now)
            .collect();
        let mut cooling: Vec<usize> = (0..keys.len()).filter(|&i| until(&keys[i]) > now).collect();
        cooling.sort_by_key(|&i| until(&keys[i]));
        if strategy == Strategy::Spread && healthy.len() > 1 {
            let turn = self.take_turn(route);
            let shift = usize::try_from(turn % healthy.len() as u64).unwrap_or(0);
            healthy.rotate_left(shift);
        }
        healthy.extend(cooling);
        healthy
    }

    /// Increments the route's turn counter in the file; returns the value before.
    fn take_turn(&mut self, route: &str) -> u64 {
        let mut turn = 0;
        let result = self.update(|state| {
            let t = state.turns.entry(route.to_owned()).or_default();
            turn = *t;
            *t = t.wrapping_add(1);
            true
        });
        if let Err(e) = result {
            self.warn(e);
            // Without the shared counter, start somewhere: the clock is as good as any.
            turn = now_ms();
        }
        turn
    }

    /// Records an attempt: a failure that says the server is down or overloaded puts the
    /// endpoint in cooldown; an answer clears its record.
    pub fn record(&mut self, key: &str, result: Result<(), &Failure>, cooldown: Duration) {
        let result = match result {
            Err(f) if cools_down(f) => {
                let until = now_ms()
                    .saturating_add(u64::try_from(cooldown.as_millis()).unwrap_or(u64::MAX));
                let message = f.message.clone();
                self.update(|state| {
                    let e = state.endpoints.entry(key.to_owned()).or_default();
                    e.cooldown_until_ms = until;
                    e.failures = e.failures.saturating_add(1);
                    e.last_error.clone_from(&message);
                    true
                })
            }
            Err(_) => return,
            Ok(()) if self.state.endpoints.contains_key(key) => {
                self.update(|state| state.endpoints.remove(key).is_some())
            }
            Ok(()) => return,
        };
        if let Err(e) = result {
            self.warn(e);
        }
    }

    fn warn(&mut self, message: String) {
        if self.warning.is_none() {
            self.warning = Some(message);
        }
    }

    /// Read-modify-write under the lock; `change` says whether anything changed.
    fn update(&mut self, change: impl FnOnce(&mut State) -> bool) -> Result<(), String> {
        let Some(path) = self.path.clone() else {
            return Ok(());
        };
        let shown = path.display().to_string();
        let cannot =
            |e: &dyn std::fmt::Display| format!("cannot write the health state {shown}: {e}");
        let dir = path.parent().unwrap_or_else(|| Path::new("."));
        std::fs::create_dir_all(dir).map_err(|e| cannot(&e))?;
        let lock = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.with_extension("lock"))
            .map_err(|e| cannot(&e))?;
        let _lock = nix::fcntl::Flock::lock(lock, nix::fcntl::FlockArg::LockExclusive)
            .map_err(|(_, e)| cannot(&e))?;
        // Another process may have written since this call read the file.
        let mut state = read(&path).unwrap_or_default();
        if !change(&mut state) {
            self.state = state;
            return Ok(());
        }
        let text = serde_json::to_vec_pretty(&state).map_err(|e| cannot(&e))?;
        let mut tmp = tempfile::NamedTempFile::new_in(dir).map_err(|e| cannot(&e))?;
        std::io::Write::write_all(&mut tmp, &text).map_err(|e| cannot(&e))?;
        tmp.persist(&path).map_err(|e| cannot(&e.error))?;
        self.state = state;
        Ok(())
    }
}

fn read(path: &Path) -> Result<State, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map_err(|e| format!("ignoring the corrupt health state {}: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(State::default()),
        Err(e) => Err(format!(
            "cannot read the health state {}: {e}",
            path.display()
        )),
    }
}

/// Whether a failure before the first byte says the server is down or overloaded: refused,
/// connect timeout, 5xx, 429. A 404 (model not pulled) or a missing key is not the
/// server's health.
pub fn cools_down(f: &Failure) -> bool {
    match f.kind {
        FailureKind::Unreachable | FailureKind::RateLimited => true,
        FailureKind::Http => f.status.is_some_and(|s| s >= 500),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn keys(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("ollama http://h{i}")).collect()
    }

    #[test]
    fn a_failed_endpoint_goes_last_and_an_answer_clears_it() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("state/health.json");
        let mut pool = Pool::load(Some(&path));
        let k = keys(3);
        assert_eq!(pool.order("local", &k, Strategy::Order), [0, 1, 2]);
        let refused = Failure::new(FailureKind::Unreachable, "refused");
        pool.record(&k[0], Err(&refused), Duration::from_secs(30));
        let mut again = Pool::load(Some(&path));
        assert_eq!(again.order("local", &k, Strategy::Order), [1, 2, 0]);
        assert!(matches!(again.health(&k[0]), Health::CoolingDown(..)));
        again.record(&k[0], Ok(()), Duration::from_secs(30));
        let mut third = Pool::load(Some(&path));
        assert_eq!(third.order("local", &k, Strategy::Order), [0, 1, 2]);
        assert!(third.take_warning().is_none());
    }

    #[test]
    fn spread_starts_each_call_at_the_next_endpoint() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("health.json");
        let k = keys(3);
        let firsts: Vec<usize> = (0..6)
            .map(|_| Pool::load(Some(&path)).order("local", &k, Strategy::Spread)[0])
            .collect();
        assert_eq!(firsts, [0, 1, 2, 0, 1, 2]);
    }

    #[test]
    fn a_corrupt_file_is_one_warning_and_is_replaced() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("health.json");
        std::fs::write(&path, "{not json").unwrap();
        let mut pool = Pool::load(Some(&path));
        assert!(pool.take_warning().unwrap().contains("corrupt"));
        let f = Failure::new(FailureKind::RateLimited, "429");
        pool.record("k", Err(&f), Duration::from_secs(1));
        assert!(pool.take_warning().is_none());
        assert!(Pool::load(Some(&path)).take_warning().is_none());
    }

    #[test]
    fn only_server_trouble_cools_down() {
        let mut f = Failure::new(FailureKind::Http, "HTTP 404");
        f.status = Some(404);
        assert!(!cools_down(&f));
        f.status = Some(503);
        assert!(cools_down(&f));
        assert!(!cools_down(&Failure::new(
            FailureKind::NotConfigured,
            "no key"
        )));
    }
}
