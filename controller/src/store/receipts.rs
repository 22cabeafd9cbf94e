//! Receipts: the ingest's write side (chain tips, exact-duplicate check, batches stored as runs
//! under the log lock) and the read API (by screen, by time). Rejections and conflict evidence
//! are in `rejections.rs`.

use playlists::receipt::{ChainTip, Receipt, VerifiedBatch};
use serde::{Deserialize, Serialize};

use super::runs::{
    cut_runs, decode_run, encode_run, receipt_key, seq_key, split_seq_key, time_key, time_prefix,
    Run, RUN_SPAN_MS,
};
use super::{corrupt, decode, encode, Result, Store, StoreError};

/// One stored receipt, as returned by the read API.
#[derive(Debug, Clone, PartialEq)]
pub struct StoredReceipt {
    /// The parsed receipt (parsed from `bytes`, never re-serialized).
    pub receipt: Receipt,
    /// The exact receipt bytes as signed by the device (what the next `prev` hashes).
    pub bytes: Vec<u8>,
    /// When the controller stored it (RFC 3339 UTC).
    pub received_at: String,
    /// Merkle log leaf index of the batch envelope that first brought this receipt.
    pub batch_index: u64,
    /// The enrolment epoch whose chain holds it (docs/protocol.md §13).
    pub epoch: u64,
}

/// The key of the receipts chain of `screen`'s enrolment `epoch` in the receipt trees (runs,
/// time index, chain tips): the screen id for epoch 1, so databases from before epochs keep
/// their keys and need no migration; `screen@epoch` after (`@` is never part of a screen id).
pub fn chain_key(screen: &str, epoch: u64) -> String {
    if epoch <= playlists::receipt::FIRST_EPOCH {
        screen.to_owned()
    } else {
        format!("{screen}@{epoch}")
    }
}

/// The epoch of a [`chain_key`].
fn epoch_of_chain(key: &[u8]) -> u64 {
    key.iter()
        .rposition(|&b| b == b'@')
        .and_then(|i| std::str::from_utf8(&key[i + 1..]).ok()?.parse().ok())
        .unwrap_or(playlists::receipt::FIRST_EPOCH)
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct TipRow {
    seq: u64,
    hash: String,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct BatchHashRow {
    screen: String,
    leaf: u64,
}

/// What [`LogGuard::store_batch`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchStored {
    /// The new log leaf, or `None` when the batch held no new receipt (nothing stored).
    pub leaf: Option<u64>,
    /// How many receipts were new.
    pub new_receipts: usize,
    /// The screen's chain tip afterwards.
    pub tip: ChainTip,
}

impl Run<'_> {
    fn stored(&self, i: usize, epoch: u64) -> Result<StoredReceipt> {
        let bytes = self.receipts[i];
        let receipt = Receipt::parse(bytes).map_err(|e| corrupt("receipt", e))?;
        Ok(StoredReceipt {
            receipt,
            bytes: bytes.to_vec(),
            received_at: self.received_at.to_owned(),
            batch_index: self.batch_index,
            epoch,
        })
    }

    fn all(&self, epoch: u64) -> Vec<Result<StoredReceipt>> {
        (0..self.receipts.len())
            .map(|i| self.stored(i, epoch))
            .collect()
    }
}

/// A receipt waiting in [`TimeScan`]'s merge, ordered like the old per-receipt time index:
/// by started_at ms, then `screen` `/` seq bytes.
struct Pending {
    ms: i64,
    key: Vec<u8>,
    receipt: StoredReceipt,
}

impl PartialEq for Pending {
    fn eq(&self, o: &Self) -> bool {
        (self.ms, &self.key) == (o.ms, &o.key)
    }
}
impl Eq for Pending {}
impl PartialOrd for Pending {
    fn partial_cmp(&self, o: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(o))
    }
}
impl Ord for Pending {
    fn cmp(&self, o: &Self) -> std::cmp::Ordering {
        (self.ms, &self.key).cmp(&(o.ms, &o.key))
    }
}

