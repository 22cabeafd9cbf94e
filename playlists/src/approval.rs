//! Approvals and the coverage check (`docs/protocol.md` §19).
//!
//! An approval is a DSSE envelope of payloadType [`APPROVAL_TYPE`] signed by one approver key:
//! it names exact media (`sha256`, `title`, `lang`, `kind`) and alert texts (SHA-256 of the
//! exact text bytes, `lang`), a validity window and a scope. Approvals travel inside the
//! manifest or alert set payload they cover, with the policy chain ([`Attachments`]), so a
//! screen checks content and its approvals atomically. A screen with a pinned policy root
//! accepts a manifest only if every media item is covered by approvals of at least
//! `media_threshold` distinct approver keys of its policy ([`check_manifest`]), an alert
//! set only if every text and media item reaches `alert_threshold` ([`check_alerts`]), and a
//! ticker set only if every text does ([`check_ticker`]); else the reason is `not_approved`.

use std::collections::{BTreeMap, BTreeSet};

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::envelope::{Envelope, EnvelopeError};
use crate::hex::sha256_hex;
use crate::keys::SecretKey;
use crate::manifest::RejectReason;
use crate::manifest::{
    is_valid_id, is_valid_lang_tag, is_valid_sha256_hex, rfc3339, AlertSet, AlertText, Manifest,
    MediaKind, MediaRef, TickerSet,
};
use crate::policy::{distinct_signers, Policy};

/// payloadType of an approval envelope (fixed).
pub const APPROVAL_TYPE: &str = "application/vnd.gatecast.approval+json";
/// Most media items plus texts one approval may name.
pub const MAX_APPROVAL_ITEMS: usize = 10_000;
/// Most approvals one manifest or alert set may carry.
pub const MAX_APPROVALS: usize = 4_096;
/// Most gates in one approval's scope.
pub const MAX_SCOPE_GATES: usize = 256;
/// Longest note, in bytes.
pub const MAX_NOTE_LEN: usize = 1024;

/// A media item as approved: exactly what the screen will show.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovedMedia {
    /// SHA-256 of the media bytes.
    pub sha256: String,
    /// Title as it appears in the manifest.
    pub title: String,
    /// Language tag.
    pub lang: String,
    /// Kind.
    pub kind: MediaKind,
}

impl ApprovedMedia {
    /// What an approval of `m` names.
    pub fn of(m: &MediaRef) -> ApprovedMedia {
        ApprovedMedia {
            sha256: m.sha256.clone(),
            title: m.title.clone(),
            lang: m.lang.clone(),
            kind: m.kind,
        }
    }
}

/// An alert text as approved: the SHA-256 of its exact UTF-8 bytes and its language.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ApprovedText {
    /// Lowercase hex SHA-256 of the exact text bytes.
    pub sha256: String,
    /// Language tag.
    pub lang: String,
}

impl ApprovedText {
    /// What an approval of `text` in `lang` names.
    pub fn of(lang: &str, text: &str) -> ApprovedText {
        ApprovedText {
            sha256: sha256_hex(text.as_bytes()),
            lang: lang.to_owned(),
        }
    }
}

/// Where an approval counts: every gate, or the listed gates.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Scope {
    /// Every gate (then `gates` is empty).
    #[serde(default)]
    pub all: bool,
    /// The gates (then `all` is false).
    #[serde(default)]
    pub gates: Vec<String>,
}

impl Scope {
    /// Every gate.
    pub fn everywhere() -> Scope {
        Scope {
            all: true,
            gates: Vec::new(),
        }
    }

    /// Whether a screen of `gate` is in scope.
    pub fn covers(&self, gate: &str) -> bool {
        self.all || self.gates.iter().any(|g| g == gate)
    }
}

