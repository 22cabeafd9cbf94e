//! Attacks on receipt ingest through the real controller (in-process, embedded broker, screens
//! registered and enrolled over HTTP, MQTT clients playing the players): one screen publishing
//! receipts for another, replayed batches, oversized MQTT payloads, screen ids in topics that
//! are not screen ids, and weak device keys at enrolment.

use crate::api_support;
use crate::ingest_support;

use std::time::Duration;

use api_support::*;
use ingest_support::*;
use playlists::keys::SecretKey;
use playlists::receipt::sign_batch;
use playlists::topics::{topic, Kind};
use rumqttc::{AsyncClient, QoS};
use serde_json::json;

const A: &str = "lc-a1";
const B: &str = "lc-b2";

/// Registers, enrols and connects screen `id` (named `id`) with device key seed `seed`.
async fn screen(ctl: &Ctl, id: &str, seed: u8) -> Player {
    player(ctl, id, id, SecretKey::from_seed([seed; 32])).await
}

/// A client on the controller's own MQTT account (another client id), publishing on `screen`'s
/// receipts topic. It stands for screen A's login on a broker without topic ACLs (or a
/// compromised broker): the embedded broker's ACL drops a screen's publish on another screen's
/// topic, and the controller must refuse the forgery anyway.
async fn forge(ctl: &Ctl, dir: &std::path::Path, screen: &str, batches: Vec<Vec<u8>>) {
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
    for b in batches {
        client
            .publish(topic(screen, Kind::Receipts), QoS::AtLeastOnce, false, b)
            .await
            .unwrap();
    }
}

