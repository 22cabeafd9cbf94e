//! The screen's regions on mpv (`docs/protocol.md` §20), on a connection of its own to mpv's
//! IPC socket, beside the playback's:
//!
//! - the `main` region: the playback's video and images, placed with mpv's
//!   `video-margin-ratio-*` options (no new window, nothing reloaded), turned with
//!   `video-rotate` on a portrait layout;
//! - the `ticker` region: one strip per turn (one text in one language, the gate's languages
//!   in turn, [`playlists::manifest::ticker_turns`]) drawn once by `gatecast-render` into a
//!   BGRA file; every frame (30 a second) `overlay-add` shows a window of the region's size
//!   at a byte offset into that file, so the text moves at the layout's constant speed and
//!   nothing is drawn per frame. Each finished turn is a receipt (the text's SHA-256, its
//!   language, the item id);
//! - the `clock` region: the local time and date in the manifest's timezone and the gate's
//!   first language, drawn again when the minute changes.
//!
//! - the `side` and `logo` regions: their slide images fitted in their boxes ([`panels`]).
//!
//! Ticker, clock, side and logo are overlays of their own ([`TICKER_OVERLAY_ID`],
//! [`CLOCK_OVERLAY_ID`], [`panels::SIDE_OVERLAY_ID`], [`panels::LOGO_OVERLAY_ID`]), so a change
//! of the main item never touches them. While an alert is shown they are removed (the alert
//! screen is full screen).

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use gatecast_support::backoff::Backoff;
use jiff::Timestamp;
use playlists::manifest::{
    ticker_turns, Layout, Orientation, Rect, RegionName, TickerSet, TickerTurn,
};
use playlists::receipt::{Backend as ReceiptBackend, Outcome};
use serde_json::{json, Value};
use tokio::sync::watch;

use super::{MpvIpc, ScreenRenderer, FALLBACK_SIZE};
use crate::backend::text_sha256;
use crate::clock::ClockProbe;
use crate::journal::{Journal, ReceiptDraft};
use crate::scheduler::{Lookup, Program};

pub mod panels;

/// Our `overlay-add` id for the ticker strip.
pub const TICKER_OVERLAY_ID: i64 = 10;
/// Our `overlay-add` id for the clock.
pub const CLOCK_OVERLAY_ID: i64 = 11;
/// Ticker frames a second.
pub const FRAME_RATE: u32 = 30;

/// What the regions task needs.
#[derive(Clone)]
pub struct RegionsSetup {
    /// mpv's IPC socket (the playback's mpv).
    pub socket: PathBuf,
    /// The renderer shared with the alert screens.
    pub screens: ScreenRenderer,
    /// Where ticker receipts go.
    pub journal: Journal,
    /// Where `clock_synced` comes from.
    pub clock: ClockProbe,
    /// The verified cache file of a media hash (the side and logo images).
    pub lookup: Lookup,
}

/// The turn on screen.
struct Turn {
    turn: TickerTurn,
    manifest_version: u64,
    /// The strip's file, its width (canvas pixels) and the distance to scroll.
    file: PathBuf,
    strip_width: u32,
    distance: u32,
    started: Instant,
    started_at: Timestamp,
}

