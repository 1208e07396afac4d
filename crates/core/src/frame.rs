//! Cutting a response body into frames: NDJSON lines or SSE `data:` payloads.
//!
//! NDJSON is split on the newline byte and only whole lines are decoded, so a line or a
//! UTF-8 character cut across reads is never an error. SSE is parsed by the
//! `eventsource-stream` crate (the same field, comment, CRLF and multi-line `data:` rules as
//! the WHATWG spec); we only pick out the `data` of each event.

use std::pin::Pin;

use bytes::Bytes;
use eventsource_stream::Eventsource;
use futures_util::{Stream, StreamExt, stream};

use crate::backend::Framing;
use crate::error::{Failure, FailureKind};

/// A stream of frames (or of the failure that ended it).
pub type Frames<'a> = Pin<Box<dyn Stream<Item = Result<String, Failure>> + Send + 'a>>;

/// Splits bytes into `\n`-terminated lines, keeping the unfinished tail.
#[derive(Debug, Default)]
pub struct LineSplitter {
    buf: Vec<u8>,
    start: usize,
}

impl LineSplitter {
    /// Adds bytes read from the network.
    pub fn push(&mut self, bytes: &[u8]) {
        if self.start > 0 && self.start == self.buf.len() {
            self.buf.clear();
            self.start = 0;
        } else if self.start > 64 * 1024 && self.start * 2 > self.buf.len() {
            self.buf.drain(..self.start);
            self.start = 0;
        }
        self.buf.extend_from_slice(bytes);
    }

    /// The next whole line without its `\n` (and `\r`), skipping blank lines (tests).
    #[cfg(test)]
    fn next_line(&mut self) -> Option<&[u8]> {
        loop {
            let start = self.start;
            let end = start + memchr::memchr(b'\n', &self.buf[start..])? + 1;
            self.start = end;
            if content(&self.buf[start..end]).is_some() {
                return content(&self.buf[start..end]);
            }
        }
    }

    /// The next whole line with its terminator, blank lines included (for SSE, where a
    /// blank line ends an event).
    pub fn next_raw_line(&mut self) -> Option<&[u8]> {
        let rest = &self.buf[self.start..];
        let end = memchr::memchr(b'\n', rest)?;
        let line_start = self.start;
        self.start += end + 1;
        Some(&self.buf[line_start..self.start])
    }

    /// What is left at the end of the stream, if it is more than white space.
    pub fn rest(&mut self) -> Option<&[u8]> {
        let rest = &self.buf[self.start..];
        self.start = self.buf.len();
        (!rest.iter().all(u8::is_ascii_whitespace)).then_some(rest)
    }
}

fn transport_failure(err: &reqwest::Error) -> Failure {
    Failure::new(
        FailureKind::Unreachable,
        format!(
            "connection broke while reading the answer: {}",
            crate::http::redact_all(&crate::http::error_chain(err))
        ),
    )
}

fn utf8(line: &[u8]) -> Result<String, Failure> {
    String::from_utf8(line.to_vec()).map_err(|_| {
        Failure::new(
            FailureKind::Protocol,
            "invalid UTF-8 in a line of the answer".to_owned(),
        )
    })
}

/// Frames of a body given as a stream of byte chunks.
pub fn frames<'a, S>(body: S, framing: Framing) -> Frames<'a>
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'a,
{
    match framing {
        Framing::Ndjson => ndjson(body),
        Framing::Sse => Box::pin(whole_lines(body).eventsource().map(|event| match event {
            Ok(event) => Ok(event.data),
            Err(eventsource_stream::EventStreamError::Transport(e)) => Err(transport_failure(&e)),
            Err(e) => Err(Failure::new(
                FailureKind::Protocol,
                format!("malformed event stream: {e}"),
            )),
        })),
    }
}

