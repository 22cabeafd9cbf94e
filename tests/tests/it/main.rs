//! The end-to-end tests of gatecast, compiled into one test binary (one link step instead of
//! one per file): one module per area. They start real `gatecast-controller`, `gatecast-player`
//! and mosquitto processes through the harness in this package's library (`gatecast_tests`);
//! the fault loops share [`fault_support`].
//!
//! One area at a time: `cargo test -p gatecast-tests --test it e2e_happy::`.
#![forbid(unsafe_code)]

mod fault_support;

mod approval_e2e;
mod attack_flood;
mod attack_receipt_size;
mod attack_secrets_in_logs;
mod attack_silent_screen;
mod audit_e2e;
mod binaries;
mod deploy_files;
mod e2e_controller_restart;
mod e2e_happy;
mod e2e_mosquitto;
mod e2e_offline;
mod e2e_screenshot;
mod fault_clock;
mod fault_controller_kill;
mod fault_disk_full;
mod fault_player_kill;
mod fault_restarts;
mod ops_admin;
mod ops_logs;
mod ops_notify;
mod reenrolment_e2e;
mod tls_modes;
mod tls_player_e2e;
mod tls_server;
