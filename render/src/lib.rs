//! Screens drawn by gatecast itself: the emergency alert screen and the display test card.
//!
//! Both the player (which shows the image full screen through mpv) and the controller (which
//! serves the same image to the console as a preview) call [`Renderer`], so what an operator
//! previews is what the glass shows.
//!
//! - Text is shaped by `cosmic-text` (rustybuzz), with font fallback over the system fonts
//!   (fontdb; Debian `fonts-noto-core` and `fonts-noto-cjk`), broken into lines by the Unicode
//!   line-breaking rules (UAX #14: CJK text breaks between characters), measured and shrunk
//!   until it fits; glyphs are rasterised by swash and drawn onto a `tiny-skia` pixmap.
//! - Nothing is drawn into the outer [`SAFE_MARGIN`] of the screen except the red band's
//!   fill, which runs edge to edge ([`layout::AlertLayout`]).
//! - The crate does no I/O besides reading the system's font files once, in
//!   [`Renderer::system`].

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod card;
pub mod coverage;
mod draw;
pub mod layout;
mod media;
#[cfg(test)]
mod tests;
mod ticker;
pub mod words;

use cosmic_text::{FontSystem, SwashCache};

pub use coverage::{Coverage, ScriptCheck};
pub use draw::Rect;
pub use layout::{AlertLayout, MEDIA_SHARE, SAFE_MARGIN};
pub use media::{fit_box, MediaError, MediaImage, MAX_MEDIA_SIDE};
pub use ticker::{weekday_name, ClockFace, CLOCK_BACKGROUND, MAX_STRIP_WIDTH, TICKER_BAND};

/// The screen's background around the text (not pure black, so an alert frame can never be
/// taken for the neutral black fallback).
pub const BACKGROUND: [u8; 3] = [18, 18, 24];
/// The band across the top that carries the word for "emergency".
pub const BAND: [u8; 3] = [200, 16, 32];
/// The alert text and the band's word.
pub const TEXT: [u8; 3] = [255, 255, 255];
/// The language label's pill, inside the band.
pub const LABEL_PILL: [u8; 3] = [120, 0, 16];

/// The largest image we draw (8K UHD); anything larger is refused.
pub const MAX_SIZE: (u32, u32) = (7680, 4320);
/// The smallest image we draw.
pub const MIN_SIZE: (u32, u32) = (160, 90);

/// Why a screen could not be drawn.
#[derive(Debug, thiserror::Error)]
pub enum RenderError {
    /// The requested image size is outside [`MIN_SIZE`]..=[`MAX_SIZE`].
    #[error(
        "cannot draw a {width}×{height} image: the size must be between {}×{} and {}×{} pixels",
        MIN_SIZE.0, MIN_SIZE.1, MAX_SIZE.0, MAX_SIZE.1
    )]
    Size {
        /// Requested width.
        width: u32,
        /// Requested height.
        height: u32,
    },
    /// The image could not be encoded as PNG.
    #[error("cannot encode the screen as PNG: {0}")]
    Png(String),
}

/// An opaque RGBA image (8 bits a channel, rows top to bottom).
#[derive(Clone)]
pub struct Image {
    /// Width in pixels.
    pub width: u32,
    /// Height in pixels.
    pub height: u32,
    pixmap: tiny_skia::Pixmap,
}

impl std::fmt::Debug for Image {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Image")
            .field("width", &self.width)
            .field("height", &self.height)
            .finish()
    }
}

impl Image {
    /// The RGBA bytes (every pixel is opaque, so premultiplied and straight alpha agree).
    pub fn rgba(&self) -> &[u8] {
        self.pixmap.data()
    }

    /// The RGB colour at `(x, y)`.
    pub fn pixel(&self, x: u32, y: u32) -> [u8; 3] {
        let i = ((y * self.width + x) * 4) as usize;
        let d = self.pixmap.data();
        [d[i], d[i + 1], d[i + 2]]
    }

