//! The embedded MQTT broker (rumqttd 0.20), run on its own OS thread.
//!
//! [`EmbeddedBroker::start`] builds a rumqttd router and one MQTT 3.1.1 listener and returns as
//! soon as the listener is bound, with the real address in [`EmbeddedBroker::local_addr`].
//! [`EmbeddedBroker::shutdown`] (or dropping the value) stops accepting, closes every client
//! connection and joins the thread.
//!
//! # How rumqttd 0.20 is used, and why
//! - rumqttd's own `Broker::start` blocks forever and cannot be stopped, so this module drives
//!   the public building blocks instead: `Router::spawn` plus `Server::start` polled inside a
//!   current-thread tokio runtime on a dedicated thread, raced against a shutdown signal.
//!   Dropping that runtime closes every connection. rumqttd's router thread has no stop: after
//!   a shutdown it stays parked on its channel (no CPU) until the process exits. A process runs
//!   one broker, so this only matters for tests that restart it.
//! - rumqttd binds the listener itself and does not report the bound address. For port 0 we
//!   bind a throw-away listener to learn a free port, drop it and hand that port to rumqttd.
//!   Another process could take the port in between (a small race); rumqttd's bind then fails.
//!   We detect that deterministically (the first poll of `Server::start` either fails the bind
//!   or parks in `accept`) and retry with a new free port, up to [`PORT_ATTEMPTS`] times.
//! - Authentication uses rumqttd's external auth hook (`ConnectionSettings::set_auth_handler`):
//!   each CONNECT's username and password go to the caller's [`CredentialCheck`]. A connection
//!   without credentials is refused by rumqttd itself. rumqttd refuses by closing the
//!   connection without a CONNACK, so a client sees "connection closed", not return code 5.
//! - The client id [`super::CONTROLLER_CLIENT_ID`] is reserved for [`super::CONTROLLER_USER`],
//!   so a screen cannot take over (and thereby disconnect) the controller's session. Screens
//!   are not otherwise bound to a client id: the embedded broker has no topic ACLs anyway
//!   (DESIGN §3: the broker is not trusted; signatures are).
//! - Password guessing is slowed down: every refused CONNECT is answered only after
//!   [`FAILURE_DELAY`], and a username that failed more than
//!   [`crate::auth::ThrottleConfig::MQTT`]`.free_failures` times in a row is locked out for a
//!   doubling time (1 s … 60 s): during the lock even the right password is refused, so
//!   parallel connections do not help an attacker. The controller's own user is never locked
//!   (an attacker must not be able to cut the controller off its broker); it only gets the
//!   delay. The generated passwords are 192-bit random, so this matters for hand-set ones.
//! - The packet limit is raised to [`super::MAX_PACKET_SIZE`] (rumqttd's is per connection).
//! - rumqttd logs through `tracing` under the target `rumqttd` (one `info` line per accepted
//!   connection); filter it with e.g. `RUST_LOG=info,rumqttd=warn`.

use std::future::Future;
use std::net::{SocketAddr, TcpListener};
use std::pin::pin;
use std::sync::Arc;
use std::task::Poll;
use std::thread::JoinHandle;
use std::time::Duration;

use rumqttd::protocol::v4::V4;
use rumqttd::{ConnectionSettings, LinkType, Router, RouterConfig, Server, ServerSettings};
use tracing::{info, warn};

use super::{CONTROLLER_CLIENT_ID, CONTROLLER_USER, MAX_PACKET_SIZE};

/// How many free ports [`EmbeddedBroker::start`] tries when asked for port 0.
pub const PORT_ATTEMPTS: usize = 5;

/// How long a refused CONNECT waits before the connection is closed.
pub const FAILURE_DELAY: Duration = Duration::from_millis(250);

/// Decides whether a CONNECT's username and password are acceptable.
///
/// The store implements it: screens by their hashed MQTT password (disabled screens refused)
/// and the controller's own user [`super::CONTROLLER_USER`] by its generated password. It is
/// called on the broker thread for every connection attempt, so it must be quick (a sled
/// lookup and one PBKDF2 verification are fine) and must not block on async work.
pub trait CredentialCheck: Send + Sync + 'static {
    /// `true` to let the client in.
    fn check(&self, username: &str, password: &str) -> bool;
}

/// Settings of the embedded broker.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// Address to listen on; port 0 picks a free port (see [`EmbeddedBroker::local_addr`]).
    pub listen: SocketAddr,
    /// Largest MQTT packet accepted from a client, in bytes (default [`MAX_PACKET_SIZE`]).
    pub max_packet_size: usize,
    /// Most simultaneous client connections (default 10 000).
    pub max_connections: usize,
    /// How long a new TCP connection may take to send its CONNECT (default 5 s).
    pub connect_timeout: Duration,
    /// Most unacknowledged QoS 1 messages in flight per connection (default 100).
    pub max_inflight: usize,
    /// Lockout of usernames after failed logins (default
    /// [`crate::auth::ThrottleConfig::MQTT`]).
    pub throttle: crate::auth::ThrottleConfig,
}

