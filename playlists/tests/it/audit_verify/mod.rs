//! Offline verification of audit export bundles: an honest bundle verifies, and every kind of
//! tampering the offline check must catch (`docs/auditing.md` §4) fails with a problem naming the
//! screen and seq.

use std::collections::BTreeMap;

use base64::engine::general_purpose::STANDARD as B64;
use base64::Engine as _;
use jiff::{SignedDuration, Timestamp};
use playlists::audit::{
    batch_chain, verify_bundle, Bundle, ConflictEntry, Consistency, EntryKind, LogEntry, Period,
    ProblemKind, Report, ScopeBuilder, ScreenEntry, ScreenStatement, StatementEpoch, BUNDLE_FORMAT,
};
use playlists::envelope::Envelope;
use playlists::keys::SecretKey;
use playlists::merkle::{consistency_proof, inclusion_proof, leaf_hash, Checkpoint, Hash};
use playlists::receipt::{sign_batch, Backend, Outcome, Receipt, GENESIS_PREV};

mod approvals_scope;
mod manifests_scope;
mod scope;
mod tickers_scope;

const A: &str = "lao-cai-1";
const B: &str = "ha-noi-2";
const ORIGIN: &str = "gatecast-controller test";

/// Two screens with device keys and receipt chains: A has 9 receipts, B has 4.
struct World {
    controller: SecretKey,
    devices: BTreeMap<&'static str, SecretKey>,
    chains: BTreeMap<&'static str, Vec<Vec<u8>>>,
}

fn receipt(screen: &str, seq: u64, prev: &str) -> Receipt {
    let start: Timestamp = "2026-01-05T08:00:00Z".parse().unwrap();
    let started_at = start + SignedDuration::from_secs(10 * seq as i64);
    Receipt {
        seq,
        screen: screen.into(),
        manifest_version: 7,
        playlist: "welcome".into(),
        media: format!("{seq:064x}"),
        lang: if seq % 2 == 0 { "en" } else { "vi" }.into(),
        started_at,
        ended_at: started_at + SignedDuration::from_secs(10),
        outcome: Outcome::Completed,
        // every fourth play on the null backend: recorded, never counted as shown
        backend: if seq % 4 == 0 {
            Backend::Null
        } else {
            Backend::Mpv
        },
        clock_synced: true,
        prev: prev.into(),
        subtitle_lang: None,
    }
}

fn chain(screen: &str, n: u64) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = Vec::new();
    let mut prev = GENESIS_PREV.to_owned();
    for seq in 1..=n {
        let r = receipt(screen, seq, &prev);
        prev = r.hash();
        out.push(r.to_bytes());
    }
    out
}

impl World {
    fn new() -> World {
        World {
            controller: SecretKey::from_seed([1; 32]),
            devices: BTreeMap::from([
                (A, SecretKey::from_seed([10; 32])),
                (B, SecretKey::from_seed([11; 32])),
            ]),
            chains: BTreeMap::from([(A, chain(A, 9)), (B, chain(B, 4))]),
        }
    }

    /// The receipts `first..=last` of `screen`, exact bytes.
    fn receipts(&self, screen: &str, first: u64, last: u64) -> Vec<Vec<u8>> {
        self.chains[screen][(first - 1) as usize..last as usize].to_vec()
    }

    /// A batch of `first..=last` signed by the screen's device key.
    fn batch(&self, screen: &str, first: u64, last: u64) -> Vec<u8> {
        sign_batch(
            screen,
            &self.receipts(screen, first, last),
            &self.devices[screen],
        )
        .to_json()
    }

    fn statement(&self, screen: &str) -> Vec<u8> {
        ScreenStatement {
            screen: screen.into(),
            device_key: self.devices[screen].public().to_base64(),
            gate: format!("gate of {screen}"),
            name: format!("Màn hình {screen}"),
            enrolled_at: "2026-01-01T00:00:00.000Z".into(),
            epochs: vec![],
            timezone: None,
            gate_name: None,
        }
        .sign(&self.controller)
        .to_json()
    }
}

/// A controller log: its leaves in order.
#[derive(Clone)]
struct Log {
    leaves: Vec<(EntryKind, Vec<u8>)>,
}

const ACTION: &[u8] = br#"{"at":"2026-01-05T07:00:00.000Z","actor":"admin","action":"publish","screen":"lao-cai-1","version":7}"#;

