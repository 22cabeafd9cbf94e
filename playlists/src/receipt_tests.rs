//! Unit tests of `receipt.rs` (kept apart to keep that file short).

use super::*;
use std::collections::BTreeMap;

const SCREEN: &str = "lao-cai-1";

fn key(n: u8) -> SecretKey {
    SecretKey::from_seed([n; 32])
}

fn receipt(seq: u64, prev: &str) -> Receipt {
    let start = Timestamp::from_second(1_764_144_000 + seq as i64 * 10).unwrap();
    Receipt {
        seq,
        screen: SCREEN.into(),
        manifest_version: 3,
        playlist: "main".into(),
        media: "ab".repeat(32),
        lang: "vi".into(),
        started_at: start,
        ended_at: start + jiff::SignedDuration::from_millis(9_500),
        outcome: Outcome::Completed,
        backend: Backend::Mpv,
        clock_synced: true,
        prev: prev.into(),
        subtitle_lang: None,
    }
}

/// A chain of receipts 1..=n as bytes.
fn chain(n: u64) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for seq in 1..=n {
        let prev = out
            .last()
            .map_or(GENESIS_PREV.to_string(), |b| receipt_hash(b));
        out.push(receipt(seq, &prev).to_bytes());
    }
    out
}

struct Store(BTreeMap<u64, String>);

impl Store {
    fn with(chain: &[Vec<u8>]) -> Store {
        Store(
            chain
                .iter()
                .enumerate()
                .map(|(i, b)| (i as u64 + 1, receipt_hash(b)))
                .collect(),
        )
    }
    fn tip(&self) -> Option<ChainTip> {
        self.0.last_key_value().map(|(s, h)| ChainTip {
            seq: *s,
            hash: h.clone(),
        })
    }
}

fn check(batch: &[Vec<u8>], store: &Store) -> Result<VerifiedBatch, BatchError> {
    let env = sign_batch(SCREEN, batch, &key(9)).to_json();
    let tip = store.tip();
    verify_batch(&env, &key(9).public(), SCREEN, tip.as_ref(), &|s| {
        store.0.get(&s).cloned()
    })
}

#[test]
fn to_bytes_has_fixed_field_order_and_millisecond_timestamps() {
    let text = String::from_utf8(receipt(1, GENESIS_PREV).to_bytes()).unwrap();
    let fields = [
        "seq",
        "screen",
        "manifest_version",
        "playlist",
        "media",
        "lang",
        "started_at",
        "ended_at",
        "outcome",
        "backend",
        "clock_synced",
        "prev",
    ];
    let mut at = 0;
    for f in fields {
        let pos = text.find(&format!("\"{f}\":")).unwrap();
        assert!(pos >= at, "{f} out of order in {text}");
        at = pos;
    }
    assert!(
        text.contains("\"started_at\":\"2025-11-26T08:00:10.000Z\""),
        "{text}"
    );
    assert!(
        text.contains("\"ended_at\":\"2025-11-26T08:00:19.500Z\""),
        "{text}"
    );
    assert!(text.contains("\"outcome\":\"completed\",\"backend\":\"mpv\""));
}

#[test]
fn subtitle_lang_is_named_when_shown_and_absent_otherwise() {
    // Without a track the bytes are those of a receipt written before subtitles existed.
    let plain = String::from_utf8(receipt(1, GENESIS_PREV).to_bytes()).unwrap();
    assert!(!plain.contains("subtitle_lang"), "{plain}");
    let mut r = receipt(1, GENESIS_PREV);
    r.subtitle_lang = Some("hmn".into());
    let text = String::from_utf8(r.to_bytes()).unwrap();
    assert!(
        text.contains("\"lang\":\"vi\",\"subtitle_lang\":\"hmn\",\"started_at\""),
        "{text}"
    );
    r.validate().unwrap();
    let back = Receipt::parse(text.as_bytes()).unwrap();
    assert_eq!(back.subtitle_lang.as_deref(), Some("hmn"));
    r.subtitle_lang = Some("hm\nn".into());
    assert!(r.validate().is_err(), "a control character is refused");
}

