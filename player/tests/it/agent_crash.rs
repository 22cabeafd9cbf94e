//! kill -9 during a download and during an upload: the download resumes where it stopped
//! (seen in the server's Range requests) and no receipt is lost or stored twice.

use crate::common;

use std::time::Duration;

use common::harness::{self, player_spec, PlayerProc, Rig, SCREEN};

const T: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_download_resumes_with_range() {
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;
    let (big, big_bytes) = harness::slide(1, 1_000_000, 2000);
    media.put(&big.sha256, big_bytes);

    let dir = tempfile::tempdir().unwrap();
    let spec = player_spec(
        &broker,
        &media,
        &key,
        "bandwidth_limit_bytes_per_sec = 200000\n",
        10.0,
    );
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", T, |s| s["state"] == "idle")
        .await;
    controller
        .publish_manifest(harness::sign_manifest(
            &harness::manifest(SCREEN, 1, std::slice::from_ref(&big)),
            &key,
        ))
        .await;
    let part = player
        .data()
        .join("cache/sha256")
        .join(format!("{}.part", big.sha256));
    let seen = common::wait_for("a partial download", T, || {
        std::fs::metadata(&part)
            .ok()
            .map(|m| m.len())
            .filter(|n| *n >= 100_000)
    })
    .await;
    player.kill9().await;
    assert!(part.exists(), "part file kept after kill -9");

    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("v1 active after resume", T, |s| s["manifest_version"] == 1)
        .await;
    let ranges: Vec<u64> = media
        .requests_for(&big.sha256)
        .into_iter()
        .flatten()
        .filter_map(|r| r.strip_prefix("bytes=")?.strip_suffix('-')?.parse().ok())
        .collect();
    assert!(
        ranges.iter().any(|n| *n >= seen),
        "no Range request from at least {seen} bytes; requests: {:?}",
        media.requests_for(&big.sha256)
    );
    let file = std::fs::read(player.data().join("cache/sha256").join(&big.sha256)).unwrap();
    assert_eq!(harness::sha256_hex(&file), big.sha256);
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kill_during_upload_loses_and_duplicates_nothing() {
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;
    controller.set_auto_ack(false);
    let (a, a_bytes) = harness::slide(1, 1000, 2000);
    media.put(&a.sha256, a_bytes);

    let dir = tempfile::tempdir().unwrap();
    let spec = player_spec(&broker, &media, &key, "ack_timeout_ms = 1000\n", 20.0);
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", T, |s| s["state"] == "idle")
        .await;
    controller
        .publish_manifest(harness::sign_manifest(
            &harness::manifest(SCREEN, 1, std::slice::from_ref(&a)),
            &key,
        ))
        .await;
    // Batches arrive but are never acknowledged; kill the player mid-upload.
    controller
        .wait_received("unacked batches", T, |r| {
            r.batches >= 2 && r.receipts.len() >= 4
        })
        .await;
    player.kill9().await;
    let before = controller.state.lock().unwrap().receipts.len() as u64;

    controller.set_auto_ack(true);
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_received("more receipts after restart", T, |r| {
            r.receipts.len() as u64 >= before + 5
        })
        .await;
    controller
        .wait_status("journal drained", T, |s| {
            s["journal_backlog"].as_u64() <= Some(3)
        })
        .await;
    {
        let r = controller.state.lock().unwrap();
        assert!(
            r.refused.is_empty(),
            "batches refused (gap or chain break): {:?}",
            r.refused
        );
        assert!(r.duplicates > 0, "unacknowledged receipts were resent");
        let seqs: Vec<u64> = r.receipts.keys().copied().collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "contiguous seq, stored once"
        );
    }
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}
