//! Controller key rotation statements.
//!
//! A player pins one controller key at enrolment. To move it to a new key without re-enrolling
//! every screen, the controller publishes a **rotation statement**: a DSSE envelope of type
//! [`ROTATION_TYPE`] whose payload names the old key (by id), the new key, when the controller
//! starts signing with the new key and until when the old key stays trusted:
//!
//! ```json
//! {"old_key_id":"21fe31dfa154a261","new_key":"<base64 of 32 bytes>","new_key_id":"<id>",
//!  "valid_from":"2026-01-05T08:00:00Z","overlap_until":"2026-01-12T08:00:00Z"}
//! ```
//!
//! The envelope carries **two** signatures over the same PAE bytes: one by the old key and one by
//! the new key. A receiver ([`verify_rotation`]) accepts it only if
//!
//! 1. a signature by the key it pins now verifies strictly (before the payload is parsed) —
//!    else `unknown_key` / `bad_signature` / `bad_envelope` / `wrong_type`;
//! 2. the payload parses, `old_key_id` is the pinned key's id, `new_key` is a valid non-weak
//!    key different from the pinned one whose id is `new_key_id`, and
//!    `valid_from < overlap_until` — else `invalid_content`;
//! 3. a signature by the **new** key verifies strictly as well — else `bad_signature`
//!    (proof that whoever made the statement holds the new secret key, so a typo or a
//!    substituted public key cannot lock the screens out).
//!
//! A statement signed by an attacker's key alone, by the new key alone or by the old key alone
//! is refused. [`Trust`] is the player's view: the pinned key plus, until `overlap_until`, the
//! previous one ([`Trust::keys_at`]). `valid_from` is informational for the receiver (the
//! controller signs with the new key from then on); the receiver adopts the new key as soon as
//! the statement verifies, so a screen whose clock is off is not locked out.

use std::fmt;

use jiff::Timestamp;
use serde::{Deserialize, Serialize};

use crate::envelope::{Envelope, EnvelopeError};
use crate::keys::{KeySet, PublicKey, SecretKey};
use crate::manifest::{RejectReason, Rejection};

/// payloadType of a controller key rotation statement.
pub const ROTATION_TYPE: &str = "application/vnd.gatecast.rotation+json";

/// What is wrong with a rotation statement (building, signing or reading one).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RotationError {
    /// The payload is not the rotation JSON object.
    #[error("rotation statement is not valid JSON of the documented shape: {0}")]
    Parse(String),
    /// `new_key` is not a usable Ed25519 public key.
    #[error("rotation statement new_key is not a valid Ed25519 public key: {0}")]
    BadNewKey(String),
    /// `new_key_id` is not the key id of `new_key`.
    #[error("rotation statement new_key_id {claimed:?} is not the key id of new_key ({actual})")]
    KeyIdMismatch {
        /// The id written in the statement.
        claimed: String,
        /// The id computed from `new_key`.
        actual: String,
    },
    /// The new key equals the old one.
    #[error("rotation statement rotates key {0} to itself")]
    SameKey(String),
    /// The overlap ends before (or when) the new key starts.
    #[error(
        "rotation statement overlap_until {overlap_until} is not after valid_from {valid_from}"
    )]
    BadWindow {
        /// `valid_from`.
        valid_from: Timestamp,
        /// `overlap_until`.
        overlap_until: Timestamp,
    },
    /// A signing key does not match the key the statement names.
    #[error("the {which} signing key {key_id} is not the one the statement names ({named})")]
    WrongSigner {
        /// `old` or `new`.
        which: &'static str,
        /// The id of the key given.
        key_id: String,
        /// The id the statement names.
        named: String,
    },
}

/// The signed payload of a rotation statement (field names fixed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rotation {
    /// Key id of the key being retired (the one receivers pin now).
    pub old_key_id: String,
    /// The new public key, standard base64 of 32 bytes.
    pub new_key: String,
    /// Key id of `new_key`.
    pub new_key_id: String,
    /// From when the controller signs with the new key.
    #[serde(with = "rfc3339")]
    pub valid_from: Timestamp,
    /// Until when receivers still accept the old key (exclusive).
    #[serde(with = "rfc3339")]
    pub overlap_until: Timestamp,
}