/// Lazy time-ordered scan over the runs (see [`Store::receipts_between_upto`]): runs come in
/// order of their least `started_at`; a receipt is handed out once no later run can hold an
/// earlier one.
struct TimeScan<'a> {
    store: &'a Store,
    index: std::iter::Peekable<sled::Iter>,
    heap: std::collections::BinaryHeap<std::cmp::Reverse<Pending>>,
    from_ms: i64,
    to_ms: i64,
    log_size: u64,
}

impl TimeScan<'_> {
    fn index_ms(k: &[u8]) -> Option<i64> {
        let p: [u8; 8] = k.get(..8)?.try_into().ok()?;
        Some((u64::from_be_bytes(p) ^ (1u64 << 63)) as i64)
    }

    fn load(&mut self, k: &[u8]) -> Result<()> {
        let rk = k.get(8..).unwrap_or_default();
        let v = self
            .store
            .audit
            .runs
            .get(rk)?
            .ok_or_else(|| corrupt("receipt time index", "points at a missing run"))?;
        let v = self.store.audit.values.resolve(v)?;
        let run = decode_run(&v)?;
        if run.batch_index >= self.log_size {
            return Ok(());
        }
        let (screen, first) = split_seq_key(rk)?;
        let epoch = epoch_of_chain(screen);
        for i in 0..run.receipts.len() {
            let r = run.stored(i, epoch)?;
            let ms = r.receipt.started_at.as_millisecond();
            if ms < self.from_ms || ms >= self.to_ms {
                continue;
            }
            let key = seq_key(screen, first + i as u64);
            self.heap.push(std::cmp::Reverse(Pending {
                ms,
                key,
                receipt: r,
            }));
        }
        Ok(())
    }
}

impl Iterator for TimeScan<'_> {
    type Item = Result<StoredReceipt>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(std::cmp::Reverse(top)) = self.heap.peek() {
                let bound = match self.index.peek() {
                    None => i64::MAX,
                    Some(Ok((k, _))) => Self::index_ms(k).unwrap_or(i64::MIN),
                    Some(Err(_)) => i64::MIN,
                };
                if top.ms < bound {
                    return self.heap.pop().map(|p| Ok(p.0.receipt));
                }
            }
            match self.index.next()? {
                Err(e) => return Some(Err(e.into())),
                Ok((k, _)) => {
                    if let Err(e) = self.load(&k) {
                        return Some(Err(e));
                    }
                }
            }
        }
    }
}

impl Store {
    // ---- receipts: ingest (write side, used by crate::ingest) ----

