//! Deterministic generation of the published test vectors in `docs/test-vectors/`.
//!
//! Shared by the `gen-test-vectors` example (which writes the files) and by
//! `playlists/tests/it/vectors.rs` (which regenerates them and compares byte for byte).
//! Every verdict here is declared from how the case is built, never computed by the
//! verifier under test.

use base64::engine::general_purpose::STANDARD;
use base64::Engine as _;
use playlists::audit::{EntryKind, Period, ScopeBuilder, SCOPE_TYPE, SCREEN_TYPE};
use playlists::envelope::{
    pae, Envelope, ACK_TYPE, ALERT_TYPE, CHECKPOINT_TYPE, MANIFEST_TYPE, RECEIPTS_TYPE,
};
use playlists::keys::{key_id, SecretKey};
use playlists::merkle::{self, consistency_proof, inclusion_proof, leaf_hash, root, Checkpoint};
use playlists::receipt::{
    batch_payload, receipt_hash, sign_ack, sign_batch, sign_batch_epoch, Ack, Backend, Outcome,
    Receipt, GENESIS_PREV,
};
use playlists::screenshot::{
    ImageFormat, ScreenshotRecord, ScreenshotRequest, SCREENSHOT_REQUEST_TYPE, SCREENSHOT_TYPE,
};
use serde_json::{json, Value};

#[path = "approval_vectors.rs"]
mod approval_vectors;

/// Seeds of the fixed keys (never use them for anything real).
pub const CONTROLLER_SEED: [u8; 32] = [0x11; 32];
/// Seed of the device key used for receipts.
pub const DEVICE_SEED: [u8; 32] = [0x22; 32];
/// Seed of an unrelated key.
pub const OTHER_SEED: [u8; 32] = [0x33; 32];
/// Seed whose public key and scalar build the small-order-key forgery.
pub const WEAK_SEED: [u8; 32] = [0x44; 32];

/// The screen used in the vectors.
pub const SCREEN: &str = "lao-cai-1";

/// Ed25519 group order L, little-endian.
const L: [u8; 32] = [
    0xed, 0xd3, 0xf5, 0x5c, 0x1a, 0x63, 0x12, 0x58, 0xd6, 0x9c, 0xf7, 0xa2, 0xde, 0xf9, 0xde, 0x14,
    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x10,
];

fn b64(b: &[u8]) -> String {
    STANDARD.encode(b)
}

fn hex(b: &[u8]) -> String {
    playlists::hex::encode(b)
}

/// Little-endian 256-bit addition (no overflow for S + L with S < L).
fn add_le(a: &[u8], b: &[u8; 32]) -> [u8; 32] {
    let mut out = [0u8; 32];
    let mut carry = 0u16;
    for i in 0..32 {
        let s = a[i] as u16 + b[i] as u16 + carry;
        out[i] = s as u8;
        carry = s >> 8;
    }
    assert_eq!(carry, 0);
    out
}

/// Every file, as (file name, exact contents).
pub fn generate() -> Vec<(&'static str, String)> {
    vec![
        ("envelopes.json", pretty(&envelopes())),
        ("merkle.json", pretty(&merkle_vectors())),
        ("receipts.json", pretty(&receipts())),
        ("approvals.json", pretty(&approval_vectors::approvals())),
    ]
}

fn pretty(v: &Value) -> String {
    let mut s = serde_json::to_string_pretty(v).expect("JSON values serialize");
    s.push('\n');
    s
}

fn env_value(e: &Envelope) -> Value {
    serde_json::from_slice(&e.to_json()).expect("envelope JSON parses")
}

/// A DSSE object built field by field (for cases that `Envelope` cannot express).
fn raw_env(payload_type: &str, payload: &[u8], keyid: &str, sig: &[u8]) -> Value {
    json!({
        "payloadType": payload_type,
        "payload": b64(payload),
        "signatures": [{"keyid": keyid, "sig": b64(sig)}],
    })
}

