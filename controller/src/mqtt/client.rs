//! The controller's MQTT client (rumqttc 0.25).
//!
//! [`start`] spawns two tasks on the current tokio runtime:
//! - the **poll task** owns the rumqttc `EventLoop` and does nothing but poll it: it reports
//!   connects to the session task, forwards incoming `status` / `receipts` messages to the
//!   [`Inbound`] channel and sleeps with exponential backoff plus jitter (capped at
//!   [`ClientConfig::backoff_max`]) after a connection error. It never publishes: a publish
//!   waits on rumqttc's request queue, which only the poll task drains, so publishing from it
//!   could deadlock.
//! - the **session task** owns the `AsyncClient` and performs every outgoing request in order:
//!   after every successful connect it subscribes to `gatecast/v1/screens/+/status` and
//!   `.../+/receipts` and republishes everything [`RetainedSource::retained`] returns (the
//!   embedded broker keeps nothing across restarts); in between it performs the publishes
//!   asked for through [`MqttHandle::publish`]. Serialising both in one task means a republish
//!   can never overwrite a newer manifest that was published while it ran: the caller stores
//!   the new bytes before it calls `publish`, so the republish either reads them or is queued
//!   before the new publish.
//!
//! The session is persistent (`clean_session = false`, client id
//! [`super::CONTROLLER_CLIENT_ID`]); subscriptions are renewed on every connect anyway, which
//! covers a broker that reports no session (`session_present = false`). The packet limit is
//! raised to [`super::MAX_PACKET_SIZE`] both ways.
//!
//! Incoming messages whose topic is not a valid gatecast `status`/`receipts` topic are dropped
//! with a warning and counted in [`MqttMetrics::dropped_inbound`]. A status payload over
//! [`ClientConfig::max_inbound_payload`] is passed on by its size only
//! ([`Inbound::StatusTooLarge`]), so the status ingest refuses and counts it. Receipts batches up to the packet limit are
//! always passed on: ingest accepts every batch the protocol allows and refuses a larger one
//! with a named reason (`bad_envelope`), so no batch is dropped unanswered and resent forever
//! (`docs/protocol.md` §6, "Sizes"). If the inbound channel is full (in messages, or
//! in bytes with [`ClientConfig::inbound_bytes`]), the poll task waits up to
//! [`ClientConfig::inbound_wait`] for room (backpressure), then drops the message
//! (counted): receipts are retransmitted by players until acknowledged, and status is
//! republished with every heartbeat.
//!
//! An external broker must not deliver payloads above [`super::MAX_PACKET_SIZE`] to the
//! controller (rumqttc treats such a packet as a connection error and the persistent session
//! would redeliver it forever): configure mosquitto with `message_size_limit` (see
//! `docs/operations.md`).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use gatecast_support::backoff::Backoff;
use playlists::topics::{self, Kind};
use rumqttc::{AsyncClient, Event, EventLoop, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, oneshot, watch};
use tracing::{debug, info, warn};

use super::{CONTROLLER_CLIENT_ID, CONTROLLER_USER, MAX_PACKET_SIZE};

/// A message received from a screen.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// A status heartbeat (or Last Will) on `gatecast/v1/screens/{screen}/status`.
    Status {
        /// The screen id taken from the topic (already validated).
        screen: String,
        /// The raw payload (JSON, not yet parsed).
        payload: Vec<u8>,
    },
    /// A signed receipts batch on `gatecast/v1/screens/{screen}/receipts`.
    Receipts {
        /// The screen id taken from the topic (already validated). The topic is only a hint:
        /// the batch is trusted only after its device signature verifies.
        screen: String,
        /// The raw DSSE envelope bytes.
        payload: Vec<u8>,
    },
    /// A status over [`ClientConfig::max_inbound_payload`]: only its size is passed on, so it
    /// is refused and counted as `too_large` (`docs/protocol.md` §12) without holding it.
    StatusTooLarge {
        /// The screen id taken from the topic (already validated).
        screen: String,
        /// Size of the payload that was not kept.
        bytes: usize,
    },
}

