//! Emergency alerts on the glass: the mpv backend with a real video output on a private X
//! display (Xvfb), the display grabbed every 150 ms (`gatecast_testkit::glass`). Skipped
//! loudly without Xvfb, xwd (x11-apps), mpv or the alert fonts; fails under
//! `GATECAST_REQUIRE_EXTERNAL=1`.
//!
//! An alert in Vietnamese, English, Simplified Chinese and Hmong, then a 120-character
//! Chinese text, each shown for [`SHOWN`]. The test draws the screens it expects with the same
//! renderer (`gatecast-render`, at the display's size) and identifies each grabbed frame by
//! the nearest expected screen (mean colour difference below [`SAME_SCREEN`]), so a frame
//! counts as a language's turn only when its band word, label and text are there:
//! - every language's screen is on the glass, in turn, in the order shown;
//! - between the first and the last alert frame every frame is one of the alert screens (no
//!   black, no idle logo, no half-drawn frame);
//! - no text pixels in the outer 5 % margin of any alert frame: a text pixel is one that is
//!   neither the background nor the band's red (each channel within [`MARGIN_TOLERANCE`]);
//! - the long Chinese text is drawn in several lines inside the safe area (checked on the
//!   expected screen, which the glass was shown to match).
//!
//! The first frame of each screen is saved under `target/glass-artifacts/<test>/key/`; the
//! frames of a failing run under `…/frames/`.
//!
//! A second test shows an alert carrying an image media (vi, then zh-Hans): each screen on the
//! glass is the renderer's own screen with that image above the text, with no text pixels in
//! the margin; the Vietnamese one is saved as `…/screens/media-vi.png`.
//!
//! A third test runs `gatecast-player check-display` on the display and waits for the test
//! card (the same renderer's card at the display's size) to be on the glass.

use crate::glass_screen::{runs, save_key_frames, summary};

use std::time::Duration;

use gatecast_player::backend::mpv::{MpvBackend, MpvConfig, ScreenRenderer};
use gatecast_player::backend::{Backend, Ended, Interrupt, TextImage, TextItem};
use gatecast_render::{MediaImage, Renderer, BACKGROUND, BAND};
use gatecast_testkit::glass::{near, Display, Frame, Grabber};

/// The display: a common 16:9 size, grabbed at half resolution.
const SIZE: (u32, u32) = (1280, 720);
const STEP: u32 = 2;
const GRAB_EVERY: Duration = Duration::from_millis(150);
/// How long each language is shown.
const SHOWN: Duration = Duration::from_millis(2500);
/// Mean colour difference (0–255 per channel, over the whole half-resolution frame) below
/// which a frame is the expected screen. Measured under Xvfb with mpv's default video output:
/// 0.00 for the matching screen (the overlay is drawn 1:1 at the window's size), ≥ 24 to the
/// nearest other language's screen.
const SAME_SCREEN: f64 = 4.0;
/// A margin pixel within this of the background or the band on every channel is no text.
const MARGIN_TOLERANCE: u8 = 24;

/// (language tag, text) shown in turn.
fn alerts() -> Vec<(&'static str, String)> {
    vec![
        (
            "vi",
            "Cửa khẩu Lào Cai tạm dừng thông quan do lũ. Hành khách vui lòng chờ hướng dẫn.".into(),
        ),
        (
            "en",
            "Border crossing suspended due to flooding. Please wait for instructions.".into(),
        ),
        (
            "zh-Hans",
            "因洪水，口岸暂停通关。请旅客听从边防人员指挥。".into(),
        ),
        (
            "hmn",
            "Ciam teb kaw vim dej nyab. Thov tos cov tub ceev xwm qhia.".into(),
        ),
        ("zh-Hans", long_chinese()),
    ]
}

/// 120 Chinese characters (with their punctuation): no spaces anywhere to wrap at.
fn long_chinese() -> String {
    let s = "因洪水，口岸暂停通关。请旅客听从边防人员指挥，在指定区域等候，不要靠近河岸。";
    let t: String = s.chars().cycle().take(120).collect();
    assert_eq!(t.chars().count(), 120);
    t
}

