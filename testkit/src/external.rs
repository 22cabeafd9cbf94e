//! Programs that are not part of the workspace (mosquitto, mpv, chromium, chromedriver): where
//! they are, and what a test does when one is missing — a loud `SKIPPED:` line, or a failure
//! when `GATECAST_REQUIRE_EXTERNAL=1` (CI) forbids skipping.

use std::path::PathBuf;

/// Whether `GATECAST_REQUIRE_EXTERNAL=1` is set (CI): then missing programs fail tests.
pub fn external_required() -> bool {
    std::env::var("GATECAST_REQUIRE_EXTERNAL").is_ok_and(|v| v == "1")
}

/// Checks that `program` can be found ([`program_path`]). If it cannot, prints one loud
/// `SKIPPED:` line naming the Debian package and returns `false` — or panics when
/// [`external_required`] is true.
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

/// Where `program` is: on the `PATH`, then in `/usr/sbin` and `/sbin` (mosquitto lives there on
/// Debian and those are not on every user's `PATH`). The one lookup of the workspace,
/// `gatecast_support::program::find`.
pub fn program_path(program: &str) -> Option<PathBuf> {
    gatecast_support::program::find(program)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_sh_and_skips_a_made_up_program() {
        assert!(program_path("sh").is_some());
        if !external_required() {
            assert!(!require_program(
                "testkit",
                "gatecast-no-such-program-9f3a",
                "none"
            ));
        }
    }
}
