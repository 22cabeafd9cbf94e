//! The scenarios of `gatecast-bench` (see `docs/BENCHMARKS.md`). Private to the binary.

pub mod api;
pub mod cache;
pub mod common;
pub mod fanout;
pub mod footprint;
pub mod ingest;
