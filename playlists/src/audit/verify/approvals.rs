//! Approvals behind each play (`docs/protocol.md` §19): the bundle's policy chain must verify
//! (the first policy under its own root threshold: the auditor compares its root ids with the
//! installation sheets), every approval must be validly signed by an approver of the chain, and
//! every play after the first policy was issued must be covered: media by `media_threshold`,
//! alert texts and alert media (playlist `alert:…`) by `alert_threshold` distinct approvers of
//! a policy issued at or before the play (the screen held one of them; the newest that covers
//! it is reported), with approvals in force
//! then, in scope for the screen's gate, naming the played SHA-256 and language.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::Serialize;

use super::{ChainId, Checker, ScreenState, Statements};
use crate::approval::{Approval, APPROVAL_TYPE};
use crate::audit::{Bundle, ProblemKind};
use crate::envelope::Envelope;
use crate::keys::b64_decode;
use crate::policy::{distinct_signers, verify_chain, Policy};

/// The approvals section of the report.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApprovalReport {
    /// Versions of the policies of the chain that verified, oldest first.
    pub policy_versions: Vec<u64>,
    /// Root key ids of the first policy: compare them with the ids pinned on the screens
    /// (the installation sheets).
    pub root_ids: Vec<String>,
    /// Approvals that verified.
    pub approvals: u64,
    /// Plays covered by enough approvals.
    pub covered: u64,
    /// Plays not covered (each also a problem).
    pub uncovered: u64,
    /// Every play checked, with who approved it.
    pub plays: Vec<PlayApproval>,
}

/// One play and the approvers whose approvals covered it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct PlayApproval {
    /// Screen id.
    pub screen: String,
    /// Receipt seq.
    pub seq: u64,
    /// Played media SHA-256 (for an alert text: of its bytes).
    pub media: String,
    /// Language.
    pub lang: String,
    /// When it started.
    pub started_at: String,
    /// Names (and key ids) of the approvers counted; empty when not covered.
    pub approvers: Vec<String>,
}

fn decode(c: &mut Checker, what: &str, i: usize, b64: &str) -> Option<Vec<u8>> {
    match b64_decode(b64) {
        Ok(b) => Some(b),
        Err(e) => {
            let kind = if what == "policy" {
                ProblemKind::BadPolicy
            } else {
                ProblemKind::BadApproval
            };
            c.problem(
                kind,
                None,
                None,
                None,
                format!("{what}[{i}] is not standard base64: {e}"),
            );
            None
        }
    }
}

