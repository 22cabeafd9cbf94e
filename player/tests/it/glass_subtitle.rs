//! Subtitles on the glass (`docs/protocol.md` §21): the mpv backend on a private X display
//! plays a blue video (`blue-3s.webm`) three times — without a track, with a short vi track
//! and with a long hmn track — and each grabbed frame is judged OCR-free by the white text
//! pixels in the bottom quarter (the video itself has none): none without a track, some with
//! vi, several times more with hmn. The scheduler picks the hmn track on the hmn turn of a
//! gate's rotation and the play names it (`scheduler::tests::the_subtitle_track_follows_the_
//! language_in_turn`). The frame with most text of each play is saved under
//! `target/glass-artifacts/glass_subtitle_track_is_rendered_by_mpv/`.
//!
//! End to end in the real player: `gatecast-player run` with the mpv backend on the X display,
//! a real MQTT broker and media server (`common::harness`), a signed manifest for a gate of
//! languages vi and hmn whose video carries a vi and an hmn track. The frames grabbed during
//! the play whose receipt says `subtitle_lang: "hmn"` show the long hmn line (several times the
//! white text of the vi play's frames), and both receipts name their track.

use crate::common;
use crate::mpv_backend::NO_AUDIO_DEVICE;

use std::path::Path;
use std::time::Duration;

use gatecast_player::backend::mpv::{MpvBackend, MpvConfig};
use gatecast_player::backend::{Backend, Ended, Interrupt, ItemKind, PlayItem};
use gatecast_testkit::glass::{artifacts_dir, near, Display, Frame, Grabber};
use playlists::manifest::{MediaKind, MediaRef, SubtitleRef};
use playlists::receipt::{Outcome, Receipt};
use playlists::subtitle::SubtitleFormat;

use common::harness::{self, player_spec, PlayerProc, Rig, SCREEN};

const TEST: &str = "glass_subtitle_track_is_rendered_by_mpv";
/// A short vi line and a long hmn one, for the whole 3 s video.
const VI_VTT: &str = "WEBVTT\n\n00:00.000 --> 00:03.000\nChào\n";
const HMN_SRT: &str = "1\n00:00:00,000 --> 00:00:03,000\nNyob zoo txais tos rau Lào Cai\n";
/// The hmn line is this many times longer than the vi one; its white pixels must be at least
/// [`HMN_OVER_VI`] times as many (glyph widths vary).
const HMN_OVER_VI: f64 = 3.0;
/// The colour of `blue-3s.webm` (0x1e1ee6).
const BLUE: [u8; 3] = [30, 30, 230];

/// White text pixels (every channel ≥ 200) in the bottom quarter of the frame.
fn text_pixels(f: &Frame) -> usize {
    (f.height * 3 / 4..f.height)
        .flat_map(|y| (0..f.width).map(move |x| (x, y)))
        .filter(|&(x, y)| f.pixel(x, y).iter().all(|&c| c >= 200))
        .count()
}

fn video(subtitle: Option<&Path>) -> PlayItem {
    PlayItem {
        path: common::data_dir().join("blue-3s.webm"),
        sha256: "blue".into(),
        kind: ItemKind::Video,
        duration: None,
        subtitle: subtitle.map(Path::to_path_buf),
    }
}

/// Whether the frame shows the blue video (the top three quarters nearly all blue): frames
/// of the bare X root (its weave has white) before mpv's window opens are left out.
fn shows_video(f: &Frame) -> bool {
    let top = f.height * 3 / 4;
    let blue = (0..top)
        .flat_map(|y| (0..f.width).map(move |x| (x, y)))
        .filter(|&(x, y)| near(f.pixel(x, y), BLUE, 40))
        .count();
    blue as f64 >= 0.95 * f64::from(top * f.width)
}

