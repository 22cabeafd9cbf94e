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
//! (u64 big-endian; absent: epoch 1); `o` + seq → unacknowledged receipts of the previous
//! epoch's chain, still draining, and `d` → that epoch.
//!
//! **Epochs** (`docs/protocol.md` §13): each enrolment of the screen starts a new chain at
//! seq 1. [`Journal::enter_epoch`] moves the journal to the epoch of the configuration at once:
//! the unacknowledged receipts of the old chain are set aside (in one atomic write) and drain
//! under their own epoch ([`Journal::unacked_chain`] offers them first, [`Journal::ack_chain`]
//! prunes them), while new plays go into the new chain from seq 1. So no receipt is dropped by
//! a re-enrolment that kept the data directory, and the switch never waits for an ack. Only if
//! a second re-enrolment comes while an older chain still drains does the newest epoch wait
//! until that drain ends.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use playlists::receipt::{self, Backend, ChainTip, Outcome, Receipt, ReceiptError, GENESIS_PREV};
use tokio::sync::Notify;

use crate::store::{Store, StoreError};

const TIP: &[u8] = b"t";
const EPOCH: &[u8] = b"e";
/// The epoch of the chain that drains under [`OLD_PREFIX`].
const DRAINING: &[u8] = b"d";
const OLD_PREFIX: u8 = b'o';
const TREE: &str = "journal";

/// Most plays kept in memory while the journal cannot be written; later ones are lost (and
/// counted in [`QueueState::lost`]).
pub const QUEUE_CAPACITY: usize = 512;
const RECEIPT_PREFIX: u8 = b'r';

fn receipt_key(seq: u64) -> [u8; 9] {
    key_in(RECEIPT_PREFIX, seq)
}

/// `prefix` + seq: a receipt of the current chain ([`RECEIPT_PREFIX`]) or of the draining one
/// ([`OLD_PREFIX`]).
fn key_in(prefix: u8, seq: u64) -> [u8; 9] {
    let mut k = [0u8; 9];
    k[0] = prefix;
    k[1..].copy_from_slice(&seq.to_be_bytes());
    k
}