/// The mean per-channel difference between `f` and `img` sampled at `f`'s pixels.
fn mean_diff(f: &Frame, img: &gatecast_render::Image, step: u32) -> f64 {
    let mut sum = 0u64;
    for y in 0..f.height {
        for x in 0..f.width {
            let (a, b) = (f.pixel(x, y), img.pixel(x * step, y * step));
            sum += (0..3).map(|i| u64::from(a[i].abs_diff(b[i]))).sum::<u64>();
        }
    }
    sum as f64 / (f.width * f.height * 3) as f64
}

/// Pixels of `f` in the outer 5 % margin that are neither background nor band.
fn margin_text_pixels(f: &Frame) -> Vec<(u32, u32, [u8; 3])> {
    let (mx, my) = (f.width as f32 * 0.05, f.height as f32 * 0.05);
    let mut out = Vec::new();
    for y in 0..f.height {
        for x in 0..f.width {
            let (xf, yf) = (x as f32 + 0.5, y as f32 + 0.5);
            let inside =
                xf >= mx && xf <= f.width as f32 - mx && yf >= my && yf <= f.height as f32 - my;
            let p = f.pixel(x, y);
            if !inside && !near(p, BACKGROUND, MARGIN_TOLERANCE) && !near(p, BAND, MARGIN_TOLERANCE)
            {
                out.push((x, y, p));
            }
        }
    }
    out
}

/// What a frame shows: the index of the alert screen it matches, or something else.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Seen {
    Alert(usize),
    Other,
}