impl BrokerConfig {
    /// Defaults, listening on `listen`.
    pub fn new(listen: SocketAddr) -> Self {
        BrokerConfig {
            listen,
            max_packet_size: MAX_PACKET_SIZE,
            max_connections: 10_000,
            connect_timeout: Duration::from_secs(5),
            max_inflight: 100,
            throttle: crate::auth::ThrottleConfig::MQTT,
        }
    }
}

/// Why the embedded broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    /// The listen address could not be bound.
    #[error("embedded MQTT broker cannot listen on {addr}: {source} (is another broker or process using this port? choose another --mqtt address)")]
    Bind {
        /// The address that failed.
        addr: SocketAddr,
        /// The underlying error.
        source: std::io::Error,
    },
    /// The broker thread could not be created or died while starting.
    #[error("embedded MQTT broker thread failed to start: {0}")]
    Thread(String),
}

/// A running embedded broker. Dropping it shuts the broker down.
pub struct EmbeddedBroker {
    local_addr: SocketAddr,
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
    /// Starts the broker on its own thread and returns once it is listening.
    ///
    /// Blocking (it waits for the listener to be bound, which takes milliseconds); call it
    /// from `spawn_blocking` or before the async runtime starts if that matters.
    pub fn start(
        cfg: BrokerConfig,
        credentials: Arc<dyn CredentialCheck>,
    ) -> Result<EmbeddedBroker, BrokerError> {
        let attempts = if cfg.listen.port() == 0 {
            PORT_ATTEMPTS
        } else {
            1
        };
        let mut last_err = None;
        for _ in 0..attempts {
            let addr = if cfg.listen.port() == 0 {
                free_port(cfg.listen)?
            } else {
                cfg.listen
            };
            match start_on(addr, &cfg, credentials.clone()) {
                Ok(broker) => return Ok(broker),
                Err(e @ BrokerError::Bind { .. }) => {
                    warn!(error = %e, "embedded MQTT broker: port taken, trying another");
                    last_err = Some(e);
                }
                Err(e) => return Err(e),
            }
        }
        Err(last_err.unwrap_or_else(|| BrokerError::Thread("no attempt made".into())))
    }

