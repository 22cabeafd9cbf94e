//! One client connection of the embedded broker: CONNECT and authentication, then a reader
//! (this task) and a writer task.

use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, Packet, PubAck, PubComp, PubRec, Publish, SubAck,
    SubscribeReasonCode, UnsubAck,
};
use rumqttc::mqttbytes::{Error as CodecError, Protocol, QoS};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpListener;
use tokio::sync::{mpsc, Notify};
use tracing::{debug, trace, warn};

use playlists::topics::CONTROLLER_USER;

use super::session::{Session, Take};
use super::{acl, min_qos, router, Shared, FAILURE_DELAY};

/// Most messages the writer takes from the session queue per write.
const WRITE_BATCH: usize = 64;

/// Capacity of a connection's write buffer kept between writes.
const KEEP_BUFFER: usize = 64 * 1024;

/// Largest CONNECT accepted (before authentication nobody gets the full packet limit).
const MAX_CONNECT_SIZE: usize = 64 * 1024;

/// The reading half of a client connection (plain TCP or TLS).
type ReadHalf = Box<dyn AsyncRead + Send + Unpin>;
/// The writing half of a client connection (plain TCP or TLS).
type WriteHalf = Box<dyn AsyncWrite + Send + Unpin>;

/// Accepts connections until the task is dropped. With `tls`, every connection must complete a
/// TLS handshake first, within [`super::BrokerConfig::connect_timeout`] together with its
/// CONNECT; then the MQTT session code runs on the decrypted stream exactly as for plain TCP.
pub(super) async fn accept_loop(
    listener: TcpListener,
    shared: Arc<Shared>,
    tls: Option<tokio_rustls::TlsAcceptor>,
) {
    let mut refused_full = 0u64;
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(e) => {
                // Out of file descriptors and the like: back off briefly, keep serving.
                warn!(error = %e, "embedded MQTT broker: accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
                continue;
            }
        };
        if shared.connections.load(Ordering::Relaxed) >= shared.cfg.max_connections {
            refused_full += 1;
            if refused_full.is_power_of_two() {
                warn!(
                    %peer,
                    max = shared.cfg.max_connections,
                    refused = refused_full,
                    "embedded MQTT broker: connection limit reached; closing new connection"
                );
            }
            drop(stream);
            continue;
        }
        shared.connections.fetch_add(1, Ordering::Relaxed);
        let _ = stream.set_nodelay(true);
        let shared = shared.clone();
        let tls = tls.clone();
        tokio::spawn(async move {
            let guard = CountGuard(shared.clone());
            let started = Instant::now();
            let (rd, wr): (ReadHalf, WriteHalf) = match tls {
                None => {
                    let (rd, wr) = stream.into_split();
                    (Box::new(rd), Box::new(wr))
                }
                Some(acceptor) => {
                    let Some(_slot) = handshake_slot(&shared, &stream, started, peer).await else {
                        return;
                    };
                    let left = shared.cfg.connect_timeout.saturating_sub(started.elapsed());
                    match tokio::time::timeout(left, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let (rd, wr) = tokio::io::split(tls);
                            (Box::new(rd), Box::new(wr))
                        }
                        Ok(Err(e)) => {
                            debug!(%peer, error = %gatecast_tls::explain(&e), "MQTTS connection closed: TLS handshake failed");
                            return;
                        }
                        Err(_) => {
                            debug!(%peer, "MQTTS connection closed: no TLS handshake in time");
                            return;
                        }
                    }
                }
            };
            let left = shared.cfg.connect_timeout.saturating_sub(started.elapsed());
            handle(shared, rd, wr, peer, left).await;
            drop(guard);
        });
    }
}

