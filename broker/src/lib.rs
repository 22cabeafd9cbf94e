//! gatecast's embedded MQTT 3.1.1 broker, run on its own OS thread.
//!
//! # What it is
//! The broker the controller runs in-process when no external broker is configured
//! (`docs/operations.md`, "External broker: mosquitto"; wire rules in `docs/protocol.md` §6). [`EmbeddedBroker::start`]
//! binds the listener itself (so port 0 yields the real port in
//! [`EmbeddedBroker::local_addr`], without a free-port race) and serves it from a dedicated
//! thread with its own 2-worker tokio runtime, so the caller's runtime is never starved.
//! [`EmbeddedBroker::shutdown`] (or dropping the value) stops accepting, closes every client
//! connection and joins the thread.
//!
//! # What it does not do
//! - It keeps nothing on disk: sessions and retained messages live in memory only and are lost
//!   when the broker stops (the controller republishes its retained content after every
//!   connect, `docs/protocol.md` §6).
//! - It stores no accounts: every login is decided by the caller's [`CredentialCheck`].
//! - No MQTT 5, no QoS 2 delivery (see below), no bridging.
//! - It is not trusted: every decision of gatecast rests on signatures (`docs/security.md`);
//!   the topic ACL is defence in depth.
//!
//! # TLS (MQTTS)
//! With [`BrokerConfig::tls`] the broker also listens with TLS (TLS 1.3 and 1.2, the
//! caller's [`tokio_rustls::TlsAcceptor`], so a certificate reloaded by the caller serves the
//! next handshake); the handshake and the CONNECT together must arrive within
//! [`BrokerConfig::connect_timeout`], and the connection cap counts both listeners. The
//! plain listener can be turned off ([`BrokerConfig::plain`]). After the handshake the
//! session code is the same for both.
//!
//! # The caller supplies
//! - [`CredentialCheck`]: decides each CONNECT's username and password (the controller's store
//!   implements it; tests use a table or allow everyone).
//! - The topic rules are not configurable: they are [`playlists::topics`]' rules
//!   ([`playlists::topics::screen_may_publish`] / [`playlists::topics::screen_may_subscribe`]),
//!   the same ones the controller renders for mosquitto. The superuser that those rules do not
//!   confine is the controller's account [`playlists::topics::CONTROLLER_USER`], a protocol
//!   constant, as is its reserved client id [`playlists::topics::CONTROLLER_CLIENT_ID`].
//! - [`throttle`]: the per-username login throttle, public because the controller's HTTP API
//!   uses the same [`throttle::FailureThrottle`] per source address.
//!
//! # Wire and codec
//! Packets are framed and encoded by rumqttc's own MQTT 3.1.1 codec
//! (`rumqttc::mqttbytes::v4`). A malformed packet, a packet above
//! [`BrokerConfig::max_packet_size`] or a protocol violation closes that connection only (one
//! `warn` line, never with a password in it); the broker keeps running.
//!
//! # Connections (`conn.rs`)
//! - CONNECT must arrive within [`BrokerConfig::connect_timeout`]; at most
//!   [`BrokerConfig::max_connections`] connections are served at once (more are closed at
//!   once). Keepalive: a connection silent for 1.5 × its keepalive is closed.
//! - Every CONNECT's username and password go to the caller's [`CredentialCheck`], run in
//!   `spawn_blocking` (PBKDF2 takes milliseconds and must not block I/O). The client id
//!   [`CONTROLLER_CLIENT_ID`] is reserved for [`CONTROLLER_USER`], so a screen cannot take over
//!   (and thereby disconnect) the controller's session.
//! - The client id is bound to the username (unless [`BrokerConfig::topic_acl`] is off): a
//!   screen's client id must be its username, its screen id (CONNACK 2 otherwise), so a screen
//!   can neither squat on another screen's session while it is offline nor open sessions under
//!   other ids. [`CONTROLLER_USER`] may use any client id.
//! - A refused CONNECT is answered after [`FAILURE_DELAY`] with CONNACK return code 4 (bad
//!   username or password; also while the username is locked out, so a guesser cannot tell)
//!   or 5 (not authorized: no credentials, or the reserved client id), then closed.
//! - Password guessing is slowed down: a username that failed more than
//!   [`ThrottleConfig::MQTT`]`.free_failures` times in a row is locked out for a
//!   doubling time (1 s … 60 s): during the lock even the right password is refused, so
//!   parallel connections do not help an attacker. The controller's own user is never locked
//!   (an attacker must not be able to cut the controller off its broker); it only gets the
//!   delay. The generated passwords are 192-bit random, so this matters for hand-set ones.
//! - Per source address, more than [`ThrottleConfig::MQTT_ADDRESS`]`.free_failures` failed
//!   screen logins lock the address (1 s … 30 s): while locked its logins are refused without
//!   asking the [`CredentialCheck`], so a flood from one address costs no PBKDF2. Failures of
//!   [`CONTROLLER_USER`] are not counted: the caller must make that check cheap (the
//!   controller compares a SHA-256 of its random password).
//! - Each connection has a reader (the connection task) and a writer task. Acknowledgements go
//!   to the writer over a small channel; messages go through the session queue.
//!
//! # Routing ([`router`]) and sessions ([`session`])
//! - Exact filters are indexed by topic in a hash map, wildcard filters (`+`, `#`) are kept in
//!   a list matched per MQTT rules (a leading wildcard does not match a `$` topic): a publish
//!   costs one lookup plus the wildcard filters, never all filters. The index and the retained
//!   store sit behind one mutex held only for short, non-blocking sections.
//! - QoS 0 and 1 are delivered (QoS 2 publishes are accepted and handled as QoS 1; SUBACK
//!   grants at most 1); a delivery has QoS min(publish, granted) and retain = false.
//!   Incoming QoS 1 is acknowledged after routing.
//! - Retained: the last retained message per topic (an empty retained payload deletes it),
//!   delivered with retain set on SUBSCRIBE to a matching filter.
//! - Every session has one bounded outgoing queue (the router appends without waiting, the
//!   connection's writer drains it): at most [`BrokerConfig::max_inflight`] QoS 1 messages
//!   unacknowledged per connection, the rest queued; QoS 0 is dropped when the queue is long
//!   or the client away; QoS 1 is kept up to [`session::MAX_QUEUED`] messages and
//!   [`session::MAX_QUEUED_BYTES`] bytes (then the oldest is dropped, with a warning). A slow
//!   consumer never blocks the router or other clients.
//! - `clean_session = false` keeps subscriptions and queued + unacknowledged QoS 1 messages
//!   while the client is away; on reconnect CONNACK has session present and unacknowledged
//!   messages are sent again with DUP. `clean_session = true` discards. The same client id
//!   connecting again takes over: the old connection is closed. While a connection is live,
//!   only its own username may take its client id over; anyone else gets CONNACK code 2
//!   (identifier rejected), so a screen cannot knock another one off the broker.
//! - A username keeps at most [`MAX_PERSISTENT_SESSIONS_PER_USER`] persistent sessions (the
//!   oldest offline one is dropped for a new one); a session offline for longer than
//!   [`BrokerConfig::session_expiry`] is dropped.
//! - [`BrokerHandle::evict_user`] closes a user's live connections and drops its sessions at
//!   once (the controller calls it when a screen is disabled).
//! - The last will is published (with its retain flag) when a connection ends without
//!   DISCONNECT (including keepalive timeout and takeover).
//! - Topic ACL (`acl.rs`, unless [`BrokerConfig::topic_acl`] is off): a screen may publish
//!   only its own `receipts` and `status` and subscribe only to its own `manifest`, `alert`,
//!   `ack` and `rotation` (the rules of [`playlists::topics`]); [`CONTROLLER_USER`] may do
//!   anything. A refused publish is dropped (QoS 1 still acknowledged, as MQTT 3.1.1
//!   requires) and logged; a refused filter gets SUBACK failure.
//! - Logs go through `tracing` under the target `gatecast_broker`.
#![forbid(unsafe_code)]
#![deny(missing_docs)]