impl Log {
    /// A1-3, B1-2, action, A4-6, B3-4, A7-9.
    fn standard(w: &World) -> Log {
        Log {
            leaves: vec![
                (EntryKind::Batch, w.batch(A, 1, 3)),
                (EntryKind::Batch, w.batch(B, 1, 2)),
                (EntryKind::Action, ACTION.to_vec()),
                (EntryKind::Batch, w.batch(A, 4, 6)),
                (EntryKind::Batch, w.batch(B, 3, 4)),
                (EntryKind::Batch, w.batch(A, 7, 9)),
            ],
        }
    }

    fn hashes(&self, size: usize) -> Vec<Hash> {
        self.leaves[..size]
            .iter()
            .map(|(_, d)| leaf_hash(d))
            .collect()
    }

    fn checkpoint(&self, w: &World, size: usize) -> Vec<u8> {
        Checkpoint::for_leaves(ORIGIN, &self.hashes(size))
            .sign(&w.controller)
            .to_json()
    }

    /// A bundle over the tree of `size` leaves holding the leaves `include`.
    fn bundle(&self, w: &World, size: usize, include: &[usize], from: Option<usize>) -> Bundle {
        let hashes = self.hashes(size);
        let mut b = Bundle {
            format: BUNDLE_FORMAT.into(),
            generated_at: "2026-01-06T00:00:00.000Z".into(),
            period: Period {
                from: "2026-01-05T00:00:00Z".into(),
                to: "2026-01-06T00:00:00Z".into(),
            },
            controller_key: w.controller.public().to_base64(),
            controller_key_id: w.controller.key_id(),
            screens: [A, B]
                .iter()
                .map(|s| ScreenEntry::from_envelope_bytes(&w.statement(s)))
                .collect(),
            log: playlists::audit::LogSection {
                checkpoint: B64.encode(self.checkpoint(w, size)),
                entries: include
                    .iter()
                    .map(|&i| {
                        let (kind, data) = &self.leaves[i];
                        LogEntry::new(i as u64, *kind, data, &inclusion_proof(&hashes, i))
                    })
                    .collect(),
                consistency: from
                    .map(|old| Consistency::new(old as u64, &consistency_proof(&hashes, old))),
            },
            conflicts: Vec::new(),
            scope: None,
            policy: Vec::new(),
            approvals: Vec::new(),
            manifests: Vec::new(),
            tickers: Vec::new(),
        };
        rescope(w, &mut b);
        b
    }

    fn full_bundle(&self, w: &World) -> Bundle {
        let n = self.leaves.len();
        self.bundle(w, n, &(0..n).collect::<Vec<_>>(), None)
    }
}

/// Signs the scope of the bundle as it is, as an honest exporter would (`docs/protocol.md` §15).
fn rescope(w: &World, b: &mut Bundle) {
    let cp = B64.decode(&b.log.checkpoint).unwrap();
    let size = Envelope::parse(&cp).map(|e| {
        serde_json::from_slice::<serde_json::Value>(&e.payload).unwrap()["size"]
            .as_u64()
            .unwrap()
    });
    let mut scope = ScopeBuilder::new(b.period.clone(), size.unwrap());
    scope.generated_at(&b.generated_at);
    for s in &b.screens {
        let env = Envelope::parse(&B64.decode(&s.statement).unwrap()).unwrap();
        let st: ScreenStatement = serde_json::from_slice(&env.payload).unwrap();
        scope.screen(&st.screen);
    }
    for e in &b.log.entries {
        let data = B64.decode(&e.data).unwrap();
        scope.entry(e.index, e.kind, &data);
        match e.kind {
            EntryKind::Action => scope.action(),
            EntryKind::Batch => {
                let payload = Envelope::parse(&data).unwrap().payload;
                let v: serde_json::Value = serde_json::from_slice(&payload).unwrap();
                let screen = v["screen"].as_str().unwrap().to_owned();
                let (key, seqs) = batch_chain(&data).unwrap();
                scope.batch(&screen, &key, e.index, seqs)
            }
        };
    }
    for c in &b.conflicts {
        scope.conflict(&c.screen, &B64.decode(&c.data).unwrap());
    }
    let decoded =
        |l: &[String]| -> Vec<Vec<u8>> { l.iter().map(|x| B64.decode(x).unwrap()).collect() };
    let (policy, approvals) = (decoded(&b.policy), decoded(&b.approvals));
    scope.approvals(
        &policy.iter().map(Vec::as_slice).collect::<Vec<_>>(),
        &approvals.iter().map(Vec::as_slice).collect::<Vec<_>>(),
    );
    let manifests = decoded(&b.manifests);
    scope.manifests(&manifests.iter().map(Vec::as_slice).collect::<Vec<_>>());
    let tickers = decoded(&b.tickers);
    scope.tickers(&tickers.iter().map(Vec::as_slice).collect::<Vec<_>>());
    b.scope = Some(B64.encode(scope.finish().sign(&w.controller).to_json()));
}

