//! Shared helpers of the `mqtt_*` integration tests: the broker tests' helpers (a credential
//! table, a plain rumqttc test client, condition polling; one copy, in
//! `broker/tests/it/support/mod.rs`), retained content for the controller's client, and the
//! external-program check of `gatecast-testkit`.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Mutex;

use gatecast_controller::mqtt::client::RetainedSource;

#[path = "../../../../broker/tests/it/support/mod.rs"]
mod broker_support;

pub use broker_support::*;

/// Where `program` is, if it is installed; if it is missing, the one `SKIPPED:` line of
/// `gatecast_testkit::require_program` (or its failure under `GATECAST_REQUIRE_EXTERNAL=1`).
pub fn require_program(test: &str, program: &str, package: &str) -> Option<PathBuf> {
    if gatecast_testkit::require_program(test, program, package) {
        gatecast_testkit::program_path(program)
    } else {
        None
    }
}

pub use gatecast_testkit::free_port;

/// Retained content that a test can change between connects.
#[derive(Default)]
pub struct Retained(pub Mutex<Vec<(String, Vec<u8>)>>);

impl Retained {
    pub fn set(&self, items: Vec<(String, Vec<u8>)>) {
        *self.0.lock().unwrap() = items;
    }
}

impl RetainedSource for Retained {
    fn retained(&self) -> Vec<(String, Vec<u8>)> {
        self.0.lock().unwrap().clone()
    }
}
