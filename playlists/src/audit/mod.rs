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
//!  "scope":"<base64 of a DSSE scope envelope>",
//!  "screens":[{"statement":"<base64 of a DSSE screen statement envelope>"}],
//!  "log":{"checkpoint":"<base64 of the DSSE checkpoint envelope>",
//!         "entries":[{"index":0,"kind":"batch","data":"<base64 of the exact leaf bytes>",
//!                     "proof":["<64 hex>",…]}],
//!         "consistency":{"from_size":12,"proof":["<64 hex>",…]}},
//!  "conflicts":[{"screen":"lao-cai-1","received_at":"…","data":"<base64 of the envelope>"}]}
//! ```
//!
//! * `scope`: a DSSE [`SCOPE_TYPE`] envelope signed by the controller whose payload is a
//!   [`Scope`]: the period, `generated_at`, the screens selected, the checkpoint size, per
//!   screen and device key the first and last seq and log index and the number of batches, the
//!   number of actions, a digest of the log entries and each conflict entry's screen and
//!   SHA-256. The verifier checks the bundle's completeness against it.
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
    /// Standard base64 of the exact bytes of a DSSE [`SCOPE_TYPE`] envelope signed by the
    /// controller, payload a [`Scope`]: what the bundle holds. The verifier refuses a bundle
    /// without it (`missing_scope`: a bundle of an older build must be exported again).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<String>,
    /// One signed statement per screen whose batches are in the log entries.
    pub screens: Vec<ScreenEntry>,
    /// The Merkle log section: checkpoint, leaves with inclusion proofs, consistency proof.
    pub log: LogSection,
    /// Conflicting receipts envelopes kept as evidence (may be empty or absent).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub conflicts: Vec<ConflictEntry>,
    /// The approval policy chain (standard base64 of each exact policy envelope, oldest
    /// first, `docs/protocol.md` §19); absent when the controller has no policy.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<String>,
    /// Every approval the controller holds (standard base64 of each exact envelope).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub approvals: Vec<String>,
    /// The controller-signed manifest envelopes (standard base64 of each exact envelope) that
    /// governed the bundle's screens during its period: for each screen the last one issued
    /// before `period.from` and every one issued in the period (`docs/protocol.md` §15); what
    /// the period report computes planned plays and titles from. Absent when there is none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub manifests: Vec<String>,
    /// The controller-signed ticker set envelopes (standard base64 of each exact envelope)
    /// that were current on the bundle's screens during its period: for each screen the last
    /// one issued before `period.from` and every one issued in the period (`docs/protocol.md`
    /// §15, §20); what the period report tells ticker receipts apart by. Absent when there is
    /// none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tickers: Vec<String>,
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
    /// How many more conflicting envelopes for the same seq the controller received after this
    /// one (counted, not kept: only the first per screen, epoch and seq is evidence). Absent when 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub repeats: u64,
}

fn is_zero(n: &u64) -> bool {
    *n == 0
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
/// registered device key of `screen` (its current enrolment) and, in `epochs`, which device key
/// signed the chain of each enrolment epoch. Unknown members are ignored when parsing; a
/// statement without `epochs` (from before epochs) has one epoch, 1, with `device_key`.
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
    /// Every enrolment epoch of the screen, oldest first; the last is the current one
    /// (`device_key`, `enrolled_at`). Empty: one epoch, 1, with `device_key`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub epochs: Vec<StatementEpoch>,
    /// The screen's IANA timezone: its gate days in the period report (`crate::report`).
    /// Absent in statements of older builds (then UTC).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timezone: Option<String>,
    /// The display name of the screen's gate (e.g. "Cửa khẩu quốc tế đường bộ số II Kim
    /// Thành"), as the controller's administrator set it. Absent when none was set, and in
    /// statements of older builds (then the report shows the gate id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub gate_name: Option<String>,
}

