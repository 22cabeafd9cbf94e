//! An alert's image media, decoded once and drawn above the alert text
//! ([`crate::Renderer::alert_with_media`], layout in [`crate::AlertLayout::with_media`]).

use tiny_skia::{FilterQuality, Pixmap, PixmapPaint, Transform};

use crate::draw::Rect;

/// The largest media image decoded, per side (larger ones are refused, not scaled: a media file
/// is checked against the manifest's sha256 before it reaches the renderer, but its pixel size
/// is not).
pub const MAX_MEDIA_SIDE: u32 = 8192;

/// Why a media image could not be used.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The bytes are not a PNG or JPEG image the decoder can read.
    #[error("cannot decode the alert's media image: {0}")]
    Decode(String),
    /// The image is larger than [`MAX_MEDIA_SIDE`] on a side (or empty).
    #[error("the alert's media image is {width}×{height}: each side must be 1..={MAX_MEDIA_SIDE} pixels")]
    Size {
        /// Its width.
        width: u32,
        /// Its height.
        height: u32,
    },
}

/// A decoded media image (premultiplied RGBA), ready to be drawn at any size.
#[derive(Clone)]
pub struct MediaImage {
    pixmap: Pixmap,
}

impl std::fmt::Debug for MediaImage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MediaImage")
            .field("width", &self.width())
            .field("height", &self.height())
            .finish()
    }
}

impl MediaImage {
    /// Decodes a PNG or JPEG file's bytes.
    pub fn decode(bytes: &[u8]) -> Result<MediaImage, MediaError> {
        let reader = image::ImageReader::new(std::io::Cursor::new(bytes))
            .with_guessed_format()
            .map_err(|e| MediaError::Decode(e.to_string()))?;
        let (width, height) = reader
            .into_dimensions()
            .map_err(|e| MediaError::Decode(e.to_string()))?;
        if width == 0 || height == 0 || width > MAX_MEDIA_SIDE || height > MAX_MEDIA_SIDE {
            return Err(MediaError::Size { width, height });
        }
        let decoded = image::load_from_memory(bytes)
            .map_err(|e| MediaError::Decode(e.to_string()))?
            .into_rgba8();
        MediaImage::from_rgba(decoded.width(), decoded.height(), decoded.into_raw())
    }

    /// An image from straight (not premultiplied) RGBA bytes, rows top to bottom.
    pub fn from_rgba(width: u32, height: u32, mut rgba: Vec<u8>) -> Result<MediaImage, MediaError> {
        if width == 0
            || height == 0
            || width > MAX_MEDIA_SIDE
            || height > MAX_MEDIA_SIDE
            || rgba.len() != width as usize * height as usize * 4
        {
            return Err(MediaError::Size { width, height });
        }
        for px in rgba.chunks_exact_mut(4) {
            let a = u16::from(px[3]);
            for c in &mut px[..3] {
                *c = ((u16::from(*c) * a + 127) / 255) as u8;
            }
        }
        let size =
            tiny_skia::IntSize::from_wh(width, height).ok_or(MediaError::Size { width, height })?;
        let pixmap = Pixmap::from_vec(rgba, size).ok_or(MediaError::Size { width, height })?;
        Ok(MediaImage { pixmap })
    }

    /// Its width in pixels.
    pub fn width(&self) -> u32 {
        self.pixmap.width()
    }

    /// Its height in pixels.
    pub fn height(&self) -> u32 {
        self.pixmap.height()
    }

    /// Draws the image scaled into `r` (the layout already kept its aspect).
    pub(crate) fn draw_into(&self, canvas: &mut Pixmap, r: Rect) {
        let sx = r.width() as f32 / self.width() as f32;
        let sy = r.height() as f32 / self.height() as f32;
        let paint = PixmapPaint {
            quality: FilterQuality::Bilinear,
            ..PixmapPaint::default()
        };
        let t = Transform::from_scale(sx, sy).post_translate(r.x0 as f32, r.y0 as f32);
        canvas.draw_pixmap(0, 0, self.pixmap.as_ref(), &paint, t, None);
    }
}

impl MediaImage {
    /// The image fitted into a `width`×`height` box: scaled to fit with its aspect kept,
    /// centred, black around it (a layout's `side` or `logo` region, `docs/protocol.md` §20).
    pub fn fitted(&self, width: u32, height: u32) -> Result<crate::Image, crate::RenderError> {
        let size_err = || crate::RenderError::Size { width, height };
        if width == 0 || height == 0 || width > crate::MAX_SIZE.0 || height > crate::MAX_SIZE.1 {
            return Err(size_err());
        }
        let mut canvas = Pixmap::new(width, height).ok_or_else(size_err)?;
        canvas.fill(tiny_skia::Color::BLACK);
        let r = fit_box(self.width(), self.height(), width, height);
        self.draw_into(&mut canvas, r);
        Ok(crate::Image {
            width,
            height,
            pixmap: canvas,
        })
    }
}

/// Where an image of `iw`×`ih` goes in a `bw`×`bh` box: as large as fits, aspect kept, centred.
pub fn fit_box(iw: u32, ih: u32, bw: u32, bh: u32) -> Rect {
    let (iw, ih, bw, bh) = (
        i64::from(iw.max(1)),
        i64::from(ih.max(1)),
        i64::from(bw),
        i64::from(bh),
    );
    // Width-limited when iw/ih ≥ bw/bh.
    let (w, h) = if iw * bh >= ih * bw {
        (bw, (ih * bw / iw).max(1))
    } else {
        ((iw * bh / ih).max(1), bh)
    };
    let (x, y) = ((bw - w) / 2, (bh - h) / 2);
    Rect::new(x as i32, y as i32, (x + w) as i32, (y + h) as i32)
}

#[cfg(test)]
mod fit_tests {
    use super::*;

    #[test]
    fn fitted_keeps_the_aspect_and_centres() {
        // A wide red image in a tall box: full width, centred vertically, black above and below.
        let mut rgba = Vec::new();
        for _ in 0..(200 * 100) {
            rgba.extend_from_slice(&[255, 0, 0, 255]);
        }
        let img = MediaImage::from_rgba(200, 100, rgba).unwrap();
        let out = img.fitted(100, 300).unwrap();
        assert_eq!((out.width, out.height), (100, 300));
        assert_eq!(fit_box(200, 100, 100, 300), Rect::new(0, 125, 100, 175));
        assert_eq!(out.pixel(50, 150), [255, 0, 0]);
        assert_eq!(out.pixel(50, 10), [0, 0, 0]);
        assert_eq!(out.pixel(50, 290), [0, 0, 0]);
        assert_eq!(fit_box(100, 400, 200, 200), Rect::new(75, 0, 125, 200));
        assert!(img.fitted(0, 10).is_err());
    }
}
