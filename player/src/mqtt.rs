//! The player's MQTT link (rumqttc).
//!
//! One task polls the rumqttc event loop and does nothing that could wait on that same loop
//! (it never publishes): it reconnects with exponential backoff and jitter, subscribes to the
//! screen's `manifest`, `alert`, `ack`, `rotation`, `screenshot` and `ticker` topics and the policy topic whenever it is not certain of its
//! subscriptions — the broker has no session for us, or this process has not yet seen a
//! successful SUBACK (a session left by an earlier box of the same screen may be present
//! without our subscriptions: docs/security.md row 46); a subscription the broker refuses is
//! asked again on the same connection with backoff — and routes incoming messages to
//! channels. A second task publishes: receipts batches and other
//! outgoing messages from a bounded queue, and the latest status (re-sent after every
//! reconnect, since the broker may have published our offline Last Will meanwhile).
//!
//! `mqtts://` brokers are reached over TLS with the rustls configuration of
//! [`crate::tls::PlayerTls`]; a failed handshake is reported in words
//! ([`gatecast_tls::explain`]: expired, wrong host name, unknown issuer, pin mismatch, TLS
//! against a plain port) in [`LinkState::last_error`] and logged once per change of reason.
//!
//! Client id = screen id, persistent session (`clean_session = false`), username/password
//! from the config, packet limit raised to [`MAX_PACKET_BYTES`], Last Will = the retained
//! offline status.
//!
//! A clean stop ([`MqttHandle::shutdown`]) stops the publisher, queues the final (offline)
//! status and then a DISCONNECT on the same request channel (so the broker receives them in
//! that order and discards the Last Will), and the poller ends as soon as the DISCONNECT is
//! written, instead of treating the closed connection as lost and reconnecting.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use gatecast_tls::rustls::ClientConfig;
use playlists::topics::{self, Kind};
use rumqttc::{AsyncClient, Event, EventLoop, LastWill, MqttOptions, Packet, QoS};
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;

use gatecast_support::backoff::Backoff;

/// Largest MQTT packet we send or accept: the limit every gatecast party shares
/// ([`playlists::envelope::MAX_MQTT_PACKET_BYTES`]); the uploader keeps every batch within the
/// envelope limit, far below it.
pub const MAX_PACKET_BYTES: usize = playlists::envelope::MAX_MQTT_PACKET_BYTES;
/// First reconnect delay.
pub const BACKOFF_MIN: Duration = Duration::from_millis(500);
/// Longest reconnect delay (jitter only shortens a wait: see [`Backoff`]).
pub const BACKOFF_MAX: Duration = Duration::from_secs(15);
/// Capacity of the incoming manifest/alert queue.
const INCOMING_QUEUE: usize = 16;
/// Capacity of the ack queue (an ack dropped when full is harmless: receipts are resent).
const ACK_QUEUE: usize = 16;
/// Capacity of the screenshot command queue (a command dropped when full is refused the way an
/// expired one is: the operator asks again).
const SHOT_QUEUE: usize = 4;
/// Capacity of the outgoing queue.
const OUTGOING_QUEUE: usize = 16;
/// Longest wait for each step of a clean stop.
const SHUTDOWN_STEP: Duration = Duration::from_secs(2);

/// Errors setting up the MQTT link.
#[derive(Debug, thiserror::Error)]
pub enum MqttError {
    /// The `broker` setting is not `mqtts://host:port` or `mqtt://host:port`.
    #[error("broker address {0:?} is not of the form mqtts://host:port or mqtt://host:port; fix `broker` in the player config")]
    BadBrokerUrl(String),
    /// An `mqtts://` broker without a TLS configuration.
    #[error("broker {0:?} speaks TLS but no TLS trust was given")]
    NoTls(String),
    /// The screen id is not valid.
    #[error("screen id {0:?} is not valid (^[a-z0-9][a-z0-9-]{{0,62}}$); fix `screen` in the player config")]
    BadScreen(String),
}