mod acl;
mod conn;
pub mod router;
pub mod session;
pub mod throttle;
mod tls;

pub use tls::BrokerTls;

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::Duration;

use rumqttc::mqttbytes::v4::{ConnectReturnCode, Publish};
use rumqttc::mqttbytes::QoS;
use tokio::sync::Notify;
use tracing::{info, warn};

use playlists::topics::{CONTROLLER_CLIENT_ID, CONTROLLER_USER};
use router::{Router, Sub};
use session::Session;
use throttle::{FailureThrottle, ThrottleConfig};

/// Largest MQTT payload gatecast's controller sends or accepts: 8 MiB, the one limit of
/// [`playlists::envelope::MAX_MQTT_PAYLOAD_BYTES`] (twice the envelope limit, so an oversized
/// envelope is refused by name by its receiver rather than cutting the connection).
pub const MAX_PAYLOAD_SIZE: usize = playlists::envelope::MAX_MQTT_PAYLOAD_BYTES;

/// Largest MQTT packet on the wire: [`MAX_PAYLOAD_SIZE`] plus room for the fixed header, the
/// topic and the packet id ([`playlists::envelope::MAX_MQTT_PACKET_BYTES`], `docs/protocol.md`
/// §6, "Sizes"). The broker's default limit; the controller's client and the player use it as
/// rumqttc's limit both ways.
pub const MAX_PACKET_SIZE: usize = playlists::envelope::MAX_MQTT_PACKET_BYTES;