/// The payload of an approval envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approval {
    /// Media approved.
    #[serde(default)]
    pub media: Vec<ApprovedMedia>,
    /// Alert texts approved.
    #[serde(default)]
    pub texts: Vec<ApprovedText>,
    /// Counts from this instant.
    #[serde(with = "rfc3339")]
    pub not_before: Timestamp,
    /// Counts until just before this instant.
    #[serde(with = "rfc3339")]
    pub not_after: Timestamp,
    /// Gates where it counts.
    pub scope: Scope,
    /// Optional note by the approver.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub note: Option<String>,
}

/// Why an approval payload is invalid.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    /// The envelope is malformed or of another type.
    #[error("approval envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload does not parse or breaks a rule.
    #[error("approval is invalid: {0}")]
    Invalid(String),
}

impl Approval {
    /// Strict parse (unknown fields refused) and [`Approval::validate`].
    pub fn from_json(bytes: &[u8]) -> Result<Approval, ApprovalError> {
        let a: Approval =
            serde_json::from_slice(bytes).map_err(|e| ApprovalError::Invalid(e.to_string()))?;
        a.validate()?;
        Ok(a)
    }

    /// Compact JSON, the signed bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("an approval serializes")
    }

    /// Sign with an approver key (one signature).
    pub fn sign(&self, key: &SecretKey) -> Envelope {
        Envelope::sign(APPROVAL_TYPE, self.to_json(), key)
    }

    /// Bounds: 1..=10 000 items, valid hashes and tags, `not_after > not_before`, a scope of
    /// `all` or 1..=256 valid gate ids, a note of at most 1 024 bytes.
    pub fn validate(&self) -> Result<(), ApprovalError> {
        let bad = |m: String| Err(ApprovalError::Invalid(m));
        let n = self.media.len() + self.texts.len();
        if n == 0 || n > MAX_APPROVAL_ITEMS {
            return bad(format!(
                "an approval names 1..={MAX_APPROVAL_ITEMS} media items and texts, this one {n}"
            ));
        }
        for (i, m) in self.media.iter().enumerate() {
            if !is_valid_sha256_hex(&m.sha256) || !is_valid_lang_tag(&m.lang) {
                return bad(format!("media[{i}]: sha256 or lang is not valid"));
            }
        }
        for (i, t) in self.texts.iter().enumerate() {
            if !is_valid_sha256_hex(&t.sha256) || !is_valid_lang_tag(&t.lang) {
                return bad(format!("texts[{i}]: sha256 or lang is not valid"));
            }
        }
        if self.not_after <= self.not_before {
            return bad("not_after must be later than not_before".into());
        }
        let gates_ok = self.scope.gates.len() <= MAX_SCOPE_GATES
            && self.scope.gates.iter().all(|g| is_valid_id(g));
        if self.scope.all != self.scope.gates.is_empty() || !gates_ok {
            return bad(format!(
                "scope is either {{\"all\":true}} or {{\"gates\":[…]}} with 1..={MAX_SCOPE_GATES} gate ids"
            ));
        }
        if self.note.as_ref().is_some_and(|n| {
            n.len() > MAX_NOTE_LEN || n.chars().any(|c| c.is_control() && c != '\n')
        }) {
            return bad(format!(
                "note: at most {MAX_NOTE_LEN} bytes, no control characters"
            ));
        }
        Ok(())
    }

    /// Whether it counts at `now` for a screen of `gate`.
    pub fn in_force(&self, now: Timestamp, gate: &str) -> bool {
        self.not_before <= now && now < self.not_after && self.scope.covers(gate)
    }
}

/// What travels beside the content inside a manifest or alert set payload: the policy chain
/// (envelopes as JSON text, oldest first) and the approvals (envelopes as JSON text). Screens
/// without a pinned root ignore both members (unknown members are ignored, §8).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Attachments {
    /// Policy envelopes, oldest first.
    #[serde(default)]
    pub policy: Vec<String>,
    /// Approval envelopes.
    #[serde(default)]
    pub approvals: Vec<String>,
}

