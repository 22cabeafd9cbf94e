//! Helpers shared by the player's integration tests.
#![allow(dead_code)]

pub mod broker;
pub mod harness;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// The committed test media directory.
pub fn data_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data")
}

/// Polls `cond` every 25 ms until it returns `Some`, or panics after `timeout` naming `what`.
pub async fn wait_for<T>(what: &str, timeout: Duration, mut cond: impl FnMut() -> Option<T>) -> T {
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(v) = cond() {
            return v;
        }
        if Instant::now() > deadline {
            panic!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
