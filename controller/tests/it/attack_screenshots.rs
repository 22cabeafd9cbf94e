//! Screenshots over HTTP (`docs/protocol.md` §18, `docs/security.md` §3 rows 56–59): the
//! device-signed upload is refused when forged, signed by another screen's (or a superseded)
//! key, when the image is not the signed one or is too large; the controller keeps the newest
//! N per screen; the request endpoint sends a command the screen can verify once.

use crate::api_support;

use api_support::*;
use base64::Engine as _;
use playlists::keys::{KeySet, PublicKey, SecretKey};
use playlists::screenshot::{
    ImageFormat, RequestGuard, ScreenshotError, ScreenshotRecord, MAX_IMAGE_BYTES,
};
use playlists::topics::{topic, Kind};
use serde_json::{json, Value};

fn device() -> SecretKey {
    SecretKey::from_seed([21u8; 32])
}

/// Registers (with [`seed`]) and enrols `lc-a1` with [`device`]; returns the enrolment answer.
async fn enrol(ctl: &Ctl) -> Value {
    let reg = seed(ctl).await;
    enrol_with(
        ctl,
        "lc-a1",
        reg["enrollment_code"].as_str().unwrap(),
        &device(),
    )
    .await
}

async fn enrol_with(ctl: &Ctl, screen: &str, code: &str, key: &SecretKey) -> Value {
    let (s, en) = ctl
        .req(
            "POST",
            "/api/v1/enroll",
            None,
            Some(json!({"screen": screen, "code": code, "device_key": key.public().to_base64()})),
        )
        .await;
    assert_eq!(s, 200, "{en}");
    en
}

fn record(screen: &str, image: &[u8]) -> ScreenshotRecord {
    ScreenshotRecord {
        screen: screen.into(),
        sha256: playlists::hex::sha256_hex(image),
        taken_at: jiff::Timestamp::now(),
        width: 640,
        height: 360,
        bytes: image.len() as u64,
        format: ImageFormat::Jpeg,
        request: None,
    }
}

