//! Evidence beside the receipts: batches the ingest rejected (with their reason) and the
//! envelopes that contradict a stored receipt (`docs/protocol.md` §13, §15), for auditors.

use serde::{Deserialize, Serialize};

use super::receipts::chain_key;
use super::runs::seq_key;
use super::{decode, encode, Result, Store};

/// A rejected receipts batch, kept for auditors (`GET /api/v1/receipts/rejections`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RejectionRecord {
    /// Increasing id.
    pub id: u64,
    /// Screen id from the topic the batch arrived on.
    pub screen: String,
    /// Stable reason code (`bad_signature`, `seq_gap`, … as in docs/protocol.md §16).
    pub reason: String,
    /// Human sentence saying what was wrong.
    pub detail: String,
    /// When it arrived (RFC 3339 UTC).
    pub received_at: String,
    /// Lowercase hex SHA-256 of the envelope bytes.
    pub envelope_sha256: String,
    /// Size of the envelope in bytes.
    pub envelope_bytes: u64,
}

/// How many rejected batches are kept as rows per screen: the oldest row goes when a newer one
/// comes, so garbage from one screen cannot fill the disk (`docs/security.md` §3 row 49). Every
/// rejection is still counted in its screen's [`RejectionCount`].
pub const REJECTIONS_KEPT_PER_SCREEN: usize = 100;

/// Every batch rejected for one screen with one reason, kept or not: one row per (screen,
/// reason), so its size does not grow with the flood (`GET /api/v1/receipts/rejections`,
/// `counts`).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct RejectionCount {
    /// Screen id from the topic the batches arrived on.
    pub screen: String,
    /// Stable reason code (docs/protocol.md §16).
    pub reason: String,
    /// How many batches were rejected with this reason.
    pub count: u64,
    /// When the first of them arrived (RFC 3339 UTC).
    pub first_received_at: String,
    /// When the last of them arrived (RFC 3339 UTC).
    pub last_received_at: String,
    /// Lowercase hex SHA-256 of the last envelope.
    pub last_envelope_sha256: String,
    /// Size of the last envelope in bytes.
    pub last_envelope_bytes: u64,
}

/// A batch rejected with `duplicate_conflict`: a stored seq arrived with other bytes. The raw
/// envelope is kept as evidence and never applied. Only the first conflicting envelope per
/// (screen, enrolment epoch, seq) is kept; later ones are counted in `repeats`
/// (`docs/security.md` §3 row 49).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConflictRecord {
    /// Increasing id (same sequence as [`RejectionRecord::id`]).
    pub id: u64,
    /// Screen id from the topic.
    pub screen: String,
    /// The enrolment epoch the envelope names (its chain: `docs/protocol.md` §13); records
    /// from before epochs are of epoch 1.
    #[serde(default = "playlists::receipt::first_epoch")]
    pub epoch: u64,
    /// The conflicting seq.
    pub seq: u64,
    /// When it arrived (RFC 3339 UTC).
    pub received_at: String,
    /// The exact envelope bytes, standard base64.
    pub envelope: String,
    /// How many more conflicting envelopes for the same (screen, epoch, seq) arrived after this one
    /// (counted, not kept).
    #[serde(default)]
    pub repeats: u64,
    /// When the last of those arrived (RFC 3339 UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_received_at: Option<String>,
}

