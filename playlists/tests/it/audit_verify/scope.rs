//! Completeness against the signed scope (`docs/protocol.md` §15, `docs/security.md` row 47):
//! every tamper that removes, swaps or relabels a part of the bundle fails.

use super::*;

/// The evidence that the device signed a second receipt 5 for screen A.
fn fork_evidence(w: &World) -> ConflictEntry {
    let real4 = w.receipts(A, 4, 4).remove(0);
    let mut other5 = receipt(A, 5, &playlists::receipt::receipt_hash(&real4));
    other5.lang = "fr".into();
    ConflictEntry {
        screen: A.into(),
        received_at: "2026-01-05T09:00:00.000Z".into(),
        data: B64.encode(sign_batch(A, &[other5.to_bytes()], &w.devices[A]).to_json()),
        repeats: 0,
    }
}

/// Position of the entry with log index `index` in the bundle.
fn entry_pos(b: &Bundle, index: u64) -> usize {
    b.log.entries.iter().position(|e| e.index == index).unwrap()
}

/// Verifies `b`, which must fail with (at least) each of `kinds`; returns the report text.
pub(super) fn fails_with(w: &World, b: &Bundle, kinds: &[ProblemKind]) -> String {
    let r = verify(w, b);
    assert!(!r.ok, "the tampered bundle passed:\n{}", r.to_text());
    for k in kinds {
        assert!(
            r.problems.iter().any(|p| p.kind == *k),
            "no {} problem:\n{}",
            k.as_str(),
            r.to_text()
        );
    }
    r.to_text()
}

#[test]
fn attack_scope_first_batch_removed() {
    let w = World::new();
    let mut b = Log::standard(&w).full_bundle(&w);
    b.log.entries.remove(entry_pos(&b, 0)); // A 1..=3
    let text = fails_with(&w, &b, &[ProblemKind::BatchCountMismatch]);
    let r = verify(&w, &b);
    let p = problem(&r, ProblemKind::ChainStartMismatch, Some(A), Some(1));
    assert!(
        p.contains("(log entry 0)") && p.contains("seq 4 (log entry 3)"),
        "{p}\n{text}"
    );
}

#[test]
fn attack_scope_last_batch_removed() {
    let w = World::new();
    let mut b = Log::standard(&w).full_bundle(&w);
    b.log.entries.remove(entry_pos(&b, 5)); // A 7..=9
    fails_with(&w, &b, &[ProblemKind::BatchCountMismatch]);
    let r = verify(&w, &b);
    let p = problem(&r, ProblemKind::ChainEndMismatch, Some(A), Some(9));
    assert!(p.contains("last batch is missing"), "{p}");
}

#[test]
fn attack_scope_batch_relabelled_as_action() {
    let w = World::new();
    let mut b = Log::standard(&w).full_bundle(&w);
    let pos = entry_pos(&b, 5);
    b.log.entries[pos].kind = EntryKind::Action; // A 7..=9 hidden as an "action"
    let kinds = [
        ProblemKind::ActionCountMismatch,
        ProblemKind::BatchCountMismatch,
    ];
    fails_with(&w, &b, &kinds);
    let r = verify(&w, &b);
    problem(&r, ProblemKind::ChainEndMismatch, Some(A), Some(9));
    let p = problem(&r, ProblemKind::EntryKindMismatch, Some(A), Some(7));
    assert!(p.contains("hidden as an action"), "{p}");
    // and an action record relabelled as a batch
    let mut b = Log::standard(&w).full_bundle(&w);
    b.log.entries[2].kind = EntryKind::Batch;
    fails_with(&w, &b, &[ProblemKind::EntryKindMismatch]);
}

