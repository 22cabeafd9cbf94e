//! The integration tests of `playlists`, compiled into one test binary (one link step instead
//! of one per file): one module per area, shared fixtures in [`common`].
#![forbid(unsafe_code)]

mod common;

mod approval_contract;
mod attack_contract;
mod audit_verify;
mod crypto_props;
mod manifest_validation;
mod manifest_verify;
mod schedule_props;
mod schedule_rules;
mod topics;
mod vectors;
