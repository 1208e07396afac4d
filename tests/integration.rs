//! The one integration crate: every test runs the real binary against in-process servers.
#![allow(unreachable_pub)]
#![allow(clippy::print_stderr, clippy::print_stdout)]

mod support;

mod cli;
mod commands;
mod context;
mod engine;
mod fallback;
mod faults;
mod openai;
mod real_engine;
mod routing;
mod runlog;
mod secrets_load;
mod streaming;