/// Plays `item` while grabbing; returns the most text pixels of a frame showing the video,
/// and that frame.
async fn play_and_grab(b: &mut MpvBackend, display: &Display, item: &PlayItem) -> (usize, Frame) {
    let grabber = Grabber::start(display, Duration::from_millis(100), 1);
    let out = b.play(item, None, &mut Interrupt::never()).await;
    let rec = grabber.stop();
    assert_eq!(out.ended, Ended::Completed, "{out:?}");
    rec.frames
        .into_iter()
        .filter(shows_video)
        .map(|f| (text_pixels(&f), f))
        .max_by_key(|(n, _)| *n)
        .expect("a frame showed the video")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_subtitle_track_is_rendered_by_mpv() {
    if !gatecast_testkit::require_program(TEST, "mpv", "mpv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(display) = Display::start(TEST, dir.path(), 640, 360) else {
        return;
    };
    let vi = dir.path().join("vi.vtt");
    std::fs::write(&vi, VI_VTT).unwrap();
    let hmn = dir.path().join("hmn.srt");
    std::fs::write(&hmn, HMN_SRT).unwrap();
    // The files a screen would get are what the contract accepts.
    for f in [&vi, &hmn] {
        playlists::subtitle::parse(&std::fs::read(f).unwrap()).expect("a valid subtitle file");
    }

    let mut cfg = MpvConfig::new(dir.path().join("mpv.sock"));
    cfg.extra_args = vec!["--no-config".into()];
    cfg.extra_args.extend(NO_AUDIO_DEVICE.map(String::from));
    cfg.env = vec![("DISPLAY".into(), display.name())];
    let mut b = MpvBackend::new(cfg);
    b.start().await.expect("mpv starts on the X display");
    let (none, _) = play_and_grab(&mut b, &display, &video(None)).await;
    let (with_vi, vi_frame) = play_and_grab(&mut b, &display, &video(Some(&vi))).await;
    let (with_hmn, hmn_frame) = play_and_grab(&mut b, &display, &video(Some(&hmn))).await;
    b.shutdown().await;

    let out = artifacts_dir(TEST);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("vi.png"), vi_frame.to_png()).unwrap();
    std::fs::write(out.join("hmn.png"), hmn_frame.to_png()).unwrap();
    println!(
        "text pixels in the bottom quarter: none {none}, vi {with_vi}, hmn {with_hmn}; frames in {}",
        out.display()
    );
    assert!(none < 20, "the video alone has no white text: {none}");
    assert!(with_vi >= 100, "the vi track is on the glass: {with_vi}");
    assert!(
        with_hmn as f64 >= HMN_OVER_VI * with_vi as f64,
        "the hmn track (a line {HMN_OVER_VI}× longer) is on the glass: hmn {with_hmn}, vi {with_vi}"
    );
}