fn verify(w: &World, b: &Bundle) -> Report {
    verify_bundle(&b.to_json(), &w.controller.public(), None)
}

/// The report has a problem of `kind` for `screen` and `seq`; returns its display text.
fn problem(r: &Report, kind: ProblemKind, screen: Option<&str>, seq: Option<u64>) -> String {
    let found = r
        .problems
        .iter()
        .find(|p| p.kind == kind && p.screen.as_deref() == screen && p.seq == seq);
    let p = found.unwrap_or_else(|| {
        panic!(
            "expected a {} problem for screen {screen:?} seq {seq:?}; got:\n{}",
            kind.as_str(),
            r.to_text()
        )
    });
    assert!(!r.ok, "a report with problems must not be ok");
    let text = p.to_string();
    if let Some(s) = screen {
        assert!(text.contains(s), "{text}");
    }
    if let Some(q) = seq {
        assert!(text.contains(&format!("seq {q}")), "{text}");
    }
    text
}

/// Replace the exact bytes of log entry `pos` in the bundle (its proof is left as it was).
fn set_entry_data(b: &mut Bundle, pos: usize, data: &[u8]) {
    b.log.entries[pos].data = B64.encode(data);
}

/// Change the payload of a signed envelope without re-signing.
fn edit_payload(envelope: &[u8], f: impl FnOnce(&mut Vec<u8>)) -> Vec<u8> {
    let mut env = Envelope::parse(envelope).unwrap();
    f(&mut env.payload);
    env.to_json()
}

fn replace_once(bytes: &mut Vec<u8>, from: &str, to: &str) {
    let text = String::from_utf8(bytes.clone()).unwrap();
    assert!(text.contains(from), "{from:?} not in payload");
    *bytes = text.replacen(from, to, 1).into_bytes();
}

#[test]
fn honest_bundle_verifies_with_summary() {
    let w = World::new();
    let log = Log::standard(&w);
    let r = verify(&w, &log.full_bundle(&w));
    assert!(r.ok, "{}", r.to_text());
    assert!(r.problems.is_empty());
    assert_eq!((r.log_entries, r.batches, r.actions), (6, 5, 1));
    assert_eq!(r.plays, 13);
    // null backend at seq 4 and 8 of A and seq 4 of B
    assert_eq!(r.shown, 10);
    assert_eq!(r.checkpoint.as_ref().unwrap().size, 6);
    let a = r.screens.iter().find(|s| s.screen == A).unwrap();
    assert_eq!(
        (a.first_seq, a.last_seq, a.receipts, a.batches),
        (Some(1), Some(9), 9, 3)
    );
    assert!(a.chain_intact && !a.starts_mid_chain);
    assert_eq!(a.gate, format!("gate of {A}"));
    assert_eq!(
        a.first_started_at.as_deref(),
        Some("2026-01-05T08:00:10.000Z")
    );
    assert_eq!(a.last_ended_at.as_deref(), Some("2026-01-05T08:01:40.000Z"));
    let text = r.to_text();
    assert!(text.starts_with("VERIFIED"), "{text}");
    assert!(text.contains("Màn hình lao-cai-1"), "{text}");
    let scope = "scope (signed): 2 screens, 2 chains, 5 batches, 1 actions, 0 conflicts";
    assert!(text.contains(scope), "{text}");
    assert_eq!(r.scope.unwrap().checkpoint_size, 6);
}

#[test]
fn bundle_starting_mid_chain_verifies_and_says_so() {
    let w = World::new();
    let log = Log::standard(&w);
    // Only the entries from index 3 on: A starts at seq 4, B at seq 3.
    let r = verify(&w, &log.bundle(&w, 6, &[3, 4, 5], None));
    assert!(r.ok, "{}", r.to_text());
    let a = r.screens.iter().find(|s| s.screen == A).unwrap();
    assert!(a.starts_mid_chain);
    assert_eq!(a.first_seq, Some(4));
    assert!(r
        .notes
        .iter()
        .any(|n| n.contains(A) && n.contains("start at seq 4")));
}

