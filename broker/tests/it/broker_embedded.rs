//! The embedded broker's MQTT 3.1.1 behaviour over real TCP: refusal codes, retained messages,
//! persistent sessions, takeover, last will, wildcards, the topic ACL, oversized packets and
//! 1,000 clients at once. Most tests drive the wire with a raw client (rumqttc's codec over a
//! `TcpStream`) so they see CONNACK flags, DUP bits and connection closes exactly.

use crate::support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Instant;

use bytes::BytesMut;
use gatecast_broker::{BrokerConfig, EmbeddedBroker, FAILURE_DELAY};
use playlists::topics::{topic, Kind, CONTROLLER_CLIENT_ID, CONTROLLER_USER};
use rumqttc::mqttbytes::v4::{
    ConnAck, Connect, ConnectReturnCode, LastWill, Packet, PubAck, Publish, Subscribe,
    SubscribeReasonCode,
};
use rumqttc::mqttbytes::QoS;
use support::{Creds, DEADLINE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) const CTL_PW: &str = "pw-c";

pub(crate) fn creds() -> Arc<Creds> {
    Creds::with(&[
        ("lc-a1", "pw-a1"),
        ("lc-b2", "pw-b2"),
        (CONTROLLER_USER, CTL_PW),
    ])
}

pub(crate) fn start(cfg: impl FnOnce(&mut BrokerConfig), creds: Arc<Creds>) -> EmbeddedBroker {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    let mut config = BrokerConfig::new(addr);
    cfg(&mut config);
    EmbeddedBroker::start(config, creds).expect("embedded broker starts")
}

/// A raw MQTT client: rumqttc's codec over a plain TCP stream.
pub(crate) struct Raw {
    stream: TcpStream,
    buf: BytesMut,
    next_pkid: u16,
}

impl Raw {
    /// Connects and returns the client with the broker's CONNACK (whatever its code).
    pub(crate) async fn open(port: u16, connect: Connect) -> (Raw, ConnAck) {
        let stream = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
        let mut raw = Raw {
            stream,
            buf: BytesMut::new(),
            next_pkid: 1,
        };
        raw.send(Packet::Connect(connect)).await;
        match raw.next().await {
            Some(Packet::ConnAck(ack)) => (raw, ack),
            other => panic!("expected CONNACK, got {other:?}"),
        }
    }

    /// Connects with `clean` and credentials; panics unless accepted. Returns session_present.
    pub(crate) async fn login(
        port: u16,
        id: &str,
        user: &str,
        pw: &str,
        clean: bool,
    ) -> (Raw, bool) {
        let (raw, ack) = Raw::open(port, connect_packet(id, user, pw, clean)).await;
        assert_eq!(ack.code, ConnectReturnCode::Success, "{id} refused");
        (raw, ack.session_present)
    }

    pub(crate) async fn send(&mut self, packet: Packet) {
        let mut out = BytesMut::new();
        packet.write(&mut out, usize::MAX).unwrap();
        self.stream.write_all(&out).await.unwrap();
    }

    /// The next packet, `None` when the broker closed the connection; panics at the deadline.
    pub(crate) async fn next(&mut self) -> Option<Packet> {
        tokio::time::timeout(DEADLINE, async {
            loop {
                match Packet::read(&mut self.buf, usize::MAX) {
                    Ok(p) => return Some(p),
                    Err(rumqttc::mqttbytes::Error::InsufficientBytes(_)) => {}
                    Err(e) => panic!("broker sent garbage: {e}"),
                }
                match self.stream.read_buf(&mut self.buf).await {
                    Ok(0) | Err(_) => return None,
                    Ok(_) => {}
                }
            }
        })
        .await
        .expect("a packet or a close before the deadline")
    }

    fn pkid(&mut self) -> u16 {
        let id = self.next_pkid;
        self.next_pkid += 1;
        id
    }

    /// Subscribes at QoS 1 to each filter; returns the SUBACK codes. Publishes arriving
    /// before the SUBACK are returned too.
    pub(crate) async fn subscribe(
        &mut self,
        filters: &[&str],
    ) -> (Vec<SubscribeReasonCode>, Vec<Publish>) {
        let pkid = self.pkid();
        let mut sub = Subscribe::new_many(filters.iter().map(|f| {
            rumqttc::mqttbytes::v4::SubscribeFilter::new(f.to_string(), QoS::AtLeastOnce)
        }));
        sub.pkid = pkid;
        self.send(Packet::Subscribe(sub)).await;
        let mut early = Vec::new();
        loop {
            match self.next().await {
                Some(Packet::SubAck(ack)) if ack.pkid == pkid => return (ack.return_codes, early),
                Some(Packet::Publish(p)) => {
                    self.ack(&p).await;
                    early.push(p);
                }
                other => panic!("expected SUBACK, got {other:?}"),
            }
        }
    }

