//! Offline verification of an audit bundle ([`verify_bundle`]): each check is a step of its own.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::{
    verify_statement, Bundle, ConflictEntry, Consistency, EntryKind, LogEntry, Period, Problem,
    ProblemKind, Report, ScopeBuilder, ScreenEntry, ScreenStatement, ScreenSummary, StatementError,
    BUNDLE_FORMAT,
};
use crate::envelope::{Envelope, RECEIPTS_TYPE};
use crate::keys::{b64_decode, KeySet, PublicKey};
use crate::merkle::{
    hash_from_hex, leaf_hash, verify_checkpoint, verify_consistency, verify_inclusion, Checkpoint,
    Hash,
};
use crate::receipt::{
    claimed_epoch, receipt_hash, verify_batch, Backend, BatchError, ChainTip, Outcome, Receipt,
};

struct ReceiptInfo {
    hash: String,
    receipt: Receipt,
    entry: u64,
}

#[derive(Default)]
struct ScreenState {
    batches: u64,
    receipts: BTreeMap<u64, ReceiptInfo>,
    broken: bool,
}

struct Checker {
    problems: Vec<Problem>,
    notes: Vec<String>,
    /// What the bundle holds, described the way the exporter describes it in the scope.
    observed: ScopeBuilder,
}

mod approvals;
mod completeness;

pub use approvals::{ApprovalReport, PlayApproval};

impl Checker {
    fn problem(
        &mut self,
        kind: ProblemKind,
        screen: Option<&str>,
        seq: Option<u64>,
        entry: Option<u64>,
        message: impl Into<String>,
    ) {
        self.problems.push(Problem {
            kind,
            screen: screen.map(str::to_owned),
            seq,
            entry,
            message: message.into(),
        });
    }
}

/// What an unverified batch claims, for naming it in a problem (never trusted otherwise).
fn claimed_batch(bytes: &[u8]) -> (Option<String>, Option<u64>) {
    #[derive(Deserialize)]
    struct Claim {
        screen: Option<String>,
        #[serde(default)]
        receipts: Vec<String>,
    }
    let Ok(env) = Envelope::parse(bytes) else {
        return (None, None);
    };
    let Ok(c) = serde_json::from_slice::<Claim>(&env.payload) else {
        return (None, None);
    };
    let seq = c
        .receipts
        .first()
        .and_then(|t| serde_json::from_str::<serde_json::Value>(t).ok())
        .and_then(|v| v.get("seq").and_then(serde_json::Value::as_u64));
    (c.screen, seq)
}

fn decode_hashes(hexes: &[String]) -> Option<Vec<Hash>> {
    hexes.iter().map(|h| hash_from_hex(h)).collect()
}

/// Statements by screen, each with the device key of every epoch it registers.
type Statements = BTreeMap<String, (ScreenStatement, BTreeMap<u64, PublicKey>)>;
/// Device keys by key id, each with the screen and epoch it is registered for.
type DeviceKeys = BTreeMap<String, (String, u64, PublicKey)>;
/// One receipts chain: a screen's enrolment epoch.
type ChainId = (String, u64);

