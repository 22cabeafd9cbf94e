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
    /// Records a rejected batch for auditors (not flushed; the ingest flushes per group).
    pub fn record_rejection(&self, mut r: RejectionRecord) -> Result<RejectionRecord> {
        r.id = self.db.generate_id()? + 1;
        self.audit
            .rejections
            .insert(r.id.to_be_bytes(), encode(&r))?;
        Ok(r)
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
