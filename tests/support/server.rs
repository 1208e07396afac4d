//! A tiny HTTP/1.1 server on 127.0.0.1:0 that hands each request to a closure with raw
//! control of the connection: chunked streaming with pacing, stalls, resets.
//!
//! Written over std's TcpListener (with `httparse` for the request head) rather than on
//! hyper because the faults we test — stalling before the status line, dropping a chunked
//! body without its terminator, an RST mid-stream — are exactly what a well-behaved server
//! library refuses to produce.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

/// One request as the server read it.
#[derive(Debug, Clone)]
pub struct Request {
    /// `POST /api/chat HTTP/1.1`, exactly as received.
    pub request_line: String,
    /// Path with query.
    pub path: String,
    /// Headers, names lower-cased.
    pub headers: Vec<(String, String)>,
    /// The body.
    pub body: Vec<u8>,
}

impl Request {
    /// A header's value.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// The body as JSON.
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).expect("request body is JSON")
    }
}

/// The connection a handler writes its answer on. It serves one request and is closed
/// when the handler returns, so the answers say `Connection: close`: without it a client
/// that keeps connections alive (httpx, as the official Python clients use) sends its next
/// request on a socket we are closing and gets a reset, which no real server causes.
pub struct Conn {
    stream: TcpStream,
}

impl Conn {
    /// Writes raw bytes and flushes; errors (client gone) are ignored.
    pub fn raw(&mut self, bytes: &[u8]) {
        let _ = self.stream.write_all(bytes);
        let _ = self.stream.flush();
    }

    /// Status line and headers of a chunked response.
    pub fn start_chunked(&mut self, status: u16, content_type: &str) {
        let head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nDate: Mon, 23 Nov 2026 12:00:00 GMT\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n",
            reason(status)
        );
        self.raw(head.as_bytes());
    }

    /// One chunk of a chunked body.
    pub fn chunk(&mut self, bytes: &[u8]) {
        if bytes.is_empty() {
            return;
        }
        let mut framed = format!("{:x}\r\n", bytes.len()).into_bytes();
        framed.extend_from_slice(bytes);
        framed.extend_from_slice(b"\r\n");
        self.raw(&framed);
    }

    /// The terminating chunk.
    pub fn end(&mut self) {
        self.raw(b"0\r\n\r\n");
    }

    /// A whole response with Content-Length.
    pub fn respond(
        &mut self,
        status: u16,
        content_type: &str,
        extra: &[(&str, &str)],
        body: &[u8],
    ) {
        let mut head = format!(
            "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n",
            reason(status),
            body.len()
        );
        for (n, v) in extra {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        let mut all = head.into_bytes();
        all.extend_from_slice(body);
        self.raw(&all);
    }

    /// Makes the close an RST (SO_LINGER 0) when the handler returns: what a crashed server
    /// or a proxy reset looks like.
    pub fn reset(&mut self) {
        let sock = socket2::SockRef::from(&self.stream);
        let _ = sock.set_linger(Some(Duration::ZERO));
    }

    /// Blocks until the client closes the connection; returns how long that took.
    pub fn wait_closed(&mut self, limit: Duration) -> Option<Duration> {
        let start = Instant::now();
        let _ = self
            .stream
            .set_read_timeout(Some(Duration::from_millis(20)));
        let mut buf = [0u8; 1024];
        while start.elapsed() < limit {
            match self.stream.read(&mut buf) {
                Ok(0) => return Some(start.elapsed()),
                Ok(_) => {}
                Err(e)
                    if matches!(
                        e.kind(),
                        std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                    ) => {}
                Err(_) => return Some(start.elapsed()),
            }
        }
        None
    }
}

fn reason(status: u16) -> &'static str {
    match status {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        429 => "Too Many Requests",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        _ => "Status",
    }
}

type Handler = dyn Fn(usize, &Request, &mut Conn) + Send + Sync;

/// How often a test declares its server is called; checked when the server is dropped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Calls {
    /// Not checked.
    Any,
    /// At least once.
    Some,
    /// Never.
    Never,
    /// Exactly this many times.
    Exactly(usize),
}

/// A running server; it stops accepting when dropped. A handler that panicked fails the
/// test when the server is dropped (its panic would otherwise only kill a server thread),
/// and so does a call count other than the one declared with `expect`.
pub struct Server {
    addr: SocketAddr,
    requests: Arc<Mutex<Vec<Request>>>,
    stop: Arc<AtomicBool>,
    panics: Arc<Mutex<Vec<String>>>,
    expected: Calls,
}