impl Inbound {
    /// Bytes of payload the message holds.
    pub fn payload_len(&self) -> usize {
        match self {
            Inbound::Status { payload, .. } | Inbound::Receipts { payload, .. } => payload.len(),
            Inbound::StatusTooLarge { .. } => 0,
        }
    }
}

/// A bound in bytes on the [`Inbound`] messages waiting in the channel (`docs/security.md` §3
/// row 48): the poll task takes permits for a message's payload before queueing it and the
/// receiver gives them back with [`InboundBytes::release`] once it has routed the message. A
/// message larger than the whole bound takes all of it.
#[derive(Clone, Debug)]
pub struct InboundBytes {
    permits: Arc<tokio::sync::Semaphore>,
    max: usize,
}

impl InboundBytes {
    /// A bound of `max` bytes.
    pub fn new(max: usize) -> InboundBytes {
        let max = max.clamp(1, u32::MAX as usize);
        InboundBytes {
            permits: Arc::new(tokio::sync::Semaphore::new(max)),
            max,
        }
    }

    fn permits(&self, len: usize) -> u32 {
        // `max` fits in u32 (see `new`).
        len.min(self.max) as u32
    }

    /// Waits until `len` bytes fit; they stay taken until [`InboundBytes::release`].
    async fn take(&self, len: usize) {
        if let Ok(p) = self.permits.acquire_many(self.permits(len)).await {
            p.forget();
        }
    }

    /// Gives back the bytes of a message of `len` payload bytes that has been routed.
    pub fn release(&self, len: usize) {
        self.permits.add_permits(self.permits(len) as usize);
    }

    /// Bytes free right now.
    pub fn available(&self) -> usize {
        self.permits.available_permits()
    }
}

/// Supplies everything that must stay retained on the broker.
pub trait RetainedSource: Send + Sync + 'static {
    /// `(topic, payload)` of every screen's current manifest and alert envelopes, exactly as
    /// stored. Called (on a blocking thread) after every connect.
    fn retained(&self) -> Vec<(String, Vec<u8>)>;
}

/// Settings of the controller's MQTT client.
#[derive(Clone)]
pub struct ClientConfig {
    /// Broker host name or IP.
    pub host: String,
    /// Broker port.
    pub port: u16,
    /// MQTT username (default [`super::CONTROLLER_USER`]).
    pub username: String,
    /// MQTT password (never logged).
    pub password: String,
    /// MQTT client id of the persistent session (default [`super::CONTROLLER_CLIENT_ID`]).
    pub client_id: String,
    /// MQTT keep-alive interval (default 30 s).
    pub keep_alive: Duration,
    /// Largest packet sent or received, in bytes (default [`super::MAX_PACKET_SIZE`]).
    pub max_packet_size: usize,
    /// Largest status payload forwarded to the [`Inbound`] channel (default
    /// [`crate::status::MAX_STATUS_BYTES`]); a larger one is forwarded as
    /// [`Inbound::StatusTooLarge`]. Receipts batches are bounded by `max_packet_size` only.
    pub max_inbound_payload: usize,
    /// Capacity of the [`Inbound`] channel in messages (default 1024).
    pub inbound_capacity: usize,
    /// Bound in bytes on the payloads waiting in the [`Inbound`] channel (default none); the
    /// receiver must [`InboundBytes::release`] each message's bytes once routed.
    pub inbound_bytes: Option<InboundBytes>,
    /// How long the poll task waits for room in a full [`Inbound`] channel before dropping
    /// the message (default 5 s).
    pub inbound_wait: Duration,
    /// First reconnect delay (default 250 ms); doubles per failed attempt.
    pub backoff_initial: Duration,
    /// Longest reconnect delay (default 30 s).
    pub backoff_max: Duration,
    /// How long [`MqttHandle::publish`] waits for the request to be queued in the MQTT
    /// client before it fails with [`MqttError::Timeout`] (default 30 s).
    pub publish_timeout: Duration,
    /// Speak MQTT over TLS with this configuration (default none: plain TCP). The host
    /// name checked is [`ClientConfig::host`].
    pub tls: Option<Arc<gatecast_tls::rustls::ClientConfig>>,
    /// QoS 1 publishes written to the broker and not yet acknowledged by it (default
    /// [`MAX_INFLIGHT`]); beyond it [`MqttHandle::publish`] waits for acknowledgements.
    pub max_inflight: u16,
}

