//! The approval policy (`docs/protocol.md` §19): who may approve content, how many distinct
//! approvals media and alert texts need, and which root keys sign the next policy.
//!
//! A policy is a DSSE envelope of payloadType [`POLICY_TYPE`] signed by root keys held offline.
//! A screen pins the root key ids at enrolment; from then on it accepts a policy only if it is
//! signed by at least the threshold of **distinct** root keys of the policy it already holds (or,
//! for the first one, of the pinned ids) and has a higher version ([`verify_policy`],
//! [`verify_chain`]). Threshold counting is by distinct key id of a key listed in the *trusting*
//! set: a key listed twice is refused, and two signatures by one key count once.

use std::collections::BTreeSet;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::envelope::{pae, Envelope, EnvelopeError};
use crate::keys::{PublicKey, SecretKey};
use crate::manifest::rfc3339;

/// payloadType of a policy envelope (fixed).
pub const POLICY_TYPE: &str = "application/vnd.gatecast.policy+json";
/// Most root keys a policy may list.
pub const MAX_ROOT_KEYS: usize = 16;
/// Most approvers a policy may list.
pub const MAX_APPROVERS: usize = 64;
/// Most roles of one approver.
pub const MAX_ROLES: usize = 8;
/// Longest approver name or role, in bytes.
pub const MAX_NAME_LEN: usize = 256;
/// Most policies in one chain (oldest first).
pub const MAX_CHAIN: usize = 64;

/// A root key of a policy: signs the *next* policy.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RootKey {
    /// [`crate::keys::key_id`] of `public_key`.
    pub key_id: String,
    /// Standard base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
}

/// A person who may approve content.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Approver {
    /// [`crate::keys::key_id`] of `public_key`.
    pub key_id: String,
    /// Standard base64 of the 32-byte Ed25519 public key.
    pub public_key: String,
    /// The person's name, as shown in the console and the audit report.
    pub name: String,
    /// Free-form roles (e.g. `media`, `alerts`); informational.
    #[serde(default)]
    pub roles: Vec<String>,
}

/// The payload of a policy envelope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Policy {
    /// Strictly increasing, from 1.
    pub version: u64,
    /// When the root key holders made it.
    #[serde(with = "rfc3339")]
    pub issued_at: Timestamp,
    /// Not accepted at or after this instant (a held policy keeps counting approvals).
    #[serde(with = "rfc3339")]
    pub expires_at: Timestamp,
    /// The keys that sign the next policy.
    pub root_keys: Vec<RootKey>,
    /// How many distinct root keys must sign the next policy.
    pub root_threshold: u32,
    /// The approver keys.
    pub approvers: Vec<Approver>,
    /// Distinct approvals each media item of a manifest needs.
    pub media_threshold: u32,
    /// Distinct approvals each text and media item of an alert set needs.
    pub alert_threshold: u32,
}

/// Why a policy was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PolicyError {
    /// The envelope is malformed or of another type.
    #[error("policy envelope: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload does not parse or breaks a rule.
    #[error("policy is invalid: {0}")]
    Invalid(String),
    /// Fewer distinct trusted root keys signed it than needed.
    #[error("policy version {version} is signed by {found} distinct trusted root key(s) ({signers}), {needed} needed (trusted: {trusted})")]
    Threshold {
        /// The refused policy's version.
        version: u64,
        /// Distinct trusted keys whose signature verified.
        found: usize,
        /// The threshold.
        needed: u32,
        /// Their ids, comma separated (may be empty).
        signers: String,
        /// The ids that would count.
        trusted: String,
    },
    /// The version is not higher than the held policy's.
    #[error("policy version {version} is not newer than the held version {held}")]
    NotNewer {
        /// The refused version.
        version: u64,
        /// The held version.
        held: u64,
    },
    /// now ≥ expires_at.
    #[error("policy version {version} expired at {expires_at}")]
    Expired {
        /// The refused version.
        version: u64,
        /// Its expiry.
        expires_at: Timestamp,
    },
}

