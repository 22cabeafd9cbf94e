//! What the test suites of every gatecast crate share, in one copy:
//! - [`external`]: programs outside the workspace (mosquitto, mpv, chromium, chromedriver),
//!   found with `gatecast_support::program::find`, and the loud `SKIPPED:` line (or, with
//!   `GATECAST_REQUIRE_EXTERNAL=1`, the failure) when one is missing;
//! - [`child`]: a child process in its own process group with its output in a log file,
//!   whose whole group is killed when the guard is dropped;
//! - [`build`]: building the workspace binaries before starting them;
//! - [`wait`]: deadlines, polling a condition (blocking, or async with
//!   [`wait::wait_until_async`]), free ports, temporary directories, log tails,
//!   a process's memory figures from `/proc`;
//! - [`pki`]: a test CA, server certificates (right, wrong CA, wrong host, expired) as PEM;
//! - [`tls_front`]: TLS servers for tests (a TLS-terminating forwarder that can swap its
//!   certificate, an `https://` media mirror);
//! - [`glass`]: a private X display (Xvfb), frames grabbed from it and decoded for pixel
//!   assertions, PNG artefacts of a failing run.
//!
//! Everything here is blocking `std` code except [`wait::wait_until_async`]; async tests poll
//! [`child::ChildGuard::try_wait`] between their own sleeps.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod build;
pub mod child;
pub mod external;
pub mod glass;
pub mod pki;
pub mod tls_front;
pub mod wait;

pub use build::cargo_build_bins;
pub use child::ChildGuard;
pub use external::{external_required, program_path, require_program};
pub use pki::{CertFiles, TestPki};
pub use wait::{free_port, proc_kib, tail, wait_until, wait_until_async, TestDir, DEADLINE};
