//! The append-only Merkle log (docs/protocol.md §15): signed checkpoints and proofs.
//!
//! The leaves live in the store (`log_leaves`, `log_hashes`): every stored receipts envelope
//! (exact bytes, appended by [`crate::ingest`]) and every operator action record (exact stored
//! JSON, appended by [`Store::log_action`]). Hashing is RFC 6962 via [`playlists::merkle`].
//!
//! Checkpoints `{"origin","size","root"}` are signed with the controller key (origin
//! `gatecast-controller <key_id>`) and stored by size: one at start-up, then every
//! [`CHECKPOINT_INTERVAL`] if the log grew, and on demand (`POST /api/v1/log/checkpoint`).
//!
//! The HTTP endpoints are in `api::log`.

use std::time::Duration;

use playlists::keys::SecretKey;
use playlists::merkle::{self, Checkpoint};
use tracing::{info, warn};

use crate::store::{Store, StoreError};

/// How often the checkpointer looks whether the log grew.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_secs(60);

/// Errors of proof requests.
#[derive(Debug, thiserror::Error)]
pub enum LogError {
    /// A size or index is outside the log.
    #[error("{0}")]
    OutOfRange(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The checkpoint origin of a controller key: `gatecast-controller <key_id>`.
pub fn origin(key: &SecretKey) -> String {
    format!("gatecast-controller {}", key.key_id())
}

/// Signs and stores a checkpoint for the current log unless the latest one already has its
/// size. Returns `(size, exact envelope bytes)` of the latest checkpoint.
pub async fn issue_checkpoint(
    store: &Store,
    key: &SecretKey,
) -> Result<(u64, Vec<u8>), StoreError> {
    let size = store.log_size()?;
    if let Some((s, env)) = store.latest_checkpoint()? {
        if s == size {
            return Ok((s, env));
        }
    }
    let hashes = store.log_leaf_hashes(size)?;
    let cp = Checkpoint::for_leaves(&origin(key), &hashes);
    let env = cp.sign(key).to_json();
    store.put_checkpoint(size, &env).await?;
    info!(size, root = %cp.root, "log checkpoint signed");
    Ok((size, env))
}

/// Issues a checkpoint now and then every `interval` (if the log grew), until the task is
/// aborted.
pub async fn run_checkpointer(store: Store, key: std::sync::Arc<SecretKey>, interval: Duration) {
    let mut tick = tokio::time::interval(interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Err(e) = issue_checkpoint(&store, &key).await {
            warn!("cannot issue a log checkpoint: {e}");
        }
    }
}

/// Inclusion proof of leaf `index` in the tree of the first `size` leaves.
pub fn inclusion_proof(
    store: &Store,
    index: u64,
    size: u64,
) -> Result<Vec<merkle::Hash>, LogError> {
    let n = store.log_size()?;
    if size > n {
        return Err(LogError::OutOfRange(format!(
            "size {size} is larger than the log ({n} leaves)"
        )));
    }
    if index >= size {
        return Err(LogError::OutOfRange(format!(
            "index {index} is not below size {size}"
        )));
    }
    let hashes = store.log_leaf_hashes(size)?;
    Ok(merkle::inclusion_proof(&hashes, index as usize))
}

/// Consistency proof from the tree of `from` leaves to the tree of `to` leaves.
pub fn consistency_proof(store: &Store, from: u64, to: u64) -> Result<Vec<merkle::Hash>, LogError> {
    let n = store.log_size()?;
    if to > n {
        return Err(LogError::OutOfRange(format!(
            "to {to} is larger than the log ({n} leaves)"
        )));
    }
    if from > to {
        return Err(LogError::OutOfRange(format!(
            "from {from} is larger than to {to}"
        )));
    }
    let hashes = store.log_leaf_hashes(to)?;
    Ok(merkle::consistency_proof(&hashes, from as usize))
}

/// Inclusion proofs for many leaves of one tree, sharing subtree hashes: each proof is the
/// RFC 6962 audit path (identical to [`merkle::inclusion_proof`]), but a subtree's hash is
/// computed once, so k proofs over n leaves cost O(n + k log n) hashes instead of O(k n).
pub struct ProofBuilder<'a> {
    leaves: &'a [merkle::Hash],
    memo: std::collections::HashMap<(usize, usize), merkle::Hash>,
}

impl<'a> ProofBuilder<'a> {
    /// A builder over the leaf hashes of one tree.
    pub fn new(leaves: &'a [merkle::Hash]) -> Self {
        ProofBuilder {
            leaves,
            memo: Default::default(),
        }
    }

    fn split(n: usize) -> usize {
        let mut k = 1;
        while k * 2 < n {
            k *= 2;
        }
        k
    }

    /// Hash of the subtree of `len` leaves starting at `start`.
    fn subtree(&mut self, start: usize, len: usize) -> merkle::Hash {
        match len {
            0 => merkle::empty_root(),
            1 => self.leaves[start],
            n => {
                if let Some(h) = self.memo.get(&(start, n)) {
                    return *h;
                }
                let k = Self::split(n);
                let l = self.subtree(start, k);
                let r = self.subtree(start + k, n - k);
                let h = merkle::node_hash(&l, &r);
                self.memo.insert((start, n), h);
                h
            }
        }
    }

    /// The audit path of leaf `index`, or `None` if it is outside the tree.
    pub fn inclusion(&mut self, index: usize) -> Option<Vec<merkle::Hash>> {
        if index >= self.leaves.len() {
            return None;
        }
        let mut out = Vec::new();
        let (mut start, mut n, mut m) = (0usize, self.leaves.len(), index);
        // Walk down, collecting siblings; the path lists them bottom-up.
        while n > 1 {
            let k = Self::split(n);
            if m < k {
                out.push(self.subtree(start + k, n - k));
                n = k;
            } else {
                out.push(self.subtree(start, k));
                start += k;
                m -= k;
                n -= k;
            }
        }
        out.reverse();
        Some(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn proof_builder_matches_the_reference_audit_paths() {
        let leaves: Vec<merkle::Hash> = (0..40u32)
            .map(|i| merkle::leaf_hash(&i.to_be_bytes()))
            .collect();
        for n in 1..=leaves.len() {
            let mut b = ProofBuilder::new(&leaves[..n]);
            for i in 0..n {
                assert_eq!(
                    b.inclusion(i).unwrap(),
                    merkle::inclusion_proof(&leaves[..n], i),
                    "n={n} i={i}"
                );
            }
            assert!(b.inclusion(n).is_none());
        }
    }
}
