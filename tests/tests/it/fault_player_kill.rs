//! Fault: `kill -9` of the real player process during media download, journal writes and
//! receipt upload, in a loop.
//!
//! The player (null backend, 50 ms plays, so the journal is written and batches are uploaded
//! all the time) plays a playlist of two small slides and one 1 MiB slide, downloaded at a
//! bandwidth limit of 1 MiB/s so that a download is in progress for about a second. The cycles
//! rotate through three kinds:
//! 1. a new manifest with a new 1 MiB file is published while the player is down; the player
//!    is killed when its part file reaches a random size (or, sometimes, just after the file
//!    got its final name) — so the kill lands inside a download, at its rename or at activation;
//! 2. the big file of the active manifest is removed from the cache while the player is down
//!    (a damaged card) so it is downloaded again, and the kill lands inside that download;
//! 3. the kill lands after a random number of acknowledged receipts plus a random 0..30 ms
//!    (inside a journal write or an upload).
//!
//! After every kill, with the player down:
//! - every complete file in the cache (name without `.part`) hashes to its name: no corrupted
//!   file can ever be activated or played;
//! - the journal's tip never goes back, its unacknowledged receipts are contiguous, and none of
//!   them is at or below an ack the player applied;
//! - the controller holds `seq` 1..=top exactly once, top >= every applied ack, and top <= the
//!   journal's tip (it never holds a receipt the player lost).
//!
//! At the end the last manifest becomes active, the journal drains and the controller holds
//! exactly 1..=tip with no conflict and no rejected batch: no receipt lost.

use std::time::{Duration, Instant};

use crate::fault_support::{check_cache, check_store, counter, cycles, report, FaultPlayer, Rng};
use gatecast_tests::{png, standard_content, wait_until, Controller, ControllerOptions, TestDir};
use serde_json::json;

const SCREEN: &str = "lc-p1";
const BIG: usize = 1 << 20;

/// Uploads a new 1 MiB slide, makes it the third item of `p1`, publishes; returns
/// `(version, sha256)`.
fn publish_big(ctl: &Controller, small: &[String], seed: u8) -> (u64, String) {
    let bytes = png(seed, BIG);
    let rec = ctl.upload(&bytes, "image/png", "slide", "vi", &format!("Big-{seed}"));
    let sha = rec["sha256"].as_str().expect("sha256").to_string();
    let items: Vec<_> = small
        .iter()
        .chain(std::iter::once(&sha))
        .map(|s| json!({"media": s, "duration_ms": 1000}))
        .collect();
    ctl.api(
        "PUT",
        "/api/v1/playlists/p1",
        json!({"id": "p1", "name": "Main", "items": items}),
        200,
    );
    (ctl.publish_version(&[SCREEN], SCREEN), sha)
}

