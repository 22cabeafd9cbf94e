//! The Merkle log's leaves (receipts batches and action records, exact bytes), their hashes,
//! and the signed checkpoints.

use playlists::merkle::Hash as LeafHash;
use serde::{Deserialize, Serialize};

use super::{be_u64, corrupt, encode, ActionRecord, Result, Store, StoreError};

/// What a Merkle log leaf holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LeafKind {
    /// The exact bytes of a stored receipts envelope.
    Batch,
    /// The exact JSON bytes of an [`ActionRecord`] as stored.
    Action,
}

/// One leaf of the Merkle log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLeaf {
    /// Its index (0-based, in append order).
    pub index: u64,
    /// What it holds.
    pub kind: LeafKind,
    /// The exact leaf bytes (hashed with `playlists::merkle::leaf_hash`).
    pub data: Vec<u8>,
}

impl Store {
    pub(super) fn next_leaf_index(&self) -> Result<u64> {
        Ok(match self.audit.log_hashes.last()? {
            Some((k, _)) => be_u64("log leaf index", &k)? + 1,
            None => 0,
        })
    }

    /// Writes the action record and its log leaf in one transaction (not flushed).
    pub(super) fn append_action_leaf(&self, a: &ActionRecord) -> Result<u64> {
        use sled::transaction::TransactionError;
        use sled::Transactional as _;
        let _guard = self
            .audit
            .log_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let index = self.next_leaf_index()?;
        let bytes = encode(a);
        let mut leaf = vec![1u8];
        leaf.extend_from_slice(&bytes);
        let hash = playlists::merkle::leaf_hash(&bytes);
        let a_trees = (
            &self.actions,
            &self.audit.log_leaves,
            &self.audit.log_hashes,
        );
        a_trees
            .transaction(|(actions, leaves, hashes)| {
                actions.insert(&a.seq.to_be_bytes(), bytes.as_slice())?;
                leaves.insert(&index.to_be_bytes(), leaf.as_slice())?;
                hashes.insert(&index.to_be_bytes(), &hash[..])?;
                Ok::<(), sled::transaction::ConflictableTransactionError<()>>(())
            })
            .map_err(|e| match e {
                TransactionError::Storage(e) => StoreError::Db(e),
                TransactionError::Abort(()) => corrupt("action log", "transaction aborted"),
            })?;
        Ok(index)
    }

    // ---- the Merkle log ----

    /// Number of leaves in the log.
    pub fn log_size(&self) -> Result<u64> {
        self.next_leaf_index()
    }

    /// One leaf.
    pub fn log_leaf(&self, index: u64) -> Result<Option<LogLeaf>> {
        match self.audit.log_leaves.get(index.to_be_bytes())? {
            Some(v) => {
                let v = self.audit.values.resolve(v)?;
                let kind = match v.first() {
                    Some(0) => LeafKind::Batch,
                    Some(1) => LeafKind::Action,
                    _ => return Err(corrupt("log leaf", format!("bad kind at {index}"))),
                };
                Ok(Some(LogLeaf {
                    index,
                    kind,
                    data: v[1..].to_vec(),
                }))
            }
            None => Ok(None),
        }
    }

    /// The leaf hashes of the first `size` leaves (fewer if the log is smaller).
    pub fn log_leaf_hashes(&self, size: u64) -> Result<Vec<LeafHash>> {
        self.audit
            .log_hashes
            .range(..size.to_be_bytes())
            .values()
            .map(|v| {
                let v = v?;
                <[u8; 32]>::try_from(&v[..]).map_err(|_| corrupt("log leaf hash", "not 32 bytes"))
            })
            .collect()
    }

    /// Stores a signed checkpoint (exact envelope bytes) for a tree of `size` leaves; flushed.
    pub async fn put_checkpoint(&self, size: u64, envelope: &[u8]) -> Result<()> {
        self.audit
            .checkpoints
            .insert(size.to_be_bytes(), envelope)?;
        self.flush().await
    }

    /// The latest checkpoint: `(size, exact envelope bytes)`.
    pub fn latest_checkpoint(&self) -> Result<Option<(u64, Vec<u8>)>> {
        match self.audit.checkpoints.last()? {
            Some((k, v)) => Ok(Some((be_u64("checkpoint size", &k)?, v.to_vec()))),
            None => Ok(None),
        }
    }

    /// Every stored checkpoint `(size, envelope)`, oldest first.
    pub fn checkpoints(&self) -> Result<Vec<(u64, Vec<u8>)>> {
        self.audit
            .checkpoints
            .iter()
            .map(|kv| {
                let (k, v) = kv?;
                Ok((be_u64("checkpoint size", &k)?, v.to_vec()))
            })
            .collect()
    }
}