#[test]
fn parse_round_trips_to_bytes() {
    let r = receipt(2, &"cd".repeat(32));
    let bytes = r.to_bytes();
    let back = Receipt::parse(&bytes).unwrap();
    assert_eq!(back, r);
    assert_eq!(back.to_bytes(), bytes);
    assert_eq!(back.hash(), receipt_hash(&bytes));
}

#[test]
fn timestamps_are_truncated_to_milliseconds() {
    let mut r = receipt(1, GENESIS_PREV);
    r.started_at = Timestamp::new(1_764_144_000, 123_456_789).unwrap();
    let text = String::from_utf8(r.to_bytes()).unwrap();
    assert!(text.contains("\"2025-11-26T08:00:00.123Z\""), "{text}");
}

#[test]
fn parse_rejects_bad_receipts() {
    let good = String::from_utf8(receipt(2, &"cd".repeat(32)).to_bytes()).unwrap();
    let cases: Vec<(String, &str)> = vec![
        (good.replace("\"seq\":2", "\"seq\":0"), "seq"),
        (good.replace(SCREEN, "Lao Cai"), "screen"),
        (good.replace(&"ab".repeat(32), &"AB".repeat(32)), "media"),
        (good.replace(&"cd".repeat(32), "cd"), "prev"),
        (good.replace("\"lang\":\"vi\"", "\"lang\":\"\""), "lang"),
        (
            good.replace("\"playlist\":\"main\"", "\"playlist\":\"a\\nb\""),
            "playlist",
        ),
    ];
    for (text, field) in cases {
        match Receipt::parse(text.as_bytes()) {
            Err(ReceiptError::Invalid { field: f, .. }) => assert_eq!(f, field, "{text}"),
            other => panic!("{field}: {other:?}"),
        }
    }
    for text in [
        good.replace("completed", "done"),
        good.replace("\"backend\":\"mpv\",", ""),
        good.replace(".000Z", ".000+07:00"),
        good.replace("2025-11-26T08:00:20.000Z", "yesterday"),
        format!("{good}x"),
        "[]".to_string(),
    ] {
        assert!(
            matches!(
                Receipt::parse(text.as_bytes()),
                Err(ReceiptError::Malformed(_))
            ),
            "accepted {text}"
        );
    }
    let big = format!("{} {}", good, " ".repeat(MAX_RECEIPT_BYTES));
    assert!(matches!(
        Receipt::parse(big.as_bytes()),
        Err(ReceiptError::TooLarge { .. })
    ));
}

#[test]
fn seq_one_must_link_to_genesis() {
    let r = receipt(1, &"cd".repeat(32));
    assert!(matches!(
        Receipt::parse(&r.to_bytes()),
        Err(ReceiptError::Invalid { field: "prev", .. })
    ));
}

#[test]
fn parse_ignores_unknown_fields_and_keeps_exact_bytes_for_hashing() {
    let good = String::from_utf8(receipt(1, GENESIS_PREV).to_bytes()).unwrap();
    let extended = good.replacen('{', "{\"future\":1, ", 1);
    let r = Receipt::parse(extended.as_bytes()).unwrap();
    assert_eq!(r, receipt(1, GENESIS_PREV));
    assert_ne!(receipt_hash(extended.as_bytes()), r.hash());
}

#[test]
fn batch_payload_carries_receipts_as_strings() {
    let c = chain(2);
    let p: serde_json::Value =
        serde_json::from_slice(&batch_payload(SCREEN, 1, &key(1).key_id(), &c)).unwrap();
    assert_eq!(p["screen"], SCREEN);
    assert_eq!(p["receipts"][1].as_str().unwrap().as_bytes(), &c[1][..]);
}

#[test]
fn verify_fresh_chain() {
    let c = chain(5);
    let v = check(&c, &Store(BTreeMap::new())).unwrap();
    assert_eq!(v.new, vec![0, 1, 2, 3, 4]);
    assert_eq!(
        v.tip,
        ChainTip {
            seq: 5,
            hash: receipt_hash(&c[4])
        }
    );
    assert_eq!(v.receipts[2].1, c[2]);
    assert_eq!(v.screen, SCREEN);
}

