//! Auditing queries and reports: receipt filters and exports (JSON, JSONL, CSV), the plays
//! report and the compliance report.
//!
//! `query`, `csv` and `reports` are pure (no store, no clock); `evidence` reads the store and
//! calls them; the HTTP handlers are in `api::audit`. What each column and figure means is
//! documented in `docs/auditing.md`.

pub mod csv;
pub mod evidence;
pub mod query;
pub mod reports;