impl Rotation {
    /// A statement moving from `old` to `new`.
    pub fn new(
        old: &PublicKey,
        new: &PublicKey,
        valid_from: Timestamp,
        overlap_until: Timestamp,
    ) -> Rotation {
        Rotation {
            old_key_id: old.key_id(),
            new_key: new.to_base64(),
            new_key_id: new.key_id(),
            valid_from,
            overlap_until,
        }
    }

    /// Compact JSON in field order.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing a rotation cannot fail")
    }

    /// Parses the payload JSON (unknown fields are ignored, like every v1 payload).
    pub fn from_json(bytes: &[u8]) -> Result<Rotation, RotationError> {
        serde_json::from_slice(bytes).map_err(|e| RotationError::Parse(e.to_string()))
    }

    /// Checks the statement on its own and returns the new key: valid non-weak key, its id is
    /// `new_key_id`, it differs from the old key, `valid_from < overlap_until`.
    pub fn validate(&self) -> Result<PublicKey, RotationError> {
        let new = PublicKey::from_base64(&self.new_key)
            .map_err(|e| RotationError::BadNewKey(e.to_string()))?;
        if new.key_id() != self.new_key_id {
            return Err(RotationError::KeyIdMismatch {
                claimed: self.new_key_id.clone(),
                actual: new.key_id(),
            });
        }
        if new.key_id() == self.old_key_id {
            return Err(RotationError::SameKey(self.old_key_id.clone()));
        }
        if self.overlap_until <= self.valid_from {
            return Err(RotationError::BadWindow {
                valid_from: self.valid_from,
                overlap_until: self.overlap_until,
            });
        }
        Ok(new)
    }

    /// Signs the statement with both keys (old first, then new) after checking that they are
    /// the keys it names.
    pub fn sign(&self, old: &SecretKey, new: &SecretKey) -> Result<Envelope, RotationError> {
        let new_pub = self.validate()?;
        if old.key_id() != self.old_key_id {
            return Err(RotationError::WrongSigner {
                which: "old",
                key_id: old.key_id(),
                named: self.old_key_id.clone(),
            });
        }
        if new.public() != new_pub {
            return Err(RotationError::WrongSigner {
                which: "new",
                key_id: new.key_id(),
                named: self.new_key_id.clone(),
            });
        }
        let payload = self.to_json();
        let mut env = Envelope::sign(ROTATION_TYPE, payload.clone(), old);
        let second = Envelope::sign(ROTATION_TYPE, payload, new);
        env.signatures.extend(second.signatures);
        Ok(env)
    }
}

/// A rotation statement that passed [`verify_rotation`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedRotation {
    /// The statement.
    pub rotation: Rotation,
    /// The new key (checked).
    pub new_key: PublicKey,
}

fn rejection(reason: RejectReason, detail: impl Into<String>) -> Rejection {
    Rejection {
        reason,
        version: None,
        detail: detail.into(),
    }
}

