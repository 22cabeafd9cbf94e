//! Alert screens on mpv: the picture drawn by `gatecast-render` (the same one the console
//! previews) at the window's size, shown with `overlay-add` over the black background.
//!
//! The image is written as raw BGRA to a file beside mpv's socket and handed to
//! `overlay-add`, which copies it before it returns (so the file is removed at once); the
//! next language replaces the overlay under the same id, without a gap and without reloading
//! the background. The overlay sits above video and is part of `screenshot-to-file window`.
//! When drawing fails (it should not: the renderer needs no font to produce an image), the
//! text is shown as before, an ASS `osd-overlay`. An alert's image media is decoded once (on
//! the blocking pool, the last one kept) and drawn above the text; an image
//! that cannot be decoded is logged and the text drawn alone.

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use gatecast_render::{MediaImage, Renderer};
use serde_json::{json, Value};

use super::{ass_text, MpvBackend, TEXT_BACKGROUND, TEXT_OVERLAY_ID, TEXT_RES};
use crate::backend::{Ended, Interrupt, PlayOutcome, TextImage, TextItem};

/// Our `overlay-add` id for drawn screens.
const SCREEN_OVERLAY_ID: i64 = 0;
/// The size drawn at when mpv reports neither an OSD nor a display size (no video output,
/// e.g. `--vo=null`).
pub const FALLBACK_SIZE: (u32, u32) = (1920, 1080);

/// What to draw.
#[derive(Debug, Clone)]
pub enum Screen {
    /// An alert's text in one language.
    Alert {
        /// BCP 47 language tag.
        lang: String,
        /// The text.
        text: String,
        /// The alert's image media, drawn above the text.
        image: Option<TextImage>,
    },
    /// The display test card of `check-display`.
    TestCard,
}

/// The last decoded alert image and its media sha256.
type LastImage = (String, Arc<MediaImage>);

/// The renderer of the mpv backend, shared with the tasks that draw (drawing runs on the
/// blocking pool).
#[derive(Clone)]
pub struct ScreenRenderer {
    inner: Arc<Mutex<Renderer>>,
    /// The last decoded alert image, by media sha256 (decoded once per alert, not per language).
    image: Arc<Mutex<Option<LastImage>>>,
}

impl std::fmt::Debug for ScreenRenderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ScreenRenderer").finish_non_exhaustive()
    }
}

impl ScreenRenderer {
    /// Reads the system's fonts (a fraction of a second; do it once, at start).
    pub fn load() -> ScreenRenderer {
        let t = Instant::now();
        let r = Renderer::system();
        tracing::debug!(
            faces = r.faces(),
            ms = t.elapsed().as_millis() as u64,
            "fonts loaded"
        );
        ScreenRenderer {
            inner: Arc::new(Mutex::new(r)),
            image: Arc::new(Mutex::new(None)),
        }
    }

    /// Which scripts of the alert languages have a font.
    pub fn coverage(&self) -> gatecast_render::Coverage {
        self.lock().coverage()
    }

    /// The warning for an operator when a script the alerts need has no font (naming the
    /// Debian package), or `None`.
    pub fn font_warning(&self) -> Option<String> {
        self.coverage().warning()
    }

