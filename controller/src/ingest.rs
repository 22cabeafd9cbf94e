//! Receipt ingest (docs/protocol.md §13–§14): verify each `receipts` envelope with the device
//! key of the enrolment epoch it names and that epoch's stored chain, store it idempotently,
//! flush, then send the signed ack (QoS 1, **not** retained) for that epoch and device key with
//! the highest contiguous stored seq of its chain. Each enrolment of a screen starts a chain of
//! its own (a new box starts at seq 1), stored under [`crate::store::chain_key`].
//!
//! Batches wait in the fair [`ReceiptQueue`]; [`run`] takes up to [`IngestConfig::max_group`]
//! envelopes that are already waiting, verifies the first envelope of each screen on all cores
//! (signatures and chains do not depend on one another across screens), applies them one after
//! the other under one hold of the log lock — each stored batch's runs and envelope are
//! appended to the value log, and their rows are written after one sync of it, in one
//! transaction — flushes the database **once** for the whole group (group commit) and only
//! then signs and publishes one ack per screen of the group.
//!
//! Per envelope ([`Ingest::apply`]):
//! - exactly the same envelope bytes already stored for this screen (the player's uploader
//!   resends its batch every ack timeout): nothing is written, no new log leaf; it is acked again;
//! - verified by `playlists::receipt::verify_batch` against the stored tip: the new receipts,
//!   the new tip and the exact envelope (as a Merkle log leaf) are written in one transaction
//!   (with the rest of the group's);
//!   a batch that only repeats stored receipts writes nothing and is acked again;
//! - rejected: nothing of it is stored or acked; the rejection is counted in `/metrics`
//!   (`gatecast_receipt_batches_rejected_total{reason}`) and recorded for auditors
//!   (`GET /api/v1/receipts/rejections`); a `duplicate_conflict` (a stored seq with other bytes)
//!   also keeps the raw envelope as evidence.
//!
//! An epoch superseded by a re-enrolment with another device key is closed: it still takes
//! resends and receipts that started before the next enrolment, nothing newer (`epoch_closed`);
//! a batch naming an epoch the screen never had is `unknown_epoch` (docs/protocol.md §13, §16).
//!
//! An ack never covers more than the chain tip, which only ever advances by contiguous seqs, so
//! nothing past a gap is ever acknowledged.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use base64::Engine as _;
use playlists::keys::{PublicKey, SecretKey};
use playlists::receipt::{
    claimed_epoch, sign_ack, verify_batch, Ack, BatchError, ChainTip, VerifiedBatch, FIRST_EPOCH,
};
use playlists::topics::{topic, Kind};
use tracing::{debug, info, trace, warn};

use crate::inbound::ReceiptQueue;
pub use crate::metrics::{IngestMetrics, REJECTION_REASONS};
use crate::publish::Outbox;
use crate::store::{
    chain_key, ConflictRecord, LogGuard, RejectionRecord, StagedBatches, Store, StoreError,
};

/// Settings of the ingest task.
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// Most envelopes applied under one flush (default 256).
    pub max_group: usize,
}

impl Default for IngestConfig {
    fn default() -> Self {
        IngestConfig { max_group: 256 }
    }
}

/// What happened to one envelope.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// New receipts stored (not yet flushed); `leaf` is the batch's Merkle log index.
    Stored {
        /// Number of new receipts.
        new_receipts: usize,
        /// Log leaf index of the envelope.
        leaf: u64,
        /// Chain tip after it.
        tip: u64,
    },
    /// Nothing new (an exact resend, or only receipts already stored); ack again.
    Duplicate {
        /// Current chain tip (`None` cannot happen for a verified batch, but is kept honest).
        tip: Option<u64>,
    },
    /// Rejected with this reason code; nothing stored, nothing acked.
    Rejected {
        /// Reason code (docs/protocol.md §16).
        reason: &'static str,
        /// Human detail.
        detail: String,
    },
}

