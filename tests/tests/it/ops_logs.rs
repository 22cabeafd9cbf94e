//! Logs for files and journald (`docs/operations.md`, "Logs"): the real controller with its
//! standard error in a file writes no ANSI escape bytes, and `--log-format json` writes one
//! JSON object per line.

use gatecast_tests::{Controller, ControllerOptions, TestDir};
use serde_json::Value;

/// Starts a controller on a fresh data directory with `extra` flags, stops it and returns what
/// it wrote to its log file (standard error).
fn run_and_read_log(dir: &TestDir, name: &str, extra: &[&str]) -> String {
    let opts = ControllerOptions {
        extra_args: extra.iter().map(|s| s.to_string()).collect(),
        ..ControllerOptions::default()
    };
    let mut c = Controller::start(&dir.path().join(name), opts);
    c.stop();
    std::fs::read_to_string(c.log_path()).expect("reading the controller log")
}

#[test]
fn text_log_in_a_file_has_no_escape_bytes() {
    let dir = TestDir::new("ops_logs_text");
    let log = run_and_read_log(&dir, "text", &[]);
    assert!(log.contains(" INFO "), "no INFO line in:\n{log}");
    assert!(
        !log.contains('\u{1b}'),
        "ANSI escapes in a log written to a file:\n{log:?}"
    );
}

#[test]
fn json_log_lines_parse_as_json_objects() {
    let dir = TestDir::new("ops_logs_json");
    let log = run_and_read_log(&dir, "json", &["--log-format", "json"]);
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(lines.len() >= 2, "too few log lines:\n{log}");
    for line in &lines {
        let v: Value = serde_json::from_str(line)
            .unwrap_or_else(|e| panic!("log line is not JSON ({e}): {line}"));
        assert!(v["level"].is_string(), "no level in {line}");
        assert!(v["timestamp"].is_string(), "no timestamp in {line}");
        assert!(v["fields"].is_object(), "no fields in {line}");
    }
    assert!(
        lines.iter().any(|l| l.contains("\"INFO\"")),
        "no INFO event in:\n{log}"
    );
    assert!(!log.contains('\u{1b}'), "ANSI escapes in JSON log");
}
