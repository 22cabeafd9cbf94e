//! The gatecast contract.
//!
//! Everything that two parts of gatecast (or a third-party player) must agree on lives here:
//! DSSE envelopes and their payload types, keys, the manifest model and its acceptance rules,
//! schedule resolution, playback receipts and their hash chain, and RFC 6962 Merkle hashing.
//!
//! The crate is pure: no files, no network, no async runtime, and no clock is read — every
//! function that needs the time takes `now` as a parameter.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod approval;
pub mod audit;
pub mod broker_url;
pub mod envelope;
pub mod hex;
pub mod keys;
pub mod manifest;
pub mod merkle;
pub mod policy;
pub mod receipt;
pub mod report;
pub mod rotation;
pub mod schedule;
pub mod screenshot;
pub mod subtitle;
pub mod topics;