/// Re-cuts a body into one chunk per whole line. The SSE parser re-reads its buffer from
/// the start on every chunk until a line is complete and copies what follows each line it
/// takes, so feeding it whole lines, one at a time, keeps it linear: a 4 MiB event is parsed
/// once, and a read holding hundreds of small events costs no copying of the rest.
fn whole_lines<'a, S>(body: S) -> impl Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'a
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'a,
{
    struct State<S> {
        body: Pin<Box<S>>,
        lines: LineSplitter,
        ended: bool,
    }
    let state = State {
        body: Box::pin(body),
        lines: LineSplitter::default(),
        ended: false,
    };
    stream::unfold(state, |mut st| async move {
        loop {
            if let Some(line) = st.lines.next_raw_line() {
                let line = Bytes::copy_from_slice(line);
                return Some((Ok(line), st));
            }
            if st.ended {
                let rest = st.lines.rest().map(Bytes::copy_from_slice)?;
                return Some((Ok(rest), st));
            }
            match st.body.next().await {
                Some(Ok(bytes)) => st.lines.push(&bytes),
                Some(Err(e)) => {
                    st.ended = true;
                    st.lines = LineSplitter::default();
                    return Some((Err(e), st));
                }
                None => st.ended = true,
            }
        }
    })
}

fn ndjson<'a, S>(body: S) -> Frames<'a>
where
    S: Stream<Item = Result<Bytes, reqwest::Error>> + Send + 'a,
{
    Box::pin(whole_lines(body).filter_map(|item| async move {
        match item {
            Ok(line) => content(&line).map(utf8),
            Err(e) => Some(Err(transport_failure(&e))),
        }
    }))
}

