//! An external mosquitto broker with the password and ACL files written by
//! `gatecast-controller broker-acl mosquitto` (the controller logs in as `_controller`, each
//! screen as itself, confined to its own topics), on real processes:
//! - the happy path through it;
//! - a broker restart (no persistence: sessions and retained messages are lost): the player
//!   and the controller reconnect by themselves and the receipts stay contiguous.
//!
//! Skipped (loudly) without mosquitto, unless GATECAST_REQUIRE_EXTERNAL=1.

use gatecast_tests::{
    free_port, metric_value, require_program, standard_content, wait_until, Content, Controller,
    ControllerOptions, Mosquitto, Player, TestDir, DEADLINE,
};

struct Setup {
    _tmp: TestDir,
    ctl: Controller,
    broker: Mosquitto,
    player: Player,
    content: Content,
    version: u64,
}

/// The operator's sequence from docs/operations.md: register and enrol with the controller
/// (HTTP only), stop it, write the broker files, start mosquitto, start the controller with
/// `--broker`, start the player, publish; returns once the player plays the manifest.
fn setup(test: &str) -> Setup {
    let tmp = TestDir::new(test);
    let port = free_port();
    let url = format!("mqtt://127.0.0.1:{port}");
    let opts = ControllerOptions {
        broker: Some(url.clone()),
        ..ControllerOptions::default()
    };
    let mut ctl = Controller::start(&tmp.path().join("controller"), opts);
    assert_eq!(ctl.mqtt, None, "no embedded broker with --broker");
    let content = standard_content(&ctl, "lao-cai", 1000);
    let mut player = ctl.enrol_player("lc-a1", "lao-cai", &tmp.path().join("lc-a1"));
    assert_eq!(
        player.config().broker,
        url,
        "players are sent to the external broker"
    );

    // `broker-acl` opens the database, which `serve` keeps locked: stop the controller first.
    ctl.stop();
    let files = tmp.path().join("broker-files");
    ctl.broker_acl(&files);
    let passwords = std::fs::read_to_string(files.join("passwords")).unwrap();
    assert!(
        passwords.lines().any(|l| l.starts_with("_controller:$7$")),
        "{passwords}"
    );
    assert!(
        passwords.lines().any(|l| l.starts_with("lc-a1:$7$")),
        "{passwords}"
    );
    let broker = Mosquitto::start(tmp.path(), &files, port);
    ctl.start_again();
    wait_until("controller connected to mosquitto", DEADLINE, || {
        (ctl.healthz()?["mqtt_connected"] == true).then_some(())
    });

    player.null_speed = 4.0;
    player.start();
    ctl.wait_status("lc-a1", "lc-a1 online through mosquitto", |s| {
        s["state"] == "idle"
    });
    let version = ctl.publish_version(&["lc-a1"], "lc-a1");
    ctl.wait_status("lc-a1", "lc-a1 playing through mosquitto", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["state"] == "playing"
    });
    Setup {
        _tmp: tmp,
        ctl,
        broker,
        player,
        content,
        version,
    }
}

/// Restarts the player slowed down so no new play ends, waits for an empty journal, and
/// checks the controller holds exactly the journaled receipts, each once.
fn drain_and_compare(ctl: &Controller, player: &mut Player) {
    player.stop();
    let tip = player.journal().tip_seq.expect("journaled receipts");
    player.null_speed = 0.001;
    player.start();
    ctl.wait_status("lc-a1", "journal drained", |s| {
        s["journal_backlog"] == 0 && s["state"] == "playing"
    });
    assert_eq!(ctl.assert_receipts_contiguous("lc-a1"), tip);
}

#[test]
fn e2e_mosquitto_happy_path_with_generated_acl() {
    let test = "e2e_mosquitto_happy_path_with_generated_acl";
    if !require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let mut s = setup("mosquitto_happy");
    for (sha, bytes) in &s.content.media {
        let cached = std::fs::read(s.player.cache_file(sha)).expect("media cached");
        assert_eq!(&cached, bytes);
    }
    wait_until("receipts through mosquitto", DEADLINE, || {
        (s.ctl.receipts("lc-a1")?.len() >= 8).then_some(())
    });
    let rows = s.ctl.receipts("lc-a1").unwrap();
    assert!(rows
        .iter()
        .all(|r| r["manifest_version"].as_u64() == Some(s.version)));
    assert!(s.ctl.metric("gatecast_acks_sent_total").unwrap() >= 1.0);
    drain_and_compare(&s.ctl, &mut s.player);
}