    /// Publishes at QoS 1 and waits for the PUBACK (publishes arriving meanwhile are returned).
    pub(crate) async fn publish(
        &mut self,
        topic: &str,
        payload: &[u8],
        retain: bool,
    ) -> Vec<Publish> {
        let pkid = self.pkid();
        let mut p = Publish::new(topic, QoS::AtLeastOnce, payload.to_vec());
        p.pkid = pkid;
        p.retain = retain;
        self.send(Packet::Publish(p)).await;
        let mut early = Vec::new();
        loop {
            match self.next().await {
                Some(Packet::PubAck(ack)) if ack.pkid == pkid => return early,
                Some(Packet::Publish(p)) => {
                    self.ack(&p).await;
                    early.push(p);
                }
                other => panic!("expected PUBACK, got {other:?}"),
            }
        }
    }

    pub(crate) async fn ack(&mut self, p: &Publish) {
        if p.qos == QoS::AtLeastOnce {
            self.send(Packet::PubAck(PubAck::new(p.pkid))).await;
        }
    }

    /// The next PUBLISH (acknowledged); panics on anything else or a close.
    pub(crate) async fn next_publish(&mut self) -> Publish {
        match self.next().await {
            Some(Packet::Publish(p)) => {
                self.ack(&p).await;
                p
            }
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }

    /// Waits until the broker closes the connection (packets before it are ignored).
    pub(crate) async fn closed(&mut self) {
        while self.next().await.is_some() {}
    }

    /// Sends DISCONNECT and waits until the broker has closed the connection.
    pub(crate) async fn disconnect(mut self) {
        self.send(Packet::Disconnect).await;
        self.closed().await;
    }
}

pub(crate) fn connect_packet(id: &str, user: &str, pw: &str, clean: bool) -> Connect {
    let mut c = Connect::new(id);
    c.set_login(user, pw);
    c.clean_session = clean;
    c.keep_alive = 30;
    c
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_refuses_with_connack_codes_after_the_delay() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();

    let started = Instant::now();
    let (mut raw, ack) = Raw::open(port, connect_packet("lc-a1", "lc-a1", "wrong", true)).await;
    assert_eq!(ack.code, ConnectReturnCode::BadUserNamePassword);
    assert!(
        started.elapsed() >= FAILURE_DELAY,
        "refusal came before the delay"
    );
    raw.closed().await;

    let (mut raw, ack) = Raw::open(
        port,
        connect_packet(CONTROLLER_CLIENT_ID, "lc-a1", "pw-a1", true),
    )
    .await;
    assert_eq!(
        ack.code,
        ConnectReturnCode::NotAuthorized,
        "reserved client id"
    );
    raw.closed().await;

    let (mut raw, ack) = Raw::open(port, Connect::new("anon")).await;
    assert_eq!(ack.code, ConnectReturnCode::NotAuthorized, "no credentials");
    raw.closed().await;

    let (_ok, present) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", true).await;
    assert!(!present);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_delivers_retained_on_subscribe_and_deletes_on_empty() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;
    let status_a = topic("lc-a1", Kind::Status);
    let status_b = topic("lc-b2", Kind::Status);
    ctl.publish(&status_a, b"a-online", true).await;
    ctl.publish(&status_b, b"b-online", true).await;
    ctl.publish(&topic("lc-a1", Kind::Receipts), b"not retained", false)
        .await;

    // A wildcard subscription gets every matching retained message, with retain set.
    let (mut late, _) = Raw::login(port, "late", CONTROLLER_USER, CTL_PW, true).await;
    let (codes, mut got) = late.subscribe(&["gatecast/v1/screens/+/status"]).await;
    assert_eq!(codes, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);
    while got.len() < 2 {
        got.push(late.next_publish().await);
    }
    got.sort_by(|a, b| a.topic.cmp(&b.topic));
    assert_eq!(
        got.iter()
            .map(|p| (p.topic.as_str(), p.payload.as_ref(), p.retain))
            .collect::<Vec<_>>(),
        vec![
            (status_a.as_str(), &b"a-online"[..], true),
            (status_b.as_str(), &b"b-online"[..], true)
        ]
    );

    // A live message carries retain = false; an empty retained payload deletes the topic's.
    ctl.publish(&status_a, b"", true).await;
    let live = late.next_publish().await;
    assert_eq!((live.payload.len(), live.retain), (0, false));
    let (mut later, _) = Raw::login(port, "later", CONTROLLER_USER, CTL_PW, true).await;
    let (_, early) = later.subscribe(&[&status_a, &status_b]).await;
    let mut got = early;
    if got.is_empty() {
        got.push(later.next_publish().await);
    }
    assert_eq!(
        got.len(),
        1,
        "only lc-b2's status is still retained: {got:?}"
    );
    assert_eq!(got[0].topic, status_b);
    // Nothing else follows: a marker published now is the next message.
    ctl.publish(&status_b, b"marker", false).await;
    assert_eq!(later.next_publish().await.payload.as_ref(), b"marker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_persistent_session_queues_while_away_and_clean_start_discards() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();
    let ack_topic = topic("lc-a1", Kind::Ack);
    let (mut screen, present) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", false).await;
    assert!(!present, "a new session is not present");
    let (codes, _) = screen.subscribe(&[&ack_topic]).await;
    assert_eq!(codes, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)]);
    screen.disconnect().await;

    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;
    for i in 0..3u8 {
        ctl.publish(&ack_topic, &[i], false).await;
    }

