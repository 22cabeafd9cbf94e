//! Storage trouble: what the status says about it, the warnings (each logged once), and the
//! recovery pass that reopens a failed store and redoes what could not be saved, with
//! backoff between attempts.

use std::path::Path;

use tokio::time::{Duration, Instant};

use super::state::{AgentState, Effect, Save};
use super::{warn_once, STORAGE_RETRY_MAX, STORAGE_RETRY_MIN};
use crate::journal::{Journal, QueueState};
use crate::store::{Failure, Store, StoreError};

/// Carries out one store write of the state machine.
pub(super) fn save(store: &Store, save: &Save) -> Result<(), StoreError> {
    match save {
        Save::Pending(h) => store.save_pending(&h.bytes, h.manifest.version),
        Save::Alerts { bytes, version } => store.save_alerts(bytes, *version),
        Save::Rotation(bytes) => store.save_rotation(bytes),
        Save::Policy(chain) => store.save_policy_chain(chain),
    }
}

/// Storage trouble seen so far and when to try again.
#[derive(Debug)]
pub(super) struct StorageWatch {
    /// What the status says about it (until storage works again).
    error: Option<String>,
    /// The last warning logged (the same one is not logged again).
    logged: Option<String>,
    wait: Duration,
    retry_at: Instant,
}

impl StorageWatch {
    /// No trouble yet; the first recovery pass may run at once.
    pub fn new() -> StorageWatch {
        StorageWatch {
            error: None,
            logged: None,
            wait: STORAGE_RETRY_MIN,
            retry_at: Instant::now(),
        }
    }

    /// Records an [`Effect::StorageFailed`].
    pub fn failed(&mut self, log: &'static str, error: String, status: String) {
        self.warn(log, error);
        self.error = Some(status);
    }

    /// Logs `error` under `what` unless it is the warning logged last.
    pub fn warn(&mut self, what: &str, error: String) {
        warn_once(&mut self.logged, what, error);
    }

    /// The recovery pass, when there is something to recover and its time has come: reopens
    /// a failed store, journals queued plays, stores owed rotations and the alert set, then
    /// lets `state` redo the rest (its effects are returned). Backs off while it fails.
    pub fn recover(
        &mut self,
        store: &Store,
        journal: &Journal,
        state: &mut AgentState,
        sync_idle: bool,
    ) -> Vec<Effect> {
        let outstanding = state.outstanding() || journal.queue_state().queued > 0;
        if !(store.failure().is_some() || outstanding) || Instant::now() < self.retry_at {
            return Vec::new();
        }
        let mut effects = Vec::new();
        let mut ok = self.reopen(store);
        if ok {
            if let Err(e) = journal.retry_queued() {
                self.warn("queued plays still cannot be journaled", e.to_string());
                ok = false;
            }
        }
        while ok {
            let Some(owed) = state.owed_save() else { break };
            match save(store, &owed) {
                Ok(()) => state.owed_saved(&owed),
                Err(e) => {
                    self.warn(owed.retry_warning(), e.to_string());
                    ok = false;
                }
            }
        }
        if ok {
            effects = state.on_storage_ok(sync_idle);
        }
        if ok && store.failure().is_none() {
            // `||` on purpose: the logged warning is forgotten only when no error was shown.
            if self.error.take().is_some() || self.logged.take().is_some() {
                tracing::info!("storage works again");
            }
            self.wait = STORAGE_RETRY_MIN;
        } else {
            self.wait = (self.wait * 2).min(STORAGE_RETRY_MAX);
        }
        self.retry_at = Instant::now() + self.wait;
        effects
    }

    /// Reopens the store if it failed; whether it works (or never failed).
    fn reopen(&mut self, store: &Store) -> bool {
        let Some(f) = store.failure() else {
            return true;
        };
        self.warn(
            "state database failed; playback continues from cache, reopening it later",
            f.message.clone(),
        );
        match store.reopen() {
            Ok(_) => {
                tracing::info!("state database reopened");
                true
            }
            Err(e) => {
                self.warn("state database cannot be reopened yet", e.to_string());
                false
            }
        }
    }

    /// The status `last_error` for storage trouble (see [`storage_problem`]).
    pub fn problem(&self, data_dir: &Path, store: &Store, queue: QueueState) -> Option<String> {
        storage_problem(
            data_dir,
            store.failure().as_ref(),
            self.error.as_deref(),
            queue,
        )
    }
}

/// The status `last_error` for storage trouble: what failed and what to do, and whether
/// receipts are at risk; `None` when there is none.
fn storage_problem(
    data_dir: &std::path::Path,
    failure: Option<&Failure>,
    other: Option<&str>,
    queue: QueueState,
) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    match (failure, other) {
        (Some(f), _) if f.disk_full => parts.push(format!(
            "disk full in {}: free space; playback continues from cache ({})",
            data_dir.display(),
            f.message
        )),
        (Some(f), _) => parts.push(format!(
            "storage error in {}: {}; check the disk and its permissions; playback continues from cache",
            data_dir.display(),
            f.message
        )),
        (None, Some(o)) => parts.push(format!(
            "storage error in {}: {o}; check the disk; playback continues from cache",
            data_dir.display()
        )),
        (None, None) => {}
    }
    if queue.full {
        parts.push(format!(
            "receipts at risk: {} plays wait in memory for the journal and the queue is FULL: further plays are not recorded",
            queue.queued
        ));
    } else if queue.queued > 0 {
        parts.push(format!(
            "receipts at risk: {} plays wait in memory for the journal (lost if the player stops)",
            queue.queued
        ));
    }
    if queue.lost > 0 {
        parts.push(format!(
            "{} plays were not recorded (receipt queue full while the journal could not be written)",
            queue.lost
        ));
    }
    (!parts.is_empty()).then(|| parts.join("; "))
}
