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
