//! Receipt reads are consistent snapshots while receipts keep arriving.
//!
//! The time index is not append-only: a screen that was cut off (a controller restart, a
//! network outage) uploads its backlog late, so those receipts land *behind* newer receipts of
//! other screens. A read that has already passed that point used to miss them but still return
//! the same screen's receipts stored afterwards with a later `started_at`: a `seq` gap that
//! looks exactly like lost receipts (found by `fault_controller_kill9_during_ingest_keeps_acked_receipts`:
//! `lc-k1` 1–6062 and 6098… returned, 6063–6097 stored but not returned). Every read now shows
//! each screen's chain `1..=tip` as it stood when the read (or the first page) started.

use crate::api_support;
use crate::audit_query_support;

use api_support::{start, test_config};
use audit_query_support::{add_screen_with_id, device_key, ts};
use gatecast_controller::store::Store;
use jiff::{SignedDuration, Timestamp};
use playlists::receipt::{
    receipt_hash, sign_batch, verify_batch, Backend, Outcome, Receipt, GENESIS_PREV,
};
use serde_json::Value;

const LATE: &str = "lc-late";
const BUSY: &str = "lc-busy";
const MEDIA: &str = "1111111111111111111111111111111111111111111111111111111111111111";

fn t0() -> Timestamp {
    ts("2026-01-05T08:00:00Z")
}

fn at(secs: i64) -> Timestamp {
    t0() + SignedDuration::from_secs(secs)
}

/// Appends one receipt per instant of `starts` to `screen`'s chain (after its stored tip), in
/// one signed batch, verified and stored as the ingest does (not flushed).
fn append(store: &Store, screen: &str, starts: &[Timestamp]) {
    let tip = store.chain_tip(screen).unwrap();
    let first = tip.as_ref().map_or(0, |t| t.seq) + 1;
    let mut prev = tip.map_or(GENESIS_PREV.to_string(), |t| t.hash);
    let mut batch = Vec::new();
    for (seq, &start) in (first..).zip(starts) {
        let bytes = Receipt {
            seq,
            screen: screen.into(),
            manifest_version: 1,
            playlist: "chào-mừng".into(),
            media: MEDIA.into(),
            lang: "vi".into(),
            started_at: start,
            ended_at: start + SignedDuration::from_millis(500),
            outcome: Outcome::Completed,
            backend: Backend::Null,
            clock_synced: true,
            prev: prev.clone(),
            subtitle_lang: None,
        }
        .to_bytes();
        prev = receipt_hash(&bytes);
        batch.push(bytes);
    }
    let key = device_key();
    for chunk in batch.chunks(100) {
        let env = sign_batch(screen, chunk, &key).to_json();
        store.with_log_lock(|log| {
            let tip = store.chain_tip(screen).unwrap();
            let lookup = |seq: u64| store.receipt_hash_at(screen, seq).ok().flatten();
            let v = verify_batch(&env, &key.public(), screen, tip.as_ref(), &lookup)
                .expect("test batch verifies");
            log.store_batch(screen, &env, &v, "2026-01-05T09:00:00Z")
                .unwrap();
        });
    }
}

/// `LATE`: 3 receipts from t0; `BUSY`: 200 receipts, one a second from t0 (enough for the
/// time index to span many sled nodes).
async fn fill(store: &Store) {
    add_screen_with_id(store, LATE, "Lào Cai").await;
    add_screen_with_id(store, BUSY, "Lào Cai").await;
    append(store, LATE, &[at(0), at(1), at(2)]);
    append(store, BUSY, &(0..200).map(at).collect::<Vec<_>>());
    store.flush().await.unwrap();
}

/// `LATE`'s backlog arrives: seq 4–6 started at t0+50 s (behind a reader that has passed
/// t0+100 s), then seq 7 started at t0+1000 s (ahead of it).
fn late_backlog(store: &Store) {
    append(store, LATE, &[at(50), at(51), at(52)]);
    append(store, LATE, &[at(1000)]);
}

