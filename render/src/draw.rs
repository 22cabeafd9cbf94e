//! Measuring, fitting and painting text; filling shapes.
//!
//! Text is measured by its ink: the union of the rasterised glyphs' boxes, so stacked
//! Vietnamese diacritics above a capital (Ễ, Ở) and descenders count, not only the line
//! box. Fitting finds the largest font size whose lines fit the box (a binary search on the
//! line layout), then checks the ink and shrinks until the ink fits too.

use cosmic_text::{
    Align, Attrs, Buffer, Family, FontSystem, Metrics, Shaping, SwashCache, Weight, Wrap,
};
use tiny_skia::{FillRule, Paint, PathBuilder, Pixmap, Transform};

/// Line height as a multiple of the font size.
const LINE_HEIGHT: f32 = 1.3;
/// Glyph images kept between screens; beyond this the cache is emptied (a long run of alerts
/// at ever other sizes must not grow memory).
const GLYPH_CACHE_MAX: usize = 4096;

/// A box in pixels: `x0..x1` × `y0..y1` (ends exclusive).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rect {
    /// Left edge.
    pub x0: i32,
    /// Top edge.
    pub y0: i32,
    /// Right edge (exclusive).
    pub x1: i32,
    /// Bottom edge (exclusive).
    pub y1: i32,
}

impl Rect {
    /// The box `x0..x1` × `y0..y1`.
    pub fn new(x0: i32, y0: i32, x1: i32, y1: i32) -> Rect {
        Rect { x0, y0, x1, y1 }
    }

    /// Its width.
    pub fn width(&self) -> i32 {
        self.x1 - self.x0
    }

    /// Its height.
    pub fn height(&self) -> i32 {
        self.y1 - self.y0
    }

    /// Whether `other` lies wholly inside.
    pub fn contains(&self, other: Rect) -> bool {
        other.x0 >= self.x0 && other.y0 >= self.y0 && other.x1 <= self.x1 && other.y1 <= self.y1
    }

    /// Whether the pixel `(x, y)` lies inside.
    pub fn contains_point(&self, x: i32, y: i32) -> bool {
        x >= self.x0 && x < self.x1 && y >= self.y0 && y < self.y1
    }
}

/// The bounding box of pixels touched so far, and how many glyph pixels were cut off.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct Ink(Option<Rect>, u64);

impl Ink {
    fn add(&mut self, x: i32, y: i32) {
        self.add_rect(Rect::new(x, y, x + 1, y + 1));
    }

    fn add_rect(&mut self, r: Rect) {
        self.0 = Some(match self.0 {
            None => r,
            Some(a) => Rect::new(
                a.x0.min(r.x0),
                a.y0.min(r.y0),
                a.x1.max(r.x1),
                a.y1.max(r.y1),
            ),
        });
    }

    pub(crate) fn merge(&mut self, other: &Ink) {
        if let Some(r) = other.0 {
            self.add_rect(r);
        }
        self.1 += other.1;
    }

    /// Glyph pixels that fell outside their box and were not drawn.
    pub(crate) fn clipped(&self) -> u64 {
        self.1
    }

    pub(crate) fn rect(&self) -> Option<Rect> {
        self.0
    }
}

/// A tiny-skia colour from RGB.
pub(crate) fn colour(c: [u8; 3]) -> tiny_skia::Color {
    tiny_skia::Color::from_rgba8(c[0], c[1], c[2], 255)
}

fn paint_of(c: [u8; 3]) -> Paint<'static> {
    let mut p = Paint::default();
    p.set_color(colour(c));
    p.anti_alias = false;
    p
}

/// Fills `r` with `c`.
pub(crate) fn fill_rect(canvas: &mut Pixmap, r: Rect, c: [u8; 3]) {
    if let Some(rect) =
        tiny_skia::Rect::from_ltrb(r.x0 as f32, r.y0 as f32, r.x1 as f32, r.y1 as f32)
    {
        canvas.fill_rect(rect, &paint_of(c), Transform::identity(), None);
    }
}

