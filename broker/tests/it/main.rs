//! The embedded broker's integration tests, compiled into one test binary: one module per
//! area; [`support`] holds the credential table, the test client and condition polling (the
//! controller's `mqtt_*` tests include it too).
//!
//! One area at a time: `cargo test -p gatecast-broker --test it broker_embedded::`.
#![forbid(unsafe_code)]

mod support;

mod attack_broker;
mod broker_embedded;
mod mqtt_broker;
mod tls_broker;
