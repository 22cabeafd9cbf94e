//! The embedded broker's MQTTS listener (docs/security.md §3 rows 60 and 62): TLS with the
//! caller's certificate, the same session code behind it, no plain listener when it is off.

use crate::support::{self, connect_to, Creds};

use std::sync::Arc;
use std::time::Duration;

use gatecast_broker::{BrokerConfig, BrokerTls, EmbeddedBroker};
use gatecast_testkit::TestPki;
use gatecast_tls::{ClientTrust, ServerTls};
use playlists::topics::{topic, Kind, CONTROLLER_USER};
use tokio::io::AsyncReadExt;

fn tls_only_broker(pki: &TestPki, creds: Arc<Creds>) -> EmbeddedBroker {
    let tls = ServerTls::from_files(&pki.server.cert, &pki.server.key).unwrap();
    let mut config = BrokerConfig::new("127.0.0.1:0".parse().unwrap());
    config.plain = false;
    config.connect_timeout = Duration::from_secs(2);
    config.tls = Some(BrokerTls {
        listen: "127.0.0.1:0".parse().unwrap(),
        acceptor: tls.acceptor(),
    });
    EmbeddedBroker::start(config, creds).expect("broker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtts_carries_retained_messages_and_names_a_wrong_ca() {
    let pki = TestPki::new(&["localhost", "127.0.0.1"]);
    let broker = tls_only_broker(
        &pki,
        Creds::with(&[("lc-a1", "pw-a1"), (CONTROLLER_USER, "pw-c")]),
    );
    assert_eq!(broker.plain_addr(), None);
    let port = broker.tls_addr().expect("TLS listener").port();
    assert_eq!(broker.local_addr().port(), port);
    let ca = ClientTrust::CaFile(pki.ca_pem.clone());

    let mut controller = connect_to("localhost", port, Some(&ca), "ctl", CONTROLLER_USER, "pw-c")
        .await
        .unwrap();
    let manifest = topic("lc-a1", Kind::Manifest);
    let big: Vec<u8> = (0..2 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    controller.publish(&manifest, big.clone(), true).await;
    let mut screen = connect_to("127.0.0.1", port, Some(&ca), "lc-a1", "lc-a1", "pw-a1")
        .await
        .unwrap();
    assert!(screen.subscribe(&manifest).await);
    let got = screen
        .next_publish()
        .await
        .expect("retained manifest over TLS");
    assert_eq!(got.payload.as_ref(), big.as_slice());

    let wrong = ClientTrust::CaFile(pki.wrong_ca_pem.clone());
    let err = connect_to("localhost", port, Some(&wrong), "lc-a1", "lc-a1", "pw-a1")
        .await
        .err()
        .expect("a server of another CA is refused");
    assert!(err.starts_with("unknown issuer"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_plain_mqtt_and_silence_on_the_mqtts_port_are_closed() {
    let pki = TestPki::new(&["localhost"]);
    let broker = tls_only_broker(&pki, Creds::with(&[("lc-a1", "pw-a1")]));
    let port = broker.tls_addr().unwrap().port();

    // A plain MQTT client gets no session, and is told it spoke to a TLS port.
    let err = connect_to("127.0.0.1", port, None, "lc-a1", "lc-a1", "pw-a1")
        .await
        .err()
        .expect("plain MQTT on the TLS port is refused");
    assert_eq!(err, gatecast_tls::IS_TLS_WORDS, "{err}");

    // A connection that never starts its handshake is closed by the connect timeout.
    let mut idle = tokio::net::TcpStream::connect(("127.0.0.1", port))
        .await
        .unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(support::DEADLINE, idle.read(&mut buf))
        .await
        .expect("closed before the test deadline");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");

    // The broker still serves.
    let ca = ClientTrust::CaFile(pki.ca_pem.clone());
    connect_to("localhost", port, Some(&ca), "lc-a1", "lc-a1", "pw-a1")
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_idle_connections_take_no_tls_handshake_slot() {
    const IDLE: usize = 100;
    let pki = TestPki::new(&["localhost"]);
    let broker = tls_only_broker(&pki, Creds::with(&[("lc-a1", "pw-a1")]));
    let port = broker.tls_addr().unwrap().port();
    // More idle connections than the broker runs handshakes at once (64), none sending a byte.
    let mut idle = Vec::new();
    for _ in 0..IDLE {
        idle.push(
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .unwrap(),
        );
    }
    // A real screen still gets its session: had the idle connections taken the slots, it
    // would wait for their connect timeout (2 s), which closes them first.
    let ca = ClientTrust::CaFile(pki.ca_pem.clone());
    connect_to("localhost", port, Some(&ca), "lc-a1", "lc-a1", "pw-a1")
        .await
        .expect("the screen connects past the idle connections");
    let mut buf = [0u8; 1];
    for (i, s) in idle.iter().enumerate() {
        match s.try_read(&mut buf) {
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            other => panic!("idle connection {i} was closed before the screen got in: {other:?}"),
        }
    }
}
