//! The uploader: batching, resend after timeout, deletion only on verified acks.
//! Runs on tokio's paused clock: waits are virtual, so the timing logic is tested exactly.

use std::time::Duration;

use gatecast_player::journal::{Journal, ReceiptDraft};
use gatecast_player::store::Store;
use gatecast_player::uploader::{Uploader, UploaderConfig};
use playlists::envelope::{self, RECEIPTS_TYPE};
use playlists::keys::{KeySet, SecretKey};
use playlists::receipt::{sign_ack, Ack, Backend, Outcome, Receipt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

const SCREEN: &str = "lc-a1";

fn draft(i: u64) -> ReceiptDraft {
    let start: jiff::Timestamp = "2026-11-26T08:00:00Z".parse().unwrap();
    let start = start + jiff::SignedDuration::from_secs(i as i64 * 10);
    ReceiptDraft {
        manifest_version: 1,
        playlist: "main".into(),
        media: "cd".repeat(32),
        lang: "en".into(),
        started_at: start,
        ended_at: start + jiff::SignedDuration::from_secs(10),
        outcome: Outcome::Completed,
        backend: Backend::Null,
        clock_synced: false,
        subtitle_lang: None,
    }
}

/// The seqs in a batch envelope, after checking it is signed by `device`.
fn seqs(env: &[u8], device: &SecretKey) -> Vec<u64> {
    let v = envelope::verify(env, RECEIPTS_TYPE, &KeySet::from_keys([device.public()])).unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&v.payload).unwrap();
    assert_eq!(payload["screen"], SCREEN);
    payload["receipts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| Receipt::parse(r.as_str().unwrap().as_bytes()).unwrap().seq)
        .collect()
}

fn ack(screen: &str, upto: u64, key: &SecretKey) -> Vec<u8> {
    sign_ack(
        &Ack {
            screen: screen.into(),
            epoch: 1,
            key_id: None,
            upto_seq: upto,
        },
        key,
    )
    .to_json()
}

async fn wait_backlog(j: &Journal, n: u64) {
    for _ in 0..500 {
        if j.backlog() == n {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("backlog stayed {} (wanted {n})", j.backlog());
}

#[tokio::test(start_paused = true)]
async fn batches_resends_and_deletes_only_on_verified_acks() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let journal = Journal::open(&store, SCREEN).unwrap();
    let device = SecretKey::from_seed([1; 32]);
    let controller = SecretKey::from_seed([2; 32]);
    let stranger = SecretKey::from_seed([3; 32]);
    for i in 0..3 {
        journal.append(draft(i)).unwrap();
    }
    let cfg = UploaderConfig {
        batch_max_receipts: 2,
        batch_max_delay: Duration::from_secs(1),
        ack_timeout: Duration::from_secs(10),
    };
    let (out_tx, mut out_rx) = mpsc::channel(4);
    let (ack_tx, ack_rx) = mpsc::channel(4);
    let (stop_tx, stop_rx) = oneshot::channel::<()>();
    let up = Uploader::new(
        journal.clone(),
        device.clone(),
        KeySet::from_keys([controller.public()]),
        cfg,
    );
    let task = tokio::spawn(up.run(out_tx, ack_rx, async {
        let _ = stop_rx.await;
    }));

    let t0 = Instant::now();
    // A full batch goes out at once.
    assert_eq!(seqs(&out_rx.recv().await.unwrap(), &device), vec![1, 2]);
    assert_eq!(t0.elapsed(), Duration::ZERO);
    // No ack: the same receipts are sent again after the ack timeout.
    assert_eq!(seqs(&out_rx.recv().await.unwrap(), &device), vec![1, 2]);
    assert!(t0.elapsed() >= Duration::from_secs(10));

    // Acks that must be ignored: wrong key, other screen, garbage.
    ack_tx.send(ack(SCREEN, 2, &stranger)).await.unwrap();
    ack_tx
        .send(ack("other-screen", 2, &controller))
        .await
        .unwrap();
    ack_tx.send(b"{not an envelope".to_vec()).await.unwrap();
    assert_eq!(seqs(&out_rx.recv().await.unwrap(), &device), vec![1, 2]);
    assert_eq!(journal.backlog(), 3, "an unverified ack deleted receipts");

    // A valid ack deletes exactly what it covers; the rest goes out next.
    ack_tx.send(ack(SCREEN, 2, &controller)).await.unwrap();
    assert_eq!(seqs(&out_rx.recv().await.unwrap(), &device), vec![3]);
    assert_eq!(journal.backlog(), 1);
    assert_eq!(journal.unacked(10).unwrap()[0].0, 3);
    ack_tx.send(ack(SCREEN, 3, &controller)).await.unwrap();
    wait_backlog(&journal, 0).await;

    // A lone new receipt waits for the batch delay, then goes out.
    let t1 = Instant::now();
    journal.append(draft(3)).unwrap();
    assert_eq!(seqs(&out_rx.recv().await.unwrap(), &device), vec![4]);
    assert!(t1.elapsed() >= Duration::from_secs(1));
    assert_eq!(journal.backlog(), 1);

    stop_tx.send(()).unwrap();
    task.await.unwrap().unwrap();
    // Stopping dropped nothing.
    assert_eq!(journal.backlog(), 1);
}

#[tokio::test(start_paused = true)]
async fn a_partial_ack_keeps_the_rest_for_resend() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let journal = Journal::open(&store, SCREEN).unwrap();
    let device = SecretKey::from_seed([4; 32]);
    let controller = SecretKey::from_seed([5; 32]);
    for i in 0..3 {
        journal.append(draft(i)).unwrap();
    }
    let cfg = UploaderConfig {
        batch_max_receipts: 10,
        batch_max_delay: Duration::from_millis(500),
        ack_timeout: Duration::from_secs(5),
    };
    let (out_tx, mut out_rx) = mpsc::channel(4);
    let (ack_tx, ack_rx) = mpsc::channel(4);
    let up = Uploader::new(
        journal.clone(),
        device.clone(),
        KeySet::from_keys([controller.public()]),
        cfg,
    );
    let task = tokio::spawn(up.run(out_tx, ack_rx, std::future::pending()));
    assert_eq!(seqs(&out_rx.recv().await.unwrap(), &device), vec![1, 2, 3]);
    // The controller stored only up to 1 (e.g. it found a problem after it).
    ack_tx.send(ack(SCREEN, 1, &controller)).await.unwrap();
    assert_eq!(seqs(&out_rx.recv().await.unwrap(), &device), vec![2, 3]);
    assert_eq!(journal.backlog(), 2);
    // Dropping the ack channel (MQTT task gone) stops the uploader without touching the journal.
    drop(ack_tx);
    task.await.unwrap().unwrap();
    assert_eq!(journal.backlog(), 2);
}

/// The epoch a batch envelope names.
fn epoch_of(env: &[u8]) -> u64 {
    let e = envelope::Envelope::parse(env).unwrap();
    let payload: serde_json::Value = serde_json::from_slice(&e.payload).unwrap();
    payload["epoch"].as_u64().unwrap()
}

/// A box re-enrolled with its data directory kept (docs/protocol.md §13): new plays start the
/// new epoch's chain at once, what the old chain still holds goes out under the old epoch
/// first, acks of an epoch the journal does not hold change nothing, and the new chain is
/// uploaded once the old one is all acknowledged.
#[tokio::test(start_paused = true)]
async fn reenrolment_keeping_the_data_dir_uploads_the_old_chain_first() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path()).unwrap();
    let journal = Journal::open(&store, SCREEN).unwrap();
    let device = SecretKey::from_seed([4; 32]);
    let controller = SecretKey::from_seed([5; 32]);
    for i in 0..3 {
        journal.append(draft(i)).unwrap();
    }
    journal.enter_epoch(2).unwrap();
    assert_eq!(
        (journal.epoch(), journal.draining_epoch(), journal.backlog()),
        (2, Some(1), 3),
        "the new chain starts at once; the old one drains"
    );
    assert_eq!(journal.tip(), None, "the new chain starts empty");
    let r = journal.append(draft(9)).unwrap();
    assert_eq!(
        r.seq, 1,
        "a play after the re-enrolment is seq 1 of the new chain"
    );
    let cfg = UploaderConfig {
        batch_max_receipts: 10,
        batch_max_delay: Duration::from_millis(500),
        ack_timeout: Duration::from_secs(5),
    };
    let (out_tx, mut out_rx) = mpsc::channel(4);
    let (ack_tx, ack_rx) = mpsc::channel(4);
    let up = Uploader::new(
        journal.clone(),
        device.clone(),
        KeySet::from_keys([controller.public()]),
        cfg,
    );
    let task = tokio::spawn(up.run(out_tx, ack_rx, std::future::pending()));
    let first = out_rx.recv().await.unwrap();
    assert_eq!(
        (epoch_of(&first), seqs(&first, &device)),
        (1, vec![1, 2, 3])
    );
    let chain_ack = |epoch: u64, upto: u64| {
        sign_ack(
            &Ack {
                screen: SCREEN.into(),
                epoch,
                key_id: Some(device.key_id()),
                upto_seq: upto,
            },
            &controller,
        )
        .to_json()
    };
    // An ack of an epoch the journal does not hold says nothing about either chain: only the
    // epoch-1 ack of seq 1 after it prunes anything.
    ack_tx.send(chain_ack(3, 3)).await.unwrap();
    ack_tx.send(chain_ack(1, 1)).await.unwrap();
    wait_backlog(&journal, 3).await;
    let resent = out_rx.recv().await.unwrap();
    assert_eq!((epoch_of(&resent), seqs(&resent, &device)), (1, vec![2, 3]));
    ack_tx.send(chain_ack(1, 3)).await.unwrap();
    wait_backlog(&journal, 1).await;
    assert_eq!(journal.draining_epoch(), None, "the old chain is drained");
    let next = out_rx.recv().await.unwrap();
    assert_eq!((epoch_of(&next), seqs(&next, &device)), (2, vec![1]));
    ack_tx.send(chain_ack(2, 1)).await.unwrap();
    wait_backlog(&journal, 0).await;
    drop(ack_tx);
    task.await.unwrap().unwrap();
    // The epoch is durable.
    drop(journal);
    assert_eq!(Journal::open(&store, SCREEN).unwrap().epoch(), 2);
}
