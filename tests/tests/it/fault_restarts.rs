//! Faults: the broker restarts under load; the controller restarts while its players are
//! offline. Both in a loop, on real processes.
//!
//! - `fault_broker_restart_loop`: mosquitto (files from `broker-acl mosquitto`, no
//!   persistence: sessions and retained messages are lost) is restarted while two players
//!   upload; each time the controller and the players reconnect by themselves, receipts keep
//!   flowing, and the controller holds 1..=top once with top >= every applied ack.
//! - `fault_controller_restart_while_players_offline`: each player reaches the embedded
//!   broker through a TCP proxy; the proxies are cut, the controller is restarted (kill -9 and
//!   clean stop alternately) and a new manifest is published while the players are offline
//!   (they keep playing and journaling); when the link is back they get the new manifest
//!   (republished, since the embedded broker lost its retained store) and their backlog, and
//!   the controller again holds 1..=top once with top >= every applied ack.
//!
//! Short loops by default; `GATECAST_FAULT_CYCLES=100` for the long ones.

use std::time::{Duration, Instant};

use crate::fault_support::{check_store, counter, cycles, report, FaultPlayer, Rng};
use gatecast_tests::{
    free_port, require_program, standard_content, wait_until, Controller, ControllerOptions,
    CutProxy, Mosquitto, TestDir, DEADLINE,
};
use serde_json::json;

const SCREENS: [&str; 2] = ["lc-r1", "lc-r2"];

/// Stops the players, restarts them slowed right down (no new play ends), waits for empty
/// journals and checks the controller holds exactly 1..=tip of each. Returns
/// `(acked, stored)` summed over the players.
fn drain(ctl: &Controller, players: &mut [FaultPlayer]) -> (u64, u64) {
    let (mut acked_total, mut stored_total) = (0, 0);
    for p in players.iter_mut() {
        p.stop();
        let tip = p.player.journal().tip_seq.expect("journaled receipts");
        p.speed = 0.001;
        p.start();
        let screen = p.screen().to_string();
        ctl.wait_status(&screen, "journal drained", |s| {
            s["journal_backlog"] == 0 && s["state"] == "playing"
        });
        let acked = p.acked_upto();
        let c = check_store(ctl, &screen, acked, "after draining");
        assert_eq!(
            c.top, tip,
            "{screen}: the controller holds every journaled receipt"
        );
        acked_total += acked;
        stored_total += c.rows;
        p.stop();
    }
    (acked_total, stored_total)
}

fn wait_more_acks(p: &FaultPlayer, more: u64, when: &str) {
    let base = p.acked_upto();
    wait_until(
        &format!("{when}: {} acknowledged {more} more receipts", p.screen()),
        Duration::from_secs(60),
        || (p.acked_upto() >= base + more).then_some(()),
    );
}

#[test]
fn fault_broker_restart_loop() {
    let test = "fault_broker_restart_loop";
    if !require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let n = cycles(3);
    let started = Instant::now();
    let mut rng = Rng::new(test);
    let tmp = TestDir::new("fault_broker_restart");
    let port = free_port();
    let opts = ControllerOptions {
        broker: Some(format!("mqtt://127.0.0.1:{port}")),
        ..ControllerOptions::default()
    };
    let mut ctl = Controller::start(&tmp.path().join("controller"), opts);
    standard_content(&ctl, "lao-cai", 1000);
    let mut players: Vec<FaultPlayer> = SCREENS
        .iter()
        .map(|s| {
            let p = ctl.enrol_player(s, "lao-cai", &tmp.path().join(s));
            // An ack lost with the broker is resent for soon.
            p.edit_config(|c| c.ack_timeout_ms = 2000);
            FaultPlayer::new(p, 20.0)
        })
        .collect();
    ctl.stop();
    let files = tmp.path().join("broker-files");
    ctl.broker_acl(&files);
    let mut broker = Mosquitto::start(tmp.path(), &files, port);
    ctl.start_again();
    wait_until("controller connected to mosquitto", DEADLINE, || {
        (ctl.healthz()?["mqtt_connected"] == true).then_some(())
    });
    for p in &mut players {
        p.start();
    }
    for s in SCREENS {
        ctl.wait_status(s, "online", |st| st["state"] == "idle");
    }
    ctl.publish(&SCREENS);
    for s in SCREENS {
        ctl.wait_status(s, "playing", |st| st["state"] == "playing");
    }

    for cycle in 1..=n {
        let when = format!("cycle {cycle}/{n}");
        for p in &players {
            wait_more_acks(p, rng.range(1, 20), &when);
        }
        broker.stop();
        wait_until(
            &format!("{when}: controller sees the broker gone"),
            DEADLINE,
            || (ctl.healthz()?["mqtt_connected"] == false).then_some(()),
        );
        broker.start_again();
        wait_until(&format!("{when}: controller reconnected"), DEADLINE, || {
            (ctl.healthz()?["mqtt_connected"] == true).then_some(())
        });
        for p in &mut players {
            assert!(
                p.is_running(),
                "{when}: {} died:\n{}",
                p.screen(),
                p.log_tail()
            );
            // Acks flow again after the restart (through the new broker session).
            wait_more_acks(p, 1, &when);
            let acked = p.acked_upto();
            check_store(&ctl, p.screen(), acked, &when);
        }
        assert_eq!(counter(&ctl, "gatecast_receipt_conflicts_total"), 0.0);
        assert_eq!(
            counter(&ctl, "gatecast_receipt_batches_rejected_total"),
            0.0
        );
    }
    let (acked, stored) = drain(&ctl, &mut players);
    assert_eq!(counter(&ctl, "gatecast_receipt_conflicts_total"), 0.0);
    report(&format!(
        "test={test} cycles={n} broker_restarts={n} screens={} receipts_acked={acked} \
         receipts_stored={stored} lost=0 duplicated=0 secs={}",
        SCREENS.len(),
        started.elapsed().as_secs()
    ));
    drop(broker);
}