    /// Runs `f` while holding the log lock, so that reading the chain tip, verifying a batch
    /// and [`LogGuard::store_batch`] happen without another append in between. `f` gets a
    /// [`LogGuard`] to call [`LogGuard::store_batch`].
    pub fn with_log_lock<T>(&self, f: impl FnOnce(&LogGuard<'_>) -> T) -> T {
        let _guard = self
            .audit
            .log_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        f(&LogGuard { store: self })
    }

    /// The tip of a chain ([`chain_key`]): its highest contiguous stored seq and that
    /// receipt's hash.
    pub fn chain_tip(&self, screen: &str) -> Result<Option<ChainTip>> {
        Ok(
            Self::get::<TipRow>(&self.audit.chain_tips, "chain tip", screen)?.map(|t| ChainTip {
                seq: t.seq,
                hash: t.hash,
            }),
        )
    }

    /// `receipt_hash` of the stored receipt at (chain, seq), for `verify_batch`'s lookup.
    pub fn receipt_hash_at(&self, screen: &str, seq: u64) -> Result<Option<String>> {
        self.with_receipt(screen, seq, |run, i| {
            Ok(playlists::receipt::receipt_hash(run.receipts[i]))
        })
    }

    /// The run holding (screen, seq), if any: `(first seq, value)`.
    fn run_containing(&self, screen: &str, seq: u64) -> Result<Option<(u64, sled::IVec)>> {
        let lo = receipt_key(screen, 0);
        let hi = receipt_key(screen, seq);
        match self.audit.runs.range(lo..=hi).next_back() {
            Some(kv) => {
                let (k, v) = kv?;
                Ok(Some((split_seq_key(&k)?.1, v)))
            }
            None => Ok(None),
        }
    }

    /// Calls `f` with the run holding (screen, seq) and the receipt's index in it; `None` when
    /// no receipt is stored at that seq.
    fn with_receipt<T>(
        &self,
        screen: &str,
        seq: u64,
        f: impl FnOnce(&Run<'_>, usize) -> Result<T>,
    ) -> Result<Option<T>> {
        let Some((first, v)) = self.run_containing(screen, seq)? else {
            return Ok(None);
        };
        let v = self.audit.values.resolve(v)?;
        let run = decode_run(&v)?;
        let i = usize::try_from(seq - first).unwrap_or(usize::MAX);
        if i >= run.receipts.len() {
            return Ok(None);
        }
        f(&run, i).map(Some)
    }

    /// If exactly these envelope bytes were already stored for `screen`, the log leaf holding
    /// them (an exact resend: nothing to do but ack again).
    /// `hash` is the envelope's `playlists::merkle::leaf_hash`.
    pub fn stored_batch(
        &self,
        screen: &str,
        hash: &playlists::merkle::Hash,
    ) -> Result<Option<u64>> {
        match self.audit.batch_hashes.get(hash)? {
            Some(v) => {
                let row: BatchHashRow = decode("batch hash", &v)?;
                Ok((row.screen == screen).then_some(row.leaf))
            }
            None => Ok(None),
        }
    }

    // ---- receipts: read API (for queries, reports and export) ----

    /// One stored receipt of a chain ([`chain_key`]).
    pub fn receipt(&self, screen: &str, seq: u64) -> Result<Option<StoredReceipt>> {
        let epoch = epoch_of_chain(screen.as_bytes());
        self.with_receipt(screen, seq, |run, i| run.stored(i, epoch))
    }

    /// The receipts of one chain ([`chain_key`]) with `seq >= from_seq`, in seq order (lazy).
    pub fn receipts_of(
        &self,
        screen: &str,
        from_seq: u64,
    ) -> impl Iterator<Item = Result<StoredReceipt>> + '_ {
        // Start at the run holding `from_seq` (it may begin earlier).
        let (first, failed) = match self.run_containing(screen, from_seq) {
            Ok(Some((first, _))) => (first, None),
            Ok(None) => (from_seq, None),
            Err(e) => (u64::MAX, Some(Err(e))),
        };
        let start = receipt_key(screen, first);
        let end = receipt_key(screen, u64::MAX);
        let epoch = epoch_of_chain(screen.as_bytes());
        let runs = self
            .audit
            .runs
            .range(start..=end)
            .flat_map(move |kv| -> Vec<Result<StoredReceipt>> {
                let (_, v) = match kv {
                    Ok(kv) => kv,
                    Err(e) => return vec![Err(e.into())],
                };
                match self.audit.values.resolve(v).and_then(|v| {
                    let run = decode_run(&v)?;
                    Ok(run.all(epoch))
                }) {
                    Ok(all) => all,
                    Err(e) => vec![Err(e)],
                }
            })
            .filter(move |r| r.as_ref().map_or(true, |s| s.receipt.seq >= from_seq));
        failed.into_iter().chain(runs)
    }

    /// Every receipt stored when this is called whose `started_at` lies in `[from, to)`, ordered
    /// by `started_at` (then screen, then seq), read lazily through the time index (no full
    /// scan). A consistent snapshot: see [`Store::receipts_between_upto`], with the log size
    /// read now.
    pub fn receipts_between(
        &self,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
    ) -> impl Iterator<Item = Result<StoredReceipt>> + '_ {
        let (size, failed) = match self.log_size() {
            Ok(n) => (n, None),
            Err(e) => (0, Some(Err(e))),
        };
        failed
            .into_iter()
            .chain(self.receipts_between_upto(from, to, size))
    }