/// One enrolment epoch in a [`ScreenStatement`]: its receipts chain (seq from 1) is signed by
/// `device_key`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementEpoch {
    /// Epoch number, from 1, increasing.
    pub epoch: u64,
    /// The device public key of that enrolment (standard base64 of 32 bytes).
    pub device_key: String,
    /// When that enrolment happened (RFC 3339 UTC).
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

    /// The device key of every epoch, oldest first: `(epoch, key)`.
    pub fn epoch_keys(&self) -> Result<Vec<(u64, PublicKey)>, StatementError> {
        if self.epochs.is_empty() {
            return Ok(vec![(crate::receipt::FIRST_EPOCH, self.public_key()?)]);
        }
        self.epochs
            .iter()
            .map(|e| {
                PublicKey::from_base64(&e.device_key)
                    .map(|k| (e.epoch, k))
                    .map_err(|err| {
                        StatementError::Malformed(format!("epochs[{}].device_key: {err}", e.epoch))
                    })
            })
            .collect()
    }

    /// Check the fields: valid screen id, valid device keys, epochs from 1 strictly increasing,
    /// the last one being the current `device_key`.
    pub fn validate(&self) -> Result<(), StatementError> {
        if !crate::manifest::is_valid_screen_id(&self.screen) {
            return Err(StatementError::Malformed(format!(
                "screen {:?} must match ^[a-z0-9][a-z0-9-]{{0,62}}$",
                self.screen
            )));
        }
        let current = self.public_key()?;
        let keys = self.epoch_keys()?;
        if keys.windows(2).any(|w| w[0].0 >= w[1].0) || keys.first().is_some_and(|k| k.0 == 0) {
            return Err(StatementError::Malformed(
                "epochs must be numbered from 1 and strictly increasing".into(),
            ));
        }
        if keys.last().map(|k| &k.1) != Some(&current) {
            return Err(StatementError::Malformed(
                "the last of epochs must be the current device_key".into(),
            ));
        }
        Ok(())
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

/// What kind of problem verification found (stable snake_case codes in JSON output).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ProblemKind {
    /// The bundle is not a `gatecast-audit-bundle/v1` JSON document, or a field is malformed.
    MalformedBundle,
    /// The bundle names another controller key than the one the auditor supplied.
    ControllerKeyMismatch,
    /// The checkpoint does not verify under the controller key or is malformed.
    BadCheckpoint,
    /// A screen statement does not verify under the controller key or is malformed.
    BadStatement,
    /// Two statements for one screen name different device keys.
    DuplicateStatement,
    /// A batch names a screen for which the bundle holds no statement.
    UnknownScreen,
    /// A batch is not validly signed by the device key registered for its screen.
    BadBatchSignature,
    /// A batch is signed but malformed, or its receipts break the chain inside the batch.
    BadBatch,
    /// A log entry's inclusion proof does not lead to the checkpoint's root.
    BadInclusionProof,
    /// Log entries are out of order, duplicated or beyond the checkpoint's size.
    BadLogIndex,
    /// Receipts of a screen are missing between two that are present.
    SeqGap,
    /// A receipt's `prev` is not the hash of the receipt before it.
    PrevMismatch,
    /// Two different receipts, both signed by the device, carry the same seq.
    Conflict,
    /// The auditor's previous checkpoint does not verify under the controller key.
    BadPreviousCheckpoint,
    /// The checkpoint is not an extension of the previous checkpoint: history was rewritten.
    InconsistentHistory,
    /// The bundle holds no (matching) consistency proof for the previous checkpoint.
    MissingConsistencyProof,
    /// The bundle holds no signed scope (exported by an older build: export it again).
    MissingScope,
    /// The scope does not verify under the controller key or is malformed.
    BadScope,
    /// The bundle's `period` is not the period the scope signs.
    PeriodMismatch,
    /// The scope was signed for a checkpoint of another size than the bundle's.
    ScopeCheckpointMismatch,
    /// A screen of the scope has no statement in the bundle.
    MissingScreen,
    /// A statement is for a screen the scope does not name.
    UnscopedScreen,
    /// A chain of the scope has no batch in the bundle.
    MissingChain,
    /// Batches signed by a device key the scope does not name for their screen.
    UnscopedChain,
    /// A chain's first batch (lowest seq or log index) is not the one the scope signs.
    ChainStartMismatch,
    /// A chain's last batch (highest seq or log index) is not the one the scope signs.
    ChainEndMismatch,
    /// A chain has another number of batches than the scope signs.
    BatchCountMismatch,
    /// A log entry's bytes are not of its `kind` (a batch labelled as an action, or the reverse).
    EntryKindMismatch,
    /// The number of action entries is not the one the scope signs.
    ActionCountMismatch,
    /// The number of conflict evidence entries is not the one the scope signs.
    ConflictCountMismatch,
    /// A conflict evidence entry (its screen and the SHA-256 of its bytes) is not one the scope
    /// signs, or one the scope signs is not in the bundle.
    ConflictEvidenceMismatch,
    /// With a scope, a conflict evidence entry that does not verify under the device key of
    /// its screen and epoch, or names no screen of the bundle.
    BadConflictEvidence,
    /// The log entries (index, kind, leaf hash) are not the ones the scope's `entries_sha256`
    /// signs: an entry was swapped, added or removed.
    EntriesMismatch,
    /// An action entry's `at` is outside the bundle's period.
    ActionOutOfPeriod,
    /// The bundle's `generated_at` is not the one the scope signs.
    GeneratedAtMismatch,
    /// A policy of the bundle's chain does not verify (root threshold, version, form).
    BadPolicy,
    /// An approval of the bundle is not validly signed by an approver of the chain, or malformed.
    BadApproval,
    /// A play (after the first policy was issued) of media or alert text that approvals of
    /// enough distinct approvers of the policy then in force did not cover.
    UnapprovedPlay,
    /// The bundle's `policy` chain is not the one the scope signs (a policy removed, added,
    /// altered or reordered), or the bundle carries a policy chain or approvals its scope does
    /// not sign.
    PolicyChainMismatch,
    /// The bundle's `approvals` are not the ones the scope signs: one was removed, added or
    /// altered (even one beyond the threshold).
    ApprovalsMismatch,
    /// The bundle's `manifests` are not the ones the scope signs (one removed, added or
    /// altered, e.g. to inflate the planned plays of a period report), or one is not a
    /// manifest of a screen of the bundle.
    ManifestsMismatch,
    /// The bundle's `tickers` are not the ones the scope signs (one removed, added or
    /// altered, e.g. to hide a ticker correction from the period report), or one is not a
    /// ticker set of a screen of the bundle.
    TickersMismatch,
}

