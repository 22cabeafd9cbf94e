//! Prints the worked examples of `docs/protocol.md` (keys, a DSSE envelope byte by byte, every
//! signed payload, a receipt chain and a small Merkle tree), all from fixed seeds and fixed
//! times, so the output never changes:
//!
//! ```text
//! cargo run -p playlists --example protocol_example
//! ```
//!
//! Every value printed is computed by the `playlists` crate itself, and every envelope printed
//! is verified before it is printed.

use jiff::Timestamp;
use playlists::envelope::{self, pae, Envelope, ACK_TYPE, MANIFEST_TYPE, RECEIPTS_TYPE};
use playlists::keys::{KeySet, SecretKey};
use playlists::manifest::{
    verify_alerts, verify_manifest, Alert, AlertSet, AlertText, Manifest, MediaKind, MediaRef,
    Playlist, PlaylistItem, ScheduleEntry, Weekday,
};
use playlists::merkle::{self, Checkpoint};
use playlists::receipt::{
    receipt_hash, sign_ack, sign_batch, verify_ack, verify_batch, Ack, Backend, Outcome, OwnChain,
    Receipt, GENESIS_PREV,
};
use sha2::{Digest as _, Sha256};

const SCREEN: &str = "lao-cai-1";

fn hex(b: &[u8]) -> String {
    playlists::hex::encode(b)
}

fn unhex(s: &str) -> Vec<u8> {
    playlists::hex::decode(s).expect("hex")
}

/// Hex in lines of 32 bytes, for readability.
fn hex_lines(b: &[u8]) -> String {
    b.chunks(32).map(hex).collect::<Vec<_>>().join("\n")
}

fn ts(s: &str) -> Timestamp {
    s.parse().expect("timestamp")
}

fn seed(s: &str) -> [u8; 32] {
    unhex(s).try_into().expect("32 bytes")
}

/// The exact compact JSON bytes as text (struct field order, as signed).
fn text(json: &[u8]) -> String {
    String::from_utf8(json.to_vec()).expect("JSON is UTF-8")
}

fn section(title: &str) {
    println!("\n==== {title} ====");
}

fn media(sha_of: &[u8], mime: &str, kind: MediaKind, lang: &str, title: &str) -> MediaRef {
    MediaRef {
        sha256: hex(&Sha256::digest(sha_of)),
        bytes: sha_of.len() as u64,
        mime: mime.into(),
        kind,
        lang: lang.into(),
        title: title.into(),
        duration_ms: Some(10_000),
        subtitles: Vec::new(),
    }
}

/// RFC 8032 §7.1 TEST 1 seed: the controller key of the examples.
const CONTROLLER_SEED: &str = "9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60";

fn main() {
    // RFC 8032 §7.1 TEST 1 and TEST 2 seeds, so the public keys can be checked against the RFC.
    let controller = SecretKey::from_seed(seed(CONTROLLER_SEED));
    let device = SecretKey::from_seed(seed(
        "4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb",
    ));
    let trusted = KeySet::from_keys([controller.public()]);
    print_keys(&controller, &device);
    let env_json = print_dsse_example(&controller, &trusted, &device.key_id());
    let (slide_vi, video) = print_manifest(&controller, &trusted);
    print_alerts(&controller, &trusted, &slide_vi);
    print_receipts(&device, &slide_vi, &video);
    print_merkle(&controller, &trusted);

    // Type separation: the ack envelope never verifies as a manifest or receipts batch.
    for t in [MANIFEST_TYPE, RECEIPTS_TYPE] {
        assert!(envelope::verify(&env_json, t, &trusted).is_err());
    }
    let _ = Envelope::parse(&env_json).expect("parses");
}

/// The controller and device keys in every encoding the protocol uses.
fn print_keys(controller: &SecretKey, device: &SecretKey) {
    section("controller key");
    let pk = controller.public();
    println!("seed (secret)        {CONTROLLER_SEED}");
    println!("public key (hex)     {}", hex(pk.as_bytes()));
    println!("public key (base64)  {}", pk.to_base64());
    println!(
        "SHA-256(public key)  {}",
        hex(&Sha256::digest(pk.as_bytes()))
    );
    println!("key_id               {}", pk.key_id());
    print!("secret key text      {}", controller.to_text());

    section("device key");
    let dk = device.public();
    println!("public key (hex)     {}", hex(dk.as_bytes()));
    println!("public key (base64)  {}", dk.to_base64());
    println!("key_id               {}", dk.key_id());
}

