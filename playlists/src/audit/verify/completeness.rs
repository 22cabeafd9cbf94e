//! Completeness: the bundle holds exactly what the controller's signed scope says it exported
//! (`docs/protocol.md` §15 "Export bundle", `docs/auditing.md` §4).

use std::collections::BTreeMap;

use super::{Checker, Statements};
use crate::audit::{
    is_action_record, verify_scope, ApprovalsScope, Bundle, ChainScope, ConflictScope, EntryKind,
    ManifestsScope, Period, ProblemKind, Scope, ScopeError,
};
use crate::envelope::{Envelope, MANIFEST_TYPE, RECEIPTS_TYPE, TICKER_TYPE};
use crate::keys::{b64_decode, KeySet};
use crate::merkle::Checkpoint;

/// Why the bytes of a log entry are not of its `kind`, if they are not: an `action` must be an
/// operator action record, a `batch` a receipts envelope (not an action record).
pub(super) fn kind_mismatch(data: &[u8], kind: EntryKind) -> Option<String> {
    match kind {
        EntryKind::Action if is_action_record(data) => None,
        EntryKind::Action => {
            let batch = Envelope::parse(data).is_ok_and(|e| e.payload_type == RECEIPTS_TYPE);
            Some(if batch {
                "the entry is labelled an action but holds a receipts batch envelope: a batch was \
                 hidden as an action"
                    .to_owned()
            } else {
                "the entry is labelled an action but is not an operator action record".to_owned()
            })
        }
        EntryKind::Batch if is_action_record(data) => {
            Some("the entry is labelled a batch but holds an operator action record".to_owned())
        }
        EntryKind::Batch => None,
    }
}

impl Checker {
    /// A conflict evidence entry that proves nothing: with a scope (which signs every entry,
    /// `docs/protocol.md` §15) a problem, without one a note.
    pub(super) fn unverified_conflict(&mut self, scoped: bool, screen: &str, message: String) {
        if scoped {
            self.problem(
                ProblemKind::BadConflictEvidence,
                Some(screen),
                None,
                None,
                message,
            );
        } else {
            self.notes.push(message);
        }
    }
}

/// An action entry's `at` must lie in the bundle's period `[from, to)`: the exporter exports
/// the actions of the period only (`docs/protocol.md` §15).
pub(super) fn check_action_period(c: &mut Checker, data: &[u8], index: u64, period: &Period) {
    let at = serde_json::from_slice::<serde_json::Value>(data)
        .ok()
        .and_then(|v| v.get("at")?.as_str().map(str::to_owned))
        .unwrap_or_default();
    let (Ok(from), Ok(to)) = (
        period.from.parse::<jiff::Timestamp>(),
        period.to.parse::<jiff::Timestamp>(),
    ) else {
        return; // reported as malformed_bundle
    };
    let inside = at
        .parse::<jiff::Timestamp>()
        .is_ok_and(|t| t >= from && t < to);
    if !inside {
        c.problem(
            ProblemKind::ActionOutOfPeriod,
            None,
            None,
            Some(index),
            format!(
                "the action's at {at:?} is not in the period {} .. {}: an action from outside \
                 the period was put in the bundle",
                period.from, period.to
            ),
        );
    }
}

