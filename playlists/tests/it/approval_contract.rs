//! The approval contract (`docs/protocol.md` §19): policy verification and chains, approval
//! coverage of manifests and alert sets, and the attacks of `docs/security.md` §3 rows 70–.

use playlists::approval::{check_manifest, Attachments, Enforcement, Scope};
use playlists::manifest::{verify_manifest, Alert, AlertSet, AlertText, RejectReason};
use playlists::policy::{verify_chain, verify_policy, Anchor, PolicyError};
use proptest::prelude::*;

use crate::common::approvals::*;
use crate::common::fixtures::{controller_key, manifest, trusted, ts};

fn chain(texts: &[String]) -> Vec<String> {
    texts.to_vec()
}

fn enforce(pinned_ids: &[String], att: &Attachments) -> Result<(), RejectReason> {
    let m = manifest();
    let bytes = manifest_with(&m, att);
    let got = verify_manifest(&bytes, &trusted(), "lc-a1", None, now()).unwrap();
    let payload = playlists::envelope::Envelope::parse(&bytes)
        .unwrap()
        .payload;
    let e = Enforcement {
        pinned: pinned_ids,
        held: None,
        gate: "lao-cai",
    };
    e.manifest(&payload, &got, now()).map(|_| ()).map_err(|r| {
        assert!(!r.detail.is_empty());
        r.reason
    })
}

#[test]
fn two_distinct_approvals_cover_a_manifest() {
    let p = policy(1, &[1], 1, &[1, 2, 3]);
    let a = approval_of(&manifest());
    let att = Attachments {
        policy: vec![signed_policy(&p, &[1])],
        approvals: vec![signed(&a, 1), signed(&a, 2)],
    };
    assert_eq!(enforce(&pinned(&[1]), &att), Ok(()));
    let cov = check_manifest(&manifest(), &att.approvals, &p, "lao-cai", now()).unwrap();
    assert_eq!(cov.len(), manifest().media.len());
    assert!(cov.iter().all(|c| c.approvers.len() == 2));
}

#[test]
fn attack_approval_one_approver_where_two_needed() {
    let p = policy(1, &[1], 1, &[1, 2]);
    let a = approval_of(&manifest());
    // The same approver twice, and the same envelope twice: still one distinct key.
    let one = signed(&a, 1);
    let att = Attachments {
        policy: vec![signed_policy(&p, &[1])],
        approvals: vec![one.clone(), one, signed(&a, 1)],
    };
    assert_eq!(enforce(&pinned(&[1]), &att), Err(RejectReason::NotApproved));
    let e = check_manifest(&manifest(), &att.approvals, &p, "lao-cai", now()).unwrap_err();
    assert_eq!((e.have, e.needed), (1, 2));
    assert!(e.to_string().contains("media 0000"), "{e}");
}

#[test]
fn attack_approval_by_key_not_in_policy() {
    let p = policy(1, &[1], 1, &[1, 2]);
    let a = approval_of(&manifest());
    let att = Attachments {
        policy: vec![signed_policy(&p, &[1])],
        approvals: vec![signed(&a, 1), signed(&a, 9)],
    };
    assert_eq!(enforce(&pinned(&[1]), &att), Err(RejectReason::NotApproved));
    // Signed by the controller key: no approver either.
    let by_controller = String::from_utf8(a.sign(&controller_key()).to_json()).unwrap();
    let e =
        check_manifest(&manifest(), &[signed(&a, 1), by_controller], &p, "g", now()).unwrap_err();
    assert!(e.to_string().contains("not signed by an approver"), "{e}");
}