/// Verifies exact statement bytes against the key the receiver pins now (see the module docs
/// for the order of checks). Rejections use the manifest reasons (`unknown_key`,
/// `bad_signature`, `bad_envelope`, `wrong_type`, `invalid_content`); `version` is `None`.
pub fn verify_rotation(
    envelope_bytes: &[u8],
    pinned: &PublicKey,
) -> Result<VerifiedRotation, Rejection> {
    let env = Envelope::parse(envelope_bytes)?;
    // 1. The pinned key vouches for the payload (before it is parsed).
    let verified = env.verify(ROTATION_TYPE, &KeySet::from_keys([pinned.clone()]))?;
    // 2. Payload checks.
    let rotation = Rotation::from_json(&verified.payload)
        .map_err(|e| rejection(RejectReason::InvalidContent, e.to_string()))?;
    if rotation.old_key_id != pinned.key_id() {
        return Err(rejection(
            RejectReason::InvalidContent,
            format!(
                "rotation statement retires key {:?}, but the pinned key is {}",
                rotation.old_key_id,
                pinned.key_id()
            ),
        ));
    }
    let new_key = rotation
        .validate()
        .map_err(|e| rejection(RejectReason::InvalidContent, e.to_string()))?;
    // 3. The new key signed the same bytes.
    env.verify(ROTATION_TYPE, &KeySet::from_keys([new_key.clone()]))
        .map_err(|e| {
            let detail = format!(
                "rotation statement is not signed by its new key {}: {e}",
                new_key.key_id()
            );
            match e {
                EnvelopeError::UnknownKey { .. } | EnvelopeError::BadSignature { .. } => {
                    rejection(RejectReason::BadSignature, detail)
                }
                other => Rejection::from(other),
            }
        })?;
    Ok(VerifiedRotation { rotation, new_key })
}

/// What [`Trust::apply`] did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Applied {
    /// The statement moved the pinned key to its new key.
    Rotated(Box<VerifiedRotation>),
    /// The statement's new key is already the pinned key (a replay); nothing changed.
    AlreadyPinned,
}

/// A receiver's trusted controller keys: the pinned key, plus the previous key until its
/// overlap ends.
#[derive(Clone, PartialEq, Eq)]
pub struct Trust {
    pinned: PublicKey,
    previous: Option<(PublicKey, Timestamp)>,
}

impl fmt::Debug for Trust {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("Trust");
        d.field("pinned", &self.pinned.key_id());
        if let Some((k, until)) = &self.previous {
            d.field("previous", &k.key_id())
                .field("overlap_until", until);
        }
        d.finish()
    }
}

impl Trust {
    /// Trust exactly `pinned` (the key from enrolment).
    pub fn new(pinned: PublicKey) -> Trust {
        Trust {
            pinned,
            previous: None,
        }
    }

    /// Starts from `root` and applies each statement of `chain` in order; statements that do
    /// not apply (not signed by the then-pinned key, e.g. after a manual re-pin) are skipped.
    /// Used at start-up to rebuild the trust from stored statements.
    pub fn replay<'a>(root: PublicKey, chain: impl IntoIterator<Item = &'a [u8]>) -> Trust {
        let mut t = Trust::new(root);
        for s in chain {
            let _ = t.apply(s);
        }
        t
    }

    /// The key signing now (the newest).
    pub fn pinned(&self) -> &PublicKey {
        &self.pinned
    }

    /// The retired key and the end of its overlap, if a rotation happened.
    pub fn previous(&self) -> Option<(&PublicKey, Timestamp)> {
        self.previous.as_ref().map(|(k, t)| (k, *t))
    }

    /// The keys to verify manifests, alert sets and acks with at `now`: the pinned key, and the
    /// previous key while `now < overlap_until`.
    pub fn keys_at(&self, now: Timestamp) -> KeySet {
        let mut set = KeySet::from_keys([self.pinned.clone()]);
        if let Some((k, until)) = &self.previous {
            if now < *until {
                set.insert(k.clone());
            }
        }
        set
    }

    /// The pinned key and the previous one regardless of the overlap: for re-checking
    /// envelopes that were accepted earlier (e.g. a stored manifest at start-up), never for
    /// new input.
    pub fn known_keys(&self) -> KeySet {
        let mut set = KeySet::from_keys([self.pinned.clone()]);
        if let Some((k, _)) = &self.previous {
            set.insert(k.clone());
        }
        set
    }

    /// Verifies a statement against the pinned key ([`verify_rotation`]) and, if it holds,
    /// pins its new key and keeps the old one until `overlap_until`. A statement whose new key
    /// is already pinned is a replay: [`Applied::AlreadyPinned`], nothing changes.
    pub fn apply(&mut self, envelope_bytes: &[u8]) -> Result<Applied, Rejection> {
        if let Some(r) = peek_already_pinned(envelope_bytes, &self.pinned) {
            return Ok(r);
        }
        let v = verify_rotation(envelope_bytes, &self.pinned)?;
        let old = std::mem::replace(&mut self.pinned, v.new_key.clone());
        self.previous = Some((old, v.rotation.overlap_until));
        Ok(Applied::Rotated(Box::new(v)))
    }
}

