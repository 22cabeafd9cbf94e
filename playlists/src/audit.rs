//! The audit export bundle (`gatecast-audit-bundle/v1`) and its offline verification.
//!
//! A bundle is one JSON document that lets someone who does not trust the controller's database
//! check what the screens reported. Everything in it that matters is signed: screen statements
//! and the checkpoint by the controller key, receipt batches by each screen's device key. Every
//! signed object travels as the base64 of its **exact bytes**, so nothing is ever re-serialized.
//!
//! ```json
//! {"format":"gatecast-audit-bundle/v1",
//!  "generated_at":"2026-01-06T00:00:00.000Z",
//!  "period":{"from":"2026-01-05T00:00:00Z","to":"2026-01-06T00:00:00Z"},
//!  "controller_key":"<base64 public key>","controller_key_id":"<key_id>",
//!  "screens":[{"statement":"<base64 of a DSSE screen statement envelope>"}],
//!  "log":{"checkpoint":"<base64 of the DSSE checkpoint envelope>",
//!         "entries":[{"index":0,"kind":"batch","data":"<base64 of the exact leaf bytes>",
//!                     "proof":["<64 hex>",…]}],
//!         "consistency":{"from_size":12,"proof":["<64 hex>",…]}},
//!  "conflicts":[{"screen":"lao-cai-1","received_at":"…","data":"<base64 of the envelope>"}]}
//! ```
//!
//! * `screens[].statement`: a DSSE [`SCREEN_TYPE`] envelope signed by the controller whose
//!   payload is a [`ScreenStatement`] (the device key as registered at enrolment).
//! * `log.entries[]`: leaves of the controller's Merkle log (see [`crate::merkle`]). For
//!   `kind = "batch"` the leaf bytes are the exact receipts envelope as received; for
//!   `kind = "action"` the exact JSON bytes of the operator action record as stored. `proof` is
//!   the inclusion proof of the leaf at `index` in the tree of the checkpoint's `size`.
//! * `log.consistency` (optional): a consistency proof from an older tree size to the
//!   checkpoint's size; present when the exporter was asked for one (an auditor who kept an
//!   earlier checkpoint passes it to the verifier to detect a rewritten history).
//! * `conflicts` (optional): receipts envelopes that were rejected because a receipt in them has
//!   a stored seq but different bytes; kept as evidence.
//!
//! [`verify_bundle`] checks a bundle and returns a [`Report`].

use serde::{Deserialize, Serialize};

use crate::envelope::{Envelope, EnvelopeError};
use crate::keys::{b64_encode, KeySet, PublicKey, SecretKey};
use crate::merkle::{hash_to_hex, Hash};

/// The `format` value of a version 1 bundle.
pub const BUNDLE_FORMAT: &str = "gatecast-audit-bundle/v1";
/// payloadType of a screen statement: the controller vouches for a screen's device key.
pub const SCREEN_TYPE: &str = "application/vnd.gatecast.screen+json";

/// One export bundle (field names fixed, see the module docs).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Bundle {
    /// Always [`BUNDLE_FORMAT`].
    pub format: String,
    /// When the bundle was generated (RFC 3339 UTC).
    pub generated_at: String,
    /// The period the export was asked for.
    pub period: Period,
    /// The controller's public key (standard base64, 32 bytes). Informational: the verifier
    /// uses the key the auditor supplies, and reports a mismatch.
    pub controller_key: String,
    /// The `key_id` of `controller_key`.
    pub controller_key_id: String,
    /// One signed statement per screen whose batches are in the log entries.
    pub screens: Vec<ScreenEntry>,
    /// The Merkle log section: checkpoint, leaves with inclusion proofs, consistency proof.
    pub log: LogSection,
    /// Conflicting receipts envelopes kept as evidence (may be empty or absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<ConflictEntry>,
}

/// The requested period (RFC 3339 timestamps; `from` inclusive, `to` exclusive).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Period {
    /// Start (inclusive).
    pub from: String,
    /// End (exclusive).
    pub to: String,
}

/// A screen of the bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScreenEntry {
    /// Standard base64 of the exact bytes of a DSSE [`SCREEN_TYPE`] envelope signed by the
    /// controller, payload a [`ScreenStatement`].
    pub statement: String,
}

/// The Merkle log section of a bundle.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSection {
    /// Standard base64 of the exact bytes of the DSSE checkpoint envelope all proofs refer to.
    pub checkpoint: String,
    /// The leaves exported, in increasing `index` order.
    pub entries: Vec<LogEntry>,
    /// Consistency proof from an older size to the checkpoint's size, if one was requested.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consistency: Option<Consistency>,
}

