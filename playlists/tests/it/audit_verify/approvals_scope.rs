//! The scope signs the bundle's policy chain and approvals (`docs/protocol.md` §15, §19,
//! `docs/security.md` row 78): removing, adding or altering any one of them fails, also an
//! approval beyond the threshold, which the coverage check alone cannot miss.

use super::scope::fails_with;
use super::*;
use crate::common::approvals::{approval_of, policy, signed, signed_policy};
use crate::common::fixtures::{manifest, ts};

/// The standard bundle carrying the policy chain v1, v2 (issued after the bundle's plays, so
/// no play needs coverage) and three approvals of one approver each, its scope signing them.
fn approved_bundle(w: &World) -> Bundle {
    let mut b = Log::standard(w).full_bundle(w);
    b.policy = [1u64, 2]
        .iter()
        .map(|v| {
            let mut p = policy(*v, &[1, 2], 2, &[1, 2, 3]);
            p.issued_at = ts(&format!("2026-0{}-01T00:00:00Z", v + 1));
            B64.encode(signed_policy(&p, &[1, 2]))
        })
        .collect();
    let a = approval_of(&manifest());
    b.approvals = (1..=3).map(|n| B64.encode(signed(&a, n))).collect();
    rescope(w, &mut b);
    b
}

fn signed_scope(b: &Bundle) -> serde_json::Value {
    let env = Envelope::parse(&B64.decode(b.scope.as_ref().unwrap()).unwrap()).unwrap();
    serde_json::from_slice(&env.payload).unwrap()
}

#[test]
fn scope_signs_the_policy_chain_and_approvals() {
    let w = World::new();
    let b = approved_bundle(&w);
    let r = verify(&w, &b);
    assert!(r.ok, "{}", r.to_text());
    let s = signed_scope(&b);
    assert_eq!(s["approvals"]["policies"], 2, "{s}");
    assert_eq!(s["approvals"]["approvals"], 3, "{s}");
    // A bundle without policy or approvals: no `approvals` member, as the scopes of older
    // builds, which still verify.
    let plain = Log::standard(&w).full_bundle(&w);
    assert!(signed_scope(&plain).get("approvals").is_none());
    assert!(verify(&w, &plain).ok);
}

#[test]
fn attack_scope_any_approval_removed() {
    let w = World::new();
    let b = approved_bundle(&w);
    for i in 0..b.approvals.len() {
        let mut t = b.clone();
        t.approvals.remove(i);
        let text = fails_with(&w, &t, &[ProblemKind::ApprovalsMismatch]);
        assert!(
            text.contains("holds 2 approvals but the controller signed 3")
                && text.contains("removed or added"),
            "approval {i}: {text}"
        );
    }
}

#[test]
fn attack_scope_approval_swapped_or_policy_altered() {
    let w = World::new();
    let b = approved_bundle(&w);
    // Approval 0 swapped for another valid approval by the same approver (a new note).
    let mut t = b.clone();
    let mut a = approval_of(&manifest());
    a.note = Some("khác / other".into());
    t.approvals[0] = B64.encode(signed(&a, 1));
    let text = fails_with(&w, &t, &[ProblemKind::ApprovalsMismatch]);
    assert!(text.contains("altered or swapped"), "{text}");
    // The newest policy removed: the chain is not the signed one.
    let mut t = b.clone();
    t.policy.pop();
    let text = fails_with(&w, &t, &[ProblemKind::PolicyChainMismatch]);
    assert!(text.contains("a policy was removed or added"), "{text}");
    // The two policies reordered.
    let mut t = b.clone();
    t.policy.reverse();
    fails_with(&w, &t, &[ProblemKind::PolicyChainMismatch]);
}

#[test]
fn attack_scope_approvals_added_to_an_unscoped_bundle() {
    let w = World::new();
    let b = approved_bundle(&w);
    // The scope of the same bundle without its approvals section (an older export's, or one
    // signed before the chain was added): the chain and approvals are not signed.
    let mut bare = b.clone();
    bare.policy.clear();
    bare.approvals.clear();
    rescope(&w, &mut bare);
    let mut t = b.clone();
    t.scope = bare.scope.clone();
    let text = fails_with(&w, &t, &[ProblemKind::PolicyChainMismatch]);
    assert!(text.contains("signs no approvals section"), "{text}");
}
