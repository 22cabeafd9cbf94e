//! Layouts on the glass (`docs/protocol.md` §20): the mpv backend and the regions task on a
//! private X display (Xvfb), the display grabbed every [`GRAB_EVERY`] at full resolution
//! (`gatecast_testkit::glass`). Skipped loudly without Xvfb, xwd, mpv or the fonts; fails
//! under `GATECAST_REQUIRE_EXTERNAL=1`.
//!
//! Landscape `main_ticker` at 1280×720, two slides in turn in `main`, a ticker text in vi and
//! en, the clock in Asia/Ho_Chi_Minh:
//! - the slides are inside the main region and never in the ticker band;
//! - from the first frame with the ticker until the end every frame has the ticker band (no
//!   blank ticker frame across the main item change);
//! - the text's left edge moves at the configured speed (least squares over the frames; the
//!   largest deviation from the line measures the regularity);
//! - the clock region equals the renderer's own clock face for the local time;
//! - the finished turn is a receipt with the SHA-256 of the exact text shown.
//!
//! Portrait `portrait_main_ticker` on the same landscape display: the ticker is the display's
//! left column, the clock its right column (the renderer's face turned clockwise), and a slide
//! of four coloured quadrants is shown turned clockwise inside main.

use std::sync::Arc;
use std::time::Duration;

use gatecast_player::backend::mpv::regions::{self, RegionsSetup};
use gatecast_player::backend::mpv::{MpvBackend, MpvConfig, ScreenRenderer};
use gatecast_player::backend::{text_sha256, Backend, Ended, Interrupt, ItemKind};
use gatecast_player::clock::ClockProbe;
use gatecast_player::journal::Journal;
use gatecast_player::scheduler::{Lookup, Program};
use gatecast_player::store::Store;
use gatecast_render::{ClockFace, Renderer, CLOCK_BACKGROUND, TICKER_BAND};
use gatecast_testkit::glass::{encode_png, near, quadrants_rgb, Display, Frame, Grabber};
use playlists::manifest::{
    AlertText, Layout, Manifest, Playlist, PlaylistItem, RegionName, TickerItem, TickerSet,
};
use tokio::sync::watch;

use crate::glass_screen::{item, solid_png};

pub(crate) const SIZE: (u32, u32) = (1280, 720);
pub(crate) const GRAB_EVERY: Duration = Duration::from_millis(100);
const SPEED: u32 = 300;
const TZ: &str = "Asia/Ho_Chi_Minh";
const VI: &str = "Đính chính: Quốc lộ 4D đã thông xe";
const EN: &str = "Correction: road 4D is open";

pub(crate) fn manifest(layout: &str) -> Manifest {
    let mut l = Layout::template(layout).unwrap();
    l.ticker_speed = Some(SPEED);
    Manifest {
        screen: "lc-1".into(),
        version: 3,
        issued_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        expires_at: "2099-01-01T00:00:00Z".parse().unwrap(),
        timezone: TZ.into(),
        languages: vec!["vi".into(), "en".into()],
        media: vec![],
        playlists: vec![Playlist {
            id: "main".into(),
            name: String::new(),
            items: vec![PlaylistItem {
                media: "0".repeat(64),
                duration_ms: None,
                variants: vec![],
            }],
        }],
        schedule: vec![],
        fallback: "main".into(),
        layout: Some(l),
    }
}

fn ticker() -> TickerSet {
    let text = |lang: &str, text: &str| AlertText {
        lang: lang.into(),
        text: text.into(),
    };
    TickerSet {
        screen: "lc-1".into(),
        version: 1,
        issued_at: jiff::Timestamp::now(),
        items: vec![TickerItem {
            id: "fix-4d".into(),
            priority: 1,
            starts_at: None,
            expires_at: "2099-01-01T00:00:00Z".parse().unwrap(),
            text: vec![text("vi", VI), text("en", EN)],
        }],
    }
}

