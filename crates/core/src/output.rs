//! The only code that writes to stdout, and the stderr status lines.
//!
//! stdout carries the model's text and nothing else. Text is appended to a buffer as frames
//! are decoded and written out once per network read, so each chunk the server sends
//! reaches the caller at once without a system call per token.
#![allow(clippy::print_stderr)]

use std::io::{self, IsTerminal, Write};

/// Model text on its way to stdout.
#[derive(Debug)]
pub struct Output {
    pending: Vec<u8>,
    delivered: u64,
    last: Option<u8>,
    closed: bool,
    error: Option<io::Error>,
    terminal: bool,
    buffered: bool,
    /// A buffer's cap in bytes: past it the text is dropped and the output closes, so the
    /// engine stops the stream (`over_limit` tells why).
    limit: Option<usize>,
    over_limit: bool,
}

impl Default for Output {
    fn default() -> Self {
        Self::new()
    }
}

impl Output {
    /// An output on the process's stdout.
    pub fn new() -> Self {
        Output {
            pending: Vec::with_capacity(8 * 1024),
            delivered: 0,
            last: None,
            closed: false,
            error: None,
            terminal: io::stdout().is_terminal(),
            buffered: false,
            limit: None,
            over_limit: false,
        }
    }

    /// An output that keeps the text instead of writing it (`--json`): `take_text` returns
    /// it, and a failed attempt's text can be dropped with `rollback`.
    pub fn buffered() -> Self {
        Output {
            buffered: true,
            terminal: false,
            ..Self::new()
        }
    }

    /// A buffer that holds at most `limit` bytes: text past it closes the output, which
    /// stops the stream (the write face: an answer is bounded while it streams, not after).
    pub fn buffered_limited(limit: usize) -> Self {
        Output {
            limit: Some(limit),
            ..Self::buffered()
        }
    }

    /// Whether text was refused for going past the buffer's limit.
    pub fn over_limit(&self) -> bool {
        self.over_limit
    }

    /// Drops the text of a failed attempt when nothing has been shown yet (buffered
    /// output). Returns whether it could.
    pub fn rollback(&mut self) -> bool {
        if self.buffered {
            self.pending.clear();
        }
        self.buffered
    }

    /// The buffered text.
    pub fn take_text(&mut self) -> String {
        String::from_utf8(std::mem::take(&mut self.pending))
            .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
    }

    /// Queues text; `flush` writes it.
    pub fn push(&mut self, text: &str) {
        if self.closed || text.is_empty() {
            return;
        }
        if let Some(limit) = self.limit
            && self.pending.len() + text.len() > limit
        {
            self.over_limit = true;
            self.closed = true;
            return;
        }
        self.pending.extend_from_slice(text.as_bytes());
    }

    /// Bytes of model text handed to stdout so far (queued ones included: they are
    /// committed, and a fallback must not follow them).
    pub fn delivered(&self) -> u64 {
        self.delivered + self.pending.len() as u64
    }

    /// Whether writing has stopped: the reader closed stdout (e.g. `| head -1`), or a
    /// write failed (see `take_error`).
    pub fn is_closed(&self) -> bool {
        self.closed
    }

    /// Writes what is queued and flushes. A closed pipe is not an error: it marks the
    /// output closed, and the caller stops quietly.
    pub fn flush(&mut self) -> io::Result<()> {
        if self.pending.is_empty() || self.closed {
            return Ok(());
        }
        // The first token has come: the spinner's wait is over (with --json too).
        crate::spinner::stop();
        if self.buffered {
            return Ok(());
        }
        let mut stdout = io::stdout().lock();
        let result = stdout
            .write_all(&self.pending)
            .and_then(|()| stdout.flush());
        self.delivered += self.pending.len() as u64;
        self.last = self.pending.last().copied();
        self.pending.clear();
        match result {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => {
                self.closed = true;
                Ok(())
            }
            // Any other write error ends the stream too; the caller reports it once.
            Err(e) => {
                self.closed = true;
                self.error = Some(e);
                Ok(())
            }
            Ok(()) => Ok(()),
        }
    }

    /// The error that stopped writing, other than a closed pipe.
    pub fn take_error(&mut self) -> Option<io::Error> {
        self.error.take()
    }

    /// Ends the answer: on a terminal, adds a newline if the text lacks one so the shell
    /// prompt starts on its own line. In pipes the bytes stay exactly as the model sent them.
    pub fn finish(&mut self) -> io::Result<()> {
        self.flush()?;
        if self.terminal && self.delivered > 0 && self.last != Some(b'\n') {
            self.push("\n");
            self.flush()?;
        }
        Ok(())
    }

    /// Prints a whole document the user asked for (`--dry-run`, `route`).
    pub fn print_document(text: &str) -> io::Result<()> {
        let text = &*crate::secrets::mask(text);
        let mut stdout = io::stdout().lock();
        let r = stdout.write_all(text.as_bytes()).and_then(|()| {
            if text.ends_with('\n') {
                Ok(())
            } else {
                stdout.write_all(b"\n")
            }
        });
        match r.and_then(|()| stdout.flush()) {
            Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
            other => other,
        }
    }
}

