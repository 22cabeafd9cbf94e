//! The agent's decisions, without I/O: which manifest is active, which one is pending (its
//! media still syncing), which inputs wait for a key rotation, which controller keys are
//! trusted, which alert set is shown, and what still has to be written to the store.
//!
//! Every input is a method (`on_manifest`, `on_alert`, `on_rotation`, `on_sync_done`, ...)
//! that updates the state and returns the [`Effect`]s the agent loop must carry out (store
//! writes, media sync, the scheduler's program, cache eviction, the status). Effects whose
//! outcome matters (a store write, a cache check, an activation) are reported back through
//! `on_saved`, `on_cache_checked` and `on_activated`. Signature checks are the pure ones of
//! `playlists` (`verify_manifest`, `verify_alerts`, `Trust::apply`), with `now` passed in.
//!
//! The rules are those of the `agent` module documentation, after `docs/protocol.md` §4.1
//! (key rotation), §8 (manifest acceptance) and §9 (alert sets).

use std::collections::{HashSet, VecDeque};
use std::sync::Arc;

use bytes::Bytes;
use jiff::Timestamp;
use playlists::envelope::{self, MANIFEST_TYPE};
use playlists::keys::{KeySet, PublicKey};
use playlists::manifest::{self, AlertSet, Manifest, MediaRef, RejectReason, Rejection};
use playlists::rotation::{Applied, Trust};

use super::approvals::Guard;
use crate::cache::Wanted;
use crate::mqtt::Incoming;
use crate::scheduler::Program;
use crate::status::{LastRejection, Status};

/// A verified manifest with its exact envelope bytes.
#[derive(Debug, Clone)]
pub(crate) struct Held {
    /// The parsed, verified manifest.
    pub manifest: Arc<Manifest>,
    /// The envelope exactly as received (what the store keeps).
    pub bytes: Vec<u8>,
}

impl Held {
    fn version(&self) -> u64 {
        self.manifest.version
    }
}

/// A verified alert set with its exact envelope bytes.
#[derive(Debug, Clone)]
struct HeldAlerts {
    alerts: Arc<AlertSet>,
    bytes: Vec<u8>,
}

impl HeldAlerts {
    fn media(&self) -> impl Iterator<Item = &MediaRef> {
        self.alerts.alerts.iter().filter_map(|a| a.media.as_ref())
    }
}

/// What the store held at start-up (exact envelope bytes, nothing verified yet).
#[derive(Debug, Clone, Default)]
pub(crate) struct Persisted {
    /// The active manifest's envelope.
    pub active: Option<Vec<u8>>,
    /// The pending manifest's envelope.
    pub pending: Option<Vec<u8>>,
    /// The alert set's envelope.
    pub alerts: Option<Vec<u8>>,
    /// Accepted key rotation statements, oldest first.
    pub rotations: Vec<Vec<u8>>,
    /// The highest manifest version ever accepted.
    pub last_accepted: Option<u64>,
    /// The last accepted alert set version.
    pub last_alert: Option<u64>,
    /// Policy root key ids pinned at enrolment (empty: approvals not enforced, §19).
    pub pinned_roots: Vec<String>,
    /// This screen's gate (for approval scopes).
    pub gate: String,
    /// The policy chain last taken from the policy topic (§19).
    pub policy_chain: Option<Vec<u8>>,
}

/// A write to the state database.
#[derive(Debug, Clone)]
pub(crate) enum Save {
    /// Store a verified manifest as pending (it becomes pending only once stored).
    Pending(Held),
    /// Store the alert set (it is shown whether stored or not).
    Alerts {
        /// Envelope bytes.
        bytes: Vec<u8>,
        /// Its version.
        version: u64,
    },
    /// Append an accepted key rotation statement (it is used whether stored or not).
    Rotation(Vec<u8>),
    /// Store a policy chain taken from the policy topic (it is held whether stored or not;
    /// the retained topic brings it again after a reconnect).
    Policy(Vec<u8>),
}

impl Save {
    /// The warning logged when a retry of this write fails again.
    pub fn retry_warning(&self) -> &'static str {
        match self {
            Save::Pending(_) => "manifest still cannot be stored",
            Save::Alerts { .. } => "alert set still cannot be stored",
            Save::Rotation(_) => "key rotation still cannot be stored",
            Save::Policy(_) => "approval policy still cannot be stored",
        }
    }
}

