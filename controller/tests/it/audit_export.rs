//! Export with real parts: receipts ingested over MQTT from a stand-in player, the bundle
//! fetched over HTTP, checked with `playlists::audit::verify_bundle` (what `gatecast-audit
//! verify` runs), also against an earlier checkpoint; the signed scope catches a removed first
//! batch and deleted conflict evidence in a real export.
#![allow(dead_code)]

use crate::api_support;
use crate::ingest_support;

use api_support::*;
use ingest_support::*;
use playlists::keys::{PublicKey, SecretKey};
use playlists::merkle::verify_checkpoint;

const SCREEN: &str = "lc-a1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn audit_export_bundle_verifies_offline() {
    let dir = tempfile::tempdir().unwrap();
    let ctl = start(test_config(dir.path())).await;
    let device = SecretKey::from_seed([7; 32]);
    let mut p = player(&ctl, SCREEN, "Lao Cai A1", device.clone()).await;
    let c = chain(SCREEN, 7);
    p.send(&c[..3], &device).await;
    assert_eq!(p.next_ack().await.0, 3);
    let (s, cp1) = ctl
        .http
        .post(ctl.url("/api/v1/log/checkpoint"))
        .bearer_auth(&ctl.admin)
        .send()
        .await
        .map(|r| (r.status().as_u16(), r))
        .unwrap();
    assert_eq!(s, 200);
    let cp1 = cp1.bytes().await.unwrap().to_vec();
    let old = verify_checkpoint(&cp1, &p.controller).unwrap();
    p.send(&c[3..6], &device).await;
    assert_eq!(p.next_ack().await.0, 6);

    let auditor = ctl.token("auditor").await;
    let url = format!(
        "/api/v1/audit/export?from=2020-01-01T00:00:00Z&to=2030-01-01T00:00:00Z&screens={SCREEN}&since_size={}",
        old.size
    );
    let resp = ctl
        .http
        .get(ctl.url(&url))
        .bearer_auth(&auditor)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    let bundle = resp.bytes().await.unwrap().to_vec();
    let key = ctl.running.store().screen(SCREEN).unwrap().unwrap();
    assert!(key.device_key.is_some());
    let (_, keys) = ctl.req("GET", "/api/v1/keys", None, None).await;
    let controller = PublicKey::from_base64(keys["controller_key"].as_str().unwrap()).unwrap();
    let report = playlists::audit::verify_bundle(&bundle, &controller, Some(&cp1));
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.consistent_with_previous, Some(true), "{report:#?}");
    assert_eq!(report.plays, 6, "{report:#?}");
    assert_eq!(report.batches, 2);
    assert!(report.actions >= 1, "operator actions are in the bundle");
    assert_eq!(report.screens.len(), 1);
    assert_eq!(report.screens[0].last_seq, Some(6));
    check_scope(&bundle, &controller, report.actions);

    // A period holding only seq 5 and 6 exports only their batch (mid-chain start).
    let url = format!(
        "/api/v1/audit/export?from={}&to=2030-01-01T00:00:00Z",
        jiff::Timestamp::from_second(1_790_000_000 + 50).unwrap()
    );
    let (s, b2) = ctl.req("GET", &url, Some(&auditor), None).await;
    assert_eq!(s, 200, "{b2}");
    let bytes = serde_json::to_vec(&b2).unwrap();
    let report = playlists::audit::verify_bundle(&bytes, &controller, None);
    assert!(report.ok, "{report:#?}");
    assert_eq!(report.batches, 1);

    // A wrong controller key fails.
    let other = SecretKey::from_seed([3; 32]).public();
    assert!(!playlists::audit::verify_bundle(&bundle, &other, None).ok);
    let (s, bad) = ctl
        .req(
            "GET",
            "/api/v1/audit/export?from=yesterday",
            Some(&auditor),
            None,
        )
        .await;
    assert_eq!(s, 400, "{bad}");

    // Evidence of a fork: the device signs another receipt 2. It is kept as evidence (no ack);
    // the ack of the next batch, sent after it on the same session, says it was handled.
    let mut other2 = receipts(SCREEN, 2, 2, &playlists::receipt::receipt_hash(&c[0]));
    other2[0] = String::from_utf8(other2[0].clone())
        .unwrap()
        .replace("\"lang\":\"vi\"", "\"lang\":\"en\"")
        .into_bytes();
    assert_ne!(other2[0], c[1]);
    p.send(&other2, &device).await;
    p.send(&c[6..], &device).await;
    assert_eq!(p.next_ack().await.0, 7);
    let url = format!("/api/v1/audit/export?screens={SCREEN}");
    let (s, b3) = ctl.req("GET", &url, Some(&auditor), None).await;
    assert_eq!(s, 200, "{b3}");
    let mut b3: playlists::audit::Bundle = serde_json::from_value(b3).unwrap();
    assert_eq!(b3.conflicts.len(), 1);
    let kinds = |b: &playlists::audit::Bundle| {
        let r = playlists::audit::verify_bundle(&b.to_json(), &controller, None);
        r.problems
            .iter()
            .map(|p| p.kind.as_str())
            .collect::<Vec<_>>()
    };
    assert_eq!(
        kinds(&b3),
        ["conflict"],
        "the fork is reported, nothing else"
    );
    // Emptying the evidence while its count matches is caught: the scope signs its SHA-256
    // (docs/security.md row 47).
    let mut emptied = b3.clone();
    emptied.conflicts[0].data = "e30=".into(); // "{}"
    assert_eq!(
        kinds(&emptied),
        [
            "bad_conflict_evidence",
            // the signed entry is missing, the emptied one is not signed
            "conflict_evidence_mismatch",
            "conflict_evidence_mismatch"
        ]
    );
    // Deleting the evidence hides the fork but not the deletion (docs/security.md row 47).
    b3.conflicts.clear();
    assert_eq!(
        kinds(&b3),
        ["conflict_evidence_mismatch", "conflict_count_mismatch"]
    );
    ctl.running.shutdown().await;
}