/// What a log leaf holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EntryKind {
    /// A receipts batch envelope, exact bytes as received from the screen.
    Batch,
    /// An operator action record, exact JSON bytes as stored.
    Action,
}

/// One leaf of the Merkle log with its inclusion proof.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogEntry {
    /// Leaf index in the log (0-based).
    pub index: u64,
    /// What the leaf holds.
    pub kind: EntryKind,
    /// Standard base64 of the exact leaf bytes.
    pub data: String,
    /// Inclusion proof (RFC 6962 audit path, lowercase hex hashes) of this leaf in the tree of
    /// the checkpoint's size.
    pub proof: Vec<String>,
}

/// A consistency proof between an older tree size and the checkpoint's size.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consistency {
    /// The older tree size.
    pub from_size: u64,
    /// RFC 6962 consistency proof (lowercase hex hashes) from `from_size` to the checkpoint size.
    pub proof: Vec<String>,
}

/// A rejected, conflicting receipts envelope kept as evidence.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConflictEntry {
    /// The screen it was received for.
    pub screen: String,
    /// When the controller received it (RFC 3339 UTC).
    pub received_at: String,
    /// Standard base64 of the exact envelope bytes as received.
    pub data: String,
}

impl Bundle {
    /// Compact JSON of the bundle.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing a bundle cannot fail")
    }
}

impl ScreenEntry {
    /// Wrap the exact bytes of a signed statement envelope.
    pub fn from_envelope_bytes(envelope_bytes: &[u8]) -> ScreenEntry {
        ScreenEntry {
            statement: b64_encode(envelope_bytes),
        }
    }
}

impl LogEntry {
    /// A log entry for the leaf `data` (exact bytes) at `index`, with its inclusion proof.
    pub fn new(index: u64, kind: EntryKind, data: &[u8], proof: &[Hash]) -> LogEntry {
        LogEntry {
            index,
            kind,
            data: b64_encode(data),
            proof: proof.iter().map(hash_to_hex).collect(),
        }
    }
}

impl Consistency {
    /// A consistency section from `from_size` with the given proof.
    pub fn new(from_size: u64, proof: &[Hash]) -> Consistency {
        Consistency {
            from_size,
            proof: proof.iter().map(hash_to_hex).collect(),
        }
    }
}

/// The payload of a [`SCREEN_TYPE`] envelope: the controller states that `device_key` is the
/// registered device key of `screen`. Unknown members are ignored when parsing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ScreenStatement {
    /// Screen id.
    pub screen: String,
    /// The device public key (standard base64 of 32 bytes) registered at enrolment.
    pub device_key: String,
    /// The gate the screen stands at.
    pub gate: String,
    /// The screen's display name.
    pub name: String,
    /// When the screen enrolled (RFC 3339 UTC).
    pub enrolled_at: String,
}

/// Why a screen statement was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StatementError {
    /// The envelope did not verify under the controller key.
    #[error("screen statement envelope rejected: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload is not a valid statement.
    #[error("screen statement payload is malformed: {0}")]
    Malformed(String),
}

impl ScreenStatement {
    /// Payload JSON (compact, members in declaration order).
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing a screen statement cannot fail")
    }

    /// Sign as a DSSE [`SCREEN_TYPE`] envelope with the controller key.
    pub fn sign(&self, controller_key: &SecretKey) -> Envelope {
        Envelope::sign(SCREEN_TYPE, self.to_json(), controller_key)
    }

    /// The device key, if it is a valid public key.
    pub fn public_key(&self) -> Result<PublicKey, StatementError> {
        PublicKey::from_base64(&self.device_key)
            .map_err(|e| StatementError::Malformed(format!("device_key: {e}")))
    }

    /// Check the fields: valid screen id and a valid device key.
    pub fn validate(&self) -> Result<(), StatementError> {
        if !crate::manifest::is_valid_screen_id(&self.screen) {
            return Err(StatementError::Malformed(format!(
                "screen {:?} must match ^[a-z0-9][a-z0-9-]{{0,62}}$",
                self.screen
            )));
        }
        self.public_key().map(|_| ())
    }
}

/// Verify a screen statement envelope (exact bytes) under `trusted` controller keys, then parse
/// and validate its payload.
pub fn verify_statement(bytes: &[u8], trusted: &KeySet) -> Result<ScreenStatement, StatementError> {
    let v = crate::envelope::verify(bytes, SCREEN_TYPE, trusted)?;
    let s: ScreenStatement =
        serde_json::from_slice(&v.payload).map_err(|e| StatementError::Malformed(e.to_string()))?;
    s.validate()?;
    Ok(s)
}
