//! Ingest on a real store without MQTT: group commit (one flush, one ack per screen), acks go
//! out on the non-retained path, conflicts are kept as evidence.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use gatecast_controller::ingest::{Applied, Ingest, IngestMetrics};
use gatecast_controller::publish::Outbox;
use gatecast_controller::store::{ScreenRecord, Store};
use playlists::keys::{KeySet, SecretKey};
use playlists::receipt::{
    receipt_hash, sign_batch, sign_batch_epoch, verify_ack, Backend, Outcome, OwnChain, Receipt,
    GENESIS_PREV,
};
use playlists::topics::{topic, Kind};

/// Records every message and whether it was sent retained.
#[derive(Default)]
struct Recorder(Mutex<Vec<(String, Vec<u8>, bool)>>);

impl Outbox for Recorder {
    fn send(
        &self,
        topic: String,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        self.0.lock().unwrap().push((topic, payload, true));
        Box::pin(async { Ok(()) })
    }

    fn send_unretained(
        &self,
        topic: String,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        self.0.lock().unwrap().push((topic, payload, false));
        Box::pin(async { Ok(()) })
    }
}

fn receipt(screen: &str, seq: u64, prev: &str, outcome: Outcome) -> Vec<u8> {
    let start = jiff::Timestamp::from_second(1_790_000_000 + seq as i64 * 10).unwrap();
    Receipt {
        seq,
        screen: screen.into(),
        manifest_version: 1,
        playlist: "p1".into(),
        media: "cd".repeat(32),
        lang: "vi".into(),
        started_at: start,
        ended_at: start + jiff::SignedDuration::from_millis(5_000),
        outcome,
        backend: Backend::Mpv,
        clock_synced: true,
        prev: prev.into(),
        subtitle_lang: None,
    }
    .to_bytes()
}

fn chain(screen: &str, n: u64) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for seq in 1..=n {
        let prev = out
            .last()
            .map_or(GENESIS_PREV.to_string(), |b| receipt_hash(b));
        out.push(receipt(screen, seq, &prev, Outcome::Completed));
    }
    out
}

async fn setup(dir: &std::path::Path) -> (Ingest, Arc<Recorder>, SecretKey, SecretKey) {
    let store = Store::open(dir).unwrap();
    let (ka, kb) = (SecretKey::from_seed([1; 32]), SecretKey::from_seed([2; 32]));
    for (id, k) in [("scr-a", &ka), ("scr-b", &kb)] {
        store
            .put_screen(&ScreenRecord {
                id: id.into(),
                name: id.into(),
                gate: "g".into(),
                languages: vec!["vi".into()],
                timezone: "UTC".into(),
                mqtt_password_hash: String::new(),
                mqtt_login_sha256: None,
                disabled: false,
                device_key: Some(k.public().to_base64()),
                enrolled_at: Some("2026-01-01T00:00:00Z".into()),
                created_at: "2026-01-01T00:00:00Z".into(),
                epochs: vec![],
            })
            .await
            .unwrap();
    }
    let out = Arc::new(Recorder::default());
    let ingest = Ingest {
        store,
        key: Arc::new(SecretKey::from_seed([9; 32])),
        outbox: out.clone(),
        metrics: Arc::new(IngestMetrics::default()),
    };
    (ingest, out, ka, kb)
}

#[tokio::test]
async fn audit_ingest_group_commit_one_flush_one_unretained_ack_per_screen() {
    let dir = tempfile::tempdir().unwrap();
    let (ingest, out, ka, kb) = setup(dir.path()).await;
    let a = chain("scr-a", 4);
    let b = chain("scr-b", 2);
    let group = vec![
        (
            "scr-a".to_string(),
            sign_batch("scr-a", &a[..2], &ka).to_json(),
        ),
        ("scr-b".to_string(), sign_batch("scr-b", &b, &kb).to_json()),
        (
            "scr-a".to_string(),
            sign_batch("scr-a", &a[2..], &ka).to_json(),
        ),
    ];
    let envelopes: Vec<Vec<u8>> = group.iter().map(|(_, e)| e.clone()).collect();
    let res = ingest.ingest_group(group).await.unwrap();
    assert!(
        res.iter().all(|r| matches!(r, Applied::Stored { .. })),
        "{res:?}"
    );
    assert_eq!(
        ingest
            .metrics
            .flushes
            .load(std::sync::atomic::Ordering::Relaxed),
        1
    );
    // The envelopes (and the runs of their receipts) went to the value log beside sled's
    // trees, and come back byte for byte as the log's leaves.
    let segment = std::fs::metadata(dir.path().join("values").join("00000001.seg"))
        .expect("the value log's first segment")
        .len();
    let total: usize = envelopes.iter().map(Vec::len).sum();
    assert!(segment as usize > total, "{segment} bytes < {total}");
    for (i, env) in envelopes.iter().enumerate() {
        let leaf = ingest.store.log_leaf(i as u64).unwrap().unwrap();
        assert_eq!(&leaf.data, env, "leaf {i}");
    }
    let sent = out.0.lock().unwrap().clone();
    assert_eq!(sent.len(), 2, "one ack per screen: {sent:?}");
    let ctl = KeySet::from_keys([ingest.key.public()]);
    for (screen, upto, key) in [("scr-a", 4, &ka), ("scr-b", 2, &kb)] {
        let (t, bytes, retained) = sent
            .iter()
            .find(|(t, _, _)| *t == topic(screen, Kind::Ack))
            .unwrap();
        assert!(!retained, "ack on {t} was sent retained");
        let key_id = key.key_id();
        let own = OwnChain {
            screen,
            epoch: 1,
            key_id: &key_id,
        };
        assert_eq!(verify_ack(bytes, &ctl, &own).unwrap().upto_seq, upto);
    }
    assert_eq!(ingest.store.log_size().unwrap(), 3);
}