/// How long a refused CONNECT waits before it is answered and closed.
pub const FAILURE_DELAY: Duration = Duration::from_millis(250);

/// Most persistent (`clean_session = false`) sessions one username keeps. A screen may only
/// use its own screen id as client id, so it has one; the controller uses one. Eight leaves
/// room for the controller's tools (a second controller process during a restart, an
/// operator's debugging client) while 20,000 client ids of one account cannot each keep a
/// queue (`docs/security.md` §3). Beyond it the oldest offline session of that username is
/// dropped; when all are connected the new one is refused (CONNACK 3).
pub const MAX_PERSISTENT_SESSIONS_PER_USER: usize = 8;

/// Default [`BrokerConfig::session_expiry`]: 7 days. A border-gate link can be down over a
/// long weekend; a session that has been away longer is dropped (nothing is lost: the player
/// subscribes again when the session is not present, the controller republishes retained
/// content, and unacknowledged receipts are resent).
pub const SESSION_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// Decides whether a CONNECT's username and password are acceptable.
///
/// The controller's store implements it: screens by their hashed MQTT password (disabled
/// screens refused) and the controller's own user [`CONTROLLER_USER`] by its generated
/// password. It is called on the broker thread for every connection attempt, so it must be
/// quick (a sled lookup and one PBKDF2 verification are fine) and must not block on async work.
pub trait CredentialCheck: Send + Sync + 'static {
    /// `true` to let the client in.
    fn check(&self, username: &str, password: &str) -> bool;
}

/// Settings of the embedded broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address of the plain (TCP) listener; port 0 picks a free port (see
    /// [`EmbeddedBroker::plain_addr`]). Not bound when [`BrokerConfig::plain`] is off.
    pub listen: SocketAddr,
    /// Open the plain listener (default `true`). Off, only [`BrokerConfig::tls`] listens.
    pub plain: bool,
    /// A TLS listener besides (or instead of) the plain one (default none).
    pub tls: Option<BrokerTls>,
    /// Largest MQTT packet accepted from a client, in bytes (default [`MAX_PACKET_SIZE`]).
    pub max_packet_size: usize,
    /// Most simultaneous client connections (default 10 000).
    pub max_connections: usize,
    /// How long a new TCP connection may take to send its CONNECT (default 5 s).
    pub connect_timeout: Duration,
    /// Most unacknowledged QoS 1 messages in flight per connection (default 100).
    pub max_inflight: usize,
    /// Lockout of usernames after failed logins (default [`ThrottleConfig::MQTT`]).
    pub throttle: ThrottleConfig,
    /// Enforce the per-screen topic ACL and the client id binding (default `true`; see the
    /// crate docs). Turn it off only for tests and benchmarks whose clients are not screens.
    pub topic_acl: bool,
    /// How long a persistent session is kept while its client is away (default
    /// [`SESSION_EXPIRY`]).
    pub session_expiry: Duration,
    /// Sustained PUBLISH payload bytes per second each user but
    /// [`CONTROLLER_USER`] may send, with bursts up to `max_packet_size` (default
    /// [`SCREEN_PUBLISH_BYTES_PER_SEC`]; 0: no limit). The allowance is kept per username
    /// across connections, so reconnecting does not refill it. Past it the broker stops reading
    /// that connection until the allowance has refilled, so TCP pushes back on the sender: one
    /// screen flooding its own topics cannot fill the controller's session queue (and so have
    /// other screens' messages dropped from it).
    pub screen_publish_bytes_per_sec: u64,
}

/// Default of [`BrokerConfig::screen_publish_bytes_per_sec`]: 2 MiB/s, far above what a player
/// sends (a status a second, one receipt batch in flight; `docs/protocol.md` §12-§13).
pub const SCREEN_PUBLISH_BYTES_PER_SEC: u64 = 2 * 1024 * 1024;