impl ProblemKind {
    /// The stable code (as in JSON output).
    pub fn as_str(&self) -> &'static str {
        match self {
            ProblemKind::MalformedBundle => "malformed_bundle",
            ProblemKind::ControllerKeyMismatch => "controller_key_mismatch",
            ProblemKind::BadCheckpoint => "bad_checkpoint",
            ProblemKind::BadStatement => "bad_statement",
            ProblemKind::DuplicateStatement => "duplicate_statement",
            ProblemKind::UnknownScreen => "unknown_screen",
            ProblemKind::BadBatchSignature => "bad_batch_signature",
            ProblemKind::BadBatch => "bad_batch",
            ProblemKind::BadInclusionProof => "bad_inclusion_proof",
            ProblemKind::BadLogIndex => "bad_log_index",
            ProblemKind::SeqGap => "seq_gap",
            ProblemKind::PrevMismatch => "prev_mismatch",
            ProblemKind::Conflict => "conflict",
            ProblemKind::BadPreviousCheckpoint => "bad_previous_checkpoint",
            ProblemKind::InconsistentHistory => "inconsistent_history",
            ProblemKind::MissingConsistencyProof => "missing_consistency_proof",
            ProblemKind::MissingScope => "missing_scope",
            ProblemKind::BadScope => "bad_scope",
            ProblemKind::PeriodMismatch => "period_mismatch",
            ProblemKind::ScopeCheckpointMismatch => "scope_checkpoint_mismatch",
            ProblemKind::MissingScreen => "missing_screen",
            ProblemKind::UnscopedScreen => "unscoped_screen",
            ProblemKind::MissingChain => "missing_chain",
            ProblemKind::UnscopedChain => "unscoped_chain",
            ProblemKind::ChainStartMismatch => "chain_start_mismatch",
            ProblemKind::ChainEndMismatch => "chain_end_mismatch",
            ProblemKind::BatchCountMismatch => "batch_count_mismatch",
            ProblemKind::EntryKindMismatch => "entry_kind_mismatch",
            ProblemKind::ActionCountMismatch => "action_count_mismatch",
            ProblemKind::ConflictCountMismatch => "conflict_count_mismatch",
            ProblemKind::ConflictEvidenceMismatch => "conflict_evidence_mismatch",
            ProblemKind::BadConflictEvidence => "bad_conflict_evidence",
            ProblemKind::EntriesMismatch => "entries_mismatch",
            ProblemKind::ActionOutOfPeriod => "action_out_of_period",
            ProblemKind::GeneratedAtMismatch => "generated_at_mismatch",
            ProblemKind::BadPolicy => "bad_policy",
            ProblemKind::BadApproval => "bad_approval",
            ProblemKind::UnapprovedPlay => "unapproved_play",
            ProblemKind::PolicyChainMismatch => "policy_chain_mismatch",
            ProblemKind::ApprovalsMismatch => "approvals_mismatch",
            ProblemKind::ManifestsMismatch => "manifests_mismatch",
            ProblemKind::TickersMismatch => "tickers_mismatch",
        }
    }
}