impl Store {
    /// Records a rejected batch for auditors (not flushed; the ingest flushes per group): the
    /// row, and its count per (screen, reason). Only the newest
    /// [`REJECTIONS_KEPT_PER_SCREEN`] rows of a screen are kept; older ones are removed.
    pub fn record_rejection(&self, mut r: RejectionRecord) -> Result<RejectionRecord> {
        let t = &self.audit;
        let count_key = reason_key(&r.screen, &r.reason);
        let count = match t.rejection_counts.get(&count_key)? {
            Some(v) => {
                let mut c: RejectionCount = decode("receipt rejection count", &v)?;
                c.count = c.count.saturating_add(1);
                c.last_received_at.clone_from(&r.received_at);
                c.last_envelope_sha256.clone_from(&r.envelope_sha256);
                c.last_envelope_bytes = r.envelope_bytes;
                c
            }
            None => RejectionCount {
                screen: r.screen.clone(),
                reason: r.reason.clone(),
                count: 1,
                first_received_at: r.received_at.clone(),
                last_received_at: r.received_at.clone(),
                last_envelope_sha256: r.envelope_sha256.clone(),
                last_envelope_bytes: r.envelope_bytes,
            },
        };
        t.rejection_counts.insert(count_key, encode(&count))?;
        r.id = self.db.generate_id()? + 1;
        t.rejections.insert(r.id.to_be_bytes(), encode(&r))?;
        t.rejection_index
            .insert(seq_key(r.screen.as_bytes(), r.id), &[])?;
        // The screen's rows, newest first: remove those past the newest N.
        let mut prefix = r.screen.as_bytes().to_vec();
        prefix.push(b'/');
        let index = t.rejection_index.scan_prefix(&prefix).keys().rev();
        for key in index.skip(REJECTIONS_KEPT_PER_SCREEN) {
            let key = key?;
            t.rejections.remove(&key[prefix.len()..])?;
            t.rejection_index.remove(&key)?;
        }
        Ok(r)
    }

    /// How many batches were rejected per (screen, reason), kept as rows or not, in screen
    /// and reason order.
    pub fn receipt_rejection_counts(&self) -> Result<Vec<RejectionCount>> {
        Self::all(&self.audit.rejection_counts, "receipt rejection count")
    }

    /// Keeps the first conflicting envelope per (screen, epoch, seq) as evidence; a later one
    /// only adds to that record's `repeats` (not flushed). Returns the record as stored.
    pub fn record_conflict(&self, mut c: ConflictRecord) -> Result<ConflictRecord> {
        let index_key = seq_key(chain_key(&c.screen, c.epoch).as_bytes(), c.seq);
        if let Some(id) = self.audit.conflict_index.get(&index_key)? {
            if let Some(v) = self.audit.conflicts.get(&id)? {
                let mut first: ConflictRecord = decode("receipt conflict", &v)?;
                first.repeats += 1;
                first.last_received_at = Some(c.received_at);
                self.audit.conflicts.insert(&id, encode(&first))?;
                return Ok(first);
            }
        }
        c.id = self.db.generate_id()? + 1;
        self.audit
            .conflicts
            .insert(c.id.to_be_bytes(), encode(&c))?;
        self.audit
            .conflict_index
            .insert(index_key, &c.id.to_be_bytes())?;
        Ok(c)
    }

    /// Rejected batches, oldest first.
    pub fn receipt_rejections(&self) -> Result<Vec<RejectionRecord>> {
        Self::all(&self.audit.rejections, "receipt rejection")
    }

    /// Conflicting envelopes kept as evidence, oldest first.
    pub fn receipt_conflicts(&self) -> Result<Vec<ConflictRecord>> {
        Self::all(&self.audit.conflicts, "receipt conflict")
    }

    /// Up to `limit` rejected batches with an id above `after`, oldest first.
    pub fn receipt_rejections_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<RejectionRecord>> {
        page_by_id(&self.audit.rejections, "receipt rejection", after, limit)
    }

    /// Up to `limit` kept conflicting envelopes with an id above `after`, oldest first.
    pub fn receipt_conflicts_after(
        &self,
        after: Option<u64>,
        limit: usize,
    ) -> Result<Vec<ConflictRecord>> {
        page_by_id(&self.audit.conflicts, "receipt conflict", after, limit)
    }
}

/// The key of a screen's count for one reason.
fn reason_key(screen: &str, reason: &str) -> Vec<u8> {
    let mut k = Vec::with_capacity(screen.len() + 1 + reason.len());
    k.extend_from_slice(screen.as_bytes());
    k.push(b'/');
    k.extend_from_slice(reason.as_bytes());
    k
}

/// Up to `limit` rows of a tree keyed by big-endian ids, from the first id above `after`.
fn page_by_id<T: serde::de::DeserializeOwned>(
    tree: &sled::Tree,
    what: &str,
    after: Option<u64>,
    limit: usize,
) -> Result<Vec<T>> {
    let start = after.map_or(0, |a| a.saturating_add(1)).to_be_bytes();
    tree.range(start..)
        .values()
        .take(limit)
        .map(|v| decode(what, &v?))
        .collect()
}