/// A line without its `\n` / `\r\n`, or `None` when it is blank.
fn content(line: &[u8]) -> Option<&[u8]> {
    let line = line.strip_suffix(b"\n").unwrap_or(line);
    let line = line.strip_suffix(b"\r").unwrap_or(line);
    (!line.iter().all(u8::is_ascii_whitespace)).then_some(line)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn split_all(chunks: &[&[u8]]) -> Vec<Vec<u8>> {
        let mut s = LineSplitter::default();
        let mut out = Vec::new();
        for c in chunks {
            s.push(c);
            while let Some(l) = s.next_line() {
                out.push(l.to_vec());
            }
        }
        if let Some(r) = s.rest() {
            out.push(r.to_vec());
        }
        out
    }

    #[test]
    fn lines_split_across_reads_and_crlf() {
        let got = split_all(&[b"{\"a\":", b"1}\r\n\n{\"b\"", b":2}\n{\"c\":3}"]);
        assert_eq!(
            got,
            [
                b"{\"a\":1}".to_vec(),
                b"{\"b\":2}".to_vec(),
                b"{\"c\":3}".to_vec()
            ]
        );
    }

    #[test]
    fn utf8_split_inside_a_line_is_whole_again() {
        let text = "{\"t\":\"é€😀\"}\n".as_bytes();
        for cut in 0..text.len() {
            let got = split_all(&[&text[..cut], &text[cut..]]);
            assert_eq!(got, [text[..text.len() - 1].to_vec()], "cut at {cut}");
        }
    }

    /// Runs the framing over `chunks` and decodes each frame with `backend`, returning the
    /// text, or the first failure's message.
    fn decode_all(
        chunks: Vec<Vec<u8>>,
        framing: Framing,
        backend: &dyn crate::backend::Backend,
    ) -> Result<String, String> {
        let rt = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        rt.block_on(async {
            let body = stream::iter(
                chunks
                    .into_iter()
                    .map(|c| Ok::<Bytes, reqwest::Error>(Bytes::from(c))),
            );
            let mut frames = frames(body, framing);
            let mut text = String::new();
            while let Some(frame) = frames.next().await {
                let frame = frame.map_err(|f| f.message)?;
                let d = backend.decode(&frame).map_err(|f| f.message)?;
                text.push_str(&d.text);
            }
            Ok(text)
        })
    }

    fn gemini() -> crate::backend::gemini::Gemini {
        crate::backend::gemini::Gemini {
            base_url: String::new(),
            model: String::new(),
            key: None,
            options: serde_json::Map::new(),
        }
    }

    fn ollama() -> crate::backend::ollama::Ollama {
        crate::backend::ollama::Ollama {
            url: String::new(),
            model: String::new(),
            options: serde_json::Map::new(),
            keep_alive: None,
        }
    }

    const SSE: &str = "data: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"naïve \"}],\"role\": \"model\"}}]}\r\n\r\n: keep-alive comment\r\n\r\ndata: {\"candidates\": [{\"content\": {\"parts\": [{\"text\": \"😀 ok\"}],\"role\": \"model\"},\"finishReason\": \"STOP\"}]}\r\n\r\n";
    const NDJSON: &str = "{\"message\":{\"content\":\"naïve \"},\"done\":false}\n{\"message\":{\"content\":\"😀 ok\"},\"done\":false}\n{\"message\":{\"content\":\"\"},\"done\":true}\n";

    #[test]
    fn every_split_of_a_valid_stream_gives_the_same_text() {
        for (framing, text, backend) in [
            (Framing::Sse, SSE, &gemini() as &dyn crate::backend::Backend),
            (Framing::Ndjson, NDJSON, &ollama()),
        ] {
            let bytes = text.as_bytes();
            for cut in 0..=bytes.len() {
                let got = decode_all(
                    vec![bytes[..cut].to_vec(), bytes[cut..].to_vec()],
                    framing,
                    backend,
                );
                assert_eq!(
                    got.as_deref(),
                    Ok("naïve 😀 ok"),
                    "{framing:?} cut at {cut}"
                );
            }
        }
    }

    proptest! {
        #[test]
        fn any_bytes_any_split_never_panics_and_agrees(
            data in proptest::collection::vec(any::<u8>(), 0..600),
            cuts in proptest::collection::vec(any::<usize>(), 0..8),
        ) {
            let whole = split_all(&[&data]);
            let mut points: Vec<usize> = cuts.iter().map(|c| c % (data.len() + 1)).collect();
            points.sort_unstable();
            let mut chunks: Vec<&[u8]> = Vec::new();
            let mut prev = 0;
            for p in points { chunks.push(&data[prev..p]); prev = p; }
            chunks.push(&data[prev..]);
            prop_assert_eq!(split_all(&chunks), whole);
        }

        #[test]
        fn any_bytes_through_either_framing_never_panic(
            data in proptest::collection::vec(any::<u8>(), 0..400),
            cut in any::<usize>(),
        ) {
            let cut = cut % (data.len() + 1);
            for (framing, backend) in [
                (Framing::Sse, &gemini() as &dyn crate::backend::Backend),
                (Framing::Ndjson, &ollama()),
            ] {
                let _ = decode_all(vec![data[..cut].to_vec(), data[cut..].to_vec()], framing, backend);
            }
        }

        #[test]
        fn random_splits_of_a_valid_stream_agree(
            cuts in proptest::collection::vec(any::<usize>(), 0..6),
        ) {
            for (framing, text, backend) in [
                (Framing::Sse, SSE, &gemini() as &dyn crate::backend::Backend),
                (Framing::Ndjson, NDJSON, &ollama()),
            ] {
                let bytes = text.as_bytes();
                let mut points: Vec<usize> = cuts.iter().map(|c| c % (bytes.len() + 1)).collect();
                points.sort_unstable();
                let mut chunks = Vec::new();
                let mut prev = 0;
                for p in points { chunks.push(bytes[prev..p].to_vec()); prev = p; }
                chunks.push(bytes[prev..].to_vec());
                let got = decode_all(chunks, framing, backend);
                prop_assert_eq!(got.as_deref(), Ok("naïve 😀 ok"));
            }
        }
    }
}
