//! Attacks on the wire contract, each test named after the attack. These check the one place
//! where verification is written (`playlists`); the player and controller tests
//! (`player/tests/attack_player.rs`, `controller/tests/attack_*.rs`) check that the running
//! programs act on the verdicts.

use crate::common::fixtures::*;
use base64::Engine as _;
use playlists::envelope::{
    Envelope, EnvelopeError, ACK_TYPE, ALERT_TYPE, CHECKPOINT_TYPE, MANIFEST_TYPE,
    MAX_ENVELOPE_BYTES, RECEIPTS_TYPE,
};
use playlists::keys::{key_id, KeyError, KeySet, PublicKey, SecretKey};
use playlists::manifest::*;
use playlists::receipt::{
    receipt_hash, sign_ack, sign_batch, verify_ack, verify_batch, Ack, AckError, Backend,
    BatchError, Outcome, OwnChain, Receipt, GENESIS_PREV,
};
use playlists::topics::{self, Kind};

/// A player of enrolment epoch 1 (it accepts acks without a key id, as from before epochs).
fn own() -> OwnChain<'static> {
    OwnChain {
        screen: SCREEN,
        epoch: 1,
        key_id: "0000000000000000",
    }
}

const NOW: &str = "2025-06-01T12:00:00Z";
const SCREEN: &str = "lc-a1";

fn verify(bytes: &[u8], last: Option<u64>) -> Result<Manifest, Rejection> {
    verify_manifest(bytes, &trusted(), SCREEN, last, ts(NOW))
}

fn reason(bytes: &[u8], last: Option<u64>) -> RejectReason {
    verify(bytes, last).expect_err("must be rejected").reason
}

fn signed(m: &Manifest, key: &SecretKey) -> Vec<u8> {
    Envelope::sign(MANIFEST_TYPE, m.to_json(), key).to_json()
}

fn hex(s: &str) -> Vec<u8> {
    playlists::hex::decode(s).expect("hex")
}

fn receipts(screen: &str, n: u64) -> Vec<Vec<u8>> {
    let mut prev = GENESIS_PREV.to_string();
    (1..=n)
        .map(|seq| {
            let start = ts("2025-06-01T08:00:00Z") + jiff::SignedDuration::from_secs(seq as i64);
            let b = Receipt {
                seq,
                screen: screen.into(),
                manifest_version: 1,
                playlist: "p1".into(),
                media: sha(1),
                lang: "vi".into(),
                started_at: start,
                ended_at: start + jiff::SignedDuration::from_millis(900),
                outcome: Outcome::Completed,
                backend: Backend::Mpv,
                clock_synced: true,
                prev: prev.clone(),
                subtitle_lang: None,
            }
            .to_bytes();
            prev = receipt_hash(&b);
            b
        })
        .collect()
}

#[test]
fn attack_unknown_key() {
    let attacker = other_key();
    let m = manifest();
    assert_eq!(
        reason(&signed(&m, &attacker), None),
        RejectReason::UnknownKey
    );
    // Claiming the pinned key's id does not help: the full pinned key checks the signature.
    let mut env = Envelope::sign(MANIFEST_TYPE, m.to_json(), &attacker);
    env.signatures[0].keyid = controller_key().key_id();
    assert_eq!(reason(&env.to_json(), None), RejectReason::BadSignature);
    // Alerts and acks: the same.
    let a = alert_set();
    let alert = Envelope::sign(ALERT_TYPE, a.to_json(), &attacker).to_json();
    assert_eq!(
        verify_alerts(&alert, &trusted(), SCREEN, None)
            .unwrap_err()
            .reason,
        RejectReason::UnknownKey
    );
    let ack = sign_ack(
        &Ack {
            screen: SCREEN.into(),
            epoch: 1,
            key_id: None,
            upto_seq: 5,
        },
        &attacker,
    )
    .to_json();
    assert!(matches!(
        verify_ack(&ack, &trusted(), &own()),
        Err(AckError::Envelope(EnvelopeError::UnknownKey { .. }))
    ));
}