/// Strokes the outline of `r`, `width` pixels wide, inside `r`.
pub(crate) fn frame_rect(canvas: &mut Pixmap, r: Rect, width: i32, c: [u8; 3]) {
    fill_rect(canvas, Rect::new(r.x0, r.y0, r.x1, r.y0 + width), c);
    fill_rect(canvas, Rect::new(r.x0, r.y1 - width, r.x1, r.y1), c);
    fill_rect(canvas, Rect::new(r.x0, r.y0, r.x0 + width, r.y1), c);
    fill_rect(canvas, Rect::new(r.x1 - width, r.y0, r.x1, r.y1), c);
}

/// Fills `r` with `c`, corners rounded by a quarter of its height (drawn without
/// anti-aliasing, so every pixel is either `c` or untouched).
pub(crate) fn fill_round_rect(canvas: &mut Pixmap, r: Rect, c: [u8; 3]) {
    let (x0, y0, x1, y1) = (r.x0 as f32, r.y0 as f32, r.x1 as f32, r.y1 as f32);
    let k = (r.height() as f32 / 4.0).min(r.width() as f32 / 2.0);
    let mut pb = PathBuilder::new();
    pb.move_to(x0 + k, y0);
    pb.line_to(x1 - k, y0);
    pb.quad_to(x1, y0, x1, y0 + k);
    pb.line_to(x1, y1 - k);
    pb.quad_to(x1, y1, x1 - k, y1);
    pb.line_to(x0 + k, y1);
    pb.quad_to(x0, y1, x0, y1 - k);
    pb.line_to(x0, y0 + k);
    pb.quad_to(x0, y0, x0 + k, y0);
    pb.close();
    if let Some(path) = pb.finish() {
        canvas.fill_path(
            &path,
            &paint_of(c),
            FillRule::Winding,
            Transform::identity(),
            None,
        );
    }
}

/// Limits of the text's font size.
#[derive(Debug, Clone, Copy)]
pub(crate) struct FitLimits {
    pub(crate) min: f32,
    pub(crate) max: f32,
}

impl FitLimits {
    /// For a screen `height` pixels high: from 1/60 (still readable from a few metres on a
    /// large screen) to 1/9 of the height.
    pub(crate) fn for_height(height: u32) -> FitLimits {
        let h = height as f32;
        FitLimits {
            min: (h / 60.0).max(6.0),
            max: (h / 9.0).max(8.0),
        }
    }
}

/// Laid-out text with its measured ink.
pub(crate) struct Fitted {
    buffer: Buffer,
    /// Font size in pixels.
    pub(crate) font_size: f32,
    /// Number of lines.
    pub(crate) lines: usize,
    /// Ink width.
    pub(crate) width: i32,
    /// Ink height.
    pub(crate) height: i32,
    /// Ink's top-left corner relative to the buffer's origin.
    ink_origin: (i32, i32),
}

fn attrs(family: &str, bold: bool) -> Attrs<'_> {
    Attrs::new().family(Family::Name(family)).weight(if bold {
        Weight::BOLD
    } else {
        Weight::NORMAL
    })
}

/// Lays `text` out at `size`, wrapped at `wrap_width` (if any), each line centred.
fn layout(
    fonts: &mut FontSystem,
    text: &str,
    family: &str,
    bold: bool,
    size: f32,
    wrap_width: Option<f32>,
) -> Buffer {
    let mut buffer = Buffer::new(fonts, Metrics::new(size, size * LINE_HEIGHT));
    buffer.set_wrap(
        fonts,
        if wrap_width.is_some() {
            Wrap::WordOrGlyph
        } else {
            Wrap::None
        },
    );
    buffer.set_size(fonts, wrap_width, None);
    buffer.set_text(fonts, text, &attrs(family, bold), Shaping::Advanced);
    for line in buffer.lines.iter_mut() {
        line.set_align(Some(Align::Center));
    }
    buffer.shape_until_scroll(fonts, false);
    buffer
}

