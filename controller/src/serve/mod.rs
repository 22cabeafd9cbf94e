//! Running the controller: data directory, keys, store, embedded broker, MQTT client, HTTP
//! server, and graceful shutdown. [`start`] returns a [`Running`] controller (tests use it
//! in-process on port 0); [`run`] is what `gatecast-controller serve` calls.

use std::future::Future;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::Arc;

use playlists::keys::SecretKey;
use tokio::sync::oneshot;
use tracing::{debug, info, warn};

pub mod https;

use crate::api::{AppState, Metrics, PublicUrls};
use crate::blobs::Blobs;
use crate::config::{files, BrokerMode, Config};
use crate::mqtt::client::{ClientConfig, MqttHandle};
use crate::mqtt::password::{generate_mqtt_password, verify_mqtt_password};
use crate::publish::Outbox;
use crate::secrets::{load_or_create_key, load_or_create_secret, write_secret_file};
use crate::store::{Role, Store, CONTROLLER_HASH_KEY};
use crate::tokens::create_token;
use gatecast_broker::{BrokerConfig, CredentialCheck, EmbeddedBroker};

/// Why the controller could not start.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// The data directory or a file in it is unusable.
    #[error("data directory {path}: {message}")]
    Data {
        /// The path.
        path: PathBuf,
        /// What went wrong.
        message: String,
    },
    /// The database could not be opened.
    #[error(transparent)]
    Store(#[from] crate::store::StoreError),
    /// The embedded broker did not start.
    #[error(transparent)]
    Broker(#[from] gatecast_broker::BrokerError),
    /// The certificate or key could not be loaded or made.
    #[error("TLS: {0}")]
    Tls(#[from] gatecast_tls::TlsError),
    /// The HTTP address could not be bound.
    #[error("cannot listen for HTTP on {addr}: {source} (choose another --http address)")]
    Http {
        /// The address.
        addr: SocketAddr,
        /// The cause.
        source: std::io::Error,
    },
}

impl Outbox for MqttHandle {
    fn send(
        &self,
        topic: String,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            self.publish(topic, payload, true)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn send_unretained(
        &self,
        topic: String,
        payload: Vec<u8>,
    ) -> Pin<Box<dyn Future<Output = Result<(), String>> + Send + '_>> {
        Box::pin(async move {
            self.publish(topic, payload, false)
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn send_all(&self, messages: Vec<(String, Vec<u8>)>) -> crate::publish::SentAll<'_> {
        Box::pin(async move {
            self.publish_all(messages, true)
                .await
                .into_iter()
                .map(|r| r.map_err(|e| e.to_string()))
                .collect()
        })
    }
}

/// The embedded broker's login check: a screen by its stored fast verifier (or `$7$` hash, in
/// records written before verifiers; disabled screens refused), the controller's own user by a
/// SHA-256 of its password compared in constant time. That password is 192-bit random
/// ([`crate::mqtt::password::generate_mqtt_password`]), so a
/// slow hash adds nothing against guessing, and a flood of CONNECTs with the public username
/// `_controller` must not cost a PBKDF2 each (`docs/security.md` §3). The `$7$` hash under
/// [`CONTROLLER_HASH_KEY`] stays for the mosquitto password file.
struct BrokerLogins {
    store: Store,
    controller_sha256: [u8; 32],
    /// Screen logins checked against their stored verifier or hash
    /// ([`Metrics::mqtt_password_checks`]).
    hash_checks: Arc<std::sync::atomic::AtomicU64>,
}

impl BrokerLogins {
    fn new(
        store: Store,
        controller_password: &str,
        hash_checks: Arc<std::sync::atomic::AtomicU64>,
    ) -> BrokerLogins {
        BrokerLogins {
            store,
            controller_sha256: sha256(controller_password),
            hash_checks,
        }
    }
}

fn sha256(s: &str) -> [u8; 32] {
    use sha2::Digest as _;
    sha2::Sha256::digest(s.as_bytes()).into()
}

impl CredentialCheck for BrokerLogins {
    fn check(&self, username: &str, password: &str) -> bool {
        if username == crate::mqtt::CONTROLLER_USER {
            use subtle::ConstantTimeEq as _;
            return sha256(password).ct_eq(&self.controller_sha256).into();
        }
        self.hash_checks
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.store.check(username, password)
    }
}

/// A screen's login by its fast verifier, or by its stored `$7$` hash in a record written before
/// verifiers (disabled screens refused); the controller's own user by the hash stored under
/// [`CONTROLLER_HASH_KEY`] (the broker uses [`BrokerLogins`]).
impl CredentialCheck for Store {
    fn check(&self, username: &str, password: &str) -> bool {
        use crate::mqtt::password::{verify_login, verify_mqtt_password};
        let stored = if username == crate::mqtt::CONTROLLER_USER {
            self.meta_get(CONTROLLER_HASH_KEY).ok().flatten()
        } else if playlists::manifest::is_valid_screen_id(username) {
            match self.screen(username) {
                Ok(Some(s)) if !s.disabled => match s.mqtt_login_sha256 {
                    Some(v) => return verify_login(password, &v),
                    None => Some(s.mqtt_password_hash),
                },
                _ => None,
            }
        } else {
            None
        };
        stored.is_some_and(|h| verify_mqtt_password(password, &h))
    }
}

/// Everything the MQTT client republishes after each connect: every screen's current manifest
/// alert set and ticker set, exact stored bytes.
impl crate::mqtt::client::RetainedSource for Store {
    fn retained(&self) -> Vec<(String, Vec<u8>)> {
        use playlists::topics::{topic, Kind};
        let mut out = Vec::new();
        match self.manifests() {
            Ok(ms) => out.extend(
                ms.into_iter()
                    .map(|m| (topic(&m.screen, Kind::Manifest), m.envelope.into_bytes())),
            ),
            Err(e) => tracing::warn!("cannot read manifests to republish: {e}"),
        }
        match self.alert_sets() {
            Ok(a) => out.extend(
                a.into_iter()
                    .map(|a| (topic(&a.screen, Kind::Alert), a.envelope.into_bytes())),
            ),
            Err(e) => tracing::warn!("cannot read alert sets to republish: {e}"),
        }
        match self.ticker_sets() {
            Ok(t) => out.extend(
                t.into_iter()
                    .map(|t| (topic(&t.screen, Kind::Ticker), t.envelope.into_bytes())),
            ),
            Err(e) => tracing::warn!("cannot read ticker sets to republish: {e}"),
        }
        // The latest key rotation statement, on every screen's `rotation` topic.
        match crate::rotation::statements(self) {
            Ok(all) => {
                if let Some(last) = all.last() {
                    for s in self.screens().unwrap_or_default() {
                        out.push((topic(&s.id, Kind::Rotation), last.clone()));
                    }
                }
            }
            Err(e) => tracing::warn!("cannot read rotation statements to republish: {e}"),
        }
        // The approval policy chain, on the one per-deployment topic (docs/protocol.md §19).
        match self.policy_chain() {
            Ok(chain) if !chain.is_empty() => out.push((
                playlists::topics::POLICY_TOPIC.to_owned(),
                serde_json::to_vec(&chain).expect("a list of strings serializes"),
            )),
            Ok(_) => {}
            Err(e) => tracing::warn!("cannot read the policy chain to republish: {e}"),
        }
        out
    }
}

/// A running controller.
pub struct Running {
    /// Bound HTTP address (HTTPS when [`Running::tls`] is set).
    pub http_addr: SocketAddr,
    /// Bound address of the embedded broker's plain listener (`None` with an external broker
    /// or when TLS turned it off).
    pub mqtt_addr: Option<SocketAddr>,
    /// Bound address of the embedded broker's TLS listener.
    pub mqtts_addr: Option<SocketAddr>,
    /// Bound address of the plain listener that redirects to HTTPS.
    pub redirect_addr: Option<SocketAddr>,
    /// The certificate served (HTTPS and MQTTS), when TLS is on.
    pub tls: Option<Arc<gatecast_tls::ServerTls>>,
    /// Broker URL given to players.
    pub broker_url: String,
    /// Path of the admin token file.
    pub admin_token_path: PathBuf,
    stop_http: oneshot::Sender<()>,
    http: tokio::task::JoinHandle<()>,
    inbound: tokio::task::JoinHandle<()>,
    ingest: tokio::task::JoinHandle<()>,
    checkpointer: tokio::task::JoinHandle<()>,
    alive: tokio::task::JoinHandle<()>,
    mqtt: MqttHandle,
    broker: Option<EmbeddedBroker>,
    store: Store,
    /// The admin socket's task and path (`crate::admin`).
    admin: Option<(tokio::task::JoinHandle<()>, PathBuf)>,
    /// The certificate watcher and the redirect listener.
    tls_tasks: Vec<tokio::task::JoinHandle<()>>,
    /// The CAP feeds' poll loops (`[[cap.feeds]]`).
    cap_feeds: Vec<tokio::task::JoinHandle<()>>,
}

impl Running {
    /// The controller's database (for tests and embedding).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The machine-readable line `serve` prints on stdout once listening:
    /// `gatecast-controller listening http=ADDR` then `mqtt=ADDR` (embedded plain listener),
    /// `mqtts=ADDR` (embedded TLS listener) or `broker=URL` (external), and with TLS
    /// `tls=on pin_sha256=HEX` (`http=` is then an HTTPS address) and `redirect=ADDR`.
    pub fn listening_line(&self) -> String {
        let mut line = format!("gatecast-controller listening http={}", self.http_addr);
        if let Some(m) = self.mqtt_addr {
            line.push_str(&format!(" mqtt={m}"));
        }
        if let Some(m) = self.mqtts_addr {
            line.push_str(&format!(" mqtts={m}"));
        }
        if self.mqtt_addr.is_none() && self.mqtts_addr.is_none() {
            line.push_str(&format!(" broker={}", self.broker_url));
        }
        if let Some(tls) = &self.tls {
            line.push_str(&format!(" tls=on pin_sha256={}", tls.pin_sha256()));
        }
        if let Some(r) = self.redirect_addr {
            line.push_str(&format!(" redirect={r}"));
        }
        line
    }

    /// Graceful shutdown: stop accepting, finish in-flight requests, disconnect MQTT, stop the
    /// broker, flush the database.
    pub async fn shutdown(self) {
        for task in self.tls_tasks.iter().chain(&self.cap_feeds) {
            task.abort();
        }
        if let Some((task, path)) = self.admin {
            task.abort();
            let _ = std::fs::remove_file(path);
        }
        let _ = self.stop_http.send(());
        let _ = self.http.await;
        self.mqtt.shutdown().await;
        self.inbound.abort();
        let _ = self.inbound.await;
        // The ingest drains what the inbound task queued, then stops (queue closed).
        let _ = self.ingest.await;
        self.checkpointer.abort();
        if let Some(b) = self.broker {
            let _ = tokio::task::spawn_blocking(move || b.shutdown()).await;
        }
        // The last alive mark: the next run knows the controller listened until now.
        self.alive.abort();
        if let Err(e) = self.store.tick_alive(jiff::Timestamp::now()).await {
            warn!("could not record the controller's last alive mark: {e}");
        }
        if let Err(e) = self.store.flush().await {
            warn!("final database flush failed: {e}");
        }
        info!("controller stopped");
    }
}

fn data_err(path: &std::path::Path, e: impl std::fmt::Display) -> ServeError {
    ServeError::Data {
        path: path.to_owned(),
        message: e.to_string(),
    }
}

/// Opens the data directory's store (used by `serve` and the `token` commands).
pub fn open_store(config: &Config) -> Result<Store, ServeError> {
    std::fs::create_dir_all(&config.data_dir).map_err(|e| data_err(&config.data_dir, e))?;
    Ok(Store::open(&config.data_dir.join(files::DB))?)
}

/// Starts everything and returns once the HTTP server and broker are listening.
pub async fn start(config: Config) -> Result<Running, ServeError> {
    let data = config.data_dir.clone();
    let store = open_store(&config)?;
    let (key, mqtt_password, admin_path) = load_secrets(&data, &store).await?;
    let blobs =
        Blobs::open(&data.join(files::MEDIA)).map_err(|e| data_err(&data.join(files::MEDIA), e))?;

    // The run starts before the broker listens: a screen's silence counts from here at the
    // earliest (docs/protocol.md §12).
    let previous = store
        .mark_started(jiff::Timestamp::now(), config.status_stale_after)
        .await?;
    if let Some(p) = previous {
        info!(previous_started = %p.started, previous_alive = %p.tick, "controller run recorded; the previous run was last alive at its tick");
    }
    let tls = https::load(&config)?;
    let alive = tokio::spawn(run_alive_ticker(store.clone()));
    let mqtt_password_checks = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let (broker, host, port) = start_broker(
        &config,
        tls.as_ref(),
        &store,
        &mqtt_password,
        mqtt_password_checks.clone(),
    )
    .await?;
    let mqtt_addr = broker.as_ref().and_then(EmbeddedBroker::plain_addr);
    let mqtts_addr = broker.as_ref().and_then(EmbeddedBroker::tls_addr);
    let broker_url =
        config
            .public_broker_url
            .clone()
            .unwrap_or_else(|| match (mqtts_addr, mqtt_addr) {
                (Some(a), _) => format!("mqtts://{a}"),
                (None, Some(a)) => format!("mqtt://{a}"),
                (None, None) if config.broker_trust.is_some() => format!("mqtts://{host}:{port}"),
                (None, None) => format!("mqtt://{host}:{port}"),
            });

    let mut client_config = ClientConfig::new(host, port, mqtt_password);
    client_config.tls = match (&config.broker_trust, mqtt_addr, &tls) {
        // An external mqtts:// broker.
        (Some(trust), _, _) => Some(gatecast_tls::client_config(trust)?),
        // Only the embedded TLS listener is open: trust exactly the certificate it serves.
        (None, None, Some(tls)) if mqtts_addr.is_some() => {
            Some(gatecast_tls::own_server_client_config(tls))
        }
        _ => None,
    };
    // The inbound queue is bounded in bytes (docs/security.md §3 row 48): receipts batches
    // up to the packet limit pass the status limit, so a bound in messages would not do.
    let inbound_bytes = crate::mqtt::client::InboundBytes::new(crate::inbound::INBOUND_QUEUE_BYTES);
    client_config.inbound_bytes = Some(inbound_bytes.clone());
    let (mqtt, inbound_rx) = crate::mqtt::client::start(client_config, Arc::new(store.clone()));

    let listener = tokio::net::TcpListener::bind(config.http_addr)
        .await
        .map_err(|source| ServeError::Http {
            addr: config.http_addr,
            source,
        })?;
    let http_addr = listener.local_addr().map_err(|source| ServeError::Http {
        addr: config.http_addr,
        source,
    })?;
    let scheme = if tls.is_some() { "https" } else { "http" };
    let media_base = config
        .public_media_base
        .clone()
        .unwrap_or_else(|| format!("{scheme}://{http_addr}"));

    if config.public_broker_url.is_none()
        && mqtts_addr
            .or(mqtt_addr)
            .is_some_and(|a| a.ip().is_unspecified())
    {
        warn!(url = %broker_url, "players will be told an unspecified broker address; set public_broker_url");
    }
    if config.public_media_base.is_none() && http_addr.ip().is_unspecified() {
        warn!(url = %media_base, "players will be told an unspecified media address; set public_media_base");
    }
    // Players sent to our own mqtts:// listener learn its pin at enrolment (docs/protocol.md §7).
    let tls_pin = match &tls {
        Some(t) if mqtts_addr.is_some() && broker_url.starts_with("mqtts://") => {
            let t = t.clone();
            Some(crate::api::TlsPinSource(Arc::new(move || t.pin_sha256())))
        }
        _ => None,
    };
    let metrics = Arc::new(Metrics {
        mqtt_password_checks,
        ..Metrics::default()
    });
    let key = Arc::new(key);
    let mh = mqtt.clone();
    let state = Arc::new(AppState {
        store: store.clone(),
        blobs,
        key: key.clone(),
        config: config.clone(),
        public: PublicUrls {
            broker: broker_url.clone(),
            media_base,
            tls_pin,
        },
        metrics: metrics.clone(),
        outbox: Arc::new(mqtt.clone()),
        publish_lock: tokio::sync::Mutex::new(()),
        mqtt_status: Arc::new(move || {
            let m = mh.metrics();
            (m.reconnects, m.connected)
        }),
        auth_throttle: gatecast_broker::throttle::FailureThrottle::new(
            gatecast_broker::throttle::ThrottleConfig::HTTP,
        ),
        broker: broker.as_ref().map(EmbeddedBroker::handle),
        previews: crate::preview::AlertPreviews::new(),
        cap_feeds: Default::default(),
        screen_views: Default::default(),
    });
    let cap_feeds = crate::api::spawn_cap_feeds(state.clone());

    let receipts = Arc::new(crate::inbound::ReceiptQueue::default());
    let ingest = tokio::spawn(crate::ingest::run(
        crate::ingest::Ingest {
            store: store.clone(),
            key: key.clone(),
            outbox: Arc::new(mqtt.clone()),
            metrics: metrics.ingest.clone(),
        },
        receipts.clone(),
        crate::ingest::IngestConfig::default(),
    ));
    // After a key rotation: re-issue what the retired key signed (same content, new version).
    let resigned = crate::rotation::resign_stored(
        &store,
        &key,
        &mqtt,
        config.manifest_lifetime,
        jiff::Timestamp::now(),
    )
    .await;
    if resigned > 0 {
        info!(count = resigned, key_id = %key.key_id(), "re-signed stored manifests and alert sets with the current key");
    }
    let checkpointer = tokio::spawn(crate::auditlog::run_checkpointer(
        store.clone(),
        key.clone(),
        crate::auditlog::CHECKPOINT_INTERVAL,
    ));
    let stale_after = config.status_stale_after;
    let inbound = crate::inbound::spawn(
        store.clone(),
        metrics,
        inbound_rx,
        Some(inbound_bytes),
        receipts,
        stale_after,
    );

    let (stop_http, stop_rx) = oneshot::channel::<()>();
    let routes = warp::Filter::map(
        warp::Filter::unify(warp::Filter::or(
            crate::console::routes(),
            crate::api::routes(state),
        )),
        crate::api::add_security_headers,
    );
    let limiter = crate::api::connections::ConnectionLimiter::new(
        config.http_limits.max_connections,
        config.http_limits.max_connections_per_addr,
    );
    warn_if_descriptors_short(config.http_limits.max_connections);
    let (tls_tasks, redirect_addr) =
        https::start_tasks(tls.as_ref(), &config, http_addr, &limiter).await?;
    let acceptor = tls.as_ref().map(|t| t.acceptor_with_alpn(&[b"http/1.1"]));
    let http = tokio::spawn(serve_http(listener, routes, limiter, acceptor, stop_rx));
    info!(addr = %http_addr, scheme, "HTTP API listening");
    // Admin commands while running (crate::admin); without the socket they say the
    // database is locked, so a failure here is a warning, not a reason to stop.
    let admin = match crate::admin::listen(&data, store.clone()) {
        Ok(task) => Some((task, crate::admin::socket_path(&data))),
        Err(e) => {
            warn!(error = %e, socket = %crate::admin::socket_path(&data).display(), "cannot listen on the admin socket; admin commands need the controller stopped");
            None
        }
    };
    Ok(Running {
        http_addr,
        mqtt_addr,
        mqtts_addr,
        redirect_addr,
        tls,
        tls_tasks,
        cap_feeds,
        broker_url,
        admin_token_path: admin_path,
        stop_http,
        http,
        inbound,
        ingest,
        checkpointer,
        alive,
        mqtt,
        broker,
        store,
        admin,
    })
}

/// Records the controller's alive mark ([`Store::tick_alive`]) every
/// [`crate::store::ALIVE_TICK`] until aborted (docs/protocol.md §12).
async fn run_alive_ticker(store: Store) {
    let mut every = tokio::time::interval(crate::store::ALIVE_TICK);
    every.tick().await;
    loop {
        every.tick().await;
        if let Err(e) = store.tick_alive(jiff::Timestamp::now()).await {
            warn!("could not record the controller's alive mark: {e}");
        }
    }
}

/// The controller's signing key (with an interrupted key rotation finished first), its own MQTT
/// password (its hash kept in the store for the broker) and the first admin token, each made
/// on first start (0600). Returns the key, the password and the admin token's path.
async fn load_secrets(
    data: &std::path::Path,
    store: &Store,
) -> Result<(SecretKey, String, std::path::PathBuf), ServeError> {
    let key_path = data.join(files::CONTROLLER_KEY);
    crate::rotation::finish_interrupted(data, store).map_err(|e| data_err(&key_path, e))?;
    let (key, created) = load_or_create_key(&key_path).map_err(|e| data_err(&key_path, e))?;
    if created {
        info!(path = %key_path.display(), key_id = %key.key_id(), "created the controller signing key; back it up, players pin its public key");
    } else {
        info!(path = %key_path.display(), key_id = %key.key_id(), "loaded the controller signing key");
    }
    let pw_path = data.join(files::MQTT_PASSWORD);
    let (mqtt_password, _) = load_or_create_secret(&pw_path, generate_mqtt_password)
        .map_err(|e| data_err(&pw_path, e))?;
    let current_hash = store.meta_get(CONTROLLER_HASH_KEY)?;
    if !current_hash.is_some_and(|h| verify_mqtt_password(&mqtt_password, &h)) {
        store
            .meta_put(
                CONTROLLER_HASH_KEY,
                &crate::mqtt::password::hash_mqtt_password(&mqtt_password),
            )
            .await?;
    }
    let admin_path = data.join(files::ADMIN_TOKEN);
    if !admin_path.exists() {
        let (rec, token) = create_token(store, Role::Admin).await?;
        write_secret_file(&admin_path, format!("{token}\n").as_bytes())
            .map_err(|e| data_err(&admin_path, e))?;
        info!(path = %admin_path.display(), token_id = %rec.id, "created the first admin token (file mode 0600)");
    } else {
        info!(path = %admin_path.display(), "admin token file present");
    }
    Ok((key, mqtt_password, admin_path))
}

/// The embedded broker (when configured) and the broker address the controller's own client
/// connects to: `(broker, host, port)`. With TLS the broker listens on the MQTTS address and
/// its plain listener is open only when asked for; the controller's client takes the plain
/// listener when there is one (loopback), else the TLS one.
async fn start_broker(
    config: &Config,
    tls: Option<&Arc<gatecast_tls::ServerTls>>,
    store: &Store,
    controller_password: &str,
    hash_checks: Arc<std::sync::atomic::AtomicU64>,
) -> Result<(Option<EmbeddedBroker>, String, u16), ServeError> {
    Ok(match &config.broker {
        BrokerMode::Embedded(addr) => {
            let creds: Arc<dyn CredentialCheck> = Arc::new(BrokerLogins::new(
                store.clone(),
                controller_password,
                hash_checks,
            ));
            let mut cfg = BrokerConfig::new(*addr);
            cfg.plain = config.mqtt_plain;
            cfg.max_connections = config.mqtt_max_connections;
            if let (Some(listen), Some(tls)) = (config.mqtts_addr, tls) {
                cfg.tls = Some(gatecast_broker::BrokerTls {
                    listen,
                    acceptor: tls.acceptor(),
                });
                if config.mqtt_plain {
                    warn!(addr = %addr, "PLAINTEXT MQTT listener open although TLS is configured (asked for with --mqtt/mqtt_addr): passwords and manifests cross it unencrypted; use it only on a closed network");
                }
            }
            let b = tokio::task::spawn_blocking(move || EmbeddedBroker::start(cfg, creds))
                .await
                .map_err(|e| gatecast_broker::BrokerError::Thread(e.to_string()))??;
            let a = b.local_addr();
            let host = if a.ip().is_unspecified() {
                "127.0.0.1".to_string()
            } else {
                a.ip().to_string()
            };
            (Some(b), host, a.port())
        }
        BrokerMode::External { host, port } => (None, host.clone(), *port),
    })
}

/// How long a client may take to send the head of a request (request line and headers) before
/// the connection is closed: a "slowloris" client that trickles header bytes cannot hold
/// connections open. Stalled request bodies are cut by [`crate::api::BODY_IDLE_TIMEOUT`].
pub const HEADER_READ_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP server loop. warp 0.4's own server sets no header-read timeout (hyper applies its
/// default one only when a timer is configured, and warp configures none), so the controller
/// runs hyper's HTTP/1 connection itself: with a timer and [`HEADER_READ_TIMEOUT`], the client
/// address in each request's extensions ([`crate::api::ClientAddr`], for the brute-force
/// throttle), the connection caps of [`crate::config::HttpLimits`] (a connection past one is
/// answered 503 and closed at once, so HTTP clients cannot take the descriptors the broker's own
/// listener needs), and graceful shutdown (in-flight requests finish, idle connections close).
///
/// With `tls`, each admitted connection first completes a TLS handshake within
/// [`HEADER_READ_TIMEOUT`] (plain HTTP spoken to it is answered with a 400 naming the port as
/// HTTPS, [`https::refuse_plain_http`]), and every response carries HSTS.
async fn serve_http<F>(
    listener: tokio::net::TcpListener,
    filter: F,
    limiter: Arc<crate::api::connections::ConnectionLimiter>,
    tls: Option<tokio_rustls::TlsAcceptor>,
    stop: oneshot::Receiver<()>,
) where
    F: warp::Filter<Extract = (warp::reply::Response,), Error = std::convert::Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
{
    use hyper_util::rt::{TokioIo, TokioTimer};
    use warp::hyper::body::Incoming;
    use warp::hyper::server::conn::http1;
    use warp::hyper::service::{service_fn, Service as _};

    let graceful = hyper_util::server::graceful::GracefulShutdown::new();
    let mut stop = std::pin::pin!(stop);
    loop {
        let (stream, addr) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(pair) => pair,
                Err(e) => {
                    // Usually out of file descriptors: wait a little instead of spinning.
                    warn!("HTTP accept failed: {e}");
                    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                    continue;
                }
            },
            _ = &mut stop => break,
        };
        let slot = match limiter.admit(addr.ip()) {
            Ok(slot) => slot,
            Err(refused) => {
                debug!(client = %addr, "HTTP connection refused: {refused}");
                // Best effort, never waiting: the descriptor is freed at once either way.
                let _ = stream.try_write(
                    b"HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nContent-Length: 0\r\n\r\n",
                );
                continue;
            }
        };
        let svc = hyper_util::service::TowerToHyperService::new(warp::service(filter.clone()));
        let hsts = tls.is_some();
        let svc = service_fn(move |mut req: warp::http::Request<Incoming>| {
            req.extensions_mut().insert(crate::api::ClientAddr(addr));
            let response = svc.call(req);
            async move {
                let mut response = response.await?;
                if hsts {
                    response.headers_mut().insert(
                        warp::http::header::STRICT_TRANSPORT_SECURITY,
                        warp::http::HeaderValue::from_static(https::HSTS),
                    );
                }
                Ok::<_, std::convert::Infallible>(response)
            }
        });
        let builder = {
            let mut b = http1::Builder::new();
            b.timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT);
            b
        };
        let watcher = graceful.watcher();
        let tls = tls.clone();
        tokio::spawn(async move {
            let ended = match tls {
                None => {
                    watcher
                        .watch(builder.serve_connection(TokioIo::new(stream), svc))
                        .await
                }
                Some(acceptor) => match https::handshake(&acceptor, stream, addr).await {
                    Some(stream) => {
                        watcher
                            .watch(builder.serve_connection(TokioIo::new(stream), svc))
                            .await
                    }
                    None => Ok(()),
                },
            };
            if let Err(e) = ended {
                debug!(client = %addr, "HTTP connection ended: {e}");
            }
            drop(slot);
        });
    }
    drop(listener);
    // In-flight requests get a bounded time to finish.
    if tokio::time::timeout(std::time::Duration::from_secs(30), graceful.shutdown())
        .await
        .is_err()
    {
        warn!("HTTP connections still open after 30 s; closing them");
    }
}

/// Warns when the HTTP connection cap leaves less than half of the process's open-file limit
/// to the broker, the database and media files (read from `/proc/self/limits`; silent where
/// that file does not exist).
fn warn_if_descriptors_short(max_connections: usize) {
    let Ok(limits) = std::fs::read_to_string("/proc/self/limits") else {
        return;
    };
    let soft = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|n| n.parse::<usize>().ok());
    if let Some(soft) = soft {
        if max_connections > soft / 2 {
            warn!(
                http_max_connections = max_connections,
                open_file_limit = soft,
                "http_max_connections is more than half the open-file limit: a connection flood \
                 could leave the broker without descriptors; lower it or raise LimitNOFILE"
            );
        }
    }
}