/// Verify an export bundle offline. Pure: bytes in, report out.
///
/// * `bundle_bytes`: the bundle file's exact bytes;
/// * `controller_key`: the controller public key the auditor trusts (obtained independently of
///   the bundle);
/// * `previous_checkpoint`: exact bytes of an earlier checkpoint envelope the auditor kept; the
///   bundle must then prove that its checkpoint extends it (`log.consistency`).
///
/// Checks, each failure becoming a [`Problem`] naming the screen, seq and log entry where they
/// apply: the format; the checkpoint and every screen statement under the controller key; every
/// batch's device signature under the key the statement registers for its screen, its payload
/// and its internal chain; every inclusion proof against the checkpoint root; per screen, that
/// the receipts present form one chain (seq contiguous from the lowest seq present, each `prev`
/// the hash of the receipt before it, no two different receipts under one seq, including the
/// signed evidence in `conflicts`); consistency with `previous_checkpoint`; and completeness
/// against the controller-signed scope (`scope`, [`super::Scope`]: period, `generated_at`,
/// checkpoint size, screens, each chain's first and last batch and count, each entry's kind,
/// the entries digest, the actions in the period and their number, each conflict entry; a
/// bundle without one is refused). A chain that starts above seq 1 is accepted with its first
/// `prev` taken as given, and said in the notes.
pub fn verify_bundle(
    bundle_bytes: &[u8],
    controller_key: &PublicKey,
    previous_checkpoint: Option<&[u8]>,
) -> Report {
    let mut c = Checker {
        problems: Vec::new(),
        notes: Vec::new(),
        observed: ScopeBuilder::new(
            Period {
                from: String::new(),
                to: String::new(),
            },
            0,
        ),
    };
    let mut report = empty_report(controller_key);
    let Some(bundle) = parse_bundle(&mut c, &mut report, bundle_bytes) else {
        return finish(report, c);
    };
    check_header(&mut c, &bundle, controller_key);
    let trusted = KeySet::from_keys([controller_key.clone()]);

    let checkpoint = check_checkpoint(&mut c, &bundle.log.checkpoint, &trusted);
    if let Some(prev_bytes) = previous_checkpoint {
        check_previous(
            &mut c,
            &mut report,
            prev_bytes,
            &trusted,
            checkpoint.as_ref(),
            bundle.log.consistency.as_ref(),
        );
    } else if let Some(cons) = &bundle.log.consistency {
        c.notes.push(format!(
            "the bundle holds a consistency proof from size {}, not checked: no previous checkpoint was supplied",
            cons.from_size
        ));
    }

    let statements = check_statements(&mut c, &bundle.screens, &trusted);
    let device_keys: DeviceKeys = statements
        .values()
        .flat_map(|(s, keys)| {
            keys.iter()
                .map(|(e, k)| (k.key_id(), (s.screen.clone(), *e, k.clone())))
        })
        .collect();

    let mut screens: BTreeMap<ChainId, ScreenState> = BTreeMap::new();
    report.log_entries = bundle.log.entries.len() as u64;
    let mut last_index: Option<u64> = None;
    for e in &bundle.log.entries {
        if last_index.is_some_and(|l| e.index <= l) {
            c.problem(
                ProblemKind::BadLogIndex,
                None,
                None,
                Some(e.index),
                "log entries must be in strictly increasing index order (duplicate or out of order)",
            );
        }
        last_index = Some(e.index);
        let data = match b64_decode(&e.data) {
            Ok(d) => d,
            Err(err) => {
                c.problem(
                    ProblemKind::MalformedBundle,
                    None,
                    None,
                    Some(e.index),
                    format!("data is not standard base64: {err}"),
                );
                continue;
            }
        };
        c.observed.entry(e.index, e.kind, &data);
        if let Some(cp) = &checkpoint {
            check_entry_inclusion(&mut c, cp, e, &data);
        }
        let mismatch = completeness::kind_mismatch(&data, e.kind);
        if let Some(why) = &mismatch {
            let (screen, seq) = claimed_batch(&data);
            c.problem(
                ProblemKind::EntryKindMismatch,
                screen.as_deref(),
                seq,
                Some(e.index),
                why.as_str(),
            );
        }
        match e.kind {
            EntryKind::Action => {
                report.actions += 1;
                c.observed.action();
                if mismatch.is_none() {
                    completeness::check_action_period(&mut c, &data, e.index, &bundle.period);
                }
            }
            // an action record labelled a batch: reported above, nothing to verify as a batch
            EntryKind::Batch if mismatch.is_some() => report.batches += 1,
            EntryKind::Batch => {
                report.batches += 1;
                check_batch(
                    &mut c,
                    &mut screens,
                    &statements,
                    &device_keys,
                    e.index,
                    &data,
                );
            }
        }
    }
    for (i, conflict) in bundle.conflicts.iter().enumerate() {
        let scoped = bundle.scope.is_some();
        check_conflict(&mut c, &mut screens, &statements, (i, scoped), conflict);
    }
    for ((screen, epoch), st) in &mut screens {
        check_chain(&mut c, screen, *epoch, st);
    }
    report.approvals = approvals::check(&mut c, &bundle, &screens, &statements);
    report.scope =
        completeness::check_scope(&mut c, &bundle, checkpoint.as_ref(), &trusted, &statements);
    summarize(&mut report, &c, &statements, &screens);
    report.checkpoint = checkpoint;
    finish(report, c)
}

