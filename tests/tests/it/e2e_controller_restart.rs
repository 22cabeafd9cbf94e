//! Controller crash and restart on the same data directory (embedded broker, so the broker
//! and its retained messages go down with it):
//! - the player keeps playing and journaling, reconnects by itself, and receipts continue
//!   without a gap and without anything stored twice (a batch stored just before the crash
//!   but never acknowledged is resent and stored once);
//! - the controller republishes every current manifest after it restarts: a screen whose
//!   player starts only now gets its manifest without a new publish;
//! - versions are never reused: the next publish continues from the stored version.

use gatecast_tests::{standard_content, wait_until, Controller, ControllerOptions, DEADLINE};

#[test]
fn e2e_controller_restart_republishes_and_receipts_continue() {
    let tmp = gatecast_tests::TestDir::new("controller_restart");
    let mut ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    let content = standard_content(&ctl, "lao-cai", 1000);
    let mut a = ctl.enrol_player("lc-a1", "lao-cai", &tmp.path().join("lc-a1"));
    let mut b = ctl.enrol_player("lc-a2", "lao-cai", &tmp.path().join("lc-a2"));
    a.null_speed = 4.0;
    a.start();
    ctl.wait_status("lc-a1", "lc-a1 online", |s| s["state"] == "idle");

    let published = ctl.api(
        "POST",
        "/api/v1/publish",
        serde_json::json!({"gates": ["lao-cai"]}),
        200,
    );
    let version_of = |screen: &str| {
        published["published"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["screen"] == screen)
            .and_then(|p| p["version"].as_u64())
            .unwrap_or_else(|| panic!("{screen} not in {published}"))
    };
    let (va, vb) = (version_of("lc-a1"), version_of("lc-a2"));
    ctl.wait_status("lc-a1", "lc-a1 playing its manifest", |s| {
        s["manifest_version"].as_u64() == Some(va) && s["state"] == "playing"
    });
    wait_until("receipts before the crash", DEADLINE, || {
        (ctl.receipts("lc-a1")?.len() >= 5).then_some(())
    });

    // Crash: no clean shutdown, no Last Will handling by a broker (it dies too).
    ctl.kill9();
    ctl.start_again();
    assert_eq!(ctl.starts(), 2);
    let before = ctl.receipts("lc-a1").unwrap().len();

    // The player comes back by itself and its receipts continue.
    wait_until("receipts after the restart", DEADLINE, || {
        (ctl.receipts("lc-a1")?.len() >= before + 8).then_some(())
    });
    let st = ctl.wait_status("lc-a1", "lc-a1 playing after the restart", |s| {
        s["state"] == "playing"
    });
    assert_eq!(st["manifest_version"].as_u64(), Some(va));
    // The republished manifest has the bytes the player holds: ignored, not a rejection.
    assert!(st["last_rejection"].is_null(), "{st}");
    ctl.assert_receipts_contiguous("lc-a1");

    // Republish after restart: lc-a2 was never connected before and the embedded broker kept no
    // retained message across the crash, so only the controller's republish can give it vb.
    b.start();
    ctl.wait_status("lc-a2", "lc-a2 got its manifest from the republish", |s| {
        s["manifest_version"].as_u64() == Some(vb) && s["state"] == "playing"
    });

    // Versions continue from the store (a changed playlist forces a new version).
    let sha = &content.media[0].0;
    ctl.api(
        "PUT",
        "/api/v1/playlists/p1",
        serde_json::json!({"id": "p1", "name": "Main", "items": [{"media": sha, "duration_ms": 1000}]}),
        200,
    );
    let va2 = ctl.publish_version(&["lc-a1"], "lc-a1");
    assert_eq!(
        va2,
        va + 1,
        "the version after the restart follows the stored one"
    );
    ctl.wait_status("lc-a1", "lc-a1 on the new version", |s| {
        s["manifest_version"].as_u64() == Some(va2)
    });

    // Finally every journaled receipt is at the controller, once: stop, restart slowed down
    // (no new plays end), wait for an empty journal and compare with the journal's tip.
    a.stop();
    let tip = a.journal().tip_seq.expect("journaled receipts");
    a.null_speed = 0.001;
    // A status of the restarted player, not the last one of the stopped run: the controller
    // records at most one status a second per screen, the latest winning (docs/security.md §3
    // row 48), so the stopped run's may still be the stored one for a moment.
    let restarted = jiff::Timestamp::now();
    a.start();
    ctl.wait_status("lc-a1", "lc-a1 journal drained", |s| {
        gatecast_tests::status_since(s, restarted)
            && s["journal_backlog"] == 0
            && s["state"] == "playing"
    });
    assert_eq!(ctl.assert_receipts_contiguous("lc-a1"), tip);
}