#[test]
fn attack_weak_key() {
    // The eight small-order points (and non-canonical spellings of some): under such a key a
    // forged signature can verify for any message, so none may ever be accepted as a key.
    let weak = [
        "0100000000000000000000000000000000000000000000000000000000000000",
        "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "0000000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac037a",
        "c7176a703d4dd84fba3c0b760d10670f2a2053fa2c39ccc64ec7fd7792ac03fa",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc05",
        "26e8958fc2b227b045c3f489f2ef98f0d5dfac05d3c63339b13802886d53fc85",
        // Non-canonical: y = p + 1 (the identity again), and y = 2^255 - 1.
        "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
        "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
    ];
    for w in weak {
        let bytes = hex(w);
        let e = PublicKey::from_bytes(&bytes).err();
        assert!(
            matches!(e, Some(KeyError::WeakKey | KeyError::NonCanonical)),
            "{w} accepted as a public key"
        );
        let b64 = base64::engine::general_purpose::STANDARD.encode(&bytes);
        assert!(PublicKey::from_base64(&b64).is_err(), "{w} (base64)");
    }
    // The classic forgery under the identity key: R = identity, S = 0. Named by the weak
    // key's id it names no trusted key; named by the pinned key's id it fails strictly.
    let mut forged = hex(weak[0]);
    forged.extend([0u8; 32]);
    let sig = base64::engine::general_purpose::STANDARD.encode(&forged);
    let payload = base64::engine::general_purpose::STANDARD.encode(manifest().to_json());
    let identity: [u8; 32] = hex(weak[0]).try_into().unwrap();
    for keyid in [key_id(&identity), controller_key().key_id()] {
        let env = format!(
            "{{\"payloadType\":\"{MANIFEST_TYPE}\",\"payload\":\"{payload}\",\"signatures\":[{{\"keyid\":\"{keyid}\",\"sig\":\"{sig}\"}}]}}"
        );
        let r = reason(env.as_bytes(), None);
        assert!(
            matches!(r, RejectReason::UnknownKey | RejectReason::BadSignature),
            "forgery with keyid {keyid}: {r:?}"
        );
    }
}

#[test]
fn attack_type_confusion_manifest_signed_as_another_payload_type() {
    let key = controller_key();
    let m = manifest();
    for t in [
        ALERT_TYPE,
        RECEIPTS_TYPE,
        ACK_TYPE,
        CHECKPOINT_TYPE,
        "application/json",
        "",
    ] {
        let env = Envelope::sign(t, m.to_json(), &key).to_json();
        assert_eq!(reason(&env, None), RejectReason::WrongType, "{t:?}");
    }
    // Relabelling a real manifest envelope as another type breaks its signature.
    let mut env = Envelope::sign(MANIFEST_TYPE, m.to_json(), &key);
    env.payload_type = ALERT_TYPE.into();
    assert!(verify_alerts(&env.to_json(), &trusted(), SCREEN, None).is_err());
    // A signed ack is not an alert or a manifest, and a manifest is not an ack.
    let ack = sign_ack(
        &Ack {
            screen: SCREEN.into(),
            epoch: 1,
            key_id: None,
            upto_seq: 1,
        },
        &key,
    )
    .to_json();
    assert_eq!(reason(&ack, None), RejectReason::WrongType);
    assert_eq!(
        verify_alerts(&ack, &trusted(), SCREEN, None)
            .unwrap_err()
            .reason,
        RejectReason::WrongType
    );
    let as_ack = signed(&m, &key);
    assert!(matches!(
        verify_ack(&as_ack, &trusted(), &own()),
        Err(AckError::Envelope(EnvelopeError::WrongType { .. }))
    ));
    // A receipts batch signed by a device as an ack is refused by the controller's check.
    let device = SecretKey::from_seed([5; 32]);
    let batch_payload =
        playlists::receipt::batch_payload(SCREEN, 1, &device.key_id(), &receipts(SCREEN, 1));
    let wrong = Envelope::sign(ACK_TYPE, batch_payload, &device).to_json();
    assert!(matches!(
        verify_batch(&wrong, &device.public(), SCREEN, None, &|_| None),
        Err(BatchError::BadEnvelope(EnvelopeError::WrongType { .. }))
    ));
}

#[test]
fn attack_rollback_and_equal_version_replay() {
    let key = controller_key();
    let mut m = manifest();
    m.version = 7;
    let env = signed(&m, &key);
    assert!(verify(&env, Some(6)).is_ok());
    // The same bytes again (a retained replay) and anything older are not newer.
    assert_eq!(reason(&env, Some(7)), RejectReason::NotNewer);
    for old in [0, 1, 6] {
        let mut o = m.clone();
        o.version = old;
        let r = verify(&signed(&o, &key), Some(7)).unwrap_err();
        assert_eq!((r.reason, r.version), (RejectReason::NotNewer, Some(old)));
    }
    // An equal version with other content (a forked history) is refused too.
    let mut fork = m.clone();
    fork.fallback = m.fallback.clone();
    fork.media[0].title = "forked".into();
    assert_eq!(
        reason(&signed(&fork, &key), Some(7)),
        RejectReason::NotNewer
    );
    // Alert sets have their own counter and the same rule.
    let mut a = alert_set();
    a.version = 3;
    let aenv = Envelope::sign(ALERT_TYPE, a.to_json(), &key).to_json();
    assert_eq!(
        verify_alerts(&aenv, &trusted(), SCREEN, Some(3))
            .unwrap_err()
            .reason,
        RejectReason::NotNewer
    );
}

