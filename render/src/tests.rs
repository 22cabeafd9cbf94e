//! The renderer on the system's fonts (`fonts-noto-core`, `fonts-noto-cjk`): fitting,
//! wrapping, margins, diacritics. Pixel checks use the definition of the glass tests: a text
//! pixel is any pixel that is neither [`BACKGROUND`] nor [`BAND`].

use crate::{Rendered, Renderer, BACKGROUND, BAND};

fn renderer() -> Renderer {
    let r = Renderer::system();
    if let Some(w) = r.coverage().warning() {
        panic!("these tests need the alert fonts: {w}");
    }
    r
}

/// The 120-character Chinese alert of the glass tests.
pub(crate) fn long_chinese() -> String {
    let s = "因洪水，口岸暂停通关。请旅客听从边防人员指挥，在指定区域等候，不要靠近河岸。";
    s.chars().cycle().take(120).collect()
}

/// Every pixel outside the safe area is background or band.
fn assert_margins_clean(r: &Rendered) {
    let (w, h) = (r.image.width, r.image.height);
    let safe = r.layout.safe;
    for y in 0..h {
        for x in 0..w {
            if safe.contains_point(x as i32, y as i32) {
                continue;
            }
            let p = r.image.pixel(x, y);
            assert!(
                p == BACKGROUND || p == BAND,
                "text pixel {p:?} at ({x}, {y}) in the margin outside {safe:?}"
            );
        }
    }
    let ink = r.ink.expect("something was drawn");
    assert!(
        safe.contains(ink),
        "ink {ink:?} outside the safe area {safe:?}"
    );
}

#[test]
fn short_text_is_large_and_long_text_shrinks() {
    let mut r = renderer();
    let short = r.alert("en", "Border closed.", 1280, 720).unwrap();
    let long_text = "Border crossing suspended due to flooding. ".repeat(12);
    let long = r.alert("en", &long_text, 1280, 720).unwrap();
    assert_eq!(short.lines, 1);
    assert!(short.font_size >= 70.0, "{}", short.font_size);
    assert!(
        long.font_size < short.font_size / 2.0,
        "{} vs {}",
        long.font_size,
        short.font_size
    );
    assert!(long.lines > 4, "{}", long.lines);
    assert_margins_clean(&short);
    assert_margins_clean(&long);
    let ink = long.text_ink.unwrap();
    assert!(
        long.layout.text.contains(ink),
        "{ink:?} outside {:?}",
        long.layout.text
    );
}

#[test]
fn chinese_wraps_between_characters_inside_the_safe_area() {
    let mut r = renderer();
    let out = r.alert("zh-Hans", &long_chinese(), 1920, 1080).unwrap();
    assert!(out.lines >= 3, "120 characters in {} lines", out.lines);
    let ink = out.text_ink.unwrap();
    assert!(
        out.layout.text.contains(ink),
        "{ink:?} outside {:?}",
        out.layout.text
    );
    // The lines are filled: the text spans most of the box's width.
    assert!(ink.width() > out.layout.text.width() * 8 / 10, "{ink:?}");
    assert_margins_clean(&out);
}

#[test]
fn stacked_vietnamese_diacritics_are_not_clipped() {
    let mut r = renderer();
    // Capitals with two marks stacked above and a dot below, from one line to lines enough
    // that the height limits the size (the first line's marks reach above its line box).
    for reps in [1, 3, 6, 10, 16, 25, 40] {
        for (w, h) in [(1280, 720), (640, 360)] {
            let text = "Ở Ầ Ễ Ự Ỹ Ẩ Ậ Ỗ ".repeat(reps);
            let out = r.alert("vi", &text, w, h).unwrap();
            let what = format!(
                "{reps}× at {w}×{h}: {} lines at {} px",
                out.lines, out.font_size
            );
            assert_eq!(out.clipped, 0, "{what}: glyph pixels cut off");
            let ink = out.text_ink.unwrap();
            let text_box = out.layout.text;
            assert!(
                text_box.contains(ink),
                "{what}: {ink:?} outside {text_box:?}"
            );
            // The top row of the ink holds mark pixels (the tilde or hook over a circumflex).
            let top_row = (ink.x0..ink.x1)
                .filter(|&x| out.image.pixel(x as u32, ink.y0 as u32) != crate::BACKGROUND)
                .count();
            assert!(
                top_row > 0,
                "{what}: no mark pixels at the top of the ink {ink:?}"
            );
            assert_margins_clean(&out);
        }
    }
}