/// Checks the bundle against its signed scope: the scope verifies under the controller key and
/// holds together, the period, `generated_at` and the checkpoint size are the signed ones,
/// every screen of the scope has a statement and the reverse, every chain's batches start, end
/// and count as signed, the entries give the signed digest, the number of actions is the signed
/// one and the conflict entries are the signed ones. Returns the scope if it verified.
pub(super) fn check_scope(
    c: &mut Checker,
    bundle: &Bundle,
    checkpoint: Option<&Checkpoint>,
    trusted: &KeySet,
    statements: &Statements,
) -> Option<Scope> {
    let Some(b64) = &bundle.scope else {
        c.problem(
            ProblemKind::MissingScope,
            None,
            None,
            None,
            "the bundle holds no signed scope, so nothing shows that it is complete; it was \
             exported by an older build: export it again",
        );
        return None;
    };
    let scope = match b64_decode(b64)
        .map_err(|e| ScopeError::Malformed(format!("scope is not standard base64: {e}")))
        .and_then(|bytes| verify_scope(&bytes, trusted))
    {
        Ok(s) => s,
        Err(e) => {
            c.problem(
                ProblemKind::BadScope,
                None,
                None,
                None,
                format!("{e}; the bundle's completeness cannot be checked"),
            );
            return None;
        }
    };
    if scope.period != bundle.period {
        c.problem(
            ProblemKind::PeriodMismatch,
            None,
            None,
            None,
            format!(
                "the bundle says period {} .. {} but the controller signed {} .. {}",
                bundle.period.from, bundle.period.to, scope.period.from, scope.period.to
            ),
        );
    }
    if scope.generated_at != bundle.generated_at {
        c.problem(
            ProblemKind::GeneratedAtMismatch,
            None,
            None,
            None,
            format!(
                "the bundle says generated_at {} but the controller signed {}: the scope is \
                 another export's",
                bundle.generated_at, scope.generated_at
            ),
        );
    }
    if let Some(cp) = checkpoint.filter(|cp| cp.size != scope.checkpoint_size) {
        c.problem(
            ProblemKind::ScopeCheckpointMismatch,
            None,
            None,
            None,
            format!(
                "the scope was signed for a checkpoint of size {}, the bundle's checkpoint has size {}",
                scope.checkpoint_size, cp.size
            ),
        );
    }
    let observed = c.observed.finish();
    let mut seen: BTreeMap<&str, &[ChainScope]> = observed
        .screens
        .iter()
        .map(|s| (s.screen.as_str(), s.chains.as_slice()))
        .collect();
    for signed in &scope.screens {
        let screen = signed.screen.as_str();
        if !statements.contains_key(screen) {
            c.problem(
                ProblemKind::MissingScreen,
                Some(screen),
                None,
                None,
                "the scope names this screen but the bundle holds no valid statement for it: \
                 the screen was removed from the bundle",
            );
        }
        let chains = seen.remove(screen).unwrap_or_default();
        check_chains(c, screen, &signed.chains, chains);
    }
    for screen in seen.keys() {
        if statements.contains_key(*screen) {
            c.problem(
                ProblemKind::UnscopedScreen,
                Some(screen),
                None,
                None,
                "the bundle holds a statement for this screen but the scope does not name it",
            );
        }
    }
    if observed.entries_sha256 != scope.entries_sha256 {
        c.problem(
            ProblemKind::EntriesMismatch,
            None,
            None,
            None,
            "the log entries (index, kind, leaf hash) are not the ones the controller signed in \
             entries_sha256: an entry was swapped, added or removed",
        );
    }
    check_conflicts(c, &scope.conflicts, &observed.conflicts);
    check_approvals_scope(c, bundle, scope.approvals.as_ref());
    let manifests = Section {
        name: "manifests",
        one: "manifest",
        payload_type: MANIFEST_TYPE,
        kind: ProblemKind::ManifestsMismatch,
        items: &bundle.manifests,
        signed: scope
            .manifests
            .as_ref()
            .map(|m| (m.manifests, m.manifests_sha256.clone())),
    };
    check_section(c, manifests, statements);
    let tickers = Section {
        name: "tickers",
        one: "ticker set",
        payload_type: TICKER_TYPE,
        kind: ProblemKind::TickersMismatch,
        items: &bundle.tickers,
        signed: scope
            .tickers
            .as_ref()
            .map(|t| (t.tickers, t.tickers_sha256.clone())),
    };
    check_section(c, tickers, statements);
    let counts = [
        (
            ProblemKind::ActionCountMismatch,
            "action entries",
            observed.actions,
            scope.actions,
        ),
        (
            ProblemKind::ConflictCountMismatch,
            "conflict evidence entries",
            bundle.conflicts.len() as u64,
            scope.conflicts.len() as u64,
        ),
    ];
    for (kind, what, found, signed) in counts {
        if found != signed {
            c.problem(
                kind,
                None,
                None,
                None,
                format!("the bundle holds {found} {what} but the controller signed {signed}"),
            );
        }
    }
    Some(scope)
}