/// A report with nothing checked yet.
fn empty_report(controller_key: &PublicKey) -> Report {
    Report {
        ok: false,
        format: None,
        generated_at: None,
        period: None,
        controller_key_id: controller_key.key_id(),
        checkpoint: None,
        previous_checkpoint: None,
        consistent_with_previous: None,
        scope: None,
        log_entries: 0,
        batches: 0,
        actions: 0,
        plays: 0,
        shown: 0,
        screens: Vec::new(),
        notes: Vec::new(),
        problems: Vec::new(),
        approvals: None,
    }
}

/// Parses the bundle and checks its format; `None` when nothing further can be checked.
fn parse_bundle(c: &mut Checker, report: &mut Report, bytes: &[u8]) -> Option<Bundle> {
    let bundle: Bundle = match serde_json::from_slice(bytes) {
        Ok(b) => b,
        Err(e) => {
            c.problem(
                ProblemKind::MalformedBundle,
                None,
                None,
                None,
                format!("not a {BUNDLE_FORMAT} JSON document: {e}"),
            );
            return None;
        }
    };
    report.format = Some(bundle.format.clone());
    report.generated_at = Some(bundle.generated_at.clone());
    report.period = Some(bundle.period.clone());
    if bundle.format != BUNDLE_FORMAT {
        c.problem(
            ProblemKind::MalformedBundle,
            None,
            None,
            None,
            format!(
                "format is {:?}; this verifier reads {BUNDLE_FORMAT:?} only",
                bundle.format
            ),
        );
        return None;
    }
    Some(bundle)
}

/// The bundle's timestamps and the controller key it names.
fn check_header(c: &mut Checker, bundle: &Bundle, controller_key: &PublicKey) {
    for (what, v) in [
        ("generated_at", &bundle.generated_at),
        ("period.from", &bundle.period.from),
        ("period.to", &bundle.period.to),
    ] {
        if v.parse::<jiff::Timestamp>().is_err() {
            c.problem(
                ProblemKind::MalformedBundle,
                None,
                None,
                None,
                format!("{what} {v:?} is not an RFC 3339 timestamp"),
            );
        }
    }
    if bundle.controller_key != controller_key.to_base64() {
        c.problem(
            ProblemKind::ControllerKeyMismatch,
            None,
            None,
            None,
            format!(
                "the bundle names controller key {:?} (key_id {:?}) but you supplied key_id {}; \
                 everything was checked against the key you supplied",
                bundle.controller_key,
                bundle.controller_key_id,
                controller_key.key_id()
            ),
        );
    }
}

/// The bundle's checkpoint, verified under the controller key.
fn check_checkpoint(c: &mut Checker, b64: &str, trusted: &KeySet) -> Option<Checkpoint> {
    let bytes = match b64_decode(b64) {
        Ok(bytes) => bytes,
        Err(e) => {
            c.problem(
                ProblemKind::BadCheckpoint,
                None,
                None,
                None,
                format!("log.checkpoint is not standard base64: {e}"),
            );
            return None;
        }
    };
    match verify_checkpoint(&bytes, trusted) {
        Ok(cp) => Some(cp),
        Err(e) => {
            c.problem(
                ProblemKind::BadCheckpoint,
                None,
                None,
                None,
                format!("{e}; no inclusion proof can be checked"),
            );
            None
        }
    }
}

