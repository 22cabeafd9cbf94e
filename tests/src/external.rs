//! Programs that are not part of the workspace (mosquitto, chromium, chromedriver): where they
//! are, and what a test does when one is missing — a loud `SKIPPED:` line, or a failure when
//! `GATECAST_REQUIRE_EXTERNAL=1` (CI) forbids skipping.

use std::path::{Path, PathBuf};
use std::process::Command;

/// Whether `GATECAST_REQUIRE_EXTERNAL=1` is set (CI): then missing programs fail tests.
pub fn external_required() -> bool {
    std::env::var("GATECAST_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

/// Checks that `program` is on the PATH. If it is not, prints one loud `SKIPPED:` line naming
/// the Debian package and returns `false` — or panics when [`external_required`] is true.
pub fn require_program(test: &str, program: &str, package: &str) -> bool {
    if program_path(program).is_some() {
        return true;
    }
    let line = format!("SKIPPED: {test}: {program} not found (apt-get install {package})");
    if external_required() {
        panic!("{line} — GATECAST_REQUIRE_EXTERNAL=1 forbids skipping");
    }
    eprintln!("{line}");
    false
}

/// Where `program` is: on the PATH, or in `/usr/sbin` / `/sbin` (mosquitto lives there on
/// Debian and those are not on every user's PATH).
pub fn program_path(program: &str) -> Option<PathBuf> {
    let out = Command::new("sh")
        .arg("-c")
        .arg(format!("command -v {program}"))
        .output()
        .ok()?;
    if out.status.success() {
        let p = String::from_utf8_lossy(&out.stdout).trim().to_string();
        if !p.is_empty() {
            return Some(PathBuf::from(p));
        }
    }
    ["/usr/sbin", "/sbin", "/usr/local/sbin"]
        .iter()
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}
