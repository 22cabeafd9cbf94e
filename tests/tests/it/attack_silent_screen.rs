//! A screen that dies while the controller is down (docs/security.md row 52): its Last Will
//! dies with the embedded broker, so no status ever says `offline`. After the controller
//! restarts, the screen must read offline once it has been silent for longer than the heartbeat
//! age (`status_stale_secs`) since the restart, in the screens API (what the console shows, with
//! a history that ends offline) and as dark time in the compliance report from the restart on.
//! The outage itself is not dark time: the screen that kept running, silent for longer than the
//! heartbeat age only because the controller was down, has no dark period
//! (docs/protocol.md §12).

use std::time::Duration;

use gatecast_tests::{wait_until, Controller, ControllerOptions, RECONNECT_DEADLINE};
use jiff::Timestamp;
use serde_json::Value;

/// The heartbeat age: longer than a player's longest reconnect wait, so the live screen is
/// back before it, whatever its backoff when the controller returns.
const STALE_SECS: i64 = gatecast_player::mqtt::BACKOFF_MAX.as_secs() as i64 + 2;

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

    // The controller (and its embedded broker) goes down for longer than the heartbeat age;
    // meanwhile lc-a1 dies without a word.
    ctl.stop();
    let stopped = Timestamp::now();
    dead.kill9();
    // The outage itself (a duration of the scenario, not a wait for an event).
    std::thread::sleep(Duration::from_secs(STALE_SECS as u64 + 1));
    let restarting = Timestamp::now();
    ctl.start_again();

    // lc-a2 comes back and stays online; lc-a1 never reports again and reads offline once the
    // controller has listened for longer than the heartbeat age without hearing it.
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
        Duration::from_secs(STALE_SECS as u64 * 3),
        || {
            let s = screen(&ctl, "lc-a1");
            (s["online"] == false).then_some(s)
        },
    );
    let last_seen = ts(&gone["last_seen"]);
    assert!(last_seen < stopped, "no status after the stop: {gone}");
    assert_eq!(
        gone["status"]["state"], "idle",
        "its last status still says idle: the silence decides, not the status: {gone}"
    );
    let silent_since = ts(&gone["silent_since"]);
    assert!(
        restarting <= silent_since && silent_since <= restarted,
        "silent from the restart ({restarting}..{restarted}), not from its last status \
         {last_seen} before the outage: {gone}"
    );
    let age = Timestamp::now().duration_since(silent_since);
    assert!(
        age.as_secs() >= STALE_SECS,
        "offline only after the age: {age:?}"
    );
    // Its history (as the console shows it) ends offline at `silent_since`, as `online` says.
    let history = gone["history"].as_array().expect("a history");
    let end = history
        .last()
        .unwrap_or_else(|| panic!("no history: {gone}"));
    assert_eq!(end["online"], false, "the history ends offline: {gone}");
    assert_eq!(end["at"], gone["silent_since"], "at silent_since: {gone}");
    let paged = ctl.get("/api/v1/screens/lc-a1/history");
    let last_page = paged["history"].as_array().expect("a history page");
    assert_eq!(
        last_page.last().map(|t| (&t["online"], &t["at"])),
        Some((&Value::Bool(false), &gone["silent_since"])),
        "the paged history's last page ends offline as well: {paged}"
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

    // The compliance report counts lc-a1 dark from the restart to now, and not during the
    // outage.
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
        silent_since.as_millisecond(),
        "dark from the restart: {a1}"
    );
    assert_eq!(last["to"], report["evaluated_to"], "dark until now: {a1}");
    assert!(
        last["seconds"].as_i64().unwrap() >= STALE_SECS,
        "the dark time is counted: {a1}"
    );
    assert!(
        dark.iter()
            .all(|d| d["reason"] != "offline" || ts(&d["from"]) >= restarting),
        "no offline time during the outage: {a1}"
    );
    // lc-a2 kept running: the outage, longer than the heartbeat age, is no dark time.
    let a2 = of("lc-a2");
    let offline: Vec<&Value> = a2["dark_periods"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["reason"] == "offline")
        .collect();
    assert!(
        offline.is_empty(),
        "lc-a2 has no dark period across the controller restart: {a2}"
    );
    alive.stop();
}
