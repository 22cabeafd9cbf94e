//! The durable receipt journal (`docs/protocol.md` §13).
//!
//! Each play becomes a [`Receipt`] with the next `seq` and `prev` = SHA-256 of the previous
//! receipt's exact bytes. [`Journal::append`] writes the exact bytes and the new chain tip in
//! one atomic sled batch and flushes it to disk **before** it returns, so a receipt that was
//! returned survives `kill -9` and power loss, and `seq`/`prev` continue after a restart.
//! Receipts are deleted only by [`Journal::ack`] (called by the uploader on a verified ack);
//! the tip is kept, so the chain continues after everything was pruned.
//!
//! A play whose append fails (disk full, I/O error) is not lost at once:
//! [`Journal::append_or_queue`] keeps its draft in a small bounded in-memory queue (at most
//! [`QUEUE_CAPACITY`]) and [`Journal::retry_queued`] appends the queued drafts in order once the
//! store works again. A queued draft has no `seq` yet, so it is never signed or uploaded: only
//! flushed receipts are ([`Journal::unacked`] reads under the same lock as `append`). If the
//! failed write reached the disk after all (seen after the store was reopened), its draft is
//! not appended a second time.
//!
//! Layout in the `journal` tree: `r` + seq (u64 big-endian) → receipt bytes; `t` → tip
//! (seq big-endian, then the 64 hex chars of its hash); `e` → the enrolment epoch of the chain
//! (u64 big-endian; absent: epoch 1).
//!
//! **Epochs** (`docs/protocol.md` §13): each enrolment of the screen starts a new chain at
//! seq 1. [`Journal::enter_epoch`] moves the journal to the epoch of the configuration: at once
//! when every receipt of the current chain is acknowledged, otherwise after the ack that
//! empties it (until then the old chain goes on, and is uploaded under its own epoch), so no
//! receipt is dropped by a re-enrolment that kept the data directory.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use playlists::receipt::{self, Backend, ChainTip, Outcome, Receipt, ReceiptError, GENESIS_PREV};
use tokio::sync::Notify;

use crate::store::{Store, StoreError};

const TIP: &[u8] = b"t";
const EPOCH: &[u8] = b"e";
const TREE: &str = "journal";

/// Most plays kept in memory while the journal cannot be written; later ones are lost (and
/// counted in [`QueueState::lost`]).
pub const QUEUE_CAPACITY: usize = 512;
const RECEIPT_PREFIX: u8 = b'r';

fn receipt_key(seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = RECEIPT_PREFIX;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn seq_of_key(k: &[u8]) -> Option<u64> {
    if k.len() == 9 && k[0] == RECEIPT_PREFIX {
        Some(u64::from_be_bytes(k[1..].try_into().ok()?))
    } else {
        None
    }
}

/// Everything about a play except what the journal assigns (`seq`, `screen`, `prev`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReceiptDraft {
    /// Version of the active manifest.
    pub manifest_version: u64,
    /// Playlist id (or alert id) the item came from; 1–128 bytes, no control characters.
    pub playlist: String,
    /// sha256 of the media played.
    pub media: String,
    /// BCP 47 tag of the media (1–128 bytes; use `"und"` if unknown).
    pub lang: String,
    /// Wall-clock start.
    pub started_at: Timestamp,
    /// Wall-clock end (start + monotonic duration: a wall-clock step during a play must not change its length).
    pub ended_at: Timestamp,
    /// How the play ended.
    pub outcome: Outcome,
    /// Which backend played it.
    pub backend: Backend,
    /// Whether the clock was known to be synchronized.
    pub clock_synced: bool,
}

