//! Programs that are not part of the workspace (mosquitto, chromium, chromedriver): where they
//! are, and what a test does when one is missing — a loud `SKIPPED:` line, or a failure when
//! `GATECAST_REQUIRE_EXTERNAL=1` (CI) forbids skipping. One copy for every crate's tests, in
//! `gatecast-testkit`.

pub use gatecast_testkit::{external_required, program_path, require_program};