impl BrokerConfig {
    /// Defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        BrokerConfig {
            listen,
            plain: true,
            tls: None,
            max_packet_size: MAX_PACKET_SIZE,
            max_connections: 10_000,
            connect_timeout: Duration::from_secs(5),
            max_inflight: 100,
            throttle: ThrottleConfig::MQTT,
            topic_acl: true,
            session_expiry: SESSION_EXPIRY,
            screen_publish_bytes_per_sec: SCREEN_PUBLISH_BYTES_PER_SEC,
        }
    }
}

/// Why the embedded broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The listen address could not be bound.
    #[error("embedded MQTT broker cannot listen on {addr}: {source} (is another broker or process using this port? choose another --mqtt/--mqtts address)")]
    Bind {
        /// The address that failed.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// Neither a plain nor a TLS listener was asked for.
    #[error(
        "embedded MQTT broker has no listener: the plain one is off and no TLS one is configured"
    )]
    NoListener,
    /// The broker thread could not be created or died while starting.
    #[error("embedded MQTT broker thread failed to start: {0}")]
    Thread(String),
}

/// A running embedded broker. Dropping it shuts the broker down.
pub struct EmbeddedBroker {
    local_addr: SocketAddr,
    plain_addr: Option<SocketAddr>,
    tls_addr: Option<SocketAddr>,
    shared: Arc<Shared>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl std::fmt::Debug for EmbeddedBroker {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EmbeddedBroker")
            .field("local_addr", &self.local_addr)
            .finish_non_exhaustive()
    }
}

impl EmbeddedBroker {
    /// Binds the listener, starts the broker on its own thread and returns.
    ///
    /// Blocking (it waits for the broker thread's runtime, which takes milliseconds); call it
    /// from `spawn_blocking` or before the async runtime starts if that matters.
    pub fn start(
        cfg: BrokerConfig,
        credentials: Arc<dyn CredentialCheck>,
    ) -> Result<EmbeddedBroker, BrokerError> {
        let listeners = tls::Listeners::bind(&cfg)?;
        let (plain_addr, tls_addr) = (listeners.plain_addr(), listeners.tls_addr());
        let local_addr = plain_addr.or(tls_addr).ok_or(BrokerError::NoListener)?;

        let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), String>>(1);
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let shared = Arc::new(Shared::new(cfg, credentials));
        let kept = shared.clone();
        let thread = std::thread::Builder::new()
            .name(format!("mqtt-broker-{}", local_addr.port()))
            .spawn(move || {
                let runtime = match tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(2)
                    .thread_name("mqtt-broker-worker")
                    .enable_all()
                    .build()
                {
                    Ok(rt) => rt,
                    Err(e) => {
                        let _ = ready_tx.send(Err(e.to_string()));
                        return;
                    }
                };
                runtime.block_on(async move {
                    let serving = match listeners.into_tokio() {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    tokio::select! {
                        () = serving.accept(shared.clone()) => {}
                        () = expiry_loop(shared.clone()) => {}
                        _ = shutdown_rx => {}
                    }
                });
                // Dropping the runtime drops every connection task, closing its socket.
                runtime.shutdown_timeout(Duration::from_secs(2));
            })
            .map_err(|e| BrokerError::Thread(e.to_string()))?;

        match ready_rx.recv() {
            Ok(Ok(())) => {
                if let Some(a) = plain_addr {
                    info!(addr = %a, "embedded MQTT broker listening");
                }
                if let Some(a) = tls_addr {
                    info!(addr = %a, "embedded MQTT broker listening with TLS (mqtts)");
                }
                Ok(EmbeddedBroker {
                    local_addr,
                    plain_addr,
                    tls_addr,
                    shared: kept,
                    shutdown: Some(shutdown_tx),
                    thread: Some(thread),
                })
            }
            Ok(Err(msg)) => {
                let _ = thread.join();
                Err(BrokerError::Thread(msg))
            }
            Err(_) => {
                let _ = thread.join();
                Err(BrokerError::Thread(
                    "the broker thread ended before listening (see the log)".into(),
                ))
            }
        }
    }

