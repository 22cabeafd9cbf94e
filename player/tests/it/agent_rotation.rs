//! Controller key rotation seen from a real player process: a statement signed by an attacker
//! alone (or by only one of the two keys) is refused and reported; a valid statement makes
//! manifests signed by the new key acceptable; after the overlap, manifests signed by the
//! retired key are refused (`unknown_key`), also after a restart (the statement is stored).

use crate::common;

use std::time::Duration;

use common::broker::TestBroker;
use common::harness::{self, Controller, MediaServer, PlayerProc, PlayerSpec, SCREEN};
use jiff::{SignedDuration, Timestamp};
use playlists::envelope::Envelope;
use playlists::keys::SecretKey;
use playlists::rotation::{Rotation, ROTATION_TYPE};
use playlists::topics::{self, Kind};
use rumqttc::QoS;
use serde_json::Value;

const T: Duration = Duration::from_secs(30);

fn k1() -> SecretKey {
    SecretKey::from_seed([7; 32])
}
fn k2() -> SecretKey {
    SecretKey::from_seed([21; 32])
}

/// An envelope of `r` signed by exactly `signers`, in order.
fn signed_by(r: &Rotation, signers: &[&SecretKey]) -> Vec<u8> {
    let payload = r.to_json();
    let mut env = Envelope::sign(ROTATION_TYPE, payload.clone(), signers[0]);
    for k in &signers[1..] {
        env.signatures
            .extend(Envelope::sign(ROTATION_TYPE, payload.clone(), k).signatures);
    }
    env.to_json()
}

async fn publish_rotation(c: &Controller, bytes: Vec<u8>) {
    c.client
        .publish(
            topics::topic(SCREEN, Kind::Rotation),
            QoS::AtLeastOnce,
            true,
            bytes,
        )
        .await
        .unwrap();
}

struct Setup {
    _broker: TestBroker,
    media: MediaServer,
    controller: Controller,
    player: PlayerProc,
    spec: PlayerSpec,
    _dir: tempfile::TempDir,
    slide: playlists::manifest::MediaRef,
}

async fn setup() -> Setup {
    let broker = TestBroker::start();
    let media = MediaServer::start().await;
    let controller = Controller::connect(broker.port, SCREEN, k1()).await;
    let (a, a_bytes) = harness::slide(1, 2000, 1000);
    media.put(&a.sha256, a_bytes);
    let dir = tempfile::tempdir().unwrap();
    let spec = PlayerSpec {
        broker_url: format!("mqtt://127.0.0.1:{}", broker.port),
        media_base: media.url.clone(),
        controller_key: k1().public(),
        extra_toml: String::new(),
        null_speed: 10.0,
    };
    let player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", T, |s| s["state"] == "idle")
        .await;
    let v1 = harness::manifest(SCREEN, 1, std::slice::from_ref(&a));
    controller
        .publish_manifest(harness::sign_manifest(&v1, &k1()))
        .await;
    controller
        .wait_status("v1 active", T, |s| s["manifest_version"] == 1)
        .await;
    Setup {
        _broker: broker,
        media,
        controller,
        player,
        spec,
        _dir: dir,
        slide: a,
    }
}

