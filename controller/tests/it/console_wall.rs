//! The screen wall tells the truth (`docs/protocol.md` §18), in a real headless Chromium
//! against a real controller: a screen's card shows its latest signed screenshot (fetched with
//! the token as a blob), its age, the title of what plays (never a hash), a warning badge when
//! the screen reports `last_error`, the red "CẢNH BÁO KHẨN" badge with the alert's title while
//! an alert is on it; offline screens come first; "Chụp màn hình ngay" sends a signed command
//! that a stand-in screen (the screen's own MQTT account and device key) answers with a new
//! screenshot, which replaces the picture on the card. No JavaScript errors. Screenshots at
//! 1366 px wide (and one at 1920) go to
//! `target/console-screenshots/wall-*.png`.

use crate::api_support::{mqtt_connect, next_message};
use crate::console_browser::{api, assert_no_js_errors, shot, sign_in};
use crate::console_support::{
    browser_available, open_browser, slide_png, start_controller, TestController,
};

use base64::Engine as _;
use playlists::keys::{KeySet, PublicKey, SecretKey};
use playlists::screenshot::{ImageFormat, RequestGuard, ScreenshotRecord};
use playlists::topics::{topic, Kind};
use serde_json::{json, Value};

const GATE: &str = "Lào Cai – Hà Khẩu";
const TITLE: &str = "Chào mừng đến Lào Cai";
const ALERT_TITLE: &str = "Bão số 3: tạm dừng thông quan từ 14 giờ";

fn jpeg(colour: [u8; 3]) -> Vec<u8> {
    let img = image::RgbImage::from_fn(640, 360, |x, _| {
        if x < 40 {
            image::Rgb([255, 255, 255])
        } else {
            image::Rgb(colour)
        }
    });
    let mut out = Vec::new();
    image::codecs::jpeg::JpegEncoder::new_with_quality(&mut out, 85)
        .encode_image(&img)
        .unwrap();
    out
}

/// Uploads `image` as the screen's screenshot, signed by `device`.
async fn upload(
    base: &str,
    screen: &str,
    device: &SecretKey,
    image: Vec<u8>,
    request: Option<String>,
) {
    let rec = ScreenshotRecord {
        screen: screen.into(),
        sha256: playlists::hex::sha256_hex(&image),
        taken_at: jiff::Timestamp::now(),
        width: 640,
        height: 360,
        bytes: image.len() as u64,
        format: ImageFormat::Jpeg,
        request,
    };
    let env = rec.sign(device).unwrap().to_json();
    let resp = reqwest::Client::new()
        .post(format!("{base}/api/v1/screens/{screen}/screenshots"))
        .header("content-type", "image/jpeg")
        .header(
            "x-gatecast-screenshot",
            base64::engine::general_purpose::STANDARD.encode(env),
        )
        .body(image)
        .send()
        .await
        .unwrap();
    assert_eq!(
        resp.status().as_u16(),
        201,
        "{}",
        resp.text().await.unwrap()
    );
}

/// The centre pixel of the card's screenshot as drawn by the browser, `[r, g, b]`.
fn centre_pixel_js(screen: &str) -> String {
    format!(
        "(() => {{ const i = document.querySelector(\".card[data-screen='{screen}'] img.shot\"); \
         if (!i || !i.complete || i.naturalWidth !== 640) return null; \
         const c = document.createElement('canvas'); c.width = 640; c.height = 360; \
         const g = c.getContext('2d'); g.drawImage(i, 0, 0); \
         return Array.from(g.getImageData(320, 180, 1, 1).data.slice(0, 3)); }})()"
    )
}