#[test]
fn flipped_byte_in_a_receipt_fails() {
    let w = World::new();
    let log = Log::standard(&w);
    let mut b = log.full_bundle(&w);
    // Receipt seq 5 of A (in log entry 3): "vi" becomes "vj", signature kept.
    let tampered = edit_payload(&log.leaves[3].1, |p| {
        replace_once(p, r#"\"lang\":\"vi\""#, r#"\"lang\":\"vj\""#)
    });
    assert_eq!(tampered.len(), log.leaves[3].1.len());
    set_entry_data(&mut b, 3, &tampered);
    let r = verify(&w, &b);
    let text = problem(&r, ProblemKind::BadBatchSignature, Some(A), Some(4));
    assert!(text.contains("not validly signed"), "{text}");
    problem(&r, ProblemKind::BadInclusionProof, Some(A), Some(4));
    // the gap the rejected batch leaves in the chain is reported as well
    problem(&r, ProblemKind::SeqGap, Some(A), Some(4));
    assert!(
        !r.screens
            .iter()
            .find(|s| s.screen == A)
            .unwrap()
            .chain_intact
    );
    assert!(
        r.screens
            .iter()
            .find(|s| s.screen == B)
            .unwrap()
            .chain_intact
    );
}

#[test]
fn receipt_removed_from_a_batch_fails() {
    let w = World::new();
    let log = Log::standard(&w);

    // Removed from the bundle after signing: the device signature breaks.
    let mut b = log.full_bundle(&w);
    let r5 = String::from_utf8(w.receipts(A, 5, 5).remove(0)).unwrap();
    let quoted = serde_json::to_string(&r5).unwrap();
    let tampered = edit_payload(&log.leaves[3].1, |p| {
        replace_once(p, &format!("{quoted},"), "")
    });
    set_entry_data(&mut b, 3, &tampered);
    let r = verify(&w, &b);
    problem(&r, ProblemKind::BadBatchSignature, Some(A), Some(4));

    // A batch signed without it (the player lost it) and logged as such: the chain breaks.
    let mut log2 = log.clone();
    let mut rs = w.receipts(A, 4, 6);
    rs.remove(1);
    log2.leaves[3].1 = sign_batch(A, &rs, &w.devices[A]).to_json();
    let r = verify(&w, &log2.full_bundle(&w));
    let text = problem(&r, ProblemKind::BadBatch, Some(A), Some(6));
    assert!(text.contains("expected seq 5"), "{text}");
}

#[test]
fn reordered_receipts_fail() {
    let w = World::new();
    let log = Log::standard(&w);

    // Swapped in the bundle after signing.
    let mut b = log.full_bundle(&w);
    let r5 =
        serde_json::to_string(&String::from_utf8(w.receipts(A, 5, 5).remove(0)).unwrap()).unwrap();
    let r6 =
        serde_json::to_string(&String::from_utf8(w.receipts(A, 6, 6).remove(0)).unwrap()).unwrap();
    let tampered = edit_payload(&log.leaves[3].1, |p| {
        replace_once(p, &format!("{r5},{r6}"), &format!("{r6},{r5}"))
    });
    set_entry_data(&mut b, 3, &tampered);
    problem(
        &verify(&w, &b),
        ProblemKind::BadBatchSignature,
        Some(A),
        Some(4),
    );

    // Signed by the device in the wrong order and logged as such.
    let mut log2 = log.clone();
    let mut rs = w.receipts(A, 4, 6);
    rs.swap(1, 2);
    log2.leaves[3].1 = sign_batch(A, &rs, &w.devices[A]).to_json();
    let r = verify(&w, &log2.full_bundle(&w));
    let text = problem(&r, ProblemKind::BadBatch, Some(A), Some(6));
    assert!(text.contains("gap"), "{text}");
}

#[test]
fn batch_resigned_with_another_device_key_fails() {
    let w = World::new();
    for other in [SecretKey::from_seed([99; 32]), w.devices[B].clone()] {
        let mut log = Log::standard(&w);
        log.leaves[3].1 = sign_batch(A, &w.receipts(A, 4, 6), &other).to_json();
        // the log (and so every proof) is consistent: only the device signature is wrong
        let r = verify(&w, &log.full_bundle(&w));
        let text = problem(&r, ProblemKind::BadBatchSignature, Some(A), Some(4));
        assert!(text.contains(&w.devices[A].key_id()), "{text}");
        assert!(!r
            .problems
            .iter()
            .any(|p| p.kind == ProblemKind::BadInclusionProof));
    }
}

#[test]
fn batch_dropped_from_the_log_fails() {
    let w = World::new();
    let log = Log::standard(&w);

    // Left out of the bundle.
    let r = verify(&w, &log.bundle(&w, 6, &[0, 1, 2, 4, 5], None));
    let text = problem(&r, ProblemKind::SeqGap, Some(A), Some(4));
    assert!(text.contains("4..=6 are missing"), "{text}");

    // Removed from the controller's log and a new checkpoint signed over what remains.
    let mut rewritten = log.clone();
    rewritten.leaves.remove(3);
    let r = verify(&w, &rewritten.full_bundle(&w));
    problem(&r, ProblemKind::SeqGap, Some(A), Some(4));
}

#[test]
fn rewritten_log_is_caught_by_the_previous_checkpoint() {
    let w = World::new();
    let log = Log::standard(&w);
    let previous = log.checkpoint(&w, 3);
    let key = w.controller.public();

    // Honest growth from 3 to 6 leaves.
    let b = log.bundle(&w, 6, &[3, 4, 5], Some(3));
    let r = verify_bundle(&b.to_json(), &key, Some(&previous));
    assert!(r.ok, "{}", r.to_text());
    assert_eq!(r.consistent_with_previous, Some(true));
    assert!(r.to_text().contains("consistent"));

    // History rewritten: B's first batch (leaf 1) dropped, the rest re-appended. The new log's
    // own proofs all hold; only consistency with the kept checkpoint fails.
    let mut rewritten = log.clone();
    rewritten.leaves.remove(1);
    rewritten
        .leaves
        .push((EntryKind::Action, br#"{"action":"cover-up"}"#.to_vec()));
    let n = rewritten.leaves.len();
    let b = rewritten.bundle(&w, n, &[2, 3, 4], Some(3));
    assert!(verify(&w, &b).ok, "the rewritten log is self-consistent");
    let r = verify_bundle(&b.to_json(), &key, Some(&previous));
    let text = problem(&r, ProblemKind::InconsistentHistory, None, None);
    assert!(text.contains("not an append-only extension"), "{text}");
    assert_eq!(r.consistent_with_previous, Some(false));

    // No consistency proof in the bundle.
    let b = log.bundle(&w, 6, &[3, 4, 5], None);
    let r = verify_bundle(&b.to_json(), &key, Some(&previous));
    problem(&r, ProblemKind::MissingConsistencyProof, None, None);

    // A log that shrank.
    let b = log.bundle(&w, 2, &[0, 1], None);
    let r = verify_bundle(&b.to_json(), &key, Some(&previous));
    let text = problem(&r, ProblemKind::InconsistentHistory, None, None);
    assert!(text.contains("shrank"), "{text}");

    // Same size, different root.
    let b = rewritten.bundle(&w, 3, &[0], None);
    let r = verify_bundle(&b.to_json(), &key, Some(&previous));
    let text = problem(&r, ProblemKind::InconsistentHistory, None, None);
    assert!(text.contains("different roots"), "{text}");

    // A "previous checkpoint" not signed by the controller.
    let forged = Checkpoint::for_leaves(ORIGIN, &log.hashes(3))
        .sign(&SecretKey::from_seed([42; 32]))
        .to_json();
    let b = log.bundle(&w, 6, &[3], Some(3));
    let r = verify_bundle(&b.to_json(), &key, Some(&forged));
    problem(&r, ProblemKind::BadPreviousCheckpoint, None, None);
}

#[test]
fn wrong_controller_key_and_forged_statement_fail() {
    let w = World::new();
    let log = Log::standard(&w);
    let b = log.full_bundle(&w);
    let other = SecretKey::from_seed([77; 32]).public();
    let r = verify_bundle(&b.to_json(), &other, None);
    problem(&r, ProblemKind::ControllerKeyMismatch, None, None);
    problem(&r, ProblemKind::BadCheckpoint, None, None);
    assert!(r
        .problems
        .iter()
        .any(|p| p.kind == ProblemKind::BadStatement));

    // A statement registering an attacker's key for A, signed by someone else.
    let mut b = log.full_bundle(&w);
    let attacker = SecretKey::from_seed([66; 32]);
    b.screens[0] = ScreenEntry::from_envelope_bytes(
        &ScreenStatement {
            screen: A.into(),
            device_key: attacker.public().to_base64(),
            gate: "g".into(),
            name: "n".into(),
            enrolled_at: "2026-01-01T00:00:00.000Z".into(),
            epochs: vec![],
            timezone: None,
            gate_name: None,
        }
        .sign(&attacker)
        .to_json(),
    );
    let r = verify(&w, &b);
    let text = problem(&r, ProblemKind::BadStatement, None, None);
    assert!(text.contains("screens[0]"), "{text}");
    // without a statement A's batches cannot be checked
    problem(&r, ProblemKind::UnknownScreen, Some(A), Some(1));
}

#[test]
fn altered_proofs_and_indexes_fail() {
    let w = World::new();
    let log = Log::standard(&w);

    let mut b = log.full_bundle(&w);
    b.log.entries[2].proof[0] = "00".repeat(32);
    let r = verify(&w, &b);
    let p = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::BadInclusionProof)
        .expect("altered proof detected");
    assert_eq!(p.entry, Some(2));

    // An entry claiming an index past the checkpoint.
    let mut b = log.bundle(&w, 4, &[0, 1, 2, 3], None);
    b.log
        .entries
        .push(LogEntry::new(5, EntryKind::Batch, &log.leaves[5].1, &[]));
    let r = verify(&w, &b);
    problem(&r, ProblemKind::BadLogIndex, Some(A), Some(7));

    // The checkpoint envelope altered.
    let mut b = log.full_bundle(&w);
    let cp = B64.decode(&b.log.checkpoint).unwrap();
    let cp = edit_payload(&cp, |p| replace_once(p, "\"size\":6", "\"size\":5"));
    b.log.checkpoint = B64.encode(cp);
    let r = verify(&w, &b);
    let text = problem(&r, ProblemKind::BadCheckpoint, None, None);
    assert!(text.contains("altered or forged"), "{text}");
}

#[test]
fn signed_conflicting_receipt_is_reported() {
    let w = World::new();
    let log = Log::standard(&w);
    let mut b = log.full_bundle(&w);
    // The device signed another receipt 5 (continuing from the real receipt 4).
    let real4 = w.receipts(A, 4, 4).remove(0);
    let mut other5 = receipt(A, 5, &playlists::receipt::receipt_hash(&real4));
    other5.lang = "fr".into();
    let evidence = sign_batch(A, &[other5.to_bytes()], &w.devices[A]).to_json();
    b.conflicts.push(ConflictEntry {
        screen: A.into(),
        received_at: "2026-01-05T09:00:00.000Z".into(),
        data: B64.encode(evidence),
        repeats: 0,
    });
    rescope(&w, &mut b);
    let r = verify(&w, &b);
    let text = problem(&r, ProblemKind::Conflict, Some(A), Some(5));
    assert!(text.contains("forked"), "{text}");

    // Evidence not signed by the device proves nothing; with a scope, which signs every
    // evidence entry, the controller put it there: a problem.
    let mut b = log.full_bundle(&w);
    let unsigned = sign_batch(A, &[other5.to_bytes()], &SecretKey::from_seed([5; 32])).to_json();
    b.conflicts.push(ConflictEntry {
        screen: A.into(),
        received_at: "2026-01-05T09:00:00.000Z".into(),
        data: B64.encode(unsigned),
        repeats: 2,
    });
    rescope(&w, &mut b);
    let r = verify(&w, &b);
    let text = problem(&r, ProblemKind::BadConflictEvidence, Some(A), None);
    assert!(text.contains("not signed by its device key"), "{text}");
    // Without a scope (an older bundle) it is a note.
    b.scope = None;
    let r = verify(&w, &b);
    assert!(r
        .notes
        .iter()
        .any(|n| n.contains("not signed by its device key")));
}

#[test]
fn malformed_bundles_fail_cleanly() {
    let w = World::new();
    let key = w.controller.public();
    for bad in [&b""[..], b"[]", b"{}", b"not json", b"{\"format\":1}"] {
        let r = verify_bundle(bad, &key, None);
        assert!(!r.ok);
        assert_eq!(r.problems[0].kind, ProblemKind::MalformedBundle, "{bad:?}");
    }
    let mut b = Log::standard(&w).full_bundle(&w);
    b.format = "gatecast-audit-bundle/v2".into();
    let r = verify(&w, &b);
    let text = problem(&r, ProblemKind::MalformedBundle, None, None);
    assert!(text.contains("v2"), "{text}");

    let mut b = Log::standard(&w).full_bundle(&w);
    b.period.from = "yesterday".into();
    b.log.entries[0].data = "!!".into();
    let r = verify(&w, &b);
    assert!(r.problems.iter().any(|p| p.message.contains("period.from")));
    assert!(r
        .problems
        .iter()
        .any(|p| p.kind == ProblemKind::MalformedBundle && p.entry == Some(0)));

    // Unknown top-level members are rejected (the format is exact).
    let mut v: serde_json::Value =
        serde_json::from_slice(&Log::standard(&w).full_bundle(&w).to_json()).unwrap();
    v["extra"] = serde_json::json!(1);
    let r = verify_bundle(&serde_json::to_vec(&v).unwrap(), &key, None);
    assert_eq!(r.problems[0].kind, ProblemKind::MalformedBundle);
}

#[test]
fn report_serializes_with_stable_codes() {
    let w = World::new();
    let log = Log::standard(&w);
    let r = verify(&w, &log.bundle(&w, 6, &[0, 1, 2, 4, 5], None));
    let v: serde_json::Value = serde_json::to_value(&r).unwrap();
    assert_eq!(v["ok"], false);
    let p = &v["problems"][0];
    assert_eq!(p["kind"], "seq_gap");
    assert_eq!(p["screen"], A);
    assert_eq!(p["seq"], 4);
    assert_eq!(v["screens"][1]["screen"], A);
    assert_eq!(v["screens"][1]["chain_intact"], false);
}

/// The `gatecast-audit` binary: exit codes and output.
mod cli {
    use super::*;
    use std::path::PathBuf;
    use std::process::{Command, Output};

    /// A scratch directory removed on drop.
    struct Scratch(PathBuf);

    impl Scratch {
        fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("gatecast-audit-test-{}-{name}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        fn write(&self, name: &str, bytes: &[u8]) -> String {
            let p = self.0.join(name);
            std::fs::write(&p, bytes).unwrap();
            p.to_str().unwrap().to_owned()
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    fn run(args: &[&str]) -> (i32, String, String) {
        let Output {
            status,
            stdout,
            stderr,
        } = Command::new(env!("CARGO_BIN_EXE_gatecast-audit"))
            .args(args)
            .output()
            .expect("run gatecast-audit");
        (
            status.code().expect("exited normally"),
            String::from_utf8(stdout).unwrap(),
            String::from_utf8(stderr).unwrap(),
        )
    }

    #[test]
    fn good_bundle_exits_0_with_summary() {
        let w = World::new();
        let dir = Scratch::new("good");
        let bundle = dir.write("bundle.json", &Log::standard(&w).full_bundle(&w).to_json());
        let key = w.controller.public().to_base64();
        let (code, out, err) = run(&["verify", &bundle, "--controller-key", &key]);
        assert_eq!(code, 0, "{out}{err}");
        assert!(out.starts_with("VERIFIED"), "{out}");
        assert!(out.contains("plays: 13 receipts, 10 shown"), "{out}");
        assert!(out.contains("lao-cai-1"), "{out}");

        // The key from a file, and --opt=value form.
        let key_file = dir.write("controller.pub", format!("{key}\n").as_bytes());
        let (code, out, _) = run(&["verify", &bundle, &format!("--controller-key={key_file}")]);
        assert_eq!(code, 0, "{out}");

        // JSON output parses.
        let (code, out, _) = run(&["verify", &bundle, "--controller-key", &key, "--json"]);
        assert_eq!(code, 0);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["ok"], true);
        assert_eq!(v["plays"], 13);
    }

    #[test]
    fn tampered_bundle_exits_1_naming_screen_and_seq() {
        let w = World::new();
        let dir = Scratch::new("tampered");
        let log = Log::standard(&w);
        // The auditor kept the checkpoint of size 4, which covers A's second batch (leaf 3).
        let previous = dir.write("previous.json", &log.checkpoint(&w, 4));
        let mut rewritten = log.clone();
        rewritten.leaves.remove(3);
        let n = rewritten.leaves.len();
        let b = rewritten.bundle(&w, n, &(0..n).collect::<Vec<_>>(), Some(4));
        let bundle = dir.write("bundle.json", &b.to_json());
        let key = w.controller.public().to_base64();
        let (code, out, _) = run(&[
            "verify",
            &bundle,
            "--controller-key",
            &key,
            "--previous-checkpoint",
            &previous,
        ]);
        assert_eq!(code, 1, "{out}");
        assert!(out.starts_with("FAILED"), "{out}");
        assert!(out.contains("seq_gap screen lao-cai-1 seq 4"), "{out}");
        assert!(out.contains("inconsistent_history"), "{out}");

        let (code, out, _) = run(&["verify", &bundle, "--json", "--controller-key", &key]);
        assert_eq!(code, 1);
        let v: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["problems"][0]["kind"], "seq_gap");
    }

    #[test]
    fn usage_errors_and_unreadable_input_exit_2() {
        let w = World::new();
        let dir = Scratch::new("usage");
        let bundle = dir.write("bundle.json", &Log::standard(&w).full_bundle(&w).to_json());
        let key = w.controller.public().to_base64();
        let missing = dir.0.join("missing.json");
        let missing = missing.to_str().unwrap();
        for (args, needle) in [
            (vec![], "missing command"),
            (vec!["check"], "unknown command"),
            (vec!["verify", &bundle], "missing --controller-key"),
            (vec!["verify", "--controller-key", &key], "missing BUNDLE"),
            (vec!["verify", &bundle, "--controller-key"], "needs a value"),
            (
                vec!["verify", &bundle, "--controller-key", "bm9wZQ=="],
                "neither",
            ),
            (
                vec!["verify", missing, "--controller-key", &key],
                "cannot read bundle",
            ),
            (
                vec![
                    "verify",
                    &bundle,
                    "--controller-key",
                    &key,
                    "--previous-checkpoint",
                    missing,
                ],
                "cannot read previous checkpoint",
            ),
            (
                vec!["verify", &bundle, "--controller-key", &key, "--frobnicate"],
                "unknown option",
            ),
        ] {
            let (code, out, err) = run(&args);
            assert_eq!(code, 2, "{args:?}: {out}{err}");
            assert!(err.contains(needle), "{args:?}: {err}");
        }
        let (code, out, _) = run(&["--help"]);
        assert_eq!(code, 0);
        assert!(out.contains("exit codes"), "{out}");
    }
}

/// docs/security.md row 45: a re-enrolled screen (new box, new key, seq from 1 again) has one
/// chain per enrolment epoch; each verifies under its own epoch's key.
#[test]
fn reenrolled_screen_verifies_each_epoch_under_its_own_key() {
    let w = World::new();
    let new_box = SecretKey::from_seed([12; 32]);
    let epoch2 = playlists::receipt::sign_batch_epoch(A, 2, &w.receipts(A, 1, 3), &new_box);
    let log = Log {
        leaves: vec![
            (EntryKind::Batch, w.batch(A, 1, 4)),
            (EntryKind::Batch, w.batch(B, 1, 2)),
            (EntryKind::Batch, epoch2.to_json()),
        ],
    };
    let statement = |epochs: Vec<StatementEpoch>| {
        ScreenEntry::from_envelope_bytes(
            &ScreenStatement {
                screen: A.into(),
                device_key: new_box.public().to_base64(),
                gate: format!("gate of {A}"),
                name: format!("Màn hình {A}"),
                enrolled_at: "2026-01-05T09:00:00.000Z".into(),
                epochs,
                timezone: None,
                gate_name: None,
            }
            .sign(&w.controller)
            .to_json(),
        )
    };
    let epochs = vec![
        StatementEpoch {
            epoch: 1,
            device_key: w.devices[A].public().to_base64(),
            enrolled_at: "2026-01-01T00:00:00.000Z".into(),
        },
        StatementEpoch {
            epoch: 2,
            device_key: new_box.public().to_base64(),
            enrolled_at: "2026-01-05T09:00:00.000Z".into(),
        },
    ];
    let mut b = log.full_bundle(&w);
    b.screens[0] = statement(epochs.clone());
    let r = verify(&w, &b);
    assert!(r.ok, "{}", r.to_text());
    let of = |e: u64| {
        r.screens
            .iter()
            .find(|s| s.screen == A && s.epoch == e)
            .unwrap_or_else(|| panic!("no summary of epoch {e}:\n{}", r.to_text()))
    };
    assert_eq!((of(1).receipts, of(1).last_seq), (4, Some(4)));
    assert_eq!(of(1).device_key_id, w.devices[A].key_id());
    assert_eq!((of(2).receipts, of(2).last_seq), (3, Some(3)));
    assert_eq!(of(2).device_key_id, new_box.key_id());
    assert!(of(1).chain_intact && of(2).chain_intact);

    // The symptom before epochs: a statement with the current key only fails the old batches.
    b.screens[0] = statement(Vec::new());
    let r = verify(&w, &b);
    problem(&r, ProblemKind::BadBatchSignature, Some(A), Some(1));

    // An epoch's batch signed with another epoch's key fails.
    let mut b = log.full_bundle(&w);
    b.screens[0] = statement(epochs);
    let forged = playlists::receipt::sign_batch_epoch(A, 2, &w.receipts(A, 1, 3), &w.devices[A]);
    set_entry_data(&mut b, 2, &forged.to_json());
    let r = verify(&w, &b);
    problem(&r, ProblemKind::BadBatchSignature, Some(A), Some(1));
}