/// A manifest payload in the shape of `docs/protocol.md` §8 (exact bytes; not re-serialized).
pub fn manifest_payload() -> Vec<u8> {
    let media = "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08";
    json!({
        "screen": SCREEN,
        "version": 7,
        "issued_at": "2025-11-26T08:00:00Z",
        "expires_at": "2025-12-26T08:00:00Z",
        "timezone": "Asia/Ho_Chi_Minh",
        "languages": ["vi", "en", "zh-Hans"],
        "media": [{"sha256": media, "bytes": 4, "mime": "image/png", "kind": "slide",
                   "lang": "vi", "title": "Chào mừng", "duration_ms": 10000}],
        "playlists": [{"id": "main", "name": "Main", "items": [{"media": media, "duration_ms": 10000}]}],
        "schedule": [],
        "fallback": "main",
    })
    .to_string()
    .into_bytes()
}

/// The image of the screenshot vector: stand-in bytes (the record signs only their hash).
pub const SCREENSHOT_IMAGE: &[u8] = b"gatecast screenshot test vector image";

/// The screenshot record of the vectors.
pub fn screenshot_record() -> ScreenshotRecord {
    ScreenshotRecord {
        screen: SCREEN.into(),
        sha256: playlists::hex::sha256_hex(SCREENSHOT_IMAGE),
        taken_at: "2025-11-26T08:05:00Z".parse().expect("fixed time"),
        width: 1280,
        height: 720,
        bytes: SCREENSHOT_IMAGE.len() as u64,
        format: ImageFormat::Jpeg,
        request: Some("shot-1".into()),
    }
}

/// The screenshot command of the vectors.
pub fn screenshot_request() -> ScreenshotRequest {
    ScreenshotRequest {
        screen: SCREEN.into(),
        id: "shot-1".into(),
        issued_at: "2025-11-26T08:04:50Z".parse().expect("fixed time"),
        expires_at: "2025-11-26T08:05:50Z".parse().expect("fixed time"),
    }
}

fn envelope_case(
    name: &str,
    public_key: &[u8],
    expected_type: &str,
    envelope: Value,
    reason: Option<&str>,
) -> Value {
    let mut v = json!({
        "name": name,
        "public_key": b64(public_key),
        "expected_type": expected_type,
        "envelope": envelope,
        "valid": reason.is_none(),
    });
    if let Some(r) = reason {
        v["reason"] = json!(r);
    }
    v
}

