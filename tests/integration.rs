//! The one integration crate: every test runs the real binary against in-process servers.
#![allow(unreachable_pub)]
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod support;

mod bounds;
mod cli;
mod clients;
mod command;
mod commands;
mod context;
mod diagnoses;
mod docs;
mod engine;
mod eval;
mod fallback;
mod faults;
mod install;
mod mcp;
mod openai;
mod ownfiles;
mod pool;
mod real_clients;
mod real_docs;
mod real_engine;
mod routing;
mod runlog;
mod sandbox;
mod secrets;
mod secrets_load;
mod streaming;
mod sync;
mod trust;
mod usage;
mod window;
mod write;