impl Attachments {
    /// Read the members from a verified manifest or alert set payload (absent = empty).
    pub fn from_payload(payload: &[u8]) -> Result<Attachments, ApprovalError> {
        serde_json::from_slice(payload).map_err(|e| ApprovalError::Invalid(e.to_string()))
    }

    /// `content_json` (a compact JSON object) with `policy` and `approvals` appended as its last
    /// members; unchanged when both are empty, so content without approvals keeps its bytes.
    pub fn attach(&self, mut content_json: Vec<u8>) -> Vec<u8> {
        if self.policy.is_empty() && self.approvals.is_empty() {
            return content_json;
        }
        debug_assert_eq!(content_json.last(), Some(&b'}'));
        content_json.pop();
        let tail = serde_json::to_vec(self).expect("strings serialize");
        let empty_object = content_json.last() == Some(&b'{');
        if !empty_object {
            content_json.push(b',');
        }
        content_json.extend_from_slice(&tail[1..]);
        content_json
    }
}

/// One approval that verified under the policy: who signed it and what it says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CountedApproval {
    /// Distinct approver key ids of the policy whose signature verified.
    pub signers: BTreeSet<String>,
    /// The payload.
    pub approval: Approval,
}

/// Verify approval envelopes under `policy`: keep the ones signed by at least one approver key
/// of the policy (strictly verified) with a valid payload; the others never count and are
/// returned as (index, why) for the detail of a refusal.
pub fn verify_approvals(
    texts: &[String],
    policy: &Policy,
) -> (Vec<CountedApproval>, Vec<(usize, String)>) {
    let candidates: Vec<_> = policy
        .approvers
        .iter()
        .filter_map(|a| Some((a.key_id.clone(), policy.approver_key(&a.key_id)?)))
        .collect();
    let mut ok = Vec::new();
    let mut refused = Vec::new();
    for (i, t) in texts.iter().enumerate().take(MAX_APPROVALS) {
        let env = match Envelope::parse(t.as_bytes()) {
            Ok(e) => e,
            Err(e) => {
                refused.push((i, e.to_string()));
                continue;
            }
        };
        if env.payload_type != APPROVAL_TYPE {
            refused.push((i, format!("payloadType {:?}", env.payload_type)));
            continue;
        }
        let signers = distinct_signers(&env, &candidates);
        if signers.is_empty() {
            let ids: Vec<_> = env.signatures.iter().map(|s| s.keyid.as_str()).collect();
            refused.push((
                i,
                format!(
                    "not signed by an approver of policy version {} (keys {})",
                    policy.version,
                    ids.join(",")
                ),
            ));
            continue;
        }
        match Approval::from_json(&env.payload) {
            Ok(approval) => ok.push(CountedApproval { signers, approval }),
            Err(e) => refused.push((i, e.to_string())),
        }
    }
    (ok, refused)
}

/// What one item has: the distinct approver key ids whose approvals cover it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ItemCoverage {
    /// The item: `media <sha256> "<title>"`, `alert <id> text[<lang>]` or
    /// `ticker <id> text[<lang>]`.
    pub item: String,
    /// Distinct approver key ids covering it, now, in scope.
    pub approvers: BTreeSet<String>,
}

/// Why content is `not_approved`: the first item short of its threshold, and what it lacks.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{item} has {have} of {needed} approvals needed under policy version {policy_version}{by}{ignored}", by = by(.approvers), ignored = list_ignored(.ignored))]
pub struct NotApproved {
    /// The item.
    pub item: String,
    /// Distinct approvers covering it.
    pub have: usize,
    /// The threshold.
    pub needed: u32,
    /// The policy version used.
    pub policy_version: u64,
    /// Key ids of those who approved it.
    pub approvers: Vec<String>,
    /// Approvals that did not count at all, and why (first few).
    pub ignored: Vec<String>,
}

fn by(a: &[String]) -> String {
    if a.is_empty() {
        String::new()
    } else {
        format!(" (approved by {})", a.join(","))
    }
}