/// Where and how to connect.
#[derive(Clone)]
pub struct MqttSettings {
    /// Screen id (also the client id).
    pub screen: String,
    /// `mqtts://host:port` (TLS, port 8883 by default) or `mqtt://host:port` (`tcp://` is a
    /// synonym; port 1883 by default).
    pub broker: String,
    /// The rustls configuration for an `mqtts://` broker (`None`: refuse `mqtts://`).
    pub tls: Option<Arc<ClientConfig>>,
    /// MQTT user name.
    pub username: String,
    /// MQTT password (never logged).
    pub password: String,
    /// Retained Last Will payload (the offline status).
    pub last_will: Vec<u8>,
    /// Keep-alive interval.
    pub keep_alive: Duration,
}

impl std::fmt::Debug for MqttSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MqttSettings")
            .field("screen", &self.screen)
            .field("broker", &self.broker)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .finish()
    }
}

/// A verified-later message that arrived for this screen (raw bytes: nothing is trusted yet).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Incoming {
    /// Payload of the `manifest` topic.
    Manifest(Bytes),
    /// Payload of the `alert` topic.
    Alert(Bytes),
    /// Payload of the `rotation` topic (a controller key rotation statement).
    Rotation(Bytes),
    /// Payload of the per-deployment policy topic (the approval policy chain, §19).
    Policy(Bytes),
    /// Payload of the `ticker` topic (a signed ticker set, §20).
    Ticker(Bytes),
}

/// A message to publish on one of this screen's topics (QoS 1; retained as the topic says).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outgoing {
    /// Which topic.
    pub kind: Kind,
    /// Payload bytes.
    pub payload: Vec<u8>,
}

/// Connection state, for status and logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LinkState {
    /// Connected right now.
    pub connected: bool,
    /// Number of successful connections so far.
    pub connections: u64,
    /// The last connection error, if any.
    pub last_error: Option<String>,
}

/// The running MQTT link.
#[derive(Debug)]
pub struct MqttHandle {
    /// Messages to publish (receipts batches, …). Bounded: a full queue waits.
    pub outgoing: mpsc::Sender<Outgoing>,
    /// Manifests and alerts, in arrival order.
    pub incoming: mpsc::Receiver<Incoming>,
    /// Raw ack envelopes, for the uploader to verify.
    pub acks: mpsc::Receiver<Bytes>,
    /// Raw screenshot command envelopes (`docs/protocol.md` §18), for the screenshot task to
    /// verify.
    pub shots: mpsc::Receiver<Bytes>,
    /// Connection state.
    pub link: watch::Receiver<LinkState>,
    status: watch::Sender<Option<Vec<u8>>>,
    client: AsyncClient,
    screen: String,
    stop: watch::Sender<bool>,
    poller: JoinHandle<()>,
    publisher: JoinHandle<()>,
}

/// Splits `mqtts://host:port` or `mqtt://host:port` into host, port and TLS flag.
pub fn parse_broker(url: &str) -> Result<crate::config::BrokerAddr, MqttError> {
    crate::config::parse_broker_addr(url).map_err(|_| MqttError::BadBrokerUrl(url.to_owned()))
}