/// The bundle's `policy` chain and `approvals` against the signed statement of them
/// (`docs/protocol.md` §15): counts and digests of the exact envelope bytes. A scope without
/// one signs a bundle without either section.
fn check_approvals_scope(c: &mut Checker, bundle: &Bundle, signed: Option<&ApprovalsScope>) {
    // An entry that is not base64 is hashed as its text: it cannot match, and the approvals
    // check names it.
    let bytes = |list: &[String]| -> Vec<Vec<u8>> {
        list.iter()
            .map(|b| b64_decode(b).unwrap_or_else(|_| b.as_bytes().to_vec()))
            .collect()
    };
    let policies = bytes(&bundle.policy);
    let approvals = bytes(&bundle.approvals);
    let Some(signed) = signed else {
        if !policies.is_empty() || !approvals.is_empty() {
            c.problem(
                ProblemKind::PolicyChainMismatch,
                None,
                None,
                None,
                format!(
                    "the bundle carries {} policies and {} approvals but its scope signs no \
                     approvals section: they were added after the export",
                    policies.len(),
                    approvals.len()
                ),
            );
        }
        return;
    };
    let found = ApprovalsScope::of(&refs(&policies), &refs(&approvals));
    if (found.policies, &found.policies_sha256) != (signed.policies, &signed.policies_sha256) {
        let how = if found.policies == signed.policies {
            "a policy was altered, swapped or reordered"
        } else {
            "a policy was removed or added"
        };
        c.problem(
            ProblemKind::PolicyChainMismatch,
            None,
            None,
            None,
            format!(
                "the bundle's policy chain ({} envelopes) is not the one the controller signed \
                 ({} envelopes, policies_sha256 {}): {how}",
                found.policies, signed.policies, signed.policies_sha256
            ),
        );
    }
    if (found.approvals, &found.approvals_sha256) != (signed.approvals, &signed.approvals_sha256) {
        let how = if found.approvals == signed.approvals {
            "an approval was altered or swapped for another"
        } else {
            "an approval was removed or added"
        };
        c.problem(
            ProblemKind::ApprovalsMismatch,
            None,
            None,
            None,
            format!(
                "the bundle holds {} approvals but the controller signed {} (approvals_sha256 \
                 {}): {how}",
                found.approvals, signed.approvals, signed.approvals_sha256
            ),
        );
    }
}

/// A section of controller-signed envelopes of the bundle (`manifests`, `tickers`) and how
/// it is checked against its signed statement in the scope.
struct Section<'a> {
    /// The bundle's member name.
    name: &'static str,
    /// What one envelope is, in words.
    one: &'static str,
    /// Its payloadType.
    payload_type: &'static str,
    /// The problem a mismatch is.
    kind: ProblemKind,
    /// Standard base64 of each exact envelope.
    items: &'a [String],
    /// The signed (count, digest), if the scope has the section.
    signed: Option<(u64, String)>,
}

/// A section of signed envelopes against the signed statement of it (`docs/protocol.md`
/// §15): the count and digest of the exact envelope bytes, and each one an envelope of its
/// type naming a screen of the bundle. The period report computes planned plays from the
/// `manifests` and tells ticker receipts apart by the `tickers`, so an altered one would
/// change its figures.
fn check_section(c: &mut Checker, s: Section, statements: &Statements) {
    let items: Vec<Vec<u8>> = s
        .items
        .iter()
        .map(|b| b64_decode(b).unwrap_or_else(|_| b.as_bytes().to_vec()))
        .collect();
    let name = s.name;
    for (i, bytes) in items.iter().enumerate() {
        let screen = Envelope::parse(bytes)
            .ok()
            .filter(|e| e.payload_type == s.payload_type)
            .and_then(|e| serde_json::from_slice::<serde_json::Value>(&e.payload).ok())
            .and_then(|v| v.get("screen")?.as_str().map(str::to_owned));
        match screen {
            None => c.problem(
                s.kind,
                None,
                None,
                None,
                format!("{name}[{i}] is not a {} envelope", s.one),
            ),
            Some(sc) if !statements.contains_key(&sc) => c.problem(
                s.kind,
                Some(&sc),
                None,
                None,
                format!(
                    "{name}[{i}] is the {} of a screen the bundle does not hold",
                    s.one
                ),
            ),
            Some(_) => {}
        }
    }
    let Some((count, digest)) = s.signed else {
        if !items.is_empty() {
            c.problem(
                s.kind,
                None,
                None,
                None,
                format!(
                    "the bundle carries {} {name} but its scope signs no {name} section: \
                     they were added after the export",
                    items.len()
                ),
            );
        }
        return;
    };
    let found = ManifestsScope::of(&refs(&items));
    if (found.manifests, found.manifests_sha256.as_str()) != (count, digest.as_str()) {
        let how = if found.manifests == count {
            format!("a {} was altered or swapped for another", s.one)
        } else {
            format!("a {} was removed or added", s.one)
        };
        c.problem(
            s.kind,
            None,
            None,
            None,
            format!(
                "the bundle holds {} {name} but the controller signed {count} ({name}_sha256 \
                 {digest}): {how}",
                found.manifests
            ),
        );
    }
}