fn list_ignored(i: &[String]) -> String {
    if i.is_empty() {
        String::new()
    } else {
        format!("; ignored: {}", i.join("; "))
    }
}

/// Index of who covers what, for the approvals in force at `now` for `gate`.
struct Index {
    media: BTreeMap<ApprovedMedia, BTreeSet<String>>,
    texts: BTreeMap<ApprovedText, BTreeSet<String>>,
}

impl Index {
    fn new(approvals: &[CountedApproval], now: Timestamp, gate: &str) -> Index {
        let mut idx = Index {
            media: BTreeMap::new(),
            texts: BTreeMap::new(),
        };
        for a in approvals.iter().filter(|a| a.approval.in_force(now, gate)) {
            for m in &a.approval.media {
                idx.media
                    .entry(m.clone())
                    .or_default()
                    .extend(a.signers.iter().cloned());
            }
            for t in &a.approval.texts {
                idx.texts
                    .entry(t.clone())
                    .or_default()
                    .extend(a.signers.iter().cloned());
            }
        }
        idx
    }
}

struct Checker<'a> {
    policy: &'a Policy,
    refused: Vec<String>,
    out: Vec<ItemCoverage>,
}

impl Checker<'_> {
    fn need(
        &mut self,
        item: String,
        have: Option<&BTreeSet<String>>,
        needed: u32,
    ) -> Result<(), NotApproved> {
        let approvers = have.cloned().unwrap_or_default();
        if approvers.len() < needed as usize {
            return Err(NotApproved {
                item,
                have: approvers.len(),
                needed,
                policy_version: self.policy.version,
                approvers: approvers.into_iter().collect(),
                ignored: self.refused.clone(),
            });
        }
        self.out.push(ItemCoverage { item, approvers });
        Ok(())
    }
}

fn start<'a>(
    approvals: &[String],
    policy: &'a Policy,
    now: Timestamp,
    gate: &str,
) -> Result<(Index, Checker<'a>), NotApproved> {
    let (ok, refused) = verify_approvals(approvals, policy);
    let refused: Vec<String> = refused
        .into_iter()
        .take(4)
        .map(|(i, why)| format!("approvals[{i}]: {why}"))
        .collect();
    if policy.expires_at <= now {
        return Err(NotApproved {
            item: format!(
                "policy version {} (expired at {})",
                policy.version, policy.expires_at
            ),
            have: 0,
            needed: 1,
            policy_version: policy.version,
            approvers: Vec::new(),
            ignored: refused,
        });
    }
    Ok((
        Index::new(&ok, now, gate),
        Checker {
            policy,
            refused,
            out: Vec::new(),
        },
    ))
}

fn media_item(m: &MediaRef) -> String {
    format!(
        "media {} {:?} ({}, {})",
        m.sha256,
        m.title,
        m.lang,
        kind_name(m.kind)
    )
}

fn kind_name(k: MediaKind) -> &'static str {
    match k {
        MediaKind::Video => "video",
        MediaKind::Slide => "slide",
        MediaKind::Clip => "clip",
    }
}

/// Every media item of `manifest` must be covered by approvals (from `approvals`, envelopes as
/// text) of at least `media_threshold` distinct approver keys of `policy`, in force at `now`
/// for a screen of `gate`, naming its exact sha256, title, lang and kind. Returns who covers
/// each item, or the first item that falls short.
pub fn check_manifest(
    manifest: &Manifest,
    approvals: &[String],
    policy: &Policy,
    gate: &str,
    now: Timestamp,
) -> Result<Vec<ItemCoverage>, NotApproved> {
    let (idx, mut c) = start(approvals, policy, now, gate)?;
    for m in &manifest.media {
        c.need(
            media_item(m),
            idx.media.get(&ApprovedMedia::of(m)),
            policy.media_threshold,
        )?;
    }
    Ok(c.out)
}