/// Checks the chain, the approvals and every play; `None` when the bundle carries no policy.
pub(super) fn check(
    c: &mut Checker,
    bundle: &Bundle,
    screens: &BTreeMap<ChainId, ScreenState>,
    statements: &Statements,
) -> Option<ApprovalReport> {
    if bundle.policy.is_empty() {
        if !bundle.approvals.is_empty() {
            c.problem(
                ProblemKind::BadApproval,
                None,
                None,
                None,
                "the bundle carries approvals but no policy",
            );
        }
        return None;
    }
    let mut texts = Vec::new();
    for (i, p) in bundle.policy.iter().enumerate() {
        texts.push(String::from_utf8_lossy(&decode(c, "policy", i, p)?).into_owned());
    }
    // The chain: from the first policy's own roots, every later one by the one before it.
    let first = Envelope::parse(texts[0].as_bytes())
        .ok()
        .and_then(|e| Policy::from_json(&e.payload).ok());
    let Some(first) = first else {
        c.problem(
            ProblemKind::BadPolicy,
            None,
            None,
            None,
            "policy[0] is not a policy envelope",
        );
        return None;
    };
    let mut policies: Vec<Policy> = Vec::new();
    for n in 1..=texts.len() {
        match verify_chain(&texts[..n], &first.root_ids(), None, Timestamp::MIN) {
            Ok(Some((p, _))) => policies.push(p),
            Ok(None) => {}
            Err(e) => {
                c.problem(
                    ProblemKind::BadPolicy,
                    None,
                    None,
                    None,
                    format!("policy[{}]: {e}", n - 1),
                );
                return None;
            }
        }
    }
    // Approvals: each must be signed by an approver of some policy of the chain.
    let mut counted: Vec<(BTreeSet<String>, Approval)> = Vec::new();
    let everyone: Vec<_> = policies
        .iter()
        .flat_map(|p| {
            p.approvers
                .iter()
                .filter_map(|a| Some((a.key_id.clone(), p.approver_key(&a.key_id)?)))
        })
        .collect();
    for (i, a) in bundle.approvals.iter().enumerate() {
        let Some(bytes) = decode(c, "approvals", i, a) else {
            continue;
        };
        let env = match Envelope::parse(&bytes) {
            Ok(e) if e.payload_type == APPROVAL_TYPE => e,
            _ => {
                c.problem(
                    ProblemKind::BadApproval,
                    None,
                    None,
                    None,
                    format!("approvals[{i}] is not an approval envelope"),
                );
                continue;
            }
        };
        let signers = distinct_signers(&env, &everyone);
        match Approval::from_json(&env.payload) {
            Ok(approval) if !signers.is_empty() => counted.push((signers, approval)),
            Ok(_) => c.problem(ProblemKind::BadApproval, None, None, None, format!("approvals[{i}] is not validly signed by an approver of the policy chain (altered or forged)")),
            Err(e) => c.problem(ProblemKind::BadApproval, None, None, None, format!("approvals[{i}]: {e}")),
        }
    }
    let mut report = ApprovalReport {
        policy_versions: policies.iter().map(|p| p.version).collect(),
        root_ids: first.root_ids(),
        approvals: counted.len() as u64,
        covered: 0,
        uncovered: 0,
        plays: Vec::new(),
    };
    for ((screen, _), st) in screens {
        let gate = statements
            .get(screen)
            .map(|(s, _)| s.gate.clone())
            .unwrap_or_default();
        for (seq, info) in &st.receipts {
            let r = &info.receipt;
            let at = r.started_at;
            // The screen held one of the policies issued before the play (which one is not in
            // the bundle): the play is covered if it is under any of them, newest first.
            let candidates: Vec<&Policy> = policies
                .iter()
                .rev()
                .filter(|p| p.issued_at <= at)
                .collect();
            let Some(newest) = candidates.first().copied() else {
                continue;
            };
            let alert = r.playlist.starts_with("alert:");
            let needed_of = |p: &Policy| {
                if alert {
                    p.alert_threshold
                } else {
                    p.media_threshold
                }
            };
            let approvers_under = |policy: &Policy| {
                let mut who = BTreeSet::new();
                for (signers, a) in &counted {
                    let names = a
                        .media
                        .iter()
                        .any(|m| m.sha256 == r.media && m.lang == r.lang)
                        || (alert
                            && a.texts
                                .iter()
                                .any(|t| t.sha256 == r.media && t.lang == r.lang));
                    if names && a.in_force(at, &gate) {
                        who.extend(
                            signers
                                .iter()
                                .filter(|id| policy.approver(id).is_some())
                                .cloned(),
                        );
                    }
                }
                who
            };
            let found = candidates
                .iter()
                .map(|p| (*p, approvers_under(p)))
                .find(|(p, who)| who.len() >= needed_of(p) as usize);
            let (policy, who) = found.unwrap_or_else(|| (newest, approvers_under(newest)));
            let needed = needed_of(policy);
            let covered = who.len() >= needed as usize;
            if covered {
                report.covered += 1;
            } else {
                report.uncovered += 1;
                c.problem(
                    ProblemKind::UnapprovedPlay,
                    Some(screen),
                    Some(*seq),
                    Some(info.entry),
                    format!("{} ({}) played at {at} with {} of {needed} approvals under policy version {}", r.media, r.lang, who.len(), policy.version),
                );
            }
            report.plays.push(PlayApproval {
                screen: screen.clone(),
                seq: *seq,
                media: r.media.clone(),
                lang: r.lang.clone(),
                started_at: at.to_string(),
                approvers: if covered {
                    who.iter()
                        .map(|id| {
                            format!(
                                "{} ({id})",
                                policy.approver(id).map_or("?", |a| a.name.as_str())
                            )
                        })
                        .collect()
                } else {
                    Vec::new()
                },
            });
        }
    }
    Some(report)
}