fn seq_of_key(k: &[u8]) -> Option<u64> {
    if k.len() == 9 && (k[0] == RECEIPT_PREFIX || k[0] == OLD_PREFIX) {
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
    /// The subtitle track's language, when one was shown (`docs/protocol.md` §21).
    pub subtitle_lang: Option<String>,
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

/// Unacknowledged receipts as `(seq, exact bytes)`, lowest seq first.
pub type Unacked = Vec<(u64, Vec<u8>)>;

/// The chain of an earlier epoch still uploading while new plays go into the current one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Draining {
    epoch: u64,
    backlog: u64,
}

struct State {
    tip: Option<ChainTip>,
    /// Unacknowledged receipts of the current chain.
    backlog: u64,
    /// The previous epoch's chain, while it holds unacknowledged receipts.
    draining: Option<Draining>,
    /// The enrolment epoch of the chain the journal holds.
    epoch: u64,
    /// The epoch to start once the draining chain is all acknowledged (a second re-enrolment
    /// while one chain still drains).
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

/// What [`load`] reads: the tip, the number of receipts, the chain's epoch and the draining
/// chain.
type Loaded = (Option<ChainTip>, u64, u64, Option<Draining>);

/// An epoch stored big-endian.
fn epoch_value(v: &[u8]) -> Result<u64, JournalError> {
    Ok(u64::from_be_bytes(
        v.try_into().map_err(|_| JournalError::CorruptTip)?,
    ))
}

/// Reads the tip, the number of receipts, the chain's epoch and the draining chain from the
/// database.
fn load(store: &Store) -> Result<Loaded, JournalError> {
    let (raw, backlog, epoch, old, old_backlog) = store.with_db("read journal", |db| {
        let tree = db.open_tree(TREE)?;
        let raw = tree.get(TIP)?;
        let backlog = tree.scan_prefix([RECEIPT_PREFIX]).count() as u64;
        let epoch = tree.get(EPOCH)?;
        let old = tree.get(DRAINING)?;
        let old_backlog = tree.scan_prefix([OLD_PREFIX]).count() as u64;
        Ok((raw, backlog, epoch, old, old_backlog))
    })?;
    let epoch = match epoch {
        None => receipt::FIRST_EPOCH,
        Some(v) => epoch_value(&v)?,
    };
    let draining = match old {
        Some(v) if old_backlog > 0 => Some(Draining {
            epoch: epoch_value(&v)?,
            backlog: old_backlog,
        }),
        _ => None,
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
    Ok((tip, backlog, epoch, draining))
}

impl Journal {
    /// Opens the journal of `screen` in the store's `journal` tree.
    pub fn open(store: &Store, screen: &str) -> Result<Journal, JournalError> {
        let generation = store.generation();
        let (tip, backlog, epoch, draining) = load(store)?;
        Ok(Journal {
            inner: Arc::new(Inner {
                screen: screen.to_owned(),
                store: store.clone(),
                state: Mutex::new(State {
                    tip,
                    backlog,
                    draining,
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
        let (tip, backlog, epoch, draining) = load(&self.inner.store)?;
        let landed = st.attempted.is_some() && st.attempted == tip;
        st.tip = tip;
        st.backlog = backlog;
        st.draining = draining;
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
            subtitle_lang: draft.subtitle_lang,
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

    /// Up to `limit` unacknowledged receipts of the current chain, lowest seq first, as
    /// `(seq, exact bytes)`. Only flushed receipts: fails while the store is unavailable.
    pub fn unacked(&self, limit: usize) -> Result<Unacked, JournalError> {
        let mut st = self.state();
        self.refresh(&mut st)?;
        self.scan(RECEIPT_PREFIX, limit)
    }

    /// The chain to upload next and up to `limit` of its unacknowledged receipts, lowest seq
    /// first: the draining chain of the previous epoch while it holds any, else the current
    /// one. Returns `(epoch, receipts)`.
    pub fn unacked_chain(&self, limit: usize) -> Result<(u64, Unacked), JournalError> {
        let mut st = self.state();
        self.refresh(&mut st)?;
        match st.draining {
            Some(d) => Ok((d.epoch, self.scan(OLD_PREFIX, limit)?)),
            None => Ok((st.epoch, self.scan(RECEIPT_PREFIX, limit)?)),
        }
    }

    fn scan(&self, prefix: u8, limit: usize) -> Result<Unacked, JournalError> {
        let out = self.inner.store.with_db("read journal", |db| {
            let mut out = Vec::new();
            for item in db.open_tree(TREE)?.scan_prefix([prefix]).take(limit) {
                let (k, v) = item?;
                if let Some(seq) = seq_of_key(&k) {
                    out.push((seq, v.to_vec()));
                }
            }
            Ok(out)
        })?;
        Ok(out)
    }

    /// Deletes every receipt of the current chain with `seq <= upto_seq` (see
    /// [`Journal::ack_chain`]).
    pub fn ack(&self, upto_seq: u64) -> Result<u64, JournalError> {
        let epoch = self.epoch();
        self.ack_chain(epoch, upto_seq)
    }

    /// Deletes every receipt of the chain of enrolment `epoch` (the current or the draining
    /// one; any other prunes nothing) with `seq <= upto_seq`, flushed before returning;
    /// returns how many were deleted. Call only for an ack whose signature, screen, epoch and
    /// key id were verified.
    pub fn ack_chain(&self, epoch: u64, upto_seq: u64) -> Result<u64, JournalError> {
        let mut st = self.state();
        self.refresh(&mut st)?;
        let prefix = match st.draining {
            Some(d) if d.epoch == epoch => OLD_PREFIX,
            _ if epoch == st.epoch => RECEIPT_PREFIX,
            _ => return Ok(0),
        };
        let (n, drained) = self.inner.store.with_db("prune journal", |db| {
            let tree = db.open_tree(TREE)?;
            let mut batch = sled::Batch::default();
            let mut n = 0u64;
            for item in tree.range(key_in(prefix, 0)..=key_in(prefix, upto_seq)) {
                let (k, _) = item?;
                batch.remove(k);
                n += 1;
            }
            if n > 0 {
                tree.apply_batch(batch)?;
            }
            let drained = prefix == OLD_PREFIX && tree.scan_prefix([OLD_PREFIX]).next().is_none();
            if drained {
                tree.remove(DRAINING)?;
            }
            if n > 0 || drained {
                db.flush()?;
            }
            Ok((n, drained))
        })?;
        if prefix == OLD_PREFIX {
            if let Some(d) = st.draining.as_mut() {
                d.backlog = d.backlog.saturating_sub(n);
            }
            if drained {
                tracing::info!(
                    epoch,
                    "the previous enrolment's receipts are all acknowledged"
                );
                st.draining = None;
                if let Some(next) = st.next_epoch {
                    self.switch_epoch(&mut st, next)?;
                }
            }
        } else {
            st.backlog = st.backlog.saturating_sub(n);
        }
        Ok(n)
    }

    /// The enrolment epoch of the chain being written and uploaded.
    pub fn epoch(&self) -> u64 {
        self.state().epoch
    }

    /// The epoch of the previous enrolment's chain while it still drains.
    pub fn draining_epoch(&self) -> Option<u64> {
        self.state().draining.map(|d| d.epoch)
    }

    /// Moves the journal to enrolment `epoch` (the one in the configuration) at once: new plays
    /// start its chain at seq 1, and the unacknowledged receipts of the current chain drain
    /// under their own epoch. An epoch equal to the current one changes nothing; a lower one
    /// is ignored with a warning (the configuration is older than this data directory).
    pub fn enter_epoch(&self, epoch: u64) -> Result<(), JournalError> {
        let mut st = self.state();
        self.refresh(&mut st)?;
        if epoch < st.epoch {
            tracing::warn!(
                configured = epoch,
                journal = st.epoch,
                "the configured enrolment epoch is lower than the receipt journal's: the \
                 configuration is older than the last enrolment of this data directory; \
                 receipts stay in epoch {} (re-enrol the screen, or restore its current \
                 configuration)",
                st.epoch
            );
            return Ok(());
        }
        if epoch == st.epoch {
            return Ok(());
        }
        self.switch_epoch(&mut st, epoch)
    }

    /// Starts `epoch` (above the current one): at once, setting the current chain's
    /// unacknowledged receipts aside to drain, unless an older chain still drains (then once it
    /// has).
    fn switch_epoch(&self, st: &mut State, epoch: u64) -> Result<(), JournalError> {
        if st.backlog == 0 {
            return self.start_epoch(st, epoch);
        }
        if let Some(d) = st.draining {
            tracing::info!(
                draining = d.epoch,
                from = st.epoch,
                to = epoch,
                "re-enrolled again while an earlier chain still drains: epoch {epoch} starts once it has"
            );
            st.next_epoch = Some(epoch);
            return Ok(());
        }
        let old = st.epoch;
        let moved = self
            .inner
            .store
            .with_db("set the previous chain aside", |db| {
                let tree = db.open_tree(TREE)?;
                let mut batch = sled::Batch::default();
                let mut n = 0u64;
                for item in tree.scan_prefix([RECEIPT_PREFIX]) {
                    let (k, v) = item?;
                    if let Some(seq) = seq_of_key(&k) {
                        batch.remove(k);
                        batch.insert(&key_in(OLD_PREFIX, seq), v);
                        n += 1;
                    }
                }
                batch.insert(DRAINING, old.to_be_bytes().to_vec());
                batch.remove(TIP);
                batch.insert(EPOCH, epoch.to_be_bytes().to_vec());
                tree.apply_batch(batch)?;
                db.flush()?;
                Ok(n)
            })?;
        tracing::info!(
            from = old,
            to = epoch,
            draining = moved,
            "re-enrolled: new plays start a new chain at seq 1; the previous enrolment's receipts are uploaded first under their own epoch"
        );
        st.draining = Some(Draining {
            epoch: old,
            backlog: moved,
        });
        st.backlog = 0;
        st.tip = None;
        st.epoch = epoch;
        st.next_epoch = None;
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

    /// Number of receipts not yet acknowledged (of the current and the draining chain).
    pub fn backlog(&self) -> u64 {
        let st = self.state();
        st.backlog + st.draining.map_or(0, |d| d.backlog)
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
