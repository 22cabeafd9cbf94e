//! Every bad manifest (`docs/protocol.md` §16) is rejected: the player keeps playing the previous one,
//! reports the reason in `last_rejection`, and never downloads the bad manifest's media.

use crate::common;

use std::time::Duration;

use common::broker::{CutProxy, TestBroker};
use common::harness::{self, Controller, MediaServer, PlayerProc, PlayerSpec, SCREEN};
use playlists::envelope::{ALERT_TYPE, MANIFEST_TYPE};
use playlists::keys::SecretKey;
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_manifests_are_rejected_and_change_nothing() {
    let broker = TestBroker::start();
    let proxy = CutProxy::start(broker.port).await;
    let media = MediaServer::start().await;
    let key = SecretKey::from_seed([7; 32]);
    let other = SecretKey::from_seed([8; 32]);
    let controller = Controller::connect(broker.port, SCREEN, SecretKey::from_seed([7; 32])).await;

    let (a, a_bytes) = harness::slide(1, 2000, 1000);
    media.put(&a.sha256, a_bytes);
    let (a2, a2_bytes) = harness::slide(2, 2000, 1000);
    media.put(&a2.sha256, a2_bytes);

    let dir = tempfile::tempdir().unwrap();
    let spec = PlayerSpec {
        broker_url: proxy.url(),
        media_base: media.url.clone(),
        controller_key: key.public(),
        extra_toml: String::new(),
        null_speed: 10.0,
    };
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", T, |s| s["state"] == "idle")
        .await;

    let v1 = harness::manifest(SCREEN, 1, std::slice::from_ref(&a));
    let v1_bytes = harness::sign_manifest(&v1, &key);
    controller.publish_manifest(v1_bytes.clone()).await;
    controller
        .wait_status("v1 active", T, |s| s["manifest_version"] == 1)
        .await;
    let v2 = harness::manifest(SCREEN, 2, &[a.clone(), a2.clone()]);
    controller
        .publish_manifest(harness::sign_manifest(&v2, &key))
        .await;
    controller
        .wait_status("v2 active", T, |s| s["manifest_version"] == 2)
        .await;

    // One fresh media item per bad manifest, served, so a download would be seen.
    let mut bad_media = Vec::new();
    let mut fresh = |n: u32| {
        let (m, bytes) = harness::slide(100 + n, 1500, 1000);
        media.put(&m.sha256, bytes);
        bad_media.push(m.sha256.clone());
        m
    };
    let good_v3 =
        |m: &playlists::manifest::MediaRef| harness::manifest(SCREEN, 3, &[a.clone(), m.clone()]);

    let mut cases: Vec<(&str, Option<u64>, Vec<u8>)> = Vec::new();
    cases.push((
        "unknown_key",
        None,
        harness::sign_manifest(&good_v3(&fresh(1)), &other),
    ));
    {
        // Right key id, signature by another key.
        let env = harness::sign_manifest(&good_v3(&fresh(2)), &other);
        let mut v: Value = serde_json::from_slice(&env).unwrap();
        v["signatures"][0]["keyid"] = Value::String(key.key_id());
        cases.push(("bad_signature", None, serde_json::to_vec(&v).unwrap()));
    }
    cases.push((
        "not_newer",
        Some(1),
        harness::sign_manifest(&harness::manifest(SCREEN, 1, &[fresh(3)]), &key),
    ));
    cases.push((
        "not_newer",
        Some(2),
        harness::sign_manifest(&harness::manifest(SCREEN, 2, &[fresh(4)]), &key),
    ));
    cases.push((
        "wrong_screen",
        Some(3),
        harness::sign_manifest(&harness::manifest("gate-b9", 3, &[fresh(5)]), &key),
    ));
    {
        let mut m = good_v3(&fresh(6));
        m.issued_at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(3);
        m.expires_at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
        cases.push(("expired", Some(3), harness::sign_manifest(&m, &key)));
    }
    cases.push((
        "wrong_type",
        None,
        harness::sign_raw(ALERT_TYPE, good_v3(&fresh(7)).to_json(), &key),
    ));
    {
        let env = harness::sign_manifest(&good_v3(&fresh(8)), &key);
        let mut v: Value = serde_json::from_slice(&env).unwrap();
        v["payload"] = Value::String("@@not base64@@".into());
        cases.push(("bad_envelope", None, serde_json::to_vec(&v).unwrap()));
    }
    {
        let mut m = good_v3(&fresh(9));
        m.timezone = "Mars/Olympus_Mons".into();
        cases.push(("invalid_content", Some(3), harness::sign_manifest(&m, &key)));
    }
    {
        let m = fresh(10);
        let payload = format!(
            "{{\"screen\":\"{SCREEN}\",\"version\":3,\"media\":[\"{}\"]",
            m.sha256
        );
        cases.push((
            "invalid_content",
            None,
            harness::sign_raw(MANIFEST_TYPE, payload.into_bytes(), &key),
        ));
    }
    // Not even an envelope.
    cases.push((
        "bad_envelope",
        None,
        b"\x00\x01 definitely not json".to_vec(),
    ));

    for (i, (reason, version, bytes)) in cases.into_iter().enumerate() {
        let before = controller.state.lock().unwrap().statuses.len();
        controller.publish_manifest(bytes).await;
        let st = controller
            .wait_status(&format!("case {i}: {reason}"), T, |s| {
                s["last_rejection"]["reason"] == reason
                    && (version.is_none() || s["last_rejection"]["version"] == version.unwrap())
            })
            .await;
        assert!(controller.state.lock().unwrap().statuses.len() > before);
        assert_eq!(
            st["manifest_version"], 2,
            "case {i} ({reason}) changed the active manifest"
        );
        assert!(
            st["pending_version"].is_null(),
            "case {i} ({reason}) left a pending manifest"
        );
        // Distinguish consecutive cases with the same reason by their detail.
        controller.state.lock().unwrap().statuses.clear();
    }

    // A retained replay of an old manifest after a reconnect changes nothing either.
    controller.publish_manifest(v1_bytes).await;
    controller
        .wait_status("replayed v1 rejected", T, |s| {
            s["last_rejection"]["version"] == 1
        })
        .await;
    proxy.cut();
    controller
        .wait_status("Last Will: offline", T, |s| s["state"] == "offline")
        .await;
    proxy.restore();
    let st = controller
        .wait_status("back online", T, |s| {
            s["state"] == "playing" || s["state"] == "syncing"
        })
        .await;
    assert_eq!(st["manifest_version"], 2);

    // Still playing v2 and nothing of the bad manifests was ever fetched.
    let n = controller.state.lock().unwrap().receipts.len();
    controller
        .wait_received("playback goes on", T, |r| r.receipts.len() >= n + 2)
        .await;
    for sha in &bad_media {
        assert!(
            media.requests_for(sha).is_empty(),
            "media {sha} of a rejected manifest was downloaded"
        );
        assert!(!player.data().join("cache/sha256").join(sha).exists());
    }
    {
        let r = controller.state.lock().unwrap();
        let last = r.receipts.values().last().unwrap();
        let rc = playlists::receipt::Receipt::parse(last).unwrap();
        assert_eq!(rc.manifest_version, 2);
    }
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}
