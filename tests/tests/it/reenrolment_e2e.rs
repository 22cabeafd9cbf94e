//! Re-enrolling a screen ("new box, lost disk", docs/operations.md) with real processes: the
//! new box gets the retained manifest (docs/security.md row 46), its receipts start a new chain
//! (enrolment epoch 2, docs/protocol.md §13) that is acknowledged and stored, nothing of the old
//! box is lost, and an exported bundle verifies with `gatecast-audit verify`: the old box's
//! batches under the old device key, the new box's under the new one (row 45).

use std::path::Path;

use gatecast_tests::{
    metric_sum, standard_content, wait_until, Controller, ControllerOptions, Player, TestDir,
};

use crate::audit_e2e::{text, verify};

const SCREEN: &str = "lc-r1";

/// Enrols a new box for `screen` in `dir` (empty: the old disk is lost).
fn enrol_new_box(ctl: &Controller, dir: &Path) -> Player {
    let code = ctl.new_enrollment_code(SCREEN);
    let p = Player::enroll(ctl, SCREEN, &code, dir);
    p.edit_config(|c| c.batch_max_delay_ms = 100);
    p
}

/// Waits until at least 4 more receipts are stored, then lets the box's journal drain:
/// restarted very slowly (no new plays), it resends what is unacknowledged until its status
/// says backlog 0; then the box dies (SIGKILL: a clean stop would journal the interrupted play,
/// which the dead box never uploads). Returns the number of receipts it ever wrote (its
/// journal tip), all of them acknowledged.
fn play_and_drain(
    ctl: &Controller,
    player: &mut Player,
    version: u64,
    stored_before: usize,
) -> u64 {
    let stored = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        wait_until(
            "at least 4 receipts of this box stored at the controller",
            gatecast_tests::DEADLINE,
            || (ctl.receipts(SCREEN)?.len() >= stored_before + 4).then_some(()),
        )
    }));
    if stored.is_err() {
        panic!(
            "the box's receipts were not stored; controller log:\n{}\nplayer log:\n{}",
            ctl.log_tail(),
            player.log_tail()
        );
    }
    player.stop();
    player.null_speed = 0.001;
    let restarted = jiff::Timestamp::now();
    player.start();
    ctl.wait_status(SCREEN, "journal_backlog 0 after the restart", |s| {
        gatecast_tests::status_since(s, restarted)
            && s["journal_backlog"] == 0
            && s["manifest_version"].as_u64() == Some(version)
    });
    player.kill9();
    let j = player.journal();
    assert_eq!(j.backlog, 0, "every receipt acknowledged: {j:?}");
    j.tip_seq.expect("the box wrote receipts")
}

/// Starts an old box, publishes, waits until it plays; returns it with the version.
fn old_box_playing(ctl: &Controller, dir: &Path) -> (Player, u64) {
    standard_content(ctl, "lao-cai", 1000);
    let mut old = ctl.enrol_player(SCREEN, "lao-cai", dir);
    old.null_speed = 4.0;
    old.start();
    let version = ctl.publish_version(&[SCREEN], SCREEN);
    ctl.wait_status(SCREEN, "the old box playing the manifest", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["state"] == "playing"
    });
    (old, version)
}

#[test]
fn attack_reenrolment_gets_the_retained_manifest() {
    let tmp = TestDir::new("reenrol-manifest");
    let ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    let (mut old, version) = old_box_playing(&ctl, &tmp.path().join("old"));
    let old_key = ctl.status(SCREEN).expect("status")["device_key"].clone();
    old.stop();

    let mut new = enrol_new_box(&ctl, &tmp.path().join("new"));
    let started = jiff::Timestamp::now();
    new.start();
    ctl.wait_status(SCREEN, "the new box playing the retained manifest", |s| {
        gatecast_tests::status_since(s, started)
            && s["device_key"] != old_key
            && s["manifest_version"].as_u64() == Some(version)
            && s["state"] == "playing"
    });
}

