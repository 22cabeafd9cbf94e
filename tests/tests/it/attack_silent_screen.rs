//! A screen that dies while the controller is down (docs/security.md row 52): its Last Will
//! dies with the embedded broker, so no status ever says `offline`. After the controller
//! restarts, the screen must read offline once its last status is older than the heartbeat age
//! (`status_stale_secs`, here 3 s; the players report every second), in the screens API (what
//! the console shows) and as dark time in the compliance report from its last heartbeat on,
//! while a screen that is alive stays online.

use std::time::Duration;

use gatecast_tests::{wait_until, Controller, ControllerOptions, RECONNECT_DEADLINE};
use jiff::Timestamp;
use serde_json::Value;

const STALE_SECS: i64 = 3;

fn screen(ctl: &Controller, id: &str) -> Value {
    ctl.get(&format!("/api/v1/screens/{id}"))
}

fn listed(ctl: &Controller, id: &str) -> Value {
    ctl.get("/api/v1/screens")
        .as_array()
        .expect("a list of screens")
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("{id} not listed"))
}

fn ts(v: &Value) -> Timestamp {
    v.as_str()
        .unwrap_or_else(|| panic!("not a timestamp: {v}"))
        .parse()
        .unwrap_or_else(|e| panic!("{v}: {e}"))
}

#[test]
fn attack_screen_dead_while_controller_down_reads_offline_and_dark() {
    let tmp = gatecast_tests::TestDir::new("silent_screen");
    let config = tmp.path().join("controller.toml");
    std::fs::write(&config, format!("status_stale_secs = {STALE_SECS}\n")).unwrap();
    let opts = ControllerOptions {
        extra_args: vec!["--config".into(), config.display().to_string()],
        ..ControllerOptions::default()
    };
    let mut ctl = Controller::start(&tmp.path().join("controller"), opts);
    let mut dead = ctl.enrol_player("lc-a1", "lao-cai", &tmp.path().join("lc-a1"));
    let mut alive = ctl.enrol_player("lc-a2", "lao-cai", &tmp.path().join("lc-a2"));
    dead.start();
    alive.start();
    let start = Timestamp::now();
    for id in ["lc-a1", "lc-a2"] {
        ctl.wait_status(id, "online", |s| s["state"] == "idle");
        assert_eq!(screen(&ctl, id)["online"], true, "{id} reads online");
    }

    // The controller (and its embedded broker) goes down; meanwhile lc-a1 dies without a word.
    ctl.stop();
    dead.kill9();
    ctl.start_again();

    // lc-a2 comes back and stays online; lc-a1 never reports again and reads offline once its
    // last status is older than the heartbeat age.
    let restarted = Timestamp::now();
    wait_until(
        "lc-a2 reports after the restart",
        RECONNECT_DEADLINE,
        || {
            let s = screen(&ctl, "lc-a2");
            (s["online"] == true && ts(&s["last_seen"]) > restarted).then_some(())
        },
    );
    let gone = wait_until(
        "lc-a1 offline after its heartbeat age",
        Duration::from_secs(STALE_SECS as u64 * 5),
        || {
            let s = screen(&ctl, "lc-a1");
            (s["online"] == false).then_some(s)
        },
    );
    let last_seen = ts(&gone["last_seen"]);
    assert!(last_seen < restarted, "no status after the restart: {gone}");
    assert_eq!(
        gone["status"]["state"], "idle",
        "its last status still says idle: the age decides, not the status: {gone}"
    );
    assert_eq!(ts(&gone["silent_since"]), last_seen, "{gone}");
    let age = Timestamp::now().duration_since(last_seen);
    assert!(
        age.as_secs() >= STALE_SECS,
        "offline only after the age: {age:?}"
    );
    assert_eq!(
        listed(&ctl, "lc-a1")["online"],
        false,
        "the list (console) agrees"
    );
    assert_eq!(
        listed(&ctl, "lc-a2")["online"],
        true,
        "a live screen stays online"
    );

    // The compliance report counts lc-a1 dark from its last heartbeat to now.
    let path = format!(
        "/api/v1/reports/compliance?from={}&to={}",
        start - jiff::SignedDuration::from_secs(60),
        Timestamp::now() + jiff::SignedDuration::from_secs(3600),
    );
    let report = ctl.get(&path);
    let of = |id: &str| {
        report["screens"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["screen"] == id)
            .cloned()
            .unwrap_or_else(|| panic!("{id} not in {report}"))
    };
    let a1 = of("lc-a1");
    let dark = a1["dark_periods"].as_array().unwrap();
    let last = dark
        .last()
        .unwrap_or_else(|| panic!("no dark period: {a1}"));
    assert_eq!(last["reason"], "offline", "{a1}");
    assert_eq!(
        ts(&last["from"]).as_millisecond(),
        last_seen.as_millisecond(),
        "dark from its last heartbeat: {a1}"
    );
    assert_eq!(last["to"], report["evaluated_to"], "dark until now: {a1}");
    assert!(
        last["seconds"].as_i64().unwrap() >= STALE_SECS,
        "the dark time is counted: {a1}"
    );
    // lc-a2's report ends online: its last dark period (if the restart took longer than the
    // heartbeat age) ended when it reported again.
    let a2 = of("lc-a2");
    if let Some(d) = a2["dark_periods"].as_array().unwrap().last() {
        assert_ne!(
            d["to"], report["evaluated_to"],
            "lc-a2 is not dark now: {a2}"
        );
    }
    alive.stop();
}
