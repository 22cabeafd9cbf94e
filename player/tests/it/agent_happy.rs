//! Happy path with the null backend: publish → media cached with the right hash → receipts
//! reach the (stand-in) controller, are acknowledged, and the journal empties.

use crate::common;

use std::time::Duration;

use common::harness::{self, player_spec, PlayerProc, Rig, SCREEN};

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn publish_cache_play_receipts_ack() {
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;

    let (a, a_bytes) = harness::slide(1, 3000, 2000);
    let (b, b_bytes) = harness::slide(2, 5000, 2000);
    media.put(&a.sha256, a_bytes.clone());
    media.put(&b.sha256, b_bytes.clone());

    let dir = tempfile::tempdir().unwrap();
    let spec = player_spec(&broker, &media, &key, "", 10.0);
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", T, |s| {
            s["state"] == "idle" && s["manifest_version"].is_null()
        })
        .await;

    let m = harness::manifest(SCREEN, 1, &[a.clone(), b.clone()]);
    controller
        .publish_manifest(harness::sign_manifest(&m, &key))
        .await;

    let st = controller
        .wait_status("manifest 1 active", T, |s| s["manifest_version"] == 1)
        .await;
    assert!(st["pending_version"].is_null());
    assert!(st["last_rejection"].is_null());
    for (m, bytes) in [(&a, &a_bytes), (&b, &b_bytes)] {
        let p = player.data().join("cache/sha256").join(&m.sha256);
        let on_disk = std::fs::read(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        assert_eq!(harness::sha256_hex(&on_disk), m.sha256);
        assert_eq!(&on_disk, bytes);
    }

    // Receipts arrive, verify (device signature + chain) and are acknowledged.
    controller
        .wait_received("4 receipts stored", T, |r| r.receipts.len() >= 4)
        .await;
    let st = controller
        .wait_status("journal empty after acks", T, |s| {
            s["journal_backlog"] == 0 && s["state"] == "playing"
        })
        .await;
    assert_eq!(st["cache"]["have_bytes"], st["cache"]["need_bytes"]);
    assert_eq!(st["cache"]["need_bytes"], 8000);
    {
        let r = controller.state.lock().unwrap();
        assert!(r.refused.is_empty(), "refused batches: {:?}", r.refused);
        let seqs: Vec<u64> = r.receipts.keys().copied().collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "contiguous seq"
        );
        for bytes in r.receipts.values() {
            let rc = playlists::receipt::Receipt::parse(bytes).unwrap();
            assert_eq!(rc.screen, SCREEN);
            assert_eq!(rc.manifest_version, 1);
            assert_eq!(rc.playlist, "main");
            assert!(rc.media == a.sha256 || rc.media == b.sha256);
            assert_eq!(rc.backend, playlists::receipt::Backend::Null);
            assert!(rc.ended_at >= rc.started_at);
        }
    }

    // Clean stop: the retained status says offline.
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
    controller
        .wait_status("offline status", T, |s| s["state"] == "offline")
        .await;
}