fn skip_without_fonts(test: &str, r: &ScreenRenderer) -> bool {
    if let Some(w) = r.font_warning() {
        let line = format!("SKIPPED: {test}: {w}");
        if std::env::var("GATECAST_REQUIRE_EXTERNAL").as_deref() == Ok("1") {
            panic!("{line}");
        }
        println!("{line}");
        return true;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_alert_languages_in_turn_inside_the_safe_area() {
    const TEST: &str = "glass_alert_languages_in_turn_inside_the_safe_area";
    if !gatecast_testkit::require_program(TEST, "mpv", "mpv") {
        return;
    }
    let screens = ScreenRenderer::load();
    if skip_without_fonts(TEST, &screens) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(display) = Display::start(TEST, dir.path(), SIZE.0, SIZE.1) else {
        return;
    };
    let shown = alerts();
    let mut renderer = Renderer::system();
    let expected: Vec<gatecast_render::Rendered> = shown
        .iter()
        .map(|(lang, text)| renderer.alert(lang, text, SIZE.0, SIZE.1).unwrap())
        .collect();
    let long = expected.last().unwrap();
    assert!(long.lines >= 3, "120 characters in {} lines", long.lines);
    let ink = long.text_ink.unwrap();
    assert!(
        long.layout.safe.contains(ink),
        "{ink:?} outside {:?}",
        long.layout.safe
    );

    let mut cfg = MpvConfig::new(dir.path().join("mpv.sock"));
    cfg.extra_args = vec!["--no-config".into(), "--ao=null".into()];
    cfg.env = vec![("DISPLAY".into(), display.name())];
    let mut b = MpvBackend::new(cfg).with_screens(screens);
    b.start().await.expect("mpv starts on the X display");
    let grabber = Grabber::start(&display, GRAB_EVERY, STEP);
    let mut never = Interrupt::never();
    // A completed screen stays up until the next one: grab it then at full resolution too.
    let mut full = Vec::new();
    for (lang, text) in &shown {
        let out = b
            .show_text(&TextItem::new(text, lang, SHOWN), &mut never)
            .await;
        assert_eq!(out.ended, Ended::Completed, "{lang}: {:?}", out.ended);
        full.push(display.grab(1).expect("a full-resolution grab"));
    }
    b.idle().await;
    let rec = grabber.stop();
    b.shutdown().await;

    // Per frame: the nearest expected screen, its difference, and the next nearest's.
    let scored: Vec<(usize, f64, f64)> = rec
        .frames
        .iter()
        .map(|f| {
            let mut d: Vec<(usize, f64)> = expected
                .iter()
                .enumerate()
                .map(|(i, e)| (i, mean_diff(f, &e.image, STEP)))
                .collect();
            d.sort_by(|a, b| a.1.total_cmp(&b.1));
            (d[0].0, d[0].1, d[1].1)
        })
        .collect();
    let seen: Vec<Seen> = scored
        .iter()
        .map(|&(i, diff, _)| {
            if diff < SAME_SCREEN {
                Seen::Alert(i)
            } else {
                Seen::Other
            }
        })
        .collect();
    let matched = scored.iter().filter(|s| s.1 < SAME_SCREEN);
    let worst_match = matched.clone().map(|s| s.1).fold(0.0, f64::max);
    let closest_other = matched.map(|s| s.2).fold(f64::MAX, f64::min);
    println!(
        "{TEST}: matching frames differ ≤ {worst_match:.2}, other screens ≥ {closest_other:.2}"
    );
    let runs = runs(&seen);
    let summary = summary(&rec, &runs);
    println!("{TEST}: {summary:?}");
    save_key_frames(TEST, &rec, &runs);
    let fail = |why: String| -> ! {
        let dir = rec.save(TEST);
        panic!("{why}\nframes: {summary:?}\nsaved in {}", dir.display());
    };
    let screens_dir = gatecast_testkit::glass::artifacts_dir(TEST).join("screens");
    std::fs::create_dir_all(&screens_dir).unwrap();
    for (i, (f, (lang, _))) in full.iter().zip(&shown).enumerate() {
        std::fs::write(screens_dir.join(format!("{i}-{lang}.png")), f.to_png()).unwrap();
        let diff = mean_diff(f, &expected[i].image, 1);
        if diff >= SAME_SCREEN {
            fail(format!(
                "screen {i} ({lang}) at full resolution differs by {diff:.2} from the drawn one"
            ));
        }
    }
    // Each screen in turn: the alert runs, in order, are 0, 1, 2, 3, 4.
    let order: Vec<usize> = runs
        .iter()
        .filter_map(|(s, _, _)| match s {
            Seen::Alert(i) => Some(*i),
            Seen::Other => None,
        })
        .collect();
    if order != (0..shown.len()).collect::<Vec<_>>() {
        fail(format!("the alert screens came in the order {order:?}"));
    }
    let first = seen.iter().position(|s| *s != Seen::Other).unwrap();
    let last = seen.iter().rposition(|s| *s != Seen::Other).unwrap();
    if let Some(i) = (first..=last).find(|&i| seen[i] == Seen::Other) {
        fail(format!(
            "frame {i} between two alert screens is none of them"
        ));
    }
    for (i, f) in rec.frames.iter().enumerate() {
        if seen[i] == Seen::Other {
            continue;
        }
        let stray = margin_text_pixels(f);
        if !stray.is_empty() {
            fail(format!(
                "frame {i}: {} text pixels in the 5 % margin, e.g. {:?}",
                stray.len(),
                &stray[..stray.len().min(5)]
            ));
        }
    }
}

/// A 320×180 picture: colour bars over a gradient (no colour of the background or band).
fn media_png() -> Vec<u8> {
    let (w, h) = (320u32, 180u32);
    let bars = [
        [40u8, 160, 220],
        [240, 200, 40],
        [60, 180, 90],
        [200, 90, 200],
    ];
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for y in 0..h {
        for x in 0..w {
            let bar = bars[(x * 4 / w) as usize];
            let shade = (y * 100 / h) as u8;
            rgb.extend(bar.iter().map(|c| c.saturating_sub(shade)));
        }
    }
    gatecast_testkit::glass::encode_png(w, h, &rgb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_alert_image_media_above_its_text() {
    const TEST: &str = "glass_alert_image_media_above_its_text";
    if !gatecast_testkit::require_program(TEST, "mpv", "mpv") {
        return;
    }
    let screens = ScreenRenderer::load();
    if skip_without_fonts(TEST, &screens) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(display) = Display::start(TEST, dir.path(), SIZE.0, SIZE.1) else {
        return;
    };
    let png = media_png();
    let sha256 = playlists::hex::sha256_hex(&png);
    let path = dir.path().join(&sha256);
    std::fs::write(&path, &png).unwrap();
    let image = TextImage {
        sha256,
        path: path.clone(),
    };
    let all = alerts();
    let shown = [all[0].clone(), all[2].clone()];
    let media = MediaImage::decode(&png).unwrap();
    let mut renderer = Renderer::system();
    let expected: Vec<gatecast_render::Rendered> = shown
        .iter()
        .map(|(lang, text)| {
            renderer
                .alert_with_media(lang, text, Some(&media), SIZE.0, SIZE.1)
                .unwrap()
        })
        .collect();
    let plain = renderer
        .alert(shown[0].0, &shown[0].1, SIZE.0, SIZE.1)
        .unwrap();
    assert!(
        expected[0].layout.media.is_some(),
        "the layout has no media box"
    );

    let mut cfg = MpvConfig::new(dir.path().join("mpv.sock"));
    cfg.extra_args = vec!["--no-config".into(), "--ao=null".into()];
    cfg.env = vec![("DISPLAY".into(), display.name())];
    let mut b = MpvBackend::new(cfg).with_screens(screens);
    b.start().await.expect("mpv starts on the X display");
    let mut never = Interrupt::never();
    let mut full = Vec::new();
    for (lang, text) in &shown {
        let item = TextItem::new(text, lang, SHOWN).with_image(Some(image.clone()));
        let out = b.show_text(&item, &mut never).await;
        assert_eq!(out.ended, Ended::Completed, "{lang}: {:?}", out.ended);
        full.push(display.grab(1).expect("a full-resolution grab"));
    }
    b.idle().await;
    b.shutdown().await;

    let out = gatecast_testkit::glass::artifacts_dir(TEST).join("screens");
    std::fs::create_dir_all(&out).unwrap();
    for (i, (f, (lang, _))) in full.iter().zip(&shown).enumerate() {
        std::fs::write(out.join(format!("media-{lang}.png")), f.to_png()).unwrap();
        let diff = mean_diff(f, &expected[i].image, 1);
        println!("{TEST}: {lang} differs by {diff:.2} from the drawn screen");
        assert!(
            diff < SAME_SCREEN,
            "{lang}: the glass differs by {diff:.2} from the screen drawn with the image (saved in {})",
            out.display()
        );
        let stray = margin_text_pixels(f);
        assert!(
            stray.is_empty(),
            "{lang}: {} text pixels in the 5 % margin, e.g. {:?}",
            stray.len(),
            &stray[..stray.len().min(5)]
        );
    }
    // The image really is on the glass: the same screen without it is far from the frame.
    let without = mean_diff(&full[0], &plain.image, 1);
    assert!(
        without >= SAME_SCREEN,
        "the vi screen without its image differs by only {without:.2}"
    );
}

#[test]
fn glass_check_display_shows_the_test_card() {
    const TEST: &str = "glass_check_display_shows_the_test_card";
    if !gatecast_testkit::require_program(TEST, "mpv", "mpv") {
        return;
    }
    let screens = ScreenRenderer::load();
    if skip_without_fonts(TEST, &screens) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(display) = Display::start(TEST, dir.path(), SIZE.0, SIZE.1) else {
        return;
    };
    let card = Renderer::system().test_card(SIZE.0, SIZE.1).unwrap();
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_gatecast-player"));
    cmd.args([
        "check-display",
        "--seconds",
        "30",
        "--mpv-arg=--no-config",
        "--mpv-arg=--ao=null",
    ])
    .env("DISPLAY", display.name())
    .env("TMPDIR", dir.path());
    let mut child = gatecast_testkit::ChildGuard::spawn_stderr_to_log(
        "check-display",
        &mut cmd,
        &dir.path().join("check-display.log"),
    );
    let mut last = None;
    let waited = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        gatecast_testkit::wait_until(
            "the test card on the glass",
            Duration::from_secs(30),
            || {
                assert!(
                    child.is_running(),
                    "check-display exited: {}",
                    child.log_tail(20)
                );
                let f = display.grab(1).expect("grab");
                let same = mean_diff(&f, &card.image, 1) < SAME_SCREEN;
                last = Some(f.clone());
                same.then_some(f)
            },
        )
    }));
    let frame = match waited {
        Ok(f) => f,
        Err(e) => {
            let path = gatecast_testkit::glass::artifacts_dir(TEST).join("last.png");
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            if let Some(f) = &last {
                std::fs::write(&path, f.to_png()).unwrap();
            }
            eprintln!(
                "last frame in {}; check-display: {}",
                path.display(),
                child.log_tail(20)
            );
            std::panic::resume_unwind(e)
        }
    };
    let dir_out = gatecast_testkit::glass::artifacts_dir(TEST);
    std::fs::create_dir_all(&dir_out).unwrap();
    std::fs::write(dir_out.join("card.png"), frame.to_png()).unwrap();
    child.sigterm();
    let status = child.terminate(Duration::from_secs(10));
    assert!(
        status.is_some_and(|s| s.success()),
        "check-display ends cleanly on SIGTERM: {status:?} {}",
        child.log_tail(20)
    );
}