/// The clock faces of the current local minute and the one before (a grab may straddle it).
fn faces() -> Vec<ClockFace> {
    let now = jiff::Timestamp::now();
    [now - jiff::SignedDuration::from_secs(60), now]
        .into_iter()
        .map(|t| {
            let z = jiff::tz::TimeZone::get(TZ).unwrap().to_datetime(t);
            ClockFace {
                year: z.year(),
                month: z.month(),
                day: z.day(),
                hour: z.hour(),
                minute: z.minute(),
                weekday: z.weekday().to_monday_one_offset(),
            }
        })
        .collect()
}

/// Mean per-channel difference between the frame's rectangle at (x, y) and `img`.
pub(crate) fn diff_at(f: &Frame, x0: u32, y0: u32, img: &gatecast_render::Image) -> f64 {
    let mut sum = 0u64;
    for y in 0..img.height {
        for x in 0..img.width {
            let (a, b) = (f.pixel(x0 + x, y0 + y), img.pixel(x, y));
            sum += (0..3).map(|i| u64::from(a[i].abs_diff(b[i]))).sum::<u64>();
        }
    }
    sum as f64 / f64::from(img.width * img.height * 3)
}

/// Share of the rectangle's pixels near `colour`.
pub(crate) fn share(f: &Frame, r: playlists::manifest::Rect, colour: [u8; 3]) -> f64 {
    let mut n = 0;
    for y in r.y..r.y + r.h {
        for x in r.x..r.x + r.w {
            n += usize::from(near(f.pixel(x, y), colour, 12));
        }
    }
    n as f64 / f64::from(r.w * r.h)
}

/// Started mpv and regions task on `display`, with `m` and the ticker set.
pub(crate) struct Rig {
    pub(crate) b: MpvBackend,
    pub(crate) stop: watch::Sender<bool>,
    pub(crate) task: tokio::task::JoinHandle<()>,
    pub(crate) journal: Journal,
    _store: Store,
}

/// [`Rig`] with `lookup` finding the side and logo images.
pub(crate) async fn rig(
    dir: &std::path::Path,
    display: &Display,
    screens: ScreenRenderer,
    m: Manifest,
    lookup: Lookup,
) -> Rig {
    let socket = dir.join("mpv.sock");
    let mut cfg = MpvConfig::new(&socket);
    cfg.extra_args = vec!["--no-config".into(), "--ao=null".into()];
    cfg.env = vec![("DISPLAY".into(), display.name())];
    let mut b = MpvBackend::new(cfg).with_screens(screens.clone());
    b.start().await.expect("mpv starts on the X display");
    let store = Store::open(dir).unwrap();
    let journal = Journal::open(&store, "lc-1").unwrap();
    journal.enter_epoch(1).unwrap();
    let program = Program {
        manifest: Some(Arc::new(m)),
        alerts: None,
    };
    let (_ptx, prx) = watch::channel(Some(program));
    let (_ttx, trx) = watch::channel(Some(Arc::new(ticker())));
    let (stop, stop_rx) = watch::channel(false);
    let setup = RegionsSetup {
        socket,
        screens,
        journal: journal.clone(),
        clock: ClockProbe::new(),
        lookup,
    };
    // The senders live in the task's future through the receivers' channel: keep them.
    let task = tokio::spawn(async move {
        let _keep = (_ptx, _ttx);
        regions::run(setup, prx, trx, stop_rx).await;
    });
    Rig {
        b,
        stop,
        task,
        journal,
        _store: store,
    }
}

/// A lookup that finds nothing (no side or logo images).
fn no_images() -> Lookup {
    Arc::new(|_: &str| None)
}

