//! Screenshot commands reach a real `gatecast-player` over MQTT (`docs/protocol.md` §18): one
//! signed by another key or for another screen is refused by name in its log; a valid one on
//! the null backend is answered by the reason it cannot capture (no image is made up).

use crate::common;

use std::time::Duration;

use common::harness::{player_spec, PlayerProc, Rig, SCREEN};
use playlists::keys::SecretKey;
use playlists::screenshot::ScreenshotRequest;

const T: Duration = Duration::from_secs(30);

fn command(screen: &str, id: &str) -> ScreenshotRequest {
    let now = jiff::Timestamp::now();
    ScreenshotRequest {
        screen: screen.into(),
        id: id.into(),
        issued_at: now,
        expires_at: now + jiff::SignedDuration::from_secs(60),
    }
}

/// Waits until the player's log contains `needle`.
async fn wait_log(player: &PlayerProc, what: &str, needle: String) {
    common::wait_for(what, T, || player.log().contains(&needle).then_some(())).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_player_refuses_forged_and_foreign_screenshot_commands() {
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = player_spec(&broker, &media, &key, "", 1.0);
    let player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", T, |s| s["state"].is_string())
        .await;
    let forger = SecretKey::from_seed([99; 32]);
    controller
        .publish_screenshot_request(command(SCREEN, "forged-1").sign(&forger).unwrap().to_json())
        .await;
    wait_log(
        &player,
        "the forged command refused",
        format!("first keyid {:?}", forger.key_id()),
    )
    .await;
    controller
        .publish_screenshot_request(
            command("other-9", "foreign-1")
                .sign(&key)
                .unwrap()
                .to_json(),
        )
        .await;
    wait_log(
        &player,
        "the foreign command refused",
        format!("signed for screen \"other-9\", not \"{SCREEN}\""),
    )
    .await;
    controller
        .publish_screenshot_request(command(SCREEN, "real-1").sign(&key).unwrap().to_json())
        .await;
    wait_log(
        &player,
        "the null backend's reason",
        "the null backend shows nothing, so there is nothing to capture".to_string(),
    )
    .await;
    let log = player.log();
    assert!(log.contains("Some(\"real-1\")"), "the request named: {log}");
    assert!(
        !log.contains("screenshot uploaded"),
        "no image is made up: {log}"
    );
}