/// One thing that does not hold. `screen`, `seq` and `entry` locate it where they apply.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    /// What kind of problem.
    pub kind: ProblemKind,
    /// The screen concerned (as claimed by the data when its signature failed).
    pub screen: Option<String>,
    /// The receipt seq concerned (the first one, for a whole batch).
    pub seq: Option<u64>,
    /// The log index of the entry concerned.
    pub entry: Option<u64>,
    /// A sentence saying what is wrong.
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.kind.as_str())?;
        if let Some(s) = &self.screen {
            write!(f, " screen {s}")?;
        }
        if let Some(q) = self.seq {
            write!(f, " seq {q}")?;
        }
        if let Some(e) = self.entry {
            write!(f, " (log entry {e})")?;
        }
        write!(f, ": {}", self.message)
    }
}

/// What was verified for one screen.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ScreenSummary {
    /// Screen id.
    pub screen: String,
    /// Gate, from the controller's statement.
    pub gate: String,
    /// Display name, from the controller's statement.
    pub name: String,
    /// The enrolment epoch of this chain (a screen has one summary per epoch in the bundle).
    pub epoch: u64,
    /// key_id of the device key of that epoch.
    pub device_key_id: String,
    /// Number of batches of this screen in the log entries.
    pub batches: u64,
    /// Number of distinct receipts (plays recorded, any outcome and backend).
    pub receipts: u64,
    /// Receipts that count as shown: outcome `completed` and backend `mpv`.
    pub shown: u64,
    /// Lowest seq present.
    pub first_seq: Option<u64>,
    /// Highest seq present.
    pub last_seq: Option<u64>,
    /// Earliest `started_at` (RFC 3339 UTC).
    pub first_started_at: Option<String>,
    /// Latest `ended_at` (RFC 3339 UTC).
    pub last_ended_at: Option<String>,
    /// True when the first receipt present is not seq 1: its `prev` is taken as given.
    pub starts_mid_chain: bool,
    /// True when no problem was found for this screen.
    pub chain_intact: bool,
}

/// The outcome of [`verify_bundle`]. `ok` is true only if `problems` is empty.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    /// True only if every check held.
    pub ok: bool,
    /// The bundle's `format`, if it could be read.
    pub format: Option<String>,
    /// The bundle's `generated_at`.
    pub generated_at: Option<String>,
    /// The bundle's period.
    pub period: Option<Period>,
    /// key_id of the controller key the bundle was checked against.
    pub controller_key_id: String,
    /// The verified checkpoint.
    pub checkpoint: Option<crate::merkle::Checkpoint>,
    /// The verified previous checkpoint, if one was supplied and verified.
    pub previous_checkpoint: Option<crate::merkle::Checkpoint>,
    /// Whether consistency with the previous checkpoint was proven.
    pub consistent_with_previous: Option<bool>,
    /// The bundle's scope, if it verified under the controller key.
    pub scope: Option<Scope>,
    /// Number of log entries in the bundle.
    pub log_entries: u64,
    /// Of which receipts batches.
    pub batches: u64,
    /// Of which operator actions.
    pub actions: u64,
    /// Total distinct receipts over all screens.
    pub plays: u64,
    /// Of which shown (completed on `mpv`).
    pub shown: u64,
    /// Per screen, sorted by screen id.
    pub screens: Vec<ScreenSummary>,
    /// Facts the auditor should know that are not failures (e.g. a chain starting mid-way).
    pub notes: Vec<String>,
    /// Everything that does not hold.
    pub problems: Vec<Problem>,
    /// The approvals behind each play, when the bundle carries a policy (§19).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub approvals: Option<ApprovalReport>,
}