/// Every screen statement under the controller key; the first statement of a screen counts.
fn check_statements(c: &mut Checker, entries: &[ScreenEntry], trusted: &KeySet) -> Statements {
    let mut statements = Statements::new();
    for (i, entry) in entries.iter().enumerate() {
        let stmt = b64_decode(&entry.statement)
            .map_err(|e| StatementError::Malformed(format!("not standard base64: {e}")))
            .and_then(|bytes| verify_statement(&bytes, trusted));
        let s = match stmt {
            Ok(s) => s,
            Err(e) => {
                c.problem(
                    ProblemKind::BadStatement,
                    None,
                    None,
                    None,
                    format!("screens[{i}]: {e}"),
                );
                continue;
            }
        };
        let key = s.public_key().expect("validated statement has a valid key");
        let keys: BTreeMap<u64, PublicKey> = s
            .epoch_keys()
            .expect("validated statement has valid epoch keys")
            .into_iter()
            .collect();
        match statements.get(&s.screen) {
            Some((first, _)) if first.public_key().ok().as_ref() != Some(&key) => c.problem(
                ProblemKind::DuplicateStatement,
                Some(&s.screen),
                None,
                None,
                format!(
                    "screens[{i}] registers device key {} but an earlier statement registers {}",
                    key.key_id(),
                    first.public_key().map(|k| k.key_id()).unwrap_or_default()
                ),
            ),
            Some(_) => {}
            None => {
                c.observed.screen(&s.screen);
                statements.insert(s.screen.clone(), (s, keys));
            }
        }
    }
    statements
}

/// The inclusion proof of one log entry against the checkpoint.
fn check_entry_inclusion(c: &mut Checker, cp: &Checkpoint, e: &LogEntry, data: &[u8]) {
    let Some(root) = cp.root_hash() else {
        return;
    };
    let claimed = if e.kind == EntryKind::Batch {
        claimed_batch(data)
    } else {
        (None, None)
    };
    if e.index >= cp.size {
        c.problem(
            ProblemKind::BadLogIndex,
            claimed.0.as_deref(),
            claimed.1,
            Some(e.index),
            format!(
                "index is beyond the checkpoint's log size {}; the entry is not covered by the checkpoint",
                cp.size
            ),
        );
        return;
    }
    match decode_hashes(&e.proof) {
        None => c.problem(
            ProblemKind::BadInclusionProof,
            claimed.0.as_deref(),
            claimed.1,
            Some(e.index),
            "inclusion proof hashes must be 64 lowercase hex characters",
        ),
        Some(proof) => {
            if !verify_inclusion(&leaf_hash(data), e.index, cp.size, &proof, &root) {
                c.problem(
                    ProblemKind::BadInclusionProof,
                    claimed.0.as_deref(),
                    claimed.1,
                    Some(e.index),
                    format!(
                        "the entry's bytes are not at index {} of the log the checkpoint (size {}) signs: \
                         they were altered or the log was rewritten",
                        e.index, cp.size
                    ),
                );
            }
        }
    }
}

/// One chain (a screen's enrolment epoch) holds: seq contiguous, each `prev` the hash before it.
fn check_chain(c: &mut Checker, screen: &str, epoch: u64, st: &mut ScreenState) {
    let Some((&first, _)) = st.receipts.iter().next() else {
        return;
    };
    let mut prev: Option<(u64, &ReceiptInfo)> = None;
    let mut broken = false;
    for (&seq, info) in &st.receipts {
        if let Some((pseq, pinfo)) = prev {
            if seq != pseq + 1 {
                broken = true;
                c.problem(
                    ProblemKind::SeqGap,
                    Some(screen),
                    Some(pseq + 1),
                    Some(info.entry),
                    format!(
                        "receipts seq {}..={} are missing: seq {pseq} (log entry {}) is followed by seq {seq}",
                        pseq + 1,
                        seq - 1,
                        pinfo.entry
                    ),
                );
            } else if info.receipt.prev != pinfo.hash {
                broken = true;
                c.problem(
                    ProblemKind::PrevMismatch,
                    Some(screen),
                    Some(seq),
                    Some(info.entry),
                    format!(
                        "prev is not the hash of receipt seq {pseq} (log entry {}); the chain is broken",
                        pinfo.entry
                    ),
                );
            }
        }
        prev = Some((seq, info));
    }
    if first > 1 {
        c.notes.push(format!(
            "screen {screen} epoch {epoch}: the receipts in the bundle start at seq {first}; its prev is taken \
             as given (earlier receipts are outside the export)"
        ));
    }
    st.broken |= broken;
}

