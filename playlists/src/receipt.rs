//! Playback receipts (`docs/protocol.md` §13): one per play, hash-chained per screen, uploaded in signed
//! batches and acknowledged with signed acks.
//!
//! # Receipt bytes
//!
//! [`Receipt::to_bytes`] is compact JSON with the fields in this fixed order:
//! `seq, screen, manifest_version, playlist, media, lang, started_at, ended_at, outcome, backend,
//! clock_synced, prev`. Timestamps are RFC 3339 UTC strings with exactly three fractional digits
//! (milliseconds, truncated), e.g. `"2025-11-26T08:00:00.000Z"`. Example:
//!
//! ```json
//! {"seq":1,"screen":"lao-cai-1","manifest_version":3,"playlist":"main","media":"<64 hex>","lang":"vi","started_at":"2025-11-26T08:00:00.000Z","ended_at":"2025-11-26T08:00:10.000Z","outcome":"completed","backend":"mpv","clock_synced":true,"prev":"<64 hex>"}
//! ```
//!
//! Receipts are identified by their **exact bytes**: `prev` of receipt n+1 is the lowercase hex
//! SHA-256 of receipt n's bytes ([`GENESIS_PREV`] for seq 1). Verification never re-serializes;
//! [`Receipt::parse`] accepts any well-formed JSON text with the required fields (unknown fields
//! are ignored for forward compatibility), at most [`MAX_RECEIPT_BYTES`] bytes.
//!
//! # Batches
//!
//! A batch is a DSSE [`RECEIPTS_TYPE`] envelope signed by the device key, with payload
//! `{"screen":"<id>","epoch":<n>,"key_id":"<device key id>","receipts":["<receipt JSON text>",…]}`:
//! each receipt is a JSON *string* holding its exact bytes. `epoch` is the screen's enrolment
//! epoch (each enrolment starts a new chain at seq 1, `docs/protocol.md` §13); a batch without
//! `epoch` is of epoch 1, one without `key_id` names no key (the signature still decides). A batch holds 1..=[`MAX_BATCH_RECEIPTS`] receipts with consecutive
//! `seq` values, each linked to the one before it. [`verify_batch`] checks, in this order: the
//! signature, the payload shape, the screen of the batch and of every receipt, and then the chain
//! against what is already stored. Receipts at or below the stored tip must be byte-identical to
//! what is stored (idempotent re-upload); the first new receipt must continue the stored tip.
//!
//! # Acks
//!
//! An [`Ack`] `{"screen","epoch","key_id","upto_seq"}` (DSSE [`ACK_TYPE`], controller key) says
//! that every receipt of that epoch's chain (signed by that device key) with `seq <= upto_seq` is
//! durably stored; only then may the player delete them, and only if the epoch and key id are
//! its own ([`verify_ack`]).

use jiff::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest as _, Sha256};

use crate::envelope::{self, Envelope, EnvelopeError, ACK_TYPE, RECEIPTS_TYPE};
use crate::keys::{KeySet, PublicKey, SecretKey};

/// `prev` of the first receipt (seq 1): 64 zeros.
pub const GENESIS_PREV: &str = "0000000000000000000000000000000000000000000000000000000000000000";
/// Most receipts in one batch. The batch envelope must also stay within
/// [`crate::envelope::MAX_ENVELOPE_BYTES`] (a typical receipt is ~350 bytes, so 1000 fit easily).
pub const MAX_BATCH_RECEIPTS: usize = 1000;
/// Largest accepted receipt, in bytes of its JSON text.
pub const MAX_RECEIPT_BYTES: usize = 4096;
/// Longest accepted `playlist` id and `lang` tag, in bytes.
pub const MAX_LABEL_LEN: usize = 128;

/// How a play ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Outcome {
    /// Played to its end.
    Completed,
    /// Stopped early (schedule change, alert, shutdown).
    Interrupted,
    /// Could not be played.
    Failed,
}

/// Which playback backend produced the receipt.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Backend {
    /// mpv rendered it on the screen.
    Mpv,
    /// The null backend: nothing was shown; never counts as proof of play.
    Null,
}

