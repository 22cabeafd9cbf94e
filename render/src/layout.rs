//! Where things go on an alert screen of a given size.
//!
//! ```text
//! ┌──────────────────────────────────────────────────┐ ← band: red, edge to edge, top 20 %
//! │   CẢNH BÁO KHẨN                    (Tiếng Việt)  │
//! ├──────────────────────────────────────────────────┤
//! │                                                  │
//! │        the alert text, fitted and centred        │ ← text box
//! │                                                  │
//! └──────────────────────────────────────────────────┘
//! ```
//!
//! An alert with media ([`AlertLayout::with_media`]) puts the media, aspect kept and centred,
//! in the top of the text box (at most [`MEDIA_SHARE`] of the safe area's height) and fits the
//! text in the rest below it.
//!
//! Every glyph and the label's pill lie inside the safe area: the screen less
//! [`SAFE_MARGIN`] of its width (left and right) and of its height (top and bottom), rounded
//! inwards. Only the band's red fill reaches into the margin.

use crate::draw::Rect;

/// The share of the screen's width (height) kept free of text on the left and right (top and
/// bottom): televisions may crop up to this much (overscan).
pub const SAFE_MARGIN: f32 = 0.05;

/// The largest share of the safe area's height an alert's media may take (above the text).
pub const MEDIA_SHARE: f32 = 0.55;

/// The boxes of an alert screen, in pixels.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct AlertLayout {
    /// The whole screen.
    pub screen: Rect,
    /// The safe area: no glyph outside it.
    pub safe: Rect,
    /// The red band (full width, from the top edge).
    pub band: Rect,
    /// The part of the band inside the safe area, where its word and label go.
    pub band_inner: Rect,
    /// The largest box the language label may take.
    pub label_max: Rect,
    /// Where the alert text is fitted.
    pub text: Rect,
    /// Where the alert's media is drawn, above the text ([`AlertLayout::with_media`]); `None`
    /// for a text-only alert.
    pub media: Option<Rect>,
}

impl AlertLayout {
    /// The layout of a `width`×`height` screen.
    pub fn new(width: u32, height: u32) -> AlertLayout {
        let (w, h) = (width as f32, height as f32);
        let mx = (w * SAFE_MARGIN).ceil() as i32;
        let my = (h * SAFE_MARGIN).ceil() as i32;
        let (w, h) = (width as i32, height as i32);
        let screen = Rect::new(0, 0, w, h);
        let safe = Rect::new(mx, my, w - mx, h - my);
        let band_bottom = (h as f32 * 0.20).round() as i32;
        let band = Rect::new(0, 0, w, band_bottom);
        let pad = (h as f32 * 0.02).round() as i32;
        let band_inner = Rect::new(safe.x0, safe.y0, safe.x1, band_bottom - pad);
        let label_h = (band_inner.height() as f32 * 0.45) as i32;
        let label_max = Rect::new(
            safe.x1 - safe.width() * 3 / 10,
            band_inner.y0,
            safe.x1,
            band_inner.y0 + label_h,
        );
        let text = Rect::new(safe.x0, band_bottom + 2 * pad, safe.x1, safe.y1);
        AlertLayout {
            screen,
            safe,
            band,
            band_inner,
            label_max,
            text,
            media: None,
        }
    }

    /// The layout of a `width`×`height` screen whose alert carries media of
    /// `media_w`×`media_h` pixels: the media goes above the text, in at most
    /// [`MEDIA_SHARE`] of the safe area's height, as large as fits with its aspect kept and
    /// centred; the text is fitted in what is left below it. The band and label are as in
    /// [`AlertLayout::new`].
    pub fn with_media(width: u32, height: u32, media_w: u32, media_h: u32) -> AlertLayout {
        let mut l = AlertLayout::new(width, height);
        if media_w == 0 || media_h == 0 {
            return l;
        }
        let pad = (height as f32 * 0.02).round() as i32;
        let area = l.text;
        let max_h = ((l.safe.height() as f32 * MEDIA_SHARE) as i32).min(area.height() * 3 / 5);
        let scale = (area.width() as f32 / media_w as f32).min(max_h as f32 / media_h as f32);
        let w = ((media_w as f32 * scale).floor() as i32).clamp(1, area.width());
        let h = ((media_h as f32 * scale).floor() as i32).clamp(1, max_h.max(1));
        let x0 = area.x0 + (area.width() - w) / 2;
        let media = Rect::new(x0, area.y0, x0 + w, area.y0 + h);
        l.text = Rect::new(area.x0, (media.y1 + pad).min(area.y1 - 1), area.x1, area.y1);
        l.media = Some(media);
        l
    }