#[test]
fn attack_approval_expired_or_other_gate_or_altered() {
    let p = policy(1, &[1], 1, &[1, 2]);
    let m = manifest();
    let ok = approval_of(&m);
    let mut expired = ok.clone();
    expired.not_after = ts("2025-05-01T00:00:00Z");
    let mut early = ok.clone();
    early.not_before = ts("2025-07-01T00:00:00Z");
    let mut other_gate = ok.clone();
    other_gate.scope = Scope {
        all: false,
        gates: vec!["mong-cai".into()],
    };
    let mut retitled = ok.clone();
    retitled.media[0].title = "another title".into();
    for bad in [expired, early, other_gate, retitled] {
        let att = [signed(&ok, 1), signed(&bad, 2)];
        assert!(check_manifest(&m, &att, &p, "lao-cai", now()).is_err());
    }
    let mut own_gate = ok.clone();
    own_gate.scope = Scope {
        all: false,
        gates: vec!["lao-cai".into()],
    };
    assert!(check_manifest(
        &m,
        &[signed(&ok, 1), signed(&own_gate, 2)],
        &p,
        "lao-cai",
        now()
    )
    .is_ok());
}

#[test]
fn attack_approval_alert_text_unsigned() {
    let p = policy(1, &[1], 1, &[1, 2]);
    let set = AlertSet {
        screen: "lc-a1".into(),
        version: 1,
        issued_at: ts("2025-06-01T00:00:00Z"),
        alerts: vec![Alert {
            id: "flood".into(),
            priority: 1,
            expires_at: ts("2025-06-02T00:00:00Z"),
            text: vec![AlertText {
                lang: "vi".into(),
                text: "Cửa khẩu tạm dừng thông quan do lũ.".into(),
            }],
            media: None,
        }],
    };
    let a = approval_of_alerts(&set);
    let policy_text = signed_policy(&p, &[1]);
    let e = Enforcement {
        pinned: &pinned(&[1]),
        held: None,
        gate: "lao-cai",
    };
    let payload = |approvals: Vec<String>| {
        Attachments {
            policy: vec![policy_text.clone()],
            approvals,
        }
        .attach(set.to_json())
    };
    // One approval is enough for alerts (alert_threshold 1) ...
    assert!(e.alerts(&payload(vec![signed(&a, 2)]), &set, now()).is_ok());
    // ... but none, or one of a text differing by one byte, is not.
    let r = e.alerts(&payload(vec![]), &set, now()).unwrap_err();
    assert_eq!(r.reason, RejectReason::NotApproved);
    assert!(r.detail.contains("alert flood text[vi]"), "{}", r.detail);
    let mut changed = set.clone();
    changed.alerts[0].text[0].text.push('!');
    assert!(e
        .alerts(&payload(vec![signed(&a, 2)]), &changed, now())
        .is_err());
}

#[test]
fn attack_policy_signed_by_controller_key() {
    let p = policy(1, &[1], 1, &[1, 2]);
    let forged =
        String::from_utf8(playlists::policy::sign_policy(&p, &controller_key()).to_json()).unwrap();
    let e = verify_policy(
        forged.as_bytes(),
        Anchor::Pinned(&pinned(&[1])),
        now(),
        true,
    )
    .unwrap_err();
    assert!(matches!(e, PolicyError::Threshold { found: 0, .. }), "{e}");
    // A policy listing the controller key as its own root is not pinned either.
    let mut own = p.clone();
    own.root_keys[0].key_id = controller_key().key_id();
    own.root_keys[0].public_key = controller_key().public().to_base64();
    let own = String::from_utf8(playlists::policy::sign_policy(&own, &controller_key()).to_json())
        .unwrap();
    assert!(verify_policy(own.as_bytes(), Anchor::Pinned(&pinned(&[1])), now(), true).is_err());
    let a = approval_of(&manifest());
    let att = Attachments {
        policy: vec![own],
        approvals: vec![signed(&a, 1), signed(&a, 2)],
    };
    assert_eq!(enforce(&pinned(&[1]), &att), Err(RejectReason::NotApproved));
}

