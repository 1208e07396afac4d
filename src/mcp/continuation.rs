//! The continuation store behind `delegate`'s `continuation_id`: a reply carries an id; a
//! later call with it sends the earlier exchange (bounded) before the new prompt, so an
//! assistant can say "now add tests" without resending the code.
//!
//! One small JSON file per exchange under `STATE_DIR/continuations/`, readable by its
//! owner only, expired after a TTL (3 h by default). It holds the request and the answer
//! text and nothing else: no settings, headers or keys ever reach it.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};

use serde::{Deserialize, Serialize};

/// Default time to live.
pub(crate) const DEFAULT_TTL: Duration = Duration::from_secs(3 * 3600);

/// Longest request or answer kept, in characters (about 3,000 tokens each).
pub(crate) const MAX_KEPT_CHARS: usize = 12_000;

/// Most files kept in a folder of saved replies (continuations, full replies): the oldest
/// go first, so the state directory stays bounded however many calls a session makes.
pub(crate) const MAX_KEPT_FILES: usize = 200;

/// One stored exchange.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Exchange {
    /// Seconds since the Unix epoch when it was stored.
    pub(crate) created: u64,
    /// The request as it was sent (the end of it, when long).
    pub(crate) prompt: String,
    /// The answer (the start of it, when long).
    pub(crate) reply: String,
}

/// The store: a folder and a time to live.
#[derive(Debug, Clone)]
pub(crate) struct Store {
    dir: PathBuf,
    ttl: Duration,
}

impl Store {
    /// A store under `state_dir`.
    pub(crate) fn new(state_dir: &Path, ttl: Duration) -> Store {
        Store {
            dir: state_dir.join("continuations"),
            ttl,
        }
    }

    /// Keeps an exchange and returns its id. Expired exchanges are removed on the way.
    pub(crate) fn save(
        &self,
        prompt: &str,
        reply: &str,
        now: SystemTime,
    ) -> std::io::Result<String> {
        std::fs::create_dir_all(&self.dir)?;
        self.prune(now);
        let id = uuid::Uuid::new_v4().simple().to_string();
        let exchange = Exchange {
            created: unix(now),
            prompt: tail(prompt, MAX_KEPT_CHARS).to_owned(),
            reply: head(reply, MAX_KEPT_CHARS).to_owned(),
        };
        let text = serde_json::to_string(&exchange).map_err(std::io::Error::other)?;
        write_private(&self.dir.join(format!("{id}.json")), text.as_bytes())?;
        Ok(id)
    }

    /// The exchange an id names, if it exists and has not expired. An id that is not one
    /// this store makes (32 hex digits) names nothing: it never becomes a path.
    pub(crate) fn load(&self, id: &str, now: SystemTime) -> Option<Exchange> {
        if id.len() != 32 || !id.bytes().all(|b| b.is_ascii_hexdigit()) {
            return None;
        }
        let path = self.dir.join(format!("{id}.json"));
        let exchange: Exchange = serde_json::from_slice(&std::fs::read(&path).ok()?).ok()?;
        if unix(now).saturating_sub(exchange.created) > self.ttl.as_secs() {
            let _ = std::fs::remove_file(&path);
            return None;
        }
        Some(exchange)
    }

    /// Removes every expired exchange, and the oldest beyond `MAX_KEPT_FILES - 1` (room
    /// for the one being saved).
    fn prune(&self, now: SystemTime) {
        let expired = |path: &Path, _| {
            std::fs::read(path)
                .ok()
                .and_then(|b| serde_json::from_slice::<Exchange>(&b).ok())
                .is_none_or(|e| unix(now).saturating_sub(e.created) > self.ttl.as_secs())
        };
        prune_dir(&self.dir, "json", expired, MAX_KEPT_FILES - 1);
    }
}

/// In `dir`, removes the files ending in `.ext` that `expired(path, modified)` says are,
/// then the oldest (by modification time) until at most `keep` are left.
pub(crate) fn prune_dir(
    dir: &Path,
    ext: &str,
    expired: impl Fn(&Path, SystemTime) -> bool,
    keep: usize,
) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    let mut kept: Vec<(SystemTime, PathBuf)> = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        if path.extension().is_none_or(|e| e != ext) {
            continue;
        }
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(SystemTime::UNIX_EPOCH);
        if expired(&path, modified) {
            let _ = std::fs::remove_file(&path);
        } else {
            kept.push((modified, path));
        }
    }
    if kept.len() > keep {
        kept.sort();
        for (_, path) in &kept[..kept.len() - keep] {
            let _ = std::fs::remove_file(path);
        }
    }
}