/// A replay of the statement that made the current pinned key: signed by that key, naming it
/// as the new key. Checked with the pinned key's signature only, so nothing unverified is
/// trusted; anything else goes through the full verification.
fn peek_already_pinned(bytes: &[u8], pinned: &PublicKey) -> Option<Applied> {
    let env = Envelope::parse(bytes).ok()?;
    let v = env
        .verify(ROTATION_TYPE, &KeySet::from_keys([pinned.clone()]))
        .ok()?;
    let r = Rotation::from_json(&v.payload).ok()?;
    (r.new_key_id == pinned.key_id() && r.new_key == pinned.to_base64())
        .then_some(Applied::AlreadyPinned)
}

/// Serde for [`Timestamp`] as an RFC 3339 string (written in UTC with `Z`).
mod rfc3339 {
    use jiff::Timestamp;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(ts)
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = String::deserialize(d)?;
        s.parse::<Timestamp>().map_err(|e| {
            serde::de::Error::custom(format!("{s:?} is not an RFC 3339 timestamp: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::{EnvelopeSignature, MANIFEST_TYPE};
    use jiff::SignedDuration;

    fn key(n: u8) -> SecretKey {
        SecretKey::from_seed([n; 32])
    }

    fn t0() -> Timestamp {
        "2026-01-05T08:00:00Z".parse().unwrap()
    }

    fn statement(old: u8, new: u8) -> Rotation {
        Rotation::new(
            &key(old).public(),
            &key(new).public(),
            t0(),
            t0() + SignedDuration::from_hours(24 * 7),
        )
    }

    fn signed(old: u8, new: u8) -> Vec<u8> {
        statement(old, new)
            .sign(&key(old), &key(new))
            .unwrap()
            .to_json()
    }

    /// An envelope of `r` signed by exactly the given keys.
    fn signed_by(r: &Rotation, signers: &[&SecretKey]) -> Vec<u8> {
        let payload = r.to_json();
        let mut env = Envelope::sign(ROTATION_TYPE, payload.clone(), signers[0]);
        for k in &signers[1..] {
            env.signatures
                .extend(Envelope::sign(ROTATION_TYPE, payload.clone(), k).signatures);
        }
        env.to_json()
    }

    #[test]
    fn payload_has_the_documented_fields_in_order() {
        let json = String::from_utf8(statement(1, 2).to_json()).unwrap();
        let expected = format!(
            "{{\"old_key_id\":\"{}\",\"new_key\":\"{}\",\"new_key_id\":\"{}\",\
             \"valid_from\":\"2026-01-05T08:00:00Z\",\"overlap_until\":\"2026-01-12T08:00:00Z\"}}",
            key(1).key_id(),
            key(2).public().to_base64(),
            key(2).key_id()
        );
        assert_eq!(json, expected);
        assert_eq!(
            Rotation::from_json(json.as_bytes()).unwrap(),
            statement(1, 2)
        );
        assert!(ROTATION_TYPE.starts_with(crate::envelope::PAYLOAD_TYPE_PREFIX));
    }

    #[test]
    fn signed_statement_carries_old_then_new_signature_and_verifies() {
        let bytes = signed(1, 2);
        let env = Envelope::parse(&bytes).unwrap();
        let ids: Vec<&str> = env.signatures.iter().map(|s| s.keyid.as_str()).collect();
        assert_eq!(ids, [key(1).key_id(), key(2).key_id()]);
        let v = verify_rotation(&bytes, &key(1).public()).unwrap();
        assert_eq!(v.new_key, key(2).public());
        assert_eq!(v.rotation, statement(1, 2));
    }

    #[test]
    fn attacker_key_alone_is_refused_as_unknown_key() {
        // Attacker 9 rotates to its own key 10, signing with both of its keys.
        let forged = signed_by(&statement(1, 10), &[&key(9), &key(10)]);
        let r = verify_rotation(&forged, &key(1).public()).unwrap_err();
        assert_eq!(r.reason, RejectReason::UnknownKey);
        // And a statement naming the attacker as the old key.
        let r = verify_rotation(&signed(9, 10), &key(1).public()).unwrap_err();
        assert_eq!(r.reason, RejectReason::UnknownKey);
    }

    #[test]
    fn new_key_alone_is_refused() {
        let only_new = signed_by(&statement(1, 2), &[&key(2)]);
        let r = verify_rotation(&only_new, &key(1).public()).unwrap_err();
        assert_eq!(r.reason, RejectReason::UnknownKey);
    }

    #[test]
    fn old_key_alone_is_refused_as_bad_signature() {
        let only_old = signed_by(&statement(1, 2), &[&key(1)]);
        let r = verify_rotation(&only_old, &key(1).public()).unwrap_err();
        assert_eq!(r.reason, RejectReason::BadSignature);
        assert!(r.detail.contains(&key(2).key_id()), "{}", r.detail);
        // Old key plus a signature under the new key's id made by another key.
        let payload = statement(1, 2).to_json();
        let mut env = Envelope::sign(ROTATION_TYPE, payload.clone(), &key(1));
        let fake = Envelope::sign(ROTATION_TYPE, payload, &key(3)).signatures[0]
            .sig
            .clone();
        env.signatures.push(EnvelopeSignature {
            keyid: key(2).key_id(),
            sig: fake,
        });
        let r = verify_rotation(&env.to_json(), &key(1).public()).unwrap_err();
        assert_eq!(r.reason, RejectReason::BadSignature);
    }

    #[test]
    fn tampered_payload_and_wrong_type_are_refused() {
        let env = Envelope::parse(&signed(1, 2)).unwrap();
        let mut tampered = env.clone();
        tampered.payload = statement(1, 3).to_json();
        let r = verify_rotation(&tampered.to_json(), &key(1).public()).unwrap_err();
        assert_eq!(r.reason, RejectReason::BadSignature);
        // The same payload signed by both keys but as a manifest.
        let payload = statement(1, 2).to_json();
        let mut m = Envelope::sign(MANIFEST_TYPE, payload.clone(), &key(1));
        m.signatures
            .extend(Envelope::sign(MANIFEST_TYPE, payload, &key(2)).signatures);
        let r = verify_rotation(&m.to_json(), &key(1).public()).unwrap_err();
        assert_eq!(r.reason, RejectReason::WrongType);
        let r = verify_rotation(b"not json", &key(1).public()).unwrap_err();
        assert_eq!(r.reason, RejectReason::BadEnvelope);
    }

    #[test]
    fn invalid_statements_are_refused_as_invalid_content() {
        let pinned = key(1).public();
        // new_key_id does not match new_key.
        let mut r = statement(1, 2);
        r.new_key_id = key(3).key_id();
        let b = signed_by(&r, &[&key(1), &key(2)]);
        let e = verify_rotation(&b, &pinned).unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidContent);
        // Overlap ends before the new key starts.
        let mut r = statement(1, 2);
        r.overlap_until = r.valid_from - SignedDuration::from_secs(1);
        let e = verify_rotation(&signed_by(&r, &[&key(1), &key(2)]), &pinned).unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidContent);
        // Rotating to the same key.
        let r = statement(1, 1);
        let e = verify_rotation(&signed_by(&r, &[&key(1)]), &pinned).unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidContent);
        // Weak new key.
        let mut r = statement(1, 2);
        let mut identity = [0u8; 32];
        identity[0] = 1;
        r.new_key = crate::keys::b64_encode(&identity);
        let e = verify_rotation(&signed_by(&r, &[&key(1)]), &pinned).unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidContent);
        // Statement by the pinned key but retiring another key id.
        let mut r = statement(1, 2);
        r.old_key_id = key(4).key_id();
        let e = verify_rotation(&signed_by(&r, &[&key(1), &key(2)]), &pinned).unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidContent);
        // Not a rotation payload.
        let b = signed_by_raw(b"{\"old_key_id\":1}", &[&key(1)]);
        let e = verify_rotation(&b, &pinned).unwrap_err();
        assert_eq!(e.reason, RejectReason::InvalidContent);
    }

    fn signed_by_raw(payload: &[u8], signers: &[&SecretKey]) -> Vec<u8> {
        let mut env = Envelope::sign(ROTATION_TYPE, payload.to_vec(), signers[0]);
        for k in &signers[1..] {
            env.signatures
                .extend(Envelope::sign(ROTATION_TYPE, payload.to_vec(), k).signatures);
        }
        env.to_json()
    }

    #[test]
    fn sign_refuses_keys_that_the_statement_does_not_name() {
        let r = statement(1, 2);
        assert!(matches!(
            r.sign(&key(3), &key(2)),
            Err(RotationError::WrongSigner { which: "old", .. })
        ));
        assert!(matches!(
            r.sign(&key(1), &key(3)),
            Err(RotationError::WrongSigner { which: "new", .. })
        ));
    }

    #[test]
    fn trust_keeps_the_old_key_only_during_the_overlap() {
        let mut t = Trust::new(key(1).public());
        assert_eq!(t.keys_at(t0()).len(), 1);
        let applied = t.apply(&signed(1, 2)).unwrap();
        assert!(matches!(applied, Applied::Rotated(ref v) if v.new_key == key(2).public()));
        assert_eq!(t.pinned(), &key(2).public());
        let during = t.keys_at(t0() + SignedDuration::from_hours(1));
        assert!(during.get(&key(1).key_id()).is_some());
        assert!(during.get(&key(2).key_id()).is_some());
        let end = t0() + SignedDuration::from_hours(24 * 7);
        let after = t.keys_at(end);
        assert!(
            after.get(&key(1).key_id()).is_none(),
            "old key kept at overlap_until"
        );
        assert!(after.get(&key(2).key_id()).is_some());
        assert_eq!(t.known_keys().len(), 2);
    }

    #[test]
    fn trust_replay_is_idempotent_and_chains() {
        let mut t = Trust::new(key(1).public());
        t.apply(&signed(1, 2)).unwrap();
        // The same statement again is a replay, not a second rotation.
        assert_eq!(t.apply(&signed(1, 2)).unwrap(), Applied::AlreadyPinned);
        assert_eq!(t.previous().unwrap().0, &key(1).public());
        // The next rotation must be signed by key 2; one signed by the retired key 1 is refused
        // even during the overlap.
        let by_old = signed_by(&statement(1, 3), &[&key(1), &key(3)]);
        assert_eq!(
            t.apply(&by_old).unwrap_err().reason,
            RejectReason::UnknownKey
        );
        t.apply(&signed(2, 3)).unwrap();
        assert_eq!(t.pinned(), &key(3).public());
        // Rebuilding from the root over the stored chain gives the same trust.
        let chain = [signed(1, 2), signed(2, 3)];
        let rebuilt = Trust::replay(key(1).public(), chain.iter().map(Vec::as_slice));
        assert_eq!(rebuilt, t);
        // A root that was re-pinned by hand to key 3 skips statements that do not apply.
        let repinned = Trust::replay(key(3).public(), chain.iter().map(Vec::as_slice));
        assert_eq!(repinned.pinned(), &key(3).public());
        assert!(repinned.previous().is_none());
        // An old statement cannot roll the trust back.
        let mut t3 = t.clone();
        assert!(t3.apply(&signed(1, 2)).is_err());
        assert_eq!(t3, t);
    }
}