#[test]
fn every_language_has_its_band_and_label() {
    let mut r = renderer();
    let (w, h) = (960, 540);
    let vi = r.alert("vi", "Cửa khẩu tạm dừng", w, h).unwrap();
    let hmn = r.alert("hmn", "Cửa khẩu tạm dừng", w, h).unwrap();
    let fr = r.alert("fr", "Cửa khẩu tạm dừng", w, h).unwrap();
    let en = r.alert("en", "Cửa khẩu tạm dừng", w, h).unwrap();
    // The band's red runs edge to edge.
    assert_eq!(vi.image.pixel(0, 2), BAND);
    assert_eq!(vi.image.pixel(w - 1, 2), BAND);
    assert_eq!(vi.image.pixel(w / 2, h - 2), BACKGROUND);
    // Same text, other band: the images differ only in the band.
    let band_differs = |a: &Rendered, b: &Rendered| {
        let band = a.layout.band;
        (band.y0..band.y1)
            .any(|y| (0..w).any(|x| a.image.pixel(x, y as u32) != b.image.pixel(x, y as u32)))
    };
    assert!(band_differs(&vi, &hmn));
    assert!(
        !band_differs(&fr, &en),
        "an unknown language gets the English band"
    );
    for r in [&vi, &hmn, &fr] {
        assert_margins_clean(r);
    }
}

#[test]
fn sizes_outside_the_limits_are_refused() {
    let mut r = renderer();
    assert!(r.alert("vi", "x", 100, 100).is_err());
    assert!(r.alert("vi", "x", 8000, 1000).is_err());
    let card = r.test_card(1280, 720).unwrap();
    let ink = card.ink.unwrap();
    assert!(card.layout.safe.contains(ink), "{ink:?}");
    assert_eq!(card.lines, 4);
}

/// A 400×300 PNG of one colour with a white cross, as an operator's image media.
fn media_png() -> Vec<u8> {
    let mut img = image::RgbaImage::from_pixel(400, 300, image::Rgba([20, 160, 60, 255]));
    for i in 0..300 {
        img.put_pixel(200, i, image::Rgba([255, 255, 255, 255]));
    }
    let mut out = Vec::new();
    img.write_to(&mut std::io::Cursor::new(&mut out), image::ImageFormat::Png)
        .unwrap();
    out
}

#[test]
fn image_media_is_drawn_above_the_text_inside_the_safe_area() {
    let mut r = renderer();
    let media = crate::MediaImage::decode(&media_png()).unwrap();
    for (lang, text) in [
        (
            "vi",
            "Cửa khẩu tạm dừng thông quan do lũ lụt. Xin làm theo hướng dẫn.",
        ),
        ("zh-Hans", long_chinese().as_str()),
    ] {
        let out = r
            .alert_with_media(lang, text, Some(&media), 1280, 720)
            .unwrap();
        let m = out.layout.media.expect("a media box");
        assert!(
            (m.width() * 3 - m.height() * 4).abs() <= 4,
            "aspect kept: {m:?}"
        );
        // The media's own colour fills its box (away from the cross and the scaled edges).
        for (x, y) in [
            (m.x0 + 4, m.y0 + 4),
            (m.x1 - 5, m.y1 - 5),
            (m.x0 + 10, m.y1 - 5),
        ] {
            assert_eq!(
                out.image.pixel(x as u32, y as u32),
                [20, 160, 60],
                "({x}, {y}) in {m:?}"
            );
        }
        let text_ink = out.text_ink.expect("text drawn");
        assert!(
            text_ink.y0 >= m.y1,
            "text {text_ink:?} overlaps the media {m:?}"
        );
        assert_eq!(out.clipped, 0, "{lang}: text cut off");
        // Outside the media box, the margins hold only background and band.
        let safe = out.layout.safe;
        for y in 0..out.image.height {
            for x in 0..out.image.width {
                if !safe.contains_point(x as i32, y as i32) {
                    let p = out.image.pixel(x, y);
                    assert!(p == BACKGROUND || p == BAND, "{lang}: {p:?} at ({x}, {y})");
                }
            }
        }
        assert!(safe.contains(out.ink.unwrap()) && safe.contains(m));
        // For a person to look at: GATECAST_RENDER_SHOTS=<dir> keeps the frames as PNG.
        if let Some(dir) = std::env::var_os("GATECAST_RENDER_SHOTS") {
            let path = std::path::Path::new(&dir).join(format!("alert-media-{lang}.png"));
            std::fs::write(path, out.image.to_png().unwrap()).unwrap();
        }
    }
    let plain = r.alert("vi", "Cửa khẩu tạm dừng.", 1280, 720).unwrap();
    assert!(plain.layout.media.is_none());
}

#[test]
fn broken_media_bytes_are_refused_with_a_reason() {
    let e = crate::MediaImage::decode(b"not an image").unwrap_err();
    assert!(e.to_string().contains("cannot decode"), "{e}");
}
