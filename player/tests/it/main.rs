//! The player's integration tests, compiled into one test binary (one link step instead of one
//! per file): one module per area; [`common`] holds the embedded test broker, the stand-in
//! controller and the `gatecast-player` process harness they share. The committed media stay
//! in `player/tests/data/`.
//!
//! One area at a time: `cargo test -p gatecast-player --test it agent_happy::`.
#![forbid(unsafe_code)]

mod common;

mod agent_alerts;
mod agent_bad_media;
mod agent_crash;
mod agent_footprint;
mod agent_happy;
mod agent_outage;
mod agent_play_errors;
mod agent_rejections;
mod agent_rotation;
mod agent_screenshots;
mod agent_shutdown;
mod attack_player;
mod cache_download;
mod cache_kill9;
mod enroll_controller;
mod enroll_policy_root;
mod glass_alert;
mod glass_layout;
mod glass_panels;
mod glass_screen;
mod glass_screenshot;
mod glass_subtitle;
mod journal_chain;
mod journal_uploader;
mod mpv_agent;
mod mpv_alert;
mod mpv_backend;
mod tls_enroll;
mod tls_player;