#[test]
fn attack_scope_whole_screen_removed() {
    let w = World::new();
    let mut b = Log::standard(&w).full_bundle(&w);
    b.screens.remove(1); // B's statement
    b.log.entries.retain(|e| e.index != 1 && e.index != 4); // B's batches
    fails_with(&w, &b, &[]);
    let r = verify(&w, &b);
    problem(&r, ProblemKind::MissingScreen, Some(B), None);
    problem(&r, ProblemKind::MissingChain, Some(B), Some(1));
}

#[test]
fn attack_scope_conflict_evidence_deleted() {
    let w = World::new();
    let mut b = Log::standard(&w).full_bundle(&w);
    b.conflicts.push(fork_evidence(&w));
    rescope(&w, &mut b);
    problem(&verify(&w, &b), ProblemKind::Conflict, Some(A), Some(5));
    b.conflicts.clear();
    let text = fails_with(&w, &b, &[ProblemKind::ConflictCountMismatch]);
    assert!(text.contains("holds 0 conflict evidence entries"), "{text}");
}

#[test]
fn attack_scope_period_rewritten() {
    let w = World::new();
    let mut b = Log::standard(&w).full_bundle(&w);
    b.period.from = "2025-01-01T00:00:00Z".into();
    let text = fails_with(&w, &b, &[ProblemKind::PeriodMismatch]);
    assert!(text.contains("signed 2026-01-05T00:00:00Z"), "{text}");
}

#[test]
fn attack_scope_missing_forged_or_foreign() {
    let w = World::new();
    let mut b = Log::standard(&w).full_bundle(&w);
    // a bundle of an older build: no scope at all
    b.scope = None;
    let text = fails_with(&w, &b, &[ProblemKind::MissingScope]);
    assert!(text.contains("export it again"), "{text}");
    // a scope signed by another key
    let other = ScopeBuilder::new(b.period.clone(), 6).finish();
    b.scope = Some(B64.encode(other.sign(&w.devices[A]).to_json()));
    fails_with(&w, &b, &[ProblemKind::BadScope]);
    // the scope of another (smaller) bundle of the same controller
    let small = Log::standard(&w).bundle(&w, 4, &[0, 1, 2, 3], None);
    b.scope = small.scope;
    fails_with(&w, &b, &[ProblemKind::ScopeCheckpointMismatch]);
}

/// The scope example of `docs/protocol.md` §15 is the scope of this file's standard bundle.
#[test]
fn scope_example_in_the_protocol_is_the_standard_bundles() {
    let w = World::new();
    let b = Log::standard(&w).full_bundle(&w);
    let env = B64.decode(b.scope.unwrap()).unwrap();
    let trusted = playlists::keys::KeySet::from_keys([w.controller.public()]);
    let scope = playlists::audit::verify_scope(&env, &trusted).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md");
    let doc = std::fs::read_to_string(path).unwrap();
    let (_, after) = doc.split_once("**Bundle scope.**").unwrap();
    let (_, block) = after.split_once("```json\n").unwrap();
    let (json, _) = block.split_once("```").unwrap();
    let example: serde_json::Value = serde_json::from_str(json).unwrap();
    assert_eq!(serde_json::to_value(&scope).unwrap(), example);
}

/// Re-signs the bundle's scope after `f` edits its payload as JSON (a scope the controller
/// key signed but that does not hold together).
fn edit_scope(w: &World, b: &mut Bundle, f: impl FnOnce(&mut serde_json::Value)) {
    let env = Envelope::parse(&B64.decode(b.scope.as_ref().unwrap()).unwrap()).unwrap();
    let mut v: serde_json::Value = serde_json::from_slice(&env.payload).unwrap();
    f(&mut v);
    let signed = Envelope::sign(
        playlists::audit::SCOPE_TYPE,
        serde_json::to_vec(&v).unwrap(),
        &w.controller,
    );
    b.scope = Some(B64.encode(signed.to_json()));
}

