//! The published test vectors in `docs/test-vectors/` must match what the generator produces
//! today (byte for byte), and the library must give every case its stated verdict.
//!
//! Regenerate with `cargo run -p playlists --example gen-test-vectors`.

#[path = "../../examples/gen-test-vectors/vectors.rs"]
#[allow(dead_code)]
mod generator;

use std::collections::BTreeMap;
use std::path::PathBuf;

use playlists::envelope::{self, EnvelopeError};
use playlists::keys::{KeyError, KeySet, PublicKey};
use playlists::merkle::{self, hash_from_hex, verify_consistency, verify_inclusion};
use playlists::receipt::{verify_batch, BatchError, ChainTip};
use serde_json::Value;

fn dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../docs/test-vectors")
}

fn load(name: &str) -> Value {
    let text = std::fs::read_to_string(dir().join(name)).expect("vector file exists");
    serde_json::from_str(&text).expect("vector file is JSON")
}

#[test]
fn committed_vectors_match_the_generator_byte_for_byte() {
    for (name, want) in generator::generate() {
        let path = dir().join(name);
        let have = std::fs::read_to_string(&path)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
        assert!(
            have == want,
            "{} differs from the generator output; run `cargo run -p playlists --example gen-test-vectors` and commit the result",
            path.display()
        );
    }
}

#[test]
fn generator_is_deterministic() {
    assert_eq!(generator::generate(), generator::generate());
}

#[test]
fn every_envelope_case_gets_its_stated_verdict() {
    let cases = load("envelopes.json");
    let cases = cases.as_array().expect("array");
    let required = [
        "valid-manifest",
        "valid-receipts-batch",
        "payload-type-other-than-expected",
        "flipped-payload-byte",
        "flipped-signature-byte",
        "signature-by-another-key",
        "truncated-signature",
        "small-order-public-key",
        "non-canonical-s",
    ];
    let names: Vec<&str> = cases.iter().map(|c| c["name"].as_str().unwrap()).collect();
    for r in required {
        assert!(names.contains(&r), "missing case {r}");
    }
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let valid = c["valid"].as_bool().unwrap();
        assert_eq!(
            valid,
            c.get("reason").is_none(),
            "{name}: reason iff invalid"
        );
        let bytes = serde_json::to_vec(&c["envelope"]).unwrap();
        let expected_type = c["expected_type"].as_str().unwrap();
        let result = match PublicKey::from_base64(c["public_key"].as_str().unwrap()) {
            Ok(pk) => envelope::verify(&bytes, expected_type, &KeySet::from_keys([pk]))
                .map(|_| ())
                .map_err(|e| e.to_string()),
            Err(e) => {
                assert_eq!(name, "small-order-public-key", "unexpected key error {e}");
                assert_eq!(e, KeyError::WeakKey);
                Err(e.to_string())
            }
        };
        assert_eq!(result.is_ok(), valid, "{name}: {result:?}");
    }
    // Spot-check the specific rejection reasons.
    let by_name: BTreeMap<&str, &Value> = cases
        .iter()
        .map(|c| (c["name"].as_str().unwrap(), c))
        .collect();
    let run = |n: &str| {
        let c = by_name[n];
        let pk = PublicKey::from_base64(c["public_key"].as_str().unwrap()).unwrap();
        envelope::verify(
            &serde_json::to_vec(&c["envelope"]).unwrap(),
            c["expected_type"].as_str().unwrap(),
            &KeySet::from_keys([pk]),
        )
    };
    assert!(matches!(
        run("truncated-signature"),
        Err(EnvelopeError::BadSignatureLength { len: 63 })
    ));
    assert!(matches!(
        run("payload-type-other-than-expected"),
        Err(EnvelopeError::WrongType { .. })
    ));
    assert!(matches!(
        run("non-canonical-s"),
        Err(EnvelopeError::BadSignature { .. })
    ));
}

