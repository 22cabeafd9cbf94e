//! Receipt ingest with real parts: an in-process controller with its embedded broker, a screen
//! registered and enrolled over HTTP, and an MQTT client that plays the player (signs batches
//! with its device key, publishes them on its `receipts` topic, verifies the acks).

use crate::api_support;
use crate::ingest_support;

use api_support::*;
use ingest_support::*;
use playlists::keys::SecretKey;
use playlists::merkle::{self, verify_checkpoint};
use serde_json::{json, Value};

const SCREEN: &str = "lc-a1";
const NAME: &str = "Lao Cai A1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_ingest_duplicate_batch_stored_once_and_acked_again() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let mut p = player(&ctl, SCREEN, NAME, SecretKey::from_seed([7; 32])).await;
    let c = chain(SCREEN, 3);
    let env = p.send(&c, &p.device.clone()).await;
    let (upto, retain) = p.next_ack().await;
    assert_eq!(upto, 3);
    assert!(!retain, "acks must not be retained");
    let store = ctl.running.store();
    let size = store.log_size().unwrap();

    // The uploader's resend: exactly the same envelope.
    p.send_raw(env.clone()).await;
    assert_eq!(p.next_ack().await.0, 3, "a duplicate is acked again");
    // An overlapping resend: 2..=4 (3 new receipts would be wrong: only 4 is new).
    let c4 = chain(SCREEN, 4);
    p.send(&c4[1..], &p.device.clone()).await;
    assert_eq!(p.next_ack().await.0, 4);

    assert_eq!(
        store.log_size().unwrap(),
        size + 1,
        "the exact duplicate added no leaf, the overlap one"
    );
    let stored: Vec<_> = store
        .receipts_of(SCREEN, 1)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(stored.len(), 4, "each receipt stored once");
    for (i, r) in stored.iter().enumerate() {
        assert_eq!(r.bytes, c4[i], "exact bytes of seq {}", i + 1);
    }
    assert_eq!(
        stored[3].batch_index, size,
        "seq 4 came with the overlapping batch"
    );
    let m = metrics(&ctl).await;
    assert_eq!(metric(&m, "gatecast_receipts_stored_total"), 4);
    assert_eq!(metric(&m, "gatecast_receipt_batches_duplicate_total"), 1);
    assert_eq!(metric(&m, "gatecast_receipt_batches_stored_total"), 2);
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_ingest_gap_is_not_acked_past() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let mut p = player(&ctl, SCREEN, NAME, SecretKey::from_seed([7; 32])).await;
    let c = chain(SCREEN, 5);
    let key = p.device.clone();
    p.send(&c[..2], &key).await;
    assert_eq!(p.next_ack().await.0, 2);
    // 4..=5 after a gap (3 missing): rejected, nothing stored, no ack.
    p.send(&c[3..], &key).await;
    wait_metric(
        &ctl,
        "gatecast_receipt_batches_rejected_total{reason=\"seq_gap\"}",
        1,
    )
    .await;
    // Then 3 alone: the next ack covers 3, never 5.
    p.send(&c[2..3], &key).await;
    assert_eq!(p.next_ack().await.0, 3);
    let store = ctl.running.store();
    assert_eq!(store.chain_tip(SCREEN).unwrap().unwrap().seq, 3);
    assert!(store.receipt(SCREEN, 4).unwrap().is_none());
    let (s, rej) = ctl
        .req("GET", "/api/v1/receipts/rejections", Some(&ctl.admin), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(rej["rejections"][0]["reason"], "seq_gap", "{rej}");
    // Resending 3..=5 now continues the chain.
    p.send(&c[2..], &key).await;
    assert_eq!(p.next_ack().await.0, 5);
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_ingest_wrong_device_key_rejected_and_counted() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let mut p = player(&ctl, SCREEN, NAME, SecretKey::from_seed([7; 32])).await;
    let c = chain(SCREEN, 2);
    p.send(&c, &SecretKey::from_seed([8; 32])).await;
    wait_metric(
        &ctl,
        "gatecast_receipt_batches_rejected_total{reason=\"bad_signature\"}",
        1,
    )
    .await;
    let store = ctl.running.store();
    assert!(store.chain_tip(SCREEN).unwrap().is_none(), "nothing stored");
    assert!(store.receipt(SCREEN, 1).unwrap().is_none());
    let auditor = ctl.token("auditor").await;
    let (s, rej) = ctl
        .req("GET", "/api/v1/receipts/rejections", Some(&auditor), None)
        .await;
    assert_eq!(s, 200, "{rej}");
    assert_eq!(rej["rejections"].as_array().unwrap().len(), 1);
    assert_eq!(rej["rejections"][0]["reason"], "bad_signature");
    assert_eq!(rej["rejections"][0]["screen"], SCREEN);
    // No ack was sent for it: the first ack the player sees is for its next, valid batch.
    let key = p.device.clone();
    p.send(&c, &key).await;
    assert_eq!(p.next_ack().await.0, 2);
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_ingest_acked_receipts_survive_restart_and_log_proves_them() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let device = SecretKey::from_seed([7; 32]);
    let mut p = player(&ctl, SCREEN, NAME, device.clone()).await;
    let c = chain(SCREEN, 5);
    p.send(&c[..3], &device).await;
    assert_eq!(p.next_ack().await.0, 3);
    let (s, cp1) = ctl
        .req("POST", "/api/v1/log/checkpoint", Some(&ctl.admin), None)
        .await;
    assert_eq!(s, 200, "{cp1}");
    let cp1_bytes = serde_json::to_vec(&cp1).unwrap();
    let old_size = verify_checkpoint(&cp1_bytes, &p.controller).unwrap().size;

    // Restart (the MQTT password is kept by the store; the player reconnects).
    let admin = ctl.admin.clone();
    ctl.running.shutdown().await;
    drop(p);
    let ctl = start(test_config(dir.path())).await;
    assert_eq!(ctl.admin, admin);
    let store = ctl.running.store();
    for seq in 1..=3 {
        assert_eq!(
            store
                .receipt(SCREEN, seq)
                .unwrap()
                .expect("acked receipt kept")
                .bytes,
            c[seq as usize - 1]
        );
    }
    assert_eq!(store.chain_tip(SCREEN).unwrap().unwrap().seq, 3);

    // The chain continues after the restart (new password via a new enrolment code).
    let (s, code) = ctl
        .admin(
            "POST",
            &format!("/api/v1/screens/{SCREEN}/enrollment-code"),
            json!({}),
        )
        .await;
    assert_eq!(s, 201, "{code}");
    let password = enroll(&ctl, SCREEN, &code["enrollment_code"], &device).await;
    let mut p = connect(&ctl, SCREEN, device.clone(), &password).await;
    p.send(&c[3..], &device).await;
    assert_eq!(p.next_ack().await.0, 5);

    // Checkpoint, inclusion of seq 4's batch, consistency with the first checkpoint.
    let (s, cp2) = ctl
        .req("POST", "/api/v1/log/checkpoint", Some(&ctl.admin), None)
        .await;
    assert_eq!(s, 200);
    let cp2 = verify_checkpoint(&serde_json::to_vec(&cp2).unwrap(), &p.controller).unwrap();
    let (s, got) = ctl
        .req("GET", "/api/v1/log/checkpoint", Some(&ctl.admin), None)
        .await;
    assert_eq!(s, 200);
    assert_eq!(
        verify_checkpoint(&serde_json::to_vec(&got).unwrap(), &p.controller).unwrap(),
        cp2
    );
    let leaf = store.receipt(SCREEN, 4).unwrap().unwrap().batch_index;
    let (s, inc) = ctl
        .req(
            "GET",
            &format!("/api/v1/log/proof/inclusion?index={leaf}&size={}", cp2.size),
            Some(&ctl.admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{inc}");
    assert_eq!(inc["kind"], "batch");
    let data = store.log_leaf(leaf).unwrap().unwrap().data;
    let proof = hexes(&inc["proof"]);
    assert!(merkle::verify_inclusion(
        &merkle::leaf_hash(&data),
        leaf,
        cp2.size,
        &proof,
        &cp2.root_hash().unwrap()
    ));
    let (s, con) = ctl
        .req(
            "GET",
            &format!(
                "/api/v1/log/proof/consistency?from={old_size}&to={}",
                cp2.size
            ),
            Some(&ctl.admin),
            None,
        )
        .await;
    assert_eq!(s, 200, "{con}");
    let cp1 = verify_checkpoint(&cp1_bytes, &p.controller).unwrap();
    assert!(merkle::verify_consistency(
        cp1.size,
        cp2.size,
        &cp1.root_hash().unwrap(),
        &cp2.root_hash().unwrap(),
        &hexes(&con["proof"])
    ));
    // Operator actions are leaves too (screen registration, enrolments, …).
    let kinds: Vec<_> = (0..cp2.size)
        .map(|i| store.log_leaf(i).unwrap().unwrap().kind)
        .collect();
    assert!(kinds.contains(&gatecast_controller::store::LeafKind::Action));
    let (s, bad) = ctl
        .req(
            "GET",
            &format!("/api/v1/log/proof/inclusion?index={}&size=1", cp2.size),
            Some(&ctl.admin),
            None,
        )
        .await;
    assert_eq!(s, 400, "{bad}");
    ctl.running.shutdown().await;
}

fn hexes(v: &Value) -> Vec<merkle::Hash> {
    v.as_array()
        .unwrap()
        .iter()
        .map(|h| merkle::hash_from_hex(h.as_str().unwrap()).unwrap())
        .collect()
}