#[test]
fn attack_expired_manifest_freeze() {
    // An attacker holding back new manifests and replaying an old one that is still "newer"
    // than what a freshly reset player knows: expiry bounds how stale it can be.
    let key = controller_key();
    let mut m = manifest();
    m.issued_at = ts("2025-05-01T00:00:00Z");
    m.expires_at = ts(NOW);
    assert_eq!(
        reason(&signed(&m, &key), None),
        RejectReason::Expired,
        "at expiry"
    );
    m.expires_at = ts("2025-06-01T11:59:59Z");
    let r = verify(&signed(&m, &key), None).unwrap_err();
    assert_eq!(
        (r.reason, r.version),
        (RejectReason::Expired, Some(m.version))
    );
    m.expires_at = ts("2025-06-01T12:00:01Z");
    assert!(verify(&signed(&m, &key), None).is_ok());
}

#[test]
fn attack_mix_and_match_manifest_for_another_screen() {
    let key = controller_key();
    let mut m = manifest();
    m.screen = "lc-b2".into();
    let r = verify(&signed(&m, &key), None).unwrap_err();
    assert_eq!(
        (r.reason, r.version),
        (RejectReason::WrongScreen, Some(m.version))
    );
    // Prefixes, case and padding of the id do not match either.
    for other in ["lc-a", "lc-a10", "LC-A1", " lc-a1", "lc-a1 "] {
        let mut o = manifest();
        o.screen = other.into();
        let r = reason(&signed(&o, &key), None);
        assert!(
            matches!(r, RejectReason::WrongScreen | RejectReason::InvalidContent),
            "{other:?}: {r:?}"
        );
    }
    let mut a = alert_set();
    a.screen = "lc-b2".into();
    let aenv = Envelope::sign(ALERT_TYPE, a.to_json(), &key).to_json();
    assert_eq!(
        verify_alerts(&aenv, &trusted(), SCREEN, None)
            .unwrap_err()
            .reason,
        RejectReason::WrongScreen
    );
    // An ack for another screen does not prune this screen's journal.
    let ack = sign_ack(
        &Ack {
            screen: "lc-b2".into(),
            epoch: 1,
            key_id: None,
            upto_seq: 100,
        },
        &key,
    )
    .to_json();
    assert!(matches!(
        verify_ack(&ack, &trusted(), &own()),
        Err(AckError::WrongScreen { .. })
    ));
}

#[test]
fn attack_forged_ack_unsigned_or_wrong_key() {
    let ack = Ack {
        screen: SCREEN.into(),
        epoch: 1,
        key_id: None,
        upto_seq: 1000,
    };
    // Bare JSON, an envelope with no signature, a wrong key, a flipped signature.
    assert!(verify_ack(&ack.to_json(), &trusted(), &own()).is_err());
    let mut env = sign_ack(&ack, &controller_key());
    env.signatures.clear();
    assert!(verify_ack(&env.to_json(), &trusted(), &own()).is_err());
    assert!(verify_ack(&sign_ack(&ack, &other_key()).to_json(), &trusted(), &own()).is_err());
    let good = sign_ack(&ack, &controller_key()).to_json();
    let text = String::from_utf8(good.clone()).unwrap();
    let sig_at = text.find("\"sig\":\"").unwrap() + 7;
    let mut flipped = good.clone();
    flipped[sig_at] = if flipped[sig_at] == b'A' { b'B' } else { b'A' };
    assert!(verify_ack(&flipped, &trusted(), &own()).is_err());
    assert_eq!(
        verify_ack(&good, &trusted(), &own()).unwrap().upto_seq,
        1000
    );
}