    // Back with clean_session = false: the session (subscription + queue) is still there.
    let (mut screen, present) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", false).await;
    assert!(present, "CONNACK session present");
    for i in 0..3u8 {
        let p = screen.next_publish().await;
        assert_eq!(
            (p.topic.as_str(), p.payload.as_ref()),
            (ack_topic.as_str(), &[i][..])
        );
        assert_eq!(p.qos, QoS::AtLeastOnce);
    }
    // Still subscribed without subscribing again.
    ctl.publish(&ack_topic, b"live", false).await;
    assert_eq!(screen.next_publish().await.payload.as_ref(), b"live");

    // A message not acknowledged before the client vanishes is sent again with DUP.
    ctl.publish(&ack_topic, b"unacked", false).await;
    match screen.next().await {
        Some(Packet::Publish(p)) => assert_eq!(p.payload.as_ref(), b"unacked"),
        other => panic!("expected PUBLISH, got {other:?}"),
    }
    drop(screen);
    let (mut screen, present) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", false).await;
    assert!(present);
    let again = screen.next_publish().await;
    assert_eq!(again.payload.as_ref(), b"unacked");
    assert!(again.dup, "a resend carries DUP");
    screen.disconnect().await;

    // clean_session = true discards the session: no queue, no subscription.
    ctl.publish(&ack_topic, b"dropped", false).await;
    let (mut screen, present) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", true).await;
    assert!(!present, "a clean start has no session");
    let (_, early) = screen.subscribe(&[&topic("lc-a1", Kind::Manifest)]).await;
    assert!(early.is_empty(), "nothing queued: {early:?}");
    ctl.publish(&ack_topic, b"unsubscribed", false).await;
    ctl.publish(&topic("lc-a1", Kind::Manifest), b"m", false)
        .await;
    assert_eq!(
        screen.next_publish().await.payload.as_ref(),
        b"m",
        "ack topic not subscribed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_takeover_closes_the_old_connection_and_publishes_its_will() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();
    let status = topic("lc-a1", Kind::Status);
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;
    ctl.subscribe(&[&status]).await;

    let mut first = connect_packet("lc-a1", "lc-a1", "pw-a1", false);
    first.last_will = Some(LastWill::new(
        &status,
        b"offline".to_vec(),
        QoS::AtLeastOnce,
        true,
    ));
    let (mut old, ack) = Raw::open(port, first).await;
    assert_eq!(ack.code, ConnectReturnCode::Success);
    let (mut new, present) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", false).await;
    assert!(present, "the session survives a takeover");
    old.closed().await;
    let will = ctl.next_publish().await;
    assert_eq!(
        (will.topic.as_str(), will.payload.as_ref()),
        (status.as_str(), &b"offline"[..])
    );

    // Another user cannot take over a live connection's client id; the owner stays connected.
    let (mut intruder, ack) =
        Raw::open(port, connect_packet("lc-a1", "lc-b2", "pw-b2", false)).await;
    assert_eq!(ack.code, ConnectReturnCode::BadClientId);
    intruder.closed().await;
    let manifest = topic("lc-a1", Kind::Manifest);
    new.subscribe(&[&manifest]).await;
    ctl.publish(&manifest, b"after", false).await;
    assert_eq!(new.next_publish().await.payload.as_ref(), b"after");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_last_will_on_abrupt_close_not_after_disconnect() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();
    let status = topic("lc-a1", Kind::Status);
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;
    ctl.subscribe(&["gatecast/v1/screens/+/status"]).await;
    let with_will = |payload: &[u8]| {
        let mut c = connect_packet("lc-a1", "lc-a1", "pw-a1", true);
        c.last_will = Some(LastWill::new(
            &status,
            payload.to_vec(),
            QoS::AtLeastOnce,
            true,
        ));
        c
    };

    // A clean DISCONNECT: no will. The broker has closed the connection (and so decided
    // about the will) before the marker is published.
    let (polite, _) = Raw::open(port, with_will(b"will-1")).await;
    polite.disconnect().await;
    let (mut screen, _) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", true).await;
    screen.publish(&status, b"marker", false).await;
    assert_eq!(
        ctl.next_publish().await.payload.as_ref(),
        b"marker",
        "no will after DISCONNECT"
    );

    // The socket just goes away: the will is published, retained.
    let (rude, _) = Raw::open(port, with_will(b"will-2")).await;
    drop(rude);
    let will = ctl.next_publish().await;
    assert_eq!(will.payload.as_ref(), b"will-2");
    let (mut late, _) = Raw::login(port, "late", CONTROLLER_USER, CTL_PW, true).await;
    let (_, mut got) = late.subscribe(&[&status]).await;
    if got.is_empty() {
        got.push(late.next_publish().await);
    }
    assert_eq!(
        (got[0].payload.as_ref(), got[0].retain),
        (&b"will-2"[..], true)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_wildcards_and_topic_acl() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;
    let (codes, _) = ctl
        .subscribe(&["gatecast/v1/screens/+/receipts", "gatecast/v1/#", "a/#/b"])
        .await;
    assert_eq!(
        codes,
        vec![
            SubscribeReasonCode::Success(QoS::AtLeastOnce),
            SubscribeReasonCode::Success(QoS::AtLeastOnce),
            SubscribeReasonCode::Failure
        ]
    );

    let (mut a, _) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", true).await;
    let (mut b, _) = Raw::login(port, "lc-b2", "lc-b2", "pw-b2", true).await;
    // Screens may not read other screens' topics, nor use wildcards.
    let (codes, _) = a
        .subscribe(&[
            &topic("lc-a1", Kind::Manifest),
            &topic("lc-b2", Kind::Manifest),
            "gatecast/v1/screens/+/manifest",
        ])
        .await;
    assert_eq!(
        codes,
        vec![
            SubscribeReasonCode::Success(QoS::AtLeastOnce),
            SubscribeReasonCode::Failure,
            SubscribeReasonCode::Failure
        ]
    );
    // A forged publish (as another screen) is acknowledged but dropped.
    b.publish(&topic("lc-a1", Kind::Receipts), b"forged", false)
        .await;
    b.publish(&topic("lc-b2", Kind::Manifest), b"forged", false)
        .await;
    a.publish(&topic("lc-a1", Kind::Receipts), b"from-a", false)
        .await;
    b.publish(&topic("lc-b2", Kind::Receipts), b"from-b", false)
        .await;
    // Matched by two of the controller's filters: delivered once.
    let got: Vec<(String, Vec<u8>)> = [ctl.next_publish().await, ctl.next_publish().await]
        .into_iter()
        .map(|p| (p.topic, p.payload.to_vec()))
        .collect();
    assert_eq!(
        got,
        vec![
            (topic("lc-a1", Kind::Receipts), b"from-a".to_vec()),
            (topic("lc-b2", Kind::Receipts), b"from-b".to_vec())
        ]
    );
    ctl.publish("gatecast/v1/marker", b"m", false).await;
    assert_eq!(
        ctl.next_publish().await.topic,
        "gatecast/v1/marker",
        "no duplicates"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_oversized_packet_closes_only_that_connection() {
    let broker = start(|c| c.max_packet_size = 1024, creds());
    let port = broker.local_addr().port();
    let manifest = topic("lc-a1", Kind::Manifest);
    let (mut screen, _) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", true).await;
    screen.subscribe(&[&manifest]).await;
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;

    let mut big = Publish::new(&manifest, QoS::AtLeastOnce, vec![7u8; 4096]);
    big.pkid = 99;
    ctl.send(Packet::Publish(big)).await;
    ctl.closed().await;

    // Garbage closes a connection too.
    let mut junk = TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    junk.write_all(&[0xff; 16]).await.unwrap();
    let mut sink = Vec::new();
    tokio::time::timeout(DEADLINE, junk.read_to_end(&mut sink))
        .await
        .expect("garbage connection closed")
        .ok();

    // The broker and the other connection carry on.
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;
    ctl.publish(&manifest, b"small", false).await;
    assert_eq!(screen.next_publish().await.payload.as_ref(), b"small");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_keepalive_expiry_closes_and_publishes_the_will() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();
    let status = topic("lc-a1", Kind::Status);
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;
    ctl.subscribe(&[&status]).await;
    let mut c = connect_packet("lc-a1", "lc-a1", "pw-a1", true);
    c.keep_alive = 1;
    c.last_will = Some(LastWill::new(
        &status,
        b"gone".to_vec(),
        QoS::AtLeastOnce,
        false,
    ));
    let (mut silent, _) = Raw::open(port, c).await;
    // PINGREQ is answered; then the client stays silent and the broker gives up on it.
    silent.send(Packet::PingReq).await;
    assert_eq!(silent.next().await, Some(Packet::PingResp));
    silent.closed().await;
    assert_eq!(ctl.next_publish().await.payload.as_ref(), b"gone");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_thousand_clients_each_get_their_own_message() {
    const N: usize = 1000;
    let ids: Vec<String> = (0..N).map(|i| format!("s-{i:04}")).collect();
    let mut pairs: Vec<(&str, &str)> = ids.iter().map(|id| (id.as_str(), id.as_str())).collect();
    pairs.push((CONTROLLER_USER, CTL_PW));
    // Cheap logins: the test credential check is a map lookup, not PBKDF2.
    let broker = start(|_| {}, Creds::with(&pairs));
    let port = broker.local_addr().port();

    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel::<()>(N);
    let (done_tx, mut done_rx) = tokio::sync::mpsc::channel::<(String, Vec<u8>)>(N);
    let permits = Arc::new(tokio::sync::Semaphore::new(64));
    for id in ids.iter().cloned() {
        let ready_tx = ready_tx.clone();
        let done_tx = done_tx.clone();
        let permits = permits.clone();
        tokio::spawn(async move {
            let permit = permits.acquire_owned().await.unwrap();
            let (mut raw, _) = Raw::login(port, &id, &id, &id, true).await;
            raw.subscribe(&[&topic(&id, Kind::Manifest)]).await;
            drop(permit);
            ready_tx.send(()).await.unwrap();
            let p = raw.next_publish().await;
            assert_eq!(p.topic, topic(&id, Kind::Manifest));
            done_tx.send((id, p.payload.to_vec())).await.unwrap();
            // Keep the connection open until the test is over.
            std::future::pending::<()>().await;
            drop(raw);
        });
    }
    for _ in 0..N {
        tokio::time::timeout(DEADLINE * 4, ready_rx.recv())
            .await
            .expect("every client subscribed before the deadline");
    }
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;
    for id in &ids {
        ctl.publish(&topic(id, Kind::Manifest), id.as_bytes(), false)
            .await;
    }
    let mut seen = std::collections::HashSet::new();
    for _ in 0..N {
        let (id, payload) = tokio::time::timeout(DEADLINE, done_rx.recv())
            .await
            .expect("every client got a message before the deadline")
            .unwrap();
        assert_eq!(payload, id.as_bytes(), "{id} got someone else's message");
        assert!(seen.insert(id), "a client got two messages");
    }
    assert_eq!(seen.len(), N);
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_keeps_at_most_max_inflight_unacked_and_queues_the_rest() {
    let broker = start(|c| c.max_inflight = 3, creds());
    let port = broker.local_addr().port();
    let ack_topic = topic("lc-a1", Kind::Ack);
    let (mut screen, _) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", false).await;
    screen.subscribe(&[&ack_topic]).await;
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;
    for i in 0..10u8 {
        ctl.publish(&ack_topic, &[i], false).await;
    }
    let mut first = Vec::new();
    for _ in 0..3 {
        match screen.next().await {
            Some(Packet::Publish(p)) => first.push(p),
            other => panic!("expected PUBLISH, got {other:?}"),
        }
    }
    // The client vanishes without acknowledging. Whatever the broker had sent is in flight and
    // comes back with DUP; the rest was still queued and comes without. So the DUP flags show
    // how many were sent unacknowledged: exactly the window.
    drop(screen);
    let (mut screen, present) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", false).await;
    assert!(present);
    let mut got = Vec::new();
    for _ in 0..10 {
        got.push(screen.next_publish().await);
    }
    assert_eq!(
        got.iter()
            .map(|p| (p.payload[0], p.dup))
            .collect::<Vec<_>>(),
        (0..10u8).map(|i| (i, i < 3)).collect::<Vec<_>>()
    );
    assert_eq!(
        got[..3].iter().map(|p| p.pkid).collect::<Vec<_>>(),
        first.iter().map(|p| p.pkid).collect::<Vec<_>>(),
        "a resend keeps its packet id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_slow_consumer_does_not_block_others() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;
    // lc-a1 subscribes and then never reads its socket again.
    let (mut stuck, _) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", true).await;
    stuck.subscribe(&[&topic("lc-a1", Kind::Manifest)]).await;
    let (mut live, _) = Raw::login(port, "lc-b2", "lc-b2", "pw-b2", true).await;
    live.subscribe(&[&topic("lc-b2", Kind::Manifest)]).await;

    // 64 MiB for the stuck screen: far more than the socket buffers hold.
    let chunk = vec![1u8; 1024 * 1024];
    for _ in 0..64 {
        ctl.publish(&topic("lc-a1", Kind::Manifest), &chunk, false)
            .await;
    }
    ctl.publish(&topic("lc-b2", Kind::Manifest), b"for-b", false)
        .await;
    assert_eq!(live.next_publish().await.payload.as_ref(), b"for-b");
    drop(stuck);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn broker_qos_downgrade_qos2_publish_and_unsubscribe() {
    let broker = start(|_| {}, creds());
    let port = broker.local_addr().port();
    let manifest = topic("lc-a1", Kind::Manifest);
    let (mut screen, _) = Raw::login(port, "lc-a1", "lc-a1", "pw-a1", true).await;
    // Subscribing at QoS 2 is granted QoS 1.
    let mut sub = Subscribe::new(&manifest, QoS::ExactlyOnce);
    sub.pkid = 40;
    screen.send(Packet::Subscribe(sub)).await;
    match screen.next().await {
        Some(Packet::SubAck(ack)) => assert_eq!(
            (ack.pkid, ack.return_codes),
            (40, vec![SubscribeReasonCode::Success(QoS::AtLeastOnce)])
        ),
        other => panic!("expected SUBACK, got {other:?}"),
    }
    let (mut ctl, _) = Raw::login(port, "ctl", CONTROLLER_USER, CTL_PW, true).await;

    // QoS 0 in, QoS 0 out (min of publish and grant), no PUBACK expected.
    ctl.send(Packet::Publish(Publish::new(
        &manifest,
        QoS::AtMostOnce,
        b"q0".to_vec(),
    )))
    .await;
    let p = screen.next_publish().await;
    assert_eq!((p.payload.as_ref(), p.qos), (&b"q0"[..], QoS::AtMostOnce));

    // QoS 2 in: PUBREC, then PUBREL → PUBCOMP; delivered at QoS 1.
    let mut q2 = Publish::new(&manifest, QoS::ExactlyOnce, b"q2".to_vec());
    q2.pkid = 7;
    ctl.send(Packet::Publish(q2)).await;
    assert_eq!(
        ctl.next().await,
        Some(Packet::PubRec(rumqttc::mqttbytes::v4::PubRec::new(7)))
    );
    ctl.send(Packet::PubRel(rumqttc::mqttbytes::v4::PubRel::new(7)))
        .await;
    assert_eq!(
        ctl.next().await,
        Some(Packet::PubComp(rumqttc::mqttbytes::v4::PubComp::new(7)))
    );
    let p = screen.next_publish().await;
    assert_eq!((p.payload.as_ref(), p.qos), (&b"q2"[..], QoS::AtLeastOnce));

    // After UNSUBSCRIBE nothing more arrives: the next message is on a topic still held.
    let mut unsub = rumqttc::mqttbytes::v4::Unsubscribe::new(&manifest);
    unsub.pkid = 41;
    screen.send(Packet::Unsubscribe(unsub)).await;
    assert_eq!(
        screen.next().await,
        Some(Packet::UnsubAck(rumqttc::mqttbytes::v4::UnsubAck::new(41)))
    );
    let alert = topic("lc-a1", Kind::Alert);
    screen.subscribe(&[&alert]).await;
    ctl.publish(&manifest, b"gone", false).await;
    ctl.publish(&alert, b"alert", false).await;
    assert_eq!(screen.next_publish().await.payload.as_ref(), b"alert");
}