/// One summary per chain (screen and epoch) named by a statement or a batch, and the report's
/// totals.
fn summarize(
    report: &mut Report,
    c: &Checker,
    statements: &Statements,
    screens: &BTreeMap<ChainId, ScreenState>,
) {
    let mut chains: std::collections::BTreeSet<ChainId> = statements
        .iter()
        .flat_map(|(name, (_, keys))| keys.keys().map(|e| (name.clone(), *e)))
        .collect();
    chains.extend(screens.keys().cloned());
    let empty = ScreenState::default();
    for chain in chains {
        let (name, epoch) = (&chain.0, chain.1);
        let st = screens.get(&chain).unwrap_or(&empty);
        let (gate, sname, key_id) = match statements.get(name) {
            Some((s, keys)) => (
                s.gate.clone(),
                s.name.clone(),
                keys.get(&epoch)
                    .map_or_else(|| "?".into(), PublicKey::key_id),
            ),
            None => ("?".into(), "?".into(), "?".into()),
        };
        let shown = st
            .receipts
            .values()
            .filter(|r| {
                r.receipt.outcome == Outcome::Completed && r.receipt.backend == Backend::Mpv
            })
            .count() as u64;
        let first_started_at = st.receipts.values().map(|r| r.receipt.started_at).min();
        let last_ended_at = st.receipts.values().map(|r| r.receipt.ended_at).max();
        let screen_problem = c
            .problems
            .iter()
            .any(|p| p.screen.as_deref() == Some(name.as_str()));
        report.plays += st.receipts.len() as u64;
        report.shown += shown;
        report.screens.push(ScreenSummary {
            screen: name.clone(),
            gate,
            name: sname,
            epoch,
            device_key_id: key_id,
            batches: st.batches,
            receipts: st.receipts.len() as u64,
            shown,
            first_seq: st.receipts.keys().next().copied(),
            last_seq: st.receipts.keys().next_back().copied(),
            first_started_at: first_started_at.map(|t| format!("{t:.3}")),
            last_ended_at: last_ended_at.map(|t| format!("{t:.3}")),
            starts_mid_chain: st.receipts.keys().next().is_some_and(|&s| s > 1),
            chain_intact: !st.broken && !screen_problem,
        });
    }
}

fn finish(mut report: Report, c: Checker) -> Report {
    report.ok = c.problems.is_empty();
    report.problems = c.problems;
    report.notes = c.notes;
    report
}

fn check_previous(
    c: &mut Checker,
    report: &mut Report,
    prev_bytes: &[u8],
    trusted: &KeySet,
    checkpoint: Option<&Checkpoint>,
    consistency: Option<&Consistency>,
) {
    let prev = match verify_checkpoint(prev_bytes, trusted) {
        Ok(p) => p,
        Err(e) => {
            c.problem(
                ProblemKind::BadPreviousCheckpoint,
                None,
                None,
                None,
                format!("the previous checkpoint you supplied: {e}"),
            );
            return;
        }
    };
    report.previous_checkpoint = Some(prev.clone());
    report.consistent_with_previous = Some(false);
    let Some(cp) = checkpoint else {
        return; // already reported as bad_checkpoint
    };
    if prev.origin != cp.origin {
        c.problem(
            ProblemKind::InconsistentHistory,
            None,
            None,
            None,
            format!(
                "the previous checkpoint is of log {:?}, the bundle's of log {:?}",
                prev.origin, cp.origin
            ),
        );
        return;
    }
    let (Some(old_root), Some(new_root)) = (prev.root_hash(), cp.root_hash()) else {
        return; // validated checkpoints always have a root
    };
    if prev.size > cp.size {
        c.problem(
            ProblemKind::InconsistentHistory,
            None,
            None,
            None,
            format!(
                "the log shrank: the previous checkpoint has size {}, the bundle's only {}",
                prev.size, cp.size
            ),
        );
        return;
    }
    if prev.size == cp.size {
        if old_root == new_root {
            report.consistent_with_previous = Some(true);
        } else {
            c.problem(
                ProblemKind::InconsistentHistory,
                None,
                None,
                None,
                format!(
                    "both checkpoints have size {} but different roots: the history was rewritten",
                    cp.size
                ),
            );
        }
        return;
    }
    let Some(cons) = consistency else {
        c.problem(
            ProblemKind::MissingConsistencyProof,
            None,
            None,
            None,
            format!(
                "the bundle holds no consistency proof; export it again with the previous size {}",
                prev.size
            ),
        );
        return;
    };
    if cons.from_size != prev.size {
        c.problem(
            ProblemKind::MissingConsistencyProof,
            None,
            None,
            None,
            format!(
                "the bundle's consistency proof is from size {}, your previous checkpoint has size {}; \
                 export it again with the previous size {}",
                cons.from_size, prev.size, prev.size
            ),
        );
        return;
    }
    let Some(proof) = decode_hashes(&cons.proof) else {
        c.problem(
            ProblemKind::MalformedBundle,
            None,
            None,
            None,
            "log.consistency.proof hashes must be 64 lowercase hex characters",
        );
        return;
    };
    if verify_consistency(prev.size, cp.size, &old_root, &new_root, &proof) {
        report.consistent_with_previous = Some(true);
    } else {
        c.problem(
            ProblemKind::InconsistentHistory,
            None,
            None,
            None,
            format!(
                "the checkpoint (size {}) is not an append-only extension of the previous checkpoint (size {}): \
                 entries that existed before were changed or removed",
                cp.size, prev.size
            ),
        );
    }
}

