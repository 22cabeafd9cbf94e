//! `layout-cpu`: the CPU the screen spends on its layout (`docs/protocol.md` §20). A private X
//! display (Xvfb, 1920×1080), real mpv, and the player's own playback code in this process
//! (`MpvBackend` and the regions task, exactly as `gatecast-player run` starts them) play a
//! 1080p H.264 test video (made by ffmpeg) in a loop, or show a still slide, for each layout:
//! - `full`: the main content full screen, no layout;
//! - `main_ticker_clock_only`: main + clock, the ticker region empty (no text);
//! - `main_ticker`: main + a ticker text scrolling at 120 px/s + the clock;
//! - `main_side_ticker`: main + side images (turning every 3 s) + ticker + clock.
//!
//! The slide cases show what the layout itself costs (mpv is idle on a still picture until an
//! overlay changes); the video cases what a screen playing video spends in all.
//!
//! After a warm-up the CPU time (user + system, `/proc/<pid>/stat`) of this process (the
//! player's playback part) and of mpv (its child) is read at the start and the end of the
//! window; the figures are per cent of one core.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context as _, Result};
use gatecast_player::backend::mpv::regions::{self, RegionsSetup};
use gatecast_player::backend::mpv::{MpvBackend, MpvConfig, ScreenRenderer};
use gatecast_player::backend::{Backend, Interrupt, ItemKind, PlayItem};
use gatecast_player::clock::ClockProbe;
use gatecast_player::journal::Journal;
use gatecast_player::scheduler::{Lookup, Program};
use gatecast_player::store::Store;
use gatecast_testkit::glass::{encode_png, quadrants_rgb, Display};
use playlists::manifest::{
    AlertText, Layout, Manifest, MediaKind, MediaRef, Playlist, PlaylistItem, RegionName,
    TickerItem, TickerSet,
};
use serde_json::json;
use tokio::sync::watch;

use super::common::{temp_dir, Opts, Report};

const SIZE: (u32, u32) = (1920, 1080);
const TEXT: &str = "Đính chính: Quốc lộ 4D đã thông xe từ 14:00 — Correction: road 4D is open";

/// CPU seconds (user + system) of `pid` so far.
fn cpu_secs(pid: u32, tick: f64) -> Option<f64> {
    let s = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let (utime, stime): (f64, f64) = (f.get(11)?.parse().ok()?, f.get(12)?.parse().ok()?);
    Some((utime + stime) / tick)
}

/// The children of this process whose command is `name`.
fn children_named(name: &str) -> Vec<u32> {
    let me = std::process::id();
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            let Ok(s) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let (Some(a), Some(b)) = (s.find('('), s.rfind(')')) else {
                return false;
            };
            let ppid = s[b + 2..].split_whitespace().nth(1);
            &s[a + 1..b] == name && ppid == Some(&me.to_string())
        })
        .collect()
}

/// Clock ticks per second (`getconf CLK_TCK`, 100 when it cannot say).
fn clock_tick() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(100.0)
}

fn make_video(dir: &Path, secs: u32) -> Result<PathBuf> {
    let out = dir.join("test-1080p.mp4");
    let st = std::process::Command::new("ffmpeg")
        .args(["-v", "error", "-y", "-f", "lavfi", "-i"])
        .arg(format!("testsrc2=size={}x{}:rate=30", SIZE.0, SIZE.1))
        .args([
            "-t",
            &secs.to_string(),
            "-c:v",
            "libx264",
            "-preset",
            "veryfast",
        ])
        .args(["-pix_fmt", "yuv420p"])
        .arg(&out)
        .status()
        .context("running ffmpeg (apt-get install ffmpeg)")?;
    if !st.success() {
        bail!("ffmpeg could not make the test video: {st}");
    }
    Ok(out)
}

