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

use std::collections::BTreeMap;

use crate::envelope::{Envelope, EnvelopeError, RECEIPTS_TYPE};
use crate::keys::{b64_decode, b64_encode, KeySet, PublicKey, SecretKey};
use crate::merkle::{
    hash_from_hex, hash_to_hex, leaf_hash, verify_checkpoint, verify_consistency, verify_inclusion,
    Checkpoint, Hash,
};
use crate::receipt::{receipt_hash, verify_batch, Backend, BatchError, ChainTip, Outcome, Receipt};

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
    /// key_id of the registered device key.
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
                "  {} ({}, gate {}, key {}): {} batches, {} receipts, {} shown, {seqs}{times}, chain {}",
                s.screen,
                s.name,
                s.gate,
                s.device_key_id,
                s.batches,
                s.receipts,
                s.shown,
                if s.chain_intact { "intact" } else { "BROKEN" }
            );
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
}

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
/// signed evidence in `conflicts`); and consistency with `previous_checkpoint`. A chain that
/// starts above seq 1 is accepted with its first `prev` taken as given, and said in the notes.
pub fn verify_bundle(
    bundle_bytes: &[u8],
    controller_key: &PublicKey,
    previous_checkpoint: Option<&[u8]>,
) -> Report {
    let mut c = Checker {
        problems: Vec::new(),
        notes: Vec::new(),
    };
    let mut report = Report {
        ok: false,
        format: None,
        generated_at: None,
        period: None,
        controller_key_id: controller_key.key_id(),
        checkpoint: None,
        previous_checkpoint: None,
        consistent_with_previous: None,
        log_entries: 0,
        batches: 0,
        actions: 0,
        plays: 0,
        shown: 0,
        screens: Vec::new(),
        notes: Vec::new(),
        problems: Vec::new(),
    };
    let bundle: Bundle = match serde_json::from_slice(bundle_bytes) {
        Ok(b) => b,
        Err(e) => {
            c.problem(
                ProblemKind::MalformedBundle,
                None,
                None,
                None,
                format!("not a {BUNDLE_FORMAT} JSON document: {e}"),
            );
            return finish(report, c);
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
        return finish(report, c);
    }
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
    let trusted = KeySet::from_keys([controller_key.clone()]);

    // Checkpoint.
    let checkpoint = match b64_decode(&bundle.log.checkpoint) {
        Err(e) => {
            c.problem(
                ProblemKind::BadCheckpoint,
                None,
                None,
                None,
                format!("log.checkpoint is not standard base64: {e}"),
            );
            None
        }
        Ok(bytes) => match verify_checkpoint(&bytes, &trusted) {
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
        },
    };
    let cp_root = checkpoint.as_ref().and_then(Checkpoint::root_hash);

    // Previous checkpoint and consistency.
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

    // Screen statements.
    let mut statements: BTreeMap<String, (ScreenStatement, PublicKey)> = BTreeMap::new();
    for (i, entry) in bundle.screens.iter().enumerate() {
        let stmt = b64_decode(&entry.statement)
            .map_err(|e| StatementError::Malformed(format!("not standard base64: {e}")))
            .and_then(|bytes| verify_statement(&bytes, &trusted));
        match stmt {
            Err(e) => c.problem(
                ProblemKind::BadStatement,
                None,
                None,
                None,
                format!("screens[{i}]: {e}"),
            ),
            Ok(s) => {
                let key = s.public_key().expect("validated statement has a valid key");
                match statements.get(&s.screen) {
                    Some((_, k)) if *k != key => c.problem(
                        ProblemKind::DuplicateStatement,
                        Some(&s.screen),
                        None,
                        None,
                        format!(
                            "screens[{i}] registers device key {} but an earlier statement registers {}",
                            key.key_id(),
                            k.key_id()
                        ),
                    ),
                    Some(_) => {}
                    None => {
                        statements.insert(s.screen.clone(), (s, key));
                    }
                }
            }
        }
    }
    let device_keys: BTreeMap<String, (String, PublicKey)> = statements
        .values()
        .map(|(s, k)| (k.key_id(), (s.screen.clone(), k.clone())))
        .collect();

    // Log entries.
    let mut screens: BTreeMap<String, ScreenState> = BTreeMap::new();
    let mut last_index: Option<u64> = None;
    report.log_entries = bundle.log.entries.len() as u64;
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
        // Inclusion proof.
        if let (Some(cp), Some(root)) = (&checkpoint, cp_root) {
            let claimed = if e.kind == EntryKind::Batch {
                claimed_batch(&data)
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
            } else {
                match decode_hashes(&e.proof) {
                    None => c.problem(
                        ProblemKind::BadInclusionProof,
                        claimed.0.as_deref(),
                        claimed.1,
                        Some(e.index),
                        "inclusion proof hashes must be 64 lowercase hex characters",
                    ),
                    Some(proof) => {
                        if !verify_inclusion(&leaf_hash(&data), e.index, cp.size, &proof, &root) {
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
        }
        match e.kind {
            EntryKind::Action => report.actions += 1,
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

    // Conflict evidence.
    for (i, conflict) in bundle.conflicts.iter().enumerate() {
        check_conflict(&mut c, &mut screens, &statements, i, conflict);
    }

    // Chains per screen.
    for (screen, st) in &mut screens {
        let Some((&first, _)) = st.receipts.iter().next() else {
            continue;
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
                "screen {screen}: the receipts in the bundle start at seq {first}; its prev is taken as given \
                 (earlier receipts are outside the export)"
            ));
        }
        st.broken |= broken;
    }

    // Summaries.
    let mut names: std::collections::BTreeSet<&String> = statements.keys().collect();
    names.extend(screens.keys());
    let empty = ScreenState::default();
    for name in names {
        let st = screens.get(name).unwrap_or(&empty);
        let (gate, sname, key_id) = match statements.get(name) {
            Some((s, k)) => (s.gate.clone(), s.name.clone(), k.key_id()),
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
    report.checkpoint = checkpoint;
    finish(report, c)
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
    screens: &mut BTreeMap<String, ScreenState>,
    statements: &BTreeMap<String, (ScreenStatement, PublicKey)>,
    device_keys: &BTreeMap<String, (String, PublicKey)>,
    index: u64,
    data: &[u8],
) {
    let (claimed_screen, claimed_seq) = claimed_batch(data);
    // The screen the batch names, if a statement registers it; otherwise the screen whose
    // registered key id the signature names. The signature is verified before anything else.
    let by_claim = claimed_screen
        .as_deref()
        .and_then(|s| statements.get(s))
        .map(|(s, k)| (s.screen.clone(), k.clone()));
    let by_keyid = || {
        Envelope::parse(data).ok().and_then(|env| {
            env.signatures
                .iter()
                .find_map(|s| device_keys.get(&s.keyid))
                .cloned()
        })
    };
    let (screen, key) = match by_claim.or_else(by_keyid) {
        Some(sk) => sk,
        None => {
            c.problem(
                ProblemKind::UnknownScreen,
                claimed_screen.as_deref(),
                claimed_seq,
                Some(index),
                "no screen statement in the bundle registers this batch's screen or signing key",
            );
            if let Some(s) = claimed_screen {
                screens.entry(s).or_default().broken = true;
            }
            return;
        }
    };
    let st = screens.entry(screen.clone()).or_default();
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
                    "the batch is not validly signed by the device key {} registered for screen {screen}: {e}",
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
        Ok(batch) => {
            st.batches += 1;
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
    screens: &mut BTreeMap<String, ScreenState>,
    statements: &BTreeMap<String, (ScreenStatement, PublicKey)>,
    i: usize,
    conflict: &ConflictEntry,
) {
    let Some((_, key)) = statements.get(&conflict.screen) else {
        c.notes.push(format!(
            "conflicts[{i}] for screen {} cannot be checked: the bundle holds no statement for that screen",
            conflict.screen
        ));
        return;
    };
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
    let Ok(v) = crate::envelope::verify_with_key(&data, RECEIPTS_TYPE, key) else {
        c.notes.push(format!(
            "conflicts[{i}] for screen {} is not signed by its device key: not evidence of anything",
            conflict.screen
        ));
        return;
    };
    #[derive(Deserialize)]
    struct Payload {
        screen: String,
        receipts: Vec<String>,
    }
    let Ok(p) = serde_json::from_slice::<Payload>(&v.payload) else {
        c.notes.push(format!(
            "conflicts[{i}] for screen {} has a malformed payload",
            conflict.screen
        ));
        return;
    };
    let st = screens.entry(conflict.screen.clone()).or_default();
    let before = c.problems.len();
    for text in p.receipts {
        if let Ok(r) = Receipt::parse(text.as_bytes()) {
            if r.screen == conflict.screen && p.screen == conflict.screen {
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