/// Waits for `stream`'s ClientHello, then for a handshake slot ([`Shared::handshakes`], in
/// arrival order). `None` (close, nothing computed) when the ClientHello does not come within
/// the connect timeout, or when the wait for a slot used up most of it: such a client has
/// given up or is about to, and answering it would only cost the handshake's crypto.
async fn handshake_slot<'a>(
    shared: &'a Shared,
    stream: &tokio::net::TcpStream,
    started: Instant,
    peer: SocketAddr,
) -> Option<tokio::sync::SemaphorePermit<'a>> {
    let timeout = shared.cfg.connect_timeout;
    // `peek`, not `readable`: readiness can be reported before any byte has arrived.
    let mut first = [0u8; 1];
    match tokio::time::timeout(timeout, stream.peek(&mut first)).await {
        Ok(Ok(n)) if n > 0 => {}
        Ok(_) => return None,
        Err(_) => {
            debug!(%peer, "MQTTS connection closed: no TLS handshake in time");
            return None;
        }
    }
    let slot = shared.handshakes.acquire().await.ok()?;
    if started.elapsed() > timeout * 3 / 4 {
        debug!(%peer, "MQTTS connection closed: it waited too long for a handshake slot");
        return None;
    }
    Some(slot)
}

/// Decrements the connection count when the connection task ends (or is dropped).
struct CountGuard(Arc<Shared>);

impl Drop for CountGuard {
    fn drop(&mut self) {
        self.0.connections.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Why reading a packet ended.
enum ReadEnd {
    /// The peer closed the connection (or the socket failed).
    Closed,
    /// Not MQTT, or above the size limit.
    Malformed(CodecError),
}

/// Reads the next packet into `buf` (cancel safe: a partial packet stays in `buf`).
async fn read_packet(rd: &mut ReadHalf, buf: &mut BytesMut, max: usize) -> Result<Packet, ReadEnd> {
    loop {
        match Packet::read(buf, max) {
            Ok(p) => return Ok(p),
            Err(CodecError::InsufficientBytes(n)) => {
                // Grow with the data that actually arrives, not with what a header claims.
                buf.reserve(n.clamp(1024, 64 * 1024));
                match rd.read_buf(buf).await {
                    Ok(0) | Err(_) => return Err(ReadEnd::Closed),
                    Ok(_) => {}
                }
            }
            Err(e) => return Err(ReadEnd::Malformed(e)),
        }
    }
}

async fn write_packet(wr: &mut WriteHalf, packet: &Packet) -> std::io::Result<()> {
    let mut out = BytesMut::with_capacity(packet.size() + 8);
    encode(packet, &mut out)?;
    wr.write_all(&out).await?;
    // A no-op on TCP; TLS may hold the last record until flushed.
    wr.flush().await
}

fn encode(packet: &Packet, out: &mut BytesMut) -> std::io::Result<()> {
    packet
        .write(out, usize::MAX)
        .map(|_| ())
        .map_err(|e| std::io::Error::other(e.to_string()))
}

/// Serves one connection from CONNECT to close; the CONNECT must arrive within
/// `connect_timeout` (what is left of [`super::BrokerConfig::connect_timeout`]).
async fn handle(
    shared: Arc<Shared>,
    mut rd: ReadHalf,
    mut wr: WriteHalf,
    peer: SocketAddr,
    connect_timeout: Duration,
) {
    let max = shared.cfg.max_packet_size;
    let mut buf = BytesMut::with_capacity(1024);
    let first = tokio::time::timeout(
        connect_timeout,
        read_packet(&mut rd, &mut buf, max.min(MAX_CONNECT_SIZE)),
    )
    .await;
    let connect = match first {
        Err(_) => {
            debug!(%peer, "MQTT connection closed: no CONNECT in time");
            return;
        }
        Ok(Err(ReadEnd::Closed)) => return,
        Ok(Err(ReadEnd::Malformed(e))) => {
            warn!(%peer, error = %e, "MQTT connection closed: malformed or oversized first packet");
            return;
        }
        Ok(Ok(Packet::Connect(c))) => c,
        Ok(Ok(_)) => {
            warn!(%peer, "MQTT connection closed: the first packet was not CONNECT");
            return;
        }
    };

    // Never the password: only whether there is a login.
    trace!(
        %peer,
        client_id = %connect.client_id,
        username = connect.login.as_ref().map(|l| l.username.as_str()),
        clean_session = connect.clean_session,
        keep_alive = connect.keep_alive,
        will = connect.last_will.is_some(),
        "MQTT CONNECT received"
    );
    let refuse = |code: ConnectReturnCode| Packet::ConnAck(ConnAck::new(code, false));
    if connect.protocol != Protocol::V4 {
        let _ = write_packet(&mut wr, &refuse(ConnectReturnCode::RefusedProtocolVersion)).await;
        return;
    }
    let Connect {
        keep_alive,
        client_id,
        clean_session,
        last_will,
        login,
        ..
    } = connect;
    let verdict = match login {
        None => {
            warn!(%peer, client_id, "MQTT connection refused: no username and password");
            Err(ConnectReturnCode::NotAuthorized)
        }
        Some(login) => {
            let check = shared.clone();
            let id = client_id.clone();
            let username = login.username.clone();
            // The semaphore is never closed, so acquiring cannot fail.
            let _permit = shared.checks.acquire().await.ok();
            tokio::task::spawn_blocking(move || {
                check
                    .login(peer.ip(), &id, &login.username, &login.password)
                    .map(|()| login.username)
            })
            .await
            .unwrap_or_else(|_| {
                warn!(
                    username,
                    "MQTT credential check panicked; connection refused"
                );
                Err(ConnectReturnCode::ServiceUnavailable)
            })
        }
    };
    let username = match verdict {
        Ok(username) => username,
        Err(code) => {
            // Every refusal takes as long, so the delay does not tell a locked-out guesser
            // which password was right.
            tokio::time::sleep(FAILURE_DELAY).await;
            let _ = write_packet(&mut wr, &refuse(code)).await;
            let _ = wr.shutdown().await;
            return;
        }
    };
    let conn_id = shared.next_id();
    let client_id = if client_id.is_empty() {
        if !clean_session {
            let _ = write_packet(&mut wr, &refuse(ConnectReturnCode::BadClientId)).await;
            return;
        }
        format!("gatecast-auto-{conn_id}")
    } else {
        client_id
    };

    let wake = Arc::new(Notify::new());
    let close = Arc::new(Notify::new());
    let (session, present) = match shared.attach(
        &client_id,
        &username,
        clean_session,
        conn_id,
        wake.clone(),
        close.clone(),
    ) {
        Ok(attached) => attached,
        Err(code) => {
            if code == ConnectReturnCode::BadClientId {
                warn!(
                    %peer,
                    client_id,
                    username,
                    "MQTT connection refused: client id in use by another user's live connection"
                );
            }
            let _ = write_packet(&mut wr, &refuse(code)).await;
            return;
        }
    };
    debug!(%peer, client_id, username, present, "MQTT client connected");
    let (ctrl_tx, ctrl_rx) = mpsc::channel::<Packet>(64);
    let writer = tokio::spawn(writer(
        wr,
        session.clone(),
        conn_id,
        wake,
        close.clone(),
        ctrl_rx,
        Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, present)),
        shared.cfg.max_inflight.max(1),
    ));