/// Default [`ClientConfig::max_inflight`]: room for one manifest to each of 10,000 screens, so
/// a publish to every screen is written to the broker without waiting for it to route the
/// first ones (with a window of 100 the publish call waited for the broker's fan-out,
/// `docs/BENCHMARKS.md`). rumqttc keeps one slot per window entry (about 1 MiB here).
pub const MAX_INFLIGHT: u16 = 10_240;

impl ClientConfig {
    /// Defaults for the controller's own account at `host:port` with `password`.
    pub fn new(host: impl Into<String>, port: u16, password: impl Into<String>) -> Self {
        ClientConfig {
            host: host.into(),
            port,
            username: CONTROLLER_USER.to_string(),
            password: password.into(),
            client_id: CONTROLLER_CLIENT_ID.to_string(),
            keep_alive: Duration::from_secs(30),
            max_packet_size: MAX_PACKET_SIZE,
            max_inbound_payload: crate::status::MAX_STATUS_BYTES,
            inbound_capacity: 1024,
            inbound_bytes: None,
            inbound_wait: Duration::from_secs(5),
            backoff_initial: Duration::from_millis(250),
            backoff_max: Duration::from_secs(30),
            publish_timeout: Duration::from_secs(30),
            tls: None,
            max_inflight: MAX_INFLIGHT,
        }
    }
}

impl std::fmt::Debug for ClientConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("client_id", &self.client_id)
            .field("keep_alive", &self.keep_alive)
            .field("max_packet_size", &self.max_packet_size)
            .field("max_inbound_payload", &self.max_inbound_payload)
            .field("inbound_capacity", &self.inbound_capacity)
            .field("inbound_bytes", &self.inbound_bytes)
            .field("backoff_initial", &self.backoff_initial)
            .field("backoff_max", &self.backoff_max)
            .field("max_inflight", &self.max_inflight)
            .finish_non_exhaustive()
    }
}

/// Errors of the MQTT client.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The client tasks have stopped (shut down or the runtime is ending).
    #[error("the MQTT client has stopped; restart the controller")]
    Closed,
    /// The request could not be queued in time, usually because the broker has been
    /// unreachable for a while and the queue is full.
    #[error("MQTT publish to {topic} not queued within {waited:?}: the broker is unreachable or slow (retained content is republished on reconnect)")]
    Timeout {
        /// The topic of the publish.
        topic: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The payload exceeds the configured packet limit.
    #[error("MQTT payload for {topic} is {size} bytes, above the limit of {limit} bytes")]
    TooLarge {
        /// The topic of the publish.
        topic: String,
        /// Payload size in bytes.
        size: usize,
        /// The limit in bytes.
        limit: usize,
    },
    /// rumqttc refused the request.
    #[error("MQTT client refused the request for {topic}: {message}")]
    Client {
        /// The topic of the request.
        topic: String,
        /// rumqttc's error text.
        message: String,
    },
    /// A broker URL could not be understood.
    #[error("broker URL {url:?} is not valid: {why}")]
    BadBrokerUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        why: String,
    },
}

/// A snapshot of the client's counters.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct MqttMetrics {
    /// Whether the client is connected to the broker right now.
    pub connected: bool,
    /// Successful connects after the first one (i.e. recoveries from a lost connection).
    pub reconnects: u64,
    /// Failed connection attempts and lost connections.
    pub connection_errors: u64,
    /// Inbound messages dropped: oversized, not a gatecast status/receipts topic, or the
    /// inbound channel stayed full.
    pub dropped_inbound: u64,
    /// Times the full retained set was republished (once per connect).
    pub republishes: u64,
}