fn envelopes() -> Value {
    let ctl = SecretKey::from_seed(CONTROLLER_SEED);
    let dev = SecretKey::from_seed(DEVICE_SEED);
    let other = SecretKey::from_seed(OTHER_SEED);
    let ctl_pk = *ctl.public().as_bytes();
    let dev_pk = *dev.public().as_bytes();
    let manifest = manifest_payload();
    let good = Envelope::sign(MANIFEST_TYPE, manifest.clone(), &ctl);
    let good_sig = good.signatures[0].sig.clone();
    let mut cases = Vec::new();

    cases.push(envelope_case(
        "valid-manifest",
        &ctl_pk,
        MANIFEST_TYPE,
        env_value(&good),
        None,
    ));
    let batch = sign_batch(SCREEN, &receipt_chain(3), &dev);
    cases.push(envelope_case(
        "valid-receipts-batch",
        &dev_pk,
        RECEIPTS_TYPE,
        env_value(&batch),
        None,
    ));
    let ack = sign_ack(
        &Ack {
            screen: SCREEN.into(),
            epoch: 1,
            key_id: Some(dev.key_id()),
            upto_seq: 3,
        },
        &ctl,
    );
    cases.push(envelope_case(
        "valid-ack",
        &ctl_pk,
        ACK_TYPE,
        env_value(&ack),
        None,
    ));
    let leaves: Vec<_> = receipt_chain(3).iter().map(|r| leaf_hash(r)).collect();
    let cp = Checkpoint::for_leaves("gatecast-test-controller", &leaves).sign(&ctl);
    cases.push(envelope_case(
        "valid-checkpoint",
        &ctl_pk,
        CHECKPOINT_TYPE,
        env_value(&cp),
        None,
    ));
    let mut scope = ScopeBuilder::new(
        Period {
            from: "2026-01-05T00:00:00Z".into(),
            to: "2026-01-06T00:00:00Z".into(),
        },
        leaves.len() as u64,
    );
    scope.generated_at("2026-01-06T00:00:00.000Z");
    scope
        .batch(SCREEN, &dev.key_id(), 0, 1..=3)
        .entry(0, EntryKind::Batch, &batch.to_json());
    let scope = scope.finish().sign(&ctl);
    cases.push(envelope_case(
        "valid-scope",
        &ctl_pk,
        SCOPE_TYPE,
        env_value(&scope),
        None,
    ));
    cases.push(envelope_case(
        "scope-verified-as-screen-statement",
        &ctl_pk,
        SCREEN_TYPE,
        env_value(&scope),
        Some("a bundle scope (scope+json) never verifies as a screen statement (screen+json)"),
    ));
    // Screenshots (protocol.md §18): a record signed by the device key, a command signed by
    // the controller key, and each refused as the other.
    let shot = screenshot_record()
        .sign(&dev)
        .expect("the fixed record is valid");
    let mut case = envelope_case(
        "valid-screenshot",
        &dev_pk,
        SCREENSHOT_TYPE,
        env_value(&shot),
        None,
    );
    // The checker also checks that the record signs this image (its SHA-256 and length).
    case["image"] = json!(b64(SCREENSHOT_IMAGE));
    cases.push(case);
    let command = screenshot_request()
        .sign(&ctl)
        .expect("the fixed command is valid");
    cases.push(envelope_case(
        "valid-screenshot-request",
        &ctl_pk,
        SCREENSHOT_REQUEST_TYPE,
        env_value(&command),
        None,
    ));
    cases.push(envelope_case(
        "screenshot-verified-as-request",
        &dev_pk,
        SCREENSHOT_REQUEST_TYPE,
        env_value(&shot),
        Some("a screenshot record (screenshot+json) never verifies as a screenshot command (screenshot-request+json)"),
    ));
    let empty = Envelope::sign(ALERT_TYPE, Vec::new(), &ctl);
    cases.push(envelope_case(
        "valid-empty-payload",
        &ctl_pk,
        ALERT_TYPE,
        env_value(&empty),
        None,
    ));

    let alert = Envelope::sign(ALERT_TYPE, manifest.clone(), &ctl);
    cases.push(envelope_case(
        "payload-type-other-than-expected",
        &ctl_pk,
        MANIFEST_TYPE,
        env_value(&alert),
        Some("payloadType is alert+json but the verifier expects manifest+json"),
    ));

    let mut relabelled = alert.clone();
    relabelled.payload_type = MANIFEST_TYPE.into();
    cases.push(envelope_case(
        "payload-type-relabelled",
        &ctl_pk,
        MANIFEST_TYPE,
        env_value(&relabelled),
        Some("signed as alert+json, payloadType changed to manifest+json afterwards: PAE differs"),
    ));

    let mut flipped = good.clone();
    flipped.payload[10] ^= 0x01;
    cases.push(envelope_case(
        "flipped-payload-byte",
        &ctl_pk,
        MANIFEST_TYPE,
        env_value(&flipped),
        Some("payload byte 10 xor 0x01 after signing"),
    ));

    let mut flipped_sig = good.clone();
    flipped_sig.signatures[0].sig[5] ^= 0x01;
    cases.push(envelope_case(
        "flipped-signature-byte",
        &ctl_pk,
        MANIFEST_TYPE,
        env_value(&flipped_sig),
        Some("signature byte 5 (in R) xor 0x01"),
    ));

    let mut flipped_s = good.clone();
    flipped_s.signatures[0].sig[40] ^= 0x01;
    cases.push(envelope_case(
        "flipped-signature-byte-in-s",
        &ctl_pk,
        MANIFEST_TYPE,
        env_value(&flipped_s),
        Some("signature byte 40 (in S) xor 0x01"),
    ));

    let mut by_other = Envelope::sign(MANIFEST_TYPE, manifest.clone(), &other);
    by_other.signatures[0].keyid = ctl.key_id();
    cases.push(envelope_case(
        "signature-by-another-key",
        &ctl_pk,
        MANIFEST_TYPE,
        env_value(&by_other),
        Some("signed by a different key that claims the trusted key's keyid"),
    ));

    cases.push(envelope_case(
        "truncated-signature",
        &ctl_pk,
        MANIFEST_TYPE,
        raw_env(MANIFEST_TYPE, &manifest, &ctl.key_id(), &good_sig[..63]),
        Some("signature is 63 bytes, not 64"),
    ));

    cases.push(envelope_case(
        "signature-over-payload-without-pae",
        &ctl_pk,
        MANIFEST_TYPE,
        raw_env(
            MANIFEST_TYPE,
            &manifest,
            &ctl.key_id(),
            &ctl.sign(&manifest),
        ),
        Some("signature is over the raw payload instead of PAE(payloadType, payload)"),
    ));

    // Small-order public key A = identity. With R = [a]B and S = a mod L the equation
    // [S]B = R + [k]A holds for every message, so only the weak-key check rejects it.
    let weak = ed25519_dalek::SigningKey::from_bytes(&WEAK_SEED);
    let mut forged = weak.verifying_key().to_bytes().to_vec();
    forged.extend_from_slice(&weak.to_scalar().to_bytes());
    let mut identity = [0u8; 32];
    identity[0] = 1;
    cases.push(envelope_case(
        "small-order-public-key",
        &identity,
        MANIFEST_TYPE,
        raw_env(MANIFEST_TYPE, &manifest, &key_id(&identity), &forged),
        Some("public key is the identity point (small order); the signature satisfies the cofactorless equation for any message"),
    ));

    let mut non_canonical = good_sig.clone();
    let s_plus_l = add_le(&good_sig[32..], &L);
    non_canonical[32..].copy_from_slice(&s_plus_l);
    cases.push(envelope_case(
        "non-canonical-s",
        &ctl_pk,
        MANIFEST_TYPE,
        raw_env(MANIFEST_TYPE, &manifest, &ctl.key_id(), &non_canonical),
        Some("S replaced by S + L (L = group order): same point equation, but S >= L must be rejected"),
    ));

    // Also sanity: PAE of the valid manifest is what was signed.
    debug_assert!(ctl
        .public()
        .verify_strict(&pae(MANIFEST_TYPE, &manifest), &good_sig)
        .is_ok());
    Value::Array(cases)
}