/// One play of one media item on one screen (field names fixed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Receipt {
    /// Per-screen sequence number, from 1, without gaps.
    pub seq: u64,
    /// Screen id.
    pub screen: String,
    /// Version of the manifest that was active.
    pub manifest_version: u64,
    /// Playlist id (or alert id) the item came from.
    pub playlist: String,
    /// sha256 of the media played (64 lowercase hex).
    pub media: String,
    /// BCP 47 language tag of the media.
    pub lang: String,
    /// The language of the subtitle track shown with the video (`docs/protocol.md` §21);
    /// absent when none was shown (and in every receipt written before subtitles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subtitle_lang: Option<String>,
    /// When the play started (RFC 3339 UTC, milliseconds).
    #[serde(with = "ts_millis")]
    pub started_at: Timestamp,
    /// When the play ended (RFC 3339 UTC, milliseconds).
    #[serde(with = "ts_millis")]
    pub ended_at: Timestamp,
    /// How the play ended.
    pub outcome: Outcome,
    /// Which backend played it.
    pub backend: Backend,
    /// Whether the player's clock was known to be synchronized.
    pub clock_synced: bool,
    /// Lowercase hex SHA-256 of the previous receipt's exact bytes ([`GENESIS_PREV`] for seq 1).
    pub prev: String,
}

/// Timestamps as RFC 3339 UTC strings with exactly millisecond precision.
pub(crate) mod ts_millis {
    use jiff::Timestamp;
    use serde::{de::Error as _, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(ts: &Timestamp, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&format_args!("{ts:.3}"))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Timestamp, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        if !s.ends_with('Z') {
            return Err(D::Error::custom(format!(
                "timestamp {s:?} must be RFC 3339 in UTC, ending in 'Z'"
            )));
        }
        s.parse::<Timestamp>()
            .map_err(|e| D::Error::custom(format!("timestamp {s:?} is not RFC 3339: {e}")))
    }
}

/// What is wrong with a single receipt.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ReceiptError {
    /// Over [`MAX_RECEIPT_BYTES`].
    #[error("receipt is {size} bytes, over the limit of {max}")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        max: usize,
    },
    /// Not a receipt JSON object (bad JSON, missing field, wrong type, trailing data).
    #[error("receipt is not valid receipt JSON: {0}")]
    Malformed(String),
    /// A field has an invalid value.
    #[error("receipt field `{field}` is invalid: {detail}")]
    Invalid {
        /// The field name.
        field: &'static str,
        /// What is wrong.
        detail: String,
    },
}

fn is_hex64(s: &str) -> bool {
    s.len() == 64
        && s.bytes()
            .all(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(&c))
}

impl Receipt {
    /// The canonical bytes written by gatecast players (see the module docs).
    pub fn to_bytes(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing a receipt cannot fail")
    }

    /// Parse and validate receipt bytes (any well-formed JSON text; see the module docs).
    pub fn parse(bytes: &[u8]) -> Result<Receipt, ReceiptError> {
        if bytes.len() > MAX_RECEIPT_BYTES {
            return Err(ReceiptError::TooLarge {
                size: bytes.len(),
                max: MAX_RECEIPT_BYTES,
            });
        }
        let r: Receipt =
            serde_json::from_slice(bytes).map_err(|e| ReceiptError::Malformed(e.to_string()))?;
        r.validate()?;
        Ok(r)
    }

    /// Check field values: seq ≥ 1, valid screen id, media and prev 64 lowercase hex,
    /// non-empty bounded playlist and lang, seq 1 links to [`GENESIS_PREV`].
    pub fn validate(&self) -> Result<(), ReceiptError> {
        let invalid = |field, detail: &str| {
            Err(ReceiptError::Invalid {
                field,
                detail: detail.to_owned(),
            })
        };
        if self.seq == 0 {
            return invalid("seq", "sequence numbers start at 1");
        }
        if !crate::manifest::is_valid_screen_id(&self.screen) {
            return invalid("screen", "must match ^[a-z0-9][a-z0-9-]{0,62}$");
        }
        if !is_hex64(&self.media) {
            return invalid("media", "must be a sha256 as 64 lowercase hex characters");
        }
        if !is_hex64(&self.prev) {
            return invalid("prev", "must be a sha256 as 64 lowercase hex characters");
        }
        if self.seq == 1 && self.prev != GENESIS_PREV {
            return invalid("prev", "the receipt with seq 1 must have prev = 64 zeros");
        }
        let subtitle = self.subtitle_lang.as_ref();
        for (field, v) in [
            ("playlist", Some(&self.playlist)),
            ("lang", Some(&self.lang)),
            ("subtitle_lang", subtitle),
        ] {
            let Some(v) = v else { continue };
            if v.is_empty() || v.len() > MAX_LABEL_LEN || v.chars().any(char::is_control) {
                return invalid(field, "must be 1 to 128 bytes without control characters");
            }
        }
        Ok(())
    }