/// Verify a batch entry and add its receipts to the screen's chain state.
fn check_batch(
    c: &mut Checker,
    screens: &mut BTreeMap<ChainId, ScreenState>,
    statements: &Statements,
    device_keys: &DeviceKeys,
    index: u64,
    data: &[u8],
) {
    let (claimed_screen, claimed_seq) = claimed_batch(data);
    let epoch = claimed_epoch(data).unwrap_or(crate::receipt::FIRST_EPOCH);
    // The screen and epoch the batch names, if a statement registers them; otherwise the
    // screen and epoch whose registered key id the signature names. The signature is verified
    // (under the key of that epoch) before anything else.
    let by_claim = claimed_screen
        .as_deref()
        .and_then(|s| statements.get(s))
        .and_then(|(s, keys)| Some((s.screen.clone(), epoch, keys.get(&epoch)?.clone())));
    let by_keyid = || {
        Envelope::parse(data).ok().and_then(|env| {
            env.signatures
                .iter()
                .find_map(|s| device_keys.get(&s.keyid))
                .cloned()
        })
    };
    let (screen, epoch, key) = match by_claim.or_else(by_keyid) {
        Some(sk) => sk,
        None => {
            c.problem(
                ProblemKind::UnknownScreen,
                claimed_screen.as_deref(),
                claimed_seq,
                Some(index),
                format!(
                    "no screen statement in the bundle registers this batch's screen and epoch {epoch} or its signing key"
                ),
            );
            if let Some(s) = claimed_screen {
                screens.entry((s, epoch)).or_default().broken = true;
            }
            return;
        }
    };
    let st = screens.entry((screen.clone(), epoch)).or_default();
    // Verify signature first; only then read the receipts, to set up a tip for mid-chain batches.
    let verified = match crate::envelope::verify_with_key(data, RECEIPTS_TYPE, &key) {
        Ok(v) => v,
        Err(e) => {
            st.broken = true;
            c.problem(
                ProblemKind::BadBatchSignature,
                Some(claimed_screen.as_deref().unwrap_or(&screen)),
                claimed_seq,
                Some(index),
                format!(
                    "the batch is not validly signed by the device key {} registered for screen {screen} epoch {epoch}: {e}",
                    key.key_id()
                ),
            );
            return;
        }
    };
    let first = serde_json::from_slice::<serde_json::Value>(&verified.payload)
        .ok()
        .and_then(|v| {
            v.get("receipts")?
                .as_array()?
                .first()?
                .as_str()
                .map(|t| Receipt::parse(t.as_bytes()))
        });
    let tip = match first {
        Some(Ok(r)) if r.seq > 1 => Some(ChainTip {
            seq: r.seq - 1,
            hash: r.prev,
        }),
        _ => None,
    };
    match verify_batch(data, &key, &screen, tip.as_ref(), &|_| None) {
        Err(e) => {
            st.broken = true;
            let seq = match &e {
                BatchError::SeqGap { found, .. } => Some(*found),
                BatchError::PrevMismatch { seq } | BatchError::DuplicateConflict { seq } => {
                    Some(*seq)
                }
                _ => claimed_seq,
            };
            c.problem(
                ProblemKind::BadBatch,
                Some(&screen),
                seq,
                Some(index),
                e.to_string(),
            );
        }
        Ok(batch) if batch.epoch != epoch => {
            st.broken = true;
            c.problem(
                ProblemKind::BadBatch,
                Some(&screen),
                claimed_seq,
                Some(index),
                format!(
                    "the batch names epoch {} but is signed by the device key of epoch {epoch}",
                    batch.epoch
                ),
            );
        }
        Ok(batch) => {
            st.batches += 1;
            c.observed.batch(
                &screen,
                &key.key_id(),
                index,
                batch.receipts.iter().map(|(r, _)| r.seq),
            );
            for (r, bytes) in batch.receipts {
                add_receipt(c, st, &screen, r, &bytes, index, "log entry");
            }
        }
    }
}