/// Why the journal could not do what was asked.
#[derive(Debug, thiserror::Error)]
pub enum JournalError {
    /// The database failed; the receipt was NOT recorded.
    #[error("receipt journal: {0}")]
    Store(#[from] StoreError),
    /// sled failed; the receipt was NOT recorded.
    #[error("receipt journal: {0} (check disk space)")]
    Sled(#[from] sled::Error),
    /// The draft would make an invalid receipt (the controller would refuse it and every later
    /// one, so it is refused here and no seq is used).
    #[error("receipt not recorded: {0}")]
    Invalid(#[from] ReceiptError),
    /// The stored tip is unreadable.
    #[error("receipt journal tip is corrupt; move the data_dir away to start a new chain")]
    CorruptTip,
}

struct State {
    tip: Option<ChainTip>,
    backlog: u64,
    /// The enrolment epoch of the chain the journal holds.
    epoch: u64,
    /// The epoch to start once the current chain is all acknowledged.
    next_epoch: Option<u64>,
    /// The store generation `tip` and `backlog` were read at.
    generation: u64,
    /// The receipt of the last failed append (whose write may have reached the disk).
    attempted: Option<ChainTip>,
    queue: VecDeque<ReceiptDraft>,
    lost: u64,
}

struct Inner {
    screen: String,
    store: Store,
    state: Mutex<State>,
    appended: Notify,
}

/// The in-memory queue of plays waiting for the journal.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct QueueState {
    /// Plays waiting (not yet journaled; at risk until they are).
    pub queued: usize,
    /// Plays lost because the queue was full, since the start.
    pub lost: u64,
    /// The queue is full: further plays are lost until the journal can be written again.
    pub full: bool,
}

/// What [`Journal::append_or_queue`] did with a play.
#[derive(Debug)]
pub enum Recorded {
    /// Journaled (flushed) as this receipt.
    Journaled(Receipt),
    /// Kept in memory; it is appended by [`Journal::retry_queued`]. The error is why.
    Queued(JournalError),
    /// Lost: the queue was full.
    Lost(JournalError),
    /// Refused as invalid (no seq used; nothing to retry).
    Invalid(JournalError),
}

/// The receipt journal. Cheap to clone; clones share state (the scheduler appends, the
/// uploader reads and prunes).
#[derive(Clone)]
pub struct Journal {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for Journal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Journal")
            .field("screen", &self.inner.screen)
            .field("backlog", &self.backlog())
            .finish()
    }
}

/// What [`load`] reads: the tip, the number of receipts and the chain's epoch.
type Loaded = (Option<ChainTip>, u64, u64);

/// Reads the tip, the number of receipts and the chain's epoch from the database.
fn load(store: &Store) -> Result<Loaded, JournalError> {
    let (raw, backlog, epoch) = store.with_db("read journal", |db| {
        let tree = db.open_tree(TREE)?;
        let raw = tree.get(TIP)?;
        let backlog = tree.scan_prefix([RECEIPT_PREFIX]).count() as u64;
        let epoch = tree.get(EPOCH)?;
        Ok((raw, backlog, epoch))
    })?;
    let epoch = match epoch {
        None => receipt::FIRST_EPOCH,
        Some(v) => u64::from_be_bytes(
            v.as_ref()
                .try_into()
                .map_err(|_| JournalError::CorruptTip)?,
        ),
    };
    let tip = match raw {
        None => None,
        Some(v) => {
            if v.len() != 8 + 64 {
                return Err(JournalError::CorruptTip);
            }
            let seq = u64::from_be_bytes(v[..8].try_into().map_err(|_| JournalError::CorruptTip)?);
            let hash = std::str::from_utf8(&v[8..])
                .map_err(|_| JournalError::CorruptTip)?
                .to_owned();
            Some(ChainTip { seq, hash })
        }
    };
    Ok((tip, backlog, epoch))
}

impl Journal {
    /// Opens the journal of `screen` in the store's `journal` tree.
    pub fn open(store: &Store, screen: &str) -> Result<Journal, JournalError> {
        let generation = store.generation();
        let (tip, backlog, epoch) = load(store)?;
        Ok(Journal {
            inner: Arc::new(Inner {
                screen: screen.to_owned(),
                store: store.clone(),
                state: Mutex::new(State {
                    tip,
                    backlog,
                    epoch,
                    next_epoch: None,
                    generation,
                    attempted: None,
                    queue: VecDeque::new(),
                    lost: 0,
                }),
                appended: Notify::new(),
            }),
        })
    }

    /// The screen id written into every receipt.
    pub fn screen(&self) -> &str {
        &self.inner.screen
    }

    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        // A panic while holding the lock cannot leave State half-updated (it is written
        // only after the flush), so a poisoned lock is still usable.
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// After the store was reopened: reloads tip and backlog from disk. Returns whether the
    /// last failed append turned out to be on disk after all.
    fn refresh(&self, st: &mut State) -> Result<bool, JournalError> {
        let generation = self.inner.store.generation();
        if generation == st.generation {
            return Ok(false);
        }
        let (tip, backlog, epoch) = load(&self.inner.store)?;
        let landed = st.attempted.is_some() && st.attempted == tip;
        st.tip = tip;
        st.backlog = backlog;
        st.epoch = epoch;
        st.generation = generation;
        st.attempted = None;
        Ok(landed)
    }