#[derive(Default)]
struct Counters {
    connected: AtomicBool,
    reconnects: AtomicU64,
    connection_errors: AtomicU64,
    dropped_inbound: AtomicU64,
    republishes: AtomicU64,
}

struct PublishRequest {
    topic: String,
    payload: Vec<u8>,
    retain: bool,
    done: oneshot::Sender<Result<(), MqttError>>,
}

enum Request {
    Publish(PublishRequest),
    Shutdown(oneshot::Sender<()>),
}

/// A cheap, cloneable handle to the controller's MQTT client.
#[derive(Clone)]
pub struct MqttHandle {
    requests: mpsc::Sender<Request>,
    counters: Arc<Counters>,
    publish_timeout: Duration,
    max_payload: usize,
}

impl std::fmt::Debug for MqttHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttHandle")
            .field("metrics", &self.metrics())
            .finish_non_exhaustive()
    }
}

impl MqttHandle {
    /// Publishes `payload` on `topic` at QoS 1, retained if `retain`.
    ///
    /// `Ok` means the message was handed to the MQTT client in order with every other
    /// publish; the client sends it as soon as it is connected and retransmits it until the
    /// broker acknowledges it within the session. It is not a delivery confirmation: retained
    /// content must already be in the store (the [`RetainedSource`]) when this is called, so
    /// that it is republished after a reconnect even if this copy is lost with a broker
    /// restart.
    pub async fn publish(
        &self,
        topic: String,
        payload: Vec<u8>,
        retain: bool,
    ) -> Result<(), MqttError> {
        self.publish_all(vec![(topic, payload)], retain)
            .await
            .pop()
            .unwrap_or(Err(MqttError::Closed))
    }

    /// [`MqttHandle::publish`] of every `(topic, payload)`, in order, handing each to the
    /// client task without waiting for the previous one's answer (a publish to thousands of
    /// screens would otherwise wait for thousands of task switches one after the other). One
    /// result per message; handing it over and its answer are each bounded by the client's
    /// publish timeout.
    pub async fn publish_all(
        &self,
        messages: Vec<(String, Vec<u8>)>,
        retain: bool,
    ) -> Vec<Result<(), MqttError>> {
        let waited = self.publish_timeout;
        let mut pending = Vec::with_capacity(messages.len());
        for (topic, payload) in messages {
            if payload.len() > self.max_payload {
                pending.push(Err(MqttError::TooLarge {
                    size: payload.len(),
                    limit: self.max_payload,
                    topic,
                }));
                continue;
            }
            let (done, result) = oneshot::channel();
            let request = Request::Publish(PublishRequest {
                topic: topic.clone(),
                payload,
                retain,
                done,
            });
            let handed = match tokio::time::timeout(waited, self.requests.send(request)).await {
                Ok(Ok(())) => Ok((topic, result)),
                Ok(Err(_)) => Err(MqttError::Closed),
                Err(_) => Err(MqttError::Timeout { topic, waited }),
            };
            pending.push(handed);
        }
        let mut out = Vec::with_capacity(pending.len());
        for p in pending {
            out.push(match p {
                Err(e) => Err(e),
                Ok((topic, result)) => match tokio::time::timeout(waited, result).await {
                    Ok(Ok(r)) => r,
                    Ok(Err(_)) => Err(MqttError::Closed),
                    Err(_) => Err(MqttError::Timeout { topic, waited }),
                },
            });
        }
        out
    }

    /// Current counters.
    pub fn metrics(&self) -> MqttMetrics {
        let c = &self.counters;
        MqttMetrics {
            connected: c.connected.load(Ordering::Relaxed),
            reconnects: c.reconnects.load(Ordering::Relaxed),
            connection_errors: c.connection_errors.load(Ordering::Relaxed),
            dropped_inbound: c.dropped_inbound.load(Ordering::Relaxed),
            republishes: c.republishes.load(Ordering::Relaxed),
        }
    }

