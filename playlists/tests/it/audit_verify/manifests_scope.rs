//! The scope signs the bundle's manifests (`docs/protocol.md` §15 `manifests`,
//! `docs/security.md` rows 94 and 95): the period report plans from them, so removing, adding
//! or altering one (to inflate compliance) fails `gatecast-audit verify`, and a report whose
//! compliance figures were edited fails `--check`.

use super::scope::fails_with;
use super::*;
use crate::common::fixtures::{manifest, ts};
use playlists::report::{read_bundle, ReportRequest};

/// The manifest of screen A issued on `issued_at`, fallback `main` (two 10 s items).
fn manifest_of_a(w: &World, version: u64, issued_at: &str) -> Vec<u8> {
    let mut m = manifest();
    m.screen = A.into();
    m.version = version;
    m.issued_at = ts(issued_at);
    m.expires_at = ts("2026-03-01T00:00:00Z");
    m.sign(&w.controller).unwrap().to_json()
}

/// The standard bundle carrying two manifests of A, its scope signing them.
fn planned_bundle(w: &World) -> Bundle {
    let mut b = Log::standard(w).full_bundle(w);
    b.manifests = vec![
        B64.encode(manifest_of_a(w, 7, "2026-01-04T00:00:00Z")),
        B64.encode(manifest_of_a(w, 8, "2026-01-05T12:00:00Z")),
    ];
    rescope(w, &mut b);
    b
}

fn report_of(b: &Bundle) -> playlists::report::Figures {
    let req = ReportRequest::parse("2026-01-05", "2026-01-05", None).unwrap();
    read_bundle(&b.to_json()[..], req).unwrap()
}

#[test]
fn scope_signs_the_manifests_and_the_report_plans_from_them() {
    let w = World::new();
    let b = planned_bundle(&w);
    let r = verify(&w, &b);
    assert!(r.ok, "{}", r.to_text());
    let env = Envelope::parse(&B64.decode(b.scope.as_ref().unwrap()).unwrap()).unwrap();
    let s: serde_json::Value = serde_json::from_slice(&env.payload).unwrap();
    assert_eq!(s["manifests"]["manifests"], 2, "{s}");
    // A's whole UTC day under `main` (two 10 s items): 86 400 s / 20 s × 2 item starts.
    let f = report_of(&b);
    let row = f
        .compliance
        .iter()
        .find(|c| c.campaign == "main" && c.gate == format!("gate of {A}"))
        .unwrap_or_else(|| panic!("{:?}", f.compliance));
    assert_eq!(row.planned, Some(8_640));
    assert_eq!(row.planned_ms, 86_400_000);
    assert_eq!(row.title, "playlist main");
    // B has no manifest in the bundle: nothing is known about its plan.
    assert!(f
        .compliance
        .iter()
        .filter(|c| c.gate == format!("gate of {B}"))
        .all(|c| c.planned.is_none()));
}

#[test]
fn attack_scope_manifest_altered_removed_or_added() {
    let w = World::new();
    let b = planned_bundle(&w);
    // Removed: the schedule of the morning disappears.
    let mut t = b.clone();
    t.manifests.remove(0);
    let text = fails_with(&w, &t, &[ProblemKind::ManifestsMismatch]);
    assert!(
        text.contains("holds 1 manifests but the controller signed 2"),
        "{text}"
    );
    // Swapped for another genuine, controller-signed manifest (an older version whose plan
    // makes the period look better): same count, other bytes.
    let mut t = b.clone();
    t.manifests[1] = B64.encode(manifest_of_a(&w, 6, "2026-01-05T12:00:00Z"));
    let text = fails_with(&w, &t, &[ProblemKind::ManifestsMismatch]);
    assert!(text.contains("altered or swapped"), "{text}");
    // Added to a bundle whose scope signs none.
    let mut t = Log::standard(&w).full_bundle(&w);
    t.manifests = b.manifests.clone();
    let text = fails_with(&w, &t, &[ProblemKind::ManifestsMismatch]);
    assert!(text.contains("added after the export"), "{text}");
}

#[test]
fn attack_report_with_inflated_compliance_fails_the_check() {
    let w = World::new();
    let b = planned_bundle(&w);
    let honest = report_of(&b);
    let mut forged = honest.clone();
    let row = &mut forged.compliance[0];
    row.recorded = row.planned.unwrap_or(0);
    row.compliance_bp = Some(10_000);
    assert_eq!(honest.differences(&forged), vec!["compliance"]);
}
