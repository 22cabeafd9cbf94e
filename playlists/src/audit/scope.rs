//! The signed scope of an export bundle (`docs/protocol.md` §15 "Export bundle"): what the
//! controller put in the bundle, so that the offline verifier can tell a complete bundle from
//! one with batches, screens, actions, conflict evidence removed or its period rewritten.
//!
//! The bundle member `"scope"` is the standard base64 of a DSSE [`SCOPE_TYPE`] envelope signed
//! by the controller key; its payload is a [`Scope`]:
//!
//! ```json
//! {"period":{"from":"2026-01-05T00:00:00Z","to":"2026-01-06T00:00:00Z"},
//!  "checkpoint_size":6,
//!  "screens":[{"screen":"lao-cai-1","chains":[{"device_key_id":"506ef1879d748ce0",
//!     "first_seq":1,"last_seq":9,"first_index":0,"last_index":5,"batches":3}]}],
//!  "actions":1,"conflicts":0}
//! ```
//!
//! One chain per device key of a screen, keyed by the key id of the device key the batches are
//! signed with. A chain's seqs are those of every receipt in its exported batch envelopes
//! (a batch may carry receipts from before the period); its indexes are the log indexes of its
//! first and last exported batch.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::Period;
use crate::envelope::{Envelope, EnvelopeError, RECEIPTS_TYPE};
use crate::keys::{KeySet, SecretKey};
use crate::receipt::Receipt;

/// payloadType of a bundle scope: the controller states what the bundle holds.
pub const SCOPE_TYPE: &str = "application/vnd.gatecast.scope+json";

/// The payload of a [`SCOPE_TYPE`] envelope. Unknown members are ignored when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Scope {
    /// The period the bundle was exported for (equal to the bundle's `period`).
    pub period: Period,
    /// The size of the checkpoint the bundle's proofs refer to.
    pub checkpoint_size: u64,
    /// Every screen of the bundle (one statement each), sorted by screen id.
    pub screens: Vec<ScreenScope>,
    /// Number of `action` log entries in the bundle.
    pub actions: u64,
    /// Number of `conflicts` entries in the bundle.
    pub conflicts: u64,
}

/// One screen of a [`Scope`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenScope {
    /// Screen id.
    pub screen: String,
    /// One chain per device key that signed exported batches of the screen (empty when the
    /// screen has no batch in the bundle), sorted by key id.
    pub chains: Vec<ChainScope>,
}

/// The exported batches of one screen signed by one device key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChainScope {
    /// key_id of the device key that signed the batches.
    pub device_key_id: String,
    /// Lowest receipt seq in the chain's exported batches.
    pub first_seq: u64,
    /// Highest receipt seq in the chain's exported batches.
    pub last_seq: u64,
    /// Log index of the chain's first exported batch.
    pub first_index: u64,
    /// Log index of the chain's last exported batch.
    pub last_index: u64,
    /// Number of exported batches of the chain.
    pub batches: u64,
}

/// Why a scope was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ScopeError {
    /// The envelope did not verify under the controller key.
    #[error("bundle scope envelope rejected: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload is not a valid scope.
    #[error("bundle scope payload is malformed: {0}")]
    Malformed(String),
}

impl Scope {
    /// Payload JSON (compact, members in declaration order).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing a scope cannot fail")
    }

    /// Sign as a DSSE [`SCOPE_TYPE`] envelope with the controller key.
    pub fn sign(&self, controller_key: &SecretKey) -> Envelope {
        Envelope::sign(SCOPE_TYPE, self.to_json(), controller_key)
    }
}

/// Verify a scope envelope (exact bytes) under `trusted` controller keys and parse its payload.
pub fn verify_scope(bytes: &[u8], trusted: &KeySet) -> Result<Scope, ScopeError> {
    let v = crate::envelope::verify(bytes, SCOPE_TYPE, trusted)?;
    serde_json::from_slice(&v.payload).map_err(|e| ScopeError::Malformed(e.to_string()))
}