#[test]
fn verify_continuation_and_idempotent_resend() {
    let c = chain(6);
    let store = Store::with(&c[..3]);
    let v = check(&c[3..], &store).unwrap();
    assert_eq!(v.new, vec![0, 1, 2]);
    assert_eq!(v.tip.seq, 6);
    // Overlapping resend: 2,3 stored, 4,5 new.
    let v = check(&c[1..5], &store).unwrap();
    assert_eq!(v.new, vec![2, 3]);
    assert_eq!(v.tip.seq, 5);
    // Pure duplicate: nothing new, tip unchanged.
    let v = check(&c[..3], &store).unwrap();
    assert!(v.new.is_empty());
    assert_eq!(Some(v.tip), store.tip());
}

#[test]
fn rejects_seq_gap_against_tip() {
    let c = chain(6);
    let store = Store::with(&c[..2]);
    assert_eq!(
        check(&c[3..], &store),
        Err(BatchError::SeqGap {
            expected: 3,
            found: 4
        })
    );
    assert_eq!(
        check(&c[1..2], &Store(BTreeMap::new())),
        Err(BatchError::SeqGap {
            expected: 1,
            found: 2
        })
    );
}

#[test]
fn reports_inconsistent_store() {
    let c = chain(3);
    let mut store = Store::with(&c);
    store.0.remove(&2);
    assert_eq!(
        check(&c[1..2], &store),
        Err(BatchError::StoreInconsistent { seq: 2 })
    );
}

#[test]
fn rejects_seq_gap_inside_batch() {
    let c = chain(5);
    let batch = vec![c[0].clone(), c[1].clone(), c[3].clone()];
    assert_eq!(
        check(&batch, &Store(BTreeMap::new())),
        Err(BatchError::SeqGap {
            expected: 3,
            found: 4
        })
    );
}

#[test]
fn rejects_prev_mismatch_inside_batch_and_at_tip() {
    let mut c = chain(3);
    c[2] = receipt(3, &"ee".repeat(32)).to_bytes();
    assert_eq!(
        check(&c, &Store(BTreeMap::new())),
        Err(BatchError::PrevMismatch { seq: 3 })
    );
    let c = chain(3);
    let mut store = Store::with(&c[..2]);
    store.0.insert(2, "ff".repeat(32));
    assert_eq!(
        check(&c[2..], &store),
        Err(BatchError::PrevMismatch { seq: 3 })
    );
}

#[test]
fn rejects_duplicate_with_different_content() {
    let c = chain(3);
    let store = Store::with(&c);
    let mut other = receipt(2, &receipt_hash(&c[0]));
    other.outcome = Outcome::Interrupted;
    assert_eq!(
        check(&[other.to_bytes()], &store),
        Err(BatchError::DuplicateConflict { seq: 2 })
    );
}

#[test]
fn rejects_wrong_screen_of_batch_and_of_receipt() {
    let c = chain(1);
    let env = sign_batch("other-screen", &c, &key(9)).to_json();
    assert_eq!(
        verify_batch(&env, &key(9).public(), SCREEN, None, &|_| None),
        Err(BatchError::WrongScreen {
            expected: SCREEN.into(),
            found: "other-screen".into()
        })
    );
    let mut r = receipt(1, GENESIS_PREV);
    r.screen = "other-screen".into();
    assert!(matches!(
        check(&[r.to_bytes()], &Store(BTreeMap::new())),
        Err(BatchError::WrongScreen { found, .. }) if found == "other-screen"
    ));
}

#[test]
fn rejects_bad_signature_and_other_key() {
    let c = chain(2);
    let env = sign_batch(SCREEN, &c, &key(8)).to_json();
    assert_eq!(
        verify_batch(&env, &key(9).public(), SCREEN, None, &|_| None),
        Err(BatchError::BadSignature)
    );
    let mut e = sign_batch(SCREEN, &c, &key(9));
    e.signatures[0].sig[10] ^= 1;
    assert_eq!(
        verify_batch(&e.to_json(), &key(9).public(), SCREEN, None, &|_| None),
        Err(BatchError::BadSignature)
    );
    let e = Envelope::sign(
        ACK_TYPE,
        batch_payload(SCREEN, 1, &key(1).key_id(), &c),
        &key(9),
    )
    .to_json();
    assert!(matches!(
        verify_batch(&e, &key(9).public(), SCREEN, None, &|_| None),
        Err(BatchError::BadEnvelope(EnvelopeError::WrongType { .. }))
    ));
}

