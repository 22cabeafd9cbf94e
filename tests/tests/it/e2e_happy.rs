//! Happy path on real processes: `gatecast-controller serve` (embedded broker) and a
//! `gatecast-player` enrolled with `gatecast-player enroll`, null backend.
//!
//! upload → playlist → schedule → register + enrol → publish → the player caches every media
//! file with the right hash → plays → receipts reach the controller, are acknowledged and the
//! journal empties (`journal_backlog` 0 in the player's status).

use gatecast_tests::{
    sha256_hex, standard_content, wait_until, Controller, ControllerOptions, DEADLINE,
};

#[test]
fn e2e_happy_path_publish_cache_play_receipts_acked() {
    let tmp = gatecast_tests::TestDir::new("happy");
    let ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    assert_eq!(ctl.healthz().expect("healthz answers")["status"], "ok");

    let content = standard_content(&ctl, "lao-cai", 1000);
    let mut player = ctl.enrol_player("lc-a1", "lao-cai", &tmp.path().join("lc-a1"));
    let cfg = player.config();
    assert_eq!(cfg.screen, "lc-a1");
    assert_eq!(cfg.broker, format!("mqtt://{}", ctl.mqtt.unwrap()));
    assert_eq!(
        cfg.controller_key,
        ctl.get("/api/v1/keys")["controller_key"].as_str().unwrap(),
        "enrolment pinned the controller's key"
    );
    // 1 s slides at 4x: a play every 250 ms.
    player.null_speed = 4.0;
    player.start();
    ctl.wait_status("lc-a1", "a first status (online, nothing to play)", |s| {
        s["state"] == "idle" && s["manifest_version"].is_null()
    });
    assert_eq!(ctl.screen("lc-a1")["online"], true);

    let version = ctl.publish_version(&["lc-a1"], "lc-a1");

    // Every media file lands in the cache with exactly the published bytes.
    wait_until("both media files cached", DEADLINE, || {
        content
            .media
            .iter()
            .all(|(sha, _)| player.cache_file(sha).is_file())
            .then_some(())
    });
    for (sha, bytes) in &content.media {
        let cached = std::fs::read(player.cache_file(sha)).unwrap();
        assert_eq!(cached.len(), bytes.len());
        assert_eq!(
            &sha256_hex(&cached),
            sha,
            "cache file content matches its name"
        );
    }

    let st = ctl.wait_status("lc-a1", "the published manifest active and playing", |s| {
        s["manifest_version"].as_u64() == Some(version) && s["state"] == "playing"
    });
    assert!(st["last_rejection"].is_null(), "no rejection: {st}");
    assert_eq!(st["pending_version"], serde_json::Value::Null);

    // Receipts arrive and are acknowledged: the controller stores them, contiguous from 1.
    wait_until(
        "at least 8 receipts stored at the controller",
        DEADLINE,
        || {
            let n = ctl.receipts("lc-a1")?.len();
            (n >= 8).then_some(())
        },
    );
    // While plays follow each other every 250 ms the journal is never empty for long, so
    // restart the player slowed right down (a 1 s slide now lasts over 15 min): it resends what
    // is unacknowledged, then writes nothing new, and its journal must drain to 0.
    player.stop();
    let journal = player.journal();
    let tip = journal.tip_seq.expect("receipts were journaled");
    assert!(tip >= 8, "journal tip {tip}");
    assert_eq!(journal.backlog as usize, journal.unacked_seqs.len());
    if let (Some(first), Some(last)) = (journal.unacked_seqs.first(), journal.unacked_seqs.last()) {
        assert_eq!(*last, tip, "the unacknowledged receipts end at the tip");
        assert_eq!(
            journal.unacked_seqs,
            (*first..=tip).collect::<Vec<_>>(),
            "the journal keeps a contiguous tail"
        );
    }
    player.null_speed = 0.001;
    player.start();
    ctl.wait_status(
        "lc-a1",
        "journal_backlog 0 (every receipt acknowledged)",
        |s| {
            s["journal_backlog"] == 0
                && s["backlog_warning"] == false
                && s["state"] == "playing"
                && s["manifest_version"].as_u64() == Some(version)
        },
    );
    let top = ctl.assert_receipts_contiguous("lc-a1");
    assert_eq!(
        top, tip,
        "the controller holds exactly the journaled receipts 1..={tip}"
    );
    let rows = ctl.receipts("lc-a1").unwrap();
    let shas: Vec<&str> = content.media.iter().map(|(s, _)| s.as_str()).collect();
    for r in &rows {
        assert!(shas.contains(&r["media_sha256"].as_str().unwrap()), "{r}");
        assert_eq!(r["manifest_version"].as_u64(), Some(version));
        assert_ne!(r["outcome"], "failed", "{r}");
        assert_eq!(r["playlist"], "p1");
    }
    // Only the play cut short by the stop may be `interrupted`.
    let interrupted = rows.iter().filter(|r| r["outcome"] != "completed").count();
    assert!(interrupted <= 1, "{interrupted} plays not completed");
    // Both slides were played (the playlist alternates).
    for sha in &shas {
        assert!(
            rows.iter().any(|r| r["media_sha256"] == *sha),
            "{sha} never played"
        );
    }
    let m = ctl.metrics();
    let stored = gatecast_tests::metric_value(&m, "gatecast_receipts_stored_total").unwrap();
    assert!(
        stored >= top as f64,
        "metrics count {stored} stored receipts, API shows {top}"
    );
    assert!(gatecast_tests::metric_value(&m, "gatecast_acks_sent_total").unwrap() >= 1.0);
    assert_eq!(
        gatecast_tests::metric_value(&m, "gatecast_screens_online"),
        Some(1.0)
    );

    // A clean stop: the player says it is offline.
    player.stop();
    ctl.wait_status("lc-a1", "offline after the player stopped", |s| {
        s["state"] == "offline"
    });
}
