//! `verify_manifest` / `verify_alerts`: every rejection reason, the order of the checks, and
//! property tests (round trip, any flipped byte rejected).

use crate::common::fixtures::*;
use playlists::envelope::{Envelope, ALERT_TYPE, MANIFEST_TYPE, RECEIPTS_TYPE};
use playlists::keys::KeySet;
use playlists::manifest::*;
use proptest::prelude::*;

const NOW: &str = "2025-06-01T12:00:00Z";

fn signed(m: &Manifest) -> Vec<u8> {
    m.sign(&controller_key())
        .expect("valid manifest signs")
        .to_json()
}

/// Signs any payload bytes as a manifest, bypassing validation.
fn signed_raw(payload: &[u8]) -> Vec<u8> {
    Envelope::sign(MANIFEST_TYPE, payload.to_vec(), &controller_key()).to_json()
}

fn verify(bytes: &[u8], last: Option<u64>) -> Result<Manifest, Rejection> {
    verify_manifest(bytes, &trusted(), "lc-a1", last, ts(NOW))
}

fn reason(bytes: &[u8], last: Option<u64>) -> RejectReason {
    verify(bytes, last).expect_err("should be rejected").reason
}

#[test]
fn valid_manifest_round_trips() {
    let m = manifest();
    assert_eq!(verify(&signed(&m), None).unwrap(), m);
    assert_eq!(verify(&signed(&m), Some(6)).unwrap(), m);
}

#[test]
fn reason_names_are_the_wire_names() {
    let names: Vec<&str> = RejectReason::ALL.iter().map(|r| r.as_str()).collect();
    assert_eq!(
        names,
        [
            "bad_envelope",
            "unknown_key",
            "bad_signature",
            "wrong_type",
            "wrong_screen",
            "not_newer",
            "expired",
            "invalid_content",
            "not_approved"
        ]
    );
    assert_eq!(RejectReason::NotNewer.to_string(), "not_newer");
    let r = verify(&signed(&manifest()), Some(7)).unwrap_err();
    let shown = r.to_string();
    assert!(
        shown.contains("not_newer") && shown.contains('7'),
        "{shown}"
    );
}

#[test]
fn bad_envelope() {
    let good = signed(&manifest());
    let mut trailing = good.clone();
    trailing.extend_from_slice(b"{}");
    let mut no_sigs = manifest().sign(&controller_key()).unwrap();
    no_sigs.signatures.clear();
    let bad_b64 =
        String::from_utf8(good.clone())
            .unwrap()
            .replacen("\"payload\":\"", "\"payload\":\"!", 1);
    let too_large = vec![b' '; playlists::envelope::MAX_ENVELOPE_BYTES + 1];
    for (name, bytes) in [
        ("empty", Vec::new()),
        ("not json", b"hello".to_vec()),
        ("truncated", good[..good.len() - 1].to_vec()),
        ("trailing data", trailing),
        ("no signatures", no_sigs.to_json()),
        ("bad base64", bad_b64.into_bytes()),
        ("too large", too_large),
    ] {
        let r = verify(&bytes, None).expect_err(name);
        assert_eq!(r.reason, RejectReason::BadEnvelope, "{name}: {r}");
        assert_eq!(r.version, None, "{name}");
    }
}

#[test]
fn unknown_key() {
    let env = manifest().sign(&other_key()).unwrap().to_json();
    assert_eq!(reason(&env, None), RejectReason::UnknownKey);
    // An empty trust set knows no key either.
    let r =
        verify_manifest(&signed(&manifest()), &KeySet::new(), "lc-a1", None, ts(NOW)).unwrap_err();
    assert_eq!(r.reason, RejectReason::UnknownKey);
}

#[test]
fn bad_signature() {
    let env = manifest().sign(&controller_key()).unwrap();
    let mut flipped_sig = env.clone();
    flipped_sig.signatures[0].sig[10] ^= 0x01;
    assert_eq!(
        reason(&flipped_sig.to_json(), None),
        RejectReason::BadSignature
    );

    let mut flipped_payload = env.clone();
    flipped_payload.payload[5] ^= 0x20;
    assert_eq!(
        reason(&flipped_payload.to_json(), None),
        RejectReason::BadSignature
    );

    let mut short_sig = env.clone();
    short_sig.signatures[0].sig.pop();
    assert_eq!(
        reason(&short_sig.to_json(), None),
        RejectReason::BadSignature
    );

    // A signature by a trusted key over another payload does not carry over.
    let other = Manifest {
        version: 8,
        ..manifest()
    }
    .sign(&controller_key())
    .unwrap();
    let mut swapped = env;
    swapped.signatures = other.signatures;
    assert_eq!(reason(&swapped.to_json(), None), RejectReason::BadSignature);
}

