//! The controller's integration tests, compiled into one test binary (one link step instead of
//! one per file): one module per area, with the helpers they share as modules of their own
//! (`api_support`, `audit_query_support`, `console_support`, `ingest_support`,
//! `mqtt_support`).
//!
//! One area at a time: `cargo test -p gatecast-controller --test it api_auth::`.
#![forbid(unsafe_code)]

mod api_support;
mod audit_query_support;
mod console_support;
mod ingest_support;
mod mqtt_support;

mod accounts_http;
mod api_alert_preview;
mod api_alert_templates;
mod api_approvals;
mod api_auth;
mod api_cap;
mod api_cap_feed;
mod api_cap_ticker;
mod api_publish;
mod api_screens_list;
mod api_subtitles;
mod api_ticker;
mod api_upload;
mod api_whoami_dry_run;
mod attack_alerts;
mod attack_broker;
mod attack_cap;
mod attack_cap_feed;
mod attack_edits;
mod attack_http;
mod attack_receipts;
mod attack_rejections;
mod attack_screenshots;
mod attack_status;
mod audit_alert_plays;
mod audit_export;
mod audit_ingest;
mod audit_ingest_group;
mod audit_query_compliance;
mod audit_query_http;
mod audit_query_snapshot;
mod audit_receipt_runs;
mod console_accounts;
mod console_approvals;
mod console_browser;
mod console_cap;
mod console_media_audit;
mod console_task;
mod console_ticker;
mod console_wall;
mod console_words;
mod media_metadata;
mod mqtt_client;
mod mqtt_mosquitto;
mod ops_backup;
mod report_console;
mod report_period;
mod report_period_docs;
mod tls_console;