#[tokio::test]
async fn audit_ingest_conflict_is_rejected_and_kept_as_evidence() {
    let dir = tempfile::tempdir().unwrap();
    let (ingest, out, ka, _) = setup(dir.path()).await;
    let a = chain("scr-a", 2);
    ingest
        .ingest_group(vec![(
            "scr-a".into(),
            sign_batch("scr-a", &a, &ka).to_json(),
        )])
        .await
        .unwrap();
    let other = receipt("scr-a", 2, &receipt_hash(&a[0]), Outcome::Interrupted);
    let env = sign_batch("scr-a", &[other], &ka).to_json();
    let res = ingest
        .ingest_group(vec![("scr-a".into(), env.clone())])
        .await
        .unwrap();
    assert!(
        matches!(
            res[0],
            Applied::Rejected {
                reason: "duplicate_conflict",
                ..
            }
        ),
        "{res:?}"
    );
    assert_eq!(out.0.lock().unwrap().len(), 1, "no ack for the conflict");
    assert_eq!(ingest.metrics.rejected("duplicate_conflict"), 1);
    let conflicts = ingest.store.receipt_conflicts().unwrap();
    assert_eq!(conflicts.len(), 1);
    assert_eq!(conflicts[0].seq, 2);
    use base64::Engine as _;
    assert_eq!(
        base64::engine::general_purpose::STANDARD
            .decode(&conflicts[0].envelope)
            .unwrap(),
        env
    );
    assert_eq!(
        ingest.store.receipt("scr-a", 2).unwrap().unwrap().bytes,
        a[1],
        "the stored receipt is never overwritten"
    );
}

/// A group verified on several cores decides exactly as the serial path: a forgery, a
/// conflict, an exact resend, an overlapping resend and good batches of several screens in one
/// group, each with its own outcome, and the chains stored once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_ingest_group_mixed_outcomes_in_one_parallel_group() {
    let dir = tempfile::tempdir().unwrap();
    let (ingest, out, ka, kb) = setup(dir.path()).await;
    let a = chain("scr-a", 6);
    let b = chain("scr-b", 3);
    let first_a = sign_batch("scr-a", &a[..3], &ka).to_json();
    ingest
        .ingest_group(vec![("scr-a".into(), first_a.clone())])
        .await
        .unwrap();
    let conflicting = receipt("scr-a", 3, &receipt_hash(&a[1]), Outcome::Interrupted);
    let group = vec![
        // Screen B's receipts signed with A's key: a forgery.
        ("scr-b".to_string(), sign_batch("scr-b", &b, &ka).to_json()),
        // An exact resend of A's stored batch, then a conflicting seq 3.
        ("scr-a".to_string(), first_a),
        (
            "scr-a".to_string(),
            sign_batch("scr-a", &[conflicting], &ka).to_json(),
        ),
        // An overlapping resend that also brings seq 4..=6.
        (
            "scr-a".to_string(),
            sign_batch("scr-a", &a[1..], &ka).to_json(),
        ),
        // B's real batch after the forgery.
        ("scr-b".to_string(), sign_batch("scr-b", &b, &kb).to_json()),
    ];
    let res = ingest.ingest_group(group).await.unwrap();
    assert!(
        matches!(
            res[0],
            Applied::Rejected {
                reason: "bad_signature",
                ..
            }
        ),
        "{res:?}"
    );
    assert!(
        matches!(res[1], Applied::Duplicate { tip: Some(3) }),
        "{res:?}"
    );
    assert!(
        matches!(
            res[2],
            Applied::Rejected {
                reason: "duplicate_conflict",
                ..
            }
        ),
        "{res:?}"
    );
    assert!(
        matches!(
            res[3],
            Applied::Stored {
                new_receipts: 3,
                tip: 6,
                ..
            }
        ),
        "{res:?}"
    );
    assert!(
        matches!(
            res[4],
            Applied::Stored {
                new_receipts: 3,
                tip: 3,
                ..
            }
        ),
        "{res:?}"
    );
    for (screen, all) in [("scr-a", &a), ("scr-b", &b)] {
        let stored: Vec<Vec<u8>> = ingest
            .store
            .receipts_of(screen, 1)
            .map(|r| r.unwrap().bytes)
            .collect();
        assert_eq!(&stored, all, "{screen}");
    }
    // One ack for the first group, one per screen for this one.
    assert_eq!(out.0.lock().unwrap().len(), 3);
}