pub(crate) fn skip(test: &str, screens: &ScreenRenderer) -> bool {
    if !gatecast_testkit::require_program(test, "mpv", "mpv") {
        return true;
    }
    if let Some(w) = screens.font_warning() {
        let line = format!("SKIPPED: {test}: {w}");
        assert!(
            std::env::var("GATECAST_REQUIRE_EXTERNAL").as_deref() != Ok("1"),
            "{line}"
        );
        println!("{line}");
        return true;
    }
    false
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_layout_main_ticker_clock_scroll_at_speed_across_a_main_change() {
    const TEST: &str = "glass_layout_main_ticker_clock_scroll_at_speed_across_a_main_change";
    let screens = ScreenRenderer::load();
    if skip(TEST, &screens) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(display) = Display::start(TEST, dir.path(), SIZE.0, SIZE.1) else {
        return;
    };
    let m = manifest("main_ticker");
    let layout = m.layout.clone().unwrap();
    let main = layout.region(RegionName::Main).unwrap().rect(SIZE);
    let band = layout.region(RegionName::Ticker).unwrap().rect(SIZE);
    let clock = layout.region(RegionName::Clock).unwrap().rect(SIZE);
    let (orange, green) = ([220, 120, 30], [30, 170, 70]);
    let (a, b_png) = (dir.path().join("a.png"), dir.path().join("b.png"));
    solid_png(&a, orange);
    solid_png(&b_png, green);

    let mut rig = rig(dir.path(), &display, screens, m, no_images()).await;
    let grabber = Grabber::start(&display, GRAB_EVERY, 1);
    let mut never = Interrupt::never();
    for (path, ms) in [(&a, 3500), (&b_png, 4000)] {
        let out = rig
            .b
            .play(&item(path, ItemKind::Slide, Some(ms)), None, &mut never)
            .await;
        assert_eq!(out.ended, Ended::Completed);
    }
    let last = display.grab(1).expect("a full grab");
    let faces = faces();
    let rec = grabber.stop();
    rig.stop.send_replace(true);
    rig.task.await.unwrap();
    rig.b.shutdown().await;
    let frames_dir = rec.save(TEST);
    std::fs::write(frames_dir.join("last.png"), last.to_png()).unwrap();

    // Main content inside main, never in the ticker band.
    let centre = (main.x + main.w / 2, main.y + main.h / 2);
    let kinds: Vec<char> = rec
        .frames
        .iter()
        .map(|f| match f.pixel(centre.0, centre.1) {
            p if near(p, orange, 16) => 'a',
            p if near(p, green, 16) => 'b',
            _ => '?',
        })
        .collect();
    let k: String = kinds.iter().collect();
    assert!(
        k.contains('a') && k.contains('b') && k.find('a') < k.rfind('b'),
        "{k}"
    );
    for (i, f) in rec.frames.iter().enumerate() {
        for c in [orange, green] {
            assert!(
                share(f, band, c) == 0.0,
                "frame {i}: slide colour in the ticker band"
            );
        }
    }
    // No blank ticker frame from its first appearance on, across the slide change.
    let has_band: Vec<bool> = rec
        .frames
        .iter()
        .map(|f| share(f, band, TICKER_BAND) > 0.5)
        .collect();
    let first = has_band
        .iter()
        .position(|b| *b)
        .expect("the ticker appears");
    let blank: Vec<usize> = (first..has_band.len()).filter(|&i| !has_band[i]).collect();
    assert!(
        blank.is_empty(),
        "ticker missing in frames {blank:?} ({frames_dir:?})"
    );
    let change = kinds.iter().position(|c| *c == 'b').unwrap();
    assert!(
        first < change,
        "the ticker was up before the main change ({first} vs {change})"
    );

    // Speed: where in the renderer's own vi strip each frame's band is (the offset whose
    // window matches the band's rows best), over the vi turn.
    let mut r = Renderer::system();
    let strip = r.ticker_strip("vi", VI, band.h, band.w).unwrap();
    let t0 = rec.frames[first].at;
    let mut pts = Vec::new();
    for f in &rec.frames[first..] {
        let rows = [
            band.y + band.h / 3,
            band.y + band.h / 2,
            band.y + 2 * band.h / 3,
        ];
        let lit = rows
            .iter()
            .any(|&y| (band.x..band.x + band.w).any(|x| !near(f.pixel(x, y), TICKER_BAND, 40)));
        if !lit {
            continue;
        }
        let cost = |off: u32| -> u64 {
            let mut sum = 0u64;
            for &y in &rows {
                for x in (0..band.w).step_by(3) {
                    let (a, b) = (f.pixel(band.x + x, y), strip.pixel(off + x, y - band.y));
                    sum += (0..3).map(|i| u64::from(a[i].abs_diff(b[i]))).sum::<u64>();
                }
            }
            sum
        };
        // Every offset (a coarse step can miss the match by a glyph edge and lose to a
        // window of plain band).
        let best = (0..=strip.width - band.w).min_by_key(|&o| cost(o)).unwrap();
        // Mean difference over the text's pixels (in the frame or in the strip).
        let mut text_px = 0u64;
        for &y in &rows {
            for x in (0..band.w).step_by(3) {
                let lit = !near(f.pixel(band.x + x, y), TICKER_BAND, 40)
                    || !near(strip.pixel(best + x, y - band.y), TICKER_BAND, 40);
                text_px += u64::from(lit);
            }
        }
        let mean = cost(best) as f64 / (3.0 * text_px.max(1) as f64);
        let t = f.at.duration_since(t0).as_secs_f64();
        println!("frame at {t:.3} s: strip offset {best}, mean difference on text {mean:.1}");
        // The vi turn ends where the offset stops growing (the en turn starts over).
        if pts
            .last()
            .is_some_and(|p: &(f64, f64)| f64::from(best) < p.1)
        {
            break;
        }
        if mean < 25.0 {
            // The whole band is one window of the strip: no torn frame.
            assert!(
                mean < 2.0,
                "frame at {t:.3} s matches its window only to {mean:.1}"
            );
            pts.push((t, f64::from(best)));
        }
    }
    assert!(pts.len() >= 8, "the vi strip found in {} frames", pts.len());
    let n = pts.len() as f64;
    let (mt, mx) = (
        pts.iter().map(|p| p.0).sum::<f64>() / n,
        pts.iter().map(|p| p.1).sum::<f64>() / n,
    );
    let slope = pts.iter().map(|p| (p.0 - mt) * (p.1 - mx)).sum::<f64>()
        / pts.iter().map(|p| (p.0 - mt).powi(2)).sum::<f64>();
    let worst = pts
        .iter()
        .map(|p| (p.1 - (mx + slope * (p.0 - mt))).abs())
        .fold(0.0, f64::max);
    println!(
        "ticker: {:.1} px/s measured over {} frames (configured {SPEED}), largest deviation from constant speed {worst:.1} px",
        slope,
        pts.len()
    );
    assert!(
        (slope - f64::from(SPEED)).abs() < f64::from(SPEED) * 0.05,
        "speed {slope}"
    );
    // A frame's time is when its grab finished; the grabs' own latency (xwd, ~0.1–0.5 s on a
    // loaded machine) bounds what this recording can resolve.
    let resolution = rec.longest_grab_interval().as_secs_f64();
    println!(
        "grab resolution {resolution:.3} s = {:.0} px",
        resolution * f64::from(SPEED)
    );
    assert!(
        worst <= resolution * f64::from(SPEED),
        "irregular scrolling: {worst:.1} px off the line, beyond the grabs' resolution"
    );

    // The clock is the renderer's face for the local time.
    let best = faces
        .iter()
        .map(|face| {
            let img = r.clock("vi", face, clock.w, clock.h).unwrap();
            diff_at(&last, clock.x, clock.y, &img)
        })
        .fold(f64::MAX, f64::min);
    assert!(
        best < 3.0,
        "clock region differs from the local time's face by {best:.2}"
    );
    assert!(share(&last, clock, CLOCK_BACKGROUND) > 0.4);

    // The vi turn scrolled to its end: its receipt names the exact text.
    let receipts: Vec<playlists::receipt::Receipt> = rig
        .journal
        .unacked(100)
        .unwrap()
        .into_iter()
        .map(|(_, b)| serde_json::from_slice(&b).unwrap())
        .collect();
    let vi = receipts
        .iter()
        .find(|r| r.lang == "vi")
        .expect("a receipt for the vi turn");
    assert_eq!(vi.media, text_sha256(VI));
    assert_eq!(vi.playlist, "fix-4d");
    assert_eq!(vi.outcome, playlists::receipt::Outcome::Completed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_layout_portrait_is_drawn_turned_clockwise() {
    const TEST: &str = "glass_layout_portrait_is_drawn_turned_clockwise";
    let screens = ScreenRenderer::load();
    if skip(TEST, &screens) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(display) = Display::start(TEST, dir.path(), SIZE.0, SIZE.1) else {
        return;
    };
    let m = manifest("portrait_main_ticker");
    let layout = m.layout.clone().unwrap();
    let canvas = layout.canvas(SIZE);
    assert_eq!(canvas, (720, 1280));
    let on = |name| {
        let r = layout.region(name).unwrap().rect(canvas);
        (r, r.turned_clockwise(canvas))
    };
    let (_, band) = on(RegionName::Ticker);
    let (clock_c, clock) = on(RegionName::Clock);
    let (_, main) = on(RegionName::Main);
    assert_eq!(
        (band.x, clock.x + clock.w),
        (0, SIZE.0),
        "ticker left, clock right"
    );
    let slide = dir.path().join("q.png");
    std::fs::write(
        &slide,
        encode_png(320, 180, &quadrants_rgb(320, 180, false)),
    )
    .unwrap();

    let mut rig = rig(dir.path(), &display, screens, m, no_images()).await;
    // Grabbed while the slide plays: once it has ended mpv is idle, and its window may be
    // black at any moment (`player/src/backend/mpv/mod.rs`).
    let grabber = Grabber::start(&display, GRAB_EVERY, 1);
    let mut never = Interrupt::never();
    let out = rig
        .b
        .play(&item(&slide, ItemKind::Slide, Some(2500)), None, &mut never)
        .await;
    let rec = grabber.stop();
    assert_eq!(out.ended, Ended::Completed);
    let faces = faces();
    rig.stop.send_replace(true);
    rig.task.await.unwrap();
    rig.b.shutdown().await;

    // The slide's quadrants turned clockwise: its top-left (red) is top-right on the display,
    // its bottom-left (blue) top-left, top-right (green) bottom-right, bottom-right (yellow)
    // bottom-left.
    let (cx, cy) = (main.x + main.w / 2, main.y + main.h / 2);
    let probe =
        |f: &Frame, dx: i32, dy: i32| f.pixel((cx as i32 + dx) as u32, (cy as i32 + dy) as u32);
    let want = [
        ((60, -200), [210, 40, 40]),
        ((-60, -200), [40, 60, 200]),
        ((60, 200), [40, 170, 60]),
        ((-60, 200), [230, 200, 40]),
    ];
    let turned = |f: &Frame| {
        want.iter()
            .all(|&((dx, dy), c)| near(probe(f, dx, dy), c, 30))
    };
    let Some(f) = rec.frames.iter().rev().find(|f| turned(f)) else {
        let frames_dir = rec.save(TEST);
        let seen: Vec<Vec<[u8; 3]>> = rec
            .frames
            .iter()
            .map(|f| want.iter().map(|&((dx, dy), _)| probe(f, dx, dy)).collect())
            .collect();
        panic!(
            "no frame of {} during the slide shows its quadrants turned clockwise at \
             {want:?} from main's centre; seen: {seen:?}; grab errors: {:?} ({frames_dir:?})",
            rec.frames.len(),
            rec.errors
        );
    };
    let dirs = gatecast_testkit::glass::artifacts_dir(TEST);
    std::fs::create_dir_all(&dirs).unwrap();
    std::fs::write(dirs.join("portrait.png"), f.to_png()).unwrap();

    assert!(share(f, band, TICKER_BAND) > 0.5, "the ticker column");
    let mut r = Renderer::system();
    let best = faces
        .iter()
        .map(|face| {
            let img = r
                .clock("vi", face, clock_c.w, clock_c.h)
                .unwrap()
                .turned_clockwise();
            diff_at(f, clock.x, clock.y, &img)
        })
        .fold(f64::MAX, f64::min);
    assert!(best < 3.0, "turned clock differs by {best:.2}");
}