/// Conflict evidence whose count still matches: its bytes replaced by `{}`, or its unsigned
/// `screen` relabelled, must not verify (the scope signs each entry's screen and SHA-256).
#[test]
fn attack_scope_conflict_evidence_neutralised() {
    let w = World::new();
    let mut b = Log::standard(&w).full_bundle(&w);
    b.conflicts.push(fork_evidence(&w));
    rescope(&w, &mut b);
    let mut emptied = b.clone();
    emptied.conflicts[0].data = B64.encode(b"{}");
    let kinds = [
        ProblemKind::ConflictEvidenceMismatch,
        ProblemKind::BadConflictEvidence,
    ];
    let text = fails_with(&w, &emptied, &kinds);
    assert!(
        text.contains("the scope signs it but the bundle does not hold it"),
        "{text}"
    );
    let r = verify(&w, &emptied);
    problem(&r, ProblemKind::BadConflictEvidence, Some(A), None);
    let mut relabelled = b.clone();
    relabelled.conflicts[0].screen = B.into();
    let r = verify(&w, &relabelled);
    problem(&r, ProblemKind::ConflictEvidenceMismatch, Some(A), None);
    let p = problem(&r, ProblemKind::ConflictEvidenceMismatch, Some(B), None);
    assert!(p.contains("relabelled"), "{p}");
    problem(&r, ProblemKind::BadConflictEvidence, Some(B), None);
}

/// An in-period action swapped for an out-of-period one of the same log: the count matches,
/// the inclusion proof holds; the signed entries digest and the action's `at` do not.
#[test]
fn attack_scope_action_swapped_for_out_of_period_one() {
    let w = World::new();
    let mut log = Log::standard(&w);
    let old = br#"{"at":"2025-12-24T07:00:00.000Z","actor":"admin","action":"revoke","screen":"ha-noi-2"}"#;
    log.leaves.push((EntryKind::Action, old.to_vec()));
    let mut b = log.bundle(&w, 7, &[0, 1, 2, 3, 4, 5], None);
    let hashes = log.hashes(7);
    b.log.entries.remove(entry_pos(&b, 2));
    b.log.entries.push(LogEntry::new(
        6,
        EntryKind::Action,
        old,
        &inclusion_proof(&hashes, 6),
    ));
    let text = fails_with(&w, &b, &[ProblemKind::EntriesMismatch]);
    let r = verify(&w, &b);
    let p = r
        .problems
        .iter()
        .find(|p| p.kind == ProblemKind::ActionOutOfPeriod);
    let p = p.unwrap_or_else(|| panic!("no action_out_of_period:\n{text}"));
    assert_eq!(p.entry, Some(6), "{p}");
    assert!(p.message.contains("2025-12-24T07:00:00.000Z"), "{p}");
}

/// The scope of a screen-filtered export (`?screens=lao-cai-1`) of the same period and log
/// size put on the full bundle with screen B removed: the signed `generated_at` differs, and
/// once that is rewritten too, the report says which screens were selected.
#[test]
fn attack_scope_filtered_export_scope_substituted() {
    let w = World::new();
    let log = Log::standard(&w);
    let mut b = log.full_bundle(&w);
    b.screens.remove(1); // B's statement
    b.log.entries.retain(|e| e.index != 1 && e.index != 4); // B's batches
    let mut filtered = log.bundle(&w, 6, &[0, 2, 3, 5], None);
    filtered.screens.remove(1);
    filtered.generated_at = "2026-01-06T00:05:00.000Z".into();
    rescope(&w, &mut filtered);
    edit_scope(&w, &mut filtered, |v| {
        v["selection"] = serde_json::json!([A])
    });
    b.scope = filtered.scope.clone();
    let text = fails_with(&w, &b, &[ProblemKind::GeneratedAtMismatch]);
    assert!(text.contains("signed 2026-01-06T00:05:00.000Z"), "{text}");
    b.generated_at = filtered.generated_at.clone();
    // Now the bundle is the filtered export, and the report says so.
    let r = verify(&w, &b);
    let text = r.to_text();
    assert!(r.ok, "{text}");
    assert!(text.contains("selection: lao-cai-1\n"), "{text}");
    let v = serde_json::to_value(&r).unwrap();
    assert_eq!(v["scope"]["selection"], serde_json::json!([A]), "{v}");
}

