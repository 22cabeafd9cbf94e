//! A real `gatecast-player` with the mpv backend (`--vo=null --ao=null`) shows a text-only
//! alert on a screen without a manifest: mpv loads its black background and the text overlay,
//! and the play ends with a `completed` receipt (`playlist` = `alert:<id>`, `media` = SHA-256
//! of the text, `backend` = `mpv`). Skipped loudly without mpv.

use crate::common;

use std::time::Duration;

use common::harness::{self, PlayerProc, PlayerSpec, Rig, SCREEN};
use jiff::{SignedDuration, Timestamp};
use playlists::envelope::ALERT_TYPE;
use playlists::manifest::{Alert, AlertSet, AlertText};
use playlists::receipt::{Backend, Outcome, Receipt};

const T: Duration = Duration::from_secs(40);
const TEXT: &str = "Cửa khẩu tạm dừng thông quan do lũ.\n{Lối ra} \\N phía đông";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_alert_with_mpv_completes() {
    if !gatecast_testkit::require_program("text_alert_with_mpv_completes", "mpv", "mpv") {
        return;
    }
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;
    let dir = tempfile::tempdir().unwrap();
    let spec = PlayerSpec {
        broker_url: broker.url(),
        media_base: media.url.clone(),
        controller_key: key.public(),
        extra_toml:
            "mpv_args = [\"--vo=null\", \"--ao=null\", \"--no-config\"]\nalert_text_ms = 1500\n"
                .into(),
        null_speed: 1.0,
    };
    let config = harness::write_config(dir.path(), &spec);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("backend = \"null\"", "backend = \"mpv\"");
    std::fs::write(&config, text).unwrap();
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", T, |s| s["state"] == "idle")
        .await;
    let set = AlertSet {
        screen: SCREEN.into(),
        version: 1,
        issued_at: Timestamp::now(),
        alerts: vec![Alert {
            id: "flood".into(),
            priority: 1,
            expires_at: Timestamp::now() + SignedDuration::from_hours(1),
            text: vec![AlertText {
                lang: "vi".into(),
                text: TEXT.into(),
            }],
            media: None,
        }],
    };
    controller
        .publish_alert(harness::sign_raw(ALERT_TYPE, set.to_json(), &key))
        .await;
    let hash = harness::sha256_hex(TEXT.as_bytes());
    controller
        .wait_received("a completed mpv alert text receipt", T, |r| {
            r.receipts.values().any(|b| {
                let rc = Receipt::parse(b).unwrap();
                rc.playlist == "alert:flood"
                    && rc.media == hash
                    && rc.lang == "vi"
                    && rc.backend == Backend::Mpv
                    && rc.outcome == Outcome::Completed
            })
        })
        .await;
    let stored: Vec<Receipt> = controller
        .state
        .lock()
        .unwrap()
        .receipts
        .values()
        .map(|b| Receipt::parse(b).unwrap())
        .collect();
    assert!(
        stored.iter().all(|r| r.outcome != Outcome::Failed),
        "failed plays: {stored:?}\nlog:\n{}",
        player.log()
    );
    let st = controller.last_status().unwrap();
    assert!(st["last_error"].is_null(), "{st}");
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}
