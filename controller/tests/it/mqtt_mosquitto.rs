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
        (playlists::topics::POLICY_TOPIC.into(), b"chain".to_vec()),
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

    // Every screen reads the policy topic (docs/protocol.md §6, §19); a screen's publish on
    // it is refused, so B still gets the controller's chain.
    a.publish(playlists::topics::POLICY_TOPIC, b"forged".to_vec(), true)
        .await;
    a.publish(&topic("scr-a", Kind::Status), b"barrier 2".to_vec(), false)
        .await;
    tokio::time::timeout(DEADLINE, inbound.recv())
        .await
        .expect("A's second status reaches the controller")
        .unwrap();
    let mut b = connect(broker.port, "scr-b", "scr-b", &acc.b)
        .await
        .unwrap();
    assert!(b.subscribe(playlists::topics::POLICY_TOPIC).await);
    let p = b
        .next_publish()
        .await
        .expect("B gets the retained policy chain");
    assert_eq!(p.topic, playlists::topics::POLICY_TOPIC);
    assert_eq!(
        p.payload.as_ref(),
        b"chain",
        "a screen replaced the policy chain"
    );
    handle.shutdown().await;
}

/// Connects with `clean`; returns CONNACK's session-present flag and the client, whose event
/// loop is polled by a task until the connection ends.
async fn connect_raw(
    port: u16,
    id: &str,
    user: &str,
    password: &str,
    clean: bool,
) -> (bool, rumqttc::AsyncClient) {
    let mut o = rumqttc::MqttOptions::new(id, "127.0.0.1", port);
    o.set_credentials(user, password)
        .set_keep_alive(Duration::from_secs(30))
        .set_clean_session(clean);
    let (client, mut el) = rumqttc::AsyncClient::new(o, 16);
    let present = tokio::time::timeout(DEADLINE, async {
        loop {
            match el.poll().await {
                Ok(rumqttc::Event::Incoming(rumqttc::Packet::ConnAck(a))) => {
                    assert_eq!(a.code, rumqttc::ConnectReturnCode::Success, "{id} refused");
                    return a.session_present;
                }
                Ok(_) => {}
                Err(e) => panic!("{id}: {e}"),
            }
        }
    })
    .await
    .expect("CONNACK before the deadline");
    tokio::spawn(async move { while el.poll().await.is_ok() {} });
    (present, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_client_id_squatting_mosquitto() {
    let test = "attack_client_id_squatting_mosquitto";
    if !require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let (broker, acc) = start_mosquitto().await;
    let mut ctl = connect(
        broker.port,
        CONTROLLER_CLIENT_ID,
        CONTROLLER_USER,
        &acc.controller,
    )
    .await
    .unwrap();
    let mut a = connect(broker.port, "scr-a", "scr-a", &acc.a)
        .await
        .unwrap();
    let manifest = topic("scr-a", Kind::Manifest);
    assert!(a.subscribe(&manifest).await);

    // Screen B, with its own valid password, connects with the controller's client id and
    // with screen A's: with the shipped configuration its client id is its username, so it
    // knocks nobody off.
    let _squat_ctl = connect(broker.port, CONTROLLER_CLIENT_ID, "scr-b", &acc.b).await;
    let _squat_a = connect(broker.port, "scr-a", "scr-b", &acc.b).await;

    let kicked = tokio::time::timeout(Duration::from_secs(2), ctl.closed()).await;
    assert!(
        kicked.is_err() || !kicked.unwrap(),
        "screen B disconnected the controller by taking its client id"
    );
    ctl.publish(&manifest, b"m1".to_vec(), false).await;
    let got = a.next_publish().await;
    assert_eq!(
        got.map(|p| p.payload.to_vec()),
        Some(b"m1".to_vec()),
        "screen B disconnected screen A by taking its client id"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_persistent_session_flood_mosquitto() {
    let test = "attack_persistent_session_flood_mosquitto";
    if !require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let (broker, acc) = start_mosquitto().await;
    // Persistent sessions under fresh client ids: with the shipped configuration they are all
    // the one session of the screen's username, so the second finds the first's session.
    let (present, c) = connect_raw(broker.port, "flood-1", "scr-a", &acc.a, false).await;
    assert!(!present);
    c.disconnect().await.unwrap();
    let mut later = None;
    for n in 2..=5 {
        let (present, c) =
            connect_raw(broker.port, &format!("flood-{n}"), "scr-a", &acc.a, false).await;
        assert!(
            present,
            "client id flood-{n} got a session of its own: one screen can pile up sessions"
        );
        let _ = c.disconnect().await;
        later = Some(c);
    }
    drop(later);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_disabled_screen_keeps_its_live_session_mosquitto() {
    let test = "attack_disabled_screen_keeps_its_live_session_mosquitto";
    if !require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let (broker, acc) = start_mosquitto().await;
    let mut a = connect(broker.port, "scr-a", "scr-a", &acc.a)
        .await
        .unwrap();
    let mut b = connect(broker.port, "scr-b", "scr-b", &acc.b)
        .await
        .unwrap();
    // The documented procedure after disabling scr-a (docs/operations.md): the files written
    // again without it (`broker-acl mosquitto` leaves disabled screens out), then a reload.
    write_mosquitto_files(
        &broker._dir.path().join("broker"),
        &[("scr-b".to_string(), hash_mqtt_password(&acc.b))],
        &acc.controller,
    )
    .unwrap();
    broker._broker.reload();
    assert!(
        a.closed().await,
        "the disabled screen's live session stayed open"
    );
    assert!(
        connect(broker.port, "scr-a", "scr-a", &acc.a)
            .await
            .is_err(),
        "the disabled screen logged in again"
    );
    assert!(
        b.subscribe(&topic("scr-b", Kind::Ack)).await,
        "scr-b was cut too"
    );
}
