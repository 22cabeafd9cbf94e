//! The receipt uploader: journal → signed batches → MQTT, deletion only on a verified ack.
//!
//! Protocol (`docs/protocol.md` §13, §14): take up to `batch_max_receipts` unacknowledged receipts (as soon as
//! that many are waiting, or `batch_max_delay` after the first one appeared), sign them as a
//! DSSE receipts batch with the device key and hand the envelope bytes to the MQTT task. One
//! batch is in flight at a time. Batches name the enrolment epoch of their chain (after a
//! re-enrolment that kept the data directory, the previous epoch's chain drains first:
//! [`Journal::unacked_chain`]) and the device key id. An ack (raw envelope bytes from the MQTT
//! task) is verified against the pinned controller key, this screen's id, the epoch of one of
//! the journal's chains and the device key id; only then are the receipts it covers deleted
//! from that chain. If no covering ack arrives within `ack_timeout`, the
//! unacknowledged receipts are sent again (the controller stores duplicates once). Nothing is
//! ever dropped: receipts leave the journal only through a verified ack. A batch is cut to the
//! longest run of receipts whose envelope fits the protocol's size limit
//! ([`receipt::sign_batch_within_limit`]), so the controller never has to refuse one for its
//! size.

use std::future::Future;
use std::time::Duration;

use gatecast_support::backoff::Backoff;
use playlists::keys::{KeySet, SecretKey};
use playlists::receipt::{self, MAX_BATCH_RECEIPTS};
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::config::PlayerConfig;
use crate::journal::Journal;

/// Batch and resend bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UploaderConfig {
    /// Most receipts per batch (clamped to 1..=`playlists::receipt::MAX_BATCH_RECEIPTS`).
    pub batch_max_receipts: usize,
    /// Longest time a receipt waits for its batch to fill.
    pub batch_max_delay: Duration,
    /// Resend unacknowledged receipts after this long without a covering ack.
    pub ack_timeout: Duration,
}

impl UploaderConfig {
    /// The bounds from the player configuration.
    pub fn from_config(c: &PlayerConfig) -> UploaderConfig {
        UploaderConfig {
            batch_max_receipts: c.batch_max_receipts,
            batch_max_delay: c.batch_max_delay(),
            ack_timeout: c.ack_timeout(),
        }
    }
}

/// Why the uploader stopped.
#[derive(Debug, thiserror::Error)]
pub enum UploaderError {
    /// The journal could not be read or pruned.
    #[error(transparent)]
    Journal(#[from] crate::journal::JournalError),
}

/// The uploader task's inputs. Create it, then `run` it in its own task.
pub struct Uploader {
    journal: Journal,
    device_key: SecretKey,
    controller: KeySet,
    cfg: UploaderConfig,
    /// When set, acks are verified against the latest key set here (key rotation).
    controller_live: Option<watch::Receiver<KeySet>>,
}

struct InFlight {
    epoch: u64,
    upto: u64,
    deadline: Instant,
}

impl Uploader {
    /// An uploader for `journal` (its screen id is the one acks must name), signing with the
    /// device key and accepting acks signed by `controller` (the pinned key).
    pub fn new(
        journal: Journal,
        device_key: SecretKey,
        controller: KeySet,
        cfg: UploaderConfig,
    ) -> Uploader {
        Uploader {
            journal,
            device_key,
            controller,
            cfg,
            controller_live: None,
        }
    }

    /// Verify acks against whatever key set `keys` holds at the time (the agent updates it
    /// when the controller key rotates and when a rotation's overlap ends) instead of the
    /// fixed set given to [`Uploader::new`].
    pub fn with_controller_keys(mut self, keys: watch::Receiver<KeySet>) -> Uploader {
        self.controller_live = Some(keys);
        self
    }

