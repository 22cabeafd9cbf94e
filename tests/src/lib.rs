//! Harness for gatecast's end-to-end tests: finds the workspace binaries (building them once
//! per test process), free ports, temporary directories and external programs, and drives real
//! processes — `gatecast-controller serve`, `gatecast-player enroll` / `run`, mosquitto — over
//! their public interfaces (HTTP API, command line, files), plus a TCP proxy that can cut a link.
//!
//! Everything here is blocking `std` code: the tests wait on conditions with
//! [`wait_until`] (polling every 25 ms up to a deadline), never on sleeps.
//!
//! The pieces every crate's tests share (program lookup and `SKIPPED:` lines, the child-process
//! guard every process here runs under, waiting, free ports, temporary directories) live in
//! `gatecast-testkit`; [`harness`] and [`external`] re-export them.
//!
//! One module per role; every item is re-exported here, so tests name them
//! `gatecast_tests::…` whichever module holds them:
//! - [`harness`]: deadlines, waiting, temporary directories, free ports, small helpers;
//! - [`process`]: the workspace binaries;
//! - [`external`]: programs outside the workspace (mosquitto, chromium) and `SKIPPED:` lines;
//! - [`http`](mod@http): a blocking HTTP client for the controller's API;
//! - [`controller`]: a running `gatecast-controller serve`;
//! - [`player`]: an enrolled `gatecast-player`;
//! - [`content`]: media, playlists and schedules the tests upload;
//! - [`checks`]: checks on receipts and Prometheus metrics;
//! - [`mosquitto`]: a mosquitto broker;
//! - [`proxy`]: a TCP proxy that can cut a link.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod checks;
pub mod content;
pub mod controller;
pub mod external;
pub mod harness;
pub mod http;
pub mod mosquitto;
pub mod player;
pub mod process;
pub mod proxy;
pub mod receipts;

pub use checks::{assert_contiguous, metric_sum, metric_value, status_since};
pub use content::{png, standard_content, Content};
pub use controller::{
    broker_acl, broker_acl_with, parse_listening, Controller, ControllerOptions, ControllerTls,
    Listening,
};
pub use external::{external_required, program_path, require_program};
pub use harness::{
    free_port, sha256_hex, tail, wait_until, workspace_root, TestDir, DEADLINE, RECONNECT_DEADLINE,
};
pub use http::{http, https, HttpResponse};
pub use mosquitto::Mosquitto;
pub use player::{JournalView, Player};
pub use process::binary;
pub use proxy::CutProxy;
pub use receipts::{heavy_chain, sample_chain, sample_receipt};
