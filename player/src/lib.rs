//! The gatecast player agent library.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

// P-AGENT modules.
pub mod agent;
pub mod backend;
pub mod clock;
pub mod mqtt;
pub mod scheduler;
pub mod screenshot;
pub mod status;

// P-CORE modules.
pub mod cache;
pub mod config;
pub mod enroll;
pub mod journal;
pub mod keyfile;
pub mod store;
pub mod tls;
pub mod uploader;
