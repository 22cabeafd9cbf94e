//! The status the agent publishes: what the state machine decided plus what the agent reads
//! around it (current item, download progress, journal backlog, errors), and when to send
//! it (fields: `docs/protocol.md` §12).

use jiff::Timestamp;
use tokio::time::{Duration, Instant};

use super::state::AgentState;
use crate::cache::CacheProgress;
use crate::status::{CacheCounts, LastRejection, State, Status};

/// What the agent reads for one status.
#[derive(Debug)]
pub(super) struct Readings {
    /// What plays now.
    pub current: Option<String>,
    /// Download progress of the media sync.
    pub progress: CacheProgress,
    /// Receipts not yet acknowledged.
    pub journal_backlog: u64,
    /// Backlog above which the status warns.
    pub backlog_warn: u64,
    /// Storage trouble (see `storage::storage_problem`).
    pub storage_problem: Option<String>,
    /// The last playback failure.
    pub play_error: Option<String>,
    /// What the screen lacks to show alerts (fonts), found at start.
    pub display_problem: Option<String>,
    /// Whether the clock is synchronised.
    pub clock_synced: bool,
}

/// The status and when it was last sent.
#[derive(Debug)]
pub(super) struct StatusReport {
    status: Status,
    last_sent: Option<Status>,
    last_sent_at: Instant,
    interval: Duration,
}

impl StatusReport {
    /// The first status of a player with `device_key` (base64), as `state` starts; it is
    /// sent again at least every `interval`.
    pub fn new(device_key: String, state: &AgentState, interval: Duration) -> StatusReport {
        let mut status = Status::new(device_key);
        state.fill_status(&mut status);
        StatusReport {
            status,
            last_sent: None,
            last_sent_at: Instant::now(),
            interval,
        }
    }

    /// The status as `offline` (for the Last Will and a clean shutdown), as JSON at `now`.
    pub fn offline(&self, now: Timestamp) -> Vec<u8> {
        self.status.offline().to_json(now)
    }

    /// Sets the journal backlog outside [`StatusReport::refresh`] (at shutdown).
    pub fn set_journal_backlog(&mut self, backlog: u64) {
        self.status.journal_backlog = backlog;
    }

    /// Reports a refused input.
    pub fn reject(&mut self, r: LastRejection) {
        self.status.last_rejection = Some(r);
    }

    /// Brings the status up to date and returns it as JSON if it should be sent now.
    /// Versions, state and rejections go out at once; progress counters (cache bytes,
    /// backlog, current item) at most once a second, so a download does not flood MQTT;
    /// everything at least every `interval`.
    pub fn refresh(&mut self, state: &AgentState, r: Readings, now: Timestamp) -> Option<Vec<u8>> {
        let status = &mut self.status;
        state.fill_status(status);
        status.state = if state.pending_version().is_some() {
            State::Syncing
        } else if r.current.is_some() {
            State::Playing
        } else {
            State::Idle
        };
        status.current = r.current;
        status.journal_backlog = r.journal_backlog;
        status.backlog_warning = status.journal_backlog > r.backlog_warn;
        status.cache = if r.progress.need_bytes > 0 {
            CacheCounts {
                have_bytes: r.progress.have_bytes,
                need_bytes: r.progress.need_bytes,
            }
        } else {
            let n = state
                .active()
                .map_or(0, |m| m.media.iter().map(|m| m.bytes).sum());
            CacheCounts {
                have_bytes: n,
                need_bytes: n,
            }
        };
        // Storage trouble first (receipts may be at risk), then playback failures (they
        // affect the screen now), then download errors.
        status.last_error = [
            r.storage_problem,
            r.play_error,
            r.progress.last_error,
            r.display_problem,
        ]
        .into_iter()
        .flatten()
        .reduce(|a, b| format!("{a}; {b}"));
        status.manifest_expired = state.active().is_some_and(|m| m.expires_at <= now);
        status.clock_synced = r.clock_synced;
        self.due(now)
    }

    fn due(&mut self, now: Timestamp) -> Option<Vec<u8>> {
        let status = &self.status;
        let (changed, significant) = match &self.last_sent {
            None => (true, true),
            Some(s) => (
                !s.same_content(status),
                s.state != status.state
                    || s.manifest_version != status.manifest_version
                    || s.pending_version != status.pending_version
                    || s.alert_version != status.alert_version
                    || s.last_rejection != status.last_rejection
                    || s.controller_key_id != status.controller_key_id
                    || s.approvals != status.approvals
                    || s.last_error != status.last_error,
            ),
        };
        let elapsed = self.last_sent_at.elapsed();
        let due = elapsed >= Duration::from_secs(1);
        if !((changed && (significant || due)) || elapsed >= self.interval) {
            return None;
        }
        self.last_sent = Some(status.clone());
        self.last_sent_at = Instant::now();
        Some(status.to_json(now))
    }
}
