//! `approvals.json`: policy and approval envelopes (`docs/protocol.md` §19), policy chains and
//! coverage cases with their verdicts declared from how each case is built.

use jiff::Timestamp;
use playlists::approval::{Approval, ApprovedMedia, ApprovedText, Scope};
use playlists::envelope::Envelope;
use playlists::keys::SecretKey;
use playlists::manifest::{MediaKind, MediaRef};
use playlists::policy::{add_signature, sign_policy, Approver, Policy, RootKey};
use serde_json::{json, Value};

/// Root key seeds.
const ROOT_SEEDS: [[u8; 32]; 2] = [[0x55; 32], [0x56; 32]];
/// Approver seeds: An, Bình, Cường; then a stranger not in any policy.
const APPROVER_SEEDS: [[u8; 32]; 4] = [[0x61; 32], [0x62; 32], [0x63; 32], [0x6f; 32]];
const NAMES: [&str; 3] = ["Nguyễn Văn An", "Trần Thị Bình", "Lê Văn Cường"];

fn ts(s: &str) -> Timestamp {
    s.parse().expect("fixed timestamp")
}

fn root(i: usize) -> SecretKey {
    SecretKey::from_seed(ROOT_SEEDS[i])
}

fn approver(i: usize) -> SecretKey {
    SecretKey::from_seed(APPROVER_SEEDS[i])
}

fn env_value(e: &Envelope) -> Value {
    serde_json::from_slice(&e.to_json()).expect("envelope JSON parses")
}

fn policy(version: u64, roots: &[usize], threshold: u32, approvers: &[usize]) -> Policy {
    Policy {
        version,
        issued_at: ts("2026-01-01T00:00:00Z"),
        expires_at: ts("2027-01-01T00:00:00Z"),
        root_keys: roots
            .iter()
            .map(|i| RootKey {
                key_id: root(*i).key_id(),
                public_key: root(*i).public().to_base64(),
            })
            .collect(),
        root_threshold: threshold,
        approvers: approvers
            .iter()
            .map(|i| Approver {
                key_id: approver(*i).key_id(),
                public_key: approver(*i).public().to_base64(),
                name: NAMES[*i].into(),
                roles: vec!["media".into()],
            })
            .collect(),
        media_threshold: 2,
        alert_threshold: 1,
    }
}

fn media() -> MediaRef {
    MediaRef {
        sha256: "4857ed14d1683eb6a6a6376f99bf077320aca04d803cff239a2e2914481205ae".into(),
        bytes: 8,
        mime: "image/png".into(),
        kind: MediaKind::Slide,
        lang: "vi".into(),
        title: "Chào mừng".into(),
        duration_ms: Some(10000),
        subtitles: Vec::new(),
    }
}

const TEXT: &str = "Cửa khẩu tạm dừng thông quan do lũ.";

fn approval(media: Vec<ApprovedMedia>, texts: Vec<ApprovedText>) -> Approval {
    Approval {
        media,
        texts,
        not_before: ts("2026-01-01T00:00:00Z"),
        not_after: ts("2026-04-01T00:00:00Z"),
        scope: Scope::everywhere(),
        note: Some("Đã xem, đồng ý.".into()),
    }
}

fn of_media() -> Approval {
    approval(vec![ApprovedMedia::of(&media())], vec![])
}

fn signed(a: &Approval, i: usize) -> Value {
    env_value(&a.sign(&approver(i)))
}

fn coverage(name: &str, policy: &str, kind: &str, approvals: Vec<Value>, valid: bool) -> Value {
    json!({"name": name, "policy": policy, "kind": kind, "approvals": approvals, "valid": valid})
}

