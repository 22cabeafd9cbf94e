//! Shared helpers of the `mqtt_*` integration tests: the broker tests' helpers (a credential
//! table, a plain rumqttc test client, condition polling; one copy, in
//! `broker/tests/it/support/mod.rs`), retained content for the controller's client, and the one
//! place that checks for external programs.
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Mutex;

use gatecast_controller::mqtt::client::RetainedSource;

#[path = "../../../../broker/tests/it/support/mod.rs"]
mod broker_support;

pub use broker_support::*;

/// Finds `program` on PATH (or in /usr/sbin, where Debian puts mosquitto). If it is missing,
/// prints `SKIPPED: <test>: <program> not found (apt-get install <package>)` and returns
/// `None` — unless `GATECAST_REQUIRE_EXTERNAL=1`, then it panics.
pub fn require_program(test: &str, program: &str, package: &str) -> Option<PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    let mut dirs: Vec<PathBuf> = std::env::split_paths(&path).collect();
    dirs.push(PathBuf::from("/usr/sbin"));
    dirs.push(PathBuf::from("/usr/local/sbin"));
    if let Some(found) = dirs.iter().map(|d| d.join(program)).find(|p| p.is_file()) {
        return Some(found);
    }
    if std::env::var("GATECAST_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
        panic!("{test}: {program} not found (apt-get install {package}) and GATECAST_REQUIRE_EXTERNAL=1");
    }
    println!("SKIPPED: {test}: {program} not found (apt-get install {package})");
    None
}

/// A port that was free a moment ago (bind port 0, read it, drop the listener).
pub fn free_port() -> u16 {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap().port()
}

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