/// Builds the [`Scope`] of a bundle while its parts are chosen; the exporter and test
/// fixtures use it, so that both describe a bundle the same way.
#[derive(Debug, Clone)]
pub struct ScopeBuilder {
    period: Period,
    checkpoint_size: u64,
    screens: BTreeMap<String, BTreeMap<String, ChainScope>>,
    actions: u64,
    conflicts: u64,
}

impl ScopeBuilder {
    /// An empty scope for `period` and the checkpoint of `checkpoint_size` leaves.
    pub fn new(period: Period, checkpoint_size: u64) -> ScopeBuilder {
        ScopeBuilder {
            period,
            checkpoint_size,
            screens: BTreeMap::new(),
            actions: 0,
            conflicts: 0,
        }
    }

    /// A screen with a statement in the bundle (with or without batches).
    pub fn screen(&mut self, screen: &str) -> &mut Self {
        self.screens.entry(screen.to_owned()).or_default();
        self
    }

    /// An exported batch of `screen`, at log `index`, signed by `device_key_id`, holding the
    /// receipts `seqs`. Batches may be added in any order.
    pub fn batch(
        &mut self,
        screen: &str,
        device_key_id: &str,
        index: u64,
        seqs: impl IntoIterator<Item = u64>,
    ) -> &mut Self {
        let seqs: Vec<u64> = seqs.into_iter().collect();
        let lo = seqs.iter().copied().min().unwrap_or(u64::MAX);
        let hi = seqs.iter().copied().max().unwrap_or(0);
        let chains = self.screens.entry(screen.to_owned()).or_default();
        let c = chains
            .entry(device_key_id.to_owned())
            .or_insert_with(|| ChainScope {
                device_key_id: device_key_id.to_owned(),
                first_seq: lo,
                last_seq: hi,
                first_index: index,
                last_index: index,
                batches: 0,
            });
        c.first_seq = c.first_seq.min(lo);
        c.last_seq = c.last_seq.max(hi);
        c.first_index = c.first_index.min(index);
        c.last_index = c.last_index.max(index);
        c.batches += 1;
        self
    }

    /// An exported `action` log entry.
    pub fn action(&mut self) -> &mut Self {
        self.actions += 1;
        self
    }

    /// The number of `conflicts` entries of the bundle.
    pub fn conflicts(&mut self, n: u64) -> &mut Self {
        self.conflicts = n;
        self
    }

    /// The scope.
    pub fn finish(&self) -> Scope {
        Scope {
            period: self.period.clone(),
            checkpoint_size: self.checkpoint_size,
            screens: self
                .screens
                .iter()
                .map(|(screen, chains)| ScreenScope {
                    screen: screen.clone(),
                    chains: chains.values().cloned().collect(),
                })
                .collect(),
            actions: self.actions,
            conflicts: self.conflicts,
        }
    }
}

/// The seqs of the receipts in a receipts envelope, read **without verifying** it (for the
/// exporter, which reads its own log; the verifier checks signatures itself). `None` when the
/// bytes are not a receipts envelope with well-formed receipts.
pub fn batch_seqs(envelope: &[u8]) -> Option<Vec<u64>> {
    #[derive(Deserialize)]
    struct Payload {
        receipts: Vec<String>,
    }
    let env = Envelope::parse(envelope).ok()?;
    if env.payload_type != RECEIPTS_TYPE {
        return None;
    }
    let p: Payload = serde_json::from_slice(&env.payload).ok()?;
    p.receipts
        .iter()
        .map(|t| Receipt::parse(t.as_bytes()).ok().map(|r| r.seq))
        .collect()
}

/// The key id of the (first) signature of a receipts envelope, read **without verifying** it:
/// the exporter keys each chain of its scope by the device key that signed its batches, so a
/// re-enrolled screen has one chain per enrolment (`docs/protocol.md` §15). `None` when the
/// bytes are not a signed receipts envelope.
pub fn batch_signer(envelope: &[u8]) -> Option<String> {
    let env = Envelope::parse(envelope).ok()?;
    if env.payload_type != RECEIPTS_TYPE {
        return None;
    }
    env.signatures.into_iter().next().map(|s| s.keyid)
}