impl Report {
    /// A human-readable summary: period, checkpoint, screens, plays, notes and problems.
    pub fn to_text(&self) -> String {
        use std::fmt::Write as _;
        let mut o = String::new();
        let verdict = if self.ok {
            "VERIFIED: every check holds"
        } else {
            "FAILED: verification problems found"
        };
        let _ = writeln!(o, "{verdict}");
        let _ = writeln!(o, "controller key: {}", self.controller_key_id);
        if let Some(p) = &self.period {
            let _ = writeln!(o, "period: {} .. {}", p.from, p.to);
        }
        if let Some(g) = &self.generated_at {
            let _ = writeln!(o, "generated at: {g}");
        }
        match &self.checkpoint {
            Some(c) => {
                let _ = writeln!(
                    o,
                    "checkpoint: log {:?} size {} root {}",
                    c.origin, c.size, c.root
                );
            }
            None => {
                let _ = writeln!(o, "checkpoint: not verified");
            }
        }
        if let Some(p) = &self.previous_checkpoint {
            let _ = writeln!(
                o,
                "previous checkpoint: size {} root {}: {}",
                p.size,
                p.root,
                match self.consistent_with_previous {
                    Some(true) => "consistent (history only appended to)",
                    _ => "NOT shown consistent",
                }
            );
        }
        match &self.scope {
            Some(s) => {
                let _ = writeln!(
                    o,
                    "scope (signed): {} screens, {} chains, {} batches, {} actions, {} conflicts",
                    s.screens.len(),
                    s.screens.iter().map(|x| x.chains.len()).sum::<usize>(),
                    s.screens
                        .iter()
                        .flat_map(|x| &x.chains)
                        .map(|c| c.batches)
                        .sum::<u64>(),
                    s.actions,
                    s.conflicts.len()
                );
                let _ = writeln!(o, "selection: {}", s.selection);
            }
            None => {
                let _ = writeln!(o, "scope: not verified");
            }
        }
        let _ = writeln!(
            o,
            "log entries: {} ({} batches, {} operator actions)",
            self.log_entries, self.batches, self.actions
        );
        let _ = writeln!(
            o,
            "plays: {} receipts, {} shown (completed on mpv)",
            self.plays, self.shown
        );
        let _ = writeln!(o, "screens: {}", self.screens.len());
        for s in &self.screens {
            let seqs = match (s.first_seq, s.last_seq) {
                (Some(a), Some(b)) => format!("seq {a}..={b}"),
                _ => "no receipts".to_owned(),
            };
            let times = match (&s.first_started_at, &s.last_ended_at) {
                (Some(a), Some(b)) => format!(", {a} .. {b}"),
                _ => String::new(),
            };
            let _ = writeln!(
                o,
                "  {} ({}, gate {}, epoch {}, key {}): {} batches, {} receipts, {} shown, {seqs}{times}, chain {}",
                s.screen,
                s.name,
                s.gate,
                s.epoch,
                s.device_key_id,
                s.batches,
                s.receipts,
                s.shown,
                if s.chain_intact { "intact" } else { "BROKEN" }
            );
        }
        if let Some(a) = &self.approvals {
            let _ = writeln!(
                o,
                "approvals: policy versions {:?} (first policy's root keys {}), {} approvals, {} plays covered, {} NOT covered",
                a.policy_versions,
                a.root_ids.join(","),
                a.approvals,
                a.covered,
                a.uncovered
            );
            for p in &a.plays {
                let _ = writeln!(
                    o,
                    "  {} seq {} {} ({}) at {}: {}",
                    p.screen,
                    p.seq,
                    p.media,
                    p.lang,
                    p.started_at,
                    if p.approvers.is_empty() {
                        "NOT APPROVED".to_owned()
                    } else {
                        format!("approved by {}", p.approvers.join(", "))
                    }
                );
            }
        }
        if !self.notes.is_empty() {
            let _ = writeln!(o, "notes:");
            for n in &self.notes {
                let _ = writeln!(o, "  - {n}");
            }
        }
        if !self.problems.is_empty() {
            let _ = writeln!(o, "problems ({}):", self.problems.len());
            for p in &self.problems {
                let _ = writeln!(o, "  - {p}");
            }
        }
        o
    }
}