impl MqttHandle {
    /// Starts the link. Returns at once; connecting happens in the background.
    pub fn spawn(settings: MqttSettings) -> Result<MqttHandle, MqttError> {
        if !playlists::manifest::is_valid_screen_id(&settings.screen) {
            return Err(MqttError::BadScreen(settings.screen));
        }
        let addr = parse_broker(&settings.broker)?;
        let mut opts = MqttOptions::new(settings.screen.clone(), addr.host, addr.port);
        if addr.tls {
            let tls = settings
                .tls
                .clone()
                .ok_or_else(|| MqttError::NoTls(settings.broker.clone()))?;
            opts.set_transport(rumqttc::Transport::tls_with_config(
                rumqttc::TlsConfiguration::Rustls(tls),
            ));
        }
        opts.set_clean_session(false)
            .set_keep_alive(settings.keep_alive)
            .set_max_packet_size(MAX_PACKET_BYTES, MAX_PACKET_BYTES)
            .set_credentials(settings.username.clone(), settings.password.clone())
            .set_request_channel_capacity(64)
            .set_last_will(LastWill::new(
                topics::topic(&settings.screen, Kind::Status),
                settings.last_will.clone(),
                QoS::AtLeastOnce,
                true,
            ));
        let (client, mut eventloop) = AsyncClient::new(opts, 64);
        // A receipts batch right after a PUBACK must not wait for the broker's delayed ACK
        // (Nagle's algorithm holds a write while an earlier one is unacknowledged).
        let mut net = eventloop.network_options();
        net.set_tcp_nodelay(true);
        eventloop.set_network_options(net);
        let (in_tx, in_rx) = mpsc::channel(INCOMING_QUEUE);
        let (ack_tx, ack_rx) = mpsc::channel(ACK_QUEUE);
        let (shot_tx, shot_rx) = mpsc::channel(SHOT_QUEUE);
        let (out_tx, out_rx) = mpsc::channel(OUTGOING_QUEUE);
        let (link_tx, link_rx) = watch::channel(LinkState::default());
        let (status_tx, status_rx) = watch::channel(None);
        let (stop_tx, stop_rx) = watch::channel(false);
        let poller = tokio::spawn(poll_loop(
            eventloop,
            client.clone(),
            settings.screen.clone(),
            in_tx,
            Forwards {
                acks: ack_tx,
                shots: shot_tx,
            },
            link_tx,
            stop_rx.clone(),
        ));
        let publisher = tokio::spawn(publish_loop(
            client.clone(),
            settings.screen.clone(),
            out_rx,
            status_rx,
            link_rx.clone(),
            stop_rx,
        ));
        Ok(MqttHandle {
            outgoing: out_tx,
            incoming: in_rx,
            acks: ack_rx,
            shots: shot_rx,
            link: link_rx,
            status: status_tx,
            client,
            screen: settings.screen,
            stop: stop_tx,
            poller,
            publisher,
        })
    }

    /// Sets the status to publish (retained); it is sent now if connected, and again after
    /// every reconnect.
    pub fn set_status(&self, json: Vec<u8>) {
        self.status.send_replace(Some(json));
    }

    /// Publishes `final_status` (normally the offline status), disconnects cleanly and stops
    /// both tasks. Returns as soon as the DISCONNECT is written (at most a few seconds if the
    /// broker does not take it).
    pub async fn shutdown(self, final_status: Vec<u8>) {
        // Nothing may publish after the final status.
        self.publisher.abort();
        let _ = self.publisher.await;
        let mut poller = self.poller;
        let topic = topics::topic(&self.screen, Kind::Status);
        if self.link.borrow().connected {
            // Both go through the same request channel, so the broker gets the offline status
            // first and then a clean DISCONNECT (which discards our Last Will).
            let published = tokio::time::timeout(
                SHUTDOWN_STEP,
                self.client
                    .publish(topic, QoS::AtLeastOnce, true, final_status),
            )
            .await;
            if !matches!(published, Ok(Ok(()))) {
                tracing::warn!("could not queue the offline status; the broker's Last Will says offline instead");
            }
            let _ = tokio::time::timeout(SHUTDOWN_STEP, self.client.disconnect()).await;
            // The poller returns once the DISCONNECT is written.
            match tokio::time::timeout(SHUTDOWN_STEP, &mut poller).await {
                Ok(_) => {
                    tracing::info!("MQTT link closed cleanly (offline status, then DISCONNECT)")
                }
                Err(_) => {
                    tracing::warn!("MQTT DISCONNECT not written in time; connection dropped");
                    poller.abort();
                }
            }
        } else {
            poller.abort();
        }
        let _ = self.stop.send(true);
    }
}