#[test]
fn attack_policy_key_listed_twice_or_signing_twice() {
    // Threshold 2 of roots 1 and 2: root 1 signing twice is one key, not two.
    let p = policy(1, &[1, 2], 2, &[1, 2]);
    let mut env = playlists::policy::sign_policy(&p, &root(1));
    let again = env.signatures[0].clone();
    env.signatures.push(again);
    let e = verify_policy(
        &env.to_json(),
        Anchor::Pinned(&pinned(&[1, 2])),
        now(),
        true,
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            PolicyError::Threshold {
                found: 1,
                needed: 2,
                ..
            }
        ),
        "{e}"
    );
    // A root key listed twice is refused outright (it would double count otherwise).
    let mut twice = policy(1, &[1, 1], 2, &[1, 2]);
    twice.root_threshold = 2;
    let text = signed_policy(&twice, &[1]);
    let e = verify_policy(text.as_bytes(), Anchor::Pinned(&pinned(&[1])), now(), true).unwrap_err();
    assert!(e.to_string().contains("listed twice"), "{e}");
    // An approver listed twice likewise.
    let dup = policy(1, &[1], 1, &[1, 1]);
    assert!(dup.validate().is_err());
    assert_eq!(
        verify_policy(
            signed_policy(&p, &[1, 2]).as_bytes(),
            Anchor::Pinned(&pinned(&[1, 2])),
            now(),
            true
        )
        .unwrap(),
        p
    );
}

#[test]
fn attack_policy_replayed_older() {
    let v1 = policy(1, &[1], 1, &[1, 2]);
    let v2 = policy(2, &[1], 1, &[1, 3]);
    let (t1, t2) = (signed_policy(&v1, &[1]), signed_policy(&v2, &[1]));
    let e = verify_policy(t1.as_bytes(), Anchor::Held(&v2), now(), true).unwrap_err();
    assert!(matches!(
        e,
        PolicyError::NotNewer {
            version: 1,
            held: 2
        }
    ));
    // A chain ending in an older version than the held one is refused …
    assert!(verify_chain(std::slice::from_ref(&t1), &pinned(&[1]), Some(&v2), now()).is_err());
    // … the same version is nothing new, and a full chain from v1 reaches v2.
    assert_eq!(
        verify_chain(
            &chain(&[t1.clone(), t2.clone()]),
            &pinned(&[1]),
            Some(&v2),
            now()
        )
        .unwrap(),
        None
    );
    let (p, _) = verify_chain(&chain(&[t1, t2]), &pinned(&[1]), None, now())
        .unwrap()
        .unwrap();
    assert_eq!(p, v2);
}

#[test]
fn rotation_needs_the_previous_root_threshold_and_drops_removed_approvers() {
    // v1: roots 1,2 (threshold 2); v2 signed by both rotates to root 3 and drops approver 2.
    let v1 = policy(1, &[1, 2], 2, &[1, 2, 3]);
    let mut v2 = policy(2, &[3], 1, &[1, 3]);
    v2.media_threshold = 2;
    let t1 = signed_policy(&v1, &[1, 2]);
    let only_one = signed_policy(&v2, &[1]);
    assert!(verify_chain(
        &chain(&[t1.clone(), only_one]),
        &pinned(&[1, 2]),
        None,
        now()
    )
    .is_err());
    // Signed by the new root only: not the previous threshold.
    let by_new = signed_policy(&v2, &[3]);
    assert!(verify_chain(&chain(&[t1.clone(), by_new]), &pinned(&[1, 2]), None, now()).is_err());
    let t2 = signed_policy(&v2, &[1, 2]);
    let (p, _) = verify_chain(
        &chain(&[t1.clone(), t2.clone()]),
        &pinned(&[1, 2]),
        None,
        now(),
    )
    .unwrap()
    .unwrap();
    assert_eq!(p.version, 2);
    let a = approval_of(&manifest());
    assert!(check_manifest(
        &manifest(),
        &[signed(&a, 1), signed(&a, 2)],
        &v1,
        "g",
        now()
    )
    .is_ok());
    let e =
        check_manifest(&manifest(), &[signed(&a, 1), signed(&a, 2)], &p, "g", now()).unwrap_err();
    assert_eq!(e.have, 1);
    assert!(check_manifest(&manifest(), &[signed(&a, 1), signed(&a, 3)], &p, "g", now()).is_ok());
}