/// The media sync to run: every file of the pending and active manifests and of the alert
/// set; when it is done the agent loop reports `target` to [`AgentState::on_sync_done`].
#[derive(Debug, Clone)]
pub(crate) struct SyncPlan {
    /// Files to have in the cache (each once).
    pub wanted: Vec<Wanted>,
    /// The pending manifest version this sync is for (`None`: only self-healing).
    pub target: Option<u64>,
}

/// Something the agent loop must do.
#[derive(Debug, Clone)]
pub(crate) enum Effect {
    /// Write to the store, then report the outcome to [`AgentState::on_saved`].
    Save(Save),
    /// Give the scheduler this program.
    Program(Option<Program>),
    /// Show this ticker set (`docs/protocol.md` §20).
    Ticker(Arc<manifest::TickerSet>),
    /// Cancel any media sync under way (part files stay for resume) and start this one.
    StartSync(SyncPlan),
    /// Check that the cache holds every file of pending `version`, then report the number of
    /// missing files to [`AgentState::on_cache_checked`].
    CheckCache {
        /// The pending version.
        version: u64,
        /// Its media.
        wanted: Vec<Wanted>,
    },
    /// Make pending `version` the active one in the store, then report to
    /// [`AgentState::on_activated`].
    Activate(u64),
    /// Evict cache files, keeping these (sha256 hex).
    Evict(HashSet<String>),
    /// The controller keys trusted now changed (acks are verified with these).
    TrustKeys(KeySet),
    /// An input was refused: report it as the status' `last_rejection`.
    Reject(LastRejection),
    /// The store or the cache failed: log it (once) and report it in the status until
    /// storage works again; what could not be done is retried.
    StorageFailed {
        /// The log message.
        log: &'static str,
        /// The underlying error.
        error: String,
        /// What the status' `last_error` says.
        status: String,
    },
    /// No storage recovery pass and no status report right after this input: it changed
    /// nothing, or storage just failed (trying again at once would fail again). Both come
    /// with the next input, at the latest the loop's one-second tick.
    SkipBookkeeping,
}

/// The agent's state (see the module documentation).
#[derive(Debug)]
pub(crate) struct AgentState {
    screen: String,
    trust: Trust,
    /// The keys last handed out with [`Effect::TrustKeys`] (or at start-up).
    published_keys: KeySet,
    active: Option<Held>,
    pending: Option<Held>,
    alerts: Option<HeldAlerts>,
    last_accepted: Option<u64>,
    last_alert: Option<u64>,
    /// Inputs refused as `unknown_key` (at most one manifest and one alert set), tried again
    /// once after a rotation is accepted.
    deferred: Vec<Incoming>,
    /// Inputs to handle before the next message from MQTT.
    requeue: VecDeque<Incoming>,
    /// A verified manifest the store could not take.
    unsaved_manifest: Option<Vec<u8>>,
    /// An alert set (shown) the store could not take.
    unsaved_alerts: Option<(Vec<u8>, u64)>,
    /// Rotation statements (in use) the store could not take, in order.
    unsaved_rotations: Vec<Vec<u8>>,
    /// The pending manifest could not be activated: sync and try again once storage works.
    resync: bool,
    /// Approval enforcement (`None`: no policy root pinned).
    approvals: Option<Guard>,
    /// The current ticker set's exact bytes (a retained replay of them is ignored).
    ticker: Option<Vec<u8>>,
    /// The last accepted ticker version (`docs/protocol.md` §20; held in memory: the
    /// retained topic brings the current set after a restart).
    last_ticker: Option<u64>,
}

/// Re-checks the signature of a manifest stored on disk and parses it (no version or expiry
/// rule: it was accepted before).
fn load_stored_manifest(bytes: Vec<u8>, keys: &KeySet, screen: &str) -> Option<Held> {
    let v = match envelope::verify(&bytes, MANIFEST_TYPE, keys) {
        Ok(v) => v,
        Err(e) => {
            tracing::error!(error = %e, "stored manifest no longer verifies; ignored");
            return None;
        }
    };
    match Manifest::from_json(&v.payload) {
        Ok(m) if m.screen == screen && m.validate().is_ok() => Some(Held {
            manifest: Arc::new(m),
            bytes,
        }),
        _ => {
            tracing::error!("stored manifest is not valid for this screen; ignored");
            None
        }
    }
}