mod scope;
mod verify;
pub use scope::{
    approvals_digest, batch_chain, batch_seqs, entries_digest, is_action_record, policy_digest,
    verify_scope, ApprovalsScope, ChainScope, ConflictScope, ManifestsScope, Scope, ScopeBuilder,
    ScopeError, ScreenScope, Selection, TickersScope, SCOPE_TYPE,
};
pub use verify::verify_bundle;
pub use verify::{ApprovalReport, PlayApproval};

#[cfg(test)]
mod tests {
    use super::*;
    use crate::envelope::PAYLOAD_TYPE_PREFIX;

    fn statement(device: &SecretKey) -> ScreenStatement {
        ScreenStatement {
            screen: "lao-cai-1".into(),
            device_key: device.public().to_base64(),
            gate: "Cửa khẩu Lào Cai".into(),
            name: "Sảnh A".into(),
            enrolled_at: "2026-01-01T00:00:00.000Z".into(),
            epochs: vec![],
            timezone: None,
            gate_name: None,
        }
    }

    #[test]
    fn screen_type_is_a_gatecast_type() {
        assert!(SCREEN_TYPE.starts_with(PAYLOAD_TYPE_PREFIX) && SCREEN_TYPE.ends_with("+json"));
    }

    #[test]
    fn statement_round_trips_and_binds_type_and_key() {
        let controller = SecretKey::from_seed([1; 32]);
        let device = SecretKey::from_seed([2; 32]);
        let trusted = KeySet::from_keys([controller.public()]);
        let bytes = statement(&device).sign(&controller).to_json();
        let s = verify_statement(&bytes, &trusted).unwrap();
        assert_eq!(s, statement(&device));
        assert_eq!(s.public_key().unwrap(), device.public());
        // signed by another key
        let other = statement(&device).sign(&device).to_json();
        assert!(matches!(
            verify_statement(&other, &trusted),
            Err(StatementError::Envelope(EnvelopeError::UnknownKey { .. }))
        ));
        // the same payload signed as another type does not verify as a statement
        let as_ack = Envelope::sign(
            crate::envelope::ACK_TYPE,
            statement(&device).to_json(),
            &controller,
        )
        .to_json();
        assert!(matches!(
            verify_statement(&as_ack, &trusted),
            Err(StatementError::Envelope(EnvelopeError::WrongType { .. }))
        ));
    }

    #[test]
    fn statement_fields_are_validated() {
        let controller = SecretKey::from_seed([1; 32]);
        let trusted = KeySet::from_keys([controller.public()]);
        let mut s = statement(&SecretKey::from_seed([2; 32]));
        s.screen = "../etc".into();
        let e = verify_statement(&s.sign(&controller).to_json(), &trusted).unwrap_err();
        assert!(e.to_string().contains("screen"), "{e}");
        let mut s = statement(&SecretKey::from_seed([2; 32]));
        s.device_key = "bm9wZQ==".into();
        let e = verify_statement(&s.sign(&controller).to_json(), &trusted).unwrap_err();
        assert!(e.to_string().contains("device_key"), "{e}");
        // unknown members of the signed payload are ignored
        let payload = br#"{"screen":"a1","device_key":"A6EHv/POEL4dcN0Y50vAmWfk1jCbpQ1fHdyGZBJVMbg=","gate":"g","name":"n","enrolled_at":"2026-01-01T00:00:00Z","timezone":"Asia/Ho_Chi_Minh"}"#;
        let env = Envelope::sign(SCREEN_TYPE, payload.to_vec(), &controller).to_json();
        assert_eq!(verify_statement(&env, &trusted).unwrap().screen, "a1");
    }
}