    let keepalive = (keep_alive > 0).then(|| Duration::from_millis(u64::from(keep_alive) * 1500));
    let reader = Reader {
        shared: &shared,
        session: &session,
        username: &username,
        ctrl: ctrl_tx,
    };
    let clean_end = reader.run(&mut rd, &mut buf, keepalive, &close, peer).await;
    writer.abort();
    shared.detach(&session, conn_id);
    if !clean_end {
        if let Some(will) = last_will {
            if router::valid_topic(&will.topic) && acl_publish(&shared, &username, &will.topic) {
                shared.publish(&Publish {
                    dup: false,
                    qos: will.qos,
                    retain: will.retain,
                    topic: will.topic,
                    pkid: 0,
                    payload: will.message,
                });
            }
        }
    }
    debug!(%peer, client_id, clean_end, "MQTT client disconnected");
}

fn acl_publish(shared: &Shared, username: &str, topic: &str) -> bool {
    !shared.cfg.topic_acl || acl::may_publish(username, topic)
}

/// The PUBLISH allowance of every user, kept across connections: a screen that reconnects
/// gets the bucket it left, not a fresh burst per CONNECT (`docs/security.md` §3 row 48).
/// Holds only users that authenticated; a bucket that has refilled is the same as a new one,
/// so it is dropped (at most once a second the map is swept).
#[derive(Default)]
pub(crate) struct Allowances {
    inner: std::sync::Mutex<AllowanceMap>,
}

#[derive(Default)]
struct AllowanceMap {
    buckets: std::collections::HashMap<String, Allowance>,
    swept: Option<Instant>,
}

