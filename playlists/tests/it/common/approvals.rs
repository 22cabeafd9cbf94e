//! Fixtures for the approval tests: root and approver keys, policies, approvals.
#![allow(dead_code)]

use jiff::Timestamp;
use playlists::approval::{Approval, ApprovedMedia, ApprovedText, Attachments, Scope};
use playlists::keys::SecretKey;
use playlists::manifest::{AlertSet, Manifest};
use playlists::policy::{sign_policy, Approver, Policy, RootKey};

use super::fixtures::{controller_key, manifest, ts};

/// Root key `n` (fixed seed 30 + n).
pub fn root(n: u8) -> SecretKey {
    SecretKey::from_seed([30 + n; 32])
}

/// Approver key `n` (fixed seed 40 + n).
pub fn approver(n: u8) -> SecretKey {
    SecretKey::from_seed([40 + n; 32])
}

/// A policy of `version` with root keys `roots` (threshold `root_threshold`), approvers
/// `approvers`, media threshold 2 and alert threshold 1, valid 2025-01-01 .. 2027-01-01.
pub fn policy(version: u64, roots: &[u8], root_threshold: u32, approvers: &[u8]) -> Policy {
    Policy {
        version,
        issued_at: ts("2025-01-01T00:00:00Z"),
        expires_at: ts("2027-01-01T00:00:00Z"),
        root_keys: roots
            .iter()
            .map(|n| RootKey {
                key_id: root(*n).key_id(),
                public_key: root(*n).public().to_base64(),
            })
            .collect(),
        root_threshold,
        approvers: approvers
            .iter()
            .map(|n| Approver {
                key_id: approver(*n).key_id(),
                public_key: approver(*n).public().to_base64(),
                name: format!("Người duyệt {n}"),
                roles: vec!["media".into()],
            })
            .collect(),
        media_threshold: 2,
        alert_threshold: 1,
    }
}

/// `p` signed by each of `roots`, as envelope text.
pub fn signed_policy(p: &Policy, roots: &[u8]) -> String {
    let mut env = sign_policy(p, &root(roots[0]));
    for n in &roots[1..] {
        playlists::policy::add_signature(&mut env, &root(*n));
    }
    String::from_utf8(env.to_json()).unwrap()
}

/// The ids of root keys `roots`.
pub fn pinned(roots: &[u8]) -> Vec<String> {
    roots.iter().map(|n| root(*n).key_id()).collect()
}

/// An approval of every media item of `m`, everywhere, valid 2025-01-01 .. 2026-06-01.
pub fn approval_of(m: &Manifest) -> Approval {
    Approval {
        media: m.media.iter().map(ApprovedMedia::of).collect(),
        texts: Vec::new(),
        not_before: ts("2025-01-01T00:00:00Z"),
        not_after: ts("2026-06-01T00:00:00Z"),
        scope: Scope::everywhere(),
        note: None,
    }
}

/// An approval of every text and alert media item of `set`.
pub fn approval_of_alerts(set: &AlertSet) -> Approval {
    let mut a = approval_of(&manifest());
    a.media = set
        .alerts
        .iter()
        .filter_map(|x| x.media.as_ref().map(ApprovedMedia::of))
        .collect();
    a.texts = set
        .alerts
        .iter()
        .flat_map(|x| x.text.iter().map(|t| ApprovedText::of(&t.lang, &t.text)))
        .collect();
    a
}

/// `a` signed by approver `n`, as envelope text.
pub fn signed(a: &Approval, n: u8) -> String {
    String::from_utf8(a.sign(&approver(n)).to_json()).unwrap()
}

/// The manifest payload with `att` attached, signed by the controller key (envelope bytes).
pub fn manifest_with(m: &Manifest, att: &Attachments) -> Vec<u8> {
    let payload = att.attach(m.to_json());
    playlists::envelope::Envelope::sign(
        playlists::envelope::MANIFEST_TYPE,
        payload,
        &controller_key(),
    )
    .to_json()
}

/// A moment inside every fixture window.
pub fn now() -> Timestamp {
    ts("2025-06-01T00:00:00Z")
}