/// Where an answer's text goes. The engine writes through this and nothing else, so a new
/// face (a file writer, an MCP response) is a new sink, not a new pipeline.
///
/// Text is pushed as it is decoded and delivered by `flush` once per network read. Text
/// counts as shown once pushed: a failure after that is final unless `rollback` can take
/// it back (a buffer can, stdout cannot).
pub trait Sink {
    /// Queues text of the current attempt.
    fn push(&mut self, text: &str);
    /// Delivers what is queued.
    fn flush(&mut self) -> io::Result<()>;
    /// Bytes taken so far, queued ones included.
    fn delivered(&self) -> u64;
    /// Drops a failed attempt's text if nothing has been shown; whether it could.
    fn rollback(&mut self) -> bool;
    /// Whether the reader went away (stdout closed): the engine stops quietly.
    fn is_closed(&self) -> bool;
    /// The current attempt's whole text, for a sink that keeps it (a buffer): the engine
    /// reads it to tell a refusal from an answer. `None` for a stream.
    fn answer(&self) -> Option<&str> {
        None
    }
    /// Something happened (a fallback, a retry, ...): a sink that reports progress may
    /// show it. The engine also keeps every event in the transcript.
    fn event(&mut self, _event: &crate::event::Event) {}
}

/// stdout (streamed) and the `--json` buffer.
impl Sink for Output {
    fn push(&mut self, text: &str) {
        Output::push(self, text);
    }
    fn flush(&mut self) -> io::Result<()> {
        Output::flush(self)
    }
    fn delivered(&self) -> u64 {
        Output::delivered(self)
    }
    fn rollback(&mut self) -> bool {
        Output::rollback(self)
    }
    fn is_closed(&self) -> bool {
        Output::is_closed(self)
    }
    fn answer(&self) -> Option<&str> {
        self.buffered
            .then(|| std::str::from_utf8(&self.pending).ok())
            .flatten()
    }
}

/// What a [`Watched`] sink does besides passing everything on to the sink it wraps: the
/// one place a sink that only observes (counts tokens, reports progress, keeps events)
/// differs from the sink underneath.
pub trait Watcher<S: Sink + ?Sized> {
    /// Text about to be pushed to the inner sink.
    fn pushed(&mut self, _text: &str) {}
    /// An event, after the inner sink was told of it.
    fn event(&mut self, _event: &crate::event::Event) {}
    /// Whether the engine should stop: by default, whether the inner sink is closed.
    fn is_closed(&self, inner: &S) -> bool {
        inner.is_closed()
    }
}

/// A sink that forwards every call to `inner` and tells `watcher` what passes through it.
pub struct Watched<'a, S: Sink + ?Sized, W> {
    /// Where the text goes.
    pub inner: &'a mut S,
    /// What observes it.
    pub watcher: W,
}

impl<S: Sink + ?Sized, W: Watcher<S>> Sink for Watched<'_, S, W> {
    fn push(&mut self, text: &str) {
        self.watcher.pushed(text);
        self.inner.push(text);
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
    fn delivered(&self) -> u64 {
        self.inner.delivered()
    }
    fn rollback(&mut self) -> bool {
        self.inner.rollback()
    }
    fn is_closed(&self) -> bool {
        self.watcher.is_closed(self.inner)
    }
    fn answer(&self) -> Option<&str> {
        self.inner.answer()
    }
    fn event(&mut self, event: &crate::event::Event) {
        self.inner.event(event);
        self.watcher.event(event);
    }
}

/// `9.0 GB`, as `ollama list` prints sizes (powers of 1000).
pub fn human_size(bytes: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KB", "MB", "GB", "TB"];
    let mut value = bytes as f64;
    let mut unit = 0;
    while value >= 1000.0 && unit < UNITS.len() - 1 {
        value /= 1000.0;
        unit += 1;
    }
    if unit == 0 {
        format!("{bytes} B")
    } else {
        format!("{value:.1} {}", UNITS[unit])
    }
}

/// Status lines on stderr: one when a call starts, one when it ends, one per fallback.
/// Every line is masked for the known secrets (`secrets::mask`).
#[derive(Debug, Clone, Copy)]
pub struct Reporter {
    quiet: bool,
}

impl Reporter {
    /// A reporter that prints unless `quiet`.
    pub fn new(quiet: bool) -> Self {
        Reporter { quiet }
    }

    /// A status line (suppressed by `-q`).
    pub fn status(&self, line: &str) {
        if !self.quiet {
            let line = crate::secrets::mask(line);
            crate::spinner::quiet(|| eprintln!("codex-wrap: {line}"));
        }
    }

    /// A warning (suppressed by `-q`).
    pub fn warn(&self, line: &str) {
        if !self.quiet {
            let line = crate::secrets::mask(line);
            crate::spinner::quiet(|| eprintln!("codex-wrap: warning: {line}"));
        }
    }

    /// An event's line, if it has one (a status line or a warning, suppressed by `-q`).
    pub fn event(&self, event: &crate::event::Event) {
        match event.line() {
            Some(crate::event::Line::Status(line)) => self.status(&line),
            Some(crate::event::Line::Warning(line)) => self.warn(&line),
            None => {}
        }
    }

    /// A warning that `-q` does not hide: the one line that explains an exit code.
    pub fn warning(line: &str) {
        crate::spinner::stop();
        eprintln!("codex-wrap: warning: {line}");
    }

    /// An error: always printed.
    pub fn error(line: &str) {
        crate::spinner::stop();
        let line = crate::secrets::mask(line);
        eprintln!("codex-wrap: error: {line}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_read_like_ollama_list() {
        assert_eq!(human_size(999), "999 B");
        assert_eq!(human_size(3_825_819_519), "3.8 GB");
        assert_eq!(human_size(522_000_000), "522.0 MB");
    }
}