#[test]
fn rejects_malformed_and_oversized_batches() {
    let k = key(9);
    let run = |payload: &[u8]| {
        let e = Envelope::sign(RECEIPTS_TYPE, payload.to_vec(), &k).to_json();
        verify_batch(&e, &k.public(), SCREEN, None, &|_| None)
    };
    assert!(matches!(run(b"{}"), Err(BatchError::Malformed { .. })));
    assert!(matches!(
        run(br#"{"screen":"lao-cai-1","receipts":[]}"#),
        Err(BatchError::Malformed { .. })
    ));
    assert!(matches!(
        run(br#"{"screen":"lao-cai-1","receipts":["{}"]}"#),
        Err(BatchError::Malformed { .. })
    ));
    let many = vec![chain(1)[0].clone(); MAX_BATCH_RECEIPTS + 1];
    assert_eq!(
        run(&batch_payload(SCREEN, 1, &k.key_id(), &many)),
        Err(BatchError::TooManyReceipts {
            count: MAX_BATCH_RECEIPTS + 1,
            max: MAX_BATCH_RECEIPTS
        })
    );
}

#[test]
fn batch_error_codes_are_distinct() {
    let errs = [
        BatchError::BadEnvelope(EnvelopeError::NoSignatures),
        BatchError::BadSignature,
        BatchError::WrongScreen {
            expected: "a".into(),
            found: "b".into(),
        },
        BatchError::SeqGap {
            expected: 1,
            found: 2,
        },
        BatchError::PrevMismatch { seq: 1 },
        BatchError::DuplicateConflict { seq: 1 },
        BatchError::Malformed { detail: "x".into() },
        BatchError::TooManyReceipts { count: 2, max: 1 },
        BatchError::StoreInconsistent { seq: 1 },
    ];
    let codes: std::collections::BTreeSet<_> = errs.iter().map(|e| e.as_str()).collect();
    assert_eq!(codes.len(), errs.len());
}

#[test]
fn ack_sign_verify_and_rejections() {
    let ctl = key(1);
    let trusted = KeySet::from_keys([ctl.public()]);
    let dev = key(9).key_id();
    let own = OwnChain {
        screen: SCREEN,
        epoch: 2,
        key_id: &dev,
    };
    let ack = Ack {
        screen: SCREEN.into(),
        epoch: 2,
        key_id: Some(dev.clone()),
        upto_seq: 42,
    };
    let bytes = sign_ack(&ack, &ctl).to_json();
    assert_eq!(verify_ack(&bytes, &trusted, &own).unwrap(), ack);
    let other = OwnChain {
        screen: "other",
        ..own.clone()
    };
    assert!(matches!(
        verify_ack(&bytes, &trusted, &other),
        Err(AckError::WrongScreen { .. })
    ));
    // Another epoch, another device key, or no key id at epoch 2: not this player's chain.
    for wrong in [
        Ack {
            epoch: 1,
            ..ack.clone()
        },
        Ack {
            key_id: Some(key(8).key_id()),
            ..ack.clone()
        },
        Ack {
            key_id: None,
            ..ack.clone()
        },
    ] {
        let b = sign_ack(&wrong, &ctl).to_json();
        assert!(matches!(
            verify_ack(&b, &trusted, &own),
            Err(AckError::WrongChain { .. })
        ));
    }
    // An ack from before epochs (`{"screen","upto_seq"}`) is of epoch 1.
    let legacy = Envelope::sign(
        ACK_TYPE,
        br#"{"screen":"lao-cai-1","upto_seq":3}"#.to_vec(),
        &ctl,
    )
    .to_json();
    let first = OwnChain {
        epoch: 1,
        ..own.clone()
    };
    assert_eq!(verify_ack(&legacy, &trusted, &first).unwrap().upto_seq, 3);
    assert!(verify_ack(&legacy, &trusted, &own).is_err());
    assert!(matches!(
        verify_ack(&bytes, &KeySet::from_keys([key(2).public()]), &own),
        Err(AckError::Envelope(EnvelopeError::UnknownKey { .. }))
    ));
    let wrong_type = Envelope::sign(RECEIPTS_TYPE, ack.to_json(), &ctl).to_json();
    assert!(matches!(
        verify_ack(&wrong_type, &trusted, &own),
        Err(AckError::Envelope(EnvelopeError::WrongType { .. }))
    ));
    let junk = Envelope::sign(ACK_TYPE, b"{\"screen\":1}".to_vec(), &ctl).to_json();
    assert!(matches!(
        verify_ack(&junk, &trusted, &own),
        Err(AckError::Malformed(_))
    ));
}

#[test]
fn batch_names_its_epoch_and_key_id() {
    let dev = key(3);
    let c = chain(2);
    let none = |_: u64| None;
    let env = sign_batch_epoch(SCREEN, 2, &c, &dev).to_json();
    assert_eq!(claimed_epoch(&env), Some(2));
    let v = verify_batch(&env, &dev.public(), SCREEN, None, &none).unwrap();
    assert_eq!((v.epoch, v.tip.seq), (2, 2));
    // A batch from before epochs is of epoch 1.
    let legacy_payload = serde_json::json!({"screen": SCREEN, "receipts": c
        .iter()
        .map(|b| String::from_utf8(b.clone()).unwrap())
        .collect::<Vec<_>>()});
    let legacy = Envelope::sign(
        RECEIPTS_TYPE,
        serde_json::to_vec(&legacy_payload).unwrap(),
        &dev,
    )
    .to_json();
    assert_eq!(claimed_epoch(&legacy), Some(1));
    let v = verify_batch(&legacy, &dev.public(), SCREEN, None, &none).unwrap();
    assert_eq!(v.epoch, 1);
    // A key id that is not the signer's, or epoch 0: malformed.
    let lying = Envelope::sign(
        RECEIPTS_TYPE,
        batch_payload(SCREEN, 2, &key(4).key_id(), &c),
        &dev,
    )
    .to_json();
    assert!(matches!(
        verify_batch(&lying, &dev.public(), SCREEN, None, &none),
        Err(BatchError::Malformed { .. })
    ));
    let zero = sign_batch_epoch(SCREEN, 0, &c, &dev).to_json();
    assert!(matches!(
        verify_batch(&zero, &dev.public(), SCREEN, None, &none),
        Err(BatchError::Malformed { .. })
    ));
}

#[test]
fn batches_are_cut_to_the_envelope_limit() {
    use crate::envelope::MAX_ENVELOPE_BYTES;
    let device = key(9);
    let epoch = 2;
    let sign = |r: &[Vec<u8>]| sign_batch_epoch(SCREEN, epoch, r, &device).to_json();
    // Receipts near MAX_RECEIPT_BYTES whose padding JSON escapes twice: 1000 of them would
    // make an envelope of about 10 MiB.
    let mut prev = GENESIS_PREV.to_string();
    let mut big = Vec::new();
    for seq in 1..=1000 {
        let mut b = receipt(seq, &prev).to_bytes();
        b.pop();
        b.extend_from_slice(format!(",\"note\":\"{}\"}}", "\\\\".repeat(1700)).as_bytes());
        assert!(b.len() <= MAX_RECEIPT_BYTES);
        prev = receipt_hash(&b);
        big.push(b);
    }
    assert!(sign(&big).len() > MAX_ENVELOPE_BYTES);
    let (env, n) = sign_batch_within_limit(SCREEN, epoch, &big, &device);
    assert!(env.len() <= MAX_ENVELOPE_BYTES, "{} bytes", env.len());
    assert!(n > 1 && n < 1000, "{n} receipts");
    assert_eq!(env, sign(&big[..n]));
    assert!(
        sign(&big[..=n]).len() > MAX_ENVELOPE_BYTES,
        "the longest prefix that fits"
    );
    let v = verify_batch(&env, &device.public(), SCREEN, None, &|_| None).unwrap();
    assert_eq!(v.receipts.len(), n);
    // Ordinary receipts: the whole batch.
    let first = receipt(1, GENESIS_PREV).to_bytes();
    let second = receipt(2, &receipt_hash(&first)).to_bytes();
    let small = vec![first.clone(), second, first];
    let (env, n) = sign_batch_within_limit(SCREEN, epoch, &small, &device);
    assert_eq!(n, 3);
    assert_eq!(env, sign(&small));
}
