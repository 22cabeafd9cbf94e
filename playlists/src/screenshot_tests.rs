use super::*;
use crate::envelope::{ACK_TYPE, ALERT_TYPE};

fn device() -> SecretKey {
    SecretKey::from_seed([7; 32])
}

fn controller() -> SecretKey {
    SecretKey::from_seed([9; 32])
}

fn at(s: &str) -> Timestamp {
    s.parse().unwrap()
}

const IMAGE: &[u8] = b"\xff\xd8 not really a jpeg \xff\xd9";

fn record(request: Option<&str>) -> ScreenshotRecord {
    ScreenshotRecord {
        screen: "lc-a1".into(),
        sha256: crate::hex::sha256_hex(IMAGE),
        taken_at: at("2026-12-07T03:00:00Z"),
        width: 1280,
        height: 720,
        bytes: IMAGE.len() as u64,
        format: ImageFormat::Jpeg,
        request: request.map(str::to_owned),
    }
}

fn request(id: &str, lifetime_s: i64) -> ScreenshotRequest {
    let issued = at("2026-12-07T03:00:00Z");
    ScreenshotRequest {
        screen: "lc-a1".into(),
        id: id.into(),
        issued_at: issued,
        expires_at: issued
            .checked_add(jiff::SignedDuration::from_secs(lifetime_s))
            .unwrap(),
    }
}

fn now() -> Timestamp {
    at("2026-12-07T03:00:30Z")
}