fn refs(v: &[Vec<u8>]) -> Vec<&[u8]> {
    v.iter().map(Vec::as_slice).collect()
}

/// The conflict evidence entries as signed (screen and SHA-256 of the exact bytes) against
/// those in the bundle, as multisets.
fn check_conflicts(c: &mut Checker, signed: &[ConflictScope], seen: &[ConflictScope]) {
    let mut left: BTreeMap<&ConflictScope, i64> = BTreeMap::new();
    for s in signed {
        *left.entry(s).or_default() += 1;
    }
    for o in seen {
        *left.entry(o).or_default() -= 1;
    }
    for (e, n) in left.into_iter().filter(|(_, n)| *n != 0) {
        let what = if n > 0 {
            "the scope signs it but the bundle does not hold it (removed or altered)"
        } else {
            "the bundle holds it but the scope does not sign it (added, altered or relabelled)"
        };
        c.problem(
            ProblemKind::ConflictEvidenceMismatch,
            Some(&e.screen),
            None,
            None,
            format!(
                "conflict evidence sha256 {} ({}x): {what}",
                e.sha256,
                n.abs()
            ),
        );
    }
}

/// One screen's chains as signed against the chains its verified batches form.
fn check_chains(c: &mut Checker, screen: &str, signed: &[ChainScope], seen: &[ChainScope]) {
    let mut seen: BTreeMap<&str, &ChainScope> = seen
        .iter()
        .map(|ch| (ch.device_key_id.as_str(), ch))
        .collect();
    for s in signed {
        let key = &s.device_key_id;
        let Some(o) = seen.remove(key.as_str()) else {
            c.problem(
                ProblemKind::MissingChain,
                Some(screen),
                Some(s.first_seq),
                Some(s.first_index),
                format!(
                    "the scope signs {} batches seq {}..={} (log entries {}..={}) signed by device \
                     key {key}, the bundle holds no valid one",
                    s.batches, s.first_seq, s.last_seq, s.first_index, s.last_index
                ),
            );
            continue;
        };
        // (kind, verb, which batch, (seq, log entry) signed, the same found in the bundle)
        let ends = [
            (
                ProblemKind::ChainStartMismatch,
                "starts",
                "first",
                (s.first_seq, s.first_index),
                (o.first_seq, o.first_index),
            ),
            (
                ProblemKind::ChainEndMismatch,
                "ends",
                "last",
                (s.last_seq, s.last_index),
                (o.last_seq, o.last_index),
            ),
        ];
        for (kind, verb, which, signed, found) in ends {
            if found != signed {
                c.problem(
                    kind,
                    Some(screen),
                    Some(signed.0),
                    Some(signed.1),
                    format!(
                        "the chain of device key {key} {verb} at seq {} (log entry {}) in the \
                         scope but at seq {} (log entry {}) in the bundle: its {which} batch is \
                         missing",
                        signed.0, signed.1, found.0, found.1
                    ),
                );
            }
        }
        if o.batches != s.batches {
            c.problem(
                ProblemKind::BatchCountMismatch,
                Some(screen),
                None,
                None,
                format!(
                    "the chain of device key {key} has {} valid batches in the bundle but the \
                     scope signs {}",
                    o.batches, s.batches
                ),
            );
        }
    }
    for (key, o) in seen {
        c.problem(
            ProblemKind::UnscopedChain,
            Some(screen),
            Some(o.first_seq),
            Some(o.first_index),
            format!(
                "{} batches seq {}..={} signed by device key {key} are not in the scope",
                o.batches, o.first_seq, o.last_seq
            ),
        );
    }
}
