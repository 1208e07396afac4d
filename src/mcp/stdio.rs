//! The session's streams: stdin and stdout, between the terminal and rmcp's line transport.
//!
//! rmcp drops an incoming line that is not JSON without a word; JSON-RPC 2.0 answers it
//! with a Parse error (`-32700`, id null). So a filter task reads stdin line by line (a
//! line over `max_line` bytes is never buffered), forwards every line that is JSON to rmcp
//! through an in-memory pipe, and answers one that is not with that error. rmcp's messages
//! and those errors reach stdout through one queue and one writer task that writes whole
//! lines, so the two can never interleave. EOF on stdin closes the pipe, which ends the
//! session as before.

use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use rmcp::model::{ErrorData, ServerJsonRpcMessage};
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncWrite, AsyncWriteExt, BufReader, DuplexStream,
};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::PollSender;

/// The longest line accepted from the client; a longer one gets a Parse error.
pub(super) const MAX_LINE: usize = 8 * 1024 * 1024;
/// The deepest nesting of arrays and objects a message may have. rmcp parses messages with
/// serde_json, whose recursion limit (128) makes it drop a deeper one without a word, so
/// the client would wait for ever: the filter answers it instead.
const MAX_DEPTH: usize = 100;
/// The in-memory pipe from the filter to rmcp.
const PIPE_BYTES: usize = 64 * 1024;
/// Whole lines waiting for stdout.
const QUEUE_LINES: usize = 64;

/// The tasks behind a session's transport.
pub(super) struct Streams {
    filter: JoinHandle<()>,
    writer: JoinHandle<io::Result<()>>,
}

/// What rmcp reads from and writes to.
pub(super) type Transport = (DuplexStream, LineWriter);

impl Streams {
    /// Starts the filter over `input` and the writer over `output`.
    pub(super) fn start<R, W>(input: R, output: W, max_line: usize) -> (Self, Transport)
    where
        R: AsyncRead + Unpin + Send + 'static,
        W: AsyncWrite + Unpin + Send + 'static,
    {
        let (to_rmcp, from_filter) = tokio::io::duplex(PIPE_BYTES);
        let (lines, queue) = mpsc::channel(QUEUE_LINES);
        let filter = tokio::spawn(filter(input, to_rmcp, lines.clone(), max_line));
        let writer = tokio::spawn(write_lines(output, queue));
        let transport = (from_filter, LineWriter::new(lines));
        (Self { filter, writer }, transport)
    }

    /// Once rmcp has let go of its transport: stops reading and writes out every line queued.
    pub(super) async fn finish(self) -> io::Result<()> {
        self.filter.abort();
        self.writer.await.map_err(io::Error::other)?
    }
}

