//! The one integration crate: every test runs the real binary against in-process servers.
#![allow(unreachable_pub)]

mod support;

mod cli;
mod fallback;
mod streaming;