/// Where the messages that bypass the agent's state machine go.
struct Forwards {
    /// Acks, to the uploader.
    acks: mpsc::Sender<Bytes>,
    /// Screenshot commands, to the screenshot task.
    shots: mpsc::Sender<Bytes>,
}

async fn poll_loop(
    mut eventloop: EventLoop,
    client: AsyncClient,
    screen: String,
    incoming: mpsc::Sender<Incoming>,
    forwards: Forwards,
    link: watch::Sender<LinkState>,
    mut stop: watch::Receiver<bool>,
) {
    let manifest_topic = topics::topic(&screen, Kind::Manifest);
    let alert_topic = topics::topic(&screen, Kind::Alert);
    let ack_topic = topics::topic(&screen, Kind::Ack);
    let rotation_topic = topics::topic(&screen, Kind::Rotation);
    let shot_topic = topics::topic(&screen, Kind::Screenshot);
    let ticker_topic = topics::topic(&screen, Kind::Ticker);
    let mut backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
    // A successful SUBACK seen in the broker's current session of ours.
    let mut subscribed = false;
    // A refused subscription is asked again on the same connection after this backoff; the
    // pending retry is dropped when the connection is replaced (the CONNACK subscribes anew).
    let mut sub_backoff = Backoff::new(BACKOFF_MIN, BACKOFF_MAX);
    let mut sub_retry: Option<JoinHandle<()>> = None;
    let filters = [
        manifest_topic.clone(),
        alert_topic.clone(),
        ack_topic.clone(),
        rotation_topic.clone(),
        shot_topic.clone(),
        ticker_topic.clone(),
        topics::POLICY_TOPIC.to_owned(),
    ];
    loop {
        let ev = tokio::select! {
            ev = eventloop.poll() => ev,
            _ = stopped(&mut stop) => return,
        };
        match ev {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff.reset();
                link.send_modify(|l| {
                    l.connected = true;
                    l.connections += 1;
                });
                tracing::info!(
                    session_present = ack.session_present,
                    "connected to the MQTT broker"
                );
                if !ack.session_present {
                    subscribed = false;
                }
                if let Some(r) = sub_retry.take() {
                    r.abort();
                }
                sub_backoff.reset();
                if !subscribed {
                    subscribe(&client, &filters, Duration::ZERO);
                }
            }
            Ok(Event::Incoming(Packet::Publish(p))) => {
                let msg = if p.topic == manifest_topic {
                    Some(Incoming::Manifest(p.payload))
                } else if p.topic == alert_topic {
                    Some(Incoming::Alert(p.payload))
                } else if p.topic == rotation_topic {
                    Some(Incoming::Rotation(p.payload))
                } else if p.topic == topics::POLICY_TOPIC {
                    Some(Incoming::Policy(p.payload))
                } else if p.topic == ticker_topic {
                    Some(Incoming::Ticker(p.payload))
                } else if p.topic == ack_topic {
                    if forwards.acks.try_send(p.payload).is_err() {
                        tracing::warn!("ack queue full; ack dropped (the receipts will be resent)");
                    }
                    None
                } else if p.topic == shot_topic {
                    if forwards.shots.try_send(p.payload).is_err() {
                        tracing::warn!("screenshot command queue full; command dropped");
                    }
                    None
                } else {
                    tracing::warn!(topic = %p.topic, "message on an unexpected topic ignored");
                    None
                };
                if let Some(m) = msg {
                    // The agent never waits on this loop, so this cannot deadlock.
                    if incoming.send(m).await.is_err() {
                        return;
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(s))) => {
                subscribed = s
                    .return_codes
                    .iter()
                    .all(|c| matches!(c, rumqttc::SubscribeReasonCode::Success(_)));
                if subscribed {
                    sub_backoff.reset();
                } else {
                    let delay = sub_backoff.next_delay();
                    tracing::warn!(codes = ?s.return_codes, ?delay, "the broker refused a subscription; subscribing again");
                    if let Some(r) = sub_retry.take() {
                        r.abort();
                    }
                    sub_retry = Some(subscribe(&client, &filters, delay));
                }
            }
            Ok(Event::Incoming(Packet::Disconnect)) => {
                link.send_modify(|l| l.connected = false);
            }
            // Our own DISCONNECT went out (clean stop): the broker now closes the connection,
            // which is not a loss to recover from.
            Ok(Event::Outgoing(rumqttc::Outgoing::Disconnect)) => {
                link.send_modify(|l| l.connected = false);
                return;
            }
            Ok(_) => {}
            Err(rumqttc::ConnectionError::RequestsDone) => return,
            Err(e) => {
                let was_connected = link.borrow().connected;
                let msg = gatecast_tls::explain(&e);
                let same = link.borrow().last_error.as_deref() == Some(msg.as_str());
                link.send_modify(|l| {
                    l.connected = false;
                    l.last_error = Some(msg.clone());
                });
                if was_connected {
                    tracing::warn!(error = %msg, "MQTT connection lost; reconnecting");
                } else if !same {
                    tracing::warn!(error = %msg, "MQTT connect failed; retrying with backoff");
                } else {
                    tracing::debug!(error = %msg, "MQTT connect failed");
                }
                let delay = backoff.next_delay();
                tokio::select! {
                    _ = tokio::time::sleep(delay) => {}
                    _ = stopped(&mut stop) => return,
                }
            }
        }
    }
}