/// Every alert text (by SHA-256 of its exact bytes and its lang) and alert media item of `set`
/// must be covered by at least `alert_threshold` distinct approver keys, as in
/// [`check_manifest`].
pub fn check_alerts(
    set: &AlertSet,
    approvals: &[String],
    policy: &Policy,
    gate: &str,
    now: Timestamp,
) -> Result<Vec<ItemCoverage>, NotApproved> {
    let (idx, mut c) = start(approvals, policy, now, gate)?;
    for a in &set.alerts {
        need_texts(&mut c, &idx, &format!("alert {}", a.id), &a.text)?;
        if let Some(m) = &a.media {
            c.need(
                format!("alert {} {}", a.id, media_item(m)),
                idx.media.get(&ApprovedMedia::of(m)),
                policy.alert_threshold,
            )?;
        }
    }
    Ok(c.out)
}

/// Every text of `texts` (of the item named `what`) needs `alert_threshold` approvers.
fn need_texts(
    c: &mut Checker<'_>,
    idx: &Index,
    what: &str,
    texts: &[AlertText],
) -> Result<(), NotApproved> {
    for t in texts {
        c.need(
            format!("{what} text[{}] {:?}", t.lang, t.text),
            idx.texts.get(&ApprovedText::of(&t.lang, &t.text)),
            c.policy.alert_threshold,
        )?;
    }
    Ok(())
}

/// Every text of every item of a ticker set (by SHA-256 of its exact bytes and its lang) must
/// be covered by at least `alert_threshold` distinct approver keys, as alert texts are
/// ([`check_alerts`], `docs/protocol.md` §20). Expired and future items count too: the set is
/// accepted or refused whole.
pub fn check_ticker(
    set: &TickerSet,
    approvals: &[String],
    policy: &Policy,
    gate: &str,
    now: Timestamp,
) -> Result<Vec<ItemCoverage>, NotApproved> {
    let (idx, mut c) = start(approvals, policy, now, gate)?;
    for item in &set.items {
        need_texts(&mut c, &idx, &format!("ticker {}", item.id), &item.text)?;
    }
    Ok(c.out)
}

/// What a screen that enforces approvals knows: its pinned root ids, the policy it holds (if
/// any) and its gate.
#[derive(Debug, Clone, Copy)]
pub struct Enforcement<'a> {
    /// Root key ids pinned at enrolment (non-empty).
    pub pinned: &'a [String],
    /// The policy held, if one was accepted before.
    pub held: Option<&'a Policy>,
    /// The screen's gate (for approval scopes).
    pub gate: &'a str,
}

/// Content that passed [`Enforcement::manifest`] or [`Enforcement::alerts`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Approved {
    /// A newer policy carried with the content, and its envelope text: the screen stores it
    /// (only once the content itself is accepted).
    pub new_policy: Option<(Policy, String)>,
    /// Who covers each item.
    pub coverage: Vec<ItemCoverage>,
}