/// The receipt with `seq`, linked to `prev`.
pub fn receipt(seq: u64, prev: &str) -> Receipt {
    let start = jiff::Timestamp::from_second(1_764_144_000 + seq as i64 * 15).expect("in range");
    Receipt {
        seq,
        screen: SCREEN.into(),
        manifest_version: 7,
        playlist: "main".into(),
        media: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08".into(),
        lang: ["vi", "en", "zh-Hans"][(seq as usize - 1) % 3].into(),
        started_at: start,
        ended_at: start + jiff::SignedDuration::from_millis(10_000),
        outcome: Outcome::Completed,
        backend: Backend::Mpv,
        clock_synced: true,
        prev: prev.into(),
        subtitle_lang: None,
    }
}

/// Receipts 1..=n as exact bytes, chained.
pub fn receipt_chain(n: u64) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    for seq in 1..=n {
        let prev = out
            .last()
            .map_or(GENESIS_PREV.to_string(), |b| receipt_hash(b));
        out.push(receipt(seq, &prev).to_bytes());
    }
    out
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).expect("receipts are UTF-8")
}

fn stored(chain: &[Vec<u8>], upto: usize) -> Value {
    Value::Array(
        chain[..upto]
            .iter()
            .enumerate()
            .map(|(i, b)| json!({"seq": i + 1, "hash": receipt_hash(b)}))
            .collect(),
    )
}