    /// Records one play: assigns `seq` and `prev`, writes the exact bytes and the new tip
    /// atomically, flushes to disk, and only then returns the receipt. Blocks for one fsync.
    pub fn append(&self, draft: ReceiptDraft) -> Result<Receipt, JournalError> {
        let mut st = self.state();
        self.refresh(&mut st)?;
        let r = self.append_locked(&mut st, draft)?;
        drop(st);
        self.inner.appended.notify_one();
        Ok(r)
    }

    fn append_locked(&self, st: &mut State, draft: ReceiptDraft) -> Result<Receipt, JournalError> {
        let (seq, prev) = match &st.tip {
            Some(t) => (t.seq + 1, t.hash.clone()),
            None => (1, GENESIS_PREV.to_owned()),
        };
        let r = Receipt {
            seq,
            screen: self.inner.screen.clone(),
            manifest_version: draft.manifest_version,
            playlist: draft.playlist,
            media: draft.media,
            lang: draft.lang,
            started_at: draft.started_at,
            ended_at: draft.ended_at,
            outcome: draft.outcome,
            backend: draft.backend,
            clock_synced: draft.clock_synced,
            prev,
        };
        r.validate()?;
        let bytes = r.to_bytes();
        let hash = receipt::receipt_hash(&bytes);
        let mut tip = Vec::with_capacity(72);
        tip.extend_from_slice(&seq.to_be_bytes());
        tip.extend_from_slice(hash.as_bytes());
        let mut batch = sled::Batch::default();
        batch.insert(&receipt_key(seq), bytes);
        batch.insert(TIP, tip);
        let attempt = ChainTip { seq, hash };
        let written = self.inner.store.with_db("append receipt", |db| {
            db.open_tree(TREE)?.apply_batch(batch)?;
            db.flush().map(|_| ())
        });
        if let Err(e) = written {
            if matches!(e, StoreError::Sled { .. }) {
                st.attempted = Some(attempt);
            }
            return Err(e.into());
        }
        st.tip = Some(attempt);
        st.backlog += 1;
        Ok(r)
    }

    /// Records one play like [`Journal::append`]; if the journal cannot be written (or
    /// earlier plays still wait), the draft is queued in memory, in order, for
    /// [`Journal::retry_queued`] — or lost if [`QUEUE_CAPACITY`] plays already wait.
    pub fn append_or_queue(&self, draft: ReceiptDraft) -> Recorded {
        let mut st = self.state();
        if st.queue.is_empty() {
            // (A failed plain `append` that landed after all is its caller's business.)
            if let Err(e) = self.refresh(&mut st) {
                return self.enqueue(&mut st, draft, e);
            }
            return match self.append_locked(&mut st, draft.clone()) {
                Ok(r) => {
                    drop(st);
                    self.inner.appended.notify_one();
                    Recorded::Journaled(r)
                }
                Err(e @ JournalError::Invalid(_)) => Recorded::Invalid(e),
                Err(e) => self.enqueue(&mut st, draft, e),
            };
        }
        let why = JournalError::Store(StoreError::Unavailable {
            path: self.inner.store.path().to_owned(),
            cause: "earlier plays still wait for the journal".to_owned(),
        });
        self.enqueue(&mut st, draft, why)
    }

    fn enqueue(&self, st: &mut State, draft: ReceiptDraft, why: JournalError) -> Recorded {
        if st.queue.len() >= QUEUE_CAPACITY {
            st.lost += 1;
            return Recorded::Lost(why);
        }
        st.queue.push_back(draft);
        Recorded::Queued(why)
    }

    /// Appends the queued plays in order; stops at the first failure (they stay queued).
    /// Returns how many were journaled. Invalid drafts are dropped (logged).
    pub fn retry_queued(&self) -> Result<usize, JournalError> {
        let mut st = self.state();
        if st.queue.is_empty() {
            return Ok(0);
        }
        let mut n = 0;
        if self.refresh(&mut st)? {
            // The write that failed reached the disk after all: that play is journaled.
            st.queue.pop_front();
            n += 1;
        }
        while let Some(draft) = st.queue.front().cloned() {
            match self.append_locked(&mut st, draft) {
                Ok(_) => {
                    st.queue.pop_front();
                    n += 1;
                }
                Err(JournalError::Invalid(e)) => {
                    tracing::error!(error = %e, "queued play makes an invalid receipt; dropped");
                    st.queue.pop_front();
                }
                Err(e) => {
                    drop(st);
                    if n > 0 {
                        self.inner.appended.notify_one();
                    }
                    return Err(e);
                }
            }
        }
        drop(st);
        if n > 0 {
            self.inner.appended.notify_one();
        }
        Ok(n)
    }

