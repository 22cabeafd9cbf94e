//! Shared helpers of the `mqtt_*` integration tests: the broker tests' helpers (a credential
//! table, a plain rumqttc test client, condition polling; one copy, in
//! `broker/tests/it/support/mod.rs`), and retained content for the controller's client.
#![allow(dead_code)]

use std::sync::Mutex;

use gatecast_controller::mqtt::client::RetainedSource;

#[path = "../../../../broker/tests/it/support/mod.rs"]
mod broker_support;

pub use broker_support::*;

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
