//! Receipt batches at the protocol's size limits through the real controller binary
//! (docs/security.md row 51): a screen's valid batch of about 3 MiB (1000 receipts at the
//! per-receipt limits, docs/protocol.md §13) is stored and acked, not dropped by the
//! controller's MQTT client and resent forever; through the embedded broker and through
//! mosquitto with the shipped `message_size_limit`.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use gatecast_tests::{
    free_port, heavy_chain, require_program, wait_until, Controller, ControllerOptions, Mosquitto,
    DEADLINE,
};
use playlists::keys::{KeySet, PublicKey, SecretKey};
use playlists::receipt::{sign_batch, verify_ack};
use playlists::topics::{topic, Kind};
use rumqttc::{Client, Connection, Event, MqttOptions, Packet, QoS};
use serde_json::Value;

const SCREEN: &str = "lc-a1";

/// The next incoming packet that `want` accepts, within [`DEADLINE`].
fn next(conn: &mut Connection, what: &str, want: impl Fn(&Packet) -> bool) -> Packet {
    let deadline = Instant::now() + DEADLINE;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        assert!(!left.is_zero(), "no {what} within {DEADLINE:?}");
        match conn.recv_timeout(left) {
            Ok(Ok(Event::Incoming(p))) if want(&p) => return p,
            Ok(Ok(_)) => {}
            Ok(Err(e)) => panic!("MQTT connection failed while waiting for {what}: {e}"),
            Err(_) => panic!("no {what} within {DEADLINE:?}"),
        }
    }
}

/// Connects to `broker` as [`SCREEN`] (the packet limit every gatecast party uses), sends a
/// batch of 1000 heavy receipts signed by `device` and asserts that the controller acks all of
/// them and stores them.
fn send_3_mib_batch(ctl: &Controller, broker: SocketAddr, enrolled: &Value, device: &SecretKey) {
    let controller = KeySet::from_keys([PublicKey::from_base64(
        enrolled["controller_key"].as_str().expect("controller_key"),
    )
    .expect("a controller key")]);
    let mut o = MqttOptions::new(SCREEN, broker.ip().to_string(), broker.port());
    o.set_credentials(
        SCREEN,
        enrolled["mqtt_password"].as_str().expect("password"),
    )
    .set_keep_alive(Duration::from_secs(30))
    .set_max_packet_size(
        playlists::envelope::MAX_MQTT_PACKET_BYTES,
        playlists::envelope::MAX_MQTT_PACKET_BYTES,
    );
    let (client, mut conn) = Client::new(o, 16);
    client
        .subscribe(topic(SCREEN, Kind::Ack), QoS::AtLeastOnce)
        .expect("subscribe queued");
    next(&mut conn, "SUBACK", |p| matches!(p, Packet::SubAck(_)));

    let env = sign_batch(SCREEN, &heavy_chain(SCREEN, 1000), device).to_json();
    let mib = env.len() as f64 / (1024.0 * 1024.0);
    assert!((2.5..4.0).contains(&mib), "the batch is {mib:.2} MiB");
    let sent = Instant::now();
    client
        .publish(topic(SCREEN, Kind::Receipts), QoS::AtLeastOnce, false, env)
        .expect("publish queued");
    let Packet::Publish(ack) = next(&mut conn, "ack", |p| matches!(p, Packet::Publish(_))) else {
        unreachable!("only a PUBLISH is accepted")
    };
    let own = playlists::receipt::OwnChain {
        screen: SCREEN,
        epoch: 1,
        key_id: &device.key_id(),
    };
    let ack = verify_ack(&ack.payload, &controller, &own).expect("the ack verifies");
    assert_eq!(ack.upto_seq, 1000, "the whole 3 MiB batch is acked");
    eprintln!(
        "a {mib:.2} MiB batch of 1000 receipts acked in {:?}",
        sent.elapsed()
    );
    let stored = ctl.receipts(SCREEN).expect("the receipts API");
    assert_eq!(stored.len(), 1000, "every receipt stored");
    let _ = client.disconnect();
}

#[test]
fn attack_receipt_batch_of_3_mib_is_acked_by_the_controller_binary() {
    let tmp = gatecast_tests::TestDir::new("receipt_size");
    let ctl = Controller::start(&tmp.path().join("controller"), ControllerOptions::default());
    let device = SecretKey::from_seed([7; 32]);
    let enrolled = ctl.enrol_key(SCREEN, "lao-cai", &device);
    send_3_mib_batch(&ctl, ctl.mqtt.expect("embedded broker"), &enrolled, &device);
}

#[test]
fn attack_receipt_batch_of_3_mib_is_acked_through_mosquitto() {
    let test = "attack_receipt_batch_of_3_mib_is_acked_through_mosquitto";
    if !require_program(test, "mosquitto", "mosquitto") {
        return;
    }
    let tmp = gatecast_tests::TestDir::new("receipt_size_mosquitto");
    let port = free_port();
    let opts = ControllerOptions {
        broker: Some(format!("mqtt://127.0.0.1:{port}")),
        ..ControllerOptions::default()
    };
    let mut ctl = Controller::start(&tmp.path().join("controller"), opts);
    let device = SecretKey::from_seed([7; 32]);
    let enrolled = ctl.enrol_key(SCREEN, "lao-cai", &device);
    // `broker-acl` opens the database, which `serve` keeps locked: stop the controller first.
    ctl.stop();
    let files = tmp.path().join("broker-files");
    ctl.broker_acl(&files);
    let _broker = Mosquitto::start(tmp.path(), &files, port);
    ctl.start_again();
    wait_until("controller connected to mosquitto", DEADLINE, || {
        (ctl.healthz()?["mqtt_connected"] == true).then_some(())
    });
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    send_3_mib_batch(&ctl, addr, &enrolled, &device);
}
