//! A real `gatecast-player` with the mpv backend (`--vo=null --ao=null`): a short video and a
//! slide produce `completed` receipts whose durations match the media within ±750 ms (the
//! tolerance documented in `mpv_backend.rs`). Skipped loudly without mpv.

use crate::common;

use std::time::Duration;

use common::harness::{self, player_spec, PlayerProc, Rig, SCREEN};

use playlists::manifest::{MediaKind, MediaRef};
use playlists::receipt::{Backend, Outcome, Receipt};

const T: Duration = Duration::from_secs(40);
const TOLERANCE_MS: i64 = 750;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn video_and_slide_complete_with_real_durations() {
    if !gatecast_testkit::require_program(
        "video_and_slide_complete_with_real_durations",
        "mpv",
        "mpv",
    ) {
        return;
    }
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;

    let video_bytes = std::fs::read(common::data_dir().join("clip-2s.webm")).unwrap();
    let slide_bytes = std::fs::read(common::data_dir().join("slide.png")).unwrap();
    let video = MediaRef {
        sha256: harness::sha256_hex(&video_bytes),
        bytes: video_bytes.len() as u64,
        mime: "video/webm".into(),
        kind: MediaKind::Video,
        lang: "zxx".into(),
        title: "test clip".into(),
        duration_ms: Some(2000),
        subtitles: Vec::new(),
    };
    let slide = MediaRef {
        sha256: harness::sha256_hex(&slide_bytes),
        bytes: slide_bytes.len() as u64,
        mime: "image/png".into(),
        kind: MediaKind::Slide,
        lang: "zxx".into(),
        title: "test slide".into(),
        duration_ms: Some(1500),
        subtitles: Vec::new(),
    };
    media.put(&video.sha256, video_bytes);
    media.put(&slide.sha256, slide_bytes);

    let dir = tempfile::tempdir().unwrap();
    let spec = player_spec(
        &broker,
        &media,
        &key,
        "mpv_args = [\"--vo=null\", \"--ao=null\", \"--no-config\"]\n",
        1.0,
    );
    let config = harness::write_config(dir.path(), &spec);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("backend = \"null\"", "backend = \"mpv\"");
    std::fs::write(&config, text).unwrap();
    let mut player = PlayerProc::start(dir.path(), &spec);
    controller
        .wait_status("first status", T, |s| s["state"] == "idle")
        .await;
    controller
        .publish_manifest(harness::sign_manifest(
            &harness::manifest(SCREEN, 1, &[video.clone(), slide.clone()]),
            &key,
        ))
        .await;

    let wanted = |r: &common::harness::Received| {
        let parsed: Vec<Receipt> = r
            .receipts
            .values()
            .map(|b| Receipt::parse(b).unwrap())
            .collect();
        let done = |sha: &str| {
            parsed
                .iter()
                .any(|rc| rc.media == sha && rc.outcome == Outcome::Completed)
        };
        done(&video.sha256) && done(&slide.sha256)
    };
    controller
        .wait_received("completed video and slide receipts", T, wanted)
        .await;
    let stored: Vec<Vec<u8>> = controller
        .state
        .lock()
        .unwrap()
        .receipts
        .values()
        .cloned()
        .collect();
    for rc in stored.iter().map(|b| Receipt::parse(b).unwrap()) {
        assert_eq!(rc.backend, Backend::Mpv);
        if rc.outcome != Outcome::Completed {
            continue;
        }
        let want = if rc.media == video.sha256 { 2000 } else { 1500 };
        let got = rc.ended_at.duration_since(rc.started_at).as_millis() as i64;
        assert!(
            (got - want).abs() <= TOLERANCE_MS,
            "media {} played {got} ms, expected {want} ms ± {TOLERANCE_MS}",
            rc.media
        );
    }
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
}
