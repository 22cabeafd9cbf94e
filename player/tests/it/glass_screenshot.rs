//! A signed screenshot of the glass (`docs/protocol.md` §18): a real `gatecast-player` with the
//! mpv backend and a real video output on a private X display (Xvfb) plays a slide of a known
//! image; the stand-in controller sends a signed screenshot command; the player captures the
//! window, uploads a JPEG with its record to the controller's upload path, and
//! - the record verifies under the screen's device key (the one its status reports) and signs
//!   the uploaded image and the command's id;
//! - the image matches the source slide: mean colour difference below [`MATCH_MEAN_DIFF`],
//!   while the same slide with its quadrants swapped is far above it;
//! - the same command replayed, and an expired one, are refused by name in the player's log
//!   and upload nothing;
//! - a failed upload (the first attempt is answered 503) is retried with backoff.
//!
//! Skipped loudly without Xvfb, xwd (x11-apps) or mpv; fails under
//! `GATECAST_REQUIRE_EXTERNAL=1`. The uploaded image is kept under
//! `target/glass-artifacts/glass_screenshot_matches_the_slide/` to look at.

use crate::common;
use crate::mpv_backend::NO_AUDIO_DEVICE;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::harness::{self, player_spec, PlayerProc, Rig, SCREEN};
use gatecast_testkit::glass::{encode_png, mean_abs_diff, quadrants_rgb, Display};
use playlists::keys::PublicKey;
use playlists::manifest::{MediaKind, MediaRef};
use playlists::screenshot::{verify_record, ScreenshotRequest};

const T: Duration = Duration::from_secs(60);
const W: u32 = 640;
const H: u32 = 360;
/// Mean absolute colour difference (0–255, over every pixel and channel) below which the
/// uploaded screenshot shows the source slide. Measured 0.26-0.28 with this slide (the JPEG at
/// quality 85 of mpv's rendering under Xvfb, five runs); the slide with its quadrants swapped
/// measures 67.6-67.7. The bound leaves room for another scaler or encoder, not for another
/// picture (see [`MISMATCH_MEAN_DIFF`]).
const MATCH_MEAN_DIFF: f64 = 12.0;
/// Mean difference above which the metric must put the swapped slide: it tells pictures apart.
const MISMATCH_MEAN_DIFF: f64 = 40.0;

fn slide_rgb(swapped: bool) -> Vec<u8> {
    quadrants_rgb(W, H, swapped)
}

fn mean_diff(a: &[u8], b: &[u8]) -> f64 {
    mean_abs_diff(a, b)
}

/// What the stand-in controller's upload path received: (record header, image).
type Uploads = Arc<Mutex<Vec<(String, Vec<u8>)>>>;

/// Serves `POST /api/v1/screens/{id}/screenshots` as the controller does, minus the checks
/// (the test checks): the first attempt is answered `503` (a controller restarting), every
/// later one is kept and answered 201. Returns the URL, the kept uploads and the number of
/// refused attempts.
async fn upload_server() -> (String, Uploads, Arc<Mutex<u32>>) {
    use warp::Filter;
    let uploads: Uploads = Arc::default();
    let refused: Arc<Mutex<u32>> = Arc::default();
    let (u, r) = (uploads.clone(), refused.clone());
    let route = warp::path!("api" / "v1" / "screens" / String / "screenshots")
        .and(warp::post())
        .and(warp::header::<String>("x-gatecast-screenshot"))
        .and(warp::body::bytes())
        .map(move |_screen: String, record: String, body: bytes::Bytes| {
            let mut r = r.lock().unwrap();
            if *r == 0 {
                *r += 1;
                return warp::reply::with_status("{}", warp::http::StatusCode::SERVICE_UNAVAILABLE);
            }
            u.lock().unwrap().push((record, body.to_vec()));
            warp::reply::with_status("{}", warp::http::StatusCode::CREATED)
        });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(warp::serve(route).incoming(listener).run());
    (url, uploads, refused)
}

