//! Approvals at the controller (`docs/protocol.md` §19). The controller holds no root or
//! approver key: it checks and stores the policy chain and the approvals it is given, refuses
//! to publish what the screens would refuse (naming each item and what it lacks), and embeds
//! the policy chain and the approvals that cover a manifest or alert set in its payload.

use std::collections::BTreeSet;

use jiff::Timestamp;
use playlists::approval::{
    check_alerts, check_manifest, check_ticker, verify_approvals, Approval, ApprovedMedia,
    ApprovedText, Attachments, NotApproved, APPROVAL_TYPE,
};
use playlists::envelope::Envelope;
use playlists::hex::sha256_hex;
use playlists::manifest::{AlertSet, Manifest, MediaKind, TickerSet};
use playlists::policy::{distinct_signers, verify_policy, Anchor, Policy, PolicyError};

use crate::store::{Store, StoreError};

/// Why a policy or approval upload was refused.
#[derive(Debug, thiserror::Error)]
pub enum ApprovalError {
    /// The policy does not verify or is not newer.
    #[error("policy refused: {0}")]
    Policy(#[from] PolicyError),
    /// The approval is malformed or not signed by an approver of the current policy.
    #[error("approval refused: {0}")]
    Approval(String),
    /// Approvals need a policy first.
    #[error("no approval policy is set; the root key holders must PUT /api/v1/policy first")]
    NoPolicy,
    /// Storage failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The policy in force and the stored approvals, loaded once per publish.
#[derive(Debug, Clone)]
pub struct Approvals {
    /// The policy chain, oldest first.
    pub chain: Vec<String>,
    /// The newest policy.
    pub policy: Policy,
    /// Stored approval envelopes with their parsed (unverified) payloads, for picking the
    /// ones a manifest needs; coverage itself is checked by the contract's verifier.
    stored: Vec<(String, Approval)>,
    /// The stored approvals that verify under the policy.
    counted: Vec<playlists::approval::CountedApproval>,
}

fn newest(chain: &[String]) -> Option<Policy> {
    let env = Envelope::parse(chain.last()?.as_bytes()).ok()?;
    Policy::from_json(&env.payload).ok()
}

impl Approvals {
    /// The policy and approvals, or `None` when no policy is set (approvals not required).
    pub fn load(store: &Store) -> Result<Option<Approvals>, StoreError> {
        let chain = store.policy_chain()?;
        let Some(policy) = newest(&chain) else {
            return Ok(None);
        };
        let stored = store
            .approvals()?
            .into_iter()
            .filter_map(|text| {
                let env = Envelope::parse(text.as_bytes()).ok()?;
                let a = Approval::from_json(&env.payload).ok()?;
                Some((text, a))
            })
            .collect::<Vec<(String, Approval)>>();
        let texts: Vec<String> = stored.iter().map(|(t, _)| t.clone()).collect();
        let counted = verify_approvals(&texts, &policy).0;
        Ok(Some(Approvals {
            chain,
            policy,
            stored,
            counted,
        }))
    }

    fn pick(&self, media: &BTreeSet<String>, texts: &BTreeSet<String>) -> Vec<String> {
        self.stored
            .iter()
            .filter(|(_, a)| {
                a.media.iter().any(|m| media.contains(&m.sha256))
                    || a.texts.iter().any(|t| texts.contains(&t.sha256))
            })
            .map(|(t, _)| t.clone())
            .collect()
    }

    /// What a manifest for a screen of `gate` carries: the policy chain and the approvals of
    /// its media; refused (naming the item) when the screens would refuse it.
    pub fn for_manifest(
        &self,
        m: &Manifest,
        gate: &str,
        now: Timestamp,
    ) -> Result<Attachments, NotApproved> {
        let media = m.media.iter().map(|x| x.sha256.clone()).collect();
        let approvals = self.pick(&media, &BTreeSet::new());
        check_manifest(m, &approvals, &self.policy, gate, now)?;
        Ok(Attachments {
            policy: self.chain.clone(),
            approvals,
        })
    }

    /// As [`Approvals::for_manifest`] for an alert set (texts and alert media).
    pub fn for_alerts(
        &self,
        set: &AlertSet,
        gate: &str,
        now: Timestamp,
    ) -> Result<Attachments, NotApproved> {
        let media = set
            .alerts
            .iter()
            .filter_map(|a| a.media.as_ref().map(|m| m.sha256.clone()))
            .collect();
        let texts = set
            .alerts
            .iter()
            .flat_map(|a| a.text.iter().map(|t| sha256_hex(t.text.as_bytes())))
            .collect();
        let approvals = self.pick(&media, &texts);
        check_alerts(set, &approvals, &self.policy, gate, now)?;
        Ok(Attachments {
            policy: self.chain.clone(),
            approvals,
        })
    }

    /// As [`Approvals::for_alerts`] for a ticker set (its texts, `docs/protocol.md` §20).
    pub fn for_ticker(
        &self,
        set: &TickerSet,
        gate: &str,
        now: Timestamp,
    ) -> Result<Attachments, NotApproved> {
        let texts = set
            .items
            .iter()
            .flat_map(|i| i.text.iter().map(|t| sha256_hex(t.text.as_bytes())))
            .collect();
        let approvals = self.pick(&BTreeSet::new(), &texts);
        check_ticker(set, &approvals, &self.policy, gate, now)?;
        Ok(Attachments {
            policy: self.chain.clone(),
            approvals,
        })
    }

    /// A fingerprint of what is attached (policy version and approvals), so that a manifest
    /// whose content is unchanged gets a new version when its approvals change.
    pub fn fingerprint(att: &Attachments) -> String {
        sha256_hex(&serde_json::to_vec(att).expect("strings serialize"))
    }

    /// The approver key ids (with names) covering `media` now, any scope.
    pub fn approvers_of(&self, media: &ApprovedMedia, now: Timestamp) -> Vec<(String, String)> {
        self.approvers_where(now, |a| a.media.contains(media))
    }

    /// The approver key ids (with names) covering the text `text` now, any scope.
    pub fn approvers_of_text(&self, text: &ApprovedText, now: Timestamp) -> Vec<(String, String)> {
        self.approvers_where(now, |a| a.texts.contains(text))
    }

    fn approvers_where(
        &self,
        now: Timestamp,
        names: impl Fn(&Approval) -> bool,
    ) -> Vec<(String, String)> {
        let mut ids = BTreeSet::new();
        for a in self.counted.iter().filter(|a| {
            a.approval.not_before <= now && now < a.approval.not_after && names(&a.approval)
        }) {
            ids.extend(a.signers.iter().cloned());
        }
        ids.into_iter()
            .map(|id| {
                let name = self
                    .policy
                    .approver(&id)
                    .map(|a| a.name.clone())
                    .unwrap_or_default();
                (id, name)
            })
            .collect()
    }
}

/// The canonical envelope text of a JSON body (`payloadType`, `payload`, `signatures`).
pub fn canonical_envelope(body: &serde_json::Value) -> Result<Envelope, String> {
    let bytes = serde_json::to_vec(body).expect("a JSON value serializes");
    Envelope::parse(&bytes).map_err(|e| e.to_string())
}

/// `PUT /api/v1/policy`: the first policy must be signed by its own root threshold (the
/// screens check it against the root ids pinned at enrolment); a later one by the current
/// policy's root threshold, with a higher version.
pub async fn accept_policy(
    store: &Store,
    env: &Envelope,
    now: Timestamp,
) -> Result<Policy, ApprovalError> {
    let text = String::from_utf8(env.to_json()).expect("envelope JSON is UTF-8");
    let chain = store.policy_chain()?;
    let policy = match newest(&chain) {
        Some(held) => verify_policy(text.as_bytes(), Anchor::Held(&held), now, true)?,
        None => {
            let p = Policy::from_json(&env.payload)?;
            verify_policy(text.as_bytes(), Anchor::Pinned(&p.root_ids()), now, true)?
        }
    };
    store.push_policy(text).await?;
    Ok(policy)
}

/// `POST /api/v1/approvals`: kept if signed by an approver of the current policy with a valid
/// payload. Returns the approver ids, the approval and whether it was new.
pub async fn accept_approval(
    store: &Store,
    env: &Envelope,
) -> Result<(Vec<String>, Approval, bool), ApprovalError> {
    let policy = newest(&store.policy_chain()?).ok_or(ApprovalError::NoPolicy)?;
    if env.payload_type != APPROVAL_TYPE {
        return Err(ApprovalError::Approval(format!(
            "payloadType is {:?}, not {APPROVAL_TYPE}",
            env.payload_type
        )));
    }
    let candidates: Vec<_> = policy
        .approvers
        .iter()
        .filter_map(|a| Some((a.key_id.clone(), policy.approver_key(&a.key_id)?)))
        .collect();
    let signers = distinct_signers(env, &candidates);
    if signers.is_empty() {
        return Err(ApprovalError::Approval(format!(
            "not signed by an approver of policy version {}",
            policy.version
        )));
    }
    let approval =
        Approval::from_json(&env.payload).map_err(|e| ApprovalError::Approval(e.to_string()))?;
    let text = String::from_utf8(env.to_json()).expect("envelope JSON is UTF-8");
    let new = store
        .put_approval(&sha256_hex(text.as_bytes()), &text)
        .await?;
    Ok((signers.into_iter().collect(), approval, new))
}

/// One media item for `GET /api/v1/approvals/pending`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingMedia {
    /// SHA-256.
    pub sha256: String,
    /// Title.
    pub title: String,
    /// Language.
    pub lang: String,
    /// Kind.
    pub kind: String,
    /// MIME type.
    pub mime: String,
    /// Size.
    pub bytes: u64,
    /// Who approved it so far (`key_id`, `name`).
    pub approved_by: Vec<serde_json::Value>,
    /// Distinct approvals it needs.
    pub needed: u32,
}

/// One ticker text for `GET /api/v1/approvals/pending` (`docs/protocol.md` §20): the exact
/// text an approver signs (`gatecast-approve sign --alert-text LANG=TEXT`).
#[derive(Debug, Clone, serde::Serialize)]
pub struct PendingText {
    /// `ticker`.
    pub kind: &'static str,
    /// The ticker text's id.
    pub id: String,
    /// Language.
    pub lang: String,
    /// The exact text.
    pub text: String,
    /// SHA-256 of its exact UTF-8 bytes.
    pub sha256: String,
    /// Who approved it so far (`key_id`, `name`).
    pub approved_by: Vec<serde_json::Value>,
    /// Distinct approvals it needs.
    pub needed: u32,
}

fn named(by: Vec<(String, String)>) -> Vec<serde_json::Value> {
    by.into_iter()
        .map(|(key_id, name)| serde_json::json!({"key_id": key_id, "name": name}))
        .collect()
}

/// Every text of a live ticker text (not removed, not expired) with fewer approvals in force
/// now than the policy's alert threshold, any scope; empty without a policy.
pub fn pending_texts(
    store: &Store,
    a: &Approvals,
    now: Timestamp,
) -> Result<Vec<PendingText>, StoreError> {
    let mut out = Vec::new();
    for r in store.tickers()? {
        let live = r.expires_at.parse::<Timestamp>().is_ok_and(|e| now < e);
        if r.cancelled || !live {
            continue;
        }
        for t in &r.text {
            let item = ApprovedText::of(&t.lang, &t.text);
            let by = a.approvers_of_text(&item, now);
            if by.len() < a.policy.alert_threshold as usize {
                out.push(PendingText {
                    kind: "ticker",
                    id: r.id.clone(),
                    lang: t.lang.clone(),
                    text: t.text.clone(),
                    sha256: item.sha256,
                    approved_by: named(by),
                    needed: a.policy.alert_threshold,
                });
            }
        }
    }
    Ok(out)
}

/// Every stored media item (not deleted) with fewer approvals in force now than the policy's
/// media threshold; empty without a policy.
pub fn pending(
    store: &Store,
    now: Timestamp,
) -> Result<(Option<Approvals>, Vec<PendingMedia>), StoreError> {
    let Some(a) = Approvals::load(store)? else {
        return Ok((None, Vec::new()));
    };
    let mut out = Vec::new();
    for m in store.media_list()?.into_iter().filter(|m| !m.deleted) {
        let Some(kind) =
            serde_json::from_value::<MediaKind>(serde_json::Value::String(m.kind.clone())).ok()
        else {
            continue;
        };
        let item = ApprovedMedia {
            sha256: m.sha256.clone(),
            title: m.title.clone(),
            lang: m.lang.clone(),
            kind,
        };
        let by = a.approvers_of(&item, now);
        if by.len() < a.policy.media_threshold as usize {
            out.push(PendingMedia {
                sha256: m.sha256,
                title: m.title,
                lang: m.lang,
                kind: m.kind,
                mime: m.mime,
                bytes: m.bytes,
                approved_by: named(by),
                needed: a.policy.media_threshold,
            });
        }
    }
    Ok((Some(a), out))
}