const BAD_SIG: &str = "gatecast_receipt_batches_rejected_total{reason=\"bad_signature\"}";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_receipts_for_screen_b_published_by_screen_a() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let mut a = screen(&ctl, A, 7).await;
    let mut b = screen(&ctl, B, 8).await;
    // A publishes on B's topic (see `forge`): B's receipts signed with A's key, and A's own
    // receipts.
    forge(
        &ctl,
        dir.path(),
        B,
        vec![
            sign_batch(B, &chain(B, 3), &a.device).to_json(),
            sign_batch(A, &chain(A, 3), &a.device).to_json(),
        ],
    )
    .await;
    wait_metric(&ctl, BAD_SIG, 2).await;
    let store = ctl.running.store();
    assert!(
        store.chain_tip(B).unwrap().is_none(),
        "nothing stored for B"
    );
    assert!(
        store.chain_tip(A).unwrap().is_none(),
        "nothing stored for A"
    );
    let (_, rej) = ctl
        .req("GET", "/api/v1/receipts/rejections", Some(&ctl.admin), None)
        .await;
    let rej = rej["rejections"].as_array().unwrap().clone();
    assert_eq!(rej.len(), 2, "{rej:?}");
    assert!(rej
        .iter()
        .all(|r| r["screen"] == B && r["reason"] == "bad_signature"));
    // B signing a batch that claims A's receipts (on B's topic) is refused too.
    b.publish(B, sign_batch(B, &chain(A, 1), &b.device).to_json())
        .await;
    wait_metric(
        &ctl,
        "gatecast_receipt_batches_rejected_total{reason=\"wrong_screen\"}",
        1,
    )
    .await;
    // The honest batches of both screens are stored and acked, each on its own topic: the
    // first ack either sees is for its own batch (no ack was sent for the forgeries).
    b.publish(B, sign_batch(B, &chain(B, 2), &b.device).to_json())
        .await;
    assert_eq!(b.next_ack().await.0, 2);
    a.publish(A, sign_batch(A, &chain(A, 1), &a.device).to_json())
        .await;
    assert_eq!(a.next_ack().await.0, 1);
    assert_eq!(store.chain_tip(B).unwrap().unwrap().seq, 2);
    let stored_b = store.receipt(B, 1).unwrap().expect("B's seq 1");
    assert_eq!(
        stored_b.bytes,
        chain(B, 1)[0],
        "B's own bytes, not A's forgery"
    );
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_replayed_receipts_batch() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let mut a = screen(&ctl, A, 7).await;
    let c = chain(A, 5);
    let first = sign_batch(A, &c[..3], &a.device).to_json();
    a.publish(A, first.clone()).await;
    assert_eq!(a.next_ack().await.0, 3);
    a.publish(A, sign_batch(A, &c[3..], &a.device).to_json())
        .await;
    assert_eq!(a.next_ack().await.0, 5);
    let store = ctl.running.store();
    let log_size = store.log_size().unwrap();
    // An attacker (or a broker) replays the first batch, several times, also after newer
    // ones: each is recognised as a duplicate, acknowledged at the tip, stored nowhere.
    for _ in 0..3 {
        a.publish(A, first.clone()).await;
        assert_eq!(
            a.next_ack().await.0,
            5,
            "a replay is acked at the tip, never past it"
        );
    }
    assert_eq!(store.log_size().unwrap(), log_size, "no new log leaf");
    let stored: Vec<_> = store
        .receipts_of(A, 1)
        .collect::<Result<Vec<_>, _>>()
        .unwrap();
    assert_eq!(stored.len(), 5, "each receipt stored once");
    assert_eq!(
        metric(&metrics(&ctl).await, "gatecast_receipts_stored_total"),
        5
    );
    // A replayed batch of another screen on this screen's topic is not a duplicate: it is
    // refused (wrong key).
    let b_device = SecretKey::from_seed([8; 32]);
    a.publish(A, sign_batch(B, &chain(B, 2), &b_device).to_json())
        .await;
    wait_metric(&ctl, BAD_SIG, 1).await;
    assert_eq!(store.chain_tip(A).unwrap().unwrap().seq, 5);
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_oversized_mqtt_payloads() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let mut a = screen(&ctl, A, 7).await;
    // Just over the envelope limit (4 MiB) but under the packet limit: dropped or rejected,
    // never parsed, never acked.
    let over = playlists::envelope::MAX_ENVELOPE_BYTES + 1;
    a.publish(A, vec![b'{'; over]).await;
    let pad = vec![b' '; over];
    a.publish(
        A,
        playlists::envelope::Envelope::sign(playlists::envelope::RECEIPTS_TYPE, pad, &a.device)
            .to_json(),
    )
    .await;
    // Above the broker's packet limit (from a client that allows itself such packets): the
    // broker drops that connection.
    // Its client id is its username (the broker binds them): this takes over A's session.
    let mut o = rumqttc::MqttOptions::new(A, "127.0.0.1", ctl.mqtt_addr().port());
    o.set_credentials(A, a.password.clone())
        .set_keep_alive(Duration::from_secs(10))
        .set_max_packet_size(32 << 20, 32 << 20);
    let (big, mut big_el) = AsyncClient::new(o, 4);
    let huge = vec![b'x'; gatecast_controller::mqtt::MAX_PACKET_SIZE + 1024];
    big.publish(topic(A, Kind::Receipts), QoS::AtLeastOnce, false, huge)
        .await
        .unwrap();
    let dropped = tokio::time::timeout(Duration::from_secs(15), async {
        loop {
            if big_el.poll().await.is_err() {
                return;
            }
        }
    })
    .await;
    assert!(
        dropped.is_ok(),
        "the broker kept a connection that sent an oversized packet"
    );
    // The controller is healthy and an honest batch on a new connection is acked, first.
    let (s, health) = ctl.req("GET", "/healthz", None, None).await;
    assert_eq!(s, 200, "{health}");
    let store = ctl.running.store();
    assert!(store.chain_tip(A).unwrap().is_none());
    let _ = a.client.disconnect().await;
    let device = SecretKey::from_seed([7; 32]);
    let mut a2 = connect(&ctl, A, device, &a.password.clone()).await;
    // Drain nothing: no ack may be pending for the oversized messages.
    a2.publish(A, sign_batch(A, &chain(A, 2), &a2.device).to_json())
        .await;
    assert_eq!(a2.next_ack().await.0, 2);
    assert!(a.acks.try_recv().is_err(), "an oversized message was acked");
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_screen_ids_in_topics() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let mut a = screen(&ctl, A, 7).await;
    register(&ctl, B, B).await; // registered, never enrolled: no device key
    let env = sign_batch(A, &chain(A, 1), &a.device).to_json();
    for t in [
        "gatecast/v1/screens/../receipts",
        "gatecast/v1/screens/LC-A1/receipts",
        "gatecast/v1/screens/lc-a1%00/receipts",
        "gatecast/v1/screens/lc-a1 /receipts",
        "gatecast/v1/screens/ｌｃ-a1/receipts",
        "gatecast/v1/screens/lc-a1/receipts/x",
        "gatecast/v1/screens/_controller/receipts",
    ] {
        a.publish_raw_topic(t, env.clone()).await;
    }
    // A registered screen without a device key, and one that does not exist.
    a.publish(B, env.clone()).await;
    a.publish("lc-zz9", env.clone()).await;
    // None of these reached a chain; the honest batch on the right topic is the first acked.
    a.publish(A, env.clone()).await;
    assert_eq!(a.next_ack().await.0, 1);
    let store = ctl.running.store();
    assert!(store.chain_tip(B).unwrap().is_none());
    assert_eq!(store.chain_tip(A).unwrap().unwrap().seq, 1);
    let (_, rej) = ctl
        .req("GET", "/api/v1/receipts/rejections", Some(&ctl.admin), None)
        .await;
    for r in rej["rejections"].as_array().unwrap() {
        let s = r["screen"].as_str().unwrap_or("");
        assert!(
            playlists::manifest::is_valid_screen_id(s),
            "a rejection was recorded under {s:?}"
        );
    }
    assert_eq!(ctl.req("GET", "/healthz", None, None).await.0, 200);
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_weak_device_key_refused_at_enrolment() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let reg = register(&ctl, A, A).await;
    let code = reg["enrollment_code"].as_str().unwrap();
    use base64::Engine as _;
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let mut identity = [0u8; 32];
    identity[0] = 1;
    let mut order2 = [0xffu8; 32];
    order2[0] = 0xec;
    order2[31] = 0x7f;
    for bad in [
        b64(&identity),
        b64(&order2),
        b64(&[0u8; 32]),
        b64(&[0u8; 31]),
        "not base64".to_string(),
    ] {
        let (s, v) = ctl
            .req(
                "POST",
                "/api/v1/enroll",
                None,
                Some(json!({"screen":A,"code":code,"device_key":bad})),
            )
            .await;
        assert_eq!(
            (s, v["field"].as_str()),
            (400, Some("device_key")),
            "{bad}: {v}"
        );
    }
    // The code was not consumed by the refused attempts.
    let good = SecretKey::from_seed([7; 32]).public().to_base64();
    let (s, v) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen":A,"code":code,"device_key":good})),
        )
        .await;
    assert_eq!(s, 200, "{v}");
    ctl.running.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_receipt_batch_of_3_mib_is_acked() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let mut a = screen(&ctl, A, 7).await;
    // A full batch (1000 receipts) within every limit of the protocol, about 3 MiB: the
    // controller must take it, not drop it in its MQTT client.
    let c = gatecast_tests::heavy_chain(A, 1000);
    let env = sign_batch(A, &c, &a.device).to_json();
    let mib = env.len() as f64 / (1024.0 * 1024.0);
    assert!(
        (2.5..4.0).contains(&mib),
        "the batch is {mib:.2} MiB, wanted about 3 MiB"
    );
    a.send_raw(env).await;
    assert_eq!(a.next_ack().await.0, 1000, "the 3 MiB batch is acked");
    assert_eq!(ctl.running.store().chain_tip(A).unwrap().unwrap().seq, 1000);
    // Above the envelope limit but within the MQTT payload limit: refused by name
    // (`bad_envelope`, recorded), not silently dropped; nothing is acked.
    let over = playlists::envelope::MAX_ENVELOPE_BYTES + 1;
    let pad = vec![b' '; over];
    let oversized =
        playlists::envelope::Envelope::sign(playlists::envelope::RECEIPTS_TYPE, pad, &a.device)
            .to_json();
    a.send_raw(oversized.clone()).await;
    wait_metric(
        &ctl,
        "gatecast_receipt_batches_rejected_total{reason=\"bad_envelope\"}",
        1,
    )
    .await;
    // The counter moves just before the record is written: wait for the record.
    let admin = ctl.admin.clone();
    let rejection = gatecast_testkit::wait_until_async(
        "the oversized batch recorded as rejected",
        Duration::from_secs(15),
        || async {
            let (s, rej) = ctl
                .req("GET", "/api/v1/receipts/rejections", Some(&admin), None)
                .await;
            assert_eq!(s, 200, "{rej}");
            rej["rejections"]
                .as_array()?
                .iter()
                .find(|r| r["reason"] == "bad_envelope")
                .cloned()
        },
    )
    .await;
    // The record names this batch (its screen, exact size and hash) and why it was refused.
    assert_eq!(rejection["screen"], A, "{rejection}");
    assert_eq!(
        rejection["envelope_bytes"],
        oversized.len() as u64,
        "{rejection}"
    );
    assert_eq!(
        rejection["envelope_sha256"],
        playlists::hex::sha256_hex(&oversized),
        "{rejection}"
    );
    let detail = rejection["detail"].as_str().unwrap_or_default();
    assert!(
        detail.contains(&format!(
            "over the limit of {} bytes",
            playlists::envelope::MAX_ENVELOPE_BYTES
        )),
        "the detail names the envelope limit: {rejection}"
    );
    // Nothing of it was stored: the chain still ends at the 3 MiB batch.
    assert_eq!(ctl.running.store().chain_tip(A).unwrap().unwrap().seq, 1000);
    ctl.running.shutdown().await;
}