const AGENT_TEST: &str = "glass_subtitle_player_shows_the_hmn_track_and_its_receipt_says_so";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_subtitle_player_shows_the_hmn_track_and_its_receipt_says_so() {
    const T: Duration = Duration::from_secs(60);
    if !gatecast_testkit::require_program(AGENT_TEST, "mpv", "mpv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(display) = Display::start(AGENT_TEST, dir.path(), 640, 360) else {
        return;
    };
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;
    let video_bytes = std::fs::read(common::data_dir().join("blue-3s.webm")).unwrap();
    let track = |lang: &str, text: &str, format| {
        let sha = harness::sha256_hex(text.as_bytes());
        media.put(&sha, text.as_bytes().to_vec());
        SubtitleRef {
            sha256: sha,
            bytes: text.len() as u64,
            lang: lang.into(),
            format,
        }
    };
    let video = MediaRef {
        sha256: harness::sha256_hex(&video_bytes),
        bytes: video_bytes.len() as u64,
        mime: "video/webm".into(),
        kind: MediaKind::Video,
        lang: "vi".into(),
        title: "blue".into(),
        duration_ms: Some(3000),
        subtitles: vec![
            track("vi", VI_VTT, SubtitleFormat::Vtt),
            track("hmn", HMN_SRT, SubtitleFormat::Srt),
        ],
    };
    media.put(&video.sha256, video_bytes);

    let mpv_args: Vec<String> = ["--no-config"]
        .into_iter()
        .chain(NO_AUDIO_DEVICE)
        .map(|a| format!("{a:?}"))
        .collect();
    let extra = format!("mpv_args = [{}]\n", mpv_args.join(", "));
    let spec = player_spec(&broker, &media, &key, &extra, 1.0);
    let config = harness::write_config(dir.path(), &spec);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("backend = \"null\"", "backend = \"mpv\"");
    std::fs::write(&config, text).unwrap();
    let mut player = PlayerProc::start_with_env(dir.path(), &spec, &[("DISPLAY", display.name())]);
    controller
        .wait_status("first status", T, |s| s["state"].is_string())
        .await;
    // Frame instants are mapped to wall-clock time from here (receipts carry wall-clock time).
    let (t0, w0) = (std::time::Instant::now(), jiff::Timestamp::now());
    let grabber = Grabber::start(&display, Duration::from_millis(100), 1);
    let mut m = harness::manifest(SCREEN, 1, std::slice::from_ref(&video));
    m.languages = vec!["vi".into(), "hmn".into()];
    controller
        .publish_manifest(harness::sign_manifest(&m, &key))
        .await;
    let parsed = |r: &common::harness::Received| -> Vec<Receipt> {
        r.receipts
            .values()
            .map(|b| Receipt::parse(b).unwrap())
            .collect()
    };
    let done = |rs: &[Receipt], lang: &str| {
        rs.iter()
            .any(|r| r.outcome == Outcome::Completed && r.subtitle_lang.as_deref() == Some(lang))
    };
    controller
        .wait_received("receipts of a vi and an hmn play", T, |r| {
            let rs = parsed(r);
            done(&rs, "vi") && done(&rs, "hmn")
        })
        .await;
    let rec = grabber.stop();
    assert!(player.stop().await, "clean exit; log:\n{}", player.log());
    let receipts: Vec<Receipt> = controller
        .state
        .lock()
        .unwrap()
        .receipts
        .values()
        .map(|b| Receipt::parse(b).unwrap())
        .collect();

    // Each frame inside a completed play (0.3 s in from either end) counts for that play's
    // track: the most white text pixels of a frame showing the video, per track.
    let margin = jiff::SignedDuration::from_millis(300);
    let mut best: std::collections::HashMap<String, (usize, Option<Frame>)> = Default::default();
    for f in rec.frames.into_iter().filter(shows_video) {
        let at = w0 + jiff::SignedDuration::try_from(f.at.duration_since(t0)).unwrap();
        let Some(r) = receipts.iter().find(|r| {
            r.outcome == Outcome::Completed
                && r.started_at + margin <= at
                && at + margin <= r.ended_at
        }) else {
            continue;
        };
        let lang = r.subtitle_lang.clone().unwrap_or_default();
        let n = text_pixels(&f);
        let e = best.entry(lang).or_insert((0, None));
        if e.1.is_none() || n > e.0 {
            *e = (n, Some(f));
        }
    }
    let (vi, vi_frame) = best.remove("vi").expect("frames of the vi play");
    let (hmn, hmn_frame) = best.remove("hmn").expect("frames of the hmn play");
    let out = artifacts_dir(AGENT_TEST);
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("vi.png"), vi_frame.unwrap().to_png()).unwrap();
    std::fs::write(out.join("hmn.png"), hmn_frame.unwrap().to_png()).unwrap();
    println!(
        "white text pixels in the bottom quarter: vi play {vi}, hmn play {hmn}; frames in {}",
        out.display()
    );
    assert!(
        vi >= 100,
        "the vi track is on the glass on the vi turn: {vi}"
    );
    assert!(
        hmn as f64 >= HMN_OVER_VI * vi as f64,
        "the hmn track is on the glass on the hmn turn: hmn {hmn}, vi {vi}"
    );
    let r = receipts
        .iter()
        .find(|r| r.subtitle_lang.as_deref() == Some("hmn"))
        .unwrap();
    assert_eq!(
        (r.media.as_str(), r.lang.as_str()),
        (video.sha256.as_str(), "vi")
    );
}
