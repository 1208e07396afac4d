//! Precedence, written once. A value is picked from its layers, highest first — a flag,
//! the router's suggestion, environment variables in order, the configuration files
//! (already merged, each value attributed to its layer when they were read), the program's
//! default — and where it came from is recorded under its key in the same step, so the
//! value and its origin cannot disagree.
//!
//! ```ignore
//! let url = pick.value("gemini.base_url")
//!     .env(&[names::GEMINI_BASE_URL], text)
//!     .file(|| Ok(file.base_url.clone()))
//!     .or(gemini::DEFAULT_URL.to_owned())?;
//! ```

use super::env::Env;
use super::provenance::{Origin, Provenance};
use crate::error::Error;

/// Resolution's view of the environment and the origins recorded so far.
pub(super) struct Picker<'e> {
    pub(super) env: &'e Env,
    pub(super) origins: Provenance,
}

impl<'e> Picker<'e> {
    /// A picker that records into a fresh provenance (for a function called on its own).
    pub(super) fn new(env: &'e Env) -> Picker<'e> {
        Picker {
            env,
            origins: Provenance::default(),
        }
    }

    /// Starts picking the value recorded under `key`.
    pub(super) fn value<T>(&mut self, key: impl Into<String>) -> Pick<'_, 'e, T> {
        Pick {
            picker: self,
            key: key.into(),
            found: Ok(None),
        }
    }

    /// Where the value of `key` came from, as a user would name it: the variable, or
    /// `file_name` (`[ollama] url`) when a file or the default set it.
    pub(super) fn named(&self, key: &str, file_name: &str) -> String {
        match self.origins.of(key) {
            Origin::Env(var) => var.clone(),
            _ => file_name.to_owned(),
        }
    }
}

/// One value being picked: each layer is looked at only while no higher one had it.
#[must_use = "a pick ends with .or(default) or .or_none()"]
pub(super) struct Pick<'p, 'e, T> {
    picker: &'p mut Picker<'e>,
    key: String,
    found: Result<Option<T>, Error>,
}

impl<T> Pick<'_, '_, T> {
    fn open(&self) -> bool {
        matches!(self.found, Ok(None))
    }

    fn take(&mut self, value: T, origin: Option<Origin>) {
        if let Some(origin) = origin {
            self.picker.origins.set(self.key.clone(), origin);
        }
        self.found = Ok(Some(value));
    }

    /// A value given with the flag `name`.
    pub(super) fn flag(mut self, value: Option<T>, name: &'static str) -> Self {
        if let (true, Some(v)) = (self.open(), value) {
            self.take(v, Some(Origin::Flag(name)));
        }
        self
    }

    /// The router's suggestion.
    pub(super) fn router(mut self, value: Option<T>) -> Self {
        if let (true, Some(v)) = (self.open(), value) {
            self.take(v, Some(Origin::Router));
        }
        self
    }

    /// The first of `vars` that is set, read by `read(var, value)`.
    pub(super) fn env(
        mut self,
        vars: &[&str],
        read: impl FnOnce(&str, &str) -> Result<T, Error>,
    ) -> Self {
        if !self.open() {
            return self;
        }
        let env = self.picker.env;
        if let Some(var) = env.first_set(vars) {
            match read(var, env.get(var).unwrap_or_default()) {
                Ok(v) => self.take(v, Some(Origin::env(var))),
                Err(e) => self.found = Err(e),
            }
        }
        self
    }

    /// The files' value (its origin was recorded when the files were read).
    pub(super) fn file(mut self, value: impl FnOnce() -> Result<Option<T>, Error>) -> Self {
        if self.open() {
            match value() {
                Ok(Some(v)) => self.take(v, None),
                Ok(None) => {}
                Err(e) => self.found = Err(e),
            }
        }
        self
    }

    /// The files' value, set under another key (`default_profile` for `profile`): its
    /// origin is copied.
    pub(super) fn file_at(mut self, key: &str, value: Option<T>) -> Self {
        if let (true, Some(v)) = (self.open(), value) {
            let origin = self.picker.origins.of(key).clone();
            self.take(v, Some(origin));
        }
        self
    }

    /// The value, or `default` (recorded as the default unless a file set the key).
    pub(super) fn or(self, default: T) -> Result<T, Error> {
        Ok(self.or_none()?.unwrap_or(default))
    }

    /// The value, if any layer had one; nothing is recorded when none had (a value that
    /// has no default, such as a key).
    pub(super) fn or_unset(self) -> Result<Option<T>, Error> {
        self.found
    }

    /// The value, if any layer had one (else `Default` is recorded unless a file set it).
    pub(super) fn or_none(self) -> Result<Option<T>, Error> {
        let found = self.found?;
        if found.is_none() {
            self.picker.origins.default_unless_set(self.key);
        }
        Ok(found)
    }
}

/// Reads a variable's value as text.
pub(super) fn text(_var: &str, value: &str) -> Result<String, Error> {
    Ok(value.to_owned())
}
