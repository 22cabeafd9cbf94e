//! Receipts are stored by run (several consecutive receipts of one batch per row, cut at one
//! hour of `started_at`). These tests check that every read answers exactly what a per-receipt
//! index would: time windows that start inside a run, runs that overlap in time, clock jumps
//! backwards inside a batch, plays hours apart, and that a schema 1 database (one row per
//! receipt) is converted on open without losing or changing a receipt.

use crate::audit_query_support;

use std::path::Path;
use std::time::{Duration, Instant};

use audit_query_support::{add_screen, store_plays, ts, Play, SCREEN};
use gatecast_controller::store::Store;
use jiff::{SignedDuration, Timestamp};
use playlists::receipt::{Backend, Outcome, Receipt};

/// Plays with awkward timing: minutes apart, then hours apart (each its own run), then the
/// clock jumps back two days for a while, then many plays in the same millisecond.
fn awkward_plays() -> Vec<Play> {
    let base = ts("2026-03-01T08:00:00Z");
    let mut at = Vec::new();
    for i in 0..120 {
        at.push(base + SignedDuration::from_secs(i * 70));
    }
    for i in 0..30 {
        at.push(base + SignedDuration::from_hours(3 + i * 2));
    }
    let back = base - SignedDuration::from_hours(48);
    for i in 0..60 {
        at.push(back + SignedDuration::from_secs(i * 45));
    }
    let same = base + SignedDuration::from_hours(100);
    for _ in 0..40 {
        at.push(same);
    }
    at.into_iter()
        .enumerate()
        .map(|(i, at)| Play {
            at,
            secs: 30,
            playlist: "pl-main".into(),
            media: format!("{:064x}", i % 7),
            lang: ["vi", "en", "zh", "hmn"][i % 4].into(),
            outcome: Outcome::Completed,
            backend: Backend::Null,
        })
        .collect()
}

/// What a per-receipt time index answers: receipts with `started_at` in `[from, to)`, ordered
/// by started_at, then seq (one screen).
fn expected(all: &[Vec<u8>], from: Timestamp, to: Timestamp) -> Vec<u64> {
    let mut v: Vec<(i64, u64)> = all
        .iter()
        .map(|b| Receipt::parse(b).unwrap())
        .filter(|r| r.started_at >= from && r.started_at < to)
        .map(|r| (r.started_at.as_millisecond(), r.seq))
        .collect();
    v.sort();
    v.into_iter().map(|(_, s)| s).collect()
}

/// A store in `dir` holding [`awkward_plays`] of `SCREEN`; returns it and the receipts' bytes.
async fn awkward_store(dir: &Path) -> (Store, Vec<Vec<u8>>) {
    let store = Store::open(dir).unwrap();
    add_screen(&store, "lao-cai").await;
    let all = store_plays(&store, &awkward_plays()).await;
    (store, all)
}

fn between(store: &Store, from: Timestamp, to: Timestamp) -> Vec<u64> {
    store
        .receipts_between(from, to)
        .map(|r| r.unwrap().receipt.seq)
        .collect()
}

fn windows(all: &[Vec<u8>]) -> Vec<(Timestamp, Timestamp)> {
    let mut w = vec![(Timestamp::MIN, Timestamp::MAX)];
    // Windows starting and ending at (and one ms around) every 17th receipt's start: most of
    // them fall inside a run.
    for b in all.iter().step_by(17) {
        let t = Receipt::parse(b).unwrap().started_at;
        let ms = SignedDuration::from_millis(1);
        w.push((t, t + SignedDuration::from_mins(30)));
        w.push((t + ms, t + SignedDuration::from_hours(5)));
        w.push((t - SignedDuration::from_hours(2), t));
        w.push((t, t + ms));
    }
    w
}

#[tokio::test]
async fn time_windows_answer_exactly_what_a_per_receipt_index_would() {
    let dir = tempfile::tempdir().unwrap();
    let (store, all) = awkward_store(&dir.path().join("db")).await;
    assert_eq!(all.len(), 250);
    for (from, to) in windows(&all) {
        assert_eq!(
            between(&store, from, to),
            expected(&all, from, to),
            "window [{from}, {to})"
        );
    }
}

