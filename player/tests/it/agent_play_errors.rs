//! Playback failures show in the status: when the cached file of the playing media vanishes,
//! the `failed` receipts come with `last_error` naming the media; after the next good play
//! `last_error` is cleared again (null backend).

use crate::common;

use std::time::Duration;

use common::harness::{self, player_spec, PlayerProc, Rig, SCREEN};

use playlists::receipt::{Outcome, Receipt};

const T: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playback_failure_sets_last_error_and_a_good_play_clears_it() {
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;
    let (a, a_bytes) = harness::slide(1, 1000, 2000);
    media.put(&a.sha256, a_bytes);
    let dir = tempfile::tempdir().unwrap();
    let spec = player_spec(&broker, &media, &key, "", 10.0);
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .publish_manifest(harness::sign_manifest(
            &harness::manifest(SCREEN, 1, std::slice::from_ref(&a)),
            &key,
        ))
        .await;
    let st = controller
        .wait_status("playing v1", T, |s| {
            s["manifest_version"] == 1 && s["state"] == "playing"
        })
        .await;
    assert!(st["last_error"].is_null(), "{st}");

    // The cached file disappears (disk trouble, a person): plays fail.
    let cached = player.data().join("cache/sha256").join(&a.sha256);
    let saved = std::fs::read(&cached).unwrap();
    std::fs::remove_file(&cached).unwrap();
    let st = controller
        .wait_status("last_error after failed plays", T, |s| {
            s["last_error"]
                .as_str()
                .is_some_and(|e| e.contains(&a.sha256) && e.contains("not in the cache"))
        })
        .await;
    assert_eq!(st["manifest_version"], 1);
    controller
        .wait_received("a failed receipt", T, |r| {
            r.receipts.values().any(|b| {
                let rc = Receipt::parse(b).unwrap();
                rc.media == a.sha256 && rc.outcome == Outcome::Failed
            })
        })
        .await;

    // The file is back: the next good play clears last_error.
    let tmp = cached.with_extension("restore");
    std::fs::write(&tmp, saved).unwrap();
    std::fs::rename(&tmp, &cached).unwrap();
    controller
        .wait_status("last_error cleared after a good play", T, |s| {
            s["last_error"].is_null() && s["state"] == "playing"
        })
        .await;
    controller
        .wait_received("a completed receipt after the failures", T, |r| {
            let rs: Vec<Receipt> = r
                .receipts
                .values()
                .map(|b| Receipt::parse(b).unwrap())
                .collect();
            let first_fail = rs
                .iter()
                .position(|r| r.outcome == Outcome::Failed)
                .unwrap();
            rs[first_fail..]
                .iter()
                .any(|r| r.outcome == Outcome::Completed)
        })
        .await;
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}
