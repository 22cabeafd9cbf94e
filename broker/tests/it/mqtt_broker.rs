//! The embedded broker over real TCP: authentication, retained messages, large payloads,
//! port 0 and shutdown.

use crate::support;

use std::net::SocketAddr;

use gatecast_broker::{BrokerConfig, EmbeddedBroker};
use playlists::topics::{topic, Kind, CONTROLLER_CLIENT_ID, CONTROLLER_USER};
use support::{connect, Creds};

fn start_broker(creds: std::sync::Arc<Creds>) -> EmbeddedBroker {
    let addr: SocketAddr = "127.0.0.1:0".parse().unwrap();
    EmbeddedBroker::start(BrokerConfig::new(addr), creds).expect("embedded broker starts")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_embedded_broker_checks_credentials() {
    let creds = Creds::with(&[
        ("lc-a1", "pw-a1"),
        ("lc-b2", "pw-b2"),
        (CONTROLLER_USER, "pw-c"),
    ]);
    creds.disable("lc-b2");
    let broker = start_broker(creds.clone());
    let port = broker.local_addr().port();
    assert_ne!(port, 0, "port 0 was resolved to the real port");

    connect(port, "lc-a1", "lc-a1", "pw-a1")
        .await
        .expect("good credentials are accepted");
    let wrong = connect(port, "lc-a1", "lc-a1", "pw-b2").await;
    assert!(wrong.is_err(), "wrong password accepted");
    let unknown = connect(port, "nobody", "nobody", "pw-a1").await;
    assert!(unknown.is_err(), "unknown user accepted");
    let disabled = connect(port, "lc-b2", "lc-b2", "pw-b2").await;
    assert!(disabled.is_err(), "disabled screen accepted");
    let hijack = connect(port, CONTROLLER_CLIENT_ID, "lc-a1", "pw-a1").await;
    assert!(hijack.is_err(), "a screen took the controller's client id");
    connect(port, CONTROLLER_CLIENT_ID, CONTROLLER_USER, "pw-c")
        .await
        .expect("the controller may use its client id");

    // Credentials are looked up per connection: enabling/disabling takes effect at once.
    creds.disable("lc-a1");
    assert!(connect(port, "lc-a1", "lc-a1", "pw-a1").await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_embedded_broker_connection_without_credentials_is_refused() {
    let broker = start_broker(Creds::with(&[("lc-a1", "pw-a1")]));
    let mut options = rumqttc::MqttOptions::new("anon", "127.0.0.1", broker.local_addr().port());
    options.set_keep_alive(std::time::Duration::from_secs(30));
    let (_client, mut eventloop) = rumqttc::AsyncClient::new(options, 8);
    let first = tokio::time::timeout(support::DEADLINE, eventloop.poll())
        .await
        .expect("an answer before the deadline");
    assert!(first.is_err(), "anonymous connection accepted: {first:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_embedded_broker_retained_reaches_late_subscriber_and_large_payloads_pass() {
    let broker = start_broker(Creds::with(&[
        ("lc-a1", "pw-a1"),
        (CONTROLLER_USER, "pw-c"),
    ]));
    let port = broker.local_addr().port();
    let mut controller = connect(port, "ctl-test", CONTROLLER_USER, "pw-c")
        .await
        .unwrap();

    // 6 MiB: far above rumqttd's and rumqttc's 10-20 KiB defaults, below the 8 MiB limit.
    let big: Vec<u8> = (0..6 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let manifest = topic("lc-a1", Kind::Manifest);
    controller.publish(&manifest, big.clone(), true).await;
    let alert = topic("lc-a1", Kind::Alert);
    controller.publish(&alert, b"alert-1".to_vec(), true).await;

    let mut screen = connect(port, "lc-a1", "lc-a1", "pw-a1").await.unwrap();
    assert!(screen.subscribe(&manifest).await);
    let got = screen
        .next_publish()
        .await
        .expect("retained manifest delivered");
    assert_eq!(got.topic, manifest);
    assert!(
        got.payload.as_ref() == big.as_slice(),
        "payload changed in transit"
    );
    assert!(got.retain, "delivered as a retained message");

    assert!(screen.subscribe(&alert).await);
    let got = screen
        .next_publish()
        .await
        .expect("retained alert delivered");
    assert_eq!(
        (got.topic.as_str(), got.payload.as_ref()),
        (alert.as_str(), &b"alert-1"[..])
    );

    // A newer retained message replaces the old one for the next late subscriber.
    controller.publish(&alert, b"alert-2".to_vec(), true).await;
    let live = screen.next_publish().await.expect("live alert delivered");
    assert_eq!(live.payload.as_ref(), b"alert-2");
    let mut late = connect(port, "lc-a1", "lc-a1", "pw-a1").await.unwrap();
    assert!(late.subscribe(&alert).await);
    let got = late.next_publish().await.expect("retained alert delivered");
    assert_eq!(got.payload.as_ref(), b"alert-2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_embedded_broker_shutdown_closes_listener_and_connections() {
    let broker = start_broker(Creds::with(&[("lc-a1", "pw-a1")]));
    let addr = broker.local_addr();
    let mut screen = connect(addr.port(), "lc-a1", "lc-a1", "pw-a1")
        .await
        .unwrap();

    tokio::task::spawn_blocking(move || broker.shutdown())
        .await
        .unwrap();

    assert!(
        screen.closed().await,
        "client connection still open after shutdown"
    );
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "listener still accepts after shutdown"
    );
}