    /// The image as BGRA bytes, the layout of mpv's `overlay-add` with format `bgra`.
    pub fn to_bgra(&self) -> Vec<u8> {
        let mut out = self.pixmap.data().to_vec();
        for px in out.chunks_exact_mut(4) {
            px.swap(0, 2);
        }
        out
    }

    /// The image as a PNG file (RGBA, 8 bits a channel).
    pub fn to_png(&self) -> Result<Vec<u8>, RenderError> {
        let mut out = Vec::new();
        let mut enc = png::Encoder::new(&mut out, self.width, self.height);
        enc.set_color(png::ColorType::Rgba);
        enc.set_depth(png::BitDepth::Eight);
        enc.set_compression(png::Compression::Fast);
        let mut w = enc
            .write_header()
            .map_err(|e| RenderError::Png(e.to_string()))?;
        w.write_image_data(self.pixmap.data())
            .map_err(|e| RenderError::Png(e.to_string()))?;
        w.finish().map_err(|e| RenderError::Png(e.to_string()))?;
        Ok(out)
    }
}

/// A drawn screen and where its parts ended up (for tests and for the caller's logs).
#[derive(Debug, Clone)]
pub struct Rendered {
    /// The image.
    pub image: Image,
    /// The layout the screen was drawn in.
    pub layout: AlertLayout,
    /// Bounding box of every pixel a glyph touched (the band's word, the label, the text).
    pub ink: Option<Rect>,
    /// Bounding box of the alert text's (or the test card's body's) glyph pixels.
    pub text_ink: Option<Rect>,
    /// Glyph pixels that did not fit their box and were cut off (0 unless the text could not
    /// be made small enough).
    pub clipped: u64,
    /// The font size the text was fitted at, in pixels.
    pub font_size: f32,
    /// How many lines the text was broken into.
    pub lines: usize,
}

/// Draws screens; holds the font database and the glyph cache (build it once and keep it:
/// reading the system fonts takes a noticeable fraction of a second).
pub struct Renderer {
    fonts: FontSystem,
    glyphs: SwashCache,
}

impl std::fmt::Debug for Renderer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Renderer")
            .field("faces", &self.fonts.db().len())
            .finish()
    }
}

impl Renderer {
    /// A renderer over the system's fonts (fontconfig's directories, e.g. `/usr/share/fonts`).
    pub fn system() -> Renderer {
        let mut db = cosmic_text::fontdb::Database::new();
        db.load_system_fonts();
        Renderer::with_database(db)
    }

    /// A renderer over the fonts in `db` (tests, or a screen with its own font directory).
    pub fn with_database(mut db: cosmic_text::fontdb::Database) -> Renderer {
        // Generic families resolve to the Noto faces the operations guide asks for; missing
        // ones fall back by script (cosmic-text's fallback lists).
        db.set_sans_serif_family(words::LATIN_FAMILIES[0]);
        let fonts = FontSystem::new_with_locale_and_db("en-US".into(), db);
        Renderer {
            fonts,
            glyphs: SwashCache::new(),
        }
    }

    /// How many font faces were found.
    pub fn faces(&self) -> usize {
        self.fonts.db().len()
    }

    /// Which of the scripts an alert screen needs have a font ([`coverage::check`]).
    pub fn coverage(&self) -> Coverage {
        coverage::check(self.fonts.db())
    }

    /// Draws the alert screen for `text` in language `lang` (a BCP 47 tag) at
    /// `width`×`height`: the red band with the word for "emergency" and the language's name,
    /// and the text, as large as fits inside the safe area.
    pub fn alert(
        &mut self,
        lang: &str,
        text: &str,
        width: u32,
        height: u32,
    ) -> Result<Rendered, RenderError> {
        self.alert_with_media(lang, text, None, width, height)
    }