    /// Like [`Store::receipts_between`], but only the receipts brought by the first `log_size`
    /// leaves of the Merkle log (`batch_index < log_size`): the receipts stored when the log had
    /// that size, however many arrive while the caller reads.
    ///
    /// Why: the time index is not append-only. A screen that was offline uploads its backlog
    /// late, so its receipts land *behind* newer receipts of other screens. A plain lazy scan
    /// that has already passed that point misses them but still returns the same screen's
    /// later receipts, i.e. a gap in its `seq` that looks like lost receipts. Leaves (and the
    /// receipts they bring, in the same transaction) are appended in order, so everything with
    /// `batch_index < log_size` was already in the index when the log had that size, and
    /// nothing stored later shows up: for every screen the answer is the chain `1..=tip` as it
    /// stood then (within `[from, to)`). Paginated readers keep one `log_size` for all pages.
    pub fn receipts_between_upto(
        &self,
        from: jiff::Timestamp,
        to: jiff::Timestamp,
        log_size: u64,
    ) -> impl Iterator<Item = Result<StoredReceipt>> + '_ {
        let (from_ms, to_ms) = (from.as_millisecond(), to.as_millisecond());
        let start = time_prefix(from_ms.saturating_sub(RUN_SPAN_MS));
        let end = time_prefix(to_ms);
        TimeScan {
            store: self,
            index: self.audit.run_time.range(start..end).peekable(),
            heap: Default::default(),
            from_ms,
            to_ms,
            log_size,
        }
    }
}

/// Proof that the caller holds the log lock ([`Store::with_log_lock`]).
pub struct LogGuard<'a> {
    store: &'a Store,
}

/// One staged batch's rows, as they go into sled.
struct StagedRows {
    /// `(time key, run key, reference)` per run.
    runs: Vec<(Vec<u8>, Vec<u8>, [u8; 17])>,
    chain: String,
    tip: Vec<u8>,
    hash: playlists::merkle::Hash,
    dedup: Vec<u8>,
    index: u64,
    leaf: [u8; 17],
}

/// Batches staged by [`LogGuard::stage_batch`]: verified, their runs and envelopes appended to
/// the value log, their rows not yet in sled. [`LogGuard::commit`] syncs the value log once and
/// writes all their rows in one transaction. Reads do not see a staged batch, so a chain may
/// have at most one staged batch at a time ([`StagedBatches::holds`]).
#[derive(Default)]
pub struct StagedBatches {
    rows: Vec<StagedRows>,
}

impl StagedBatches {
    /// Whether a batch of chain `chain` ([`chain_key`]) is staged.
    pub fn holds(&self, chain: &str) -> bool {
        self.rows.iter().any(|r| r.chain == chain)
    }
}

