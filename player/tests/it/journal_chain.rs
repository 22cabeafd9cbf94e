//! The receipt journal: seq/prev chain across reopen, pruning and kill -9.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use gatecast_player::journal::{Journal, ReceiptDraft};
use gatecast_player::store::Store;
use playlists::receipt::{receipt_hash, Backend, Outcome, Receipt, GENESIS_PREV};

const SCREEN: &str = "lc-a1";

fn draft(i: u64) -> ReceiptDraft {
    let start: jiff::Timestamp = "2026-11-26T08:00:00Z".parse().unwrap();
    let start = start + jiff::SignedDuration::from_secs(i as i64 * 10);
    ReceiptDraft {
        manifest_version: 7,
        playlist: "main".into(),
        media: "ab".repeat(32),
        lang: "vi".into(),
        started_at: start,
        ended_at: start + jiff::SignedDuration::from_secs(10),
        outcome: Outcome::Completed,
        backend: Backend::Null,
        clock_synced: true,
        subtitle_lang: None,
    }
}

/// Checks that `rows` (seq, bytes) are contiguous, parse, and chain from `prev`.
fn assert_chain(rows: &[(u64, Vec<u8>)], first_seq: u64, mut prev: String) -> String {
    for (i, (seq, bytes)) in rows.iter().enumerate() {
        let r = Receipt::parse(bytes).unwrap();
        assert_eq!(*seq, first_seq + i as u64);
        assert_eq!(r.seq, *seq);
        assert_eq!(r.screen, SCREEN);
        assert_eq!(r.prev, prev, "prev of seq {seq}");
        prev = receipt_hash(bytes);
    }
    prev
}

#[test]
fn seq_and_prev_survive_reopen_and_pruning() {
    let dir = tempfile::tempdir().unwrap();
    let mut all = Vec::new();
    {
        let store = Store::open(dir.path()).unwrap();
        let j = Journal::open(&store, SCREEN).unwrap();
        assert_eq!(j.tip(), None);
        for i in 0..3 {
            let r = j.append(draft(i)).unwrap();
            assert_eq!(r.seq, i + 1);
        }
        all.extend(j.unacked(100).unwrap());
        assert_eq!(all.len(), 3);
        assert_chain(&all, 1, GENESIS_PREV.into());
    }
    // Reopen: seq 4 links to seq 3's exact bytes.
    let store = Store::open(dir.path()).unwrap();
    let j = Journal::open(&store, SCREEN).unwrap();
    assert_eq!(j.backlog(), 3);
    let r4 = j.append(draft(3)).unwrap();
    assert_eq!(r4.seq, 4);
    assert_eq!(r4.prev, receipt_hash(&all[2].1));
    let rows = j.unacked(100).unwrap();
    assert_eq!(rows[..3], all[..]);
    assert_eq!(rows[3].1, r4.to_bytes());

    // Partial ack; the limit is honoured.
    assert_eq!(j.ack(2).unwrap(), 2);
    assert_eq!(j.backlog(), 2);
    assert_eq!(
        j.unacked(1)
            .unwrap()
            .iter()
            .map(|r| r.0)
            .collect::<Vec<_>>(),
        vec![3]
    );
    // Ack everything (also beyond the tip), reopen, and the chain continues from the tip.
    assert_eq!(j.ack(99).unwrap(), 2);
    assert_eq!(j.backlog(), 0);
    assert!(j.unacked(10).unwrap().is_empty());
    drop(j);
    drop(store);
    let store = Store::open(dir.path()).unwrap();
    let j = Journal::open(&store, SCREEN).unwrap();
    assert_eq!(j.backlog(), 0);
    assert_eq!(j.tip().unwrap().seq, 4);
    let r5 = j.append(draft(4)).unwrap();
    assert_eq!(r5.seq, 5);
    assert_eq!(r5.prev, receipt_hash(&r4.to_bytes()));
}

#[test]
fn an_invalid_draft_is_refused_without_using_a_seq() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let j = Journal::open(&store, SCREEN).unwrap();
    j.append(draft(0)).unwrap();
    let mut bad = draft(1);
    bad.lang = String::new();
    assert!(j.append(bad).is_err());
    let mut bad = draft(1);
    bad.media = "not-a-hash".into();
    assert!(j.append(bad).is_err());
    assert_eq!(j.backlog(), 1);
    assert_eq!(j.append(draft(1)).unwrap().seq, 2);
}

const CHILD_ENV: &str = "GATECAST_JOURNAL_CHILD_DIR";

