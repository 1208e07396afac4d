//! Criterion benchmarks of the hot functions: routing a prompt, compiling the router,
//! splitting and decoding a stream, slicing context, parsing an answer into files.

use std::hint::black_box;

use codex_wrap::backend::Backend;
use codex_wrap::backend::Framing;
use codex_wrap::backend::ollama::Ollama;
use codex_wrap::config::file;
use codex_wrap::context::{self, ContextSettings, Doc};
use codex_wrap::files;
use codex_wrap::frame;
use codex_wrap::route::{Headings, Router};
use criterion::{Criterion, criterion_group, criterion_main};
use futures_util::StreamExt;

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

/// About 1 MB of Markdown: 4,000 sections with three-word headings and a paragraph each.
fn one_mb_doc() -> String {
    const WORDS: [&str; 16] = [
        "billing", "retry", "policy", "webhook", "orders", "ledger", "testing", "release",
        "tenant", "quota", "audit", "schema", "cache", "session", "export", "metrics",
    ];
    let mut text = String::from("# Contract\n\n");
    let mut i = 0;
    while text.len() < 1_000_000 {
        text.push_str(&format!(
            "## {} {} {} {i}\n\n",
            WORDS[i % 16],
            WORDS[(i / 16) % 16],
            WORDS[(i / 256) % 16]
        ));
        text.push_str(
            &"The service retries failed deliveries with backoff and records each attempt. "
                .repeat(3),
        );
        text.push_str("\n\n");
        i += 1;
    }
    text
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
    // What one call pays: a fresh router (its lazy DFA's states not built yet) and one
    // decision.
    c.bench_function("route/compile rules + first 200-char decision", |b| {
        b.iter(|| {
            Router::from_table(black_box(table.as_ref()))
                .unwrap()
                .decide(black_box(&short))
        })
    });
    // The project's docs as a signal: a 1 MB CONTRACTS.md of 4,000 sections.
    let doc = Doc::new(std::path::Path::new("CONTRACTS.md"), one_mb_doc());
    c.bench_function("route/index headings of a 1MB doc", |b| {
        b.iter(|| Headings::from_docs(black_box(std::slice::from_ref(&doc))))
    });
    let with_docs = Router::from_table(table.as_ref())
        .unwrap()
        .with_headings(Headings::from_docs(std::slice::from_ref(&doc)));
    // Worst case: the prompt names many heading words, so long posting lists are walked.
    let about_docs = "Per the contract, what is the retry policy for billing webhooks and how \
        should the ledger record a failed export? Answer briefly, with the section used, and \
        note any audit or quota rules that apply.";
    c.bench_function("route/200-char prompt, 1MB doc headings", |b| {
        b.iter(|| with_docs.decide(black_box(about_docs)))
    });
    c.bench_function("route/20KB prompt, 1MB doc headings", |b| {
        b.iter(|| with_docs.decide(black_box(&long)))
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
    // The production path: the framing stream over 16 KiB reads, then one decode a frame.
    let runtime = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap();
    c.bench_function("ndjson/frame+decode 2000 lines", |b| {
        b.iter(|| {
            runtime.block_on(async {
                let chunks: Vec<Result<bytes::Bytes, reqwest::Error>> = body
                    .chunks(16 * 1024)
                    .map(|c| Ok(bytes::Bytes::copy_from_slice(c)))
                    .collect();
                let mut frames = frame::frames(futures_util::stream::iter(chunks), Framing::Ndjson);
                let mut n = 0usize;
                while let Some(line) = frames.next().await {
                    n += ollama.decode(&line.unwrap()).unwrap().text.len();
                }
                black_box(n)
            })
        })
    });
}

/// A realistic contract document of about `size` bytes: nested numbered sections, prose,
/// lists, fenced code with `#` comments, tables.
fn contracts_doc(size: usize) -> String {
    let topics = [
        "Error handling",
        "Retry policy",
        "Billing webhook",
        "Authentication",
        "Rate limits",
        "Logging",
        "Pagination",
        "Idempotency",
        "Data retention",
        "Versioning",
    ];
    let mut doc = String::from("# Contracts\n\nThis document defines the service contracts.\n\n");
    let mut i = 0;
    while doc.len() < size {
        let topic = topics[i % topics.len()];
        doc.push_str(&format!("## {}. {topic} ({i})\n\n", i + 1));
        doc.push_str(&format!(
            "Every service MUST follow the {topic} rules below. Requests carry a request id; \
             responses use problem+json on failure. Clients retry with exponential backoff.\n\n"
        ));
        doc.push_str("### Rules\n\n- Use UTC timestamps.\n- Never log secrets or tokens.\n- Keep payloads under 1 MB.\n\n");
        doc.push_str("```bash\n# example: not a heading\ncurl -X POST https://api.example.com/v1/orders\n```\n\n");
        doc.push_str("| field | type |\n|---|---|\n| id | string |\n| amount | integer |\n\n");
        i += 1;
    }
    doc
}

fn slicing(c: &mut Criterion) {
    let settings = ContextSettings {
        files: vec!["CONTRACTS.md".into()],
        ..ContextSettings::default()
    };
    let prompt = "Per CONTRACTS.md, what is the retry policy for the billing webhook?";
    // A 1 MB prompt (a run of one letter, then distinct words) against a 1 MB doc: linear,
    // since terms are bounded in length.
    let doc = Doc::new(std::path::Path::new("CONTRACTS.md"), contracts_doc(1 << 20));
    let run = "a".repeat(1 << 20);
    let words: String = (0..(1 << 20) / 8).map(|i| format!("w{i:06} ")).collect();
    for (name, big) in [("one letter", &run), ("distinct words", &words)] {
        c.bench_function(
            &format!("context/select, 1MB prompt of {name}, 1MB doc"),
            |b| {
                b.iter(|| {
                    let sel = context::select(
                        std::slice::from_ref(&doc),
                        &settings,
                        big,
                        8000,
                        context::Depth::Full,
                    );
                    black_box(sel.blocks.len())
                })
            },
        );
    }
    for (name, size) in [("1MB", 1 << 20), ("10MB", 10 << 20)] {
        let text = contracts_doc(size);
        c.bench_function(&format!("context/parse {name}"), |b| {
            b.iter(|| black_box(context::markdown::parse(&text).len()))
        });
        c.bench_function(&format!("context/parse+score+select {name}"), |b| {
            b.iter_batched(
                || text.clone(),
                |text| {
                    let doc = Doc::new(std::path::Path::new("CONTRACTS.md"), text);
                    let sel = context::select(
                        std::slice::from_ref(&doc),
                        &settings,
                        prompt,
                        8000,
                        context::Depth::Full,
                    );
                    black_box(sel.blocks.len())
                },
                criterion::BatchSize::LargeInput,
            )
        });
    }
}

/// A model's answer of about `size` bytes: prose, then files in the formats models use
/// (info-string paths, `File:` lines, first-line comments), each about 300 lines.
fn answer_with_files(size: usize) -> String {
    let mut answer = String::from("Sure! Here are the files.\n\n");
    let mut i = 0;
    while answer.len() < size {
        match i % 3 {
            0 => answer.push_str(&format!("```python app/mod_{i}.py\n")),
            1 => answer.push_str(&format!("File: `web/page_{i}.js`\n\n```javascript\n")),
            _ => answer.push_str(&format!("```rust\n// src/part_{i}.rs\n")),
        }
        for line in 0..300 {
            answer.push_str(&format!(
                "    value_{line} = compute(items[{line}], factor={i}) # keep it {line}\n"
            ));
        }
        answer.push_str("```\n\nThis file handles one part of the job.\n\n");
        i += 1;
    }
    answer
}

fn parsing(c: &mut Criterion) {
    let answer = answer_with_files(1 << 20);
    c.bench_function("files/parse 1MB answer", |b| {
        b.iter(|| black_box(files::blocks::parse(black_box(&answer), &[]).files.len()))
    });
    // Last answer byte to summary, without the writes (whose time is the disk's fsync):
    // parse, check every path against a real root, normalise, hash, render.
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path().canonicalize().unwrap();
    let opts = files::write::WriteOptions::default();
    c.bench_function("files/parse+plan+summary 1MB answer", |b| {
        b.iter(|| {
            let parsed = files::blocks::parse(black_box(&answer), &[]);
            let planned = files::write::plan(&root, &parsed.files, &[], &opts).unwrap();
            let results: Vec<_> = planned.into_iter().map(|p| p.result).collect();
            black_box(files::report::summary(&results, &parsed.skipped, false).len())
        })
    });
}

criterion_group!(benches, routing, streaming, slicing, parsing);
criterion_main!(benches);
