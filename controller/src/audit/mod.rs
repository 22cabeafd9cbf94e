//! Auditing queries and reports (issue 5): receipt filters and exports (JSON, JSONL, CSV), the
//! plays report and the compliance report, and their HTTP handlers.
//!
//! `query`, `csv` and `reports` are pure (no store, no clock); `http` reads the store and calls
//! them. What each column and figure means is documented in `docs/auditing.md`.

pub mod csv;
pub mod http;
pub mod query;
pub mod reports;