/// Child half of the kill -9 test: appends forever, printing each seq after append returned.
#[test]
#[ignore = "run only as the child process of appends_survive_kill_9"]
fn journal_child_appends_forever() {
    let Ok(dir) = std::env::var(CHILD_ENV) else {
        return;
    };
    let store = Store::open(Path::new(&dir)).unwrap();
    let j = Journal::open(&store, SCREEN).unwrap();
    for i in 0.. {
        let r = j.append(draft(i)).unwrap();
        println!("appended {}", r.seq);
    }
}

#[test]
fn appends_survive_kill_9() {
    let dir = tempfile::tempdir().unwrap();
    let mut acked_before_kill = 0;
    let mut tip_before_kill = String::new();
    for round in 0..2 {
        let mut child = Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "journal_chain::journal_child_appends_forever",
                "--ignored",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut last_reported = 0;
        for line in lines {
            if let Some(seq) = line.unwrap().strip_prefix("appended ") {
                last_reported = seq.trim().parse::<u64>().unwrap();
                if last_reported >= acked_before_kill + 20 {
                    break;
                }
            }
        }
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        assert!(
            last_reported > acked_before_kill,
            "round {round}: child appended nothing"
        );

        let store = Store::open(dir.path()).unwrap();
        let j = Journal::open(&store, SCREEN).unwrap();
        let rows = j.unacked(usize::MAX).unwrap();
        // Every receipt reported as appended is on disk, contiguous and chained.
        assert!(
            rows.len() as u64 >= last_reported - acked_before_kill,
            "round {round}: lost receipts"
        );
        let first = rows[0].0;
        assert_eq!(first, acked_before_kill + 1);
        let tip = j.tip().unwrap();
        assert_eq!(tip.seq, rows.last().unwrap().0);
        assert_eq!(tip.hash, receipt_hash(&rows.last().unwrap().1));
        if round == 0 {
            assert_chain(&rows, 1, GENESIS_PREV.into());
            // Prune everything before the second round: the chain must continue from the tip.
            acked_before_kill = tip.seq;
            tip_before_kill = tip.hash.clone();
            j.ack(tip.seq).unwrap();
        } else {
            assert_chain(&rows, acked_before_kill + 1, tip_before_kill.clone());
        }
    }
}

/// docs/protocol.md §13: re-enrolled keeping the data directory while receipts of the old
/// chain still wait for their ack, the journal switches at once: new plays start the new
/// epoch's chain at seq 1 while the old chain drains under its own epoch, so the switch never
/// waits for an ack that happens to empty the journal.
#[test]
fn reenrolment_switches_at_once_while_the_old_chain_drains() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let j = Journal::open(&store, SCREEN).unwrap();
    for i in 0..3 {
        j.append(draft(i)).unwrap();
    }
    j.enter_epoch(2).unwrap();
    let r = j.append(draft(3)).unwrap();
    assert_eq!(
        (j.epoch(), r.seq, r.prev.as_str()),
        (2, 1, GENESIS_PREV),
        "the play after the re-enrolment starts the new chain"
    );
    // The old chain drains under its own epoch, first, and survives a reopen.
    drop(j);
    let j = Journal::open(&store, SCREEN).unwrap();
    assert_eq!(
        (j.epoch(), j.draining_epoch(), j.backlog()),
        (2, Some(1), 4)
    );
    let (epoch, old) = j.unacked_chain(100).unwrap();
    assert_eq!(epoch, 1);
    assert_eq!(
        old.iter().map(|(s, _)| *s).collect::<Vec<_>>(),
        vec![1, 2, 3]
    );
    // An ack of the new chain prunes only it; the old chain's acks drain the old one.
    assert_eq!(j.ack_chain(2, 1).unwrap(), 1);
    assert_eq!(j.ack_chain(1, 2).unwrap(), 2);
    assert_eq!(
        j.unacked_chain(100).unwrap().0,
        1,
        "seq 3 of epoch 1 still drains"
    );
    assert_eq!(j.ack_chain(1, 3).unwrap(), 1);
    assert_eq!((j.draining_epoch(), j.backlog()), (None, 0));
    // Both chains are acknowledged: the next play continues the new chain.
    assert_eq!(j.append(draft(4)).unwrap().seq, 2);
    assert_eq!(j.unacked_chain(100).unwrap().0, 2);
    // A configuration older than the journal (lower epoch) changes nothing.
    j.enter_epoch(1).unwrap();
    assert_eq!(j.epoch(), 2);
}
