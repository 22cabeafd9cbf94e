//! [`run`]: start-up, the loop that feeds inputs to the state machine and carries out its
//! effects, and shutdown.

use std::collections::VecDeque;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jiff::Timestamp;
use playlists::keys::{KeySet, SecretKey};
use tokio::sync::{mpsc, watch};

use super::playback::{self, Playback, PlaybackSetup};
use super::report::{Readings, StatusReport};
use super::state::{AgentState, Effect, Persisted};
use super::storage::{self, StorageWatch};
use super::sync::MediaSync;
use super::uplink::{Uplink, UplinkSetup};
use super::{AgentError, BackendChoice, RunOptions};
use crate::cache::{Cache, CacheProgress};
use crate::clock::ClockProbe;
use crate::config::PlayerConfig;
use crate::journal::Journal;
use crate::mqtt::{Incoming, MqttHandle, MqttSettings};
use crate::scheduler::Program;
use crate::screenshot::{self, Capture, ShotSetup};
use crate::store::{Store, StoreError};

/// Runs the agent until `shutdown` resolves.
pub async fn run(
    config: PlayerConfig,
    opts: RunOptions,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    config.validate()?;
    crate::tls::warn_plaintext(&config);
    let tls = crate::tls::PlayerTls::from_config(&config);
    let controller_key = config.controller_public_key()?;
    let device_key = device_key(&config.data_dir)?;
    let store = Store::open(&config.data_dir)?;
    let mut cache = Cache::open(&config.data_dir, &store, config.cache_budget_bytes)?
        .with_tls(&tls.media)?
        .with_bandwidth_limit(config.bandwidth_limit_bytes_per_sec);
    if let Some(r) = opts.download_retry {
        cache = cache.with_retry(r);
    }
    let cache = Arc::new(cache);
    let journal = Journal::open(&store, &config.screen)?;
    journal.enter_epoch(config.epoch)?;

    // 1. Local state first: play the last active manifest before touching the network.
    let mut persisted = persisted(&store)?;
    persisted.pinned_roots = config.policy_root.clone();
    persisted.gate = config.gate.clone();
    let (state, startup) =
        AgentState::restore(controller_key, &config.screen, persisted, Timestamp::now());
    let (program_tx, program_rx) = watch::channel(state.program());
    let (stop_tx, stop_rx) = watch::channel(false);
    let setup = PlaybackSetup {
        choice: &opts.backend,
        data_dir: &config.data_dir,
        alert_text: Duration::from_millis(config.alert_text_ms),
        cache: &cache,
        journal: &journal,
        clock: &opts.clock,
    };
    let (ticker_tx, ticker_rx) = watch::channel(None);
    let playback = playback::spawn(setup, program_rx, ticker_rx, stop_rx.clone());

    // 2. Status and network.
    let report = StatusReport::new(
        device_key.public().to_base64(),
        &state,
        opts.status_interval,
    );
    let mut mqtt = MqttHandle::spawn(MqttSettings {
        screen: config.screen.clone(),
        broker: config.broker.clone(),
        tls: Some(tls.broker.clone()),
        username: config.mqtt_username.clone(),
        password: config.mqtt_password.clone(),
        last_will: report.offline(Timestamp::now()),
        keep_alive: Duration::from_secs(30),
    })?;
    let (keys_tx, keys_rx) = watch::channel(state.trusted_keys().clone());
    let shots = screenshot::spawn(
        ShotSetup {
            screen: config.screen.clone(),
            device_key: device_key.clone(),
            controller_base: config.controller_base(),
            // The null backend shows nothing: no periodic attempts that can only fail (a
            // request is still answered, in the log, by the reason).
            interval: (config.screenshot_interval_s > 0
                && matches!(opts.backend, BackendChoice::Mpv { .. }))
            .then(|| Duration::from_secs(config.screenshot_interval_s)),
            capture: match opts.backend {
                BackendChoice::Mpv { .. } => Capture::mpv(&config.data_dir),
                BackendChoice::Null { .. } => Capture::Null,
            },
            keys: keys_tx.subscribe(),
            tls: tls.media.clone(),
        },
        std::mem::replace(&mut mqtt.shots, mpsc::channel(1).1),
        stop_rx.clone(),
    );
    let uplink_setup = UplinkSetup {
        journal: &journal,
        device_key,
        keys: state.known_keys(),
        live: keys_rx,
        config: &config,
    };
    let uplink = Uplink::spawn(uplink_setup, &mut mqtt, stop_rx);

    // 3. Media sync for whatever is pending (and self-healing of active/alert media).
    let (progress_tx, progress) = watch::channel(CacheProgress::default());
    let (sync_done_tx, sync_done) = mpsc::channel::<Option<u64>>(4);
    let sync = MediaSync::new(
        cache.clone(),
        config.media_base.mirrors(),
        progress_tx,
        sync_done_tx,
    );
    let mut agent = Agent {
        clock: opts.clock,
        config,
        state,
        store,
        cache,
        journal,
        sync,
        sync_done,
        progress,
        program_tx,
        ticker_tx,
        keys_tx,
        stop_tx,
        playback,
        uplink,
        shots,
        mqtt,
        report,
        storage: StorageWatch::new(),
    };
    agent.apply(startup).await;

    // 4. The agent loop; 5. shutdown.
    agent.run_loop(shutdown).await;
    agent.shutdown().await;
    Ok(())
}