fn add_receipt(
    c: &mut Checker,
    st: &mut ScreenState,
    screen: &str,
    r: Receipt,
    bytes: &[u8],
    entry: u64,
    source: &str,
) {
    let hash = receipt_hash(bytes);
    match st.receipts.get(&r.seq) {
        Some(existing) if existing.hash == hash => {}
        Some(existing) => {
            st.broken = true;
            c.problem(
                ProblemKind::Conflict,
                Some(screen),
                Some(r.seq),
                Some(existing.entry),
                format!(
                    "the device signed two different receipts with seq {} (log entry {} and {source} {entry}); \
                     the screen's history forked",
                    r.seq, existing.entry
                ),
            );
        }
        None => {
            st.receipts.insert(
                r.seq,
                ReceiptInfo {
                    hash,
                    receipt: r,
                    entry,
                },
            );
        }
    }
}

fn check_conflict(
    c: &mut Checker,
    screens: &mut BTreeMap<ChainId, ScreenState>,
    statements: &Statements,
    (i, scoped): (usize, bool),
    conflict: &ConflictEntry,
) {
    let Ok(data) = b64_decode(&conflict.data) else {
        c.problem(
            ProblemKind::MalformedBundle,
            Some(&conflict.screen),
            None,
            None,
            format!("conflicts[{i}].data is not standard base64"),
        );
        return;
    };
    c.observed.conflict(&conflict.screen, &data);
    let epoch = claimed_epoch(&data).unwrap_or(crate::receipt::FIRST_EPOCH);
    let Some(key) = statements
        .get(&conflict.screen)
        .and_then(|(_, keys)| keys.get(&epoch))
    else {
        c.unverified_conflict(
            scoped,
            &conflict.screen,
            format!(
                "conflicts[{i}] for screen {} epoch {epoch} cannot be checked: the bundle holds no statement for that screen and epoch",
                conflict.screen
            ),
        );
        return;
    };
    let Ok(v) = crate::envelope::verify_with_key(&data, RECEIPTS_TYPE, key) else {
        c.unverified_conflict(
            scoped,
            &conflict.screen,
            format!(
                "conflicts[{i}] for screen {} is not signed by its device key: not evidence of anything",
                conflict.screen
            ),
        );
        return;
    };
    #[derive(Deserialize)]
    struct Payload {
        screen: String,
        receipts: Vec<String>,
    }
    let p = match serde_json::from_slice::<Payload>(&v.payload) {
        Ok(p) if p.screen == conflict.screen => p,
        _ => {
            let msg = format!(
                "conflicts[{i}] for screen {} has a malformed payload or names another screen",
                conflict.screen
            );
            c.unverified_conflict(scoped, &conflict.screen, msg);
            return;
        }
    };
    let st = screens.entry((conflict.screen.clone(), epoch)).or_default();
    let before = c.problems.len();
    for text in p.receipts {
        if let Ok(r) = Receipt::parse(text.as_bytes()) {
            if r.screen == conflict.screen {
                let seq = r.seq;
                if st.receipts.contains_key(&seq) {
                    add_receipt(
                        c,
                        st,
                        &conflict.screen,
                        r,
                        text.as_bytes(),
                        i as u64,
                        "conflicts entry",
                    );
                }
            }
        }
    }
    if c.problems.len() == before {
        c.notes.push(format!(
            "conflicts[{i}] for screen {} (received {}) does not contradict a receipt in this bundle",
            conflict.screen, conflict.received_at
        ));
    }
}
