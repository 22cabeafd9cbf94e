//! The media sync task: one at a time, restarted for each new [`SyncPlan`]; local storage
//! trouble is retried with backoff inside the task, and the plan's target is reported when
//! every file is in the cache.

use std::sync::Arc;

use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use super::state::SyncPlan;
use super::{STORAGE_RETRY_MAX, STORAGE_RETRY_MIN};
use crate::cache::{Cache, CacheError, CacheProgress};

/// Runs media syncs (see the module documentation).
pub(super) struct MediaSync {
    cache: Arc<Cache>,
    mirrors: Vec<String>,
    progress: watch::Sender<CacheProgress>,
    done: mpsc::Sender<Option<u64>>,
    task: Option<JoinHandle<()>>,
}

impl MediaSync {
    /// A sync runner downloading from `mirrors`; progress goes to `progress`, finished
    /// targets to `done`.
    pub fn new(
        cache: Arc<Cache>,
        mirrors: Vec<String>,
        progress: watch::Sender<CacheProgress>,
        done: mpsc::Sender<Option<u64>>,
    ) -> MediaSync {
        MediaSync {
            cache,
            mirrors,
            progress,
            done,
            task: None,
        }
    }

    /// Cancels the sync under way, if any (part files stay for resume), and starts `plan`.
    pub fn start(&mut self, plan: SyncPlan) {
        self.abort();
        self.task = Some(tokio::spawn(sync_until_done(
            self.cache.clone(),
            self.mirrors.clone(),
            self.progress.clone(),
            self.done.clone(),
            plan,
        )));
    }

    /// A sync reported its target: none is under way any more.
    pub fn finished(&mut self) {
        self.task = None;
    }

    /// Whether no sync was started since the last one finished.
    pub fn is_idle(&self) -> bool {
        self.task.is_none()
    }

    /// Cancels the sync under way, if any.
    pub fn abort(&mut self) {
        if let Some(t) = self.task.take() {
            t.abort();
        }
    }
}

async fn sync_until_done(
    cache: Arc<Cache>,
    mirrors: Vec<String>,
    progress: watch::Sender<CacheProgress>,
    done: mpsc::Sender<Option<u64>>,
    plan: SyncPlan,
) {
    let mut wait = STORAGE_RETRY_MIN;
    loop {
        match cache.sync(&plan.wanted, &mirrors, &progress).await {
            Ok(()) => break,
            Err(e @ (CacheError::NoMirrors | CacheError::BadSha(_))) => {
                tracing::error!(error = %e, "media sync cannot work");
                progress.send_modify(|p| p.last_error = Some(e.to_string()));
                return;
            }
            Err(e) => {
                // Local storage trouble (disk full, I/O): try again later.
                let msg = e.to_string();
                if progress.borrow().last_error.as_deref() != Some(msg.as_str()) {
                    tracing::warn!(error = %msg, "media sync failed; retrying");
                    progress.send_modify(|p| p.last_error = Some(msg));
                }
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(STORAGE_RETRY_MAX);
            }
        }
    }
    let _ = done.send(plan.target).await;
}