/// Re-enrols `screen` with `key` at `at` (the next enrolment epoch becomes current).
async fn reenrol(ingest: &Ingest, screen: &str, key: &SecretKey, at: &str) -> u64 {
    let mut rec = ingest.store.screen(screen).unwrap().unwrap();
    let epoch = rec.enrol(key.public().to_base64(), at.into());
    ingest.store.put_screen(&rec).await.unwrap();
    epoch
}

/// Conflict evidence is kept per (screen, epoch, seq) (docs/security.md row 49): a conflict at
/// seq 2 of epoch 2 after one at seq 2 of epoch 1 is evidence of its own, not a repeat.
#[tokio::test]
async fn attack_conflict_evidence_of_a_new_epoch_is_kept() {
    let dir = tempfile::tempdir().unwrap();
    let (ingest, _out, ka, _) = setup(dir.path()).await;
    let a = chain("scr-a", 2);
    let conflict = |key: &SecretKey, epoch: u64| {
        let other = receipt("scr-a", 2, &receipt_hash(&a[0]), Outcome::Interrupted);
        sign_batch_epoch("scr-a", epoch, &[other], key).to_json()
    };
    let env1 = conflict(&ka, 1);
    for env in [sign_batch("scr-a", &a, &ka).to_json(), env1.clone()] {
        ingest
            .ingest_group(vec![("scr-a".into(), env)])
            .await
            .unwrap();
    }
    let k2 = SecretKey::from_seed([3; 32]);
    assert_eq!(
        reenrol(&ingest, "scr-a", &k2, "2026-02-01T00:00:00Z").await,
        2
    );
    let env2 = conflict(&k2, 2);
    for env in [
        sign_batch_epoch("scr-a", 2, &a, &k2).to_json(),
        env2.clone(),
    ] {
        ingest
            .ingest_group(vec![("scr-a".into(), env)])
            .await
            .unwrap();
    }
    assert_eq!(ingest.metrics.rejected("duplicate_conflict"), 2);
    let conflicts = ingest.store.receipt_conflicts().unwrap();
    let kept: Vec<(u64, u64, u64)> = conflicts
        .iter()
        .map(|c| (c.epoch, c.seq, c.repeats))
        .collect();
    assert_eq!(
        kept,
        vec![(1, 2, 0), (2, 2, 0)],
        "one kept envelope per epoch: {conflicts:?}"
    );
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::STANDARD;
    assert_eq!(b64.decode(&conflicts[1].envelope).unwrap(), env2);
    // A repeat within epoch 2 is counted on the epoch-2 record only.
    ingest
        .ingest_group(vec![("scr-a".into(), env2)])
        .await
        .unwrap();
    let repeats: Vec<u64> = ingest
        .store
        .receipt_conflicts()
        .unwrap()
        .iter()
        .map(|c| c.repeats)
        .collect();
    assert_eq!(repeats, vec![0, 1]);
}

/// `reason` of a rejection (panics on anything else).
fn rejected_reason(a: &Applied) -> &'static str {
    match a {
        Applied::Rejected { reason, .. } => reason,
        other => panic!("expected a rejection, got {other:?}"),
    }
}

