//! Criterion benchmarks of the hot functions: routing a prompt, compiling the router,
//! splitting and decoding a stream.

use std::hint::black_box;

use codex_wrap::backend::Backend;
use codex_wrap::backend::ollama::Ollama;
use codex_wrap::config::file;
use codex_wrap::frame::LineSplitter;
use codex_wrap::route::Router;
use criterion::{Criterion, criterion_group, criterion_main};

fn router_table() -> Option<toml::Table> {
    let layers = file::load_layers(None, None).unwrap();
    file::merge(&layers).unwrap().router
}

/// A 200-character prompt.
const SHORT: &str = "Add request validation with zod to every route handler in the API, and make the \
error responses follow the format we use in the orders service. Keep the handlers thin and the tests green, thanks!!!!!";

/// About 20 KB: a question and a pasted log.
fn long_prompt() -> String {
    let mut p = String::from("Why does the worker crash after the deploy? Full log below:\n\n");
    let mut i = 0;
    while p.len() < 20_000 {
        p.push_str(&format!(
            "2024-05-02T10:14:{:02}Z ERROR worker-{i} job=sync-{i} failed: connection reset by peer (attempt {})\n",
            i % 60,
            i % 5
        ));
        i += 1;
    }
    p
}

fn routing(c: &mut Criterion) {
    let table = router_table();
    let router = Router::from_table(table.as_ref()).unwrap();
    let short: String = SHORT
        .chars()
        .chain(std::iter::repeat('!'))
        .take(200)
        .collect();
    let long = long_prompt();
    c.bench_function("route/200-char prompt", |b| {
        b.iter(|| router.decide(black_box(&short)))
    });
    c.bench_function("route/20KB prompt with log", |b| {
        b.iter(|| router.decide(black_box(&long)))
    });
    c.bench_function("route/compile rules", |b| {
        b.iter(|| Router::from_table(black_box(table.as_ref())).unwrap())
    });
}

fn streaming(c: &mut Criterion) {
    let ollama = Ollama {
        url: "http://x".into(),
        model: "m".into(),
        options: Default::default(),
        keep_alive: None,
    };
    let mut body = Vec::new();
    for i in 0..2000 {
        body.extend_from_slice(
            format!("{{\"model\":\"m\",\"created_at\":\"2026-11-23T12:00:00Z\",\"message\":{{\"role\":\"assistant\",\"content\":\"tok{i} \"}},\"done\":false}}\n").as_bytes(),
        );
    }
    c.bench_function("ndjson/split+decode 2000 lines", |b| {
        b.iter(|| {
            let mut s = LineSplitter::default();
            let mut n = 0usize;
            for chunk in body.chunks(16 * 1024) {
                s.push(chunk);
                while let Some(line) = s.next_line() {
                    let line = std::str::from_utf8(line).unwrap();
                    n += ollama.decode(line).unwrap().text.len();
                }
            }
            black_box(n)
        })
    });
}

criterion_group!(benches, routing, streaming);
criterion_main!(benches);