/// The `approvals.json` document.
pub fn approvals() -> Value {
    let v1 = policy(1, &[0], 1, &[0, 1, 2]);
    let v2 = policy(2, &[0], 1, &[0, 2]);
    let controller = SecretKey::from_seed(super::CONTROLLER_SEED);
    let mut twice_listed = policy(1, &[0, 0], 2, &[0, 1, 2]);
    twice_listed.root_threshold = 2;
    let mut dup_sig = sign_policy(&policy(1, &[0, 1], 2, &[0, 1, 2]), &root(0));
    let again = dup_sig.signatures[0].clone();
    dup_sig.signatures.push(again);
    let mut both = sign_policy(&policy(1, &[0, 1], 2, &[0, 1, 2]), &root(0));
    add_signature(&mut both, &root(1));
    let mut expired = policy(1, &[0], 1, &[0, 1, 2]);
    expired.expires_at = ts("2026-01-02T00:00:00Z");
    let policies = json!({
        "v1": env_value(&sign_policy(&v1, &root(0))),
        "v2": env_value(&sign_policy(&v2, &root(0))),
        "v2-signed-by-controller-key": env_value(&sign_policy(&v2, &controller)),
        "v1-root-key-listed-twice": env_value(&sign_policy(&twice_listed, &root(0))),
        "v1-threshold-2-signed-twice-by-one-key": env_value(&dup_sig),
        "v1-threshold-2-signed-by-both": env_value(&both),
        "v1-expired": env_value(&sign_policy(&expired, &root(0))),
    });
    let chain = |name: &str, chain: &[&str], held: Option<&str>, version: Option<u64>| json!({"name": name, "chain": chain, "held": held, "valid": version.is_some(), "version": version});
    let policy_cases = json!([
        chain("first-policy-from-pinned-roots", &["v1"], None, Some(1)),
        chain("chain-v1-v2", &["v1", "v2"], None, Some(2)),
        chain("rotation-from-held-v1", &["v1", "v2"], Some("v1"), Some(2)),
        chain(
            "rotation-signed-by-controller-key",
            &["v1", "v2-signed-by-controller-key"],
            None,
            None
        ),
        chain("replayed-older-policy", &["v1"], Some("v2"), None),
        chain(
            "root-key-listed-twice",
            &["v1-root-key-listed-twice"],
            None,
            None
        ),
        chain(
            "threshold-2-one-key-signing-twice",
            &["v1-threshold-2-signed-twice-by-one-key"],
            None,
            None
        ),
        chain(
            "threshold-2-both-keys",
            &["v1-threshold-2-signed-by-both"],
            None,
            Some(1)
        ),
        chain("expired-policy", &["v1-expired"], None, None),
    ]);
    let good = of_media();
    let mut late = of_media();
    late.not_after = ts("2026-01-05T00:00:00Z");
    let mut other_gate = of_media();
    other_gate.scope = Scope {
        all: false,
        gates: vec!["mong-cai".into()],
    };
    let mut retitled = of_media();
    retitled.media[0].title = "Chao mung".into();
    let text_ok = approval(vec![], vec![ApprovedText::of("vi", TEXT)]);
    let text_other = approval(vec![], vec![ApprovedText::of("vi", &format!("{TEXT} "))]);
    let by_controller = env_value(&good.sign(&controller));
    let coverage_cases = json!([
        coverage(
            "two-distinct-approvers",
            "v1",
            "media",
            vec![signed(&good, 0), signed(&good, 1)],
            true
        ),
        coverage(
            "one-approver-twice",
            "v1",
            "media",
            vec![signed(&good, 0), signed(&good, 0)],
            false
        ),
        coverage(
            "approver-not-in-policy",
            "v1",
            "media",
            vec![signed(&good, 0), signed(&good, 3)],
            false
        ),
        coverage(
            "controller-key-as-approver",
            "v1",
            "media",
            vec![signed(&good, 0), by_controller],
            false
        ),
        coverage(
            "expired-approval",
            "v1",
            "media",
            vec![signed(&good, 0), signed(&late, 1)],
            false
        ),
        coverage(
            "approval-for-another-gate",
            "v1",
            "media",
            vec![signed(&good, 0), signed(&other_gate, 1)],
            false
        ),
        coverage(
            "approval-of-another-title",
            "v1",
            "media",
            vec![signed(&good, 0), signed(&retitled, 1)],
            false
        ),
        coverage(
            "revoked-approver-after-rotation",
            "v2",
            "media",
            vec![signed(&good, 0), signed(&good, 1)],
            false
        ),
        coverage(
            "remaining-approvers-after-rotation",
            "v2",
            "media",
            vec![signed(&good, 0), signed(&good, 2)],
            true
        ),
        coverage(
            "alert-text-one-approval",
            "v1",
            "alert",
            vec![signed(&text_ok, 2)],
            true
        ),
        coverage(
            "alert-text-not-the-approved-bytes",
            "v1",
            "alert",
            vec![signed(&text_other, 2)],
            false
        ),
        coverage("alert-text-unsigned", "v1", "alert", vec![], false),
    ]);
    json!({
        "pinned_roots": [root(0).key_id(), root(1).key_id()],
        "gate": "lao-cai",
        "now": "2026-01-05T08:00:00Z",
        "media": media(),
        "alert_text": {"lang": "vi", "text": TEXT},
        "policies": policies,
        "policy_cases": policy_cases,
        "coverage_cases": coverage_cases,
    })
}
