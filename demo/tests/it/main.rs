//! The demo's integration tests, compiled into one test binary like every crate's tests.
//!
//! One area at a time: `cargo test -p gatecast-demo --test it demo_run::`.
#![forbid(unsafe_code)]

mod demo_run;