impl Allowances {
    /// Takes `n` bytes from `username`'s bucket (`bytes_per_sec`, bursts up to `burst`) at
    /// `now`; how long to wait before reading on.
    pub(crate) fn take(
        &self,
        username: &str,
        bytes_per_sec: u64,
        burst: u64,
        n: u64,
        now: Instant,
    ) -> Duration {
        let mut m = self.inner.lock().unwrap_or_else(|p| p.into_inner());
        if m.swept
            .is_none_or(|t| now.saturating_duration_since(t) >= Duration::from_secs(1))
        {
            m.swept = Some(now);
            m.buckets.retain(|_, a| !a.is_full(now));
        }
        let bucket = match m.buckets.get_mut(username) {
            Some(b) => b,
            None => m
                .buckets
                .entry(username.to_string())
                .or_insert_with(|| Allowance::new(bytes_per_sec, burst)),
        };
        bucket.take(n, now)
    }

    /// Users with a bucket that has not refilled yet (or was not swept yet).
    #[cfg(test)]
    fn len(&self) -> usize {
        self.inner
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .buckets
            .len()
    }
}

/// A token bucket of PUBLISH payload bytes ([`crate::BrokerConfig::screen_publish_bytes_per_sec`]).
struct Allowance {
    rate: f64,
    burst: f64,
    tokens: f64,
    at: Instant,
}

impl Allowance {
    fn new(bytes_per_sec: u64, burst: u64) -> Allowance {
        Allowance {
            rate: bytes_per_sec as f64,
            burst: burst as f64,
            tokens: burst as f64,
            at: Instant::now(),
        }
    }

    /// Whether the bucket has refilled to its burst by `now`.
    fn is_full(&self, now: Instant) -> bool {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.tokens + elapsed * self.rate >= self.burst
    }

    /// Takes `n` bytes at `now`; how long to wait before reading on (zero when within it).
    fn take(&mut self, n: u64, now: Instant) -> Duration {
        let elapsed = now.saturating_duration_since(self.at).as_secs_f64();
        self.at = now;
        self.tokens = (self.tokens + elapsed * self.rate).min(self.burst) - n as f64;
        if self.tokens >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.tokens / self.rate)
        }
    }
}

/// The incoming side of an accepted connection.
struct Reader<'a> {
    shared: &'a Shared,
    session: &'a Arc<Session>,
    username: &'a str,
    ctrl: mpsc::Sender<Packet>,
}