/// docs/security.md row 45: a superseded epoch of another box is closed to new receipts that
/// started after the re-enrolment (`epoch_closed`), while its honest backlog, exact resends
/// and overlaps are still taken and acked; an epoch that was never enrolled is `unknown_epoch`;
/// an earlier epoch with the current key (re-enrolled keeping the box) stays open.
#[tokio::test]
async fn attack_superseded_epoch_takes_no_new_receipts() {
    let dir = tempfile::tempdir().unwrap();
    let (ingest, out, ka, kb) = setup(dir.path()).await;
    let a = chain("scr-a", 4);
    let first = sign_batch("scr-a", &a[..2], &ka).to_json();
    let one = |env: Vec<u8>| vec![("scr-a".to_string(), env)];
    ingest.ingest_group(one(first.clone())).await.unwrap();
    // Re-enrolled (another box) between the starts of seq 3 and seq 4.
    let at = jiff::Timestamp::from_second(1_790_000_035)
        .unwrap()
        .to_string();
    let k2 = SecretKey::from_seed([3; 32]);
    assert_eq!(reenrol(&ingest, "scr-a", &k2, &at).await, 2);
    let acks_before = out.0.lock().unwrap().len();

    // The old box's honest backlog (seq 3 started before), an exact resend, an overlap.
    let backlog = ingest
        .ingest_group(one(sign_batch("scr-a", &a[2..3], &ka).to_json()))
        .await
        .unwrap();
    assert!(
        matches!(backlog[0], Applied::Stored { tip: 3, .. }),
        "{backlog:?}"
    );
    let resends = ingest
        .ingest_group(vec![
            ("scr-a".into(), first),
            ("scr-a".into(), sign_batch("scr-a", &a[1..3], &ka).to_json()),
        ])
        .await
        .unwrap();
    assert!(
        resends
            .iter()
            .all(|r| matches!(r, Applied::Duplicate { tip: Some(3) })),
        "{resends:?}"
    );
    assert_eq!(
        out.0.lock().unwrap().len(),
        acks_before + 2,
        "the backlog and the resends are acked"
    );

    // A play of the old box after the re-enrolment: refused.
    let late = ingest
        .ingest_group(one(sign_batch("scr-a", &a[3..], &ka).to_json()))
        .await
        .unwrap();
    assert_eq!(rejected_reason(&late[0]), "epoch_closed", "{late:?}");
    assert_eq!(ingest.store.chain_tip("scr-a").unwrap().unwrap().seq, 3);
    // An epoch that was never enrolled.
    let k3 = SecretKey::from_seed([4; 32]);
    let unknown = ingest
        .ingest_group(one(sign_batch_epoch("scr-a", 3, &a[..1], &k3).to_json()))
        .await
        .unwrap();
    assert_eq!(rejected_reason(&unknown[0]), "unknown_epoch", "{unknown:?}");
    assert_eq!(ingest.metrics.rejected("epoch_closed"), 1);
    assert_eq!(ingest.metrics.rejected("unknown_epoch"), 1);
    assert_eq!(out.0.lock().unwrap().len(), acks_before + 2, "no ack");

    // Re-enrolled keeping the same key (the same box): its epoch 1 stays open.
    let b = chain("scr-b", 4);
    assert_eq!(reenrol(&ingest, "scr-b", &kb, &at).await, 2);
    let same_box = ingest
        .ingest_group(vec![(
            "scr-b".into(),
            sign_batch("scr-b", &b, &kb).to_json(),
        )])
        .await
        .unwrap();
    assert!(
        matches!(same_box[0], Applied::Stored { tip: 4, .. }),
        "{same_box:?}"
    );
}

/// Paging `GET /api/v1/receipts` across two epochs of one screen whose receipts started in the
/// same millisecond: the cursor orders by chain (screen and epoch) as the store's time index
/// does, so a page boundary between them neither skips nor repeats a receipt.
#[tokio::test]
async fn audit_receipt_pages_across_two_epochs_in_one_millisecond() {
    use gatecast_controller::audit::query::{paginate, Cursor};
    let dir = tempfile::tempdir().unwrap();
    let (ingest, _out, ka, _) = setup(dir.path()).await;
    // Both chains' seq n start at the same instant (the helper's receipts depend on seq only).
    let a = chain("scr-a", 2);
    ingest
        .ingest_group(vec![(
            "scr-a".into(),
            sign_batch("scr-a", &a, &ka).to_json(),
        )])
        .await
        .unwrap();
    // Re-enrolled keeping the key, so epoch 1 stays open whatever the receipts' times.
    reenrol(&ingest, "scr-a", &ka, "2026-02-01T00:00:00Z").await;
    ingest
        .ingest_group(vec![(
            "scr-a".into(),
            sign_batch_epoch("scr-a", 2, &a, &ka).to_json(),
        )])
        .await
        .unwrap();
    let (from, to) = (jiff::Timestamp::MIN, jiff::Timestamp::MAX);
    for limit in [1, 3] {
        let mut seen = Vec::new();
        let mut cursor: Option<Cursor> = None;
        loop {
            let all = ingest.store.receipts_between(from, to).map(|r| r.unwrap());
            let (page, next) = paginate(all, cursor.as_ref(), limit);
            seen.extend(page.iter().map(|s| (s.epoch, s.receipt.seq)));
            match next {
                Some(c) => cursor = Some(Cursor::decode(&c.encode()).unwrap()),
                None => break,
            }
            assert!(seen.len() <= 4, "pages repeat: {seen:?}");
        }
        assert_eq!(
            seen,
            vec![(1, 1), (2, 1), (1, 2), (2, 2)],
            "page size {limit}"
        );
    }
}