fn manifest(layout: Option<Layout>, media: Vec<MediaRef>) -> Manifest {
    Manifest {
        screen: "cpu-1".into(),
        version: 1,
        issued_at: "2026-01-01T00:00:00Z".parse().unwrap(),
        expires_at: "2099-01-01T00:00:00Z".parse().unwrap(),
        timezone: "Asia/Ho_Chi_Minh".into(),
        languages: vec!["vi".into()],
        media,
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
        layout,
    }
}

fn ticker_set(with_text: bool) -> TickerSet {
    TickerSet {
        screen: "cpu-1".into(),
        version: 1,
        issued_at: jiff::Timestamp::now(),
        items: if with_text {
            vec![TickerItem {
                id: "fix-4d".into(),
                priority: 1,
                starts_at: None,
                expires_at: "2099-01-01T00:00:00Z".parse().unwrap(),
                text: vec![AlertText {
                    lang: "vi".into(),
                    text: TEXT.into(),
                }],
            }]
        } else {
            vec![]
        },
    }
}

/// One case: the layout on screen while the video loops; CPU % of (player, mpv).
async fn measure(
    dir: &Path,
    display: &Display,
    video: &Path,
    m: Manifest,
    ticker: TickerSet,
    lookup: Lookup,
    (warmup, window): (Duration, Duration),
) -> Result<(f64, f64)> {
    let case = tempfile::tempdir_in(dir)?;
    let socket = case.path().join("mpv.sock");
    let mut cfg = MpvConfig::new(&socket);
    cfg.extra_args = vec!["--no-config".into(), "--ao=null".into()];
    cfg.env = vec![("DISPLAY".into(), display.name())];
    let screens = ScreenRenderer::load();
    let mut b = MpvBackend::new(cfg).with_screens(screens.clone());
    b.start().await.map_err(|e| anyhow::anyhow!("mpv: {e}"))?;
    let store = Store::open(case.path())?;
    let journal = Journal::open(&store, "cpu-1")?;
    journal.enter_epoch(1)?;
    let (ptx, prx) = watch::channel(Some(Program {
        manifest: Some(Arc::new(m)),
        alerts: None,
    }));
    let (ttx, trx) = watch::channel(Some(Arc::new(ticker)));
    let (stop, stop_rx) = watch::channel(false);
    let setup = RegionsSetup {
        socket,
        screens,
        journal,
        clock: ClockProbe::new(),
        lookup,
    };
    let task = tokio::spawn(regions::run(setup, prx, trx, stop_rx.clone()));
    let still = video.extension().is_some_and(|e| e == "png");
    let item = PlayItem {
        path: video.to_path_buf(),
        sha256: "0".repeat(64),
        kind: if still {
            ItemKind::Slide
        } else {
            ItemKind::Video
        },
        duration: still.then_some(Duration::from_secs(3600)),
        subtitle: None,
    };
    let mut stop_play = stop_rx;
    let player = tokio::spawn(async move {
        while !*stop_play.borrow_and_update() {
            let _ = b.play(&item, None, &mut Interrupt::never()).await;
        }
        b.shutdown().await;
    });
    let tick = clock_tick();
    tokio::time::sleep(warmup).await;
    let mpv = children_named("mpv");
    let me = std::process::id();
    let read = || -> (f64, f64) {
        let p = cpu_secs(me, tick).unwrap_or(0.0);
        let v = mpv.iter().filter_map(|&pid| cpu_secs(pid, tick)).sum();
        (p, v)
    };
    let (t0, (p0, v0)) = (Instant::now(), read());
    tokio::time::sleep(window).await;
    let (p1, v1) = read();
    let secs = t0.elapsed().as_secs_f64();
    stop.send_replace(true);
    let _ = task.await;
    // A slide shown for an hour ends when mpv is told to stop.
    player.abort();
    let _ = player.await;
    drop((ptx, ttx));
    if mpv.is_empty() {
        bail!("mpv was not found among this process's children");
    }
    Ok((100.0 * (p1 - p0) / secs, 100.0 * (v1 - v0) / secs))
}