/// Runs until `stop` turns true: connects to mpv (again after it restarts) and keeps the
/// regions of the active manifest's layout on screen.
pub async fn run(
    setup: RegionsSetup,
    mut program: watch::Receiver<Option<Program>>,
    mut ticker: watch::Receiver<Option<Arc<TickerSet>>>,
    mut stop: watch::Receiver<bool>,
) {
    let mut backoff = Backoff::new(Duration::from_millis(200), Duration::from_secs(5));
    while !*stop.borrow() {
        match MpvIpc::connect(&setup.socket).await {
            Ok((ipc, events)) => {
                backoff.reset();
                let mut r = Regions {
                    setup: &setup,
                    ipc,
                    applied: None,
                    display: FALLBACK_SIZE,
                    turn: None,
                    next_turn: 0,
                    clock_shown: None,
                    shown: false,
                    ticker_shown: false,
                    panels: panels::Panels::default(),
                };
                let res = r.drive(&mut program, &mut ticker, &mut stop).await;
                r.end_turn(Outcome::Interrupted);
                r.end_side(Outcome::Interrupted);
                drop(events);
                if let Err(e) = res {
                    tracing::debug!(error = %e, "regions: mpv connection ended; connecting again");
                }
            }
            Err(_) => {
                let wait = backoff.next_delay();
                tokio::select! {
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
        }
    }
}

struct Regions<'a> {
    setup: &'a RegionsSetup,
    ipc: MpvIpc,
    /// The layout whose margins and rotation are set (`Some(None)`: none, full screen).
    applied: Option<Option<Layout>>,
    display: (u32, u32),
    turn: Option<Turn>,
    next_turn: u64,
    /// The minute the clock shows (and its language).
    clock_shown: Option<(i64, String)>,
    /// Whether ticker or clock overlays may be on screen.
    shown: bool,
    /// Whether the ticker overlay is on screen (removing one that is not would still make
    /// mpv draw the whole picture again, 30 times a second: `docs/BENCHMARKS.md` layout-cpu).
    ticker_shown: bool,
    /// The side and logo regions.
    panels: panels::Panels,
}

impl Regions<'_> {
    async fn drive(
        &mut self,
        program: &mut watch::Receiver<Option<Program>>,
        ticker: &mut watch::Receiver<Option<Arc<TickerSet>>>,
        stop: &mut watch::Receiver<bool>,
    ) -> Result<(), String> {
        let mut frame = tokio::time::interval(Duration::from_secs(1) / FRAME_RATE);
        frame.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
        loop {
            tokio::select! {
                _ = frame.tick() => {}
                r = program.changed() => { if r.is_err() { return Ok(()); } }
                r = ticker.changed() => {
                    if r.is_err() { return Ok(()); }
                    // A new set: the current text may be gone or corrected; start over.
                    self.end_turn(Outcome::Interrupted);
                    self.next_turn = 0;
                }
                _ = stop.changed() => return Ok(()),
            }
            if *stop.borrow() {
                return Ok(());
            }
            let prog = program.borrow().clone();
            let set = ticker.borrow().clone();
            self.frame(prog.as_ref(), set.as_deref()).await?;
        }
    }

    async fn command(&mut self, cmd: Vec<Value>) -> Result<Value, String> {
        self.ipc.command(cmd).await.map_err(|e| e.to_string())
    }

    /// One frame: layout, alert check, ticker position, clock.
    async fn frame(
        &mut self,
        prog: Option<&Program>,
        set: Option<&TickerSet>,
    ) -> Result<(), String> {
        let manifest = prog.and_then(|p| p.manifest.as_deref());
        let layout = manifest.and_then(|m| m.layout.clone());
        if self.applied.as_ref() != Some(&layout) {
            self.apply_layout(layout.as_ref()).await?;
        }
        let (Some(layout), Some(m)) = (layout, manifest) else {
            return Ok(());
        };
        let now = Timestamp::now();
        let alert = prog
            .and_then(|p| p.alerts.as_deref())
            .is_some_and(|a| playlists::schedule::active_alert(a, now).is_some());
        if alert {
            self.end_turn(Outcome::Interrupted);
            return self.hide().await;
        }
        let canvas = layout.canvas(self.display);
        if let Some(region) = layout.region(RegionName::Ticker) {
            let rect = region.rect(canvas);
            self.ticker_frame(&layout, rect, canvas, m, set, now)
                .await?;
        }
        if let Some(region) = layout.region(RegionName::Clock) {
            let rect = region.rect(canvas);
            self.clock_frame(&layout, rect, canvas, m, now).await?;
        }
        self.panels_frame(&layout, canvas, m).await?;
        Ok(())
    }

    /// Sets the main region's margins and the rotation; removes our overlays.
    async fn apply_layout(&mut self, layout: Option<&Layout>) -> Result<(), String> {
        self.end_turn(Outcome::Interrupted);
        self.hide().await?;
        self.display = self.display_size().await;
        let (w, h) = self.display;
        let (rotate, margins) = match layout {
            None => (0, [0.0; 4]),
            Some(l) => {
                let canvas = l.canvas(self.display);
                let main = l
                    .region(RegionName::Main)
                    .map(|r| on_display(l, r.rect(canvas), canvas))
                    .unwrap_or(Rect { x: 0, y: 0, w, h });
                let rotate = if l.orientation == Orientation::Portrait {
                    90
                } else {
                    0
                };
                (rotate, margin_ratios(main, self.display))
            }
        };
        let names = ["left", "right", "top", "bottom"];
        for (name, v) in names.iter().zip(margins) {
            let prop = format!("video-margin-ratio-{name}");
            self.command(vec![json!("set_property"), json!(prop), json!(v)])
                .await?;
        }
        self.command(vec![
            json!("set_property"),
            json!("video-rotate"),
            json!(rotate),
        ])
        .await?;
        tracing::info!(display = ?self.display, rotate, ?margins, "layout applied");
        self.applied = Some(layout.cloned());
        Ok(())
    }

    /// mpv's OSD size, else the display's, else [`FALLBACK_SIZE`].
    async fn display_size(&mut self) -> (u32, u32) {
        for (w, h) in [
            ("osd-width", "osd-height"),
            ("display-width", "display-height"),
        ] {
            let mut get = async |name: &str| {
                self.ipc
                    .command(vec![json!("get_property"), json!(name)])
                    .await
                    .ok()
                    .and_then(|v| v.as_u64())
                    .filter(|&n| n > 0)
                    .and_then(|n| u32::try_from(n).ok())
            };
            if let (Some(w), Some(h)) = (get(w).await, get(h).await) {
                return (w, h);
            }
        }
        FALLBACK_SIZE
    }

    async fn hide(&mut self) -> Result<(), String> {
        if self.shown {
            for id in [TICKER_OVERLAY_ID, CLOCK_OVERLAY_ID] {
                self.command(vec![json!("overlay-remove"), json!(id)])
                    .await?;
            }
            self.shown = false;
        }
        self.ticker_shown = false;
        self.clock_shown = None;
        self.hide_panels().await
    }

    async fn ticker_frame(
        &mut self,
        layout: &Layout,
        rect: Rect,
        canvas: (u32, u32),
        m: &playlists::manifest::Manifest,
        set: Option<&TickerSet>,
        now: Timestamp,
    ) -> Result<(), String> {
        let speed = f64::from(layout.ticker_speed());
        let done = self
            .turn
            .as_ref()
            .is_some_and(|t| t.started.elapsed().as_secs_f64() * speed >= f64::from(t.distance));
        if done {
            self.end_turn(Outcome::Completed);
        }
        if self.turn.is_none() {
            let turns = set
                .map(|s| ticker_turns(s, &m.languages, now))
                .unwrap_or_default();
            if turns.is_empty() {
                if self.ticker_shown {
                    self.command(vec![json!("overlay-remove"), json!(TICKER_OVERLAY_ID)])
                        .await?;
                    self.ticker_shown = false;
                }
                return Ok(());
            }
            let turn = turns[(self.next_turn % turns.len() as u64) as usize].clone();
            self.next_turn += 1;
            self.turn = Some(self.draw_turn(turn, layout, rect, m.version).await?);
        }
        let Some(t) = &self.turn else { return Ok(()) };
        let off = ((t.started.elapsed().as_secs_f64() * speed) as u32).min(t.distance);
        let d = on_display(layout, rect, canvas);
        let (offset, stride) = match layout.orientation {
            Orientation::Landscape => (u64::from(off) * 4, u64::from(t.strip_width) * 4),
            Orientation::Portrait => (u64::from(off) * u64::from(d.w) * 4, u64::from(d.w) * 4),
        };
        let cmd = super::overlay_add(TICKER_OVERLAY_ID, d, &t.file, offset, stride);
        self.command(cmd).await?;
        self.shown = true;
        self.ticker_shown = true;
        Ok(())
    }

    /// Draws the strip of `turn` on the blocking pool into its file.
    async fn draw_turn(
        &mut self,
        turn: TickerTurn,
        layout: &Layout,
        rect: Rect,
        manifest_version: u64,
    ) -> Result<Turn, String> {
        let file = strip_file(&self.setup.socket, self.next_turn);
        let screens = self.setup.screens.clone();
        let (lang, text, path) = (turn.lang.clone(), turn.text.clone(), file.clone());
        let portrait = layout.orientation == Orientation::Portrait;
        let strip_width = tokio::task::spawn_blocking(move || -> Result<u32, String> {
            let strip = screens
                .with(|r| r.ticker_strip(&lang, &text, rect.h, rect.w))
                .map_err(|e| e.to_string())?;
            let width = strip.width;
            let strip = if portrait {
                strip.turned_clockwise()
            } else {
                strip
            };
            gatecast_support::fs::write_atomic(&path, &strip.to_bgra(), 0o600)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(width)
        })
        .await
        .map_err(|e| format!("drawing the ticker failed: {e}"))??;
        // The previous strip's file is no longer shown.
        let _ = std::fs::remove_file(strip_file(&self.setup.socket, self.next_turn + 1));
        Ok(Turn {
            turn,
            manifest_version,
            file,
            strip_width,
            distance: strip_width - rect.w,
            started: Instant::now(),
            started_at: Timestamp::now(),
        })
    }

    /// Ends the turn on screen (if any) and journals its receipt.
    fn end_turn(&mut self, outcome: Outcome) {
        let Some(t) = self.turn.take() else { return };
        let ran = t.started.elapsed();
        let ended_at = t
            .started_at
            .checked_add(jiff::SignedDuration::try_from(ran).unwrap_or_default())
            .unwrap_or(t.started_at);
        let draft = ReceiptDraft {
            manifest_version: t.manifest_version,
            playlist: t.turn.id.clone(),
            media: text_sha256(&t.turn.text),
            lang: t.turn.lang.clone(),
            started_at: t.started_at,
            ended_at,
            outcome,
            backend: ReceiptBackend::Mpv,
            clock_synced: self.setup.clock.synced(),
            subtitle_lang: None,
        };
        let r = self.setup.journal.append_or_queue(draft);
        tracing::debug!(id = %t.turn.id, lang = %t.turn.lang, ?r, "ticker turn ended");
    }

    async fn clock_frame(
        &mut self,
        layout: &Layout,
        rect: Rect,
        canvas: (u32, u32),
        m: &playlists::manifest::Manifest,
        now: Timestamp,
    ) -> Result<(), String> {
        let tz = jiff::tz::TimeZone::get(&m.timezone).unwrap_or(jiff::tz::TimeZone::UTC);
        let local = tz.to_datetime(now);
        let minute = now.as_second().div_euclid(60);
        let lang = m.languages.first().cloned().unwrap_or_else(|| "vi".into());
        if self.clock_shown.as_ref() == Some(&(minute, lang.clone())) {
            return Ok(());
        }
        let face = gatecast_render::ClockFace {
            year: local.year(),
            month: local.month(),
            day: local.day(),
            hour: local.hour(),
            minute: local.minute(),
            weekday: local.weekday().to_monday_one_offset(),
        };
        let d = on_display(layout, rect, canvas);
        let path = self.setup.socket.with_file_name("clock.bgra");
        let screens = self.setup.screens.clone();
        let portrait = layout.orientation == Orientation::Portrait;
        let (l, p) = (lang.clone(), path.clone());
        tokio::task::spawn_blocking(move || -> Result<(), String> {
            let img = screens
                .with(|r| r.clock(&l, &face, rect.w, rect.h))
                .map_err(|e| e.to_string())?;
            let img = if portrait {
                img.turned_clockwise()
            } else {
                img
            };
            gatecast_support::fs::write_atomic(&p, &img.to_bgra(), 0o600)
                .map_err(|e| format!("cannot write {}: {e}", p.display()))
        })
        .await
        .map_err(|e| format!("drawing the clock failed: {e}"))??;
        let cmd = super::overlay_add(CLOCK_OVERLAY_ID, d, &path, 0, u64::from(d.w) * 4);
        let shown = self.command(cmd).await;
        // mpv copied the pixels before it answered.
        let _ = std::fs::remove_file(&path);
        shown?;
        self.shown = true;
        self.clock_shown = Some((minute, lang));
        Ok(())
    }
}