#[test]
fn e2e_mosquitto_restart_players_and_controller_reconnect() {
    let test = "e2e_mosquitto_restart_players_and_controller_reconnect";
    if !require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let mut s = setup("mosquitto_restart");
    wait_until("receipts before the broker restart", DEADLINE, || {
        (s.ctl.receipts("lc-a1")?.len() >= 5).then_some(())
    });
    let reconnects = s
        .ctl
        .metric("gatecast_mqtt_reconnects_total")
        .unwrap_or(0.0);

    s.broker.stop();
    wait_until(
        "the controller notices the broker is gone",
        DEADLINE,
        || (s.ctl.healthz()?["mqtt_connected"] == false).then_some(()),
    );
    let before = s.ctl.receipts("lc-a1").unwrap().len();
    s.broker.start_again();

    wait_until("the controller reconnects", DEADLINE, || {
        (s.ctl.healthz()?["mqtt_connected"] == true).then_some(())
    });
    // The player reconnects too: new receipts arrive and are stored after the old ones.
    wait_until("receipts after the broker restart", DEADLINE, || {
        (s.ctl.receipts("lc-a1")?.len() >= before + 8).then_some(())
    });
    assert!(
        metric_value(&s.ctl.metrics(), "gatecast_mqtt_reconnects_total").unwrap_or(0.0)
            > reconnects,
        "the controller counted its reconnect"
    );
    let st = s
        .ctl
        .wait_status("lc-a1", "lc-a1 playing after the restart", |st| {
            st["state"] == "playing"
        });
    assert_eq!(st["manifest_version"].as_u64(), Some(s.version));
    assert!(st["last_rejection"].is_null(), "{st}");
    s.ctl.assert_receipts_contiguous("lc-a1");
    drain_and_compare(&s.ctl, &mut s.player);
}

/// docs/security.md rows 45 and 46 with mosquitto (the documented deployment): a screen
/// re-enrolled while its old box is still connected gets the manifest although mosquitto keeps
/// the old persistent session (the new box takes it over), and the new box's receipts (a new
/// chain from seq 1) are acknowledged and stored without any conflict.
#[test]
fn attack_reenrolment_through_mosquitto() {
    let test = "attack_reenrolment_through_mosquitto";
    if !require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let mut s = setup("mosquitto_reenrol");
    wait_until("receipts of the old box", DEADLINE, || {
        (s.ctl.receipts("lc-a1")?.len() >= 3).then_some(())
    });
    let old_key = s.ctl.status("lc-a1").expect("status")["device_key"].clone();

    // New box, lost disk: new code, enrol, then the operator refreshes mosquitto's files.
    let code = s.ctl.new_enrollment_code("lc-a1");
    let dir = s._tmp.path().join("lc-a1-new");
    let mut new = Player::enroll(&s.ctl, "lc-a1", &code, &dir);
    new.edit_config(|c| c.batch_max_delay_ms = 100);
    assert_eq!(new.config().epoch, 2);
    s.ctl.stop();
    let files = s._tmp.path().join("broker-files");
    s.ctl.broker_acl(&files);
    s.broker.reload();
    s.ctl.start_again();

    new.null_speed = 4.0;
    let started = jiff::Timestamp::now();
    new.start();
    s.ctl
        .wait_status("lc-a1", "the new box playing the retained manifest", |st| {
            gatecast_tests::status_since(st, started)
                && st["device_key"] != old_key
                && st["manifest_version"].as_u64() == Some(s.version)
                && st["state"] == "playing"
        });
    // The old box lost the session and its password: only the new box uploads now.
    let stored_before = s.ctl.receipts("lc-a1").unwrap().len();
    wait_until("receipts of the new box stored", DEADLINE, || {
        (s.ctl.receipts("lc-a1")?.len() >= stored_before + 4).then_some(())
    });
    let m = s.ctl.metrics();
    assert_eq!(
        gatecast_tests::metric_sum(&m, "gatecast_receipt_conflicts_total"),
        Some(0.0),
        "{m}"
    );
}
