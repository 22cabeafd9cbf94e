//! Alert previews for the console: the alert screen drawn by `gatecast-render`, the same
//! renderer the player shows alerts with, so the preview is what the glass shows.
//!
//! The fonts are read at the first preview (a fraction of a second). Drawing runs on the
//! blocking pool, one at a time; at most [`WAITING`] previews wait, more are refused as busy
//! (a flood of previews cannot occupy the blocking pool).

use std::sync::{Arc, Mutex};

use gatecast_render::{MediaImage, Renderer};
use tokio::sync::Semaphore;

/// Previews drawn or waiting at once.
pub const WAITING: usize = 4;

/// Why a preview could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum PreviewError {
    /// Too many previews are being drawn.
    #[error("too many alert previews are being drawn; try again in a moment")]
    Busy,
    /// The renderer refused (e.g. the size).
    #[error("{0}")]
    Render(#[from] gatecast_render::RenderError),
    /// The alert's image media cannot be decoded or is too large in pixels.
    #[error("{0}")]
    Media(#[from] gatecast_render::MediaError),
    /// The drawing task failed.
    #[error("drawing the preview failed: {0}")]
    Task(String),
}

/// Draws alert previews (one renderer, loaded on first use).
#[derive(Clone)]
pub struct AlertPreviews {
    renderer: Arc<Mutex<Option<Renderer>>>,
    permits: Arc<Semaphore>,
}

impl std::fmt::Debug for AlertPreviews {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertPreviews").finish_non_exhaustive()
    }
}

impl Default for AlertPreviews {
    fn default() -> AlertPreviews {
        AlertPreviews::new()
    }
}

impl AlertPreviews {
    /// A previewer; the fonts are read at the first preview.
    pub fn new() -> AlertPreviews {
        AlertPreviews {
            renderer: Arc::new(Mutex::new(None)),
            permits: Arc::new(Semaphore::new(WAITING)),
        }
    }

    /// The alert screen for `text` in `lang` at `width`×`height`, as PNG, with the image
    /// file `media` (PNG or JPEG bytes, decoded on the blocking pool) above the text, if given.
    pub async fn png(
        &self,
        lang: &str,
        text: &str,
        media: Option<Vec<u8>>,
        width: u32,
        height: u32,
    ) -> Result<Vec<u8>, PreviewError> {
        let _permit = self
            .permits
            .clone()
            .try_acquire_owned()
            .map_err(|_| PreviewError::Busy)?;
        let (renderer, lang, text) = (self.renderer.clone(), lang.to_owned(), text.to_owned());
        tokio::task::spawn_blocking(move || {
            let media = media.map(|b| MediaImage::decode(&b)).transpose()?;
            let mut guard = renderer.lock().unwrap_or_else(|e| e.into_inner());
            let r = guard.get_or_insert_with(|| {
                let r = Renderer::system();
                if let Some(w) = r.coverage().warning() {
                    tracing::warn!("alert previews: {w}");
                }
                r
            });
            let drawn = r.alert_with_media(&lang, &text, media.as_ref(), width, height)?;
            Ok(drawn.image.to_png()?)
        })
        .await
        .map_err(|e| PreviewError::Task(e.to_string()))?
    }
}
