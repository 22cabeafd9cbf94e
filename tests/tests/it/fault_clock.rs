//! Fault: the wall clock jumps back and forward. Unit level, on the player's own code.
//!
//! A test cannot step the system clock safely, and the player has no injectable wall clock
//! (it calls `jiff::Timestamp::now()`); what it does have is the rule that durations come from
//! the monotonic clock (`std::time::Instant` in the backends, tokio's `Instant` in the
//! uploader) and that receipt order is `seq`/`prev`, never time. So this test checks:
//! - `PlayOutcome::new` makes `ended_at = started_at + monotonic duration`: a wall-clock step
//!   during a play (either way) cannot make a receipt end before it starts;
//! - the journal orders receipts by `seq` and chains them by `prev` whatever their
//!   timestamps: wall-clock times that jump back an hour, forward a day, and back again still
//!   give `seq` 1,2,3,4 linked by `prev`, and the batch verifies exactly as the controller
//!   checks it (`playlists::receipt::verify_batch`).

use std::time::Duration;

use gatecast_player::backend::{Ended, PlayOutcome};
use gatecast_player::journal::{Journal, ReceiptDraft};
use gatecast_player::store::Store;
use jiff::{SignedDuration, Timestamp};
use playlists::keys::SecretKey;
use playlists::receipt::{self, Backend, Outcome};

#[test]
fn fault_clock_jump_play_duration_is_monotonic() {
    let start: Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
    // Whatever the wall clock says at the end, the end is start + the monotonic duration.
    let out = PlayOutcome::new(start, Duration::from_millis(8004), Ended::Completed);
    assert_eq!(out.ended_at, start + SignedDuration::from_millis(8004));
    assert!(out.ended_at >= out.started_at);
    let out = PlayOutcome::new(start, Duration::ZERO, Ended::Interrupted);
    assert_eq!(out.ended_at, out.started_at);
}

#[test]
fn fault_clock_jump_receipts_stay_ordered_by_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let journal = Journal::open(&store, "lc-c1").unwrap();
    let t0: Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
    // Wall-clock starts: normal, one hour back, one day forward, back again.
    let starts = [
        t0,
        t0 - SignedDuration::from_hours(1),
        t0 + SignedDuration::from_hours(24),
        t0 - SignedDuration::from_mins(30),
    ];
    let media = "4857ed14d1683eb6a6a6376f99bf077320aca04d803cff239a2e2914481205ae";
    let mut got = Vec::new();
    for s in starts {
        let out = PlayOutcome::new(s, Duration::from_millis(1500), Ended::Completed);
        let r = journal
            .append(ReceiptDraft {
                manifest_version: 7,
                playlist: "welcome".into(),
                media: media.into(),
                lang: "vi".into(),
                started_at: out.started_at,
                ended_at: out.ended_at,
                outcome: Outcome::Completed,
                backend: Backend::Null,
                clock_synced: false,
                subtitle_lang: None,
            })
            .unwrap();
        assert!(r.ended_at >= r.started_at);
        got.push(r);
    }
    let seqs: Vec<u64> = got.iter().map(|r| r.seq).collect();
    assert_eq!(
        seqs,
        [1, 2, 3, 4],
        "seq follows the order of plays, not time"
    );
    for w in got.windows(2) {
        assert_eq!(w[1].prev, receipt::receipt_hash(&w[0].to_bytes()));
    }
    // The controller's check accepts the chain although its times go back and forward.
    let key = SecretKey::from_seed([9; 32]);
    let bytes: Vec<Vec<u8>> = journal
        .unacked(10)
        .unwrap()
        .into_iter()
        .map(|(_, b)| b)
        .collect();
    let env = receipt::sign_batch("lc-c1", &bytes, &key).to_json();
    let v = receipt::verify_batch(&env, &key.public(), "lc-c1", None, &|_| None)
        .expect("a batch whose wall-clock times jump verifies");
    assert_eq!(v.new.len(), 4);
    assert_eq!(v.tip.seq, 4);
    // After a restart (clock still wrong) the chain continues from the stored tip.
    drop(journal);
    let journal = Journal::open(&store, "lc-c1").unwrap();
    assert_eq!(journal.tip().map(|t| t.seq), Some(4));
}