    /// [`receipt_hash`] of [`Receipt::to_bytes`].
    pub fn hash(&self) -> String {
        receipt_hash(&self.to_bytes())
    }
}

/// Lowercase hex SHA-256 of a receipt's exact bytes (the next receipt's `prev`).
pub fn receipt_hash(receipt_bytes: &[u8]) -> String {
    crate::hex::encode(&Sha256::digest(receipt_bytes))
}

/// The epoch of a batch or ack that names none (data from before enrolment epochs).
pub const FIRST_EPOCH: u64 = 1;

/// [`FIRST_EPOCH`], as a function: the serde default of every `epoch` field written before
/// enrolment epochs (`#[serde(default = "playlists::receipt::first_epoch")]`).
pub fn first_epoch() -> u64 {
    FIRST_EPOCH
}

#[derive(Serialize, Deserialize)]
struct BatchPayload {
    screen: String,
    #[serde(default = "first_epoch")]
    epoch: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    key_id: Option<String>,
    receipts: Vec<String>,
}

/// Batch payload bytes: `{"screen":…,"epoch":…,"key_id":…,"receipts":["<receipt text>",…]}`.
///
/// Receipt bytes must be UTF-8 JSON text (as [`Receipt::to_bytes`] produces); invalid UTF-8 is
/// replaced with U+FFFD, which breaks the chain and makes the batch fail verification.
pub fn batch_payload(screen: &str, epoch: u64, key_id: &str, receipts: &[Vec<u8>]) -> Vec<u8> {
    let p = BatchPayload {
        screen: screen.to_owned(),
        epoch,
        key_id: Some(key_id.to_owned()),
        receipts: receipts
            .iter()
            .map(|r| String::from_utf8_lossy(r).into_owned())
            .collect(),
    };
    serde_json::to_vec(&p).expect("serializing strings cannot fail")
}

/// Sign a batch of receipts (exact bytes, in seq order) of enrolment epoch 1 with the device key.
pub fn sign_batch(screen: &str, receipts: &[Vec<u8>], key: &SecretKey) -> Envelope {
    sign_batch_epoch(screen, FIRST_EPOCH, receipts, key)
}

/// Sign a batch of receipts of the chain of enrolment `epoch` with that epoch's device key.
pub fn sign_batch_epoch(
    screen: &str,
    epoch: u64,
    receipts: &[Vec<u8>],
    key: &SecretKey,
) -> Envelope {
    let payload = batch_payload(screen, epoch, &key.key_id(), receipts);
    Envelope::sign(RECEIPTS_TYPE, payload, key)
}

/// The enrolment epoch a batch envelope claims (1 when it names none), read **without**
/// verifying anything: only to choose the key to verify it with. `None` if the bytes are not a
/// readable batch.
pub fn claimed_epoch(envelope_bytes: &[u8]) -> Option<u64> {
    #[derive(Deserialize)]
    struct Claim {
        #[serde(default = "first_epoch")]
        epoch: u64,
    }
    let env = Envelope::parse(envelope_bytes).ok()?;
    serde_json::from_slice::<Claim>(&env.payload)
        .ok()
        .map(|c| c.epoch)
}

