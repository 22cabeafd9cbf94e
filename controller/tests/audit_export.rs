//! Export with real parts: receipts ingested over MQTT from a stand-in player, the bundle
//! fetched over HTTP, checked with `playlists::audit::verify_bundle` (what `gatecast-audit
//! verify` runs), also against an earlier checkpoint.
#![allow(dead_code)]

mod api_support;

use std::time::{Duration, Instant};

use api_support::*;
use playlists::keys::{KeySet, PublicKey, SecretKey};
use playlists::merkle::verify_checkpoint;
use playlists::receipt::{
    receipt_hash, sign_batch, verify_ack, Backend, Outcome, Receipt, GENESIS_PREV,
};
use playlists::topics::{topic, Kind};
use rumqttc::{AsyncClient, Event, Packet, QoS};
use serde_json::json;
use tokio::sync::mpsc;

const SCREEN: &str = "lc-a1";

fn receipts(from: u64, to: u64, prev_of_from: &str) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut prev = prev_of_from.to_string();
    for seq in from..=to {
        let start = jiff::Timestamp::from_second(1_790_000_000 + seq as i64 * 10).unwrap();
        let r = Receipt {
            seq,
            screen: SCREEN.into(),
            manifest_version: 1,
            playlist: "p1".into(),
            media: "ab".repeat(32),
            lang: "vi".into(),
            started_at: start,
            ended_at: start + jiff::SignedDuration::from_millis(9_000),
            outcome: Outcome::Completed,
            backend: Backend::Mpv,
            clock_synced: true,
            prev: prev.clone(),
        };
        let b = r.to_bytes();
        prev = receipt_hash(&b);
        out.push(b);
    }
    out
}

/// The whole chain 1..=n.
fn chain(n: u64) -> Vec<Vec<u8>> {
    receipts(1, n, GENESIS_PREV)
}

struct Player {
    client: AsyncClient,
    acks: mpsc::Receiver<(Vec<u8>, bool)>,
    device: SecretKey,
    controller: KeySet,
    _task: tokio::task::JoinHandle<()>,
}

impl Player {
    async fn send(&self, batch: &[Vec<u8>], key: &SecretKey) -> Vec<u8> {
        let env = sign_batch(SCREEN, batch, key).to_json();
        self.client
            .publish(
                topic(SCREEN, Kind::Receipts),
                QoS::AtLeastOnce,
                false,
                env.clone(),
            )
            .await
            .unwrap();
        env
    }

    async fn send_raw(&self, env: Vec<u8>) {
        self.client
            .publish(topic(SCREEN, Kind::Receipts), QoS::AtLeastOnce, false, env)
            .await
            .unwrap();
    }

    /// The next ack: verified under the controller key; returns upto_seq and the retain flag.
    async fn next_ack(&mut self) -> (u64, bool) {
        let (bytes, retain) = tokio::time::timeout(Duration::from_secs(15), self.acks.recv())
            .await
            .expect("an ack within 15 s")
            .expect("ack channel open");
        let ack = verify_ack(&bytes, &self.controller, SCREEN).expect("ack verifies");
        (ack.upto_seq, retain)
    }
}

/// Registers and enrols `lc-a1` with a device key, connects as it and subscribes to its acks.
async fn player(ctl: &Ctl, device: SecretKey) -> Player {
    let (s, reg) = ctl
        .admin(
            "POST",
            "/api/v1/screens",
            json!({"id":SCREEN,"name":"Lao Cai A1","gate":"lao-cai","languages":["vi"],"timezone":"Asia/Ho_Chi_Minh"}),
        )
        .await;
    assert_eq!(s, 201, "{reg}");
    let (s, enr) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen":SCREEN,"code":reg["enrollment_code"],"device_key":device.public().to_base64()})),
        )
        .await;
    assert_eq!(s, 200, "{enr}");
    connect(ctl, device, enr["mqtt_password"].as_str().unwrap()).await
}

