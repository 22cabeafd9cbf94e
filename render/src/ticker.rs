//! The ticker strip and the clock face of a screen layout (`docs/protocol.md` §20).
//!
//! A ticker strip is one text on one line, drawn once per turn as a long image:
//! `lead` pixels of band, the text, `lead` pixels of band. The player shows a window of the
//! region's width sliding along it (mpv `overlay-add` with a byte offset), so scrolling costs
//! no drawing at all. The clock face is the local time (`HH:MM`) above the date in the
//! language's words (Vietnamese: "Thứ Hai, 07/12/2026").

use crate::draw::{self, Rect};
use crate::{words, Image, RenderError, Renderer, TEXT};

/// The ticker band's colour (dark blue, so it reads as apart from the programme).
pub const TICKER_BAND: [u8; 3] = [10, 40, 90];
/// The clock's background.
pub const CLOCK_BACKGROUND: [u8; 3] = [20, 20, 28];
/// The widest ticker strip drawn, in pixels (longer texts are drawn smaller).
pub const MAX_STRIP_WIDTH: u32 = 60_000;

/// A local date and time to show (already in the gate's timezone).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClockFace {
    /// Year.
    pub year: i16,
    /// Month, 1..=12.
    pub month: i8,
    /// Day, 1..=31.
    pub day: i8,
    /// Hour, 0..=23.
    pub hour: i8,
    /// Minute, 0..=59.
    pub minute: i8,
    /// Day of the week, 1 = Monday ..= 7 = Sunday (ISO 8601).
    pub weekday: i8,
}

/// The weekday's name in `lang` (Vietnamese, Chinese, English; any other language English).
pub fn weekday_name(lang: &str, weekday: i8) -> &'static str {
    const VI: [&str; 7] = [
        "Thứ Hai",
        "Thứ Ba",
        "Thứ Tư",
        "Thứ Năm",
        "Thứ Sáu",
        "Thứ Bảy",
        "Chủ Nhật",
    ];
    const ZH: [&str; 7] = [
        "星期一",
        "星期二",
        "星期三",
        "星期四",
        "星期五",
        "星期六",
        "星期日",
    ];
    const EN: [&str; 7] = [
        "Monday",
        "Tuesday",
        "Wednesday",
        "Thursday",
        "Friday",
        "Saturday",
        "Sunday",
    ];
    let i = (weekday.clamp(1, 7) - 1) as usize;
    let primary = lang.split('-').next().unwrap_or("").to_ascii_lowercase();
    match primary.as_str() {
        "vi" => VI[i],
        "zh" => ZH[i],
        _ => EN[i],
    }
}

impl ClockFace {
    /// The two lines shown: `HH:MM` and `<weekday>, dd/mm/yyyy`.
    pub fn lines(&self, lang: &str) -> (String, String) {
        (
            format!("{:02}:{:02}", self.hour, self.minute),
            format!(
                "{}, {:02}/{:02}/{:04}",
                weekday_name(lang, self.weekday),
                self.day,
                self.month,
                self.year
            ),
        )
    }
}

impl Renderer {
    /// The ticker strip for `text` in `lang`, `height` pixels high, with `lead` pixels of band
    /// before and after the text. The text is one line, its ink vertically centred, at about
    /// 60 % of the height.
    pub fn ticker_strip(
        &mut self,
        lang: &str,
        text: &str,
        height: u32,
        lead: u32,
    ) -> Result<Image, RenderError> {
        let size_err = || RenderError::Size {
            width: lead,
            height,
        };
        if !(8..=crate::MAX_SIZE.1).contains(&height) || lead > crate::MAX_SIZE.0 {
            return Err(size_err());
        }
        let family = words::family_for(self.fonts.db(), lang);
        let room = MAX_STRIP_WIDTH - 2 * lead;
        let text_h = (height as f32 * 0.62) as i32;
        let bounds = Rect::new(0, 0, room as i32, text_h);
        let line = draw::fit_line(
            &mut self.fonts,
            &mut self.glyphs,
            text,
            family,
            bounds,
            false,
        );
        let width = 2 * lead + line.width.max(1) as u32;
        let mut canvas = tiny_skia::Pixmap::new(width, height).ok_or_else(size_err)?;
        canvas.fill(draw::colour(TICKER_BAND));
        let at = Rect::new(
            lead as i32,
            (height as i32 - text_h) / 2,
            (lead + line.width.max(1) as u32) as i32,
            (height as i32 + text_h) / 2,
        );
        let mut ink = draw::Ink::default();
        line.paint_centred(
            &mut self.fonts,
            &mut self.glyphs,
            &mut canvas,
            at,
            TEXT,
            &mut ink,
        );
        Ok(Image {
            width,
            height,
            pixmap: canvas,
        })
    }