/// Signs the longest prefix of `receipts` (at least one receipt, if any) whose batch envelope
/// fits in [`crate::envelope::MAX_ENVELOPE_BYTES`]; returns the envelope's JSON text and how
/// many receipts it holds. A sender that always builds its batches here never sends one the
/// receivers must refuse for its size (`docs/protocol.md` §5, §13): the rest goes in the next
/// batch. Receipts themselves are at most [`MAX_RECEIPT_BYTES`], so one always fits.
pub fn sign_batch_within_limit(
    screen: &str,
    epoch: u64,
    receipts: &[Vec<u8>],
    key: &SecretKey,
) -> (Vec<u8>, usize) {
    let json_len = |s: &str| serde_json::to_string(s).map_or(usize::MAX / 4, |j| j.len());
    // The payload without receipts, and its base64 inside the envelope, whose other members
    // (type, keyid, signature) have a fixed length for a given key.
    let fixed = Envelope::sign(RECEIPTS_TYPE, Vec::new(), key)
        .to_json()
        .len();
    let b64 = |n: usize| n.div_ceil(3) * 4;
    let mut payload = batch_payload(screen, epoch, &key.key_id(), &[]).len();
    let mut count = 0;
    for (i, r) in receipts.iter().enumerate() {
        let next = payload + json_len(&String::from_utf8_lossy(r)) + usize::from(i > 0);
        if i > 0 && fixed + b64(next) > crate::envelope::MAX_ENVELOPE_BYTES {
            break;
        }
        payload = next;
        count = i + 1;
    }
    let sign = |n: usize| sign_batch_epoch(screen, epoch, &receipts[..n], key).to_json();
    let mut env = sign(count);
    // The length above is exact; this only guards against a future change of the encoding.
    while env.len() > crate::envelope::MAX_ENVELOPE_BYTES && count > 1 {
        count -= 1;
        env = sign(count);
    }
    (env, count)
}

/// The last stored receipt of a screen's chain.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct ChainTip {
    /// Its seq.
    pub seq: u64,
    /// Its [`receipt_hash`].
    pub hash: String,
}

/// A batch whose signature and chain hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedBatch {
    /// The screen (equal to the expected one).
    pub screen: String,
    /// The enrolment epoch the batch names (1 when it names none).
    pub epoch: u64,
    /// Every receipt of the batch with its exact bytes, in order.
    pub receipts: Vec<(Receipt, Vec<u8>)>,
    /// Indexes into `receipts` of those not yet stored (to store now, in order).
    pub new: Vec<usize>,
    /// The chain tip after storing the new receipts.
    pub tip: ChainTip,
}

/// Why a receipts batch was rejected. Nothing of a rejected batch may be stored or acked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BatchError {
    /// The envelope is malformed, too large or of the wrong type.
    #[error("receipts batch envelope rejected: {0}")]
    BadEnvelope(EnvelopeError),
    /// Not signed (validly) by this screen's registered device key.
    #[error("receipts batch is not validly signed by the screen's registered device key")]
    BadSignature,
    /// The batch or one of its receipts names another screen.
    #[error("receipts batch is for screen {found:?}, expected {expected:?}")]
    WrongScreen {
        /// The screen the batch was received for.
        expected: String,
        /// The screen it names.
        found: String,
    },
    /// A seq is missing: the chain does not continue where it should.
    #[error("receipt seq gap: expected seq {expected}, found {found}; the player must resend from seq {expected}")]
    SeqGap {
        /// The seq that should come next.
        expected: u64,
        /// The seq that came.
        found: u64,
    },
    /// `prev` of this receipt is not the hash of the receipt before it.
    #[error("receipt seq {seq}: prev does not match the hash of the previous receipt; the chain is broken")]
    PrevMismatch {
        /// The receipt whose `prev` is wrong.
        seq: u64,
    },
    /// A receipt with this seq is already stored with different bytes.
    #[error("receipt seq {seq} is already stored with different content; refusing to overwrite")]
    DuplicateConflict {
        /// The conflicting seq.
        seq: u64,
    },
    /// The payload or a receipt in it is malformed.
    #[error("receipts batch is malformed: {detail}")]
    Malformed {
        /// What is wrong.
        detail: String,
    },
    /// More than [`MAX_BATCH_RECEIPTS`] receipts.
    #[error("receipts batch holds {count} receipts, over the limit of {max}")]
    TooManyReceipts {
        /// How many it holds.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The caller's store has a tip beyond `seq` but no receipt at `seq`.
    #[error("the receipt store has no receipt at seq {seq} although its chain tip is beyond it; the store is inconsistent")]
    StoreInconsistent {
        /// The missing seq.
        seq: u64,
    },
}

impl BatchError {
    /// A short stable code for logs, metrics and test vectors.
    pub fn as_str(&self) -> &'static str {
        match self {
            BatchError::BadEnvelope(_) => "bad_envelope",
            BatchError::BadSignature => "bad_signature",
            BatchError::WrongScreen { .. } => "wrong_screen",
            BatchError::SeqGap { .. } => "seq_gap",
            BatchError::PrevMismatch { .. } => "prev_mismatch",
            BatchError::DuplicateConflict { .. } => "duplicate_conflict",
            BatchError::Malformed { .. } => "malformed",
            BatchError::TooManyReceipts { .. } => "too_many_receipts",
            BatchError::StoreInconsistent { .. } => "store_inconsistent",
        }
    }
}