/// What a policy is checked against: the pinned root ids of a screen that has no policy yet, or
/// the policy it holds.
#[derive(Debug, Clone, Copy)]
pub enum Anchor<'a> {
    /// Key ids pinned at enrolment (out of band); the first policy must be signed by its own
    /// `root_threshold` of root keys whose ids are among these.
    Pinned(&'a [String]),
    /// The held policy: the next one must be signed by its `root_threshold` of its root keys.
    Held(&'a Policy),
}

fn check_key(field: &str, key_id: &str, public_key: &str) -> Result<PublicKey, PolicyError> {
    let key = PublicKey::from_base64(public_key)
        .map_err(|e| PolicyError::Invalid(format!("{field}.public_key: {e}")))?;
    if key.key_id() != key_id {
        return Err(PolicyError::Invalid(format!(
            "{field}.key_id {key_id:?} is not the id of its public key ({})",
            key.key_id()
        )));
    }
    Ok(key)
}

fn threshold_ok(field: &str, t: u32, keys: usize) -> Result<(), PolicyError> {
    if t == 0 || t as usize > keys {
        return Err(PolicyError::Invalid(format!(
            "{field} is {t}; it must be 1..={keys} (the number of listed keys)"
        )));
    }
    Ok(())
}

impl Policy {
    /// Strict parse (unknown fields refused) and [`Policy::validate`].
    pub fn from_json(bytes: &[u8]) -> Result<Policy, PolicyError> {
        let p: Policy =
            serde_json::from_slice(bytes).map_err(|e| PolicyError::Invalid(e.to_string()))?;
        p.validate()?;
        Ok(p)
    }

    /// Compact JSON, the signed bytes.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a policy serializes")
    }

    /// Bounds: 1..=16 root keys and 1..=64 approvers, each key id the id of its key and listed
    /// once per list, thresholds 1..=the number of keys, `expires_at > issued_at`, version ≥ 1.
    pub fn validate(&self) -> Result<(), PolicyError> {
        if self.version == 0 {
            return Err(PolicyError::Invalid("version must be at least 1".into()));
        }
        if self.expires_at <= self.issued_at {
            return Err(PolicyError::Invalid(format!(
                "expires_at ({}) must be later than issued_at ({})",
                self.expires_at, self.issued_at
            )));
        }
        if self.root_keys.is_empty() || self.root_keys.len() > MAX_ROOT_KEYS {
            return Err(PolicyError::Invalid(format!(
                "root_keys must list 1..={MAX_ROOT_KEYS} keys"
            )));
        }
        if self.approvers.is_empty() || self.approvers.len() > MAX_APPROVERS {
            return Err(PolicyError::Invalid(format!(
                "approvers must list 1..={MAX_APPROVERS} keys"
            )));
        }
        let mut seen = BTreeSet::new();
        for (i, k) in self.root_keys.iter().enumerate() {
            check_key(&format!("root_keys[{i}]"), &k.key_id, &k.public_key)?;
            if !seen.insert(k.key_id.as_str()) {
                return Err(PolicyError::Invalid(format!(
                    "root_keys[{i}]: key {} is listed twice",
                    k.key_id
                )));
            }
        }
        let mut seen = BTreeSet::new();
        for (i, a) in self.approvers.iter().enumerate() {
            let field = format!("approvers[{i}]");
            check_key(&field, &a.key_id, &a.public_key)?;
            if !seen.insert(a.key_id.as_str()) {
                return Err(PolicyError::Invalid(format!(
                    "{field}: key {} is listed twice",
                    a.key_id
                )));
            }
            let bad = |s: &str| s.len() > MAX_NAME_LEN || s.chars().any(char::is_control);
            if a.name.trim().is_empty() || bad(&a.name) {
                return Err(PolicyError::Invalid(format!(
                    "{field}.name must be 1..={MAX_NAME_LEN} bytes without control characters"
                )));
            }
            if a.roles.len() > MAX_ROLES || a.roles.iter().any(|r| r.is_empty() || bad(r)) {
                return Err(PolicyError::Invalid(format!(
                    "{field}.roles: at most {MAX_ROLES}, each 1..={MAX_NAME_LEN} bytes"
                )));
            }
        }
        threshold_ok("root_threshold", self.root_threshold, self.root_keys.len())?;
        threshold_ok(
            "media_threshold",
            self.media_threshold,
            self.approvers.len(),
        )?;
        threshold_ok(
            "alert_threshold",
            self.alert_threshold,
            self.approvers.len(),
        )?;
        Ok(())
    }

    /// The approver with this key id.
    pub fn approver(&self, key_id: &str) -> Option<&Approver> {
        self.approvers.iter().find(|a| a.key_id == key_id)
    }

    /// The approver's public key (validated by [`Policy::validate`]).
    pub fn approver_key(&self, key_id: &str) -> Option<PublicKey> {
        self.approver(key_id)
            .and_then(|a| PublicKey::from_base64(&a.public_key).ok())
    }

    /// Ids of the root keys, in listed order.
    pub fn root_ids(&self) -> Vec<String> {
        self.root_keys.iter().map(|k| k.key_id.clone()).collect()
    }
}

/// The distinct key ids among `candidates` (id → key) whose signature on `env` verifies strictly.
/// A key id appearing in several signatures counts once; signatures by other keys are ignored.
pub fn distinct_signers(env: &Envelope, candidates: &[(String, PublicKey)]) -> BTreeSet<String> {
    let msg = pae(&env.payload_type, &env.payload);
    let mut out = BTreeSet::new();
    for s in &env.signatures {
        if out.contains(&s.keyid) {
            continue;
        }
        if let Some((id, key)) = candidates.iter().find(|(id, _)| *id == s.keyid) {
            if key.verify_strict(&msg, &s.sig).is_ok() {
                out.insert(id.clone());
            }
        }
    }
    out
}