/// Runs until `shutdown` resolves; prints the listening line on stdout.
pub async fn run(config: Config, shutdown: impl Future<Output = ()>) -> Result<(), ServeError> {
    let running = start(config).await?;
    println!("{}", running.listening_line());
    shutdown.await;
    info!("shutting down");
    running.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mqtt::password::{generate_mqtt_password, hash_mqtt_password, login_verifier};
    use crate::store::ScreenRecord;

    fn screen(id: &str, pw: &str, verifier: bool, disabled: bool) -> ScreenRecord {
        ScreenRecord {
            mqtt_password_hash: hash_mqtt_password(pw),
            mqtt_login_sha256: verifier.then(|| login_verifier(pw)),
            disabled,
            ..ScreenRecord::for_test(id)
        }
    }

    #[tokio::test]
    async fn attack_screen_login_by_verifier_or_old_hash_refuses_wrong_and_disabled() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path()).unwrap();
        let (new, old, off) = (
            generate_mqtt_password(),
            generate_mqtt_password(),
            generate_mqtt_password(),
        );
        store
            .put_screen(&screen("lc-new", &new, true, false))
            .await
            .unwrap();
        store
            .put_screen(&screen("lc-old", &old, false, false))
            .await
            .unwrap();
        store
            .put_screen(&screen("lc-off", &off, true, true))
            .await
            .unwrap();
        assert!(
            store.check("lc-new", &new),
            "the fast verifier lets its password in"
        );
        assert!(!store.check("lc-new", &old), "and no other");
        assert!(
            store.check("lc-old", &old),
            "a record without a verifier: its $7$ hash"
        );
        assert!(!store.check("lc-old", &new));
        assert!(!store.check("lc-off", &off), "a disabled screen is refused");
        assert!(
            !store.check("lc-none", &new),
            "an unknown screen is refused"
        );
        assert!(
            !store.check("../lc-new", &new),
            "an invalid username is refused"
        );
        // A verifier where the `$7$` hash belongs is not taken as a hash of anything.
        let mut swapped = screen("lc-swap", &new, false, false);
        swapped.mqtt_password_hash = login_verifier(&new);
        store.put_screen(&swapped).await.unwrap();
        assert!(!store.check("lc-swap", &new));
    }
}