#[test]
fn wrong_type() {
    let m = manifest();
    for t in [ALERT_TYPE, RECEIPTS_TYPE, "application/json"] {
        let env = Envelope::sign(t, m.to_json(), &controller_key()).to_json();
        assert_eq!(reason(&env, None), RejectReason::WrongType, "{t}");
    }
    // An alert envelope is never a manifest and vice versa.
    let alerts = alert_set().sign(&controller_key()).unwrap().to_json();
    assert_eq!(reason(&alerts, None), RejectReason::WrongType);
    let r = verify_alerts(&signed(&m), &trusted(), "lc-a1", None).unwrap_err();
    assert_eq!(r.reason, RejectReason::WrongType);
}

#[test]
fn wrong_screen() {
    let env = signed(&Manifest {
        screen: "lc-a2".to_string(),
        ..manifest()
    });
    let r = verify(&env, None).unwrap_err();
    assert_eq!(r.reason, RejectReason::WrongScreen);
    assert_eq!(r.version, Some(7));
}

#[test]
fn not_newer() {
    let env = signed(&manifest());
    for last in [7, 8, u64::MAX] {
        let r = verify(&env, Some(last)).unwrap_err();
        assert_eq!(r.reason, RejectReason::NotNewer, "last {last}");
        assert_eq!(r.version, Some(7));
    }
    verify(&env, Some(0)).unwrap();
}

#[test]
fn expired() {
    let m = Manifest {
        expires_at: ts(NOW),
        ..manifest()
    };
    let r = verify(&signed(&m), None).unwrap_err();
    assert_eq!(r.reason, RejectReason::Expired);
    assert_eq!(r.version, Some(7));
    let m = Manifest {
        expires_at: ts("2025-06-01T12:00:01Z"),
        ..manifest()
    };
    verify(&signed(&m), None).unwrap();
}