/// Loads the device key, creating it (and the data directory) on first start.
fn device_key(data_dir: &Path) -> Result<SecretKey, AgentError> {
    std::fs::create_dir_all(data_dir).map_err(|e| {
        AgentError::DeviceKey(format!(
            "cannot create data dir {}: {e}",
            data_dir.display()
        ))
    })?;
    crate::keyfile::load_or_create(&crate::keyfile::device_key_path(data_dir))
        .map_err(|e| AgentError::DeviceKey(e.to_string()))
}

/// What the store holds for the state machine's start-up.
fn persisted(store: &Store) -> Result<Persisted, StoreError> {
    Ok(Persisted {
        active: store.active_manifest()?.map(|s| s.bytes),
        pending: store.pending_manifest()?.map(|s| s.bytes),
        alerts: store.alerts()?.map(|s| s.bytes),
        rotations: store.rotations()?,
        policy_chain: store.policy_chain()?,
        last_accepted: store.last_accepted_version()?,
        last_alert: store.last_alert_version()?,
        pinned_roots: Vec::new(),
        gate: String::new(),
    })
}

/// The next input: one requeued by the state machine, else the next message from MQTT.
async fn next_message(
    state: &mut AgentState,
    incoming: &mut mpsc::Receiver<Incoming>,
) -> Option<Incoming> {
    match state.next_requeued() {
        Some(m) => Some(m),
        None => incoming.recv().await,
    }
}

/// The running agent: the state machine and everything its effects act on.
struct Agent {
    config: PlayerConfig,
    clock: ClockProbe,
    state: AgentState,
    store: Store,
    cache: Arc<Cache>,
    journal: Journal,
    sync: MediaSync,
    sync_done: mpsc::Receiver<Option<u64>>,
    progress: watch::Receiver<CacheProgress>,
    program_tx: watch::Sender<Option<Program>>,
    ticker_tx: watch::Sender<Option<Arc<playlists::manifest::TickerSet>>>,
    keys_tx: watch::Sender<KeySet>,
    stop_tx: watch::Sender<bool>,
    playback: Playback,
    uplink: Uplink,
    /// The screenshot task (`crate::screenshot`).
    shots: tokio::task::JoinHandle<()>,
    mqtt: MqttHandle,
    report: StatusReport,
    storage: StorageWatch,
}

impl Agent {
    /// Feeds inputs to the state machine until `shutdown` resolves or the MQTT link ends.
    /// After each input (unless its effects say to skip it) the bookkeeping: the storage
    /// recovery pass, the end of a rotation overlap, the status.
    async fn run_loop(&mut self, shutdown: impl Future<Output = ()>) {
        tokio::pin!(shutdown);
        let mut tick = tokio::time::interval(Duration::from_secs(1));
        loop {
            let effects = tokio::select! {
                _ = &mut shutdown => break,
                msg = next_message(&mut self.state, &mut self.mqtt.incoming) => {
                    let Some(msg) = msg else { break };
                    self.state.on_message(msg, Timestamp::now())
                }
                done = self.sync_done.recv() => {
                    let target = done.flatten();
                    if target.is_some() {
                        self.sync.finished();
                    }
                    self.state.on_sync_done(target)
                }
                _ = self.progress.changed() => Vec::new(),
                _ = self.playback.current.changed() => Vec::new(),
                _ = self.playback.error.changed() => Vec::new(),
                _ = tick.tick() => Vec::new(),
            };
            if !self.apply(effects).await {
                continue;
            }
            let idle = self.sync.is_idle();
            let recovered = self
                .storage
                .recover(&self.store, &self.journal, &mut self.state, idle);
            self.apply(recovered).await;
            let now = Timestamp::now();
            let expired = self.state.on_tick(now);
            self.apply(expired).await;
            self.publish_status(now);
        }
    }