    /// The label's pill for a label text of `w`×`h` pixels: right-aligned in the band, centred
    /// vertically in its inner part.
    pub fn label_pill(&self, w: i32, h: i32) -> Rect {
        let pad_y = h / 4;
        let pad_x = h / 2;
        let pw = w + 2 * pad_x;
        let ph = h + 2 * pad_y;
        let y0 = self.band_inner.y0 + (self.band_inner.height() - ph) / 2;
        Rect::new(self.band_inner.x1 - pw, y0, self.band_inner.x1, y0 + ph)
    }

    /// Where a label of `w`×`h` is drawn inside `pill`.
    pub fn label_text(&self, pill: Rect, w: i32, h: i32) -> Rect {
        let x0 = pill.x0 + (pill.width() - w) / 2;
        let y0 = pill.y0 + (pill.height() - h) / 2;
        Rect::new(x0, y0, x0 + w, y0 + h)
    }

    /// The box the band's word is fitted into: the band's inner part left of the pill.
    pub fn word_box(&self, pill: Rect) -> Rect {
        let gap = self.band_inner.height() / 3;
        Rect::new(
            self.band_inner.x0,
            self.band_inner.y0,
            (pill.x0 - gap).max(self.band_inner.x0 + 1),
            self.band_inner.y1,
        )
    }

    /// Where a band word of height `h` is drawn inside `word_box` (left-aligned, centred
    /// vertically).
    pub fn word_at(&self, word_box: Rect, h: i32) -> Rect {
        let y0 = word_box.y0 + (word_box.height() - h) / 2;
        Rect::new(word_box.x0, y0, word_box.x1, y0 + h)
    }
}

#[cfg(test)]
mod tests {
    use super::AlertLayout;

    #[test]
    fn boxes_lie_inside_the_safe_area() {
        for (w, h) in [
            (1920, 1080),
            (1280, 720),
            (641, 359),
            (160, 90),
            (1080, 1920),
        ] {
            let l = AlertLayout::new(w, h);
            assert!(l.safe.x0 as f32 >= w as f32 * 0.05, "{w}×{h}");
            assert!(l.safe.y0 as f32 >= h as f32 * 0.05, "{w}×{h}");
            assert!((w as i32 - l.safe.x1) as f32 >= w as f32 * 0.05, "{w}×{h}");
            assert!((h as i32 - l.safe.y1) as f32 >= h as f32 * 0.05, "{w}×{h}");
            for b in [l.band_inner, l.label_max, l.text] {
                assert!(l.safe.contains(b), "{b:?} outside {:?} at {w}×{h}", l.safe);
                assert!(b.width() > 0 && b.height() > 0, "{b:?} at {w}×{h}");
            }
            assert_eq!((l.band.x0, l.band.y0, l.band.x1), (0, 0, w as i32));
            assert!(l.text.y0 > l.band.y1);
        }
    }

    #[test]
    fn media_goes_above_the_text_inside_the_safe_area() {
        for (w, h, mw, mh) in [
            (1920, 1080, 1600, 900),
            (1280, 720, 400, 1200),
            (1080, 1920, 3000, 1000),
            (160, 90, 16, 9),
        ] {
            let l = AlertLayout::with_media(w, h, mw, mh);
            let m = l.media.expect("media box");
            assert!(l.safe.contains(m), "{m:?} outside {:?}", l.safe);
            assert!(m.y1 <= l.text.y0, "media {m:?} overlaps text {:?}", l.text);
            assert!(m.y0 > l.band.y1);
            assert!(m.height() as f32 <= l.safe.height() as f32 * super::MEDIA_SHARE + 1.0);
            let (ar, want) = (m.width() as f32 / m.height() as f32, mw as f32 / mh as f32);
            assert!((ar - want).abs() / want < 0.05, "aspect {ar} vs {want}");
            assert!(l.text.height() > 0 && l.safe.contains(l.text));
            let cx = (m.x0 + m.x1) / 2 - (l.safe.x0 + l.safe.x1) / 2;
            assert!(cx.abs() <= 1, "not centred: {m:?}");
        }
    }
}