/// A DSSE envelope worked through byte by byte; returns the envelope's JSON.
fn print_dsse_example(controller: &SecretKey, trusted: &KeySet, device_key_id: &str) -> Vec<u8> {
    section("DSSE worked example (an ack)");
    let ack = Ack {
        screen: SCREEN.into(),
        epoch: 1,
        key_id: Some(device_key_id.to_owned()),
        upto_seq: 2,
    };
    let payload = ack.to_json();
    let pae_bytes = pae(ACK_TYPE, &payload);
    let env = sign_ack(&ack, controller);
    let sig = env.signatures[0].sig.clone();
    let env_json = env.to_json();
    println!("payloadType (text)   {ACK_TYPE}");
    println!("payloadType (hex)    {}", hex(ACK_TYPE.as_bytes()));
    println!("LEN(payloadType)     {}", ACK_TYPE.len());
    println!("payload (text)       {}", String::from_utf8_lossy(&payload));
    println!("payload (hex)        {}", hex(&payload));
    println!("LEN(payload)         {}", payload.len());
    println!(
        "PAE (text)           {}",
        String::from_utf8_lossy(&pae_bytes)
    );
    println!(
        "PAE ({} bytes, hex):\n{}",
        pae_bytes.len(),
        hex_lines(&pae_bytes)
    );
    println!("signature (hex):\n{}", hex_lines(&sig));
    println!("R = sig[0..32]       {}", hex(&sig[..32]));
    println!("S = sig[32..64] (LE) {}", hex(&sig[32..]));
    println!("envelope JSON:\n{}", String::from_utf8_lossy(&env_json));
    let own = OwnChain {
        screen: SCREEN,
        epoch: 1,
        key_id: device_key_id,
    };
    let back = verify_ack(&env_json, trusted, &own).expect("the example ack verifies");
    assert_eq!(back, ack);
    controller
        .public()
        .verify_strict(&pae_bytes, &sig)
        .expect("signature over PAE verifies");

    env_json
}

/// A signed manifest; returns two of its media (a slide and a video) for the later sections.
fn print_manifest(controller: &SecretKey, trusted: &KeySet) -> (MediaRef, MediaRef) {
    section("manifest payload");
    let slide_vi = media(
        b"slide-vi",
        "image/png",
        MediaKind::Slide,
        "vi",
        "Chào mừng",
    );
    let slide_en = media(b"slide-en", "image/png", MediaKind::Slide, "en", "Welcome");
    let slide_zh = media(
        b"slide-zh",
        "image/png",
        MediaKind::Slide,
        "zh-Hans",
        "欢迎",
    );
    let video = MediaRef {
        duration_ms: Some(42_000),
        ..media(b"video-vi", "video/mp4", MediaKind::Video, "vi", "Lào Cai")
    };
    let manifest = Manifest {
        screen: SCREEN.into(),
        version: 7,
        issued_at: ts("2026-01-05T01:00:00Z"),
        expires_at: ts("2026-02-04T01:00:00Z"),
        timezone: "Asia/Ho_Chi_Minh".into(),
        languages: vec!["vi".into(), "en".into(), "zh-Hans".into()],
        media: vec![
            slide_vi.clone(),
            slide_en.clone(),
            slide_zh.clone(),
            video.clone(),
        ],
        playlists: vec![
            Playlist {
                id: "welcome".into(),
                name: "Welcome loop".into(),
                items: vec![
                    PlaylistItem {
                        media: slide_vi.sha256.clone(),
                        duration_ms: Some(8_000),
                        variants: vec![slide_en.sha256.clone(), slide_zh.sha256.clone()],
                    },
                    PlaylistItem {
                        media: video.sha256.clone(),
                        duration_ms: None,
                        variants: vec![],
                    },
                ],
            },
            Playlist {
                id: "night".into(),
                name: "Night".into(),
                items: vec![PlaylistItem {
                    media: slide_vi.sha256.clone(),
                    duration_ms: Some(30_000),
                    variants: vec![],
                }],
            },
        ],
        schedule: vec![
            ScheduleEntry {
                id: "night".into(),
                playlist: "night".into(),
                priority: 20,
                from: None,
                until: None,
                weekdays: None,
                start: Some("22:00".into()),
                end: Some("06:00".into()),
            },
            ScheduleEntry {
                id: "tet-2026".into(),
                playlist: "welcome".into(),
                priority: 10,
                from: Some(jiff::civil::date(2026, 2, 14)),
                until: Some(jiff::civil::date(2026, 2, 22)),
                weekdays: Some(vec![Weekday::Sat, Weekday::Sun]),
                start: Some("07:00".into()),
                end: Some("21:30".into()),
            },
        ],
        fallback: "welcome".into(),
        layout: None,
    };
    let menv = manifest.sign(controller).expect("valid manifest").to_json();
    verify_manifest(&menv, trusted, SCREEN, Some(6), ts("2026-01-05T02:00:00Z"))
        .expect("the example manifest verifies");
    println!("{}", text(&manifest.to_json()));
    println!("envelope: {} bytes", menv.len());

    (slide_vi, video)
}

