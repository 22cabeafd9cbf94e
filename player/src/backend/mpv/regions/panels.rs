//! The `side` and `logo` regions (`docs/protocol.md` §20): slide images drawn by
//! `gatecast-render` fitted into their boxes, each region an overlay of its own.
//! `side` turns its images every `every_secs`, each turn a receipt like a slide's; `logo`
//! shows its first image and gives no receipts (it is branding).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use jiff::Timestamp;
use playlists::manifest::{Layout, Manifest, Orientation, Rect, RegionName};
use playlists::receipt::{Backend as ReceiptBackend, Outcome};
use serde_json::json;

use super::{on_display, Regions};
use crate::journal::ReceiptDraft;
use crate::scheduler::Lookup;

/// Our `overlay-add` id for the `side` region.
pub const SIDE_OVERLAY_ID: i64 = 12;
/// Our `overlay-add` id for the `logo` region.
pub const LOGO_OVERLAY_ID: i64 = 13;

/// The `side` image on screen (or the black turn of one that could not be shown).
pub(super) struct SideTurn {
    sha256: String,
    lang: String,
    manifest_version: u64,
    every: Duration,
    started: Instant,
    started_at: Timestamp,
    /// Whether the image is on screen (a failed one gives no receipt).
    shown: bool,
}

/// What the side and logo regions show.
#[derive(Default)]
pub(super) struct Panels {
    pub(super) side: Option<SideTurn>,
    /// The index of the next side image.
    pub(super) next: usize,
    /// The logo image tried and the display box it went to (tried once per image and box).
    pub(super) logo: Option<(String, Rect)>,
    /// Overlays of ours on screen.
    pub(super) on_screen: Vec<i64>,
}

/// Draws `sha`'s cached image fitted into `rect` (canvas pixels), turned for a portrait
/// layout, into `file` as BGRA. Runs on the blocking pool.
fn draw_fitted(
    lookup: &Lookup,
    sha: &str,
    rect: Rect,
    portrait: bool,
    file: &std::path::Path,
) -> Result<(), String> {
    let path = lookup(sha).ok_or_else(|| format!("image {sha} is not in the cache"))?;
    let bytes = std::fs::read(&path).map_err(|e| format!("cannot read {}: {e}", path.display()))?;
    let img = gatecast_render::MediaImage::decode(&bytes).map_err(|e| e.to_string())?;
    let img = img.fitted(rect.w, rect.h).map_err(|e| e.to_string())?;
    let img = if portrait {
        img.turned_clockwise()
    } else {
        img
    };
    gatecast_support::fs::write_atomic(file, &img.to_bgra(), 0o600)
        .map_err(|e| format!("cannot write {}: {e}", file.display()))
}