/// The seqs of `screen` among `rows`, sorted, asserted to be `1..=n` (no gap).
fn contiguous(rows: &[(String, u64)], screen: &str, what: &str) -> Vec<u64> {
    let mut seqs: Vec<u64> = rows
        .iter()
        .filter(|(s, _)| s == screen)
        .map(|(_, q)| *q)
        .collect();
    seqs.sort_unstable();
    let want: Vec<u64> = (1..=seqs.len() as u64).collect();
    assert_eq!(
        seqs, want,
        "{what}: {screen}: a gap in the returned seqs (receipts stored but not returned)"
    );
    seqs
}

#[tokio::test]
async fn receipts_between_skips_no_late_receipt_while_reading() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("db")).unwrap();
    fill(&store).await;

    let mut rows = Vec::new();
    let mut it = store.receipts_between(Timestamp::MIN, Timestamp::MAX);
    for r in it.by_ref() {
        let r = r.unwrap().receipt;
        let past = r.screen == BUSY && r.started_at >= at(100);
        rows.push((r.screen, r.seq));
        if past {
            break;
        }
    }
    late_backlog(&store);
    for r in it {
        let r = r.unwrap().receipt;
        rows.push((r.screen, r.seq));
    }
    assert_eq!(contiguous(&rows, BUSY, "read while ingesting").len(), 200);
    assert_eq!(
        contiguous(&rows, LATE, "read while ingesting"),
        [1, 2, 3],
        "the read shows the chains as stored when it started"
    );

    // Nothing was lost: a read after the backlog returns all of it.
    let after: Vec<(String, u64)> = store
        .receipts_between(Timestamp::MIN, Timestamp::MAX)
        .map(|r| r.map(|s| (s.receipt.screen, s.receipt.seq)))
        .collect::<Result<_, _>>()
        .unwrap();
    assert_eq!(contiguous(&after, LATE, "read afterwards").len(), 7);
    assert_eq!(contiguous(&after, BUSY, "read afterwards").len(), 200);
}

#[tokio::test]
async fn receipts_pages_skip_no_late_receipt_while_paging() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    fill(ctl.running.store()).await;
    let auditor = ctl.token("auditor").await;

    let page = |path: String| {
        let (ctl, auditor) = (&ctl, auditor.clone());
        async move {
            let (s, v) = ctl.req("GET", &path, Some(&auditor), None).await;
            assert_eq!(s, 200, "{path}: {v}");
            let rows: Vec<(String, u64)> = v["receipts"]
                .as_array()
                .unwrap()
                .iter()
                .map(|r| {
                    (
                        r["screen"].as_str().unwrap().to_string(),
                        r["seq"].as_u64().unwrap(),
                    )
                })
                .collect();
            (rows, v["next_cursor"].as_str().map(str::to_string))
        }
    };

    // First page: up to t0+~100 s.
    let (mut rows, mut next) = page("/api/v1/receipts?limit=120".into()).await;
    assert!(next.is_some(), "more pages follow");
    late_backlog(ctl.running.store());
    ctl.running.store().flush().await.unwrap();
    let mut pages = 1;
    while let Some(c) = next {
        let (more, n) = page(format!("/api/v1/receipts?limit=120&cursor={c}")).await;
        rows.extend(more);
        next = n;
        pages += 1;
        assert!(pages < 10, "paging ends");
    }
    assert_eq!(contiguous(&rows, BUSY, "paged while ingesting").len(), 200);
    assert_eq!(
        contiguous(&rows, LATE, "paged while ingesting"),
        [1, 2, 3],
        "all pages show the chains as stored at the first page"
    );

    // A new query sees the backlog.
    let (s, v) = ctl
        .req(
            "GET",
            "/api/v1/receipts?screen=lc-late",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, 200, "{v}");
    let seqs: Vec<u64> = v["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [1, 2, 3, 4, 5, 6, 7]);
    assert_eq!(v["next_cursor"], Value::Null);
}