/// Why ingest failed as a whole (the store broke); the envelopes are not acked and the
/// players will resend them.
#[derive(Debug, thiserror::Error)]
pub enum IngestError {
    /// The store failed.
    #[error("receipt ingest could not use the database: {0}")]
    Store(#[from] StoreError),
    /// The thread applying a group ended without an answer (a panic); nothing of the group
    /// was acknowledged.
    #[error("receipt ingest: applying a group ended abnormally: {0}")]
    Aborted(String),
}

/// The ingest: store, controller key, ack outbox and counters.
#[derive(Clone)]
pub struct Ingest {
    /// The database.
    pub store: Store,
    /// Signs acks.
    pub key: Arc<SecretKey>,
    /// Publishes acks (non-retained).
    pub outbox: Arc<dyn Outbox>,
    /// Counters.
    pub metrics: Arc<IngestMetrics>,
}

/// An envelope verified ahead of the log lock, with the chain tip it was verified against.
struct Preverified {
    key: EpochKey,
    tip: Option<ChainTip>,
    result: Result<VerifiedBatch, BatchError>,
}

/// The enrolment epoch an envelope names (1 if none, or if it cannot be read: verification
/// then fails with the precise reason).
fn epoch_of(envelope: &[u8]) -> u64 {
    claimed_epoch(envelope).unwrap_or(FIRST_EPOCH)
}

/// The device key of one enrolment epoch of a screen, and whether the epoch still takes new
/// receipts (docs/protocol.md §13).
#[derive(Clone)]
struct EpochKey {
    key: PublicKey,
    /// For a superseded epoch whose key is not the current one (another box): when the next
    /// epoch was enrolled. Its chain only takes new receipts that started before then (the old
    /// box's honest backlog); resends of what is stored are still acked. `None`: open (the
    /// current epoch, or an earlier one enrolled with the current key, i.e. the same box).
    closed_at: Option<jiff::Timestamp>,
}

/// Why a batch's epoch has no usable key: reason code and a sentence for the rejection.
type NoKey = (&'static str, String);

/// The device key `screen` enrolled in `epoch`, or why there is none.
fn device_key(
    store: &Store,
    screen: &str,
    epoch: u64,
) -> Result<Result<EpochKey, NoKey>, StoreError> {
    let bad = |why: String| Err(("bad_signature", why));
    Ok(match store.screen(screen)? {
        None => bad(format!("screen {screen:?} is not registered")),
        Some(s) if s.disabled => bad(format!("screen {screen:?} is disabled")),
        Some(s) => {
            let epochs = s.epochs();
            let Some(i) = epochs.iter().position(|e| e.epoch == epoch) else {
                return Ok(if epochs.is_empty() {
                    bad(format!("screen {screen:?} has not enrolled a device key"))
                } else {
                    Err((
                        "unknown_epoch",
                        format!(
                            "screen {screen:?} has no enrolment epoch {epoch} (the current one is {})",
                            s.epoch()
                        ),
                    ))
                });
            };
            let this = &epochs[i];
            let current = epochs.last().map(|e| e.device_key.as_str());
            let closed_at = match epochs.get(i + 1) {
                Some(next) if current != Some(this.device_key.as_str()) => Some(
                    // An unreadable enrolment time closes the epoch to every new receipt.
                    next.enrolled_at
                        .parse::<jiff::Timestamp>()
                        .unwrap_or(jiff::Timestamp::MIN),
                ),
                _ => None,
            };
            match PublicKey::from_base64(&this.device_key) {
                Ok(key) => Ok(EpochKey { key, closed_at }),
                Err(err) => bad(format!(
                    "the stored device key of {screen:?} epoch {epoch} is unusable: {err}"
                )),
            }
        }
    })
}

/// `Some(sentence)` when `batch` brings a new receipt to an epoch closed at `closed_at` that
/// started at or after it (docs/protocol.md §13, §16 `epoch_closed`).
fn closed_epoch_refuses(
    batch: &VerifiedBatch,
    closed_at: Option<jiff::Timestamp>,
) -> Option<String> {
    let closed_at = closed_at?;
    let late = batch
        .new
        .iter()
        .map(|&i| &batch.receipts[i].0)
        .find(|r| r.started_at >= closed_at)?;
    Some(format!(
        "enrolment epoch {} of screen {:?} was superseded at {closed_at} by a new enrolment with \
         another device key; it only takes receipts that started before then, and seq {} started \
         at {}",
        batch.epoch, batch.screen, late.seq, late.started_at
    ))
}

/// Verifies `envelope` against the chain `chain` ([`chain_key`]) of `screen` ending at `tip`,
/// looking up stored receipts for the seqs a resend overlaps.
fn verify_on_chain(
    store: &Store,
    screen: &str,
    chain: &str,
    envelope: &[u8],
    key: &PublicKey,
    tip: Option<&ChainTip>,
) -> Result<VerifiedBatch, BatchError> {
    let lookup = |seq: u64| store.receipt_hash_at(chain, seq).ok().flatten();
    verify_batch(envelope, key, screen, tip, &lookup)
}

/// Verifies `envelope` against the stored chain of its epoch without the log lock; `None`
/// when the store cannot say (the serial path then decides, with the same code).
fn preverify_one(store: &Store, screen: &str, epoch: u64, envelope: &[u8]) -> Option<Preverified> {
    let chain = chain_key(screen, epoch);
    let key = device_key(store, screen, epoch).ok()?.ok()?;
    let tip = store.chain_tip(&chain).ok()?;
    let result = verify_on_chain(store, screen, &chain, envelope, &key.key, tip.as_ref());
    Some(Preverified { key, tip, result })
}

/// An envelope as received: the screen whose topic it came on, the epoch it names
/// ([`epoch_of`]) and its exact bytes.
type Received = (String, u64, Vec<u8>);

/// Reads every envelope's epoch ([`epoch_of`]) and verifies the first envelope of every
/// screen in `group` on all cores, before the serial apply. Only the ingest task writes
/// receipts and chain tips, so a screen's tip cannot move between this and the apply; the
/// apply still compares the tip and verifies again if it did. Later envelopes of the same
/// screen depend on the earlier ones and are verified serially.
fn preverify(
    store: &Store,
    group: Vec<(String, Vec<u8>)>,
) -> (Vec<Received>, Vec<Option<Preverified>>) {
    let mut seen = std::collections::HashSet::new();
    let first: Vec<bool> = group.iter().map(|(s, _)| seen.insert(s.clone())).collect();
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(group.len());
    let one = |i: usize| {
        let (screen, env) = &group[i];
        let epoch = epoch_of(env);
        let pre = if first[i] && threads > 1 {
            preverify_one(store, screen, epoch, env)
        } else {
            None
        };
        (i, epoch, pre)
    };
    let done: Vec<(usize, u64, Option<Preverified>)> = if threads < 2 {
        (0..group.len()).map(one).collect()
    } else {
        std::thread::scope(|sc| {
            let handles: Vec<_> = (0..threads)
                .map(|t| {
                    let one = &one;
                    let n = group.len();
                    sc.spawn(move || (t..n).step_by(threads).map(one).collect::<Vec<_>>())
                })
                .collect();
            handles
                .into_iter()
                .flat_map(|h| h.join().unwrap_or_default())
                .collect()
        })
    };
    let mut epochs = vec![FIRST_EPOCH; group.len()];
    let mut out: Vec<Option<Preverified>> = group.iter().map(|_| None).collect();
    for (i, epoch, p) in done {
        epochs[i] = epoch;
        out[i] = p;
    }
    let group = group
        .into_iter()
        .zip(epochs)
        .map(|((screen, env), epoch)| (screen, epoch, env))
        .collect();
    (group, out)
}

/// A rejection to record: reason code, the conflicting seq of a `duplicate_conflict`, and a
/// sentence.
struct Rejection {
    reason: &'static str,
    conflict: Option<u64>,
    detail: String,
}

/// Why an envelope is not stored.
enum Refused {
    /// Verification failed.
    Batch(BatchError),
    /// It verified, but brings receipts its closed epoch no longer takes.
    Closed(String),
}

/// Counts, logs and records (its hash and size, never its bytes) a batch rejected for `reason`
/// (not flushed).
fn record_rejected(
    store: &Store,
    metrics: &IngestMetrics,
    screen: &str,
    envelope: &[u8],
    received_at: &str,
    reason: &'static str,
    detail: &str,
) -> Result<(), IngestError> {
    metrics.reject(reason);
    warn!(%screen, reason, "receipts batch rejected: {detail}");
    store.record_rejection(RejectionRecord {
        id: 0,
        screen: screen.to_string(),
        reason: reason.to_string(),
        detail: detail.to_string(),
        received_at: received_at.to_string(),
        envelope_sha256: playlists::hex::sha256_hex(envelope),
        envelope_bytes: envelope.len() as u64,
    })?;
    Ok(())
}

/// Rejects a batch over [`playlists::envelope::MAX_ENVELOPE_BYTES`] before it is queued for the
/// ingest (`docs/security.md` §3 row 48): recorded and counted as `bad_envelope` like one the
/// ingest refuses, and its bytes are not kept.
pub fn refuse_oversized(
    store: &Store,
    metrics: &IngestMetrics,
    screen: &str,
    envelope: &[u8],
) -> Result<(), IngestError> {
    let err = BatchError::BadEnvelope(playlists::envelope::EnvelopeError::TooLarge {
        size: envelope.len(),
        max: playlists::envelope::MAX_ENVELOPE_BYTES,
    });
    let received_at = format!("{:.3}", jiff::Timestamp::now());
    let detail = err.to_string();
    record_rejected(
        store,
        metrics,
        screen,
        envelope,
        &received_at,
        err.as_str(),
        &detail,
    )
}

impl Ingest {
    /// Applies one envelope received on `screen`'s receipts topic (not flushed).
    pub fn apply(
        &self,
        screen: &str,
        envelope: &[u8],
        received_at: &str,
    ) -> Result<Applied, IngestError> {
        let epoch = epoch_of(envelope);
        self.store.with_log_lock(|log| {
            let mut staged = StagedBatches::default();
            let received = (screen.to_owned(), epoch, envelope.to_vec());
            let applied = self.apply_locked(log, &mut staged, &received, received_at, None)?;
            log.commit(&mut staged)?;
            Ok(applied)
        })
    }

    /// Applies `envelope`, which names enrolment `epoch` ([`epoch_of`]), under the log lock:
    /// a batch to store is staged in `staged` (no batch of its chain may be staged already);
    /// the caller commits ([`LogGuard::commit`]). A rejection is recorded at once.
    fn apply_locked(
        &self,
        log: &LogGuard<'_>,
        staged: &mut StagedBatches,
        (screen, epoch, envelope): &Received,
        received_at: &str,
        pre: Option<Preverified>,
    ) -> Result<Applied, IngestError> {
        let (screen, epoch) = (screen.as_str(), *epoch);
        let store = &self.store;
        let chain = chain_key(screen, epoch);
        // The pre-verification already looked the key up.
        let key = match &pre {
            Some(p) => Ok(p.key.clone()),
            None => device_key(store, screen, epoch)?,
        };
        let key = match key {
            Ok(k) => k,
            Err((reason, detail)) => {
                let why = Rejection {
                    reason,
                    conflict: None,
                    detail,
                };
                return self.rejected(screen, epoch, envelope, received_at, why);
            }
        };
        let hash = playlists::merkle::leaf_hash(envelope);
        let outcome = if store.stored_batch(&chain, &hash)?.is_some() {
            Ok(None)
        } else {
            let tip = store.chain_tip(&chain)?;
            let result = match pre {
                Some(p) if p.tip == tip => p.result,
                _ => verify_on_chain(store, screen, &chain, envelope, &key.key, tip.as_ref()),
            };
            match result {
                Ok(v) => match closed_epoch_refuses(&v, key.closed_at) {
                    Some(why) => Err(Refused::Closed(why)),
                    None => Ok(Some(log.stage_batch(
                        staged,
                        &chain,
                        envelope,
                        &hash,
                        &v,
                        received_at,
                    )?)),
                },
                Err(e) => Err(Refused::Batch(e)),
            }
        };
        match outcome {
            Ok(Some(stored)) => match stored.leaf {
                Some(leaf) => {
                    self.metrics.batches_stored.fetch_add(1, Ordering::Relaxed);
                    self.metrics
                        .receipts_stored
                        .fetch_add(stored.new_receipts as u64, Ordering::Relaxed);
                    Ok(Applied::Stored {
                        new_receipts: stored.new_receipts,
                        leaf,
                        tip: stored.tip.seq,
                    })
                }
                None => {
                    self.metrics
                        .batches_duplicate
                        .fetch_add(1, Ordering::Relaxed);
                    Ok(Applied::Duplicate {
                        tip: Some(stored.tip.seq),
                    })
                }
            },
            Ok(None) => {
                self.metrics
                    .batches_duplicate
                    .fetch_add(1, Ordering::Relaxed);
                Ok(Applied::Duplicate {
                    tip: store.chain_tip(&chain)?.map(|t| t.seq),
                })
            }
            Err(Refused::Closed(detail)) => {
                let why = Rejection {
                    reason: "epoch_closed",
                    conflict: None,
                    detail,
                };
                self.rejected(screen, epoch, envelope, received_at, why)
            }
            Err(Refused::Batch(e)) => {
                let why = Rejection {
                    reason: e.as_str(),
                    conflict: match e {
                        BatchError::DuplicateConflict { seq } => Some(seq),
                        _ => None,
                    },
                    detail: e.to_string(),
                };
                self.rejected(screen, epoch, envelope, received_at, why)
            }
        }
    }

    /// Counts, logs and records a rejection (docs/protocol.md §16); a conflict also keeps the
    /// envelope as evidence.
    fn rejected(
        &self,
        screen: &str,
        epoch: u64,
        envelope: &[u8],
        received_at: &str,
        why: Rejection,
    ) -> Result<Applied, IngestError> {
        let Rejection {
            reason,
            conflict,
            detail,
        } = why;
        record_rejected(
            &self.store,
            &self.metrics,
            screen,
            envelope,
            received_at,
            reason,
            &detail,
        )?;
        if let Some(seq) = conflict {
            self.metrics.conflicts.fetch_add(1, Ordering::Relaxed);
            self.store.record_conflict(ConflictRecord {
                id: 0,
                screen: screen.to_string(),
                epoch,
                seq,
                received_at: received_at.to_string(),
                envelope: base64::engine::general_purpose::STANDARD.encode(envelope),
                repeats: 0,
                last_received_at: None,
            })?;
        }
        Ok(Applied::Rejected { reason, detail })
    }

    /// Applies a group of envelopes, flushes once, then acks every screen that had an accepted
    /// (or duplicate) batch in the group with its chain tip. Returns what happened to each.
    pub async fn ingest_group(
        &self,
        group: Vec<(String, Vec<u8>)>,
    ) -> Result<Vec<Applied>, IngestError> {
        let (results, acks) = self.apply_group(group)?;
        self.flush_and_ack(acks).await?;
        Ok(results)
    }

    /// Applies a group of envelopes (not flushed). Returns what happened to each and the
    /// acks it calls for: per chain, the tip as it stood after its last batch of the group.
    fn apply_group(
        &self,
        group: Vec<(String, Vec<u8>)>,
    ) -> Result<(Vec<Applied>, PendingAcks), IngestError> {
        let received_at = format!("{:.3}", jiff::Timestamp::now());
        let mut acks = PendingAcks::new();
        let (group, pre) = preverify(&self.store, group);
        // One hold of the log lock for the group; a chain's second batch in the group waits
        // for its first to be committed, since it is verified against it.
        let results = self.store.with_log_lock(|log| -> Result<_, IngestError> {
            let mut staged = StagedBatches::default();
            let mut results = Vec::with_capacity(group.len());
            for (received, pre) in group.iter().zip(pre) {
                let (screen, epoch, _) = received;
                if staged.holds(&chain_key(screen, *epoch)) {
                    log.commit(&mut staged)?;
                }
                let applied = self.apply_locked(log, &mut staged, received, &received_at, pre)?;
                if let Applied::Stored { tip, .. } | Applied::Duplicate { tip: Some(tip) } =
                    &applied
                {
                    note_ack(&mut acks, (screen.clone(), *epoch), *tip);
                }
                results.push(applied);
            }
            log.commit(&mut staged)?;
            Ok(results)
        })?;
        Ok((results, acks))
    }

    /// Flushes, then sends each pending ack. An ack names the tip recorded when its batch
    /// was applied, never a later one: a batch applied while this flush runs is acked after
    /// the next.
    async fn flush_and_ack(&self, acks: PendingAcks) -> Result<(), IngestError> {
        let started = std::time::Instant::now();
        self.store.flush().await?;
        let flushed = started.elapsed();
        self.metrics.flushes.fetch_add(1, Ordering::Relaxed);
        let n = acks.len();
        for ((screen, epoch), tip) in acks {
            let Ok(key) = device_key(&self.store, &screen, epoch)? else {
                continue;
            };
            self.send_ack(&screen, epoch, &key.key.key_id(), tip).await;
        }
        debug!(acks = n, ?flushed, acked = ?started.elapsed(), "receipt groups flushed and acked");
        Ok(())
    }

    /// Acks the chain of `screen`'s `epoch` (device key `key_id`) up to `upto_seq`: a player
    /// of another epoch or key ignores it (docs/protocol.md §14).
    async fn send_ack(&self, screen: &str, epoch: u64, key_id: &str, upto_seq: u64) {
        let ack = Ack {
            screen: screen.to_string(),
            epoch,
            key_id: Some(key_id.to_owned()),
            upto_seq,
        };
        let bytes = sign_ack(&ack, &self.key).to_json();
        match self
            .outbox
            .send_unretained(topic(screen, Kind::Ack), bytes)
            .await
        {
            Ok(()) => {
                self.metrics.acks_sent.fetch_add(1, Ordering::Relaxed);
                debug!(%screen, epoch, upto_seq, "ack sent");
            }
            Err(e) => {
                self.metrics.ack_failures.fetch_add(1, Ordering::Relaxed);
                warn!(%screen, upto_seq, "ack not sent (the player will resend): {e}");
            }
        }
    }
}

/// Acks a group calls for: (screen, epoch) → the chain tip to acknowledge.
type PendingAcks = BTreeMap<(String, u64), u64>;

/// Notes that `chain` may be acked up to `tip` (the highest tip noted wins).
fn note_ack(acks: &mut PendingAcks, chain: (String, u64), tip: u64) {
    let at = acks.entry(chain).or_default();
    *at = (*at).max(tip);
}

/// Runs the ingest until `queue` is closed and empty: takes whatever is waiting, in the
/// queue's turn order (up to [`IngestConfig::max_group`]), and applies it; a second task
/// flushes and acks what was applied, so the next group is verified and stored while the
/// last one's flush runs. One flush covers every group applied before it started.
pub async fn run(ingest: Ingest, queue: Arc<ReceiptQueue>, cfg: IngestConfig) {
    let ingest = Arc::new(ingest);
    let max = cfg.max_group.max(1);
    // A few groups may wait for their flush; past that the apply waits too.
    let (applied_tx, mut applied_rx) = tokio::sync::mpsc::channel::<PendingAcks>(4);
    let committer = {
        let ingest = ingest.clone();
        tokio::spawn(async move {
            while let Some(mut acks) = applied_rx.recv().await {
                while let Ok(more) = applied_rx.try_recv() {
                    for (chain, tip) in more {
                        note_ack(&mut acks, chain, tip);
                    }
                }
                if let Err(e) = ingest.flush_and_ack(acks).await {
                    warn!("receipt groups not flushed (players will resend): {e}");
                }
            }
        })
    };
    while let Some(first) = queue.pop().await {
        let mut group = vec![first];
        while group.len() < max {
            match queue.try_pop() {
                Some(m) => group.push(m),
                None => break,
            }
        }
        let n = group.len();
        let started = std::time::Instant::now();
        // Verifying, appending and syncing the value log block: on a thread of the blocking
        // pool, not on one of the runtime's workers (the API and MQTT tasks run there).
        let applied = {
            let ingest = ingest.clone();
            tokio::task::spawn_blocking(move || ingest.apply_group(group)).await
        };
        let applied = applied.unwrap_or_else(|e| Err(IngestError::Aborted(e.to_string())));
        match applied {
            Ok((res, acks)) => {
                debug!(envelopes = n, took = ?started.elapsed(), "receipt group applied");
                trace!(?res, "receipt group outcomes");
                if applied_tx.send(acks).await.is_err() {
                    break;
                }
            }
            Err(e) => warn!(
                envelopes = n,
                "receipt group not stored (players will resend): {e}"
            ),
        }
    }
    drop(applied_tx);
    let _ = committer.await;
    info!("receipt ingest stopped");
}