/// Whether `data` is an operator action record (a JSON object with the string members `at`,
/// `actor` and `action`, as the controller stores it) rather than anything else, such as a
/// receipts envelope relabelled as an action.
pub fn is_action_record(data: &[u8]) -> bool {
    #[derive(Deserialize)]
    struct Action {
        #[allow(dead_code)]
        at: String,
        #[allow(dead_code)]
        actor: String,
        #[allow(dead_code)]
        action: String,
    }
    serde_json::from_slice::<Action>(data).is_ok()
        && serde_json::from_slice::<serde_json::Value>(data)
            .ok()
            .and_then(|v| v.get("payloadType").cloned())
            .is_none()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::PAYLOAD_TYPE_PREFIX;

    fn period() -> Period {
        Period {
            from: "2026-01-05T00:00:00Z".into(),
            to: "2026-01-06T00:00:00Z".into(),
        }
    }

    #[test]
    fn scope_type_is_a_gatecast_type() {
        assert!(SCOPE_TYPE.starts_with(PAYLOAD_TYPE_PREFIX) && SCOPE_TYPE.ends_with("+json"));
    }

    #[test]
    fn builder_merges_batches_per_chain_in_any_order() {
        let mut b = ScopeBuilder::new(period(), 9);
        b.screen("b1")
            .batch("a1", "k1", 5, [4, 5, 6])
            .batch("a1", "k1", 0, [1, 2, 3])
            .batch("a1", "k2", 7, [1])
            .action()
            .conflicts(2);
        let s = b.finish();
        assert_eq!(s.screens.len(), 2);
        assert_eq!(s.screens[0].screen, "a1");
        assert!(s.screens[1].chains.is_empty());
        let k1 = &s.screens[0].chains[0];
        assert_eq!(
            (
                k1.first_seq,
                k1.last_seq,
                k1.first_index,
                k1.last_index,
                k1.batches
            ),
            (1, 6, 0, 5, 2)
        );
        assert_eq!(s.screens[0].chains[1].device_key_id, "k2");
        assert_eq!((s.actions, s.conflicts, s.checkpoint_size), (1, 2, 9));
    }

    #[test]
    fn scope_round_trips_and_binds_type_and_key() {
        let controller = SecretKey::from_seed([1; 32]);
        let trusted = KeySet::from_keys([controller.public()]);
        let scope = ScopeBuilder::new(period(), 3).finish();
        let bytes = scope.sign(&controller).to_json();
        assert_eq!(verify_scope(&bytes, &trusted).unwrap(), scope);
        let other = scope.sign(&SecretKey::from_seed([2; 32])).to_json();
        assert!(matches!(
            verify_scope(&other, &trusted),
            Err(ScopeError::Envelope(EnvelopeError::UnknownKey { .. }))
        ));
        // the same payload signed as a screen statement is not a scope
        let as_statement = Envelope::sign(super::super::SCREEN_TYPE, scope.to_json(), &controller);
        assert!(matches!(
            verify_scope(&as_statement.to_json(), &trusted),
            Err(ScopeError::Envelope(EnvelopeError::WrongType { .. }))
        ));
    }

    #[test]
    fn action_records_and_batches_are_told_apart() {
        let action = br#"{"seq":1,"at":"2026-01-05T07:00:00.000Z","actor":"cli","role":null,"action":"publish","detail":{}}"#;
        assert!(is_action_record(action));
        let device = SecretKey::from_seed([3; 32]);
        let batch = crate::receipt::sign_batch("a1", &[], &device).to_json();
        assert!(!is_action_record(&batch));
        assert_eq!(batch_seqs(&batch), Some(vec![]));
        assert_eq!(batch_seqs(action), None);
    }
}