/// Forwards each line of `input` that is JSON to `to_rmcp`; answers any other line on
/// `out` with a Parse error. Blank lines are skipped. Returns at EOF (or when rmcp or
/// stdout has gone), dropping `to_rmcp` so rmcp sees EOF too.
async fn filter<R: AsyncRead + Unpin>(
    input: R,
    mut to_rmcp: DuplexStream,
    out: mpsc::Sender<Vec<u8>>,
    max_line: usize,
) {
    let mut input = BufReader::new(input);
    let mut line = Vec::new();
    loop {
        let problem = match read_line(&mut input, &mut line, max_line).await {
            Err(e) => {
                tracing::error!("reading stdin: {e}");
                return;
            }
            Ok(Read::Eof) => return,
            Ok(Read::TooLong) => format!("a line is at most {max_line} bytes"),
            Ok(Read::Line) => {
                if line.iter().all(u8::is_ascii_whitespace) {
                    continue;
                }
                match serde_json::from_slice::<serde::de::IgnoredAny>(&line) {
                    Ok(_) if depth(&line) > MAX_DEPTH => {
                        if out.send(too_deep(&line)).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Ok(_) => {
                        if !line.ends_with(b"\n") {
                            line.push(b'\n');
                        }
                        if to_rmcp.write_all(&line).await.is_err() {
                            return;
                        }
                        continue;
                    }
                    Err(e) => e.to_string(),
                }
            }
        };
        tracing::debug!("answering a line that is not JSON: {problem}");
        if out.send(parse_error(&problem)).await.is_err() {
            return;
        }
    }
}

/// How deeply a JSON text nests arrays and objects (brackets inside strings do not count).
/// serde_json has no depth-only check, and `IgnoredAny` skips values without one.
fn depth(json: &[u8]) -> usize {
    let (mut depth, mut deepest, mut in_string, mut escaped) = (0usize, 0usize, false, false);
    for &b in json {
        if in_string {
            match b {
                _ if escaped => escaped = false,
                b'\\' => escaped = true,
                b'"' => in_string = false,
                _ => {}
            }
            continue;
        }
        match b {
            b'"' => in_string = true,
            b'[' | b'{' => {
                depth += 1;
                deepest = deepest.max(depth);
            }
            b']' | b'}' => depth = depth.saturating_sub(1),
            _ => {}
        }
    }
    deepest
}

/// The JSON-RPC Invalid Request error for a message nested deeper than [`MAX_DEPTH`], with
/// the request's own id when its top level has one (read without building the value).
fn too_deep(line: &[u8]) -> Vec<u8> {
    #[derive(serde::Deserialize)]
    struct Head {
        id: Option<serde_json::Value>,
    }
    let id = serde_json::from_slice::<Head>(line)
        .ok()
        .and_then(|h| h.id)
        .filter(|id| id.is_string() || id.is_number())
        .unwrap_or(serde_json::Value::Null);
    let mut line = serde_json::json!({
        "jsonrpc": "2.0",
        "id": id,
        "error": {
            "code": -32600,
            "message": format!("Invalid Request: nested deeper than {MAX_DEPTH} levels"),
        },
    })
    .to_string()
    .into_bytes();
    line.push(b'\n');
    line
}

/// The JSON-RPC Parse error for a line that is not JSON, as a whole line. JSON-RPC 2.0
/// wants `"id": null` there, which the SDK's message (with no id) leaves out.
fn parse_error(problem: &str) -> Vec<u8> {
    let message = ServerJsonRpcMessage::error(
        ErrorData::parse_error(format!("Parse error: {problem}"), None),
        None,
    );
    let mut message = serde_json::to_value(message).unwrap_or_default();
    if let Some(fields) = message.as_object_mut() {
        fields.insert("id".to_owned(), serde_json::Value::Null);
    }
    let mut line = message.to_string().into_bytes();
    line.push(b'\n');
    line
}

enum Read {
    /// `line` holds one line (with its newline, unless it ended at EOF).
    Line,
    /// The line was longer than the limit; it has been read past and dropped.
    TooLong,
    Eof,
}

/// Reads one line into `line`, never holding more than `max_line` bytes of it.
async fn read_line(
    input: &mut (impl AsyncBufRead + Unpin),
    line: &mut Vec<u8>,
    max_line: usize,
) -> io::Result<Read> {
    line.clear();
    line.shrink_to(PIPE_BYTES);
    let mut too_long = false;
    loop {
        let available = input.fill_buf().await?;
        if available.is_empty() {
            return Ok(match (too_long, line.is_empty()) {
                (true, _) => Read::TooLong,
                (false, true) => Read::Eof,
                (false, false) => Read::Line,
            });
        }
        let newline = memchr::memchr(b'\n', available);
        let take = newline.map_or(available.len(), |at| at + 1);
        let content = newline.unwrap_or(available.len());
        if !too_long && line.len() + content > max_line {
            too_long = true;
            line.clear();
        }
        if !too_long {
            line.extend_from_slice(&available[..take]);
        }
        input.consume(take);
        if newline.is_some() {
            return Ok(if too_long { Read::TooLong } else { Read::Line });
        }
    }
}

/// Writes each queued line whole, flushing when the queue runs dry.
async fn write_lines<W: AsyncWrite + Unpin>(
    mut output: W,
    mut queue: mpsc::Receiver<Vec<u8>>,
) -> io::Result<()> {
    while let Some(line) = queue.recv().await {
        output.write_all(&line).await?;
        if queue.is_empty() {
            output.flush().await?;
        }
    }
    output.flush().await
}

/// rmcp's writer: cuts what rmcp writes into whole lines and queues them for stdout.
pub(super) struct LineWriter {
    queue: PollSender<Vec<u8>>,
    /// Bytes after the last newline written.
    partial: Vec<u8>,
    /// Whole lines waiting for room in the queue.
    lines: VecDeque<Vec<u8>>,
}

impl LineWriter {
    fn new(queue: mpsc::Sender<Vec<u8>>) -> Self {
        Self {
            queue: PollSender::new(queue),
            partial: Vec::new(),
            lines: VecDeque::new(),
        }
    }

    /// Moves the waiting lines into the queue, or waits for room.
    fn poll_queue(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.lines.is_empty() {
            ready!(self.queue.poll_reserve(cx)).map_err(|_| stdout_gone())?;
            let line = self.lines.pop_front().unwrap_or_default();
            self.queue.send_item(line).map_err(|_| stdout_gone())?;
        }
        Poll::Ready(Ok(()))
    }
}

fn stdout_gone() -> io::Error {
    io::Error::new(io::ErrorKind::BrokenPipe, "stdout is closed")
}

impl AsyncWrite for LineWriter {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        ready!(this.poll_queue(cx))?;
        let mut rest = buf;
        while let Some(at) = memchr::memchr(b'\n', rest) {
            this.partial.extend_from_slice(&rest[..=at]);
            this.lines.push_back(std::mem::take(&mut this.partial));
            rest = &rest[at + 1..];
        }
        this.partial.extend_from_slice(rest);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.get_mut().poll_queue(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        ready!(this.poll_queue(cx))?;
        this.queue.close();
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    #[tokio::test]
    async fn json_lines_reach_rmcp_and_every_other_line_gets_one_parse_error() {
        let input: &[u8] = b"{\"a\":1}\r\n\n  \nnot json\n{\"a\":\n12345678901\n[1]";
        let (to_rmcp, mut from_filter) = tokio::io::duplex(1024);
        let (out, mut queue) = mpsc::channel(8);
        filter(input, to_rmcp, out, 10).await;

        let mut forwarded = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut from_filter, &mut forwarded)
            .await
            .unwrap();
        assert_eq!(forwarded, "{\"a\":1}\r\n[1]\n");
        let mut errors = Vec::new();
        while let Some(line) = queue.recv().await {
            assert!(line.ends_with(b"\n"));
            errors.push(serde_json::from_slice::<Value>(&line).unwrap());
        }
        assert_eq!(errors.len(), 3, "{errors:?}");
        for error in &errors {
            assert_eq!(error["jsonrpc"], "2.0");
            assert_eq!(error.get("id"), Some(&Value::Null), "{error}");
            assert_eq!(error["error"]["code"], json!(-32700));
            assert!(
                error["error"]["message"]
                    .as_str()
                    .unwrap()
                    .starts_with("Parse error: "),
                "{error}"
            );
        }
        assert!(
            errors[2]["error"]["message"]
                .as_str()
                .unwrap()
                .contains("at most 10 bytes")
        );
    }

    #[tokio::test]
    async fn a_message_nested_too_deeply_gets_an_invalid_request_error_with_its_id() {
        let deep = |n: usize| format!("{}{}", "[".repeat(n), "]".repeat(n));
        let input = format!(
            "{{\"jsonrpc\":\"2.0\",\"id\":7,\"method\":\"tools/call\",\"params\":{{\"a\":{}}}}}\n{{\"id\":\"x\",\"p\":\"[[[[\",\"q\":{}}}\n{{\"jsonrpc\":\"2.0\",\"id\":8,\"method\":\"m\",\"params\":{}}}\n",
            deep(127),
            deep(3),
            deep(5000),
        );
        let (to_rmcp, mut from_filter) = tokio::io::duplex(1 << 20);
        let (out, mut queue) = mpsc::channel(8);
        filter(input.as_bytes(), to_rmcp, out, MAX_LINE).await;
        let mut forwarded = String::new();
        tokio::io::AsyncReadExt::read_to_string(&mut from_filter, &mut forwarded)
            .await
            .unwrap();
        // A bracket inside a string does not count: the shallow message goes through.
        assert!(forwarded.starts_with("{\"id\":\"x\""), "{forwarded}");
        assert_eq!(forwarded.lines().count(), 1);
        let mut errors = Vec::new();
        while let Some(line) = queue.recv().await {
            errors.push(serde_json::from_slice::<Value>(&line).unwrap());
        }
        assert_eq!(errors.len(), 2, "{errors:?}");
        assert_eq!(errors[0]["id"], json!(7));
        assert_eq!(errors[1]["id"], json!(8));
        for error in &errors {
            assert_eq!(error["error"]["code"], json!(-32600), "{error}");
        }
    }

    #[test]
    fn depth_counts_brackets_outside_strings_only() {
        assert_eq!(depth(b"1"), 0);
        assert_eq!(depth(b"{\"a\":[1,{\"b\":[]}]}"), 4);
        assert_eq!(depth(br#"{"a":"[[[{\"]]"}"#), 1);
    }

    #[tokio::test]
    async fn the_writer_queues_whole_lines_whatever_the_write_boundaries() {
        let (queue, mut lines) = mpsc::channel(8);
        let mut writer = LineWriter::new(queue);
        for piece in [&b"{\"a\""[..], b":1}\n{\"b\":2}\n{", b"}\n"] {
            writer.write_all(piece).await.unwrap();
        }
        writer.flush().await.unwrap();
        drop(writer);
        let mut got = Vec::new();
        while let Some(line) = lines.recv().await {
            got.push(String::from_utf8(line).unwrap());
        }
        assert_eq!(got, ["{\"a\":1}\n", "{\"b\":2}\n", "{}\n"]);
    }
}
