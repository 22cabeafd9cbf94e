//! The gatecast controller library: storage, HTTP API, publisher, embedded broker and audit.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod accounts;
pub mod acl;
pub mod admin;
pub mod alert_templates;
pub mod api;
pub mod approvals;
pub mod audit;
mod auditlog;
pub mod backup;
pub mod blobs;
pub mod cap;
pub mod config;
mod console;
mod export;
pub mod inbound;
pub mod ingest;
pub mod mediainfo;
pub mod metrics;
pub mod mqtt;
pub mod preview;
pub mod publish;
pub mod report;
pub mod rotation;
pub mod secrets;
pub mod serve;
pub mod signal;
pub mod status;
pub mod store;
pub mod ticker;
pub mod tokens;
