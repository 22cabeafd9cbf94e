//! Attacks on a running `gatecast-player`, each test named after the attack: rejected
//! manifests never reach the disk and do not block later valid ones; rollback and replay of
//! old or equal versions, also as a retained message after a reconnect and across a restart;
//! forged acks never prune the journal; media from a malicious mirror (wrong bytes, endless
//! data) never enters the cache.

use crate::common;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use common::broker::{CutProxy, TestBroker};
use common::harness::{self, Controller, MediaServer, PlayerProc, PlayerSpec, SCREEN};
use gatecast_player::cache::{Cache, CacheProgress, RetryPolicy, Wanted};
use gatecast_player::store::Store;
use playlists::envelope::{Envelope, ALERT_TYPE};
use playlists::keys::SecretKey;
use playlists::receipt::{sign_ack, Ack};
use playlists::topics::{self, Kind};
use rumqttc::QoS;
use tokio::sync::watch;
use warp::{Filter, Reply};

const T: Duration = Duration::from_secs(40);

fn spec(broker_url: String, media: &MediaServer, key: &SecretKey, extra: &str) -> PlayerSpec {
    PlayerSpec {
        broker_url,
        media_base: media.url.clone(),
        controller_key: key.public(),
        extra_toml: extra.to_string(),
        null_speed: 10.0,
    }
}