/// Verify a receipts batch from `device_key` for `expected_screen` against the stored chain.
///
/// `tip` is the last stored receipt (None if nothing is stored); `stored(seq)` returns the
/// [`receipt_hash`] of the stored receipt at `seq` (consulted only for `seq <= tip.seq`).
pub fn verify_batch(
    envelope_bytes: &[u8],
    device_key: &PublicKey,
    expected_screen: &str,
    tip: Option<&ChainTip>,
    stored: &dyn Fn(u64) -> Option<String>,
) -> Result<VerifiedBatch, BatchError> {
    let verified = envelope::verify_with_key(envelope_bytes, RECEIPTS_TYPE, device_key).map_err(
        |e| match e {
            EnvelopeError::BadSignature { .. }
            | EnvelopeError::UnknownKey { .. }
            | EnvelopeError::NoSignatures => BatchError::BadSignature,
            other => BatchError::BadEnvelope(other),
        },
    )?;
    let payload: BatchPayload =
        serde_json::from_slice(&verified.payload).map_err(|e| BatchError::Malformed {
            detail: format!("payload is not {{\"screen\",\"receipts\"}}: {e}"),
        })?;
    if payload.screen != expected_screen {
        return Err(BatchError::WrongScreen {
            expected: expected_screen.to_owned(),
            found: payload.screen,
        });
    }
    if payload.epoch == 0 {
        return Err(BatchError::Malformed {
            detail: "epoch must be at least 1".into(),
        });
    }
    if let Some(id) = &payload.key_id {
        if *id != device_key.key_id() {
            return Err(BatchError::Malformed {
                detail: format!(
                    "key_id {id:?} is not the id of the key that signed the batch ({})",
                    device_key.key_id()
                ),
            });
        }
    }
    if payload.receipts.is_empty() {
        return Err(BatchError::Malformed {
            detail: "batch holds no receipts".into(),
        });
    }
    if payload.receipts.len() > MAX_BATCH_RECEIPTS {
        return Err(BatchError::TooManyReceipts {
            count: payload.receipts.len(),
            max: MAX_BATCH_RECEIPTS,
        });
    }
    let mut receipts = Vec::with_capacity(payload.receipts.len());
    for (i, text) in payload.receipts.into_iter().enumerate() {
        let bytes = text.into_bytes();
        let r = Receipt::parse(&bytes).map_err(|e| BatchError::Malformed {
            detail: format!("receipt #{i}: {e}"),
        })?;
        if r.screen != expected_screen {
            return Err(BatchError::WrongScreen {
                expected: expected_screen.to_owned(),
                found: r.screen,
            });
        }
        receipts.push((r, bytes));
    }

    let tip_seq = tip.map_or(0, |t| t.seq);
    let mut new = Vec::new();
    let mut new_tip = tip.cloned();
    let mut prev_hash: Option<String> = None;
    for (i, (r, bytes)) in receipts.iter().enumerate() {
        let hash = receipt_hash(bytes);
        if i > 0 {
            let before = receipts[i - 1].0.seq;
            // checked: a tip at u64::MAX - 1 must not make `before + 1` overflow (fuzz harness)
            if before.checked_add(1) != Some(r.seq) {
                return Err(BatchError::SeqGap {
                    expected: before.saturating_add(1),
                    found: r.seq,
                });
            }
            if Some(&r.prev) != prev_hash.as_ref() {
                return Err(BatchError::PrevMismatch { seq: r.seq });
            }
        }
        if r.seq <= tip_seq {
            match stored(r.seq) {
                Some(h) if h == hash => {}
                Some(_) => return Err(BatchError::DuplicateConflict { seq: r.seq }),
                None => return Err(BatchError::StoreInconsistent { seq: r.seq }),
            }
        } else {
            if new.is_empty() {
                if r.seq != tip_seq + 1 {
                    return Err(BatchError::SeqGap {
                        expected: tip_seq + 1,
                        found: r.seq,
                    });
                }
                let want = tip.map_or(GENESIS_PREV, |t| t.hash.as_str());
                if r.prev != want {
                    return Err(BatchError::PrevMismatch { seq: r.seq });
                }
            }
            new.push(i);
            new_tip = Some(ChainTip {
                seq: r.seq,
                hash: hash.clone(),
            });
        }
        prev_hash = Some(hash);
    }
    let tip = new_tip.expect("a non-empty batch either extends the chain or lies within the tip");
    Ok(VerifiedBatch {
        screen: payload.screen,
        epoch: payload.epoch,
        receipts,
        new,
        tip,
    })
}