async fn connect(ctl: &Ctl, device: SecretKey, password: &str) -> Player {
    let (_, keys) = ctl.req("GET", "/api/v1/keys", None, None).await;
    let controller =
        KeySet::from_keys([
            PublicKey::from_base64(keys["controller_key"].as_str().unwrap()).unwrap(),
        ]);
    let (client, mut el) = mqtt_connect(ctl.mqtt_addr(), SCREEN, SCREEN, password)
        .await
        .expect("player connects");
    client
        .subscribe(topic(SCREEN, Kind::Ack), QoS::AtLeastOnce)
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
        client,
        acks: rx,
        device,
        controller,
        _task: task,
    }
}

async fn metrics(ctl: &Ctl) -> String {
    ctl.http
        .get(ctl.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap()
}

fn metric(text: &str, name: &str) -> u64 {
    text.lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(' ')?.parse().ok())
        .unwrap_or_else(|| panic!("metric {name} missing in\n{text}"))
}

/// Polls `/metrics` every 25 ms until `name` reaches `want` (10 s deadline).
async fn wait_metric(ctl: &Ctl, name: &str, want: u64) {
    let deadline = Instant::now() + Duration::from_secs(10);
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_export_bundle_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let device = SecretKey::from_seed([7; 32]);
    let mut p = player(&ctl, device.clone()).await;
    let c = chain(6);
    p.send(&c[..3], &device).await;
    assert_eq!(p.next_ack().await.0, 3);
    let (s, cp1) = ctl
        .http
        .post(ctl.url("/api/v1/log/checkpoint"))
        .bearer_auth(&ctl.admin)
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(s, 200);
    let cp1 = cp1.bytes().await.unwrap().to_vec();
    let old = verify_checkpoint(&cp1, &p.controller).unwrap();
    p.send(&c[3..], &device).await;
    assert_eq!(p.next_ack().await.0, 6);

    let auditor = ctl.token("auditor").await;
    let url = format!(
        "/api/v1/audit/export?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z&screens={SCREEN}&since_size={}",
        old.size
    );
    let resp = ctl
        .http
        .get(ctl.url(&url))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let bundle = resp.bytes().await.unwrap().to_vec();
    let key = ctl.running.store().screen(SCREEN).unwrap().unwrap();
    assert!(key.device_key.is_some());
    let (_, keys) = ctl.req("GET", "/api/v1/keys", None, None).await;
    let controller = PublicKey::from_base64(keys["controller_key"].as_str().unwrap()).unwrap();
    let report = playlists::audit::verify_bundle(&bundle, &controller, Some(&cp1));
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.consistent_with_previous, Some(true), "{report:#?}");
    assert_eq!(report.plays, 6, "{report:#?}");
    assert_eq!(report.batches, 2);
    assert!(report.actions >= 1, "operator actions are in the bundle");
    assert_eq!(report.screens.len(), 1);
    assert_eq!(report.screens[0].last_seq, Some(6));

    // A period holding only seq 5 and 6 exports only their batch (mid-chain start).
    let url = format!(
        "/api/v1/audit/export?from={}&to=2030-01-01T00:00:00Z",
        jiff::Timestamp::from_second(1_790_000_000 + 50).unwrap()
    );
    let (s, b2) = ctl.req("GET", &url, Some(&auditor), None).await;
    assert_eq!(s, 200, "{b2}");
    let bytes = serde_json::to_vec(&b2).unwrap();
    let report = playlists::audit::verify_bundle(&bytes, &controller, None);
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.batches, 1);

    // A wrong controller key fails.
    let other = SecretKey::from_seed([3; 32]).public();
    assert!(!playlists::audit::verify_bundle(&bundle, &other, None).ok);
    let (s, bad) = ctl
        .req(
            "GET",
            "/api/v1/audit/export?from=yesterday",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, 400, "{bad}");
    ctl.running.shutdown().await;
}