/// The prompt sent for a continued exchange: the earlier request and answer, then the
/// new request.
pub(crate) fn continued_prompt(earlier: &Exchange, prompt: &str) -> String {
    format!(
        "Earlier request:\n{}\n\nYour earlier answer:\n{}\n\nNow: {prompt}",
        earlier.prompt, earlier.reply
    )
}

fn unix(t: SystemTime) -> u64 {
    t.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The first `max` characters of `text` (at a character boundary).
pub(crate) fn head(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((i, _)) => &text[..i],
        None => text,
    }
}

/// The last `max` characters of `text`.
fn tail(text: &str, max: usize) -> &str {
    let count = text.chars().count();
    if count <= max {
        return text;
    }
    match text.char_indices().nth(count - max) {
        Some((i, _)) => &text[i..],
        None => text,
    }
}

/// Writes a file only its owner can read.
pub(crate) fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    options.open(path)?.write_all(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_exchange_comes_back_until_it_expires() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), DEFAULT_TTL);
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let id = store
            .save("write slugify()", "def slugify(s): ...", t0)
            .unwrap();
        assert_eq!(id.len(), 32);
        let back = store.load(&id, t0 + Duration::from_secs(3 * 3600)).unwrap();
        assert_eq!(back.prompt, "write slugify()");
        assert_eq!(back.reply, "def slugify(s): ...");
        assert_eq!(
            store.load(&id, t0 + Duration::from_secs(3 * 3600 + 1)),
            None
        );
        assert!(
            !dir.path().join(format!("continuations/{id}.json")).exists(),
            "expired file removed"
        );
    }

    #[test]
    fn saving_prunes_expired_exchanges() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), Duration::from_secs(60));
        let t0 = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000_000);
        let old = store.save("a", "b", t0).unwrap();
        let new = store.save("c", "d", t0 + Duration::from_secs(61)).unwrap();
        let files = std::fs::read_dir(dir.path().join("continuations"))
            .unwrap()
            .count();
        assert_eq!(files, 1);
        assert!(store.load(&old, t0 + Duration::from_secs(61)).is_none());
        assert!(store.load(&new, t0 + Duration::from_secs(61)).is_some());
    }

    #[test]
    fn the_store_keeps_at_most_max_kept_files_the_newest() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), DEFAULT_TTL);
        let now = SystemTime::now();
        let first = store.save("first", "a", now).unwrap();
        let old = SystemTime::now() - Duration::from_secs(60);
        let path = dir.path().join(format!("continuations/{first}.json"));
        std::fs::File::options()
            .write(true)
            .open(&path)
            .unwrap()
            .set_modified(old)
            .unwrap();
        let mut last = String::new();
        for i in 0..MAX_KEPT_FILES + 5 {
            last = store.save(&format!("p{i}"), "r", now).unwrap();
        }
        let files = std::fs::read_dir(dir.path().join("continuations"))
            .unwrap()
            .count();
        assert_eq!(files, MAX_KEPT_FILES);
        assert!(store.load(&first, now).is_none(), "the oldest went first");
        assert!(store.load(&last, now).is_some());
    }

    #[test]
    fn ids_that_are_not_the_stores_never_become_paths() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("secret.json"), "{}").unwrap();
        let store = Store::new(dir.path(), DEFAULT_TTL);
        for id in ["../secret", "", "zz", "/etc/passwd", &"a".repeat(33)] {
            assert_eq!(store.load(id, SystemTime::now()), None, "{id}");
        }
    }

    #[test]
    fn long_exchanges_are_bounded() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), DEFAULT_TTL);
        let now = SystemTime::now();
        let prompt = format!("{}NEWEST", "p".repeat(20_000));
        let reply = format!("FIRST{}", "é".repeat(20_000));
        let id = store.save(&prompt, &reply, now).unwrap();
        let back = store.load(&id, now).unwrap();
        assert_eq!(back.prompt.chars().count(), MAX_KEPT_CHARS);
        assert!(back.prompt.ends_with("NEWEST"));
        assert_eq!(back.reply.chars().count(), MAX_KEPT_CHARS);
        assert!(back.reply.starts_with("FIRST"));
        let sent = continued_prompt(&back, "now add tests");
        assert!(sent.ends_with("Now: now add tests"));
    }

    #[cfg(unix)]
    #[test]
    fn files_are_private_to_their_owner() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let store = Store::new(dir.path(), DEFAULT_TTL);
        let id = store.save("a", "b", SystemTime::now()).unwrap();
        let mode = std::fs::metadata(dir.path().join(format!("continuations/{id}.json")))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
    }
}
