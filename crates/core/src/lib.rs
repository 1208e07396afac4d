//! codex-wrap's core: everything a face (the command line, the MCP server, ...) drives.
//!
//! This crate depends on no face's crates (no clap, rmcp, indicatif): a face's types never
//! reach it, each face converts its own input into the plain types here.
//!
//! # Layout
//! - `env`: the process environment as read once; `config`: resolved `Settings` (flags >
//!   environment > project file > user file > built-in) from plain `Overrides`; `input`:
//!   where the prompt comes from.
//! - `route`: the keyword classifier and the `Route` type; `prompt`: message assembly;
//!   `context`: the project's documents picked for a prompt.
//! - `engine`: `prepare` → `Plan`, `execute(plan, sink, shutdown)` → `Transcript`: the one
//!   pipeline that every face drives. `plan`: the attempts of a call.
//! - `backend`: `Endpoint`, `Provider` and the `Backend` trait, one file per provider
//!   (streaming and management); `http`: the client and the one error classifier; `frame`:
//!   NDJSON and SSE framing; `stream`: one attempt (deadlines, 429 retry, the pump);
//!   `pool`: endpoint order and the health state shared between processes.
//! - `files`: the write/check/repair task shared by the faces.
//! - `output`: the `Sink` trait, the only writer of stdout, and the stderr status lines;
//!   `spinner`: the wait spinner they erase; `error`: exit codes; `runlog`: the run log;
//!   `secrets`: the secret values known, masked out of every text.
//! - `llama`: the record of a running `codex-wrap engine` (the face provisions it).

pub mod backend;
pub mod config;
pub mod context;
pub mod deadline;
pub mod engine;
pub mod env;
pub mod error;
pub mod escalate;
pub mod event;
pub mod files;
pub mod frame;
pub mod http;
pub mod input;
pub mod llama;
pub mod output;
pub mod ownfile;
pub mod plan;
pub mod pool;
pub mod prompt;
pub mod record;
pub mod route;
pub mod runlog;
pub mod secret;
pub mod secrets;
pub mod session;
pub mod spinner;
pub mod status;
pub mod stream;
pub mod trusted;