fn receipts() -> Value {
    let dev = SecretKey::from_seed(DEVICE_SEED);
    let other = SecretKey::from_seed(OTHER_SEED);
    let chain = receipt_chain(5);
    let batch = |rs: &[Vec<u8>]| env_value(&sign_batch(SCREEN, rs, &dev));
    let mut cases = Vec::new();
    let mut case = |name: &str, stored_upto: usize, envelope: Value, expected: Value| {
        cases.push(json!({
            "name": name,
            "stored": stored(&chain, stored_upto),
            "envelope": envelope,
            "expected": expected,
        }));
    };

    case(
        "valid-fresh-chain",
        0,
        batch(&chain),
        json!({"ok": true, "new_seqs": [1, 2, 3, 4, 5], "tip_seq": 5, "epoch": 1}),
    );
    // Enrolment epochs (§13): a re-enrolled box's chain starts at seq 1 again, in its own epoch;
    // a batch from before epochs (no `epoch`, no `key_id`) is of epoch 1.
    case(
        "valid-epoch-2-fresh-chain",
        0,
        env_value(&sign_batch_epoch(SCREEN, 2, &chain[..2], &dev)),
        json!({"ok": true, "new_seqs": [1, 2], "tip_seq": 2, "epoch": 2}),
    );
    let legacy = json!({"screen": SCREEN, "receipts": chain[..2].iter().map(|b| text(b)).collect::<Vec<_>>()});
    case(
        "valid-legacy-batch-without-epoch",
        0,
        env_value(&Envelope::sign(
            RECEIPTS_TYPE,
            serde_json::to_vec(&legacy).unwrap(),
            &dev,
        )),
        json!({"ok": true, "new_seqs": [1, 2], "tip_seq": 2, "epoch": 1}),
    );
    case(
        "key-id-not-the-signer",
        0,
        env_value(&Envelope::sign(
            RECEIPTS_TYPE,
            batch_payload(SCREEN, 1, &other.key_id(), &chain[..2]),
            &dev,
        )),
        json!({"error": "malformed"}),
    );
    case(
        "valid-continuation",
        2,
        batch(&chain[2..]),
        json!({"ok": true, "new_seqs": [3, 4, 5], "tip_seq": 5}),
    );
    case(
        "valid-overlapping-resend",
        3,
        batch(&chain[1..]),
        json!({"ok": true, "new_seqs": [4, 5], "tip_seq": 5}),
    );
    case(
        "valid-pure-duplicate",
        5,
        batch(&chain),
        json!({"ok": true, "new_seqs": [], "tip_seq": 5}),
    );

    let gap = vec![
        chain[0].clone(),
        chain[1].clone(),
        chain[3].clone(),
        chain[4].clone(),
    ];
    case(
        "seq-gap-inside-batch",
        0,
        batch(&gap),
        json!({"error": "seq_gap", "expected_seq": 3, "found_seq": 4}),
    );
    case(
        "seq-gap-against-stored-tip",
        1,
        batch(&chain[2..]),
        json!({"error": "seq_gap", "expected_seq": 2, "found_seq": 3}),
    );

    let mut bad_prev = chain.clone();
    bad_prev[2] = receipt(3, &"ee".repeat(32)).to_bytes();
    case(
        "prev-mismatch",
        0,
        batch(&bad_prev[..3]),
        json!({"error": "prev_mismatch", "seq": 3}),
    );

    let mut changed = receipt(3, &receipt_hash(&chain[1]));
    changed.outcome = Outcome::Interrupted;
    case(
        "duplicate-seq-different-content",
        3,
        batch(&[changed.to_bytes()]),
        json!({"error": "duplicate_conflict", "seq": 3}),
    );

    case(
        "wrong-screen-in-batch",
        0,
        env_value(&sign_batch("mong-cai-2", &chain, &dev)),
        json!({"error": "wrong_screen", "found": "mong-cai-2"}),
    );

    let mut foreign = receipt(1, GENESIS_PREV);
    foreign.screen = "mong-cai-2".into();
    case(
        "wrong-screen-in-receipt",
        0,
        batch(&[foreign.to_bytes()]),
        json!({"error": "wrong_screen", "found": "mong-cai-2"}),
    );

    let mut flipped = sign_batch(SCREEN, &chain, &dev);
    flipped.signatures[0].sig[7] ^= 0x01;
    case(
        "flipped-signature-byte",
        0,
        env_value(&flipped),
        json!({"error": "bad_signature"}),
    );
    case(
        "signed-by-another-key",
        0,
        env_value(&sign_batch(SCREEN, &chain, &other)),
        json!({"error": "bad_signature"}),
    );

    json!({
        "description": "Receipt chains (docs/protocol.md §13). Each case: verify `envelope` as a receipts batch from `device_public_key` for `screen`, given the receipts already `stored` (seq and hash; the chain tip is the last one). `expected` is either {ok, new_seqs, tip_seq, epoch?} (`epoch`: the enrolment epoch the batch names, 1 when it names none; the stored chain is that epoch's) or {error: bad_signature|wrong_screen|seq_gap|prev_mismatch|duplicate_conflict|malformed, ...}.",
        "screen": SCREEN,
        "device_public_key": b64(dev.public().as_bytes()),
        "genesis_prev": GENESIS_PREV,
        "chain": chain.iter().enumerate().map(|(i, b)| json!({
            "seq": i + 1,
            "text": text(b),
            "hash": receipt_hash(b),
        })).collect::<Vec<_>>(),
        "cases": cases,
    })
}