#[test]
fn fault_player_kill9_during_download_journal_and_upload() {
    let n = cycles(6);
    let started = Instant::now();
    let mut rng = Rng::new("fault_player_kill9_during_download_journal_and_upload");
    let tmp = TestDir::new("fault_player_kill");
    let ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    let content = standard_content(&ctl, "lao-cai", 1000);
    let small: Vec<String> = content.media.iter().map(|(s, _)| s.clone()).collect();
    let p = ctl.enrol_player(SCREEN, "lao-cai", &tmp.path().join(SCREEN));
    p.edit_config(|c| {
        c.bandwidth_limit_bytes_per_sec = Some(BIG as u64);
        c.cache_budget_bytes = Some(4 * BIG as u64);
        c.ack_timeout_ms = 3000;
    });
    let data = p.data_dir();
    let cache_dir = data.join("cache").join("sha256");
    let mut p = FaultPlayer::new(p, 20.0);

    let (mut version, _) = publish_big(&ctl, &small, 100);
    p.start();
    ctl.wait_status(SCREEN, "first manifest active and playing", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["state"] == "playing"
    });

    // Cycle 1 downloads a new manifest's file.
    p.kill9();
    let (v, mut big) = publish_big(&ctl, &small, 99);
    version = v;
    p.start();

    let mut last_tip = 0u64;
    let mut hashed = 0u64;
    let mut corrupted = 0u64;
    let mut download_kills = 0u64;
    let mut other_kills = 0u64;
    for cycle in 1..=n {
        let when = format!("cycle {cycle}/{n}");
        match cycle % 3 {
            1 | 2 => {
                // Prepared while the player was down (end of the previous cycle): a new
                // manifest (1) or a removed big file (2); the download runs now.
                let target = rng.range(1, BIG as u64 * 5 / 4);
                let part = cache_dir.join(format!("{big}.part"));
                let fin = cache_dir.join(&big);
                wait_until(
                    &format!("{when}: download of {big} at {target} bytes"),
                    Duration::from_secs(60),
                    || {
                        let have = std::fs::metadata(&part).map(|m| m.len()).unwrap_or(0);
                        (have >= target || fin.exists()).then_some(())
                    },
                );
                download_kills += 1;
            }
            _ => {
                let base = p.acked_upto();
                let more = rng.range(1, 30);
                wait_until(
                    &format!("{when}: {more} more receipts acknowledged"),
                    Duration::from_secs(60),
                    || (p.acked_upto() >= base + more).then_some(()),
                );
                std::thread::sleep(Duration::from_millis(rng.range(0, 30)));
                other_kills += 1;
            }
        }
        assert!(p.is_running(), "{when}: player died:\n{}", p.log_tail());
        p.kill9();

        let (h, c) = check_cache(&data);
        hashed += h;
        corrupted += c;
        assert_eq!(
            c, 0,
            "{when}: corrupted files under final names in the cache"
        );
        let j = p.player.journal();
        let tip = j.tip_seq.unwrap_or(0);
        assert!(
            tip >= last_tip,
            "{when}: journal tip went back {last_tip} -> {tip}"
        );
        last_tip = tip;
        assert!(
            j.unacked_seqs.windows(2).all(|w| w[1] == w[0] + 1),
            "{when}: unacknowledged receipts not contiguous: {j:?}"
        );
        let acked = p.acked_upto();
        assert!(
            j.unacked_seqs.first().is_none_or(|s| *s > acked),
            "{when}: a receipt at or below the applied ack {acked} is still journaled: {j:?}"
        );
        let st = check_store(&ctl, SCREEN, acked, &when);
        assert!(
            st.top <= tip,
            "{when}: the controller holds seq {} but the player's journal ends at {tip}: a \
             receipt uploaded before it was durable was lost by the player",
            st.top
        );
        // Prepare the next cycle while the player is down.
        match (cycle + 1) % 3 {
            1 => {
                let (v, sha) = publish_big(&ctl, &small, 100 + (cycle % 150) as u8);
                version = v;
                big = sha;
            }
            2 => {
                let _ = std::fs::remove_file(cache_dir.join(&big));
            }
            _ => {}
        }
        p.start();
    }

    // The last manifest becomes active with verified files; the journal drains.
    ctl.wait_status(SCREEN, "last manifest active", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["state"] == "playing"
    });
    p.stop();
    let tip = p.player.journal().tip_seq.expect("journaled receipts");
    p.speed = 0.001;
    p.start();
    ctl.wait_status(SCREEN, "journal drained", |s| {
        s["journal_backlog"] == 0 && s["manifest_version"].as_u64() == Some(version)
    });
    let acked = p.acked_upto();
    let st = check_store(&ctl, SCREEN, acked, "after draining");
    assert_eq!(st.top, tip, "the controller holds every journaled receipt");
    p.stop();
    let (h, c) = check_cache(&data);
    assert_eq!(c, 0);
    assert!(
        cache_dir.join(&big).is_file(),
        "the active big file is cached"
    );
    hashed += h;
    assert_eq!(counter(&ctl, "gatecast_receipt_conflicts_total"), 0.0);
    assert_eq!(
        counter(&ctl, "gatecast_receipt_batches_rejected_total"),
        0.0
    );
    report(&format!(
        "test=fault_player_kill9_during_download_journal_and_upload cycles={n} \
         kills_in_download={download_kills} kills_in_journal_upload={other_kills} \
         receipts_acked={acked} receipts_stored={} files_hashed={hashed} \
         corrupted_activations={corrupted} lost=0 duplicated=0 secs={}",
        st.rows,
        started.elapsed().as_secs()
    ));
}
