//! The agent: wires the store, cache, scheduler, backend, journal, uploader and MQTT link.
//!
//! Start-up order matters (LESSONS #2): the last active manifest and alert set are loaded
//! from disk (signature re-checked against the pinned key, no expiry check: an offline player
//! keeps playing its last accepted manifest) and playback starts BEFORE the network is
//! touched. Then the MQTT link, the uploader and, if a manifest was pending, its media sync
//! start.
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
//! Everything runs inside [`run`]; there is no global state, so several agents can run in
//! one process (the controller's `demo`), each with its own data directory.

use std::collections::HashSet;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use playlists::envelope::{self, MANIFEST_TYPE};
use playlists::keys::{KeySet, PublicKey, SecretKey};
use playlists::manifest::{self, AlertSet, Manifest, Rejection};
use playlists::receipt::{Backend as ReceiptBackend, Outcome};
use playlists::rotation::{Applied, Trust};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use crate::backend::mpv::{MpvBackend, MpvConfig};
use crate::backend::null::NullBackend;
use crate::backend::{AnyBackend, Backend, BackendKind, Ended};
use crate::cache::{Cache, CacheProgress, RetryPolicy, Wanted};
use crate::clock::ClockProbe;
use crate::config::{self, PlayerConfig};
use crate::journal::{Journal, QueueState, ReceiptDraft, Recorded};
use crate::mqtt::{Incoming, MqttHandle, MqttSettings, Outgoing};
use crate::scheduler::{Lookup, Play, PlaySink, Program, Scheduler};
use crate::status::{CacheCounts, LastRejection, State, Status};
use crate::store::{Failure, Store};
use crate::uploader::{Uploader, UploaderConfig};

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
    /// The pinned controller key is unusable.
    #[error("controller_key in the player configuration is not a valid Ed25519 public key: {0}; re-enrol or fix the config")]
    ControllerKey(String),
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

/// A verified manifest with its exact envelope bytes.
#[derive(Debug, Clone)]
struct Held {
    manifest: Arc<Manifest>,
    bytes: Vec<u8>,
}

/// Re-checks the signature of a manifest stored on disk and parses it (no version or expiry
/// rule: it was accepted before).
fn load_stored_manifest(bytes: &[u8], keys: &KeySet, screen: &str) -> Option<Arc<Manifest>> {
    let v = match envelope::verify(bytes, MANIFEST_TYPE, keys) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "stored manifest no longer verifies; ignored");
            return None;
        }
    };
    match Manifest::from_json(&v.payload) {
        Ok(m) if m.screen == screen && m.validate().is_ok() => Some(Arc::new(m)),
        _ => {
            tracing::error!("stored manifest is not valid for this screen; ignored");
            None
        }
    }
}

fn rejection(what: &str, r: &Rejection) -> LastRejection {
    LastRejection {
        version: r.version,
        reason: r.reason.as_str().to_owned(),
        detail: r.detail.clone(),
        what: what.to_owned(),
    }
}

fn receipt_draft(play: &Play, backend: BackendKind, clock_synced: bool) -> ReceiptDraft {
    ReceiptDraft {
        manifest_version: play.manifest_version,
        playlist: play.playlist.clone(),
        media: play.media.clone(),
        lang: play.lang.clone(),
        started_at: play.outcome.started_at,
        ended_at: play.outcome.ended_at,
        outcome: match play.outcome.ended {
            Ended::Completed => Outcome::Completed,
            Ended::Interrupted => Outcome::Interrupted,
            Ended::Failed(_) => Outcome::Failed,
        },
        backend: match backend {
            BackendKind::Mpv => ReceiptBackend::Mpv,
            BackendKind::Null => ReceiptBackend::Null,
        },
        clock_synced,
    }
}

/// Logs `msg` as a warning unless it is the same as the last one logged through `last`.
fn warn_once(last: &mut Option<String>, what: &str, msg: String) {
    if last.as_deref() != Some(msg.as_str()) {
        tracing::warn!(error = %msg, "{what}");
        *last = Some(msg);
    }
}

/// First wait before storage is tried again after a failure (doubles up to the max).
const STORAGE_RETRY_MIN: Duration = Duration::from_secs(1);
/// Longest wait between storage retries.
const STORAGE_RETRY_MAX: Duration = Duration::from_secs(10);

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

