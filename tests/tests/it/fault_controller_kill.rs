//! Fault: `kill -9` of the real controller process during receipt ingest, in a loop.
//!
//! Two real `gatecast-player` processes (null backend, 50 ms plays, 100 ms batch delay) keep
//! journaling and uploading while the controller (embedded broker, so the broker dies with
//! it) is killed with SIGKILL at a random point of ingest — after a random number (1..=40) of
//! receipts were stored since its last start — and started again on the same data directory.
//!
//! After every restart, for each screen, through `GET /api/v1/receipts?format=jsonl`:
//! - every receipt the player was acknowledged (its uploader logged the verified ack and
//!   deleted the receipts from its journal) is still stored: the stored tip >= the highest ack;
//! - `seq` is contiguous from 1 and no `seq` is stored twice;
//! - the run before the kill counted no conflicting and no rejected batch.
//!
//! At the end the players drain their journals (slowed down so no new play ends) and the
//! controller holds exactly 1..=journal tip of each screen.
//!
//! Short loop by default; `GATECAST_FAULT_CYCLES=100` for the long one (tests/fault-loops.sh).

use std::time::{Duration, Instant};

use crate::fault_support::{check_store, counter, cycles, report, FaultPlayer, Rng};
use gatecast_tests::{standard_content, wait_until, Controller, ControllerOptions, TestDir};

const SCREENS: [&str; 2] = ["lc-k1", "lc-k2"];

#[test]
fn fault_controller_kill9_during_ingest_keeps_acked_receipts() {
    let n = cycles(4);
    let started = Instant::now();
    let mut rng = Rng::new("fault_controller_kill9_during_ingest_keeps_acked_receipts");
    let tmp = TestDir::new("fault_controller_kill");
    let mut ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    standard_content(&ctl, "lao-cai", 1000);
    let mut players: Vec<FaultPlayer> = SCREENS
        .iter()
        .map(|s| {
            let p = ctl.enrol_player(s, "lao-cai", &tmp.path().join(s));
            // Resend soon after a lost ack (the broker dies with the controller).
            p.edit_config(|c| c.ack_timeout_ms = 3000);
            FaultPlayer::new(p, 20.0)
        })
        .collect();
    for p in &mut players {
        p.start();
    }
    let published = ctl.publish(&SCREENS);
    assert_eq!(
        published["published"].as_array().map(Vec::len),
        Some(2),
        "{published}"
    );
    for s in SCREENS {
        ctl.wait_status(s, "playing", |st| st["state"] == "playing");
    }

    let mut kills = 0u64;
    for cycle in 1..=n {
        let want = rng.range(1, 40) as f64;
        let when = format!("cycle {cycle}/{n}");
        wait_until(
            &format!("{when}: {want} receipts stored since the last start"),
            Duration::from_secs(60),
            || (counter(&ctl, "gatecast_receipts_stored_total") >= want).then_some(()),
        );
        assert_eq!(
            counter(&ctl, "gatecast_receipt_conflicts_total"),
            0.0,
            "{when}: conflicts; log:\n{}",
            ctl.log_tail()
        );
        assert_eq!(
            counter(&ctl, "gatecast_receipt_batches_rejected_total"),
            0.0,
            "{when}: rejected batches; log:\n{}",
            ctl.log_tail()
        );
        ctl.kill9();
        kills += 1;
        ctl.start_again();
        for p in &mut players {
            assert!(
                p.is_running(),
                "{when}: player {} died; log:\n{}",
                p.screen(),
                p.log_tail()
            );
            // Read the acks first: the store only grows, so everything acked so far must be
            // in the answer that follows.
            let acked = p.acked_upto();
            check_store(&ctl, p.screen(), acked, &when);
        }
    }

    // Drain: stop (the current play is journaled as interrupted), restart slowed right down
    // so no new play ends, wait for an empty journal, and compare with the journal's tip.
    let mut acked_total = 0;
    let mut stored_total = 0;
    for p in &mut players {
        p.stop();
        let tip = p.player.journal().tip_seq.expect("journaled receipts");
        p.speed = 0.001;
        p.start();
        let screen = p.screen().to_string();
        ctl.wait_status(&screen, "journal drained", |s| {
            s["journal_backlog"] == 0 && s["state"] == "playing"
        });
        let acked = p.acked_upto();
        let c = check_store(&ctl, &screen, acked, "after draining");
        assert_eq!(
            c.top, tip,
            "{screen}: the controller holds every journaled receipt"
        );
        acked_total += acked;
        stored_total += c.rows;
        p.stop();
    }
    assert_eq!(counter(&ctl, "gatecast_receipt_conflicts_total"), 0.0);
    assert_eq!(
        counter(&ctl, "gatecast_receipt_batches_rejected_total"),
        0.0
    );
    report(&format!(
        "test=fault_controller_kill9_during_ingest cycles={n} kills={kills} screens={} \
         receipts_acked={acked_total} receipts_stored={stored_total} lost=0 duplicated=0 secs={}",
        SCREENS.len(),
        started.elapsed().as_secs()
    ));
}