    /// The address the broker listens on (with the real port when port 0 was asked for): the
    /// plain listener's, or the TLS listener's when the plain one is off.
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
    }

    /// The plain listener's address (`None` when it is off).
    pub fn plain_addr(&self) -> Option<SocketAddr> {
        self.plain_addr
    }

    /// The TLS listener's address (`None` without [`BrokerConfig::tls`]).
    pub fn tls_addr(&self) -> Option<SocketAddr> {
        self.tls_addr
    }

    /// A handle for the caller: evicting a user's sessions, counting sessions.
    pub fn handle(&self) -> BrokerHandle {
        BrokerHandle {
            shared: self.shared.clone(),
        }
    }

    /// Sessions kept now (connected or not).
    pub fn session_count(&self) -> usize {
        self.shared.sessions().len()
    }

    /// Stops accepting, closes every client connection and waits for the broker thread.
    /// Retained messages and sessions are lost (the controller republishes on reconnect).
    pub fn shutdown(mut self) {
        self.stop();
    }

    fn stop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(thread) = self.thread.take() {
            if thread.join().is_err() {
                warn!("embedded MQTT broker thread panicked while stopping");
            }
            info!(addr = %self.local_addr, "embedded MQTT broker stopped");
        }
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A cheap, cloneable handle on a running [`EmbeddedBroker`] (it stays valid, and does
/// nothing harmful, after the broker stopped).
#[derive(Clone)]
pub struct BrokerHandle {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for BrokerHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("BrokerHandle").finish_non_exhaustive()
    }
}

impl BrokerHandle {
    /// Closes every live connection of `username` at once and discards its sessions (queued
    /// messages and subscriptions): the controller calls it when a screen is disabled, after
    /// which [`CredentialCheck`] refuses the screen's logins. The last will of an evicted
    /// connection is published as for any abrupt end. Returns how many sessions were dropped.
    pub fn evict_user(&self, username: &str) -> usize {
        let n = self.shared.evict(username);
        if n > 0 {
            info!(username, sessions = n, "MQTT sessions evicted");
        }
        n
    }

    /// Sessions kept now (connected or not).
    pub fn session_count(&self) -> usize {
        self.shared.sessions().len()
    }
}

/// Drops the persistent sessions that have been offline longer than
/// [`BrokerConfig::session_expiry`], checking a few times per expiry (at most once a minute).
async fn expiry_loop(shared: Arc<Shared>) {
    let every =
        (shared.cfg.session_expiry / 4).clamp(Duration::from_millis(10), Duration::from_secs(60));
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let n = shared.expire(std::time::Instant::now());
        if n > 0 {
            info!(sessions = n, "expired offline MQTT sessions");
        }
    }
}

/// The subscription index and the retained store, behind one mutex.
#[derive(Default)]
struct Index {
    router: Router<Arc<Session>>,
    retained: HashMap<String, Publish>,
}

/// A session by client id, with the connection attached now (its id and its close signal).
struct Slot {
    session: Arc<Session>,
    conn: Option<(u64, Arc<Notify>)>,
    /// When its connection ended (`None` while connected).
    offline_since: Option<std::time::Instant>,
}

/// State shared by every connection task of one broker.
struct Shared {
    cfg: BrokerConfig,
    credentials: Arc<dyn CredentialCheck>,
    throttle: FailureThrottle,
    /// Failed logins per source address (see [`ThrottleConfig::MQTT_ADDRESS`]).
    addr_throttle: FailureThrottle,
    index: Mutex<Index>,
    sessions: Mutex<HashMap<String, Slot>>,
    next_id: AtomicU64,
    connections: AtomicUsize,
    /// Credential checks running at once (PBKDF2 is CPU-bound: more threads than cores only
    /// cost memory during a reconnect storm).
    checks: tokio::sync::Semaphore,
    /// TLS handshakes running at once (see [`PARALLEL_HANDSHAKES`]).
    handshakes: tokio::sync::Semaphore,
    /// PUBLISH allowances per username, kept across connections.
    allowances: conn::Allowances,
}

/// Most credential checks running at once.
const PARALLEL_CHECKS: usize = 4;

/// Most TLS handshakes running at once. In a reconnect storm thousands of handshakes that all
/// run at once share the CPU, so each takes thousands of times its cost, all of them pass the
/// clients' and our connect timeout, and every retry starts over (`docs/BENCHMARKS.md`). A
/// handshake waits for a slot in arrival order instead; a connection only takes one once its
/// ClientHello is there, so idle connections hold none.
const PARALLEL_HANDSHAKES: usize = 64;

/// `min` for QoS (only `PartialOrd`).
fn min_qos(a: QoS, b: QoS) -> QoS {
    if a < b {
        a
    } else {
        b
    }
}

impl Shared {
    fn new(cfg: BrokerConfig, credentials: Arc<dyn CredentialCheck>) -> Shared {
        Shared {
            throttle: FailureThrottle::new(cfg.throttle),
            addr_throttle: FailureThrottle::new(ThrottleConfig::MQTT_ADDRESS),
            cfg,
            credentials,
            index: Mutex::new(Index::default()),
            sessions: Mutex::new(HashMap::new()),
            next_id: AtomicU64::new(1),
            connections: AtomicUsize::new(0),
            checks: tokio::sync::Semaphore::new(PARALLEL_CHECKS),
            handshakes: tokio::sync::Semaphore::new(PARALLEL_HANDSHAKES),
            allowances: conn::Allowances::default(),
        }
    }