/// Lines and widest line of a laid-out buffer, and its height by line boxes.
fn line_metrics(buffer: &Buffer) -> (usize, f32, f32) {
    let (mut lines, mut widest, mut bottom) = (0, 0f32, 0f32);
    for run in buffer.layout_runs() {
        lines += 1;
        widest = widest.max(run.line_w);
        bottom = bottom.max(run.line_top + run.line_height);
    }
    (lines, widest, bottom)
}

/// The ink box of a laid-out buffer (rasterising its glyphs into the cache).
fn ink_of(fonts: &mut FontSystem, glyphs: &mut SwashCache, buffer: &Buffer) -> Option<Rect> {
    let mut ink = Ink::default();
    for run in buffer.layout_runs() {
        for g in run.glyphs {
            let phys = g.physical((0.0, 0.0), 1.0);
            if let Some(img) = glyphs.get_image(fonts, phys.cache_key) {
                let p = img.placement;
                if p.width == 0 || p.height == 0 {
                    continue;
                }
                let x0 = phys.x + p.left;
                let y0 = run.line_y as i32 + phys.y - p.top;
                ink.add_rect(Rect::new(x0, y0, x0 + p.width as i32, y0 + p.height as i32));
            }
        }
    }
    ink.rect()
}

fn trim_cache(glyphs: &mut SwashCache) {
    if glyphs.image_cache.len() > GLYPH_CACHE_MAX {
        glyphs.image_cache.clear();
    }
}

/// Fits `text` (bold) into `bounds`: wrapped by UAX #14 (long words and CJK runs break between
/// characters when they must), lines centred, as large as fits between `limits`.
pub(crate) fn fit_text(
    fonts: &mut FontSystem,
    glyphs: &mut SwashCache,
    text: &str,
    family: &str,
    bounds: Rect,
    limits: FitLimits,
) -> Fitted {
    trim_cache(glyphs);
    let (bw, bh) = (bounds.width() as f32, bounds.height() as f32);
    let fits = |fonts: &mut FontSystem, size: f32| {
        let b = layout(fonts, text, family, true, size, Some(bw));
        let (_, widest, height) = line_metrics(&b);
        (widest <= bw && height <= bh, b)
    };
    // Binary search on the line layout: the largest size whose line boxes fit.
    let (mut lo, mut hi) = (limits.min, limits.max);
    let (ok, _) = fits(fonts, hi);
    if ok {
        lo = hi;
    } else {
        for _ in 0..10 {
            let mid = (lo + hi) / 2.0;
            if fits(fonts, mid).0 {
                lo = mid;
            } else {
                hi = mid;
            }
            if hi - lo < 0.5 {
                break;
            }
        }
    }
    // The ink may reach past the line boxes (stacked diacritics): shrink until it fits.
    let mut size = lo.floor().max(limits.min.min(lo));
    loop {
        let buffer = layout(fonts, text, family, true, size, Some(bw));
        let ink = ink_of(fonts, glyphs, &buffer);
        let (lines, _, _) = line_metrics(&buffer);
        let ink = ink.unwrap_or(Rect::new(0, 0, 0, 0));
        let fits = ink.width() <= bounds.width() && ink.height() <= bounds.height();
        if fits || size <= 4.0 {
            return Fitted {
                buffer,
                font_size: size,
                lines,
                width: ink.width().min(bounds.width()),
                height: ink.height().min(bounds.height()),
                ink_origin: (ink.x0, ink.y0),
            };
        }
        let scale = (bounds.width() as f32 / ink.width().max(1) as f32)
            .min(bounds.height() as f32 / ink.height().max(1) as f32)
            .min(0.97);
        size = (size * scale).floor().max(4.0);
    }
}