    /// Runs `f` with the renderer (call it on the blocking pool: drawing takes milliseconds).
    pub(crate) fn with<R>(&self, f: impl FnOnce(&mut Renderer) -> R) -> R {
        f(&mut self.lock())
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Renderer> {
        // A panic while drawing leaves the renderer usable: it holds only caches.
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The decoded `image` (from the cache of the last one, else read and decoded now), or
    /// `None` with a warning when it cannot be read or decoded. Runs on the blocking pool.
    fn decoded(&self, image: &TextImage) -> Option<Arc<MediaImage>> {
        let mut last = self.image.lock().unwrap_or_else(|e| e.into_inner());
        if let Some((sha, img)) = last.as_ref() {
            if *sha == image.sha256 {
                return Some(img.clone());
            }
        }
        let t = Instant::now();
        let decoded = std::fs::read(&image.path)
            .map_err(|e| format!("cannot read {}: {e}", image.path.display()))
            .and_then(|b| MediaImage::decode(&b).map_err(|e| e.to_string()));
        match decoded {
            Ok(img) => {
                tracing::debug!(media = %image.sha256, width = img.width(), height = img.height(),
                    ms = t.elapsed().as_millis() as u64, "alert image decoded");
                let img = Arc::new(img);
                *last = Some((image.sha256.clone(), img.clone()));
                Some(img)
            }
            Err(why) => {
                tracing::warn!(media = %image.sha256, reason = %why, "the alert's image cannot be shown; drawing its text alone");
                None
            }
        }
    }

    /// Draws `screen` at `width`×`height` on the blocking pool and writes it as raw BGRA to
    /// `path`.
    async fn draw_to(
        &self,
        screen: Screen,
        width: u32,
        height: u32,
        path: PathBuf,
    ) -> Result<(), String> {
        let this = self.clone();
        let job = move || -> Result<(), String> {
            let t = Instant::now();
            let media = match &screen {
                Screen::Alert {
                    image: Some(image), ..
                } => this.decoded(image),
                _ => None,
            };
            let mut r = this.lock();
            let drawn = match &screen {
                Screen::Alert { lang, text, .. } => {
                    r.alert_with_media(lang, text, media.as_deref(), width, height)
                }
                Screen::TestCard => r.test_card(width, height),
            }
            .map_err(|e| e.to_string())?;
            drop(r);
            tracing::debug!(
                width,
                height,
                lines = drawn.lines,
                font_px = drawn.font_size,
                ms = t.elapsed().as_millis() as u64,
                "screen drawn"
            );
            gatecast_support::fs::write_atomic(&path, &drawn.image.to_bgra(), 0o600)
                .map_err(|e| format!("cannot write {}: {e}", path.display()))
        };
        tokio::task::spawn_blocking(job)
            .await
            .map_err(|e| format!("drawing the screen failed: {e}"))?
    }
}

impl MpvBackend {
    /// The renderer (loaded now if the backend was built without one).
    fn screens(&mut self) -> ScreenRenderer {
        self.screens
            .get_or_insert_with(ScreenRenderer::load)
            .clone()
    }

    /// The file the drawn screen is handed to mpv through.
    fn screen_file(&self) -> PathBuf {
        self.cfg.socket_path.with_file_name("alert-screen.bgra")
    }

    /// mpv's OSD size (the window's), else the display's, else [`FALLBACK_SIZE`].
    async fn osd_size(&mut self) -> (u32, u32) {
        let Some(p) = self.proc.as_mut() else {
            return FALLBACK_SIZE;
        };
        let mut get = async |name: &str| {
            p.ipc
                .command(vec![json!("get_property"), json!(name)])
                .await
                .ok()
                .and_then(|v| v.as_i64())
                .filter(|&n| n > 0)
                .and_then(|n| u32::try_from(n).ok())
        };
        for (w, h) in [
            ("osd-width", "osd-height"),
            ("display-width", "display-height"),
        ] {
            if let (Some(w), Some(h)) = (get(w).await, get(h).await) {
                return (w, h);
            }
        }
        FALLBACK_SIZE
    }

    /// Draws `screen` at the window's size and shows it over the background.
    async fn show_drawn(&mut self, screen: Screen) -> Result<(), String> {
        let (w, h) = self.osd_size().await;
        let (w, h) = (
            w.clamp(gatecast_render::MIN_SIZE.0, gatecast_render::MAX_SIZE.0),
            h.clamp(gatecast_render::MIN_SIZE.1, gatecast_render::MAX_SIZE.1),
        );
        let path = self.screen_file();
        self.screens().draw_to(screen, w, h, path.clone()).await?;
        let p = self.proc.as_mut().ok_or("mpv is not running")?;
        let at = playlists::manifest::Rect { x: 0, y: 0, w, h };
        let cmd = super::overlay_add(SCREEN_OVERLAY_ID, at, &path, 0, u64::from(w) * 4);
        let shown = p.ipc.command(cmd).await;
        // mpv copied the pixels before it answered.
        let _ = std::fs::remove_file(&path);
        shown.map_err(|e| format!("mpv could not show the alert screen: {e}"))?;
        self.image = true;
        Ok(())
    }

    /// Removes the alert screen (the drawn overlay, or the plain-text one), if one may be on
    /// screen.
    pub(super) async fn clear_text(&mut self) {
        if self.image {
            if let Some(p) = self.proc.as_mut() {
                let cmd = vec![json!("overlay-remove"), json!(SCREEN_OVERLAY_ID)];
                match p.ipc.command(cmd).await {
                    Ok(_) => self.image = false,
                    Err(e) => tracing::warn!(error = %e, "could not remove the alert screen"),
                }
            } else {
                self.image = false;
            }
        }
        self.clear_plain_text().await;
    }

    /// Removes the plain-text overlay, if one may be on screen.
    async fn clear_plain_text(&mut self) {
        if !self.overlay {
            return;
        }
        if let Some(p) = self.proc.as_mut() {
            let cmd = vec![
                json!("osd-overlay"),
                json!(TEXT_OVERLAY_ID),
                json!("none"),
                json!(""),
            ];
            if let Err(e) = p.ipc.command(cmd).await {
                tracing::warn!(error = %e, "could not remove the alert text overlay");
                return;
            }
        }
        self.overlay = false;
    }

    /// Shows `text` as plain ASS text (when the screen could not be drawn).
    async fn show_plain_text(&mut self, text: &str) -> Result<(), String> {
        if self.image {
            self.clear_text().await;
        }
        self.overlay = true;
        let p = self.proc.as_mut().ok_or("mpv is not running")?;
        let cmd = vec![
            json!("osd-overlay"),
            json!(TEXT_OVERLAY_ID),
            json!("ass-events"),
            json!(ass_text(text)),
            json!(TEXT_RES.0),
            json!(TEXT_RES.1),
        ];
        p.ipc
            .command(cmd)
            .await
            .map(|_| ())
            .map_err(|e| format!("mpv could not show the alert text: {e}"))
    }

    /// Loads the black background (if it is not playing) and waits until it is on screen.
    async fn ensure_text_background(&mut self) -> Result<(), String> {
        if self.text_background.is_some() {
            return Ok(());
        }
        self.queued = None;
        let p = self.proc.as_mut().ok_or("mpv is not running")?;
        let reply = p
            .ipc
            .command(vec![
                json!("loadfile"),
                json!(TEXT_BACKGROUND),
                json!("replace"),
            ])
            .await
            .map_err(|e| e.to_string())?;
        let entry = reply
            .get("playlist_entry_id")
            .and_then(Value::as_i64)
            .ok_or("mpv's loadfile reply has no playlist_entry_id (mpv older than 0.35?)")?;
        let deadline = tokio::time::Instant::now() + self.cfg.start_timeout;
        let mut seen_start = false;
        loop {
            let ev = tokio::select! {
                ev = p.events.recv() => ev,
                _ = tokio::time::sleep_until(deadline) => {
                    return Err(format!(
                        "mpv did not show the text background within {} s",
                        self.cfg.start_timeout.as_secs()
                    ));
                }
            };
            let Some(ev) = ev else {
                self.proc = None;
                return Err("mpv exited while loading the text background".into());
            };
            match ev.name.as_str() {
                "start-file" if ev.entry_id == Some(entry) => seen_start = true,
                "playback-restart" if seen_start => {
                    self.text_background = Some(entry);
                    self.last_end = None;
                    return Ok(());
                }
                "end-file" if ev.entry_id == Some(entry) => {
                    return Err(format!(
                        "mpv could not show the text background ({}): {}",
                        ev.reason.as_deref().unwrap_or("no reason"),
                        ev.file_error.as_deref().unwrap_or("no detail")
                    ));
                }
                _ => {}
            }
        }
    }

    /// Shows an alert's text in one language: the drawn alert screen over the black
    /// background, for `item.duration` or until `interrupt` fires.
    pub(super) async fn show_text_inner(
        &mut self,
        item: &TextItem,
        interrupt: &mut Interrupt,
    ) -> PlayOutcome {
        let screen = Screen::Alert {
            lang: item.lang.clone(),
            text: item.text.clone(),
            image: item.image.clone(),
        };
        self.show_screen(screen, Some(&item.text), item.duration, interrupt)
            .await
    }

    /// Shows the display test card (`gatecast-player check-display`) full screen for
    /// `duration` or until `interrupt` fires (mpv is started if it is not running).
    pub async fn show_test_card(
        &mut self,
        duration: Duration,
        interrupt: &mut Interrupt,
    ) -> PlayOutcome {
        self.show_screen(Screen::TestCard, None, duration, interrupt)
            .await
    }

    /// Shows `screen` drawn over the black background (or `plain` text, when drawing fails)
    /// for `duration`; a completed screen stays up until the next call or [`Self::clear_text`].
    async fn show_screen(
        &mut self,
        screen: Screen,
        plain: Option<&str>,
        duration: Duration,
        interrupt: &mut Interrupt,
    ) -> PlayOutcome {
        let attempt_wall = jiff::Timestamp::now();
        let attempt_at = Instant::now();
        let fail =
            |why: String| PlayOutcome::new(attempt_wall, attempt_at.elapsed(), Ended::Failed(why));
        if let Err(e) = self.ensure_running().await {
            return fail(e.to_string());
        }
        if let Err(why) = self.ensure_text_background().await {
            self.text_background = None;
            return fail(why);
        }
        let background = self.text_background;
        match (self.show_drawn(screen).await, plain) {
            (Ok(()), _) => self.clear_plain_text().await,
            (Err(why), Some(text)) => {
                tracing::warn!(reason = %why, "the alert screen could not be drawn; showing its text plainly");
                if let Err(e) = self.show_plain_text(text).await {
                    return fail(e);
                }
            }
            (Err(why), None) => return fail(why),
        }
        let (started_at, started_wall) = (Instant::now(), jiff::Timestamp::now());
        let until = tokio::time::Instant::from_std(started_at + duration);
        loop {
            let p = self.proc.as_mut().expect("running");
            let ev = tokio::select! {
                ev = p.events.recv() => ev,
                _ = interrupt.fired() => {
                    self.clear_text().await;
                    return PlayOutcome::new(started_wall, started_at.elapsed(), Ended::Interrupted);
                }
                _ = tokio::time::sleep_until(until) => {
                    return PlayOutcome::new(started_wall, started_at.elapsed(), Ended::Completed);
                }
            };
            let Some(ev) = ev else {
                let outcome = PlayOutcome::new(
                    started_wall,
                    started_at.elapsed(),
                    Ended::Failed("mpv exited while showing the alert text".into()),
                );
                self.restart_now().await;
                return outcome;
            };
            if ev.name == "end-file" && ev.entry_id.is_some() && ev.entry_id == background {
                self.text_background = None;
                self.clear_text().await;
                return PlayOutcome::new(
                    started_wall,
                    started_at.elapsed(),
                    Ended::Failed(format!(
                        "mpv ended the text background ({})",
                        ev.reason.as_deref().unwrap_or("no reason")
                    )),
                );
            }
        }
    }
}