/// The bundle's signed scope (`docs/protocol.md` §15) describes it: one chain of the screen's
/// device key, seq 1..=6 in two batches, the actions counted; and removing the first batch of
/// the real export is caught (`docs/security.md` row 47).
fn check_scope(bundle: &[u8], controller: &PublicKey, actions: u64) {
    use base64::Engine as _;
    use playlists::audit::{verify_scope, Bundle, EntryKind, ProblemKind};
    use playlists::keys::KeySet;
    let mut b: Bundle = serde_json::from_slice(bundle).unwrap();
    let env = base64::engine::general_purpose::STANDARD
        .decode(b.scope.as_deref().expect("the export signs its scope"))
        .unwrap();
    let scope = verify_scope(&env, &KeySet::from_keys([controller.clone()])).unwrap();
    assert_eq!(scope.period, b.period);
    assert_eq!((scope.actions, scope.conflicts.len()), (actions, 0));
    assert_eq!(scope.generated_at, b.generated_at);
    assert_eq!(
        scope.selection,
        playlists::audit::Selection::Screens(vec![SCREEN.into()])
    );
    assert_eq!(scope.screens.len(), 1);
    let chain = &scope.screens[0].chains[..];
    assert_eq!(chain.len(), 1, "{scope:?}");
    assert_eq!(
        (chain[0].first_seq, chain[0].last_seq, chain[0].batches),
        (1, 6, 2)
    );
    let first = b
        .log
        .entries
        .iter()
        .position(|e| e.kind == EntryKind::Batch)
        .unwrap();
    assert_eq!(b.log.entries[first].index, chain[0].first_index);
    b.log.entries.remove(first);
    let report = playlists::audit::verify_bundle(&b.to_json(), controller, None);
    assert!(
        report
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::ChainStartMismatch),
        "{report:#?}"
    );
}
