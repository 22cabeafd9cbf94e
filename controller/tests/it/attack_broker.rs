//! Attacks through the broker on the real controller (in-process, embedded broker, screens
//! registered and enrolled over HTTP): a disabled screen keeping its live connection, and a
//! flood of CONNECTs with the controller's public username. The threat table is
//! `docs/security.md` §3.

use crate::api_support;
use crate::ingest_support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use api_support::*;
use bytes::BytesMut;
use ingest_support::*;
use playlists::keys::SecretKey;
use playlists::receipt::sign_batch;
use playlists::topics::{topic, Kind};
use rumqttc::QoS;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const A: &str = "lc-a1";
const B: &str = "lc-b2";

/// A client on the controller's own account, publishing `payload` on `t` (a broker without
/// eviction, e.g. mosquitto before its password file is reloaded, lets a disabled screen's
/// messages through like this).
async fn forge(ctl: &Ctl, dir: &std::path::Path, items: Vec<(String, Vec<u8>)>) {
    let pw = std::fs::read_to_string(dir.join(gatecast_controller::config::files::MQTT_PASSWORD))
        .unwrap();
    let (client, mut el) = mqtt_connect(
        ctl.mqtt_addr(),
        "forger",
        gatecast_controller::mqtt::CONTROLLER_USER,
        pw.trim(),
    )
    .await
    .expect("forger connects");
    tokio::spawn(async move { while el.poll().await.is_ok() {} });
    for (t, payload) in items {
        client
            .publish(t, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_disabled_screen_keeps_its_live_session() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let device = SecretKey::from_seed([7; 32]);
    let reg = register(&ctl, A, A).await;
    let password = enroll(&ctl, A, &reg["enrollment_code"], &device).await;
    let reg_b = register(&ctl, B, B).await;
    enroll(
        &ctl,
        B,
        &reg_b["enrollment_code"],
        &SecretKey::from_seed([8; 32]),
    )
    .await;
    let (_client, mut el) = mqtt_connect(ctl.mqtt_addr(), A, A, &password)
        .await
        .expect("screen connects");

    let (s, body) = ctl
        .admin(
            "POST",
            &format!("/api/v1/screens/{A}/disable"),
            serde_json::json!({}),
        )
        .await;
    assert_eq!(s, 200, "{body}");
    // The live connection is cut at once (well before any keepalive would end it).
    let cut = tokio::time::timeout(Duration::from_secs(8), async {
        while el.poll().await.is_ok() {}
    })
    .await;
    assert!(
        cut.is_ok(),
        "the disabled screen's live connection stayed open"
    );

    // Whatever still arrives in its name is refused: receipts are not stored (nor acked),
    // its status is not recorded.
    forge(
        &ctl,
        dir.path(),
        vec![
            (
                topic(A, Kind::Receipts),
                sign_batch(A, &chain(A, 2), &device).to_json(),
            ),
            (topic(A, Kind::Status), br#"{"state":"online"}"#.to_vec()),
            (topic(B, Kind::Status), br#"{"state":"online"}"#.to_vec()),
        ],
    )
    .await;
    wait_metric(
        &ctl,
        "gatecast_receipt_batches_rejected_total{reason=\"bad_signature\"}",
        1,
    )
    .await;
    let store = ctl.running.store();
    assert!(
        store.chain_tip(A).unwrap().is_none(),
        "a disabled screen's receipts were stored"
    );
    let deadline = Instant::now() + Duration::from_secs(15);
    while store.status(B).unwrap().is_none() {
        assert!(Instant::now() < deadline, "B's status never arrived");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(
        store.status(A).unwrap().is_none(),
        "a disabled screen's status was recorded"
    );
    ctl.running.shutdown().await;
}

/// Bound on a real screen's CONNECT → CONNACK while the controller's username is flooded
/// (about 3 ms unloaded; the flood must not push it past this).
const FLOODED_CONNACK_BOUND: Duration = Duration::from_millis(500);

/// One raw CONNECT as `_controller` with a wrong password; returns once the broker closed.
async fn bad_controller_login(port: u16) {
    let Ok(mut s) = tokio::net::TcpStream::connect(("127.0.0.1", port)).await else {
        return;
    };
    let mut c = rumqttc::mqttbytes::v4::Connect::new("flood");
    c.set_login(
        gatecast_controller::mqtt::CONTROLLER_USER,
        "not-the-password",
    );
    let mut out = BytesMut::new();
    rumqttc::mqttbytes::v4::Packet::Connect(c)
        .write(&mut out, usize::MAX)
        .unwrap();
    if s.write_all(&out).await.is_err() {
        return;
    }
    let mut sink = [0u8; 64];
    while matches!(s.read(&mut sink).await, Ok(n) if n > 0) {}
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_controller_login_flood() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let device = SecretKey::from_seed([7; 32]);
    let reg = register(&ctl, A, A).await;
    let password = enroll(&ctl, A, &reg["enrollment_code"], &device).await;
    let port = ctl.mqtt_addr().port();
    let checks = "gatecast_mqtt_password_checks_total";
    let checks_before = metric(&api_support::metrics(&ctl).await, checks);

    let stop = Arc::new(AtomicBool::new(false));
    let tried = Arc::new(AtomicUsize::new(0));
    let mut flood = tokio::task::JoinSet::new();
    for _ in 0..48 {
        let (stop, tried) = (stop.clone(), tried.clone());
        flood.spawn(async move {
            while !stop.load(Ordering::Relaxed) {
                bad_controller_login(port).await;
                tried.fetch_add(1, Ordering::Relaxed);
            }
        });
    }
    let deadline = Instant::now() + Duration::from_secs(15);
    while tried.load(Ordering::Relaxed) < 200 {
        assert!(Instant::now() < deadline, "the flood did not get going");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut worst = Duration::ZERO;
    for _ in 0..5 {
        let t = Instant::now();
        let (client, mut el) = mqtt_connect(ctl.mqtt_addr(), A, A, &password)
            .await
            .expect("the real screen connects during the flood");
        worst = worst.max(t.elapsed());
        let _ = client.disconnect().await;
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while el.poll().await.is_ok() {}
        })
        .await;
    }
    stop.store(true, Ordering::Relaxed);
    while flood.join_next().await.is_some() {}
    let attempts = tried.load(Ordering::Relaxed);
    eprintln!(
        "worst screen CONNACK during a flood of {attempts} bad `_controller` logins: {worst:?}"
    );
    assert!(
        worst <= FLOODED_CONNACK_BOUND,
        "a screen's CONNACK took {worst:?} during a flood of {attempts} bad `_controller` logins"
    );
    // The property itself, whatever the machine's speed: no bad `_controller` login cost a
    // PBKDF2 check; only the real screen's own logins did.
    let hashed = metric(&api_support::metrics(&ctl).await, checks) - checks_before;
    assert!(
        (5..=10).contains(&hashed),
        "{hashed} PBKDF2 password checks for {attempts} bad `_controller` logins and 5 real ones"
    );
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_register_screen_with_a_reserved_id() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    // The controller's MQTT client id: a screen by that name could take the controller's
    // session on a broker that binds client ids to usernames.
    let reserved = playlists::topics::CONTROLLER_CLIENT_ID;
    let (s, body) = ctl
        .admin(
            "POST",
            "/api/v1/screens",
            serde_json::json!({"id":reserved,"name":"x","gate":"lao-cai","languages":["vi"],"timezone":"Asia/Ho_Chi_Minh"}),
        )
        .await;
    assert_eq!(s, 400, "registered a screen with a reserved id: {body}");
    assert!(ctl.running.store().screen(reserved).unwrap().is_none());
    ctl.running.shutdown().await;
}