    fn next_id(&self) -> u64 {
        self.next_id
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }

    // Lock order (never the other way round): sessions → index → one session's queue.
    // A panic cannot leave these maps half-changed in a harmful way; keep going after one.
    fn index(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn sessions(&self) -> MutexGuard<'_, HashMap<String, Slot>> {
        self.sessions.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Routes a (valid-topic) publish: updates the retained store and queues a copy for every
    /// matching session. Held under the index lock, so a subscriber sees one order.
    fn publish(&self, p: &Publish) {
        let mut index = self.index();
        if p.retain {
            if p.payload.is_empty() {
                index.retained.remove(&p.topic);
            } else {
                // A copy: the received payload is a slice of the connection's read buffer and
                // would keep all of that buffer alive for as long as it is retained.
                let mut kept = Publish::from_bytes(
                    p.topic.clone(),
                    p.qos,
                    bytes::Bytes::copy_from_slice(&p.payload),
                );
                kept.retain = true;
                index.retained.insert(p.topic.clone(), kept);
            }
        }
        let qos = min_qos(p.qos, QoS::AtLeastOnce);
        for sub in index.router.route(&p.topic) {
            sub.handle.enqueue(Publish {
                dup: false,
                qos: min_qos(qos, sub.qos),
                retain: false,
                topic: p.topic.clone(),
                pkid: 0,
                payload: p.payload.clone(),
            });
        }
    }

    /// Adds `session`'s subscription to a valid `filter` and queues the matching retained
    /// messages. `false` if the session was discarded meanwhile.
    fn subscribe(&self, session: &Arc<Session>, filter: &str, qos: QoS) -> bool {
        let mut index = self.index();
        if session.is_removed() {
            return false;
        }
        index.router.subscribe(
            filter,
            Sub {
                id: session.id,
                qos,
                handle: session.clone(),
            },
        );
        let retained: Vec<&Publish> = if router::is_wildcard(filter) {
            index
                .retained
                .values()
                .filter(|p| router::matches(filter, &p.topic))
                .collect()
        } else {
            index.retained.get(filter).into_iter().collect()
        };
        for p in retained {
            session.enqueue(Publish {
                dup: false,
                qos: min_qos(min_qos(p.qos, QoS::AtLeastOnce), qos),
                retain: true,
                topic: p.topic.clone(),
                pkid: 0,
                payload: p.payload.clone(),
            });
        }
        true
    }

    fn unsubscribe(&self, session: &Session, filter: &str) {
        self.index().router.unsubscribe(filter, session.id);
    }

    /// Finds or creates the session of `client_id` for connection `conn` and closes the
    /// connection attached before (takeover). Returns the session and whether it was kept;
    /// `None` when another user is connected with this client id right now (a screen must not
    /// be able to knock another one off the broker by taking over its client id: CONNACK 2),
    /// or when a new persistent session would exceed [`MAX_PERSISTENT_SESSIONS_PER_USER`] and
    /// every one of that user's is connected (CONNACK 3).
    fn attach(
        &self,
        client_id: &str,
        username: &str,
        clean: bool,
        conn: u64,
        wake: Arc<Notify>,
        close: Arc<Notify>,
    ) -> Result<(Arc<Session>, bool), ConnectReturnCode> {
        let mut sessions = self.sessions();
        let mut present = false;
        if let Some(slot) = sessions.get_mut(client_id) {
            if slot.conn.is_some() && slot.session.username != username {
                return Err(ConnectReturnCode::BadClientId);
            }
            if let Some((_, old_close)) = slot.conn.take() {
                old_close.notify_one();
            }
            if clean || slot.session.clean || slot.session.username != username {
                let old = sessions.remove(client_id).map(|s| s.session);
                if let Some(old) = old {
                    self.discard(&old);
                }
            } else {
                present = true;
            }
        }
        if !clean && !present {
            self.make_room(&mut sessions, username)?;
        }
        let slot = sessions
            .entry(client_id.to_string())
            .or_insert_with(|| Slot {
                session: Arc::new(Session::new(
                    self.next_id(),
                    client_id.to_string(),
                    username.to_string(),
                    clean,
                )),
                conn: None,
                offline_since: None,
            });
        slot.conn = Some((conn, close));
        slot.offline_since = None;
        slot.session.attach(conn, wake);
        Ok((slot.session.clone(), present))
    }

    /// Before `username` gets a new persistent session: drops its oldest offline one when it
    /// has [`MAX_PERSISTENT_SESSIONS_PER_USER`] already; `Err` when all of them are connected.
    fn make_room(
        &self,
        sessions: &mut HashMap<String, Slot>,
        username: &str,
    ) -> Result<(), ConnectReturnCode> {
        let mut count = 0;
        let mut oldest: Option<(std::time::Instant, &str)> = None;
        for (id, slot) in sessions.iter() {
            if slot.session.username != username || slot.session.clean {
                continue;
            }
            count += 1;
            if let Some(since) = slot.offline_since {
                if oldest.is_none_or(|(t, _)| since < t) {
                    oldest = Some((since, id.as_str()));
                }
            }
        }
        if count < MAX_PERSISTENT_SESSIONS_PER_USER {
            return Ok(());
        }
        let Some((_, id)) = oldest else {
            warn!(
                username,
                max = MAX_PERSISTENT_SESSIONS_PER_USER,
                "MQTT connection refused: this username has the most persistent sessions, all connected"
            );
            return Err(ConnectReturnCode::ServiceUnavailable);
        };
        let id = id.to_string();
        if let Some(old) = sessions.remove(&id) {
            warn!(
                username,
                client_id = %id,
                max = MAX_PERSISTENT_SESSIONS_PER_USER,
                "too many persistent MQTT sessions for this username; dropped its oldest offline one"
            );
            self.discard(&old.session);
        }
        Ok(())
    }

    /// Drops every session of `username`, closing its live connection (see
    /// [`BrokerHandle::evict_user`]).
    fn evict(&self, username: &str) -> usize {
        let mut sessions = self.sessions();
        let ids: Vec<String> = sessions
            .iter()
            .filter(|(_, slot)| slot.session.username == username)
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            if let Some(mut slot) = sessions.remove(id) {
                if let Some((_, close)) = slot.conn.take() {
                    close.notify_one();
                }
                self.discard(&slot.session);
            }
        }
        ids.len()
    }