    /// Carries out `effects` in order; the effects of an outcome reported back to the state
    /// machine are carried out next, before the remaining ones. Returns `false` if one of
    /// them was [`Effect::SkipBookkeeping`].
    async fn apply(&mut self, effects: Vec<Effect>) -> bool {
        let mut bookkeeping = true;
        let mut queue = VecDeque::from(effects);
        while let Some(effect) = queue.pop_front() {
            bookkeeping &= !matches!(effect, Effect::SkipBookkeeping);
            let next = self.carry_out(effect).await;
            for e in next.into_iter().rev() {
                queue.push_front(e);
            }
        }
        bookkeeping
    }

    async fn carry_out(&mut self, effect: Effect) -> Vec<Effect> {
        match effect {
            Effect::Save(save) => {
                let result = storage::save(&self.store, &save).map_err(|e| e.to_string());
                self.state.on_saved(save, result)
            }
            Effect::Program(p) => {
                self.program_tx.send_replace(p);
                Vec::new()
            }
            Effect::Ticker(t) => {
                self.ticker_tx.send_replace(Some(t));
                Vec::new()
            }
            Effect::StartSync(plan) => {
                self.sync.start(plan);
                Vec::new()
            }
            Effect::CheckCache { version, wanted } => {
                let missing = self.cache.missing(&wanted).await;
                let missing = missing.map(|m| m.len()).map_err(|e| e.to_string());
                self.state.on_cache_checked(version, missing)
            }
            Effect::Activate(version) => {
                let result = self.store.activate(version).map_err(|e| e.to_string());
                self.state.on_activated(version, result)
            }
            Effect::Evict(protected) => {
                match self.cache.evict(&protected) {
                    Ok(gone) if !gone.is_empty() => {
                        tracing::info!(count = gone.len(), "evicted media")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "eviction failed"),
                }
                Vec::new()
            }
            Effect::TrustKeys(keys) => {
                self.keys_tx.send_replace(keys);
                Vec::new()
            }
            Effect::Reject(r) => {
                self.report.reject(r);
                Vec::new()
            }
            Effect::StorageFailed { log, error, status } => {
                self.storage.failed(log, error, status);
                Vec::new()
            }
            Effect::SkipBookkeeping => Vec::new(),
        }
    }

    /// Sends the status if it changed or is due (see [`StatusReport::refresh`]).
    fn publish_status(&mut self, now: Timestamp) {
        let readings = Readings {
            current: self.playback.current.borrow_and_update().clone(),
            progress: self.progress.borrow_and_update().clone(),
            journal_backlog: self.journal.backlog(),
            backlog_warn: self.config.backlog_warn,
            storage_problem: self.storage.problem(
                &self.config.data_dir,
                &self.store,
                self.journal.queue_state(),
            ),
            play_error: self.playback.error.borrow_and_update().clone(),
            display_problem: self.playback.display_problem.clone(),
            clock_synced: self.clock.synced(),
        };
        if let Some(json) = self.report.refresh(&self.state, readings, now) {
            self.mqtt.set_status(json);
        }
    }

    /// Stops playback (its last receipt is journaled), uploads, then says offline.
    async fn shutdown(mut self) {
        tracing::info!("agent stopping");
        let _ = self.stop_tx.send(true);
        self.sync.abort();
        let _ = self.playback.task.await;
        if let Some(regions) = self.playback.regions.take() {
            // Its last ticker turn is journaled when it sees `stop`.
            let _ = regions.await;
        }
        self.uplink.stop().await;
        self.shots.abort();
        if self.journal.queue_state().queued > 0 {
            let _ = self.store.reopen();
            if let Err(e) = self.journal.retry_queued() {
                tracing::error!(error = %e, plays = self.journal.queue_state().queued, "RECEIPTS NOT WRITTEN at shutdown: the journal still cannot be written");
            }
        }
        self.report.set_journal_backlog(self.journal.backlog());
        let offline = self.report.offline(Timestamp::now());
        self.mqtt.shutdown(offline).await;
        if let Err(e) = self.store.flush() {
            tracing::warn!(error = %e, "final flush of the state database failed");
        }
    }
}