/// The file strip number `n` is drawn into (two alternate, beside mpv's socket).
fn strip_file(socket: &Path, n: u64) -> PathBuf {
    socket.with_file_name(format!("ticker-{}.bgra", n % 2))
}

/// A canvas rectangle on the display.
fn on_display(layout: &Layout, r: Rect, canvas: (u32, u32)) -> Rect {
    match layout.orientation {
        Orientation::Landscape => r,
        Orientation::Portrait => r.turned_clockwise(canvas),
    }
}

/// mpv's `video-margin-ratio-{left,right,top,bottom}` that put the video inside `main`.
fn margin_ratios(main: Rect, display: (u32, u32)) -> [f64; 4] {
    let (w, h) = (f64::from(display.0), f64::from(display.1));
    [
        f64::from(main.x) / w,
        (w - f64::from(main.x + main.w)).max(0.0) / w,
        f64::from(main.y) / h,
        (h - f64::from(main.y + main.h)).max(0.0) / h,
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn margins_put_the_video_in_main() {
        let l = Layout::template("main_ticker").unwrap();
        let canvas = l.canvas((1920, 1080));
        let main = l.region(RegionName::Main).unwrap().rect(canvas);
        let m = margin_ratios(main, (1920, 1080));
        assert_eq!(m[0], 0.0);
        assert_eq!(m[1], 0.0);
        assert_eq!(m[2], 0.0);
        assert!((m[3] - 0.12).abs() < 0.001, "{m:?}");
        // Portrait: the canvas's top clock band is the display's right column.
        let l = Layout::template("portrait_main_ticker").unwrap();
        let canvas = l.canvas((1920, 1080));
        let main = on_display(&l, l.region(RegionName::Main).unwrap().rect(canvas), canvas);
        let m = margin_ratios(main, (1920, 1080));
        assert!(
            (m[0] - 0.08).abs() < 0.001 && (m[1] - 0.08).abs() < 0.001,
            "{m:?}"
        );
        assert_eq!((m[2], m[3]), (0.0, 0.0));
    }
}