/// Re-checks a stored alert set (no version rule: it was accepted before).
fn load_stored_alerts(bytes: Vec<u8>, keys: &KeySet, screen: &str) -> Option<HeldAlerts> {
    match manifest::verify_alerts(&bytes, keys, screen, None) {
        Ok(a) => Some(HeldAlerts {
            alerts: Arc::new(a),
            bytes,
        }),
        Err(e) => {
            tracing::error!(error = %e, "stored alert set no longer verifies; ignored");
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

fn is_manifest(m: &Incoming) -> bool {
    matches!(m, Incoming::Manifest(_))
}

fn is_alert(m: &Incoming) -> bool {
    matches!(m, Incoming::Alert(_))
}

impl AgentState {
    /// The state after a start: trust rebuilt from `controller_key` (the config's pinned
    /// key) and the stored rotation statements, then the stored manifests and alert set
    /// re-checked with every key still known. The effects start the media sync (for the
    /// pending manifest, and self-healing of the active and alert media).
    pub fn restore(
        controller_key: PublicKey,
        screen: &str,
        persisted: Persisted,
        now: Timestamp,
    ) -> (AgentState, Vec<Effect>) {
        let trust = Trust::replay(
            controller_key,
            persisted.rotations.iter().map(Vec::as_slice),
        );
        // Stored envelopes were accepted before: re-check them with every key still known.
        let keys = trust.known_keys();
        let stored: Vec<&[u8]> = [&persisted.active, &persisted.pending, &persisted.alerts]
            .into_iter()
            .flatten()
            .map(Vec::as_slice)
            .collect();
        let approvals = Guard::restore(
            &persisted.pinned_roots,
            &persisted.gate,
            &stored,
            persisted.policy_chain.as_deref(),
        );
        let state = AgentState {
            approvals,
            screen: screen.to_owned(),
            published_keys: trust.keys_at(now),
            active: persisted
                .active
                .and_then(|b| load_stored_manifest(b, &keys, screen)),
            pending: persisted
                .pending
                .and_then(|b| load_stored_manifest(b, &keys, screen)),
            alerts: persisted
                .alerts
                .and_then(|b| load_stored_alerts(b, &keys, screen)),
            trust,
            last_accepted: persisted.last_accepted,
            last_alert: persisted.last_alert,
            deferred: Vec::new(),
            requeue: VecDeque::new(),
            unsaved_manifest: None,
            unsaved_alerts: None,
            unsaved_rotations: Vec::new(),
            resync: false,
            ticker: None,
            last_ticker: None,
        };
        let start = vec![state.start_sync()];
        (state, start)
    }

    /// The scheduler's program: the active manifest and the alert set. Alerts play even
    /// without an active manifest (a freshly enrolled screen).
    pub fn program(&self) -> Option<Program> {
        (self.active.is_some() || self.alerts.is_some()).then(|| Program {
            manifest: self.active.as_ref().map(|h| match &self.approvals {
                // Under an approval policy only approved text reaches the glass: subtitle files
                // carry no approvals (`docs/protocol.md` §21), so they are not shown.
                Some(_) if h.manifest.media.iter().any(|m| !m.subtitles.is_empty()) => {
                    let mut m = (*h.manifest).clone();
                    m.media.iter_mut().for_each(|m| m.subtitles.clear());
                    std::sync::Arc::new(m)
                }
                _ => h.manifest.clone(),
            }),
            alerts: self.alerts.as_ref().map(|a| a.alerts.clone()),
        })
    }

    /// Every controller key still known, regardless of the overlap: for envelopes accepted
    /// earlier, never for new input.
    pub fn known_keys(&self) -> KeySet {
        self.trust.known_keys()
    }

    /// The controller keys trusted now, as last handed out.
    pub fn trusted_keys(&self) -> &KeySet {
        &self.published_keys
    }

    /// The next input to handle before reading MQTT again (a deferred input after a
    /// rotation, or a manifest the store could not take).
    pub fn next_requeued(&mut self) -> Option<Incoming> {
        self.requeue.pop_front()
    }

    /// One message from the controller.
    pub fn on_message(&mut self, msg: Incoming, now: Timestamp) -> Vec<Effect> {
        match msg {
            Incoming::Manifest(bytes) => self.on_manifest(bytes, now),
            Incoming::Alert(bytes) => self.on_alert(bytes, now),
            Incoming::Rotation(bytes) => self.on_rotation(bytes, now),
            Incoming::Policy(bytes) => self.on_policy(bytes, now),
            Incoming::Ticker(bytes) => self.on_ticker(bytes, now),
        }
    }

    /// A set from the `ticker` topic (`docs/protocol.md` §20): verified like an alert set
    /// (signature, type, screen, version above the last accepted ticker version, validity);
    /// an accepted one is shown at once. A screen with a pinned policy root takes a non-empty
    /// set only if every text reaches the policy's `alert_threshold` (§19), adopting a newer
    /// policy it carries; else `not_approved` and the held set stays.
    pub fn on_ticker(&mut self, bytes: Bytes, now: Timestamp) -> Vec<Effect> {
        if self.ticker.as_deref() == Some(&bytes[..]) || bytes.is_empty() {
            return vec![Effect::SkipBookkeeping];
        }
        let keys = self.trust.keys_at(Timestamp::now());
        let verified = manifest::verify_ticker(&bytes, &keys, &self.screen, self.last_ticker)
            .and_then(|t| match &self.approvals {
                Some(g) if !t.items.is_empty() => g.check_ticker(&bytes, &t, now).map(|p| (t, p)),
                _ => Ok((t, None)),
            });
        match verified {
            Err(r) => {
                tracing::warn!(reason = r.reason.as_str(), version = ?r.version, detail = %r.detail, "ticker set rejected");
                vec![Effect::Reject(rejection("ticker", &r))]
            }
            Ok((t, policy)) => {
                if let Some(g) = &mut self.approvals {
                    g.adopt(policy);
                }
                self.last_ticker = Some(t.version);
                self.ticker = Some(bytes.to_vec());
                tracing::info!(
                    version = t.version,
                    items = t.items.len(),
                    "ticker set accepted"
                );
                vec![Effect::Ticker(Arc::new(t))]
            }
        }
    }

    /// A chain from the policy topic (`docs/protocol.md` §19): held and stored if it brings a
    /// newer policy under the chain rule; refused (logged, and named in the status'
    /// `last_rejection`) if older, equal or not signed by the held root threshold. A screen
    /// without pinned roots ignores it.
    pub fn on_policy(&mut self, bytes: Bytes, now: Timestamp) -> Vec<Effect> {
        let Some(guard) = &mut self.approvals else {
            return Vec::new();
        };
        if bytes.is_empty() {
            return Vec::new();
        }
        match guard.offer_policy(&bytes, now) {
            Ok(_) => vec![Effect::Save(Save::Policy(bytes.to_vec()))],
            Err((reason, detail)) => {
                tracing::warn!(reason, %detail, "approval policy from the policy topic refused");
                vec![Effect::Reject(LastRejection {
                    version: None,
                    reason: reason.to_owned(),
                    detail,
                    what: "policy".to_owned(),
                })]
            }
        }
    }

    fn defer(&mut self, msg: Incoming, same_kind: fn(&Incoming) -> bool) {
        self.deferred.retain(|d| !same_kind(d));
        self.deferred.push(msg);
    }

    /// A manifest from the `manifest` topic: verified with the keys trusted at `now`, this
    /// screen and the last accepted version; an accepted one is stored as pending, which
    /// supersedes any pending one, and its media are synced.
    pub fn on_manifest(&mut self, bytes: Bytes, now: Timestamp) -> Vec<Effect> {
        if self.active.as_ref().is_some_and(|h| h.bytes == bytes)
            || self.pending.as_ref().is_some_and(|h| h.bytes == bytes)
        {
            tracing::debug!("manifest already held (retained replay); ignored");
            return vec![Effect::SkipBookkeeping];
        }
        let keys = self.trust.keys_at(now);
        match manifest::verify_manifest(&bytes, &keys, &self.screen, self.last_accepted, now) {
            Err(r) => {
                tracing::warn!(reason = r.reason.as_str(), version = ?r.version, detail = %r.detail, "manifest rejected");
                if r.reason == RejectReason::UnknownKey {
                    self.defer(Incoming::Manifest(bytes), is_manifest);
                }
                vec![Effect::Reject(rejection("manifest", &r))]
            }
            Ok(m) => {
                self.deferred.retain(|d| !is_manifest(d));
                if let Some(guard) = &mut self.approvals {
                    match guard.check_manifest(&bytes, &m, now) {
                        Ok(policy) => guard.adopt(policy),
                        Err(r) => {
                            tracing::warn!(reason = r.reason.as_str(), version = ?r.version, detail = %r.detail, "manifest rejected");
                            return vec![Effect::Reject(rejection("manifest", &r))];
                        }
                    }
                }
                vec![Effect::Save(Save::Pending(Held {
                    manifest: Arc::new(m),
                    bytes: bytes.to_vec(),
                }))]
            }
        }
    }

    /// An alert set from the `alert` topic: verified like a manifest (against the last alert
    /// version) and shown at once, stored or not; its media are synced alongside.
    pub fn on_alert(&mut self, bytes: Bytes, now: Timestamp) -> Vec<Effect> {
        if self.alerts.as_ref().is_some_and(|a| a.bytes == bytes) {
            return vec![Effect::SkipBookkeeping];
        }
        let keys = self.trust.keys_at(now);
        match manifest::verify_alerts(&bytes, &keys, &self.screen, self.last_alert) {
            Err(r) => {
                tracing::warn!(reason = r.reason.as_str(), version = ?r.version, detail = %r.detail, "alert set rejected");
                if r.reason == RejectReason::UnknownKey {
                    self.defer(Incoming::Alert(bytes), is_alert);
                }
                vec![Effect::Reject(rejection("alert", &r))]
            }
            Ok(a) => {
                self.deferred.retain(|d| !is_alert(d));
                if let Some(guard) = &mut self.approvals {
                    match guard.check_alerts(&bytes, &a, now) {
                        Ok(policy) => guard.adopt(policy),
                        Err(r) => {
                            tracing::warn!(reason = r.reason.as_str(), version = ?r.version, detail = %r.detail, "alert set rejected");
                            return vec![Effect::Reject(rejection("alert", &r))];
                        }
                    }
                }
                let version = a.version;
                self.last_alert = Some(version);
                tracing::info!(version, alerts = a.alerts.len(), "alert set accepted");
                self.alerts = Some(HeldAlerts {
                    alerts: Arc::new(a),
                    bytes: bytes.to_vec(),
                });
                vec![
                    Effect::Save(Save::Alerts {
                        bytes: bytes.to_vec(),
                        version,
                    }),
                    Effect::Program(self.program()),
                    self.start_sync(),
                ]
            }
        }
    }

    /// A statement from the `rotation` topic: applied to the trust (signed by the pinned key
    /// and the new key), stored, and inputs deferred for an unknown key are tried again.
    pub fn on_rotation(&mut self, bytes: Bytes, now: Timestamp) -> Vec<Effect> {
        // An empty retained message only deletes the retained statement.
        if bytes.is_empty() {
            return Vec::new();
        }
        match self.trust.apply(&bytes) {
            Ok(Applied::AlreadyPinned) => {
                tracing::debug!("rotation statement already applied (retained replay); ignored");
                Vec::new()
            }
            Ok(Applied::Rotated(v)) => {
                let mut effects = Vec::new();
                if self.unsaved_rotations.is_empty() {
                    effects.push(Effect::Save(Save::Rotation(bytes.to_vec())));
                } else {
                    // Statements are stored in order: this one waits behind the unsaved ones.
                    self.unsaved_rotations.push(bytes.to_vec());
                }
                tracing::info!(
                    old_key_id = %v.rotation.old_key_id,
                    new_key_id = %v.rotation.new_key_id,
                    overlap_until = %v.rotation.overlap_until,
                    "controller key rotated; the old key is trusted until overlap_until"
                );
                self.published_keys = self.trust.keys_at(now);
                effects.push(Effect::TrustKeys(self.published_keys.clone()));
                self.requeue.extend(self.deferred.drain(..));
                effects
            }
            Err(r) => {
                tracing::warn!(reason = r.reason.as_str(), detail = %r.detail, "rotation statement rejected");
                vec![Effect::Reject(rejection("rotation", &r))]
            }
        }
    }

    /// The outcome of an [`Effect::Save`].
    pub fn on_saved(&mut self, save: Save, result: Result<(), String>) -> Vec<Effect> {
        match (save, result) {
            (Save::Pending(held), Ok(())) => {
                if self.unsaved_manifest.as_deref() == Some(&held.bytes[..]) {
                    self.unsaved_manifest = None;
                }
                let version = held.version();
                self.last_accepted = Some(self.last_accepted.unwrap_or(0).max(version));
                tracing::info!(
                    version,
                    media = held.manifest.media.len(),
                    "manifest accepted; syncing media"
                );
                self.pending = Some(held);
                vec![self.start_sync()]
            }
            (Save::Pending(held), Err(error)) => {
                // Not pending until it is stored: verified again and stored once the disk
                // works again.
                let status = format!("cannot store manifest version {}: {error}", held.version());
                self.unsaved_manifest = Some(held.bytes);
                vec![
                    Effect::StorageFailed {
                        log: "cannot store the new manifest; kept in memory, retried later",
                        error,
                        status,
                    },
                    Effect::SkipBookkeeping,
                ]
            }
            (Save::Alerts { .. }, Ok(())) => {
                self.unsaved_alerts = None;
                Vec::new()
            }
            (Save::Alerts { bytes, version }, Err(error)) => {
                self.unsaved_alerts = Some((bytes, version));
                vec![Effect::StorageFailed {
                    log: "cannot store the alert set; it is shown anyway and stored later",
                    status: format!("cannot store alert set version {version}: {error}"),
                    error,
                }]
            }
            (Save::Rotation(_), Ok(())) | (Save::Policy(_), Ok(())) => Vec::new(),
            (Save::Policy(_), Err(error)) => vec![Effect::StorageFailed {
                log: "cannot store the approval policy; it is held anyway and comes again on reconnect",
                status: format!("cannot store the approval policy: {error}"),
                error,
            }],
            (Save::Rotation(bytes), Err(error)) => {
                self.unsaved_rotations.push(bytes);
                vec![Effect::StorageFailed {
                    log: "cannot store the key rotation; it is used anyway and stored later",
                    status: format!("cannot store a key rotation statement: {error}"),
                    error,
                }]
            }
        }
    }

    /// A media sync finished (`target` as in its [`SyncPlan`]). For the pending manifest,
    /// the cache is checked before activation; a superseded sync changes nothing.
    pub fn on_sync_done(&mut self, target: Option<u64>) -> Vec<Effect> {
        let Some(target) = target else {
            return vec![Effect::SkipBookkeeping];
        };
        match &self.pending {
            Some(h) if h.version() == target => vec![Effect::CheckCache {
                version: target,
                wanted: h.manifest.media.iter().map(Wanted::from).collect(),
            }],
            _ => vec![Effect::SkipBookkeeping], // superseded meanwhile
        }
    }

    /// The outcome of an [`Effect::CheckCache`]: how many files are missing, or why the
    /// cache could not be checked.
    pub fn on_cache_checked(
        &mut self,
        version: u64,
        missing: Result<usize, String>,
    ) -> Vec<Effect> {
        if self.pending_version() != Some(version) {
            return Vec::new();
        }
        match missing {
            Ok(0) => vec![Effect::Activate(version)],
            // Something vanished between sync and activation: sync again.
            Ok(_) => vec![self.start_sync(), Effect::SkipBookkeeping],
            Err(error) => self.on_sync_failed(
                "cannot check the cache before activation; retried later",
                format!("cannot check the media cache: {error}"),
                error,
            ),
        }
    }

    /// The outcome of an [`Effect::Activate`]: the pending manifest becomes the active one
    /// (and media no longer referenced may go), or it stays pending until storage works.
    pub fn on_activated(&mut self, version: u64, result: Result<(), String>) -> Vec<Effect> {
        if self.pending_version() != Some(version) {
            return Vec::new();
        }
        if let Err(error) = result {
            // Stays pending (on disk too); activated once the store works again.
            return self.on_sync_failed(
                "cannot activate the manifest; retried later",
                format!("cannot activate manifest version {version}: {error}"),
                error,
            );
        }
        tracing::info!(version, "manifest activated");
        self.active = self.pending.take();
        vec![
            Effect::Program(self.program()),
            Effect::Evict(self.protected()),
        ]
    }

    /// The pending manifest's media are synced but storage kept it from being activated:
    /// it stays pending and is synced again once storage works.
    fn on_sync_failed(&mut self, log: &'static str, status: String, error: String) -> Vec<Effect> {
        self.resync = true;
        vec![
            Effect::StorageFailed { log, error, status },
            Effect::SkipBookkeeping,
        ]
    }

    /// Time passed: when a rotation's overlap ends, the retired key is no longer trusted.
    pub fn on_tick(&mut self, now: Timestamp) -> Vec<Effect> {
        let trusted = self.trust.keys_at(now);
        if trusted == self.published_keys {
            return Vec::new();
        }
        if let Some((old, until)) = self.trust.previous() {
            tracing::info!(retired_key_id = %old.key_id(), %until, "rotation overlap over; the retired controller key is no longer trusted");
        }
        self.published_keys = trusted;
        vec![Effect::TrustKeys(self.published_keys.clone())]
    }

    /// Whether something still has to be written to the store or redone once it works.
    pub fn outstanding(&self) -> bool {
        self.unsaved_manifest.is_some()
            || self.unsaved_alerts.is_some()
            || !self.unsaved_rotations.is_empty()
            || self.resync
    }

    /// The next write still owed to the store: rotation statements first (in order), then
    /// the alert set. Report success with [`AgentState::owed_saved`].
    pub fn owed_save(&self) -> Option<Save> {
        if let Some(r) = self.unsaved_rotations.first() {
            return Some(Save::Rotation(r.clone()));
        }
        self.unsaved_alerts
            .as_ref()
            .map(|(bytes, version)| Save::Alerts {
                bytes: bytes.clone(),
                version: *version,
            })
    }

    /// The write returned by [`AgentState::owed_save`] succeeded.
    pub fn owed_saved(&mut self, save: &Save) {
        match save {
            Save::Rotation(_) => {
                self.unsaved_rotations.remove(0);
            }
            Save::Alerts { .. } => self.unsaved_alerts = None,
            Save::Pending(_) | Save::Policy(_) => {}
        }
    }

    /// Storage works again and every owed write is done: an unsaved manifest is handled
    /// again (verified and stored), and an activation that failed is retried through a new
    /// sync once no sync runs (`sync_idle`).
    pub fn on_storage_ok(&mut self, sync_idle: bool) -> Vec<Effect> {
        if let Some(bytes) = self.unsaved_manifest.take() {
            // Verified and stored again by the manifest path (a failure puts it back).
            self.requeue.push_back(Incoming::Manifest(bytes.into()));
        }
        if self.resync && self.pending.is_some() && sync_idle {
            self.resync = false;
            return vec![self.start_sync()];
        }
        Vec::new()
    }

    /// The version of the pending manifest.
    pub fn pending_version(&self) -> Option<u64> {
        self.pending.as_ref().map(Held::version)
    }

    /// The active manifest.
    pub fn active(&self) -> Option<&Arc<Manifest>> {
        self.active.as_ref().map(|h| &h.manifest)
    }

    /// Writes what this state decides into `status`: the versions and the pinned key.
    pub fn fill_status(&self, status: &mut Status) {
        status.manifest_version = self.active.as_ref().map(Held::version);
        status.pending_version = self.pending_version();
        status.alert_version = self.alerts.as_ref().map(|a| a.alerts.version);
        status.controller_key_id = Some(self.trust.pinned().key_id());
        status.approvals = Guard::status(self.approvals.as_ref());
    }

    fn start_sync(&self) -> Effect {
        let mut wanted: Vec<Wanted> = Vec::new();
        let mut seen = HashSet::new();
        let manifests = self.pending.iter().chain(self.active.iter());
        let media = manifests
            .flat_map(|h| h.manifest.media.iter())
            .chain(self.alerts.iter().flat_map(HeldAlerts::media));
        for m in media {
            // A video's subtitle files (`docs/protocol.md` §21) are fetched and verified alike.
            let subtitles = m
                .subtitles
                .iter()
                .filter(|_| self.approvals.is_none())
                .map(|t| Wanted {
                    sha256: t.sha256.clone(),
                    bytes: t.bytes,
                });
            for w in std::iter::once(Wanted::from(m)).chain(subtitles) {
                if seen.insert(w.sha256.clone()) {
                    wanted.push(w);
                }
            }
        }
        Effect::StartSync(SyncPlan {
            wanted,
            target: self.pending_version(),
        })
    }

    /// The media the cache must keep: those of the active and pending manifests and of the
    /// alert set.
    fn protected(&self) -> HashSet<String> {
        let manifests = self.active.iter().chain(self.pending.iter());
        manifests
            .flat_map(|h| h.manifest.media.iter())
            .chain(self.alerts.iter().flat_map(HeldAlerts::media))
            .flat_map(|m| {
                std::iter::once(m.sha256.clone())
                    .chain(m.subtitles.iter().map(|t| t.sha256.clone()))
            })
            .collect()
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;

#[cfg(test)]
#[path = "approvals_tests.rs"]
mod approvals_tests;