/// Completes once `stop` is set (or its sender is gone).
async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

async fn publish_loop(
    client: AsyncClient,
    screen: String,
    mut outgoing: mpsc::Receiver<Outgoing>,
    mut status: watch::Receiver<Option<Vec<u8>>>,
    mut link: watch::Receiver<LinkState>,
    mut stop: watch::Receiver<bool>,
) {
    let status_topic = topics::topic(&screen, Kind::Status);
    let mut connections = 0;
    loop {
        tokio::select! {
            _ = stopped(&mut stop) => return,
            changed = status.changed() => {
                if changed.is_err() { return; }
                let body = status.borrow_and_update().clone();
                if let Some(body) = body {
                    if client.publish(status_topic.clone(), QoS::AtLeastOnce, true, body).await.is_err() {
                        return;
                    }
                }
            }
            changed = link.changed() => {
                if changed.is_err() { return; }
                let now = link.borrow_and_update().connections;
                if now != connections {
                    connections = now;
                    let body = status.borrow().clone();
                    if let Some(body) = body {
                        if client.publish(status_topic.clone(), QoS::AtLeastOnce, true, body).await.is_err() {
                            return;
                        }
                    }
                }
            }
            out = outgoing.recv() => {
                let Some(out) = out else { return };
                let topic = topics::topic(&screen, out.kind);
                if client.publish(topic, QoS::AtLeastOnce, out.kind.retained(), out.payload).await.is_err() {
                    return;
                }
            }
        }
    }
}