    /// Sends queued publishes (waiting at most 2 s), disconnects cleanly and stops both tasks.
    /// Later [`MqttHandle::publish`] calls fail with [`MqttError::Closed`]. Idempotent.
    pub async fn shutdown(&self) {
        let (tx, rx) = oneshot::channel();
        if self.requests.send(Request::Shutdown(tx)).await.is_ok() {
            let _ = rx.await;
        }
    }
}

/// Starts the client tasks on the current tokio runtime. Must be called within a runtime.
///
/// Returns the handle and the receiver of messages from screens. The tasks run until
/// [`MqttHandle::shutdown`] or until every handle is dropped.
pub fn start(
    cfg: ClientConfig,
    retained: Arc<dyn RetainedSource>,
) -> (MqttHandle, mpsc::Receiver<Inbound>) {
    let mut options = MqttOptions::new(cfg.client_id.clone(), cfg.host.clone(), cfg.port);
    options
        .set_clean_session(false)
        .set_keep_alive(cfg.keep_alive)
        .set_credentials(cfg.username.clone(), cfg.password.clone())
        .set_max_packet_size(cfg.max_packet_size, cfg.max_packet_size)
        .set_inflight(cfg.max_inflight.max(1));
    if let Some(tls) = &cfg.tls {
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(tls.clone()),
        ));
    }
    let (client, mut eventloop) = AsyncClient::new(options, 256);
    // Acks and manifests go out as soon as they are written: without TCP_NODELAY a small
    // publish right after another waits for the broker's delayed ACK (tens of ms).
    let mut net = eventloop.network_options();
    net.set_tcp_nodelay(true);
    eventloop.set_network_options(net);

    let counters = Arc::new(Counters::default());
    let (inbound_tx, inbound_rx) = mpsc::channel(cfg.inbound_capacity.max(1));
    let (requests_tx, requests_rx) = mpsc::channel(256);
    let (connected_tx, connected_rx) = watch::channel(0u64);
    let (stop_tx, stop_rx) = watch::channel(false);
    let (disconnect_tx, disconnect_rx) = watch::channel(false);

    let poller = Poller {
        eventloop,
        counters: counters.clone(),
        inbound: inbound_tx,
        connected: connected_tx,
        disconnect_sent: disconnect_tx,
        stop: stop_rx,
        backoff: Backoff::new(cfg.backoff_initial, cfg.backoff_max),
        max_inbound_payload: cfg.max_inbound_payload,
        inbound_bytes: cfg.inbound_bytes.clone(),
        inbound_wait: cfg.inbound_wait,
    };
    let poll_task = tokio::spawn(poller.run());
    let session = Session {
        client,
        retained,
        counters: counters.clone(),
        requests: requests_rx,
        connected: connected_rx,
        disconnect_sent: disconnect_rx,
        stop: stop_tx,
        poll_task: Some(poll_task),
    };
    tokio::spawn(session.run());

    let handle = MqttHandle {
        requests: requests_tx,
        counters,
        publish_timeout: cfg.publish_timeout,
        max_payload: cfg
            .max_packet_size
            .saturating_sub(playlists::envelope::MQTT_OVERHEAD_BYTES)
            .max(1),
    };
    (handle, inbound_rx)
}

struct Poller {
    eventloop: EventLoop,
    counters: Arc<Counters>,
    inbound: mpsc::Sender<Inbound>,
    connected: watch::Sender<u64>,
    disconnect_sent: watch::Sender<bool>,
    stop: watch::Receiver<bool>,
    backoff: Backoff,
    max_inbound_payload: usize,
    inbound_bytes: Option<InboundBytes>,
    inbound_wait: Duration,
}

