//! The gatecast controller library: storage, HTTP API, publisher, embedded broker and audit.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod acl;
pub mod mqtt;
