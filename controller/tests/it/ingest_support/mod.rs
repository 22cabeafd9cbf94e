//! Shared helpers of the receipt-ingest tests that run the real controller (`audit_ingest`,
//! `audit_export`, `attack_receipts`): receipt chains, screens registered and enrolled over
//! HTTP, an MQTT client standing in for the player (signs batches with its device key,
//! publishes them, collects and verifies the acks) and `/metrics` readers.
//!
//! Used next to `mod api_support;` (for [`Ctl`] and [`mqtt_connect`]).
#![allow(dead_code)]

use std::time::{Duration, Instant};

use playlists::keys::{KeySet, PublicKey, SecretKey};
use playlists::receipt::{sign_batch, verify_ack, OwnChain, GENESIS_PREV};
use playlists::topics::{topic, Kind};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::{json, Value};
use tokio::sync::mpsc;

pub use crate::api_support::metrics;
use crate::api_support::{mqtt_connect, Ctl};

/// Receipts `from..=to` of `screen`, chained from `prev_of_from`.
pub fn receipts(screen: &str, from: u64, to: u64, prev_of_from: &str) -> Vec<Vec<u8>> {
    gatecast_tests::sample_chain(screen, from, to, prev_of_from)
}

/// The whole chain 1..=n of `screen`.
pub fn chain(screen: &str, n: u64) -> Vec<Vec<u8>> {
    receipts(screen, 1, n, GENESIS_PREV)
}

/// A screen's MQTT session (the stand-in player): publishes wherever it is told, collects
/// what arrives on its own ack topic (payload and retain flag).
pub struct Player {
    pub id: String,
    pub client: AsyncClient,
    pub acks: mpsc::Receiver<(Vec<u8>, bool)>,
    pub device: SecretKey,
    pub controller: KeySet,
    pub password: String,
    _task: tokio::task::JoinHandle<()>,
}

impl Player {
    /// Signs `batch` for this screen with `key`, publishes it on this screen's receipts topic
    /// and returns the envelope.
    pub async fn send(&self, batch: &[Vec<u8>], key: &SecretKey) -> Vec<u8> {
        let env = sign_batch(&self.id, batch, key).to_json();
        self.publish(&self.id, env.clone()).await;
        env
    }

    /// Publishes `env` as is on this screen's receipts topic.
    pub async fn send_raw(&self, env: Vec<u8>) {
        self.publish(&self.id, env).await;
    }

    /// Publishes `payload` on the receipts topic of `screen_topic` (any screen).
    pub async fn publish(&self, screen_topic: &str, payload: Vec<u8>) {
        self.client
            .publish(
                topic(screen_topic, Kind::Receipts),
                QoS::AtLeastOnce,
                false,
                payload,
            )
            .await
            .unwrap();
    }

    /// Publishes `payload` on the raw topic `t`.
    pub async fn publish_raw_topic(&self, t: &str, payload: Vec<u8>) {
        self.client
            .publish(t, QoS::AtLeastOnce, false, payload)
            .await
            .unwrap();
    }

    /// The next ack: verified under the controller key; returns upto_seq and the retain flag.
    pub async fn next_ack(&mut self) -> (u64, bool) {
        let (bytes, retain) = tokio::time::timeout(Duration::from_secs(15), self.acks.recv())
            .await
            .expect("an ack within 15 s")
            .expect("ack channel open");
        let key_id = self.device.key_id();
        let own = OwnChain {
            screen: &self.id,
            epoch: 1,
            key_id: &key_id,
        };
        let ack = verify_ack(&bytes, &self.controller, &own).expect("ack verifies");
        (ack.upto_seq, retain)
    }
}

/// Registers screen `id` named `name` (gate lao-cai, vi, Asia/Ho_Chi_Minh); returns the reply.
pub async fn register(ctl: &Ctl, id: &str, name: &str) -> Value {
    let (s, reg) = ctl
        .admin(
            "POST",
            "/api/v1/screens",
            json!({"id":id,"name":name,"gate":"lao-cai","languages":["vi"],"timezone":"Asia/Ho_Chi_Minh"}),
        )
        .await;
    assert_eq!(s, 201, "{reg}");
    reg
}

/// Enrols screen `id` with enrolment `code` and `device`'s public key; returns the MQTT
/// password.
pub async fn enroll(ctl: &Ctl, id: &str, code: &Value, device: &SecretKey) -> String {
    let (s, enr) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen":id,"code":code,"device_key":device.public().to_base64()})),
        )
        .await;
    assert_eq!(s, 200, "{enr}");
    enr["mqtt_password"].as_str().unwrap().to_string()
}

/// Registers screen `id` named `name`, enrols it with `device`, connects as it and subscribes
/// to its acks.
pub async fn player(ctl: &Ctl, id: &str, name: &str, device: SecretKey) -> Player {
    let reg = register(ctl, id, name).await;
    let password = enroll(ctl, id, &reg["enrollment_code"], &device).await;
    connect(ctl, id, device, &password).await
}

/// Connects as screen `id` with `password`, subscribes to its ack topic and waits for the
/// SUBACK.
pub async fn connect(ctl: &Ctl, id: &str, device: SecretKey, password: &str) -> Player {
    let (_, keys) = ctl.req("GET", "/api/v1/keys", None, None).await;
    let controller =
        KeySet::from_keys([
            PublicKey::from_base64(keys["controller_key"].as_str().unwrap()).unwrap(),
        ]);
    let (client, mut el) = mqtt_connect(ctl.mqtt_addr(), id, id, password)
        .await
        .expect("player connects");
    client
        .subscribe(topic(id, Kind::Ack), QoS::AtLeastOnce)
        .await
        .unwrap();
    let (tx, rx) = mpsc::channel(64);
    let (subscribed_tx, subscribed_rx) = tokio::sync::oneshot::channel();
    let task = tokio::spawn(async move {
        let mut subscribed = Some(subscribed_tx);
        loop {
            match el.poll().await {
                Ok(Event::Incoming(Packet::SubAck(_))) => {
                    if let Some(s) = subscribed.take() {
                        let _ = s.send(());
                    }
                }
                Ok(Event::Incoming(Packet::Publish(p))) => {
                    if tx.send((p.payload.to_vec(), p.retain)).await.is_err() {
                        return;
                    }
                }
                Ok(_) => {}
                Err(_) => return,
            }
        }
    });
    tokio::time::timeout(Duration::from_secs(10), subscribed_rx)
        .await
        .expect("SUBACK within 10 s")
        .unwrap();
    Player {
        id: id.to_string(),
        client,
        acks: rx,
        device,
        controller,
        password: password.to_string(),
        _task: task,
    }
}

/// The value of metric line `name` in `text`; panics when it is missing.
pub fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing in\n{text}"))
}

/// Polls `/metrics` every 25 ms until `name` reaches `want` (15 s deadline); asserts it does not
/// overshoot.
pub async fn wait_metric(ctl: &Ctl, name: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let v = metric(&metrics(ctl).await, name);
        if v >= want {
            assert_eq!(v, want, "{name}");
            return;
        }
        assert!(
            Instant::now() < deadline,
            "{name} stayed at {v}, wanted {want}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}