/// Leaf data for the Merkle vectors: the 8 leaves of the certificate-transparency reference
/// test data, then 5 more.
pub fn merkle_leaf_data() -> Vec<Vec<u8>> {
    [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
        "70",
        "8081",
        "909192",
        "a0a1a2a3a4",
        "b0b1b2b3b4b5b6b7b8b9babbbcbdbebf",
    ]
    .iter()
    .map(|h| playlists::hex::decode(h).expect("hex"))
    .collect()
}

fn merkle_vectors() -> Value {
    let data = merkle_leaf_data();
    let hashes: Vec<_> = data.iter().map(|d| leaf_hash(d)).collect();
    let hexes = |v: &[merkle::Hash]| v.iter().map(|h| hex(h)).collect::<Vec<_>>();
    let trees: Vec<Value> = (1..=8usize)
        .chain([13])
        .map(|n| {
            let l = &hashes[..n];
            let inclusion: Vec<Value> = (0..n)
                .map(|i| json!({"index": i, "leaf_hash": hex(&l[i]), "proof": hexes(&inclusion_proof(l, i))}))
                .collect();
            let consistency: Vec<Value> = (1..=n)
                .map(|m| json!({"old_size": m, "old_root": hex(&root(&l[..m])), "proof": hexes(&consistency_proof(l, m))}))
                .collect();
            json!({"size": n, "root": hex(&root(l)), "inclusion": inclusion, "consistency": consistency})
        })
        .collect();
    json!({
        "description": "RFC 6962 Merkle tree hashing: leaf = SHA-256(0x00 || data), node = SHA-256(0x01 || left || right). Trees are over the first `size` leaves. Proofs per RFC 6962 §2.1.1/§2.1.2; verify per RFC 9162 §2.1.3.2/§2.1.4.2.",
        "empty_root": hex(&merkle::empty_root()),
        "leaves": data.iter().map(|d| hex(d)).collect::<Vec<_>>(),
        "leaf_hashes": hexes(&hashes),
        "trees": trees,
    })
}