    /// Draws the alert screen as [`Renderer::alert`] does, with the alert's image `media` (if
    /// any) above the text: in the top of the text box, aspect kept and centred, the text
    /// fitted below it ([`AlertLayout::with_media`]).
    pub fn alert_with_media(
        &mut self,
        lang: &str,
        text: &str,
        media: Option<&MediaImage>,
        width: u32,
        height: u32,
    ) -> Result<Rendered, RenderError> {
        let (mut layout, mut canvas) = self.canvas(width, height)?;
        if let Some(m) = media {
            layout = AlertLayout::with_media(width, height, m.width(), m.height());
            if let Some(r) = layout.media {
                m.draw_into(&mut canvas, r);
            }
        }
        let lang_words = words::for_lang(lang);
        let mut ink = draw::Ink::default();
        self.draw_band(&mut canvas, &layout, lang_words, &mut ink);
        let mut body = draw::Ink::default();
        let family = words::family_for(self.fonts.db(), lang);
        let fitted = draw::fit_text(
            &mut self.fonts,
            &mut self.glyphs,
            text,
            family,
            layout.text,
            draw::FitLimits::for_height(height),
        );
        fitted.paint_centred(
            &mut self.fonts,
            &mut self.glyphs,
            &mut canvas,
            layout.text,
            TEXT,
            &mut body,
        );
        ink.merge(&body);
        Ok(Rendered {
            image: Image {
                width,
                height,
                pixmap: canvas,
            },
            layout,
            ink: ink.rect(),
            text_ink: body.rect(),
            clipped: ink.clipped(),
            font_size: fitted.font_size,
            lines: fitted.lines,
        })
    }

    /// Draws the display test card ([`card`]): the four scripts of the alert languages
    /// (Vietnamese with stacked diacritics, Simplified Chinese, Hmong in Latin letters and,
    /// when a font has it, Pahawh Hmong) and the 5 % safe-area frame.
    pub fn test_card(&mut self, width: u32, height: u32) -> Result<Rendered, RenderError> {
        let (layout, canvas) = self.canvas(width, height)?;
        Ok(card::draw(self, layout, canvas))
    }

    fn canvas(
        &mut self,
        width: u32,
        height: u32,
    ) -> Result<(AlertLayout, tiny_skia::Pixmap), RenderError> {
        if !(MIN_SIZE.0..=MAX_SIZE.0).contains(&width)
            || !(MIN_SIZE.1..=MAX_SIZE.1).contains(&height)
        {
            return Err(RenderError::Size { width, height });
        }
        let layout = AlertLayout::new(width, height);
        let mut canvas =
            tiny_skia::Pixmap::new(width, height).ok_or(RenderError::Size { width, height })?;
        canvas.fill(draw::colour(BACKGROUND));
        draw::fill_rect(&mut canvas, layout.band, BAND);
        Ok((layout, canvas))
    }

    /// The band's word (left) and the language label on its pill (right).
    fn draw_band(
        &mut self,
        canvas: &mut tiny_skia::Pixmap,
        layout: &AlertLayout,
        w: &words::LangWords,
        ink: &mut draw::Ink,
    ) {
        let family = words::family_for(self.fonts.db(), w.tag);
        let label_family = words::family_for(self.fonts.db(), w.label_tag);
        let label = draw::fit_line(
            &mut self.fonts,
            &mut self.glyphs,
            w.label,
            label_family,
            layout.label_max,
            true,
        );
        let pill = layout.label_pill(label.width, label.height);
        draw::fill_round_rect(canvas, pill, LABEL_PILL);
        let label_box = layout.label_text(pill, label.width, label.height);
        label.paint_at(
            &mut self.fonts,
            &mut self.glyphs,
            canvas,
            label_box,
            TEXT,
            ink,
        );
        let word_box = layout.word_box(pill);
        let word = draw::fit_line(
            &mut self.fonts,
            &mut self.glyphs,
            w.emergency,
            family,
            word_box,
            true,
        );
        let at = layout.word_at(word_box, word.height);
        word.paint_at(&mut self.fonts, &mut self.glyphs, canvas, at, TEXT, ink);
    }
}
