//! Real mosquitto with the files from `acl::write_mosquitto_files`: our `$7$` hashes log in,
//! and the ACL keeps screens apart. Skipped (loudly) when mosquitto is not installed.

use crate::mqtt_support;

use std::sync::Arc;
use std::time::Duration;

use gatecast_controller::acl::write_mosquitto_files;
use gatecast_controller::mqtt::client::{self, ClientConfig, Inbound};
use gatecast_controller::mqtt::password::{generate_mqtt_password, hash_mqtt_password};
use gatecast_controller::mqtt::{CONTROLLER_CLIENT_ID, CONTROLLER_USER};
use gatecast_testkit::{free_port, require_program};
use mqtt_support::{connect, wait_until, Retained, DEADLINE};
use playlists::topics::{topic, Kind};

/// A mosquitto process started by a test (the end-to-end harness's, on the files
/// `write_mosquitto_files` wrote), and the directory holding its files; killed when dropped.
struct Mosquitto {
    _broker: gatecast_tests::Mosquitto,
    port: u16,
    _dir: tempfile::TempDir,
}

struct Accounts {
    a: String,
    b: String,
    controller: String,
}

/// Writes the password and ACL files for screens `scr-a` and `scr-b` plus the controller (the
/// screens as stored hashes, the controller as plaintext) and starts mosquitto on a free port.
async fn start_mosquitto() -> (Mosquitto, Accounts) {
    let accounts = Accounts {
        a: generate_mqtt_password(),
        b: generate_mqtt_password(),
        controller: generate_mqtt_password(),
    };
    let dir = tempfile::tempdir().unwrap();
    let files = dir.path().join("broker");
    write_mosquitto_files(
        &files,
        &[
            ("scr-a".to_string(), hash_mqtt_password(&accounts.a)),
            ("scr-b".to_string(), hash_mqtt_password(&accounts.b)),
        ],
        &accounts.controller,
    )
    .unwrap();

    let broker = gatecast_tests::Mosquitto::start(dir.path(), &files, free_port());
    let port = broker.port;
    (
        Mosquitto {
            _broker: broker,
            port,
            _dir: dir,
        },
        accounts,
    )
}

fn controller_config(port: u16, password: &str) -> ClientConfig {
    let mut cfg = ClientConfig::new("127.0.0.1", port, password);
    cfg.backoff_initial = Duration::from_millis(20);
    cfg.backoff_max = Duration::from_millis(200);
    cfg
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_mosquitto_accepts_generated_passwords() {
    let test = "mqtt_mosquitto_accepts_generated_passwords";
    if !require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let (broker, acc) = start_mosquitto().await;

    connect(broker.port, "scr-a", "scr-a", &acc.a)
        .await
        .expect("screen A logs in with its password (stored as a $7$ hash)");
    assert!(connect(broker.port, "scr-a", "scr-a", &acc.b)
        .await
        .is_err());
    assert!(connect(broker.port, "scr-x", "scr-x", &acc.a)
        .await
        .is_err());
    assert!(connect(broker.port, "anyone", CONTROLLER_USER, &acc.a)
        .await
        .is_err());

    let (handle, _inbound) = client::start(
        controller_config(broker.port, &acc.controller),
        Arc::new(Retained::default()),
    );
    wait_until("controller connected to mosquitto", || {
        let m = handle.metrics();
        m.connected && m.republishes == 1
    })
    .await;
    assert_eq!(handle.metrics().connection_errors, 0);
    handle.shutdown().await;
    // The default client id is the controller's.
    assert_eq!(
        ClientConfig::new("h", 1, "p").client_id,
        CONTROLLER_CLIENT_ID
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mqtt_mosquitto_acl_keeps_screens_apart() {
    let test = "mqtt_mosquitto_acl_keeps_screens_apart";
    if !require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let (broker, acc) = start_mosquitto().await;

    // The controller retains both screens' manifests through its republish on connect.
    let retained = Arc::new(Retained::default());
    retained.set(vec![
        (topic("scr-b", Kind::Manifest), b"manifest of B".to_vec()),
        (topic("scr-a", Kind::Manifest), b"manifest of A".to_vec()),
    ]);
    let (handle, mut inbound) =
        client::start(controller_config(broker.port, &acc.controller), retained);
    wait_until("controller connected and republished", || {
        handle.metrics().republishes == 1
    })
    .await;

    let mut a = connect(broker.port, "scr-a", "scr-a", &acc.a)
        .await
        .unwrap();
    // B's manifest first: if the ACL let it through it would arrive before A's own.
    a.subscribe(&topic("scr-b", Kind::Manifest)).await;
    a.subscribe("gatecast/v1/screens/+/manifest").await;
    assert!(a.subscribe(&topic("scr-a", Kind::Manifest)).await);
    assert!(a.subscribe(&topic("scr-a", Kind::Ack)).await);
    let first = a.next_publish().await.expect("A gets its own manifest");
    assert_eq!(first.topic, topic("scr-a", Kind::Manifest));
    assert_eq!(first.payload.as_ref(), b"manifest of A");

    // Live messages: B's manifest, then A's ack as a barrier. A must see only the ack
    // (and possibly further copies of its own manifest from its overlapping subscriptions).
    handle
        .publish(topic("scr-b", Kind::Manifest), b"B again".to_vec(), true)
        .await
        .unwrap();
    handle
        .publish(topic("scr-a", Kind::Ack), b"barrier".to_vec(), false)
        .await
        .unwrap();
    loop {
        let p = a.next_publish().await.expect("the barrier reaches A");
        assert!(
            !p.topic.contains("scr-b"),
            "screen A received {} ({:?})",
            p.topic,
            p.payload
        );
        if p.topic == topic("scr-a", Kind::Ack) {
            assert_eq!(p.payload.as_ref(), b"barrier");
            break;
        }
    }

    // A writes to B's receipts and status (refused by the ACL), then to its own receipts.
    a.publish(&topic("scr-b", Kind::Receipts), b"forged".to_vec(), false)
        .await;
    a.publish(&topic("scr-b", Kind::Status), b"forged".to_vec(), false)
        .await;
    a.publish(
        &topic("scr-a", Kind::Receipts),
        b"own batch".to_vec(),
        false,
    )
    .await;
    let got = tokio::time::timeout(DEADLINE, inbound.recv())
        .await
        .expect("A's own receipts reach the controller")
        .unwrap();
    assert_eq!(
        got,
        Inbound::Receipts {
            screen: "scr-a".into(),
            payload: b"own batch".to_vec()
        }
    );
    // A's own status, sent last, is the next message: the forged status for B never arrived.
    a.publish(&topic("scr-a", Kind::Status), b"barrier".to_vec(), false)
        .await;
    let got = tokio::time::timeout(DEADLINE, inbound.recv())
        .await
        .expect("A's own status reaches the controller")
        .unwrap();
    assert_eq!(
        got,
        Inbound::Status {
            screen: "scr-a".into(),
            payload: b"barrier".to_vec()
        },
        "the controller received something through the ACL"
    );
    assert_eq!(handle.metrics().dropped_inbound, 0);
    handle.shutdown().await;
}