impl Server {
    /// Starts a server; `handler(n, request, conn)` answers the n-th request (0-based).
    pub fn start(handler: impl Fn(usize, &Request, &mut Conn) + Send + Sync + 'static) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let addr = listener.local_addr().expect("addr");
        listener.set_nonblocking(true).expect("nonblocking");
        let requests = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(AtomicBool::new(false));
        let panics = Arc::new(Mutex::new(Vec::new()));
        let handler: Arc<Handler> = Arc::new(handler);
        let (reqs, stop2, panics2) = (requests.clone(), stop.clone(), panics.clone());
        thread::spawn(move || {
            while !stop2.load(Ordering::Relaxed) {
                match listener.accept() {
                    Ok((stream, _)) => {
                        let (handler, reqs, panics) =
                            (handler.clone(), reqs.clone(), panics2.clone());
                        thread::spawn(move || {
                            let served =
                                std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                                    serve(stream, &*handler, &reqs)
                                }));
                            if let Err(p) = served {
                                let what = p
                                    .downcast_ref::<String>()
                                    .cloned()
                                    .or_else(|| p.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                                    .unwrap_or_default();
                                panics.lock().unwrap().push(what);
                            }
                        });
                    }
                    Err(_) => thread::sleep(Duration::from_millis(2)),
                }
            }
        });
        Server {
            addr,
            requests,
            stop,
            panics,
            expected: Calls::Any,
        }
    }

    /// Declares how often the test expects this server to be called; checked on drop.
    #[must_use]
    pub fn expect(mut self, calls: Calls) -> Server {
        self.expected = calls;
        self
    }

    /// `http://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The requests received so far.
    pub fn requests(&self) -> Vec<Request> {
        self.requests.lock().unwrap().clone()
    }

    /// How many requests arrived.
    pub fn hits(&self) -> usize {
        self.requests.lock().unwrap().len()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if thread::panicking() {
            return;
        }
        let panics = self.panics.lock().unwrap().clone();
        assert!(panics.is_empty(), "a server handler panicked: {panics:?}");
        let hits = self.hits();
        match self.expected {
            Calls::Any => {}
            Calls::Some => assert!(hits > 0, "the server at {} was never called", self.url()),
            Calls::Never => assert_eq!(hits, 0, "the server at {} was called", self.url()),
            Calls::Exactly(n) => assert_eq!(hits, n, "calls to the server at {}", self.url()),
        }
    }
}

fn serve(mut stream: TcpStream, handler: &Handler, requests: &Mutex<Vec<Request>>) {
    let _ = stream.set_nonblocking(false);
    let _ = stream.set_nodelay(true);
    let Some(request) = read_request(&mut stream) else {
        return;
    };
    let n = {
        let mut all = requests.lock().unwrap();
        all.push(request.clone());
        all.len() - 1
    };
    let mut conn = Conn { stream };
    handler(n, &request, &mut conn);
}

fn read_request(stream: &mut TcpStream) -> Option<Request> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let n = stream.read(&mut chunk).ok()?;
        if n == 0 {
            return None;
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; 64];
        let mut req = httparse::Request::new(&mut headers);
        if let httparse::Status::Complete(head_len) = req.parse(&buf).ok()? {
            let headers: Vec<(String, String)> = req
                .headers
                .iter()
                .map(|h| {
                    (
                        h.name.to_ascii_lowercase(),
                        String::from_utf8_lossy(h.value).into_owned(),
                    )
                })
                .collect();
            let path = req.path?.to_owned();
            let request_line = format!("{} {} HTTP/1.{}", req.method?, path, req.version?);
            let len: usize = headers
                .iter()
                .find(|(n, _)| n == "content-length")
                .and_then(|(_, v)| v.parse().ok())
                .unwrap_or(0);
            let mut body = buf[head_len..].to_vec();
            while body.len() < len {
                let n = stream.read(&mut chunk).ok()?;
                if n == 0 {
                    return None;
                }
                body.extend_from_slice(&chunk[..n]);
            }
            return Some(Request {
                request_line,
                path,
                headers,
                body,
            });
        }
    }
}

/// How a provider streams a whole answer: `(conn, model, tokens, finish reason)`.
pub type StreamFn = fn(&mut Conn, &str, &[&str], &str);

/// A fake provider server not started yet, made by each provider module's `fake()`:
/// `ollama::fake().answering("ok")`, `openai::fake().finish("length").answering("cut")`,
/// `gemini::fake().failing(503, "{}")`. Set the model and the finish reason, then start it
/// with `answering`, `streaming` or `failing`.
///
/// Every request the server receives is answered the same way (whatever its path), in the
/// provider's real wire format, and recorded: [`Server::requests`] and [`Server::hits`] read
/// them, [`Server::expect`] declares how often it must be called. Tests that need a server
/// that changes its answer per request, paces its bytes or breaks the connection write their
/// own handler with [`Server::start`].
#[must_use = "a Fake serves nothing until answering, streaming or failing starts it"]
pub struct Fake {
    model: String,
    finish: String,
    stream: StreamFn,
}

impl Fake {
    /// A provider's fake: its default model name and finish reason, and its stream.
    pub fn new(model: &str, finish: &str, stream: StreamFn) -> Fake {
        Fake {
            model: model.to_owned(),
            finish: finish.to_owned(),
            stream,
        }
    }

    /// The model name the stream reports (each provider module's `MODEL` by default).
    pub fn model(mut self, name: &str) -> Fake {
        self.model = name.to_owned();
        self
    }

    /// The reason the stream ends with: Ollama's `done_reason`, OpenAI's `finish_reason`,
    /// Gemini's `finishReason` (`stop`, `stop`, `STOP` by default).
    pub fn finish(mut self, reason: &str) -> Fake {
        self.finish = reason.to_owned();
        self
    }

    /// Starts the server: every request is answered with `text`, streamed as one token.
    pub fn answering(self, text: &str) -> Server {
        self.streaming(&[text])
    }

    /// Starts the server: every request is answered with these tokens, one chunk each
    /// (none for OpenAI's content filter; Gemini needs at least one).
    pub fn streaming(self, tokens: &[&str]) -> Server {
        let tokens: Vec<String> = tokens.iter().map(|t| (*t).to_owned()).collect();
        let Fake {
            model,
            finish,
            stream,
        } = self;
        Server::start(move |_, _, conn| {
            let tokens: Vec<&str> = tokens.iter().map(String::as_str).collect();
            stream(conn, &model, &tokens, &finish);
        })
    }

    /// Starts the server: every request is answered with this HTTP status and JSON body.
    pub fn failing(self, status: u16, body: &str) -> Server {
        let body = body.to_owned();
        Server::start(move |_, _, conn| {
            conn.respond(status, "application/json", &[], body.as_bytes());
        })
    }
}