#[test]
fn attachments_keep_old_bytes_and_append_members() {
    let m = manifest();
    assert_eq!(Attachments::default().attach(m.to_json()), m.to_json());
    let att = Attachments {
        policy: vec!["p".into()],
        approvals: vec!["a".into()],
    };
    let bytes = att.attach(m.to_json());
    assert!(bytes.ends_with(br#","policy":["p"],"approvals":["a"]}"#));
    assert_eq!(playlists::manifest::Manifest::from_json(&bytes).unwrap(), m);
    assert_eq!(Attachments::from_payload(&bytes).unwrap(), att);
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(48))]

    /// Whatever subsets of approvers (in the policy or not, repeated or not) approve whatever
    /// subsets of items, the manifest is accepted exactly when every item has at least
    /// `media_threshold` distinct approvers of the policy.
    #[test]
    fn no_uncovered_item_is_ever_accepted(
        threshold in 1u32..=3,
        grants in proptest::collection::vec((1u8..=5, proptest::collection::vec(any::<bool>(), 5)), 0..8),
    ) {
        let mut p = policy(1, &[1], 1, &[1, 2, 3, 4]);
        p.media_threshold = threshold;
        let m = manifest();
        let mut approvals = Vec::new();
        let mut model = vec![std::collections::BTreeSet::new(); m.media.len()];
        for (who, picks) in &grants {
            let mut a = approval_of(&m);
            a.media = m.media.iter().zip(picks).filter(|(_, k)| **k)
                .map(|(x, _)| playlists::approval::ApprovedMedia::of(x)).collect();
            if a.media.is_empty() { continue; }
            approvals.push(signed(&a, *who));
            if *who <= 4 {
                for (i, k) in picks.iter().enumerate() { if *k { model[i].insert(*who); } }
            }
        }
        let expect = model.iter().all(|s| s.len() >= threshold as usize);
        let got = check_manifest(&m, &approvals, &p, "g", now());
        prop_assert_eq!(got.is_ok(), expect);
        if let Ok(cov) = got {
            for (c, s) in cov.iter().zip(&model) { prop_assert_eq!(c.approvers.len(), s.len()); }
        }
    }

    /// Root threshold counts distinct pinned keys, whatever signatures (repeated, unpinned)
    /// the envelope carries.
    #[test]
    fn policy_threshold_counts_distinct_keys(
        threshold in 1u32..=3,
        signers in proptest::collection::vec(1u8..=5, 1..8),
    ) {
        let p = policy(1, &[1, 2, 3], threshold, &[1, 2]);
        let mut env = playlists::policy::sign_policy(&p, &root(signers[0]));
        for s in &signers[1..] {
            let extra = playlists::policy::sign_policy(&p, &root(*s));
            env.signatures.push(extra.signatures[0].clone());
        }
        let distinct: std::collections::BTreeSet<_> = signers.iter().filter(|s| **s <= 3).collect();
        let got = verify_policy(&env.to_json(), Anchor::Pinned(&pinned(&[1, 2, 3])), now(), true);
        prop_assert_eq!(got.is_ok(), distinct.len() >= threshold as usize);
    }
}

/// 1,000 media items, each approved by two approvers in one approval envelope each: the check
/// a screen runs before accepting such a manifest (run with `--release -- --nocapture` to see
/// the time).
#[test]
fn coverage_of_a_thousand_items() {
    use playlists::manifest::{MediaKind, MediaRef};
    let p = policy(1, &[1], 1, &[1, 2]);
    let mut m = manifest();
    m.media = (0..1000u64)
        .map(|n| MediaRef {
            sha256: format!("{n:064x}"),
            bytes: 1000,
            mime: "image/png".into(),
            kind: MediaKind::Slide,
            lang: "vi".into(),
            title: format!("slide {n}"),
            duration_ms: None,
            subtitles: Vec::new(),
        })
        .collect();
    let a = approval_of(&m);
    let approvals = [signed(&a, 1), signed(&a, 2)];
    let bytes: usize = approvals.iter().map(String::len).sum();
    let t = std::time::Instant::now();
    let cov = check_manifest(&m, &approvals, &p, "lao-cai", now()).unwrap();
    let took = t.elapsed();
    assert_eq!(cov.len(), 1000);
    eprintln!("coverage of 1000 items, 2 approvals ({bytes} bytes of envelopes): {took:?}");
}