#[test]
fn attack_reenrolment_receipts_acked_stored_and_verified_per_epoch() {
    let tmp = TestDir::new("reenrol-receipts");
    let ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    let (mut old, version) = old_box_playing(&ctl, &tmp.path().join("old"));
    let old_plays = play_and_drain(&ctl, &mut old, version, 0);
    let old_key_id = playlists::keys::PublicKey::from_base64(
        ctl.status(SCREEN).expect("status")["device_key"]
            .as_str()
            .expect("device_key"),
    )
    .expect("a device key")
    .key_id();

    // New box, lost disk: a new device key, an empty journal (seq starts at 1 again).
    let mut new = enrol_new_box(&ctl, &tmp.path().join("new"));
    new.null_speed = 4.0;
    let started = jiff::Timestamp::now();
    new.start();
    ctl.wait_status(SCREEN, "the new box playing", |s| {
        gatecast_tests::status_since(s, started)
            && s["manifest_version"].as_u64() == Some(version)
            && s["state"] == "playing"
    });
    let new_plays = play_and_drain(&ctl, &mut new, version, old_plays as usize);
    let new_key_id = playlists::keys::PublicKey::from_base64(
        ctl.status(SCREEN).expect("status")["device_key"]
            .as_str()
            .expect("device_key"),
    )
    .expect("a device key")
    .key_id();
    assert_ne!(old_key_id, new_key_id);

    // No receipt lost: each epoch's stored chain is 1..=what that box wrote, exactly once.
    let rows = ctl.receipts(SCREEN).expect("receipts API");
    let mut by_epoch: std::collections::BTreeMap<u64, Vec<u64>> = Default::default();
    for r in &rows {
        by_epoch
            .entry(r["epoch"].as_u64().expect("epoch"))
            .or_default()
            .push(r["seq"].as_u64().expect("seq"));
    }
    by_epoch.values_mut().for_each(|s| s.sort_unstable());
    assert_eq!(
        by_epoch,
        [
            (1, (1..=old_plays).collect::<Vec<_>>()),
            (2, (1..=new_plays).collect()),
        ]
        .into(),
        "stored receipts by epoch (old box {old_plays}, new box {new_plays})"
    );
    // Nothing rejected, no conflict kept as evidence (the symptom: one per resend).
    let m = ctl.metrics();
    assert_eq!(
        metric_sum(&m, "gatecast_receipt_conflicts_total"),
        Some(0.0),
        "{m}"
    );
    assert_eq!(
        metric_sum(&m, "gatecast_receipt_batches_rejected_total"),
        Some(0.0),
        "{m}"
    );

    // The bundle verifies: each epoch's batches under that epoch's key.
    let key = ctl.get("/api/v1/keys")["controller_key"]
        .as_str()
        .expect("controller_key")
        .to_string();
    let r = ctl.request("GET", "/api/v1/audit/export", "application/json", b"");
    assert_eq!(r.status, 200, "export: {}", r.text());
    let bundle_path = tmp.path().join("bundle.json");
    std::fs::write(&bundle_path, &r.body).unwrap();
    let out = verify(&bundle_path, &key);
    let report = text(&out);
    assert_eq!(out.status.code(), Some(0), "verify must pass:\n{report}");
    assert!(
        report.contains(&format!("plays: {} receipts", old_plays + new_plays)),
        "{report}"
    );
    for (epoch, key_id, plays) in [(1, &old_key_id, old_plays), (2, &new_key_id, new_plays)] {
        let line = report
            .lines()
            .find(|l| l.contains(&format!("epoch {epoch}, key {key_id}")))
            .unwrap_or_else(|| panic!("no summary of epoch {epoch} (key {key_id}):\n{report}"));
        assert!(
            line.trim_start().starts_with(SCREEN)
                && line.contains(&format!("{plays} receipts"))
                && line.contains(&format!("seq 1..={plays}"))
                && line.contains("chain intact"),
            "{line}"
        );
    }
}