impl Enforcement<'_> {
    fn policy_for(
        &self,
        att: &Attachments,
        version: u64,
        now: Timestamp,
    ) -> Result<(Option<(Policy, String)>, Policy), crate::manifest::Rejection> {
        let not_approved = |d: String| {
            crate::manifest::Rejection::new(RejectReason::NotApproved, Some(version), d)
        };
        let newer = crate::policy::verify_chain(&att.policy, self.pinned, self.held, now)
            .map_err(|e| not_approved(format!("policy refused, the held one stays: {e}")))?
            .map(|(p, t)| (p, t.to_owned()));
        let policy = match (&newer, self.held) {
            (Some((p, _)), _) => p.clone(),
            (None, Some(h)) => h.clone(),
            (None, None) => {
                return Err(not_approved(format!(
                    "this screen enforces approvals (pinned root {}) but holds no policy and none came with the content",
                    self.pinned.join(",")
                )))
            }
        };
        Ok((newer, policy))
    }

    /// Approvals check of a manifest whose envelope verified (`payload`: its exact payload):
    /// the policy chain it carries (if newer than the held one) must verify, and every media
    /// item must reach `media_threshold`. Else `not_approved` naming the item.
    pub fn manifest(
        &self,
        payload: &[u8],
        m: &Manifest,
        now: Timestamp,
    ) -> Result<Approved, crate::manifest::Rejection> {
        let att = Attachments::from_payload(payload).map_err(|e| {
            crate::manifest::Rejection::new(
                RejectReason::NotApproved,
                Some(m.version),
                e.to_string(),
            )
        })?;
        let (new_policy, policy) = self.policy_for(&att, m.version, now)?;
        let coverage = check_manifest(m, &att.approvals, &policy, self.gate, now).map_err(|e| {
            crate::manifest::Rejection::new(
                RejectReason::NotApproved,
                Some(m.version),
                e.to_string(),
            )
        })?;
        Ok(Approved {
            new_policy,
            coverage,
        })
    }

    /// As [`Enforcement::manifest`] for an alert set, with `alert_threshold`.
    pub fn alerts(
        &self,
        payload: &[u8],
        set: &AlertSet,
        now: Timestamp,
    ) -> Result<Approved, crate::manifest::Rejection> {
        self.texts(payload, set.version, now, |att, policy| {
            check_alerts(set, &att.approvals, policy, self.gate, now)
        })
    }

    /// As [`Enforcement::alerts`] for a ticker set (`docs/protocol.md` §20): every text
    /// reaches `alert_threshold`.
    pub fn ticker(
        &self,
        payload: &[u8],
        set: &TickerSet,
        now: Timestamp,
    ) -> Result<Approved, crate::manifest::Rejection> {
        self.texts(payload, set.version, now, |att, policy| {
            check_ticker(set, &att.approvals, policy, self.gate, now)
        })
    }

    fn texts(
        &self,
        payload: &[u8],
        version: u64,
        now: Timestamp,
        check: impl FnOnce(&Attachments, &Policy) -> Result<Vec<ItemCoverage>, NotApproved>,
    ) -> Result<Approved, crate::manifest::Rejection> {
        let refuse = |e: String| {
            crate::manifest::Rejection::new(RejectReason::NotApproved, Some(version), e)
        };
        let att = Attachments::from_payload(payload).map_err(|e| refuse(e.to_string()))?;
        let (new_policy, policy) = self.policy_for(&att, version, now)?;
        let coverage = check(&att, &policy).map_err(|e| refuse(e.to_string()))?;
        Ok(Approved {
            new_policy,
            coverage,
        })
    }
}

/// Validate `m` and sign it as a `manifest` envelope with `att` attached to its payload.
pub fn sign_manifest(
    m: &Manifest,
    att: &Attachments,
    key: &SecretKey,
) -> Result<Envelope, crate::manifest::ManifestError> {
    m.validate()?;
    Ok(Envelope::sign(
        crate::envelope::MANIFEST_TYPE,
        att.attach(m.to_json()),
        key,
    ))
}

/// Validate `set` and sign it as a `ticker` envelope with `att` attached to its payload.
pub fn sign_ticker(
    set: &TickerSet,
    att: &Attachments,
    key: &SecretKey,
) -> Result<Envelope, crate::manifest::ManifestError> {
    set.validate()?;
    Ok(Envelope::sign(
        crate::envelope::TICKER_TYPE,
        att.attach(set.to_json()),
        key,
    ))
}

/// Validate `set` and sign it as an `alert` envelope with `att` attached to its payload.
pub fn sign_alerts(
    set: &AlertSet,
    att: &Attachments,
    key: &SecretKey,
) -> Result<Envelope, crate::manifest::ManifestError> {
    set.validate()?;
    Ok(Envelope::sign(
        crate::envelope::ALERT_TYPE,
        att.attach(set.to_json()),
        key,
    ))
}