    /// Drops the sessions offline for longer than the expiry; how many.
    fn expire(&self, now: std::time::Instant) -> usize {
        let expiry = self.cfg.session_expiry;
        let mut sessions = self.sessions();
        let old: Vec<String> = sessions
            .iter()
            .filter(|(_, slot)| {
                slot.conn.is_none()
                    && slot
                        .offline_since
                        .is_some_and(|t| now.saturating_duration_since(t) >= expiry)
            })
            .map(|(id, _)| id.clone())
            .collect();
        for id in &old {
            if let Some(slot) = sessions.remove(id) {
                self.discard(&slot.session);
            }
        }
        old.len()
    }

    /// Connection `conn` ended: detaches it, and discards the session if it was clean.
    fn detach(&self, session: &Arc<Session>, conn: u64) {
        let mut sessions = self.sessions();
        let ours = matches!(
            sessions.get(&session.client_id),
            Some(slot) if Arc::ptr_eq(&slot.session, session)
                && slot.conn.as_ref().map(|(c, _)| *c) == Some(conn)
        );
        session.detach(conn);
        if !ours {
            return;
        }
        if session.clean {
            sessions.remove(&session.client_id);
            self.discard(session);
        } else if let Some(slot) = sessions.get_mut(&session.client_id) {
            slot.conn = None;
            slot.offline_since = Some(std::time::Instant::now());
        }
    }

    fn discard(&self, session: &Session) {
        session.mark_removed();
        self.index().router.remove_subscriber(session.id);
    }
}

impl Shared {
    /// Decides one CONNECT from `peer`: the client id binding, then the per-address and
    /// per-username lockouts around [`authorize`] (see the crate docs). `Err` carries the
    /// CONNACK return code of the refusal.
    fn login(
        &self,
        peer: IpAddr,
        client_id: &str,
        username: &str,
        password: &str,
    ) -> Result<(), ConnectReturnCode> {
        if self.cfg.topic_acl {
            client_id_allowed(client_id, username)?;
        }
        let exempt = username == CONTROLLER_USER;
        let addr = peer.to_string();
        if !exempt && self.addr_throttle.check(&addr).is_err() {
            // No credential check at all while the address is locked: a flood of guesses
            // from one address costs no PBKDF2. Unchecked attempts do not lengthen the lock
            // (nobody knows whether they were wrong).
            warn!(
                %peer,
                username,
                "MQTT connection refused: too many failed logins from this address; locked out"
            );
            return Err(ConnectReturnCode::BadUserNamePassword);
        }
        let (result, wrong_password) = throttled_authorize(
            &self.throttle,
            self.credentials.as_ref(),
            client_id,
            username,
            password,
        );
        if wrong_password && !exempt {
            if let Some(lock) = self.addr_throttle.failure(&addr) {
                warn!(
                    %peer,
                    lock_ms = lock.as_millis() as u64,
                    "too many failed MQTT logins from this address; locked out"
                );
            }
        }
        result
    }
}