fn rejected(s: &Value, what: &str, reason: &str) -> bool {
    s["last_rejection"]["what"] == what && s["last_rejection"]["reason"] == reason
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_signed_by_attacker_alone_is_refused_and_a_valid_one_admits_the_new_key() {
    let mut s = setup().await;
    let c = &s.controller;
    let now = Timestamp::now();
    let week = now + SignedDuration::from_hours(24 * 7);
    let attacker = SecretKey::from_seed([66; 32]);
    let attacker2 = SecretKey::from_seed([67; 32]);

    // The attacker names the pinned key as the old one and signs with its own two keys.
    let forged = Rotation::new(&k1().public(), &attacker.public(), now, week);
    let cases: [(&str, Vec<u8>, &str); 3] = [
        (
            "attacker alone",
            signed_by(&forged, &[&attacker2, &attacker]),
            "unknown_key",
        ),
        (
            "old key only",
            signed_by(
                &Rotation::new(&k1().public(), &k2().public(), now, week),
                &[&k1()],
            ),
            "bad_signature",
        ),
        (
            "new key only",
            signed_by(
                &Rotation::new(&k1().public(), &k2().public(), now, week),
                &[&k2()],
            ),
            "unknown_key",
        ),
    ];
    for (name, bytes, reason) in cases {
        c.state.lock().unwrap().statuses.clear();
        publish_rotation(c, bytes).await;
        let st = c
            .wait_status(&format!("{name} refused"), T, |st| {
                rejected(st, "rotation", reason)
            })
            .await;
        assert_eq!(
            st["controller_key_id"],
            k1().key_id(),
            "{name} changed the pinned key"
        );
    }
    // The attacker's key still signs nothing the player accepts.
    let m = harness::manifest(SCREEN, 2, std::slice::from_ref(&s.slide));
    c.publish_manifest(harness::sign_manifest(&m, &attacker))
        .await;
    c.wait_status("attacker manifest refused", T, |st| {
        rejected(st, "manifest", "unknown_key") && st["manifest_version"] == 1
    })
    .await;

    // The genuine statement, signed by the pinned key and the new key.
    let genuine = Rotation::new(&k1().public(), &k2().public(), now, week)
        .sign(&k1(), &k2())
        .unwrap()
        .to_json();
    publish_rotation(c, genuine).await;
    c.wait_status("new key pinned", T, |st| {
        st["controller_key_id"] == k2().key_id()
    })
    .await;
    let m = harness::manifest(SCREEN, 3, std::slice::from_ref(&s.slide));
    c.publish_manifest(harness::sign_manifest(&m, &k2())).await;
    c.wait_status("manifest signed by the new key active", T, |st| {
        st["manifest_version"] == 3
    })
    .await;
    // During the overlap the old key is still accepted.
    let m = harness::manifest(SCREEN, 4, std::slice::from_ref(&s.slide));
    c.publish_manifest(harness::sign_manifest(&m, &k1())).await;
    c.wait_status(
        "manifest signed by the old key active during the overlap",
        T,
        |st| st["manifest_version"] == 4,
    )
    .await;
    assert!(
        s.player.stop().await,
        "clean exit; log:\n{}",
        s.player.log()
    );
    drop(s.media);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_the_overlap_manifests_signed_by_the_retired_key_are_refused() {
    let mut s = setup().await;
    let now = Timestamp::now();
    // A rotation whose overlap is already over: the old key is dropped at once.
    let rotation = Rotation::new(
        &k1().public(),
        &k2().public(),
        now - SignedDuration::from_hours(2),
        now - SignedDuration::from_hours(1),
    );
    // A manifest by the new key that arrives before the statement is refused, then taken
    // once the statement is accepted (no republish needed).
    let v2 = harness::manifest(SCREEN, 2, std::slice::from_ref(&s.slide));
    s.controller
        .publish_manifest(harness::sign_manifest(&v2, &k2()))
        .await;
    s.controller
        .wait_status("new-key manifest refused before the statement", T, |st| {
            rejected(st, "manifest", "unknown_key")
        })
        .await;
    publish_rotation(
        &s.controller,
        rotation.sign(&k1(), &k2()).unwrap().to_json(),
    )
    .await;
    let st = s
        .controller
        .wait_status("rotated, deferred v2 active", T, |st| {
            st["controller_key_id"] == k2().key_id() && st["manifest_version"] == 2
        })
        .await;
    assert_eq!(st["pending_version"], Value::Null);

    let v3 = harness::manifest(SCREEN, 3, std::slice::from_ref(&s.slide));
    s.controller
        .publish_manifest(harness::sign_manifest(&v3, &k1()))
        .await;
    s.controller
        .wait_status("retired-key manifest refused", T, |st| {
            // The earlier refusal named k2's key id; this one names the retired k1.
            rejected(st, "manifest", "unknown_key")
                && st["last_rejection"]["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains(&k1().key_id()))
        })
        .await;
    assert_eq!(s.controller.last_status().unwrap()["manifest_version"], 2);

    // The new pinning survives a restart without the retained statement.
    publish_rotation(&s.controller, Vec::new()).await; // deletes the retained statement
    assert!(
        s.player.stop().await,
        "clean exit; log:\n{}",
        s.player.log()
    );
    s.controller.state.lock().unwrap().statuses.clear();
    s.player = PlayerProc::start(s.player.dir.clone().as_path(), &s.spec);
    s.controller
        .wait_status("restarted with the new key", T, |st| {
            st["state"] != "offline"
                && st["controller_key_id"] == k2().key_id()
                && st["manifest_version"] == 2
        })
        .await;
    let v3_old = harness::manifest(SCREEN, 3, std::slice::from_ref(&s.slide));
    s.controller
        .publish_manifest(harness::sign_manifest(&v3_old, &k1()))
        .await;
    s.controller
        .wait_status("retired key refused after restart", T, |st| {
            rejected(st, "manifest", "unknown_key")
                && st["last_rejection"]["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains(&k1().key_id()))
        })
        .await;
    let v3_new = harness::manifest(SCREEN, 3, std::slice::from_ref(&s.slide));
    s.controller
        .publish_manifest(harness::sign_manifest(&v3_new, &k2()))
        .await;
    s.controller
        .wait_status("new key accepted after restart", T, |st| {
            st["manifest_version"] == 3
        })
        .await;
    assert!(
        s.player.stop().await,
        "clean exit; log:\n{}",
        s.player.log()
    );
}
