//! Subtitles on the glass (`docs/protocol.md` §21): the mpv backend on a private X display
//! plays a blue video (`blue-3s.webm`) three times — without a track, with a short vi track
//! and with a long hmn track — and each grabbed frame is judged OCR-free by the white text
//! pixels in the bottom quarter (the video itself has none): none without a track, some with
//! vi, several times more with hmn. The scheduler picks the hmn track on the hmn turn of a
//! gate's rotation and the play names it (`scheduler::tests::the_subtitle_track_follows_the_
//! language_in_turn`). The frame with most text of each play is saved under
//! `target/glass-artifacts/glass_subtitle_track_is_rendered_by_mpv/`.

use crate::common;
use crate::mpv_backend::NO_AUDIO_DEVICE;

use std::path::Path;
use std::time::Duration;

use gatecast_player::backend::mpv::{MpvBackend, MpvConfig};
use gatecast_player::backend::{Backend, Ended, Interrupt, ItemKind, PlayItem};
use gatecast_testkit::glass::{artifacts_dir, near, Display, Frame, Grabber};

const TEST: &str = "glass_subtitle_track_is_rendered_by_mpv";
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
    std::fs::write(&vi, "WEBVTT\n\n00:00.000 --> 00:03.000\nChào\n").unwrap();
    let hmn = dir.path().join("hmn.srt");
    std::fs::write(
        &hmn,
        "1\n00:00:00,000 --> 00:00:03,000\nNyob zoo txais tos rau Lào Cai\n",
    )
    .unwrap();
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