/// A signed alert set.
fn print_alerts(controller: &SecretKey, trusted: &KeySet, slide_vi: &MediaRef) {
    section("alert set payload");
    let alerts = AlertSet {
        screen: SCREEN.into(),
        version: 3,
        issued_at: ts("2026-01-05T03:00:00Z"),
        alerts: vec![Alert {
            id: "flood-2026-01".into(),
            priority: 100,
            expires_at: ts("2026-01-05T09:00:00Z"),
            text: vec![
                AlertText {
                    lang: "vi".into(),
                    text: "Cửa khẩu tạm dừng thông quan do lũ.".into(),
                },
                AlertText {
                    lang: "en".into(),
                    text: "Border crossing suspended due to flooding.".into(),
                },
            ],
            media: Some(slide_vi.clone()),
        }],
    };
    let aenv = alerts.sign(controller).expect("valid alerts").to_json();
    verify_alerts(&aenv, trusted, SCREEN, Some(2)).expect("the example alert set verifies");
    println!("{}", text(&alerts.to_json()));
}

/// Two chained receipts and their signed batch.
fn print_receipts(device: &SecretKey, slide_vi: &MediaRef, video: &MediaRef) {
    let dk = device.public();
    section("receipt chain");
    let r1 = Receipt {
        seq: 1,
        screen: SCREEN.into(),
        manifest_version: 7,
        playlist: "welcome".into(),
        media: slide_vi.sha256.clone(),
        lang: "vi".into(),
        started_at: ts("2026-01-05T08:00:00Z"),
        ended_at: ts("2026-01-05T08:00:08.004Z"),
        outcome: Outcome::Completed,
        backend: Backend::Mpv,
        clock_synced: true,
        prev: GENESIS_PREV.into(),
        subtitle_lang: None,
    };
    let b1 = r1.to_bytes();
    let h1 = receipt_hash(&b1);
    let r2 = Receipt {
        seq: 2,
        media: video.sha256.clone(),
        started_at: ts("2026-01-05T08:00:08.004Z"),
        ended_at: ts("2026-01-05T08:00:50.010Z"),
        prev: h1.clone(),
        ..r1.clone()
    };
    let b2 = r2.to_bytes();
    println!("receipt 1 bytes:\n{}", String::from_utf8_lossy(&b1));
    println!("SHA-256(receipt 1) = {h1}");
    println!("receipt 2 bytes:\n{}", String::from_utf8_lossy(&b2));
    println!("SHA-256(receipt 2) = {}", receipt_hash(&b2));

    section("receipts batch");
    let batch = sign_batch(SCREEN, &[b1.clone(), b2.clone()], device);
    let bjson = batch.to_json();
    let vb = verify_batch(&bjson, &dk, SCREEN, None, &|_| None).expect("batch verifies");
    assert_eq!(vb.tip.seq, 2);
    println!("payload:\n{}", String::from_utf8_lossy(&batch.payload));
    println!("envelope:\n{}", String::from_utf8_lossy(&bjson));
}

/// A Merkle tree of three leaves, its proofs and a signed checkpoint.
fn print_merkle(controller: &SecretKey, trusted: &KeySet) {
    section("Merkle tree of 3 leaves and a checkpoint");
    let data: [&[u8]; 3] = [b"a", b"b", b"c"];
    let leaves: Vec<merkle::Hash> = data.iter().map(|d| merkle::leaf_hash(d)).collect();
    for (i, (d, l)) in data.iter().zip(&leaves).enumerate() {
        println!(
            "leaf {i}: data {:?}  leaf_hash {}",
            String::from_utf8_lossy(d),
            hex(l)
        );
    }
    let n01 = merkle::node_hash(&leaves[0], &leaves[1]);
    println!("node(0,1)            {}", hex(&n01));
    let root = merkle::root(&leaves);
    println!("root (size 3)        {}", hex(&root));
    let proof = merkle::inclusion_proof(&leaves, 2);
    println!(
        "inclusion proof of leaf 2: [{}]",
        proof.iter().map(|h| hex(h)).collect::<Vec<_>>().join(", ")
    );
    assert!(merkle::verify_inclusion(&leaves[2], 2, 3, &proof, &root));
    let cproof = merkle::consistency_proof(&leaves, 2);
    println!(
        "consistency proof 2 -> 3: [{}]",
        cproof.iter().map(|h| hex(h)).collect::<Vec<_>>().join(", ")
    );
    assert!(merkle::verify_consistency(2, 3, &n01, &root, &cproof));
    println!("empty root           {}", hex(&merkle::empty_root()));
    let cp = Checkpoint::for_leaves("gatecast-controller 21fe31dfa154a261", &leaves);
    let cpenv = cp.sign(controller).to_json();
    merkle::verify_checkpoint(&cpenv, trusted).expect("checkpoint verifies");
    println!(
        "checkpoint payload: {}",
        String::from_utf8_lossy(&cp.to_json())
    );
}