fn command(id: &str, issued_ago_s: i64, lifetime_s: i64) -> ScreenshotRequest {
    let issued = jiff::Timestamp::now() - jiff::SignedDuration::from_secs(issued_ago_s);
    ScreenshotRequest {
        screen: SCREEN.into(),
        id: id.into(),
        issued_at: issued,
        expires_at: issued + jiff::SignedDuration::from_secs(lifetime_s),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn glass_screenshot_matches_the_slide() {
    const TEST: &str = "glass_screenshot_matches_the_slide";
    if !gatecast_testkit::require_program(TEST, "mpv", "mpv") {
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let Some(display) = Display::start(TEST, dir.path(), W, H) else {
        return;
    };
    let Rig {
        broker,
        media,
        key,
        controller,
    } = Rig::start().await;
    let (upload_url, uploads, refused) = upload_server().await;

    let png = encode_png(W, H, &slide_rgb(false));
    let slide = MediaRef {
        sha256: harness::sha256_hex(&png),
        bytes: png.len() as u64,
        mime: "image/png".into(),
        kind: MediaKind::Slide,
        lang: "zxx".into(),
        title: "quadrants".into(),
        duration_ms: Some(60_000),
        subtitles: Vec::new(),
    };
    media.put(&slide.sha256, png);

    let mpv_args: Vec<String> = ["--no-config"]
        .into_iter()
        .chain(NO_AUDIO_DEVICE)
        .map(|a| format!("{a:?}"))
        .collect();
    let extra = format!(
        "mpv_args = [{}]\nscreenshot_interval_s = 0\ncontroller_url = \"{upload_url}\"\n",
        mpv_args.join(", ")
    );
    let spec = player_spec(&broker, &media, &key, &extra, 1.0);
    let config = harness::write_config(dir.path(), &spec);
    let text = std::fs::read_to_string(&config)
        .unwrap()
        .replace("backend = \"null\"", "backend = \"mpv\"");
    std::fs::write(&config, text).unwrap();
    let player = PlayerProc::start_with_env(dir.path(), &spec, &[("DISPLAY", display.name())]);
    let status = controller
        .wait_status("first status", T, |s| s["device_key"].is_string())
        .await;
    let device = PublicKey::from_base64(status["device_key"].as_str().unwrap()).unwrap();
    controller
        .publish_manifest(harness::sign_manifest(
            &harness::manifest(SCREEN, 1, std::slice::from_ref(&slide)),
            &key,
        ))
        .await;

    // The slide is on the glass (the X display itself, grabbed) before a screenshot is asked.
    let source = slide_rgb(false);
    common::wait_for("the slide on the glass", T, || {
        let f = display.grab(1).ok()?;
        let rgb: Vec<u8> = f.pixels().flatten().collect();
        (rgb.len() == source.len() && mean_diff(&rgb, &source) < MATCH_MEAN_DIFF).then_some(())
    })
    .await;

    let cmd = command("glass-1", 0, 60);
    let envelope = cmd.sign(&key).unwrap().to_json();
    controller
        .publish_screenshot_request(envelope.clone())
        .await;
    let (record_b64, image) = {
        let u = uploads.clone();
        common::wait_for("the screenshot upload", T, || {
            u.lock().unwrap().first().cloned()
        })
        .await
    };
    use base64::Engine as _;
    let record_bytes = base64::engine::general_purpose::STANDARD
        .decode(record_b64)
        .expect("the record header is base64");
    let record = verify_record(
        &record_bytes,
        &device,
        SCREEN,
        &image,
        jiff::Timestamp::now(),
    )
    .unwrap_or_else(|e| panic!("the record must verify under the device key: {e}"));
    assert_eq!(record.request.as_deref(), Some("glass-1"));
    assert_eq!(
        *refused.lock().unwrap(),
        1,
        "the first attempt was refused with 503 and the upload retried"
    );
    assert!(
        player
            .log()
            .contains("screenshot upload failed; trying again"),
        "the retry is logged"
    );
    assert!(image.len() as u64 <= playlists::screenshot::MAX_IMAGE_BYTES);
    let artefacts = gatecast_testkit::glass::artifacts_dir(TEST);
    std::fs::create_dir_all(&artefacts).unwrap();
    std::fs::write(artefacts.join("uploaded.jpg"), &image).unwrap();

    let jpeg = image::load_from_memory(&image)
        .expect("the upload is an image")
        .to_rgb8();
    jpeg.save(artefacts.join("uploaded.png")).unwrap();
    assert_eq!(
        (jpeg.width(), jpeg.height(), record.width, record.height),
        (W, H, W, H),
        "the whole window, at its size (under 1280 px)"
    );
    let same = mean_diff(jpeg.as_raw(), &source);
    let swapped = mean_diff(jpeg.as_raw(), &slide_rgb(true));
    println!(
        "{TEST}: mean colour difference {same:.2} to the slide, {swapped:.2} to the swapped slide"
    );
    assert!(
        same < MATCH_MEAN_DIFF,
        "the screenshot does not show the slide: mean difference {same:.2} (see {})",
        artefacts.display()
    );
    assert!(
        swapped > MISMATCH_MEAN_DIFF,
        "the metric must tell pictures apart: {swapped:.2}"
    );

    // The same command again, and an expired one: refused by name, nothing uploaded.
    controller.publish_screenshot_request(envelope).await;
    let expired = command("glass-2", 120, 60).sign(&key).unwrap().to_json();
    controller.publish_screenshot_request(expired).await;
    common::wait_for(
        "the replayed and the expired command refused in the log",
        T,
        || {
            let log = player.log();
            (log.contains("\"glass-1\" was already taken (replayed)")
                && log.contains("command \"glass-2\" expired"))
            .then_some(())
        },
    )
    .await;
    // A fresh command after them is still served: both refusals were handled before it, in
    // order, so the count of uploads then tells whether a refused one uploaded anything.
    let fresh = command("glass-3", 0, 60).sign(&key).unwrap().to_json();
    controller.publish_screenshot_request(fresh).await;
    let u = uploads.clone();
    common::wait_for("the upload of the fresh command", T, || {
        (u.lock().unwrap().len() >= 2).then_some(())
    })
    .await;
    let all = uploads.lock().unwrap().clone();
    assert_eq!(all.len(), 2, "one upload per accepted command");
    let rec = base64::engine::general_purpose::STANDARD
        .decode(&all[1].0)
        .unwrap();
    let rec = verify_record(&rec, &device, SCREEN, &all[1].1, jiff::Timestamp::now()).unwrap();
    assert_eq!(rec.request.as_deref(), Some("glass-3"));
}
