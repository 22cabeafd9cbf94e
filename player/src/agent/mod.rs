//! The agent: wires the store, cache, scheduler, backend, journal, uploader and MQTT link.
//!
//! Start-up order matters: the screen must play from its cache even when the network is
//! down, so the last active manifest and alert set are loaded from disk (signature re-checked
//! against the pinned key, no expiry check: an offline player keeps playing its last accepted
//! manifest) and playback starts BEFORE the network is touched. Then the MQTT link, the
//! uploader and, if a manifest was pending, its media sync start.
//!
//! Manifests from MQTT go through `playlists::manifest::verify_manifest` with the pinned
//! controller key, this screen's id, the last accepted version and the current time. A
//! rejected one only sets `last_rejection` in the status (and a warning in the log): nothing
//! is stored and nothing is downloaded. An accepted one is stored as pending (atomically,
//! flushed), its media are synced, and it becomes active only when every file is in the cache
//! and verified; a newer manifest supersedes a pending one (its sync is cancelled, part files
//! stay for resume). A retained message identical to the active or pending manifest (a
//! replay after reconnect) is ignored silently. Alert sets are verified the same way
//! (`verify_alerts`) and take effect at once; their media are synced alongside.
//!
//! Controller key rotation: statements from the `rotation` topic go through
//! `playlists::rotation::Trust::apply` (signed by the pinned key AND the new key). An accepted
//! one is appended to the store (flushed) before it is used; the trusted keys are then the new
//! key plus the old one until `overlap_until`, for manifests, alert sets and acks alike. The
//! config's `controller_key` is never rewritten: at start the trust is rebuilt from it and the
//! stored statements. A manifest or alert set refused as `unknown_key` is kept and tried again
//! once after a rotation is accepted (it may have arrived before the statement). A refused
//! statement sets `last_rejection` with `what = "rotation"`.
//!
//! Storage failures (disk full, I/O, permissions) never stop the agent: what could not be
//! saved is kept in memory and saved again (with backoff) once the store works again.
//!
//! These decisions live in `state` (a state machine without I/O, unit-tested); [`run`] is
//! the loop that feeds it inputs and carries out its effects. There is no global state, so
//! several agents can run in one process (the controller's `demo`), each with its own data
//! directory.

mod approvals;
mod playback;
mod report;
mod run;
mod state;
mod storage;
mod sync;
mod uplink;

use std::time::Duration;

use crate::cache::RetryPolicy;
use crate::clock::ClockProbe;
use crate::config::{self, PlayerConfig};

pub use run::run;

/// Which backend to run, with its run-time settings.
#[derive(Debug, Clone)]
pub enum BackendChoice {
    /// mpv with extra arguments (after ours).
    Mpv {
        /// Extra mpv arguments, e.g. `--vo=null --ao=null`.
        extra_args: Vec<String>,
    },
    /// Timing only; `speed` > 1 plays faster (tests and the demo).
    Null {
        /// Speed-up factor (1 = real time).
        speed: f64,
    },
}

/// Run-time options that are not part of the config file.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// Backend to use.
    pub backend: BackendChoice,
    /// Status heartbeat interval (default 30 s); the status is also sent on every change.
    pub status_interval: Duration,
    /// Where `clock_synced` comes from.
    pub clock: ClockProbe,
    /// Download retry backoff (default: the cache's own).
    pub download_retry: Option<RetryPolicy>,
}

impl RunOptions {
    /// Options as the config says (`backend`, `mpv_args`), real-time null backend, 30 s status.
    pub fn from_config(cfg: &PlayerConfig) -> RunOptions {
        let backend = match cfg.backend {
            config::BackendKind::Mpv => BackendChoice::Mpv {
                extra_args: cfg.mpv_args.clone(),
            },
            config::BackendKind::Null => BackendChoice::Null { speed: 1.0 },
        };
        RunOptions {
            backend,
            status_interval: Duration::from_secs(30),
            clock: ClockProbe::new(),
            download_retry: None,
        }
    }
}

/// Why the agent could not start or had to stop.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// The configuration is unusable.
    #[error("player configuration: {0}")]
    Config(#[from] crate::config::ConfigError),
    /// The state database failed.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The media cache failed.
    #[error(transparent)]
    Cache(#[from] crate::cache::CacheError),
    /// The journal failed.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
    /// The device key could not be loaded or created.
    #[error("device key: {0}")]
    DeviceKey(String),
    /// The MQTT settings are unusable.
    #[error(transparent)]
    Mqtt(#[from] crate::mqtt::MqttError),
}

/// First wait before storage is tried again after a failure (doubles up to the max).
const STORAGE_RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest wait between storage retries.
const STORAGE_RETRY_MAX: Duration = Duration::from_secs(10);

/// Logs `msg` as a warning unless it is the same as the last one logged through `last`.
fn warn_once(last: &mut Option<String>, what: &str, msg: String) {
    if last.as_deref() != Some(msg.as_str()) {
        tracing::warn!(error = %msg, "{what}");
        *last = Some(msg);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn assert_send<T: Send>(_: &T) {}

    /// The controller's demo spawns agents on a multi-threaded runtime: `run` must be `Send`.
    #[test]
    fn run_future_is_send() {
        let cfg = PlayerConfig::from_toml(
            "screen = \"s1\"\nbroker = \"mqtt://127.0.0.1:1\"\nmqtt_username = \"s1\"\n\
             mqtt_password = \"p\"\ncontroller_key = \"AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\"\n\
             media_base = \"http://127.0.0.1:1\"\ndata_dir = \"/nonexistent\"\nbackend = \"null\"\n",
        );
        let Ok(cfg) = cfg else { return };
        let opts = RunOptions::from_config(&cfg);
        let fut = run(cfg, opts, std::future::pending());
        assert_send(&fut);
    }
}