/// Fits one line of `text` (no wrapping) into `bounds`.
pub(crate) fn fit_line(
    fonts: &mut FontSystem,
    glyphs: &mut SwashCache,
    text: &str,
    family: &str,
    bounds: Rect,
    bold: bool,
) -> Fitted {
    let mut size = (bounds.height() as f32 / LINE_HEIGHT).max(4.0);
    loop {
        let buffer = layout(fonts, text, family, bold, size, None);
        let ink = ink_of(fonts, glyphs, &buffer).unwrap_or(Rect::new(0, 0, 0, 0));
        let fits = ink.width() <= bounds.width() && ink.height() <= bounds.height();
        if fits || size <= 4.0 {
            return Fitted {
                buffer,
                font_size: size,
                lines: 1,
                width: ink.width().min(bounds.width()),
                height: ink.height().min(bounds.height()),
                ink_origin: (ink.x0, ink.y0),
            };
        }
        let scale = (bounds.width() as f32 / ink.width().max(1) as f32)
            .min(bounds.height() as f32 / ink.height().max(1) as f32)
            .min(0.97);
        size = (size * scale).floor().max(4.0);
    }
}

impl Fitted {
    /// Paints the text centred in `bounds` (never outside it).
    pub(crate) fn paint_centred(
        &self,
        fonts: &mut FontSystem,
        glyphs: &mut SwashCache,
        canvas: &mut Pixmap,
        bounds: Rect,
        c: [u8; 3],
        ink: &mut Ink,
    ) {
        let x0 = bounds.x0 + (bounds.width() - self.width) / 2;
        let y0 = bounds.y0 + (bounds.height() - self.height) / 2;
        self.paint(fonts, glyphs, canvas, (x0, y0), bounds, c, ink);
    }

    /// Paints the text with its ink's top-left corner at `bounds`' (never outside `bounds`).
    pub(crate) fn paint_at(
        &self,
        fonts: &mut FontSystem,
        glyphs: &mut SwashCache,
        canvas: &mut Pixmap,
        bounds: Rect,
        c: [u8; 3],
        ink: &mut Ink,
    ) {
        self.paint(
            fonts,
            glyphs,
            canvas,
            (bounds.x0, bounds.y0),
            bounds,
            c,
            ink,
        );
    }

    #[allow(clippy::too_many_arguments)]
    fn paint(
        &self,
        fonts: &mut FontSystem,
        glyphs: &mut SwashCache,
        canvas: &mut Pixmap,
        at: (i32, i32),
        clip: Rect,
        c: [u8; 3],
        ink: &mut Ink,
    ) {
        let (dx, dy) = (at.0 - self.ink_origin.0, at.1 - self.ink_origin.1);
        let clip = Rect::new(
            clip.x0.max(0),
            clip.y0.max(0),
            clip.x1.min(canvas.width() as i32),
            clip.y1.min(canvas.height() as i32),
        );
        let stride = canvas.width() as usize;
        let data = canvas.data_mut();
        let base = cosmic_text::Color::rgb(c[0], c[1], c[2]);
        for run in self.buffer.layout_runs() {
            for g in run.glyphs {
                let phys = g.physical((dx as f32, dy as f32), 1.0);
                let line_y = run.line_y as i32;
                glyphs.with_pixels(fonts, phys.cache_key, base, |x, y, col| {
                    let (px, py) = (phys.x + x, line_y + phys.y + y);
                    let a = col.a() as u32;
                    if a == 0 {
                        return;
                    }
                    if !clip.contains_point(px, py) {
                        ink.1 += 1;
                        return;
                    }
                    ink.add(px, py);
                    let i = (py as usize * stride + px as usize) * 4;
                    let src = [col.r(), col.g(), col.b()];
                    for k in 0..3 {
                        let d = data[i + k] as u32;
                        data[i + k] = ((src[k] as u32 * a + d * (255 - a) + 127) / 255) as u8;
                    }
                    data[i + 3] = 255;
                });
            }
        }
    }
}