/// Verify one policy envelope against `anchor` at `now`. With [`Anchor::Pinned`] the policy
/// must be signed by its own `root_threshold` distinct root keys whose ids are pinned; with
/// [`Anchor::Held`] by the held policy's `root_threshold` distinct root keys of the held
/// policy, and its version must be higher. `check_expiry` is false only for the intermediate
/// links of a chain (an old link may have expired since; the newest may not).
pub fn verify_policy(
    envelope_bytes: &[u8],
    anchor: Anchor<'_>,
    now: Timestamp,
    check_expiry: bool,
) -> Result<Policy, PolicyError> {
    let env = Envelope::parse(envelope_bytes)?;
    if env.payload_type != POLICY_TYPE {
        return Err(EnvelopeError::WrongType {
            expected: POLICY_TYPE.into(),
            found: env.payload_type,
        }
        .into());
    }
    let policy = Policy::from_json(&env.payload)?;
    let (candidates, needed): (Vec<(String, PublicKey)>, u32) = match anchor {
        Anchor::Pinned(ids) => (
            policy
                .root_keys
                .iter()
                .filter(|k| ids.contains(&k.key_id))
                .filter_map(|k| {
                    Some((
                        k.key_id.clone(),
                        PublicKey::from_base64(&k.public_key).ok()?,
                    ))
                })
                .collect(),
            policy.root_threshold,
        ),
        Anchor::Held(held) => {
            if policy.version <= held.version {
                return Err(PolicyError::NotNewer {
                    version: policy.version,
                    held: held.version,
                });
            }
            (
                held.root_keys
                    .iter()
                    .filter_map(|k| {
                        Some((
                            k.key_id.clone(),
                            PublicKey::from_base64(&k.public_key).ok()?,
                        ))
                    })
                    .collect(),
                held.root_threshold,
            )
        }
    };
    let signers = distinct_signers(&env, &candidates);
    if signers.len() < needed.max(1) as usize {
        return Err(PolicyError::Threshold {
            version: policy.version,
            found: signers.len(),
            needed: needed.max(1),
            signers: signers.into_iter().collect::<Vec<_>>().join(","),
            trusted: candidates
                .iter()
                .map(|(id, _)| id.as_str())
                .collect::<Vec<_>>()
                .join(","),
        });
    }
    if check_expiry && policy.expires_at <= now {
        return Err(PolicyError::Expired {
            version: policy.version,
            expires_at: policy.expires_at,
        });
    }
    Ok(policy)
}

/// Walk a chain of policy envelopes (oldest first) from `held` (or from the pinned ids when no
/// policy is held) and return the newest policy reached with its envelope bytes, or `None` when
/// the chain holds nothing newer than `held`. Links at or below the held version are skipped
/// (a chain usually starts at version 1); every newer link must verify against the one before
/// it, and the newest must not have expired. Any failure refuses the whole chain: the held
/// policy stays.
pub fn verify_chain<'c>(
    chain: &'c [String],
    pinned: &[String],
    held: Option<&Policy>,
    now: Timestamp,
) -> Result<Option<(Policy, &'c str)>, PolicyError> {
    if chain.len() > MAX_CHAIN {
        return Err(PolicyError::Invalid(format!(
            "a policy chain holds at most {MAX_CHAIN} policies, this one {}",
            chain.len()
        )));
    }
    let mut current: Option<Policy> = held.cloned();
    let mut newest: Option<(Policy, &'c str)> = None;
    for (i, text) in chain.iter().enumerate() {
        let last = i + 1 == chain.len();
        if let Some(c) = &current {
            // A link at or below what is held is skipped without being trusted (a chain
            // usually starts at version 1); its version is only peeked at.
            if let Some(v) = peek_version(text) {
                if v <= c.version {
                    if last && newest.is_none() && v < c.version {
                        return Err(PolicyError::NotNewer {
                            version: v,
                            held: c.version,
                        });
                    }
                    continue;
                }
            }
        }
        let anchor = match &current {
            Some(c) => Anchor::Held(c),
            None => Anchor::Pinned(pinned),
        };
        let p = verify_policy(text.as_bytes(), anchor, now, last)?;
        current = Some(p.clone());
        newest = Some((p, text.as_str()));
    }
    Ok(newest)
}

fn peek_version(text: &str) -> Option<u64> {
    #[derive(Deserialize)]
    struct Peek {
        version: u64,
    }
    let env = Envelope::parse(text.as_bytes()).ok()?;
    serde_json::from_slice::<Peek>(&env.payload)
        .ok()
        .map(|p| p.version)
}

/// Sign a policy with one root key (the first signature).
pub fn sign_policy(policy: &Policy, key: &SecretKey) -> Envelope {
    Envelope::sign(POLICY_TYPE, policy.to_json(), key)
}

/// Add `key`'s signature to an existing envelope (`gatecast-approve policy sign`): several root
/// key holders sign one after another. A signature by the same key id is replaced, not doubled.
pub fn add_signature(env: &mut Envelope, key: &SecretKey) {
    let sig = key.sign(&pae(&env.payload_type, &env.payload));
    let id = key.key_id();
    env.signatures.retain(|s| s.keyid != id);
    env.signatures.push(crate::envelope::EnvelopeSignature {
        keyid: id,
        sig: sig.to_vec(),
    });
}