/// A controller-signed scope that does not hold together is rejected as `bad_scope`, naming
/// the rule it breaks.
#[test]
fn attack_scope_inconsistent_scope() {
    let w = World::new();
    let honest = Log::standard(&w).full_bundle(&w);
    type Edit = fn(&mut serde_json::Value);
    let cases: [(&str, Edit); 9] = [
        ("screens must be sorted", |v| {
            v["screens"].as_array_mut().unwrap().reverse()
        }),
        ("screens must be sorted", |v| {
            let a = v["screens"][0].clone();
            v["screens"].as_array_mut().unwrap().insert(0, a)
        }),
        ("chains must be sorted", |v| {
            let c = v["screens"][1]["chains"][0].clone();
            v["screens"][1]["chains"].as_array_mut().unwrap().push(c)
        }),
        ("first_seq", |v| {
            v["screens"][1]["chains"][0]["first_seq"] = 10.into()
        }),
        ("first_index", |v| {
            v["screens"][1]["chains"][0]["first_index"] = 6.into()
        }),
        ("checkpoint_size", |v| {
            v["screens"][1]["chains"][0]["last_index"] = 6.into()
        }),
        ("batches", |v| {
            v["screens"][1]["chains"][0]["batches"] = 0.into()
        }),
        ("batches", |v| {
            v["screens"][1]["chains"][0]["batches"] = 7.into()
        }),
        ("period", |v| {
            v["period"]["to"] = v["period"]["from"].clone()
        }),
    ];
    for (rule, edit) in cases {
        let mut b = honest.clone();
        edit_scope(&w, &mut b, edit);
        if rule == "period" {
            b.period.to = b.period.from.clone();
        }
        let r = verify(&w, &b);
        let p = r.problems.iter().find(|p| p.kind == ProblemKind::BadScope);
        let p = p.unwrap_or_else(|| panic!("no bad_scope for {rule}:\n{}", r.to_text()));
        assert!(p.message.contains(rule), "{rule}: {p}");
    }
}

/// A batch without receipts must not leak the `u64::MAX`/0 seq sentinels into the scope.
#[test]
fn attack_scope_empty_batch_sentinels() {
    let mut s = ScopeBuilder::new(
        Period {
            from: "2026-01-05T00:00:00Z".into(),
            to: "2026-01-06T00:00:00Z".into(),
        },
        3,
    );
    s.batch(A, "k1", 0, []);
    s.batch(B, "k2", 1, []).batch(B, "k2", 2, [4, 5]);
    let json = serde_json::to_string(&s.finish()).unwrap();
    assert!(!json.contains(&u64::MAX.to_string()), "{json}");
    let scope = s.finish();
    assert!(scope.screens[1].chains.is_empty(), "{json}");
    let b = &scope.screens[0].chains[0];
    assert_eq!(
        (b.first_seq, b.last_seq, b.first_index, b.batches),
        (4, 5, 2, 1),
        "{json}"
    );
}

/// A JSON array is not an operator action record, even with three strings in it.
#[test]
fn attack_scope_action_record_as_array() {
    use playlists::audit::is_action_record;
    assert!(is_action_record(ACTION));
    for bad in [
        &br#"["2026-01-05T07:00:00.000Z","admin","publish"]"#[..],
        br#"{"at":"2026-01-05T07:00:00.000Z","actor":"admin","action":1}"#,
        br#"{"at":"x","actor":"a","action":"b","payloadType":"application/vnd.gatecast.receipts+json"}"#,
    ] {
        assert!(!is_action_record(bad), "{}", String::from_utf8_lossy(bad));
    }
}