#[test]
fn record_round_trips_with_fixed_field_order() {
    let env = record(Some("r-1")).sign(&device()).unwrap().to_json();
    let got = verify_record(&env, &device().public(), "lc-a1", IMAGE, now()).unwrap();
    assert_eq!(got, record(Some("r-1")));
    let text = String::from_utf8(record(None).to_json()).unwrap();
    assert!(
        text.starts_with(r#"{"screen":"lc-a1","sha256":""#)
            && text.ends_with(r#""width":1280,"height":720,"bytes":23,"format":"jpeg"}"#),
        "{text}"
    );
    assert!(text.contains(r#""taken_at":"2026-12-07T03:00:00.000Z""#));
}

#[test]
fn attack_screenshot_forged_record_is_refused() {
    let other = SecretKey::from_seed([8; 32]);
    let env = record(None).sign(&other).unwrap().to_json();
    let err = verify_record(&env, &device().public(), "lc-a1", IMAGE, now()).unwrap_err();
    assert!(
        matches!(
            err,
            ScreenshotError::Envelope(EnvelopeError::UnknownKey { .. })
        ),
        "{err}"
    );
    // A flipped payload byte under the right key id.
    let mut e = record(None).sign(&device()).unwrap();
    e.payload[3] ^= 1;
    let err = verify_record(&e.to_json(), &device().public(), "lc-a1", IMAGE, now()).unwrap_err();
    assert!(
        matches!(
            err,
            ScreenshotError::Envelope(EnvelopeError::BadSignature { .. })
        ),
        "{err}"
    );
}

#[test]
fn attack_screenshot_wrong_payload_type_is_refused() {
    // The same payload signed as an alert set or an ack by the device key is not a record.
    for t in [ALERT_TYPE, ACK_TYPE, SCREENSHOT_REQUEST_TYPE] {
        let env = Envelope::sign(t, record(None).to_json(), &device()).to_json();
        let err = verify_record(&env, &device().public(), "lc-a1", IMAGE, now()).unwrap_err();
        assert!(
            matches!(
                err,
                ScreenshotError::Envelope(EnvelopeError::WrongType { .. })
            ),
            "{t}: {err}"
        );
    }
    // And a record is not a command.
    let env = Envelope::sign(SCREENSHOT_TYPE, request("r-1", 60).to_json(), &controller());
    let trusted = KeySet::from_keys([controller().public()]);
    let err = RequestGuard::new()
        .accept(&env.to_json(), &trusted, "lc-a1", now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ScreenshotError::Envelope(EnvelopeError::WrongType { .. })
        ),
        "{err}"
    );
}

#[test]
fn attack_screenshot_swapped_image_or_screen_is_refused() {
    let env = record(None).sign(&device()).unwrap().to_json();
    let mut other = IMAGE.to_vec();
    other[5] ^= 1;
    let err = verify_record(&env, &device().public(), "lc-a1", &other, now()).unwrap_err();
    assert!(matches!(err, ScreenshotError::HashMismatch { .. }), "{err}");
    let err = verify_record(&env, &device().public(), "lc-a1", &IMAGE[1..], now()).unwrap_err();
    assert!(
        matches!(err, ScreenshotError::LengthMismatch { .. }),
        "{err}"
    );
    let err = verify_record(&env, &device().public(), "lc-b2", IMAGE, now()).unwrap_err();
    assert!(matches!(err, ScreenshotError::WrongScreen { .. }), "{err}");
}

#[test]
fn attack_screenshot_oversize_image_is_refused() {
    let big = vec![0u8; MAX_IMAGE_BYTES as usize + 1];
    let mut r = record(None);
    r.sha256 = crate::hex::sha256_hex(&big);
    r.bytes = big.len() as u64;
    assert!(matches!(
        r.sign(&device()).unwrap_err(),
        ScreenshotError::ImageTooLarge { .. }
    ));
    // Signed anyway (bypassing `sign`'s check): the verifier still refuses it.
    let env = Envelope::sign(SCREENSHOT_TYPE, r.to_json(), &device()).to_json();
    let err = verify_record(&env, &device().public(), "lc-a1", &big, now()).unwrap_err();
    assert!(
        matches!(err, ScreenshotError::ImageTooLarge { .. }),
        "{err}"
    );
    let mut wide = record(None);
    wide.width = MAX_WIDTH + 1;
    let env = Envelope::sign(SCREENSHOT_TYPE, wide.to_json(), &device()).to_json();
    let err = verify_record(&env, &device().public(), "lc-a1", IMAGE, now()).unwrap_err();
    assert!(matches!(err, ScreenshotError::ImageTooBig { .. }), "{err}");
}

#[test]
fn screenshot_time_sanity() {
    let env = record(None).sign(&device()).unwrap().to_json();
    let early = at("2026-12-07T02:54:00Z");
    let err = verify_record(&env, &device().public(), "lc-a1", IMAGE, early).unwrap_err();
    assert!(
        matches!(err, ScreenshotError::FromTheFuture { .. }),
        "{err}"
    );
    let late = at("2026-12-08T03:00:01Z");
    let err = verify_record(&env, &device().public(), "lc-a1", IMAGE, late).unwrap_err();
    assert!(matches!(err, ScreenshotError::TooOld { .. }), "{err}");
}

#[test]
fn attack_screenshot_command_replayed_or_expired_is_refused() {
    let trusted = KeySet::from_keys([controller().public()]);
    let env = request("r-1", 60).sign(&controller()).unwrap().to_json();
    let mut guard = RequestGuard::new();
    let got = guard.accept(&env, &trusted, "lc-a1", now()).unwrap();
    assert_eq!(got.id, "r-1");
    let err = guard.accept(&env, &trusted, "lc-a1", now()).unwrap_err();
    assert_eq!(err, ScreenshotError::Replayed { id: "r-1".into() });
    let late = at("2026-12-07T03:01:00Z");
    let err = RequestGuard::new()
        .accept(&env, &trusted, "lc-a1", late)
        .unwrap_err();
    assert!(matches!(err, ScreenshotError::Expired { .. }), "{err}");
    // Also expired for the guard that saw it: the id is forgotten only once the command is void.
    let err = guard.accept(&env, &trusted, "lc-a1", late).unwrap_err();
    assert!(matches!(err, ScreenshotError::Expired { .. }), "{err}");
}

#[test]
fn attack_screenshot_command_foreign_or_forged_is_refused() {
    let trusted = KeySet::from_keys([controller().public()]);
    let mut for_b = request("r-2", 60);
    for_b.screen = "lc-b2".into();
    let env = for_b.sign(&controller()).unwrap().to_json();
    let err = RequestGuard::new()
        .accept(&env, &trusted, "lc-a1", now())
        .unwrap_err();
    assert!(matches!(err, ScreenshotError::WrongScreen { .. }), "{err}");
    // Signed by the device key (a screen cannot command another).
    let env = request("r-3", 60).sign(&device()).unwrap().to_json();
    let err = RequestGuard::new()
        .accept(&env, &trusted, "lc-a1", now())
        .unwrap_err();
    assert!(
        matches!(
            err,
            ScreenshotError::Envelope(EnvelopeError::UnknownKey { .. })
        ),
        "{err}"
    );
    // A lifetime beyond the limit cannot be signed, nor accepted when signed by hand.
    assert!(matches!(
        request("r-4", MAX_REQUEST_LIFETIME_S + 1)
            .sign(&controller())
            .unwrap_err(),
        ScreenshotError::BadLifetime { .. }
    ));
    let long = Envelope::sign(
        SCREENSHOT_REQUEST_TYPE,
        request("r-4", 86_400).to_json(),
        &controller(),
    );
    let err = RequestGuard::new()
        .accept(&long.to_json(), &trusted, "lc-a1", now())
        .unwrap_err();
    assert!(matches!(err, ScreenshotError::BadLifetime { .. }), "{err}");
}

#[test]
fn guard_forgets_expired_ids_and_is_bounded() {
    let trusted = KeySet::from_keys([controller().public()]);
    let mut guard = RequestGuard::new();
    for i in 0..MAX_REMEMBERED_REQUESTS {
        let env = request(&format!("r-{i}"), 60)
            .sign(&controller())
            .unwrap()
            .to_json();
        guard.accept(&env, &trusted, "lc-a1", now()).unwrap();
    }
    let env = request("r-x", 600).sign(&controller()).unwrap().to_json();
    let err = guard.accept(&env, &trusted, "lc-a1", now()).unwrap_err();
    assert!(
        matches!(err, ScreenshotError::TooManyOutstanding { .. }),
        "{err}"
    );
    // Once the 60 s commands have expired, their ids are dropped and there is room again.
    let later = at("2026-12-07T03:02:00Z");
    guard.accept(&env, &trusted, "lc-a1", later).unwrap();
    assert_eq!(guard.seen.len(), 1);
}