/// Runs the agent until `shutdown` resolves.
pub async fn run(
    config: PlayerConfig,
    opts: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    config.validate()?;
    let screen = config.screen.clone();
    let controller_key = PublicKey::from_base64(&config.controller_key)
        .map_err(|e| AgentError::ControllerKey(e.to_string()))?;
    std::fs::create_dir_all(&config.data_dir).map_err(|e| {
        AgentError::DeviceKey(format!(
            "cannot create data dir {}: {e}",
            config.data_dir.display()
        ))
    })?;
    let device_key: SecretKey =
        crate::keyfile::load_or_create(&crate::keyfile::device_key_path(&config.data_dir))
            .map_err(|e| AgentError::DeviceKey(e.to_string()))?;
    let store = Store::open(&config.data_dir)?;
    let mut trust = Trust::replay(controller_key, store.rotations()?.iter().map(Vec::as_slice));
    // Stored envelopes were accepted before: re-check them with every key still known.
    let keys: KeySet = trust.known_keys();
    let (keys_tx, keys_rx) = watch::channel(trust.keys_at(Timestamp::now()));
    let mut deferred: Vec<Incoming> = Vec::new();
    let mut requeue: std::collections::VecDeque<Incoming> = Default::default();
    let mut cache = Cache::open(&config.data_dir, &store, config.cache_budget_bytes)?
        .with_bandwidth_limit(config.bandwidth_limit_bytes_per_sec);
    if let Some(r) = opts.download_retry {
        cache = cache.with_retry(r);
    }
    let cache = Arc::new(cache);
    let journal = Journal::open(&store, &screen)?;

    // 1. Local state first: play the last active manifest before touching the network.
    let mut active: Option<Held> = store.active_manifest()?.and_then(|s| {
        load_stored_manifest(&s.bytes, &keys, &screen).map(|m| Held {
            manifest: m,
            bytes: s.bytes,
        })
    });
    let mut pending: Option<Held> = store.pending_manifest()?.and_then(|s| {
        load_stored_manifest(&s.bytes, &keys, &screen).map(|m| Held {
            manifest: m,
            bytes: s.bytes,
        })
    });
    let mut alerts: Option<(Arc<AlertSet>, Vec<u8>)> = store.alerts()?.and_then(|s| {
        match manifest::verify_alerts(&s.bytes, &keys, &screen, None) {
            Ok(a) => Some((Arc::new(a), s.bytes)),
            Err(e) => {
                tracing::error!(error = %e, "stored alert set no longer verifies; ignored");
                None
            }
        }
    });
    // Alerts play even without an active manifest (a freshly enrolled screen).
    let program_of = |active: &Option<Held>, alerts: &Option<(Arc<AlertSet>, Vec<u8>)>| {
        (active.is_some() || alerts.is_some()).then(|| Program {
            manifest: active.as_ref().map(|h| h.manifest.clone()),
            alerts: alerts.as_ref().map(|a| a.0.clone()),
        })
    };
    let (program_tx, program_rx) = watch::channel(program_of(&active, &alerts));
    let (current_tx, mut current_rx) = watch::channel(None::<String>);
    let (stop_tx, stop_rx) = watch::channel(false);

    let backend = match &opts.backend {
        BackendChoice::Null { speed } => AnyBackend::Null(NullBackend::with_speed(*speed)),
        BackendChoice::Mpv { extra_args } => {
            let mut cfg = MpvConfig::new(config.data_dir.join("mpv.sock"));
            cfg.extra_args = extra_args.clone();
            AnyBackend::Mpv(Box::new(MpvBackend::new(cfg)))
        }
    };
    let backend_kind = backend.kind();
    let lookup: Lookup = {
        let cache = cache.clone();
        Arc::new(move |sha: &str| cache.path(sha))
    };
    // The last playback failure, for `last_error` in the status; cleared by a good play.
    let (play_error_tx, mut play_error_rx) = watch::channel(None::<String>);
    let sink: PlaySink = {
        let journal = journal.clone();
        let cache = cache.clone();
        let clock = opts.clock.clone();
        let mut mark_error: Option<String> = None;
        let mut journal_error: Option<String> = None;
        Box::new(move |play: Play| {
            match &play.outcome.ended {
                Ended::Failed(why) => {
                    let msg = format!("playback of {} failed: {why}", play.media);
                    play_error_tx.send_if_modified(|e| {
                        let changed = e.as_deref() != Some(msg.as_str());
                        *e = Some(msg);
                        changed
                    });
                }
                _ => {
                    play_error_tx.send_if_modified(|e| e.take().is_some());
                    // Alert texts are not cache files: nothing to record for them.
                    if cache.path(&play.media).is_some() {
                        match cache.mark_played(&play.media) {
                            Ok(()) => mark_error = None,
                            Err(e) => warn_once(
                                &mut mark_error,
                                "could not record last play (eviction order only)",
                                e.to_string(),
                            ),
                        }
                    }
                }
            }
            match journal.append_or_queue(receipt_draft(&play, backend_kind, clock.synced())) {
                Recorded::Journaled(r) => {
                    journal_error = None;
                    tracing::debug!(seq = r.seq, media = %r.media, "receipt journaled");
                }
                Recorded::Queued(e) => warn_once(
                    &mut journal_error,
                    "journal cannot be written; play kept in memory and journaled later",
                    e.to_string(),
                ),
                Recorded::Lost(e) => {
                    tracing::error!(error = %e, "RECEIPT NOT WRITTEN: journal failing and the in-memory queue is full")
                }
                Recorded::Invalid(e) => tracing::error!(error = %e, "RECEIPT NOT WRITTEN: invalid"),
            }
        })
    };
    let scheduler = Scheduler::new(backend, program_rx, lookup, sink, current_tx)
        .with_alert_text_duration(Duration::from_millis(config.alert_text_ms));
    let scheduler_task = tokio::spawn(scheduler.run(stop_rx.clone()));

    // 2. Status and network.
    let mut status = Status::new(device_key.public().to_base64());
    status.manifest_version = active.as_ref().map(|h| h.manifest.version);
    status.pending_version = pending.as_ref().map(|h| h.manifest.version);
    status.alert_version = alerts.as_ref().map(|a| a.0.version);
    status.controller_key_id = Some(trust.pinned().key_id());
    let mut mqtt = MqttHandle::spawn(MqttSettings {
        screen: screen.clone(),
        broker: config.broker.clone(),
        username: config.mqtt_username.clone(),
        password: config.mqtt_password.clone(),
        last_will: status.offline().to_json(Timestamp::now()),
        keep_alive: Duration::from_secs(30),
    })?;

    // Uploader: its byte channels bridged to the MQTT link.
    let (up_out_tx, mut up_out_rx) = mpsc::channel::<Vec<u8>>(2);
    let (up_ack_tx, up_ack_rx) = mpsc::channel::<Vec<u8>>(16);
    let uploader = Uploader::new(
        journal.clone(),
        device_key,
        keys.clone(),
        UploaderConfig::from_config(&config),
    )
    .with_controller_keys(keys_rx);
    let uploader_task = {
        let mut stop = stop_rx.clone();
        tokio::spawn(uploader.run(up_out_tx, up_ack_rx, async move {
            let _ = stop.wait_for(|s| *s).await;
        }))
    };
    let bridge_out = {
        let out = mqtt.outgoing.clone();
        tokio::spawn(async move {
            while let Some(payload) = up_out_rx.recv().await {
                if out
                    .send(Outgoing {
                        kind: playlists::topics::Kind::Receipts,
                        payload,
                    })
                    .await
                    .is_err()
                {
                    return;
                }
            }
        })
    };
    let mut acks = std::mem::replace(&mut mqtt.acks, mpsc::channel(1).1);
    let bridge_acks = tokio::spawn(async move {
        while let Some(b) = acks.recv().await {
            if up_ack_tx.send(b.to_vec()).await.is_err() {
                return;
            }
        }
    });

    // 3. Media sync for whatever is pending (and self-healing of active/alert media).
    let (progress_tx, mut progress_rx) = watch::channel(CacheProgress::default());
    let (sync_done_tx, mut sync_done_rx) = mpsc::channel::<Option<u64>>(4);
    let mirrors = config.media_base.mirrors();
    let mut sync_task: Option<JoinHandle<()>> = None;
    let start_sync = |pending: &Option<Held>,
                      active: &Option<Held>,
                      alerts: &Option<(Arc<AlertSet>, Vec<u8>)>,
                      sync_task: &mut Option<JoinHandle<()>>| {
        if let Some(t) = sync_task.take() {
            t.abort();
        }
        let mut wanted: Vec<Wanted> = Vec::new();
        let mut seen = HashSet::new();
        let mut add = |w: Wanted| {
            if seen.insert(w.sha256.clone()) {
                wanted.push(w);
            }
        };
        for h in pending.iter().chain(active.iter()) {
            h.manifest.media.iter().for_each(|m| add(m.into()));
        }
        if let Some((a, _)) = alerts {
            a.alerts
                .iter()
                .filter_map(|al| al.media.as_ref())
                .for_each(|m| add(m.into()));
        }
        let target = pending.as_ref().map(|h| h.manifest.version);
        let cache = cache.clone();
        let mirrors = mirrors.clone();
        let progress = progress_tx.clone();
        let done = sync_done_tx.clone();
        *sync_task = Some(tokio::spawn(async move {
            let mut wait = STORAGE_RETRY_MIN;
            loop {
                match cache.sync(&wanted, &mirrors, &progress).await {
                    Ok(()) => break,
                    Err(
                        e @ (crate::cache::CacheError::NoMirrors
                        | crate::cache::CacheError::BadSha(_)),
                    ) => {
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
            let _ = done.send(target).await;
        }));
    };
    start_sync(&pending, &active, &alerts, &mut sync_task);

    // 4. The agent loop.
    //
    // Storage failures (disk full, I/O, permissions) never end it: what could not be saved
    // is kept in memory and saved again (with backoff) once the store works again.
    let mut last_accepted = store.last_accepted_version()?;
    let mut last_alert = store.last_alert_version()?;
    let mut unsaved_manifest: Option<Vec<u8>> = None;
    let mut unsaved_alerts: Option<(Vec<u8>, u64)> = None;
    let mut unsaved_rotations: Vec<Vec<u8>> = Vec::new();
    let mut resync = false;
    let mut storage_error: Option<String> = None;
    let mut storage_logged: Option<String> = None;
    let mut storage_wait = STORAGE_RETRY_MIN;
    let mut storage_retry_at = tokio::time::Instant::now();
    tokio::pin!(shutdown);
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut last_sent: Option<Status> = None;
    let mut last_sent_at = tokio::time::Instant::now();
    loop {
        tokio::select! {
            _ = &mut shutdown => break,
            msg = async {
                match requeue.pop_front() {
                    Some(m) => Some(m),
                    None => mqtt.incoming.recv().await,
                }
            } => {
                let Some(msg) = msg else { break };
                match msg {
                    Incoming::Manifest(bytes) => {
                        if active.as_ref().is_some_and(|h| h.bytes == bytes)
                            || pending.as_ref().is_some_and(|h| h.bytes == bytes)
                        {
                            tracing::debug!("manifest already held (retained replay); ignored");
                            continue;
                        }
                        let now = Timestamp::now();
                        match manifest::verify_manifest(&bytes, &trust.keys_at(now), &screen, last_accepted, now) {
                            Err(r) => {
                                tracing::warn!(reason = r.reason.as_str(), version = ?r.version, detail = %r.detail, "manifest rejected");
                                status.last_rejection = Some(rejection("manifest", &r));
                                if r.reason == manifest::RejectReason::UnknownKey {
                                    deferred.retain(|d| !matches!(d, Incoming::Manifest(_)));
                                    deferred.push(Incoming::Manifest(bytes));
                                }
                            }
                            Ok(m) => {
                                deferred.retain(|d| !matches!(d, Incoming::Manifest(_)));
                                if let Err(e) = store.save_pending(&bytes, m.version) {
                                    // Not pending until it is stored: verified again and
                                    // stored once the disk works again.
                                    warn_once(&mut storage_logged, "cannot store the new manifest; kept in memory, retried later", e.to_string());
                                    storage_error = Some(format!("cannot store manifest version {}: {e}", m.version));
                                    unsaved_manifest = Some(bytes.to_vec());
                                    continue;
                                }
                                if unsaved_manifest.as_deref() == Some(&bytes[..]) {
                                    unsaved_manifest = None;
                                }
                                last_accepted = Some(last_accepted.unwrap_or(0).max(m.version));
                                tracing::info!(version = m.version, media = m.media.len(), "manifest accepted; syncing media");
                                pending = Some(Held { manifest: Arc::new(m), bytes: bytes.to_vec() });
                                status.pending_version = pending.as_ref().map(|h| h.manifest.version);
                                start_sync(&pending, &active, &alerts, &mut sync_task);
                            }
                        }
                    }
                    Incoming::Alert(bytes) => {
                        if alerts.as_ref().is_some_and(|a| a.1 == bytes) {
                            continue;
                        }
                        match manifest::verify_alerts(&bytes, &trust.keys_at(Timestamp::now()), &screen, last_alert) {
                            Err(r) => {
                                tracing::warn!(reason = r.reason.as_str(), version = ?r.version, detail = %r.detail, "alert set rejected");
                                status.last_rejection = Some(rejection("alert", &r));
                                if r.reason == manifest::RejectReason::UnknownKey {
                                    deferred.retain(|d| !matches!(d, Incoming::Alert(_)));
                                    deferred.push(Incoming::Alert(bytes));
                                }
                            }
                            Ok(a) => {
                                deferred.retain(|d| !matches!(d, Incoming::Alert(_)));
                                // Alerts take effect at once, stored or not.
                                if let Err(e) = store.save_alerts(&bytes, a.version) {
                                    warn_once(&mut storage_logged, "cannot store the alert set; it is shown anyway and stored later", e.to_string());
                                    storage_error = Some(format!("cannot store alert set version {}: {e}", a.version));
                                    unsaved_alerts = Some((bytes.to_vec(), a.version));
                                } else {
                                    unsaved_alerts = None;
                                }
                                last_alert = Some(a.version);
                                tracing::info!(version = a.version, alerts = a.alerts.len(), "alert set accepted");
                                status.alert_version = Some(a.version);
                                alerts = Some((Arc::new(a), bytes.to_vec()));
                                program_tx.send_replace(program_of(&active, &alerts));
                                start_sync(&pending, &active, &alerts, &mut sync_task);
                            }
                        }
                    }
                    // An empty retained message only deletes the retained statement.
                    Incoming::Rotation(bytes) if bytes.is_empty() => {}
                    Incoming::Rotation(bytes) => match trust.apply(&bytes) {
                        Ok(Applied::AlreadyPinned) => {
                            tracing::debug!("rotation statement already applied (retained replay); ignored");
                        }
                        Ok(Applied::Rotated(v)) => {
                            if !unsaved_rotations.is_empty() {
                                unsaved_rotations.push(bytes.to_vec());
                            } else if let Err(e) = store.save_rotation(&bytes) {
                                warn_once(&mut storage_logged, "cannot store the key rotation; it is used anyway and stored later", e.to_string());
                                storage_error = Some(format!("cannot store a key rotation statement: {e}"));
                                unsaved_rotations.push(bytes.to_vec());
                            }
                            tracing::info!(
                                old_key_id = %v.rotation.old_key_id,
                                new_key_id = %v.rotation.new_key_id,
                                overlap_until = %v.rotation.overlap_until,
                                "controller key rotated; the old key is trusted until overlap_until"
                            );
                            status.controller_key_id = Some(trust.pinned().key_id());
                            keys_tx.send_replace(trust.keys_at(Timestamp::now()));
                            requeue.extend(deferred.drain(..));
                        }
                        Err(r) => {
                            tracing::warn!(reason = r.reason.as_str(), detail = %r.detail, "rotation statement rejected");
                            status.last_rejection = Some(rejection("rotation", &r));
                        }
                    },
                }
            }
            done = sync_done_rx.recv() => {
                let Some(target) = done.flatten() else { continue };
                sync_task = None;
                if pending.as_ref().map(|h| h.manifest.version) != Some(target) {
                    continue; // superseded meanwhile
                }
                let held = pending.take().expect("checked above");
                let wanted: Vec<Wanted> = held.manifest.media.iter().map(Wanted::from).collect();
                match cache.missing(&wanted).await {
                    Ok(m) if m.is_empty() => {}
                    Ok(_) => {
                        // Something vanished between sync and activation: sync again.
                        pending = Some(held);
                        start_sync(&pending, &active, &alerts, &mut sync_task);
                        continue;
                    }
                    Err(e) => {
                        warn_once(&mut storage_logged, "cannot check the cache before activation; retried later", e.to_string());
                        storage_error = Some(format!("cannot check the media cache: {e}"));
                        pending = Some(held);
                        resync = true;
                        continue;
                    }
                }
                if let Err(e) = store.activate(target) {
                    // Stays pending (on disk too); activated once the store works again.
                    warn_once(&mut storage_logged, "cannot activate the manifest; retried later", e.to_string());
                    storage_error = Some(format!("cannot activate manifest version {target}: {e}"));
                    pending = Some(held);
                    resync = true;
                    continue;
                }
                tracing::info!(version = target, "manifest activated");
                active = Some(held);
                status.manifest_version = Some(target);
                status.pending_version = None;
                program_tx.send_replace(program_of(&active, &alerts));
                let mut protected: HashSet<String> = HashSet::new();
                for h in active.iter().chain(pending.iter()) {
                    protected.extend(h.manifest.media.iter().map(|m| m.sha256.clone()));
                }
                if let Some((a, _)) = &alerts {
                    protected.extend(a.alerts.iter().filter_map(|al| al.media.as_ref()).map(|m| m.sha256.clone()));
                }
                match cache.evict(&protected) {
                    Ok(gone) if !gone.is_empty() => tracing::info!(count = gone.len(), "evicted media"),
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "eviction failed"),
                }
            }
            _ = progress_rx.changed() => {}
            _ = current_rx.changed() => {}
            _ = play_error_rx.changed() => {}
            _ = tick.tick() => {}
        }
        // Storage recovery: reopen a failed store, then redo what could not be saved.
        let outstanding = unsaved_manifest.is_some()
            || unsaved_alerts.is_some()
            || !unsaved_rotations.is_empty()
            || resync
            || journal.queue_state().queued > 0;
        if (store.failure().is_some() || outstanding)
            && tokio::time::Instant::now() >= storage_retry_at
        {
            let mut ok = true;
            if let Some(f) = store.failure() {
                warn_once(
                    &mut storage_logged,
                    "state database failed; playback continues from cache, reopening it later",
                    f.message.clone(),
                );
                match store.reopen() {
                    Ok(_) => tracing::info!("state database reopened"),
                    Err(e) => {
                        warn_once(
                            &mut storage_logged,
                            "state database cannot be reopened yet",
                            e.to_string(),
                        );
                        ok = false;
                    }
                }
            }
            if ok {
                if let Err(e) = journal.retry_queued() {
                    warn_once(
                        &mut storage_logged,
                        "queued plays still cannot be journaled",
                        e.to_string(),
                    );
                    ok = false;
                }
            }
            while ok && !unsaved_rotations.is_empty() {
                match store.save_rotation(&unsaved_rotations[0]) {
                    Ok(()) => {
                        unsaved_rotations.remove(0);
                    }
                    Err(e) => {
                        warn_once(
                            &mut storage_logged,
                            "key rotation still cannot be stored",
                            e.to_string(),
                        );
                        ok = false;
                    }
                }
            }
            if ok {
                if let Some((bytes, version)) = &unsaved_alerts {
                    match store.save_alerts(bytes, *version) {
                        Ok(()) => unsaved_alerts = None,
                        Err(e) => {
                            warn_once(
                                &mut storage_logged,
                                "alert set still cannot be stored",
                                e.to_string(),
                            );
                            ok = false;
                        }
                    }
                }
            }
            if ok {
                if let Some(bytes) = unsaved_manifest.take() {
                    // Verified and stored again by the manifest path (a failure puts it back).
                    requeue.push_back(Incoming::Manifest(bytes.into()));
                }
                if resync && pending.is_some() && sync_task.is_none() {
                    resync = false;
                    start_sync(&pending, &active, &alerts, &mut sync_task);
                }
            }
            if ok && store.failure().is_none() {
                if storage_error.take().is_some() || storage_logged.take().is_some() {
                    tracing::info!("storage works again");
                }
                storage_wait = STORAGE_RETRY_MIN;
            } else {
                storage_wait = (storage_wait * 2).min(STORAGE_RETRY_MAX);
            }
            storage_retry_at = tokio::time::Instant::now() + storage_wait;
        }

        // Status on change (checked at most once per event, and every second), and every
        // `status_interval` regardless.
        let now = Timestamp::now();
        let trusted_now = trust.keys_at(now);
        if *keys_tx.borrow() != trusted_now {
            if let Some((old, until)) = trust.previous() {
                tracing::info!(retired_key_id = %old.key_id(), %until, "rotation overlap over; the retired controller key is no longer trusted");
            }
            keys_tx.send_replace(trusted_now);
        }
        let current = current_rx.borrow_and_update().clone();
        let progress = progress_rx.borrow_and_update().clone();
        status.current = current.clone();
        status.state = if pending.is_some() {
            State::Syncing
        } else if current.is_some() {
            State::Playing
        } else {
            State::Idle
        };
        status.journal_backlog = journal.backlog();
        status.backlog_warning = status.journal_backlog > config.backlog_warn;
        status.cache = if progress.need_bytes > 0 {
            CacheCounts {
                have_bytes: progress.have_bytes,
                need_bytes: progress.need_bytes,
            }
        } else {
            let n = active
                .as_ref()
                .map_or(0, |h| h.manifest.media.iter().map(|m| m.bytes).sum());
            CacheCounts {
                have_bytes: n,
                need_bytes: n,
            }
        };
        // Storage trouble first (receipts may be at risk), then playback failures (they
        // affect the screen now), then download errors.
        let failure = store.failure();
        status.last_error = [
            storage_problem(
                &config.data_dir,
                failure.as_ref(),
                storage_error.as_deref(),
                journal.queue_state(),
            ),
            play_error_rx.borrow_and_update().clone(),
            progress.last_error.clone(),
        ]
        .into_iter()
        .flatten()
        .reduce(|a, b| format!("{a}; {b}"));
        status.manifest_expired = active
            .as_ref()
            .is_some_and(|h| h.manifest.expires_at <= now);
        status.clock_synced = opts.clock.synced();
        // Versions, state and rejections go out at once; progress counters (cache bytes,
        // backlog, current item) at most once a second, so a download does not flood MQTT.
        let (changed, significant) = match &last_sent {
            None => (true, true),
            Some(s) => (
                !s.same_content(&status),
                s.state != status.state
                    || s.manifest_version != status.manifest_version
                    || s.pending_version != status.pending_version
                    || s.alert_version != status.alert_version
                    || s.last_rejection != status.last_rejection
                    || s.controller_key_id != status.controller_key_id
                    || s.last_error != status.last_error,
            ),
        };
        let due = last_sent_at.elapsed() >= Duration::from_secs(1);
        if (changed && (significant || due)) || last_sent_at.elapsed() >= opts.status_interval {
            mqtt.set_status(status.to_json(now));
            last_sent = Some(status.clone());
            last_sent_at = tokio::time::Instant::now();
        }
    }

    // 5. Shutdown: stop playback (its last receipt is journaled), uploads, then say offline.
    tracing::info!("agent stopping");
    let _ = stop_tx.send(true);
    if let Some(t) = sync_task.take() {
        t.abort();
    }
    let _ = scheduler_task.await;
    match uploader_task.await {
        Ok(Err(e)) => tracing::error!(error = %e, "uploader stopped with an error"),
        Err(e) => tracing::error!(error = %e, "uploader task failed"),
        Ok(Ok(())) => {}
    }
    bridge_out.abort();
    bridge_acks.abort();
    if journal.queue_state().queued > 0 {
        let _ = store.reopen();
        if let Err(e) = journal.retry_queued() {
            tracing::error!(error = %e, plays = journal.queue_state().queued, "RECEIPTS NOT WRITTEN at shutdown: the journal still cannot be written");
        }
    }
    status.journal_backlog = journal.backlog();
    mqtt.shutdown(status.offline().to_json(Timestamp::now()))
        .await;
    if let Err(e) = store.flush() {
        tracing::warn!(error = %e, "final flush of the state database failed");
    }
    Ok(())
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
