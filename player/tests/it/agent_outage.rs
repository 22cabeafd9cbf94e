//! Broker outage: playback and journaling go on; after the broker is back every receipt
//! arrives, with contiguous `seq`, each stored once.

use crate::common;

use std::time::Duration;

use common::broker::{CutProxy, TestBroker};
use common::harness::{self, Controller, MediaServer, PlayerProc, PlayerSpec, SCREEN};
use playlists::keys::SecretKey;
use playlists::receipt::Receipt;

const T: Duration = Duration::from_secs(40);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn receipts_survive_a_broker_outage() {
    let broker = TestBroker::start();
    let proxy = CutProxy::start(broker.port).await;
    let media = MediaServer::start().await;
    let key = SecretKey::from_seed([7; 32]);
    let controller = Controller::connect(broker.port, SCREEN, SecretKey::from_seed([7; 32])).await;
    let (a, a_bytes) = harness::slide(1, 1000, 2000);
    let (b, b_bytes) = harness::slide(2, 1000, 2000);
    media.put(&a.sha256, a_bytes);
    media.put(&b.sha256, b_bytes);

    let dir = tempfile::tempdir().unwrap();
    let spec = PlayerSpec {
        broker_url: proxy.url(),
        media_base: media.url.clone(),
        controller_key: key.public(),
        extra_toml: String::new(),
        null_speed: 20.0,
    };
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", T, |s| s["state"] == "idle")
        .await;
    controller
        .publish_manifest(harness::sign_manifest(
            &harness::manifest(SCREEN, 1, &[a, b]),
            &key,
        ))
        .await;
    controller
        .wait_received("receipts flowing", T, |r| r.receipts.len() >= 5)
        .await;

    proxy.cut();
    let cut_at = jiff::Timestamp::now();
    controller
        .wait_status("Last Will: offline", T, |s| s["state"] == "offline")
        .await;
    // The player keeps trying to reconnect; wait for a few refused attempts.
    common::wait_for("reconnect attempts while cut", T, || {
        (proxy.refused() >= 3).then_some(())
    })
    .await;
    let restore_at = jiff::Timestamp::now();
    proxy.restore();

    let st = controller
        .wait_status("back online", T, |s| s["state"] == "playing")
        .await;
    assert_eq!(st["manifest_version"], 1);
    controller
        .wait_received("receipts played during the outage arrive", T, |r| {
            r.receipts.values().any(|b| {
                let rc = Receipt::parse(b).unwrap();
                rc.started_at > cut_at && rc.ended_at < restore_at
            }) && r
                .receipts
                .values()
                .any(|b| Receipt::parse(b).unwrap().started_at > restore_at)
        })
        .await;
    controller
        .wait_status("journal drained", T, |s| {
            s["journal_backlog"].as_u64() <= Some(3)
        })
        .await;

    {
        let r = controller.state.lock().unwrap();
        assert!(r.refused.is_empty(), "batches refused: {:?}", r.refused);
        let seqs: Vec<u64> = r.receipts.keys().copied().collect();
        assert_eq!(
            seqs,
            (1..=seqs.len() as u64).collect::<Vec<_>>(),
            "contiguous seq, stored once"
        );
    }
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}
