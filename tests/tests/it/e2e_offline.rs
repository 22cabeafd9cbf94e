//! A player cut off from the broker for a long simulated period, on real processes.
//!
//! Simulated time: the playlist has 10-minute slides and the player runs the null backend at
//! `--null-speed 30000`, so each play takes 20 ms of real time and stands for 10 minutes of
//! screen time — a few seconds offline are hours of playback. (Receipt timestamps stay real:
//! the player has no clock offset, and needs none for this.) The link is cut with a TCP proxy
//! between the player and the controller's embedded broker.
//!
//! Asserts: the journal grows while offline (read from the stopped player's database, twice,
//! across a restart while still offline), keeps a contiguous tail, and after the link is back
//! it drains to 0 with every receipt stored at the controller exactly once, `seq` contiguous.

use gatecast_tests::{
    standard_content, wait_until, Controller, ControllerOptions, CutProxy, TestDir, DEADLINE,
};

/// 10 minutes of screen time per play.
const ITEM_MS: u64 = 600_000;
/// Each play lasts ITEM_MS / SPEED = 20 ms.
const SPEED: f64 = 30_000.0;

fn contiguous(seqs: &[u64]) -> bool {
    seqs.windows(2).all(|w| w[1] == w[0] + 1)
}

#[test]
fn e2e_offline_long_simulated_period_journal_grows_then_drains() {
    let tmp = TestDir::new("offline");
    let ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    standard_content(&ctl, "lao-cai", ITEM_MS);
    let proxy = CutProxy::start(ctl.mqtt.expect("embedded broker"));
    let mut player = ctl.enrol_player("lc-a1", "lao-cai", &tmp.path().join("lc-a1"));
    player.set_broker(&proxy.url());
    player.null_speed = SPEED;
    player.start();
    ctl.wait_status("lc-a1", "online through the proxy", |s| {
        s["state"] == "idle"
    });
    let version = ctl.publish_version(&["lc-a1"], "lc-a1");
    ctl.wait_status("lc-a1", "playing", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["state"] == "playing"
    });
    wait_until("receipts while online", DEADLINE, || {
        (ctl.receipts("lc-a1")?.len() >= 20).then_some(())
    });

    // Offline.
    proxy.cut();
    ctl.wait_status("lc-a1", "offline (Last Will)", |s| s["state"] == "offline");
    let stored_at_cut = ctl.receipts("lc-a1").unwrap().len() as u64;
    wait_until("the player retried (refused) twice", DEADLINE, || {
        (proxy.refused() >= 2).then_some(())
    });
    player.stop();
    let j1 = player.journal();
    let tip1 = j1.tip_seq.expect("journaled");
    assert!(
        j1.backlog > 0,
        "receipts waited in the journal while offline: {j1:?}"
    );
    assert!(tip1 > stored_at_cut, "plays went on while offline");
    assert!(contiguous(&j1.unacked_seqs) && j1.unacked_seqs.last() == Some(&tip1));

    // Still offline, across a restart of the player: the journal keeps growing.
    let refused = proxy.refused();
    player.start();
    wait_until(
        "the restarted player retried (refused) twice",
        DEADLINE,
        || (proxy.refused() >= refused + 2).then_some(()),
    );
    player.stop();
    let j2 = player.journal();
    let tip2 = j2.tip_seq.expect("journaled");
    assert!(
        j2.backlog > j1.backlog,
        "the journal grew while offline: {j1:?} then {j2:?}"
    );
    assert!(tip2 > tip1);
    assert!(contiguous(&j2.unacked_seqs) && j2.unacked_seqs.last() == Some(&tip2));
    assert!(
        j2.unacked_seqs.starts_with(&j1.unacked_seqs),
        "nothing left the journal without an ack"
    );
    let offline_plays = tip2 - stored_at_cut;
    eprintln!(
        "offline: {offline_plays} plays journaled = {:.1} h of simulated screen time",
        offline_plays as f64 * ITEM_MS as f64 / 3_600_000.0
    );

    // Back online, slowed right down so no new play ends: the journal drains to 0 and the
    // controller holds every receipt 1..=tip2 exactly once.
    proxy.restore();
    player.null_speed = 0.001;
    player.start();
    ctl.wait_status_after_reconnect("lc-a1", "journal drained after reconnecting", |s| {
        s["journal_backlog"] == 0 && s["state"] == "playing"
    });
    assert_eq!(ctl.assert_receipts_contiguous("lc-a1"), tip2);
    player.stop();
    let j3 = player.journal();
    // The slowed play is cut short by the stop and journaled (interrupted); nothing else waits.
    assert!(j3.backlog <= 1, "{j3:?}");
}