#[test]
fn attack_receipts_for_screen_b_signed_by_screen_a() {
    let key_a = SecretKey::from_seed([11; 32]);
    let key_b = SecretKey::from_seed([12; 32]);
    // A signs B's receipts: B's registered key does not verify them.
    let forged = sign_batch("lc-b2", &receipts("lc-b2", 2), &key_a).to_json();
    assert!(matches!(
        verify_batch(&forged, &key_b.public(), "lc-b2", None, &|_| None),
        Err(BatchError::BadSignature)
    ));
    // A signs its own receipts but they arrive on B's topic: wrong screen for B.
    let own = sign_batch(SCREEN, &receipts(SCREEN, 2), &key_a).to_json();
    assert!(verify_batch(&own, &key_a.public(), "lc-b2", None, &|_| None).is_err());
    // A batch for B whose receipts name A (mixed): refused.
    let mixed = sign_batch("lc-b2", &receipts(SCREEN, 1), &key_b).to_json();
    assert!(matches!(
        verify_batch(&mixed, &key_b.public(), "lc-b2", None, &|_| None),
        Err(BatchError::WrongScreen { .. })
    ));
    assert!(verify_batch(
        &sign_batch("lc-b2", &receipts("lc-b2", 2), &key_b).to_json(),
        &key_b.public(),
        "lc-b2",
        None,
        &|_| None
    )
    .is_ok());
}

#[test]
fn attack_oversized_envelopes_rejected_before_parsing() {
    let key = controller_key();
    // Just over the limit: a valid-looking envelope whose payload is padded.
    let big = vec![b' '; MAX_ENVELOPE_BYTES];
    let env = Envelope::sign(MANIFEST_TYPE, big, &key).to_json();
    assert!(env.len() > MAX_ENVELOPE_BYTES);
    assert_eq!(reason(&env, None), RejectReason::BadEnvelope);
    // Garbage of that size is not parsed at all (and does not panic).
    let junk = vec![b'['; MAX_ENVELOPE_BYTES + 1];
    assert!(matches!(
        Envelope::parse(&junk),
        Err(EnvelopeError::TooLarge { .. })
    ));
    // Deeply nested JSON under the limit is an error, not a stack overflow.
    let mut nested = vec![b'['; 200_000];
    nested.extend(vec![b']'; 200_000]);
    assert!(Envelope::parse(&nested).is_err());
    // Receipts and acks have the same limit.
    let device = SecretKey::from_seed([5; 32]);
    let huge = Envelope::sign(RECEIPTS_TYPE, vec![b' '; MAX_ENVELOPE_BYTES], &device).to_json();
    assert!(matches!(
        verify_batch(&huge, &device.public(), SCREEN, None, &|_| None),
        Err(BatchError::BadEnvelope(EnvelopeError::TooLarge { .. }))
    ));
    let huge_ack = Envelope::sign(ACK_TYPE, vec![b' '; MAX_ENVELOPE_BYTES], &key).to_json();
    assert!(verify_ack(&huge_ack, &trusted(), &own()).is_err());
}

#[test]
fn attack_path_traversal_and_odd_encodings_in_ids_and_hashes() {
    let good = "0123456789abcdef".repeat(4);
    let fullwidth: String = good
        .chars()
        .map(|c| match c.to_digit(10) {
            Some(d) if c.is_ascii_digit() => char::from_u32(0xFF10 + d).unwrap(),
            _ => c,
        })
        .collect();
    let cyrillic_a = good.replacen('a', "\u{0430}", 1);
    let bad_hashes = [
        good.to_uppercase(),
        good[..63].to_string(),
        format!("{good}0"),
        format!("{}\0", &good[..63]),
        format!("../{}", &good[..61]),
        format!("{}/..", &good[..61]),
        fullwidth,
        cyrillic_a,
        format!(" {}", &good[..63]),
        "%2e%2e%2f".repeat(7) + "0",
        String::new(),
    ];
    assert!(is_valid_sha256_hex(&good));
    for h in &bad_hashes {
        assert!(!is_valid_sha256_hex(h), "hash {h:?} accepted");
        // In a signed manifest it makes the manifest invalid, so it never reaches a path.
        let mut m = manifest();
        m.media[0].sha256 = h.clone();
        let env = controller_key_signed(&m);
        assert_eq!(reason(&env, None), RejectReason::InvalidContent, "{h:?}");
    }
    let bad_screens = [
        "..",
        ".",
        "../lc-a1",
        "lc-a1/..",
        "lc/a1",
        "LC-A1",
        "lc-a1\0",
        "-lc",
        "lc_a1",
        "lc\u{2010}a1",
        "ｌｃ-a1",
        "lc-a1 ",
        "+",
        "#",
        "",
        &"a".repeat(64),
    ];
    for s in bad_screens {
        assert!(!is_valid_screen_id(s), "screen id {s:?} accepted");
        // Topics carrying such an id are not gatecast topics.
        let t = format!("{}{s}/receipts", topics::PREFIX);
        assert!(topics::parse(&t).is_none(), "topic {t:?} parsed");
    }
    for t in [
        "gatecast/v1/screens/lc-a1/receipts/extra",
        "gatecast/v1/screens/lc-a1/../lc-b2/receipts",
        "gatecast/v1/screens//receipts",
        "gatecast/v1/screens/lc-a1/RECEIPTS",
        "gatecast/v1/screens/lc-a1/receipts\0",
        "/gatecast/v1/screens/lc-a1/receipts",
        "gatecast/v2/screens/lc-a1/receipts",
    ] {
        assert!(topics::parse(t).is_none(), "topic {t:?} parsed");
    }
    assert_eq!(
        topics::parse(&topics::topic(SCREEN, Kind::Receipts)),
        Some((SCREEN, Kind::Receipts))
    );
    for id in [
        "../x",
        "..",
        "a/b",
        "a\\b",
        "a\0",
        "ｐ1",
        "a b",
        "",
        &"a".repeat(129),
    ] {
        assert!(!is_valid_id(id), "id {id:?} accepted");
    }
}