fn near(v: &Value, colour: [u8; 3]) -> bool {
    v.as_array().is_some_and(|a| {
        a.len() == 3
            && a.iter()
                .zip(colour)
                .all(|(x, c)| (x.as_i64().unwrap_or(-100) - i64::from(c)).abs() <= 12)
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn console_wall_shows_screenshots_titles_alerts_and_takes_one_now() {
    let test = "console_wall_shows_screenshots_titles_alerts_and_takes_one_now";
    if !browser_available(test) {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let TestController {
        running,
        base,
        admin,
    } = start_controller(dir.path(), |_| {}).await;

    // Two screens: "a-sanh" will be live, "z-cong" never reports (offline: it must come first
    // although its name sorts last).
    let mut codes = Vec::new();
    for (id, name) in [("a-sanh", "Sảnh xuất cảnh"), ("z-cong", "Zô cổng phụ")] {
        let (st, reg) = api(
            &base,
            &admin,
            "POST",
            "/api/v1/screens",
            json!({"id": id, "name": name, "gate": GATE, "languages": ["vi", "en"], "timezone": "Asia/Ho_Chi_Minh"}),
        )
        .await;
        assert_eq!(st, 201, "{reg}");
        codes.push(reg["enrollment_code"].as_str().unwrap().to_string());
    }
    let device = SecretKey::from_seed([31u8; 32]);
    let (st, en) = api(
        &base,
        &admin,
        "POST",
        "/api/v1/enroll",
        json!({"screen": "a-sanh", "code": codes[0], "device_key": device.public().to_base64()}),
    )
    .await;
    assert_eq!(st, 200, "{en}");
    let controller_key = PublicKey::from_base64(en["controller_key"].as_str().unwrap()).unwrap();

    // A slide in the library, and an alert for the live screen.
    let slide = slide_png(640, 360);
    let resp = reqwest::Client::new()
        .post(format!(
            "{base}/api/v1/media?kind=slide&lang=vi&title={}",
            "Ch%C3%A0o%20m%E1%BB%ABng%20%C4%91%E1%BA%BFn%20L%C3%A0o%20Cai"
        ))
        .bearer_auth(&admin)
        .header("content-type", "image/png")
        .body(slide)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 201);
    let media: Value = serde_json::from_str(&resp.text().await.unwrap()).unwrap();
    let sha = media["sha256"].as_str().unwrap().to_string();
    assert_eq!(media["title"], TITLE);
    let alert_text = format!("{ALERT_TITLE}\nHành khách vui lòng chờ hướng dẫn.");
    let expires = (jiff::Timestamp::now() + jiff::SignedDuration::from_hours(2)).to_string();
    let (st, v) = api(
        &base,
        &admin,
        "POST",
        "/api/v1/alerts",
        json!({"id": "bao-so-3", "targets": {"screens": ["a-sanh"]}, "priority": 5,
               "expires_at": expires, "text": [{"lang": "vi", "text": alert_text},
               {"lang": "en", "text": "Storm no. 3: border crossing closed from 14:00"}]}),
    )
    .await;
    assert_eq!(st, 201, "{v}");

    // The screen plays the slide but its last play failed; its first screenshot is red.
    let put = |status: Value| {
        let rec = gatecast_controller::store::StatusRecord {
            screen: "a-sanh".to_string(),
            status,
            received_at: jiff::Timestamp::now().to_string(),
            online: true,
        };
        let store = running.store().clone();
        async move {
            store
                .put_status(&rec, std::time::Duration::from_secs(90))
                .await
                .unwrap()
        }
    };
    put(
        json!({"state": "playing", "current": sha, "manifest_version": 1,
               "last_error": "playback of tone.wav failed: no audio output"}),
    )
    .await;
    upload(&base, "a-sanh", &device, jpeg([200, 30, 30]), None).await;

    let (_driver, s, _downloads) = open_browser(dir.path(), 1366, 768).await;
    sign_in(&s, &base, &admin).await;

    let red = s
        .wait_js(
            20,
            "the red screenshot on the card",
            &format!(
                "(() => {{ const p = {}; return p && p[0] > 150 && p[1] < 80 ? p : null; }})()",
                centre_pixel_js("a-sanh")
            ),
        )
        .await;
    assert!(near(&red, [200, 30, 30]), "{red}");
    let order = s
        .js(
            "return [...document.querySelectorAll('.wall .card')].map(c => c.dataset.screen)",
            vec![],
        )
        .await;
    assert_eq!(order, json!(["z-cong", "a-sanh"]), "offline screens first");
    let card = |id: &str| {
        format!("return document.querySelector(\".card[data-screen='{id}']\").innerText")
    };
    let text = s.js(&card("a-sanh"), vec![]).await;
    let text = text.as_str().unwrap();
    assert!(text.contains(TITLE), "the title of what plays: {text}");
    assert!(!text.contains(&sha[..12]), "never the hash: {text}");
    assert!(text.contains("Ảnh chụp"), "the screenshot's age: {text}");
    assert!(
        s.find(".card[data-screen='a-sanh'] [data-badge='failing']")
            .await
            .is_some(),
        "a warning badge for last_error"
    );
    assert!(s
        .find(".card[data-screen='z-cong'] img.shot")
        .await
        .is_none());
    shot(&s, "wall-01-screenshot-title-warning").await;

    // An alert is on the screen: the red badge and the alert's title, in its language.
    let alert_sha = playlists::hex::sha256_hex(alert_text.as_bytes());
    put(json!({"state": "playing", "current": alert_sha, "manifest_version": 1, "last_error": null}))
        .await;
    s.wait_js(
        20,
        "the alert badge",
        "document.querySelector(\".card[data-screen='a-sanh'] [data-showing='alert']\")",
    )
    .await;
    let text = s.js(&card("a-sanh"), vec![]).await;
    let text = text.as_str().unwrap();
    assert!(
        text.contains("CẢNH BÁO KHẨN") && text.contains(ALERT_TITLE) && text.contains("Tiếng Việt"),
        "{text}"
    );
    assert!(!text.contains(&alert_sha[..12]), "never the hash: {text}");
    assert!(s
        .find(".card[data-screen='a-sanh'] [data-badge='failing']")
        .await
        .is_none());
    shot(&s, "wall-02-alert").await;

    // "Chụp màn hình ngay": the stand-in screen takes the signed command and answers it.
    let (c, mut el) = mqtt_connect(
        running.mqtt_addr.expect("embedded broker"),
        "a-sanh",
        "a-sanh",
        en["mqtt_password"].as_str().unwrap(),
    )
    .await
    .expect("the screen's MQTT login");
    let t = topic("a-sanh", Kind::Screenshot);
    c.subscribe(&t, rumqttc::QoS::AtLeastOnce).await.unwrap();
    // The subscription exists once its SUBACK is in: only then is the button pressed.
    tokio::time::timeout(std::time::Duration::from_secs(15), async {
        loop {
            if let rumqttc::Event::Incoming(rumqttc::Packet::SubAck(_)) = el.poll().await.unwrap() {
                return;
            }
        }
    })
    .await
    .expect("SUBACK of the screenshot topic");
    let responder = {
        let base = base.clone();
        let device = device.clone();
        tokio::spawn(async move {
            let bytes = next_message(&mut el, &t).await;
            let keys = KeySet::from_keys([controller_key]);
            let cmd = RequestGuard::new()
                .accept(&bytes, &keys, "a-sanh", jiff::Timestamp::now())
                .expect("the command verifies");
            upload(&base, "a-sanh", &device, jpeg([30, 40, 210]), Some(cmd.id)).await;
            // Keep the screen's connection up until the test ends.
            (c, el)
        })
    };
    let label = s
        .wait_js(10, "the screenshot button", "document.querySelector(\".card[data-screen='a-sanh'] button[data-action='screenshot']\").innerText")
        .await;
    assert_eq!(label, json!("Chụp màn hình ngay"));
    let button = s
        .wait(".card[data-screen='a-sanh'] button[data-action='screenshot']")
        .await;
    s.click(&button).await;
    let blue = s
        .wait_js(
            30,
            "the requested screenshot on the card",
            &format!(
                "(() => {{ const p = {}; return p && p[2] > 150 && p[0] < 80 ? p : null; }})()",
                centre_pixel_js("a-sanh")
            ),
        )
        .await;
    assert!(
        near(&blue, [30, 40, 210]),
        "the requested screenshot replaced the picture: {blue}"
    );
    let _screen_link = responder.await.unwrap();
    let seq = s
        .js(
            "return document.querySelector(\".card[data-screen='a-sanh'] img.shot\").dataset.seq",
            vec![],
        )
        .await;
    assert_eq!(seq, json!("2"));
    shot(&s, "wall-03-after-request").await;
    s.size(1920, 1080).await;
    shot(&s, "wall-04-1920").await;
    s.size(1366, 768).await;
    assert_no_js_errors(&s, "screens").await;
    s.quit().await;
    running.shutdown().await;
}
