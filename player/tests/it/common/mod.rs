//! Helpers shared by the player's integration tests.
#![allow(dead_code)]

pub mod broker;
pub mod harness;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Whether `program` is on PATH. If not, prints the one SKIPPED line and returns false —
/// or panics when `GATECAST_REQUIRE_EXTERNAL=1`.
pub fn have_program(test: &str, program: &str, package: &str) -> bool {
    let found = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).any(|d| d.join(program).is_file()))
        .unwrap_or(false);
    if found {
        return true;
    }
    if std::env::var("GATECAST_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
        panic!("{test}: {program} not found (apt-get install {package}) and GATECAST_REQUIRE_EXTERNAL=1");
    }
    println!("SKIPPED: {test}: {program} not found (apt-get install {package})");
    false
}

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