    /// Runs until `shutdown` resolves, the `outgoing` receiver is dropped, or the `acks`
    /// sender is dropped.
    ///
    /// - `outgoing`: receives DSSE receipts-batch envelope bytes; the MQTT task publishes each
    ///   on `topic(screen, Kind::Receipts)` with QoS 1 (not retained).
    /// - `acks`: the MQTT task forwards every message from `topic(screen, Kind::Ack)` here as
    ///   raw bytes, unverified; the uploader verifies them.
    ///
    /// Journal errors (disk full, I/O failure) do not stop the task: they are logged (once
    /// per distinct error) and the read or prune is tried again with a backoff (1 s doubling
    /// to 30 s); the receipts stay on disk meanwhile. Only flushed receipts are ever signed.
    pub async fn run(
        self,
        outgoing: mpsc::Sender<Vec<u8>>,
        mut acks: mpsc::Receiver<Vec<u8>>,
        shutdown: impl Future<Output = ()>,
    ) -> Result<(), UploaderError> {
        tokio::pin!(shutdown);
        let max = self.cfg.batch_max_receipts.clamp(1, MAX_BATCH_RECEIPTS);
        let screen = self.journal.screen().to_owned();
        let key_id = self.device_key.key_id();
        let mut in_flight: Option<InFlight> = None;
        let mut send_at: Option<Instant> = None;
        let mut last_error: Option<String> = None;
        let mut backoff = Backoff::new(JOURNAL_RETRY_MIN, JOURNAL_RETRY_MAX);
        loop {
            let now = Instant::now();
            if in_flight.as_ref().is_some_and(|f| now >= f.deadline) {
                tracing::info!(
                    upto = in_flight.as_ref().map(|f| f.upto),
                    "no ack in time; resending receipts"
                );
                in_flight = None;
                send_at = Some(now);
            }
            let backlog = self.journal.backlog();
            if backlog == 0 {
                send_at = None;
            }
            if in_flight.is_none() && backlog > 0 {
                let due = *send_at.get_or_insert(now + self.cfg.batch_max_delay);
                if backlog >= max as u64 || now >= due {
                    let (epoch, batch) = match self.journal.unacked_chain(max) {
                        Ok(b) => {
                            backoff.reset();
                            last_error = None;
                            b
                        }
                        Err(e) => {
                            note_error(
                                &mut last_error,
                                &e,
                                "cannot read the receipt journal; retrying",
                            );
                            send_at = Some(Instant::now() + backoff.next_delay());
                            let wake = send_at;
                            tokio::select! {
                                _ = &mut shutdown => return Ok(()),
                                _ = sleep_until_opt(wake) => {}
                            }
                            continue;
                        }
                    };
                    if !batch.is_empty() {
                        let (seqs, bytes): (Vec<u64>, Vec<Vec<u8>>) = batch.into_iter().unzip();
                        // Never a batch the controller must refuse for its size: the rest
                        // goes in the next one (docs/protocol.md §5, §13).
                        let (env, count) = receipt::sign_batch_within_limit(
                            &screen,
                            epoch,
                            &bytes,
                            &self.device_key,
                        );
                        if count < bytes.len() {
                            tracing::warn!(
                                wanted = bytes.len(),
                                count,
                                limit = playlists::envelope::MAX_ENVELOPE_BYTES,
                                "receipts batch cut to stay within the envelope size limit"
                            );
                        }
                        let upto = seqs[count - 1];
                        tracing::debug!(epoch, upto, count, "sending receipts batch");
                        tokio::select! {
                            r = outgoing.send(env) => if r.is_err() { return Ok(()); },
                            _ = &mut shutdown => return Ok(()),
                        }
                        in_flight = Some(InFlight {
                            epoch,
                            upto,
                            deadline: Instant::now() + self.cfg.ack_timeout,
                        });
                    }
                    send_at = None;
                    continue;
                }
            }
            let wake = match (&in_flight, send_at) {
                (Some(f), _) => Some(f.deadline),
                (None, Some(t)) => Some(t),
                (None, None) => None,
            };
            tokio::select! {
                _ = &mut shutdown => return Ok(()),
                _ = self.journal.appended() => {}
                msg = acks.recv() => {
                    let Some(bytes) = msg else { return Ok(()) };
                    let trusted = match &self.controller_live {
                        Some(rx) => rx.borrow().clone(),
                        None => self.controller.clone(),
                    };
                    // Only an ack of one of the journal's chains: its enrolment epoch and this
                    // device key (an earlier box's ack, replayed, says nothing about these
                    // receipts).
                    match verify_own_ack(&bytes, &trusted, &screen, &key_id, &self.journal) {
                        Ok(ack) => {
                            // A failed prune is harmless: the receipts are sent again later
                            // and the controller stores them once.
                            let removed = match self.journal.ack_chain(ack.epoch, ack.upto_seq) {
                                Ok(n) => n,
                                Err(e) => {
                                    note_error(&mut last_error, &e, "cannot prune acknowledged receipts; they will be sent again");
                                    continue;
                                }
                            };
                            tracing::debug!(upto = ack.upto_seq, removed, "receipts acknowledged");
                            if in_flight
                                .as_ref()
                                .is_some_and(|f| f.epoch == ack.epoch && ack.upto_seq >= f.upto)
                            {
                                in_flight = None;
                                // The rest has waited at least one round trip: send it now.
                                send_at = Some(Instant::now());
                            }
                        }
                        Err(e) => tracing::warn!(error = %e, "ignoring an ack that does not verify"),
                    }
                }
                _ = sleep_until_opt(wake) => {}
            }
        }
    }
}

/// Verifies an ack for the journal's draining chain (if any), else for its current chain; the
/// error is the current chain's.
fn verify_own_ack(
    bytes: &[u8],
    trusted: &KeySet,
    screen: &str,
    key_id: &str,
    journal: &Journal,
) -> Result<receipt::Ack, receipt::AckError> {
    let own = |epoch| receipt::OwnChain {
        screen,
        epoch,
        key_id,
    };
    if let Some(old) = journal.draining_epoch() {
        if let Ok(ack) = receipt::verify_ack(bytes, trusted, &own(old)) {
            return Ok(ack);
        }
    }
    receipt::verify_ack(bytes, trusted, &own(journal.epoch()))
}

const JOURNAL_RETRY_MIN: Duration = Duration::from_secs(1);
const JOURNAL_RETRY_MAX: Duration = Duration::from_secs(30);

/// Logs a journal error once per distinct message.
fn note_error(last: &mut Option<String>, e: &crate::journal::JournalError, what: &str) {
    let msg = e.to_string();
    if last.as_deref() != Some(msg.as_str()) {
        tracing::warn!(error = %msg, "{what}");
        *last = Some(msg);
    }
}

async fn sleep_until_opt(t: Option<Instant>) {
    match t {
        Some(t) => tokio::time::sleep_until(t).await,
        None => std::future::pending().await,
    }
}
