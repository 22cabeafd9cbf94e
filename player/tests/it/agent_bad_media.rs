//! Media whose bytes do not match the hash, or that are longer than declared, never
//! activates the manifest; the player keeps retrying and says so in its status.

use crate::common;

use std::time::Duration;

use common::harness::{self, player_spec, PlayerProc, Rig, SCREEN};

const T: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn corrupt_or_oversized_media_never_activates() {
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
        .wait_status("first status", T, |s| s["state"] == "idle")
        .await;
    controller
        .publish_manifest(harness::sign_manifest(
            &harness::manifest(SCREEN, 1, std::slice::from_ref(&a)),
            &key,
        ))
        .await;
    controller
        .wait_status("v1 active", T, |s| s["manifest_version"] == 1)
        .await;

    for (version, make_bad) in [(2u64, "wrong bytes"), (3, "too long")] {
        let (m, good) = harness::slide(10 + version as u32, 4000, 2000);
        let bad = match make_bad {
            "wrong bytes" => good.iter().map(|b| b ^ 0x5a).collect::<Vec<u8>>(),
            _ => [good.clone(), vec![0u8; 4000]].concat(),
        };
        media.put(&m.sha256, bad);
        controller
            .publish_manifest(harness::sign_manifest(
                &harness::manifest(SCREEN, version, &[a.clone(), m.clone()]),
                &key,
            ))
            .await;
        let st = controller
            .wait_status(
                &format!("v{version} pending with an error ({make_bad})"),
                T,
                |s| s["pending_version"] == version && !s["last_error"].is_null(),
            )
            .await;
        assert_eq!(st["manifest_version"], version - 1, "{make_bad}: activated");
        assert_eq!(st["state"], "syncing");
        common::wait_for(&format!("{make_bad}: retried"), T, || {
            (media.requests_for(&m.sha256).len() >= 2).then_some(())
        })
        .await;
        let st = controller.last_status().unwrap();
        assert_eq!(st["manifest_version"], version - 1, "{make_bad}: activated");
        assert!(!player.data().join("cache/sha256").join(&m.sha256).exists());

        // Once the mirror serves the right bytes, the retry succeeds and the manifest activates.
        media.put(&m.sha256, good);
        controller
            .wait_status(&format!("v{version} active after the fix"), T, |s| {
                s["manifest_version"] == version
            })
            .await;
    }
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}
