//! The controller's MQTT client against the embedded broker over real TCP: republish and
//! resubscribe after a broker restart, inbound routing and limits, publish and shutdown.

use crate::mqtt_support;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use gatecast_broker::{BrokerConfig, EmbeddedBroker};
use gatecast_controller::mqtt::client::{self, ClientConfig, Inbound, MqttError};
use gatecast_controller::mqtt::CONTROLLER_USER;
use mqtt_support::{connect, wait_until, Creds, Retained, DEADLINE};
use playlists::topics::{topic, Kind};

fn creds() -> Arc<Creds> {
    Creds::with(&[
        ("lc-a1", "pw-a1"),
        ("lc-b2", "pw-b2"),
        (CONTROLLER_USER, "pw-c"),
    ])
}

fn start_broker(addr: SocketAddr) -> EmbeddedBroker {
    EmbeddedBroker::start(BrokerConfig::new(addr), creds()).expect("embedded broker starts")
}

fn client_config(port: u16) -> ClientConfig {
    let mut cfg = ClientConfig::new("127.0.0.1", port, "pw-c");
    cfg.backoff_initial = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(200);
    cfg
}

async fn next_inbound(rx: &mut tokio::sync::mpsc::Receiver<Inbound>) -> Inbound {
    tokio::time::timeout(DEADLINE, rx.recv())
        .await
        .expect("an inbound message before the deadline")
        .expect("inbound channel open")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_client_republishes_and_resubscribes_after_broker_restart() {
    let broker = start_broker("127.0.0.1:0".parse().unwrap());
    let addr = broker.local_addr();
    let manifest = topic("lc-a1", Kind::Manifest);
    let retained = Arc::new(Retained::default());
    retained.set(vec![(manifest.clone(), b"manifest v1".to_vec())]);

    let (handle, mut inbound) = client::start(client_config(addr.port()), retained.clone());
    wait_until("first connect and republish", || {
        let m = handle.metrics();
        m.connected && m.republishes == 1
    })
    .await;

    let mut screen = connect(addr.port(), "lc-a1", "lc-a1", "pw-a1")
        .await
        .unwrap();
    assert!(screen.subscribe(&manifest).await);
    let got = screen
        .next_publish()
        .await
        .expect("retained manifest after start");
    assert_eq!(got.payload.as_ref(), b"manifest v1");

    // Restart the broker: it loses every retained message, session and subscription.
    tokio::task::spawn_blocking(move || broker.shutdown())
        .await
        .unwrap();
    wait_until("client notices the lost broker", || {
        !handle.metrics().connected
    })
    .await;
    retained.set(vec![(manifest.clone(), b"manifest v2".to_vec())]);
    let broker = start_broker(addr);

    wait_until("reconnect and second republish", || {
        let m = handle.metrics();
        m.connected && m.republishes == 2
    })
    .await;
    let m = handle.metrics();
    assert_eq!(m.reconnects, 1);
    assert!(m.connection_errors >= 1);

    // The fresh broker only knows what the client republished, read anew from the source.
    let mut late = connect(addr.port(), "lc-a1", "lc-a1", "pw-a1")
        .await
        .unwrap();
    assert!(late.subscribe(&manifest).await);
    let got = late
        .next_publish()
        .await
        .expect("retained manifest after restart");
    assert_eq!(got.payload.as_ref(), b"manifest v2");
    assert!(got.retain);

    // The client resubscribed on the new broker, which had no session for it.
    let mut other = connect(addr.port(), "lc-b2", "lc-b2", "pw-b2")
        .await
        .unwrap();
    other
        .publish(
            &topic("lc-b2", Kind::Status),
            b"{\"online\":true}".to_vec(),
            true,
        )
        .await;
    assert_eq!(
        next_inbound(&mut inbound).await,
        Inbound::Status {
            screen: "lc-b2".into(),
            payload: b"{\"online\":true}".to_vec()
        }
    );
    handle.shutdown().await;
    drop(broker);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_client_routes_inbound_and_drops_bad_messages() {
    let broker = start_broker("127.0.0.1:0".parse().unwrap());
    let port = broker.local_addr().port();
    let mut cfg = client_config(port);
    cfg.max_inbound_payload = 1024;
    let (handle, mut inbound) = client::start(cfg, Arc::new(Retained::default()));
    wait_until("connected and subscribed", || {
        handle.metrics().republishes == 1
    })
    .await;

    let mut screen = connect(port, "lc-a1", "lc-a1", "pw-a1").await.unwrap();
    // The embedded broker's topic ACL lets a screen publish only to its own topics, so the
    // topic with a bad screen id comes from another controller-user connection (a broker
    // without ACL, or a compromised account, could deliver it). Both bad messages go to the
    // `+/status` filter before the good one (each is routed before its PUBACK), so the client
    // sees them first.
    let mut rogue = connect(port, "rogue", CONTROLLER_USER, "pw-c")
        .await
        .unwrap();
    rogue
        .publish(
            "gatecast/v1/screens/NOT_A_SCREEN/status",
            b"x".to_vec(),
            false,
        )
        .await;
    screen
        .publish(&topic("lc-a1", Kind::Status), vec![b'x'; 2000], false)
        .await;
    screen
        .publish(&topic("lc-a1", Kind::Status), b"ok".to_vec(), false)
        .await;
    // The oversized status is passed on by its size alone (refused as `too_large`).
    assert_eq!(
        next_inbound(&mut inbound).await,
        Inbound::StatusTooLarge {
            screen: "lc-a1".into(),
            bytes: 2000
        }
    );
    assert_eq!(
        next_inbound(&mut inbound).await,
        Inbound::Status {
            screen: "lc-a1".into(),
            payload: b"ok".to_vec()
        }
    );
    assert_eq!(handle.metrics().dropped_inbound, 1);

    screen
        .publish(&topic("lc-a1", Kind::Receipts), b"batch".to_vec(), false)
        .await;
    assert_eq!(
        next_inbound(&mut inbound).await,
        Inbound::Receipts {
            screen: "lc-a1".into(),
            payload: b"batch".to_vec()
        }
    );
    assert!(inbound.try_recv().is_err(), "nothing else was forwarded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_client_publishes_in_order_and_stops_cleanly() {
    let broker = start_broker("127.0.0.1:0".parse().unwrap());
    let port = broker.local_addr().port();
    let (handle, _inbound) = client::start(client_config(port), Arc::new(Retained::default()));

    let mut screen = connect(port, "lc-a1", "lc-a1", "pw-a1").await.unwrap();
    let ack = topic("lc-a1", Kind::Ack);
    assert!(screen.subscribe(&ack).await);
    for i in 0..20u8 {
        handle.publish(ack.clone(), vec![i], false).await.unwrap();
    }
    for i in 0..20u8 {
        let got = screen.next_publish().await.expect("ack delivered");
        assert_eq!(got.payload.as_ref(), [i], "publishes arrive in order");
        assert!(!got.retain);
    }

    let too_big = vec![0u8; gatecast_controller::mqtt::MAX_PAYLOAD_SIZE + 1];
    assert!(matches!(
        handle.publish(ack.clone(), too_big, false).await,
        Err(MqttError::TooLarge { .. })
    ));

    handle.shutdown().await;
    assert!(!handle.metrics().connected);
    assert!(matches!(
        handle.publish(ack, b"late".to_vec(), false).await,
        Err(MqttError::Closed)
    ));
}

/// Receipts batches skip the status size limit, so the inbound queue is bounded in bytes: a
/// batch that does not fit in what is left waits, then is dropped (counted), and the bytes come
/// back once the receiver releases them (`docs/security.md` §3 row 48).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_inbound_queue_is_bounded_in_bytes() {
    let broker = start_broker("127.0.0.1:0".parse().unwrap());
    let port = broker.local_addr().port();
    let mut cfg = client_config(port);
    let bound = client::InboundBytes::new(1000);
    cfg.inbound_bytes = Some(bound.clone());
    cfg.inbound_wait = Duration::from_millis(200);
    let (handle, mut inbound) = client::start(cfg, Arc::new(Retained::default()));
    wait_until("connected and subscribed", || {
        handle.metrics().republishes == 1
    })
    .await;
    let mut screen = connect(port, "lc-a1", "lc-a1", "pw-a1").await.unwrap();
    let receipts = topic("lc-a1", Kind::Receipts);
    // Nobody routes yet: the first batch fits, the second does not.
    screen.publish(&receipts, vec![b'1'; 600], false).await;
    screen.publish(&receipts, vec![b'2'; 600], false).await;
    wait_until("the second batch dropped", || {
        handle.metrics().dropped_inbound == 1
    })
    .await;
    assert_eq!(bound.available(), 400, "the queued batch holds its bytes");
    let first = next_inbound(&mut inbound).await;
    assert_eq!(first.payload_len(), 600);
    bound.release(first.payload_len());
    // Room again: the next batch is passed on.
    screen.publish(&receipts, vec![b'3'; 600], false).await;
    let third = next_inbound(&mut inbound).await;
    assert_eq!(
        third,
        Inbound::Receipts {
            screen: "lc-a1".into(),
            payload: vec![b'3'; 600]
        }
    );
}
