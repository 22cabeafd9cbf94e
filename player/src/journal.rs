//! The durable receipt journal (DESIGN §5).
//!
//! Each play becomes a [`Receipt`] with the next `seq` and `prev` = SHA-256 of the previous
//! receipt's exact bytes. [`Journal::append`] writes the exact bytes and the new chain tip in
//! one atomic sled batch and flushes it to disk **before** it returns, so a receipt that was
//! returned survives `kill -9` and power loss, and `seq`/`prev` continue after a restart.
//! Receipts are deleted only by [`Journal::ack`] (called by the uploader on a verified ack);
//! the tip is kept, so the chain continues after everything was pruned.
//!
//! Layout in the `journal` tree: `r` + seq (u64 big-endian) → receipt bytes; `t` → tip
//! (seq big-endian, then the 64 hex chars of its hash).

use std::sync::{Arc, Mutex};

use jiff::Timestamp;
use playlists::receipt::{self, Backend, ChainTip, Outcome, Receipt, ReceiptError, GENESIS_PREV};
use tokio::sync::Notify;

use crate::store::{Store, StoreError};

const TIP: &[u8] = b"t";
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
    /// Wall-clock end (start + monotonic duration is the honest choice; see LESSONS #5).
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
}

struct Inner {
    screen: String,
    tree: sled::Tree,
    store: Store,
    state: Mutex<State>,
    appended: Notify,
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

impl Journal {
    /// Opens the journal of `screen` in the store's `journal` tree.
    pub fn open(store: &Store, screen: &str) -> Result<Journal, JournalError> {
        let tree = store.tree("journal")?;
        let tip = match tree.get(TIP)? {
            None => None,
            Some(v) => {
                if v.len() != 8 + 64 {
                    return Err(JournalError::CorruptTip);
                }
                let seq =
                    u64::from_be_bytes(v[..8].try_into().map_err(|_| JournalError::CorruptTip)?);
                let hash = std::str::from_utf8(&v[8..])
                    .map_err(|_| JournalError::CorruptTip)?
                    .to_owned();
                Some(ChainTip { seq, hash })
            }
        };
        let backlog = tree.scan_prefix([RECEIPT_PREFIX]).count() as u64;
        Ok(Journal {
            inner: Arc::new(Inner {
                screen: screen.to_owned(),
                tree,
                store: store.clone(),
                state: Mutex::new(State { tip, backlog }),
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

    /// Records one play: assigns `seq` and `prev`, writes the exact bytes and the new tip
    /// atomically, flushes to disk, and only then returns the receipt. Blocks for one fsync.
    pub fn append(&self, draft: ReceiptDraft) -> Result<Receipt, JournalError> {
        let mut st = self.state();
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
        self.inner.tree.apply_batch(batch)?;
        self.inner.store.flush()?;
        st.tip = Some(ChainTip { seq, hash });
        st.backlog += 1;
        drop(st);
        self.inner.appended.notify_one();
        Ok(r)
    }

    /// Up to `limit` unacknowledged receipts, lowest seq first, as `(seq, exact bytes)`.
    pub fn unacked(&self, limit: usize) -> Result<Vec<(u64, Vec<u8>)>, JournalError> {
        let mut out = Vec::new();
        for item in self.inner.tree.scan_prefix([RECEIPT_PREFIX]).take(limit) {
            let (k, v) = item?;
            if let Some(seq) = seq_of_key(&k) {
                out.push((seq, v.to_vec()));
            }
        }
        Ok(out)
    }

    /// Deletes every receipt with `seq <= upto_seq` (flushed before returning); returns how
    /// many were deleted. Call only for an ack whose signature was verified.
    pub fn ack(&self, upto_seq: u64) -> Result<u64, JournalError> {
        let mut st = self.state();
        let mut batch = sled::Batch::default();
        let mut n = 0u64;
        for item in self
            .inner
            .tree
            .range(receipt_key(0)..=receipt_key(upto_seq))
        {
            let (k, _) = item?;
            batch.remove(k);
            n += 1;
        }
        if n > 0 {
            self.inner.tree.apply_batch(batch)?;
            self.inner.store.flush()?;
            st.backlog = st.backlog.saturating_sub(n);
        }
        Ok(n)
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
