//! `POST /api/v1/alerts/preview`: the console's alert preview is the image a player shows
//! (the same renderer, byte for byte), for operators and admins only, within size limits.

use crate::api_support;

use api_support::*;
use serde_json::json;

/// PNG width and height from the IHDR chunk.
fn png_size(b: &[u8]) -> (u32, u32) {
    assert_eq!(&b[..8], b"\x89PNG\r\n\x1a\n", "a PNG file");
    let w = u32::from_be_bytes([b[16], b[17], b[18], b[19]]);
    let h = u32::from_be_bytes([b[20], b[21], b[22], b[23]]);
    (w, h)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_preview_is_the_players_screen() {
    let renderer = gatecast_render::Renderer::system();
    if let Some(w) = renderer.coverage().warning() {
        if gatecast_testkit::external_required() {
            panic!("alert_preview_is_the_players_screen: {w}");
        }
        println!("SKIPPED: alert_preview_is_the_players_screen: {w}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let operator = ctl.token("operator").await;
    let auditor = ctl.token("auditor").await;
    let body = json!({"text": [
        {"lang": "vi", "text": "Cửa khẩu tạm dừng thông quan do lũ."},
        {"lang": "zh-Hans", "text": "因洪水，口岸暂停通关。"}
    ]});

    let path = "/api/v1/alerts/preview?lang=zh-Hans&width=960&height=540";
    let (s, ct, png) = ctl.post_raw(path, &operator, body.clone()).await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&png));
    assert_eq!(ct, "image/png");
    assert_eq!(png_size(&png), (960, 540));
    let mut r = renderer;
    let expected = r
        .alert("zh-Hans", "因洪水，口岸暂停通关。", 960, 540)
        .unwrap();
    assert!(
        png == expected.image.to_png().unwrap(),
        "the preview is not the screen the player draws"
    );
    // Without `lang`: the first text, at the default size.
    let (s, _, png) = ctl
        .post_raw("/api/v1/alerts/preview", &operator, body.clone())
        .await;
    assert_eq!(s, 200);
    assert_eq!(png_size(&png), (1280, 720));

    for (path, body, status, what) in [
        (
            "/api/v1/alerts/preview?width=4000",
            body.clone(),
            400,
            "too wide",
        ),
        (
            "/api/v1/alerts/preview?height=10",
            body.clone(),
            400,
            "too low",
        ),
        (
            "/api/v1/alerts/preview?lang=fr",
            body.clone(),
            400,
            "no text in that language",
        ),
        (
            "/api/v1/alerts/preview?colour=red",
            body.clone(),
            400,
            "unknown parameter",
        ),
        (
            "/api/v1/alerts/preview",
            json!({"text": []}),
            400,
            "no text",
        ),
        (
            "/api/v1/alerts/preview",
            json!({"text": [{"lang": "vi", "text": "ạ".repeat(2000)}]}),
            400,
            "more than 4,096 bytes",
        ),
    ] {
        let (s, _, b) = ctl.post_raw(path, &operator, body).await;
        assert_eq!(s, status, "{what}: {}", String::from_utf8_lossy(&b));
    }
    let (s, _, _) = ctl.post_raw(path, &auditor, body).await;
    assert_eq!(s, 403, "an auditor may not draw previews");
}

/// A `w`×`h` PNG of colour bars.
fn bars_png(w: u32, h: u32) -> Vec<u8> {
    let mut rgb = Vec::with_capacity((w * h * 3) as usize);
    for _ in 0..h {
        for x in 0..w {
            rgb.extend(if x * 2 < w {
                [40, 160, 220]
            } else {
                [240, 200, 40]
            });
        }
    }
    gatecast_testkit::glass::encode_png(w, h, &rgb)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn alert_preview_draws_the_image_media_above_the_text() {
    let renderer = gatecast_render::Renderer::system();
    if let Some(w) = renderer.coverage().warning() {
        if gatecast_testkit::external_required() {
            panic!("alert_preview_draws_the_image_media_above_the_text: {w}");
        }
        println!("SKIPPED: alert_preview_draws_the_image_media_above_the_text: {w}");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let operator = ctl.token("operator").await;
    let image = bars_png(320, 180);
    let (s, v) = ctl
        .upload(image.clone(), "image/png", "kind=slide&lang=vi")
        .await;
    assert_eq!(s, 201, "{v}");
    let sha = v["sha256"].as_str().unwrap().to_owned();
    let text = "Cửa khẩu tạm dừng thông quan do lũ.";
    let body = json!({"text": [{"lang": "vi", "text": text}], "media": sha});
    let (s, ct, png) = ctl
        .post_raw(
            "/api/v1/alerts/preview?width=960&height=540",
            &operator,
            body,
        )
        .await;
    assert_eq!(s, 200, "{}", String::from_utf8_lossy(&png));
    assert_eq!(ct, "image/png");
    let media = gatecast_render::MediaImage::decode(&image).unwrap();
    let mut r = renderer;
    let expected = r
        .alert_with_media("vi", text, Some(&media), 960, 540)
        .unwrap();
    assert!(
        png == expected.image.to_png().unwrap(),
        "the preview is not the screen the player draws with the image"
    );
    let out = gatecast_testkit::glass::artifacts_dir("alert_preview_draws_the_image_media");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("preview-media-vi.png"), &png).unwrap();
    let plain = r.alert("vi", text, 960, 540).unwrap();
    assert!(png != plain.image.to_png().unwrap(), "the image is missing");

    // Stored media that cannot be drawn: named errors on the `media` field.
    let (s, v) = ctl
        .upload(png_bytes_not_an_image(), "image/png", "kind=slide&lang=vi")
        .await;
    assert_eq!(s, 201, "{v}");
    let broken = v["sha256"].as_str().unwrap().to_owned();
    let (s, v) = ctl
        .upload(bars_png(9000, 2), "image/png", "kind=slide&lang=vi")
        .await;
    assert_eq!(s, 201, "{v}");
    let huge = v["sha256"].as_str().unwrap().to_owned();
    let mut webm = vec![0x1A, 0x45, 0xDF, 0xA3];
    webm.extend_from_slice(&[0u8; 100]);
    let (s, v) = ctl.upload(webm, "video/webm", "kind=video&lang=vi").await;
    assert_eq!(s, 201, "{v}");
    let video = v["sha256"].as_str().unwrap().to_owned();
    for (media, what, says) in [
        ("ab".repeat(32), "unknown", "no stored media"),
        ("XYZ".to_owned(), "not a sha256", "not 64 lowercase hex"),
        (broken, "not decodable", "cannot decode"),
        (huge, "too many pixels", "9000×2"),
        (video, "a video", "only an image"),
    ] {
        let body = json!({"text": [{"lang": "vi", "text": text}], "media": media});
        let (s, _, b) = ctl
            .post_raw("/api/v1/alerts/preview", &operator, body)
            .await;
        let msg = String::from_utf8_lossy(&b);
        assert_eq!(s, 400, "{what}: {msg}");
        assert!(msg.contains("media") && msg.contains(says), "{what}: {msg}");
    }
}

/// PNG magic followed by bytes that are no PNG.
fn png_bytes_not_an_image() -> Vec<u8> {
    let mut v = b"\x89PNG\r\n\x1a\n".to_vec();
    v.extend_from_slice(&[7u8; 200]);
    v
}