#[test]
fn merkle_vectors_hold() {
    let m = load("merkle.json");
    assert_eq!(
        m["empty_root"],
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    );
    // Roots of the certificate-transparency reference trees (checked independently with
    // Python hashlib).
    let ct_roots = [
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ];
    let h = |v: &Value| hash_from_hex(v.as_str().unwrap()).unwrap();
    let hs = |v: &Value| v.as_array().unwrap().iter().map(h).collect::<Vec<_>>();
    let trees = m["trees"].as_array().unwrap();
    let sizes: Vec<u64> = trees.iter().map(|t| t["size"].as_u64().unwrap()).collect();
    assert_eq!(sizes, vec![1, 2, 3, 4, 5, 6, 7, 8, 13]);
    for t in trees {
        let n = t["size"].as_u64().unwrap();
        let root = h(&t["root"]);
        if n <= 8 {
            assert_eq!(t["root"], ct_roots[n as usize - 1], "size {n}");
        }
        for inc in t["inclusion"].as_array().unwrap() {
            let i = inc["index"].as_u64().unwrap();
            assert!(verify_inclusion(
                &h(&inc["leaf_hash"]),
                i,
                n,
                &hs(&inc["proof"]),
                &root
            ));
        }
        for con in t["consistency"].as_array().unwrap() {
            let old = con["old_size"].as_u64().unwrap();
            assert!(verify_consistency(
                old,
                n,
                &h(&con["old_root"]),
                &root,
                &hs(&con["proof"])
            ));
        }
    }
    assert_eq!(
        hs(&m["leaf_hashes"]),
        m["leaves"]
            .as_array()
            .unwrap()
            .iter()
            .map(|d| {
                let b = playlists::hex::decode(d.as_str().unwrap()).unwrap();
                merkle::leaf_hash(&b)
            })
            .collect::<Vec<_>>()
    );
}