impl Reader<'_> {
    /// Handles packets until the connection ends; `true` after a DISCONNECT.
    async fn run(
        &self,
        rd: &mut ReadHalf,
        buf: &mut BytesMut,
        keepalive: Option<Duration>,
        close: &Notify,
        peer: SocketAddr,
    ) -> bool {
        let max = self.shared.cfg.max_packet_size;
        let client_id = self.session.client_id.as_str();
        let rate = self.shared.cfg.screen_publish_bytes_per_sec;
        let paced = self.username != CONTROLLER_USER && rate > 0;
        loop {
            let next = async {
                match keepalive {
                    Some(limit) => tokio::time::timeout(limit, read_packet(rd, buf, max))
                        .await
                        .ok(),
                    None => Some(read_packet(rd, buf, max).await),
                }
            };
            let packet = tokio::select! {
                p = next => p,
                () = close.notified() => {
                    debug!(%peer, client_id, "MQTT connection closed: taken over or write failed");
                    return false;
                }
            };
            let packet = match packet {
                None => {
                    debug!(%peer, client_id, "MQTT connection closed: keepalive expired");
                    return false;
                }
                Some(Err(ReadEnd::Closed)) => return false,
                Some(Err(ReadEnd::Malformed(e))) => {
                    warn!(%peer, client_id, error = %e, "MQTT connection closed: malformed or oversized packet");
                    return false;
                }
                Some(Ok(p)) => p,
            };
            trace_packet(client_id, "received", &packet);
            if let (Packet::Publish(p), true) = (&packet, paced) {
                let wait = self.shared.allowances.take(
                    self.username,
                    rate,
                    max as u64,
                    p.payload.len() as u64,
                    Instant::now(),
                );
                if !wait.is_zero() {
                    debug!(%peer, client_id, ?wait, "MQTT publish rate above the allowance; reading paused");
                    tokio::select! {
                        () = tokio::time::sleep(wait) => {}
                        () = close.notified() => return false,
                    }
                }
            }
            let reply = match packet {
                Packet::Publish(p) => match self.publish(p, peer) {
                    Ok(Some(reply)) => reply,
                    Ok(None) => continue,
                    Err(()) => return false,
                },
                Packet::PubAck(ack) => {
                    self.session.acked(ack.pkid);
                    continue;
                }
                Packet::PubRel(rel) => Packet::PubComp(PubComp::new(rel.pkid)),
                Packet::PubRec(_) | Packet::PubComp(_) => continue,
                Packet::Subscribe(sub) => {
                    let mut codes = Vec::with_capacity(sub.filters.len());
                    for f in &sub.filters {
                        codes.push(self.subscribe(&f.path, f.qos));
                    }
                    Packet::SubAck(SubAck::new(sub.pkid, codes))
                }
                Packet::Unsubscribe(unsub) => {
                    for f in &unsub.topics {
                        self.shared.unsubscribe(self.session, f);
                    }
                    Packet::UnsubAck(UnsubAck::new(unsub.pkid))
                }
                Packet::PingReq => Packet::PingResp,
                Packet::Disconnect => return true,
                other => {
                    warn!(%peer, client_id, packet = ?packet_name(&other), "MQTT connection closed: unexpected packet from client");
                    return false;
                }
            };
            trace_packet(client_id, "sending", &reply);
            if self.ctrl.send(reply).await.is_err() {
                return false;
            }
        }
    }

    /// Routes an incoming publish; the reply to send, if any (`Err`: protocol violation).
    fn publish(&self, p: Publish, peer: SocketAddr) -> Result<Option<Packet>, ()> {
        if !router::valid_topic(&p.topic) {
            warn!(%peer, client_id = %self.session.client_id, "MQTT connection closed: PUBLISH to an invalid topic name");
            return Err(());
        }
        if acl_publish(self.shared, self.username, &p.topic) {
            self.shared.publish(&p);
        } else {
            warn!(
                username = self.username,
                topic = %p.topic,
                "MQTT publish refused by the topic ACL; dropped"
            );
        }
        Ok(match p.qos {
            QoS::AtMostOnce => None,
            QoS::AtLeastOnce => Some(Packet::PubAck(PubAck::new(p.pkid))),
            QoS::ExactlyOnce => Some(Packet::PubRec(PubRec::new(p.pkid))),
        })
    }

    /// Adds one subscription; its SUBACK return code.
    fn subscribe(&self, filter: &str, qos: QoS) -> SubscribeReasonCode {
        if !router::valid_filter(filter) {
            warn!(client_id = %self.session.client_id, filter, "MQTT subscribe refused: invalid topic filter");
            return SubscribeReasonCode::Failure;
        }
        if self.shared.cfg.topic_acl && !acl::may_subscribe(self.username, filter) {
            warn!(
                username = self.username,
                filter, "MQTT subscribe refused by the topic ACL"
            );
            return SubscribeReasonCode::Failure;
        }
        let granted = min_qos(qos, QoS::AtLeastOnce);
        if self.shared.subscribe(self.session, filter, granted) {
            SubscribeReasonCode::Success(granted)
        } else {
            SubscribeReasonCode::Failure
        }
    }
}

/// One trace line per packet: its kind and ids, never a payload or a password.
fn trace_packet(client_id: &str, dir: &str, p: &Packet) {
    match p {
        Packet::Publish(p) => trace!(
            client_id,
            dir,
            topic = %p.topic,
            pkid = p.pkid,
            qos = p.qos as u8,
            retain = p.retain,
            dup = p.dup,
            bytes = p.payload.len(),
            "MQTT PUBLISH"
        ),
        Packet::Subscribe(s) => trace!(
            client_id,
            dir,
            pkid = s.pkid,
            filters = ?s.filters.iter().map(|f| f.path.as_str()).collect::<Vec<_>>(),
            "MQTT SUBSCRIBE"
        ),
        other => trace!(client_id, dir, packet = packet_name(other), "MQTT packet"),
    }
}