    /// The clock face at `width`×`height`: the time (large) above the date (smaller), in
    /// `lang`'s words.
    pub fn clock(
        &mut self,
        lang: &str,
        face: &ClockFace,
        width: u32,
        height: u32,
    ) -> Result<Image, RenderError> {
        let size_err = || RenderError::Size { width, height };
        if !(16..=crate::MAX_SIZE.0).contains(&width) || !(8..=crate::MAX_SIZE.1).contains(&height)
        {
            return Err(size_err());
        }
        let mut canvas = tiny_skia::Pixmap::new(width, height).ok_or_else(size_err)?;
        canvas.fill(draw::colour(CLOCK_BACKGROUND));
        let (time, date) = face.lines(lang);
        let family = words::family_for(self.fonts.db(), lang);
        let (w, h) = (width as i32, height as i32);
        let pad = (h / 12).max(1);
        let split = pad + (h - 2 * pad) * 58 / 100;
        let mut ink = draw::Ink::default();
        for (text, bounds, bold) in [
            (&time, Rect::new(pad, pad, w - pad, split), true),
            (&date, Rect::new(pad, split, w - pad, h - pad), false),
        ] {
            let line = draw::fit_line(
                &mut self.fonts,
                &mut self.glyphs,
                text,
                family,
                bounds,
                bold,
            );
            line.paint_centred(
                &mut self.fonts,
                &mut self.glyphs,
                &mut canvas,
                bounds,
                TEXT,
                &mut ink,
            );
        }
        Ok(Image {
            width,
            height,
            pixmap: canvas,
        })
    }
}

impl Image {
    /// The image turned 90° clockwise (for a portrait layout on a landscape display).
    pub fn turned_clockwise(&self) -> Image {
        let (w, h) = (self.width, self.height);
        let mut out = tiny_skia::Pixmap::new(h, w).expect("a non-empty image turns");
        let src = self.pixmap.data();
        let dst = out.data_mut();
        for y in 0..h {
            for x in 0..w {
                // (x, y) goes to (h - 1 - y, x) in the turned image, which is h wide.
                let s = ((y * w + x) * 4) as usize;
                let d = ((x * h + (h - 1 - y)) * 4) as usize;
                dst[d..d + 4].copy_from_slice(&src[s..s + 4]);
            }
        }
        Image {
            width: h,
            height: w,
            pixmap: out,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn face() -> ClockFace {
        ClockFace {
            year: 2026,
            month: 12,
            day: 7,
            hour: 12,
            minute: 5,
            weekday: 1,
        }
    }

    #[test]
    fn clock_lines_in_vietnamese_and_english() {
        assert_eq!(
            face().lines("vi"),
            ("12:05".to_string(), "Thứ Hai, 07/12/2026".to_string())
        );
        assert_eq!(face().lines("en").1, "Monday, 07/12/2026");
        assert_eq!(weekday_name("vi", 7), "Chủ Nhật");
        assert_eq!(weekday_name("zh-Hans", 3), "星期三");
    }

    #[test]
    fn strip_is_band_around_the_text_and_turns() {
        let mut r = Renderer::system();
        let s = r
            .ticker_strip("vi", "Đính chính: QL4D thông xe", 60, 200)
            .unwrap();
        assert_eq!(s.height, 60);
        assert!(s.width > 400, "{}", s.width);
        assert_eq!(s.pixel(0, 30), TICKER_BAND);
        assert_eq!(s.pixel(s.width - 1, 30), TICKER_BAND);
        let lit = (200..s.width - 200)
            .filter(|&x| s.pixel(x, 30) != TICKER_BAND)
            .count();
        assert!(
            lit > 10,
            "the text is drawn ({lit} lit pixels on the middle row)"
        );
        let t = s.turned_clockwise();
        assert_eq!((t.width, t.height), (60, s.width));
        for (x, y) in [(0, 0), (s.width - 1, 59), (250, 17)] {
            assert_eq!(t.pixel(59 - y, x), s.pixel(x, y));
        }
    }

    #[test]
    fn clock_draws_and_differs_by_minute() {
        let mut r = Renderer::system();
        let a = r.clock("vi", &face(), 300, 120).unwrap();
        let mut later = face();
        later.minute = 6;
        let b = r.clock("vi", &later, 300, 120).unwrap();
        assert_eq!(a.pixel(0, 0), CLOCK_BACKGROUND);
        assert_ne!(a.rgba(), b.rgba());
    }
}