#[test]
fn fault_controller_restart_while_players_offline() {
    let test = "fault_controller_restart_while_players_offline";
    let n = cycles(3);
    let started = Instant::now();
    let mut rng = Rng::new(test);
    let tmp = TestDir::new("fault_controller_offline");
    let mut ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    let content = standard_content(&ctl, "lao-cai", 1000);
    let sha = content.media[0].0.clone();
    let broker = ctl.mqtt.expect("embedded broker");
    let mut proxies = Vec::new();
    let mut players: Vec<FaultPlayer> = SCREENS
        .iter()
        .map(|s| {
            let p = ctl.enrol_player(s, "lao-cai", &tmp.path().join(s));
            let proxy = CutProxy::start(broker);
            p.set_broker(&proxy.url());
            p.edit_config(|c| c.ack_timeout_ms = 2000);
            proxies.push(proxy);
            FaultPlayer::new(p, 20.0)
        })
        .collect();
    for p in &mut players {
        p.start();
    }
    ctl.publish(&SCREENS);
    for s in SCREENS {
        ctl.wait_status(s, "playing", |st| st["state"] == "playing");
    }

    let mut offline_journaled = 0u64;
    let mut version = 0;
    for cycle in 1..=n {
        let when = format!("cycle {cycle}/{n}");
        for p in &players {
            wait_more_acks(p, rng.range(1, 20), &when);
        }
        // Players offline.
        for px in &proxies {
            px.cut();
        }
        for s in SCREENS {
            ctl.wait_status(s, &format!("{when}: {s} offline (Last Will)"), |st| {
                st["state"] == "offline"
            });
        }
        let acked_before: Vec<u64> = players.iter().map(|p| p.acked_upto()).collect();
        // Restart while they are away: a crash or a clean stop.
        if cycle % 2 == 1 {
            ctl.kill9();
            ctl.start_again();
        } else {
            ctl.restart();
        }
        for (p, acked) in players.iter().zip(&acked_before) {
            check_store(
                &ctl,
                p.screen(),
                *acked,
                &format!("{when} (players offline)"),
            );
        }
        // New content while they are offline (a changed item length forces a new version).
        let stored_before: Vec<u64> = SCREENS
            .iter()
            .map(|s| check_store(&ctl, s, 0, &when).top)
            .collect();
        ctl.api(
            "PUT",
            "/api/v1/playlists/p1",
            json!({"id": "p1", "name": "Main",
                   "items": [{"media": sha, "duration_ms": 1000 + cycle as u64}]}),
            200,
        );
        version = ctl.publish_version(&SCREENS, SCREENS[0]);
        // Back online: the new manifest arrives and the offline backlog drains.
        for px in &proxies {
            px.restore();
        }
        for s in SCREENS {
            ctl.wait_status_after_reconnect(
                s,
                &format!("{when}: {s} on version {version}"),
                |st| st["manifest_version"].as_u64() == Some(version) && st["state"] == "playing",
            );
        }
        for (i, p) in players.iter_mut().enumerate() {
            assert!(
                p.is_running(),
                "{when}: {} died:\n{}",
                p.screen(),
                p.log_tail()
            );
            wait_more_acks(p, 1, &when);
            let acked = p.acked_upto();
            let st = check_store(&ctl, p.screen(), acked, &when);
            offline_journaled += st.top.saturating_sub(stored_before[i]);
        }
        assert_eq!(counter(&ctl, "gatecast_receipt_conflicts_total"), 0.0);
        assert_eq!(
            counter(&ctl, "gatecast_receipt_batches_rejected_total"),
            0.0
        );
    }
    assert!(version > 0);
    let (acked, stored) = drain(&ctl, &mut players);
    report(&format!(
        "test={test} cycles={n} controller_restarts={n} screens={} receipts_acked={acked} \
         receipts_stored={stored} uploaded_after_reconnect={offline_journaled} lost=0 \
         duplicated=0 secs={}",
        SCREENS.len(),
        started.elapsed().as_secs()
    ));
}