fn controller_key_signed(m: &Manifest) -> Vec<u8> {
    signed(m, &controller_key())
}

#[test]
fn attack_a_rejected_manifest_leaves_the_trust_state_unchanged() {
    // The library half of "a rejected manifest is never cached": a rejection never raises the
    // last accepted version, so a later valid manifest is still accepted. (The player test
    // `attack_rejected_manifest_never_cached_later_valid_accepted` checks the disk.)
    let key = controller_key();
    let mut forged = manifest();
    forged.version = u64::MAX;
    let r = verify(&signed(&forged, &other_key()), Some(3)).unwrap_err();
    assert_eq!(r.reason, RejectReason::UnknownKey);
    assert_eq!(
        r.version, None,
        "an unverified payload's version is not even read"
    );
    let mut next = manifest();
    next.version = 4;
    assert!(verify(&signed(&next, &key), Some(3)).is_ok());
    let _ = KeySet::new();
}

/// A layout whose `side` or `logo` region names an image the manifest does not list (so it
/// would be fetched unchecked, or never), a video, or anything but a hash, is refused whole
/// (`docs/protocol.md` §20); a listed slide is accepted.
#[test]
fn attack_layout_region_media_not_in_the_manifest_refused() {
    let with_region = |name: RegionName, media: Vec<String>| {
        let mut m = manifest();
        m.issued_at = ts("2025-05-01T00:00:00Z");
        m.expires_at = ts("2025-07-01T00:00:00Z");
        let mut l = Layout::template("main_side_ticker").unwrap();
        l.regions.push(Region {
            name: RegionName::Logo,
            x: 0.0,
            y: 0.0,
            w: 0.1,
            h: 0.1,
            media: Vec::new(),
            every_secs: None,
        });
        let r = l.regions.iter_mut().find(|r| r.name == name).unwrap();
        r.media = media;
        m.layout = Some(l);
        signed(&m, &controller_key())
    };
    for name in [RegionName::Side, RegionName::Logo] {
        // Listed slide: fine.
        verify(&with_region(name, vec![sha(4)]), None).expect("a listed slide is shown");
        for (bad, what) in [
            (vec![sha(99)], "not listed"),
            (vec![sha(1)], "a video"),
            (vec!["../../etc/passwd".to_string()], "not a hash"),
            (vec![sha(4), sha(4)], "twice"),
        ] {
            let r = verify(&with_region(name, bad), None).expect_err(what);
            assert_eq!(r.reason, RejectReason::InvalidContent, "{what}: {r:?}");
            assert!(r.to_string().contains("layout.regions["), "{what}: {r}");
        }
    }
    // Images in a region that shows none (the ticker) are refused too.
    let mut m = manifest();
    m.issued_at = ts("2025-05-01T00:00:00Z");
    m.expires_at = ts("2025-07-01T00:00:00Z");
    let mut l = Layout::template("main_ticker").unwrap();
    l.regions[1].media = vec![sha(4)];
    m.layout = Some(l);
    let r = verify(&signed(&m, &controller_key()), None).expect_err("ticker images");
    assert_eq!(r.reason, RejectReason::InvalidContent);
}