impl Regions<'_> {
    /// Shows `sha` fitted in `rect` as overlay `id`; `Err` names why it could not.
    async fn show_image(
        &mut self,
        id: i64,
        sha: &str,
        layout: &Layout,
        rect: Rect,
        canvas: (u32, u32),
    ) -> Result<Result<(), String>, String> {
        let d = on_display(layout, rect, canvas);
        let file: PathBuf = self.setup.socket.with_file_name(format!("panel-{id}.bgra"));
        let lookup = self.setup.lookup.clone();
        let portrait = layout.orientation == Orientation::Portrait;
        let (s, f) = (sha.to_owned(), file.clone());
        let drawn =
            tokio::task::spawn_blocking(move || draw_fitted(&lookup, &s, rect, portrait, &f))
                .await
                .map_err(|e| format!("drawing a region's image failed: {e}"))?;
        if let Err(why) = drawn {
            self.remove_overlay(id).await?;
            return Ok(Err(why));
        }
        let cmd = super::super::overlay_add(id, d, &file, 0, u64::from(d.w) * 4);
        let shown = self.command(cmd).await;
        // mpv copied the pixels before it answered.
        let _ = std::fs::remove_file(&file);
        shown?;
        if !self.panels.on_screen.contains(&id) {
            self.panels.on_screen.push(id);
        }
        Ok(Ok(()))
    }

    async fn remove_overlay(&mut self, id: i64) -> Result<(), String> {
        if let Some(i) = self.panels.on_screen.iter().position(|&o| o == id) {
            self.panels.on_screen.swap_remove(i);
            self.command(vec![json!("overlay-remove"), json!(id)])
                .await?;
        }
        Ok(())
    }

    /// Removes the side and logo overlays (alert, layout change), ending the side turn.
    pub(super) async fn hide_panels(&mut self) -> Result<(), String> {
        self.end_side(Outcome::Interrupted);
        self.panels.logo = None;
        for id in [SIDE_OVERLAY_ID, LOGO_OVERLAY_ID] {
            self.remove_overlay(id).await?;
        }
        Ok(())
    }

    /// One frame of the side and logo regions.
    pub(super) async fn panels_frame(
        &mut self,
        layout: &Layout,
        canvas: (u32, u32),
        m: &Manifest,
    ) -> Result<(), String> {
        if let Some(region) = layout.region(RegionName::Logo) {
            let rect = region.rect(canvas);
            match region.media.first() {
                Some(sha) if self.panels.logo.as_ref() != Some(&(sha.clone(), rect)) => {
                    self.panels.logo = Some((sha.clone(), rect));
                    let sha = sha.clone();
                    if let Err(why) = self
                        .show_image(LOGO_OVERLAY_ID, &sha, layout, rect, canvas)
                        .await?
                    {
                        tracing::warn!(media = %sha, reason = %why, "the logo cannot be shown; its region stays black");
                    }
                }
                Some(_) => {}
                None => self.remove_overlay(LOGO_OVERLAY_ID).await?,
            }
        }
        let Some(region) = layout.region(RegionName::Side) else {
            return Ok(());
        };
        let stale = self.panels.side.as_ref().map(|t| {
            (
                t.manifest_version != m.version,
                t.started.elapsed() >= t.every,
            )
        });
        match stale {
            Some((true, _)) => self.end_side(Outcome::Interrupted),
            Some((false, true)) => self.end_side(Outcome::Completed),
            _ => {}
        }
        if self.panels.side.is_some() {
            return Ok(());
        }
        if region.media.is_empty() {
            return self.remove_overlay(SIDE_OVERLAY_ID).await;
        }
        let sha = region.media[self.panels.next % region.media.len()].clone();
        self.panels.next = self.panels.next.wrapping_add(1);
        let (rect, every) = (region.rect(canvas), region.every_secs());
        let shown = self
            .show_image(SIDE_OVERLAY_ID, &sha, layout, rect, canvas)
            .await?;
        if let Err(why) = &shown {
            tracing::warn!(media = %sha, reason = %why, "a side image cannot be shown; its turn stays black");
        }
        let lang = m
            .media
            .iter()
            .find(|r| r.sha256 == sha)
            .map(|r| r.lang.clone())
            .unwrap_or_default();
        self.panels.side = Some(SideTurn {
            sha256: sha,
            lang,
            manifest_version: m.version,
            every: Duration::from_secs(u64::from(every)),
            started: Instant::now(),
            started_at: Timestamp::now(),
            shown: shown.is_ok(),
        });
        Ok(())
    }

    /// Ends the side turn (if any) and journals its receipt when its image was shown.
    pub(super) fn end_side(&mut self, outcome: Outcome) {
        let Some(t) = self.panels.side.take() else {
            return;
        };
        if !t.shown {
            return;
        }
        let ran = t.started.elapsed();
        let ended_at = t
            .started_at
            .checked_add(jiff::SignedDuration::try_from(ran).unwrap_or_default())
            .unwrap_or(t.started_at);
        let draft = ReceiptDraft {
            manifest_version: t.manifest_version,
            playlist: RegionName::Side.as_str().to_owned(),
            media: t.sha256.clone(),
            lang: t.lang.clone(),
            started_at: t.started_at,
            ended_at,
            outcome,
            backend: ReceiptBackend::Mpv,
            clock_synced: self.setup.clock.synced(),
            subtitle_lang: None,
        };
        let r = self.setup.journal.append_or_queue(draft);
        tracing::debug!(media = %t.sha256, ?outcome, ?r, "side image turn ended");
    }
}