#[test]
fn every_receipt_case_gets_its_stated_verdict() {
    let r = load("receipts.json");
    let screen = r["screen"].as_str().unwrap();
    let device = PublicKey::from_base64(r["device_public_key"].as_str().unwrap()).unwrap();
    for (i, link) in r["chain"].as_array().unwrap().iter().enumerate() {
        let text = link["text"].as_str().unwrap();
        let want_prev = if i == 0 {
            r["genesis_prev"].clone()
        } else {
            r["chain"][i - 1]["hash"].clone()
        };
        let parsed = playlists::receipt::Receipt::parse(text.as_bytes()).unwrap();
        assert_eq!(Value::from(parsed.prev), want_prev);
        assert_eq!(
            link["hash"].as_str().unwrap(),
            playlists::receipt::receipt_hash(text.as_bytes())
        );
    }
    let cases = r["cases"].as_array().unwrap();
    assert!(cases.len() >= 8);
    for c in cases {
        let name = c["name"].as_str().unwrap();
        let stored: BTreeMap<u64, String> = c["stored"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                (
                    s["seq"].as_u64().unwrap(),
                    s["hash"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let tip = stored.last_key_value().map(|(s, h)| ChainTip {
            seq: *s,
            hash: h.clone(),
        });
        let bytes = serde_json::to_vec(&c["envelope"]).unwrap();
        let got = verify_batch(&bytes, &device, screen, tip.as_ref(), &|s| {
            stored.get(&s).cloned()
        });
        let exp = &c["expected"];
        match (got, exp["ok"].as_bool() == Some(true)) {
            (Ok(v), true) => {
                let new: Vec<u64> = v.new.iter().map(|&i| v.receipts[i].0.seq).collect();
                let want: Vec<u64> = exp["new_seqs"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|x| x.as_u64().unwrap())
                    .collect();
                assert_eq!(new, want, "{name}");
                assert_eq!(v.tip.seq, exp["tip_seq"].as_u64().unwrap(), "{name}");
                if let Some(epoch) = exp["epoch"].as_u64() {
                    assert_eq!(v.epoch, epoch, "{name}");
                }
            }
            (Err(e), false) => {
                assert_eq!(e.as_str(), exp["error"].as_str().unwrap(), "{name}: {e}");
                match e {
                    BatchError::SeqGap { expected, found } => {
                        assert_eq!(Some(expected), exp["expected_seq"].as_u64(), "{name}");
                        assert_eq!(Some(found), exp["found_seq"].as_u64(), "{name}");
                    }
                    BatchError::PrevMismatch { seq } | BatchError::DuplicateConflict { seq } => {
                        assert_eq!(Some(seq), exp["seq"].as_u64(), "{name}");
                    }
                    BatchError::WrongScreen { found, .. } => {
                        assert_eq!(Some(found.as_str()), exp["found"].as_str(), "{name}");
                    }
                    _ => {}
                }
            }
            (got, _) => panic!("{name}: expected {exp}, got {got:?}"),
        }
    }
}

/// Whether `program` is installed, else the one `SKIPPED:` line (or failure under
/// `GATECAST_REQUIRE_EXTERNAL=1`) of `gatecast_testkit::require_program`.
fn external_program(program: &str, package: &str, test: &str) -> bool {
    gatecast_testkit::require_program(test, program, package)
}

#[test]
fn independent_python_checker_agrees_with_every_envelope_verdict() {
    if !external_program("python3", "python3", "independent_python_checker_agrees") {
        return;
    }
    let out = std::process::Command::new("python3")
        .arg(dir().join("check_envelopes.py"))
        .arg(dir().join("envelopes.json"))
        .output()
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "check_envelopes.py disagrees:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains(", 0 disagreements"), "{stdout}");
}

#[test]
fn the_screenshot_vector_signs_its_image_and_its_command_is_taken_once() {
    use playlists::screenshot::{verify_record, RequestGuard, ScreenshotError};
    let cases = load("envelopes.json");
    let case = |name: &str| {
        let c = cases
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["name"] == name)
            .unwrap_or_else(|| panic!("missing case {name}"));
        let pk = PublicKey::from_base64(c["public_key"].as_str().unwrap()).unwrap();
        (serde_json::to_vec(&c["envelope"]).unwrap(), pk)
    };
    let (bytes, device) = case("valid-screenshot");
    let now = "2025-11-26T08:05:10Z".parse().unwrap();
    let rec = verify_record(
        &bytes,
        &device,
        "lao-cai-1",
        generator::SCREENSHOT_IMAGE,
        now,
    )
    .expect("the published record verifies with its image");
    assert_eq!(rec, generator::screenshot_record());
    let (bytes, controller) = case("valid-screenshot-request");
    let keys = KeySet::from_keys([controller]);
    let mut guard = RequestGuard::new();
    let cmd = guard.accept(&bytes, &keys, "lao-cai-1", now).unwrap();
    assert_eq!(cmd, generator::screenshot_request());
    assert!(matches!(
        guard.accept(&bytes, &keys, "lao-cai-1", now),
        Err(ScreenshotError::Replayed { .. })
    ));
}

#[test]
fn every_approval_case_gets_its_stated_verdict() {
    use playlists::approval::{check_alerts, check_manifest};
    use playlists::manifest::{
        Alert, AlertSet, AlertText, Manifest, MediaRef, Playlist, PlaylistItem,
    };
    use playlists::policy::{verify_chain, Policy};
    let v = load("approvals.json");
    let text = |name: &str| serde_json::to_string(&v["policies"][name]).unwrap();
    let pinned: Vec<String> = serde_json::from_value(v["pinned_roots"].clone()).unwrap();
    let now: jiff::Timestamp = v["now"].as_str().unwrap().parse().unwrap();
    let payload = |name: &str| {
        let env = envelope::Envelope::parse(text(name).as_bytes()).unwrap();
        Policy::from_json(&env.payload).unwrap()
    };
    for case in v["policy_cases"].as_array().unwrap() {
        let chain: Vec<String> = case["chain"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| text(n.as_str().unwrap()))
            .collect();
        let held = case["held"].as_str().map(payload);
        let got = verify_chain(&chain, &pinned, held.as_ref(), now);
        let version = got
            .as_ref()
            .ok()
            .and_then(|o| o.as_ref())
            .map(|(p, _)| p.version);
        assert_eq!(
            version,
            case["version"].as_u64(),
            "{}: {got:?}",
            case["name"]
        );
    }
    let media: MediaRef = serde_json::from_value(v["media"].clone()).unwrap();
    let m = Manifest {
        screen: "lao-cai-1".into(),
        version: 1,
        issued_at: now,
        expires_at: now + jiff::SignedDuration::from_hours(1),
        timezone: "Asia/Ho_Chi_Minh".into(),
        languages: vec![],
        media: vec![media.clone()],
        playlists: vec![Playlist {
            id: "p".into(),
            name: String::new(),
            items: vec![PlaylistItem {
                media: media.sha256.clone(),
                duration_ms: None,
                variants: vec![],
            }],
        }],
        schedule: vec![],
        fallback: "p".into(),
        layout: None,
    };
    let alert_text: AlertText = serde_json::from_value(v["alert_text"].clone()).unwrap();
    let set = AlertSet {
        screen: "lao-cai-1".into(),
        version: 1,
        issued_at: now,
        alerts: vec![Alert {
            id: "a".into(),
            priority: 1,
            expires_at: now + jiff::SignedDuration::from_hours(1),
            text: vec![alert_text],
            media: None,
        }],
    };
    let gate = v["gate"].as_str().unwrap();
    for case in v["coverage_cases"].as_array().unwrap() {
        let policy = payload(case["policy"].as_str().unwrap());
        let approvals: Vec<String> = case["approvals"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| serde_json::to_string(e).unwrap())
            .collect();
        let ok = match case["kind"].as_str().unwrap() {
            "media" => check_manifest(&m, &approvals, &policy, gate, now).is_ok(),
            _ => check_alerts(&set, &approvals, &policy, gate, now).is_ok(),
        };
        assert_eq!(ok, case["valid"].as_bool().unwrap(), "{}", case["name"]);
    }
}