    /// The address the broker listens on (with the real port when port 0 was asked for).
    pub fn local_addr(&self) -> SocketAddr {
        self.local_addr
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

/// Binds a throw-away listener to learn a free port on `listen`'s IP (see the module docs for
/// the race this leaves).
fn free_port(listen: SocketAddr) -> Result<SocketAddr, BrokerError> {
    let probe = TcpListener::bind(listen).map_err(|source| BrokerError::Bind {
        addr: listen,
        source,
    })?;
    probe.local_addr().map_err(|source| BrokerError::Bind {
        addr: listen,
        source,
    })
}

fn server_settings(
    addr: SocketAddr,
    cfg: &BrokerConfig,
    credentials: Arc<dyn CredentialCheck>,
) -> ServerSettings {
    let mut connections = ConnectionSettings {
        connection_timeout_ms: u16::try_from(cfg.connect_timeout.as_millis()).unwrap_or(u16::MAX),
        max_payload_size: cfg.max_packet_size,
        max_inflight_count: cfg.max_inflight,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    let throttle = Arc::new(crate::auth::FailureThrottle::new(cfg.throttle));
    connections.set_auth_handler(
        move |client_id: String, username: String, password: String| {
            let ok = throttled_authorize(
                &throttle,
                credentials.as_ref(),
                &client_id,
                &username,
                &password,
            );
            async move {
                if !ok {
                    // Every refusal (wrong password, or any password while locked) takes as
                    // long, so the delay does not tell a locked-out guesser which was right.
                    tokio::time::sleep(FAILURE_DELAY).await;
                }
                ok
            }
        },
    );
    ServerSettings {
        name: format!("gatecast-mqtt-{}", addr.port()),
        listen: addr,
        tls: None,
        next_connection_delay_ms: 1,
        connections,
    }
}

/// [`authorize`] behind the per-username lockout (see the module docs).
fn throttled_authorize(
    throttle: &crate::auth::FailureThrottle,
    check: &dyn CredentialCheck,
    client_id: &str,
    username: &str,
    password: &str,
) -> bool {
    let exempt = username == CONTROLLER_USER;
    let locked = !exempt && throttle.check(username).is_err();
    // The password is checked also while locked, so that wrong guesses keep counting (and
    // lengthen the lock); the answer is the same refusal either way.
    let ok = authorize(check, client_id, username, password);
    if ok && !locked {
        throttle.success(username);
        return true;
    }
    if !ok && !exempt {
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
    false
}

/// The per-connection decision: reserved client id first, then the caller's check.
fn authorize(check: &dyn CredentialCheck, client_id: &str, username: &str, password: &str) -> bool {
    if client_id == CONTROLLER_CLIENT_ID && username != CONTROLLER_USER {
        warn!(
            username,
            "MQTT connection refused: client id {CONTROLLER_CLIENT_ID} is reserved for the controller"
        );
        return false;
    }
    let ok = check.check(username, password);
    if !ok {
        warn!(
            username,
            client_id, "MQTT connection refused: bad credentials or disabled screen"
        );
    }
    ok
}

fn router_config(cfg: &BrokerConfig) -> RouterConfig {
    RouterConfig {
        max_connections: cfg.max_connections,
        max_outgoing_packet_count: 200,
        // Each subscription filter keeps an in-memory log of up to 8 segments of 1 MiB (a
        // segment may exceed 1 MiB by its last packet). That bounds the memory per filter and
        // how far an offline persistent session can fall behind; retained messages are kept
        // separately and always delivered on subscribe.
        max_segment_size: 1024 * 1024,
        max_segment_count: 8,
        custom_segment: None,
        initialized_filters: None,
        shared_subscriptions_strategy: Default::default(),
    }
}

fn start_on(
    addr: SocketAddr,
    cfg: &BrokerConfig,
    credentials: Arc<dyn CredentialCheck>,
) -> Result<EmbeddedBroker, BrokerError> {
    let settings = server_settings(addr, cfg, credentials);
    let router_cfg = router_config(cfg);
    let (ready_tx, ready_rx) = std::sync::mpsc::sync_channel::<Result<(), StartFailure>>(1);
    let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();

    let thread = std::thread::Builder::new()
        .name(format!("mqtt-broker-{}", addr.port()))
        .spawn(move || {
            let runtime = match tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
            {
                Ok(rt) => rt,
                Err(e) => {
                    let _ = ready_tx.send(Err(StartFailure::Runtime(e.to_string())));
                    return;
                }
            };
            runtime.block_on(async move {
                // The router thread starts here; see the module docs on why it is never stopped.
                let router_tx = Router::new(0, router_cfg).spawn();
                let mut server = Server::new(settings, router_tx, V4);
                let mut serving = pin!(server.start(LinkType::Remote));
                // The first poll binds the listener (binding a `SocketAddr` does not wait): it
                // either fails right away or parks in `accept`. That tells us, without
                // guessing, whether the port is ours.
                let first = std::future::poll_fn(|cx| Poll::Ready(serving.as_mut().poll(cx))).await;
                match first {
                    Poll::Ready(result) => {
                        let msg = match result {
                            Err(e) => e.to_string(),
                            Ok(()) => "listener ended at once".to_string(),
                        };
                        let _ = ready_tx.send(Err(StartFailure::Bind(msg)));
                        return;
                    }
                    Poll::Pending => {
                        let _ = ready_tx.send(Ok(()));
                    }
                }
                tokio::select! {
                    result = serving => {
                        warn!(?result, "embedded MQTT broker listener stopped");
                    }
                    _ = shutdown_rx => {}
                }
            });
            // Dropping the runtime here closes every client connection.
        })
        .map_err(|e| BrokerError::Thread(e.to_string()))?;

    match ready_rx.recv() {
        Ok(Ok(())) => {
            info!(%addr, "embedded MQTT broker listening");
            Ok(EmbeddedBroker {
                local_addr: addr,
                shutdown: Some(shutdown_tx),
                thread: Some(thread),
            })
        }
        failure => {
            let _ = thread.join();
            Err(match failure {
                Ok(Err(StartFailure::Bind(msg))) => BrokerError::Bind {
                    addr,
                    source: std::io::Error::other(msg),
                },
                Ok(Err(StartFailure::Runtime(msg))) => BrokerError::Thread(msg),
                _ => BrokerError::Thread(
                    "the broker thread ended before listening (see the log)".into(),
                ),
            })
        }
    }
}

/// Why the broker thread could not get to `accept`.
enum StartFailure {
    Bind(String),
    Runtime(String),
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
        assert!(authorize(&Fixed, "lc-a1", "lc-a1", "pw-a1"));
        assert!(!authorize(&Fixed, "lc-a1", "lc-a1", "wrong"));
        assert!(authorize(
            &Fixed,
            CONTROLLER_CLIENT_ID,
            CONTROLLER_USER,
            "pw-c"
        ));
        assert!(!authorize(&Fixed, CONTROLLER_CLIENT_ID, "lc-a1", "pw-a1"));
    }

    #[test]
    fn mqtt_broker_reports_a_taken_port() {
        let taken = TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = taken.local_addr().unwrap();
        let err = EmbeddedBroker::start(BrokerConfig::new(addr), Arc::new(Fixed)).unwrap_err();
        assert!(
            matches!(err, BrokerError::Bind { addr: a, .. } if a == addr),
            "{err}"
        );
    }
}