/// Runs the scenario: a window of `seconds` per layout.
pub async fn run(opts: &Opts, seconds: u64) -> Result<Report> {
    let mut rep = Report::new("layout-cpu", opts);
    let dir = temp_dir("layout-cpu")?;
    let Some(display) = Display::start("layout-cpu", dir.path(), SIZE.0, SIZE.1) else {
        bail!("layout-cpu needs Xvfb and xwd (apt-get install xvfb x11-apps)");
    };
    if gatecast_support::program::find("mpv").is_none() {
        bail!("layout-cpu needs mpv (apt-get install mpv)");
    }
    let video = make_video(dir.path(), 10)?;
    // Two side images (a wide and a tall one) from the library.
    let mut files = std::collections::HashMap::new();
    let mut refs = Vec::new();
    for (n, (w, h)) in [(1200u32, 675u32), (600, 1200)].into_iter().enumerate() {
        let sha = format!("{:064x}", n + 1);
        let p = dir.path().join(format!("side-{n}.png"));
        std::fs::write(&p, encode_png(w, h, &quadrants_rgb(w, h, n == 1)))?;
        files.insert(sha.clone(), p);
        refs.push(MediaRef {
            sha256: sha,
            bytes: 1,
            mime: "image/png".into(),
            kind: MediaKind::Slide,
            lang: "vi".into(),
            title: String::new(),
            duration_ms: None,
            subtitles: vec![],
        });
    }
    let files = Arc::new(files);
    let lookup: Lookup = Arc::new(move |sha: &str| files.get(sha).cloned());
    let template = |id: &str| {
        let mut l = Layout::template(id).expect("a template");
        l.ticker_speed = Some(120);
        l
    };
    let mut side = template("main_side_ticker");
    if let Some(r) = side.regions.iter_mut().find(|r| r.name == RegionName::Side) {
        r.media = refs.iter().map(|m| m.sha256.clone()).collect();
        r.every_secs = Some(3);
    }
    let slide = dir.path().join("main-slide.png");
    std::fs::write(
        &slide,
        encode_png(SIZE.0, SIZE.1, &quadrants_rgb(SIZE.0, SIZE.1, false)),
    )?;
    let cases = [
        ("video full", &video, None, false),
        (
            "video main_ticker",
            &video,
            Some(template("main_ticker")),
            true,
        ),
        ("video main_side_ticker", &video, Some(side.clone()), true),
        ("slide full", &slide, None, false),
        (
            "slide main_ticker_clock_only",
            &slide,
            Some(template("main_ticker")),
            false,
        ),
        (
            "slide main_ticker",
            &slide,
            Some(template("main_ticker")),
            true,
        ),
        ("slide main_side_ticker", &slide, Some(side), true),
    ];
    let (warmup, window) = if opts.quick {
        (Duration::from_secs(1), Duration::from_secs(2))
    } else {
        (Duration::from_secs(4), Duration::from_secs(seconds))
    };
    let mut details = Vec::new();
    for (name, main, layout, text) in cases {
        let m = manifest(layout, refs.clone());
        let (player, mpv) = measure(
            dir.path(),
            &display,
            main,
            m,
            ticker_set(text),
            lookup.clone(),
            (warmup, window),
        )
        .await?;
        println!(
            "layout-cpu {name}: player {player:.1} %, mpv {mpv:.1} %, total {:.1} % of one core",
            player + mpv
        );
        rep.row(format!("{name}: player"), player, "% of a core");
        rep.row(format!("{name}: mpv"), mpv, "% of a core");
        rep.row(format!("{name}: total"), player + mpv, "% of a core");
        details.push(json!({"layout": name, "player": player, "mpv": mpv}));
    }
    rep.detail("cases", json!(details));
    rep.detail(
        "setup",
        json!({"display": format!("{}x{}", SIZE.0, SIZE.1), "video": "1920x1080 30 fps H.264 (ffmpeg testsrc2), looped",
               "slide": "1920x1080 PNG",
               "window_s": window.as_secs(), "ticker_speed": 120, "side_every_secs": 3}),
    );
    Ok(rep)
}
