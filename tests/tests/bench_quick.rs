//! Every `gatecast-bench` scenario in `--quick` mode: small sizes, correctness only (each
//! scenario checks its own results: every screen accepted the manifest, every receipt acked and
//! stored, hashes equal, the cut download resumed, the player played, every API answer 200).
//! No timing assertions: the figures are for `docs/BENCHMARKS.md`, not for tests.

use std::path::Path;
use std::process::Command;

use serde_json::Value;

fn run_quick(scenario: &str, out: &Path) -> Value {
    let o = Command::new(gatecast_tests::binary("gatecast-bench"))
        .args(["--quick", "--out"])
        .arg(out)
        .arg(scenario)
        .output()
        .expect("running gatecast-bench");
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(
        o.status.success(),
        "gatecast-bench --quick {scenario} failed ({}):\n{stdout}\n{stderr}",
        o.status
    );
    let path = out.join(format!("{scenario}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("{} not written: {e}\n{stdout}", path.display()));
    let v: Value = serde_json::from_str(&text).expect("the report is JSON");
    assert_eq!(v["scenario"], scenario);
    assert_eq!(v["quick"], true);
    let rows = v["rows"].as_array().expect("rows");
    assert!(!rows.is_empty(), "{scenario}: no rows");
    assert!(
        rows.iter().all(|r| r["met"].is_null()),
        "quick mode must not judge goals: {v}"
    );
    assert!(
        stdout.contains(&format!("== {scenario} --quick")),
        "the table is printed: {stdout}"
    );
    v
}

fn metric<'a>(v: &'a Value, prefix: &str) -> &'a Value {
    v["rows"]
        .as_array()
        .and_then(|rows| {
            rows.iter()
                .find(|r| r["metric"].as_str().is_some_and(|m| m.starts_with(prefix)))
        })
        .map(|r| &r["value"])
        .unwrap_or_else(|| panic!("no row {prefix:?} in {v}"))
}

#[test]
fn every_scenario_runs_in_quick_mode() {
    let out = tempfile::tempdir().expect("temp dir");

    let v = run_quick("fanout", out.path());
    let runs = v["details"]["runs"].as_array().expect("runs");
    assert!(!runs.is_empty());
    for r in runs {
        assert_eq!(r["accepted"], r["screens"], "every screen accepted: {r}");
    }
    assert!(runs.iter().any(|r| r["broker"] == "embedded"));

    let v = run_quick("ingest", out.path());
    assert_eq!(v["details"]["params"]["receipts"], 90);
    assert!(metric(&v, "durable acked receipts/s").as_f64().unwrap() > 0.0);
    assert!(metric(&v, "raw Ed25519 verify_strict").as_f64().unwrap() > 0.0);

    if gatecast_tests::require_program("bench_quick cache", "openssl", "openssl")
        && gatecast_tests::require_program("bench_quick cache", "curl", "curl")
    {
        let v = run_quick("cache", out.path());
        let resume = metric(&v, "resume: bytes transferred").as_f64().unwrap();
        assert!(
            (0.99..1.25).contains(&resume),
            "resumed, not restarted: {resume}"
        );
    }

    let v = run_quick("footprint", out.path());
    assert!(metric(&v, "player RSS idle").as_f64().unwrap() > 0.0);
    assert!(metric(&v, "controller RSS").as_f64().unwrap() > 0.0);

    if gatecast_tests::require_program("bench_quick tls", "openssl", "openssl")
        && gatecast_tests::require_program("bench_quick tls", "curl", "curl")
    {
        let v = run_quick("tls", out.path());
        let runs = v["details"]["runs"].as_array().expect("runs");
        let cases: Vec<&str> = runs.iter().filter_map(|r| r["case"].as_str()).collect();
        assert_eq!(
            cases,
            [
                "fanout-plain",
                "fanout-tls",
                "storm-plain",
                "storm-tls",
                "https-download"
            ]
        );
        for r in runs.iter().filter(|r| r["run"].is_object()) {
            assert_eq!(
                r["run"]["accepted"], r["run"]["screens"],
                "every screen accepted: {r}"
            );
        }
        assert!(metric(&v, "HTTPS player Cache::sync").as_f64().unwrap() > 0.0);
    }

    let v = run_quick("api", out.path());
    assert_eq!(metric(&v, "GET /api/v1/screens requests"), 10.0);
    assert_eq!(metric(&v, "GET /api/v1/receipts?limit=100 requests"), 10.0);
}