    /// The in-memory queue of plays waiting for the journal.
    pub fn queue_state(&self) -> QueueState {
        let st = self.state();
        QueueState {
            queued: st.queue.len(),
            lost: st.lost,
            full: st.queue.len() >= QUEUE_CAPACITY,
        }
    }

    /// Up to `limit` unacknowledged receipts, lowest seq first, as `(seq, exact bytes)`.
    /// Only flushed receipts: fails while the store is unavailable.
    pub fn unacked(&self, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        let mut st = self.state();
        self.refresh(&mut st)?;
        let out = self.inner.store.with_db("read journal", |db| {
            let mut out = Vec::new();
            for item in db
                .open_tree(TREE)?
                .scan_prefix([RECEIPT_PREFIX])
                .take(limit)
            {
                let (k, v) = item?;
                if let Some(seq) = seq_of_key(&k) {
                    out.push((seq, v.to_vec()));
                }
            }
            Ok(out)
        })?;
        Ok(out)
    }

    /// Deletes every receipt with `seq <= upto_seq` (flushed before returning); returns how
    /// many were deleted. Call only for an ack whose signature was verified.
    pub fn ack(&self, upto_seq: u64) -> Result<u64, JournalError> {
        let mut st = self.state();
        self.refresh(&mut st)?;
        let n = self.inner.store.with_db("prune journal", |db| {
            let tree = db.open_tree(TREE)?;
            let mut batch = sled::Batch::default();
            let mut n = 0u64;
            for item in tree.range(receipt_key(0)..=receipt_key(upto_seq)) {
                let (k, _) = item?;
                batch.remove(k);
                n += 1;
            }
            if n > 0 {
                tree.apply_batch(batch)?;
                db.flush()?;
            }
            Ok(n)
        })?;
        st.backlog = st.backlog.saturating_sub(n);
        if st.backlog == 0 {
            if let Some(epoch) = st.next_epoch {
                self.start_epoch(&mut st, epoch)?;
            }
        }
        Ok(n)
    }

    /// The enrolment epoch of the chain being written and uploaded.
    pub fn epoch(&self) -> u64 {
        self.state().epoch
    }

    /// Moves the journal to enrolment `epoch` (the one in the configuration): a new chain from
    /// seq 1, at once if nothing is waiting for an ack, otherwise once the ack that empties the
    /// journal arrives. An epoch at or below the current one changes nothing.
    pub fn enter_epoch(&self, epoch: u64) -> Result<(), JournalError> {
        let mut st = self.state();
        self.refresh(&mut st)?;
        if epoch <= st.epoch {
            return Ok(());
        }
        if st.backlog == 0 {
            return self.start_epoch(&mut st, epoch);
        }
        tracing::info!(
            from = st.epoch,
            to = epoch,
            backlog = st.backlog,
            "re-enrolled: the receipts of the previous enrolment are uploaded first, then a new chain starts"
        );
        st.next_epoch = Some(epoch);
        Ok(())
    }

    /// Starts the chain of `epoch` at seq 1 (the journal holds no receipt).
    fn start_epoch(&self, st: &mut State, epoch: u64) -> Result<(), JournalError> {
        let mut batch = sled::Batch::default();
        batch.remove(TIP);
        batch.insert(EPOCH, epoch.to_be_bytes().to_vec());
        self.inner
            .store
            .with_db("start a new receipts chain", |db| {
                db.open_tree(TREE)?.apply_batch(batch)?;
                db.flush().map(|_| ())
            })?;
        tracing::info!(
            from = st.epoch,
            to = epoch,
            "new enrolment epoch: receipts start at seq 1"
        );
        st.tip = None;
        st.epoch = epoch;
        st.next_epoch = None;
        Ok(())
    }

    /// Number of receipts not yet acknowledged.
    pub fn backlog(&self) -> u64 {
        self.state().backlog
    }

    /// The last receipt written (kept after pruning), `None` before the first.
    pub fn tip(&self) -> Option<ChainTip> {
        self.state().tip.clone()
    }

    /// Resolves after the next [`Journal::append`] (or at once if one happened since the last
    /// call). Meant for the single uploader task.
    pub async fn appended(&self) {
        self.inner.appended.notified().await;
    }
}