/// Posts `image` with the signed `envelope` as a screen would; returns (status, body).
async fn post(ctl: &Ctl, screen: &str, envelope: &[u8], image: Vec<u8>) -> (u16, Value) {
    let resp = ctl
        .http
        .post(ctl.url(&format!("/api/v1/screens/{screen}/screenshots")))
        .header("content-type", "image/jpeg")
        .header(
            "x-gatecast-screenshot",
            base64::engine::general_purpose::STANDARD.encode(envelope),
        )
        .body(image)
        .send()
        .await
        .expect("request sent");
    let status = resp.status().as_u16();
    let text = resp.text().await.unwrap_or_default();
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

fn jpeg(n: u8, len: usize) -> Vec<u8> {
    let mut v = vec![n; len];
    v[..2].copy_from_slice(&[0xff, 0xd8]);
    v
}

async fn latest_status(ctl: &Ctl) -> u16 {
    ctl.req(
        "GET",
        "/api/v1/screens/lc-a1/screenshots/latest.json",
        Some(&ctl.admin),
        None,
    )
    .await
    .0
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_screenshot_forged_or_foreign_upload_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    enrol(&ctl).await;
    let image = jpeg(1, 2000);

    // Signed by a key the controller never saw.
    let forger = SecretKey::from_seed([66u8; 32]);
    let env = record("lc-a1", &image).sign(&forger).unwrap().to_json();
    let (s, v) = post(&ctl, "lc-a1", &env, image.clone()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("screenshot_signature")),
        "{v}"
    );

    // Signed by another enrolled screen's device key, for either screen.
    let (s, reg) = ctl
        .admin(
            "POST",
            "/api/v1/screens",
            json!({"id":"lc-b2","name":"Lao Cai B2","gate":"lao-cai","languages":["vi"],"timezone":"Asia/Ho_Chi_Minh"}),
        )
        .await;
    assert_eq!(s, 201, "{reg}");
    let other = SecretKey::from_seed([22u8; 32]);
    enrol_with(
        &ctl,
        "lc-b2",
        reg["enrollment_code"].as_str().unwrap(),
        &other,
    )
    .await;
    for screen in ["lc-a1", "lc-b2"] {
        let env = record(screen, &image).sign(&other).unwrap().to_json();
        let (s, v) = post(&ctl, "lc-a1", &env, image.clone()).await;
        assert_eq!(
            (s, v["error"].as_str()),
            (403, Some("screenshot_signature")),
            "{v}"
        );
    }
    // lc-a1's own key, but a record of lc-b2 posted under lc-a1: the record names the screen.
    let env = record("lc-b2", &image).sign(&device()).unwrap().to_json();
    let (s, v) = post(&ctl, "lc-a1", &env, image.clone()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("screenshot_wrong_screen")),
        "{v}"
    );

    // A record signed under another payloadType (an alert set's) is not a screenshot.
    let env = playlists::envelope::Envelope::sign(
        playlists::envelope::ALERT_TYPE,
        record("lc-a1", &image).to_json(),
        &device(),
    )
    .to_json();
    let (s, v) = post(&ctl, "lc-a1", &env, image.clone()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("screenshot_signature")),
        "{v}"
    );
    assert!(
        v["message"].as_str().unwrap().contains("payloadType"),
        "{v}"
    );

    // No record at all.
    let resp = ctl
        .http
        .post(ctl.url("/api/v1/screens/lc-a1/screenshots"))
        .body(image.clone())
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 400);
    assert_eq!(latest_status(&ctl).await, 404, "nothing was stored");

    // After re-enrolment only the new device key counts.
    let (s, code) = ctl
        .admin("POST", "/api/v1/screens/lc-a1/enrollment-code", json!({}))
        .await;
    assert_eq!(s, 201, "{code}");
    let new_key = SecretKey::from_seed([23u8; 32]);
    enrol_with(
        &ctl,
        "lc-a1",
        code["enrollment_code"].as_str().unwrap(),
        &new_key,
    )
    .await;
    let env = record("lc-a1", &image).sign(&device()).unwrap().to_json();
    let (s, v) = post(&ctl, "lc-a1", &env, image.clone()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (403, Some("screenshot_signature")),
        "{v}"
    );
    let env = record("lc-a1", &image).sign(&new_key).unwrap().to_json();
    let (s, v) = post(&ctl, "lc-a1", &env, image.clone()).await;
    assert_eq!(s, 201, "{v}");
    assert_eq!(v["key_id"], new_key.key_id());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_screenshot_swapped_or_oversize_image_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    enrol(&ctl).await;
    let image = jpeg(1, 2000);
    let env = record("lc-a1", &image).sign(&device()).unwrap().to_json();

    // The signed record, another image of the same length.
    let (s, v) = post(&ctl, "lc-a1", &env, jpeg(2, 2000)).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("screenshot_hash_mismatch")),
        "{v}"
    );
    // ... or of another length.
    let (s, v) = post(&ctl, "lc-a1", &env, jpeg(1, 1999)).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("screenshot_hash_mismatch")),
        "{v}"
    );

    // A record that signs an image over 150 KiB is refused before its body is read.
    let big = jpeg(3, MAX_IMAGE_BYTES as usize + 1);
    let rec = record("lc-a1", &big);
    assert!(matches!(
        rec.sign(&device()).unwrap_err(),
        ScreenshotError::ImageTooLarge { .. }
    ));
    let env_big = playlists::envelope::Envelope::sign(
        playlists::screenshot::SCREENSHOT_TYPE,
        rec.to_json(),
        &device(),
    )
    .to_json();
    let (s, v) = post(&ctl, "lc-a1", &env_big, big.clone()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (413, Some("screenshot_too_large")),
        "{v}"
    );
    // A small signed record with a body over the limit: cut off at the limit.
    let (s, v) = post(&ctl, "lc-a1", &env, jpeg(1, 4 * MAX_IMAGE_BYTES as usize)).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (413, Some("screenshot_too_large")),
        "{v}"
    );

    // Taken an hour in the future (a wrong clock, or a record made to look newest).
    let mut future = record("lc-a1", &image);
    future.taken_at = jiff::Timestamp::now() + jiff::SignedDuration::from_hours(1);
    let env_future = future.sign(&device()).unwrap().to_json();
    let (s, v) = post(&ctl, "lc-a1", &env_future, image.clone()).await;
    assert_eq!(
        (s, v["error"].as_str()),
        (400, Some("screenshot_time")),
        "{v}"
    );
    assert_eq!(latest_status(&ctl).await, 404, "nothing was stored");

    // The signed image itself is taken.
    let (s, v) = post(&ctl, "lc-a1", &env, image).await;
    assert_eq!(s, 201, "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn screenshots_keep_the_newest_n_and_serve_the_latest() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = test_config(dir.path());
    config.screenshots_kept = 3;
    let ctl = start(config).await;
    enrol(&ctl).await;
    for n in 1..=5u8 {
        let image = jpeg(n, 1000 + n as usize);
        let env = record("lc-a1", &image).sign(&device()).unwrap().to_json();
        let (s, v) = post(&ctl, "lc-a1", &env, image).await;
        assert_eq!(s, 201, "{v}");
        assert_eq!(v["seq"], n as u64);
    }
    let auditor = ctl.token("auditor").await;
    let (s, list) = ctl
        .req(
            "GET",
            "/api/v1/screens/lc-a1/screenshots",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, 200, "{list}");
    let seqs: Vec<u64> = list["screenshots"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["seq"].as_u64().unwrap())
        .collect();
    assert_eq!(seqs, [5, 4, 3], "only the newest 3 are kept, newest first");

    let resp = ctl
        .http
        .get(ctl.url("/api/v1/screens/lc-a1/screenshots/latest"))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert_eq!(resp.headers()["content-type"], "image/jpeg");
    assert_eq!(resp.bytes().await.unwrap().to_vec(), jpeg(5, 1005));

    // The signed record verifies on its own, offline, under the device key.
    let (s, j) = ctl
        .req(
            "GET",
            "/api/v1/screens/lc-a1/screenshots/latest.json",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, 200, "{j}");
    let env = serde_json::to_vec(&j["envelope"]).unwrap();
    let rec = playlists::screenshot::verify_record(
        &env,
        &device().public(),
        "lc-a1",
        &jpeg(5, 1005),
        jiff::Timestamp::now(),
    )
    .expect("the stored record verifies");
    assert_eq!(j["sha256"], rec.sha256);

    // Reads need a token.
    let (s, _) = ctl
        .req(
            "GET",
            "/api/v1/screens/lc-a1/screenshots/latest",
            None,
            None,
        )
        .await;
    assert_eq!(s, 401);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attack_screenshot_request_is_signed_once_and_needs_a_write_role() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let en = enrol(&ctl).await;
    let controller_key = PublicKey::from_base64(en["controller_key"].as_str().unwrap()).unwrap();
    // The screen's own MQTT account subscribes to its screenshot topic (the ACL allows it).
    let (c, mut el) = mqtt_connect(
        ctl.mqtt_addr(),
        "lc-a1",
        "lc-a1",
        en["mqtt_password"].as_str().unwrap(),
    )
    .await
    .expect("screen credentials accepted");
    let t = topic("lc-a1", Kind::Screenshot);
    c.subscribe(&t, rumqttc::QoS::AtLeastOnce).await.unwrap();
    // Wait for the SUBACK so the command is not sent before the subscription exists.
    tokio::time::timeout(std::time::Duration::from_secs(15), async {
        loop {
            if let rumqttc::Event::Incoming(rumqttc::Packet::SubAck(a)) = el.poll().await.unwrap() {
                assert!(
                    matches!(a.return_codes[0], rumqttc::SubscribeReasonCode::Success(_)),
                    "the broker lets a screen read its screenshot topic: {a:?}"
                );
                return;
            }
        }
    })
    .await
    .expect("SUBACK");

    let auditor = ctl.token("auditor").await;
    let (s, v) = ctl
        .req(
            "POST",
            "/api/v1/screens/lc-a1/screenshots/request",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, 403, "{v}");
    let operator = ctl.token("operator").await;
    let (s, v) = ctl
        .req(
            "POST",
            "/api/v1/screens/lc-a1/screenshots/request",
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(s, 202, "{v}");
    let bytes = next_message(&mut el, &t).await;
    let trusted = KeySet::from_keys([controller_key]);
    let mut guard = RequestGuard::new();
    let now = jiff::Timestamp::now();
    let cmd = guard
        .accept(&bytes, &trusted, "lc-a1", now)
        .expect("the command verifies");
    assert_eq!(cmd.id, v["request"].as_str().unwrap());
    assert_eq!(
        guard.accept(&bytes, &trusted, "lc-a1", now).unwrap_err(),
        ScreenshotError::Replayed { id: cmd.id.clone() }
    );
    let (s, v) = ctl
        .req(
            "POST",
            "/api/v1/screens/nope/screenshots/request",
            Some(&operator),
            None,
        )
        .await;
    assert_eq!(s, 404, "{v}");
}