/// Every file under `dir` whose bytes contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(entries) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in entries.flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else if let Ok(bytes) = std::fs::read(&p) {
                if bytes.windows(needle.len()).any(|w| w == needle) {
                    out.push(p);
                }
            }
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_rejected_manifest_never_cached_later_valid_accepted() {
    let broker = TestBroker::start();
    let media = MediaServer::start().await;
    let key = SecretKey::from_seed([7; 32]);
    let attacker = SecretKey::from_seed([66; 32]);
    let controller = Controller::connect(broker.port, SCREEN, SecretKey::from_seed([7; 32])).await;
    let (a, a_bytes) = harness::slide(1, 1500, 1000);
    media.put(&a.sha256, a_bytes);
    let dir = tempfile::tempdir().unwrap();
    let mut player = PlayerProc::start(dir.path(), &spec(broker.url(), &media, &key, ""));
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

    // Each bad manifest carries a unique marker in a media title and a high version.
    let marked = |n: u32, version: u64, screen: &str| {
        let (mut m, bytes) = harness::slide(200 + n, 1500, 1000);
        m.title = format!("FORGED-MARKER-{n}");
        media.put(&m.sha256, bytes);
        let manifest = harness::manifest(screen, version, &[a.clone(), m.clone()]);
        (manifest, m.sha256)
    };
    let mut bad = Vec::new();
    let (m, s) = marked(1, 1_000_000, SCREEN);
    bad.push(("unknown_key", harness::sign_manifest(&m, &attacker), s));
    let (m, s) = marked(2, 1_000_001, SCREEN);
    bad.push((
        "wrong_type",
        harness::sign_raw(ALERT_TYPE, m.to_json(), &key),
        s,
    ));
    let (mut m, s) = marked(3, 1_000_002, SCREEN);
    m.issued_at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(2);
    m.expires_at = jiff::Timestamp::now() - jiff::SignedDuration::from_hours(1);
    bad.push(("expired", harness::sign_manifest(&m, &key), s));
    let (m, s) = marked(4, 1_000_003, "gate-b9");
    bad.push(("wrong_screen", harness::sign_manifest(&m, &key), s));
    for (reason, bytes, _) in &bad {
        controller.publish_manifest(bytes.clone()).await;
        controller
            .wait_status(&format!("{reason} rejected"), T, |s| {
                s["last_rejection"]["reason"] == *reason
            })
            .await;
    }
    // Nothing of them is on disk (not the envelope, not a media file), nothing was fetched.
    for (i, (reason, _, sha)) in bad.iter().enumerate() {
        let marker = format!("FORGED-MARKER-{}", i + 1);
        let found = files_containing(&player.data(), marker.as_bytes());
        assert!(found.is_empty(), "{reason}: {marker} stored in {found:?}");
        assert!(
            media.requests_for(sha).is_empty(),
            "{reason}: media fetched"
        );
    }
    // The rejections raised no version counter: a valid v2 is accepted and plays.
    let (b, b_bytes) = harness::slide(2, 1500, 1000);
    media.put(&b.sha256, b_bytes);
    controller
        .publish_manifest(harness::sign_manifest(
            &harness::manifest(SCREEN, 2, &[a.clone(), b.clone()]),
            &key,
        ))
        .await;
    let st = controller
        .wait_status("v2 active", T, |s| s["manifest_version"] == 2)
        .await;
    assert!(st["pending_version"].is_null());
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_rollback_and_equal_version_replay_via_retained_after_reconnect() {
    let broker = TestBroker::start();
    let proxy = CutProxy::start(broker.port).await;
    let media = MediaServer::start().await;
    let key = SecretKey::from_seed([7; 32]);
    let controller = Controller::connect(broker.port, SCREEN, SecretKey::from_seed([7; 32])).await;
    let (a, a_bytes) = harness::slide(1, 1500, 1000);
    media.put(&a.sha256, a_bytes);
    let (b, b_bytes) = harness::slide(2, 1500, 1000);
    media.put(&b.sha256, b_bytes);
    let dir = tempfile::tempdir().unwrap();
    let spec = spec(proxy.url(), &media, &key, "");
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", T, |s| s["state"] == "idle")
        .await;
    let v1 = harness::sign_manifest(
        &harness::manifest(SCREEN, 1, std::slice::from_ref(&a)),
        &key,
    );
    let v2m = harness::manifest(SCREEN, 2, &[a.clone(), b.clone()]);
    let v2 = harness::sign_manifest(&v2m, &key);
    controller.publish_manifest(v1.clone()).await;
    controller
        .wait_status("v1 active", T, |s| s["manifest_version"] == 1)
        .await;
    controller.publish_manifest(v2.clone()).await;
    controller
        .wait_status("v2 active", T, |s| s["manifest_version"] == 2)
        .await;

    // Rollback: the old, validly signed v1 is published (retained) again.
    controller.publish_manifest(v1.clone()).await;
    controller
        .wait_status("v1 replay rejected", T, |s| {
            s["last_rejection"]["reason"] == "not_newer" && s["last_rejection"]["version"] == 1
        })
        .await;
    // After a reconnect the broker hands the retained v1 over again: still refused.
    proxy.cut();
    controller
        .wait_status("offline", T, |s| s["state"] == "offline")
        .await;
    controller.state.lock().unwrap().statuses.clear();
    proxy.restore();
    let st = controller
        .wait_status("back online", T, |s| {
            s["state"] != "offline" && s["last_rejection"]["version"] == 1
        })
        .await;
    assert_eq!(st["manifest_version"], 2);

    // Equal version, same bytes (a retained duplicate): ignored. Equal version, other
    // content: refused as not newer.
    let mut fork = v2m.clone();
    fork.media[1].title = "forked v2".into();
    controller
        .publish_manifest(harness::sign_manifest(&fork, &key))
        .await;
    controller
        .wait_status("forked v2 rejected", T, |s| {
            s["last_rejection"]["reason"] == "not_newer" && s["last_rejection"]["version"] == 2
        })
        .await;
    controller.publish_manifest(v2.clone()).await;

    // Across a restart (kill -9) with the retained v1 on the broker: v2 stays active.
    controller.publish_manifest(v1.clone()).await;
    player.kill9().await;
    controller.state.lock().unwrap().statuses.clear();
    let mut player = PlayerProc::start(dir.path(), &spec);
    let st = controller
        .wait_status("restarted, v1 refused again", T, |s| {
            s["state"] != "offline"
                && s["last_rejection"]["reason"] == "not_newer"
                && s["last_rejection"]["version"] == 1
        })
        .await;
    assert_eq!(st["manifest_version"], 2, "{st}");
    let n = controller.state.lock().unwrap().receipts.len();
    controller
        .wait_received("playback goes on", T, |r| r.receipts.len() >= n + 2)
        .await;
    let last = controller
        .state
        .lock()
        .unwrap()
        .receipts
        .values()
        .last()
        .cloned()
        .unwrap();
    assert_eq!(
        playlists::receipt::Receipt::parse(&last)
            .unwrap()
            .manifest_version,
        2
    );
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_forged_ack_never_prunes_the_journal() {
    let broker = TestBroker::start();
    let media = MediaServer::start().await;
    let key = SecretKey::from_seed([7; 32]);
    let attacker = SecretKey::from_seed([66; 32]);
    let controller = Controller::connect(broker.port, SCREEN, SecretKey::from_seed([7; 32])).await;
    controller.set_auto_ack(false);
    let (a, a_bytes) = harness::slide(1, 1500, 1000);
    media.put(&a.sha256, a_bytes);
    let dir = tempfile::tempdir().unwrap();
    let mut s = spec(broker.url(), &media, &key, "ack_timeout_ms = 1000\n");
    s.null_speed = 2.0; // a receipt every 0.5 s
    let mut player = PlayerProc::start(dir.path(), &s);
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
        .wait_received("5 receipts uploaded", T, |r| r.receipts.len() >= 5)
        .await;

    let ack_topic = topics::topic(SCREEN, Kind::Ack);
    let ack = |screen: &str| Ack {
        screen: screen.into(),
        epoch: 1,
        key_id: None,
        upto_seq: 1_000_000,
    };
    let forged: Vec<Vec<u8>> = vec![
        // Unsigned JSON.
        ack(SCREEN).to_json(),
        // Signed by another key; by another key claiming the pinned key id.
        sign_ack(&ack(SCREEN), &attacker).to_json(),
        {
            let mut e = sign_ack(&ack(SCREEN), &attacker);
            e.signatures[0].keyid = key.key_id();
            e.to_json()
        },
        // Signed by the right key, but for another screen, or as another payload type.
        sign_ack(&ack("gate-b9"), &key).to_json(),
        Envelope::sign(ALERT_TYPE, ack(SCREEN).to_json(), &key).to_json(),
        // No signature at all.
        {
            let mut e = sign_ack(&ack(SCREEN), &key);
            e.signatures.clear();
            e.to_json()
        },
        b"garbage".to_vec(),
    ];
    for f in forged {
        controller
            .client
            .publish(&ack_topic, QoS::AtLeastOnce, false, f)
            .await
            .unwrap();
    }
    // Then a valid ack for seq 1 only, on the same topic (delivered after the forgeries).
    controller.ack(1).await;
    // Seq 2 is resent (it is still in the journal): had a forged ack been believed, nothing
    // below 1 000 000 would be left to resend.
    let dup0 = controller.state.lock().unwrap().duplicates;
    controller
        .wait_received("seq 2.. resent after the ack timeout", T, |r| {
            r.duplicates > dup0
        })
        .await;
    controller
        .wait_status("backlog still there", T, |s| {
            s["journal_backlog"].as_u64().is_some_and(|b| b >= 4)
        })
        .await;
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
    assert_journal_kept_all_but_seq_1(&player, &controller);
}

/// After a valid ack of seq 1 only (and forged or replayed acks claiming far more): the
/// stopped player's journal, read through its API, holds every receipt the controller was sent
/// from seq 2 on, and no longer seq 1 (so an ack the player believes does prune).
fn assert_journal_kept_all_but_seq_1(player: &PlayerProc, controller: &Controller) {
    let uploaded: Vec<u64> = controller
        .state
        .lock()
        .unwrap()
        .receipts
        .keys()
        .copied()
        .collect();
    assert!(uploaded.len() >= 5, "uploaded: {uploaded:?}");
    let unacked = player.unacked_seqs();
    assert_eq!(
        unacked.first(),
        Some(&2),
        "the journal must start at seq 2 (seq 1 acked, nothing else): {unacked:?}"
    );
    for seq in uploaded.iter().filter(|&&s| s >= 2) {
        assert!(
            unacked.contains(seq),
            "receipt {seq} left the journal although only seq 1 was validly acked: {unacked:?}"
        );
    }
}

/// A media server whose `/media/<sha>` answers come from `handler`.
async fn mirror(
    handler: impl Fn() -> warp::reply::Response + Send + Sync + 'static,
) -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let h2 = hits.clone();
    let handler = Arc::new(handler);
    let route = warp::get()
        .and(warp::path!("media" / String))
        .map(move |_sha: String| {
            h2.fetch_add(1, Ordering::SeqCst);
            handler()
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (url, hits)
}

#[tokio::test]
async fn attack_media_hash_mismatch_from_a_malicious_mirror() {
    let (m, good) = harness::slide(7, 30_000, 1000);
    let evil: Vec<u8> = good.iter().map(|b| b ^ 0xff).collect();
    let evil_bytes = Bytes::from(evil);
    let (evil_url, evil_hits) =
        mirror(move || warp::http::Response::new(evil_bytes.clone()).into_response()).await;
    let good_bytes = Bytes::from(good.clone());
    let (good_url, _) =
        mirror(move || warp::http::Response::new(good_bytes.clone()).into_response()).await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cache = Cache::open(dir.path(), &store, None)
        .unwrap()
        .with_retry(RetryPolicy {
            initial: Duration::from_millis(10),
            max: Duration::from_millis(50),
        });
    let want = vec![Wanted {
        sha256: m.sha256.clone(),
        bytes: m.bytes,
    }];
    let (tx, _rx) = watch::channel(CacheProgress::default());
    // The first mirror lies; the cache verifies, discards and takes the file from the next.
    tokio::time::timeout(T, cache.sync(&want, &[evil_url, good_url], &tx))
        .await
        .expect("sync finishes")
        .unwrap();
    assert!(evil_hits.load(Ordering::SeqCst) >= 1);
    let path = cache.path(&m.sha256).expect("cached");
    assert_eq!(
        std::fs::read(path).unwrap(),
        good,
        "only verified bytes are cached"
    );
}

#[tokio::test]
async fn attack_media_endless_data_is_cut_off() {
    let (m, good) = harness::slide(8, 20_000, 1000);
    // A mirror that starts with the right bytes and then never stops sending.
    let served = Arc::new(AtomicUsize::new(0));
    let s2 = served.clone();
    let prefix = Bytes::from(good.clone());
    let (url, _) = mirror(move || {
        let s3 = s2.clone();
        let chunk = Bytes::from(vec![0x42u8; 16 * 1024]);
        let first = futures_util::stream::iter([Ok::<Bytes, std::io::Error>(prefix.clone())]);
        let endless = futures_util::stream::repeat_with(move || {
            s3.fetch_add(chunk.len(), Ordering::SeqCst);
            Ok::<Bytes, std::io::Error>(chunk.clone())
        });
        warp::reply::stream(futures_util::StreamExt::chain(first, endless)).into_response()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let cache = Cache::open(dir.path(), &store, None)
        .unwrap()
        .with_retry(RetryPolicy {
            initial: Duration::from_secs(600),
            max: Duration::from_secs(600),
        });
    let want = vec![Wanted {
        sha256: m.sha256.clone(),
        bytes: m.bytes,
    }];
    let (tx, mut rx) = watch::channel(CacheProgress::default());
    let (c2, base) = (cache.clone(), url.clone());
    let task = tokio::spawn(async move { c2.sync(&want, &[base], &tx).await });
    let err = tokio::time::timeout(T, async {
        loop {
            rx.changed().await.unwrap();
            if let Some(e) = rx.borrow().last_error.clone() {
                return e;
            }
        }
    })
    .await
    .expect("the download is refused");
    assert!(err.contains("more bytes than"), "{err}");
    task.abort();
    let _ = task.await;
    assert!(cache.path(&m.sha256).is_none());
    assert!(!cache.dir().join(&m.sha256).exists());
    assert!(!cache.dir().join(format!("{}.part", m.sha256)).exists());
    // The player stopped reading long before the stream could fill memory or disk.
    assert!(
        served.load(Ordering::SeqCst) < 64 * 1024 * 1024,
        "the endless stream kept being read: {} bytes",
        served.load(Ordering::SeqCst)
    );
}

#[tokio::test]
async fn attack_weak_controller_key_in_config_is_refused() {
    // A configuration (hand-written, or tampered with) pinning the identity point as the
    // controller key would accept forged manifests under a non-strict verifier: the player
    // refuses to start with it.
    let media = MediaServer::start().await;
    let dir = tempfile::tempdir().unwrap();
    let key = SecretKey::from_seed([7; 32]);
    let config = harness::write_config(
        dir.path(),
        &spec("mqtt://127.0.0.1:9".into(), &media, &key, ""),
    );
    let weak = "AQAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=";
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace(&key.public().to_base64(), weak);
    assert!(text.contains(weak));
    std::fs::write(&config, text).unwrap();
    let out = tokio::time::timeout(
        T,
        tokio::process::Command::new(env!("CARGO_BIN_EXE_gatecast-player"))
            .arg("run")
            .arg("--config")
            .arg(&config)
            .output(),
    )
    .await
    .expect("the player exits at once")
    .unwrap();
    assert!(
        !out.status.success(),
        "the player ran with a weak controller key"
    );
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("controller_key"), "{err}");
    assert!(err.contains("weak"), "the error says why: {err}");
}

/// docs/security.md row 45: an ack of an earlier box of the same screen (another enrolment
/// epoch or device key), replayed to the new box, never prunes its journal.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_reenrolment_replayed_old_epoch_ack_never_prunes_the_journal() {
    let broker = TestBroker::start();
    let media = MediaServer::start().await;
    let key = SecretKey::from_seed([7; 32]);
    let controller = Controller::connect(broker.port, SCREEN, SecretKey::from_seed([7; 32])).await;
    controller.set_auto_ack(false);
    let (a, a_bytes) = harness::slide(1, 1500, 1000);
    media.put(&a.sha256, a_bytes);
    let dir = tempfile::tempdir().unwrap();
    // This box is the screen's second enrolment.
    let mut s = spec(
        broker.url(),
        &media,
        &key,
        "ack_timeout_ms = 1000\nepoch = 2\n",
    );
    s.null_speed = 2.0; // a receipt every 0.5 s
    let mut player = PlayerProc::start(dir.path(), &s);
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
        .wait_received("5 receipts uploaded", T, |r| r.receipts.len() >= 5)
        .await;
    let (epoch, _) = controller.state.lock().unwrap().chain.clone().unwrap();
    assert_eq!(epoch, 2, "the batches name the box's epoch");

    // The old box's acks, signed by the real controller key: of epoch 1 with the old device
    // key id, from before epochs (no epoch, no key id), and of epoch 2 naming another key.
    let old_key_id = SecretKey::from_seed([42; 32]).key_id();
    for replayed in [
        harness::ack_of(SCREEN, Some((1, old_key_id.clone())), 1_000_000),
        harness::ack_of(SCREEN, None, 1_000_000),
        harness::ack_of(SCREEN, Some((2, old_key_id)), 1_000_000),
    ] {
        controller.publish_ack(&replayed).await;
    }
    // Then the valid ack of this box's chain, for seq 1 only.
    controller.ack(1).await;
    let dup0 = controller.state.lock().unwrap().duplicates;
    controller
        .wait_received("seq 2.. resent after the ack timeout", T, |r| {
            r.duplicates > dup0
        })
        .await;
    let st = controller
        .wait_status("backlog still there", T, |s| {
            s["journal_backlog"].as_u64().is_some_and(|b| b >= 4)
        })
        .await;
    assert!(st["journal_backlog"].as_u64().unwrap() >= 4, "{st}");
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
    assert_journal_kept_all_but_seq_1(&player, &controller);
}