fn packet_name(p: &Packet) -> &'static str {
    match p {
        Packet::Connect(_) => "CONNECT",
        Packet::ConnAck(_) => "CONNACK",
        Packet::Publish(_) => "PUBLISH",
        Packet::PubAck(_) => "PUBACK",
        Packet::PubRec(_) => "PUBREC",
        Packet::PubRel(_) => "PUBREL",
        Packet::PubComp(_) => "PUBCOMP",
        Packet::Subscribe(_) => "SUBSCRIBE",
        Packet::SubAck(_) => "SUBACK",
        Packet::Unsubscribe(_) => "UNSUBSCRIBE",
        Packet::UnsubAck(_) => "UNSUBACK",
        Packet::PingReq => "PINGREQ",
        Packet::PingResp => "PINGRESP",
        Packet::Disconnect => "DISCONNECT",
    }
}

/// The outgoing side: CONNACK first, then acknowledgements from the reader and messages from
/// the session queue. A write failure wakes the reader through `close`.
#[allow(clippy::too_many_arguments)]
async fn writer(
    mut wr: WriteHalf,
    session: Arc<Session>,
    conn: u64,
    wake: Arc<Notify>,
    close: Arc<Notify>,
    mut ctrl: mpsc::Receiver<Packet>,
    connack: Packet,
    max_inflight: usize,
) {
    let result: std::io::Result<()> = async {
        write_packet(&mut wr, &connack).await?;
        let mut out = BytesMut::new();
        loop {
            // Acknowledgements first, then as much of the queue as the window allows.
            while let Ok(p) = ctrl.try_recv() {
                encode(&p, &mut out)?;
            }
            match session.take(conn, max_inflight, WRITE_BATCH) {
                Take::Detached => return Ok(()),
                Take::Send(batch) => {
                    for p in &batch {
                        trace!(
                            client_id = %session.client_id,
                            dir = "sending",
                            topic = %p.topic,
                            pkid = p.pkid,
                            qos = p.qos as u8,
                            retain = p.retain,
                            dup = p.dup,
                            bytes = p.payload.len(),
                            "MQTT PUBLISH"
                        );
                        p.write(&mut out)
                            .map_err(|e| std::io::Error::other(e.to_string()))?;
                    }
                    if !out.is_empty() {
                        wr.write_all(&out).await?;
                        wr.flush().await?;
                        out.clear();
                        if out.capacity() > KEEP_BUFFER {
                            // Do not keep a large manifest's worth of memory per connection.
                            out = BytesMut::new();
                        }
                    }
                    if batch.len() == WRITE_BATCH {
                        continue;
                    }
                }
            }
            tokio::select! {
                biased;
                p = ctrl.recv() => match p {
                    Some(p) => encode(&p, &mut out)?,
                    None => return Ok(()),
                },
                () = wake.notified() => {}
            }
        }
    }
    .await;
    if let Err(e) = result {
        debug!(client_id = %session.client_id, error = %e, "MQTT write failed; closing");
    }
    close.notify_one();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn allowance_lets_a_burst_through_then_paces_to_the_rate() {
        let t0 = Instant::now();
        let mut a = Allowance::new(1000, 4000);
        assert_eq!(a.take(4000, t0), Duration::ZERO);
        // Empty: 500 more bytes wait half a second.
        let w = a.take(500, t0);
        assert!((w.as_secs_f64() - 0.5).abs() < 1e-6, "{w:?}");
        // Refilled at the rate, never above the burst.
        assert_eq!(a.take(500, t0 + Duration::from_secs(1)), Duration::ZERO);
        assert_eq!(a.take(4000, t0 + Duration::from_secs(100)), Duration::ZERO);
    }

    #[test]
    fn allowances_are_kept_per_user_and_dropped_once_refilled() {
        let t0 = Instant::now();
        let all = Allowances::default();
        assert_eq!(all.take("a", 1000, 4000, 4000, t0), Duration::ZERO);
        // Same user (a new connection): the same, empty bucket.
        assert!(!all.take("a", 1000, 4000, 1000, t0).is_zero());
        assert_eq!(all.take("b", 1000, 4000, 4000, t0), Duration::ZERO);
        assert_eq!(all.len(), 2);
        // Refilled buckets are swept.
        all.take("c", 1000, 4000, 1, t0 + Duration::from_secs(100));
        assert_eq!(all.len(), 1);
    }
}
