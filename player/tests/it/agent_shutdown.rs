//! A clean stop (SIGTERM) publishes the offline status itself and then disconnects: the
//! MQTT link ends as soon as its DISCONNECT is written (no reconnect attempt, no Last Will),
//! and the process exits 0. Asserted on the order of events, never on time.

use crate::common;

use std::time::Duration;

use common::harness::{self, player_spec, PlayerProc, Rig, SCREEN};
use jiff::Timestamp;

use playlists::topics::{self, Kind};
use rumqttc::{AsyncClient, Event, MqttOptions, Packet, QoS};

const T: Duration = Duration::from_secs(40);

/// The retained status as a new subscriber sees it.
async fn retained_status(port: u16) -> serde_json::Value {
    let mut opts = MqttOptions::new("retained-reader", "127.0.0.1", port);
    let (user, password) = common::broker::TEST_LOGIN;
    opts.set_max_packet_size(1 << 20, 1 << 20)
        .set_credentials(user, password);
    let (client, mut eventloop) = AsyncClient::new(opts, 8);
    client
        .subscribe(topics::topic(SCREEN, Kind::Status), QoS::AtLeastOnce)
        .await
        .unwrap();
    tokio::time::timeout(T, async {
        loop {
            if let Event::Incoming(Packet::Publish(p)) = eventloop.poll().await.unwrap() {
                assert!(p.retain, "a live status arrived after the player exited");
                return serde_json::from_slice(&p.payload).unwrap();
            }
        }
    })
    .await
    .expect("a retained status")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clean_stop_publishes_offline_then_disconnects() {
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;
    let (a, a_bytes) = harness::slide(1, 1000, 2000);
    media.put(&a.sha256, a_bytes);
    let dir = tempfile::tempdir().unwrap();
    let spec = player_spec(&broker, &media, &key, "", 10.0);
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .publish_manifest(harness::sign_manifest(
            &harness::manifest(SCREEN, 1, std::slice::from_ref(&a)),
            &key,
        ))
        .await;
    controller
        .wait_status("playing v1", T, |s| {
            s["manifest_version"] == 1 && s["state"] == "playing"
        })
        .await;

    let stop_requested = Timestamp::now();
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
    let log = player.log();

    // The controller saw the clean offline status (made after the stop request, with the
    // manifest still reported), not only the Last Will registered at connect time.
    let offline = controller
        .wait_status("offline status", T, |s| s["state"] == "offline")
        .await;
    let at: Timestamp = offline["at"].as_str().unwrap().parse().unwrap();
    assert!(
        at >= stop_requested,
        "offline status is the Last Will: {offline}"
    );
    assert_eq!(offline["manifest_version"], 1);
    assert!(offline["current"].is_null());

    // Order in the player's log: stopping, then a clean close; nothing about a lost
    // connection or a reconnect after the stop began.
    let stopping = log.find("agent stopping").expect("stop logged");
    let closed = log[stopping..]
        .find("MQTT link closed cleanly")
        .unwrap_or_else(|| panic!("no clean MQTT close after the stop; log:\n{log}"));
    let after = &log[stopping..];
    for bad in [
        "connection lost",
        "reconnecting",
        "not written in time",
        "could not queue",
    ] {
        assert!(!after.contains(bad), "{bad:?} after the stop; log:\n{log}");
    }
    assert!(closed > 0);

    // What stays retained for everyone else is that clean offline status.
    let retained = retained_status(broker.port).await;
    assert_eq!(retained["state"], "offline");
    assert_eq!(
        retained["at"], offline["at"],
        "retained status is not the clean one"
    );
}