#[test]
fn invalid_content() {
    // Not JSON at all: no version can be read.
    let r = verify(&signed_raw(b"\xff\xfe not json"), None).unwrap_err();
    assert_eq!((r.reason, r.version), (RejectReason::InvalidContent, None));

    // JSON missing a required field: the version is still reported.
    let r = verify(&signed_raw(br#"{"screen":"lc-a1","version":12}"#), None).unwrap_err();
    assert_eq!(
        (r.reason, r.version),
        (RejectReason::InvalidContent, Some(12))
    );

    // Well-formed but failing validation (unknown fallback), signed without validating.
    let bad = Manifest {
        fallback: "nope".to_string(),
        layout: None,
        ..manifest()
    };
    let r = verify(&signed_raw(&bad.to_json()), None).unwrap_err();
    assert_eq!(
        (r.reason, r.version),
        (RejectReason::InvalidContent, Some(7))
    );
    assert!(r.detail.contains("fallback"), "{}", r.detail);
}

#[test]
fn sign_refuses_an_invalid_manifest() {
    let bad = Manifest {
        timezone: "Nowhere/Town".to_string(),
        ..manifest()
    };
    assert!(matches!(
        bad.sign(&controller_key()),
        Err(ManifestError::Timezone { .. })
    ));
    let mut bad = alert_set();
    bad.alerts[0].id = String::new();
    assert!(matches!(
        bad.sign(&controller_key()),
        Err(ManifestError::Id { .. })
    ));
}

#[test]
fn checks_run_in_the_documented_order() {
    // signature before content: an untrusted, unparseable payload is an unknown key
    let env = Envelope::sign(MANIFEST_TYPE, b"junk".to_vec(), &other_key()).to_json();
    assert_eq!(reason(&env, None), RejectReason::UnknownKey);
    // type before key
    let env = Envelope::sign(ALERT_TYPE, b"junk".to_vec(), &other_key()).to_json();
    assert_eq!(reason(&env, None), RejectReason::WrongType);
    // screen before version and expiry
    let m = Manifest {
        screen: "other".into(),
        expires_at: ts("2025-01-02T00:00:00Z"),
        ..manifest()
    };
    assert_eq!(
        reason(&signed_raw(&m.to_json()), Some(100)),
        RejectReason::WrongScreen
    );
    // version before expiry
    let m = Manifest {
        expires_at: ts("2025-01-02T00:00:00Z"),
        ..manifest()
    };
    assert_eq!(
        reason(&signed_raw(&m.to_json()), Some(100)),
        RejectReason::NotNewer
    );
    // expiry before validation
    let m = Manifest {
        expires_at: ts("2025-01-02T00:00:00Z"),
        fallback: "nope".into(),
        layout: None,
        ..manifest()
    };
    assert_eq!(
        reason(&signed_raw(&m.to_json()), None),
        RejectReason::Expired
    );
}

#[test]
fn any_trusted_key_is_accepted() {
    let keys = KeySet::from_keys([other_key().public(), controller_key().public()]);
    let env = manifest().sign(&other_key()).unwrap().to_json();
    assert_eq!(
        verify_manifest(&env, &keys, "lc-a1", None, ts(NOW)).unwrap(),
        manifest()
    );
}

#[test]
fn alerts_accept_and_reject() {
    let a = alert_set();
    let env = a.sign(&controller_key()).unwrap().to_json();
    let ok = |last| verify_alerts(&env, &trusted(), "lc-a1", last);
    assert_eq!(ok(None).unwrap(), a);
    assert_eq!(ok(Some(2)).unwrap(), a);
    assert_eq!(ok(Some(3)).unwrap_err().reason, RejectReason::NotNewer);
    assert_eq!(
        verify_alerts(&env, &trusted(), "lc-b7", None)
            .unwrap_err()
            .reason,
        RejectReason::WrongScreen
    );

    let untrusted = a.sign(&other_key()).unwrap().to_json();
    assert_eq!(
        verify_alerts(&untrusted, &trusted(), "lc-a1", None)
            .unwrap_err()
            .reason,
        RejectReason::UnknownKey
    );

    let mut tampered = a.sign(&controller_key()).unwrap();
    tampered.payload[3] ^= 1;
    assert_eq!(
        verify_alerts(&tampered.to_json(), &trusted(), "lc-a1", None)
            .unwrap_err()
            .reason,
        RejectReason::BadSignature
    );

    assert_eq!(
        verify_alerts(b"[]", &trusted(), "lc-a1", None)
            .unwrap_err()
            .reason,
        RejectReason::BadEnvelope
    );

    let mut invalid = a.clone();
    invalid.alerts.push(invalid.alerts[0].clone());
    let env = Envelope::sign(ALERT_TYPE, invalid.to_json(), &controller_key()).to_json();
    let r = verify_alerts(&env, &trusted(), "lc-a1", None).unwrap_err();
    assert_eq!(
        (r.reason, r.version),
        (RejectReason::InvalidContent, Some(3))
    );

    // Expired alerts do not make the set invalid: each alert simply stops showing.
    let mut old = a;
    old.version = 4;
    old.alerts[0].expires_at = ts("2000-01-01T00:00:00Z");
    let env = old.sign(&controller_key()).unwrap().to_json();
    assert_eq!(
        verify_alerts(&env, &trusted(), "lc-a1", Some(3)).unwrap(),
        old
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn random_valid_manifests_round_trip(m in arb::manifest()) {
        prop_assert!(m.validate().is_ok(), "generator made an invalid manifest: {:?}", m.validate());
        let env = m.sign(&controller_key()).unwrap().to_json();
        let got = verify_manifest(&env, &trusted(), "lc-a1", m.version.checked_sub(1), ts(NOW)).unwrap();
        prop_assert_eq!(got, m);
    }

    #[test]
    fn any_flipped_byte_of_the_envelope_is_rejected(
        m in arb::manifest(),
        pos in any::<prop::sample::Index>(),
        mask in 1u8..=255,
    ) {
        let mut env = m.sign(&controller_key()).unwrap().to_json();
        let i = pos.index(env.len());
        env[i] ^= mask;
        prop_assert!(verify_manifest(&env, &trusted(), "lc-a1", None, ts(NOW)).is_err());
    }

    #[test]
    fn any_flipped_bit_of_payload_or_signature_is_rejected(
        pos in any::<prop::sample::Index>(),
        bit in 0u8..8,
        in_sig in any::<bool>(),
    ) {
        let mut env = manifest().sign(&controller_key()).unwrap();
        if in_sig {
            let i = pos.index(64);
            env.signatures[0].sig[i] ^= 1 << bit;
        } else {
            let i = pos.index(env.payload.len());
            env.payload[i] ^= 1 << bit;
        }
        let r = verify_manifest(&env.to_json(), &trusted(), "lc-a1", None, ts(NOW)).unwrap_err();
        prop_assert_eq!(r.reason, RejectReason::BadSignature);
    }
}