impl LogGuard<'_> {
    /// Stores a verified batch: [`LogGuard::stage_batch`] then [`LogGuard::commit`].
    /// **Not flushed**: the caller flushes ([`Store::flush`]) before acknowledging.
    pub fn store_batch(
        &self,
        screen: &str,
        envelope: &[u8],
        batch: &VerifiedBatch,
        received_at: &str,
    ) -> Result<BatchStored> {
        let mut staged = StagedBatches::default();
        let hash = playlists::merkle::leaf_hash(envelope);
        let stored = self.stage_batch(&mut staged, screen, envelope, &hash, batch, received_at)?;
        self.commit(&mut staged)?;
        Ok(stored)
    }

    /// Stages a verified batch of chain `screen` ([`chain_key`]; none of it may be staged
    /// already): appends its new receipts (exact bytes, as runs) and the exact envelope (a
    /// `batch` log leaf; `hash` is its `leaf_hash`) to the value log, and keeps the rows that
    /// [`LogGuard::commit`] writes: runs, time index, chain tip, duplicate index, leaf and leaf
    /// hash. Nothing is staged when the batch has no new receipt.
    pub fn stage_batch(
        &self,
        staged: &mut StagedBatches,
        screen: &str,
        envelope: &[u8],
        hash: &playlists::merkle::Hash,
        batch: &VerifiedBatch,
        received_at: &str,
    ) -> Result<BatchStored> {
        let s = self.store;
        if batch.new.is_empty() {
            return Ok(BatchStored {
                leaf: None,
                new_receipts: 0,
                tip: batch.tip.clone(),
            });
        }
        debug_assert!(!staged.holds(screen), "one staged batch per chain");
        let index = s.next_leaf_index()? + staged.rows.len() as u64;
        let items: Vec<(u64, i64)> = batch
            .new
            .iter()
            .map(|&i| {
                let r = &batch.receipts[i].0;
                (r.seq, r.started_at.as_millisecond())
            })
            .collect();
        let values = &s.audit.values;
        let mut runs = Vec::new();
        for (a, b, lo) in cut_runs(&items) {
            let first = items[a].0;
            let bytes: Vec<&[u8]> = batch.new[a..b]
                .iter()
                .map(|&i| batch.receipts[i].1.as_slice())
                .collect();
            let key = receipt_key(screen, first);
            let run = values.append(&[&encode_run(received_at, index, &bytes)])?;
            runs.push((time_key(lo, &key), key, run.encode()));
        }
        let leaf = values.append(&[&[0u8], envelope])?.encode();
        staged.rows.push(StagedRows {
            runs,
            chain: screen.to_owned(),
            tip: encode(&TipRow {
                seq: batch.tip.seq,
                hash: batch.tip.hash.clone(),
            }),
            hash: *hash,
            dedup: encode(&BatchHashRow {
                screen: screen.to_owned(),
                leaf: index,
            }),
            index,
            leaf,
        });
        Ok(BatchStored {
            leaf: Some(index),
            new_receipts: items.len(),
            tip: batch.tip.clone(),
        })
    }

    /// Writes the staged batches' rows: syncs the value log first (a reference is never
    /// written before what it refers to is on disk), then one transaction for all of them.
    /// **Not flushed.**
    pub fn commit(&self, staged: &mut StagedBatches) -> Result<()> {
        use sled::transaction::{ConflictableTransactionError, TransactionError};
        use sled::Transactional as _;
        if staged.rows.is_empty() {
            return Ok(());
        }
        let a = &self.store.audit;
        a.values.sync()?;
        let rows = std::mem::take(&mut staged.rows);
        (
            &a.runs,
            &a.run_time,
            &a.chain_tips,
            &a.batch_hashes,
            &a.log_leaves,
            &a.log_hashes,
        )
            .transaction(|(receipts, times, tips, dups, leaves, hashes)| {
                for b in &rows {
                    for (tk, rk, v) in &b.runs {
                        receipts.insert(rk.as_slice(), &v[..])?;
                        times.insert(tk.as_slice(), &[][..])?;
                    }
                    tips.insert(b.chain.as_bytes(), b.tip.as_slice())?;
                    dups.insert(&b.hash[..], b.dedup.as_slice())?;
                    leaves.insert(&b.index.to_be_bytes(), &b.leaf[..])?;
                    hashes.insert(&b.index.to_be_bytes(), &b.hash[..])?;
                }
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Db(e),
                TransactionError::Abort(()) => corrupt("receipts", "transaction aborted"),
            })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::{chain_key, epoch_of_chain};

    #[test]
    fn chain_keys_keep_epoch_1_as_before_and_round_trip() {
        assert_eq!(chain_key("lc-a1", 1), "lc-a1");
        assert_eq!(chain_key("lc-a1", 2), "lc-a1@2");
        for e in [1, 2, 17, u64::MAX] {
            assert_eq!(epoch_of_chain(chain_key("lc-a1", e).as_bytes()), e);
        }
    }
}