/// The client id binding: a screen's client id is its username (its screen id), so one
/// screen can never take over, or squat on, another's session; the controller's account may
/// use any client id (the reserved [`CONTROLLER_CLIENT_ID`] is checked in [`authorize`]).
fn client_id_allowed(client_id: &str, username: &str) -> Result<(), ConnectReturnCode> {
    if username == CONTROLLER_USER || client_id == username || client_id == CONTROLLER_CLIENT_ID {
        return Ok(());
    }
    warn!(
        username,
        client_id, "MQTT connection refused: a screen's client id must be its username"
    );
    Err(ConnectReturnCode::BadClientId)
}

/// [`authorize`] behind the per-username lockout (see the crate docs). `Err` carries the
/// CONNACK return code of the refusal; the flag says whether the credentials were wrong (not
/// only refused because of the lock).
fn throttled_authorize(
    throttle: &FailureThrottle,
    check: &dyn CredentialCheck,
    client_id: &str,
    username: &str,
    password: &str,
) -> (Result<(), ConnectReturnCode>, bool) {
    let exempt = username == CONTROLLER_USER;
    let locked = !exempt && throttle.check(username).is_err();
    // The password is checked also while locked, so that wrong guesses keep counting (and
    // lengthen the lock); the answer is the same refusal either way.
    let result = authorize(check, client_id, username, password);
    let wrong = result == Err(ConnectReturnCode::BadUserNamePassword);
    if result.is_ok() && !locked {
        throttle.success(username);
        return (Ok(()), false);
    }
    if result.is_err() && !exempt {
        if let Some(lock) = throttle.failure(username) {
            warn!(
                username,
                lock_ms = lock.as_millis() as u64,
                "too many failed MQTT logins for this username; locked out"
            );
        }
    }
    if locked {
        warn!(
            username,
            "MQTT connection refused: too many failed logins for this username; locked out"
        );
    }
    let code = result
        .err()
        .unwrap_or(ConnectReturnCode::BadUserNamePassword);
    (Err(code), wrong)
}

/// The per-connection decision: reserved client id first, then the caller's check.
fn authorize(
    check: &dyn CredentialCheck,
    client_id: &str,
    username: &str,
    password: &str,
) -> Result<(), ConnectReturnCode> {
    if client_id == CONTROLLER_CLIENT_ID && username != CONTROLLER_USER {
        warn!(
            username,
            "MQTT connection refused: client id {CONTROLLER_CLIENT_ID} is reserved for the controller"
        );
        return Err(ConnectReturnCode::NotAuthorized);
    }
    if check.check(username, password) {
        Ok(())
    } else {
        warn!(
            username,
            client_id, "MQTT connection refused: bad credentials or disabled screen"
        );
        Err(ConnectReturnCode::BadUserNamePassword)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed;
    impl CredentialCheck for Fixed {
        fn check(&self, username: &str, password: &str) -> bool {
            matches!(
                (username, password),
                ("lc-a1", "pw-a1") | ("_controller", "pw-c")
            )
        }
    }

    #[test]
    fn mqtt_authorize_reserves_the_controller_client_id() {
        assert_eq!(authorize(&Fixed, "lc-a1", "lc-a1", "pw-a1"), Ok(()));
        assert_eq!(
            authorize(&Fixed, "lc-a1", "lc-a1", "wrong"),
            Err(ConnectReturnCode::BadUserNamePassword)
        );
        assert_eq!(
            authorize(&Fixed, CONTROLLER_CLIENT_ID, CONTROLLER_USER, "pw-c"),
            Ok(())
        );
        assert_eq!(
            authorize(&Fixed, CONTROLLER_CLIENT_ID, "lc-a1", "pw-a1"),
            Err(ConnectReturnCode::NotAuthorized)
        );
    }

    #[test]
    fn mqtt_broker_reports_a_taken_port() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = EmbeddedBroker::start(BrokerConfig::new(addr), Arc::new(Fixed)).unwrap_err();
        assert!(
            matches!(err, BrokerError::Bind { addr: a, .. } if a == addr),
            "{err}"
        );
    }
}