/// Subscribes to `filters` at QoS 1 after `delay`, on a task of its own: the request goes
/// through the channel the poll task drains, so the poll task must not await it.
fn subscribe(client: &AsyncClient, filters: &[String], delay: Duration) -> JoinHandle<()> {
    let c = client.clone();
    let subs: Vec<_> = filters
        .iter()
        .map(|t| rumqttc::SubscribeFilter::new(t.clone(), QoS::AtLeastOnce))
        .collect();
    tokio::spawn(async move {
        tokio::time::sleep(delay).await;
        if let Err(e) = c.subscribe_many(subs).await {
            tracing::warn!(error = %e, "could not subscribe");
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn password_not_in_debug() {
        let s = MqttSettings {
            screen: "s1".into(),
            broker: "mqtt://h:1".into(),
            tls: None,
            username: "s1".into(),
            password: "hunter2".into(),
            last_will: vec![],
            keep_alive: Duration::from_secs(30),
        };
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    /// Reads one MQTT packet from a fake broker's socket (10 s at most).
    async fn read_packet(
        sock: &mut tokio::net::TcpStream,
        buf: &mut bytes::BytesMut,
    ) -> Option<rumqttc::Packet> {
        use tokio::io::AsyncReadExt as _;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
        loop {
            match rumqttc::Packet::read(buf, MAX_PACKET_BYTES) {
                Ok(p) => return Some(p),
                Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                Err(e) => panic!("the player sent a malformed packet: {e}"),
            }
            match tokio::time::timeout_at(deadline, sock.read_buf(buf)).await {
                Ok(Ok(n)) if n > 0 => {}
                _ => return None,
            }
        }
    }

    async fn write_packet(sock: &mut tokio::net::TcpStream, p: rumqttc::Packet) {
        use tokio::io::AsyncWriteExt as _;
        let mut out = bytes::BytesMut::new();
        match p {
            rumqttc::Packet::ConnAck(a) => a.write(&mut out).unwrap(),
            rumqttc::Packet::SubAck(a) => a.write(&mut out).unwrap(),
            other => panic!("not written by this fake broker: {other:?}"),
        };
        sock.write_all(&out).await.unwrap();
    }

    /// A broker that refuses the player's subscription once: the player subscribes again on
    /// the same connection (with backoff) instead of waiting for the next connection, which
    /// may never come while the link is healthy (no manifests, no alerts).
    #[tokio::test]
    async fn attack_player_refused_subscription_is_retried_on_the_same_connection() {
        use rumqttc::mqttbytes::v4::{ConnAck, SubAck};
        use rumqttc::{ConnectReturnCode, SubscribeReasonCode};
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let handle = MqttHandle::spawn(MqttSettings {
            screen: "s1".into(),
            broker: format!("mqtt://127.0.0.1:{port}"),
            tls: None,
            username: "s1".into(),
            password: "pw".into(),
            last_will: b"{}".to_vec(),
            keep_alive: Duration::from_secs(60),
        })
        .unwrap();
        let (mut sock, _) = tokio::time::timeout(Duration::from_secs(10), listener.accept())
            .await
            .expect("the player connects")
            .unwrap();
        let mut buf = bytes::BytesMut::new();
        let first = read_packet(&mut sock, &mut buf).await;
        assert!(
            matches!(first, Some(rumqttc::Packet::Connect(..))),
            "{first:?}"
        );
        write_packet(
            &mut sock,
            rumqttc::Packet::ConnAck(ConnAck::new(ConnectReturnCode::Success, false)),
        )
        .await;
        let Some(rumqttc::Packet::Subscribe(sub)) = read_packet(&mut sock, &mut buf).await else {
            panic!("no SUBSCRIBE after CONNACK");
        };
        let refused = vec![SubscribeReasonCode::Failure; sub.filters.len()];
        write_packet(
            &mut sock,
            rumqttc::Packet::SubAck(SubAck::new(sub.pkid, refused)),
        )
        .await;
        // The same connection: the next packet is the SUBSCRIBE again.
        let again = read_packet(&mut sock, &mut buf).await;
        let Some(rumqttc::Packet::Subscribe(again)) = again else {
            panic!("the refused subscription was not retried on the same connection: {again:?}");
        };
        assert_eq!(again.filters, sub.filters);
        let granted = vec![SubscribeReasonCode::Success(QoS::AtLeastOnce); again.filters.len()];
        write_packet(
            &mut sock,
            rumqttc::Packet::SubAck(SubAck::new(again.pkid, granted)),
        )
        .await;
        let link = handle.link.borrow().clone();
        assert!(link.connected && link.connections == 1, "{link:?}");
    }
}