impl Poller {
    async fn run(mut self) {
        let mut connects: u64 = 0;
        // The last connection error logged as a warning: the same one again is logged at
        // debug level, so a broker that stays unreachable does not flood the log.
        let mut last_error: Option<String> = None;
        loop {
            let event = tokio::select! {
                biased;
                _ = self.stop.wait_for(|s| *s) => break,
                event = self.eventloop.poll() => event,
            };
            match event {
                Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                    connects += 1;
                    if connects > 1 {
                        self.counters.reconnects.fetch_add(1, Ordering::Relaxed);
                    }
                    self.counters.connected.store(true, Ordering::Relaxed);
                    self.backoff.reset();
                    last_error = None;
                    info!(
                        session_present = ack.session_present,
                        "MQTT client connected to the broker"
                    );
                    self.connected.send_replace(connects);
                }
                Ok(Event::Incoming(Packet::Publish(publish))) => {
                    self.forward(&publish.topic, publish.payload.to_vec()).await;
                }
                Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                    debug!("MQTT client sent DISCONNECT");
                    self.disconnect_sent.send_replace(true);
                }
                Ok(_) => {}
                Err(e) => {
                    self.counters.connected.store(false, Ordering::Relaxed);
                    self.counters
                        .connection_errors
                        .fetch_add(1, Ordering::Relaxed);
                    let delay = self.backoff.next_delay();
                    // Names a TLS problem (wrong CA, host name, expiry, TLS vs plain port).
                    let why = gatecast_tls::explain(&e);
                    if last_error.as_deref() == Some(why.as_str()) {
                        debug!(error = %why, retry_in = ?delay, "MQTT connection to the broker failed again");
                    } else {
                        warn!(error = %why, retry_in = ?delay, "MQTT connection to the broker failed or was lost");
                        last_error = Some(why);
                    }
                    tokio::select! {
                        biased;
                        _ = self.stop.wait_for(|s| *s) => break,
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
        self.counters.connected.store(false, Ordering::Relaxed);
        debug!("MQTT poll task stopped");
    }

    async fn forward(&mut self, topic: &str, payload: Vec<u8>) {
        let message = match topics::parse(topic) {
            Some((screen, Kind::Status)) => Inbound::Status {
                screen: screen.to_string(),
                payload,
            },
            Some((screen, Kind::Receipts)) => Inbound::Receipts {
                screen: screen.to_string(),
                payload,
            },
            _ => {
                self.drop_inbound(topic, "not a gatecast status or receipts topic");
                return;
            }
        };
        // A receipts batch is passed on whatever its size (the packet limit bounds it): one
        // over the envelope limit is answered with a named rejection. A status over the limit
        // is passed on by its size alone, to be refused and counted as `too_large`.
        let message = match message {
            Inbound::Status { screen, payload } if payload.len() > self.max_inbound_payload => {
                Inbound::StatusTooLarge {
                    screen,
                    bytes: payload.len(),
                }
            }
            m => m,
        };
        let len = message.payload_len();
        let deadline = tokio::time::Instant::now() + self.inbound_wait;
        if let Some(bytes) = &self.inbound_bytes {
            if tokio::time::timeout_at(deadline, bytes.take(len))
                .await
                .is_err()
            {
                self.drop_inbound(topic, "the inbound queue stayed full (bytes)");
                return;
            }
        }
        let sent = match self.inbound.try_send(message) {
            Ok(()) => Ok(()),
            Err(mpsc::error::TrySendError::Full(message)) => {
                match tokio::time::timeout_at(deadline, self.inbound.send(message)).await {
                    Ok(Ok(())) => Ok(()),
                    Ok(Err(_)) => Err("nobody reads inbound messages"),
                    Err(_) => Err("the inbound queue stayed full"),
                }
            }
            Err(mpsc::error::TrySendError::Closed(_)) => Err("nobody reads inbound messages"),
        };
        if let Err(why) = sent {
            if let Some(bytes) = &self.inbound_bytes {
                bytes.release(len);
            }
            self.drop_inbound(topic, why);
        }
    }

    fn drop_inbound(&self, topic: &str, why: &str) {
        self.counters
            .dropped_inbound
            .fetch_add(1, Ordering::Relaxed);
        // Only the first 200 characters of a topic: it is outside input.
        let shown: String = topic.chars().take(200).collect();
        warn!(topic = %shown, "MQTT message dropped: {why}");
    }
}

struct Session {
    client: AsyncClient,
    retained: Arc<dyn RetainedSource>,
    counters: Arc<Counters>,
    requests: mpsc::Receiver<Request>,
    connected: watch::Receiver<u64>,
    disconnect_sent: watch::Receiver<bool>,
    stop: watch::Sender<bool>,
    poll_task: Option<tokio::task::JoinHandle<()>>,
}

impl Session {
    async fn run(mut self) {
        let mut done_on_stop = None;
        loop {
            tokio::select! {
                biased;
                changed = self.connected.changed() => {
                    if changed.is_err() {
                        break;
                    }
                    self.connected.borrow_and_update();
                    self.on_connect().await;
                }
                request = self.requests.recv() => match request {
                    Some(Request::Publish(p)) => {
                        let result = self
                            .client
                            .publish(p.topic.clone(), QoS::AtLeastOnce, p.retain, p.payload)
                            .await
                            .map_err(|e| MqttError::Client { topic: p.topic, message: e.to_string() });
                        let _ = p.done.send(result);
                    }
                    Some(Request::Shutdown(done)) => {
                        done_on_stop = Some(done);
                        break;
                    }
                    None => break,
                },
            }
        }
        self.finish().await;
        if let Some(done) = done_on_stop {
            let _ = done.send(());
        }
        // Anyone still waiting gets `Closed` when `requests` is dropped here.
    }

    async fn on_connect(&mut self) {
        for kind in [Kind::Status, Kind::Receipts] {
            let filter = topics::all_screens(kind);
            if let Err(e) = self
                .client
                .subscribe(filter.clone(), QoS::AtLeastOnce)
                .await
            {
                warn!(error = %e, %filter, "MQTT subscribe could not be queued");
            }
        }
        let source = self.retained.clone();
        let retained = match tokio::task::spawn_blocking(move || source.retained()).await {
            Ok(r) => r,
            Err(e) => {
                warn!(error = %e, "reading retained content for the republish failed");
                return;
            }
        };
        let count = retained.len();
        for (topic, payload) in retained {
            if let Err(e) = self
                .client
                .publish(topic.clone(), QoS::AtLeastOnce, true, payload)
                .await
            {
                warn!(error = %e, %topic, "MQTT republish could not be queued");
            }
        }
        self.counters.republishes.fetch_add(1, Ordering::Relaxed);
        info!(count, "MQTT: subscribed and republished retained content");
    }

    async fn finish(&mut self) {
        // Queue a DISCONNECT behind every request already queued; if connected, give the poll
        // task up to 2 s to send them all, then stop it.
        if self.counters.connected.load(Ordering::Relaxed) {
            let sent = tokio::time::timeout(Duration::from_secs(2), async {
                self.client.disconnect().await.ok()?;
                self.disconnect_sent.wait_for(|sent| *sent).await.ok()?;
                Some(())
            })
            .await;
            if !matches!(sent, Ok(Some(()))) {
                debug!("MQTT DISCONNECT not sent within 2 s; stopping anyway");
            }
        }
        let _ = self.stop.send(true);
        if let Some(task) = self.poll_task.take() {
            let _ = task.await;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mqtt_backoff_grows_with_jitter_and_is_capped() {
        let mut b = Backoff::new(Duration::from_millis(100), Duration::from_secs(30));
        let mut bases = Vec::new();
        for n in 0..20u32 {
            let base = Duration::from_millis(100)
                .saturating_mul(1 << n.min(20))
                .min(Duration::from_secs(30));
            let d = b.next_delay();
            assert!(
                d >= base / 2 && d <= base,
                "attempt {n}: {d:?} not in [{:?}, {base:?}]",
                base / 2
            );
            bases.push(base);
        }
        assert_eq!(*bases.last().unwrap(), Duration::from_secs(30));
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
