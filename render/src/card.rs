//! The display test card (`gatecast-player check-display`): one line per script the alerts
//! need, set as large as fits, and the 5 % safe-area frame, for a technician to look at.

use tiny_skia::Pixmap;

use crate::draw::{self, Ink, Rect};
use crate::layout::AlertLayout;
use crate::{words, Image, Rendered, Renderer, BACKGROUND, BAND, TEXT};

/// The frame's colour, drawn just inside the safe area's edge.
pub const FRAME: [u8; 3] = [255, 210, 0];
/// The outer margin's colour on the card (outside the safe area).
pub const MARGIN: [u8; 3] = [70, 70, 78];

/// The lines of the card: (language tag for the font, text).
fn lines(pahawh: bool) -> Vec<(&'static str, String)> {
    vec![
        (
            "vi",
            "Tiếng Việt: Ở Ầ Ễ Ự Ỹ ở ầ ễ ự ỹ — CẢNH BÁO KHẨN".into(),
        ),
        ("zh", "中文（简体）：紧急警报 边境口岸暂停通关".into()),
        ("hmn", "Hmoob: CEEV FAJ — Ntawv ceeb toom txhua leej".into()),
        (
            "pahawh",
            if pahawh {
                "Pahawh Hmong: \u{16B00}\u{16B01}\u{16B02}\u{16B03}\u{16B04}\u{16B05} \u{16B50}\u{16B51}\u{16B52}".into()
            } else {
                "Pahawh Hmong: no font installed (optional)".into()
            },
        ),
    ]
}

/// Draws the card onto `canvas` (already the background with the alert band).
pub(crate) fn draw(r: &mut Renderer, layout: AlertLayout, mut canvas: Pixmap) -> Rendered {
    let (w, h) = (canvas.width(), canvas.height());
    // The margin in grey, the safe area's edge in yellow: what a screen crops shows at once.
    canvas.fill(draw::colour(MARGIN));
    draw::fill_rect(&mut canvas, layout.safe, BACKGROUND);
    let band = Rect::new(
        layout.safe.x0,
        layout.safe.y0,
        layout.safe.x1,
        layout.band_inner.y1,
    );
    draw::fill_rect(&mut canvas, band, BAND);
    let stroke = (h as i32 / 270).max(2);
    draw::frame_rect(&mut canvas, layout.safe, stroke, FRAME);

    let pahawh = r.coverage().pahawh_hmong();
    let mut ink = Ink::default();
    let mut body = Ink::default();
    let title = format!("gatecast check-display — {w}×{h} — 5 % safe area");
    let inset = layout.safe.height() / 40 + stroke;
    let title_box = Rect::new(
        band.x0 + inset,
        band.y0 + inset,
        band.x1 - inset,
        band.y1 - inset,
    );
    let family = words::family_for(r.fonts.db(), "en");
    let t = draw::fit_line(&mut r.fonts, &mut r.glyphs, &title, family, title_box, true);
    t.paint_at(
        &mut r.fonts,
        &mut r.glyphs,
        &mut canvas,
        title_box,
        TEXT,
        &mut ink,
    );

    let rows = lines(pahawh);
    let top = layout.text.y0;
    let bottom = layout.safe.y1 - inset;
    let row_h = (bottom - top) / rows.len() as i32;
    let mut size: f32 = 0.0;
    for (i, (lang, text)) in rows.iter().enumerate() {
        let y0 = top + i as i32 * row_h;
        let row = Rect::new(
            layout.safe.x0 + inset,
            y0 + row_h / 8,
            layout.safe.x1 - inset,
            y0 + row_h - row_h / 8,
        );
        let family = match *lang {
            "pahawh" if pahawh => "Noto Sans Pahawh Hmong",
            l => words::family_for(r.fonts.db(), l),
        };
        let f = draw::fit_line(&mut r.fonts, &mut r.glyphs, text, family, row, false);
        size = size.max(f.font_size);
        f.paint_at(
            &mut r.fonts,
            &mut r.glyphs,
            &mut canvas,
            row,
            TEXT,
            &mut body,
        );
    }
    ink.merge(&body);
    Rendered {
        image: Image {
            width: w,
            height: h,
            pixmap: canvas,
        },
        layout,
        ink: ink.rect(),
        text_ink: body.rect(),
        clipped: ink.clipped(),
        font_size: size,
        lines: rows.len(),
    }
}