/// "Every receipt with seq ≤ `upto_seq` of `screen`'s chain of enrolment `epoch`, signed by the
/// device key `key_id`, is durably stored."
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ack {
    /// Screen id.
    pub screen: String,
    /// Enrolment epoch of the chain (1 when the ack names none).
    #[serde(default = "first_epoch")]
    pub epoch: u64,
    /// key_id of the device key of that epoch (`None`: an ack from before epochs, which only a
    /// player of epoch 1 accepts).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub key_id: Option<String>,
    /// Highest seq covered.
    pub upto_seq: u64,
}

/// The chain an ack must be for: this player's enrolment epoch and device key id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OwnChain<'a> {
    /// This screen's id.
    pub screen: &'a str,
    /// The epoch this player enrolled in.
    pub epoch: u64,
    /// key_id of this player's device key.
    pub key_id: &'a str,
}

/// Why an ack was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AckError {
    /// The envelope did not verify against the controller key.
    #[error("ack envelope rejected: {0}")]
    Envelope(#[from] EnvelopeError),
    /// The payload is not an ack.
    #[error("ack payload is malformed: {0}")]
    Malformed(String),
    /// The ack is for another screen.
    #[error("ack is for screen {found:?}, this is {expected:?}")]
    WrongScreen {
        /// This screen.
        expected: String,
        /// The screen named in the ack.
        found: String,
    },
    /// The ack is for another enrolment epoch or device key of this screen (an earlier box's
    /// ack replayed): it says nothing about this player's receipts.
    #[error("ack is for enrolment epoch {found_epoch} (device key {found_key:?}), this player is epoch {epoch} with device key {key_id}; ignored")]
    WrongChain {
        /// This player's epoch.
        epoch: u64,
        /// This player's device key id.
        key_id: String,
        /// The epoch the ack names.
        found_epoch: u64,
        /// The key id the ack names.
        found_key: Option<String>,
    },
}

impl Ack {
    /// Payload JSON `{"screen":…,"epoch":…,"key_id":…,"upto_seq":…}`.
    pub fn to_json(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("serializing an ack cannot fail")
    }
}

/// Sign an ack with the controller key (DSSE [`ACK_TYPE`]).
pub fn sign_ack(ack: &Ack, controller_key: &SecretKey) -> Envelope {
    Envelope::sign(ACK_TYPE, ack.to_json(), controller_key)
}

/// Verify an ack envelope against the pinned controller key(s) and this player's chain: its
/// screen id, enrolment epoch and device key id. An ack without `key_id` is accepted only by a
/// player of epoch 1 (acks from before epochs); any other epoch or key id is
/// [`AckError::WrongChain`].
pub fn verify_ack(
    envelope_bytes: &[u8],
    trusted: &KeySet,
    own: &OwnChain<'_>,
) -> Result<Ack, AckError> {
    let v = envelope::verify(envelope_bytes, ACK_TYPE, trusted)?;
    let ack: Ack =
        serde_json::from_slice(&v.payload).map_err(|e| AckError::Malformed(e.to_string()))?;
    if ack.screen != own.screen {
        return Err(AckError::WrongScreen {
            expected: own.screen.to_owned(),
            found: ack.screen,
        });
    }
    let key_ok = match &ack.key_id {
        Some(k) => k == own.key_id,
        None => own.epoch == FIRST_EPOCH,
    };
    if ack.epoch != own.epoch || !key_ok {
        return Err(AckError::WrongChain {
            epoch: own.epoch,
            key_id: own.key_id.to_owned(),
            found_epoch: ack.epoch,
            found_key: ack.key_id,
        });
    }
    Ok(ack)
}

#[cfg(test)]
#[path = "receipt_tests.rs"]
mod tests;