#[tokio::test]
async fn single_receipts_and_seq_ranges_come_back_byte_exact() {
    let dir = tempfile::tempdir().unwrap();
    let (store, all) = awkward_store(&dir.path().join("db")).await;
    for (i, bytes) in all.iter().enumerate() {
        let seq = i as u64 + 1;
        let r = store.receipt(SCREEN, seq).unwrap().expect("stored");
        assert_eq!(&r.bytes, bytes, "seq {seq}");
        assert_eq!(r.receipt.seq, seq);
        assert_eq!(
            store.receipt_hash_at(SCREEN, seq).unwrap().unwrap(),
            playlists::receipt::receipt_hash(bytes)
        );
    }
    assert!(store.receipt(SCREEN, 0).unwrap().is_none());
    assert!(store.receipt(SCREEN, 251).unwrap().is_none());
    assert!(store.receipt("other-screen", 1).unwrap().is_none());
    for from in [1u64, 2, 99, 100, 101, 150, 250, 251] {
        let seqs: Vec<u64> = store
            .receipts_of(SCREEN, from)
            .map(|r| r.unwrap().receipt.seq)
            .collect();
        let want: Vec<u64> = (from..=250).collect();
        assert_eq!(seqs, want, "receipts_of from {from}");
    }
}

/// Rewrites the runs of a current database as schema 1 rows (one `receipts` row and one
/// `receipt_time` key per receipt), as the previous build stored them.
fn downgrade_to_schema_1(path: &Path) {
    // The receipts, from the leaves (each batch leaf holds its exact envelope; the run format
    // is private), read through the store: it resolves leaves kept in the value log.
    let store_rows: Vec<(u64, Vec<u8>, u64)> = {
        let store = Store::open(path).expect("opening the store to read its leaves");
        let mut rows = Vec::new();
        for index in 0..store.log_size().unwrap() {
            let leaf = store.log_leaf(index).unwrap().unwrap();
            if leaf.kind != gatecast_controller::store::LeafKind::Batch {
                continue;
            }
            let env = playlists::envelope::Envelope::parse(&leaf.data).unwrap();
            let batch: serde_json::Value = serde_json::from_slice(&env.payload).unwrap();
            for r in batch["receipts"].as_array().unwrap() {
                let text = r.as_str().unwrap().as_bytes().to_vec();
                let seq = Receipt::parse(&text).unwrap().seq;
                rows.push((seq, text, index));
            }
        }
        rows
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let db = loop {
        match sled::open(path) {
            Ok(db) => break db,
            Err(_) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(50)),
            Err(e) => panic!("opening sled: {e}"),
        }
    };
    let old = db.open_tree("receipts").unwrap();
    let old_time = db.open_tree("receipt_time").unwrap();
    for (seq, text, index) in &store_rows {
        let mut key = SCREEN.as_bytes().to_vec();
        key.push(b'/');
        key.extend_from_slice(&seq.to_be_bytes());
        let row = serde_json::json!({
            "bytes": std::str::from_utf8(text).unwrap(),
            "received_at": "2026-01-06T00:00:00Z",
            "batch_index": index,
        });
        old.insert(&key, serde_json::to_vec(&row).unwrap()).unwrap();
        let ms = Receipt::parse(text).unwrap().started_at.as_millisecond();
        let mut tk = ((ms as u64) ^ (1u64 << 63)).to_be_bytes().to_vec();
        tk.extend_from_slice(&key);
        old_time.insert(tk, &[][..]).unwrap();
    }
    db.drop_tree("receipt_runs").unwrap();
    db.drop_tree("receipt_run_time").unwrap();
    db.open_tree("meta")
        .unwrap()
        .insert("schema_version", &b"1"[..])
        .unwrap();
    db.flush().unwrap();
}

#[tokio::test]
async fn a_schema_1_database_is_converted_on_open_without_losing_a_receipt() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("db");
    let all = awkward_store(&path).await.1;
    downgrade_to_schema_1(&path);
    let store = Store::open(&path)
        .expect("reopening the store (Store::open waits for a just-dropped handle's lock)");
    for (from, to) in windows(&all) {
        assert_eq!(
            between(&store, from, to),
            expected(&all, from, to),
            "window [{from}, {to}) after conversion"
        );
    }
    let seqs: Vec<u64> = store
        .receipts_of(SCREEN, 1)
        .map(|r| r.unwrap().receipt.seq)
        .collect();
    assert_eq!(seqs, (1..=250).collect::<Vec<_>>());
    assert_eq!(store.chain_tip(SCREEN).unwrap().unwrap().seq, 250);
    drop(store);
    // A second open finds the current schema and converts nothing.
    let store = Store::open(&path)
        .expect("reopening the store (Store::open waits for a just-dropped handle's lock)");
    assert_eq!(between(&store, Timestamp::MIN, Timestamp::MAX).len(), 250);
}
